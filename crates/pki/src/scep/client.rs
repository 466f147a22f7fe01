//! The router's SCEP client, sans I/O: what a GetCACert reply means
//! ([`CaChain`]), which algorithms to use ([`choose`]), the requests
//! ([`pkcs_req`], [`renewal_req`], [`cert_poll`]) and reading the CA's
//! answer ([`read_cert_rep`]).
//!
//! The caller does the HTTP and keeps the [`Transaction`] between polls;
//! nothing here reads a clock (the current time is passed in) or the
//! network. Requests are signed by a key whose certificate the CA encrypts
//! its reply to, so SCEP needs RSA keys.

use std::fmt;
use std::time::Duration;

use der::{Decode, Encode};
use x509_cert::Certificate;
use x509_cert::ext::pkix::{BasicConstraints, KeyUsage};
use x509_cert::name::Name;
use x509_cert::request::CertReq;

use super::{
    Attributes, Capabilities, Capability, ContentCipher, FailInfo, IssuerAndSubject, MessageType,
    Outgoing, PkiStatus, ScepError, SignatureStyle,
};
use crate::altname::AltNames;
use crate::key::{HashAlg, KeyAlgorithm, KeyPair};

/// The GetCACert content type of a single CA certificate.
pub const CA_CERT: &str = "application/x-x509-ca-cert";
/// The GetCACert content type of a degenerate PKCS#7 with RA certificates.
pub const CA_RA_CERT: &str = "application/x-x509-ca-ra-cert";

/// How long before `now` the transient self-signed certificate starts
/// (clock skew between router and CA).
pub const TRANSIENT_BACKDATE: Duration = Duration::from_secs(3600);
/// How long after `now` the transient self-signed certificate ends.
pub const TRANSIENT_LIFETIME: Duration = Duration::from_secs(7 * 86400);

/// Why a client step failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// A GetCACert reply whose body does not parse.
    #[error("GetCACert reply ({content_type}) does not parse: {detail}")]
    CaCertBody {
        /// The reply's content type.
        content_type: String,
        /// What the parser said.
        detail: String,
    },
    /// A degenerate PKCS#7 without certificates.
    #[error("GetCACert reply ({content_type}) carries no certificate")]
    EmptyChain {
        /// The reply's content type.
        content_type: String,
    },
    /// A chain without a CA certificate.
    #[error(
        "GetCACert reply ({content_type}) has no CA certificate (none with basicConstraints cA=TRUE) among {subjects}"
    )]
    NoCa {
        /// The reply's content type.
        content_type: String,
        /// The subjects of the certificates it carries.
        subjects: String,
    },
    /// Several CA certificates and no RA to tell which one is the CA.
    #[error(
        "GetCACert reply ({content_type}) has several CA certificates that do not form one chain ({subjects}): cannot tell which one is the CA"
    )]
    AmbiguousCa {
        /// The reply's content type.
        content_type: String,
        /// The CA certificates' subjects.
        subjects: String,
    },
    /// An RA certificate that no CA certificate of the reply issued.
    #[error("RA certificate {ra} is not issued by any CA certificate in the reply ({cas})")]
    RaWithoutIssuer {
        /// The RA certificate's subject.
        ra: String,
        /// The CA certificates' subjects.
        cas: String,
    },
    /// An RA certificate not issued by the CA that issued the others.
    #[error("RA certificate {ra} is not issued by the CA {ca}")]
    RaNotIssued {
        /// The RA certificate's subject.
        ra: String,
        /// The CA's subject.
        ca: String,
    },
    /// A single GetCACert certificate that says it is not a CA.
    #[error("the GetCACert certificate {0} is not a CA certificate (basicConstraints cA is false)")]
    NotCa(String),
    /// The CA advertises neither AES nor DES3.
    #[error(
        "the CA offers only single DES (GetCACaps lists neither AES nor DES3); single DES is weak and is used only when scep-encryption-algorithm des is given explicitly"
    )]
    DesOnly,
    /// A forced cipher the CA does not advertise.
    #[error(
        "the CA does not offer {cipher} (scep-encryption-algorithm {option}); it offers {offered}"
    )]
    CipherNotOffered {
        /// The cipher's name.
        cipher: &'static str,
        /// The Junos option value that forced it.
        option: &'static str,
        /// What the CA offers.
        offered: String,
    },
    /// A forced digest the CA does not advertise.
    #[error("the CA does not offer {digest} (scep-digest-algorithm {option}); it offers {offered}")]
    DigestNotOffered {
        /// The digest's name.
        digest: &'static str,
        /// The Junos option value that forced it.
        option: &'static str,
        /// What the CA offers.
        offered: String,
    },
    /// The CA advertises only digests this client does not implement.
    #[error("the CA offers no digest this client implements; it offers {0}")]
    NoDigest(String),
    /// A key that is not RSA (the CA encrypts its reply to the signer).
    #[error(
        "SCEP needs RSA keys (the CA encrypts its reply to the signer's key); the {role} is {algorithm}"
    )]
    NotRsa {
        /// Which key (`key pair`, `new key pair`, `old key pair`).
        role: &'static str,
        /// Its algorithm.
        algorithm: KeyAlgorithm,
    },
    /// The PKCS#10 request does not parse or its self-signature fails.
    #[error("the certificate request is not usable: {0}")]
    BadRequest(String),
    /// The PKCS#10 request is for another key.
    #[error("the certificate request's public key is not the {0}'s")]
    RequestKeyMismatch(&'static str),
    /// The signing key is not the signer certificate's.
    #[error("the {role} is not the key of the signer certificate {subject}")]
    SignerKeyMismatch {
        /// Which key.
        role: &'static str,
        /// The certificate's subject.
        subject: String,
    },
    /// The transient self-signed certificate could not be made.
    #[error("making the transient self-signed certificate: {0}")]
    Transient(String),
    /// Making a message failed.
    #[error("making the {what}: {source}")]
    Build {
        /// The message (`PKCSReq`, `CertPoll`, ...).
        what: &'static str,
        /// Why.
        source: ScepError,
    },
    /// A stored transaction that does not decode.
    #[error("the stored SCEP transaction is unreadable: {0}")]
    BadTransaction(String),
    /// The CertRep does not parse or its signature does not verify.
    #[error("CertRep does not open: {0}")]
    Reply(ScepError),
    /// The CertRep is signed by someone other than the CA or its RA.
    #[error("CertRep signed by {0}, not by the CA or its RA")]
    UntrustedSigner(String),
    /// A reply that is not a CertRep.
    #[error("expected a CertRep, got a {0}")]
    NotCertRep(MessageType),
    /// The CertRep is for another transaction.
    #[error("transactionID mismatch: sent {sent}, got {got}")]
    TransactionIdMismatch {
        /// Ours.
        sent: String,
        /// The CertRep's.
        got: String,
    },
    /// The CertRep has no recipientNonce.
    #[error("the CertRep has no recipientNonce")]
    NoRecipientNonce,
    /// The CertRep's recipientNonce is not our last senderNonce.
    #[error("recipientNonce does not match the senderNonce we sent")]
    RecipientNonceMismatch,
    /// The CertRep has no pkiStatus.
    #[error("the CertRep has no pkiStatus")]
    NoStatus,
    /// A SUCCESS CertRep without content.
    #[error("SUCCESS CertRep without a pkcsPKIEnvelope")]
    NoEnvelope,
    /// The CertRep's envelope does not open with our key.
    #[error("the CertRep's envelope does not open: {0}")]
    Envelope(ScepError),
    /// The envelope does not hold a certs-only PKCS#7.
    #[error("the CertRep's envelope does not hold a certs-only PKCS#7: {0}")]
    CertsOnly(ScepError),
    /// A SUCCESS CertRep without a certificate.
    #[error("SUCCESS CertRep carries no certificate")]
    NoCertificate,
}

/// The CA side as GetCACert gave it.
#[derive(Clone, Debug, PartialEq)]
pub struct CaChain {
    /// The CA certificate (the issuer of the enrolled certificates).
    pub ca: Certificate,
    /// The RA certificates, if the CA answers through an RA.
    pub ra: Vec<Certificate>,
}

