//! Host driver for the ES PIC.
//!
//! The only code that touches the card's registers and rings from the host
//! side. It lays out the command and completion rings and one pair of packet
//! buffers per command slot in a DMA window of host memory, programs the
//! card, and offers a safe API: add, delete and query SAs, submit batches of
//! packets (one doorbell per batch), reap completions by polling or by
//! waiting for the interrupt, read the counters, reset the card.
//!
//! The driver depends on `espic-hw` only: it talks to whatever implements
//! [`espic_hw::Mmio`] over memory it shares with the card.

pub mod error;
pub mod sa;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use crossbeam_channel::Receiver;
use espic_hw::desc::{
    COMPLETION_SIZE, CPL_F_SA_HARD, CPL_F_SA_SOFT, Completion, DESCRIPTOR_SIZE, Descriptor,
    SA_BLOCK_SIZE, SA_BY_SPI, SA_STATS_SIZE, SaStats,
};
use espic_hw::regs::{self, ctrl, int};
use espic_hw::{FaultCode, HostMemory, Interrupt, Mmio, Opcode, dma_read, dma_write};
use vm_memory::{Bytes as _, GuestAddress, GuestMemory, Permissions};
use zerocopy::{FromBytes, FromZeros, IntoBytes};

pub use error::{DeviceError, DriverError};
pub use sa::{Cipher, Direction, Integrity, Lifetimes, SaInfo, SaSpec, SaState};

/// Programming-model major version this driver speaks.
/// How many times [`Driver::wait_with`] looks at the completion ring
/// before it sleeps on the interrupt (tens of microseconds: about one
/// batch of small packets).
const BUSY_POLL_SPINS: u32 = 4096;

const VERSION_MAJOR: u32 = 1;
/// How long synchronous calls wait for the card, in 1 ms steps.
const SYNC_WAIT_STEPS: u32 = 5000;

/// Where the driver puts its rings and buffers, and how big they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// Bus address of the DMA window the driver owns (4 KiB aligned).
    pub window_base: u64,
    /// Length of the window in bytes.
    pub window_len: u64,
    /// Command ring entries (power of two, 2..=4096).
    pub cmd_ring: u32,
    /// Completion ring entries (power of two, 2..=4096).
    pub cpl_ring: u32,
    /// Bytes of each packet buffer (one source and one destination buffer
    /// per command slot).
    pub buf_size: u32,
    /// Descriptors the card takes per batch (`BATCH_MAX`).
    pub batch_max: u32,
}

impl Config {
    /// A configuration for a window at `base` with default ring and buffer
    /// sizes (256 entries, 4 KiB buffers); [`Config::window_needed`] tells
    /// how much memory it takes.
    pub fn new(base: u64) -> Self {
        let mut c = Config {
            window_base: base,
            window_len: 0,
            cmd_ring: 256,
            cpl_ring: 256,
            buf_size: 4096,
            batch_max: 64,
        };
        c.window_len = c.window_needed();
        c
    }

    /// Bytes of DMA window this configuration needs.
    pub fn window_needed(&self) -> u64 {
        let cmd = u64::from(self.cmd_ring) * DESCRIPTOR_SIZE as u64;
        let cpl = u64::from(self.cpl_ring) * COMPLETION_SIZE as u64;
        cmd + cpl + 2 * u64::from(self.cmd_ring) * u64::from(self.buf_size)
    }
}

/// What a submitted request asks the card to do.
#[derive(Debug, Clone, Copy)]
pub enum Request<'a> {
    /// Encapsulate an inner IP packet with the outbound SA in slot `sa`.
    Encap {
        /// SA slot.
        sa: u32,
        /// Whole inner IPv4/IPv6 packet.
        packet: &'a [u8],
    },
    /// Decapsulate an ESP packet; `sa: None` lets the card find the inbound
    /// SA by the packet's SPI.
    Decap {
        /// SA slot, or `None` for a lookup by SPI.
        sa: Option<u32>,
        /// Whole outer packet as received.
        packet: &'a [u8],
    },
    /// A no-op (fences the ring).
    Nop,
}

/// A lifetime event reported with a completion or an interrupt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LifetimeEvent {
    /// The SA passed its soft lifetime: rekey.
    Soft,
    /// The SA reached its hard lifetime: it refuses further packets.
    Hard,
}

