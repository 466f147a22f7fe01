//! Keyed cipher and integrity state, built once per SA.
//!
//! Thin wrappers over the RustCrypto crates (`aes` + `cbc`, `hmac` + `sha2`)
//! and over [`hmac_sha1_mb`] (HMAC-SHA1 with precomputed pad states, several
//! messages per call on SHA-NI streams, the `sha1` crate as its fallback)
//! that hold the expanded AES key schedule and the keyed HMAC state, so
//! per-packet work never re-keys. These are the exact code paths [`crate::OutboundSa`] and
//! [`crate::InboundSa`] use; they are public so known-answer tests can drive them.
//!
//! None of these types expose their keys, and their `Debug` prints no key material.

use aes::cipher::array::Array;
use aes::cipher::consts::U16;
use aes::cipher::{
    BlockCipherDecClosure, BlockCipherDecrypt, BlockCipherEncClosure, BlockCipherEncrypt,
    BlockModeDecrypt, BlockModeEncrypt, InnerIvInit, KeyInit,
};
use aes::{Aes128Dec, Aes128Enc, Aes192Dec, Aes192Enc, Aes256Dec, Aes256Enc};
use core::fmt;
use hmac::{Hmac, Mac};
use hmac_sha1_mb::{HmacSha1Key, Job, mac_many};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::batch::Span;
use crate::error::EspError;
use crate::sa::{CipherAlg, IntegAlg};

/// AES block size in bytes (also the CBC IV size).
pub const BLOCK_LEN: usize = 16;

/// Largest ICV any supported integrity algorithm produces, in bytes.
pub const MAX_ICV_LEN: usize = 16;

/// Messages per multi-stream MAC call (one lot's worth).
const MANY: usize = 64;

/// An AES key schedule for CBC encryption.
#[derive(Clone)]
pub enum CbcEncryptor {
    /// AES-128.
    Aes128(Aes128Enc),
    /// AES-192.
    Aes192(Aes192Enc),
    /// AES-256.
    Aes256(Aes256Enc),
}

/// An AES key schedule for CBC decryption.
#[derive(Clone)]
pub enum CbcDecryptor {
    /// AES-128.
    Aes128(Aes128Dec),
    /// AES-192.
    Aes192(Aes192Dec),
    /// AES-256.
    Aes256(Aes256Dec),
}

fn bad_key() -> EspError {
    EspError::BadParams("encryption key length does not match the cipher")
}

fn not_blocks(len: usize) -> EspError {
    EspError::Malformed(crate::error::MalformedReason::CiphertextNotBlockMultiple { len })
}

impl CbcEncryptor {
    /// Expands `key` for `alg`; the key length must be `alg.key_len()`.
    pub fn new(alg: CipherAlg, key: &[u8]) -> Result<Self, EspError> {
        Ok(match alg {
            CipherAlg::Aes128Cbc => {
                Self::Aes128(Aes128Enc::new_from_slice(key).map_err(|_| bad_key())?)
            }
            CipherAlg::Aes192Cbc => {
                Self::Aes192(Aes192Enc::new_from_slice(key).map_err(|_| bad_key())?)
            }
            CipherAlg::Aes256Cbc => {
                Self::Aes256(Aes256Enc::new_from_slice(key).map_err(|_| bad_key())?)
            }
        })
    }

    /// CBC-encrypts `buf` in place with `iv`; `buf.len()` must be a multiple of 16.
    pub fn encrypt_in_place(&self, iv: &[u8; BLOCK_LEN], buf: &mut [u8]) -> Result<(), EspError> {
        let (blocks, rest) = Array::slice_as_chunks_mut(buf);
        if !rest.is_empty() {
            return Err(not_blocks(buf_len(blocks.len(), rest.len())));
        }
        let iv = iv.into();
        match self {
            Self::Aes128(c) => cbc::Encryptor::inner_iv_init(c, iv).encrypt_blocks(blocks),
            Self::Aes192(c) => cbc::Encryptor::inner_iv_init(c, iv).encrypt_blocks(blocks),
            Self::Aes256(c) => cbc::Encryptor::inner_iv_init(c, iv).encrypt_blocks(blocks),
        }
        Ok(())
    }

