//! The register file: what the host reads and writes through BAR 0.
//!
//! Registers are atomics shared by the host (MMIO accesses on any thread) and
//! the engine thread. Writes that need the engine (doorbells, control) wake
//! it with a message; the engine owns all other device state.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crossbeam_channel::Sender;
use espic_hw::regs::{self, Access, REGISTERS};
use espic_hw::{Interrupt, Mmio};

use crate::engine::Wake;

/// Number of 32-bit register slots below the counters.
const R32_SLOTS: usize = 0x64 / 4;
/// First counter offset.
const CNT_BASE: u32 = 0x100;
/// Number of 64-bit counters.
const CNT_SLOTS: usize = 18;

/// Counts gathered over a batch, added to the counters once per batch
/// ([`RegisterFile::count_tally`]) rather than one atomic add per event.
#[derive(Debug, Default)]
pub struct Tally([u64; CNT_SLOTS]);

impl Tally {
    /// Adds `n` to the counter at `offset` (ignored if it names none).
    pub fn add(&mut self, offset: u32, n: u64) {
        if let Some(c) = RegisterFile::counter_slot(offset).and_then(|i| self.0.get_mut(i)) {
            *c += n;
        }
    }
}

/// The card's registers and its interrupt logic.
pub struct RegisterFile {
    r32: [AtomicU32; R32_SLOTS],
    counters: [AtomicU64; CNT_SLOTS],
    /// Why the engine was woken since it last looked ([`Wake::bit`]s).
    wakes: AtomicU32,
    /// The engine's bell: a channel of one slot, rung after setting a bit
    /// of `wakes`. Neither allocates, so doorbells cost no heap.
    bell: Sender<()>,
    /// Counts CTRL.ENABLE rising edges, so the engine notices a disable
    /// and re-enable that happened between two of its wake-ups.
    enables: AtomicU64,
    irq: Sender<Interrupt>,
    /// Serialises INT_STATUS/INT_MASK updates with the decision to signal,
    /// so an event is never lost between a raise and an unmask.
    irq_lock: Mutex<()>,
}

impl RegisterFile {
    /// A register file at its power-on values.
    ///
    /// `bell` wakes the engine thread (a channel of capacity 1 is enough:
    /// the reasons are kept in the register file, see
    /// [`RegisterFile::take_wakes`]); `irq` is the interrupt line.
    pub fn new(bell: Sender<()>, irq: Sender<Interrupt>) -> Self {
        let rf = RegisterFile {
            r32: std::array::from_fn(|_| AtomicU32::new(0)),
            counters: std::array::from_fn(|_| AtomicU64::new(0)),
            wakes: AtomicU32::new(0),
            bell,
            enables: AtomicU64::new(0),
            irq,
            irq_lock: Mutex::new(()),
        };
        for r in REGISTERS.iter().filter(|r| r.width == 32) {
            rf.set(r.offset, r.reset as u32);
        }
        rf
    }

    fn slot(offset: u32) -> Option<usize> {
        let i = (offset / 4) as usize;
        (offset.is_multiple_of(4) && i < R32_SLOTS).then_some(i)
    }

    fn counter_slot(offset: u32) -> Option<usize> {
        let i = (offset.checked_sub(CNT_BASE)? / 8) as usize;
        (offset.is_multiple_of(8) && i < CNT_SLOTS).then_some(i)
    }

    /// Device-side read of a 32-bit register (any access type).
    pub fn get(&self, offset: u32) -> u32 {
        Self::slot(offset).map_or(0, |i| self.r32[i].load(Ordering::Acquire))
    }

    /// Device-side write of a 32-bit register (any access type).
    pub fn set(&self, offset: u32, value: u32) {
        if let Some(i) = Self::slot(offset) {
            self.r32[i].store(value, Ordering::Release);
        }
    }

    /// Device-side OR into a 32-bit register.
    pub fn set_bits(&self, offset: u32, bits: u32) {
        if let Some(i) = Self::slot(offset) {
            self.r32[i].fetch_or(bits, Ordering::AcqRel);
        }
    }

    /// Device-side AND-NOT on a 32-bit register.
    pub fn clear_bits(&self, offset: u32, bits: u32) {
        if let Some(i) = Self::slot(offset) {
            self.r32[i].fetch_and(!bits, Ordering::AcqRel);
        }
    }

    /// Adds `n` to the counter at `offset`.
    pub fn count(&self, offset: u32, n: u64) {
        if let Some(i) = Self::counter_slot(offset) {
            self.counters[i].fetch_add(n, Ordering::Relaxed);
        }
    }

    /// Adds a batch's worth of counts at once: `tally[i]` to the counter in
    /// slot `i` (see [`Tally`]), and clears `tally`.
    pub fn count_tally(&self, tally: &mut Tally) {
        for (c, n) in self.counters.iter().zip(tally.0.iter_mut()) {
            if *n != 0 {
                c.fetch_add(*n, Ordering::Relaxed);
                *n = 0;
            }
        }
    }

