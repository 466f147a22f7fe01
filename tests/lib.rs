//! Shared helpers for the scenario tests.
//!
//! - SA specifications, inner test packets and a small-ring [`Pic`] for the
//!   scenarios that go through the host driver ([`small_pic`],
//!   [`run_requests`], [`wait_events`]).
//! - [`MockDriver`]: a raw "mock driver" that owns its own host memory and
//!   card, programs the ring registers itself and writes arbitrary
//!   [`Descriptor`]s, for what the safe driver never produces (buffers
//!   outside host memory, bad ring indices, raw SA stats blocks). In the
//!   spirit of rust-vmm virtio-queue's `MockSplitQueue`.
//!
//! Every wait here is bounded (a number of short polls or channel receives
//! with a timeout); nothing sleeps for a fixed time to let the card "catch
//! up".

// Test support code: failing loudly is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::Receiver;
use espic::Card;
use espic_driver::{
    CardEvent, Cipher, Completed, Config, Direction, Driver, Integrity, Lifetimes, Request, SaSpec,
};
use espic_hw::desc::{self, COMPLETION_SIZE, Completion, DESCRIPTOR_SIZE, Descriptor, SaBlock};
use espic_hw::regs::{self, ctrl};
use espic_hw::{HostMemory, Interrupt, Mmio, Opcode, Status};
use mtsim::pic::{DMA_WINDOW_BASE, Pic};
use vm_memory::{Bytes as _, GuestAddress};
use zerocopy::{FromZeros, IntoBytes};

/// Polls of [`wait_until`] (1 ms apart at most): about 5 s in all.
pub const POLL_STEPS: u32 = 5000;
/// Longest silence a completion wait tolerates, in 10 ms receives (5 s).
pub const QUIET_STEPS: u32 = 500;

/// Tunnel endpoint of gateway A (TEST-NET-1).
pub const GW_A: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
/// Tunnel endpoint of gateway B (TEST-NET-1).
pub const GW_B: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
/// IPv6 tunnel endpoint of gateway A (documentation prefix).
pub const GW_A6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0xa);
/// IPv6 tunnel endpoint of gateway B (documentation prefix).
pub const GW_B6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0xb);

