//! Scenario tests of the ES PIC: the card with its host driver (a `Pic`
//! with small rings), and the card alone behind a raw mock driver for what
//! the safe driver never does (buffers outside host memory, bad ring
//! indices, raw SA stats blocks).
//!
//! Every wait is bounded: completions and events are awaited on the
//! interrupt channel or by polling registers, never by sleeping for a
//! fixed time.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::IpAddr;
use std::time::Duration;

use espic_driver::{
    CardEvent, Completed, Counters, DeviceError, Direction, DriverError, LifetimeEvent, Lifetimes,
    Request, SaInfo, SaState,
};
use espic_hw::desc::{self, SA_STATS_SIZE, SaStats};
use espic_hw::regs::{self, int};
use espic_hw::{FaultCode, Opcode, Status};
use mtsim_tests::{
    GW_A, GW_A6, GW_B, GW_B6, MockDriver, add_pair, by_cookie, descriptor, inner_v4, inner_v4_len,
    inner_v6, nop, run_requests, sa_block, sa_pair_v4, sa_spec, small_pic, small_pic_threads,
    status_of, wait_events, wait_until,
};
use zerocopy::FromBytes;

/// Host memory of the mock-driver scenarios.
const MOCK_MEM: usize = 1 << 20;

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn dev<T>(e: DeviceError) -> Result<T, DriverError> {
    Err(DriverError::Device(e))
}

fn ok_bytes(c: &Completed) -> &[u8] {
    match &c.result {
        Ok(b) => b,
        Err(e) => panic!("cookie {} failed: {e}", c.cookie),
    }
}

fn encap_requests(sa: u32, first_cookie: u64, packets: &[Vec<u8>]) -> Vec<(u64, Request<'_>)> {
    packets
        .iter()
        .enumerate()
        .map(|(i, p)| (first_cookie + i as u64, Request::Encap { sa, packet: p }))
        .collect()
}

fn decap_requests(
    sa: Option<u32>,
    first_cookie: u64,
    packets: &[Vec<u8>],
) -> Vec<(u64, Request<'_>)> {
    packets
        .iter()
        .enumerate()
        .map(|(i, p)| (first_cookie + i as u64, Request::Decap { sa, packet: p }))
        .collect()
}

/// Runs one request and returns its completion.
fn run_one(driver: &mut espic_driver::Driver, cookie: u64, req: Request<'_>) -> Completed {
    let mut done = by_cookie(run_requests(driver, &[(cookie, req)]).unwrap(), [cookie]).unwrap();
    done.remove(&cookie).unwrap()
}

/// Observes CMD_HEAD and CPL_TAIL between reaps and counts how often each
/// wrapped. At most ring-size - 1 descriptors are in flight, so between two
/// samples an index advances by less than a ring length and "went down"
/// means "wrapped once".
struct WrapWatch {
    head: u32,
    tail: u32,
    head_wraps: u32,
    tail_wraps: u32,
    doorbells: u32,
}

impl WrapWatch {
    fn sample(&mut self, bar: &dyn espic_hw::Mmio) {
        let (h, t) = (bar.read32(regs::CMD_HEAD), bar.read32(regs::CPL_TAIL));
        self.head_wraps += u32::from(h < self.head);
        self.tail_wraps += u32::from(t < self.tail);
        (self.head, self.tail) = (h, t);
    }
}

