//! The per-packet transform the card runs allocates nothing on the heap:
//! encapsulation and decapsulation into buffers the caller owns, counted
//! with an instrumented global allocator (its own test binary, so nothing
//! else allocates meanwhile).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use std::alloc::System;

use esp::{CipherAlg, InboundSa, IntegAlg, OutboundSa, SaParams};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

fn params(cipher: CipherAlg, integ: IntegAlg, udp: bool) -> SaParams {
    common::params(cipher, integ, false, udp)
}

#[test]
fn encap_and_decap_allocate_nothing_per_packet() {
    for (cipher, integ, udp) in [
        (CipherAlg::Aes128Cbc, IntegAlg::HmacSha1_96, false),
        (CipherAlg::Aes256Cbc, IntegAlg::HmacSha256_128, true),
    ] {
        let mut out_sa = OutboundSa::new(params(cipher, integ, udp)).unwrap();
        let mut in_sa = InboundSa::new(params(cipher, integ, udp)).unwrap();
        let mut inner = vec![0u8; 1420];
        inner[0] = 0x45;
        inner[2..4].copy_from_slice(&1420u16.to_be_bytes());
        let mut wire = vec![0u8; 2048];
        let mut back = vec![0u8; 2048];
        let iv = [9u8; 16];
        // Warm up (lazy initialisation, if any, is not per packet).
        let n = out_sa.encap(&inner, &iv, &mut wire).unwrap().len;
        in_sa.decap(&wire[..n], &mut back).unwrap();
        let region = Region::new(GLOBAL);
        for size in [64usize, 256, 512, 1420] {
            inner[2..4].copy_from_slice(&(size as u16).to_be_bytes());
            for _ in 0..250 {
                let n = out_sa.encap(&inner[..size], &iv, &mut wire).unwrap().len;
                let m = in_sa.decap(&wire[..n], &mut back).unwrap().len;
                assert_eq!(&back[..m], &inner[..size]);
            }
        }
        let stats = region.change();
        assert_eq!(
            (stats.allocations, stats.reallocations),
            (0, 0),
            "{cipher:?}/{integ:?}: heap allocations on the data path: {stats:?}"
        );
    }
}
