//! Transform ids (RFC 7296 3.3.2, IANA "IKEv2 Transform Attribute" registry)
//! and the PRF, prf+ and integrity primitives.

use hmac::{EagerHash, Hmac, KeyInit, Mac};
use sha1::Sha1;
use sha2::{Sha256, Sha384, Sha512};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// ENCR_AES_CBC (RFC 3602).
const ENCR_AES_CBC: u16 = 12;

/// An encryption transform (type 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encr {
    /// AES-CBC with a 128-bit key.
    AesCbc128,
    /// AES-CBC with a 192-bit key.
    AesCbc192,
    /// AES-CBC with a 256-bit key.
    AesCbc256,
}

impl Encr {
    /// The transform for an id and its Key Length attribute (AES-CBC needs
    /// one: RFC 7296 3.3.5).
    pub fn from_transform(id: u16, key_length_bits: Option<u16>) -> Option<Self> {
        match (id, key_length_bits?) {
            (ENCR_AES_CBC, 128) => Some(Encr::AesCbc128),
            (ENCR_AES_CBC, 192) => Some(Encr::AesCbc192),
            (ENCR_AES_CBC, 256) => Some(Encr::AesCbc256),
            _ => None,
        }
    }

    /// The transform id (12, ENCR_AES_CBC).
    pub fn id(self) -> u16 {
        ENCR_AES_CBC
    }

    /// The key length in bits (the Key Length attribute).
    pub fn key_bits(self) -> u16 {
        match self {
            Encr::AesCbc128 => 128,
            Encr::AesCbc192 => 192,
            Encr::AesCbc256 => 256,
        }
    }

    /// The key length in bytes.
    pub fn key_len(self) -> usize {
        usize::from(self.key_bits() / 8)
    }

    /// The block (and IV) length in bytes.
    pub fn block_len(self) -> usize {
        16
    }
}

/// A pseudo-random function transform (type 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prf {
    /// PRF_HMAC_SHA1 (2).
    HmacSha1,
    /// PRF_HMAC_SHA2_256 (5).
    HmacSha256,
    /// PRF_HMAC_SHA2_384 (6).
    HmacSha384,
    /// PRF_HMAC_SHA2_512 (7).
    HmacSha512,
}

/// HMAC of `data` under `key` (HMAC takes keys of any length).
fn hmac<D: EagerHash>(key: &[u8], data: &[u8]) -> Zeroizing<Vec<u8>> {
    // HMAC accepts keys of any length: this never fails.
    let Ok(mut mac) = <Hmac<D> as KeyInit>::new_from_slice(key) else {
        return Zeroizing::new(Vec::new());
    };
    mac.update(data);
    Zeroizing::new(mac.finalize().into_bytes().to_vec())
}

impl Prf {
    /// The transform for an id.
    pub fn from_id(id: u16) -> Option<Self> {
        match id {
            2 => Some(Prf::HmacSha1),
            5 => Some(Prf::HmacSha256),
            6 => Some(Prf::HmacSha384),
            7 => Some(Prf::HmacSha512),
            _ => None,
        }
    }

    /// The transform id.
    pub fn id(self) -> u16 {
        match self {
            Prf::HmacSha1 => 2,
            Prf::HmacSha256 => 5,
            Prf::HmacSha384 => 6,
            Prf::HmacSha512 => 7,
        }
    }

    /// The preferred key length in bytes (the output length; RFC 7296
    /// 2.13, SK_d, SK_pi and SK_pr have this length).
    pub fn key_len(self) -> usize {
        self.out_len()
    }

    /// The output length in bytes.
    pub fn out_len(self) -> usize {
        match self {
            Prf::HmacSha1 => 20,
            Prf::HmacSha256 => 32,
            Prf::HmacSha384 => 48,
            Prf::HmacSha512 => 64,
        }
    }

    /// `prf(key, data)`.
    pub fn prf(self, key: &[u8], data: &[u8]) -> Zeroizing<Vec<u8>> {
        match self {
            Prf::HmacSha1 => hmac::<Sha1>(key, data),
            Prf::HmacSha256 => hmac::<Sha256>(key, data),
            Prf::HmacSha384 => hmac::<Sha384>(key, data),
            Prf::HmacSha512 => hmac::<Sha512>(key, data),
        }
    }

