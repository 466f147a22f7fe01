//! `mtsim bench pic`: the ES PIC's throughput, measured three ways for
//! AES-128-CBC + HMAC-SHA1-96 in tunnel mode over IPv4, encap and decap:
//!
//! - [`DataPath::Ring`]: the full path. Host buffers are copied into the
//!   driver's DMA window, descriptors go down the command ring (as many as
//!   the ring takes per doorbell), the card's engine thread runs them and
//!   publishes completions, the driver reaps them and copies the results out.
//! - [`DataPath::Engine`]: the bare transform as the engine runs it, no
//!   rings or DMA: lots of 64 packets, each prepared or checked by the SA
//!   ([`esp::OutboundSa::prepare`], [`esp::InboundSa::check`]), then
//!   sealed or opened in one multi-buffer pass ([`esp::batch`]), then
//!   committed; one thread.
//! - [`DataPath::Baseline`]: a naive one-packet-at-a-time ESP written here
//!   with the RustCrypto crates directly: AES-CBC over the padded payload,
//!   then a new `Hmac<Sha1>` keyed for every packet over header, IV and
//!   ciphertext (decap: a new `Hmac`, ICV check, CBC decryption, padding
//!   check). It builds the ESP part only, as `../shared/bench` does.
//!
//! Gbit/s counts the inner IPv4 packet (the payload P of the packet model
//! in `docs/espic/THROUGHPUT.md`); Mpps counts packets. Keys, IVs and
//! payloads are the deterministic ones of `../shared/bench/common/esp_common.h`,
//! and [`Kat`] rebuilds its packet 0 so the ICVs can be compared.
//!
//! Decap uses ESP packets built once with the outbound SA; the inbound SAs
//! (the card's and the engine path's) have anti-replay off (window 0) so
//! the same packets can be decapsulated again and again.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aes::cipher::array::Array;
use aes::cipher::{BlockModeDecrypt, BlockModeEncrypt, InnerIvInit, KeyInit};
use aes::{Aes128Dec, Aes128Enc};
use esp::batch::{LANES, OpenKeys, SealKeys, Span};
use esp::crypto::{CbcEncryptor, IntegKey};
use esp::{
    Checked, CipherAlg, InboundSa, IntegAlg, Lifetime, OutboundSa, Prepared, SaParams, Tunnel,
};
use espic_driver::{Cipher, Config, Integrity, Lifetimes, Request, SaSpec};
use hmac::{Hmac, Mac};
use sha1::Sha1;

use crate::pic::{DMA_WINDOW_BASE, Pic, PicError};
use crate::selftest::{GATEWAY_A, GATEWAY_B};
use crate::traffic::icmp_echo_v4;

/// Smallest payload: an IPv4 header and an ICMP echo header, no data.
pub const MIN_SIZE: usize = 28;
/// Largest payload accepted by `--sizes`.
pub const MAX_SIZE: usize = 8192;
/// Payload sizes measured by default.
pub const DEFAULT_SIZES: [usize; 4] = [64, 256, 512, 1420];
/// Seconds per measurement by default.
pub const DEFAULT_SECONDS: f64 = 0.5;
/// The IMIX: one cycle of 12 inner packets, 7:4:1 of 64, 576 and 1420 bytes
/// (interleaved, so that sizes alternate within every batch).
pub const IMIX_CYCLE: [usize; 12] = [64, 576, 64, 1420, 64, 576, 64, 64, 576, 64, 576, 64];

/// SPI of the SA pair (the anchors' SA 0).
pub const SPI: u32 = 0x1000;
/// Timed runs per measurement; the median is reported.
const TRIALS: u32 = 5;
/// Command and completion ring entries of the card under test.
const RING_ENTRIES: u32 = 1024;
/// Descriptors the engine takes per batch (the card's limit).
const BATCH_MAX: u32 = 256;
/// The card's SA slots: outbound, inbound.
const SLOT_OUT: u32 = 0;
const SLOT_IN: u32 = 1;
/// ESP header, IV and ICV lengths (AES-CBC, HMAC-SHA1-96).
const ESP_HDR: usize = 8;
const IV_LEN: usize = 16;
const ICV_LEN: usize = 12;
/// Next header of an inner IPv4 packet.
const NEXT_IPV4: u8 = 4;

/// Why the benchmark could not run or stopped.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The options are out of range.
    #[error("{0}")]
    Options(String),
    /// The card or driver failed.
    #[error(transparent)]
    Pic(#[from] PicError),
    /// The ESP library refused the SA or a packet.
    #[error("ESP: {0}")]
    Esp(#[from] esp::EspError),
    /// A path produced wrong packets (checked before timing) or refused one
    /// while timed.
    #[error("{path} {op}, {size}: {why}")]
    Check {
        /// The path.
        path: DataPath,
        /// The direction.
        op: Op,
        /// The workload.
        size: Size,
        /// What went wrong.
        why: String,
    },
}

/// Options of one run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Seconds per measurement (path × direction × size).
    pub seconds: f64,
    /// Payload sizes in bytes; the IMIX is always measured too.
    pub sizes: Vec<usize>,
    /// Threads running the card's crypto in the ring path (the engine
    /// thread and `threads - 1` workers).
    pub threads: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            seconds: DEFAULT_SECONDS,
            sizes: DEFAULT_SIZES.to_vec(),
            threads: 1,
        }
    }
}

/// Where the packets go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataPath {
    /// Host buffers, command ring, card engine, completion ring.
    Ring,
    /// `esp::OutboundSa::encap` / `InboundSa::decap` alone.
    Engine,
    /// Naive RustCrypto ESP, one packet at a time.
    Baseline,
}

