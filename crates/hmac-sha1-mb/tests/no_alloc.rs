//! `mac_many` (and `mac`) allocate nothing: counted with an instrumented
//! global allocator, in their own test binary so nothing else allocates
//! meanwhile.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::alloc::System;

use hmac_sha1_mb::{Backend, HmacSha1Key, Job, mac_many, mac_many_with};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

#[test]
fn mac_many_on_64_jobs_allocates_nothing() {
    let keys: Vec<HmacSha1Key> = (0..4u8).map(|i| HmacSha1Key::new(&[i; 20])).collect();
    let sizes = [64usize, 576, 1420, 64, 0, 55, 56, 100];
    let msgs: Vec<Vec<u8>> = (0..64)
        .map(|i| vec![i as u8; sizes[i % sizes.len()]])
        .collect();
    let mut jobs: Vec<Job<'_>> = msgs
        .iter()
        .enumerate()
        .map(|(i, m)| Job::new(&keys[i % 4], m))
        .collect();
    // Warm-up: CPU feature detection happens once, outside the region.
    mac_many(&mut jobs);

    let region = Region::new(GLOBAL);
    mac_many(&mut jobs);
    mac_many_with(Backend::Portable, &mut jobs);
    let tag = keys[0].mac(&msgs[2]);
    let stats = region.change();

    assert_eq!(stats.allocations, 0, "{stats:?}");
    assert_eq!(stats.reallocations, 0, "{stats:?}");
    assert_eq!(stats.bytes_allocated, 0, "{stats:?}");
    assert_ne!(tag, [0; 20]);
    assert_ne!(jobs[63].out, [0; 20]);
}
