//! Multi-stream HMAC-SHA1 (RFC 2104) on the x86 SHA extensions.
//!
//! SHA-NI runs one SHA-1 stream at well under half its throughput: each
//! four-round step waits for the previous one. Hashing four independent
//! messages with their rounds interleaved keeps the SHA unit busy. This crate
//! does that for HMAC-SHA1, the ES PIC's ESP integrity transform:
//!
//! - [`HmacSha1Key`] holds the key as the two chaining states after
//!   `key ^ ipad` and `key ^ opad`, so a MAC costs only the message blocks,
//!   one or two padding blocks and one outer block.
//! - [`HmacSha1Key::mac`] computes one MAC.
//! - [`mac_many`] computes a batch ([`Job`]s with their own keys and
//!   lengths) on four lanes, refilling a lane with the next job as soon as
//!   its current one is done, without allocating.
//!
//! Without SHA-NI (or off x86-64) everything runs on
//! `sha1::block_api::compress`, one block at a time per lane. The
//! `unsafe` code is confined to the private `x86_shani` module.
//!
//! Truncation (HMAC-SHA1-96 uses the first 12 bytes) is the caller's; see
//! [`HmacSha1Key::verify_96`] for a constant-time check of such an ICV.

use core::fmt;
use core::slice;

use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

#[cfg(target_arch = "x86_64")]
mod x86_shani;

/// Bytes in a SHA-1 block.
const BLOCK: usize = 64;
/// SHA-1's initial chaining state (FIPS 180-4, 5.3.1).
const H0: [u32; 5] = [
    0x6745_2301,
    0xEFCD_AB89,
    0x98BA_DCFE,
    0x1032_5476,
    0xC3D2_E1F0,
];
/// The outer hash's padding length field: `key ^ opad` (one block) plus the
/// 20-byte inner digest, in bits.
const OUTER_BITS: u64 = ((BLOCK + 20) * 8) as u64;

/// Length in bytes of an HMAC-SHA1 tag.
pub const TAG_LEN: usize = 20;
/// Length in bytes of an HMAC-SHA1-96 ICV (RFC 2404): the tag's first 12 bytes.
pub const ICV_96_LEN: usize = 12;

/// Which SHA-1 compression function the HMAC code runs on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Backend {
    /// The SHA-NI kernels (four, two or one stream) if the CPU has SHA-NI,
    /// otherwise [`Backend::Portable`].
    #[default]
    Auto,
    /// `sha1::block_api::compress`, one block of one lane at a time. (The
    /// `sha1` crate picks its own implementation: on a SHA-NI CPU it is a
    /// single-stream SHA-NI one.)
    Portable,
}

/// Whether this CPU has the SHA extensions (and SSSE3/SSE4.1) the
/// multi-stream kernels need. Detected once per process.
pub fn shani_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        x86_shani::ShaNi::detect().is_some()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// A resolved [`Backend`]: on x86-64 the SHA-NI variant carries the proof
/// that the CPU has the features.
#[derive(Clone, Copy, Debug)]
enum Engine {
    #[cfg(target_arch = "x86_64")]
    ShaNi(x86_shani::ShaNi),
    Portable,
}

impl Engine {
    fn new(backend: Backend) -> Self {
        match backend {
            Backend::Auto => {
                #[cfg(target_arch = "x86_64")]
                if let Some(t) = x86_shani::ShaNi::detect() {
                    return Self::ShaNi(t);
                }
                Self::Portable
            }
            Backend::Portable => Self::Portable,
        }
    }

    #[inline]
    fn compress1(self, state: &mut [u32; 5], blocks: &[[u8; 64]]) {
        match self {
            #[cfg(target_arch = "x86_64")]
            Self::ShaNi(t) => t.compress1(state, blocks),
            Self::Portable => sha1::block_api::compress(state, blocks),
        }
    }