impl CaChain {
    /// From a GetCACert reply. `application/x-x509-ca-cert`: one
    /// certificate (DER, or PEM tolerated). `application/x-x509-ca-ra-cert`
    /// (or any body that parses as a degenerate PKCS#7, DER or PEM
    /// `PKCS7`): the RA certificate(s) and the CA.
    ///
    /// In a chain the CA is the certificate with basicConstraints cA=TRUE
    /// that issued the RA certificate(s); RA = the non-CA certificates
    /// issued by it. Other CA certificates in the bag (a root above the
    /// issuing CA) are ignored. Without RA certificates the CA is the one
    /// CA certificate that issued no other CA certificate of the bag.
    pub fn from_reply(content_type: &str, body: &[u8]) -> Result<Self, ClientError> {
        let mime = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        let shown = if content_type.trim().is_empty() {
            "no content type".to_string()
        } else {
            content_type.trim().to_string()
        };
        let pkcs7 = match crate::encoding::der_blocks(body, "PKCS7", "PKCS#7") {
            Ok(blocks) if blocks.len() == 1 => blocks.into_iter().next().unwrap_or_default(),
            _ => body.to_vec(),
        };
        match super::parse_certs_only(&pkcs7) {
            Ok(certs) => Self::from_bag(&shown, certs),
            Err(e) if mime == CA_RA_CERT => Err(ClientError::CaCertBody {
                content_type: shown,
                detail: e.to_string(),
            }),
            Err(_) => {
                let ca =
                    crate::encoding::certificate(body).map_err(|e| ClientError::CaCertBody {
                        content_type: shown,
                        detail: e.to_string(),
                    })?;
                if ca_flag(&ca) == Some(false) {
                    return Err(ClientError::NotCa(subject_of(&ca)));
                }
                Ok(CaChain { ca, ra: Vec::new() })
            }
        }
    }

    fn from_bag(content_type: &str, certs: Vec<Certificate>) -> Result<Self, ClientError> {
        if certs.is_empty() {
            return Err(ClientError::EmptyChain {
                content_type: content_type.to_string(),
            });
        }
        // A lone certificate without basicConstraints (an old v1 CA).
        if let [only] = certs.as_slice()
            && ca_flag(only).is_none()
        {
            return Ok(CaChain {
                ca: only.clone(),
                ra: Vec::new(),
            });
        }
        let (cas, others): (Vec<&Certificate>, Vec<&Certificate>) =
            certs.iter().partition(|c| ca_flag(c) == Some(true));
        let subjects = |list: &[&Certificate]| {
            list.iter()
                .map(|c| subject_of(c))
                .collect::<Vec<_>>()
                .join("; ")
        };
        if cas.is_empty() {
            return Err(ClientError::NoCa {
                content_type: content_type.to_string(),
                subjects: subjects(&others),
            });
        }
        if others.is_empty() {
            let bottom: Vec<&Certificate> = cas
                .iter()
                .copied()
                .filter(|a| !cas.iter().any(|b| a != b && issued(a, b)))
                .collect();
            return match bottom.as_slice() {
                [ca] => Ok(CaChain {
                    ca: (*ca).clone(),
                    ra: Vec::new(),
                }),
                _ => Err(ClientError::AmbiguousCa {
                    content_type: content_type.to_string(),
                    subjects: subjects(&cas),
                }),
            };
        }
        // The CA certificate that issued the most RA certificates.
        let best = cas
            .iter()
            .map(|ca| (others.iter().filter(|ra| issued(ca, ra)).count(), *ca))
            .filter(|(n, _)| *n > 0)
            .max_by_key(|(n, _)| *n);
        let Some((_, ca)) = best else {
            return Err(ClientError::RaWithoutIssuer {
                ra: subject_of(others[0]),
                cas: subjects(&cas),
            });
        };
        if let Some(stray) = others.iter().find(|ra| !issued(ca, ra)) {
            return Err(ClientError::RaNotIssued {
                ra: subject_of(stray),
                ca: subject_of(ca),
            });
        }
        Ok(CaChain {
            ca: ca.clone(),
            ra: others.into_iter().cloned().collect(),
        })
    }

    /// Where requests are encrypted to: the RA certificate with
    /// keyEncipherment (or the first RA) if any, else the CA.
    pub fn recipient(&self) -> &Certificate {
        self.ra
            .iter()
            .find(|c| key_encipherment(c))
            .or(self.ra.first())
            .unwrap_or(&self.ca)
    }

    /// Certificates whose signature on a CertRep is accepted (RA
    /// certificates and the CA).
    pub fn signers(&self) -> Vec<Certificate> {
        self.ra
            .iter()
            .chain(std::iter::once(&self.ca))
            .cloned()
            .collect()
    }
}

/// basicConstraints cA, if the certificate has the extension.
fn ca_flag(cert: &Certificate) -> Option<bool> {
    match cert.tbs_certificate().get_extension::<BasicConstraints>() {
        Ok(Some((_, bc))) => Some(bc.ca),
        _ => None,
    }
}

/// Whether keyUsage explicitly allows keyEncipherment.
fn key_encipherment(cert: &Certificate) -> bool {
    matches!(
        cert.tbs_certificate().get_extension::<KeyUsage>(),
        Ok(Some((_, ku))) if ku.key_encipherment()
    )
}

/// Whether `issuer` issued `cert` (names chain and the signature verifies).
fn issued(issuer: &Certificate, cert: &Certificate) -> bool {
    issuer.tbs_certificate().subject() == cert.tbs_certificate().issuer()
        && crate::verify::certificate(cert, issuer.tbs_certificate().subject_public_key_info())
            .is_ok()
}

fn subject_of(cert: &Certificate) -> String {
    crate::name::subject_string(cert.tbs_certificate().subject())
}

/// The algorithms of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Choice {
    /// The envelope's content cipher.
    pub cipher: ContentCipher,
    /// The signature's digest.
    pub digest: HashAlg,
}

impl fmt::Display for Choice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}, {}", self.cipher.name(), digest_name(self.digest))
    }
}

/// The Junos `scep-encryption-algorithm` value naming a cipher.
pub fn cipher_option(cipher: ContentCipher) -> &'static str {
    match cipher {
        ContentCipher::Des => "des",
        ContentCipher::TripleDes => "des3",
        ContentCipher::Aes128 => "aes128",
        ContentCipher::Aes256 => "aes256",
    }
}

/// The Junos `scep-digest-algorithm` value naming a digest.
pub fn digest_option(digest: HashAlg) -> &'static str {
    match digest {
        HashAlg::Sha1 => "sha1",
        HashAlg::Sha256 => "sha256",
        HashAlg::Sha384 => "sha384",
        HashAlg::Sha512 => "sha512",
    }
}

/// A digest's GetCACaps name (`SHA-256`).
pub fn digest_name(digest: HashAlg) -> &'static str {
    match digest {
        HashAlg::Sha1 => "SHA-1",
        HashAlg::Sha256 => "SHA-256",
        HashAlg::Sha384 => "SHA-384",
        HashAlg::Sha512 => "SHA-512",
    }
}

fn offers_aes(caps: &Capabilities) -> bool {
    caps.has(Capability::Aes) || caps.has(Capability::ScepStandard)
}

/// Whether GetCACaps names any SHA-2 digest (SCEPStandard implies SHA-256).
fn names_sha2(caps: &Capabilities) -> bool {
    [
        Capability::Sha224,
        Capability::Sha256,
        Capability::Sha384,
        Capability::Sha512,
        Capability::ScepStandard,
    ]
    .into_iter()
    .any(|c| caps.has(c))
}

fn cipher_offered(caps: &Capabilities, cipher: ContentCipher) -> bool {
    match cipher {
        ContentCipher::Aes128 | ContentCipher::Aes256 => offers_aes(caps),
        ContentCipher::TripleDes => caps.has(Capability::Des3),
        // Implied for every CA; used only when forced.
        ContentCipher::Des => true,
    }
}

fn digest_offered(caps: &Capabilities, digest: HashAlg) -> bool {
    match digest {
        HashAlg::Sha1 => caps.has(Capability::Sha1) || !names_sha2(caps),
        HashAlg::Sha256 => caps.has(Capability::Sha256) || caps.has(Capability::ScepStandard),
        HashAlg::Sha384 => caps.has(Capability::Sha384),
        HashAlg::Sha512 => caps.has(Capability::Sha512),
    }
}