fn run_watching(
    driver: &mut espic_driver::Driver,
    requests: &[(u64, Request<'_>)],
    watch: &mut WrapWatch,
) -> Vec<Completed> {
    let bar = driver.bar().clone();
    let mut done = Vec::new();
    let mut next = 0;
    let mut quiet = 0;
    while done.len() < requests.len() {
        if next < requests.len() {
            let free = driver.free_slots();
            let n = driver.submit(&requests[next..]).unwrap();
            assert!(n <= free && n <= 7, "queued {n} with {free} free slots");
            watch.doorbells += u32::from(n > 0);
            next += n;
        }
        let got = driver.wait(Duration::from_millis(10)).unwrap();
        watch.sample(&*bar);
        quiet = if got.is_empty() { quiet + 1 } else { 0 };
        assert!(
            quiet < 500,
            "card went quiet after {} completions",
            done.len()
        );
        done.extend(got);
    }
    done
}

/// a. 8-entry rings, 60 descriptors in many doorbells: both indices wrap
/// more than three times, every cookie comes back once, decap(encap(p)) == p.
#[test]
fn rings_wrap_around_more_than_three_times() {
    let mut pic = small_pic(8, 8);
    let (out, inb) = sa_pair_v4(0x1000_0001);
    add_pair(&mut pic.driver, 0, &out, 1, &inb).unwrap();
    let bar = pic.driver.bar().clone();
    let (h0, t0) = (bar.read32(regs::CMD_HEAD), bar.read32(regs::CPL_TAIL));
    let d0 = bar.read64(regs::CNT_DESCRIPTORS);
    let mut watch = WrapWatch {
        head: h0,
        tail: t0,
        head_wraps: 0,
        tail_wraps: 0,
        doorbells: 0,
    };

    const N: u64 = 30;
    let inner: Vec<Vec<u8>> = (1..=N as u16).map(inner_v4).collect();
    let encap = encap_requests(0, 1000, &inner);
    let done = by_cookie(
        run_watching(&mut pic.driver, &encap, &mut watch),
        1000..1000 + N,
    )
    .unwrap();
    let mut outer = Vec::new();
    for (i, c) in done.values().enumerate() {
        let o = ok_bytes(c);
        assert_eq!(
            c.seq,
            i as u32 + 1,
            "ESP sequence numbers follow the ring order"
        );
        assert_eq!((c.spi, c.sa_index, c.event), (0x1000_0001, 0, None));
        assert_eq!((o[0], o[9]), (0x45, 50), "outer IPv4 header carrying ESP");
        assert_eq!(be32(o, 20), 0x1000_0001);
        outer.push(o.to_vec());
    }

    let decap = decap_requests(None, 2000, &outer);
    let done = by_cookie(
        run_watching(&mut pic.driver, &decap, &mut watch),
        2000..2000 + N,
    )
    .unwrap();
    for (i, c) in done.values().enumerate() {
        assert_eq!(
            ok_bytes(c),
            &inner[i][..],
            "decap(encap(p)) == p for packet {i}"
        );
        assert_eq!((c.sa_index, c.seq), (1, i as u32 + 1));
    }
    assert!(
        pic.driver.poll().unwrap().is_empty(),
        "no stray completions"
    );

    // 60 descriptors through 8-entry rings.
    let total = 2 * N as u32;
    assert!(watch.doorbells >= 2 * 5, "{} doorbells", watch.doorbells);
    assert_eq!(watch.head_wraps, (h0 + total) / 8 - h0 / 8);
    assert_eq!(watch.tail_wraps, (t0 + total) / 8 - t0 / 8);
    assert!(
        watch.head_wraps > 3 && watch.tail_wraps > 3,
        "{}",
        watch.head_wraps
    );
    assert_eq!(bar.read32(regs::CMD_HEAD), (h0 + total) % 8);
    assert_eq!(bar.read32(regs::CPL_TAIL), (t0 + total) % 8);
    assert_eq!(bar.read32(regs::CMD_TAIL), (h0 + total) % 8);

    let inner_bytes: u64 = inner.iter().map(|p| p.len() as u64).sum();
    let c = pic.driver.counters();
    assert_eq!(c.descriptors - d0, u64::from(total));
    assert_eq!((c.encap_packets, c.encap_bytes), (N, inner_bytes));
    assert_eq!((c.decap_packets, c.decap_bytes), (N, inner_bytes));
    let o = pic.driver.query_sa(0).unwrap();
    let i = pic.driver.query_sa(1).unwrap();
    assert_eq!((o.packets, o.bytes, o.seq), (N, inner_bytes, N));
    assert_eq!((i.packets, i.bytes, i.seq), (N, inner_bytes, N));
}

/// b. Submitting more than the command ring holds queues ring-size - 1,
/// loses nothing, and takes the rest once completions are reaped.
#[test]
fn submit_applies_back_pressure_when_the_command_ring_is_full() {
    let mut pic = small_pic(8, 8);
    let (out, inb) = sa_pair_v4(0x1100_0001);
    add_pair(&mut pic.driver, 0, &out, 1, &inb).unwrap();
    let inner: Vec<Vec<u8>> = (1..=20).map(inner_v4).collect();
    let reqs = encap_requests(0, 0, &inner);

    assert_eq!(pic.driver.free_slots(), 7);
    let queued = pic.driver.submit(&reqs).unwrap();
    assert_eq!(queued, 7, "one slot of 8 stays empty");
    assert_eq!(pic.driver.free_slots(), 0);
    assert_eq!(pic.driver.submit(&reqs[queued..]).unwrap(), 0, "full ring");

    // Reap the first seven without submitting more.
    let mut first = Vec::new();
    for _ in 0..500 {
        first.extend(pic.driver.wait(Duration::from_millis(10)).unwrap());
        if first.len() >= 7 {
            break;
        }
    }
    let first = by_cookie(first, 0..7).unwrap();
    assert_eq!(pic.driver.free_slots(), 7);

    // The rest goes through once there is room.
    let rest = by_cookie(run_requests(&mut pic.driver, &reqs[7..]).unwrap(), 7..20).unwrap();
    let outer: Vec<Vec<u8>> = first
        .values()
        .chain(rest.values())
        .map(|c| ok_bytes(c).to_vec())
        .collect();
    let seqs: Vec<u32> = first.values().chain(rest.values()).map(|c| c.seq).collect();
    assert_eq!(seqs, (1..=20).collect::<Vec<u32>>());
    let back = by_cookie(
        run_requests(&mut pic.driver, &decap_requests(Some(1), 100, &outer)).unwrap(),
        100..120,
    )
    .unwrap();
    for (i, c) in back.values().enumerate() {
        assert_eq!(ok_bytes(c), &inner[i][..]);
    }
    assert_eq!(pic.driver.counters().encap_packets, 20);
}

/// b. A completion ring smaller than the command ring: the engine stalls
/// on CPL_FULL (STATUS bit, interrupt, driver event) and resumes when the
/// driver reaps; every request completes exactly once.
#[test]
fn engine_stalls_on_a_full_completion_ring_and_resumes() {
    let mut pic = small_pic(16, 4);
    let (out, inb) = sa_pair_v4(0x1200_0001);
    add_pair(&mut pic.driver, 0, &out, 1, &inb).unwrap();
    let bar = pic.driver.bar().clone();
    pic.driver.handle_interrupt();
    pic.driver.take_events();
    let (h0, t0) = (bar.read32(regs::CMD_HEAD), bar.read32(regs::CPL_TAIL));
    let d0 = bar.read64(regs::CNT_DESCRIPTORS);

    let inner: Vec<Vec<u8>> = (1..=15).map(inner_v4).collect();
    let reqs = encap_requests(0, 0, &inner);
    assert_eq!(pic.driver.submit(&reqs).unwrap(), 15);

    wait_until("the CPL_FULL interrupt cause", || {
        bar.read32(regs::INT_STATUS) & int::CPL_FULL != 0
    })
    .unwrap();
    let status = bar.read32(regs::STATUS);
    assert_ne!(status & regs::status::CPL_FULL, 0, "STATUS {status:#x}");
    assert_ne!(status & regs::status::RUNNING, 0, "STATUS {status:#x}");
    // A 4-entry completion ring holds 3 completions: the engine stopped there.
    assert_eq!(bar.read32(regs::CMD_HEAD), (h0 + 3) % 16);
    assert_eq!(bar.read32(regs::CPL_TAIL), (t0 + 3) % 4);
    assert_eq!(bar.read64(regs::CNT_DESCRIPTORS) - d0, 3);
    let events = wait_events(&mut pic.driver, "CompletionRingFull", |e| {
        e.contains(&CardEvent::CompletionRingFull)
    })
    .unwrap();
    assert!(
        events.iter().all(|e| *e == CardEvent::CompletionRingFull),
        "{events:?}"
    );

    // Reaping frees room; the engine resumes (and stalls again, and resumes).
    let mut done = Vec::new();
    let mut quiet = 0;
    while done.len() < 15 {
        let got = pic.driver.wait(Duration::from_millis(10)).unwrap();
        quiet = if got.is_empty() { quiet + 1 } else { 0 };
        assert!(quiet < 500, "stalled for good after {}", done.len());
        done.extend(got);
    }
    let done = by_cookie(done, 0..15).unwrap();
    assert!(pic.driver.poll().unwrap().is_empty());
    let outer: Vec<Vec<u8>> = done.values().map(|c| ok_bytes(c).to_vec()).collect();
    assert_eq!(bar.read32(regs::STATUS) & regs::status::CPL_FULL, 0);
    assert_eq!(bar.read32(regs::CMD_HEAD), (h0 + 15) % 16);
    assert_eq!(bar.read64(regs::CNT_DESCRIPTORS) - d0, 15);

    let back = by_cookie(
        run_requests(&mut pic.driver, &decap_requests(None, 100, &outer)).unwrap(),
        100..115,
    )
    .unwrap();
    for (i, c) in back.values().enumerate() {
        assert_eq!(ok_bytes(c), &inner[i][..]);
    }
}

/// c. Masked causes latch in INT_STATUS without sending events; the
/// completions still happen; unmasking a pending cause sends an event.
#[test]
fn masked_causes_latch_without_events_and_unmasking_delivers_them() {
    let mut pic = small_pic(16, 16);
    let (mut out, inb) = sa_pair_v4(0x1300_0001);
    out.lifetimes.soft_packets = 5;
    add_pair(&mut pic.driver, 0, &out, 1, &inb).unwrap();
    let bar = pic.driver.bar().clone();

    // Quiet line: mask everything (serialised with any raise in flight),
    // drain the events already sent and clear INT_STATUS.
    pic.driver.set_interrupt_mask(int::ALL);
    pic.driver.handle_interrupt();
    pic.driver.take_events();
    let masked = int::COMPLETION | int::SA_SOFT;
    pic.driver.set_interrupt_mask(masked);
    assert_eq!(bar.read32(regs::INT_MASK), masked);
    let irq0 = bar.read64(regs::CNT_INTERRUPTS);
    let tail0 = bar.read32(regs::CPL_TAIL);

    // Five packets; the fifth takes the SA past its soft lifetime, so the
    // batch raises COMPLETION | SA_SOFT, both masked.
    let inner: Vec<Vec<u8>> = (1..=5).map(inner_v4).collect();
    assert_eq!(pic.driver.submit(&encap_requests(0, 0, &inner)).unwrap(), 5);
    wait_until("SA_SOFT latched", || {
        bar.read32(regs::INT_STATUS) & int::SA_SOFT != 0
    })
    .unwrap();
    // Serialise with the raise that latched it (INT_MASK writes take the
    // interrupt lock): after this, that raise has decided whether to signal.
    pic.driver.set_interrupt_mask(masked);
    assert_eq!(bar.read32(regs::CPL_TAIL), (tail0 + 5) % 16);
    assert_eq!(bar.read32(regs::INT_STATUS), masked, "both causes latched");
    assert_eq!(
        bar.read64(regs::CNT_INTERRUPTS),
        irq0,
        "no interrupt event for masked causes"
    );

    // The completions are there for polling.
    let done = by_cookie(pic.driver.poll().unwrap(), 0..5).unwrap();
    assert!(done.values().all(|c| c.result.is_ok()));
    assert_eq!(done[&4].event, Some(LifetimeEvent::Soft));
    // Nothing is queued on the line: a zero-timeout wait finds no event and
    // so leaves INT_STATUS alone.
    assert!(pic.driver.wait(Duration::ZERO).unwrap().is_empty());
    assert_eq!(bar.read32(regs::INT_STATUS), masked);
    assert!(pic.driver.take_events().is_empty());

    // Unmasking a pending cause delivers one event now.
    pic.driver.set_interrupt_mask(int::SA_SOFT);
    assert_eq!(bar.read64(regs::CNT_INTERRUPTS), irq0 + 1);
    bar.write32(regs::INT_STATUS, int::COMPLETION);
    assert_eq!(
        bar.read32(regs::INT_STATUS),
        int::SA_SOFT,
        "W1C clears one cause"
    );
    pic.driver.set_interrupt_mask(0);
    assert_eq!(bar.read64(regs::CNT_INTERRUPTS), irq0 + 2);
    // The driver receives it on its interrupt line and reports the SA event.
    assert!(pic.driver.wait(Duration::from_secs(5)).unwrap().is_empty());
    assert_eq!(
        bar.read32(regs::INT_STATUS),
        0,
        "the driver handled a delivered interrupt"
    );
    assert_eq!(
        pic.driver.take_events(),
        vec![CardEvent::Lifetime {
            sa_index: 0,
            event: LifetimeEvent::Soft
        }]
    );
}

/// c. The same on the raw interrupt line: a masked COMPLETION sends
/// nothing, unmasking sends exactly one event carrying it.
#[test]
fn masked_completion_sends_nothing_on_the_raw_line() {
    let mut m = MockDriver::new(MOCK_MEM, 16, 16).unwrap();
    m.bar.write32(regs::INT_MASK, int::COMPLETION);
    let done = m.run(&[nop(1), nop(2), nop(3)]).unwrap();
    let cookies: Vec<u64> = done.iter().map(|c| c.cookie.get()).collect();
    assert_eq!(cookies, [1, 2, 3]);
    assert!(done.iter().all(|c| status_of(c) == Some(Status::Ok)));
    wait_until("COMPLETION latched", || {
        m.reg(regs::INT_STATUS) & int::COMPLETION != 0
    })
    .unwrap();
    m.bar.write32(regs::INT_MASK, int::COMPLETION); // serialise with the raise
    m.drain_irq();
    assert!(m.events.is_empty(), "{:?}", m.events);
    assert_eq!(m.counter(regs::CNT_INTERRUPTS), 0);

    m.bar.write32(regs::INT_MASK, 0);
    let ev = m.irq.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(ev.causes, int::COMPLETION);
    assert!(m.irq.try_recv().is_err(), "exactly one event");
    assert_eq!(m.counter(regs::CNT_INTERRUPTS), 1);
    // Unmasking again with nothing newly unmasked sends nothing.
    m.bar.write32(regs::INT_MASK, 0);
    assert_eq!(m.counter(regs::CNT_INTERRUPTS), 1);
}

/// d. A reset with a full command ring in flight: every request comes back
/// exactly once, OK (only what the completion ring could hold) or Aborted;
/// the card's counters, faults and SA event are cleared.
#[test]
fn reset_during_traffic_returns_every_request_once() {
    let mut pic = small_pic(32, 8);
    let (out, inb) = sa_pair_v4(0x1400_0001);
    add_pair(&mut pic.driver, 0, &out, 1, &inb).unwrap();
    let bar = pic.driver.bar().clone();
    let inner: Vec<Vec<u8>> = (1..=31).map(inner_v4).collect();
    assert_eq!(
        pic.driver.submit(&encap_requests(0, 100, &inner)).unwrap(),
        31
    );

    let done = by_cookie(pic.driver.reset().unwrap(), 100..131).unwrap();
    let mut ok = 0;
    for (cookie, c) in &done {
        match &c.result {
            Ok(b) => {
                // Completed ones are the first in ring order, and real ESP.
                assert_eq!(*cookie, 100 + ok, "OK after an Aborted");
                assert_eq!((b[0], b[9], be32(b, 20)), (0x45, 50, 0x1400_0001));
                ok += 1;
            }
            Err(DeviceError::Aborted) => {}
            Err(e) => panic!("cookie {cookie}: {e}"),
        }
    }
    // The 8-entry completion ring holds 7 completions and nothing was reaped
    // before the reset, so at most 7 can have run.
    assert!(ok <= 7, "{ok} completed");

    // Cleared by the reset: since then, only the card's drain (counted as
    // aborted) and the bring-up NOP ran.
    let c = pic.driver.counters();
    assert_eq!(
        c,
        Counters {
            descriptors: c.aborted + 1,
            aborted: c.aborted,
            interrupts: c.interrupts,
            ..Counters::default()
        }
    );
    assert_eq!(bar.read32(regs::FAULT_CODE), 0);
    assert_eq!(bar.read32(regs::SA_EVENT), u32::MAX);
    assert_eq!(bar.read32(regs::STATUS) & regs::status::FATAL, 0);
}

/// d. After a reset the SA table is empty and the card works again once
/// SAs are re-added (through the driver).
#[test]
fn reset_clears_the_sa_table_and_the_card_works_again() {
    let mut pic = small_pic(32, 8);
    let (out, inb) = sa_pair_v4(0x1410_0001);
    add_pair(&mut pic.driver, 0, &out, 1, &inb).unwrap();
    let bar = pic.driver.bar().clone();
    let inner: Vec<Vec<u8>> = (1..=31).map(inner_v4).collect();
    assert_eq!(
        pic.driver.submit(&encap_requests(0, 100, &inner)).unwrap(),
        31
    );
    let done = by_cookie(pic.driver.reset().unwrap(), 100..131).unwrap();
    let before: Vec<Vec<u8>> = done
        .values()
        .filter_map(|c| c.result.as_ref().ok().map(|b| b.to_vec()))
        .collect();

    let c = pic.driver.counters();
    assert_eq!(
        c,
        Counters {
            descriptors: c.aborted + 1,
            aborted: c.aborted,
            interrupts: c.interrupts,
            ..Counters::default()
        },
        "only the bring-up NOP since the reset"
    );
    assert_eq!(bar.read32(regs::STATUS), regs::status::RUNNING);
    for slot in [0, 1] {
        assert_eq!(
            pic.driver.query_sa(slot),
            dev(DeviceError::UnknownSa),
            "slot {slot} after reset"
        );
    }
    assert_eq!(pic.driver.counters().unknown_sa, 2);

    // Re-added, the inbound SA opens what was encapsulated before the reset.
    add_pair(&mut pic.driver, 0, &out, 1, &inb).unwrap();
    let back = by_cookie(
        run_requests(&mut pic.driver, &decap_requests(Some(1), 200, &before)).unwrap(),
        200..200 + before.len() as u64,
    )
    .unwrap();
    for (i, c) in back.values().enumerate() {
        assert_eq!(ok_bytes(c), &inner[i][..]);
    }
    // And a fresh pair carries new traffic both ways.
    let (out2, inb2) = sa_pair_v4(0x1410_0002);
    add_pair(&mut pic.driver, 2, &out2, 3, &inb2).unwrap();
    let enc = by_cookie(
        run_requests(&mut pic.driver, &encap_requests(2, 300, &inner)).unwrap(),
        300..331,
    )
    .unwrap();
    let outer: Vec<Vec<u8>> = enc.values().map(|c| ok_bytes(c).to_vec()).collect();
    let dec = by_cookie(
        run_requests(&mut pic.driver, &decap_requests(None, 400, &outer)).unwrap(),
        400..431,
    )
    .unwrap();
    for (i, c) in dec.values().enumerate() {
        assert_eq!(ok_bytes(c), &inner[i][..]);
        assert_eq!(c.sa_index, 3);
    }
}

/// d. On the raw rings: a soft reset right behind a doorbell completes
/// every pending descriptor exactly once (the ring has room for all), Ok
/// for those that ran before it and Aborted after; it clears counters,
/// faults, SA_EVENT, STATUS and the SA table, raises RESET_DONE, and the
/// card serves descriptors again once the rings are re-enabled.
#[test]
fn soft_reset_drains_pending_descriptors_and_clears_the_card() {
    let mut m = MockDriver::new(MOCK_MEM, 16, 16).unwrap();
    let enc = [0x31u8; 16];
    let auth = [0x32u8; 20];
    let block = sa_block(0x1420_0001, desc::DIR_OUTBOUND, &enc, &auth);
    assert_eq!(
        status_of(&m.sa_add(2, &block, 0, 1).unwrap()),
        Some(Status::Ok)
    );
    let inner = inner_v4(3);
    let (src, dst) = (m.buf(1), m.buf(2));
    m.write(src, &inner).unwrap();
    for i in 0..12u64 {
        let d = descriptor(
            Opcode::Encap as u8,
            2,
            src,
            inner.len() as u32,
            dst,
            2048,
            50 + i,
        );
        m.push(&d).unwrap();
    }
    let tail0 = m.reg(regs::CPL_TAIL);
    m.events.clear();
    m.doorbell();
    m.soft_reset().unwrap();

    // Ring registers survive the reset: the completions can be reaped.
    let done = m.reap().unwrap();
    let got: Vec<(u64, Option<Status>)> = done
        .iter()
        .map(|c| (c.cookie.get(), status_of(c)))
        .collect();
    assert_eq!(got.len(), 12, "one completion per descriptor: {got:?}");
    let ran = got
        .iter()
        .take_while(|(_, s)| *s == Some(Status::Ok))
        .count();
    for (k, (cookie, status)) in got.iter().enumerate() {
        assert_eq!(*cookie, 50 + k as u64);
        let want = if k < ran { Status::Ok } else { Status::Aborted };
        assert_eq!(*status, Some(want), "descriptor {k}: {got:?}");
    }
    for c in &done[ran..] {
        assert_eq!((c.sa_index.get(), c.result_len.get()), (2, 0));
    }
    assert_eq!(m.reg(regs::CPL_TAIL), (tail0 + 12) % 16);

    assert_eq!(m.reg(regs::CTRL), 0);
    assert_eq!(m.reg(regs::STATUS), 0);
    assert_eq!(m.fault(), (0, 0));
    assert_eq!(m.reg(regs::SA_EVENT), u32::MAX);
    // Counters restart at the reset; the drain is counted as aborted.
    let drained = (12 - ran) as u64;
    assert_eq!(m.counter(regs::CNT_ENCAP_PKTS), 0);
    assert_eq!(m.counter(regs::CNT_ABORTED), drained);
    assert_eq!(m.counter(regs::CNT_DESCRIPTORS), drained);
    assert_eq!(m.reg(regs::INT_STATUS), int::RESET_DONE);
    m.wait_irq(int::RESET_DONE).unwrap();

    m.bring_up().unwrap();
    let q = m
        .run_one(&descriptor(Opcode::SaQuery as u8, 2, 0, 0, dst, 64, 70))
        .unwrap();
    assert_eq!(status_of(&q), Some(Status::UnknownSa), "SA table cleared");
    assert_eq!(
        status_of(&m.sa_add(2, &block, 0, 71).unwrap()),
        Some(Status::Ok)
    );
    let c = m
        .run_one(&descriptor(
            Opcode::Encap as u8,
            2,
            src,
            inner.len() as u32,
            dst,
            2048,
            72,
        ))
        .unwrap();
    assert_eq!(status_of(&c), Some(Status::Ok));
    assert_eq!(c.seq.get(), 1, "a fresh SA starts at sequence number 1");
    assert_eq!(m.counter(regs::CNT_DESCRIPTORS), drained + 3);
}

/// e. Anti-replay with a 64-packet window: late but inside is accepted,
/// duplicates are Replay, older than the window is OutsideWindow, a forged
/// packet is AuthFailed and does not move the window; counters agree.
#[test]
fn replay_and_outside_window_are_refused_and_counted() {
    let mut pic = small_pic(16, 16);
    let (out, inb) = sa_pair_v4(0x1500_0001);
    assert_eq!(inb.replay_window, 64);
    add_pair(&mut pic.driver, 0, &out, 1, &inb).unwrap();
    let inner: Vec<Vec<u8>> = (1..=71).map(inner_v4).collect();
    let enc = by_cookie(
        run_requests(&mut pic.driver, &encap_requests(0, 1, &inner)).unwrap(),
        1..72,
    )
    .unwrap();
    // outer[seq] is the packet with ESP sequence number seq.
    let mut outer = vec![Vec::new()];
    for (i, c) in enc.values().enumerate() {
        assert_eq!(c.seq, i as u32 + 1);
        outer.push(ok_bytes(c).to_vec());
    }
    let decap = |pic: &mut mtsim::pic::Pic, seq: usize, cookie: u64| {
        run_one(
            &mut pic.driver,
            cookie,
            Request::Decap {
                sa: Some(1),
                packet: &outer[seq],
            },
        )
    };

    // 1..=70 except 10, in order.
    let in_order: Vec<Vec<u8>> = (1..=70)
        .filter(|&s| s != 10)
        .map(|s| outer[s].clone())
        .collect();
    let done = run_requests(&mut pic.driver, &decap_requests(Some(1), 1000, &in_order)).unwrap();
    assert!(done.iter().all(|c| c.result.is_ok()), "{done:?}");
    let c = decap(&mut pic, 10, 2000);
    assert_eq!(ok_bytes(&c), &inner[9][..], "late but inside the window");
    assert_eq!(c.seq, 10);

    let expect = [
        (70, DeviceError::Replay),       // newest, again
        (10, DeviceError::Replay),       // the late one, again
        (7, DeviceError::Replay),        // 70 - 7 = 63: inside the window
        (6, DeviceError::OutsideWindow), // 70 - 6 = 64: just left of it
        (5, DeviceError::OutsideWindow),
    ];
    for (k, (seq, err)) in expect.into_iter().enumerate() {
        let c = decap(&mut pic, seq, 3000 + k as u64);
        assert_eq!(c.result, Err(err), "seq {seq}");
    }

    // A forged packet (ICV byte flipped) is refused before it can move the
    // window: the genuine one is still accepted afterwards.
    let mut forged = outer[71].clone();
    *forged.last_mut().unwrap() ^= 1;
    let c = run_one(
        &mut pic.driver,
        4000,
        Request::Decap {
            sa: Some(1),
            packet: &forged,
        },
    );
    assert_eq!(c.result, Err(DeviceError::AuthFailed));
    let c = decap(&mut pic, 71, 4001);
    assert_eq!(ok_bytes(&c), &inner[70][..]);

    let bar = pic.driver.bar().clone();
    assert_eq!(bar.read64(regs::CNT_REPLAY), 3);
    assert_eq!(bar.read64(regs::CNT_OUTSIDE_WINDOW), 2);
    assert_eq!(bar.read64(regs::CNT_AUTH_FAIL), 1);
    assert_eq!(bar.read64(regs::CNT_DECAP_PKTS), 71);
    let info = pic.driver.query_sa(1).unwrap();
    assert_eq!(info.replay_drops, 5, "{info:?}");
    assert_eq!(info.auth_failures, 1);
    assert_eq!((info.packets, info.seq), (71, 71));
}

/// f. Packet and byte lifetimes: Soft then Hard at the exact packet, in
/// the completion and as card events naming the SA (SA_EVENT), SA state
/// Active -> SoftExpired -> HardExpired, then LifetimeExpired.
#[test]
fn lifetimes_expire_at_the_exact_packet_with_events() {
    let mut pic = small_pic(16, 16);
    let bar = pic.driver.bar().clone();
    assert_eq!(bar.read32(regs::SA_EVENT), u32::MAX, "no event yet");
    let mut events = Vec::new();

    // Outbound SA in slot 7: soft at 3 packets, hard at 5.
    let (mut out, inb) = sa_pair_v4(0x1600_0007);
    out.lifetimes = Lifetimes {
        soft_packets: 3,
        hard_packets: 5,
        ..Lifetimes::default()
    };
    add_pair(&mut pic.driver, 7, &out, 8, &inb).unwrap();
    assert_eq!(pic.driver.query_sa(7).unwrap().state, SaState::Active);
    for k in 1..=6u16 {
        let p = inner_v4(k);
        let c = run_one(
            &mut pic.driver,
            u64::from(k),
            Request::Encap { sa: 7, packet: &p },
        );
        let (want_event, want_state) = match k {
            1 | 2 => (None, SaState::Active),
            3 => (Some(LifetimeEvent::Soft), SaState::SoftExpired),
            4 => (None, SaState::SoftExpired),
            _ => (Some(LifetimeEvent::Hard), SaState::HardExpired),
        };
        if k == 6 {
            assert_eq!(c.result, Err(DeviceError::LifetimeExpired));
            assert_eq!(c.event, None);
        } else {
            assert!(c.result.is_ok(), "packet {k}: {:?}", c.result);
            assert_eq!((c.event, c.seq), (want_event, u32::from(k)), "packet {k}");
        }
        if let (Some(event), true) = (want_event, k < 6) {
            let want = CardEvent::Lifetime { sa_index: 7, event };
            events.extend(
                wait_events(&mut pic.driver, "an SA lifetime event", |e| {
                    e.contains(&want)
                })
                .unwrap(),
            );
            assert_eq!(bar.read32(regs::SA_EVENT), 7);
        }
        assert_eq!(
            pic.driver.query_sa(7).unwrap().state,
            want_state,
            "after {k}"
        );
    }
    assert_eq!(bar.read64(regs::CNT_LIFETIME_EXPIRED), 1);
    let info = pic.driver.query_sa(7).unwrap();
    assert_eq!((info.packets, info.seq), (5, 5));

    // Inbound SA in slot 12 with byte lifetimes: soft after 2L+1 bytes
    // (reached by packet 3), hard at 4L bytes (packet 4).
    const L: usize = 100;
    let (out, mut inb) = sa_pair_v4(0x1600_000c);
    inb.lifetimes = Lifetimes {
        soft_bytes: 2 * L as u64 + 1,
        hard_bytes: 4 * L as u64,
        ..Lifetimes::default()
    };
    add_pair(&mut pic.driver, 11, &out, 12, &inb).unwrap();
    let inner: Vec<Vec<u8>> = (1..=5).map(|i| inner_v4_len(i, L)).collect();
    assert!(inner.iter().all(|p| p.len() == L));
    let enc = by_cookie(
        run_requests(&mut pic.driver, &encap_requests(11, 100, &inner)).unwrap(),
        100..105,
    )
    .unwrap();
    let outer: Vec<Vec<u8>> = enc.values().map(|c| ok_bytes(c).to_vec()).collect();
    for (i, p) in outer.iter().enumerate() {
        let k = i + 1;
        let c = run_one(
            &mut pic.driver,
            200 + i as u64,
            Request::Decap {
                sa: None,
                packet: p,
            },
        );
        let want_event = match k {
            3 => Some(LifetimeEvent::Soft),
            4 => Some(LifetimeEvent::Hard),
            _ => None,
        };
        if k == 5 {
            assert_eq!(c.result, Err(DeviceError::LifetimeExpired));
        } else {
            assert_eq!(ok_bytes(&c), &inner[i][..]);
            assert_eq!((c.event, c.sa_index), (want_event, 12), "packet {k}");
        }
        if let Some(event) = want_event {
            let want = CardEvent::Lifetime {
                sa_index: 12,
                event,
            };
            events.extend(
                wait_events(&mut pic.driver, "an SA lifetime event", |e| {
                    e.contains(&want)
                })
                .unwrap(),
            );
            assert_eq!(bar.read32(regs::SA_EVENT), 12);
        }
    }
    let info = pic.driver.query_sa(12).unwrap();
    assert_eq!(info.state, SaState::HardExpired);
    assert_eq!((info.packets, info.bytes), (4, 4 * L as u64));
    assert_eq!(bar.read64(regs::CNT_LIFETIME_EXPIRED), 2);

    // Each threshold was reported exactly once.
    events.extend(pic.driver.take_events());
    let lifetime: Vec<&CardEvent> = events
        .iter()
        .filter(|e| matches!(e, CardEvent::Lifetime { .. }))
        .collect();
    assert_eq!(
        lifetime,
        [
            &CardEvent::Lifetime {
                sa_index: 7,
                event: LifetimeEvent::Soft
            },
            &CardEvent::Lifetime {
                sa_index: 7,
                event: LifetimeEvent::Hard
            },
            &CardEvent::Lifetime {
                sa_index: 12,
                event: LifetimeEvent::Soft
            },
            &CardEvent::Lifetime {
                sa_index: 12,
                event: LifetimeEvent::Hard
            },
        ]
    );
}

/// g. Buffers outside host memory fail their own descriptor with DmaFault
/// (FAULT_ADDR, FAULT_CODE, DMA_FAULT interrupt) and nothing else.
#[test]
fn dma_faults_fail_one_descriptor_and_the_next_ones_run() {
    let mut m = MockDriver::new(MOCK_MEM, 8, 8).unwrap();
    let end = m.mem_size;
    let enc = [0x11u8; 16];
    let auth = [0x22u8; 20];
    let c = m
        .sa_add(
            0,
            &sa_block(0x1700_0001, desc::DIR_OUTBOUND, &enc, &auth),
            0,
            1,
        )
        .unwrap();
    assert_eq!(status_of(&c), Some(Status::Ok));
    let c = m
        .sa_add(
            1,
            &sa_block(0x1700_0001, desc::DIR_INBOUND, &enc, &auth),
            0,
            2,
        )
        .unwrap();
    assert_eq!(status_of(&c), Some(Status::Ok));
    let inner = inner_v4(1);
    let (src, dst) = (m.buf(1), m.buf(2));
    m.write(src, &inner).unwrap();
    let len = inner.len() as u32;
    let encap = Opcode::Encap as u8;

    // (descriptor, fault code, fault address)
    let cases = [
        // source entirely beyond the end of memory
        (
            descriptor(encap, 0, end, len, dst, 2048, 10),
            FaultCode::DmaRead,
            end,
        ),
        // source straddling the end
        (
            descriptor(encap, 0, end - 8, len, dst, 2048, 11),
            FaultCode::DmaRead,
            end - 8,
        ),
        // source whose end overflows 64 bits
        (
            descriptor(encap, 0, u64::MAX - 7, len, dst, 2048, 12),
            FaultCode::DmaRead,
            u64::MAX - 7,
        ),
        // destination straddling the end
        (
            descriptor(encap, 0, src, len, end - 16, 2048, 13),
            FaultCode::DmaWrite,
            end - 16,
        ),
        // SA block beyond memory
        (
            descriptor(Opcode::SaAdd as u8, 5, end + 0x1000, 160, 0, 0, 14),
            FaultCode::DmaRead,
            end + 0x1000,
        ),
        // SA stats block beyond memory
        (
            descriptor(Opcode::SaQuery as u8, 0, 0, 0, u64::MAX, 64, 15),
            FaultCode::DmaWrite,
            u64::MAX,
        ),
    ];
    // The last 16 bytes of memory must survive the refused write.
    m.write(end - 16, &[0xCC; 16]).unwrap();
    for (k, (d, code, addr)) in cases.iter().enumerate() {
        m.bar.write32(regs::INT_STATUS, int::ALL);
        m.events.clear();
        let c = m.run_one(d).unwrap();
        assert_eq!(c.cookie.get(), d.cookie.get());
        assert_eq!(status_of(&c), Some(Status::DmaFault), "case {k}");
        assert_eq!(c.result_len.get(), 0);
        assert_eq!(m.fault(), (*code as u32, *addr), "case {k}");
        let ev = m.wait_irq(int::DMA_FAULT).unwrap();
        assert_ne!(ev.causes & int::COMPLETION, 0, "case {k}: {ev:?}");
        assert_ne!(m.reg(regs::INT_STATUS) & int::DMA_FAULT, 0);
        assert_eq!(m.reg(regs::STATUS), regs::status::RUNNING, "not fatal");
        assert_eq!(m.counter(regs::CNT_DMA_FAULT), k as u64 + 1);
    }
    assert_eq!(m.read(end - 16, 16).unwrap(), [0xCC; 16]);

    // In one batch, a fault between good descriptors fails only itself.
    let out = m.buf(3);
    let batch = [
        nop(20),
        descriptor(encap, 0, end + 64, len, out, 2048, 21),
        nop(22),
        descriptor(encap, 0, src, len, out, 2048, 23),
    ];
    let done = m.run(&batch).unwrap();
    let got: Vec<(u64, Option<Status>)> = done
        .iter()
        .map(|c| (c.cookie.get(), status_of(c)))
        .collect();
    assert_eq!(
        got,
        [
            (20, Some(Status::Ok)),
            (21, Some(Status::DmaFault)),
            (22, Some(Status::Ok)),
            (23, Some(Status::Ok)),
        ]
    );
    assert_eq!(m.fault(), (FaultCode::DmaRead as u32, end + 64));
    let outer_len = done[3].result_len.get();
    assert!(outer_len as usize > inner.len() + 20 + 8 + 16);
    let back = m.buf(4);
    let c = m
        .run_one(&descriptor(
            Opcode::Decap as u8,
            1,
            out,
            outer_len,
            back,
            2048,
            24,
        ))
        .unwrap();
    assert_eq!(status_of(&c), Some(Status::Ok));
    assert_eq!(m.read(back, c.result_len.get() as usize).unwrap(), inner);
    assert_eq!(m.counter(regs::CNT_DMA_FAULT), cases.len() as u64 + 1);
    assert_eq!(m.counter(regs::CNT_ENCAP_PKTS), 1);
    assert_eq!(m.counter(regs::CNT_DECAP_PKTS), 1);
}

/// h. Bad host indices and ring configurations are fatal: STATUS.FATAL,
/// FAULT_CODE, FATAL interrupt, the engine stops; a soft reset brings the
/// card back and it serves descriptors again.
#[test]
fn bad_indices_are_fatal_until_a_soft_reset() {
    let mut m = MockDriver::new(MOCK_MEM, 8, 8).unwrap();
    assert_eq!(status_of(&m.run_one(&nop(1)).unwrap()), Some(Status::Ok));

    // CMD_TAIL == CMD_SIZE.
    m.events.clear();
    m.bar.write32(regs::CMD_TAIL, 8);
    let ev = m.wait_irq(int::FATAL).unwrap();
    assert_ne!(ev.causes & int::FATAL, 0);
    let status = m.reg(regs::STATUS);
    assert_eq!(
        status & (regs::status::FATAL | regs::status::RUNNING),
        regs::status::FATAL
    );
    assert_eq!(m.fault().0, FaultCode::CmdIndex as u32);
    assert_ne!(m.reg(regs::INT_STATUS) & int::FATAL, 0);
    // Stopped: a valid doorbell is not served. The reset that follows is
    // handled after that doorbell, so once it is done the NOP had its chance.
    let cpl_tail = m.reg(regs::CPL_TAIL);
    m.push(&nop(2)).unwrap();
    m.doorbell();
    m.soft_reset().unwrap();
    assert_eq!(
        m.reg(regs::CPL_TAIL),
        cpl_tail,
        "nothing completed while FATAL"
    );
    assert_eq!(m.reg(regs::STATUS), 0);
    assert_eq!(m.fault(), (0, 0));
    assert_eq!(m.reg(regs::CTRL), 0);
    assert_eq!(m.counter(regs::CNT_DESCRIPTORS), 0, "counters cleared");
    m.wait_irq(int::RESET_DONE).unwrap();
    m.bring_up().unwrap();
    let done = m.run(&[nop(3), nop(4)]).unwrap();
    assert!(done.iter().all(|c| status_of(c) == Some(Status::Ok)));
    assert_eq!(m.reg(regs::STATUS), regs::status::RUNNING);

    // CPL_HEAD beyond the completion ring.
    m.bar.write32(regs::CPL_HEAD, 8 + 3);
    m.wait_irq(int::FATAL).unwrap();
    assert_ne!(m.reg(regs::STATUS) & regs::status::FATAL, 0);
    assert_eq!(m.fault().0, FaultCode::CplIndex as u32);
    m.soft_reset().unwrap();
    m.bring_up().unwrap();
    assert_eq!(status_of(&m.run_one(&nop(5)).unwrap()), Some(Status::Ok));

    // A command ring size that is not a power of two.
    m.soft_reset().unwrap();
    m.bar.write32(regs::CMD_SIZE, 3);
    m.bar.write32(regs::CTRL, regs::ctrl::ENABLE);
    m.wait_irq(int::FATAL).unwrap();
    assert_eq!(m.fault(), (FaultCode::RingConfig as u32, m.cmd_base));
    // A completion ring that runs past the end of memory.
    m.soft_reset().unwrap();
    m.bar.write32(regs::CMD_SIZE, 8);
    let bad_cpl = m.mem_size - 4 * 32;
    m.bar.write32(regs::CPL_BASE_LO, bad_cpl as u32);
    m.bar.write32(regs::CTRL, regs::ctrl::ENABLE);
    m.wait_irq(int::FATAL).unwrap();
    assert_eq!(m.fault(), (FaultCode::RingConfig as u32, bad_cpl));
    assert_ne!(m.reg(regs::STATUS) & regs::status::FATAL, 0);

    m.soft_reset().unwrap();
    m.bring_up().unwrap();
    let done = m.run(&[nop(6), nop(7), nop(8)]).unwrap();
    let cookies: Vec<u64> = done.iter().map(|c| c.cookie.get()).collect();
    assert_eq!(cookies, [6, 7, 8]);
    assert!(done.iter().all(|c| status_of(c) == Some(Status::Ok)));
}

/// i. SA programming errors and wrong-way traffic come back as device
/// errors and are counted; keys are never returned.
#[test]
fn sa_programming_errors_are_reported_and_counted() {
    let mut pic = small_pic(16, 16);
    let (out, inb) = sa_pair_v4(0x1800_0001);
    add_pair(&mut pic.driver, 0, &out, 1, &inb).unwrap();
    let bar = pic.driver.bar().clone();
    let cap = bar.read32(regs::SA_CAPACITY);
    assert_eq!(cap, regs::SA_TABLE_SIZE);
    let c0 = pic.driver.counters();

    let (other, other_in) = sa_pair_v4(0x1800_0002);
    assert_eq!(pic.driver.add_sa(0, &other), dev(DeviceError::SaExists));
    assert_eq!(
        pic.driver.add_sa(5, &inb),
        dev(DeviceError::SaExists),
        "inbound SPI already installed in slot 1"
    );
    assert_eq!(pic.driver.add_sa(cap, &other), dev(DeviceError::BadSaIndex));
    assert_eq!(
        pic.driver.add_sa(u32::MAX - 1, &other),
        dev(DeviceError::BadSaIndex)
    );
    let mut bad_window = other_in.clone();
    bad_window.replay_window = 16;
    assert_eq!(
        pic.driver.add_sa(6, &bad_window),
        dev(DeviceError::BadSaParams)
    );

    let p = inner_v4(1);
    let c = run_one(&mut pic.driver, 1, Request::Encap { sa: 1, packet: &p });
    assert_eq!(
        c.result,
        Err(DeviceError::WrongDirection),
        "encap on inbound"
    );
    let esp = run_one(&mut pic.driver, 2, Request::Encap { sa: 0, packet: &p });
    let esp = ok_bytes(&esp).to_vec();
    let c = run_one(
        &mut pic.driver,
        3,
        Request::Decap {
            sa: Some(0),
            packet: &esp,
        },
    );
    assert_eq!(
        c.result,
        Err(DeviceError::WrongDirection),
        "decap on outbound"
    );
    let c = run_one(
        &mut pic.driver,
        4,
        Request::Decap {
            sa: Some(9),
            packet: &esp,
        },
    );
    assert_eq!(c.result, Err(DeviceError::UnknownSa), "empty slot");
    pic.driver.delete_sa(1).unwrap();
    let c = run_one(
        &mut pic.driver,
        5,
        Request::Decap {
            sa: None,
            packet: &esp,
        },
    );
    assert_eq!(
        c.result,
        Err(DeviceError::UnknownSa),
        "no inbound SA with the SPI"
    );
    pic.driver.submit_raw(6, 0x77, 0, &[]).unwrap();
    let mut got = Vec::new();
    for _ in 0..500 {
        got.extend(pic.driver.wait(Duration::from_millis(10)).unwrap());
        if !got.is_empty() {
            break;
        }
    }
    let got = by_cookie(got, [6]).unwrap();
    assert_eq!(got[&6].result, Err(DeviceError::BadOpcode));
    assert_eq!(pic.driver.query_sa(1), dev(DeviceError::UnknownSa));
    assert_eq!(pic.driver.query_sa(cap), dev(DeviceError::BadSaIndex));
    assert_eq!(pic.driver.delete_sa(1), dev(DeviceError::UnknownSa));

    let c = pic.driver.counters();
    assert_eq!(
        c.bad_sa - c0.bad_sa,
        2 + 3 + 1 + 2,
        "SaExists x2, BadSaIndex x3 (two adds, one query), BadSaParams, WrongDirection x2"
    );
    assert_eq!(c.unknown_sa - c0.unknown_sa, 2 + 2);
    assert_eq!(c.bad_opcode - c0.bad_opcode, 1);
    assert_eq!(c.encap_packets - c0.encap_packets, 1);
    assert_eq!(c.decap_packets - c0.decap_packets, 0);

    // What the driver can learn about an SA: this destructuring is
    // exhaustive, so a key field added to SaInfo would not compile here.
    let SaInfo {
        spi,
        direction,
        state,
        packets,
        bytes,
        auth_failures,
        replay_drops,
        malformed,
        seq,
    } = pic.driver.query_sa(0).unwrap();
    assert_eq!(
        (spi, direction, state),
        (0x1800_0001, Direction::Outbound, SaState::Active)
    );
    assert_eq!((packets, bytes, seq), (1, p.len() as u64, 1));
    assert_eq!((auth_failures, replay_drops, malformed), (0, 0, 0));
}

/// i. The raw SA stats block SaQuery writes holds counters only: no byte
/// sequence of either key, nothing past its 64 bytes.
#[test]
fn sa_query_never_returns_key_bytes() {
    let mut m = MockDriver::new(MOCK_MEM, 8, 8).unwrap();
    let enc: [u8; 16] = std::array::from_fn(|i| 0xA0 + i as u8);
    let auth: [u8; 20] = std::array::from_fn(|i| 0xC0 + i as u8);
    for (slot, dir) in [(3, desc::DIR_OUTBOUND), (4, desc::DIR_INBOUND)] {
        let c = m
            .sa_add(slot, &sa_block(0x1900_0001, dir, &enc, &auth), 0, 1)
            .unwrap();
        assert_eq!(status_of(&c), Some(Status::Ok));
        assert_eq!((c.spi.get(), c.sa_index.get()), (0x1900_0001, slot));

        let dst = m.buf(1);
        m.write(dst, &[0xEE; 256]).unwrap();
        let query = Opcode::SaQuery as u8;
        let c = m
            .run_one(&descriptor(query, slot, 0, 0, dst, 63, 2))
            .unwrap();
        assert_eq!(status_of(&c), Some(Status::DstTooSmall));
        assert_eq!(m.read(dst, 256).unwrap(), [0xEE; 256], "nothing written");
        let c = m
            .run_one(&descriptor(query, slot, 0, 0, dst, 256, 3))
            .unwrap();
        assert_eq!(status_of(&c), Some(Status::Ok));
        assert_eq!(c.result_len.get() as usize, SA_STATS_SIZE);
        let raw = m.read(dst, 256).unwrap();
        assert!(
            raw[SA_STATS_SIZE..].iter().all(|&b| b == 0xEE),
            "wrote past 64 bytes"
        );
        let stats = SaStats::read_from_bytes(&raw[..SA_STATS_SIZE]).unwrap();
        assert_eq!(stats.spi.get(), 0x1900_0001);
        assert_eq!(stats.direction, dir);
        assert_eq!(stats.state, desc::SA_STATE_ACTIVE);
        assert_eq!(
            (stats.cipher, stats.integ),
            (desc::CIPHER_AES128_CBC, desc::INTEG_HMAC_SHA1_96)
        );
        assert_eq!(
            (stats.packets.get(), stats.bytes.get(), stats.reserved.get()),
            (0, 0, 0)
        );
        for key in [&enc[..], &auth[..]] {
            for w in key.windows(3) {
                assert!(
                    !raw.windows(3).any(|r| r == w),
                    "slot {slot}: key bytes {w:02x?} in the stats block {raw:02x?}"
                );
            }
        }
    }
    assert_eq!(m.counter(regs::CNT_DST_TOO_SMALL), 2);
}

/// i. An unknown opcode on the raw ring: BadOpcode, counted, cookie echoed.
#[test]
fn unknown_opcodes_complete_with_bad_opcode() {
    let mut m = MockDriver::new(MOCK_MEM, 8, 8).unwrap();
    let descs: Vec<_> = [6u8, 0x77, 0xFF]
        .iter()
        .enumerate()
        .map(|(i, &op)| descriptor(op, 0, 0, 0, 0, 0, 0xABC0 + i as u64))
        .collect();
    let done = m.run(&descs).unwrap();
    for (d, c) in descs.iter().zip(&done) {
        assert_eq!(c.cookie, d.cookie);
        assert_eq!(status_of(c), Some(Status::BadOpcode));
    }
    assert_eq!(m.counter(regs::CNT_BAD_OPCODE), 3);
    assert_eq!(m.counter(regs::CNT_DESCRIPTORS), 3);
}

/// j. NAT-T (UDP 4500) over IPv4, IPv6 tunnel endpoints, and NAT-T over
/// IPv6: the outer headers are what the SA says and decap gives back the
/// inner packet (IPv4 and IPv6 inner).
#[test]
fn nat_t_and_ipv6_tunnels_round_trip() {
    let mut pic = small_pic(16, 16);
    let (a4, b4) = (IpAddr::V4(GW_A), IpAddr::V4(GW_B));
    let (a6, b6) = (IpAddr::V6(GW_A6), IpAddr::V6(GW_B6));
    // (spi, src, dst, udp)
    let tunnels = [
        (0x1a00_0001u32, a4, b4, true),
        (0x1a00_0002, a6, b6, false),
        (0x1a00_0003, a6, b6, true),
    ];
    let inner = [inner_v4(7), inner_v6(8)];
    for (k, &(spi, src, dst, udp)) in tunnels.iter().enumerate() {
        let mut out = sa_spec(spi, Direction::Outbound, src, dst);
        let mut inb = sa_spec(spi, Direction::Inbound, src, dst);
        if udp {
            out.udp_encap = Some((4500, 4500));
            inb.udp_encap = Some((4500, 4500));
        }
        let (os, is) = (2 * k as u32, 2 * k as u32 + 1);
        add_pair(&mut pic.driver, os, &out, is, &inb).unwrap();
        let base = 100 * k as u64;
        let enc = by_cookie(
            run_requests(&mut pic.driver, &encap_requests(os, base, &inner)).unwrap(),
            base..base + 2,
        )
        .unwrap();
        let outer: Vec<Vec<u8>> = enc.values().map(|c| ok_bytes(c).to_vec()).collect();
        for o in &outer {
            let esp_at = match (src, udp) {
                (IpAddr::V4(s), true) => {
                    assert_eq!((o[0], o[9]), (0x45, 17), "IPv4 carrying UDP");
                    assert_eq!(usize::from(be16(o, 2)), o.len());
                    assert_eq!(&o[12..16], &s.octets());
                    assert_eq!(&o[16..20], &GW_B.octets());
                    assert_eq!((be16(o, 20), be16(o, 22)), (4500, 4500));
                    assert_eq!(usize::from(be16(o, 24)), o.len() - 20, "UDP length");
                    28
                }
                (IpAddr::V6(s), udp) => {
                    assert_eq!(o[0] >> 4, 6, "outer IPv6");
                    assert_eq!(o[6], if udp { 17 } else { 50 });
                    assert_eq!(usize::from(be16(o, 4)), o.len() - 40, "payload length");
                    assert_eq!(&o[8..24], &s.octets());
                    assert_eq!(&o[24..40], &GW_B6.octets());
                    if udp {
                        assert_eq!((be16(o, 40), be16(o, 42)), (4500, 4500));
                        assert_eq!(usize::from(be16(o, 44)), o.len() - 40);
                        assert_ne!(be16(o, 46), 0, "UDP checksum is mandatory over IPv6");
                        48
                    } else {
                        40
                    }
                }
                _ => unreachable!(),
            };
            assert_eq!(be32(o, esp_at), spi, "SPI follows the outer headers");
        }
        let dec = by_cookie(
            run_requests(&mut pic.driver, &decap_requests(None, base + 50, &outer)).unwrap(),
            base + 50..base + 52,
        )
        .unwrap();
        for (i, c) in dec.values().enumerate() {
            assert_eq!(ok_bytes(c), &inner[i][..], "tunnel {k}, inner {i}");
            assert_eq!((c.sa_index, c.spi), (is, spi));
        }
    }
    let c = pic.driver.counters();
    assert_eq!((c.encap_packets, c.decap_packets), (6, 6));
}

/// d. After `Driver::reset` returns, the NOP fence of the driver's bring-up
/// has gone through the card: it is counted before its completion is
/// published, and the card is running.
#[test]
fn driver_reset_fence_round_trips_through_the_card() {
    let mut pic = small_pic(8, 8);
    let bar = pic.driver.bar().clone();
    for round in 0..5 {
        // Move CPL_TAIL away from 0 before the reset.
        let nops: Vec<(u64, Request<'_>)> = (0..5).map(|i| (i, Request::Nop)).collect();
        by_cookie(run_requests(&mut pic.driver, &nops).unwrap(), 0..5).unwrap();
        assert_ne!(bar.read32(regs::CPL_TAIL), 0);
        assert!(pic.driver.reset().unwrap().is_empty());
        assert_eq!(
            bar.read64(regs::CNT_DESCRIPTORS),
            1,
            "round {round}: reset() returned before the card ran the bring-up NOP"
        );
        assert_ne!(bar.read32(regs::STATUS) & regs::status::RUNNING, 0);
    }
}

/// Disables the card, moves both rings to one of two places (by `round`)
/// and enables it again; `wait_disabled` first waits for STATUS.RUNNING to
/// drop. Fails unless the next NOP completes in the new rings.
fn move_rings(m: &mut MockDriver, round: u64, wait_disabled: bool) -> Result<(), String> {
    let (cmd, cpl) = if round.is_multiple_of(2) {
        (m.buf(16), m.buf(17))
    } else {
        (m.buf(18), m.buf(19))
    };
    m.bar.write32(regs::CTRL, 0);
    if wait_disabled {
        let bar = m.bar.clone();
        wait_until("STATUS.RUNNING to drop", || {
            bar.read32(regs::STATUS) & regs::status::RUNNING == 0
        })?;
    }
    m.cmd_base = cmd;
    m.cpl_base = cpl;
    m.bring_up()?;
    let c = m.run_one(&nop(100 + round))?;
    if (c.cookie.get(), status_of(&c)) == (100 + round, Some(Status::Ok)) {
        Ok(())
    } else {
        Err(format!(
            "round {round}: completion in the new ring is {c:?}"
        ))
    }
}

/// Disabling (and waiting for STATUS.RUNNING to drop), moving the rings
/// and enabling again latches the new ring registers.
#[test]
fn re_enabling_latches_new_ring_registers() {
    let mut m = MockDriver::new(MOCK_MEM, 8, 8).unwrap();
    assert_eq!(status_of(&m.run_one(&nop(1)).unwrap()), Some(Status::Ok));
    for round in 0..10 {
        move_rings(&mut m, round, true).unwrap();
    }
}

/// The same without waiting for the engine to notice the disable:
/// "Enabling validates and latches the ring registers" holds for every
/// ENABLE write, however fast the host is.
#[test]

fn re_enabling_at_once_latches_new_ring_registers() {
    let mut m = MockDriver::new(MOCK_MEM, 8, 8).unwrap();
    assert_eq!(status_of(&m.run_one(&nop(1)).unwrap()), Some(Status::Ok));
    for round in 0..20 {
        move_rings(&mut m, round, false).unwrap();
    }
}

/// Every packet gets a fresh random IV (RFC 3602: CBC IVs must be
/// unpredictable), even for the same inner packet, and all of them decap.
#[test]
fn every_packet_gets_a_fresh_random_iv() {
    let mut pic = small_pic(64, 64);
    let (out, inb) = sa_pair_v4(0x1000_00a1);
    add_pair(&mut pic.driver, 0, &out, 1, &inb).unwrap();
    let same = inner_v4(1);
    let inner: Vec<Vec<u8>> = (0..32).map(|_| same.clone()).collect();
    let done = by_cookie(
        run_requests(&mut pic.driver, &encap_requests(0, 0, &inner)).unwrap(),
        0..32,
    )
    .unwrap();
    // Outer IPv4 (20) + SPI and sequence number (8), then the 16-byte IV.
    let ivs: std::collections::BTreeSet<Vec<u8>> = done
        .values()
        .map(|c| ok_bytes(c)[28..44].to_vec())
        .collect();
    assert_eq!(ivs.len(), 32, "IVs repeat");
    assert!(!ivs.contains(&vec![0u8; 16]));
    let outer: Vec<Vec<u8>> = (0..32u64).map(|k| ok_bytes(&done[&k]).to_vec()).collect();
    let decap = decap_requests(Some(1), 100, &outer);
    let back = by_cookie(run_requests(&mut pic.driver, &decap).unwrap(), 100..132).unwrap();
    assert!(back.values().all(|c| ok_bytes(c) == &same[..]));
}

/// What one crypto-thread count made of the mixed workload below: per
/// request, its status and (for successes) sequence number and, for
/// decapsulation, the inner packet.
type Outcomes = Vec<(Result<(), DeviceError>, u32, Vec<u8>)>;

fn mixed_workload(crypto_threads: usize) -> Outcomes {
    let mut pic = small_pic_threads(256, 256, crypto_threads);
    // Three SA pairs: outbound in slots 0..3, inbound in 10..13.
    for k in 0..3u32 {
        let (out, inb) = sa_pair_v4(0x2100_0000 + k);
        add_pair(&mut pic.driver, k, &out, 10 + k, &inb).unwrap();
    }
    // 900 packets of varying sizes, round robin over the SAs in runs of
    // 1..=7 so lots hold several SAs and runs cross lot boundaries.
    let inner: Vec<Vec<u8>> = (0..900u16)
        .map(|i| inner_v4_len(i, 28 + (i as usize * 37) % 1400))
        .collect();
    let mut sa_of = Vec::new();
    let (mut sa, mut left) = (0u32, 1usize);
    for i in 0..inner.len() {
        if left == 0 {
            sa = (sa + 1) % 3;
            left = 1 + i % 7;
        }
        left -= 1;
        sa_of.push(sa);
    }
    let reqs: Vec<(u64, Request<'_>)> = inner
        .iter()
        .zip(&sa_of)
        .enumerate()
        .map(|(i, (p, &sa))| (i as u64, Request::Encap { sa, packet: p }))
        .collect();
    let enc = by_cookie(run_requests(&mut pic.driver, &reqs).unwrap(), 0..900).unwrap();
    let mut outcomes = Outcomes::new();
    let mut next_seq = [1u32; 3];
    let mut outer = Vec::new();
    for (i, c) in &enc {
        let sa = sa_of[*i as usize] as usize;
        assert_eq!(
            c.seq, next_seq[sa],
            "packet {i} on SA {sa}: sequence numbers follow ring order"
        );
        next_seq[sa] += 1;
        outcomes.push((
            c.result.as_ref().map(|_| ()).map_err(|e| *e),
            c.seq,
            Vec::new(),
        ));
        outer.push(ok_bytes(c).to_vec());
    }
    // Decapsulate by SPI, with every 50th packet forged and every 40th
    // sent twice in a row (the copy is a replay within the same lot).
    let mut packets: Vec<Vec<u8>> = Vec::new();
    for (i, p) in outer.iter().enumerate() {
        let mut p = p.clone();
        if i % 50 == 49 {
            *p.last_mut().unwrap() ^= 0x80;
        }
        packets.push(p.clone());
        if i % 40 == 39 {
            packets.push(p);
        }
    }
    let n = packets.len() as u64;
    let dec = by_cookie(
        run_requests(&mut pic.driver, &decap_requests(None, 10_000, &packets)).unwrap(),
        10_000..10_000 + n,
    )
    .unwrap();
    for c in dec.values() {
        let inner = c.result.as_ref().map(|b| b.to_vec()).unwrap_or_default();
        outcomes.push((c.result.as_ref().map(|_| ()).map_err(|e| *e), c.seq, inner));
    }
    outcomes
}

#[test]
fn crypto_workers_keep_ring_order_sequence_numbers_and_anti_replay() {
    let one = mixed_workload(1);
    // Sanity of the single-threaded reference: forged packets fail
    // authentication, the repeated ones are replays, the rest decapsulate.
    let decaps = &one[900..];
    let auth = decaps
        .iter()
        .filter(|o| o.0 == Err(DeviceError::AuthFailed))
        .count();
    let replays = decaps
        .iter()
        .filter(|o| o.0 == Err(DeviceError::Replay))
        .count();
    // 18 forged, 22 repeated; 4 of the repeated ones are forged (twice).
    assert_eq!(auth, 18 + 4, "one forged packet in 50");
    assert_eq!(replays, 22 - 4, "one repeated packet in 40");
    assert_eq!(decaps.iter().filter(|o| o.0.is_ok()).count(), 900 - 18);
    for threads in [2, 3] {
        let many = mixed_workload(threads);
        assert_eq!(many.len(), one.len());
        for (k, (a, b)) in one.iter().zip(&many).enumerate() {
            assert_eq!(a, b, "request {k} with {threads} crypto threads");
        }
    }
}

#[test]
fn injected_dma_errors_fail_the_next_transforms_and_change_nothing_else() {
    let mut pic = small_pic(16, 16);
    let (out, inb) = sa_pair_v4(0x1800_0001);
    add_pair(&mut pic.driver, 0, &out, 1, &inb).unwrap();
    let inner: Vec<Vec<u8>> = (1..=9).map(inner_v4).collect();
    let bar = pic.driver.bar().clone();
    // Three packets through, then three injected errors, then three more.
    let first = by_cookie(
        run_requests(&mut pic.driver, &encap_requests(0, 1, &inner[..3])).unwrap(),
        1..4,
    )
    .unwrap();
    assert!(first.values().all(|c| c.result.is_ok()));
    bar.write32(regs::ERR_INJECT, 3);
    assert_eq!(bar.read32(regs::ERR_INJECT), 3);
    let done = by_cookie(
        run_requests(&mut pic.driver, &encap_requests(0, 4, &inner[3..])).unwrap(),
        4..10,
    )
    .unwrap();
    let results: Vec<_> = done
        .values()
        .map(|c| (c.result.as_ref().err().copied(), c.seq))
        .collect();
    assert_eq!(
        results,
        vec![
            (Some(DeviceError::DmaFault), 0),
            (Some(DeviceError::DmaFault), 0),
            (Some(DeviceError::DmaFault), 0),
            // The failed ones took no sequence number.
            (None, 4),
            (None, 5),
            (None, 6),
        ]
    );
    assert_eq!(bar.read32(regs::ERR_INJECT), 0, "counted down");
    assert_eq!(bar.read32(regs::FAULT_CODE), FaultCode::DmaRead as u32);
    assert_eq!(pic.driver.counters().dma_faults, 3);
    // The card is not stopped, and the packets around the errors open.
    assert_eq!(bar.read32(regs::STATUS) & regs::status::FATAL, 0);
    let outer: Vec<Vec<u8>> = first
        .values()
        .chain(done.values().skip(3))
        .map(|c| ok_bytes(c).to_vec())
        .collect();
    let back = by_cookie(
        run_requests(&mut pic.driver, &decap_requests(Some(1), 100, &outer)).unwrap(),
        100..106,
    )
    .unwrap();
    let expect: Vec<&Vec<u8>> = inner[..3].iter().chain(&inner[6..]).collect();
    for (c, want) in back.values().zip(expect) {
        assert_eq!(ok_bytes(c), &want[..]);
    }
}
