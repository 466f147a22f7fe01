//! ESP (RFC 4303) in tunnel mode as a pure library, the transform the ES PIC runs.
//!
//! - [`OutboundSa::encap`] turns an inner IP packet into an outer IPv4/IPv6
//!   packet carrying ESP (optionally in UDP, RFC 3948).
//! - [`InboundSa::decap`] checks and removes it: outer headers, SPI,
//!   lifetime, anti-replay ([`ReplayWindow`]), ICV (constant time),
//!   decryption, padding.
//!
//! Transforms: AES-128/192/256-CBC (RFC 3602) with HMAC-SHA1-96 (RFC 2404)
//! or HMAC-SHA-256-128 (RFC 4868). Sequence numbers are 32-bit (no ESN).
//! Nothing here does I/O, reads a clock or allocates per packet.

pub mod batch;
pub mod crypto;
mod error;
mod inbound;
mod outbound;
mod replay;
mod sa;
pub mod wire;

pub use error::{EspError, MalformedReason};
pub use inbound::{Checked, InboundSa};
pub use outbound::{OutboundSa, Prepared};
pub use replay::ReplayWindow;
pub use sa::{
    CipherAlg, IntegAlg, Lifetime, LifetimeEvent, LifetimeState, MAX_REPLAY_WINDOW,
    MIN_REPLAY_WINDOW, Outcome, SaCounters, SaParams, Tunnel, UdpEncap,
};
