//! Signature verification of certificates, CRLs and requests against a
//! public key: RSA PKCS#1 v1.5 (SHA-1/256/384/512), RSASSA-PSS (SHA-256/
//! 384/512 with MGF1 of the same hash), ECDSA P-256/P-384
//! (SHA-256/384/512) and DSA (SHA-1/256).

use const_oid::db::rfc5912;
use der::{Decode, Encode};
use rsa::pkcs1::{RsaPssParams, TrailerField};
use sha1::Sha1;
use sha2::{Sha256, Sha384, Sha512};
use signature::hazmat::PrehashVerifier;
use spki::{AlgorithmIdentifierOwned, DecodePublicKey, SubjectPublicKeyInfoOwned};
use x509_cert::Certificate;
use x509_cert::crl::CertificateList;
use x509_cert::request::CertReq;

use crate::key::HashAlg;

/// Why a signature does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// An algorithm the router does not implement.
    #[error("unsupported signature algorithm {0}")]
    Unsupported(String),
    /// The public key does not parse or does not fit the algorithm.
    #[error("bad public key: {0}")]
    BadKey(String),
    /// The signature does not match.
    #[error("signature does not verify")]
    BadSignature,
    /// The signed part could not be re-encoded.
    #[error("encoding: {0}")]
    Encoding(String),
}

fn hash_of(alg: &AlgorithmIdentifierOwned) -> Result<(HashAlg, char), VerifyError> {
    let o = alg.oid;
    Ok(if o == rfc5912::SHA_1_WITH_RSA_ENCRYPTION {
        (HashAlg::Sha1, 'r')
    } else if o == rfc5912::SHA_256_WITH_RSA_ENCRYPTION {
        (HashAlg::Sha256, 'r')
    } else if o == rfc5912::SHA_384_WITH_RSA_ENCRYPTION {
        (HashAlg::Sha384, 'r')
    } else if o == rfc5912::SHA_512_WITH_RSA_ENCRYPTION {
        (HashAlg::Sha512, 'r')
    } else if o == rfc5912::ECDSA_WITH_SHA_256 {
        (HashAlg::Sha256, 'e')
    } else if o == rfc5912::ECDSA_WITH_SHA_384 {
        (HashAlg::Sha384, 'e')
    } else if o == rfc5912::ECDSA_WITH_SHA_512 {
        (HashAlg::Sha512, 'e')
    } else if o == rfc5912::DSA_WITH_SHA_1 {
        (HashAlg::Sha1, 'd')
    } else if o == rfc5912::DSA_WITH_SHA_256 {
        (HashAlg::Sha256, 'd')
    } else {
        return Err(VerifyError::Unsupported(crate::info::signature_name(&o)));
    })
}

/// Verifies `sig` over `msg` made with `alg` by the key in `spki`.
pub fn verify(
    spki: &SubjectPublicKeyInfoOwned,
    alg: &AlgorithmIdentifierOwned,
    msg: &[u8],
    sig: &[u8],
) -> Result<(), VerifyError> {
    if alg.oid == rfc5912::ID_RSASSA_PSS {
        return verify_pss(spki, alg, msg, sig);
    }
    let (hash, family) = hash_of(alg)?;
    let digest = hash.digest(msg);
    let spki_der = spki
        .to_der()
        .map_err(|e| VerifyError::Encoding(e.to_string()))?;
    let key_oid = spki.algorithm.oid;
    let bad_key = |e: &dyn std::fmt::Display| VerifyError::BadKey(e.to_string());
    match family {
        'r' => {
            if key_oid != rfc5912::RSA_ENCRYPTION {
                return Err(VerifyError::BadKey(format!(
                    "an RSA signature needs an RSA key, not {key_oid}"
                )));
            }
            let pk = rsa::PublicKey::from_public_key_der(&spki_der).map_err(|e| {
                match crate::info::KeyDescription::of(spki).bits as usize {
                    bits @ 1.. if bits < rsa::PublicKey::MIN_SIZE => VerifyError::BadKey(format!(
                        "an RSA key of {bits} bits, below the {} bits signatures are verified with",
                        rsa::PublicKey::MIN_SIZE
                    )),
                    _ => bad_key(&e),
                }
            })?;
            let scheme = match hash {
                HashAlg::Sha1 => rsa::Pkcs1v15Sign::new::<Sha1>(),
                HashAlg::Sha256 => rsa::Pkcs1v15Sign::new::<Sha256>(),
                HashAlg::Sha384 => rsa::Pkcs1v15Sign::new::<Sha384>(),
                HashAlg::Sha512 => rsa::Pkcs1v15Sign::new::<Sha512>(),
            };
            pk.verify(scheme, &digest, sig)
                .map_err(|_| VerifyError::BadSignature)
        }
        'e' => {
            if let Ok(vk) = p256::ecdsa::VerifyingKey::from_public_key_der(&spki_der) {
                let s =
                    p256::ecdsa::Signature::from_der(sig).map_err(|_| VerifyError::BadSignature)?;
                vk.verify_prehash(&digest, &s)
                    .map_err(|_| VerifyError::BadSignature)
            } else if let Ok(vk) = p384::ecdsa::VerifyingKey::from_public_key_der(&spki_der) {
                let s =
                    p384::ecdsa::Signature::from_der(sig).map_err(|_| VerifyError::BadSignature)?;
                vk.verify_prehash(&digest, &s)
                    .map_err(|_| VerifyError::BadSignature)
            } else {
                Err(VerifyError::BadKey(
                    "an ECDSA signature needs a P-256 or P-384 key".into(),
                ))
            }
        }
        _ => {
            let vk = dsa::VerifyingKey::from_public_key_der(&spki_der).map_err(|e| bad_key(&e))?;
            let s = dsa::Signature::from_der(sig).map_err(|_| VerifyError::BadSignature)?;
            vk.verify_prehash(&digest, &s)
                .map_err(|_| VerifyError::BadSignature)
        }
    }
}

