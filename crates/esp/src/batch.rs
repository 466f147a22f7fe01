//! Many packets of one SA at once: the keys a crypto worker needs, and the
//! multi-buffer transforms over packets laid out in one buffer.
//!
//! A transform is split in three so that its crypto can run on many packets
//! at once, on any thread:
//!
//! | step | who | what |
//! |---|---|---|
//! | prepare / check | the SA, serially | [`crate::OutboundSa::prepare`]: sequence number, lifetime, layout; [`crate::InboundSa::check`]: headers, SPI, lifetime, anti-replay |
//! | crypto | [`SealKeys`] / [`OpenKeys`], any thread | CBC and HMAC of up to [`LANES`] packets per call |
//! | commit | the SA, serially, in packet order | [`crate::InboundSa::commit`]: anti-replay again, window update, lifetime |
//!
//! Both directions work across packets, through the cipher's parallel
//! block interface (AES-NI, VAES-256 or VAES-512, picked at run time by
//! `aes`). CBC encryption is serial within a packet, so block `j` of every
//! packet goes through one call; CBC decryption is parallel within a packet
//! too, so the blocks of all packets, one packet after the other, go
//! through as one stream and fill every call but the last (a packet whose
//! output cannot take its whole ciphertext is decrypted on its own, into
//! exactly the inner packet). The MACs of all packets go through [`IntegKey::compute_many`] /
//! [`IntegKey::verify_many`], which run HMAC-SHA1 on several streams at once.
//! Packets are given as [`Span`]s of one buffer so that nothing is allocated
//! per call.

use aes::Block;
use aes::cipher::array::Array;
use aes::cipher::consts::U16;
use aes::cipher::typenum::Unsigned;
use aes::cipher::{
    BlockCipherDecBackend, BlockCipherDecClosure, BlockCipherEncBackend, BlockCipherEncClosure,
    BlockSizeUser,
};

use crate::crypto::{BLOCK_LEN, CbcDecryptor, CbcEncryptor, Icv, IntegKey};
use crate::error::{EspError, MalformedReason as M};
use crate::outbound::ESP_HEADER_LEN;

/// Packets per cipher call: one VAES-512 pass holds 64 blocks.
pub const LANES: usize = 64;

/// Where the ESP part (SPI .. ICV) of one packet lies in a buffer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Span {
    /// Offset of the first byte.
    pub start: usize,
    /// Length in bytes.
    pub len: usize,
}

impl Span {
    /// The byte range.
    pub fn range(self) -> core::ops::Range<usize> {
        self.start..self.start.saturating_add(self.len)
    }

    /// `len` bytes from `start`.
    pub fn new(start: usize, len: usize) -> Self {
        Span { start, len }
    }
}

fn region(buf: &[u8], s: Span) -> Result<&[u8], EspError> {
    buf.get(s.range())
        .ok_or(EspError::BadParams("span outside the buffer"))
}

fn region_mut(buf: &mut [u8], s: Span) -> Result<&mut [u8], EspError> {
    buf.get_mut(s.range())
        .ok_or(EspError::BadParams("span outside the buffer"))
}

/// Ciphertext blocks of an ESP part of `len` bytes, or why it has none.
fn ct_blocks(len: usize, icv_len: usize) -> Result<usize, EspError> {
    let ct = len
        .checked_sub(ESP_HEADER_LEN + BLOCK_LEN + icv_len)
        .filter(|&n| n >= BLOCK_LEN)
        .ok_or(M::EspTruncated { len })?;
    if !ct.is_multiple_of(BLOCK_LEN) {
        return Err(M::CiphertextNotBlockMultiple { len: ct }.into());
    }
    Ok(ct / BLOCK_LEN)
}

/// The keys of an outbound SA: what sealing a prepared packet needs.
#[derive(Debug, Clone)]
pub struct SealKeys {
    pub(crate) enc: CbcEncryptor,
    pub(crate) integ: IntegKey,
}

