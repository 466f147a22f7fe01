//! Signature verification of certificates, CRLs and requests against a
//! public key: RSA PKCS#1 v1.5 (SHA-1/256/384/512), ECDSA P-256/P-384
//! (SHA-256/384/512) and DSA (SHA-1/256).

use const_oid::db::rfc5912;
use der::{Decode, Encode};
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
            let pk = rsa::PublicKey::from_public_key_der(&spki_der).map_err(|e| bad_key(&e))?;
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
