//! The IVs the engine writes into ENCAP packets.
//!
//! CBC needs IVs an attacker cannot predict (RFC 4303 §3.2, RFC 3602
//! §2.3). The engine draws them from a ChaCha20 generator keyed with 256
//! bits from the operating system's random source and rekeyed from it every
//! [`REKEY_AFTER`] IVs: the construction the kernel's own `getrandom` uses,
//! run here in user space so that a packet costs no system call (drawing
//! from the kernel was a tenth of the engine thread's time at 64 bytes).

use chacha20::ChaCha20Rng;
use chacha20::rand_core::{Rng, SeedableRng};
use zeroize::Zeroizing;

/// IVs drawn between two keys from the operating system (1 MiB of output).
pub(crate) const REKEY_AFTER: u32 = 1 << 16;

/// The engine's IV generator.
#[derive(Default)]
pub(crate) struct IvSource {
    rng: Option<ChaCha20Rng>,
    drawn: u32,
}

impl IvSource {
    /// The next IV, or `None` if the operating system's random source
    /// failed when a new key was due (there is no fallback).
    pub(crate) fn next(&mut self) -> Option<[u8; 16]> {
        if self.rng.is_none() || self.drawn >= REKEY_AFTER {
            self.rng = None;
            let mut seed = Zeroizing::new([0u8; 32]);
            if let Err(e) = getrandom::fill(&mut seed[..]) {
                tracing::error!(error = %e, "espic: the OS random source failed");
                return None;
            }
            self.rng = Some(ChaCha20Rng::from_seed(*seed));
            self.drawn = 0;
        }
        let rng = self.rng.as_mut()?;
        let mut iv = [0u8; 16];
        rng.fill_bytes(&mut iv);
        self.drawn += 1;
        Some(iv)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ivs_differ_and_the_generator_is_rekeyed_on_schedule() {
        let mut src = IvSource::default();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..1000 {
            let iv = src.next().expect("OS random source");
            assert!(seen.insert(iv), "an IV repeated");
        }
        assert_eq!(src.drawn, 1000);
        src.drawn = REKEY_AFTER;
        let before = src.next().expect("rekeyed");
        assert_eq!(src.drawn, 1, "a new key restarts the count");
        assert!(!seen.contains(&before));
    }
}
