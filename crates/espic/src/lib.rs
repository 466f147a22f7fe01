//! The device side of the simulated ES PIC (Encryption Services PIC).
//!
//! A [`Card`] is what sits behind the register window: a register file
//! ([`regfile`]), an engine thread that takes descriptors from the command
//! ring in host memory, runs them and publishes completions ([`engine`]), an
//! SA table holding the ESP state and keys ([`sa_table`]), and an interrupt
//! line delivered as [`espic_hw::Interrupt`] events on a crossbeam channel.
//!
//! The host sees only the [`espic_hw::Mmio`] window returned by
//! [`Card::bar`] and the memory it shares with the card; the card sees host
//! memory only through bounds-checked `vm-memory` accesses. Whatever the host
//! writes (indices, descriptors, buffers, SA blocks), the card never panics:
//! every failure is a status in a completion, a fault register value and an
//! interrupt. See `docs/espic/PROGRAMMING-MODEL.md`.
//!
//! ```
//! use std::sync::Arc;
//! use espic_hw::{regs, HostMemory};
//! use vm_memory::GuestAddress;
//!
//! let mem = Arc::new(HostMemory::from_ranges(&[(GuestAddress(0), 1 << 20)]).unwrap());
//! let (irq_tx, _irq_rx) = crossbeam_channel::unbounded();
//! let card = espic::Card::new(mem, irq_tx);
//! assert_eq!(card.bar().read32(regs::ID), regs::ID_VALUE);
//! ```

pub mod engine;
mod iv;
mod lot;
pub mod regfile;
pub mod sa_table;
mod workers;

use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::Sender;
use espic_hw::{HostMemory, Interrupt, Mmio};

use crate::engine::{Engine, Wake};
use crate::regfile::RegisterFile;

/// A simulated ES PIC: its register file and its engine thread.
///
/// Dropping the card stops the engine thread.
pub struct Card {
    regs: Arc<RegisterFile>,
    engine: Option<JoinHandle<()>>,
}

impl Card {
    /// Powers on a card that reaches `memory` by DMA and signals interrupts
    /// on `irq`. Registers hold their reset values; the engine thread waits
    /// for the driver to program the rings and set `CTRL.ENABLE`.
    pub fn new(memory: Arc<HostMemory>, irq: Sender<Interrupt>) -> Self {
        Self::with_crypto_threads(memory, irq, 1)
    }

    /// As [`Card::new`], with the ESP crypto spread over `crypto_threads`
    /// threads (at least 1): the engine thread and `crypto_threads - 1`
    /// crypto workers. Descriptors still complete in ring order, so per SA
    /// sequence numbers and completions keep their order.
    pub fn with_crypto_threads(
        memory: Arc<HostMemory>,
        irq: Sender<Interrupt>,
        crypto_threads: usize,
    ) -> Self {
        let (bell_tx, bell_rx) = crossbeam_channel::bounded(1);
        let regs = Arc::new(RegisterFile::new(bell_tx, irq));
        let engine = Engine::new(Arc::clone(&regs), memory, bell_rx, crypto_threads.max(1));
        let handle = std::thread::Builder::new()
            .name("espic-engine".into())
            .spawn(move || engine.run())
            .ok();
        if handle.is_none() {
            tracing::error!("espic: could not start the engine thread");
        }
        Card {
            regs,
            engine: handle,
        }
    }

    /// The register window (BAR 0), as handed to the host driver.
    pub fn bar(&self) -> Arc<dyn Mmio> {
        self.regs.clone()
    }
}

impl Drop for Card {
    fn drop(&mut self) {
        self.regs.wake(Wake::Shutdown);
        if let Some(handle) = self.engine.take() {
            let _ = handle.join();
        }
    }
}

impl std::fmt::Debug for Card {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Card").finish_non_exhaustive()
    }
}