    /// `prf+(key, seed)` cut to `len` bytes (RFC 7296 2.13): `T1 = prf(K, S
    /// | 0x01)`, `Tn = prf(K, Tn-1 | S | n)`. The counter stops at 255, so
    /// the output is at most 255 PRF outputs long (far more than any suite
    /// here needs); a longer request gets that much.
    pub fn prf_plus(self, key: &[u8], seed: &[u8], len: usize) -> Zeroizing<Vec<u8>> {
        let want = len.min(255 * self.out_len());
        let mut out = Zeroizing::new(Vec::with_capacity(want + self.out_len()));
        let mut input = Zeroizing::new(Vec::with_capacity(self.out_len() + seed.len() + 1));
        let mut prev: Zeroizing<Vec<u8>> = Zeroizing::new(Vec::new());
        let mut n: u8 = 1;
        while out.len() < want {
            input.clear();
            input.extend_from_slice(&prev);
            input.extend_from_slice(seed);
            input.push(n);
            prev = self.prf(key, &input);
            out.extend_from_slice(&prev);
            n = n.wrapping_add(1);
        }
        out.truncate(want);
        out
    }
}

/// An integrity transform (type 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Integ {
    /// AUTH_HMAC_SHA1_96 (2, RFC 2404).
    HmacSha1_96,
    /// AUTH_HMAC_SHA2_256_128 (12, RFC 4868).
    HmacSha256_128,
    /// AUTH_HMAC_SHA2_384_192 (13, RFC 4868).
    HmacSha384_192,
    /// AUTH_HMAC_SHA2_512_256 (14, RFC 4868).
    HmacSha512_256,
}

impl Integ {
    /// The transform for an id.
    pub fn from_id(id: u16) -> Option<Self> {
        match id {
            2 => Some(Integ::HmacSha1_96),
            12 => Some(Integ::HmacSha256_128),
            13 => Some(Integ::HmacSha384_192),
            14 => Some(Integ::HmacSha512_256),
            _ => None,
        }
    }

    /// The transform id.
    pub fn id(self) -> u16 {
        match self {
            Integ::HmacSha1_96 => 2,
            Integ::HmacSha256_128 => 12,
            Integ::HmacSha384_192 => 13,
            Integ::HmacSha512_256 => 14,
        }
    }

    /// The key length in bytes.
    pub fn key_len(self) -> usize {
        match self {
            Integ::HmacSha1_96 => 20,
            Integ::HmacSha256_128 => 32,
            Integ::HmacSha384_192 => 48,
            Integ::HmacSha512_256 => 64,
        }
    }

    /// The ICV (truncated MAC) length in bytes.
    pub fn icv_len(self) -> usize {
        match self {
            Integ::HmacSha1_96 => 12,
            Integ::HmacSha256_128 => 16,
            Integ::HmacSha384_192 => 24,
            Integ::HmacSha512_256 => 32,
        }
    }

    /// The ICV of `data`: the HMAC truncated to [`Integ::icv_len`].
    pub fn mac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        let full = match self {
            Integ::HmacSha1_96 => hmac::<Sha1>(key, data),
            Integ::HmacSha256_128 => hmac::<Sha256>(key, data),
            Integ::HmacSha384_192 => hmac::<Sha384>(key, data),
            Integ::HmacSha512_256 => hmac::<Sha512>(key, data),
        };
        full.iter().take(self.icv_len()).copied().collect()
    }

    /// Whether `icv` is the ICV of `data` (compared in constant time).
    pub fn verify(self, key: &[u8], data: &[u8], icv: &[u8]) -> bool {
        let mine = self.mac(key, data);
        // The lengths are public; only the contents are compared in
        // constant time.
        mine.len() == icv.len() && bool::from(mine.ct_eq(icv))
    }
}

/// A Diffie-Hellman group (transform type 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DhGroup {
    /// 2048-bit MODP group (14, RFC 3526).
    Modp2048,
    /// 256-bit random ECP group (19, RFC 5903).
    Ecp256,
}

impl DhGroup {
    /// The group for an id.
    pub fn from_id(id: u16) -> Option<Self> {
        match id {
            14 => Some(DhGroup::Modp2048),
            19 => Some(DhGroup::Ecp256),
            _ => None,
        }
    }

    /// The group id.
    pub fn id(self) -> u16 {
        match self {
            DhGroup::Modp2048 => 14,
            DhGroup::Ecp256 => 19,
        }
    }

    /// The length of the public value in a KE payload.
    pub fn public_len(self) -> usize {
        match self {
            DhGroup::Modp2048 => 256,
            DhGroup::Ecp256 => 64,
        }
    }

    /// The length of the shared secret g^ir.
    pub fn shared_len(self) -> usize {
        match self {
            DhGroup::Modp2048 => 256,
            DhGroup::Ecp256 => 32,
        }
    }
}