    /// Two streams; absorbs the first `n` blocks of each, `n` the shorter
    /// slice's length.
    #[inline]
    fn compress2(self, states: &mut [[u32; 5]; 2], blocks: [&[[u8; 64]]; 2]) {
        match self {
            #[cfg(target_arch = "x86_64")]
            Self::ShaNi(t) => t.compress2(states, blocks),
            Self::Portable => portable_lanes(states, blocks),
        }
    }

    /// Four streams; absorbs the first `n` blocks of each, `n` the
    /// shortest slice's length.
    #[inline]
    fn compress4(self, states: &mut [[u32; 5]; 4], blocks: [&[[u8; 64]]; 4]) {
        match self {
            #[cfg(target_arch = "x86_64")]
            Self::ShaNi(t) => t.compress4(states, blocks),
            Self::Portable => portable_lanes(states, blocks),
        }
    }
}

/// The fallback for the multi-stream kernels: `sha1::block_api::compress`
/// one block at a time, taking the lanes in turn (which still lets an
/// out-of-order core overlap the independent calls).
fn portable_lanes<const N: usize>(states: &mut [[u32; 5]; N], blocks: [&[[u8; 64]]; N]) {
    let count = blocks.iter().map(|b| b.len()).min().unwrap_or(0);
    for i in 0..count {
        for (s, b) in states.iter_mut().zip(blocks) {
            sha1::block_api::compress(s, slice::from_ref(&b[i]));
        }
    }
}

/// The SHA-1 compression function on four independent streams: block `i`
/// is absorbed into `states[i]`. SHA-NI with the streams interleaved when
/// the CPU has it, otherwise `sha1::block_api::compress` per stream.
pub fn compress4(states: &mut [[u32; 5]; 4], blocks: [&[u8; 64]; 4]) {
    Engine::new(Backend::Auto).compress4(states, blocks.map(slice::from_ref));
}

/// The SHA-1 compression function on one stream, `blocks` in order (SHA-NI
/// when the CPU has it, otherwise `sha1::block_api::compress`).
pub fn compress1(state: &mut [u32; 5], blocks: &[[u8; 64]]) {
    Engine::new(Backend::Auto).compress1(state, blocks);
}

/// An HMAC-SHA1 key, kept as the SHA-1 chaining states after the first
/// block of the inner (`key ^ ipad`) and outer (`key ^ opad`) hashes.
///
/// These states are key-equivalent (they suffice to forge MACs): they are
/// zeroed on drop and `Debug` does not show them.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct HmacSha1Key {
    inner: [u32; 5],
    outer: [u32; 5],
}

impl fmt::Debug for HmacSha1Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HmacSha1Key").finish_non_exhaustive()
    }
}

impl HmacSha1Key {
    /// Derives the pad states from `key` (any length; a key longer than the
    /// 64-byte block is replaced by its SHA-1 digest, RFC 2104 section 2).
    pub fn new(key: &[u8]) -> Self {
        let mut k = [0u8; BLOCK];
        if key.len() > BLOCK {
            let mut d = Sha1::digest(key);
            k[..d.len()].copy_from_slice(&d);
            d.as_mut_slice().zeroize();
        } else {
            k[..key.len()].copy_from_slice(key);
        }
        let mut pad = [[0u8; BLOCK]];
        for (p, k) in pad[0].iter_mut().zip(&k) {
            *p = k ^ 0x36;
        }
        let mut inner = H0;
        sha1::block_api::compress(&mut inner, &pad);
        for (p, k) in pad[0].iter_mut().zip(&k) {
            *p = k ^ 0x5c;
        }
        let mut outer = H0;
        sha1::block_api::compress(&mut outer, &pad);
        pad.zeroize();
        k.zeroize();
        Self { inner, outer }
    }

    /// HMAC-SHA1 of `msg` (the full 20-byte tag).
    pub fn mac(&self, msg: &[u8]) -> [u8; TAG_LEN] {
        self.mac_with(Backend::Auto, msg)
    }