    /// Runs `f` with the cipher's backend (AES-NI, VAES-256 or VAES-512,
    /// picked at run time), its round keys set up once for all the blocks
    /// `f` encrypts.
    pub fn with_backend(&self, f: impl BlockCipherEncClosure<BlockSize = U16>) {
        match self {
            Self::Aes128(c) => c.encrypt_with_backend(f),
            Self::Aes192(c) => c.encrypt_with_backend(f),
            Self::Aes256(c) => c.encrypt_with_backend(f),
        }
    }
}

impl CbcDecryptor {
    /// Expands `key` for `alg`; the key length must be `alg.key_len()`.
    pub fn new(alg: CipherAlg, key: &[u8]) -> Result<Self, EspError> {
        Ok(match alg {
            CipherAlg::Aes128Cbc => {
                Self::Aes128(Aes128Dec::new_from_slice(key).map_err(|_| bad_key())?)
            }
            CipherAlg::Aes192Cbc => {
                Self::Aes192(Aes192Dec::new_from_slice(key).map_err(|_| bad_key())?)
            }
            CipherAlg::Aes256Cbc => {
                Self::Aes256(Aes256Dec::new_from_slice(key).map_err(|_| bad_key())?)
            }
        })
    }

    /// CBC-decrypts `input` into `output` with `iv`.
    ///
    /// Both must have the same length, a multiple of 16; otherwise nothing is written.
    pub fn decrypt_b2b(
        &self,
        iv: &[u8; BLOCK_LEN],
        input: &[u8],
        output: &mut [u8],
    ) -> Result<(), EspError> {
        let (in_blocks, in_rest) = Array::slice_as_chunks(input);
        if !in_rest.is_empty() {
            return Err(not_blocks(input.len()));
        }
        if output.len() != input.len() {
            return Err(EspError::DestTooSmall {
                needed: input.len(),
                available: output.len(),
            });
        }
        let (out_blocks, _) = Array::slice_as_chunks_mut(output);
        let iv = iv.into();
        let res = match self {
            Self::Aes128(c) => {
                cbc::Decryptor::inner_iv_init(c, iv).decrypt_blocks_b2b(in_blocks, out_blocks)
            }
            Self::Aes192(c) => {
                cbc::Decryptor::inner_iv_init(c, iv).decrypt_blocks_b2b(in_blocks, out_blocks)
            }
            Self::Aes256(c) => {
                cbc::Decryptor::inner_iv_init(c, iv).decrypt_blocks_b2b(in_blocks, out_blocks)
            }
        };
        res.map_err(|_| not_blocks(input.len()))
    }

    /// Runs `f` with the cipher's decryption backend, its round keys set
    /// up once for all the blocks `f` decrypts.
    pub fn with_backend(&self, f: impl BlockCipherDecClosure<BlockSize = U16>) {
        match self {
            Self::Aes128(c) => c.decrypt_with_backend(f),
            Self::Aes192(c) => c.decrypt_with_backend(f),
            Self::Aes256(c) => c.decrypt_with_backend(f),
        }
    }

    /// CBC-decrypts `buf` in place with `iv`; `buf.len()` must be a multiple of 16.
    pub fn decrypt_in_place(&self, iv: &[u8; BLOCK_LEN], buf: &mut [u8]) -> Result<(), EspError> {
        let (blocks, rest) = Array::slice_as_chunks_mut(buf);
        if !rest.is_empty() {
            return Err(not_blocks(buf_len(blocks.len(), rest.len())));
        }
        let iv = iv.into();
        match self {
            Self::Aes128(c) => cbc::Decryptor::inner_iv_init(c, iv).decrypt_blocks(blocks),
            Self::Aes192(c) => cbc::Decryptor::inner_iv_init(c, iv).decrypt_blocks(blocks),
            Self::Aes256(c) => cbc::Decryptor::inner_iv_init(c, iv).decrypt_blocks(blocks),
        }
        Ok(())
    }
}

fn buf_len(blocks: usize, rest: usize) -> usize {
    blocks.saturating_mul(BLOCK_LEN).saturating_add(rest)
}