fn offered_ciphers(caps: &Capabilities) -> String {
    let mut out = Vec::new();
    if offers_aes(caps) {
        out.push("AES");
    }
    if caps.has(Capability::Des3) {
        out.push("DES3");
    }
    if out.is_empty() {
        "only single DES".to_string()
    } else {
        out.join(", ")
    }
}

fn offered_digests(caps: &Capabilities) -> String {
    let mut out: Vec<&str> = [
        HashAlg::Sha1,
        HashAlg::Sha256,
        HashAlg::Sha384,
        HashAlg::Sha512,
    ]
    .into_iter()
    .filter(|d| digest_offered(caps, *d))
    .map(digest_name)
    .collect();
    if caps.has(Capability::Sha224) {
        out.push("SHA-224 (not implemented here)");
    }
    out.join(", ")
}

/// Picks the strongest algorithms GetCACaps allows, never silently
/// downgrading.
///
/// Cipher: AES-128-CBC (RFC 8894 `AES`) if `AES` or `SCEPStandard` is
/// advertised, else 3DES if `DES3` is; a CA advertising neither offers only
/// single DES, which is refused unless forced. Digest: SHA-256 if `SHA-256`
/// or `SCEPStandard` is advertised, else SHA-1 if `SHA-1` is advertised or
/// no SHA-2 is (the legacy default), else the strongest advertised.
///
/// `forced_cipher`/`forced_digest` (the Junos options
/// `scep-encryption-algorithm` / `scep-digest-algorithm`) force a choice; a
/// forced choice the CA does not advertise is refused, naming what it
/// offers. Single DES is allowed only when forced, and then the warning is
/// `Some`.
pub fn choose(
    caps: &Capabilities,
    forced_cipher: Option<ContentCipher>,
    forced_digest: Option<HashAlg>,
) -> Result<(Choice, Option<String>), ClientError> {
    let cipher = match forced_cipher {
        Some(c) if cipher_offered(caps, c) => c,
        Some(c) => {
            return Err(ClientError::CipherNotOffered {
                cipher: c.name(),
                option: cipher_option(c),
                offered: offered_ciphers(caps),
            });
        }
        None if offers_aes(caps) => ContentCipher::Aes128,
        None if caps.has(Capability::Des3) => ContentCipher::TripleDes,
        None => return Err(ClientError::DesOnly),
    };
    let digest = match forced_digest {
        Some(d) if digest_offered(caps, d) => d,
        Some(d) => {
            return Err(ClientError::DigestNotOffered {
                digest: digest_name(d),
                option: digest_option(d),
                offered: offered_digests(caps),
            });
        }
        None => [
            HashAlg::Sha256,
            HashAlg::Sha1,
            HashAlg::Sha512,
            HashAlg::Sha384,
        ]
        .into_iter()
        .find(|d| digest_offered(caps, *d))
        .ok_or_else(|| ClientError::NoDigest(offered_digests(caps)))?,
    };
    let warning = (cipher == ContentCipher::Des).then(|| {
        let mut w = "single DES is weak (56-bit key, found by exhaustive search in hours): \
                     used only because scep-encryption-algorithm des is configured"
            .to_string();
        if offers_aes(caps) || caps.has(Capability::Des3) {
            w.push_str(&format!("; the CA also offers {}", offered_ciphers(caps)));
        }
        w
    });
    Ok((Choice { cipher, digest }, warning))
}

/// What the client remembers of a sent request (persisted by the router
/// between polls). Certificates and names are DER in hex, nonces hex.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Transaction {
    /// The transactionID.
    pub transaction_id: String,
    /// The request that opened it (PKCSReq or RenewalReq).
    pub message_type: MessageType,
    /// The senderNonce (hex) of the last message sent: the CertRep's
    /// recipientNonce must echo it.
    pub sender_nonce: String,
    /// The certificate that signs our messages (DER hex): the transient
    /// self-signed one, or the old certificate for a renewal. The CA
    /// encrypts its reply to it.
    pub signer_cert: String,
    /// The requested subject Name (DER hex), for CertPoll.
    pub subject: String,
    /// The algorithms.
    pub choice: Choice,
}

impl Transaction {
    /// The signer certificate.
    pub fn signer_certificate(&self) -> Result<Certificate, ClientError> {
        let der = hex::decode(&self.signer_cert)
            .map_err(|e| ClientError::BadTransaction(format!("signer certificate: {e}")))?;
        Certificate::from_der(&der)
            .map_err(|e| ClientError::BadTransaction(format!("signer certificate: {e}")))
    }

    /// The requested subject.
    pub fn subject_name(&self) -> Result<Name, ClientError> {
        let der = hex::decode(&self.subject)
            .map_err(|e| ClientError::BadTransaction(format!("subject: {e}")))?;
        Name::from_der(&der).map_err(|e| ClientError::BadTransaction(format!("subject: {e}")))
    }

    /// The senderNonce of the last message sent.
    pub fn sender_nonce_bytes(&self) -> Result<Vec<u8>, ClientError> {
        hex::decode(&self.sender_nonce)
            .map_err(|e| ClientError::BadTransaction(format!("senderNonce: {e}")))
    }
}

/// A message to send and the transaction it belongs to.
#[derive(Clone, PartialEq, Eq)]
pub struct Sent {
    /// The DER pkiMessage (the PKIOperation body).
    pub message: Vec<u8>,
    /// The transaction, with this message's senderNonce.
    pub transaction: Transaction,
}

impl fmt::Debug for Sent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sent")
            .field("message", &format_args!("[{} bytes]", self.message.len()))
            .field("transaction", &self.transaction)
            .finish()
    }
}

fn require_rsa(key: &KeyPair, role: &'static str) -> Result<(), ClientError> {
    match key {
        KeyPair::Rsa(_) => Ok(()),
        other => Err(ClientError::NotRsa {
            role,
            algorithm: other.spec().algorithm,
        }),
    }
}

/// Parses and checks a PKCS#10 request made with `key`.
fn checked_request(
    csr_der: &[u8],
    key: &KeyPair,
    role: &'static str,
) -> Result<CertReq, ClientError> {
    let req =
        crate::verify::request_der(csr_der).map_err(|e| ClientError::BadRequest(e.to_string()))?;
    if !key.matches(&req.info.public_key) {
        return Err(ClientError::RequestKeyMismatch(role));
    }
    Ok(req)
}

fn hex_der(value: &impl Encode, what: &'static str) -> Result<String, ClientError> {
    value
        .to_der()
        .map(hex::encode)
        .map_err(|e| ClientError::Build {
            what,
            source: ScepError::Encode(e.to_string()),
        })
}

/// Seals `content` for the chain's recipient and signs the pkiMessage.
fn make(
    what: &'static str,
    attributes: Attributes,
    content: &[u8],
    signer_cert: &Certificate,
    signer_key: &KeyPair,
    chain: &CaChain,
    choice: Choice,
) -> Result<Vec<u8>, ClientError> {
    let build = |source| ClientError::Build { what, source };
    let envelope = super::seal(content, chain.recipient(), choice.cipher).map_err(build)?;
    super::sign(&Outgoing {
        attributes,
        content: Some(&envelope),
        signer_cert,
        signer_key,
        digest: choice.digest,
        signature_algorithm: SignatureStyle::RsaEncryption,
        extra_certs: &[],
    })
    .map_err(build)
}

fn nonce_hex(attributes: &Attributes) -> String {
    attributes
        .sender_nonce
        .as_deref()
        .map(hex::encode)
        .unwrap_or_default()
}

