//! AUTH payload signatures (RFC 7296 2.15, RFC 4754, RFC 7427).
//!
//! | method | signature |
//! |---|---|
//! | 1 | RSA PKCS#1 v1.5 with SHA-1 |
//! | 9 | ECDSA P-256 with SHA-256, raw `r | s` (32 + 32 bytes) |
//! | 10 | ECDSA P-384 with SHA-384, raw `r | s` (48 + 48 bytes) |
//! | 14 | Digital Signature: `length | AlgorithmIdentifier | signature` |

use const_oid::ObjectIdentifier;
use const_oid::db::rfc5912;
use der::asn1::UintRef;
use der::{Decode, Encode};
use pki::key::{HashAlg, KeyPair};
use pki::verify::VerifyError;
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};

use super::CryptoError;
use super::suite::Prf;

/// AUTH method 1: RSA Digital Signature (PKCS#1 v1.5, SHA-1).
const METHOD_RSA_SIG: u8 = 1;
/// AUTH method 9: ECDSA with SHA-256 on the P-256 curve (RFC 4754).
const METHOD_ECDSA_256: u8 = 9;
/// AUTH method 10: ECDSA with SHA-384 on the P-384 curve (RFC 4754).
const METHOD_ECDSA_384: u8 = 10;
/// AUTH method 14: Digital Signature (RFC 7427).
const METHOD_DIGITAL_SIGNATURE: u8 = 14;

/// The hash algorithms announced in SIGNATURE_HASH_ALGORITHMS (RFC 7427):
/// SHA-256, SHA-384 and SHA-512.
pub const SIGNATURE_HASHES: [u16; 3] = [2, 3, 4];

/// The hash a SIGNATURE_HASH_ALGORITHMS id names (RFC 7427, IANA "IKEv2
/// Hash Algorithms"): 1 SHA-1, 2 SHA-256, 3 SHA-384, 4 SHA-512.
pub fn hash_from_id(id: u16) -> Option<HashAlg> {
    match id {
        1 => Some(HashAlg::Sha1),
        2 => Some(HashAlg::Sha256),
        3 => Some(HashAlg::Sha384),
        4 => Some(HashAlg::Sha512),
        _ => None,
    }
}

/// The octets an AUTH payload signs (RFC 7296 2.15): `RealMessage | Nonce |
/// prf(SK_p, IDBody)`. The initiator signs its IKE_SA_INIT request, the
/// responder's Nr and `prf(SK_pi, IDi body)`; the responder its
/// IKE_SA_INIT response, Ni and `prf(SK_pr, IDr body)`.
pub fn signed_octets(
    prf: Prf,
    sk_p: &[u8],
    real_message: &[u8],
    nonce: &[u8],
    id_body: &[u8],
) -> Vec<u8> {
    let mac = prf.prf(sk_p, id_body);
    [real_message, nonce, &mac].concat()
}

/// Which AUTH method (and for method 14 which hash) to sign with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthSigner {
    /// Method 1: RSA PKCS#1 v1.5 with SHA-1.
    RsaSig,
    /// Method 9 for a P-256 key (SHA-256) or 10 for a P-384 key (SHA-384):
    /// raw `r | s`, each of the curve's width.
    Ecdsa,
    /// Method 14 (RFC 7427) with this hash.
    DigitalSignature(HashAlg),
}

/// ECDSA-Sig-Value (RFC 3279): `SEQUENCE { r INTEGER, s INTEGER }`.
#[derive(der::Sequence)]
struct EcdsaSigValue<'a> {
    r: UintRef<'a>,
    s: UintRef<'a>,
}

