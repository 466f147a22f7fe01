//! Throughput of HMAC-SHA1 three ways: (a) the `hmac` crate, a keyed
//! `Hmac<Sha1>` cloned per message (how the ESP code does it today), (b)
//! [`HmacSha1Key::mac`] one message at a time, (c) [`mac_many`] on batches
//! of 64 jobs; plus (d) `mac_many` forced onto the portable fallback, and
//! the raw compression kernels.
//!
//! `cargo bench -p hmac-sha1-mb`. Each figure is the best of several timed
//! runs (the machine may be shared), messages under 16 different keys.

// A benchmark measures host time; the workspace bans `Instant::now` only so
// that simulator code reads the simulated clock.
#![allow(clippy::disallowed_methods)]
#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use hmac::{Hmac, KeyInit, Mac};
use hmac_sha1_mb::{
    Backend, HmacSha1Key, Job, compress1, compress4, mac_many_with, shani_available,
};
use sha1::Sha1;

const BATCH: usize = 64;
const KEYS: usize = 16;
const TRIALS: usize = 9;
const TRIAL_TIME: Duration = Duration::from_millis(60);

/// Best seconds per call of `f` over several trials of about `TRIAL_TIME`.
fn best_per_call(mut f: impl FnMut()) -> f64 {
    // Calibrate the number of calls per trial.
    let mut calls = 1u64;
    loop {
        let t = Instant::now();
        for _ in 0..calls {
            f();
        }
        if t.elapsed() >= TRIAL_TIME / 4 {
            break;
        }
        calls *= 2;
    }
    calls *= 4;
    let mut best = f64::MAX;
    for _ in 0..TRIALS {
        let t = Instant::now();
        for _ in 0..calls {
            f();
        }
        best = best.min(t.elapsed().as_secs_f64() / calls as f64);
    }
    best
}

struct Figures {
    mb_s: f64,
    mmsg_s: f64,
}

fn figures(secs_per_batch: f64, bytes: usize) -> Figures {
    Figures {
        mb_s: bytes as f64 / secs_per_batch / 1e6,
        mmsg_s: BATCH as f64 / secs_per_batch / 1e6,
    }
}

fn run(name: &str, sizes: &[usize]) {
    let raw_keys: Vec<[u8; 20]> = (0..KEYS as u8)
        .map(|i| [i.wrapping_mul(37) ^ 0x5a; 20])
        .collect();
    let hmacs: Vec<Hmac<Sha1>> = raw_keys
        .iter()
        .map(|k| Hmac::new_from_slice(k).unwrap())
        .collect();
    let keys: Vec<HmacSha1Key> = raw_keys.iter().map(|k| HmacSha1Key::new(k)).collect();
    let msgs: Vec<Vec<u8>> = (0..BATCH)
        .map(|i| {
            (0..sizes[i % sizes.len()])
                .map(|b| (b * 31 + i) as u8)
                .collect()
        })
        .collect();
    let bytes: usize = msgs.iter().map(Vec::len).sum();

    let a = best_per_call(|| {
        for (i, m) in msgs.iter().enumerate() {
            let mut h = hmacs[i % KEYS].clone();
            h.update(m);
            black_box(h.finalize().into_bytes());
        }
    });
    let b = best_per_call(|| {
        for (i, m) in msgs.iter().enumerate() {
            black_box(keys[i % KEYS].mac(black_box(m)));
        }
    });
    let mut jobs: Vec<Job<'_>> = msgs
        .iter()
        .enumerate()
        .map(|(i, m)| Job::new(&keys[i % KEYS], m))
        .collect();
    let c = best_per_call(|| {
        mac_many_with(Backend::Auto, black_box(&mut jobs));
        black_box(&jobs);
    });
    let d = best_per_call(|| {
        mac_many_with(Backend::Portable, black_box(&mut jobs));
        black_box(&jobs);
    });
    // Same answers, or the figures mean nothing.
    for (i, j) in jobs.iter().enumerate() {
        let mut h = hmacs[i % KEYS].clone();
        h.update(j.msg);
        assert_eq!(j.out[..], h.finalize().into_bytes()[..]);
    }

    let [fa, fb, fc, fd] = [a, b, c, d].map(|t| figures(t, bytes));
    println!(
        "{name:<10} {:>8.0} {:>6.2} | {:>8.0} {:>6.2} | {:>8.0} {:>6.2} | {:>8.0} {:>6.2} | {:>5.2}x {:>5.2}x",
        fa.mb_s,
        fa.mmsg_s,
        fb.mb_s,
        fb.mmsg_s,
        fc.mb_s,
        fc.mmsg_s,
        fd.mb_s,
        fd.mmsg_s,
        a / c,
        a / b,
    );
}

fn kernels() {
    let blocks = [[0x5au8; 64]; 64];
    let mut s1 = [0x0123_4567u32; 5];
    let one = best_per_call(|| {
        compress1(black_box(&mut s1), black_box(&blocks));
    }) / 64.0;
    let mut s4 = [[0x0123_4567u32; 5]; 4];
    let four = best_per_call(|| {
        for q in blocks.chunks_exact(4) {
            compress4(black_box(&mut s4), [&q[0], &q[1], &q[2], &q[3]]);
        }
    }) / 64.0;
    let mut sc = [0x0123_4567u32; 5];
    let crate_one = best_per_call(|| {
        sha1::block_api::compress(black_box(&mut sc), black_box(&blocks));
    }) / 64.0;
    black_box((s1, s4, sc));
    println!(
        "kernels, ns per 64-byte block: compress1 {:.1}, compress4 {:.1} ({:.2}x), sha1::block_api::compress {:.1}",
        one * 1e9,
        four * 1e9,
        one / four,
        crate_one * 1e9,
    );
}

fn main() {
    println!(
        "SHA-NI: {}; batches of {BATCH} messages under {KEYS} keys; best of {TRIALS} runs",
        shani_available()
    );
    kernels();
    println!();
    println!(
        "{:<10} {:>15} | {:>15} | {:>15} | {:>15} |",
        "", "(a) hmac crate", "(b) mac", "(c) mac_many", "(d) many/portable"
    );
    println!(
        "{:<10} {:>8} {:>6} | {:>8} {:>6} | {:>8} {:>6} | {:>8} {:>6} | {:>6} {:>6}",
        "message",
        "MB/s",
        "Mmsg/s",
        "MB/s",
        "Mmsg/s",
        "MB/s",
        "Mmsg/s",
        "MB/s",
        "Mmsg/s",
        "c/a",
        "b/a"
    );
    run("64 B", &[64]);
    run("256 B", &[256]);
    run("1420 B", &[1420]);
    // 7:4:1 IMIX with ESP-sized large packets, interleaved.
    run(
        "IMIX",
        &[64, 576, 64, 1420, 64, 576, 64, 64, 576, 64, 576, 64],
    );
}