/// A PKCSReq for `csr_der` (a PKCS#10 made with `key`), signed by a
/// transient self-signed certificate of `key` whose subject is the
/// request's subject (valid from `now` - 1 hour to `now` + 7 days),
/// enveloped for [`CaChain::recipient`]. The transaction ID is
/// [`super::transaction_id`] of the key's SubjectPublicKeyInfo.
pub fn pkcs_req(
    key: &KeyPair,
    csr_der: &[u8],
    chain: &CaChain,
    choice: Choice,
    now: Duration,
) -> Result<Sent, ClientError> {
    require_rsa(key, "key pair")?;
    let req = checked_request(csr_der, key, "key pair")?;
    let subject = req.info.subject.clone();
    drop(req);
    let not_after = now
        .checked_add(TRANSIENT_LIFETIME)
        .ok_or_else(|| ClientError::Transient("the current time is out of range".into()))?;
    let validity = crate::issue::validity(now.saturating_sub(TRANSIENT_BACKDATE), not_after)
        .map_err(|e| ClientError::Transient(e.to_string()))?;
    let transient =
        crate::issue::self_signed(key, subject.clone(), AltNames::default(), false, validity)
            .map_err(|e| ClientError::Transient(e.to_string()))?;
    let spki = key
        .public_key_info()
        .map_err(|e| ClientError::Transient(e.to_string()))?;
    let attributes = Attributes::request(MessageType::PkcsReq, super::transaction_id(&spki));
    let transaction = Transaction {
        transaction_id: attributes.transaction_id.clone(),
        message_type: MessageType::PkcsReq,
        sender_nonce: nonce_hex(&attributes),
        signer_cert: hex_der(&transient, "PKCSReq")?,
        subject: hex_der(&subject, "PKCSReq")?,
        choice,
    };
    let message = make(
        "PKCSReq", attributes, csr_der, &transient, key, chain, choice,
    )?;
    Ok(Sent {
        message,
        transaction,
    })
}

fn renewal_transaction_id(
    spki: &spki::SubjectPublicKeyInfoOwned,
    old_cert: &Certificate,
) -> Result<String, ClientError> {
    use der::Encode;
    let mut data = spki.to_der().map_err(|e| ClientError::Build {
        what: "RenewalReq",
        source: ScepError::Encode(e.to_string()),
    })?;
    data.extend_from_slice(old_cert.tbs_certificate().serial_number().as_bytes());
    Ok(hex::encode_upper(HashAlg::Sha256.digest(&data)))
}

/// A RenewalReq (RFC 8894 renewal): `csr_der` made with `new_key` (may be
/// the same key as the old certificate's), signed with the current
/// certificate `old_cert` and its key `old_key`. The transaction ID is the
/// uppercase hex SHA-256 of the new key's SubjectPublicKeyInfo followed by
/// the old certificate's serial number: unique per renewal even when the
/// key stays the same (the key's hash alone would repeat the original
/// enrollment's transaction, which a CA answers with the old certificate),
/// and the same for a retransmission of this renewal.
///
/// `as_pkcs_req` makes the same message with messageType PKCSReq (for CAs
/// that do not advertise `Renewal`: the Cisco form, signed by the old
/// certificate).
pub fn renewal_req(
    new_key: &KeyPair,
    csr_der: &[u8],
    old_cert: &Certificate,
    old_key: &KeyPair,
    chain: &CaChain,
    choice: Choice,
    as_pkcs_req: bool,
) -> Result<Sent, ClientError> {
    require_rsa(new_key, "new key pair")?;
    require_rsa(old_key, "old key pair")?;
    if !old_key.matches(old_cert.tbs_certificate().subject_public_key_info()) {
        return Err(ClientError::SignerKeyMismatch {
            role: "old key pair",
            subject: subject_of(old_cert),
        });
    }
    let req = checked_request(csr_der, new_key, "new key pair")?;
    let subject = req.info.subject.clone();
    drop(req);
    let (message_type, what) = if as_pkcs_req {
        (MessageType::PkcsReq, "PKCSReq")
    } else {
        (MessageType::RenewalReq, "RenewalReq")
    };
    let spki = new_key.public_key_info().map_err(|e| ClientError::Build {
        what,
        source: ScepError::Key(e),
    })?;
    let attributes = Attributes::request(message_type, renewal_transaction_id(&spki, old_cert)?);
    let transaction = Transaction {
        transaction_id: attributes.transaction_id.clone(),
        message_type,
        sender_nonce: nonce_hex(&attributes),
        signer_cert: hex_der(old_cert, what)?,
        subject: hex_der(&subject, what)?,
        choice,
    };
    let message = make(what, attributes, csr_der, old_cert, old_key, chain, choice)?;
    Ok(Sent {
        message,
        transaction,
    })
}

/// A CertPoll (GetCertInitial) for `txn`: IssuerAndSubject (the CA's
/// subject, the requested subject), signed with the transaction's signer
/// certificate and `signer_key` (the key that signed the request), with a
/// fresh senderNonce (the returned transaction carries it).
pub fn cert_poll(
    txn: &Transaction,
    signer_key: &KeyPair,
    chain: &CaChain,
) -> Result<Sent, ClientError> {
    let signer_cert = txn.signer_certificate()?;
    if !signer_key.matches(signer_cert.tbs_certificate().subject_public_key_info()) {
        return Err(ClientError::SignerKeyMismatch {
            role: "signing key",
            subject: subject_of(&signer_cert),
        });
    }
    let content = IssuerAndSubject {
        issuer: chain.ca.tbs_certificate().subject().clone(),
        subject: txn.subject_name()?,
    }
    .encode()
    .map_err(|source| ClientError::Build {
        what: "CertPoll",
        source,
    })?;
    let attributes = Attributes::request(MessageType::CertPoll, txn.transaction_id.clone());
    let mut transaction = txn.clone();
    transaction.sender_nonce = nonce_hex(&attributes);
    let message = make(
        "CertPoll",
        attributes,
        &content,
        &signer_cert,
        signer_key,
        chain,
        txn.choice,
    )?;
    Ok(Sent {
        message,
        transaction,
    })
}

/// What a CertRep said.
#[derive(Clone, Debug, PartialEq)]
pub enum Answer {
    /// SUCCESS: the certificates of the certs-only reply (the issued one,
    /// maybe with its chain; see [`certificate_for`]).
    Issued(Vec<Certificate>),
    /// PENDING: poll again with [`cert_poll`].
    Pending,
    /// FAILURE, with the failInfo (badRequest when the CA sent none).
    Failed(FailInfo),
}

/// Reads a CertRep for `txn`: it must be signed by one of
/// [`CaChain::signers`], be a CertRep, carry `txn`'s transactionID, echo
/// the senderNonce we last sent and carry a pkiStatus. SUCCESS: the
/// envelope is opened with `signer_key` and the transaction's signer
/// certificate, and the certs-only PKCS#7 inside parsed; FAILURE: the
/// failInfo (badRequest if absent).
pub fn read_cert_rep(
    der: &[u8],
    txn: &Transaction,
    signer_key: &KeyPair,
    chain: &CaChain,
) -> Result<Answer, ClientError> {
    let msg = super::open(der, &chain.signers()).map_err(|e| match e {
        ScepError::SignerNotFound(who) => ClientError::UntrustedSigner(who),
        other => ClientError::Reply(other),
    })?;
    if !msg.signer_trusted {
        return Err(ClientError::UntrustedSigner(subject_of(&msg.signer)));
    }
    let attrs = &msg.attributes;
    if attrs.message_type != MessageType::CertRep {
        return Err(ClientError::NotCertRep(attrs.message_type));
    }
    if attrs.transaction_id != txn.transaction_id {
        return Err(ClientError::TransactionIdMismatch {
            sent: txn.transaction_id.clone(),
            got: attrs.transaction_id.clone(),
        });
    }
    let ours = txn.sender_nonce_bytes()?;
    match &attrs.recipient_nonce {
        None => return Err(ClientError::NoRecipientNonce),
        Some(n) if *n != ours => return Err(ClientError::RecipientNonceMismatch),
        Some(_) => {}
    }
    match attrs.status.ok_or(ClientError::NoStatus)? {
        PkiStatus::Pending => Ok(Answer::Pending),
        PkiStatus::Failure => Ok(Answer::Failed(
            attrs.fail_info.unwrap_or(FailInfo::BadRequest),
        )),
        PkiStatus::Success => {
            let content = msg.content.as_deref().ok_or(ClientError::NoEnvelope)?;
            let signer_cert = txn.signer_certificate()?;
            if !signer_key.matches(signer_cert.tbs_certificate().subject_public_key_info()) {
                return Err(ClientError::SignerKeyMismatch {
                    role: "signing key",
                    subject: subject_of(&signer_cert),
                });
            }
            let opened = super::open_envelope(content, signer_key, &signer_cert)
                .map_err(ClientError::Envelope)?;
            let certs = super::parse_certs_only(&opened.content).map_err(ClientError::CertsOnly)?;
            if certs.is_empty() {
                return Err(ClientError::NoCertificate);
            }
            Ok(Answer::Issued(certs))
        }
    }
}

