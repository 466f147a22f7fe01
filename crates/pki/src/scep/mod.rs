//! SCEP (RFC 8894) messages, sans I/O: both directions, for the embedded CA
//! (the SCEP server) and the router's SCEP client.
//!
//! A SCEP `pkiMessage` is a CMS SignedData over `id-data` whose signed
//! attributes carry the SCEP fields ([`Attributes`]) and whose content is
//! the DER of a CMS EnvelopedData (the `pkcsPKIEnvelope`):
//!
//! | message | envelope content |
//! |---|---|
//! | PKCSReq, RenewalReq | a PKCS#10 `CertificationRequest` |
//! | CertPoll (GetCertInitial) | [`IssuerAndSubject`] |
//! | GetCert, GetCRL | [`IssuerAndSerialNumber`] |
//! | CertRep SUCCESS | a degenerate certs-only SignedData ([`certs_only`]) |
//! | CertRep FAILURE / PENDING | none: the SignedData has no content |
//!
//! - [`sign`] / [`open`]: the signed `pkiMessage`.
//! - [`seal`] / [`open_envelope`]: the EnvelopedData (RSA key transport;
//!   DES, 3DES, AES-CBC content).
//! - [`certs_only`] / [`parse_certs_only`]: degenerate PKCS#7 (GetCACert,
//!   CertRep content, GetCRL replies via [`degenerate`]).
//! - [`Capabilities`]: the GetCACaps text.
//! - [`client`]: the router's side of an enrollment (GetCACert reply,
//!   algorithm choice, PKCSReq/RenewalReq/CertPoll, reading CertReps).
//!
//! Nothing here reads a clock or the network; randomness (nonces, content
//! keys, IVs) comes from the operating system.

mod caps;
mod certs;
pub mod client;
mod envelope;
mod message;

use std::fmt;

use const_oid::ObjectIdentifier;
use der::{Decode, Encode, Sequence};
use getrandom::{
    SysRng,
    rand_core::{Rng, UnwrapErr},
};
use spki::SubjectPublicKeyInfoOwned;
use x509_cert::name::Name;

pub use caps::{Capabilities, Capability};
pub use certs::{Degenerate, certs_only, degenerate, parse_certs_only, parse_degenerate};
pub use cms::cert::IssuerAndSerialNumber;
pub use envelope::{ContentCipher, Opened, open_envelope, seal};
pub use message::{Incoming, Outgoing, SignatureStyle, open, open_unverified_attributes, sign};

use crate::key::KeyError;
use crate::verify::VerifyError;

/// The OIDs of the SCEP signed attributes (RFC 8894 section 3.2.1,
/// under the VeriSign arc `2.16.840.1.113733.1.9`).
pub mod oid {
    use const_oid::ObjectIdentifier;

    /// `messageType`: PrintableString with the decimal message type.
    pub const MESSAGE_TYPE: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("2.16.840.1.113733.1.9.2");
    /// `pkiStatus`: PrintableString with the decimal status.
    pub const PKI_STATUS: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("2.16.840.1.113733.1.9.3");
    /// `failInfo`: PrintableString with the decimal failure reason.
    pub const FAIL_INFO: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.113733.1.9.4");
    /// `senderNonce`: OCTET STRING.
    pub const SENDER_NONCE: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("2.16.840.1.113733.1.9.5");
    /// `recipientNonce`: OCTET STRING.
    pub const RECIPIENT_NONCE: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("2.16.840.1.113733.1.9.6");
    /// `transactionID`: PrintableString.
    pub const TRANSACTION_ID: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("2.16.840.1.113733.1.9.7");
    /// `desCBC` (OIW), the legacy SCEP content cipher.
    pub const DES_CBC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.14.3.2.7");
}

/// The length of the nonces [`new_nonce`] makes (RFC 8894: 16 bytes).
pub const NONCE_LEN: usize = 16;

/// The nonce lengths [`open`] accepts. RFC 8894 says 16 bytes; older
/// implementations (the micromdm test vectors among them) send 8.
pub const NONCE_LEN_ACCEPTED: std::ops::RangeInclusive<usize> = 8..=64;