/// The MGF1 mask generation function (RFC 8017 B.2.1).
const ID_MGF1: const_oid::ObjectIdentifier = rfc5912::ID_MGF_1;

/// RSASSA-PSS (RFC 4055, RFC 8017 8.1) with its parameters: SHA-256/384/512,
/// MGF1 with the same hash, the trailer field 0xbc and the salt length the
/// parameters give. The key is an rsaEncryption or an id-RSASSA-PSS key.
fn verify_pss(
    spki: &SubjectPublicKeyInfoOwned,
    alg: &AlgorithmIdentifierOwned,
    msg: &[u8],
    sig: &[u8],
) -> Result<(), VerifyError> {
    let unsupported = |what: &str| VerifyError::Unsupported(format!("rsassaPss with {what}"));
    let params = alg
        .parameters
        .as_ref()
        .ok_or_else(|| unsupported("no parameters"))?
        .to_der()
        .map_err(|e| VerifyError::Encoding(e.to_string()))?;
    let params = RsaPssParams::<der::asn1::Any>::from_der(&params)
        .map_err(|e| VerifyError::Encoding(format!("RSASSA-PSS-params: {e}")))?;
    let hash = HashAlg::from_oid(&params.hash.oid)
        .filter(|h| *h != HashAlg::Sha1)
        .ok_or_else(|| unsupported(&format!("hash {}", params.hash.oid)))?;
    let mgf_hash = params.mask_gen.parameters.as_ref().map(|a| a.oid);
    if params.mask_gen.oid != ID_MGF1 || mgf_hash != Some(params.hash.oid) {
        return Err(unsupported(
            "a mask generation other than MGF1 of the same hash",
        ));
    }
    if params.trailer_field != TrailerField::BC {
        return Err(unsupported("a trailer field other than 0xbc"));
    }
    let key_oid = spki.algorithm.oid;
    let spki_der = if key_oid == rfc5912::RSA_ENCRYPTION {
        spki.to_der()
    } else if key_oid == rfc5912::ID_RSASSA_PSS {
        // An id-RSASSA-PSS key is an RSA key restricted to PSS.
        SubjectPublicKeyInfoOwned {
            algorithm: AlgorithmIdentifierOwned {
                oid: rfc5912::RSA_ENCRYPTION,
                parameters: Some(der::asn1::Null.into()),
            },
            subject_public_key: spki.subject_public_key.clone(),
        }
        .to_der()
    } else {
        return Err(VerifyError::BadKey(format!(
            "an RSASSA-PSS signature needs an RSA key, not {key_oid}"
        )));
    }
    .map_err(|e| VerifyError::Encoding(e.to_string()))?;
    let pk = rsa::PublicKey::from_public_key_der(&spki_der)
        .map_err(|e| VerifyError::BadKey(e.to_string()))?;
    let digest = hash.digest(msg);
    let salt = usize::from(params.salt_len);
    let checked = match hash {
        HashAlg::Sha256 => pk.verify(rsa::pss::Pss::<Sha256>::new_with_salt(salt), &digest, sig),
        HashAlg::Sha384 => pk.verify(rsa::pss::Pss::<Sha384>::new_with_salt(salt), &digest, sig),
        _ => pk.verify(rsa::pss::Pss::<Sha512>::new_with_salt(salt), &digest, sig),
    };
    checked.map_err(|_| VerifyError::BadSignature)
}

/// Verifies a certificate's signature with the issuer's public key.
pub fn certificate(
    cert: &Certificate,
    issuer: &SubjectPublicKeyInfoOwned,
) -> Result<(), VerifyError> {
    let tbs = cert
        .tbs_certificate()
        .to_der()
        .map_err(|e| VerifyError::Encoding(e.to_string()))?;
    let sig = cert
        .signature()
        .as_bytes()
        .ok_or_else(|| VerifyError::Encoding("signature BIT STRING has unused bits".into()))?;
    verify(issuer, cert.signature_algorithm(), &tbs, sig)
}

