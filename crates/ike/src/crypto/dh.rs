//! Diffie-Hellman: the 2048-bit MODP group (14, RFC 3526) and the 256-bit
//! random ECP group (19, RFC 5903).

use std::fmt;

use crypto_bigint::modular::{BoxedMontyForm, BoxedMontyParams};
use crypto_bigint::{BoxedUint, Odd};
use getrandom::SysRng;
use p256::elliptic_curve::Generate;
use p256::elliptic_curve::sec1::ToSec1Point;
use zeroize::{Zeroize, Zeroizing};

use super::CryptoError;
use super::suite::DhGroup;

/// The RFC 3526 2048-bit MODP prime, 2^2048 - 2^1984 - 1 + 2^64 *
/// ([2^1918 pi] + 124476); the generator is 2.
const MODP2048_P: &str = concat!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD1",
    "29024E088A67CC74020BBEA63B139B22514A08798E3404DD",
    "EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245",
    "E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED",
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3D",
    "C2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F",
    "83655D23DCA3AD961C62F356208552BB9ED529077096966D",
    "670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B",
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9",
    "DE2BCBF6955817183995497CEA956AE515D2261898FA0510",
    "15728E5A8AACAA68FFFFFFFFFFFFFFFF",
);

/// The bits of the MODP modulus.
const MODP_BITS: u32 = 2048;

/// The bits of a MODP private exponent: twice the group's ~110-bit
/// strength and then some (RFC 3526 section 8 suggests 220-320).
const MODP_EXP_BITS: u32 = 256;

fn modp_prime() -> Result<BoxedUint, CryptoError> {
    Option::from(BoxedUint::from_be_hex(MODP2048_P, MODP_BITS))
        .ok_or(CryptoError::Internal("the MODP prime does not parse"))
}

fn modp_params(p: BoxedUint) -> Result<BoxedMontyParams, CryptoError> {
    let odd: Option<Odd<BoxedUint>> = Odd::new(p).into();
    let odd = odd.ok_or(CryptoError::Internal("the MODP prime is even"))?;
    Ok(BoxedMontyParams::new(odd))
}

/// `base^x mod p` as 256 big-endian bytes (zeroed on drop).
fn modp_pow(base: BoxedUint, x: &BoxedUint, params: &BoxedMontyParams) -> Zeroizing<Vec<u8>> {
    let mut form = BoxedMontyForm::new(base, params).pow(x);
    let mut value = form.retrieve();
    let mut bytes = value.to_be_bytes();
    let out = Zeroizing::new(bytes.to_vec());
    bytes.zeroize();
    value.as_mut_words().zeroize();
    form.as_montgomery_mut().as_mut_words().zeroize();
    out
}

enum Inner {
    Modp { x: BoxedUint },
    Ecp256(p256::ecdh::EphemeralSecret),
}

/// A Diffie-Hellman private value. The MODP exponent is zeroed on drop
/// (the ECP scalar zeroes itself); `Debug` shows only the group.
pub struct DhSecret {
    inner: Inner,
}

impl Drop for DhSecret {
    fn drop(&mut self) {
        if let Inner::Modp { x } = &mut self.inner {
            x.as_mut_words().zeroize();
        }
    }
}

impl fmt::Debug for DhSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DhSecret")
            .field("group", &self.group())
            .finish_non_exhaustive()
    }
}

fn rng_error(e: getrandom::Error) -> CryptoError {
    CryptoError::Random(e.to_string())
}

impl DhSecret {
    /// Generates a private value and returns it with the public value as a
    /// KE payload carries it: for MODP the 256-byte big-endian g^x
    /// (left-padded), for ECP 256 the 64 bytes x | y (RFC 5903 section 7).
    pub fn generate(group: DhGroup) -> Result<(DhSecret, Vec<u8>), CryptoError> {
        match group {
            DhGroup::Modp2048 => {
                let params = modp_params(modp_prime()?)?;
                let g = BoxedUint::from_be_slice(&[2], MODP_BITS)
                    .map_err(|_| CryptoError::Internal("generator does not fit"))?;
                let mut raw = Zeroizing::new([0u8; (MODP_EXP_BITS / 8) as usize]);
                getrandom::fill(raw.as_mut_slice()).map_err(rng_error)?;
                // The top bit set: x is in [2^255, 2^256), never 0 or 1.
                raw[0] |= 0x80;
                let x = BoxedUint::from_be_slice(raw.as_slice(), MODP_EXP_BITS)
                    .map_err(|_| CryptoError::Internal("exponent does not fit"))?;
                let public = modp_pow(g, &x, &params).to_vec();
                Ok((
                    DhSecret {
                        inner: Inner::Modp { x },
                    },
                    public,
                ))
            }
            DhGroup::Ecp256 => {
                let secret = p256::ecdh::EphemeralSecret::try_generate_from_rng(&mut SysRng)
                    .map_err(rng_error)?;
                let point = secret.public_key().to_sec1_point(false);
                // Uncompressed SEC1: 0x04 | x | y; the KE payload carries x | y.
                let public = point
                    .as_bytes()
                    .get(1..)
                    .filter(|xy| xy.len() == 64)
                    .ok_or(CryptoError::Internal("P-256 point is not 65 bytes"))?
                    .to_vec();
                Ok((
                    DhSecret {
                        inner: Inner::Ecp256(secret),
                    },
                    public,
                ))
            }
        }
    }

    /// The group.
    pub fn group(&self) -> DhGroup {
        match self.inner {
            Inner::Modp { .. } => DhGroup::Modp2048,
            Inner::Ecp256(_) => DhGroup::Ecp256,
        }
    }