impl SealKeys {
    /// ICV length of the SA's integrity algorithm.
    pub fn icv_len(&self) -> usize {
        self.integ.alg().icv_len()
    }

    /// Encrypts and authenticates one prepared ESP part in place.
    pub fn seal(&self, esp: &mut [u8]) -> Result<(), EspError> {
        let len = esp.len();
        self.seal_many(esp, &[Span::new(0, len)])
    }

    /// Encrypts and authenticates the prepared ESP parts `spans` of `buf`
    /// in place (IV in place, plaintext padded, ICV room at the end).
    ///
    /// Every span is checked before anything is written; on error `buf` is
    /// unchanged.
    pub fn seal_many(&self, buf: &mut [u8], spans: &[Span]) -> Result<(), EspError> {
        let icv_len = self.icv_len();
        for s in spans {
            region(buf, *s)?;
            ct_blocks(s.len, icv_len)?;
        }
        let mut first_order = None;
        for (i, chunk) in spans.chunks(LANES).enumerate() {
            let order = by_start(chunk)?;
            if i == 0 {
                first_order = Some(order);
            }
        }
        for chunk in spans.chunks(LANES) {
            // The first chunk's order was just found (a lot is one chunk);
            // any later one is sorted again rather than kept.
            let order = match first_order.take() {
                Some(order) => order,
                None => by_start(chunk)?,
            };
            self.encrypt_lanes(buf, chunk, &order, icv_len);
        }
        let mut macs = [Icv::default(); LANES];
        for chunk in spans.chunks(LANES) {
            let mut msgs = [Span::default(); LANES];
            for (m, s) in msgs.iter_mut().zip(chunk) {
                *m = Span::new(s.start, s.len - icv_len);
            }
            let n = chunk.len();
            self.integ.compute_many(buf, &msgs[..n], &mut macs[..n]);
            for (s, icv) in chunk.iter().zip(&macs) {
                let at = s.start + s.len - icv_len;
                if let Some(dst) = buf.get_mut(at..at + icv_len) {
                    dst.copy_from_slice(icv.as_bytes());
                }
            }
        }
        Ok(())
    }

    /// CBC over up to [`LANES`] checked, disjoint spans (`order`: their
    /// indices in buffer order, from [`by_start`]), block `j` of every
    /// packet in one cipher call.
    fn encrypt_lanes(
        &self,
        buf: &mut [u8],
        spans: &[Span],
        order: &[usize; LANES],
        icv_len: usize,
    ) {
        let lanes = Lanes::new(buf, spans, icv_len);
        // Each lane's ciphertext as its own slice of blocks (split in
        // buffer order, then put in lane order): a block is found by its
        // index alone.
        let mut region: [&mut [[u8; BLOCK_LEN]]; LANES] =
            std::array::from_fn(|_| Default::default());
        let mut lane_of = [usize::MAX; LANES];
        for (t, &k) in lanes.owner[..lanes.n].iter().enumerate() {
            lane_of[k] = t;
        }
        let mut rest = buf;
        let mut cursor = 0;
        for &k in &order[..spans.len().min(LANES)] {
            let t = lane_of[k];
            if t >= lanes.n {
                continue;
            }
            let at = lanes.ct_at[t];
            let Some(skip) = at.checked_sub(cursor) else {
                return;
            };
            let Some((ct, tail)) = std::mem::take(&mut rest)
                .split_at_mut_checked(skip)
                .and_then(|(_, r)| r.split_at_mut_checked(lanes.blocks[t] * BLOCK_LEN))
            else {
                return;
            };
            region[t] = ct.as_chunks_mut::<BLOCK_LEN>().0;
            rest = tail;
            cursor = at + lanes.blocks[t] * BLOCK_LEN;
        }
        // One backend call for the whole pass: the round keys are set up
        // once, not once per block position.
        self.enc.with_backend(SealLanes { lanes, region });
    }
}