/// Verifies a CRL's signature with the issuing CA's public key.
pub fn crl(crl: &CertificateList, issuer: &SubjectPublicKeyInfoOwned) -> Result<(), VerifyError> {
    let tbs = crl
        .tbs_cert_list
        .to_der()
        .map_err(|e| VerifyError::Encoding(e.to_string()))?;
    let sig = crl
        .signature
        .as_bytes()
        .ok_or_else(|| VerifyError::Encoding("signature BIT STRING has unused bits".into()))?;
    verify(issuer, &crl.signature_algorithm, &tbs, sig)
}

/// A signed structure with its signed part kept as sent.
#[derive(der::Sequence)]
struct SignedAsSent {
    signed: der::asn1::Any,
    algorithm: AlgorithmIdentifierOwned,
    signature: der::asn1::BitString,
}

/// Decodes a DER PKCS#10 request and verifies its self-signature over the
/// bytes as they were sent. A request whose attributes are not in DER
/// order (strongSwan's `pki` puts extensionRequest before
/// challengePassword) fails a check over a re-encoding but is signed
/// correctly; this one accepts it.
pub fn request_der(der: &[u8]) -> Result<CertReq, VerifyError> {
    let req = CertReq::from_der(der)
        .map_err(|e| VerifyError::Encoding(format!("not a PKCS#10 request: {e}")))?;
    let raw = SignedAsSent::from_der(der)
        .map_err(|e| VerifyError::Encoding(format!("not a PKCS#10 request: {e}")))?;
    let signed = raw
        .signed
        .to_der()
        .map_err(|e| VerifyError::Encoding(e.to_string()))?;
    let sig = raw
        .signature
        .as_bytes()
        .ok_or_else(|| VerifyError::Encoding("signature BIT STRING has unused bits".into()))?;
    verify(&req.info.public_key, &raw.algorithm, &signed, sig)?;
    Ok(req)
}

/// Verifies a PKCS#10 request's self-signature (proof of possession).
pub fn request(req: &CertReq) -> Result<(), VerifyError> {
    let info = req
        .info
        .to_der()
        .map_err(|e| VerifyError::Encoding(e.to_string()))?;
    let sig = req
        .signature
        .as_bytes()
        .ok_or_else(|| VerifyError::Encoding("signature BIT STRING has unused bits".into()))?;
    verify(&req.info.public_key, &req.algorithm, &info, sig)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::key::{KeyAlgorithm, KeyPair, KeySpec};
    use getrandom::{SysRng, rand_core::UnwrapErr};

    fn pss_alg<D: const_oid::AssociatedOid>(salt: u8) -> AlgorithmIdentifierOwned {
        let params = RsaPssParams::new::<D>(salt);
        AlgorithmIdentifierOwned {
            oid: rfc5912::ID_RSASSA_PSS,
            parameters: Some(der::asn1::Any::encode_from(&params).unwrap()),
        }
    }

    #[test]
    fn rsassa_pss() {
        let kp = KeyPair::generate(KeySpec::new(KeyAlgorithm::Rsa, 2048).unwrap()).unwrap();
        let KeyPair::Rsa(sk) = &kp else {
            panic!("not RSA")
        };
        let spki = kp.public_key_info().unwrap();
        let msg = b"to be signed";
        let mut rng = UnwrapErr(SysRng);
        // SHA-256, salt 32.
        let digest = HashAlg::Sha256.digest(msg);
        let sig = sk
            .sign_with_rng(
                &mut rng,
                rsa::pss::Pss::<Sha256>::new_with_salt(32),
                &digest,
            )
            .unwrap();
        let alg = pss_alg::<Sha256>(32);
        verify(&spki, &alg, msg, &sig).unwrap();
        assert_eq!(
            verify(&spki, &alg, b"other", &sig),
            Err(VerifyError::BadSignature)
        );
        // The salt length in the parameters must be the one used.
        assert_eq!(
            verify(&spki, &pss_alg::<Sha256>(20), msg, &sig),
            Err(VerifyError::BadSignature)
        );
        // SHA-512, salt 64.
        let digest = HashAlg::Sha512.digest(msg);
        let sig = sk
            .sign_with_rng(
                &mut rng,
                rsa::pss::Pss::<Sha512>::new_with_salt(64),
                &digest,
            )
            .unwrap();
        verify(&spki, &pss_alg::<Sha512>(64), msg, &sig).unwrap();
        // SHA-1 and missing parameters are refused.
        assert!(matches!(
            verify(&spki, &pss_alg::<Sha1>(20), msg, &sig),
            Err(VerifyError::Unsupported(_))
        ));
        let bare = AlgorithmIdentifierOwned {
            oid: rfc5912::ID_RSASSA_PSS,
            parameters: None,
        };
        assert!(matches!(
            verify(&spki, &bare, msg, &sig),
            Err(VerifyError::Unsupported(_))
        ));
    }
}