impl DataPath {
    /// Every path, in report order.
    pub const ALL: [DataPath; 3] = [DataPath::Ring, DataPath::Engine, DataPath::Baseline];

    /// The name used in the JSON rows.
    pub fn name(self) -> &'static str {
        match self {
            DataPath::Ring => "ring",
            DataPath::Engine => "engine",
            DataPath::Baseline => "baseline",
        }
    }
}

impl fmt::Display for DataPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Encapsulation or decapsulation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Inner packet to ESP.
    Encap,
    /// ESP to inner packet.
    Decap,
}

impl Op {
    /// Both directions, in report order.
    pub const ALL: [Op; 2] = [Op::Encap, Op::Decap];

    /// The name used in the JSON rows.
    pub fn name(self) -> &'static str {
        match self {
            Op::Encap => "encap",
            Op::Decap => "decap",
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A workload: one inner packet size, or the IMIX.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    /// Every inner packet has this many bytes.
    Bytes(usize),
    /// [`IMIX_CYCLE`].
    Imix,
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Size::Bytes(n) => write!(f, "{n}"),
            Size::Imix => f.write_str("imix"),
        }
    }
}

/// One measurement.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Row {
    /// The path measured.
    pub path: DataPath,
    /// The direction.
    pub op: Op,
    /// The workload.
    pub size: Size,
    /// Gbit/s of inner packet bytes (median trial).
    pub gbps: f64,
    /// Million packets per second (same trial).
    pub mpps: f64,
}

impl Row {
    /// The JSON form: exactly `path`, `direction`, `size`, `gbps`, `mpps`.
    pub fn json(&self) -> serde_json::Value {
        let size = match self.size {
            Size::Bytes(n) => serde_json::Value::from(n),
            Size::Imix => serde_json::Value::from("imix"),
        };
        serde_json::json!({
            "path": self.path.name(),
            "direction": self.op.name(),
            "size": size,
            "gbps": self.gbps,
            "mpps": self.mpps,
        })
    }
}

/// The known answer of `../shared/bench`: packet 0 of a size, built in the
/// anchors' layout with the engine's own CBC and HMAC code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kat {
    /// Payload size.
    pub size: usize,
    /// The ICV, as the anchors' `icv0=` prints it.
    pub icv: [u8; ICV_LEN],
    /// FNV-1a 64 of the ciphertext, as the anchors' `ct0_fnv=` prints it.
    pub ct_fnv: u64,
    /// Whether the baseline's ESP builder made the same bytes.
    pub baseline_agrees: bool,
}

impl fmt::Display for Kat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "KAT size={} icv={} ct0_fnv={:016x} baseline={}",
            self.size,
            hex::encode(self.icv),
            self.ct_fnv,
            if self.baseline_agrees {
                "same"
            } else {
                "DIFFERENT"
            }
        )
    }
}

/// Everything one run measured.
#[derive(Debug, Clone)]
pub struct Report {
    /// Seconds per measurement.
    pub seconds: f64,
    /// Ring entries of the card under test.
    pub ring_entries: u32,
    /// Threads running the card's crypto.
    pub threads: usize,
    /// Rows: for each size (then the IMIX), each direction, each path.
    pub rows: Vec<Row>,
    /// Known answers, one per payload size.
    pub kats: Vec<Kat>,
    /// [`core_round_trip`] measured before each workload's rows (sizes
    /// in order, then the IMIX), and once more at the end.
    pub core_trips: Vec<Option<Duration>>,
}

impl Report {
    /// The rows as a JSON array.
    pub fn json(&self) -> serde_json::Value {
        serde_json::Value::Array(self.rows.iter().map(Row::json).collect())
    }

    /// The row for a path, direction and size.
    pub fn row(&self, path: DataPath, op: Op, size: Size) -> Option<&Row> {
        self.rows
            .iter()
            .find(|r| r.path == path && r.op == op && r.size == size)
    }

    /// What a hand-off between two cores cost during the run, as one line.
    pub fn core_text(&self) -> String {
        let trips: Vec<String> = self
            .core_trips
            .iter()
            .map(|t| t.map_or("-".into(), |d| d.as_nanos().to_string()))
            .collect();
        format!(
            "core-to-core round trip, ns (before each size and at the end): {}\n  \
             (the ring rows depend on it: the host's and the card's threads hand every packet \
             across; on a VM it changes when the two vCPUs move between shared and separate caches)\n",
            trips.join(" ")
        )
    }