/// The indices of `spans` (at most [`LANES`]) in buffer order; an error if
/// two overlap.
fn by_start(spans: &[Span]) -> Result<[usize; LANES], EspError> {
    let mut order = [0usize; LANES];
    let n = spans.len().min(LANES);
    for (i, o) in order[..n].iter_mut().enumerate() {
        *o = i;
    }
    order[..n].sort_unstable_by_key(|&i| spans[i].start);
    for w in order[..n].windows(2) {
        if spans[w[0]].start + spans[w[0]].len > spans[w[1]].start {
            return Err(EspError::BadParams("two packets overlap in the buffer"));
        }
    }
    Ok(order)
}

/// CBC encryption of [`Lanes`], every pass inside one call of the cipher's
/// backend.
struct SealLanes<'a> {
    lanes: Lanes,
    /// Per lane: its packet's ciphertext blocks.
    region: [&'a mut [[u8; BLOCK_LEN]]; LANES],
}

impl BlockSizeUser for SealLanes<'_> {
    type BlockSize = U16;
}

impl BlockCipherEncClosure for SealLanes<'_> {
    fn call<B: BlockCipherEncBackend<BlockSize = U16>>(self, backend: &B) {
        let Self {
            mut lanes,
            mut region,
        } = self;
        // Each lane holds plaintext block j XOR the previous ciphertext
        // block (the IV first); once encrypted, it is stored and the next
        // block is loaded in the same step.
        for ((lane, prev), blocks) in lanes
            .lane
            .iter_mut()
            .zip(&lanes.prev)
            .zip(&region)
            .take(lanes.n)
        {
            let first = blocks.first().copied().unwrap_or_default();
            lane.0 = xor(prev.to_ne_bytes(), first);
        }
        let mut m = lanes.n;
        for j in 0..lanes.rounds {
            m = lanes.active(m, j);
            encrypt_pass(backend, &mut lanes.lane, m);
            for (lane, blocks) in lanes.lane[..m].iter_mut().zip(region.iter_mut()) {
                let c = lane.0;
                if let Some(b) = blocks.get_mut(j) {
                    *b = c;
                }
                if let Some(next) = blocks.get(j + 1) {
                    lane.0 = xor(c, *next);
                }
            }
        }
    }
}

/// `a` XOR `b`, a block at a time.
fn xor(a: [u8; BLOCK_LEN], b: [u8; BLOCK_LEN]) -> [u8; BLOCK_LEN] {
    let mut out = [0u8; BLOCK_LEN];
    for ((o, x), y) in out.iter_mut().zip(a).zip(b) {
        *o = x ^ y;
    }
    out
}

/// CBC over up to [`LANES`] packets at once, block `j` of each in pass
/// `j`. Lane `t` carries one packet from the first pass to its last: the
/// lanes are ordered longest packet first, so the lanes of a pass are a
/// prefix and no block changes lane (nothing to look up per block).
struct Lanes {
    /// Per lane: where its packet's ciphertext starts in the buffer.
    ct_at: [usize; LANES],
    /// Per lane: its packet's ciphertext blocks (non-increasing).
    blocks: [usize; LANES],
    /// Per lane: its packet's index among the spans.
    owner: [usize; LANES],
    /// Per lane: the ciphertext block before the next one (the IV first).
    prev: [u128; LANES],
    /// Lanes in use.
    n: usize,
    /// Passes: the longest packet's blocks.
    rounds: usize,
    /// The blocks of the current pass.
    lane: [Block; LANES],
}

impl Lanes {
    /// The packets `spans` of `buf` (checked: whole blocks, inside `buf`).
    fn new(buf: &[u8], spans: &[Span], icv_len: usize) -> Self {
        let mut order = [(0usize, 0usize); LANES];
        let n = spans.len().min(LANES);
        for (k, (o, s)) in order.iter_mut().zip(spans).enumerate() {
            *o = (ct_blocks(s.len, icv_len).unwrap_or(0), k);
        }
        order[..n].sort_unstable_by_key(|o| std::cmp::Reverse(o.0));
        let mut l = Lanes {
            ct_at: [0; LANES],
            blocks: [0; LANES],
            owner: [0; LANES],
            prev: [0; LANES],
            n,
            rounds: order[0].0,
            lane: [Block::default(); LANES],
        };
        for (t, &(blocks, k)) in order[..n].iter().enumerate() {
            let start = spans.get(k).map_or(0, |s| s.start);
            l.ct_at[t] = start + ESP_HEADER_LEN + BLOCK_LEN;
            l.blocks[t] = blocks;
            l.owner[t] = k;
            l.prev[t] = load(buf, start + ESP_HEADER_LEN);
        }
        l
    }