    /// [`HmacSha1Key::mac`] on a chosen [`Backend`] (for tests and
    /// benchmarks; the result is the same).
    pub fn mac_with(&self, backend: Backend, msg: &[u8]) -> [u8; TAG_LEN] {
        let engine = Engine::new(backend);
        let (body, rest) = msg.as_chunks::<BLOCK>();
        let mut state = self.inner;
        engine.compress1(&mut state, body);
        let mut tail = [[0u8; BLOCK]; 2];
        let n = fill_tail(&mut tail, rest, msg.len());
        engine.compress1(&mut state, &tail[..n]);
        let outer_block = [outer_block(&state)];
        let mut state = self.outer;
        engine.compress1(&mut state, &outer_block);
        digest_bytes(&state)
    }

    /// Checks, in constant time, that `icv` is the HMAC-SHA1-96 (RFC 2404)
    /// of `msg`: the first 12 bytes of the tag. An `icv` of any other length
    /// fails.
    pub fn verify_96(&self, msg: &[u8], icv: &[u8]) -> bool {
        icv.len() == ICV_96_LEN && bool::from(self.mac(msg)[..ICV_96_LEN].ct_eq(icv))
    }
}

/// One MAC computation for [`mac_many`]: the inputs, and `out`, where the
/// 20-byte tag is written.
#[derive(Clone, Debug)]
pub struct Job<'a> {
    /// The key.
    pub key: &'a HmacSha1Key,
    /// The message (any length).
    pub msg: &'a [u8],
    /// The tag, written by [`mac_many`] (its previous value is ignored).
    pub out: [u8; TAG_LEN],
}

impl<'a> Job<'a> {
    /// A job for `msg` under `key`, with `out` zeroed.
    pub fn new(key: &'a HmacSha1Key, msg: &'a [u8]) -> Self {
        Self {
            key,
            msg,
            out: [0; TAG_LEN],
        }
    }
}

/// Computes every job's tag into its `out`, four jobs at a time on SHA-NI.
///
/// Keys and message lengths may differ between jobs. Each of four lanes
/// takes a job, runs its inner hash (message blocks, then one or two
/// padding blocks) and its outer hash (one block); when a job finishes its
/// lane takes the next unstarted job, so the lanes stay full until the
/// batch runs out. Allocates nothing.
pub fn mac_many(jobs: &mut [Job<'_>]) {
    mac_many_with(Backend::Auto, jobs);
}

/// [`mac_many`] on a chosen [`Backend`] (for tests and benchmarks; the
/// results are the same).
pub fn mac_many_with(backend: Backend, jobs: &mut [Job<'_>]) {
    let engine = Engine::new(backend);
    // A single job gains nothing from the lane machinery.
    if let [job] = jobs {
        job.out = job.key.mac_with(backend, job.msg);
        return;
    }
    let mut sched = Scheduler {
        lanes: [Lane::IDLE; 4],
        states: [[0; 5]; 4],
        bufs: [[[0; BLOCK]; 2]; 4],
        next: 0,
    };
    for l in 0..4 {
        sched.refill(l, jobs);
    }
    loop {
        let mut active = [0usize; 4];
        let mut n = 0;
        for (l, lane) in sched.lanes.iter().enumerate() {
            if lane.phase != Phase::Idle {
                active[n] = l;
                n += 1;
            }
        }
        match n {
            0 => return,
            1 => {
                // No jobs are left to start (lanes are refilled as soon as
                // they finish): run the last one to the end on one stream.
                sched.finish_alone(engine, active[0], jobs);
                return;
            }
            2 => {
                let (a, b) = (active[0], active[1]);
                let segs = [
                    sched.lanes[a].segment(&sched.bufs[a]),
                    sched.lanes[b].segment(&sched.bufs[b]),
                ];
                let step = segs[0].len().min(segs[1].len());
                let mut st = [sched.states[a], sched.states[b]];
                engine.compress2(&mut st, segs);
                [sched.states[a], sched.states[b]] = st;
                sched.advance(a, step, jobs);
                sched.advance(b, step, jobs);
            }
            _ => {
                // Three or four lanes: an idle lane repeats another lane's
                // blocks into its own (unused) state, which is cheaper than
                // running the other three as two plus one.
                let segs = [0, 1, 2, 3].map(|l| {
                    let l = if sched.lanes[l].phase == Phase::Idle {
                        active[0]
                    } else {
                        l
                    };
                    sched.lanes[l].segment(&sched.bufs[l])
                });
                let step = segs.iter().map(|s| s.len()).min().unwrap_or(0);
                // A busy lane always has a block to absorb.
                debug_assert!(step > 0);
                engine.compress4(&mut sched.states, segs);
                for &l in &active[..n] {
                    sched.advance(l, step, jobs);
                }
            }
        }
    }
}

/// Where a lane is in its job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// No job.
    Idle,
    /// Inner hash: message blocks, then the padding blocks.
    Inner,
    /// Outer hash: the one block holding the inner digest.
    Outer,
}

/// A lane of [`mac_many`]: the job it runs and how far it is. Its chaining
/// state and block buffer are kept by the [`Scheduler`] in arrays, as the
/// kernels want them.
#[derive(Clone, Copy)]
struct Lane<'a> {
    phase: Phase,
    /// Index of the job in the batch.
    job: usize,
    key: Option<&'a HmacSha1Key>,
    /// Full message blocks not yet absorbed (borrowed from the message).
    body: &'a [[u8; BLOCK]],
    /// Padding blocks in the lane's buffer (1 or 2), and how many are done.
    tail_len: u8,
    tail_pos: u8,
}