/// A DER ECDSA-Sig-Value as raw `r | s`, each left-padded to `width`.
fn der_to_raw(sig: &[u8], width: usize) -> Result<Vec<u8>, CryptoError> {
    let v = EcdsaSigValue::from_der(sig)
        .map_err(|e| CryptoError::Sign(format!("ECDSA signature does not decode: {e}")))?;
    let mut out = vec![0u8; 2 * width];
    for (i, n) in [v.r.as_bytes(), v.s.as_bytes()].into_iter().enumerate() {
        if n.len() > width {
            return Err(CryptoError::Sign(
                "ECDSA signature wider than the curve".into(),
            ));
        }
        let end = (i + 1) * width;
        out[end - n.len()..end].copy_from_slice(n);
    }
    Ok(out)
}

/// Raw `r | s` of `width` bytes each as a DER ECDSA-Sig-Value.
fn raw_to_der(raw: &[u8], width: usize) -> Result<Vec<u8>, CryptoError> {
    if raw.len() != 2 * width {
        return Err(CryptoError::BadSignature);
    }
    let (r, s) = raw.split_at(width);
    let v = EcdsaSigValue {
        r: UintRef::new(r).map_err(|_| CryptoError::BadSignature)?,
        s: UintRef::new(s).map_err(|_| CryptoError::BadSignature)?,
    };
    v.to_der().map_err(|e| CryptoError::Encoding(e.to_string()))
}

fn sign_error(e: pki::key::KeyError) -> CryptoError {
    CryptoError::Sign(e.to_string())
}

/// Signs `octets` for an AUTH payload; returns the AUTH method and data.
///
/// Method 1 and 9/10 need an RSA and a P-256/P-384 key respectively
/// ([`CryptoError::KeyMismatch`] otherwise). Method 14 data is the length
/// of the AlgorithmIdentifier's DER in one byte, that DER, and the
/// signature in its X.509 form (PKCS#1 v1.5 for RSA, a DER Ecdsa-Sig-Value
/// for ECDSA, as RFC 7427 says).
pub fn sign_auth(
    key: &KeyPair,
    how: AuthSigner,
    octets: &[u8],
) -> Result<(u8, Vec<u8>), CryptoError> {
    match how {
        AuthSigner::RsaSig => match key {
            KeyPair::Rsa(_) => Ok((
                METHOD_RSA_SIG,
                key.sign(HashAlg::Sha1, octets).map_err(sign_error)?,
            )),
            _ => Err(CryptoError::KeyMismatch(format!(
                "AUTH method 1 needs an RSA key, not {}",
                key.spec()
            ))),
        },
        AuthSigner::Ecdsa => {
            let (method, hash, width) = match key {
                KeyPair::P256(_) => (METHOD_ECDSA_256, HashAlg::Sha256, 32),
                KeyPair::P384(_) => (METHOD_ECDSA_384, HashAlg::Sha384, 48),
                _ => {
                    return Err(CryptoError::KeyMismatch(format!(
                        "AUTH methods 9 and 10 need a P-256 or P-384 key, not {}",
                        key.spec()
                    )));
                }
            };
            let der = key.sign(hash, octets).map_err(sign_error)?;
            Ok((method, der_to_raw(&der, width)?))
        }
        AuthSigner::DigitalSignature(hash) => {
            let alg = key
                .signature_algorithm(hash)
                .map_err(|e| CryptoError::KeyMismatch(e.to_string()))?;
            let alg = alg
                .to_der()
                .map_err(|e| CryptoError::Encoding(e.to_string()))?;
            let alg_len = u8::try_from(alg.len()).map_err(|_| {
                CryptoError::Encoding("AlgorithmIdentifier longer than 255 bytes".into())
            })?;
            let sig = key.sign(hash, octets).map_err(sign_error)?;
            let mut data = Vec::with_capacity(1 + alg.len() + sig.len());
            data.push(alg_len);
            data.extend_from_slice(&alg);
            data.extend_from_slice(&sig);
            Ok((METHOD_DIGITAL_SIGNATURE, data))
        }
    }
}

