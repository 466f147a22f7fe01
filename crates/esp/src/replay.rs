//! Anti-replay window (RFC 4303 3.4.3) as a sliding bitmap (RFC 6479).
//!
//! The bitmap is a ring of 64-bit blocks, one block more than the window
//! needs, so that advancing the window only clears whole blocks and never
//! shifts bits.

use crate::error::EspError;

/// The receive window of one inbound SA (32-bit sequence numbers, no ESN).
#[derive(Debug, Clone)]
pub struct ReplayWindow {
    size: u32,
    highest: u32,
    blocks: Vec<u64>,
}

impl ReplayWindow {
    /// A window of `size` packets (32..=4096; validated by [`crate::SaParams`]).
    pub fn new(size: u32) -> Self {
        let words = (size as usize).div_ceil(64) + 1;
        ReplayWindow {
            size,
            highest: 0,
            blocks: vec![0; words.next_power_of_two()],
        }
    }

    /// Window size in packets.
    pub fn size(&self) -> u32 {
        self.size
    }

    /// Highest sequence number accepted so far (0 before the first packet).
    pub fn highest(&self) -> u32 {
        self.highest
    }

    fn mask(&self) -> usize {
        self.blocks.len() - 1
    }

    fn locate(&self, seq: u32) -> (usize, u64) {
        let block = (seq as usize >> 6) & self.mask();
        (block, 1u64 << (seq & 63))
    }

    /// Whether `seq` may be accepted; changes nothing.
    pub fn check(&self, seq: u32) -> Result<(), EspError> {
        if seq == 0 {
            return Err(EspError::OutsideWindow {
                seq,
                highest: self.highest,
            });
        }
        if seq > self.highest {
            return Ok(());
        }
        if self.highest - seq >= self.size {
            return Err(EspError::OutsideWindow {
                seq,
                highest: self.highest,
            });
        }
        let (block, bit) = self.locate(seq);
        if self.blocks[block] & bit != 0 {
            Err(EspError::Replay { seq })
        } else {
            Ok(())
        }
    }

    /// Marks `seq` received; call only after [`Self::check`] passed and the
    /// packet authenticated.
    pub fn update(&mut self, seq: u32) {
        if seq > self.highest {
            let cur = self.highest >> 6;
            let new = seq >> 6;
            let steps = ((new - cur) as usize).min(self.blocks.len());
            let mask = self.mask();
            for i in 1..=steps {
                self.blocks[(cur as usize + i) & mask] = 0;
            }
            self.highest = seq;
        }
        let (block, bit) = self.locate(seq);
        self.blocks[block] |= bit;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_fresh_rejects_duplicates() {
        let mut w = ReplayWindow::new(64);
        for s in [1, 2, 5, 3] {
            w.check(s).unwrap();
            w.update(s);
        }
        assert_eq!(w.check(2), Err(EspError::Replay { seq: 2 }));
        assert!(w.check(4).is_ok());
        assert_eq!(w.highest(), 5);
    }

    #[test]
    fn zero_and_old_are_outside() {
        let mut w = ReplayWindow::new(32);
        assert!(matches!(w.check(0), Err(EspError::OutsideWindow { .. })));
        w.update(100);
        assert!(w.check(69).is_ok());
        assert_eq!(
            w.check(68),
            Err(EspError::OutsideWindow {
                seq: 68,
                highest: 100
            })
        );
    }

    #[test]
    fn big_jump_clears_stale_bits() {
        let mut w = ReplayWindow::new(128);
        for s in 1..=200 {
            w.update(s);
        }
        w.update(10_000);
        // Everything between the old and new highest that is inside the window is fresh.
        for s in 9_873..10_000 {
            assert!(w.check(s).is_ok(), "seq {s}");
        }
        assert!(w.check(10_000).is_err());
    }

    #[test]
    fn matches_a_naive_model() {
        // Deterministic pseudo-random walk, compared against a set-based model.
        let mut w = ReplayWindow::new(96);
        let mut seen = std::collections::BTreeSet::new();
        let mut highest = 0u32;
        let mut x = 12345u32;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let seq = (highest + 40).saturating_sub(x % 200).max(1);
            let model_ok = seq > highest || (highest - seq < 96 && !seen.contains(&seq));
            assert_eq!(
                w.check(seq).is_ok(),
                model_ok,
                "seq {seq} highest {highest}"
            );
            if model_ok {
                w.update(seq);
                seen.insert(seq);
                highest = highest.max(seq);
            }
        }
    }
}