/// The algorithms of an IKE SA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IkeSuite {
    /// The encryption algorithm.
    pub encr: Encr,
    /// The pseudo-random function.
    pub prf: Prf,
    /// The integrity algorithm.
    pub integ: Integ,
    /// The Diffie-Hellman group.
    pub dh: DhGroup,
}

impl IkeSuite {
    /// The length of the keying material for the seven SA keys.
    pub fn keymat_len(&self) -> usize {
        3 * self.prf.key_len() + 2 * self.integ.key_len() + 2 * self.encr.key_len()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn ids_round_trip() {
        for p in [
            Prf::HmacSha1,
            Prf::HmacSha256,
            Prf::HmacSha384,
            Prf::HmacSha512,
        ] {
            assert_eq!(Prf::from_id(p.id()), Some(p));
            assert_eq!(p.prf(b"k", b"d").len(), p.out_len());
        }
        for i in [
            Integ::HmacSha1_96,
            Integ::HmacSha256_128,
            Integ::HmacSha384_192,
            Integ::HmacSha512_256,
        ] {
            assert_eq!(Integ::from_id(i.id()), Some(i));
            assert_eq!(i.mac(b"k", b"d").len(), i.icv_len());
        }
        for g in [DhGroup::Modp2048, DhGroup::Ecp256] {
            assert_eq!(DhGroup::from_id(g.id()), Some(g));
        }
        for e in [Encr::AesCbc128, Encr::AesCbc192, Encr::AesCbc256] {
            assert_eq!(Encr::from_transform(e.id(), Some(e.key_bits())), Some(e));
            assert_eq!(e.key_len() * 8, usize::from(e.key_bits()));
        }
        assert_eq!(Encr::from_transform(12, None), None);
        assert_eq!(Encr::from_transform(12, Some(64)), None);
        assert_eq!(Encr::from_transform(3, Some(128)), None);
        assert_eq!(Prf::from_id(4), None);
        assert_eq!(Integ::from_id(1), None);
        assert_eq!(DhGroup::from_id(2), None);
    }

    #[test]
    fn hmac_known_answers() {
        // RFC 2202 test case 2 and RFC 4231 test case 2.
        let key = b"Jefe";
        let data = b"what do ya want for nothing?";
        assert_eq!(
            *Prf::HmacSha1.prf(key, data),
            hex("effcdf6ae5eb2fa2d27416d5f184df9c259a7c79")
        );
        assert_eq!(
            *Prf::HmacSha256.prf(key, data),
            hex("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        );
        assert_eq!(
            Integ::HmacSha256_128.mac(key, data),
            hex("5bdcc146bf60754e6a042426089575c7")
        );
        assert_eq!(
            Integ::HmacSha1_96.mac(key, data),
            hex("effcdf6ae5eb2fa2d27416d5")
        );
    }

    #[test]
    fn prf_plus_is_the_hmac_chain() {
        let prf = Prf::HmacSha256;
        let (k, s) = (b"key".as_slice(), b"seed".as_slice());
        let t1 = prf.prf(k, &[s, &[1]].concat());
        let t2 = prf.prf(k, &[&t1[..], s, &[2]].concat());
        let t3 = prf.prf(k, &[&t2[..], s, &[3]].concat());
        let chain = [&t1[..], &t2[..], &t3[..]].concat();
        assert_eq!(*prf.prf_plus(k, s, 80), chain[..80]);
        assert_eq!(*prf.prf_plus(k, s, 32), *t1);
        assert!(prf.prf_plus(k, s, 0).is_empty());
        // Known answer, computed once with Python's hmac/hashlib:
        // T1 | T2 of HMAC-SHA1 with key "key", seed "seed", cut to 30.
        assert_eq!(
            *Prf::HmacSha1.prf_plus(k, s, 30),
            hex("0a4dd4d286ae93c5e1d24f24f3756216b533dd67ad15d19cef25f483bcc5")
        );
        // The 255-block limit.
        assert_eq!(Prf::HmacSha1.prf_plus(k, s, 10_000).len(), 255 * 20);
    }

    #[test]
    fn integ_verify_is_exact() {
        let i = Integ::HmacSha256_128;
        let icv = i.mac(b"k", b"data");
        assert!(i.verify(b"k", b"data", &icv));
        assert!(!i.verify(b"k", b"date", &icv));
        assert!(!i.verify(b"j", b"data", &icv));
        assert!(!i.verify(b"k", b"data", &icv[..15]));
        assert!(!i.verify(b"k", b"data", &[]));
        let mut bad = icv.clone();
        bad[15] ^= 1;
        assert!(!i.verify(b"k", b"data", &bad));
    }
}