    /// How many lanes of the first `m` have a block `j`.
    fn active(&self, mut m: usize, j: usize) -> usize {
        while m > 0 && self.blocks[m - 1] <= j {
            m -= 1;
        }
        m
    }
}

/// Whether a pass holding `blocks` of the cipher's `cap` parallel blocks
/// runs as one parallel pass (the rest stale and ignored) rather than
/// block by block: when at least a quarter full, as one parallel pass
/// costs less than a dozen blocks one by one, each a chain of dependent
/// rounds.
fn whole_pass(blocks: usize, cap: usize) -> bool {
    blocks * 4 >= cap
}

/// Encrypts the first `m` blocks of `lane` in the cipher's parallel
/// passes ([`whole_pass`] says when a partial one runs whole).
fn encrypt_pass<B: BlockCipherEncBackend<BlockSize = U16>>(
    backend: &B,
    lane: &mut [Block; LANES],
    m: usize,
) {
    let cap = B::ParBlocksSize::USIZE;
    let (chunks, _) = Array::<Block, B::ParBlocksSize>::slice_as_chunks_mut(lane);
    let whole = chunks.len() * cap;
    for (c, at) in chunks.iter_mut().zip((0..m).step_by(cap)) {
        if whole_pass(m - at, cap) {
            backend.encrypt_par_blocks_inplace(c);
        } else {
            backend.encrypt_tail_blocks_inplace(&mut c[..m - at]);
        }
    }
    if m > whole {
        backend.encrypt_tail_blocks_inplace(&mut lane[whole..m]);
    }
}

/// One packet's ciphertext for [`OpenStream`]: `blocks` blocks at
/// `ct_at` in the source (its IV just before), plaintext to `out_at` in
/// the destination.
#[derive(Debug, Clone, Copy, Default)]
struct Run {
    ct_at: usize,
    out_at: usize,
    blocks: usize,
}

/// A stretch of one [`Run`] inside a pass of [`OpenStream`].
#[derive(Debug, Clone, Copy, Default)]
struct Piece {
    /// First block of the pass it fills.
    slot: usize,
    /// Where its ciphertext starts in the source.
    from: usize,
    /// Where its plaintext goes in the destination.
    to: usize,
    blocks: usize,
}

/// CBC decryption of whole packets as one stream of blocks, inside one
/// call of the cipher's backend. Plaintext block `i` is `D(C_i) ^ C_{i-1}`
/// (`C_{-1}` the IV, which ESP puts just before the ciphertext), so no
/// block waits for another: the blocks of all packets, one packet after
/// the other, fill every parallel pass of the cipher but the last.
struct OpenStream<'a> {
    runs: &'a [Run],
    src: &'a [u8],
    dst: &'a mut [u8],
}

impl BlockSizeUser for OpenStream<'_> {
    type BlockSize = U16;
}