/// A SCEP `messageType` (wire form: a PrintableString of the decimal
/// number). Serialized as its RFC 8894 name ([`MessageType::name`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum MessageType {
    /// CertRep: the CA's reply to every request.
    #[serde(rename = "CertRep")]
    CertRep = 3,
    /// RenewalReq: a PKCS#10 request signed with an existing certificate.
    #[serde(rename = "RenewalReq")]
    RenewalReq = 17,
    /// PKCSReq: a PKCS#10 enrolment request.
    #[serde(rename = "PKCSReq")]
    PkcsReq = 19,
    /// CertPoll (GetCertInitial in older drafts): polling a PENDING request.
    #[serde(rename = "CertPoll")]
    CertPoll = 20,
    /// GetCert: fetching a certificate by issuer and serial number.
    #[serde(rename = "GetCert")]
    GetCert = 21,
    /// GetCRL: fetching the CRL for a certificate.
    #[serde(rename = "GetCRL")]
    GetCrl = 22,
}

impl MessageType {
    /// The decimal number on the wire.
    pub fn number(self) -> u8 {
        self as u8
    }

    /// Parses the wire form (`"19"`).
    pub fn from_wire(s: &str) -> Option<Self> {
        Some(match s {
            "3" => MessageType::CertRep,
            "17" => MessageType::RenewalReq,
            "19" => MessageType::PkcsReq,
            "20" => MessageType::CertPoll,
            "21" => MessageType::GetCert,
            "22" => MessageType::GetCrl,
            _ => return None,
        })
    }

    /// The RFC 8894 name (`PKCSReq`, `CertRep`, ...).
    pub fn name(self) -> &'static str {
        match self {
            MessageType::CertRep => "CertRep",
            MessageType::RenewalReq => "RenewalReq",
            MessageType::PkcsReq => "PKCSReq",
            MessageType::CertPoll => "CertPoll",
            MessageType::GetCert => "GetCert",
            MessageType::GetCrl => "GetCRL",
        }
    }

    /// Whether this is a client request (everything but CertRep).
    pub fn is_request(self) -> bool {
        self != MessageType::CertRep
    }
}

impl fmt::Display for MessageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.number())
    }
}

/// A CertRep `pkiStatus` (wire form: a PrintableString of the decimal number).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PkiStatus {
    /// The request was granted.
    Success = 0,
    /// The request was rejected (see [`FailInfo`]).
    Failure = 2,
    /// The request awaits manual approval; poll with CertPoll.
    Pending = 3,
}

impl PkiStatus {
    /// The decimal number on the wire.
    pub fn number(self) -> u8 {
        self as u8
    }

    /// Parses the wire form (`"0"`).
    pub fn from_wire(s: &str) -> Option<Self> {
        Some(match s {
            "0" => PkiStatus::Success,
            "2" => PkiStatus::Failure,
            "3" => PkiStatus::Pending,
            _ => return None,
        })
    }

    /// The RFC 8894 name (`SUCCESS`, `FAILURE`, `PENDING`).
    pub fn name(self) -> &'static str {
        match self {
            PkiStatus::Success => "SUCCESS",
            PkiStatus::Failure => "FAILURE",
            PkiStatus::Pending => "PENDING",
        }
    }
}

impl fmt::Display for PkiStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A CertRep `failInfo` (wire form: a PrintableString of the decimal number).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailInfo {
    /// badAlg: unrecognized or unsupported algorithm.
    BadAlg = 0,
    /// badMessageCheck: the CMS signature did not verify.
    BadMessageCheck = 1,
    /// badRequest: transaction not permitted or supported.
    BadRequest = 2,
    /// badTime: the signingTime was not close enough to the CA's time.
    BadTime = 3,
    /// badCertId: no certificate matched the criteria.
    BadCertId = 4,
}

impl FailInfo {
    /// The decimal number on the wire.
    pub fn number(self) -> u8 {
        self as u8
    }

    /// Parses the wire form (`"2"`).
    pub fn from_wire(s: &str) -> Option<Self> {
        Some(match s {
            "0" => FailInfo::BadAlg,
            "1" => FailInfo::BadMessageCheck,
            "2" => FailInfo::BadRequest,
            "3" => FailInfo::BadTime,
            "4" => FailInfo::BadCertId,
            _ => return None,
        })
    }

