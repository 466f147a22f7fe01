//! Message protection (RFC 4210 §5.1.3): the password-based MAC of RFC 4211
//! §4.4 and signatures, both over `DER(ProtectedPart)`:
//!
//! ```text
//! ProtectedPart ::= SEQUENCE { header PKIHeader, body PKIBody }
//! ```

use const_oid::ObjectIdentifier;
use const_oid::db::rfc5912;
use der::asn1::{Any, BitString, OctetString};
use der::{Decode, Encode, EncodeValue, FixedTag, Length, Tag, Tagged, Writer};
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha384, Sha512};
use spki::AlgorithmIdentifierOwned;
use subtle::ConstantTimeEq;
use x509_cert::Certificate;
use zeroize::Zeroizing;

use super::CmpError;
use super::types::{PbmParameter, PkiBody, PkiHeader, PkiMessage};
use crate::key::{HashAlg, KeyPair};

/// `id-PasswordBasedMac` (RFC 4211 §4.4, Entrust).
pub const ID_PASSWORD_BASED_MAC: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113533.7.66.13");
/// `id-PBMAC1` (RFC 8018, RFC 9481 §6.1.1): recognised, not implemented.
pub const ID_PBMAC1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.5.14");
/// `hmac-sha1` (RFC 2404 / IPsec; what OpenSSL puts in PBM).
pub const ID_HMAC_SHA1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.8.1.2");
/// `hmacWithSHA1` (RSADSI; accepted as an alias of hmac-sha1).
pub const ID_HMAC_WITH_SHA1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.2.7");
/// `hmacWithSHA256`.
pub const ID_HMAC_WITH_SHA256: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.2.9");
/// `hmacWithSHA384`.
pub const ID_HMAC_WITH_SHA384: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.2.10");
/// `hmacWithSHA512`.
pub const ID_HMAC_WITH_SHA512: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.2.11");

/// The most PBM iterations a received message may ask for: each one is a
/// hash, and the count is chosen by the (unauthenticated) sender.
pub const MAX_PBM_ITERATIONS: u64 = 100_000;

/// How [`protect`] protects a message.
#[derive(Clone, Copy)]
pub enum Protection<'a> {
    /// No protection (`protectionAlg` and `protection` absent).
    None,
    /// Password-based MAC with the defaults of [`PbmConfig`]. The reference
    /// number identifying the secret goes in the header's `senderKID`.
    Mac {
        /// The shared secret.
        secret: &'a [u8],
    },
    /// Password-based MAC with explicit parameters.
    MacWith {
        /// The shared secret.
        secret: &'a [u8],
        /// Algorithms and iteration count.
        config: PbmConfig,
    },
    /// A signature with `key` (its certificate normally goes first in
    /// `extraCerts`).
    Signature {
        /// The signing key.
        key: &'a KeyPair,
        /// The hash.
        hash: HashAlg,
    },
}

impl std::fmt::Debug for Protection<'_> {
    /// Never prints the secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Protection::None => f.write_str("None"),
            Protection::Mac { .. } => f.write_str("Mac { secret: <redacted> }"),
            Protection::MacWith { config, .. } => {
                write!(f, "MacWith {{ secret: <redacted>, config: {config:?} }}")
            }
            Protection::Signature { key, hash } => f
                .debug_struct("Signature")
                .field("key", key)
                .field("hash", hash)
                .finish(),
        }
    }
}

/// Parameters for a password-based MAC we generate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PbmConfig {
    /// The one-way function iterated over password || salt.
    pub owf: HashAlg,
    /// The HMAC hash.
    pub mac: HashAlg,
    /// Iterations of `owf` (RFC 4211 asks for at least 100).
    pub iterations: u64,
    /// Salt length in bytes.
    pub salt_len: usize,
}

impl Default for PbmConfig {
    /// SHA-256, HMAC-SHA256, 500 iterations, 16 bytes of salt.
    fn default() -> Self {
        PbmConfig {
            owf: HashAlg::Sha256,
            mac: HashAlg::Sha256,
            iterations: 500,
            salt_len: 16,
        }
    }
}

/// The kind of protection a message carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProtectionKind {
    /// No protectionAlg.
    None,
    /// `id-PasswordBasedMac`.
    PasswordBasedMac,
    /// `id-PBMAC1` (not implemented here).
    Pbmac1,
    /// Anything else: presumably a signature algorithm.
    Signature(ObjectIdentifier),
}

/// Which kind of protection `msg` claims.
pub fn protection_kind(msg: &PkiMessage) -> ProtectionKind {
    match &msg.header.protection_alg {
        None => ProtectionKind::None,
        Some(a) if a.oid == ID_PASSWORD_BASED_MAC => ProtectionKind::PasswordBasedMac,
        Some(a) if a.oid == ID_PBMAC1 => ProtectionKind::Pbmac1,
        Some(a) => ProtectionKind::Signature(a.oid),
    }
}

