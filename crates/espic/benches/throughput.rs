//! The card's ESP throughput (AES-128-CBC + HMAC-SHA1-96, tunnel mode over
//! IPv4) for 64-, 256-, 512- and 1420-byte inner packets and an IMIX, encap
//! and decap, three ways:
//!
//! - ring: host buffers → command ring → the card's engine thread →
//!   completion ring, through `espic_driver::Driver` (as many requests per
//!   doorbell as the ring takes, reaped as they complete);
//! - engine: the bare transform as the engine runs it, no rings or DMA:
//!   lots of 64 packets prepared / checked by the SA, sealed / opened in one
//!   multi-buffer pass (`esp::batch`), then committed; one thread;
//! - baseline: a naive one-packet-at-a-time ESP with the RustCrypto crates
//!   (AES-CBC, then a new `Hmac<Sha1>` per packet over header, IV and
//!   ciphertext).
//!
//! Gbit/s counts inner packet bytes. Decap uses packets built once with the
//! outbound SA; the inbound SAs have anti-replay off so they can be reused.
//! The packet model, keys and IVs are those of `mtsim bench pic` and
//! `../shared/bench` (see docs/espic/THROUGHPUT.md).
//!
//! `cargo bench -p espic --bench throughput [-- --seconds S] [--threads N]`
//! (default 0.5 s per measurement; N threads run the card's crypto, default 1).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // benchmark code
#![allow(clippy::disallowed_methods)] // a benchmark measures host time

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aes::cipher::array::Array;
use aes::cipher::{BlockModeDecrypt, BlockModeEncrypt, InnerIvInit, KeyInit};
use aes::{Aes128Dec, Aes128Enc};
use esp::batch::{LANES, Span};
use esp::{CipherAlg, InboundSa, IntegAlg, Lifetime, OutboundSa, SaParams, Tunnel};
use espic::Card;
use espic_driver::{Cipher, Config, Direction, Driver, Integrity, Lifetimes, Request, SaSpec};
use espic_hw::HostMemory;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use vm_memory::GuestAddress;

const SIZES: [usize; 4] = [64, 256, 512, 1420];
/// The IMIX of `mtsim bench pic`: 7:4:1 of 64, 576 and 1420 bytes in a
/// fixed 12-packet cycle.
const IMIX_CYCLE: [usize; 12] = [64, 576, 64, 1420, 64, 576, 64, 64, 576, 64, 576, 64];
const TRIALS: usize = 5;
const RING: u32 = 1024;
const BATCH_MAX: u32 = 256;
const BUF: u32 = 2048;
const WINDOW: u64 = 0x10_0000;
const SPI: u32 = 0x1000;
const OUTER_V4: usize = 20;

fn aes_key() -> [u8; 16] {
    std::array::from_fn(|j| (j + 1) as u8)
}

fn hmac_key() -> [u8; 20] {
    std::array::from_fn(|j| (0x10 + j) as u8)
}

fn iv(k: usize) -> [u8; 16] {
    std::array::from_fn(|j| (0xA0 + j + k) as u8)
}

fn ct_len(p: usize) -> usize {
    (p + 2 + 15) & !15
}

fn esp_len(p: usize) -> usize {
    8 + 16 + ct_len(p) + 12
}

fn pool_len(p: usize) -> usize {
    ((512 * 1024 / ((esp_len(p) + 63) & !63)).clamp(64, 1024)) & !63
}

fn tunnel() -> (Ipv4Addr, Ipv4Addr) {
    (Ipv4Addr::new(192, 0, 2, 1), Ipv4Addr::new(192, 0, 2, 2))
}

fn sa_params() -> SaParams {
    let (src, dst) = tunnel();
    SaParams {
        spi: SPI,
        cipher: CipherAlg::Aes128Cbc,
        enc_key: aes_key().to_vec(),
        integ: IntegAlg::HmacSha1_96,
        auth_key: hmac_key().to_vec(),
        tunnel: Tunnel {
            src: IpAddr::V4(src),
            dst: IpAddr::V4(dst),
            udp_encap: None,
        },
        replay_window: 0,
        lifetime: Lifetime::default(),
        initial_seq: 0,
    }
}

fn sa_spec(direction: Direction) -> SaSpec {
    let (src, dst) = tunnel();
    SaSpec {
        spi: SPI,
        direction,
        cipher: Cipher::Aes128Cbc,
        enc_key: aes_key().to_vec(),
        integrity: Integrity::HmacSha1_96,
        auth_key: hmac_key().to_vec(),
        tunnel_src: IpAddr::V4(src),
        tunnel_dst: IpAddr::V4(dst),
        udp_encap: None,
        replay_window: 0,
        lifetimes: Lifetimes::default(),
        initial_seq: 0,
    }
}