    /// The RFC 8894 name (`badAlg`, ...).
    pub fn name(self) -> &'static str {
        match self {
            FailInfo::BadAlg => "badAlg",
            FailInfo::BadMessageCheck => "badMessageCheck",
            FailInfo::BadRequest => "badRequest",
            FailInfo::BadTime => "badTime",
            FailInfo::BadCertId => "badCertId",
        }
    }

    /// What the reason means, in RFC 8894's words.
    pub fn words(self) -> &'static str {
        match self {
            FailInfo::BadAlg => "unrecognized or unsupported algorithm",
            FailInfo::BadMessageCheck => "integrity check (signature verification) failed",
            FailInfo::BadRequest => "transaction not permitted or supported",
            FailInfo::BadTime => "the signing time was not close enough to the system time",
            FailInfo::BadCertId => {
                "no certificate could be identified matching the provided criteria"
            }
        }
    }
}

impl fmt::Display for FailInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.words())
    }
}

/// The authenticated attributes of a pkiMessage (RFC 8894 section 3.2.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attributes {
    /// `messageType`.
    pub message_type: MessageType,
    /// `transactionID` (a PrintableString; see [`transaction_id`]).
    pub transaction_id: String,
    /// `senderNonce` (16 bytes when we make them).
    pub sender_nonce: Option<Vec<u8>>,
    /// `recipientNonce`: a CertRep echoes the request's senderNonce.
    pub recipient_nonce: Option<Vec<u8>>,
    /// `pkiStatus` (CertRep only).
    pub status: Option<PkiStatus>,
    /// `failInfo` (CertRep FAILURE only).
    pub fail_info: Option<FailInfo>,
}

impl Attributes {
    /// A request's attributes: `message_type`, `transaction_id` and a fresh
    /// senderNonce.
    pub fn request(message_type: MessageType, transaction_id: impl Into<String>) -> Self {
        Attributes {
            message_type,
            transaction_id: transaction_id.into(),
            sender_nonce: Some(new_nonce()),
            recipient_nonce: None,
            status: None,
            fail_info: None,
        }
    }

    /// The attributes of the CertRep answering `request`: same transaction
    /// ID, the request's senderNonce as recipientNonce, a fresh senderNonce,
    /// and `status` (with `fail_info` for FAILURE).
    pub fn reply(request: &Attributes, status: PkiStatus, fail_info: Option<FailInfo>) -> Self {
        Attributes {
            message_type: MessageType::CertRep,
            transaction_id: request.transaction_id.clone(),
            sender_nonce: Some(new_nonce()),
            recipient_nonce: request.sender_nonce.clone(),
            status: Some(status),
            fail_info: if status == PkiStatus::Failure {
                fail_info
            } else {
                None
            },
        }
    }
}

/// The content of a CertPoll (GetCertInitial) request (RFC 8894 section 3.3.3).
///
/// ```text
/// IssuerAndSubject ::= SEQUENCE {
///     issuer     Name,
///     subject    Name }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Sequence)]
pub struct IssuerAndSubject {
    /// The CA's name.
    pub issuer: Name,
    /// The subject of the pending request.
    pub subject: Name,
}

impl IssuerAndSubject {
    /// The DER encoding.
    pub fn encode(&self) -> Result<Vec<u8>, ScepError> {
        self.to_der().map_err(|e| ScepError::Encode(e.to_string()))
    }

    /// Parses the DER encoding.
    pub fn decode(der: &[u8]) -> Result<Self, ScepError> {
        Self::from_der(der).map_err(|e| ScepError::malformed("IssuerAndSubject", e))
    }
}

/// A fresh 16-byte nonce from the operating system's randomness.
pub fn new_nonce() -> Vec<u8> {
    let mut nonce = vec![0u8; NONCE_LEN];
    UnwrapErr(SysRng).fill_bytes(&mut nonce);
    nonce
}

/// A transaction ID for a request with public key `spki`: the uppercase hex
/// SHA-256 of the DER SubjectPublicKeyInfo (RFC 8894 section 3.2.1.1 asks
/// for a value derived from the public key, so re-sending the same key
/// continues the same transaction). 64 characters.
pub fn transaction_id(spki: &SubjectPublicKeyInfoOwned) -> String {
    // An SPKI that was decoded or built always re-encodes; should it not,
    // the key bits alone still identify the key.
    let der = spki
        .to_der()
        .unwrap_or_else(|_| spki.subject_public_key.raw_bytes().to_vec());
    hex::encode_upper(crate::key::HashAlg::Sha256.digest(&der))
}

/// The DER of a ContentInfo wrapping `content`.
pub(crate) fn wrap(
    content_type: ObjectIdentifier,
    content: &(impl der::EncodeValue + der::Tagged),
) -> Result<Vec<u8>, ScepError> {
    let info = cms::content_info::ContentInfo {
        content_type,
        content: der::Any::encode_from(content).map_err(|e| ScepError::Encode(e.to_string()))?,
    };
    info.to_der().map_err(|e| ScepError::Encode(e.to_string()))
}