/// `ProtectedPart` borrowed from a message, for encoding only.
struct ProtectedPart<'a> {
    header: &'a PkiHeader,
    body: &'a PkiBody,
}

impl FixedTag for ProtectedPart<'_> {
    const TAG: Tag = Tag::Sequence;
}

impl EncodeValue for ProtectedPart<'_> {
    fn value_len(&self) -> der::Result<Length> {
        self.header.encoded_len()? + self.body.encoded_len()?
    }

    fn encode_value(&self, writer: &mut impl Writer) -> der::Result<()> {
        self.header.encode(writer)?;
        self.body.encode(writer)
    }
}

/// `DER(ProtectedPart)`: what the MAC or signature covers.
pub fn protected_part(header: &PkiHeader, body: &PkiBody) -> Result<Vec<u8>, CmpError> {
    ProtectedPart { header, body }
        .to_der()
        .map_err(CmpError::Encode)
}

fn hash_oid(h: HashAlg) -> ObjectIdentifier {
    h.oid()
}

fn hmac_oid(h: HashAlg) -> ObjectIdentifier {
    match h {
        HashAlg::Sha1 => ID_HMAC_SHA1,
        HashAlg::Sha256 => ID_HMAC_WITH_SHA256,
        HashAlg::Sha384 => ID_HMAC_WITH_SHA384,
        HashAlg::Sha512 => ID_HMAC_WITH_SHA512,
    }
}

fn hmac_from_oid(oid: &ObjectIdentifier) -> Option<HashAlg> {
    if *oid == ID_HMAC_SHA1 || *oid == ID_HMAC_WITH_SHA1 {
        Some(HashAlg::Sha1)
    } else if *oid == ID_HMAC_WITH_SHA256 {
        Some(HashAlg::Sha256)
    } else if *oid == ID_HMAC_WITH_SHA384 {
        Some(HashAlg::Sha384)
    } else if *oid == ID_HMAC_WITH_SHA512 {
        Some(HashAlg::Sha512)
    } else {
        None
    }
}

fn hmac<D>(key: &[u8], data: &[u8]) -> Result<Vec<u8>, CmpError>
where
    Hmac<D>: KeyInit + Mac,
    D: hmac::EagerHash,
{
    let mut mac = <Hmac<D> as KeyInit>::new_from_slice(key)
        .map_err(|_| CmpError::BadPbmParameters("HMAC key rejected".into()))?;
    mac.update(data);
    Ok(mac.finalize().into_bytes().to_vec())
}

/// Iterates `owf` over `secret || salt` `iterations` times (RFC 4211 §4.4
/// steps 2–4).
fn pbm_key(owf: HashAlg, secret: &[u8], salt: &[u8], iterations: u64) -> Zeroizing<Vec<u8>> {
    fn iterate<D: Digest>(secret: &[u8], salt: &[u8], iterations: u64) -> Zeroizing<Vec<u8>> {
        let mut h = D::new();
        h.update(secret);
        h.update(salt);
        let mut key = Zeroizing::new(h.finalize().to_vec());
        for _ in 1..iterations {
            *key = D::digest(key.as_slice()).to_vec();
        }
        key
    }
    match owf {
        HashAlg::Sha1 => iterate::<Sha1>(secret, salt, iterations),
        HashAlg::Sha256 => iterate::<Sha256>(secret, salt, iterations),
        HashAlg::Sha384 => iterate::<Sha384>(secret, salt, iterations),
        HashAlg::Sha512 => iterate::<Sha512>(secret, salt, iterations),
    }
}

/// Checks an AlgorithmIdentifier of a hash or HMAC has absent or NULL
/// parameters.
fn no_params(alg: &AlgorithmIdentifierOwned, what: &str) -> Result<(), CmpError> {
    match &alg.parameters {
        None => Ok(()),
        Some(p) if p.tag() == Tag::Null && p.value().is_empty() => Ok(()),
        Some(_) => Err(CmpError::BadPbmParameters(format!(
            "unexpected parameters in the {what} algorithm {}",
            alg.oid
        ))),
    }
}