/// An IPv4 packet of `len` bytes (ICMP echo, data bytes `i + k`).
fn inner_packet(len: usize, k: usize) -> Vec<u8> {
    let mut p = vec![0u8; len];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    p[4..6].copy_from_slice(&(k as u16).to_be_bytes());
    p[8] = 64;
    p[9] = 1;
    p[12..16].copy_from_slice(&[198, 51, 100, 1]);
    p[16..20].copy_from_slice(&[203, 0, 113, 1]);
    let sum = esp::wire::internet_checksum(0, &p[..20]);
    p[10..12].copy_from_slice(&sum.to_be_bytes());
    p[20] = 8;
    for (i, b) in p[28..].iter_mut().enumerate() {
        *b = (i + k) as u8;
    }
    let sum = esp::wire::internet_checksum(0, &p[20..]);
    p[22..24].copy_from_slice(&sum.to_be_bytes());
    p
}

/// The naive baseline: AES key schedules expanded once, HMAC keyed per packet.
struct Baseline {
    enc: Aes128Enc,
    dec: Aes128Dec,
}

impl Baseline {
    fn new() -> Self {
        let key = Array::from(aes_key());
        Baseline {
            enc: Aes128Enc::new(&key),
            dec: Aes128Dec::new(&key),
        }
    }

    fn encap(&self, payload: &[u8], seq: u32, iv: &[u8; 16], out: &mut [u8]) -> usize {
        let ct = ct_len(payload.len());
        let total = esp_len(payload.len());
        let out = &mut out[..total];
        out[0..4].copy_from_slice(&SPI.to_be_bytes());
        out[4..8].copy_from_slice(&seq.to_be_bytes());
        out[8..24].copy_from_slice(iv);
        let body = &mut out[24..24 + ct];
        body[..payload.len()].copy_from_slice(payload);
        let pad = ct - payload.len() - 2;
        for i in 0..pad {
            body[payload.len() + i] = (i + 1) as u8;
        }
        body[ct - 2] = pad as u8;
        body[ct - 1] = 4;
        let (blocks, _) = Array::slice_as_chunks_mut(body);
        cbc::Encryptor::inner_iv_init(&self.enc, iv.into()).encrypt_blocks(blocks);
        let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(&hmac_key()).unwrap();
        mac.update(&out[..24 + ct]);
        out[24 + ct..].copy_from_slice(&mac.finalize().into_bytes()[..12]);
        total
    }

    fn decap(&self, esp: &[u8], out: &mut [u8]) -> usize {
        let icv_at = esp.len() - 12;
        let ct = &esp[24..icv_at];
        let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(&hmac_key()).unwrap();
        mac.update(&esp[..icv_at]);
        mac.verify_truncated_left(&esp[icv_at..])
            .expect("baseline: ICV mismatch");
        let out = &mut out[..ct.len()];
        let mut iv = [0u8; 16];
        iv.copy_from_slice(&esp[8..24]);
        let (inb, _) = Array::slice_as_chunks(ct);
        let (outb, _) = Array::slice_as_chunks_mut(out);
        cbc::Decryptor::inner_iv_init(&self.dec, (&iv).into())
            .decrypt_blocks_b2b(inb, outb)
            .expect("baseline: CBC");
        let pad = usize::from(out[ct.len() - 2]);
        let len = ct.len() - 2 - pad;
        assert!(
            out[len..len + pad]
                .iter()
                .enumerate()
                .all(|(i, &b)| b == (i + 1) as u8)
                && out[ct.len() - 1] == 4,
            "baseline: bad trailer"
        );
        len
    }
}

/// The card and its driver over host memory (dropped driver first).
struct Bench {
    driver: Driver,
    _card: Card,
}

impl Bench {
    fn new(threads: usize) -> Self {
        let mut cfg = Config {
            window_base: WINDOW,
            window_len: 0,
            cmd_ring: RING,
            cpl_ring: RING,
            buf_size: BUF,
            batch_max: BATCH_MAX,
        };
        cfg.window_len = cfg.window_needed();
        let len = (WINDOW + cfg.window_len) as usize;
        let mem =
            Arc::new(HostMemory::from_ranges(&[(GuestAddress(0), len)]).expect("host memory"));
        let (irq_tx, irq_rx) = crossbeam_channel::unbounded();
        let card = Card::with_crypto_threads(Arc::clone(&mem), irq_tx, threads);
        let mut driver = Driver::probe(card.bar(), mem, irq_rx, cfg).expect("probe the card");
        driver
            .add_sa(0, &sa_spec(Direction::Outbound))
            .expect("program the outbound SA");
        driver
            .add_sa(1, &sa_spec(Direction::Inbound))
            .expect("program the inbound SA");
        Bench {
            driver,
            _card: card,
        }
    }