    /// The KAT lines and what they were built with.
    pub fn kat_text(&self) -> String {
        let mut s = String::new();
        for k in &self.kats {
            s.push_str(&format!("{k}\n"));
        }
        s.push_str(
            "  (packet 0 of ../shared/bench/common/esp_common.h for each size, ESP part only,\n   \
             built with esp::crypto, the engine's AES-CBC and HMAC; esp::OutboundSa::encap\n   \
             refuses that packet: its payload starts with byte 0x00, not an IP header)\n",
        );
        s
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "ES PIC throughput: ESP tunnel mode over IPv4, AES-128-CBC + HMAC-SHA1-96"
        )?;
        writeln!(
            f,
            "{} s per measurement (median of {TRIALS}); Gbit/s of inner packet bytes; \
             ring: {} entries, batches of up to {BATCH_MAX}, {} crypto thread(s)",
            self.seconds, self.ring_entries, self.threads
        )?;
        writeln!(
            f,
            "imix: 7:4:1 of 64/576/1420-byte inner packets (mean {:.1} bytes)\n",
            imix_mean()
        )?;
        writeln!(
            f,
            "{:>5} {:<5} | {:>12} {:>6} | {:>12} {:>6} | {:>12} {:>6} | {:>9} {:>11}",
            "size",
            "dir",
            "ring Gbit/s",
            "Mpps",
            "engine Gbit/s",
            "Mpps",
            "base Gbit/s",
            "Mpps",
            "ring/base",
            "engine/base"
        )?;
        let mut sizes: Vec<Size> = Vec::new();
        for r in &self.rows {
            if !sizes.contains(&r.size) {
                sizes.push(r.size);
            }
        }
        for size in sizes {
            for op in Op::ALL {
                let get = |p| self.row(p, op, size);
                let (Some(ring), Some(engine), Some(base)) = (
                    get(DataPath::Ring),
                    get(DataPath::Engine),
                    get(DataPath::Baseline),
                ) else {
                    continue;
                };
                let ratio = |x: f64| {
                    if base.gbps > 0.0 {
                        format!("{:.2}", x / base.gbps)
                    } else {
                        "-".into()
                    }
                };
                writeln!(
                    f,
                    "{:>5} {:<5} | {:>12.3} {:>6.3} | {:>13.3} {:>6.3} | {:>11.3} {:>6.3} | {:>9} {:>11}",
                    size.to_string(),
                    op.name(),
                    ring.gbps,
                    ring.mpps,
                    engine.gbps,
                    engine.mpps,
                    base.gbps,
                    base.mpps,
                    ratio(ring.gbps),
                    ratio(engine.gbps)
                )?;
            }
        }
        writeln!(f)?;
        f.write_str(&self.core_text())?;
        f.write_str(&self.kat_text())
    }
}

/// Mean inner packet size of the IMIX.
pub fn imix_mean() -> f64 {
    IMIX_CYCLE.iter().sum::<usize>() as f64 / IMIX_CYCLE.len() as f64
}

/// Host time. Everything else in the simulator reads the simulated clock;
/// this module measures how fast the host runs the card.
#[allow(clippy::disallowed_methods)] // a benchmark measures host time
fn now() -> Instant {
    Instant::now()
}

// ---------------------------------------------------------------------------
// The packet model of ../shared/bench/common/esp_common.h

/// The anchors' AES key for SA 0: bytes 1, 2, ..., 16.
pub fn aes_key() -> [u8; 16] {
    std::array::from_fn(|j| (j + 1) as u8)
}

/// The anchors' HMAC-SHA1 key for SA 0: bytes 0x10, 0x11, ..., 0x23.
pub fn hmac_key() -> [u8; 20] {
    std::array::from_fn(|j| (0x10 + j) as u8)
}

/// The anchors' IV of packet `k`: bytes 0xA0 + j + k (mod 256).
pub fn anchor_iv(k: usize) -> [u8; IV_LEN] {
    std::array::from_fn(|j| (0xA0 + j + k) as u8)
}

/// Ciphertext length for a payload of `p` bytes (payload, padding, pad
/// length and next header, in whole AES blocks).
pub fn ct_len(p: usize) -> usize {
    (p + 2 + 15) & !15
}

/// Length of the ESP part (header, IV, ciphertext, ICV) for payload `p`.
pub fn esp_len(p: usize) -> usize {
    ESP_HDR + IV_LEN + ct_len(p) + ICV_LEN
}

/// Packets in a fixed-size pool: a working set of about 512 KiB, 64..=1024
/// packets, a multiple of 64 (the anchors' rule).
fn pool_len(p: usize) -> usize {
    let stride = (esp_len(p) + 63) & !63;
    ((512 * 1024 / stride).clamp(64, 1024)) & !63
}

