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

/// Bytes of keystream drawn from the generator at a time: 64 IVs.
const BUF: usize = 64 * 16;

/// The engine's IV generator.
pub(crate) struct IvSource {
    rng: Option<ChaCha20Rng>,
    drawn: u32,
    buf: Zeroizing<[u8; BUF]>,
    pos: usize,
}

impl Default for IvSource {
    fn default() -> Self {
        IvSource {
            rng: None,
            drawn: 0,
            buf: Zeroizing::new([0; BUF]),
            pos: BUF,
        }
    }
}

impl IvSource {
    /// Writes the next IV to `iv`; `false` if the operating system's random
    /// source failed when a new key was due (there is no fallback).
    pub(crate) fn fill(&mut self, iv: &mut [u8; 16]) -> bool {
        if self.pos + iv.len() > BUF && !self.refill() {
            return false;
        }
        match self.buf.get(self.pos..self.pos + iv.len()) {
            Some(b) => iv.copy_from_slice(b),
            None => return false,
        }
        self.pos += iv.len();
        self.drawn += 1;
        true
    }

    fn refill(&mut self) -> bool {
        if self.rng.is_none() || self.drawn >= REKEY_AFTER {
            self.rng = None;
            let mut seed = Zeroizing::new([0u8; 32]);
            if let Err(e) = getrandom::fill(&mut seed[..]) {
                tracing::error!(error = %e, "espic: the OS random source failed");
                return false;
            }
            self.rng = Some(ChaCha20Rng::from_seed(*seed));
            self.drawn = 0;
        }
        let Some(rng) = self.rng.as_mut() else {
            return false;
        };
        rng.fill_bytes(&mut self.buf[..]);
        self.pos = 0;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ivs_differ_and_the_generator_is_rekeyed_on_schedule() {
        let mut src = IvSource::default();
        let mut seen = std::collections::HashSet::new();
        let mut iv = [0u8; 16];
        for _ in 0..1000 {
            assert!(src.fill(&mut iv), "OS random source");
            assert!(seen.insert(iv), "an IV repeated");
        }
        assert_eq!(src.drawn, 1000);
        src.drawn = REKEY_AFTER;
        src.pos = BUF;
        assert!(src.fill(&mut iv), "rekeyed");
        assert_eq!(src.drawn, 1, "a new key restarts the count");
        assert!(!seen.contains(&iv));
    }
}