/// A finished request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completed {
    /// The caller's cookie.
    pub cookie: u64,
    /// The output packet, or why the card refused the request.
    pub result: Result<Bytes, DeviceError>,
    /// SA slot used.
    pub sa_index: u32,
    /// SPI of the SA used.
    pub spi: u32,
    /// ESP sequence number sent or received.
    pub seq: u32,
    /// Lifetime event this packet caused.
    pub event: Option<LifetimeEvent>,
}

/// A completion handed out by [`Driver::poll_with`]: [`Completed`] with
/// the output borrowed from the driver instead of copied into a new buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompletedRef<'a> {
    /// The caller's cookie.
    pub cookie: u64,
    /// The output packet, or why the card refused the request.
    pub result: Result<&'a [u8], DeviceError>,
    /// SA slot used.
    pub sa_index: u32,
    /// SPI of the SA used.
    pub spi: u32,
    /// ESP sequence number sent or received.
    pub seq: u32,
    /// Lifetime event this packet caused.
    pub event: Option<LifetimeEvent>,
}

impl CompletedRef<'_> {
    /// An owned copy (allocates the output).
    pub fn to_owned(&self) -> Completed {
        Completed {
            cookie: self.cookie,
            result: self.result.map(Bytes::copy_from_slice),
            sa_index: self.sa_index,
            spi: self.spi,
            seq: self.seq,
            event: self.event,
        }
    }
}

impl Completed {
    /// A borrowed view.
    pub fn borrowed(&self) -> CompletedRef<'_> {
        CompletedRef {
            cookie: self.cookie,
            result: self.result.as_deref().map_err(|e| *e),
            sa_index: self.sa_index,
            spi: self.spi,
            seq: self.seq,
            event: self.event,
        }
    }
}

/// Something the card signalled besides completions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardEvent {
    /// A DMA access fell outside host memory.
    DmaFault {
        /// FAULT_CODE.
        code: Option<FaultCode>,
        /// FAULT_ADDR.
        addr: u64,
    },
    /// The card stopped on a fatal fault.
    Fatal {
        /// FAULT_CODE.
        code: Option<FaultCode>,
        /// FAULT_ADDR.
        addr: u64,
    },
    /// An SA reached a lifetime limit (SA_EVENT names the slot).
    Lifetime {
        /// SA slot.
        sa_index: u32,
        /// Soft or hard.
        event: LifetimeEvent,
    },
    /// The completion ring filled up and the card stalled.
    CompletionRingFull,
    /// A soft reset finished.
    ResetDone,
}

/// The card's counter registers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Packets encapsulated.
    pub encap_packets: u64,
    /// Inner bytes encapsulated.
    pub encap_bytes: u64,
    /// Packets decapsulated.
    pub decap_packets: u64,
    /// Inner bytes decapsulated.
    pub decap_bytes: u64,
    /// AuthFailed completions.
    pub auth_failures: u64,
    /// Replay completions.
    pub replay: u64,
    /// OutsideWindow completions.
    pub outside_window: u64,
    /// UnknownSa completions.
    pub unknown_sa: u64,
    /// BadOpcode completions.
    pub bad_opcode: u64,
    /// DstTooSmall completions.
    pub dst_too_small: u64,
    /// Malformed completions.
    pub malformed: u64,
    /// DmaFault completions.
    pub dma_faults: u64,
    /// LifetimeExpired completions.
    pub lifetime_expired: u64,
    /// SeqOverflow completions.
    pub seq_overflow: u64,
    /// SA programming refusals.
    pub bad_sa: u64,
    /// Aborted completions.
    pub aborted: u64,
    /// Descriptors completed.
    pub descriptors: u64,
    /// Interrupt events sent.
    pub interrupts: u64,
}

/// What occupies a command slot until its completion is reaped.
#[derive(Debug, Clone, Copy)]
struct InFlight {
    cookie: u64,
}

/// The ES PIC host driver.
pub struct Driver {
    bar: Arc<dyn Mmio>,
    mem: Arc<HostMemory>,
    irq: Receiver<Interrupt>,
    cfg: Config,
    cmd_base: u64,
    cpl_base: u64,
    bufs_base: u64,
    cmd_tail: u32,
    cpl_head: u32,
    slots: Vec<Option<InFlight>>,
    /// Slots of `slots` holding a request.
    in_flight: usize,
    /// Where a completion's output is copied out of the DMA window before
    /// it is handed to the caller, reused for every packet.
    scratch: Vec<u8>,
    /// Completions reaped while waiting for a synchronous operation.
    stash: VecDeque<Completed>,
    events: Vec<CardEvent>,
    next_internal: u64,
}