impl<'a> Lane<'a> {
    const IDLE: Self = Self {
        phase: Phase::Idle,
        job: 0,
        key: None,
        body: &[],
        tail_len: 0,
        tail_pos: 0,
    };

    /// The blocks this lane can absorb next without the scheduler's help:
    /// the rest of its message's full blocks, or its remaining padding
    /// blocks (in `buf`, its buffer), or its outer block. Empty if idle.
    #[inline]
    fn segment<'b>(&self, buf: &'b [[u8; BLOCK]; 2]) -> &'b [[u8; BLOCK]]
    where
        'a: 'b,
    {
        match self.phase {
            Phase::Idle => &[],
            Phase::Inner if !self.body.is_empty() => self.body,
            Phase::Inner => buf
                .get(usize::from(self.tail_pos)..usize::from(self.tail_len))
                .unwrap_or(&[]),
            Phase::Outer => slice::from_ref(&buf[0]),
        }
    }
}

/// The state of one [`mac_many`] call, all on the stack.
struct Scheduler<'a> {
    lanes: [Lane<'a>; 4],
    states: [[u32; 5]; 4],
    /// Per lane: the padding block(s) of the inner hash, then the outer block.
    bufs: [[[u8; BLOCK]; 2]; 4],
    /// The first job not yet given to a lane.
    next: usize,
}