/// FNV-1a 64, as the anchors print `ct0_fnv`.
pub fn fnv64(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf2_9ce4_8422_2325, |h, &x| {
        (h ^ u64::from(x)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The SA parameters of one direction (anti-replay off, no lifetimes).
fn sa_params() -> SaParams {
    SaParams {
        spi: SPI,
        cipher: CipherAlg::Aes128Cbc,
        enc_key: aes_key().to_vec(),
        integ: IntegAlg::HmacSha1_96,
        auth_key: hmac_key().to_vec(),
        tunnel: Tunnel {
            src: IpAddr::V4(GATEWAY_A),
            dst: IpAddr::V4(GATEWAY_B),
            udp_encap: None,
        },
        replay_window: 0,
        lifetime: Lifetime::default(),
        initial_seq: 0,
    }
}

/// The same SA as the card takes it.
fn sa_spec(direction: espic_driver::Direction) -> SaSpec {
    SaSpec {
        spi: SPI,
        direction,
        cipher: Cipher::Aes128Cbc,
        enc_key: aes_key().to_vec(),
        integrity: Integrity::HmacSha1_96,
        auth_key: hmac_key().to_vec(),
        tunnel_src: IpAddr::V4(GATEWAY_A),
        tunnel_dst: IpAddr::V4(GATEWAY_B),
        udp_encap: None,
        replay_window: 0,
        lifetimes: Lifetimes::default(),
        initial_seq: 0,
    }
}

/// Inner packet `k` of `len` bytes: an ICMP echo whose data bytes are
/// `i + k`, like the anchors' payloads after the 28 bytes of headers.
fn inner_packet(len: usize, k: usize) -> Vec<u8> {
    let data: Vec<u8> = (0..len.saturating_sub(MIN_SIZE))
        .map(|i| (i + k) as u8)
        .collect();
    icmp_echo_v4(
        Ipv4Addr::new(198, 51, 100, 1),
        Ipv4Addr::new(203, 0, 113, 1),
        k as u16,
        k as u16,
        &data,
    )
}

/// The packets of one workload, in every form the paths need.
struct Workload {
    size: Size,
    /// Inner IPv4 packets.
    inner: Vec<Vec<u8>>,
    /// Per-packet IVs for the engine and baseline encap (the card draws its own).
    ivs: Vec<[u8; IV_LEN]>,
    /// The inner packets encapsulated once (outer IPv4 header and ESP),
    /// sequence numbers 1, 2, ...
    outer: Vec<Vec<u8>>,
}

impl Workload {
    fn new(size: Size) -> Result<Self, BenchError> {
        let lens: Vec<usize> = match size {
            Size::Bytes(p) => vec![p; pool_len(p)],
            Size::Imix => IMIX_CYCLE.iter().copied().cycle().take(12 * 128).collect(),
        };
        let inner: Vec<Vec<u8>> = lens
            .iter()
            .enumerate()
            .map(|(k, &l)| inner_packet(l, k))
            .collect();
        let ivs: Vec<[u8; IV_LEN]> = (0..inner.len()).map(anchor_iv).collect();
        let mut sa = OutboundSa::new(sa_params())?;
        let mut outer = Vec::with_capacity(inner.len());
        for (p, iv) in inner.iter().zip(&ivs) {
            let mut out = vec![0u8; sa.encap_len(p.len())];
            let done = sa.encap(p, iv, &mut out)?;
            out.truncate(done.len);
            outer.push(out);
        }
        Ok(Workload {
            size,
            inner,
            ivs,
            outer,
        })
    }

    fn lens(&self) -> Vec<u64> {
        self.inner.iter().map(|p| p.len() as u64).collect()
    }

    fn check(&self, path: DataPath, op: Op, why: impl Into<String>) -> BenchError {
        BenchError::Check {
            path,
            op,
            size: self.size,
            why: why.into(),
        }
    }
}

// ---------------------------------------------------------------------------
// The naive baseline

/// ESP with the RustCrypto crates, one packet at a time: the AES key
/// schedules are expanded once, HMAC is keyed anew for every packet.
pub struct Baseline {
    spi: u32,
    enc: Aes128Enc,
    dec: Aes128Dec,
    auth_key: [u8; 20],
}

impl fmt::Debug for Baseline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Baseline(spi {:#x}, keys: <redacted>)", self.spi)
    }
}

impl Baseline {
    /// A baseline SA with the anchors' keys and [`SPI`].
    pub fn new() -> Self {
        let key = Array::from(aes_key());
        Baseline {
            spi: SPI,
            enc: Aes128Enc::new(&key),
            dec: Aes128Dec::new(&key),
            auth_key: hmac_key(),
        }
    }

    /// Writes the ESP part for `payload` (next header `next_header`) with
    /// sequence number `seq` and `iv` to `out`; returns its length, or
    /// `None` if `out` is too small.
    pub fn encap(
        &self,
        payload: &[u8],
        seq: u32,
        iv: &[u8; IV_LEN],
        next_header: u8,
        out: &mut [u8],
    ) -> Option<usize> {
        let ct = ct_len(payload.len());
        let total = esp_len(payload.len());
        let out = out.get_mut(..total)?;
        out[0..4].copy_from_slice(&self.spi.to_be_bytes());
        out[4..8].copy_from_slice(&seq.to_be_bytes());
        out[8..24].copy_from_slice(iv);
        let body = &mut out[24..24 + ct];
        body[..payload.len()].copy_from_slice(payload);
        let pad = ct - payload.len() - 2;
        for (i, b) in body[payload.len()..payload.len() + pad]
            .iter_mut()
            .enumerate()
        {
            *b = (i + 1) as u8;
        }
        body[ct - 2] = pad as u8;
        body[ct - 1] = next_header;
        let (blocks, _) = Array::slice_as_chunks_mut(body);
        cbc::Encryptor::inner_iv_init(&self.enc, iv.into()).encrypt_blocks(blocks);
        let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(&self.auth_key).ok()?;
        mac.update(&out[..24 + ct]);
        let tag = mac.finalize().into_bytes();
        out[24 + ct..].copy_from_slice(tag.get(..ICV_LEN)?);
        Some(total)
    }

    /// Checks and decrypts the ESP part `esp`, writing the payload to
    /// `out`; returns its length, or why the packet was refused.
    pub fn decap(&self, esp: &[u8], out: &mut [u8]) -> Result<usize, &'static str> {
        if esp.len() < ESP_HDR + IV_LEN + 16 + ICV_LEN {
            return Err("truncated");
        }
        let icv_at = esp.len() - ICV_LEN;
        let ct = &esp[ESP_HDR + IV_LEN..icv_at];
        if !ct.len().is_multiple_of(16) {
            return Err("ciphertext not in whole blocks");
        }
        let mut mac =
            <Hmac<Sha1> as KeyInit>::new_from_slice(&self.auth_key).map_err(|_| "HMAC key")?;
        mac.update(&esp[..icv_at]);
        mac.verify_truncated_left(&esp[icv_at..])
            .map_err(|_| "ICV mismatch")?;
        let out = out.get_mut(..ct.len()).ok_or("output too small")?;
        let mut iv = [0u8; IV_LEN];
        iv.copy_from_slice(&esp[ESP_HDR..ESP_HDR + IV_LEN]);
        let (in_blocks, _) = Array::slice_as_chunks(ct);
        let (out_blocks, _) = Array::slice_as_chunks_mut(out);
        cbc::Decryptor::inner_iv_init(&self.dec, (&iv).into())
            .decrypt_blocks_b2b(in_blocks, out_blocks)
            .map_err(|_| "CBC")?;
        let pad = usize::from(out[ct.len() - 2]);
        let len = ct
            .len()
            .checked_sub(2 + pad)
            .ok_or("pad length too large")?;
        if out[len..len + pad]
            .iter()
            .enumerate()
            .any(|(i, &b)| b != (i + 1) as u8)
        {
            return Err("bad padding");
        }
        if out[ct.len() - 1] != NEXT_IPV4 {
            return Err("next header is not IPv4");
        }
        Ok(len)
    }
}

impl Default for Baseline {
    fn default() -> Self {
        Self::new()
    }
}

// ---------------------------------------------------------------------------
// Known answers

/// Packet 0 of the anchors for payload `p`, built with `esp::crypto`.
pub fn kat(p: usize) -> Result<Kat, BenchError> {
    let payload: Vec<u8> = (0..p).map(|i| i as u8).collect();
    let iv = anchor_iv(0);
    let ct = ct_len(p);
    let mut pkt = vec![0u8; esp_len(p)];
    pkt[0..4].copy_from_slice(&SPI.to_be_bytes());
    pkt[4..8].copy_from_slice(&1u32.to_be_bytes());
    pkt[8..24].copy_from_slice(&iv);
    pkt[24..24 + p].copy_from_slice(&payload);
    let pad = ct - p - 2;
    for i in 0..pad {
        pkt[24 + p + i] = (i + 1) as u8;
    }
    pkt[24 + ct - 2] = pad as u8;
    pkt[24 + ct - 1] = NEXT_IPV4;
    CbcEncryptor::new(CipherAlg::Aes128Cbc, &aes_key())?
        .encrypt_in_place(&iv, &mut pkt[24..24 + ct])?;
    let icv = IntegKey::new(IntegAlg::HmacSha1_96, &hmac_key())?.compute(&pkt[..24 + ct]);
    pkt[24 + ct..].copy_from_slice(icv.as_bytes());
    let mut base = vec![0u8; esp_len(p)];
    let baseline_agrees = Baseline::new().encap(&payload, 1, &iv, NEXT_IPV4, &mut base)
        == Some(pkt.len())
        && base == pkt;
    let mut icv_bytes = [0u8; ICV_LEN];
    icv_bytes.copy_from_slice(&pkt[24 + ct..]);
    Ok(Kat {
        size: p,
        icv: icv_bytes,
        ct_fnv: fnv64(&pkt[24..24 + ct]),
        baseline_agrees,
    })
}

// ---------------------------------------------------------------------------
// Measurement

/// What one timed run did.
#[derive(Debug, Clone, Copy)]
struct Sample {
    packets: u64,
    bytes: u64,
    elapsed: Duration,
}

impl Sample {
    fn gbps(&self) -> f64 {
        self.bytes as f64 * 8.0 / self.elapsed.as_nanos().max(1) as f64
    }

    fn mpps(&self) -> f64 {
        self.packets as f64 * 1e3 / self.elapsed.as_nanos().max(1) as f64
    }
}

/// A warm-up run, then [`TRIALS`] runs of `seconds / TRIALS` each; the
/// median by Gbit/s.
fn measure(
    seconds: f64,
    mut trial: impl FnMut(Duration) -> Result<Sample, BenchError>,
) -> Result<(f64, f64), BenchError> {
    let each = Duration::from_secs_f64(seconds / f64::from(TRIALS));
    trial(each)?;
    let mut samples = Vec::with_capacity(TRIALS as usize);
    for _ in 0..TRIALS {
        samples.push(trial(each)?);
    }
    samples.sort_by(|a, b| a.gbps().total_cmp(&b.gbps()));
    let mid = samples[samples.len() / 2];
    Ok((mid.gbps(), mid.mpps()))
}

/// Runs `pass` (one pass over the pool) until `dur` has passed.
fn timed_passes(
    dur: Duration,
    mut pass: impl FnMut() -> Result<(u64, u64), BenchError>,
) -> Result<Sample, BenchError> {
    let start = now();
    let (mut packets, mut bytes) = (0, 0);
    loop {
        let (p, b) = pass()?;
        packets += p;
        bytes += b;
        let elapsed = start.elapsed();
        if elapsed >= dur {
            return Ok(Sample {
                packets,
                bytes,
                elapsed,
            });
        }
    }
}

/// The engine path's encapsulation: what the card's engine does with a
/// lot, without the rings and DMA. Packets go in lots of
/// [`esp::batch::LANES`]: each is prepared into one buffer (sequence
/// number, layout), then the lot is sealed in one multi-buffer pass.
struct EngineEncap {
    sa: OutboundSa,
    keys: Arc<SealKeys>,
    slot: usize,
    buf: Vec<u8>,
    esps: Vec<Span>,
    prepared: Vec<Prepared>,
}

impl EngineEncap {
    fn new(w: &Workload) -> Result<Self, BenchError> {
        let sa = OutboundSa::new(sa_params())?;
        let keys = Arc::clone(sa.keys());
        let slot = w.outer.iter().map(Vec::len).max().unwrap_or(0);
        Ok(EngineEncap {
            sa,
            keys,
            slot,
            buf: vec![0; slot * LANES],
            esps: Vec::with_capacity(LANES),
            prepared: Vec::with_capacity(LANES),
        })
    }

    /// Encapsulates the whole pool once.
    fn pass(&mut self, w: &Workload) -> Result<(), esp::EspError> {
        let slot = self.slot;
        for (inner, ivs) in w.inner.chunks(LANES).zip(w.ivs.chunks(LANES)) {
            self.esps.clear();
            self.prepared.clear();
            for (k, (p, iv)) in inner.iter().zip(ivs).enumerate() {
                let out = &mut self.buf[k * slot..(k + 1) * slot];
                let prepared = self.sa.prepare(p, iv, out)?;
                self.esps
                    .push(Span::new(k * slot + prepared.esp.start, prepared.esp.len));
                self.prepared.push(prepared);
            }
            self.keys.seal_many(&mut self.buf, &self.esps)?;
            for (k, prepared) in self.prepared.iter().enumerate() {
                prepared.finish(&mut self.buf[k * slot..(k + 1) * slot]);
            }
        }
        Ok(())
    }
}

/// The engine path's decapsulation: the pool's packets in one buffer,
/// checked, opened in multi-buffer passes of [`esp::batch::LANES`] and
/// committed, as the engine does with a lot.
struct EngineDecap {
    sa: InboundSa,
    keys: Arc<OpenKeys>,
    src: Vec<u8>,
    packets: Vec<Span>,
    dst: Vec<u8>,
    outs: Vec<Span>,
    checked: Vec<Checked>,
    esps: Vec<Span>,
    results: Vec<Result<usize, esp::EspError>>,
}

impl EngineDecap {
    fn new(w: &Workload) -> Result<Self, BenchError> {
        let sa = InboundSa::new(sa_params())?;
        let keys = Arc::clone(sa.keys());
        let mut src = Vec::new();
        let mut packets = Vec::new();
        let mut outs = Vec::new();
        for p in &w.outer {
            packets.push(Span::new(src.len(), p.len()));
            outs.push(Span::new(src.len(), p.len()));
            src.extend_from_slice(p);
        }
        let dst = vec![0; src.len()];
        Ok(EngineDecap {
            sa,
            keys,
            src,
            packets,
            dst,
            outs,
            checked: Vec::with_capacity(LANES),
            esps: Vec::with_capacity(LANES),
            results: Vec::with_capacity(LANES),
        })
    }

    /// Decapsulates the whole pool once.
    fn pass(&mut self) -> Result<(), esp::EspError> {
        for (packets, outs) in self.packets.chunks(LANES).zip(self.outs.chunks(LANES)) {
            self.checked.clear();
            self.esps.clear();
            self.results.clear();
            for p in packets {
                let c = self.sa.check(&self.src[p.range()])?;
                self.esps.push(Span::new(p.start + c.esp.start, c.esp.len));
                self.checked.push(c);
                self.results.push(Err(esp::EspError::AuthFailed));
            }
            self.keys.open_many(
                &self.src,
                &self.esps,
                &mut self.dst,
                outs,
                &mut self.results,
            );
            for (c, r) in self.checked.iter().zip(&self.results) {
                self.sa.commit(c, *r)?;
            }
        }
        Ok(())
    }
}

/// The card with the SA pair programmed, and its ring geometry.
fn card_under_test(max_size: usize, threads: usize) -> Result<Pic, BenchError> {
    let outer_max = 20 + esp_len(max_size);
    let buf_size = outer_max.next_power_of_two().max(2048) as u32;
    let mut cfg = Config {
        window_base: DMA_WINDOW_BASE,
        window_len: 0,
        cmd_ring: RING_ENTRIES,
        cpl_ring: RING_ENTRIES,
        buf_size,
        batch_max: BATCH_MAX,
    };
    cfg.window_len = cfg.window_needed();
    let mut pic = Pic::power_on_with_threads(DMA_WINDOW_BASE + cfg.window_len, cfg, threads)?;
    pic.driver
        .add_sa(SLOT_OUT, &sa_spec(espic_driver::Direction::Outbound))
        .map_err(PicError::from)?;
    pic.driver
        .add_sa(SLOT_IN, &sa_spec(espic_driver::Direction::Inbound))
        .map_err(PicError::from)?;
    Ok(pic)
}

/// Streams requests through the rings for `dur`: keeps the command ring as
/// full as it goes (one doorbell per submit), reaps what completed, and at
/// the end waits for everything in flight.
fn ring_trial(
    pic: &mut Pic,
    w: &Workload,
    requests: &[Request<'_>],
    lens: &[u64],
    op: Op,
    dur: Duration,
) -> Result<Sample, BenchError> {
    const STALL: Duration = Duration::from_secs(5);
    let n = requests.len() as u64;
    let mut batch: Vec<(u64, Request<'_>)> = Vec::with_capacity(RING_ENTRIES as usize);
    let (mut next, mut completed, mut bytes) = (0u64, 0u64, 0u64);
    let mut quiet = Duration::ZERO;
    let mut stopping = false;
    let start = now();
    while !stopping || completed < next {
        if !stopping {
            let free = pic.driver.free_slots() as u64;
            if free > 0 {
                batch.clear();
                batch.extend((next..next + free).map(|c| (c, requests[(c % n) as usize])));
                next += pic.driver.submit(&batch).map_err(PicError::from)? as u64;
            }
        }
        let step = now();
        let mut refused = None;
        let got = pic
            .driver
            .wait_with(Duration::from_millis(100), |c| match c.result {
                Ok(_) => {
                    completed += 1;
                    bytes += lens[(c.cookie % n) as usize];
                }
                Err(e) => {
                    refused.get_or_insert(e);
                }
            })
            .map_err(PicError::from)?;
        if let Some(e) = refused {
            return Err(w.check(DataPath::Ring, op, format!("the card refused: {e}")));
        }
        if got == 0 {
            quiet += step.elapsed();
            if quiet > STALL {
                return Err(w.check(DataPath::Ring, op, "the card stopped completing"));
            }
        } else {
            quiet = Duration::ZERO;
        }
        if !stopping && start.elapsed() >= dur {
            stopping = true;
        }
    }
    Ok(Sample {
        packets: completed,
        bytes,
        elapsed: start.elapsed(),
    })
}

/// Checks, before timing, that every path turns this workload's packets
/// into the right ones.
fn verify(pic: &mut Pic, w: &Workload) -> Result<(), BenchError> {
    let base = Baseline::new();
    let sample = w.inner.len().min(64);
    // Engine and baseline encap make the same ESP bytes (same seq and IV).
    for k in 0..sample {
        let esp = &w.outer[k][20..];
        let mut out = vec![0u8; esp.len()];
        let made = base.encap(&w.inner[k], k as u32 + 1, &w.ivs[k], NEXT_IPV4, &mut out);
        if made != Some(esp.len()) || out != esp {
            return Err(w.check(
                DataPath::Baseline,
                Op::Encap,
                format!("packet {k} differs from esp::OutboundSa::encap"),
            ));
        }
        let mut back = vec![0u8; esp.len()];
        match base.decap(esp, &mut back) {
            Ok(len) if back[..len] == w.inner[k][..] => {}
            Ok(_) => return Err(w.check(DataPath::Baseline, Op::Decap, "wrong inner packet")),
            Err(why) => return Err(w.check(DataPath::Baseline, Op::Decap, why)),
        }
    }
    // The card: encap a few (random IVs) and open them with the library;
    // decap the prebuilt packets and compare.
    let mut opener = InboundSa::new(sa_params())?;
    let encap: Vec<Request<'_>> = w.inner[..sample]
        .iter()
        .map(|p| Request::Encap {
            sa: SLOT_OUT,
            packet: p,
        })
        .collect();
    for (k, c) in pic.process(&encap)?.into_iter().enumerate() {
        let outer = c
            .result
            .map_err(|e| w.check(DataPath::Ring, Op::Encap, e.to_string()))?;
        let mut back = vec![0u8; outer.len()];
        let len = opener
            .decap(&outer, &mut back)
            .map_err(|e| w.check(DataPath::Ring, Op::Encap, e.to_string()))?
            .len;
        if back[..len] != w.inner[k][..] {
            return Err(w.check(DataPath::Ring, Op::Encap, "wrong ESP packet"));
        }
    }
    let decap: Vec<Request<'_>> = w.outer[..sample]
        .iter()
        .map(|p| Request::Decap {
            sa: None,
            packet: p,
        })
        .collect();
    for (k, c) in pic.process(&decap)?.into_iter().enumerate() {
        match c.result {
            Ok(p) if p[..] == w.inner[k][..] => {}
            Ok(_) => return Err(w.check(DataPath::Ring, Op::Decap, "wrong inner packet")),
            Err(e) => return Err(w.check(DataPath::Ring, Op::Decap, e.to_string())),
        }
    }
    Ok(())
}

/// Measures one path and direction on one workload.
fn measure_one(
    pic: &mut Pic,
    w: &Workload,
    path: DataPath,
    op: Op,
    seconds: f64,
) -> Result<Row, BenchError> {
    let lens = w.lens();
    let pool_bytes: u64 = lens.iter().sum();
    let pool_packets = w.inner.len() as u64;
    let (gbps, mpps) = match (path, op) {
        (DataPath::Ring, _) => {
            let requests: Vec<Request<'_>> = match op {
                Op::Encap => w
                    .inner
                    .iter()
                    .map(|p| Request::Encap {
                        sa: SLOT_OUT,
                        packet: p,
                    })
                    .collect(),
                // The router's receive path: the card finds the SA by SPI.
                Op::Decap => w
                    .outer
                    .iter()
                    .map(|p| Request::Decap {
                        sa: None,
                        packet: p,
                    })
                    .collect(),
            };
            measure(seconds, |dur| ring_trial(pic, w, &requests, &lens, op, dur))?
        }
        (DataPath::Engine, Op::Encap) => {
            let mut engine = EngineEncap::new(w)?;
            measure(seconds, |dur| {
                timed_passes(dur, || {
                    engine
                        .pass(w)
                        .map_err(|e| w.check(path, op, e.to_string()))?;
                    Ok((pool_packets, pool_bytes))
                })
            })?
        }
        (DataPath::Engine, Op::Decap) => {
            let mut engine = EngineDecap::new(w)?;
            measure(seconds, |dur| {
                timed_passes(dur, || {
                    engine
                        .pass()
                        .map_err(|e| w.check(path, op, e.to_string()))?;
                    Ok((pool_packets, pool_bytes))
                })
            })?
        }
        (DataPath::Baseline, Op::Encap) => {
            let base = Baseline::new();
            let mut outs: Vec<Vec<u8>> = w
                .inner
                .iter()
                .map(|p| vec![0u8; esp_len(p.len())])
                .collect();
            let mut seq = 0u32;
            measure(seconds, |dur| {
                timed_passes(dur, || {
                    for ((p, iv), out) in w.inner.iter().zip(&w.ivs).zip(&mut outs) {
                        seq = seq.wrapping_add(1);
                        base.encap(p, seq, iv, NEXT_IPV4, out)
                            .ok_or_else(|| w.check(path, op, "output too small"))?;
                    }
                    Ok((pool_packets, pool_bytes))
                })
            })?
        }
        (DataPath::Baseline, Op::Decap) => {
            let base = Baseline::new();
            let mut outs: Vec<Vec<u8>> =
                w.inner.iter().map(|p| vec![0u8; ct_len(p.len())]).collect();
            measure(seconds, |dur| {
                timed_passes(dur, || {
                    for (p, out) in w.outer.iter().zip(&mut outs) {
                        base.decap(&p[20..], out)
                            .map_err(|why| w.check(path, op, why))?;
                    }
                    Ok((pool_packets, pool_bytes))
                })
            })?
        }
    };
    Ok(Row {
        path,
        op,
        size: w.size,
        gbps,
        mpps,
    })
}

/// Runs every measurement: each size of `opts.sizes`, then the IMIX; for
/// each, encap then decap; for each, ring, engine, baseline.
pub fn run(opts: &Options) -> Result<Report, BenchError> {
    if !opts.seconds.is_finite() || opts.seconds <= 0.0 || opts.seconds > 600.0 {
        return Err(BenchError::Options(format!(
            "--seconds {}: expected a duration above 0 and at most 600",
            opts.seconds
        )));
    }
    if opts.sizes.is_empty() {
        return Err(BenchError::Options("--sizes: no sizes given".into()));
    }
    if let Some(bad) = opts
        .sizes
        .iter()
        .find(|s| !(MIN_SIZE..=MAX_SIZE).contains(*s))
    {
        return Err(BenchError::Options(format!(
            "--sizes: {bad} is outside {MIN_SIZE}..={MAX_SIZE} bytes (an inner IPv4 packet)"
        )));
    }
    let max_size = opts
        .sizes
        .iter()
        .copied()
        .chain(IMIX_CYCLE)
        .max()
        .unwrap_or(MAX_SIZE);
    let mut pic = card_under_test(max_size, opts.threads.max(1))?;
    let mut kats = Vec::new();
    for &p in &opts.sizes {
        kats.push(kat(p)?);
    }
    let mut rows = Vec::new();
    let workloads = opts
        .sizes
        .iter()
        .map(|&p| Size::Bytes(p))
        .chain([Size::Imix]);
    let mut core_trips = Vec::new();
    for size in workloads {
        let w = Workload::new(size)?;
        verify(&mut pic, &w)?;
        core_trips.push(core_round_trip());
        for op in Op::ALL {
            for path in DataPath::ALL {
                rows.push(measure_one(&mut pic, &w, path, op, opts.seconds)?);
            }
        }
    }
    core_trips.push(core_round_trip());
    Ok(Report {
        seconds: opts.seconds,
        ring_entries: RING_ENTRIES,
        threads: opts.threads.max(1),
        rows,
        kats,
        core_trips,
    })
}

/// The cost of one hand-off between two cores on this machine: the mean
/// round trip of a cache line between two threads spinning on it (the main
/// thread and one spawned for the purpose; with the card idle the
/// scheduler puts them on different CPUs). `None` with fewer than two
/// CPUs or if the other thread did not answer within 100 ms (spinning
/// would then measure the scheduler).
pub fn core_round_trip() -> Option<Duration> {
    const WARM_UP: u64 = 1_000;
    const TRIPS: u64 = 20_000;
    const GIVE_UP: Duration = Duration::from_millis(100);
    const ABANDONED: u64 = u64::MAX;
    if std::thread::available_parallelism().map_or(true, |n| n.get() < 2) {
        return None;
    }
    // Ping i is 2i + 1, its pong 2i + 2.
    let line = AtomicU64::new(0);
    std::thread::scope(|s| {
        s.spawn(|| {
            for i in 0..WARM_UP + TRIPS {
                loop {
                    match line.load(Ordering::Acquire) {
                        // A compare-exchange, so an abandoned measurement
                        // is never overwritten by a late pong.
                        v if v == 2 * i + 1 => {
                            match line.compare_exchange(
                                v,
                                v + 1,
                                Ordering::AcqRel,
                                Ordering::Acquire,
                            ) {
                                Ok(_) => break,
                                Err(_) => return,
                            }
                        }
                        ABANDONED => return,
                        _ => std::hint::spin_loop(),
                    }
                }
            }
        });
        let begin = now();
        let mut timed_from = begin;
        for i in 0..WARM_UP + TRIPS {
            if i == WARM_UP {
                timed_from = now();
            }
            line.store(2 * i + 1, Ordering::Release);
            let mut spins = 0u32;
            while line.load(Ordering::Acquire) != 2 * i + 2 {
                std::hint::spin_loop();
                spins = spins.wrapping_add(1);
                if spins.is_multiple_of(4096) && begin.elapsed() > GIVE_UP {
                    line.swap(ABANDONED, Ordering::AcqRel);
                    return None;
                }
            }
        }
        let trips = u32::try_from(TRIPS).ok()?;
        Some(timed_from.elapsed() / trips)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_round_trip_returns_a_plausible_figure_or_none() {
        // On a loaded machine the helper thread may not get a CPU within
        // the time limit: then `None`, never a hang.
        if let Some(d) = core_round_trip() {
            assert!(
                d > Duration::ZERO && d < Duration::from_millis(100),
                "{d:?}"
            );
        }
    }

    #[test]
    fn packet_model_matches_the_anchors() {
        assert_eq!(ct_len(64), 80);
        assert_eq!(esp_len(1420), 8 + 16 + 1424 + 12);
        assert_eq!(pool_len(64), 1024);
        assert_eq!(pool_len(1420), 320);
        assert_eq!(inner_packet(64, 3).len(), 64);
        assert!((imix_mean() - 4172.0 / 12.0).abs() < 1e-9);
    }

    #[test]
    fn baseline_round_trips_and_matches_the_library() {
        let w = Workload::new(Size::Bytes(100)).unwrap();
        let base = Baseline::new();
        let esp = &w.outer[5][20..];
        let mut out = vec![0u8; esp.len()];
        assert_eq!(
            base.encap(&w.inner[5], 6, &w.ivs[5], NEXT_IPV4, &mut out),
            Some(esp.len())
        );
        assert_eq!(out, esp);
        let mut back = vec![0u8; esp.len()];
        let len = base.decap(esp, &mut back).unwrap();
        assert_eq!(&back[..len], &w.inner[5][..]);
        let mut forged = esp.to_vec();
        forged[30] ^= 1;
        assert_eq!(base.decap(&forged, &mut back), Err("ICV mismatch"));
    }

    #[test]
    fn kat_is_built_the_same_by_both_builders() {
        for p in [64, 1420] {
            assert!(kat(p).unwrap().baseline_agrees);
        }
    }
}