impl BlockCipherDecClosure for OpenStream<'_> {
    fn call<B: BlockCipherDecBackend<BlockSize = U16>>(self, backend: &B) {
        let Self { runs, src, dst } = self;
        let mut pass = Array::<Block, B::ParBlocksSize>::default();
        let mut pieces = Array::<Piece, B::ParBlocksSize>::default();
        let cap = pass.len();
        let (mut filled, mut n) = (0, 0);
        for run in runs {
            let mut j = 0;
            while j < run.blocks {
                let take = (run.blocks - j).min(cap - filled);
                let from = run.ct_at + j * BLOCK_LEN;
                let Some(ct) = src.get(from..from + take * BLOCK_LEN) else {
                    break;
                };
                for (b, c) in pass[filled..filled + take]
                    .iter_mut()
                    .zip(ct.chunks_exact(BLOCK_LEN))
                {
                    b.copy_from_slice(c);
                }
                pieces[n] = Piece {
                    slot: filled,
                    from,
                    to: run.out_at + j * BLOCK_LEN,
                    blocks: take,
                };
                n += 1;
                filled += take;
                j += take;
                if filled == cap {
                    backend.decrypt_par_blocks_inplace(&mut pass);
                    chain(&pass, &pieces[..n], src, dst);
                    (filled, n) = (0, 0);
                }
            }
        }
        if filled == 0 {
            return;
        }
        // The last pass, possibly partial.
        if whole_pass(filled, cap) {
            backend.decrypt_par_blocks_inplace(&mut pass);
        } else {
            backend.decrypt_tail_blocks_inplace(&mut pass[..filled]);
        }
        chain(&pass, &pieces[..n], src, dst);
    }
}

/// Finishes CBC for the `pieces` of a decrypted pass: XORs each block with
/// the ciphertext block before it and writes it to the destination.
fn chain(pass: &[Block], pieces: &[Piece], src: &[u8], dst: &mut [u8]) {
    for p in pieces {
        let len = p.blocks * BLOCK_LEN;
        let (Some(prev), Some(out), Some(plain)) = (
            p.from
                .checked_sub(BLOCK_LEN)
                .and_then(|at| src.get(at..at + len)),
            dst.get_mut(p.to..p.to + len),
            pass.get(p.slot..p.slot + p.blocks),
        ) else {
            continue;
        };
        for ((o, c), d) in out
            .chunks_exact_mut(BLOCK_LEN)
            .zip(prev.chunks_exact(BLOCK_LEN))
            .zip(plain)
        {
            for ((o, c), d) in o.iter_mut().zip(c).zip(d.iter()) {
                *o = c ^ d;
            }
        }
    }
}

/// The 16 bytes of `buf` at `at` as a word (zero if out of range: spans
/// are checked before this is used).
fn load(buf: &[u8], at: usize) -> u128 {
    buf.get(at..at + BLOCK_LEN)
        .and_then(|b| <[u8; BLOCK_LEN]>::try_from(b).ok())
        .map_or(0, u128::from_ne_bytes)
}

/// The keys of an inbound SA: what opening a checked packet needs.
#[derive(Debug, Clone)]
pub struct OpenKeys {
    pub(crate) dec: CbcDecryptor,
    pub(crate) integ: IntegKey,
}

impl OpenKeys {
    /// ICV length of the SA's integrity algorithm.
    pub fn icv_len(&self) -> usize {
        self.integ.alg().icv_len()
    }

    /// Verifies and decrypts one checked ESP part into `out`; returns the
    /// inner packet's length.
    pub fn open(&self, esp: &[u8], out: &mut [u8]) -> Result<usize, EspError> {
        let mut result = [Err(EspError::AuthFailed)];
        let out_len = out.len();
        self.open_many(
            esp,
            &[Span::new(0, esp.len())],
            out,
            &[Span::new(0, out_len)],
            &mut result,
        );
        let [r] = result;
        r
    }