/// Cookies at or above this value are the driver's own (SA programming).
const INTERNAL_COOKIE: u64 = 1 << 63;

impl Driver {
    /// Finds the card behind `bar`, resets it, lays out the rings in the DMA
    /// window and enables it with every interrupt cause unmasked.
    pub fn probe(
        bar: Arc<dyn Mmio>,
        mem: Arc<HostMemory>,
        irq: Receiver<Interrupt>,
        cfg: Config,
    ) -> Result<Self, DriverError> {
        let id = bar.read32(regs::ID);
        if id != regs::ID_VALUE {
            return Err(DriverError::NoCard(id));
        }
        let version = bar.read32(regs::VERSION);
        if version >> 16 != VERSION_MAJOR {
            return Err(DriverError::Version(version));
        }
        let ring_ok =
            |n: u32| (regs::RING_MIN..=regs::RING_MAX).contains(&n) && n.is_power_of_two();
        if !ring_ok(cfg.cmd_ring) || !ring_ok(cfg.cpl_ring) {
            return Err(DriverError::Config(
                "ring sizes must be powers of two from 2 to 4096",
            ));
        }
        if cfg.buf_size < 256 || cfg.buf_size > 65536 {
            return Err(DriverError::Config("buffer size must be 256..=65536 bytes"));
        }
        if !(1..=regs::BATCH_LIMIT).contains(&cfg.batch_max) {
            return Err(DriverError::Config("batch size must be 1..=256"));
        }
        let window_err = |why| DriverError::Window {
            base: cfg.window_base,
            len: cfg.window_len,
            why,
        };
        if !cfg.window_base.is_multiple_of(4096) {
            return Err(window_err("base is not 4 KiB aligned"));
        }
        if cfg.window_len < cfg.window_needed() {
            return Err(window_err("too small for the rings and buffers"));
        }
        let in_memory = usize::try_from(cfg.window_len).ok().is_some_and(|len| {
            mem.check_range(GuestAddress(cfg.window_base), len, Permissions::ReadWrite)
        });
        if !in_memory {
            return Err(window_err("not inside host memory"));
        }
        let cmd_base = cfg.window_base;
        let cpl_base = cmd_base + u64::from(cfg.cmd_ring) * DESCRIPTOR_SIZE as u64;
        let bufs_base = cpl_base + u64::from(cfg.cpl_ring) * COMPLETION_SIZE as u64;
        let mut drv = Driver {
            bar,
            mem,
            irq,
            cfg,
            cmd_base,
            cpl_base,
            bufs_base,
            cmd_tail: 0,
            cpl_head: 0,
            slots: vec![None; cfg.cmd_ring as usize],
            in_flight: 0,
            scratch: vec![0; cfg.buf_size as usize],
            stash: VecDeque::new(),
            events: Vec::new(),
            next_internal: INTERNAL_COOKIE,
        };
        drv.reset_card()?;
        drv.bring_up()?;
        Ok(drv)
    }

    /// The configuration in use.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// The register window (for diagnostics and tests).
    pub fn bar(&self) -> &Arc<dyn Mmio> {
        &self.bar
    }

    /// Writes the ring registers and sets ENABLE.
    fn bring_up(&mut self) -> Result<(), DriverError> {
        let zero_ring = |base: u64, len: usize| -> Result<(), DriverError> {
            self.mem
                .write_slice(&vec![0u8; len], GuestAddress(base))
                .map_err(|_| DriverError::Memory(base))
        };
        zero_ring(self.cmd_base, self.cfg.cmd_ring as usize * DESCRIPTOR_SIZE)?;
        zero_ring(self.cpl_base, self.cfg.cpl_ring as usize * COMPLETION_SIZE)?;
        let b = &self.bar;
        b.write32(regs::CMD_BASE_LO, self.cmd_base as u32);
        b.write32(regs::CMD_BASE_HI, (self.cmd_base >> 32) as u32);
        b.write32(regs::CMD_SIZE, self.cfg.cmd_ring);
        b.write32(regs::CMD_TAIL, 0);
        b.write32(regs::CPL_BASE_LO, self.cpl_base as u32);
        b.write32(regs::CPL_BASE_HI, (self.cpl_base >> 32) as u32);
        b.write32(regs::CPL_SIZE, self.cfg.cpl_ring);
        b.write32(regs::CPL_HEAD, 0);
        b.write32(regs::BATCH_MAX, self.cfg.batch_max);
        b.write32(regs::INT_STATUS, int::ALL);
        b.write32(regs::INT_MASK, 0);
        self.cmd_tail = 0;
        self.cpl_head = 0;
        b.write32(regs::CTRL, ctrl::ENABLE);
        // Fence: a NOP round trip proves the rings work.
        let cookie = self.internal_cookie();
        self.push(cookie, Opcode::Nop, 0, &[], 0)?;
        self.ring_doorbell();
        self.wait_for(cookie).map(|_| ())
    }