fn verify_error(e: VerifyError) -> CryptoError {
    match e {
        VerifyError::BadSignature => CryptoError::BadSignature,
        VerifyError::Unsupported(s) => CryptoError::UnsupportedSignature(s),
        VerifyError::BadKey(s) => CryptoError::KeyMismatch(s),
        VerifyError::Encoding(s) => CryptoError::Encoding(s),
    }
}

/// The named curve of an EC public key (`None` for other keys).
fn ec_curve(spki: &SubjectPublicKeyInfoOwned) -> Option<ObjectIdentifier> {
    if spki.algorithm.oid != rfc5912::ID_EC_PUBLIC_KEY {
        return None;
    }
    spki.algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.decode_as::<ObjectIdentifier>().ok())
}

/// Verifies an AUTH payload's method and data over `octets` with the
/// peer's public key (from its certificate).
///
/// Method 1: RSA PKCS#1 v1.5 with SHA-1. Methods 9 and 10: raw `r | s`
/// on P-256 with SHA-256 and P-384 with SHA-384 (the key must be on that
/// curve). Method 14: the length byte, the AlgorithmIdentifier and the
/// signature, checked by [`pki::verify::verify`] (RSA PKCS#1 v1.5 with
/// SHA-1/256/384/512, RSASSA-PSS, ECDSA). Errors:
/// [`CryptoError::BadSignature`] when it does not verify,
/// [`CryptoError::Malformed`] for a broken method 14 AlgorithmIdentifier,
/// [`CryptoError::KeyMismatch`] for a method or algorithm that does not fit
/// the key, [`CryptoError::UnsupportedSignature`] for a signature algorithm
/// not implemented, [`CryptoError::UnsupportedAuthMethod`] for any other
/// method.
pub fn verify_auth(
    spki: &SubjectPublicKeyInfoOwned,
    method: u8,
    data: &[u8],
    octets: &[u8],
) -> Result<(), CryptoError> {
    match method {
        METHOD_RSA_SIG => {
            let alg = AlgorithmIdentifierOwned {
                oid: rfc5912::SHA_1_WITH_RSA_ENCRYPTION,
                parameters: Some(der::asn1::Null.into()),
            };
            pki::verify::verify(spki, &alg, octets, data).map_err(verify_error)
        }
        METHOD_ECDSA_256 | METHOD_ECDSA_384 => {
            let (curve, oid, width) = if method == METHOD_ECDSA_256 {
                (rfc5912::SECP_256_R_1, rfc5912::ECDSA_WITH_SHA_256, 32)
            } else {
                (rfc5912::SECP_384_R_1, rfc5912::ECDSA_WITH_SHA_384, 48)
            };
            if ec_curve(spki) != Some(curve) {
                return Err(CryptoError::KeyMismatch(format!(
                    "AUTH method {method} needs a {} key",
                    if method == METHOD_ECDSA_256 {
                        "P-256"
                    } else {
                        "P-384"
                    }
                )));
            }
            let sig = raw_to_der(data, width)?;
            let alg = AlgorithmIdentifierOwned {
                oid,
                parameters: None,
            };
            pki::verify::verify(spki, &alg, octets, &sig).map_err(verify_error)
        }
        METHOD_DIGITAL_SIGNATURE => {
            let (&alg_len, rest) = data
                .split_first()
                .ok_or(CryptoError::Malformed("empty Digital Signature AUTH data"))?;
            let alg_len = usize::from(alg_len);
            if rest.len() < alg_len {
                return Err(CryptoError::Malformed(
                    "Digital Signature AUTH data shorter than its AlgorithmIdentifier",
                ));
            }
            let (alg, sig) = rest.split_at(alg_len);
            let alg = AlgorithmIdentifierOwned::from_der(alg).map_err(|_| {
                CryptoError::Malformed("Digital Signature AlgorithmIdentifier does not decode")
            })?;
            if sig.is_empty() {
                return Err(CryptoError::BadSignature);
            }
            pki::verify::verify(spki, &alg, octets, sig).map_err(verify_error)
        }
        other => Err(CryptoError::UnsupportedAuthMethod(other)),
    }
}