impl fmt::Debug for CbcEncryptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Self::Aes128(_) => "Aes128",
            Self::Aes192(_) => "Aes192",
            Self::Aes256(_) => "Aes256",
        };
        write!(f, "CbcEncryptor({name}, key: <redacted>)")
    }
}

impl fmt::Debug for CbcDecryptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Self::Aes128(_) => "Aes128",
            Self::Aes192(_) => "Aes192",
            Self::Aes256(_) => "Aes256",
        };
        write!(f, "CbcDecryptor({name}, key: <redacted>)")
    }
}

/// A keyed HMAC state (inner and outer pads already absorbed).
#[derive(Clone)]
pub enum IntegKey {
    /// HMAC-SHA1, truncated to 96 bits (RFC 2404): the pad states
    /// precomputed, and many messages on several SHA-NI streams at once
    /// ([`hmac_sha1_mb`]).
    HmacSha1_96(HmacSha1Key),
    /// HMAC-SHA-256, truncated to 128 bits (RFC 4868).
    HmacSha256_128(Hmac<Sha256>),
}

/// A computed ICV: up to [`MAX_ICV_LEN`] bytes, of which `len` are used.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct Icv {
    bytes: [u8; MAX_ICV_LEN],
    len: usize,
}

impl Icv {
    /// The truncated ICV bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or(&self.bytes)
    }

    /// Whether `other` is exactly these bytes, in constant time: both
    /// compared as two 64-bit words (bytes 0..8 and the rest) with one
    /// data-independent comparison at the end (a byte-by-byte `ct_eq` costs
    /// a barrier per byte). Lengths are public.
    pub fn ct_eq_bytes(&self, other: &[u8]) -> bool {
        let ours = self.as_bytes();
        if other.len() != ours.len() {
            return false;
        }
        let (o0, o1) = ours.split_at(ours.len().min(8));
        let (t0, t1) = other.split_at(ours.len().min(8));
        let diff = (word(o0) ^ word(t0)) | (word(o1) ^ word(t1));
        bool::from(diff.ct_eq(&0))
    }
}

/// Up to eight bytes as a word, loaded directly for the usual lengths (an
/// ICV of 12 or 16 bytes splits into 8 + 4 or 8 + 8): a copy into a
/// zeroed buffer first would make the load wait for the copy's stores.
fn word(b: &[u8]) -> u64 {
    if let Ok(a) = <[u8; 8]>::try_from(b) {
        return u64::from_le_bytes(a);
    }
    if let Ok(a) = <[u8; 4]>::try_from(b) {
        return u64::from(u32::from_le_bytes(a));
    }
    b.iter().rev().fold(0, |w, &x| (w << 8) | u64::from(x))
}

impl fmt::Debug for Icv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Icv(")?;
        for b in self.as_bytes() {
            write!(f, "{b:02x}")?;
        }
        write!(f, ")")
    }
}

fn truncate_into(full: &[u8], len: usize) -> Icv {
    let mut bytes = [0u8; MAX_ICV_LEN];
    let n = len.min(full.len()).min(MAX_ICV_LEN);
    if let (Some(dst), Some(src)) = (bytes.get_mut(..n), full.get(..n)) {
        dst.copy_from_slice(src);
    }
    Icv { bytes, len: n }
}

impl IntegKey {
    /// Keys HMAC for `alg`. HMAC accepts any key length; SA validation enforces
    /// `alg.key_len()` separately.
    pub fn new(alg: IntegAlg, key: &[u8]) -> Result<Self, EspError> {
        let bad = |_| EspError::BadParams("authentication key rejected by HMAC");
        Ok(match alg {
            IntegAlg::HmacSha1_96 => Self::HmacSha1_96(HmacSha1Key::new(key)),
            IntegAlg::HmacSha256_128 => {
                Self::HmacSha256_128(Hmac::new_from_slice(key).map_err(bad)?)
            }
        })
    }

    /// The algorithm this key is for.
    pub fn alg(&self) -> IntegAlg {
        match self {
            Self::HmacSha1_96(_) => IntegAlg::HmacSha1_96,
            Self::HmacSha256_128(_) => IntegAlg::HmacSha256_128,
        }
    }