    /// Soft-resets the card and waits for it to finish.
    fn reset_card(&mut self) -> Result<(), DriverError> {
        self.bar.write32(regs::CTRL, ctrl::SOFT_RESET);
        for _ in 0..SYNC_WAIT_STEPS {
            if self.bar.read32(regs::CTRL) & ctrl::SOFT_RESET == 0 {
                return Ok(());
            }
            let _ = self.irq.recv_timeout(Duration::from_millis(1));
        }
        Err(DriverError::Timeout("soft reset"))
    }

    /// Soft-resets the card during operation: every request in flight comes
    /// back with [`DeviceError::Aborted`] (from the card's drain or, for
    /// what the card could not complete, from the driver), the SA table is
    /// cleared, and the rings are set up again.
    pub fn reset(&mut self) -> Result<Vec<Completed>, DriverError> {
        self.reset_card()?;
        let mut done: Vec<Completed> = self.stash.drain(..).collect();
        done.extend(self.reap()?);
        self.in_flight = 0;
        for (i, slot) in self.slots.iter_mut().enumerate() {
            if let Some(f) = slot.take() {
                tracing::debug!(slot = i, "espic-driver: request lost in reset");
                done.push(Completed {
                    cookie: f.cookie,
                    result: Err(DeviceError::Aborted),
                    sa_index: 0,
                    spi: 0,
                    seq: 0,
                    event: None,
                });
            }
        }
        done.retain(|c| c.cookie < INTERNAL_COOKIE);
        self.bar.write32(regs::INT_STATUS, int::ALL);
        self.bring_up()?;
        Ok(done)
    }

    /// Sets INT_MASK (a set bit masks that cause).
    pub fn set_interrupt_mask(&self, mask: u32) {
        self.bar.write32(regs::INT_MASK, mask);
    }

    /// Command slots free for [`Driver::submit`].
    pub fn free_slots(&self) -> usize {
        (self.slots.len() - self.in_flight).saturating_sub(1)
    }

    fn slot_buf(&self, slot: u32) -> (u64, u64) {
        let src = self.bufs_base + u64::from(slot) * 2 * u64::from(self.cfg.buf_size);
        (src, src + u64::from(self.cfg.buf_size))
    }

    fn internal_cookie(&mut self) -> u64 {
        self.next_internal = self.next_internal.wrapping_add(1) | INTERNAL_COOKIE;
        self.next_internal
    }

    /// Writes one descriptor at the ring tail (no doorbell).
    fn push(
        &mut self,
        cookie: u64,
        op: Opcode,
        sa: u32,
        input: &[u8],
        out_len: u32,
    ) -> Result<(), DriverError> {
        let slot = self.cmd_tail;
        let next = (slot + 1) & (self.cfg.cmd_ring - 1);
        // One slot stays empty so that a full ring differs from an empty one.
        if self.slots[slot as usize].is_some() || self.slots[next as usize].is_some() {
            return Err(DriverError::RingFull);
        }
        if input.len() > self.cfg.buf_size as usize {
            return Err(DriverError::TooLarge {
                len: input.len(),
                max: self.cfg.buf_size as usize,
            });
        }
        let (src, dst) = self.slot_buf(slot);
        if !dma_write(&self.mem, src, input) {
            return Err(DriverError::Memory(src));
        }
        let d = Descriptor {
            opcode: op as u8,
            sa_index: sa.into(),
            src_addr: src.into(),
            dst_addr: dst.into(),
            src_len: (input.len() as u32).into(),
            dst_len: out_len.into(),
            cookie: u64::from(slot).into(),
            ..Descriptor::new_zeroed()
        };
        let at = self.cmd_base + u64::from(slot) * DESCRIPTOR_SIZE as u64;
        if !dma_write(&self.mem, at, d.as_bytes()) {
            return Err(DriverError::Memory(at));
        }
        self.slots[slot as usize] = Some(InFlight { cookie });
        self.in_flight += 1;
        self.cmd_tail = next;
        Ok(())
    }