/// The hashes `key` can sign with, best first: its own default (SHA-256,
/// or SHA-384 for P-384), then SHA-256, SHA-384, SHA-512.
fn preferred_hashes(key: &KeyPair) -> impl Iterator<Item = HashAlg> + '_ {
    [
        key.default_hash(),
        HashAlg::Sha256,
        HashAlg::Sha384,
        HashAlg::Sha512,
    ]
    .into_iter()
    .filter(|h| key.signature_algorithm(*h).is_ok())
}

/// Chooses how to sign given the peer's SIGNATURE_HASH_ALGORITHMS list:
/// method 14 with the first of the key's preferred hashes (SHA-256 for RSA
/// and P-256, SHA-384 for P-384, then SHA-256, SHA-384, SHA-512) the peer
/// announced. If the peer announced none (`None`) or none in common: method
/// 1 for RSA keys, 9/10 for EC keys (a DSA key has no such method and gets
/// method 14 with SHA-256).
pub fn choose_signer(key: &KeyPair, peer_hashes: Option<&[u16]>) -> AuthSigner {
    let theirs: Vec<HashAlg> = peer_hashes
        .unwrap_or_default()
        .iter()
        .filter_map(|id| hash_from_id(*id))
        .collect();
    if let Some(h) = preferred_hashes(key).find(|h| theirs.contains(h)) {
        return AuthSigner::DigitalSignature(h);
    }
    match key {
        KeyPair::Rsa(_) => AuthSigner::RsaSig,
        KeyPair::P256(_) | KeyPair::P384(_) => AuthSigner::Ecdsa,
        KeyPair::Dsa(_) => AuthSigner::DigitalSignature(HashAlg::Sha256),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use std::sync::OnceLock;

    use pki::key::{KeyAlgorithm, KeySpec};

    use super::*;

    fn key(alg: KeyAlgorithm, bits: u32) -> KeyPair {
        KeyPair::generate(KeySpec::new(alg, bits).unwrap()).unwrap()
    }

    /// One RSA 2048 key for all the tests (generation is slow).
    fn rsa() -> &'static KeyPair {
        static KEY: OnceLock<KeyPair> = OnceLock::new();
        KEY.get_or_init(|| key(KeyAlgorithm::Rsa, 2048))
    }

    fn rsa2() -> &'static KeyPair {
        static KEY: OnceLock<KeyPair> = OnceLock::new();
        KEY.get_or_init(|| key(KeyAlgorithm::Rsa, 2048))
    }

    fn octets() -> Vec<u8> {
        signed_octets(
            Prf::HmacSha256,
            b"sk_p",
            b"IKE_SA_INIT bytes",
            b"nonce",
            b"id",
        )
    }

    #[test]
    fn signed_octets_layout() {
        let o = octets();
        let mac = Prf::HmacSha256.prf(b"sk_p", b"id");
        assert_eq!(
            o,
            [b"IKE_SA_INIT bytes".as_slice(), b"nonce", &mac].concat()
        );
    }

    fn round_trip(k: &KeyPair, other: &KeyPair, how: AuthSigner, want_method: u8) {
        let o = octets();
        let (method, data) = sign_auth(k, how, &o).unwrap();
        assert_eq!(method, want_method, "{how:?}");
        let spki = k.public_key_info().unwrap();
        verify_auth(&spki, method, &data, &o).unwrap();
        // Other octets, another key of the same type.
        assert_eq!(
            verify_auth(&spki, method, &data, b"other"),
            Err(CryptoError::BadSignature)
        );
        let other_spki = other.public_key_info().unwrap();
        assert_eq!(
            verify_auth(&other_spki, method, &data, &o),
            Err(CryptoError::BadSignature)
        );
        // A flipped bit in the signature.
        let mut bad = data.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(verify_auth(&spki, method, &bad, &o).is_err());
        // Every truncation and some garbage: errors, never panics.
        for cut in 0..data.len() {
            assert!(verify_auth(&spki, method, &data[..cut], &o).is_err());
        }
        for garbage in [
            vec![],
            vec![0u8],
            vec![0xff; 300],
            vec![0x30; 64],
            vec![0; 96],
        ] {
            assert!(verify_auth(&spki, method, &garbage, &o).is_err());
        }
    }

    #[test]
    fn rsa_methods_1_and_14() {
        round_trip(rsa(), rsa2(), AuthSigner::RsaSig, 1);
        for h in [HashAlg::Sha256, HashAlg::Sha384, HashAlg::Sha512] {
            round_trip(rsa(), rsa2(), AuthSigner::DigitalSignature(h), 14);
        }
        let (_, data) = sign_auth(rsa(), AuthSigner::RsaSig, b"x").unwrap();
        assert_eq!(data.len(), 256);
    }

    #[test]
    fn ecdsa_methods_9_10_and_14() {
        let (a, b) = (key(KeyAlgorithm::Ecdsa, 256), key(KeyAlgorithm::Ecdsa, 256));
        round_trip(&a, &b, AuthSigner::Ecdsa, 9);
        round_trip(&a, &b, AuthSigner::DigitalSignature(HashAlg::Sha256), 14);
        let (_, raw) = sign_auth(&a, AuthSigner::Ecdsa, b"x").unwrap();
        assert_eq!(raw.len(), 64);
        let (c, d) = (key(KeyAlgorithm::Ecdsa, 384), key(KeyAlgorithm::Ecdsa, 384));
        round_trip(&c, &d, AuthSigner::Ecdsa, 10);
        round_trip(&c, &d, AuthSigner::DigitalSignature(HashAlg::Sha384), 14);
        let (_, raw) = sign_auth(&c, AuthSigner::Ecdsa, b"x").unwrap();
        assert_eq!(raw.len(), 96);
        // Method 9 data against a P-384 key and the other way round.
        let o = octets();
        let (m, data) = sign_auth(&a, AuthSigner::Ecdsa, &o).unwrap();
        assert!(matches!(
            verify_auth(&c.public_key_info().unwrap(), m, &data, &o),
            Err(CryptoError::KeyMismatch(_))
        ));
        assert!(matches!(
            verify_auth(&rsa().public_key_info().unwrap(), m, &data, &o),
            Err(CryptoError::KeyMismatch(_))
        ));
    }

    #[test]
    fn method_14_data_layout() {
        let (m, data) =
            sign_auth(rsa(), AuthSigner::DigitalSignature(HashAlg::Sha256), b"x").unwrap();
        assert_eq!(m, 14);
        // sha256WithRSAEncryption with NULL parameters: 15 bytes of DER.
        let alg = rsa()
            .signature_algorithm(HashAlg::Sha256)
            .unwrap()
            .to_der()
            .unwrap();
        assert_eq!(usize::from(data[0]), alg.len());
        assert_eq!(data[1..1 + alg.len()], alg[..]);
        assert_eq!(data.len(), 1 + alg.len() + 256);
    }

    #[test]
    fn method_and_key_must_fit() {
        let ec = key(KeyAlgorithm::Ecdsa, 256);
        assert!(matches!(
            sign_auth(&ec, AuthSigner::RsaSig, b"x"),
            Err(CryptoError::KeyMismatch(_))
        ));
        assert!(matches!(
            sign_auth(rsa(), AuthSigner::Ecdsa, b"x"),
            Err(CryptoError::KeyMismatch(_))
        ));
        // An RSA signature checked against an EC key.
        let o = octets();
        let (m, data) = sign_auth(rsa(), AuthSigner::RsaSig, &o).unwrap();
        assert!(verify_auth(&ec.public_key_info().unwrap(), m, &data, &o).is_err());
    }

    #[test]
    fn broken_method_14_data() {
        let spki = rsa().public_key_info().unwrap();
        let o = octets();
        for data in [
            vec![],
            vec![5],
            vec![3, 0x30, 0x01, 0x00, 1, 2, 3],
            vec![2, 0x04, 0x00, 1, 2, 3],
        ] {
            assert!(
                matches!(
                    verify_auth(&spki, 14, &data, &o),
                    Err(CryptoError::Malformed(_))
                ),
                "{data:?}"
            );
        }
        // A well-formed AlgorithmIdentifier with no signature.
        let alg = rsa()
            .signature_algorithm(HashAlg::Sha256)
            .unwrap()
            .to_der()
            .unwrap();
        let data = [&[alg.len() as u8][..], &alg].concat();
        assert_eq!(
            verify_auth(&spki, 14, &data, &o),
            Err(CryptoError::BadSignature)
        );
        // An algorithm pki does not do.
        let md5 = AlgorithmIdentifierOwned {
            oid: rfc5912::MD_5_WITH_RSA_ENCRYPTION,
            parameters: Some(der::asn1::Null.into()),
        }
        .to_der()
        .unwrap();
        let data = [&[md5.len() as u8][..], &md5, &[1; 256]].concat();
        assert!(matches!(
            verify_auth(&spki, 14, &data, &o),
            Err(CryptoError::UnsupportedSignature(_))
        ));
    }

    #[test]
    fn other_methods_are_unsupported() {
        let spki = rsa().public_key_info().unwrap();
        for m in [0, 2, 3, 11, 12, 13, 15, 255] {
            assert_eq!(
                verify_auth(&spki, m, b"data", b"octets"),
                Err(CryptoError::UnsupportedAuthMethod(m))
            );
        }
    }

    #[test]
    fn raw_and_der_ecdsa_forms() {
        // Leading zeros are stripped in DER and restored in raw.
        let mut raw = vec![0u8; 64];
        raw[31] = 1;
        raw[32] = 0x80;
        let der = raw_to_der(&raw, 32).unwrap();
        assert_eq!(der[..5], [0x30, 0x26, 0x02, 0x01, 0x01]);
        assert_eq!(der_to_raw(&der, 32).unwrap(), raw);
        assert!(der_to_raw(&der, 16).is_err());
        assert_eq!(raw_to_der(&raw[..63], 32), Err(CryptoError::BadSignature));
    }

    #[test]
    fn choosing_a_signer() {
        let p256 = key(KeyAlgorithm::Ecdsa, 256);
        let p384 = key(KeyAlgorithm::Ecdsa, 384);
        assert_eq!(choose_signer(rsa(), None), AuthSigner::RsaSig);
        assert_eq!(choose_signer(&p256, None), AuthSigner::Ecdsa);
        assert_eq!(choose_signer(&p384, None), AuthSigner::Ecdsa);
        assert_eq!(choose_signer(rsa(), Some(&[])), AuthSigner::RsaSig);
        assert_eq!(choose_signer(rsa(), Some(&[1, 99])), AuthSigner::RsaSig);
        assert_eq!(
            choose_signer(rsa(), Some(&[4, 3, 2])),
            AuthSigner::DigitalSignature(HashAlg::Sha256)
        );
        assert_eq!(
            choose_signer(rsa(), Some(&[4, 3])),
            AuthSigner::DigitalSignature(HashAlg::Sha384)
        );
        assert_eq!(
            choose_signer(&p256, Some(&SIGNATURE_HASHES)),
            AuthSigner::DigitalSignature(HashAlg::Sha256)
        );
        assert_eq!(
            choose_signer(&p384, Some(&SIGNATURE_HASHES)),
            AuthSigner::DigitalSignature(HashAlg::Sha384)
        );
        assert_eq!(
            choose_signer(&p384, Some(&[2])),
            AuthSigner::DigitalSignature(HashAlg::Sha256)
        );
        assert_eq!(hash_from_id(2), Some(HashAlg::Sha256));
        assert_eq!(hash_from_id(5), None);
    }
}