/// The certificate in `certs` for `key` (equal public key), if any.
pub fn certificate_for(certs: &[Certificate], key: &KeyPair) -> Option<Certificate> {
    certs
        .iter()
        .find(|c| key.matches(c.tbs_certificate().subject_public_key_info()))
        .cloned()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use der::Encode;
    use spki::SubjectPublicKeyInfoOwned;

    use super::*;
    use crate::issue::{CertProfile, random_serial};
    use crate::key::KeySpec;
    use crate::scep::tests::{ca, client, csr_der, rsa_identity};
    use crate::scep::{Incoming, Opened, certs_only, new_nonce, open, open_envelope, seal, sign};

    const NOW: Duration = Duration::from_secs(1_800_000_000);
    const MODERN: Choice = Choice {
        cipher: ContentCipher::Aes128,
        digest: HashAlg::Sha256,
    };

    fn rsa_key() -> KeyPair {
        KeyPair::generate(KeySpec::new(KeyAlgorithm::Rsa, 2048).unwrap()).unwrap()
    }

    /// A certificate for `spki` issued by `issuer` (a CA one when `is_ca`).
    fn issue_cert(
        subject: &str,
        spki: SubjectPublicKeyInfoOwned,
        issuer: &(KeyPair, Certificate),
        is_ca: bool,
    ) -> Certificate {
        issue_named(subject.parse().unwrap(), spki, issuer, is_ca)
    }

    fn issue_named(
        subject: Name,
        spki: SubjectPublicKeyInfoOwned,
        issuer: &(KeyPair, Certificate),
        is_ca: bool,
    ) -> Certificate {
        let mut profile = CertProfile::end_entity(subject, AltNames::default(), KeyAlgorithm::Rsa);
        profile.issuer = Some(issuer.1.tbs_certificate().subject().clone());
        if is_ca {
            profile.ca = Some(None);
        }
        let validity = crate::issue::validity(
            Duration::from_secs(1_700_000_000),
            Duration::from_secs(2_000_000_000),
        )
        .unwrap();
        crate::issue::issue(
            profile,
            random_serial(),
            validity,
            spki,
            &issuer.0,
            HashAlg::Sha256,
        )
        .unwrap()
    }

    fn direct_chain() -> CaChain {
        CaChain {
            ca: ca().1.clone(),
            ra: Vec::new(),
        }
    }

    /// The fake CA receives a request: the message opens (signed by the
    /// requester's own certificate) and the envelope opens with the
    /// responder's key.
    fn receive(message: &[u8], responder: &(KeyPair, Certificate)) -> (Incoming, Opened) {
        let incoming = open(message, &[]).unwrap();
        assert!(!incoming.signer_trusted);
        let opened = open_envelope(
            incoming.content.as_ref().unwrap(),
            &responder.0,
            &responder.1,
        )
        .unwrap();
        (incoming, opened)
    }

    fn signed_reply(
        attributes: Attributes,
        content: Option<&[u8]>,
        signer: &(KeyPair, Certificate),
    ) -> Vec<u8> {
        sign(&Outgoing {
            attributes,
            content,
            signer_cert: &signer.1,
            signer_key: &signer.0,
            digest: HashAlg::Sha256,
            signature_algorithm: SignatureStyle::RsaEncryption,
            extra_certs: &[],
        })
        .unwrap()
    }

    fn reply(
        request: &Attributes,
        status: PkiStatus,
        fail_info: Option<FailInfo>,
        signer: &(KeyPair, Certificate),
    ) -> Vec<u8> {
        signed_reply(Attributes::reply(request, status, fail_info), None, signer)
    }

    /// A SUCCESS CertRep carrying `certs`, encrypted to the request's signer.
    fn success(
        incoming: &Incoming,
        cipher: ContentCipher,
        certs: &[Certificate],
        signer: &(KeyPair, Certificate),
    ) -> Vec<u8> {
        let envelope = seal(&certs_only(certs).unwrap(), &incoming.signer, cipher).unwrap();
        signed_reply(
            Attributes::reply(&incoming.attributes, PkiStatus::Success, None),
            Some(&envelope),
            signer,
        )
    }

    /// The certificate the fake CA issues for a PKCS#10 request.
    fn issue_for(csr: &[u8]) -> Certificate {
        let req = CertReq::from_der(csr).unwrap();
        issue_named(req.info.subject, req.info.public_key, ca(), false)
    }

    #[test]
    fn pkcs_req_then_success() {
        let (key, _) = client();
        let csr = csr_der();
        let chain = direct_chain();
        let sent = pkcs_req(key, &csr, &chain, MODERN, NOW).unwrap();
        let txn = &sent.transaction;
        let spki = key.public_key_info().unwrap();
        assert_eq!(txn.transaction_id, crate::scep::transaction_id(&spki));
        assert_eq!(txn.message_type, MessageType::PkcsReq);
        assert_eq!(txn.choice, MODERN);
        assert!(format!("{sent:?}").contains("bytes]"));

        let (incoming, opened) = receive(&sent.message, ca());
        assert_eq!(incoming.attributes.message_type, MessageType::PkcsReq);
        assert_eq!(incoming.attributes.transaction_id, txn.transaction_id);
        assert_eq!(
            incoming.attributes.sender_nonce.as_deref().map(hex::encode),
            Some(txn.sender_nonce.clone())
        );
        assert_eq!(incoming.digest, HashAlg::Sha256);
        assert_eq!(opened.cipher, ContentCipher::Aes128);
        assert_eq!(&opened.content[..], &csr[..]);
        // The transient certificate: the request's subject, the key's,
        // an hour back to a week ahead.
        let transient = &incoming.signer;
        assert_eq!(txn.signer_certificate().unwrap(), *transient);
        let req = CertReq::from_der(&csr).unwrap();
        assert_eq!(transient.tbs_certificate().subject(), &req.info.subject);
        assert_eq!(txn.subject_name().unwrap(), req.info.subject);
        assert!(key.matches(transient.tbs_certificate().subject_public_key_info()));
        let validity = transient.tbs_certificate().validity();
        assert_eq!(
            validity.not_before.to_unix_duration(),
            NOW - Duration::from_secs(3600)
        );
        assert_eq!(
            validity.not_after.to_unix_duration(),
            NOW + Duration::from_secs(7 * 86400)
        );

        // The transaction survives the router's JSON.
        let json = serde_json::to_string(txn).unwrap();
        assert!(json.contains(r#""message_type":"PKCSReq""#), "{json}");
        assert!(
            json.contains(r#""choice":{"cipher":"AES-128","digest":"sha256"}"#),
            "{json}"
        );
        let txn: Transaction = serde_json::from_str(&json).unwrap();
        assert_eq!(txn, sent.transaction);

        let issued = issue_for(&csr);
        let rep = success(
            &incoming,
            opened.cipher,
            &[issued.clone(), ca().1.clone()],
            ca(),
        );
        let Answer::Issued(certs) = read_cert_rep(&rep, &txn, key, &chain).unwrap() else {
            panic!("not issued");
        };
        assert_eq!(certs.len(), 2);
        assert_eq!(certificate_for(&certs, key), Some(issued));
        assert_eq!(certificate_for(&certs, &rsa_key()), None);
    }

    #[test]
    fn pending_then_poll_then_success() {
        let (key, _) = client();
        let csr = csr_der();
        let chain = direct_chain();
        let sent = pkcs_req(key, &csr, &chain, MODERN, NOW).unwrap();
        let (incoming, _) = receive(&sent.message, ca());
        let rep = reply(&incoming.attributes, PkiStatus::Pending, None, ca());
        assert_eq!(
            read_cert_rep(&rep, &sent.transaction, key, &chain).unwrap(),
            Answer::Pending
        );

        let poll = cert_poll(&sent.transaction, key, &chain).unwrap();
        assert_ne!(poll.transaction.sender_nonce, sent.transaction.sender_nonce);
        assert_eq!(
            poll.transaction.transaction_id,
            sent.transaction.transaction_id
        );
        assert_eq!(poll.transaction.message_type, MessageType::PkcsReq);
        let (polled, opened) = receive(&poll.message, ca());
        assert_eq!(polled.attributes.message_type, MessageType::CertPoll);
        assert_eq!(
            polled.attributes.transaction_id,
            sent.transaction.transaction_id
        );
        assert_eq!(polled.signer, incoming.signer);
        let ias = IssuerAndSubject::decode(&opened.content).unwrap();
        assert_eq!(&ias.issuer, ca().1.tbs_certificate().subject());
        assert_eq!(ias.subject, CertReq::from_der(&csr).unwrap().info.subject);

        let issued = issue_for(&csr);
        let rep = success(&polled, opened.cipher, std::slice::from_ref(&issued), ca());
        // Answering the poll: the first transaction's nonce no longer fits.
        let e = read_cert_rep(&rep, &sent.transaction, key, &chain).unwrap_err();
        assert!(matches!(e, ClientError::RecipientNonceMismatch), "{e}");
        assert_eq!(
            read_cert_rep(&rep, &poll.transaction, key, &chain).unwrap(),
            Answer::Issued(vec![issued])
        );
    }

    #[test]
    fn failure_answers() {
        let (key, _) = client();
        let chain = direct_chain();
        let sent = pkcs_req(key, &csr_der(), &chain, MODERN, NOW).unwrap();
        let (incoming, _) = receive(&sent.message, ca());
        let rep = reply(
            &incoming.attributes,
            PkiStatus::Failure,
            Some(FailInfo::BadRequest),
            ca(),
        );
        assert_eq!(
            read_cert_rep(&rep, &sent.transaction, key, &chain).unwrap(),
            Answer::Failed(FailInfo::BadRequest)
        );
        let rep = reply(
            &incoming.attributes,
            PkiStatus::Failure,
            Some(FailInfo::BadTime),
            ca(),
        );
        assert_eq!(
            read_cert_rep(&rep, &sent.transaction, key, &chain).unwrap(),
            Answer::Failed(FailInfo::BadTime)
        );
        // No failInfo: badRequest.
        let rep = reply(&incoming.attributes, PkiStatus::Failure, None, ca());
        assert_eq!(
            read_cert_rep(&rep, &sent.transaction, key, &chain).unwrap(),
            Answer::Failed(FailInfo::BadRequest)
        );
    }

    #[test]
    fn bad_replies_are_refused() {
        let (key, _) = client();
        let chain = direct_chain();
        let sent = pkcs_req(key, &csr_der(), &chain, MODERN, NOW).unwrap();
        let txn = &sent.transaction;
        let (incoming, _) = receive(&sent.message, ca());
        let good = Attributes::reply(&incoming.attributes, PkiStatus::Pending, None);

        // Signed by another key (its certificate in the message).
        let evil = rsa_identity("CN=Evil CA,O=Example");
        let rep = signed_reply(good.clone(), None, &evil);
        let e = read_cert_rep(&rep, txn, key, &chain).unwrap_err();
        assert!(matches!(e, ClientError::UntrustedSigner(_)), "{e}");
        let text = e.to_string();
        assert!(text.starts_with("CertRep signed by "), "{text}");
        assert!(text.contains("CN=Evil CA"), "{text}");
        assert!(text.ends_with(", not by the CA or its RA"), "{text}");

        // Another transaction.
        let mut attrs = good.clone();
        attrs.transaction_id = "OTHER".into();
        let e = read_cert_rep(&signed_reply(attrs, None, ca()), txn, key, &chain).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "transactionID mismatch: sent {}, got OTHER",
                txn.transaction_id
            )
        );

        // Someone else's nonce; no nonce.
        let mut attrs = good.clone();
        attrs.recipient_nonce = Some(new_nonce());
        let e = read_cert_rep(&signed_reply(attrs, None, ca()), txn, key, &chain).unwrap_err();
        assert!(matches!(e, ClientError::RecipientNonceMismatch), "{e}");
        assert_eq!(
            e.to_string(),
            "recipientNonce does not match the senderNonce we sent"
        );
        let mut attrs = good.clone();
        attrs.recipient_nonce = None;
        let e = read_cert_rep(&signed_reply(attrs, None, ca()), txn, key, &chain).unwrap_err();
        assert!(matches!(e, ClientError::NoRecipientNonce), "{e}");

        // A request echoed back is not a CertRep.
        let e = read_cert_rep(&sent.message, txn, key, &chain).unwrap_err();
        assert!(matches!(e, ClientError::UntrustedSigner(_)), "{e}");
        let mut attrs = Attributes::request(MessageType::CertPoll, txn.transaction_id.clone());
        attrs.recipient_nonce = good.recipient_nonce.clone();
        let e = read_cert_rep(&signed_reply(attrs, None, ca()), txn, key, &chain).unwrap_err();
        assert!(matches!(e, ClientError::NotCertRep(_)), "{e}");

        // SUCCESS without an envelope; garbage.
        let attrs = Attributes::reply(&incoming.attributes, PkiStatus::Success, None);
        let e = read_cert_rep(&signed_reply(attrs, None, ca()), txn, key, &chain).unwrap_err();
        assert!(matches!(e, ClientError::NoEnvelope), "{e}");
        let e = read_cert_rep(b"\x30\x00", txn, key, &chain).unwrap_err();
        assert!(e.to_string().starts_with("CertRep does not open"), "{e}");

        // SUCCESS encrypted to someone else.
        let envelope = seal(
            &certs_only(&[ca().1.clone()]).unwrap(),
            &evil.1,
            MODERN.cipher,
        )
        .unwrap();
        let attrs = Attributes::reply(&incoming.attributes, PkiStatus::Success, None);
        let rep = signed_reply(attrs, Some(&envelope), ca());
        let e = read_cert_rep(&rep, txn, key, &chain).unwrap_err();
        assert!(matches!(e, ClientError::Envelope(_)), "{e}");
    }

    /// root -> issuing CA -> RA.
    fn ra_hierarchy() -> (
        (KeyPair, Certificate),
        (KeyPair, Certificate),
        (KeyPair, Certificate),
    ) {
        let root = crate::scep::tests::identity(
            KeySpec::new(KeyAlgorithm::Rsa, 2048).unwrap(),
            "CN=Root CA,O=Example",
            true,
        );
        let issuing_key = rsa_key();
        let issuing = issue_cert(
            "CN=Issuing CA,O=Example",
            issuing_key.public_key_info().unwrap(),
            &root,
            true,
        );
        let issuing = (issuing_key, issuing);
        let ra_key = rsa_key();
        let ra = issue_cert(
            "CN=SCEP RA,O=Example",
            ra_key.public_key_info().unwrap(),
            &issuing,
            false,
        );
        (root, issuing, (ra_key, ra))
    }

    #[test]
    fn ra_chain_from_degenerate_pkcs7() {
        let (root, issuing, ra) = ra_hierarchy();
        let bag = certs_only(&[ra.1.clone(), issuing.1.clone(), root.1.clone()]).unwrap();
        let chain = CaChain::from_reply("application/x-x509-ca-ra-cert", &bag).unwrap();
        assert_eq!(chain.ca, issuing.1);
        assert_eq!(chain.ra, vec![ra.1.clone()]);
        assert_eq!(chain.recipient(), &ra.1);
        assert_eq!(chain.signers(), vec![ra.1.clone(), issuing.1.clone()]);
        // Any content type, and PEM armour, read the same.
        assert_eq!(
            CaChain::from_reply("application/octet-stream", &bag).unwrap(),
            chain
        );
        let pem = crate::encoding::pem("PKCS7", &bag);
        assert_eq!(
            CaChain::from_reply("application/x-x509-ca-ra-cert", pem.as_bytes()).unwrap(),
            chain
        );

        // The request is encrypted to the RA, not the CA.
        let (key, _) = client();
        let csr = csr_der();
        let sent = pkcs_req(key, &csr, &chain, MODERN, NOW).unwrap();
        let incoming = open(&sent.message, &[]).unwrap();
        let envelope = incoming.content.as_ref().unwrap();
        assert!(open_envelope(envelope, &issuing.0, &issuing.1).is_err());
        let (incoming, opened) = receive(&sent.message, &ra);
        assert_eq!(&opened.content[..], &csr[..]);

        // The RA signs the answer; the CA's own signature is also accepted.
        let issued = issue_cert(
            "CN=router1,O=Example",
            key.public_key_info().unwrap(),
            &issuing,
            false,
        );
        let rep = success(&incoming, opened.cipher, std::slice::from_ref(&issued), &ra);
        assert_eq!(
            read_cert_rep(&rep, &sent.transaction, key, &chain).unwrap(),
            Answer::Issued(vec![issued])
        );
        let rep = reply(&incoming.attributes, PkiStatus::Pending, None, &issuing);
        assert_eq!(
            read_cert_rep(&rep, &sent.transaction, key, &chain).unwrap(),
            Answer::Pending
        );
        // The root is not a signer.
        let rep = reply(&incoming.attributes, PkiStatus::Pending, None, &root);
        let e = read_cert_rep(&rep, &sent.transaction, key, &chain).unwrap_err();
        assert!(e.to_string().contains("CN=Root CA"), "{e}");

        // Without the RA: the issuing CA, not the root above it.
        let bag = certs_only(&[root.1.clone(), issuing.1.clone()]).unwrap();
        let chain = CaChain::from_reply("application/x-x509-ca-ra-cert", &bag).unwrap();
        assert_eq!(chain.ca, issuing.1);
        assert!(chain.ra.is_empty());
        assert_eq!(chain.recipient(), &issuing.1);
    }

    #[test]
    fn ra_recipient_prefers_key_encipherment() {
        let (_, issuing, enc) = ra_hierarchy();
        // A signing-only RA certificate (ECDSA profile: no keyEncipherment).
        let sign_key = rsa_key();
        let mut profile = CertProfile::end_entity(
            "CN=RA signing,O=Example".parse().unwrap(),
            AltNames::default(),
            KeyAlgorithm::Ecdsa,
        );
        profile.issuer = Some(issuing.1.tbs_certificate().subject().clone());
        let validity = crate::issue::validity(
            Duration::from_secs(1_700_000_000),
            Duration::from_secs(2_000_000_000),
        )
        .unwrap();
        let signing = crate::issue::issue(
            profile,
            random_serial(),
            validity,
            sign_key.public_key_info().unwrap(),
            &issuing.0,
            HashAlg::Sha256,
        )
        .unwrap();
        let chain = CaChain {
            ca: issuing.1.clone(),
            ra: vec![signing.clone(), enc.1.clone()],
        };
        assert_eq!(chain.recipient(), &enc.1);
        let chain = CaChain {
            ca: issuing.1.clone(),
            ra: vec![signing.clone()],
        };
        assert_eq!(chain.recipient(), &signing);
    }

    #[test]
    fn ca_cert_replies() {
        let ca_cert = &ca().1;
        let der = ca_cert.to_der().unwrap();
        let chain = CaChain::from_reply("application/x-x509-ca-cert", &der).unwrap();
        assert_eq!(chain, direct_chain());
        assert_eq!(chain.recipient(), ca_cert);
        assert_eq!(chain.signers(), vec![ca_cert.clone()]);
        let pem = crate::encoding::to_pem("CERTIFICATE", ca_cert).unwrap();
        assert_eq!(
            CaChain::from_reply("application/x-x509-ca-cert; charset=binary", pem.as_bytes())
                .unwrap(),
            chain
        );

        let e = CaChain::from_reply("text/html", b"<html>oops</html>").unwrap_err();
        assert!(matches!(e, ClientError::CaCertBody { .. }), "{e}");
        assert!(e.to_string().contains("text/html"), "{e}");
        let e = CaChain::from_reply("application/x-x509-ca-ra-cert", &der).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("GetCACert reply (application/x-x509-ca-ra-cert) does not parse"),
            "{e}"
        );

        // A certificate without basicConstraints (an old v1 CA) is
        // tolerated, alone or as a bag of one.
        let (_, plain) = client();
        let alone =
            CaChain::from_reply("application/x-x509-ca-cert", &plain.to_der().unwrap()).unwrap();
        assert_eq!(alone.ca, *plain);
        let bag = certs_only(std::slice::from_ref(plain)).unwrap();
        assert_eq!(
            CaChain::from_reply("application/x-x509-ca-ra-cert", &bag).unwrap(),
            alone
        );
    }

    #[test]
    fn bad_chains() {
        let (root, issuing, ra) = ra_hierarchy();
        let e = CaChain::from_reply("application/x-x509-ca-ra-cert", &certs_only(&[]).unwrap())
            .unwrap_err();
        assert!(matches!(e, ClientError::EmptyChain { .. }), "{e}");

        // Only end-entity certificates.
        let (_, leaf) = client();
        let bag = certs_only(&[ra.1.clone(), leaf.clone()]).unwrap();
        let e = CaChain::from_reply("application/x-x509-ca-ra-cert", &bag).unwrap_err();
        assert!(matches!(e, ClientError::NoCa { .. }), "{e}");

        // An RA certificate from a CA that is not in the reply.
        let bag = certs_only(&[ra.1.clone(), root.1.clone()]).unwrap();
        let e = CaChain::from_reply("application/x-x509-ca-ra-cert", &bag).unwrap_err();
        assert!(matches!(e, ClientError::RaWithoutIssuer { .. }), "{e}");
        assert!(e.to_string().contains("CN=SCEP RA"), "{e}");

        // Two RA certificates from different CAs.
        let stray = issue_cert(
            "CN=Stray RA,O=Example",
            rsa_key().public_key_info().unwrap(),
            &root,
            false,
        );
        let bag = certs_only(&[ra.1.clone(), stray, issuing.1.clone(), root.1.clone()]).unwrap();
        let e = CaChain::from_reply("application/x-x509-ca-ra-cert", &bag).unwrap_err();
        assert!(matches!(e, ClientError::RaNotIssued { .. }), "{e}");

        // Two unrelated CAs and no RA.
        let bag = certs_only(&[root.1.clone(), ca().1.clone()]).unwrap();
        let e = CaChain::from_reply("application/x-x509-ca-ra-cert", &bag).unwrap_err();
        assert!(matches!(e, ClientError::AmbiguousCa { .. }), "{e}");
    }

    #[test]
    fn choose_algorithms() {
        let caps = |s: &str| Capabilities::parse(s);
        let modern = caps("AES\nDES3\nSHA-1\nSHA-256\nSHA-512\nPOSTPKIOperation\nRenewal\n");
        assert_eq!(choose(&modern, None, None).unwrap(), (MODERN, None));
        assert_eq!(
            choose(&caps("SCEPStandard"), None, None).unwrap(),
            (MODERN, None)
        );
        assert_eq!(
            choose(&caps("DES3\nSHA-1"), None, None).unwrap(),
            (
                Choice {
                    cipher: ContentCipher::TripleDes,
                    digest: HashAlg::Sha1
                },
                None
            )
        );
        // No SHA-2 advertised: SHA-1 (the legacy default).
        assert_eq!(
            choose(&caps("DES3"), None, None).unwrap().0.digest,
            HashAlg::Sha1
        );
        // Only SHA-512 advertised: SHA-512, not a downgrade.
        assert_eq!(
            choose(&caps("AES\nSHA-512"), None, None).unwrap().0.digest,
            HashAlg::Sha512
        );
        let e = choose(&caps("AES\nSHA-224"), None, None).unwrap_err();
        assert!(matches!(e, ClientError::NoDigest(_)), "{e}");

        // Nothing advertised: single DES only, and only when forced.
        let legacy = caps("");
        let e = choose(&legacy, None, None).unwrap_err();
        assert!(matches!(e, ClientError::DesOnly), "{e}");
        assert!(e.to_string().contains("only single DES"), "{e}");
        assert!(
            e.to_string().contains("scep-encryption-algorithm des"),
            "{e}"
        );
        let (choice, warning) = choose(&legacy, Some(ContentCipher::Des), None).unwrap();
        assert_eq!(
            choice,
            Choice {
                cipher: ContentCipher::Des,
                digest: HashAlg::Sha1
            }
        );
        let warning = warning.unwrap();
        assert!(
            warning.starts_with("single DES is weak (56-bit key"),
            "{warning}"
        );
        let (_, warning) = choose(&modern, Some(ContentCipher::Des), None).unwrap();
        assert!(
            warning.unwrap().ends_with("the CA also offers AES, DES3"),
            "forced DES on a modern CA"
        );

        // Forced choices the CA does not offer.
        let e = choose(&caps("AES\nSHA-256"), Some(ContentCipher::TripleDes), None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the CA does not offer 3DES (scep-encryption-algorithm des3); it offers AES"
        );
        let e = choose(&caps("DES3"), Some(ContentCipher::Aes128), None).unwrap_err();
        assert!(e.to_string().ends_with("it offers DES3"), "{e}");
        let e = choose(&caps("DES3\nSHA-1"), None, Some(HashAlg::Sha256)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the CA does not offer SHA-256 (scep-digest-algorithm sha256); it offers SHA-1"
        );
        let e = choose(&legacy, Some(ContentCipher::Des), Some(HashAlg::Sha256)).unwrap_err();
        assert!(matches!(e, ClientError::DigestNotOffered { .. }), "{e}");
        let e = choose(&caps("AES\nSHA-256"), None, Some(HashAlg::Sha1)).unwrap_err();
        assert!(e.to_string().ends_with("it offers SHA-256"), "{e}");

        // Forced choices it does offer.
        let (choice, warning) =
            choose(&modern, Some(ContentCipher::TripleDes), Some(HashAlg::Sha1)).unwrap();
        assert_eq!(
            choice,
            Choice {
                cipher: ContentCipher::TripleDes,
                digest: HashAlg::Sha1
            }
        );
        assert_eq!(warning, None);
        assert_eq!(
            choose(&modern, None, Some(HashAlg::Sha512))
                .unwrap()
                .0
                .digest,
            HashAlg::Sha512
        );
        assert_eq!(
            choose(&caps("AES\nDES3\nSHA-1\nSHA-256"), None, None)
                .unwrap()
                .0
                .to_string(),
            "AES-128, SHA-256"
        );
    }

    #[test]
    fn renewal() {
        let chain = direct_chain();
        let old_key = rsa_key();
        let old_cert = issue_cert(
            "CN=router1,O=Example",
            old_key.public_key_info().unwrap(),
            ca(),
            false,
        );
        let new_key = rsa_key();
        let csr = crate::request::build(
            &new_key,
            "CN=router1,O=Example".parse().unwrap(),
            &AltNames::default(),
            None,
            HashAlg::Sha256,
        )
        .unwrap()
        .to_der()
        .unwrap();

        let sent = renewal_req(&new_key, &csr, &old_cert, &old_key, &chain, MODERN, false).unwrap();
        let txn = &sent.transaction;
        assert_eq!(txn.message_type, MessageType::RenewalReq);
        // Not the key's own transaction ID (that one was the enrollment's).
        assert_ne!(
            txn.transaction_id,
            crate::scep::transaction_id(&new_key.public_key_info().unwrap())
        );
        assert_eq!(txn.transaction_id.len(), 64);
        let again =
            renewal_req(&new_key, &csr, &old_cert, &old_key, &chain, MODERN, false).unwrap();
        assert_eq!(
            again.transaction.transaction_id, txn.transaction_id,
            "stable for a retransmission"
        );
        assert_eq!(txn.signer_certificate().unwrap(), old_cert);
        let (incoming, opened) = receive(&sent.message, ca());
        assert_eq!(incoming.attributes.message_type, MessageType::RenewalReq);
        assert_eq!(incoming.signer, old_cert);
        assert!(
            open(&sent.message, std::slice::from_ref(&old_cert))
                .unwrap()
                .signer_trusted
        );
        assert_eq!(&opened.content[..], &csr[..]);

        // The CA answers to the old certificate; the new one is for the new key.
        let issued = issue_for(&csr);
        let rep = success(
            &incoming,
            opened.cipher,
            std::slice::from_ref(&issued),
            ca(),
        );
        let Answer::Issued(certs) = read_cert_rep(&rep, txn, &old_key, &chain).unwrap() else {
            panic!("not issued");
        };
        assert_eq!(certificate_for(&certs, &new_key), Some(issued));
        assert_eq!(certificate_for(&certs, &old_key), None);

        // Polling a renewal is signed by the old certificate too.
        let poll = cert_poll(txn, &old_key, &chain).unwrap();
        let (polled, _) = receive(&poll.message, ca());
        assert_eq!(polled.signer, old_cert);
        let e = cert_poll(txn, &new_key, &chain).unwrap_err();
        assert!(matches!(e, ClientError::SignerKeyMismatch { .. }), "{e}");

        // The Cisco form: a PKCSReq signed by the old certificate.
        let sent = renewal_req(&new_key, &csr, &old_cert, &old_key, &chain, MODERN, true).unwrap();
        assert_eq!(sent.transaction.message_type, MessageType::PkcsReq);
        let (incoming, _) = receive(&sent.message, ca());
        assert_eq!(incoming.attributes.message_type, MessageType::PkcsReq);
        assert_eq!(incoming.signer, old_cert);

        // Renewal with the same key.
        let csr_same = crate::request::build(
            &old_key,
            "CN=router1,O=Example".parse().unwrap(),
            &AltNames::default(),
            None,
            HashAlg::Sha256,
        )
        .unwrap()
        .to_der()
        .unwrap();
        let sent = renewal_req(
            &old_key, &csr_same, &old_cert, &old_key, &chain, MODERN, false,
        )
        .unwrap();
        // The same key: still a transaction of its own, not the enrollment's.
        assert_ne!(
            sent.transaction.transaction_id,
            crate::scep::transaction_id(&old_key.public_key_info().unwrap())
        );

        // Mismatched keys.
        let e =
            renewal_req(&new_key, &csr, &old_cert, &new_key, &chain, MODERN, false).unwrap_err();
        assert!(matches!(e, ClientError::SignerKeyMismatch { .. }), "{e}");
        let e =
            renewal_req(&old_key, &csr, &old_cert, &old_key, &chain, MODERN, false).unwrap_err();
        assert!(matches!(e, ClientError::RequestKeyMismatch(_)), "{e}");
    }

    #[test]
    fn requests_refused() {
        let chain = direct_chain();
        let (key, _) = client();
        // A request of another key.
        let other = rsa_key();
        let csr = crate::request::build(
            &other,
            "CN=x".parse().unwrap(),
            &AltNames::default(),
            None,
            HashAlg::Sha256,
        )
        .unwrap()
        .to_der()
        .unwrap();
        let e = pkcs_req(key, &csr, &chain, MODERN, NOW).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the certificate request's public key is not the key pair's"
        );
        let e = pkcs_req(key, b"junk", &chain, MODERN, NOW).unwrap_err();
        assert!(matches!(e, ClientError::BadRequest(_)), "{e}");

        // ECDSA.
        let ec = KeyPair::generate(KeySpec::new(KeyAlgorithm::Ecdsa, 256).unwrap()).unwrap();
        let csr = crate::request::build(
            &ec,
            "CN=x".parse().unwrap(),
            &AltNames::default(),
            None,
            HashAlg::Sha256,
        )
        .unwrap()
        .to_der()
        .unwrap();
        let e = pkcs_req(&ec, &csr, &chain, MODERN, NOW).unwrap_err();
        assert!(matches!(e, ClientError::NotRsa { .. }), "{e}");
        assert!(e.to_string().ends_with("the key pair is ECDSA"), "{e}");

        // A transaction that was tampered with on disk.
        let sent = pkcs_req(key, &csr_der(), &chain, MODERN, NOW).unwrap();
        let mut txn = sent.transaction.clone();
        txn.signer_cert = "zz".into();
        let e = cert_poll(&txn, key, &chain).unwrap_err();
        assert!(matches!(e, ClientError::BadTransaction(_)), "{e}");
    }
}