/// Decodes a ContentInfo of `content_type` and its content. Input is read
/// as BER (a superset of DER): SET OF elements keep the order they were
/// sent in (signed attributes are verified over those bytes, as OpenSSL
/// does) and indefinite lengths, as `openssl cms` streams them, are read.
pub(crate) fn unwrap<T>(
    der: &[u8],
    content_type: ObjectIdentifier,
    expected: &'static str,
) -> Result<T, ScepError>
where
    T: for<'a> der::Choice<'a> + for<'a> der::DecodeValue<'a>,
    for<'a> <T as der::DecodeValue<'a>>::Error: fmt::Display,
{
    let info = cms::content_info::ContentInfo::from_ber(der)
        .map_err(|e| ScepError::malformed("ContentInfo", e))?;
    if info.content_type != content_type {
        return Err(ScepError::WrongContentType {
            expected,
            found: oid_name(&info.content_type),
        });
    }
    info.content
        .decode_as_encoding::<T>(der::EncodingRules::Ber)
        .map_err(|e| ScepError::malformed(expected, e))
}

/// The X.509 certificates of a CertificateSet (other formats skipped).
pub(crate) fn certificates_of(
    set: Option<cms::signed_data::CertificateSet>,
) -> Vec<x509_cert::Certificate> {
    set.map(|s| s.0.into_vec())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|c| match c {
            cms::cert::CertificateChoices::Certificate(c) => Some(c),
            cms::cert::CertificateChoices::Other(_) => None,
        })
        .collect()
}

/// Names an OID for error messages: `1.2.840.113549.3.2 (rc2CBC)`.
pub(crate) fn oid_name(oid: &ObjectIdentifier) -> String {
    if *oid == oid::DES_CBC {
        return format!("{oid} (desCBC)");
    }
    match const_oid::db::DB.by_oid(oid) {
        Some(name) => format!("{oid} ({name})"),
        None => oid.to_string(),
    }
}

