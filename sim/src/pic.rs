//! An ES PIC wired to its host: memory shared by DMA, the card behind its
//! register window, and the driver that owns the rings.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use espic::Card;
use espic_driver::{Completed, Config, Driver, DriverError, Request};
use espic_hw::HostMemory;
use vm_memory::GuestAddress;

/// Where the driver's DMA window starts in host memory.
pub const DMA_WINDOW_BASE: u64 = 0x10_0000;

/// Why the PIC could not be brought up or could not finish a batch.
#[derive(Debug, thiserror::Error)]
pub enum PicError {
    /// Host memory could not be mapped.
    #[error("cannot map {0} bytes of host memory")]
    Memory(u64),
    /// The driver reported an error.
    #[error("ES PIC driver: {0}")]
    Driver(#[from] DriverError),
}

/// An ES PIC with its host side: memory, card and driver.
///
/// Field order matters on drop: the driver goes first, then the card (which
/// stops its engine thread), then memory.
pub struct Pic {
    /// The host driver.
    pub driver: Driver,
    /// The card; dropping it stops its engine.
    pub card: Card,
    /// Host memory shared with the card.
    pub memory: Arc<HostMemory>,
}

impl Pic {
    /// Powers on a card with `memory_bytes` of host memory and probes it
    /// with the driver configuration `cfg` (its window must lie inside the
    /// memory).
    pub fn power_on_with(memory_bytes: u64, cfg: Config) -> Result<Self, PicError> {
        Self::power_on_with_threads(memory_bytes, cfg, 1)
    }

    /// As [`Pic::power_on_with`], with the card's crypto on
    /// `crypto_threads` threads (see [`Card::with_crypto_threads`]).
    pub fn power_on_with_threads(
        memory_bytes: u64,
        cfg: Config,
        crypto_threads: usize,
    ) -> Result<Self, PicError> {
        let len = usize::try_from(memory_bytes).map_err(|_| PicError::Memory(memory_bytes))?;
        let memory = Arc::new(
            HostMemory::from_ranges(&[(GuestAddress(0), len)])
                .map_err(|_| PicError::Memory(memory_bytes))?,
        );
        let (irq_tx, irq_rx) = crossbeam_channel::unbounded();
        let card = Card::with_crypto_threads(Arc::clone(&memory), irq_tx, crypto_threads);
        let driver = Driver::probe(card.bar(), Arc::clone(&memory), irq_rx, cfg)?;
        Ok(Pic {
            driver,
            card,
            memory,
        })
    }

    /// Powers on a card with the driver's default configuration and just
    /// enough memory for it.
    pub fn power_on() -> Result<Self, PicError> {
        let cfg = Config::new(DMA_WINDOW_BASE);
        Self::power_on_with(DMA_WINDOW_BASE + cfg.window_needed(), cfg)
    }

    /// Submits every request (as many per doorbell as the ring takes) and
    /// waits for all of them, returning completions in request order.
    /// Cookies are the request indices.
    pub fn process(&mut self, requests: &[Request<'_>]) -> Result<Vec<Completed>, PicError> {
        let tagged: Vec<(u64, Request<'_>)> = requests
            .iter()
            .enumerate()
            .map(|(i, r)| (i as u64, *r))
            .collect();
        let done = self.driver.run_all(&tagged, Duration::from_secs(5))?;
        let by_cookie: BTreeMap<u64, Completed> = done.into_iter().map(|c| (c.cookie, c)).collect();
        Ok(by_cookie.into_values().collect())
    }
}

impl std::fmt::Debug for Pic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pic")
            .field("driver", &self.driver)
            .finish_non_exhaustive()
    }
}
