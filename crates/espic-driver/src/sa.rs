//! SA descriptions as the driver programs them onto the card.

use std::net::IpAddr;

use espic_hw::desc::{self, SaBlock};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Encryption transform.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cipher {
    /// AES-128-CBC (RFC 3602).
    Aes128Cbc,
    /// AES-192-CBC.
    Aes192Cbc,
    /// AES-256-CBC.
    Aes256Cbc,
}

impl Cipher {
    /// Key length in bytes.
    pub fn key_len(self) -> usize {
        match self {
            Cipher::Aes128Cbc => 16,
            Cipher::Aes192Cbc => 24,
            Cipher::Aes256Cbc => 32,
        }
    }

    fn code(self) -> u8 {
        match self {
            Cipher::Aes128Cbc => desc::CIPHER_AES128_CBC,
            Cipher::Aes192Cbc => desc::CIPHER_AES192_CBC,
            Cipher::Aes256Cbc => desc::CIPHER_AES256_CBC,
        }
    }
}

/// Integrity transform.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Integrity {
    /// HMAC-SHA1-96 (RFC 2404).
    HmacSha1_96,
    /// HMAC-SHA-256-128 (RFC 4868).
    HmacSha256_128,
}

impl Integrity {
    /// Key length in bytes.
    pub fn key_len(self) -> usize {
        match self {
            Integrity::HmacSha1_96 => 20,
            Integrity::HmacSha256_128 => 32,
        }
    }

    fn code(self) -> u8 {
        match self {
            Integrity::HmacSha1_96 => desc::INTEG_HMAC_SHA1_96,
            Integrity::HmacSha256_128 => desc::INTEG_HMAC_SHA256_128,
        }
    }
}

/// Which way an SA carries traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Encapsulates (ENCAP).
    Outbound,
    /// Decapsulates (DECAP).
    Inbound,
}

/// Soft and hard lifetimes in bytes and packets; 0 = none.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Lifetimes {
    /// Soft limit in inner bytes.
    pub soft_bytes: u64,
    /// Hard limit in inner bytes.
    pub hard_bytes: u64,
    /// Soft limit in packets.
    pub soft_packets: u64,
    /// Hard limit in packets.
    pub hard_packets: u64,
}

/// One SA to program onto the card. Keys are zeroized on drop and never
/// printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SaSpec {
    /// Security parameter index.
    #[zeroize(skip)]
    pub spi: u32,
    /// Direction.
    #[zeroize(skip)]
    pub direction: Direction,
    /// Encryption transform.
    #[zeroize(skip)]
    pub cipher: Cipher,
    /// Encryption key.
    pub enc_key: Vec<u8>,
    /// Integrity transform.
    #[zeroize(skip)]
    pub integrity: Integrity,
    /// Authentication key.
    pub auth_key: Vec<u8>,
    /// Outer source address (our end for outbound SAs).
    #[zeroize(skip)]
    pub tunnel_src: IpAddr,
    /// Outer destination address.
    #[zeroize(skip)]
    pub tunnel_dst: IpAddr,
    /// UDP encapsulation ports (RFC 3948), normally (4500, 4500).
    #[zeroize(skip)]
    pub udp_encap: Option<(u16, u16)>,
    /// Anti-replay window in packets (0 = off, else 32..=4096).
    #[zeroize(skip)]
    pub replay_window: u32,
    /// Lifetimes.
    #[zeroize(skip)]
    pub lifetimes: Lifetimes,
    /// Outbound: the first packet carries `initial_seq + 1`.
    #[zeroize(skip)]
    pub initial_seq: u32,
}

impl std::fmt::Debug for SaSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SaSpec")
            .field("spi", &format_args!("{:#010x}", self.spi))
            .field("direction", &self.direction)
            .field("cipher", &self.cipher)
            .field("integrity", &self.integrity)
            .field("tunnel_src", &self.tunnel_src)
            .field("tunnel_dst", &self.tunnel_dst)
            .field("udp_encap", &self.udp_encap)
            .finish_non_exhaustive()
    }
}

impl SaSpec {
    /// Encodes the SA as the card's SA block. The caller zeroizes the block
    /// when done with it.
    pub(crate) fn to_block(&self) -> Result<SaBlock, &'static str> {
        if self.enc_key.len() != self.cipher.key_len() {
            return Err("encryption key length does not fit the cipher");
        }
        if self.auth_key.len() != self.integrity.key_len() {
            return Err("authentication key length does not fit the integrity algorithm");
        }
        let mut flags = 0;
        let (src, dst) = match (self.tunnel_src, self.tunnel_dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                let mut a = [0u8; 16];
                let mut b = [0u8; 16];
                a[..4].copy_from_slice(&s.octets());
                b[..4].copy_from_slice(&d.octets());
                (a, b)
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                flags |= desc::SA_F_IPV6;
                (s.octets(), d.octets())
            }
            _ => return Err("tunnel endpoints of different address families"),
        };
        let (sport, dport) = self.udp_encap.unwrap_or((0, 0));
        if self.udp_encap.is_some() {
            flags |= desc::SA_F_UDP_ENCAP;
        }
        let mut enc_key = [0u8; 32];
        enc_key[..self.enc_key.len()].copy_from_slice(&self.enc_key);
        let mut auth_key = [0u8; 32];
        auth_key[..self.auth_key.len()].copy_from_slice(&self.auth_key);
        Ok(SaBlock {
            spi: self.spi.into(),
            direction: match self.direction {
                Direction::Outbound => desc::DIR_OUTBOUND,
                Direction::Inbound => desc::DIR_INBOUND,
            },
            cipher: self.cipher.code(),
            integ: self.integrity.code(),
            flags,
            replay_window: self.replay_window.into(),
            initial_seq: self.initial_seq.into(),
            udp_src_port: sport.into(),
            udp_dst_port: dport.into(),
            key_lens: [self.enc_key.len() as u8, self.auth_key.len() as u8, 0, 0],
            tunnel_src: src,
            tunnel_dst: dst,
            soft_bytes: self.lifetimes.soft_bytes.into(),
            hard_bytes: self.lifetimes.hard_bytes.into(),
            soft_packets: self.lifetimes.soft_packets.into(),
            hard_packets: self.lifetimes.hard_packets.into(),
            enc_key,
            auth_key,
            reserved: [0; 8],
        })
    }
}

/// SA state as the card reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaState {
    /// Installed and usable.
    Active,
    /// Past its soft lifetime, still usable.
    SoftExpired,
    /// At its hard lifetime; refuses packets.
    HardExpired,
}

/// What SA_QUERY tells about an SA (never its keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SaInfo {
    /// SPI.
    pub spi: u32,
    /// Direction.
    pub direction: Direction,
    /// Lifetime state.
    pub state: SaState,
    /// Packets processed.
    pub packets: u64,
    /// Inner bytes processed.
    pub bytes: u64,
    /// ICV failures.
    pub auth_failures: u64,
    /// Replayed and outside-window packets.
    pub replay_drops: u64,
    /// Malformed packets.
    pub malformed: u64,
    /// Outbound: last sequence number sent; inbound: highest received.
    pub seq: u64,
}
