//! Layouts the card reads and writes in host memory. All fields are
//! little-endian; `docs/espic/DESCRIPTORS.md` has the same tables.

use zerocopy::little_endian::{U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// SA index that asks the card to find the inbound SA by the packet's SPI
/// (DECAP only).
pub const SA_BY_SPI: u32 = 0xFFFF_FFFF;

/// A command descriptor: one slot of the command ring (64 bytes).
///
/// ```text
/// off size field
///   0    1 opcode     (Opcode)
///   1    1 flags      (reserved, 0)
///   2    2 reserved
///   4    4 sa_index   (SA slot, or SA_BY_SPI for DECAP)
///   8    8 src_addr   (bus address of the input)
///  16    8 dst_addr   (bus address of the output)
///  24    4 src_len
///  28    4 dst_len    (room at dst_addr)
///  32    8 cookie     (returned untouched in the completion)
///  40   24 reserved
/// ```
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct Descriptor {
    /// Opcode, see [`crate::Opcode`].
    pub opcode: u8,
    /// Reserved flags, 0.
    pub flags: u8,
    /// Reserved, 0.
    pub reserved0: U16,
    /// SA slot, or [`SA_BY_SPI`].
    pub sa_index: U32,
    /// Bus address of the input buffer.
    pub src_addr: U64,
    /// Bus address of the output buffer.
    pub dst_addr: U64,
    /// Input length in bytes.
    pub src_len: U32,
    /// Output room in bytes.
    pub dst_len: U32,
    /// Driver's cookie, returned in the completion.
    pub cookie: U64,
    /// Reserved, 0.
    pub reserved1: [u8; 24],
}

/// Size of a [`Descriptor`] in bytes.
pub const DESCRIPTOR_SIZE: usize = 64;

/// A completion record: one slot of the completion ring (32 bytes).
///
/// ```text
/// off size field
///   0    8 cookie      (from the descriptor)
///   8    2 status      (Status)
///  10    2 flags       (CPL_F_SA_SOFT, CPL_F_SA_HARD)
///  12    4 result_len  (bytes written at dst_addr)
///  16    4 sa_index    (the SA used; for SA_BY_SPI, the slot found)
///  20    4 seq         (ESP sequence number sent or received)
///  24    4 spi         (SPI of the SA used)
///  28    4 reserved
/// ```
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct Completion {
    /// Driver's cookie.
    pub cookie: U64,
    /// Status, see [`crate::Status`].
    pub status: U16,
    /// Event flags.
    pub flags: U16,
    /// Bytes written at the destination.
    pub result_len: U32,
    /// SA slot used.
    pub sa_index: U32,
    /// ESP sequence number.
    pub seq: U32,
    /// SPI of the SA used.
    pub spi: U32,
    /// Reserved, 0.
    pub reserved: U32,
}

/// Size of a [`Completion`] in bytes.
pub const COMPLETION_SIZE: usize = 32;
/// Completion flag: this packet took the SA past its soft lifetime.
pub const CPL_F_SA_SOFT: u16 = 1 << 0;
/// Completion flag: this packet took the SA to its hard lifetime.
pub const CPL_F_SA_HARD: u16 = 1 << 1;

/// SA direction: outbound (encap).
pub const DIR_OUTBOUND: u8 = 0;
/// SA direction: inbound (decap).
pub const DIR_INBOUND: u8 = 1;
/// Cipher code: AES-128-CBC.
pub const CIPHER_AES128_CBC: u8 = 1;
/// Cipher code: AES-192-CBC.
pub const CIPHER_AES192_CBC: u8 = 2;
/// Cipher code: AES-256-CBC.
pub const CIPHER_AES256_CBC: u8 = 3;
/// Integrity code: HMAC-SHA1-96.
pub const INTEG_HMAC_SHA1_96: u8 = 1;
/// Integrity code: HMAC-SHA-256-128.
pub const INTEG_HMAC_SHA256_128: u8 = 2;
/// SA flag: the tunnel endpoints are IPv6.
pub const SA_F_IPV6: u8 = 1 << 0;
/// SA flag: ESP is UDP-encapsulated (RFC 3948).
pub const SA_F_UDP_ENCAP: u8 = 1 << 1;

/// The SA parameter block SA_ADD reads from `src_addr` (160 bytes).
///
/// ```text
/// off size field
///   0    4 spi
///   4    1 direction     (DIR_OUTBOUND, DIR_INBOUND)
///   5    1 cipher        (CIPHER_*)
///   6    1 integ         (INTEG_*)
///   7    1 flags         (SA_F_IPV6, SA_F_UDP_ENCAP)
///   8    4 replay_window (packets, 0 = off, else 32..=4096)
///  12    4 initial_seq   (outbound: first packet uses initial_seq + 1)
///  16    2 udp_src_port
///  18    2 udp_dst_port
///  20    4 key_lens      (byte 0 enc key length, byte 1 auth key length)
///  24   16 tunnel_src    (IPv4 in the first 4 bytes, network order)
///  40   16 tunnel_dst
///  56    8 soft_bytes    (0 = none)
///  64    8 hard_bytes
///  72    8 soft_packets
///  80    8 hard_packets
///  88   32 enc_key
/// 120   32 auth_key
/// 152    8 reserved
/// ```
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct SaBlock {
    /// SPI.
    pub spi: U32,
    /// Direction.
    pub direction: u8,
    /// Cipher code.
    pub cipher: u8,
    /// Integrity code.
    pub integ: u8,
    /// Flags.
    pub flags: u8,
    /// Anti-replay window in packets.
    pub replay_window: U32,
    /// Initial sequence number.
    pub initial_seq: U32,
    /// UDP source port (RFC 3948).
    pub udp_src_port: U16,
    /// UDP destination port (RFC 3948).
    pub udp_dst_port: U16,
    /// Key lengths: byte 0 encryption, byte 1 authentication.
    pub key_lens: [u8; 4],
    /// Outer source address.
    pub tunnel_src: [u8; 16],
    /// Outer destination address.
    pub tunnel_dst: [u8; 16],
    /// Soft lifetime in bytes.
    pub soft_bytes: U64,
    /// Hard lifetime in bytes.
    pub hard_bytes: U64,
    /// Soft lifetime in packets.
    pub soft_packets: U64,
    /// Hard lifetime in packets.
    pub hard_packets: U64,
    /// Encryption key.
    pub enc_key: [u8; 32],
    /// Authentication key.
    pub auth_key: [u8; 32],
    /// Reserved, 0.
    pub reserved: [u8; 8],
}

/// Size of an [`SaBlock`] in bytes.
pub const SA_BLOCK_SIZE: usize = 160;

/// SA state in [`SaStats::state`]: the slot is empty.
pub const SA_STATE_FREE: u8 = 0;
/// SA state: installed and usable.
pub const SA_STATE_ACTIVE: u8 = 1;
/// SA state: past its soft lifetime, still usable.
pub const SA_STATE_SOFT_EXPIRED: u8 = 2;
/// SA state: at its hard lifetime, refuses packets.
pub const SA_STATE_HARD_EXPIRED: u8 = 3;

/// What SA_QUERY writes to `dst_addr` (64 bytes). Keys are never included.
///
/// ```text
/// off size field
///   0    4 spi
///   4    1 direction
///   5    1 state        (SA_STATE_*)
///   6    1 cipher
///   7    1 integ
///   8    8 packets
///  16    8 bytes
///  24    8 auth_failures
///  32    8 replay_drops  (replayed and outside-window)
///  40    8 malformed
///  48    8 seq           (outbound: last sent; inbound: highest received)
///  56    8 reserved
/// ```
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct SaStats {
    /// SPI.
    pub spi: U32,
    /// Direction.
    pub direction: u8,
    /// State.
    pub state: u8,
    /// Cipher code.
    pub cipher: u8,
    /// Integrity code.
    pub integ: u8,
    /// Packets processed.
    pub packets: U64,
    /// Inner bytes processed.
    pub bytes: U64,
    /// ICV failures.
    pub auth_failures: U64,
    /// Replayed and outside-window packets.
    pub replay_drops: U64,
    /// Malformed packets.
    pub malformed: U64,
    /// Sequence number.
    pub seq: U64,
    /// Reserved.
    pub reserved: U64,
}

/// Size of an [`SaStats`] block in bytes.
pub const SA_STATS_SIZE: usize = 64;

const _: () = assert!(size_of::<Descriptor>() == DESCRIPTOR_SIZE);
const _: () = assert!(size_of::<Completion>() == COMPLETION_SIZE);
const _: () = assert!(size_of::<SaBlock>() == SA_BLOCK_SIZE);
const _: () = assert!(size_of::<SaStats>() == SA_STATS_SIZE);