/// Why a SCEP message could not be made or read.
#[derive(Debug, thiserror::Error)]
pub enum ScepError {
    /// A structure does not decode.
    #[error("malformed {what}: {detail}")]
    Malformed {
        /// What was being decoded.
        what: &'static str,
        /// The decoder's complaint.
        detail: String,
    },
    /// A ContentInfo of another type than expected.
    #[error("not a {expected}: the ContentInfo's content type is {found}")]
    WrongContentType {
        /// What was expected (`SignedData`, `EnvelopedData`).
        expected: &'static str,
        /// The content type found, named.
        found: String,
    },
    /// A pkiMessage without a SignerInfo.
    #[error("the SignedData has no SignerInfo (a degenerate PKCS#7 is not a pkiMessage)")]
    NoSignerInfo,
    /// A pkiMessage with more than one SignerInfo.
    #[error("the SignedData has {0} SignerInfos; a pkiMessage has exactly one")]
    MultipleSigners(usize),
    /// A SignerInfo without signed attributes.
    #[error("the SignerInfo has no signed attributes")]
    NoSignedAttributes,
    /// A required attribute is absent.
    #[error("missing {0} attribute")]
    MissingAttribute(&'static str),
    /// An attribute appears twice or with more than one value.
    #[error("the {0} attribute appears more than once or has more than one value")]
    DuplicateAttribute(&'static str),
    /// An attribute of the wrong ASN.1 type or form.
    #[error("bad {name} attribute: {detail}")]
    BadAttribute {
        /// The attribute.
        name: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// A messageType this implementation does not know.
    #[error("unknown messageType \"{0}\"")]
    UnknownMessageType(String),
    /// A pkiStatus this implementation does not know.
    #[error("unknown pkiStatus \"{0}\"")]
    UnknownPkiStatus(String),
    /// A failInfo this implementation does not know.
    #[error("unknown failInfo \"{0}\"")]
    UnknownFailInfo(String),
    /// A nonce of an implausible length.
    #[error("bad {name} length {len} (expected 16 bytes)")]
    BadNonceLength {
        /// `senderNonce` or `recipientNonce`.
        name: &'static str,
        /// The length found.
        len: usize,
    },
    /// A CertRep without a pkiStatus, or a request with one.
    #[error("{0}")]
    Inconsistent(String),
    /// A digest algorithm this implementation does not support.
    #[error("unsupported digest algorithm {0}")]
    UnsupportedDigest(String),
    /// The messageDigest attribute does not match the content.
    #[error("messageDigest attribute does not match the digest of the content")]
    DigestMismatch,
    /// The signer's certificate is neither trusted nor in the message.
    #[error(
        "the signer's certificate ({0}) is neither among the trusted signers nor in the message"
    )]
    SignerNotFound(String),
    /// The signature over the signed attributes does not verify.
    #[error("signature does not verify")]
    BadSignature,
    /// The signature could not be checked (algorithm, key).
    #[error("signature cannot be checked: {0}")]
    Verify(VerifyError),
    /// Signing failed or the key does not fit the requested style.
    #[error("signing: {0}")]
    Key(#[from] KeyError),
    /// Encoding a structure failed.
    #[error("encoding: {0}")]
    Encode(String),
    /// The operating system's randomness failed.
    #[error("randomness: {0}")]
    Random(String),
    /// Envelopes need an RSA key (SCEP key transport is RSA PKCS#1 v1.5).
    #[error("{0}: SCEP envelopes need an RSA key")]
    NotRsa(String),
    /// No KeyTransRecipientInfo for the certificate.
    #[error("the envelope has no recipient for this certificate ({0})")]
    NoRecipient(String),
    /// A key transport algorithm other than rsaEncryption.
    #[error("unsupported key transport algorithm {0}")]
    UnsupportedKeyTransport(String),
    /// The content-encryption key does not decrypt.
    #[error("the content-encryption key does not decrypt with this private key")]
    KeyTransport,
    /// A content cipher this implementation does not know.
    #[error("unsupported content cipher {0}")]
    UnsupportedCipher(String),
    /// A decrypted content-encryption key of the wrong size.
    #[error(
        "the decrypted content-encryption key is {len} bytes, {cipher} needs {expected} (wrong private key?)"
    )]
    BadKeyLength {
        /// The cipher.
        cipher: &'static str,
        /// The length found.
        len: usize,
        /// The length the cipher needs.
        expected: usize,
    },
    /// A missing or wrong-sized IV.
    #[error("bad {cipher} IV: {detail}")]
    BadIv {
        /// The cipher.
        cipher: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// The envelope carries no encrypted content.
    #[error("the envelope has no encrypted content")]
    NoEncryptedContent,
    /// Ciphertext that is not a whole number of blocks, or bad padding.
    #[error("{cipher} content does not decrypt: {detail}")]
    Decrypt {
        /// The cipher.
        cipher: &'static str,
        /// What is wrong.
        detail: &'static str,
    },
}

impl ScepError {
    pub(crate) fn malformed(what: &'static str, e: impl fmt::Display) -> Self {
        ScepError::Malformed {
            what,
            detail: e.to_string(),
        }
    }