    /// Opens the ESP parts `spans` of `src` into the regions `outs` of
    /// `dst`: every ICV is checked first (in constant time, several streams
    /// at once), then each authentic packet is decrypted and its padding
    /// and next header checked. `results[i]` receives the inner length of
    /// packet `i` or why it was refused.
    pub fn open_many(
        &self,
        src: &[u8],
        spans: &[Span],
        dst: &mut [u8],
        outs: &[Span],
        results: &mut [Result<usize, EspError>],
    ) {
        let icv_len = self.icv_len();
        let lanes = spans
            .chunks(LANES)
            .zip(outs.chunks(LANES))
            .zip(results.chunks_mut(LANES));
        for ((s, o), r) in lanes {
            let n = s.len().min(o.len()).min(r.len());
            let mut msgs = [Span::default(); LANES];
            let mut icvs = [Span::default(); LANES];
            let mut ok = [false; LANES];
            for k in 0..n {
                r[k] = match (region(src, s[k]), s[k].len.checked_sub(icv_len)) {
                    (Ok(_), Some(mac_len)) => {
                        msgs[k] = Span::new(s[k].start, mac_len);
                        icvs[k] = Span::new(s[k].start + mac_len, icv_len);
                        Ok(0)
                    }
                    (Err(e), _) => Err(e),
                    (_, None) => Err(M::EspTruncated { len: s[k].len }.into()),
                };
            }
            self.integ
                .verify_many(src, &msgs[..n], &icvs[..n], &mut ok[..n]);
            // Authentic packets whose output has room for the whole
            // ciphertext are decrypted together; the others one by one.
            let mut together = [false; LANES];
            for k in 0..n {
                if r[k].is_err() {
                    continue;
                }
                if !ok[k] {
                    r[k] = Err(EspError::AuthFailed);
                    continue;
                }
                let room = ct_blocks(s[k].len, icv_len)
                    .is_ok_and(|b| o[k].len >= b * BLOCK_LEN && region(dst, o[k]).is_ok());
                if room {
                    together[k] = true;
                    continue;
                }
                r[k] = match (region(src, s[k]), region_mut(dst, o[k])) {
                    (Ok(esp), Ok(out)) => self.decrypt(esp, out, icv_len),
                    (Err(e), _) | (_, Err(e)) => Err(e),
                };
            }
            self.decrypt_together(src, &s[..n], dst, &o[..n], &together[..n], icv_len);
            for k in 0..n {
                if !together[k] {
                    continue;
                }
                let ct_len = s[k].len - ESP_HEADER_LEN - BLOCK_LEN - icv_len;
                r[k] = match dst.get(o[k].start..o[k].start + ct_len) {
                    Some(plain) => match crate::inbound::check_trailer(plain) {
                        Ok(0) => Err(M::InnerEmpty.into()),
                        other => other,
                    },
                    None => Err(EspError::BadParams("span outside the buffer")),
                };
            }
        }
    }

    /// CBC decryption of the packets marked `which` (checked: authentic,
    /// whole blocks, room in their output) as one stream of blocks, into
    /// the start of their outputs.
    fn decrypt_together(
        &self,
        src: &[u8],
        spans: &[Span],
        dst: &mut [u8],
        outs: &[Span],
        which: &[bool],
        icv_len: usize,
    ) {
        let mut runs = [Run::default(); LANES];
        let mut n = 0;
        for ((s, o), _) in spans
            .iter()
            .zip(outs)
            .zip(which)
            .filter(|(_, w)| **w)
            .take(LANES)
        {
            runs[n] = Run {
                ct_at: s.start + ESP_HEADER_LEN + BLOCK_LEN,
                out_at: o.start,
                blocks: ct_blocks(s.len, icv_len).unwrap_or(0),
            };
            n += 1;
        }
        self.dec.with_backend(OpenStream {
            runs: &runs[..n],
            src,
            dst,
        });
    }

    /// Decrypts an authentic ESP part and checks the trailer; writes exactly
    /// the inner packet to `out`. If `out` cannot hold it nothing is written.
    fn decrypt(&self, esp: &[u8], out: &mut [u8], icv_len: usize) -> Result<usize, EspError> {
        ct_blocks(esp.len(), icv_len)?;
        let mut iv = [0u8; BLOCK_LEN];
        iv.copy_from_slice(&esp[ESP_HEADER_LEN..ESP_HEADER_LEN + BLOCK_LEN]);
        let ct = &esp[ESP_HEADER_LEN + BLOCK_LEN..esp.len() - icv_len];
        match crate::inbound::decrypt(&self.dec, &iv, ct, out)? {
            0 => Err(M::InnerEmpty.into()),
            inner_len => Ok(inner_len),
        }
    }
}
