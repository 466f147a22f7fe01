//! The mtsim simulator as a library: what the `mtsim` binary runs and what
//! the scenario tests in `tests/` drive.
//!
//! - [`pic`]: an ES PIC in its slot: host memory, the card, and the host
//!   driver bound to it.
//! - [`traffic`]: inner test packets (ICMP echo over IPv4 and IPv6).
//! - [`selftest`]: `mtsim pic selftest`, the card's end-to-end self-test.

pub mod pic;
pub mod selftest;
pub mod traffic;