    /// Computes the truncated ICV over `data`.
    pub fn compute(&self, data: &[u8]) -> Icv {
        let len = self.alg().icv_len();
        match self {
            Self::HmacSha1_96(k) => truncate_into(&k.mac(data), len),
            Self::HmacSha256_128(m) => {
                let mut m = m.clone();
                m.update(data);
                truncate_into(&m.finalize().into_bytes(), len)
            }
        }
    }

    /// Checks, in constant time, that `icv` is the truncated HMAC of `data`.
    ///
    /// `icv` must be exactly `icv_len()` bytes long.
    pub fn verify(&self, data: &[u8], icv: &[u8]) -> Result<(), EspError> {
        if icv.len() != self.alg().icv_len() {
            return Err(EspError::AuthFailed);
        }
        let res = match self {
            Self::HmacSha1_96(k) => {
                return if k.verify_96(data, icv) {
                    Ok(())
                } else {
                    Err(EspError::AuthFailed)
                };
            }
            Self::HmacSha256_128(m) => {
                let mut m = m.clone();
                m.update(data);
                m.verify_truncated_left(icv)
            }
        };
        res.map_err(|_| EspError::AuthFailed)
    }

    /// Computes the ICVs of the messages `msgs` of `buf` into `out`
    /// (`out[i]` for `msgs[i]`; extra entries of either are ignored). A span
    /// outside `buf` gets the ICV of the empty message.
    pub fn compute_many(&self, buf: &[u8], msgs: &[Span], out: &mut [Icv]) {
        let Self::HmacSha1_96(key) = self else {
            for (m, icv) in msgs.iter().zip(out) {
                *icv = self.compute(buf.get(m.range()).unwrap_or_default());
            }
            return;
        };
        let icv_len = self.alg().icv_len();
        for (msgs, out) in msgs.chunks(MANY).zip(out.chunks_mut(MANY)) {
            let mut jobs: [Job<'_>; MANY] = core::array::from_fn(|i| {
                let msg = msgs.get(i).and_then(|m| buf.get(m.range()));
                Job::new(key, msg.unwrap_or_default())
            });
            let n = msgs.len().min(out.len());
            mac_many(&mut jobs[..n]);
            for (icv, job) in out.iter_mut().zip(&jobs[..n]) {
                *icv = truncate_into(&job.out, icv_len);
            }
        }
    }

    /// Checks, each in constant time, that the bytes `icvs[i]` of `buf` are
    /// the truncated HMAC of the bytes `msgs[i]`; `ok[i]` receives the
    /// verdict. A span outside `buf` fails.
    pub fn verify_many(&self, buf: &[u8], msgs: &[Span], icvs: &[Span], ok: &mut [bool]) {
        let mut computed = [Icv::default(); MANY];
        let chunks = msgs
            .chunks(MANY)
            .zip(icvs.chunks(MANY))
            .zip(ok.chunks_mut(MANY));
        for ((msgs, icvs), ok) in chunks {
            let n = msgs.len().min(icvs.len()).min(ok.len());
            self.compute_many(buf, &msgs[..n], &mut computed[..n]);
            for (((m, i), c), ok) in msgs.iter().zip(icvs).zip(&computed).zip(ok.iter_mut()) {
                *ok = match (buf.get(m.range()), buf.get(i.range())) {
                    (Some(_), Some(icv)) => c.ct_eq_bytes(icv),
                    _ => false,
                };
            }
        }
    }
}

impl fmt::Debug for IntegKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IntegKey({:?}, key: <redacted>)", self.alg())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn icv_comparison_sees_every_byte_and_the_length() {
        let full: Vec<u8> = (1..=20).collect();
        for len in [12, 16, 10, 8, 4, 1] {
            let icv = truncate_into(&full, len);
            assert!(icv.ct_eq_bytes(&full[..len]), "len {len}");
            for at in 0..len {
                let mut other = full[..len].to_vec();
                other[at] ^= 0x80;
                assert!(!icv.ct_eq_bytes(&other), "len {len}, byte {at} changed");
            }
            assert!(!icv.ct_eq_bytes(&full[..len - 1]), "len {len}, one short");
            assert!(!icv.ct_eq_bytes(&full[..len + 1]), "len {len}, one long");
        }
    }
}