    /// The failInfo a CA should answer with when a request fails to open
    /// this way (`badMessageCheck` for integrity failures, `badAlg` for
    /// unsupported algorithms, else `badRequest`).
    pub fn fail_info(&self) -> FailInfo {
        match self {
            ScepError::DigestMismatch | ScepError::BadSignature | ScepError::SignerNotFound(_) => {
                FailInfo::BadMessageCheck
            }
            ScepError::UnsupportedDigest(_)
            | ScepError::UnsupportedCipher(_)
            | ScepError::UnsupportedKeyTransport(_)
            | ScepError::Verify(VerifyError::Unsupported(_)) => FailInfo::BadAlg,
            _ => FailInfo::BadRequest,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
pub(crate) mod tests {
    use std::path::PathBuf;
    use std::process::Command;
    use std::sync::OnceLock;
    use std::time::Duration;

    use x509_cert::Certificate;
    use x509_cert::request::CertReq;

    use super::*;
    use crate::altname::AltNames;
    use crate::key::{HashAlg, KeyAlgorithm, KeyPair, KeySpec};

    /// A fresh RSA 2048 key and a self-signed certificate for `subject`.
    pub(crate) fn rsa_identity(subject: &str) -> (KeyPair, Certificate) {
        identity(
            KeySpec::new(KeyAlgorithm::Rsa, 2048).unwrap(),
            subject,
            false,
        )
    }

    pub(crate) fn identity(spec: KeySpec, subject: &str, ca: bool) -> (KeyPair, Certificate) {
        let key = KeyPair::generate(spec).unwrap();
        let validity = crate::issue::validity(
            Duration::from_secs(1_700_000_000),
            Duration::from_secs(2_000_000_000),
        )
        .unwrap();
        let cert = crate::issue::self_signed(
            &key,
            subject.parse().unwrap(),
            AltNames::default(),
            ca,
            validity,
        )
        .unwrap();
        (key, cert)
    }

    /// The test CA (RSA 2048, made once).
    pub(crate) fn ca() -> &'static (KeyPair, Certificate) {
        static CA: OnceLock<(KeyPair, Certificate)> = OnceLock::new();
        CA.get_or_init(|| {
            identity(
                KeySpec::new(KeyAlgorithm::Rsa, 2048).unwrap(),
                "CN=Test SCEP CA,O=Example",
                true,
            )
        })
    }

    /// The test router (RSA 2048, made once).
    pub(crate) fn client() -> &'static (KeyPair, Certificate) {
        static CLIENT: OnceLock<(KeyPair, Certificate)> = OnceLock::new();
        CLIENT.get_or_init(|| rsa_identity("CN=router1,O=Example"))
    }

    /// A PKCS#10 request from the test router.
    pub(crate) fn csr_der() -> Vec<u8> {
        let (key, cert) = client();
        let req = crate::request::build(
            key,
            cert.tbs_certificate().subject().clone(),
            &AltNames::default(),
            Some("s3cret"),
            HashAlg::Sha256,
        )
        .unwrap();
        req.to_der().unwrap()
    }

    /// A temp dir when the openssl binary runs; else None (and a failure
    /// under CI=true).
    pub(crate) fn openssl_dir() -> Option<tempfile::TempDir> {
        let ok = Command::new("openssl")
            .arg("version")
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        if !ok {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("the openssl binary is required under CI");
            }
            eprintln!("openssl not found: skipping the OpenSSL cross-check");
            return None;
        }
        Some(tempfile::tempdir().unwrap())
    }