/// The password-based MAC of `data` under `secret` with `params`.
pub fn pbm_mac(params: &PbmParameter, secret: &[u8], data: &[u8]) -> Result<Vec<u8>, CmpError> {
    if params.iteration_count == 0 || params.iteration_count > MAX_PBM_ITERATIONS {
        return Err(CmpError::IterationCount(params.iteration_count));
    }
    let owf = HashAlg::from_oid(&params.owf.oid)
        .ok_or_else(|| CmpError::UnsupportedAlgorithm(format!("PBM owf {}", params.owf.oid)))?;
    no_params(&params.owf, "owf")?;
    let mac = hmac_from_oid(&params.mac.oid)
        .ok_or_else(|| CmpError::UnsupportedAlgorithm(format!("PBM mac {}", params.mac.oid)))?;
    no_params(&params.mac, "mac")?;
    let key = pbm_key(owf, secret, params.salt.as_bytes(), params.iteration_count);
    match mac {
        HashAlg::Sha1 => hmac::<Sha1>(&key, data),
        HashAlg::Sha256 => hmac::<Sha256>(&key, data),
        HashAlg::Sha384 => hmac::<Sha384>(&key, data),
        HashAlg::Sha512 => hmac::<Sha512>(&key, data),
    }
}

/// Fresh random bytes from the operating system.
pub fn random_bytes(n: usize) -> Result<Vec<u8>, CmpError> {
    let mut buf = vec![0u8; n];
    getrandom::fill(&mut buf).map_err(|e| CmpError::Random(e.to_string()))?;
    Ok(buf)
}

/// Protects `body` under `header` (whose `protectionAlg` this sets) and
/// assembles the message. `extra_certs` may be empty.
pub fn protect(
    mut header: PkiHeader,
    body: PkiBody,
    protection: Protection<'_>,
    extra_certs: Vec<Certificate>,
) -> Result<PkiMessage, CmpError> {
    let protection_bits = match protection {
        Protection::None => {
            header.protection_alg = None;
            None
        }
        Protection::Mac { secret } => Some(mac_protect(
            &mut header,
            &body,
            secret,
            &PbmConfig::default(),
        )?),
        Protection::MacWith { secret, config } => {
            Some(mac_protect(&mut header, &body, secret, &config)?)
        }
        Protection::Signature { key, hash } => {
            header.protection_alg = Some(key.signature_algorithm(hash)?);
            let data = protected_part(&header, &body)?;
            let sig = key.sign(hash, &data)?;
            Some(BitString::from_bytes(&sig).map_err(CmpError::Encode)?)
        }
    };
    Ok(PkiMessage {
        header,
        body,
        protection: protection_bits,
        extra_certs: (!extra_certs.is_empty()).then_some(extra_certs),
    })
}

fn mac_protect(
    header: &mut PkiHeader,
    body: &PkiBody,
    secret: &[u8],
    config: &PbmConfig,
) -> Result<BitString, CmpError> {
    let params = PbmParameter {
        salt: OctetString::new(random_bytes(config.salt_len)?).map_err(CmpError::Encode)?,
        owf: AlgorithmIdentifierOwned {
            oid: hash_oid(config.owf),
            parameters: None,
        },
        iteration_count: config.iterations,
        mac: AlgorithmIdentifierOwned {
            oid: hmac_oid(config.mac),
            parameters: None,
        },
    };
    let encoded = params.to_der().map_err(CmpError::Encode)?;
    header.protection_alg = Some(AlgorithmIdentifierOwned {
        oid: ID_PASSWORD_BASED_MAC,
        parameters: Some(Any::from_der(&encoded).map_err(CmpError::Encode)?),
    });
    let data = protected_part(header, body)?;
    let mac = pbm_mac(&params, secret, &data)?;
    BitString::from_bytes(&mac).map_err(CmpError::Encode)
}

/// The PBMParameter of a PBM-protected message.
pub fn pbm_parameters(msg: &PkiMessage) -> Result<PbmParameter, CmpError> {
    let alg = msg
        .header
        .protection_alg
        .as_ref()
        .ok_or(CmpError::Unprotected)?;
    if alg.oid == ID_PBMAC1 {
        return Err(CmpError::UnsupportedAlgorithm(
            "PBMAC1 (1.2.840.113549.1.5.14) protection".into(),
        ));
    }
    if alg.oid != ID_PASSWORD_BASED_MAC {
        return Err(CmpError::WrongProtection {
            expected: "password-based MAC",
            found: alg.oid.to_string(),
        });
    }
    alg.parameters
        .as_ref()
        .ok_or_else(|| CmpError::BadPbmParameters("PBMParameter missing".into()))?
        .decode_as::<PbmParameter>()
        .map_err(|e| CmpError::BadPbmParameters(e.to_string()))
}

/// The MAC `msg`'s PBM parameters give under `secret` (what its
/// `protection` should be), over the DER re-encoding of its header and
/// body.
pub fn compute_mac(msg: &PkiMessage, secret: &[u8]) -> Result<Vec<u8>, CmpError> {
    mac_over(msg, &protected_part(&msg.header, &msg.body)?, secret)
}

