//! The card's data path allocates nothing per packet, end to end: the
//! driver queuing requests and reaping completions ([`Driver::wait_with`]),
//! the register file's doorbells and interrupts, and the engine's lots and
//! crypto workers. Counted with an instrumented global allocator, which sees
//! every thread of this test binary (its own, so nothing else runs).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::alloc::System;
use std::sync::Arc;
use std::time::Duration;

use espic::Card;
use espic_driver::{Driver, Request};
use espic_hw::HostMemory;
use mtsim::pic::DMA_WINDOW_BASE;
use mtsim_tests::{add_pair, inner_v4_len, sa_pair_v4, small_config};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use vm_memory::GuestAddress;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Requests per submit: a stack array, so that queuing allocates nothing.
const BURST: usize = 32;

/// Encapsulates `inner` (cycling) through the card, then decapsulates what
/// came back, `rounds` times; checks every packet comes back intact.
fn traffic(driver: &mut Driver, inner: &[Vec<u8>], outer: &mut [Vec<u8>], rounds: usize) {
    let n = outer.len();
    for round in 0..rounds {
        for op in ["encap", "decap"] {
            let mut next = 0usize;
            let mut done = 0usize;
            let mut ok = 0usize;
            while done < n {
                let free = driver.free_slots().min(BURST).min(n - next);
                if free > 0 {
                    let reqs: [(u64, Request<'_>); BURST] = core::array::from_fn(|k| {
                        let i = (next + k).min(n - 1);
                        let req = if op == "encap" {
                            Request::Encap {
                                sa: 0,
                                packet: &inner[i],
                            }
                        } else {
                            Request::Decap {
                                sa: None,
                                packet: &outer[i],
                            }
                        };
                        (i as u64, req)
                    });
                    next += driver.submit(&reqs[..free]).unwrap();
                }
                let mut stored = |c: espic_driver::CompletedRef<'_>| {
                    let i = c.cookie as usize;
                    let bytes = c.result.unwrap_or_else(|e| panic!("{op} {i}: {e}"));
                    if op == "encap" {
                        outer[i].clear();
                        outer[i].extend_from_slice(bytes);
                    } else {
                        assert_eq!(bytes, &inner[i][..], "round {round}: packet {i}");
                    }
                    ok += 1;
                };
                done += driver
                    .wait_with(Duration::from_millis(100), &mut stored)
                    .unwrap();
            }
            assert_eq!(ok, n);
        }
    }
}

fn no_allocation_per_packet(crypto_threads: usize) {
    let cfg = small_config(256, 256, 64);
    let mem = Arc::new(
        HostMemory::from_ranges(&[(
            GuestAddress(0),
            (DMA_WINDOW_BASE + cfg.window_needed()) as usize,
        )])
        .unwrap(),
    );
    // A bounded interrupt line: an unbounded channel allocates as it grows.
    let (irq_tx, irq_rx) = crossbeam_channel::bounded(64);
    let card = Card::with_crypto_threads(Arc::clone(&mem), irq_tx, crypto_threads);
    let mut driver = Driver::probe(card.bar(), mem, irq_rx, cfg).unwrap();
    let (out, inb) = sa_pair_v4(0x3000_0001);
    add_pair(&mut driver, 0, &out, 1, &inb).unwrap();
    let inner: Vec<Vec<u8>> = (0..512u16)
        .map(|i| inner_v4_len(i, [64, 1420, 576, 100][usize::from(i) % 4]))
        .collect();
    let mut outer: Vec<Vec<u8>> = inner.iter().map(|_| Vec::with_capacity(2048)).collect();
    // Warm up: the engine makes its lots, threads their wait contexts.
    traffic(&mut driver, &inner, &mut outer, 2);

    let region = Region::new(GLOBAL);
    traffic(&mut driver, &inner, &mut outer, 10);
    let stats = region.change();
    assert_eq!(
        (stats.allocations, stats.reallocations),
        (0, 0),
        "{crypto_threads} crypto thread(s): 10,240 packets through the rings: {stats:?}"
    );

    // The counter does see this path: the owning API copies each output
    // into a new buffer.
    let region = Region::new(GLOBAL);
    let reqs: Vec<(u64, Request<'_>)> = (0..64)
        .map(|i| {
            (
                i,
                Request::Encap {
                    sa: 0,
                    packet: &inner[i as usize],
                },
            )
        })
        .collect();
    let done = driver.run_all(&reqs, Duration::from_secs(5)).unwrap();
    assert_eq!(done.len(), 64);
    assert!(region.change().allocations >= 64);
    drop(driver);
    drop(card);
}

#[test]
fn the_data_path_allocates_nothing_per_packet() {
    no_allocation_per_packet(1);
    no_allocation_per_packet(2);
}