    pub(crate) fn write_temp(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> PathBuf {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    /// Runs openssl with `args`; panics with its stderr on failure.
    pub(crate) fn openssl(args: &[&std::ffi::OsStr]) {
        let out = Command::new("openssl").args(args).output().unwrap();
        assert!(
            out.status.success(),
            "openssl {:?} failed: {}",
            args,
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The test router's and CA's key and certificate as PEM files.
    pub(crate) fn pem_files(
        dir: &tempfile::TempDir,
        who: &str,
        id: &(KeyPair, Certificate),
    ) -> (PathBuf, PathBuf) {
        let cert = crate::encoding::to_pem("CERTIFICATE", &id.1).unwrap();
        let key = id.0.to_pkcs8_pem().unwrap();
        (
            write_temp(dir, &format!("{who}.crt"), cert.as_bytes()),
            write_temp(dir, &format!("{who}.key"), key.as_bytes()),
        )
    }

    #[test]
    fn wire_forms() {
        for t in [
            MessageType::CertRep,
            MessageType::RenewalReq,
            MessageType::PkcsReq,
            MessageType::CertPoll,
            MessageType::GetCert,
            MessageType::GetCrl,
        ] {
            assert_eq!(MessageType::from_wire(&t.number().to_string()), Some(t));
        }
        assert_eq!(MessageType::from_wire("99"), None);
        assert_eq!(MessageType::PkcsReq.to_string(), "PKCSReq (19)");
        for s in [PkiStatus::Success, PkiStatus::Failure, PkiStatus::Pending] {
            assert_eq!(PkiStatus::from_wire(&s.number().to_string()), Some(s));
        }
        assert_eq!(PkiStatus::from_wire("1"), None);
        for f in [
            FailInfo::BadAlg,
            FailInfo::BadMessageCheck,
            FailInfo::BadRequest,
            FailInfo::BadTime,
            FailInfo::BadCertId,
        ] {
            assert_eq!(FailInfo::from_wire(&f.number().to_string()), Some(f));
        }
        assert_eq!(
            FailInfo::BadAlg.words(),
            "unrecognized or unsupported algorithm"
        );
        assert_eq!(
            FailInfo::BadCertId.to_string(),
            "badCertId (no certificate could be identified matching the provided criteria)"
        );
        for c in ContentCipher::ALL {
            assert_eq!(ContentCipher::from_oid(&c.oid()), Some(c));
        }
        assert_eq!(ContentCipher::TripleDes.name(), "3DES");
    }

    #[test]
    fn nonce_transaction_id_reply() {
        let n = new_nonce();
        assert_eq!(n.len(), 16);
        assert_ne!(n, new_nonce());

        let spki = client().0.public_key_info().unwrap();
        let id = transaction_id(&spki);
        assert_eq!(id.len(), 64);
        assert!(
            id.chars()
                .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
        );
        assert_eq!(id, transaction_id(&spki));

        let req = Attributes::request(MessageType::PkcsReq, id.clone());
        let rep = Attributes::reply(&req, PkiStatus::Failure, Some(FailInfo::BadRequest));
        assert_eq!(rep.message_type, MessageType::CertRep);
        assert_eq!(rep.transaction_id, id);
        assert_eq!(rep.recipient_nonce, req.sender_nonce);
        assert_ne!(rep.sender_nonce, req.sender_nonce);
        assert_eq!(rep.fail_info, Some(FailInfo::BadRequest));
        let ok = Attributes::reply(&req, PkiStatus::Success, Some(FailInfo::BadRequest));
        assert_eq!(ok.fail_info, None);
    }

    #[test]
    fn issuer_and_subject_round_trip() {
        let ias = IssuerAndSubject {
            issuer: ca().1.tbs_certificate().subject().clone(),
            subject: "CN=router1,O=Example".parse().unwrap(),
        };
        let der = ias.encode().unwrap();
        assert_eq!(IssuerAndSubject::decode(&der).unwrap(), ias);
        let e = IssuerAndSubject::decode(&der[..der.len() - 1]).unwrap_err();
        assert!(
            e.to_string().starts_with("malformed IssuerAndSubject"),
            "{e}"
        );
    }

    /// The micromdm/scep test vectors (MIT licence): a PKCSReq made by the
    /// micromdm client, CertReps from its server and another CA, and the
    /// test CA. Read at run time from the conformance suites.
    struct Micromdm {
        pkcsreq: Vec<u8>,
        certrep: Vec<u8>,
        certrep_no_signer_cert: Vec<u8>,
        ca_cert: Vec<u8>,
        ca_key: String,
    }

    fn micromdm() -> Option<Micromdm> {
        let dir = crate::testdata::suite("scep-cmp/micromdm-scep-testdata")?;
        let read = |name: &str| std::fs::read(dir.join(name)).unwrap();
        Some(Micromdm {
            pkcsreq: read("PKCSReq.der"),
            certrep: read("hist-CertRep.der"),
            certrep_no_signer_cert: read("hist-CertRep_NoCertificatesForSigners.der"),
            ca_cert: read("testca/ca.crt"),
            ca_key: String::from_utf8(read("testca/ca.key")).unwrap(),
        })
    }

    /// The micromdm test CA key: a traditional OpenSSL PEM encrypted with
    /// DES-EDE3-CBC under the empty password (EVP_BytesToKey with MD5).
    fn micromdm_ca_key(m: &Micromdm) -> KeyPair {
        use cbc::cipher::block_padding::Pkcs7;
        use cbc::cipher::{BlockModeDecrypt, KeyIvInit};
        use md5::{Digest, Md5};

        let mut iv = None;
        let mut body = String::new();
        let mut in_body = false;
        for line in m.ca_key.lines() {
            if let Some(rest) = line.strip_prefix("DEK-Info: DES-EDE3-CBC,") {
                iv = Some(hex::decode(rest.trim()).unwrap());
            } else if line.starts_with("-----END") {
                break;
            } else if line.trim().is_empty() {
                in_body = true;
            } else if in_body {
                body.push_str(line.trim());
                body.push('\n');
            }
        }
        let iv = iv.expect("DEK-Info");
        let pem = format!("-----BEGIN X-----\n{body}-----END X-----\n");
        let (_, encrypted) = der::pem::decode_vec(pem.as_bytes()).unwrap();
        let d1 = Md5::digest(&iv[..8]);
        let mut h = Md5::new();
        h.update(d1);
        h.update(&iv[..8]);
        let d2 = h.finalize();
        let key: Vec<u8> = d1.iter().chain(d2.iter()).take(24).copied().collect();
        let pkcs1 = cbc::Decryptor::<des::TdesEde3>::new_from_slices(&key, &iv)
            .unwrap()
            .decrypt_padded_vec::<Pkcs7>(&encrypted)
            .unwrap();
        KeyPair::from_bytes(&pkcs1).unwrap()
    }

    fn micromdm_ca_cert(m: &Micromdm) -> Certificate {
        crate::encoding::certificate(&m.ca_cert).unwrap()
    }

    #[test]
    fn micromdm_pkcsreq_opens_and_decrypts() {
        let Some(m) = micromdm() else { return };
        let msg = open(&m.pkcsreq, &[]).unwrap();
        assert_eq!(msg.attributes.message_type, MessageType::PkcsReq);
        assert_eq!(
            msg.attributes.transaction_id,
            "A13090761A30F66664F85D37433D2065E1112BA1"
        );
        assert_eq!(msg.attributes.sender_nonce.as_ref().map(Vec::len), Some(8));
        assert_eq!(msg.attributes.status, None);
        assert_eq!(msg.digest, HashAlg::Sha1);
        assert!(!msg.signer_trusted);
        assert_eq!(
            crate::name::common_name(msg.signer.tbs_certificate().subject()).as_deref(),
            Some("MDM SCEP SIGNER")
        );

        let ca_cert = micromdm_ca_cert(&m);
        let opened = open_envelope(
            msg.content.as_ref().unwrap(),
            &micromdm_ca_key(&m),
            &ca_cert,
        )
        .unwrap();
        assert_eq!(opened.cipher, ContentCipher::TripleDes);
        // The request inside is the micromdm client's, with the quirk of
        // PKCS#10 version 2 (v1 = 0 is the only version): x509-cert rejects
        // it as such, and reads it once the version is set to 0.
        let mut csr = opened.content.to_vec();
        let e = CertReq::from_der(&csr).unwrap_err();
        assert!(e.to_string().contains("INTEGER"), "{e}");
        assert_eq!(&csr[8..11], &[0x02, 0x01, 0x02]);
        csr[10] = 0;
        let csr = CertReq::from_der(&csr).unwrap();
        assert_eq!(
            crate::name::common_name(&csr.info.subject).as_deref(),
            Some("com.apple.security.scep.063D7953-1338-4BF0-8F99-913382996224")
        );

        // The attributes alone read the same.
        assert_eq!(
            open_unverified_attributes(&m.pkcsreq).unwrap(),
            msg.attributes
        );
    }

    #[test]
    fn micromdm_certrep_opens() {
        let Some(m) = micromdm() else { return };
        let ca_cert = micromdm_ca_cert(&m);
        let msg = open(&m.certrep, std::slice::from_ref(&ca_cert)).unwrap();
        assert_eq!(msg.attributes.message_type, MessageType::CertRep);
        assert_eq!(msg.attributes.status, Some(PkiStatus::Success));
        assert_eq!(
            msg.attributes.recipient_nonce.as_ref().map(Vec::len),
            Some(8)
        );
        assert!(msg.signer_trusted);
        assert_eq!(msg.signer, ca_cert);
        assert_eq!(msg.certificates.len(), 2);
        // Untrusted, the CA certificate in the message still names the signer.
        assert!(!open(&m.certrep, &[]).unwrap().signer_trusted);

        // The envelope (DES, Go's constructed [0] encryptedContent) is for
        // the requester's key, which the test data does not include: it
        // parses as far as the key transport.
        let e = open_envelope(
            msg.content.as_ref().unwrap(),
            &micromdm_ca_key(&m),
            &ca_cert,
        )
        .unwrap_err();
        assert!(
            matches!(
                e,
                ScepError::KeyTransport
                    | ScepError::BadKeyLength { .. }
                    | ScepError::Decrypt { .. }
            ),
            "{e}"
        );

        // A CertRep from another CA (an NDES) without its signer's
        // certificate: the signer is not found, the attributes still read.
        let e = open(&m.certrep_no_signer_cert, &[ca_cert]).unwrap_err();
        assert!(matches!(e, ScepError::SignerNotFound(_)), "{e}");
        assert!(e.to_string().contains("CN=example-CERT-PROV-CA"), "{e}");
        assert_eq!(e.fail_info(), FailInfo::BadMessageCheck);
        let attrs = open_unverified_attributes(&m.certrep_no_signer_cert).unwrap();
        assert_eq!(attrs.message_type, MessageType::CertRep);
        assert_eq!(attrs.status, Some(PkiStatus::Success));
        assert_eq!(attrs.transaction_id, "HVvzN0228V+AW+dUuDe8OPyDXD0=");
    }
}