    /// The shared secret g^ir with the peer's public value. MODP: the value
    /// must be 256 bytes with 1 < y < p-1; the secret is 256 bytes,
    /// left-padded. ECP 256: 64 bytes x | y of a point on the curve; the
    /// secret is the x coordinate, 32 bytes (RFC 5903 section 7).
    pub fn shared(&self, peer_public: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let group = self.group();
        let bad = |reason| CryptoError::BadPeerPublic { group, reason };
        if peer_public.len() != group.public_len() {
            return Err(bad(match group {
                DhGroup::Modp2048 => "not 256 bytes",
                DhGroup::Ecp256 => "not 64 bytes",
            }));
        }
        match &self.inner {
            Inner::Modp { x } => {
                let p = modp_prime()?;
                let y = BoxedUint::from_be_slice(peer_public, MODP_BITS)
                    .map_err(|_| bad("does not fit the group"))?;
                let one = BoxedUint::one_with_precision(MODP_BITS);
                let p_minus_1 = p.wrapping_sub(&one);
                // Public values: comparing in variable time leaks nothing.
                if y.cmp_vartime(&one).is_le() {
                    return Err(bad("0 or 1"));
                }
                if y.cmp_vartime(&p_minus_1).is_ge() {
                    return Err(bad("p-1 or larger"));
                }
                let params = modp_params(p)?;
                Ok(modp_pow(y, x, &params))
            }
            Inner::Ecp256(secret) => {
                let mut sec1 = [0u8; 65];
                sec1[0] = 0x04;
                sec1[1..].copy_from_slice(peer_public);
                let peer = p256::PublicKey::from_sec1_bytes(&sec1)
                    .map_err(|_| bad("not a point on the curve"))?;
                let shared = secret.diffie_hellman(&peer);
                Ok(Zeroizing::new(shared.raw_secret_bytes().to_vec()))
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn modp_parties_agree() {
        let (a, pa) = DhSecret::generate(DhGroup::Modp2048).unwrap();
        let (b, pb) = DhSecret::generate(DhGroup::Modp2048).unwrap();
        assert_eq!(pa.len(), 256);
        assert_eq!(pb.len(), 256);
        assert_ne!(pa, pb);
        let sa = a.shared(&pb).unwrap();
        let sb = b.shared(&pa).unwrap();
        assert_eq!(sa.len(), 256);
        assert_eq!(*sa, *sb);
        assert_eq!(a.group(), DhGroup::Modp2048);
        let dbg = format!("{a:?}");
        assert!(dbg.contains("Modp2048") && !dbg.contains("0x"), "{dbg}");
    }

    #[test]
    fn modp_known_small_exponent() {
        // 2^256 mod p is 2^256 (it is below p): big-endian, a 1 at byte 223.
        let params = modp_params(modp_prime().unwrap()).unwrap();
        let g = BoxedUint::from_be_slice(&[2], MODP_BITS).unwrap();
        let x = BoxedUint::from_be_slice(&[1, 0], 256).unwrap();
        let v = modp_pow(g, &x, &params);
        let mut want = vec![0u8; 256];
        want[256 - 33] = 1;
        assert_eq!(*v, want);
    }

    #[test]
    fn modp_rejects_bad_peer_values() {
        let (a, _) = DhSecret::generate(DhGroup::Modp2048).unwrap();
        let p = modp_prime().unwrap().to_be_bytes().to_vec();
        let one = BoxedUint::one_with_precision(MODP_BITS);
        let p_minus_1 = modp_prime()
            .unwrap()
            .wrapping_sub(&one)
            .to_be_bytes()
            .to_vec();
        let mut v1 = vec![0u8; 256];
        v1[255] = 1;
        for bad in [vec![0u8; 256], v1, p_minus_1, p, vec![0xff; 256]] {
            assert!(
                matches!(
                    a.shared(&bad),
                    Err(CryptoError::BadPeerPublic {
                        group: DhGroup::Modp2048,
                        ..
                    })
                ),
                "{:?}",
                &bad[250..]
            );
        }
        for len in [0, 1, 64, 255, 257] {
            assert!(matches!(
                a.shared(&vec![2u8; len]),
                Err(CryptoError::BadPeerPublic { .. })
            ));
        }
        // 2 is fine.
        let mut two = vec![0u8; 256];
        two[255] = 2;
        assert_eq!(a.shared(&two).unwrap().len(), 256);
    }

    #[test]
    fn ecp256_parties_agree() {
        let (a, pa) = DhSecret::generate(DhGroup::Ecp256).unwrap();
        let (b, pb) = DhSecret::generate(DhGroup::Ecp256).unwrap();
        assert_eq!(pa.len(), 64);
        let sa = a.shared(&pb).unwrap();
        let sb = b.shared(&pa).unwrap();
        assert_eq!(sa.len(), 32);
        assert_eq!(*sa, *sb);
        assert_eq!(b.group(), DhGroup::Ecp256);
        assert!(format!("{b:?}").contains("Ecp256"));
    }

    #[test]
    fn ecp256_rejects_bad_peer_values() {
        let (a, pa) = DhSecret::generate(DhGroup::Ecp256).unwrap();
        let mut off_curve = pa.clone();
        off_curve[63] ^= 1;
        let mut xy11 = vec![0u8; 64];
        xy11[31] = 1;
        xy11[63] = 1;
        for bad in [vec![0u8; 64], off_curve, xy11, vec![0xff; 64]] {
            assert!(matches!(
                a.shared(&bad),
                Err(CryptoError::BadPeerPublic {
                    group: DhGroup::Ecp256,
                    ..
                })
            ));
        }
        for len in [0, 32, 33, 63, 65, 256] {
            assert!(matches!(
                a.shared(&vec![4u8; len]),
                Err(CryptoError::BadPeerPublic { .. })
            ));
        }
    }
}
