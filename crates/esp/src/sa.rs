//! SA parameters, lifetimes and counters shared by both directions.

use core::fmt;
use std::net::IpAddr;

use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::error::EspError;

/// Encryption transform (RFC 3602 AES-CBC with a 128-bit explicit IV).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CipherAlg {
    /// AES-CBC with a 128-bit key.
    Aes128Cbc,
    /// AES-CBC with a 192-bit key.
    Aes192Cbc,
    /// AES-CBC with a 256-bit key.
    Aes256Cbc,
}

impl CipherAlg {
    /// Key length in bytes.
    pub fn key_len(self) -> usize {
        match self {
            CipherAlg::Aes128Cbc => 16,
            CipherAlg::Aes192Cbc => 24,
            CipherAlg::Aes256Cbc => 32,
        }
    }
}

/// Integrity transform (truncated HMAC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IntegAlg {
    /// HMAC-SHA1-96 (RFC 2404): 20-byte key, 12-byte ICV.
    HmacSha1_96,
    /// HMAC-SHA-256-128 (RFC 4868): 32-byte key, 16-byte ICV.
    HmacSha256_128,
}

impl IntegAlg {
    /// Key length in bytes.
    pub fn key_len(self) -> usize {
        match self {
            IntegAlg::HmacSha1_96 => 20,
            IntegAlg::HmacSha256_128 => 32,
        }
    }

    /// ICV length in bytes.
    pub fn icv_len(self) -> usize {
        match self {
            IntegAlg::HmacSha1_96 => 12,
            IntegAlg::HmacSha256_128 => 16,
        }
    }
}

/// UDP encapsulation of ESP for NAT traversal (RFC 3948).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpEncap {
    /// UDP source port of the packets this SA carries (normally 4500).
    pub src_port: u16,
    /// UDP destination port of the packets this SA carries (normally 4500).
    pub dst_port: u16,
}

/// The outer header of a tunnel-mode SA, seen from the packets it carries:
/// `src` is their source and `dst` their destination, in both directions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tunnel {
    /// Outer source address.
    pub src: IpAddr,
    /// Outer destination address.
    pub dst: IpAddr,
    /// ESP-in-UDP, if negotiated.
    pub udp_encap: Option<UdpEncap>,
}

/// Soft and hard lifetimes; 0 means "no limit" for each field.
///
/// Bytes are counted as inner (plaintext) packet bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Lifetime {
    /// Bytes after which the SA reports a soft expiry (time to re-key).
    pub soft_bytes: u64,
    /// Bytes after which the SA refuses traffic.
    pub hard_bytes: u64,
    /// Packets after which the SA reports a soft expiry.
    pub soft_packets: u64,
    /// Packets after which the SA refuses traffic.
    pub hard_packets: u64,
}

/// Largest anti-replay window supported, in packets.
pub const MAX_REPLAY_WINDOW: u32 = 4096;
/// Smallest non-zero anti-replay window, in packets (RFC 4303 3.4.3).
pub const MIN_REPLAY_WINDOW: u32 = 32;

/// Everything needed to build one direction of a tunnel-mode ESP SA.
///
/// The keys are zeroized when the value drops; `Debug` never prints them.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SaParams {
    /// Security Parameter Index (256 and above; 1..255 are reserved).
    #[zeroize(skip)]
    pub spi: u32,
    /// Encryption transform.
    #[zeroize(skip)]
    pub cipher: CipherAlg,
    /// Encryption key, `cipher.key_len()` bytes.
    pub enc_key: Vec<u8>,
    /// Integrity transform.
    #[zeroize(skip)]
    pub integ: IntegAlg,
    /// Authentication key, `integ.key_len()` bytes.
    pub auth_key: Vec<u8>,
    /// Outer header.
    #[zeroize(skip)]
    pub tunnel: Tunnel,
    /// Inbound anti-replay window in packets: 0 (off) or 32..=4096.
    #[zeroize(skip)]
    pub replay_window: u32,
    /// Lifetimes.
    #[zeroize(skip)]
    pub lifetime: Lifetime,
    /// Outbound: the first packet carries `initial_seq + 1`.
    #[zeroize(skip)]
    pub initial_seq: u32,
}

impl fmt::Debug for SaParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SaParams")
            .field("spi", &format_args!("{:#010x}", self.spi))
            .field("cipher", &self.cipher)
            .field("enc_key", &"<redacted>")
            .field("integ", &self.integ)
            .field("auth_key", &"<redacted>")
            .field("tunnel", &self.tunnel)
            .field("replay_window", &self.replay_window)
            .field("lifetime", &self.lifetime)
            .field("initial_seq", &self.initial_seq)
            .finish()
    }
}