/// Polls `cond` until it holds, at most [`POLL_STEPS`] times 1 ms.
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) -> Result<(), String> {
    for _ in 0..POLL_STEPS {
        if cond() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    if cond() {
        Ok(())
    } else {
        Err(format!("timed out waiting for {what}"))
    }
}

/// Deterministic test keys for `seed`: AES-128 and HMAC-SHA1 lengths.
pub fn test_keys(seed: u8) -> (Vec<u8>, Vec<u8>) {
    let enc = (0..16u8)
        .map(|i| seed.wrapping_mul(31).wrapping_add(i.wrapping_mul(7)) | 1)
        .collect();
    let auth = (0..20u8)
        .map(|i| seed.wrapping_mul(17).wrapping_add(i.wrapping_mul(13)) | 0x80)
        .collect();
    (enc, auth)
}

/// An AES-128-CBC / HMAC-SHA1-96 SA between `src` and `dst` (outer header
/// of the packets it carries), with keys derived from the SPI so that an
/// outbound and an inbound spec with the same SPI form a working pair.
/// Anti-replay window 64, no lifetimes, no UDP encapsulation.
pub fn sa_spec(spi: u32, direction: Direction, src: IpAddr, dst: IpAddr) -> SaSpec {
    let (enc_key, auth_key) = test_keys(spi as u8);
    SaSpec {
        spi,
        direction,
        cipher: Cipher::Aes128Cbc,
        enc_key,
        integrity: Integrity::HmacSha1_96,
        auth_key,
        tunnel_src: src,
        tunnel_dst: dst,
        udp_encap: None,
        replay_window: 64,
        lifetimes: Lifetimes::default(),
        initial_seq: 0,
    }
}

/// The outbound and inbound halves of one IPv4 tunnel SA (A -> B).
pub fn sa_pair_v4(spi: u32) -> (SaSpec, SaSpec) {
    let (a, b) = (IpAddr::V4(GW_A), IpAddr::V4(GW_B));
    (
        sa_spec(spi, Direction::Outbound, a, b),
        sa_spec(spi, Direction::Inbound, a, b),
    )
}

/// Programs `out` into slot `out_slot` and `inb` into slot `in_slot`.
pub fn add_pair(
    driver: &mut Driver,
    out_slot: u32,
    out: &SaSpec,
    in_slot: u32,
    inb: &SaSpec,
) -> Result<(), String> {
    driver
        .add_sa(out_slot, out)
        .map_err(|e| format!("add outbound SA {out_slot}: {e}"))?;
    driver
        .add_sa(in_slot, inb)
        .map_err(|e| format!("add inbound SA {in_slot}: {e}"))
}

/// An inner IPv4 ICMP echo request numbered `i`, of a length that varies
/// with `i`.
pub fn inner_v4(i: u16) -> Vec<u8> {
    let payload = format!("mtsim card scenario {i:05} ").repeat(usize::from(i % 4) + 1);
    mtsim::traffic::icmp_echo_v4(
        Ipv4Addr::new(198, 51, 100, 1),
        Ipv4Addr::new(203, 0, 113, 1),
        i,
        i,
        payload.as_bytes(),
    )
}

/// An inner IPv4 ICMP echo request numbered `i` of exactly `len` bytes
/// (`len` >= 28).
pub fn inner_v4_len(i: u16, len: usize) -> Vec<u8> {
    let payload = vec![(i as u8) | 0x40; len.saturating_sub(28)];
    mtsim::traffic::icmp_echo_v4(
        Ipv4Addr::new(198, 51, 100, 1),
        Ipv4Addr::new(203, 0, 113, 1),
        i,
        i,
        &payload,
    )
}

/// An inner IPv6 ICMPv6 echo request numbered `i`.
pub fn inner_v6(i: u16) -> Vec<u8> {
    let payload = format!("mtsim v6 scenario {i:05} ").repeat(usize::from(i % 3) + 1);
    mtsim::traffic::icmp_echo_v6(
        Ipv6Addr::new(0x2001, 0xdb8, 0xa, 0, 0, 0, 0, 1),
        Ipv6Addr::new(0x2001, 0xdb8, 0xb, 0, 0, 0, 0, 1),
        1,
        i,
        payload.as_bytes(),
    )
}

/// A driver configuration with small rings (`cmd_ring`, `cpl_ring`
/// entries), 2 KiB buffers and the given batch size.
pub fn small_config(cmd_ring: u32, cpl_ring: u32, batch_max: u32) -> Config {
    let mut cfg = Config {
        cmd_ring,
        cpl_ring,
        buf_size: 2048,
        batch_max,
        ..Config::new(DMA_WINDOW_BASE)
    };
    cfg.window_len = cfg.window_needed();
    cfg
}

/// Powers on a PIC whose driver uses [`small_config`] (batch size 64).
pub fn small_pic(cmd_ring: u32, cpl_ring: u32) -> Pic {
    small_pic_threads(cmd_ring, cpl_ring, 1)
}

/// As [`small_pic`], with the card's crypto on `crypto_threads` threads.
pub fn small_pic_threads(cmd_ring: u32, cpl_ring: u32, crypto_threads: usize) -> Pic {
    let cfg = small_config(cmd_ring, cpl_ring, 64);
    Pic::power_on_with_threads(DMA_WINDOW_BASE + cfg.window_needed(), cfg, crypto_threads)
        .unwrap_or_else(|e| panic!("power on a PIC with rings {cmd_ring}/{cpl_ring}: {e}"))
}

/// Submits every request (as many per doorbell as the ring takes) and
/// reaps until as many completions came back as requests were given.
/// Returns them in arrival order, unsorted and unfiltered, so that the
/// caller can check that every cookie came back exactly once.
pub fn run_requests(
    driver: &mut Driver,
    requests: &[(u64, Request<'_>)],
) -> Result<Vec<Completed>, String> {
    let stall = Duration::from_millis(10) * QUIET_STEPS;
    driver
        .run_all(requests, stall)
        .map_err(|e| format!("after submitting {} requests: {e}", requests.len()))
}

/// Indexes completions by cookie, failing if a cookie came back twice or
/// one of `expected` is missing or one not in `expected` showed up.
pub fn by_cookie(
    done: Vec<Completed>,
    expected: impl IntoIterator<Item = u64>,
) -> Result<BTreeMap<u64, Completed>, String> {
    let mut map = BTreeMap::new();
    for c in done {
        let cookie = c.cookie;
        if map.insert(cookie, c).is_some() {
            return Err(format!("cookie {cookie} completed twice"));
        }
    }
    let mut want: Vec<u64> = expected.into_iter().collect();
    want.sort_unstable();
    let got: Vec<u64> = map.keys().copied().collect();
    if got != want {
        return Err(format!("cookies completed {got:?}, expected {want:?}"));
    }
    Ok(map)
}

/// Handles interrupts (when `INT_STATUS` is non-zero) and collects the
/// driver's card events until `done` holds for what was collected; returns
/// everything collected. Bounded by [`POLL_STEPS`].
pub fn wait_events(
    driver: &mut Driver,
    what: &str,
    mut done: impl FnMut(&[CardEvent]) -> bool,
) -> Result<Vec<CardEvent>, String> {
    let mut events = driver.take_events();
    for _ in 0..POLL_STEPS {
        if done(&events) {
            return Ok(events);
        }
        if driver.bar().read32(regs::INT_STATUS) != 0 {
            driver.handle_interrupt();
        } else {
            std::thread::sleep(Duration::from_millis(1));
        }
        events.extend(driver.take_events());
    }
    if done(&events) {
        Ok(events)
    } else {
        Err(format!("timed out waiting for {what}; got {events:?}"))
    }
}

/// The status of a raw completion record (`None` for an undefined code).
pub fn status_of(c: &Completion) -> Option<Status> {
    Status::from_raw(c.status.get())
}

/// Builds a raw command descriptor.
pub fn descriptor(
    opcode: u8,
    sa_index: u32,
    src_addr: u64,
    src_len: u32,
    dst_addr: u64,
    dst_len: u32,
    cookie: u64,
) -> Descriptor {
    Descriptor {
        opcode,
        sa_index: sa_index.into(),
        src_addr: src_addr.into(),
        dst_addr: dst_addr.into(),
        src_len: src_len.into(),
        dst_len: dst_len.into(),
        cookie: cookie.into(),
        ..Descriptor::new_zeroed()
    }
}

/// A raw NOP descriptor with `cookie`.
pub fn nop(cookie: u64) -> Descriptor {
    descriptor(Opcode::Nop as u8, 0, 0, 0, 0, 0, cookie)
}

/// A raw IPv4 tunnel SA block (A -> B, AES-128-CBC, HMAC-SHA1-96, window
/// 64) with the given keys.
pub fn sa_block(spi: u32, direction: u8, enc_key: &[u8; 16], auth_key: &[u8; 20]) -> SaBlock {
    let mut b = SaBlock::new_zeroed();
    b.spi = spi.into();
    b.direction = direction;
    b.cipher = desc::CIPHER_AES128_CBC;
    b.integ = desc::INTEG_HMAC_SHA1_96;
    b.replay_window = 64.into();
    b.key_lens = [16, 20, 0, 0];
    b.tunnel_src[..4].copy_from_slice(&GW_A.octets());
    b.tunnel_dst[..4].copy_from_slice(&GW_B.octets());
    b.enc_key[..16].copy_from_slice(enc_key);
    b.auth_key[..20].copy_from_slice(auth_key);
    b
}

/// A raw host side for one card: its own memory, card, rings and
/// interrupt line, with no safety net. Every interrupt cause is unmasked
/// after [`MockDriver::bring_up`]; received interrupt events are kept in
/// [`MockDriver::events`].
pub struct MockDriver {
    /// The card (dropped first: stops the engine thread).
    pub card: Card,
    /// The card's register window.
    pub bar: Arc<dyn Mmio>,
    /// Host memory shared with the card.
    pub mem: Arc<HostMemory>,
    /// Size of host memory in bytes (it starts at bus address 0).
    pub mem_size: u64,
    /// The card's interrupt line.
    pub irq: Receiver<Interrupt>,
    /// Interrupt events received so far and not yet consumed by
    /// [`MockDriver::wait_irq`].
    pub events: Vec<Interrupt>,
    /// Command ring bus address.
    pub cmd_base: u64,
    /// Command ring entries.
    pub cmd_size: u32,
    /// Completion ring bus address.
    pub cpl_base: u64,
    /// Completion ring entries.
    pub cpl_size: u32,
    /// First byte of host memory after the rings, free for buffers.
    pub data_base: u64,
    cmd_tail: u32,
    cpl_head: u32,
    outstanding: u32,
}

impl MockDriver {
    /// Powers on a card with `mem_size` bytes of host memory (from bus
    /// address 0), places a command ring of `cmd_size` and a completion
    /// ring of `cpl_size` entries at 0x1000 and enables the card.
    pub fn new(mem_size: usize, cmd_size: u32, cpl_size: u32) -> Result<Self, String> {
        let mem = Arc::new(
            HostMemory::from_ranges(&[(GuestAddress(0), mem_size)])
                .map_err(|e| format!("map {mem_size} bytes: {e}"))?,
        );
        let (irq_tx, irq) = crossbeam_channel::unbounded();
        let card = Card::new(Arc::clone(&mem), irq_tx);
        let bar = card.bar();
        let cmd_base = 0x1000u64;
        let cpl_base = cmd_base + u64::from(cmd_size) * DESCRIPTOR_SIZE as u64;
        let rings_end = cpl_base + u64::from(cpl_size) * COMPLETION_SIZE as u64;
        let data_base = rings_end.div_ceil(0x1000) * 0x1000;
        if data_base >= mem_size as u64 {
            return Err("rings do not fit in host memory".into());
        }
        let mut m = MockDriver {
            card,
            bar,
            mem,
            mem_size: mem_size as u64,
            irq,
            events: Vec::new(),
            cmd_base,
            cmd_size,
            cpl_base,
            cpl_size,
            data_base,
            cmd_tail: 0,
            cpl_head: 0,
            outstanding: 0,
        };
        m.bring_up()?;
        Ok(m)
    }

    /// The address of the `i`-th 4 KiB buffer in the data area.
    pub fn buf(&self, i: u64) -> u64 {
        self.data_base + i * 0x1000
    }

    /// Zeroes both rings, programs the ring registers, clears and unmasks
    /// every interrupt cause, sets `CTRL.ENABLE` and waits until
    /// `STATUS.RUNNING` says the card restarted both rings at slot 0. Used
    /// at power-on and after a soft reset.
    pub fn bring_up(&mut self) -> Result<(), String> {
        let cmd_len = self.cmd_size as usize * DESCRIPTOR_SIZE;
        let cpl_len = self.cpl_size as usize * COMPLETION_SIZE;
        self.write(self.cmd_base, &vec![0u8; cmd_len])?;
        self.write(self.cpl_base, &vec![0u8; cpl_len])?;
        let b = &self.bar;
        b.write32(regs::CMD_BASE_LO, self.cmd_base as u32);
        b.write32(regs::CMD_BASE_HI, (self.cmd_base >> 32) as u32);
        b.write32(regs::CMD_SIZE, self.cmd_size);
        b.write32(regs::CMD_TAIL, 0);
        b.write32(regs::CPL_BASE_LO, self.cpl_base as u32);
        b.write32(regs::CPL_BASE_HI, (self.cpl_base >> 32) as u32);
        b.write32(regs::CPL_SIZE, self.cpl_size);
        b.write32(regs::CPL_HEAD, 0);
        b.write32(regs::INT_STATUS, regs::int::ALL);
        b.write32(regs::INT_MASK, 0);
        self.cmd_tail = 0;
        self.cpl_head = 0;
        self.outstanding = 0;
        b.write32(regs::CTRL, ctrl::ENABLE);
        // The engine latches the rings and zeroes CMD_HEAD/CPL_TAIL on its
        // own thread; until STATUS.RUNNING shows that it did, CPL_TAIL may
        // still hold its value from before a soft reset.
        let bar = Arc::clone(&self.bar);
        wait_until("STATUS.RUNNING after CTRL.ENABLE", || {
            bar.read32(regs::STATUS) & regs::status::RUNNING != 0
        })
    }

    /// Writes `bytes` to host memory at `addr`.
    pub fn write(&self, addr: u64, bytes: &[u8]) -> Result<(), String> {
        self.mem
            .write_slice(bytes, GuestAddress(addr))
            .map_err(|e| format!("write {} bytes at {addr:#x}: {e}", bytes.len()))
    }

    /// Reads `len` bytes of host memory at `addr`.
    pub fn read(&self, addr: u64, len: usize) -> Result<Vec<u8>, String> {
        let mut v = vec![0u8; len];
        self.mem
            .read_slice(&mut v, GuestAddress(addr))
            .map_err(|e| format!("read {len} bytes at {addr:#x}: {e}"))?;
        Ok(v)
    }

    /// Reads a 32-bit register.
    pub fn reg(&self, offset: u32) -> u32 {
        self.bar.read32(offset)
    }

    /// Reads a 64-bit counter register.
    pub fn counter(&self, offset: u32) -> u64 {
        self.bar.read64(offset)
    }

    /// `FAULT_CODE` and the 64-bit `FAULT_ADDR`.
    pub fn fault(&self) -> (u32, u64) {
        let addr = u64::from(self.reg(regs::FAULT_ADDR_HI)) << 32
            | u64::from(self.reg(regs::FAULT_ADDR_LO));
        (self.reg(regs::FAULT_CODE), addr)
    }

    /// The producer index the mock will write next (not yet doorbelled
    /// descriptors included).
    pub fn cmd_tail(&self) -> u32 {
        self.cmd_tail
    }

    /// Descriptors pushed and not yet reaped.
    pub fn outstanding(&self) -> u32 {
        self.outstanding
    }

    /// Writes `d` into the next command slot without ringing the doorbell.
    /// At most `cmd_size - 1` descriptors may be outstanding.
    pub fn push(&mut self, d: &Descriptor) -> Result<(), String> {
        if self.outstanding + 1 >= self.cmd_size {
            return Err("command ring full".into());
        }
        let at = self.cmd_base + u64::from(self.cmd_tail) * DESCRIPTOR_SIZE as u64;
        self.write(at, d.as_bytes())?;
        self.cmd_tail = (self.cmd_tail + 1) & (self.cmd_size - 1);
        self.outstanding += 1;
        Ok(())
    }

    /// Writes `CMD_TAIL`.
    pub fn doorbell(&self) {
        self.bar.write32(regs::CMD_TAIL, self.cmd_tail);
    }

    /// Reads the completions published so far and frees their slots (one
    /// `CPL_HEAD` write).
    pub fn reap(&mut self) -> Result<Vec<Completion>, String> {
        let tail = self.reg(regs::CPL_TAIL);
        if tail >= self.cpl_size {
            return Err(format!("CPL_TAIL {tail} beyond the ring"));
        }
        let mut out = Vec::new();
        while self.cpl_head != tail {
            let at = self.cpl_base + u64::from(self.cpl_head) * COMPLETION_SIZE as u64;
            let mut c = Completion::new_zeroed();
            self.mem
                .read_slice(c.as_mut_bytes(), GuestAddress(at))
                .map_err(|e| format!("read completion at {at:#x}: {e}"))?;
            out.push(c);
            self.cpl_head = (self.cpl_head + 1) & (self.cpl_size - 1);
        }
        if !out.is_empty() {
            self.bar.write32(regs::CPL_HEAD, self.cpl_head);
            self.outstanding = self.outstanding.saturating_sub(out.len() as u32);
        }
        Ok(out)
    }

    /// Reaps until `n` completions came back, receiving interrupts in
    /// between; fails after [`QUIET_STEPS`] silent 10 ms receives.
    pub fn wait_completions(&mut self, n: usize) -> Result<Vec<Completion>, String> {
        let mut out = Vec::with_capacity(n);
        let mut quiet = 0;
        loop {
            out.extend(self.reap()?);
            if out.len() >= n {
                return Ok(out);
            }
            match self.irq.recv_timeout(Duration::from_millis(10)) {
                Ok(ev) => self.events.push(ev),
                Err(_) => {
                    quiet += 1;
                    if quiet > QUIET_STEPS {
                        return Err(format!(
                            "only {} of {n} completions (STATUS {:#x}, FAULT_CODE {})",
                            out.len(),
                            self.reg(regs::STATUS),
                            self.reg(regs::FAULT_CODE)
                        ));
                    }
                }
            }
        }
    }

    /// Pushes `descs` (as many per doorbell as the ring holds), rings the
    /// doorbell and waits for their completions, returned in ring order.
    pub fn run(&mut self, descs: &[Descriptor]) -> Result<Vec<Completion>, String> {
        if self.outstanding != 0 {
            return Err(format!(
                "{} descriptors still outstanding",
                self.outstanding
            ));
        }
        let mut out = Vec::with_capacity(descs.len());
        for chunk in descs.chunks(self.cmd_size as usize - 1) {
            for d in chunk {
                self.push(d)?;
            }
            self.doorbell();
            out.extend(self.wait_completions(chunk.len())?);
        }
        Ok(out)
    }

    /// Runs one descriptor and returns its completion.
    pub fn run_one(&mut self, d: &Descriptor) -> Result<Completion, String> {
        let mut v = self.run(std::slice::from_ref(d))?;
        match (v.pop(), v.is_empty()) {
            (Some(c), true) => Ok(c),
            _ => Err("expected exactly one completion".into()),
        }
    }

    /// Writes `block` at buffer `buf_index` and runs SA_ADD into `slot`.
    pub fn sa_add(
        &mut self,
        slot: u32,
        block: &SaBlock,
        buf_index: u64,
        cookie: u64,
    ) -> Result<Completion, String> {
        let at = self.buf(buf_index);
        self.write(at, block.as_bytes())?;
        self.run_one(&descriptor(
            Opcode::SaAdd as u8,
            slot,
            at,
            desc::SA_BLOCK_SIZE as u32,
            0,
            0,
            cookie,
        ))
    }

    /// Waits for an interrupt event carrying `cause` (one already received
    /// counts) and removes it from [`MockDriver::events`].
    pub fn wait_irq(&mut self, cause: u32) -> Result<Interrupt, String> {
        for _ in 0..QUIET_STEPS {
            if let Some(i) = self.events.iter().position(|e| e.causes & cause != 0) {
                return Ok(self.events.remove(i));
            }
            if let Ok(ev) = self.irq.recv_timeout(Duration::from_millis(10)) {
                self.events.push(ev);
            }
        }
        Err(format!(
            "no interrupt with cause {cause:#x} (INT_STATUS {:#x}, INT_MASK {:#x})",
            self.reg(regs::INT_STATUS),
            self.reg(regs::INT_MASK)
        ))
    }

    /// Moves every interrupt event already queued on the line into
    /// [`MockDriver::events`], without waiting.
    pub fn drain_irq(&mut self) {
        self.events.extend(self.irq.try_iter());
    }

    /// Writes `CTRL.SOFT_RESET` and waits until `CTRL.SOFT_RESET` reads 0,
    /// collecting interrupt events meanwhile. The rings must be brought up
    /// again with [`MockDriver::bring_up`].
    pub fn soft_reset(&mut self) -> Result<(), String> {
        self.bar.write32(regs::CTRL, ctrl::SOFT_RESET);
        for _ in 0..POLL_STEPS {
            if self.reg(regs::CTRL) & ctrl::SOFT_RESET == 0 {
                return Ok(());
            }
            if let Ok(ev) = self.irq.recv_timeout(Duration::from_millis(1)) {
                self.events.push(ev);
            }
        }
        Err(format!(
            "soft reset did not finish (CTRL {:#x})",
            self.reg(regs::CTRL)
        ))
    }
}

impl std::fmt::Debug for MockDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockDriver")
            .field("cmd_size", &self.cmd_size)
            .field("cpl_size", &self.cpl_size)
            .field("cmd_tail", &self.cmd_tail)
            .field("cpl_head", &self.cpl_head)
            .finish_non_exhaustive()
    }
}