impl<'a> Scheduler<'a> {
    /// Gives lane `l` the next job, or makes it idle if there is none.
    fn refill(&mut self, l: usize, jobs: &[Job<'a>]) {
        let Some(job) = jobs.get(self.next) else {
            self.lanes[l] = Lane::IDLE;
            return;
        };
        let (body, rest) = job.msg.as_chunks::<BLOCK>();
        let tail_len = fill_tail(&mut self.bufs[l], rest, job.msg.len()) as u8;
        self.states[l] = job.key.inner;
        self.lanes[l] = Lane {
            phase: Phase::Inner,
            job: self.next,
            key: Some(job.key),
            body,
            tail_len,
            tail_pos: 0,
        };
        self.next += 1;
    }

    /// Moves lane `l` past the `step` blocks (at most its
    /// [`Lane::segment`]) it just absorbed: on to more message blocks,
    /// the padding blocks, the outer block, or (job done) the tag out and
    /// the next job in.
    #[inline]
    fn advance(&mut self, l: usize, step: usize, jobs: &mut [Job<'a>]) {
        let lane = &mut self.lanes[l];
        match lane.phase {
            Phase::Idle => {}
            Phase::Inner if !lane.body.is_empty() => {
                lane.body = lane.body.get(step..).unwrap_or(&[]);
            }
            Phase::Inner => {
                lane.tail_pos += step as u8;
                if lane.tail_pos >= lane.tail_len {
                    self.bufs[l][0] = outer_block(&self.states[l]);
                    if let Some(key) = lane.key {
                        self.states[l] = key.outer;
                    }
                    lane.phase = Phase::Outer;
                }
            }
            Phase::Outer => {
                jobs[lane.job].out = digest_bytes(&self.states[l]);
                self.refill(l, jobs);
            }
        }
    }

    /// Runs lane `l`'s job to the end on one stream.
    fn finish_alone(&mut self, engine: Engine, l: usize, jobs: &mut [Job<'a>]) {
        let lane = self.lanes[l];
        let state = &mut self.states[l];
        if lane.phase == Phase::Inner {
            engine.compress1(state, lane.body);
            let tail = self.bufs[l]
                .get(usize::from(lane.tail_pos)..usize::from(lane.tail_len))
                .unwrap_or(&[]);
            engine.compress1(state, tail);
            let outer = [outer_block(state)];
            if let Some(key) = lane.key {
                *state = key.outer;
            }
            engine.compress1(state, &outer);
        } else if lane.phase == Phase::Outer {
            engine.compress1(state, slice::from_ref(&self.bufs[l][0]));
        }
        if lane.phase != Phase::Idle {
            jobs[lane.job].out = digest_bytes(state);
        }
        self.lanes[l] = Lane::IDLE;
    }
}

/// Writes the inner hash's final block(s) into `buf`: the message's last
/// `rest.len()` (< 64) bytes, `0x80`, zeros and the bit length of
/// `key ^ ipad` plus the message. Returns how many blocks (1 or 2).
fn fill_tail(buf: &mut [[u8; BLOCK]; 2], rest: &[u8], msg_len: usize) -> usize {
    debug_assert!(rest.len() < BLOCK);
    *buf = [[0; BLOCK]; 2];
    let r = rest.len();
    buf[0][..r].copy_from_slice(rest);
    buf[0][r] = 0x80;
    let bits = (msg_len as u64)
        .wrapping_add(BLOCK as u64)
        .wrapping_mul(8)
        .to_be_bytes();
    let n = if r < BLOCK - 8 { 1 } else { 2 };
    buf[n - 1][BLOCK - 8..].copy_from_slice(&bits);
    n
}

/// The outer hash's only block after `key ^ opad`: the inner digest,
/// `0x80`, zeros and the bit length.
fn outer_block(inner_digest: &[u32; 5]) -> [u8; BLOCK] {
    let mut b = [0u8; BLOCK];
    b[..TAG_LEN].copy_from_slice(&digest_bytes(inner_digest));
    b[TAG_LEN] = 0x80;
    b[BLOCK - 8..].copy_from_slice(&OUTER_BITS.to_be_bytes());
    b
}

/// A SHA-1 chaining state as the big-endian digest bytes.
fn digest_bytes(state: &[u32; 5]) -> [u8; TAG_LEN] {
    let mut out = [0u8; TAG_LEN];
    for (o, w) in out.chunks_exact_mut(4).zip(state) {
        o.copy_from_slice(&w.to_be_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_padding_boundaries() {
        let mut buf = [[0xAA; BLOCK]; 2];
        for r in 0..BLOCK {
            let n = fill_tail(&mut buf, &vec![0x11; r], 64 + r);
            assert_eq!(n, if r <= 55 { 1 } else { 2 }, "r={r}");
            assert_eq!(buf[0][r], 0x80);
            let bits = ((128 + r) as u64 * 8).to_be_bytes();
            assert_eq!(buf[n - 1][56..], bits);
        }
    }

    #[test]
    fn debug_hides_the_key() {
        let k = HmacSha1Key::new(b"secret");
        let s = format!("{k:?}");
        assert_eq!(s, "HmacSha1Key { .. }");
    }

    #[test]
    fn zeroize_clears_the_states() {
        let mut k = HmacSha1Key::new(b"secret");
        k.zeroize();
        assert_eq!(k.inner, [0; 5]);
        assert_eq!(k.outer, [0; 5]);
    }
}