/// Checks a password-based MAC (in constant time) over the DER
/// re-encoding of the header and body. For messages received from a peer
/// prefer [`Received::verify_mac`](super::Received::verify_mac), which
/// uses the bytes as sent.
pub fn verify_mac(msg: &PkiMessage, secret: &[u8]) -> Result<(), CmpError> {
    check_mac(msg, &protected_part(&msg.header, &msg.body)?, secret)
}

/// Checks a signature-protected message against `signer`'s public key
/// (whether `signer` is trusted is the caller's business), over the DER
/// re-encoding of the header and body. For messages received from a peer
/// prefer [`Received::verify_signature`](super::Received::verify_signature).
pub fn verify_signature(msg: &PkiMessage, signer: &Certificate) -> Result<(), CmpError> {
    check_signature(msg, &protected_part(&msg.header, &msg.body)?, signer)
}

/// The PBM of `protected` (a DER ProtectedPart) under `msg`'s parameters.
pub(super) fn mac_over(
    msg: &PkiMessage,
    protected: &[u8],
    secret: &[u8],
) -> Result<Vec<u8>, CmpError> {
    pbm_mac(&pbm_parameters(msg)?, secret, protected)
}

/// Compares `msg`'s protection with the PBM of `protected`.
pub(super) fn check_mac(msg: &PkiMessage, protected: &[u8], secret: &[u8]) -> Result<(), CmpError> {
    let got = msg.protection.as_ref().ok_or(CmpError::Unprotected)?;
    let expected = mac_over(msg, protected, secret)?;
    // A MAC is a whole number of octets; compare in constant time (the
    // lengths are public).
    let ok = got.unused_bits() == 0 && bool::from(expected.ct_eq(got.raw_bytes()));
    if ok { Ok(()) } else { Err(CmpError::BadMac) }
}

/// Verifies `msg`'s signature protection over `protected`.
pub(super) fn check_signature(
    msg: &PkiMessage,
    protected: &[u8],
    signer: &Certificate,
) -> Result<(), CmpError> {
    let alg = msg
        .header
        .protection_alg
        .as_ref()
        .ok_or(CmpError::Unprotected)?;
    if alg.oid == ID_PASSWORD_BASED_MAC || alg.oid == ID_PBMAC1 {
        return Err(CmpError::WrongProtection {
            expected: "signature",
            found: "password-based MAC".into(),
        });
    }
    let sig = msg.protection.as_ref().ok_or(CmpError::Unprotected)?;
    let sig = sig.as_bytes().ok_or(CmpError::Signature(
        crate::verify::VerifyError::BadSignature,
    ))?;
    crate::verify::verify(
        signer.tbs_certificate().subject_public_key_info(),
        alg,
        protected,
        sig,
    )
    .map_err(CmpError::Signature)
}

/// The certHash of `cert` for a certConf (RFC 4210 §5.3.18): the hash of
/// its DER with the hash algorithm of its signature (SHA-256 for SHA-256
/// based signatures, and so on).
pub fn cert_hash(cert: &Certificate) -> Result<Vec<u8>, CmpError> {
    let oid = cert.signature_algorithm().oid;
    let hash = signature_hash(&oid).ok_or_else(|| {
        CmpError::UnsupportedAlgorithm(format!("no certHash hash for signature algorithm {oid}"))
    })?;
    Ok(hash.digest(&cert.to_der().map_err(CmpError::Encode)?))
}

/// The hash a signature algorithm uses (RSA PKCS#1 v1.5, ECDSA, DSA).
pub fn signature_hash(oid: &ObjectIdentifier) -> Option<HashAlg> {
    let table = [
        (rfc5912::SHA_1_WITH_RSA_ENCRYPTION, HashAlg::Sha1),
        (rfc5912::SHA_256_WITH_RSA_ENCRYPTION, HashAlg::Sha256),
        (rfc5912::SHA_384_WITH_RSA_ENCRYPTION, HashAlg::Sha384),
        (rfc5912::SHA_512_WITH_RSA_ENCRYPTION, HashAlg::Sha512),
        (rfc5912::ECDSA_WITH_SHA_256, HashAlg::Sha256),
        (rfc5912::ECDSA_WITH_SHA_384, HashAlg::Sha384),
        (rfc5912::ECDSA_WITH_SHA_512, HashAlg::Sha512),
        (rfc5912::DSA_WITH_SHA_1, HashAlg::Sha1),
        (rfc5912::DSA_WITH_SHA_256, HashAlg::Sha256),
    ];
    table.iter().find(|(o, _)| o == oid).map(|(_, h)| *h)
}