    fn ring_doorbell(&self) {
        self.bar.write32(regs::CMD_TAIL, self.cmd_tail);
    }

    /// Queues requests and rings the doorbell once. Returns how many were
    /// queued: fewer than given when the ring fills (back-pressure: reap and
    /// submit the rest). A request that can never be queued (too large) is
    /// an error.
    pub fn submit(&mut self, requests: &[(u64, Request<'_>)]) -> Result<usize, DriverError> {
        let mut queued = 0;
        for &(cookie, req) in requests {
            if cookie >= INTERNAL_COOKIE {
                return Err(DriverError::Config("cookies must be below 2^63"));
            }
            let out = self.cfg.buf_size;
            let r = match req {
                Request::Encap { sa, packet } => self.push(cookie, Opcode::Encap, sa, packet, out),
                Request::Decap { sa, packet } => {
                    self.push(cookie, Opcode::Decap, sa.unwrap_or(SA_BY_SPI), packet, out)
                }
                Request::Nop => self.push(cookie, Opcode::Nop, 0, &[], 0),
            };
            match r {
                Ok(()) => queued += 1,
                Err(DriverError::RingFull) => break,
                Err(e) => {
                    if queued > 0 {
                        self.ring_doorbell();
                    }
                    return Err(e);
                }
            }
        }
        if queued > 0 {
            self.ring_doorbell();
        }
        Ok(queued)
    }

    /// Submits every request (as many per doorbell as the ring takes,
    /// reaping in between) and waits until as many completions came back as
    /// requests were given. Completions are returned in arrival order. Fails
    /// with [`DriverError::Timeout`] if the card completes nothing for
    /// `stall`.
    pub fn run_all(
        &mut self,
        requests: &[(u64, Request<'_>)],
        stall: Duration,
    ) -> Result<Vec<Completed>, DriverError> {
        const STEP: Duration = Duration::from_millis(10);
        let mut done = Vec::with_capacity(requests.len());
        let mut next = 0;
        let mut quiet = Duration::ZERO;
        while done.len() < requests.len() {
            if next < requests.len() {
                next += self.submit(&requests[next..])?;
            }
            let got = self.wait(STEP)?;
            if got.is_empty() {
                quiet += STEP;
                if quiet > stall {
                    return Err(DriverError::Timeout("the card stopped completing requests"));
                }
            } else {
                quiet = Duration::ZERO;
            }
            done.extend(got);
        }
        Ok(done)
    }

    /// Submits a raw descriptor opcode (for diagnostics: lets a caller send
    /// opcodes the safe API does not produce).
    pub fn submit_raw(
        &mut self,
        cookie: u64,
        opcode: u8,
        sa_index: u32,
        input: &[u8],
    ) -> Result<(), DriverError> {
        let slot = self.cmd_tail;
        let op = Opcode::from_raw(opcode).unwrap_or(Opcode::Nop);
        self.push(cookie, op, sa_index, input, self.cfg.buf_size)?;
        // Patch the opcode byte as given (it may be one the card rejects).
        let at = self.cmd_base + u64::from(slot) * DESCRIPTOR_SIZE as u64;
        self.mem
            .write_slice(&[opcode], GuestAddress(at))
            .map_err(|_| DriverError::Memory(at))?;
        self.ring_doorbell();
        Ok(())
    }

    /// Reaps every completion the card has published, without waiting,
    /// handing each to `f` with its output borrowed from the driver (valid
    /// for the call only). Returns how many there were. Allocates nothing:
    /// the data path's way to reap.
    pub fn poll_with(&mut self, mut f: impl FnMut(CompletedRef<'_>)) -> Result<usize, DriverError> {
        self.check_fatal()?;
        let mut n = 0;
        while let Some(c) = self.stash.pop_front() {
            f(c.borrowed());
            n += 1;
        }
        n += self.reap_with(|c| {
            if c.cookie < INTERNAL_COOKIE {
                f(c);
            }
        })?;
        Ok(n)
    }

    /// As [`Driver::wait`], handing completions to `f` as
    /// [`Driver::poll_with`] does.
    pub fn wait_with(
        &mut self,
        timeout: Duration,
        mut f: impl FnMut(CompletedRef<'_>),
    ) -> Result<usize, DriverError> {
        let ready = self.poll_with(&mut f)?;
        if ready > 0 {
            return Ok(ready);
        }
        if self.busy_poll() {
            // Interrupt causes other than completions (SA events, faults)
            // are latched in INT_STATUS; an interrupt sent meanwhile is
            // handled now rather than on the next sleep.
            if self.irq.try_recv().is_ok() {
                self.handle_interrupt();
            }
            return self.poll_with(f);
        }
        if self.irq.recv_timeout(timeout).is_ok() {
            self.handle_interrupt();
        }
        self.poll_with(f)
    }

    /// Watches the completion ring for a while before the caller sleeps on
    /// the interrupt (as NAPI's busy polling does): a completion moments
    /// away then costs neither an interrupt wake-up of this thread nor the
    /// card's thread the system call that wakes it. Returns whether one
    /// arrived. Yields the core now and then, for a card whose threads
    /// share it.
    fn busy_poll(&self) -> bool {
        if self.in_flight == 0 {
            return false;
        }
        for i in 1..=BUSY_POLL_SPINS {
            if self.bar.read32(regs::CPL_TAIL) != self.cpl_head {
                return true;
            }
            if i % 64 == 0 {
                std::thread::yield_now();
            } else {
                std::hint::spin_loop();
            }
        }
        false
    }

    /// Reaps every completion the card has published, without waiting.
    pub fn poll(&mut self) -> Result<Vec<Completed>, DriverError> {
        self.check_fatal()?;
        let mut done: Vec<Completed> = self.stash.drain(..).collect();
        done.extend(
            self.reap()?
                .into_iter()
                .filter(|c| c.cookie < INTERNAL_COOKIE),
        );
        Ok(done)
    }

    /// Waits up to `timeout` for an interrupt if nothing is ready, then
    /// reaps. Handles the interrupt causes (see [`Driver::take_events`]).
    pub fn wait(&mut self, timeout: Duration) -> Result<Vec<Completed>, DriverError> {
        let ready = self.poll()?;
        if !ready.is_empty() {
            return Ok(ready);
        }
        if self.irq.recv_timeout(timeout).is_ok() {
            self.handle_interrupt();
        }
        self.poll()
    }

    /// Reads and clears INT_STATUS and records what it reports.
    pub fn handle_interrupt(&mut self) -> u32 {
        // Drain queued events: one read of INT_STATUS covers them all.
        for _ in self.irq.try_iter() {}
        let status = self.bar.read32(regs::INT_STATUS);
        if status == 0 {
            return 0;
        }
        self.bar.write32(regs::INT_STATUS, status);
        let fault = || {
            let code = FaultCode::from_raw(self.bar.read32(regs::FAULT_CODE));
            let addr = u64::from(self.bar.read32(regs::FAULT_ADDR_HI)) << 32
                | u64::from(self.bar.read32(regs::FAULT_ADDR_LO));
            (code, addr)
        };
        if status & int::DMA_FAULT != 0 {
            let (code, addr) = fault();
            self.events.push(CardEvent::DmaFault { code, addr });
        }
        if status & int::FATAL != 0 {
            let (code, addr) = fault();
            self.events.push(CardEvent::Fatal { code, addr });
        }
        let sa_index = self.bar.read32(regs::SA_EVENT);
        if status & int::SA_SOFT != 0 {
            self.events.push(CardEvent::Lifetime {
                sa_index,
                event: LifetimeEvent::Soft,
            });
        }
        if status & int::SA_HARD != 0 {
            self.events.push(CardEvent::Lifetime {
                sa_index,
                event: LifetimeEvent::Hard,
            });
        }
        if status & int::CPL_FULL != 0 {
            self.events.push(CardEvent::CompletionRingFull);
        }
        if status & int::RESET_DONE != 0 {
            self.events.push(CardEvent::ResetDone);
        }
        status
    }

    /// Card events recorded since the last call.
    pub fn take_events(&mut self) -> Vec<CardEvent> {
        std::mem::take(&mut self.events)
    }

    fn check_fatal(&self) -> Result<(), DriverError> {
        if self.bar.read32(regs::STATUS) & regs::status::FATAL != 0 {
            let code = FaultCode::from_raw(self.bar.read32(regs::FAULT_CODE));
            let addr = u64::from(self.bar.read32(regs::FAULT_ADDR_HI)) << 32
                | u64::from(self.bar.read32(regs::FAULT_ADDR_LO));
            return Err(DriverError::Fatal { code, addr });
        }
        Ok(())
    }

    /// Reads the completions between our head and the card's tail, frees
    /// their slots and tells the card (one CPL_HEAD write).
    fn reap(&mut self) -> Result<Vec<Completed>, DriverError> {
        let mut out = Vec::new();
        self.reap_with(|c| out.push(c.to_owned()))?;
        Ok(out)
    }

    /// [`Driver::reap`], handing each completion to `f` (internal ones
    /// included) with its output in the scratch buffer. Returns how many
    /// completions matched a request.
    fn reap_with(&mut self, mut f: impl FnMut(CompletedRef<'_>)) -> Result<usize, DriverError> {
        let tail = self.bar.read32(regs::CPL_TAIL);
        if tail >= self.cfg.cpl_ring {
            return Err(DriverError::Protocol("CPL_TAIL beyond the completion ring"));
        }
        let consumed = self.cpl_head != tail;
        let mut n = 0;
        let mut scratch = std::mem::take(&mut self.scratch);
        let result = (|| {
            while self.cpl_head != tail {
                let at = self.cpl_base + u64::from(self.cpl_head) * COMPLETION_SIZE as u64;
                let mut c = Completion::new_zeroed();
                if !dma_read(&self.mem, at, c.as_mut_bytes()) {
                    return Err(DriverError::Memory(at));
                }
                self.cpl_head = (self.cpl_head + 1) & (self.cfg.cpl_ring - 1);
                let slot = c.cookie.get();
                let Some(flight) = usize::try_from(slot)
                    .ok()
                    .and_then(|s| self.slots.get_mut(s))
                    .and_then(Option::take)
                else {
                    tracing::warn!(
                        slot,
                        "espic-driver: completion for a slot with nothing in flight"
                    );
                    continue;
                };
                self.in_flight = self.in_flight.saturating_sub(1);
                let result = match DeviceError::check(c.status.get()) {
                    Ok(()) => {
                        let (_, dst) = self.slot_buf(slot as u32);
                        let len = (c.result_len.get() as usize).min(scratch.len());
                        let buf = &mut scratch[..len];
                        if !dma_read(&self.mem, dst, buf) {
                            return Err(DriverError::Memory(dst));
                        }
                        Ok(&*buf)
                    }
                    Err(e) => Err(e),
                };
                let flags = c.flags.get();
                let event = if flags & CPL_F_SA_HARD != 0 {
                    Some(LifetimeEvent::Hard)
                } else if flags & CPL_F_SA_SOFT != 0 {
                    Some(LifetimeEvent::Soft)
                } else {
                    None
                };
                f(CompletedRef {
                    cookie: flight.cookie,
                    result,
                    sa_index: c.sa_index.get(),
                    spi: c.spi.get(),
                    seq: c.seq.get(),
                    event,
                });
                n += 1;
            }
            Ok(())
        })();
        self.scratch = scratch;
        // Every record read frees its slot, matched or not.
        if consumed {
            self.bar.write32(regs::CPL_HEAD, self.cpl_head);
        }
        result.map(|()| n)
    }

    /// Waits for the completion of an internal request, stashing the others.
    fn wait_for(&mut self, cookie: u64) -> Result<Completed, DriverError> {
        for _ in 0..SYNC_WAIT_STEPS {
            self.check_fatal()?;
            let mut found = None;
            for c in self.reap()? {
                if c.cookie == cookie {
                    found = Some(c);
                } else if c.cookie < INTERNAL_COOKIE {
                    self.stash.push_back(c);
                }
            }
            if let Some(c) = found {
                return Ok(c);
            }
            if self.irq.recv_timeout(Duration::from_millis(1)).is_ok() {
                self.handle_interrupt();
            }
        }
        Err(DriverError::Timeout("synchronous request"))
    }

    /// Submits one internal request and waits for it, retrying while the
    /// ring is full.
    fn control(
        &mut self,
        op: Opcode,
        sa: u32,
        input: &[u8],
        out_len: u32,
    ) -> Result<Completed, DriverError> {
        let cookie = self.internal_cookie();
        let mut pushed = false;
        for _ in 0..SYNC_WAIT_STEPS {
            match self.push(cookie, op, sa, input, out_len) {
                Ok(()) => {
                    pushed = true;
                    break;
                }
                Err(DriverError::RingFull) => {
                    let reaped = self.reap()?;
                    self.stash
                        .extend(reaped.into_iter().filter(|c| c.cookie < INTERNAL_COOKIE));
                    let _ = self.irq.recv_timeout(Duration::from_millis(1));
                }
                Err(e) => return Err(e),
            }
        }
        if !pushed {
            return Err(DriverError::Timeout("command ring stayed full"));
        }
        self.ring_doorbell();
        self.wait_for(cookie)
    }

    /// Programs `spec` into SA slot `index` and waits for the card.
    pub fn add_sa(&mut self, index: u32, spec: &SaSpec) -> Result<(), DriverError> {
        let mut block = spec.to_block().map_err(DriverError::InvalidSa)?;
        let slot = self.cmd_tail;
        let r = self.control(Opcode::SaAdd, index, block.as_bytes(), 0);
        // The keys stay in host memory no longer than the card needs them.
        zeroize::Zeroize::zeroize(&mut block.enc_key);
        zeroize::Zeroize::zeroize(&mut block.auth_key);
        let (src, _) = self.slot_buf(slot);
        let _ = self
            .mem
            .write_slice(&[0u8; SA_BLOCK_SIZE], GuestAddress(src));
        r?.result.map(|_| ()).map_err(DriverError::Device)
    }

    /// Removes SA slot `index` from the card (its keys are zeroized there).
    pub fn delete_sa(&mut self, index: u32) -> Result<(), DriverError> {
        self.control(Opcode::SaDelete, index, &[], 0)?
            .result
            .map(|_| ())
            .map_err(DriverError::Device)
    }

    /// Reads the counters and state of SA slot `index`.
    pub fn query_sa(&mut self, index: u32) -> Result<SaInfo, DriverError> {
        let c = self.control(Opcode::SaQuery, index, &[], SA_STATS_SIZE as u32)?;
        let data = c.result?;
        let s = SaStats::read_from_bytes(&data)
            .map_err(|_| DriverError::Protocol("short SA stats block"))?;
        let state = match s.state {
            espic_hw::desc::SA_STATE_SOFT_EXPIRED => SaState::SoftExpired,
            espic_hw::desc::SA_STATE_HARD_EXPIRED => SaState::HardExpired,
            _ => SaState::Active,
        };
        Ok(SaInfo {
            spi: s.spi.get(),
            direction: if s.direction == espic_hw::desc::DIR_INBOUND {
                Direction::Inbound
            } else {
                Direction::Outbound
            },
            state,
            packets: s.packets.get(),
            bytes: s.bytes.get(),
            auth_failures: s.auth_failures.get(),
            replay_drops: s.replay_drops.get(),
            malformed: s.malformed.get(),
            seq: s.seq.get(),
        })
    }

    /// Reads the card's counter registers.
    pub fn counters(&self) -> Counters {
        let r = |off| self.bar.read64(off);
        Counters {
            encap_packets: r(regs::CNT_ENCAP_PKTS),
            encap_bytes: r(regs::CNT_ENCAP_BYTES),
            decap_packets: r(regs::CNT_DECAP_PKTS),
            decap_bytes: r(regs::CNT_DECAP_BYTES),
            auth_failures: r(regs::CNT_AUTH_FAIL),
            replay: r(regs::CNT_REPLAY),
            outside_window: r(regs::CNT_OUTSIDE_WINDOW),
            unknown_sa: r(regs::CNT_UNKNOWN_SA),
            bad_opcode: r(regs::CNT_BAD_OPCODE),
            dst_too_small: r(regs::CNT_DST_TOO_SMALL),
            malformed: r(regs::CNT_MALFORMED),
            dma_faults: r(regs::CNT_DMA_FAULT),
            lifetime_expired: r(regs::CNT_LIFETIME_EXPIRED),
            seq_overflow: r(regs::CNT_SEQ_OVERFLOW),
            bad_sa: r(regs::CNT_BAD_SA),
            aborted: r(regs::CNT_ABORTED),
            descriptors: r(regs::CNT_DESCRIPTORS),
            interrupts: r(regs::CNT_INTERRUPTS),
        }
    }
}

impl std::fmt::Debug for Driver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver")
            .field("cfg", &self.cfg)
            .field("cmd_tail", &self.cmd_tail)
            .field("cpl_head", &self.cpl_head)
            .finish_non_exhaustive()
    }
}
