//! Errors returned by SA construction, encapsulation and decapsulation.

use thiserror::Error;

/// Everything that can go wrong while building an SA or processing a packet.
///
/// A failed packet never changes the SA except for the failure counters
/// in [`crate::SaCounters`].
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum EspError {
    /// The integrity check value did not match: the packet was forged or corrupted.
    #[error("authentication failed: ICV mismatch")]
    AuthFailed,
    /// The sequence number was already received inside the anti-replay window.
    #[error("replayed packet: sequence number {seq} already received")]
    Replay {
        /// Sequence number of the dropped packet.
        seq: u32,
    },
    /// The sequence number is left of the anti-replay window (too old), or is 0.
    #[error("sequence number {seq} is outside the anti-replay window (highest received {highest})")]
    OutsideWindow {
        /// Sequence number of the dropped packet.
        seq: u32,
        /// Highest sequence number received so far.
        highest: u32,
    },
    /// The packet's SPI is not the SA's SPI.
    #[error("SPI mismatch: SA has {expected:#010x}, packet has {got:#010x}")]
    SpiMismatch {
        /// The SA's SPI.
        expected: u32,
        /// The SPI found in the packet.
        got: u32,
    },
    /// The output buffer is too small; nothing was written and the SA is unchanged.
    #[error("destination buffer too small: need {needed} bytes, have {available}")]
    DestTooSmall {
        /// Bytes the operation needs in the output buffer.
        needed: usize,
        /// Bytes the caller provided.
        available: usize,
    },
    /// The packet is not well formed; the reason says what was wrong.
    #[error("malformed packet: {0}")]
    Malformed(MalformedReason),
    /// The outbound 32-bit sequence number would wrap (RFC 4303 3.3.3, no ESN): re-key.
    #[error("sequence number overflow: the SA must be re-keyed")]
    SeqOverflow,
    /// The SA reached its hard lifetime and refuses all traffic.
    #[error("SA lifetime expired (hard limit reached)")]
    LifetimeExpired,
    /// The SA parameters are invalid.
    #[error("bad SA parameters: {0}")]
    BadParams(&'static str),
    /// The outer packet's IP version is not the address family of the SA's tunnel.
    #[error("outer IP version does not match the SA tunnel's address family")]
    AddressFamilyMismatch,
}

/// Why a packet was rejected as [`EspError::Malformed`].
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum MalformedReason {
    /// Encap was given an empty inner packet, or decap decrypted an empty one.
    #[error("inner packet is empty")]
    InnerEmpty,
    /// The inner packet's version nibble is neither 4 nor 6.
    #[error("inner packet is not IPv4 or IPv6 (version nibble {version})")]
    InnerNotIp {
        /// The version nibble found.
        version: u8,
    },
    /// The inner packet is too large to fit in one outer IP packet.
    #[error("inner packet of {len} bytes does not fit in one outer IP packet")]
    InnerTooLarge {
        /// Inner packet length.
        len: usize,
    },
    /// The decrypted inner packet's version nibble disagrees with the ESP next header.
    #[error("inner packet version nibble {version} does not match next header {next_header}")]
    InnerVersionMismatch {
        /// ESP next header field.
        next_header: u8,
        /// Version nibble of the inner packet.
        version: u8,
    },
    /// The outer packet is empty.
    #[error("outer packet is empty")]
    OuterEmpty,
    /// The outer packet's version nibble is neither 4 nor 6.
    #[error("outer packet is not IPv4 or IPv6 (version nibble {version})")]
    OuterNotIp {
        /// The version nibble found.
        version: u8,
    },
    /// Fewer bytes than an IPv4 header (or than its IHL says).
    #[error("outer IPv4 header truncated")]
    Ipv4Truncated,
    /// IPv4 IHL below 5.
    #[error("outer IPv4 header length {ihl} words is below the minimum of 5")]
    Ipv4BadIhl {
        /// The IHL field (32-bit words).
        ihl: u8,
    },
    /// IPv4 total length smaller than the header or larger than the bytes received.
    #[error(
        "outer IPv4 total length {total_len} is inconsistent (header or {available} bytes received)"
    )]
    Ipv4BadTotalLength {
        /// The total length field.
        total_len: u16,
        /// Bytes actually received.
        available: usize,
    },
    /// IPv4 header checksum does not verify.
    #[error("outer IPv4 header checksum mismatch")]
    Ipv4BadChecksum,
    /// The outer IPv4 packet is a fragment (MF set or non-zero offset).
    #[error("outer IPv4 packet is a fragment")]
    Ipv4Fragment,
    /// Fewer than 40 bytes of IPv6 header.
    #[error("outer IPv6 header truncated")]
    Ipv6Truncated,
    /// IPv6 payload length larger than the bytes received.
    #[error("outer IPv6 payload length {payload_len} exceeds the {available} bytes received")]
    Ipv6BadPayloadLength {
        /// The payload length field.
        payload_len: u16,
        /// Payload bytes actually received.
        available: usize,
    },
    /// The outer protocol / next header is not what the SA expects (ESP, or UDP for NAT-T).
    #[error("not ESP: outer protocol {protocol} (expected {expected})")]
    NotEsp {
        /// The protocol / next header found.
        protocol: u8,
        /// The protocol the SA expects (50, or 17 with UDP encapsulation).
        expected: u8,
    },
    /// Fewer than 8 bytes of UDP header.
    #[error("UDP header truncated")]
    UdpTruncated,
    /// UDP length field does not equal the IP payload length.
    #[error("UDP length {udp_len} does not match the IP payload length {ip_payload_len}")]
    UdpBadLength {
        /// The UDP length field.
        udp_len: u16,
        /// The IP payload length.
        ip_payload_len: usize,
    },
    /// UDP destination port is not the SA's.
    #[error("UDP destination port {got} does not match the SA's port {expected}")]
    UdpPortMismatch {
        /// The SA's UDP destination port.
        expected: u16,
        /// The port found.
        got: u16,
    },
    /// UDP checksum (verified over IPv6 only) does not verify.
    #[error("UDP checksum mismatch")]
    UdpBadChecksum,
    /// UDP over IPv6 with a zero checksum (forbidden by RFC 8200).
    #[error("UDP checksum is zero over IPv6")]
    UdpZeroChecksumV6,
    /// UDP payload starts with the 4-byte non-ESP marker: an IKE packet (RFC 3948).
    #[error("not ESP: non-ESP marker (IKE packet)")]
    NonEspMarker,
    /// UDP payload is the single 0xFF byte of a NAT-keepalive (RFC 3948).
    #[error("not ESP: NAT-keepalive")]
    NatKeepalive,
    /// ESP part shorter than header + IV + one cipher block + ICV.
    #[error("ESP packet of {len} bytes is shorter than header, IV, one block and ICV")]
    EspTruncated {
        /// ESP length (SPI to end of ICV).
        len: usize,
    },
    /// Ciphertext length is not a multiple of the cipher block size.
    #[error("ciphertext of {len} bytes is not a multiple of the block size")]
    CiphertextNotBlockMultiple {
        /// Ciphertext length.
        len: usize,
    },
    /// Pad length too large for the payload, or padding bytes not 1, 2, 3, ...
    #[error("bad padding")]
    BadPadding,
    /// ESP next header is neither 4 (IPv4) nor 41 (IPv6); dummy packets (59) are not supported.
    #[error("unknown next header {0}")]
    UnknownNextHeader(u8),
}

impl From<MalformedReason> for EspError {
    fn from(reason: MalformedReason) -> Self {
        EspError::Malformed(reason)
    }
}