    /// Takes one injected error (`ERR_INJECT`): whether the next transform
    /// must fail, counting the register down.
    pub fn take_injected_error(&self) -> bool {
        let Some(i) = Self::slot(regs::ERR_INJECT) else {
            return false;
        };
        self.r32[i]
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
                (v & 0xFFFF != 0).then(|| (v & !0xFFFF) | ((v & 0xFFFF) - 1))
            })
            .is_ok()
    }

    /// Clears every counter (soft reset).
    pub fn clear_counters(&self) {
        for c in &self.counters {
            c.store(0, Ordering::Relaxed);
        }
    }

    /// Latches `causes` in INT_STATUS and sends an interrupt event if any of
    /// them is unmasked.
    pub fn raise(&self, causes: u32) {
        if causes == 0 {
            return;
        }
        let _guard = self.irq_lock.lock().unwrap_or_else(|e| e.into_inner());
        self.set_bits(regs::INT_STATUS, causes);
        let mask = self.get(regs::INT_MASK);
        if causes & !mask != 0 {
            self.signal(self.get(regs::INT_STATUS) & !mask);
        }
    }

    fn signal(&self, causes: u32) {
        self.count(regs::CNT_INTERRUPTS, 1);
        // A host that dropped its receiver has no interrupt line: nothing to
        // do. A line whose queue is full already holds events the host has
        // not taken: this one's causes are latched in INT_STATUS, which the
        // host reads when it takes them (the card never blocks on the host).
        let _ = self.irq.try_send(Interrupt { causes });
    }

    /// How many times CTRL.ENABLE went from 0 to 1.
    pub fn enable_count(&self) -> u64 {
        self.enables.load(Ordering::Acquire)
    }

    /// Wakes the engine thread for `w`.
    pub fn wake(&self, w: Wake) {
        self.wakes.fetch_or(w.bit(), Ordering::AcqRel);
        // Full means a wake-up is already pending: it will see the bit.
        let _ = self.bell.try_send(());
    }

    /// The reasons the engine was woken since the last call ([`Wake::bit`]s).
    pub fn take_wakes(&self) -> u32 {
        self.wakes.swap(0, Ordering::AcqRel)
    }

    fn bad_access(&self) {
        if let Some(i) = Self::slot(regs::BAD_ACCESS) {
            self.r32[i].fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl Mmio for RegisterFile {
    fn read32(&self, offset: u32) -> u32 {
        match regs::find(offset) {
            Some(r) if r.width == 32 => match r.access {
                Access::Wo => 0,
                _ => self.get(offset),
            },
            _ => {
                self.bad_access();
                u32::MAX
            }
        }
    }

    fn write32(&self, offset: u32, value: u32) {
        let Some(r) = regs::find(offset).filter(|r| r.width == 32) else {
            self.bad_access();
            return;
        };
        match (r.access, offset) {
            (Access::Ro, _) => {}
            (Access::W1c, _) => {
                let _guard = self.irq_lock.lock().unwrap_or_else(|e| e.into_inner());
                self.clear_bits(offset, value);
            }
            (_, regs::INT_MASK) => {
                let _guard = self.irq_lock.lock().unwrap_or_else(|e| e.into_inner());
                let old = self.get(regs::INT_MASK);
                self.set(regs::INT_MASK, value);
                let pending = self.get(regs::INT_STATUS);
                // Unmasking a cause that is already pending delivers it now.
                if pending & old & !value != 0 {
                    self.signal(pending & !value);
                }
            }
            (_, regs::CTRL) => {
                if value & regs::ctrl::SOFT_RESET != 0 {
                    self.set(
                        regs::CTRL,
                        value & (regs::ctrl::SOFT_RESET | regs::ctrl::ENABLE),
                    );
                    self.wake(Wake::Reset);
                } else {
                    // SOFT_RESET stays set while a reset is in progress.
                    let old = self.get(regs::CTRL);
                    let busy = old & regs::ctrl::SOFT_RESET;
                    let rising = old & regs::ctrl::ENABLE == 0 && value & regs::ctrl::ENABLE != 0;
                    if rising && busy == 0 {
                        // Enabling starts both rings at slot 0, visible to
                        // the driver's very next read (the engine latches
                        // the ring geometry when it wakes).
                        self.set(regs::CMD_HEAD, 0);
                        self.set(regs::CPL_TAIL, 0);
                        self.enables.fetch_add(1, Ordering::AcqRel);
                    }
                    self.set(regs::CTRL, busy | (value & regs::ctrl::ENABLE));
                    self.wake(Wake::Doorbell);
                }
            }
            (_, regs::CMD_TAIL | regs::CPL_HEAD) => {
                self.set(offset, value);
                self.wake(Wake::Doorbell);
            }
            _ => self.set(offset, value),
        }
    }

    fn read64(&self, offset: u32) -> u64 {
        match Self::counter_slot(offset) {
            Some(i) => self.counters[i].load(Ordering::Relaxed),
            None => {
                self.bad_access();
                u64::MAX
            }
        }
    }
}

const _: () = assert!(CNT_BASE + (CNT_SLOTS as u32) * 8 == regs::CNT_INTERRUPTS + 8);