impl SaParams {
    /// Checks the parameters; the error names the first field that is wrong.
    pub fn validate(&self) -> Result<(), EspError> {
        if self.spi < 256 {
            return Err(EspError::BadParams("SPI values 0..255 are reserved"));
        }
        if self.enc_key.len() != self.cipher.key_len() {
            return Err(EspError::BadParams(
                "encryption key length does not match the cipher",
            ));
        }
        if self.auth_key.len() != self.integ.key_len() {
            return Err(EspError::BadParams(
                "authentication key length does not match the integrity algorithm",
            ));
        }
        if self.replay_window != 0
            && !(MIN_REPLAY_WINDOW..=MAX_REPLAY_WINDOW).contains(&self.replay_window)
        {
            return Err(EspError::BadParams(
                "replay window must be 0 (off) or 32..=4096 packets",
            ));
        }
        if self.tunnel.src.is_ipv4() != self.tunnel.dst.is_ipv4() {
            return Err(EspError::BadParams(
                "tunnel source and destination are of different address families",
            ));
        }
        if let Some(u) = self.tunnel.udp_encap
            && (u.src_port == 0 || u.dst_port == 0)
        {
            return Err(EspError::BadParams("UDP encapsulation port 0"));
        }
        let l = &self.lifetime;
        if (l.hard_bytes != 0 && l.soft_bytes > l.hard_bytes)
            || (l.hard_packets != 0 && l.soft_packets > l.hard_packets)
        {
            return Err(EspError::BadParams(
                "soft lifetime is larger than the hard lifetime",
            ));
        }
        Ok(())
    }
}

/// Where an SA stands against its lifetimes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LifetimeState {
    /// Below both limits.
    Active,
    /// Past the soft limit: still carries traffic, should be re-keyed.
    SoftExpired,
    /// At the hard limit: refuses all traffic.
    HardExpired,
}

/// A lifetime threshold crossed by the packet just processed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LifetimeEvent {
    /// This packet took the SA past its soft lifetime.
    Soft,
    /// This packet took the SA to its hard lifetime; it was the last one.
    Hard,
}

/// Per-SA counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SaCounters {
    /// Packets processed successfully.
    pub packets: u64,
    /// Inner bytes processed successfully.
    pub bytes: u64,
    /// Inbound packets dropped for a bad ICV.
    pub auth_failures: u64,
    /// Inbound packets dropped as replays.
    pub replay_drops: u64,
    /// Inbound packets dropped left of the anti-replay window.
    pub outside_window_drops: u64,
    /// Packets dropped as malformed.
    pub malformed: u64,
}

/// The result of a successful encap or decap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// Bytes written to the output buffer.
    pub len: usize,
    /// ESP sequence number of the packet.
    pub seq: u32,
    /// Lifetime threshold this packet crossed, if any.
    pub event: Option<LifetimeEvent>,
}

/// Lifetime accounting: the state machine Active -> SoftExpired -> HardExpired.
#[derive(Debug, Clone)]
pub(crate) struct LifetimeTracker {
    limits: Lifetime,
    state: LifetimeState,
}

impl LifetimeTracker {
    pub(crate) fn new(limits: Lifetime) -> Self {
        LifetimeTracker {
            limits,
            state: LifetimeState::Active,
        }
    }

    pub(crate) fn state(&self) -> LifetimeState {
        self.state
    }

    /// Refuses traffic once the hard limit is reached.
    pub(crate) fn check(&self) -> Result<(), EspError> {
        if self.state == LifetimeState::HardExpired {
            Err(EspError::LifetimeExpired)
        } else {
            Ok(())
        }
    }

    /// Re-evaluates the state after `c` was updated for one more packet.
    pub(crate) fn account(&mut self, c: &SaCounters) -> Option<LifetimeEvent> {
        let l = &self.limits;
        let reached = |limit: u64, value: u64| limit != 0 && value >= limit;
        if reached(l.hard_packets, c.packets) || reached(l.hard_bytes, c.bytes) {
            self.state = LifetimeState::HardExpired;
            return Some(LifetimeEvent::Hard);
        }
        if self.state == LifetimeState::Active
            && (reached(l.soft_packets, c.packets) || reached(l.soft_bytes, c.bytes))
        {
            self.state = LifetimeState::SoftExpired;
            return Some(LifetimeEvent::Soft);
        }
        None
    }
}