    /// Keeps the command ring full for `dur`, then drains it; `lens[i]` is
    /// the inner length request `i` counts for.
    fn ring_trial(
        &mut self,
        reqs: &[Request<'_>],
        lens: &[u64],
        dur: Duration,
    ) -> (u64, u64, Duration) {
        let n = reqs.len() as u64;
        let mut batch = Vec::with_capacity(RING as usize);
        let (mut next, mut done, mut bytes) = (0u64, 0u64, 0u64);
        let mut stopping = false;
        let start = Instant::now();
        while !stopping || done < next {
            if !stopping {
                let free = self.driver.free_slots() as u64;
                batch.clear();
                batch.extend((next..next + free).map(|c| (c, reqs[(c % n) as usize])));
                next += self.driver.submit(&batch).expect("submit") as u64;
            }
            self.driver
                .wait_with(Duration::from_secs(5), |c| {
                    c.result.expect("the card refused a packet");
                    done += 1;
                    bytes += lens[(c.cookie % n) as usize];
                })
                .expect("reap");
            stopping |= start.elapsed() >= dur;
        }
        (done, bytes, start.elapsed())
    }
}

/// A warm-up, then `TRIALS` runs of `seconds / TRIALS`; the median Gbit/s
/// and its Mpps.
fn measure(seconds: f64, mut trial: impl FnMut(Duration) -> (u64, u64, Duration)) -> (f64, f64) {
    let each = Duration::from_secs_f64(seconds / TRIALS as f64);
    trial(each);
    let mut v: Vec<(f64, f64)> = (0..TRIALS)
        .map(|_| {
            let (pkts, bytes, t) = trial(each);
            let ns = t.as_nanos() as f64;
            (bytes as f64 * 8.0 / ns, pkts as f64 * 1e3 / ns)
        })
        .collect();
    v.sort_by(|a, b| a.0.total_cmp(&b.0));
    v[TRIALS / 2]
}

/// Runs `pass` over the pool (`pool` packets, `bytes` inner bytes) until
/// `dur` has passed.
fn passes(dur: Duration, pool: u64, bytes: u64, mut pass: impl FnMut()) -> (u64, u64, Duration) {
    let start = Instant::now();
    let mut n = 0;
    loop {
        pass();
        n += 1;
        let t = start.elapsed();
        if t >= dur {
            return (n * pool, n * bytes, t);
        }
    }
}

fn main() {
    let mut seconds = 0.5;
    let mut threads = 1;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--seconds" {
            seconds = args
                .next()
                .and_then(|s| s.parse().ok())
                .filter(|s: &f64| s.is_finite() && *s > 0.0)
                .expect("--seconds wants a positive number");
        } else if a == "--threads" {
            threads = args
                .next()
                .and_then(|s| s.parse().ok())
                .filter(|&n: &usize| (1..=16).contains(&n))
                .expect("--threads wants 1 to 16");
        }
    }
    let mut bench = Bench::new(threads);
    println!("ES PIC throughput: ESP tunnel mode over IPv4, AES-128-CBC + HMAC-SHA1-96");
    println!(
        "{seconds} s per measurement (median of {TRIALS}); Gbit/s of inner packet bytes; \
         ring: {RING} entries, batches of up to {BATCH_MAX}, {threads} crypto thread(s)\n"
    );
    println!(
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
    );
    let mut workloads: Vec<(String, Vec<usize>)> = SIZES
        .iter()
        .map(|&p| (p.to_string(), vec![p; pool_len(p)]))
        .collect();
    workloads.push((
        "imix".into(),
        IMIX_CYCLE.iter().copied().cycle().take(12 * 128).collect(),
    ));
    for (label, sizes) in &workloads {
        let n = sizes.len();
        let inner: Vec<Vec<u8>> = sizes
            .iter()
            .enumerate()
            .map(|(k, &p)| inner_packet(p, k))
            .collect();
        let ivs: Vec<[u8; 16]> = (0..n).map(iv).collect();
        let mut out_sa = OutboundSa::new(sa_params()).unwrap();
        let outer: Vec<Vec<u8>> = inner
            .iter()
            .zip(&ivs)
            .map(|(i, v)| {
                let mut o = vec![0u8; out_sa.encap_len(i.len())];
                let len = out_sa.encap(i, v, &mut o).unwrap().len;
                o.truncate(len);
                o
            })
            .collect();
        let base = Baseline::new();
        // The baseline makes the library's bytes and opens them.
        let p0 = sizes[0];
        let mut check = vec![0u8; esp_len(p0)];
        assert_eq!(base.encap(&inner[0], 1, &ivs[0], &mut check), esp_len(p0));
        assert_eq!(
            &check[..],
            &outer[0][OUTER_V4..],
            "baseline differs from the library"
        );
        let lens: Vec<u64> = sizes.iter().map(|&p| p as u64).collect();
        let (pool, len) = (n as u64, lens.iter().sum::<u64>());
        for decap in [false, true] {
            let reqs: Vec<Request<'_>> = if decap {
                outer
                    .iter()
                    .map(|o| Request::Decap {
                        sa: None,
                        packet: o,
                    })
                    .collect()
            } else {
                inner
                    .iter()
                    .map(|i| Request::Encap { sa: 0, packet: i })
                    .collect()
            };
            let ring = measure(seconds, |d| bench.ring_trial(&reqs, &lens, d));
            let engine = if decap {
                let mut sa = InboundSa::new(sa_params()).unwrap();
                let keys = Arc::clone(sa.keys());
                let mut src = Vec::new();
                let mut spans = Vec::new();
                for o in &outer {
                    spans.push(Span::new(src.len(), o.len()));
                    src.extend_from_slice(o);
                }
                let mut dst = vec![0u8; src.len()];
                let (mut checked, mut esps, mut results) = (Vec::new(), Vec::new(), Vec::new());
                measure(seconds, |d| {
                    passes(d, pool, len, || {
                        for lot in spans.chunks(LANES) {
                            checked.clear();
                            esps.clear();
                            results.clear();
                            for s in lot {
                                let c = sa.check(&src[s.range()]).expect("engine check");
                                esps.push(Span::new(s.start + c.esp.start, c.esp.len));
                                checked.push(c);
                                results.push(Ok(0));
                            }
                            keys.open_many(&src, &esps, &mut dst, lot, &mut results);
                            for (c, r) in checked.iter().zip(&results) {
                                sa.commit(c, *r).expect("engine decap");
                            }
                        }
                    })
                })
            } else {
                let mut sa = OutboundSa::new(sa_params()).unwrap();
                let keys = Arc::clone(sa.keys());
                let slot = outer.iter().map(Vec::len).max().unwrap_or(0);
                let mut buf = vec![0u8; slot * LANES];
                let (mut esps, mut prepared) = (Vec::new(), Vec::new());
                measure(seconds, |d| {
                    passes(d, pool, len, || {
                        for (lot, ivs) in inner.chunks(LANES).zip(ivs.chunks(LANES)) {
                            esps.clear();
                            prepared.clear();
                            for (k, (i, v)) in lot.iter().zip(ivs).enumerate() {
                                let out = &mut buf[k * slot..(k + 1) * slot];
                                let p = sa.prepare(i, v, out).expect("engine prepare");
                                esps.push(Span::new(k * slot + p.esp.start, p.esp.len));
                                prepared.push(p);
                            }
                            keys.seal_many(&mut buf, &esps).expect("engine seal");
                            for (k, p) in prepared.iter().enumerate() {
                                p.finish(&mut buf[k * slot..(k + 1) * slot]);
                            }
                        }
                    })
                })
            };
            let baseline = if decap {
                let mut outs: Vec<Vec<u8>> = sizes.iter().map(|&p| vec![0u8; ct_len(p)]).collect();
                measure(seconds, |d| {
                    passes(d, pool, len, || {
                        for (o, out) in outer.iter().zip(&mut outs) {
                            base.decap(&o[OUTER_V4..], out);
                        }
                    })
                })
            } else {
                let mut outs: Vec<Vec<u8>> = sizes.iter().map(|&p| vec![0u8; esp_len(p)]).collect();
                let mut seq = 0u32;
                measure(seconds, |d| {
                    passes(d, pool, len, || {
                        for ((i, v), out) in inner.iter().zip(&ivs).zip(&mut outs) {
                            seq = seq.wrapping_add(1);
                            base.encap(i, seq, v, out);
                        }
                    })
                })
            };
            println!(
                "{:>5} {:<5} | {:>12.3} {:>6.3} | {:>13.3} {:>6.3} | {:>11.3} {:>6.3} | {:>9.2} {:>11.2}",
                label,
                if decap { "decap" } else { "encap" },
                ring.0,
                ring.1,
                engine.0,
                engine.1,
                baseline.0,
                baseline.1,
                ring.0 / baseline.0,
                engine.0 / baseline.0
            );
        }
    }
}
