//! The router's CMPv2 client, sans I/O: the requests ([`ir`], [`kur`],
//! [`cert_conf`], [`poll_req`]), reading the CA's replies ([`read_answer`],
//! [`read_pki_conf`]) and where the CA certificates of a response go
//! ([`place_chain`]).
//!
//! The caller does the HTTP (RFC 6712) and keeps the [`Transaction`]
//! between messages; nothing here reads a clock (the current time is
//! passed in) or the network.
//!
//! ```text
//! ir / kur ------------------------------> CA
//!   read_answer_and_record(ip / kup) <---
//!     Waiting: poll_req ------------------>
//!       read_answer_and_record(pollRep / ip) <---
//!     Issued: cert_conf ------------------>      (unless implicitConfirm)
//!       read_pki_conf(pkiconf) <----------
//! ```
//!
//! Use [`read_answer_and_record`] (rather than [`read_answer`]) when a
//! `certConf` or `pollReq` follows: it also records the CA's senderNonce,
//! which the next message must echo as its recipNonce (RFC 4210 §5.1.1;
//! OpenSSL's server checks it).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use const_oid::AssociatedOid;
use der::{Decode, Encode};
use x509_cert::Certificate;
use x509_cert::ext::Extension;
use x509_cert::ext::ToExtension;
use x509_cert::ext::pkix::{BasicConstraints, SubjectAltName, SubjectKeyIdentifier};
use x509_cert::name::Name;

use super::{
    CertId, CertReqMsg, CertStatus, CertTemplate, CmpError, PkiBody, PkiHeader, PkiMessage,
    PkiStatus, PkiStatusInfo, PollReq, Protection, Received,
};
use crate::altname::{AltNameError, AltNames};
use crate::key::{KeyError, KeyPair};
use crate::name::subject_string;

/// The longest chain [`place_chain`] follows to a self-signed root.
pub const MAX_CHAIN_DEPTH: usize = 10;

/// `checkAfter` of a `waiting` CertResponse (which carries none).
pub const DEFAULT_CHECK_AFTER: u64 = 1;

/// Why a client step failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// A key could not sign or give its public key.
    #[error("{0}")]
    Key(#[from] KeyError),
    /// The subjectAltName could not be encoded.
    #[error("subjectAltName: {0}")]
    AltName(#[from] AltNameError),
    /// Making a message failed.
    #[error("making the {what}: {source}")]
    Build {
        /// The message (`ir`, `kur`, `certConf`, `pollReq`).
        what: &'static str,
        /// Why.
        source: CmpError,
    },
    /// The old key pair of a key update is not the old certificate's.
    #[error("the old key pair is not the key of the certificate {0}")]
    OldKeyMismatch(String),
    /// The key of a [`Credential::Certificate`] is not the certificate's.
    #[error("the key pair that protects the message is not the key of the certificate {0}")]
    CredentialKeyMismatch(String),
    /// A stored transaction that does not decode.
    #[error("the stored CMP transaction is unreadable: {0}")]
    BadTransaction(String),
    /// The reply is not a PKIMessage.
    #[error("the CA's reply does not decode: {0}")]
    Decode(CmpError),
    /// The reply has no protection.
    #[error("the CA's {body} reply is not protected and is refused{said}")]
    Unprotected {
        /// The reply's body type.
        body: &'static str,
        /// For an error body, what it says (`" (it says: ...)"`), else empty.
        said: String,
    },
    /// The reply's MAC does not verify with the shared secret.
    #[error("{} protection MAC does not verify (wrong secret?)", .body.to_uppercase())]
    BadMac {
        /// The reply's body type.
        body: &'static str,
    },
    /// The reply's signature does not verify with the trusted CA
    /// certificate (nor with a certificate in extraCerts that it signed).
    #[error(
        "{} protection signature does not verify with the CA certificate {ca} (nor with a certificate in extraCerts that it signed): {detail}",
        .body.to_uppercase()
    )]
    BadSignature {
        /// The reply's body type.
        body: &'static str,
        /// The trusted CA certificate's subject.
        ca: String,
        /// What failed.
        detail: String,
    },
    /// The reply is protected, but not as [`Trust`] requires (a MAC where
    /// a signature is expected, an unsupported algorithm, ...).
    #[error("{} protection: {source}", .body.to_uppercase())]
    Protection {
        /// The reply's body type.
        body: &'static str,
        /// Why.
        source: CmpError,
    },
    /// The reply is for another transaction.
    #[error("transactionID mismatch: sent {sent}, got {got}")]
    TransactionIdMismatch {
        /// Ours (hex).
        sent: String,
        /// The reply's (hex, or `none`).
        got: String,
    },
    /// The reply does not echo a nonce.
    #[error("the CA's reply has no recipNonce")]
    NoRecipNonce,
    /// The reply's recipNonce is not our last senderNonce.
    #[error("recipNonce does not match our senderNonce")]
    RecipNonceMismatch,
    /// The CA answered with an `error` body.
    #[error("the CA answered with an error message: {}", words(*.status, .fail_info, .text))]
    ErrorMessage {
        /// The PKIStatus.
        status: PkiStatus,
        /// The failInfo bit names (`badPOP`, ...).
        fail_info: Vec<&'static str>,
        /// statusString and errorDetails, joined with "; ".
        text: String,
    },
    /// A body that does not answer our message.
    #[error("unexpected body {got}, expected {expected}")]
    UnexpectedBody {
        /// What came.
        got: &'static str,
        /// What should have.
        expected: &'static str,
    },
    /// Not exactly one CertResponse (we ask for one certificate).
    #[error("the {body} carries {count} CertResponses, expected exactly one")]
    ResponseCount {
        /// The body type.
        body: &'static str,
        /// How many.
        count: usize,
    },
    /// A CertResponse or pollRep for another request.
    #[error("certReqId mismatch: sent {sent}, got {got}")]
    CertReqIdMismatch {
        /// Ours.
        sent: i64,
        /// The reply's (the first one, for a pollRep).
        got: String,
    },
    /// A status that does not answer a certificate request.
    #[error("unexpected PKIStatus {0} in the CertResponse")]
    UnexpectedStatus(PkiStatus),
    /// A granted CertResponse without a certificate in clear.
    #[error("the CertResponse grants the request but carries no certificate in clear")]
    NoCertificate,
    /// The certificate is for another key.
    #[error("the issued certificate's public key is not the requested key pair's")]
    KeyMismatch,
    /// A pollRep with a negative checkAfter.
    #[error("pollRep checkAfter {0} is negative")]
    BadCheckAfter(i64),
    /// No CA certificate of the response (nor the profile's) issued the
    /// certificate.
    #[error("no CA certificate in caPubs or extraCerts issued the certificate (its issuer is {0})")]
    NoIssuingCa(String),
    /// The issuing CA certificate does not chain to a self-signed root.
    #[error("the issuing CA certificate {subject} is not usable: {why}")]
    IssuingCaUnusable {
        /// Its subject.
        subject: String,
        /// Why.
        why: String,
    },
    /// Every suffixed name of a serial-number profile name is taken.
    #[error("no free CA profile name for {0} (-00 to -99 are taken)")]
    NoFreeName(String),
}

/// `<status> (<failInfo names>): <text>`.
fn words(status: PkiStatus, fail_info: &[&str], text: &str) -> String {
    let mut s = status.name().to_string();
    if !fail_info.is_empty() {
        s.push_str(&format!(" ({})", fail_info.join(", ")));
    }
    if !text.is_empty() {
        s.push_str(&format!(": {text}"));
    }
    s
}

fn status_words(info: &PkiStatusInfo) -> String {
    words(info.status, &info.failure_info().names(), &info.text())
}

/// How our messages are protected.
#[derive(Clone, Copy)]
pub enum Credential<'a> {
    /// Password-based MAC with a shared secret; `reference` goes in the
    /// senderKID.
    Secret {
        /// The reference number identifying the secret.
        reference: &'a str,
        /// The shared secret.
        secret: &'a [u8],
    },
    /// A signature with `key`; `cert` (its certificate) goes first in
    /// extraCerts.
    Certificate {
        /// The protecting certificate.
        cert: &'a Certificate,
        /// Its key.
        key: &'a KeyPair,
    },
}

impl fmt::Debug for Credential<'_> {
    /// Never prints the secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::Secret { reference, .. } => f
                .debug_struct("Secret")
                .field("reference", reference)
                .field("secret", &format_args!("<redacted>"))
                .finish(),
            Credential::Certificate { cert, key } => f
                .debug_struct("Certificate")
                .field("cert", &subject_string(cert.tbs_certificate().subject()))
                .field("key", key)
                .finish(),
        }
    }
}

/// How the CA's replies must be protected to be believed.
#[derive(Clone, Copy)]
pub enum Trust<'a> {
    /// A password-based MAC with this shared secret.
    Secret(&'a [u8]),
    /// A signature by this CA certificate, or by the certificate first in
    /// extraCerts when this CA certificate signed it.
    Ca(&'a Certificate),
}

impl fmt::Debug for Trust<'_> {
    /// Never prints the secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Trust::Secret(_) => f.write_str("Secret(<redacted>)"),
            Trust::Ca(c) => f
                .debug_tuple("Ca")
                .field(&subject_string(c.tbs_certificate().subject()))
                .finish(),
        }
    }
}

/// What the client remembers between messages (persisted by the router).
/// Names are DER in hex, identifiers and nonces hex.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Transaction {
    /// The transactionID.
    pub transaction_id: String,
    /// The senderNonce of our last message: the reply's recipNonce must
    /// echo it.
    pub sender_nonce: String,
    /// The certReqId of our request.
    pub cert_req_id: i64,
    /// The request that opened the transaction: `ir` or `kur`.
    pub body: String,
    /// The CA's Name (DER hex): the recipient of our messages.
    pub recipient: String,
    /// Our Name (DER hex): the sender of our messages.
    pub sender: String,
    /// The senderNonce of the CA's last reply (empty before the first),
    /// echoed as the recipNonce of our next message. Set by
    /// [`read_answer_and_record`].
    #[serde(default)]
    pub recip_nonce: String,
}

impl Transaction {
    fn bytes(field: &'static str, hex_value: &str) -> Result<Vec<u8>, ClientError> {
        hex::decode(hex_value).map_err(|e| ClientError::BadTransaction(format!("{field}: {e}")))
    }

    fn name(field: &'static str, hex_value: &str) -> Result<Name, ClientError> {
        Name::from_der(&Self::bytes(field, hex_value)?)
            .map_err(|e| ClientError::BadTransaction(format!("{field}: {e}")))
    }

    /// The transactionID bytes.
    pub fn transaction_id_bytes(&self) -> Result<Vec<u8>, ClientError> {
        Self::bytes("transactionID", &self.transaction_id)
    }

    /// The senderNonce of our last message.
    pub fn sender_nonce_bytes(&self) -> Result<Vec<u8>, ClientError> {
        Self::bytes("senderNonce", &self.sender_nonce)
    }

    /// The CA's Name.
    pub fn recipient_name(&self) -> Result<Name, ClientError> {
        Self::name("recipient", &self.recipient)
    }

    /// Our Name.
    pub fn sender_name(&self) -> Result<Name, ClientError> {
        Self::name("sender", &self.sender)
    }

    /// The body that answers our request: `ip` for `ir`, `kup` for `kur`.
    fn expected_reply(&self) -> Result<&'static str, ClientError> {
        match self.body.as_str() {
            "ir" => Ok("ip"),
            "kur" => Ok("kup"),
            other => Err(ClientError::BadTransaction(format!(
                "body {other:?} is neither ir nor kur"
            ))),
        }
    }
}

/// A message to send and the transaction it belongs to.
#[derive(Clone, PartialEq, Eq)]
pub struct Sent {
    /// The DER PKIMessage (the HTTP POST body).
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

/// What an ip/cp/kup (or pollRep) said.
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)] // one per reply; `cert: Certificate` is the agreed API
pub enum Answer {
    /// The certificate, with caPubs and extraCerts as received.
    Issued {
        /// The certificate (its public key is the requested key's).
        cert: Certificate,
        /// The CertRepMessage's caPubs.
        ca_pubs: Vec<Certificate>,
        /// The message's extraCerts.
        extra_certs: Vec<Certificate>,
        /// The CA granted implicit confirmation: no certConf is needed.
        implicit_confirm: bool,
    },
    /// "waiting" (or a pollRep): ask again after this many seconds.
    Waiting {
        /// Seconds.
        check_after: u64,
    },
    /// rejection: status, failInfo names and text, in words.
    Rejected {
        /// E.g. `rejection (badCertTemplate): subject not allowed`.
        reason: String,
    },
}

fn build(what: &'static str) -> impl Fn(CmpError) -> ClientError {
    move |source| ClientError::Build { what, source }
}

fn der_build(what: &'static str) -> impl Fn(der::Error) -> ClientError {
    move |e| ClientError::Build {
        what,
        source: CmpError::Encode(e),
    }
}

/// The subjectKeyIdentifier of `cert`, if it has one.
fn subject_key_id(cert: &Certificate) -> Option<Vec<u8>> {
    match cert
        .tbs_certificate()
        .get_extension::<SubjectKeyIdentifier>()
    {
        Ok(Some((_, ski))) => Some(ski.0.as_bytes().to_vec()),
        _ => None,
    }
}

/// Protects and encodes `body` under `header` with `cred`, and records the
/// transaction.
fn seal(
    what: &'static str,
    header: PkiHeader,
    body: PkiBody,
    cred: &Credential<'_>,
    mut transaction: Transaction,
) -> Result<Sent, ClientError> {
    let (header, protection, extra) = match *cred {
        Credential::Secret { reference, secret } => (
            header
                .with_sender_kid(reference.as_bytes())
                .map_err(build(what))?,
            Protection::Mac { secret },
            Vec::new(),
        ),
        Credential::Certificate { cert, key } => {
            if !key.matches(cert.tbs_certificate().subject_public_key_info()) {
                return Err(ClientError::CredentialKeyMismatch(subject_string(
                    cert.tbs_certificate().subject(),
                )));
            }
            let header = match subject_key_id(cert) {
                Some(kid) => header.with_sender_kid(&kid).map_err(build(what))?,
                None => header,
            };
            (
                header,
                Protection::Signature {
                    key,
                    hash: key.default_hash(),
                },
                vec![cert.clone()],
            )
        }
    };
    let msg = super::protect(header, body, protection, extra).map_err(build(what))?;
    transaction.transaction_id = hex::encode(msg.header.transaction_id().unwrap_or_default());
    transaction.sender_nonce = hex::encode(msg.header.sender_nonce().unwrap_or_default());
    Ok(Sent {
        message: msg.to_der().map_err(build(what))?,
        transaction,
    })
}

fn hex_der(what: &'static str, name: &Name) -> Result<String, ClientError> {
    Ok(hex::encode(name.to_der().map_err(der_build(what))?))
}

/// A request (`ir` or `kur`) for one certificate, certReqId 0.
#[allow(clippy::too_many_arguments)]
fn request(
    what: &'static str,
    template: CertTemplate,
    controls: Option<super::Controls>,
    key: &KeyPair,
    sender: &Name,
    recipient: &Name,
    cred: &Credential<'_>,
    now: Duration,
) -> Result<Sent, ClientError> {
    let req =
        CertReqMsg::signed(0, template, controls, key, key.default_hash()).map_err(build(what))?;
    let body = match what {
        "kur" => PkiBody::Kur(vec![req]),
        _ => PkiBody::Ir(vec![req]),
    };
    let header =
        PkiHeader::new(sender.clone(), recipient.clone(), now.as_secs()).map_err(build(what))?;
    let transaction = Transaction {
        transaction_id: String::new(),
        sender_nonce: String::new(),
        cert_req_id: 0,
        body: what.to_string(),
        recipient: hex_der(what, recipient)?,
        sender: hex_der(what, sender)?,
        recip_nonce: String::new(),
    };
    seal(what, header, body, cred, transaction)
}

/// An IR for `key` (RSA, ECDSA or DSA) asking for `subject` + `alt` (a
/// subjectAltName extension in the template when `alt` is not empty), POP
/// by signature with `key.default_hash()`, certReqId 0, recipient
/// `ca_dn`, fresh transactionID and senderNonce, pvno 2, protected with
/// `cred`: a PBM with senderKID = the reference, or a signature with
/// extraCerts = \[cert\] (and senderKID = its subjectKeyIdentifier).
///
/// The header's sender is `subject` with a secret; with a certificate it
/// is the certificate's subject (RFC 9483 §3.1: the sender names the
/// protection certificate's subject; OpenSSL's server checks it).
pub fn ir(
    key: &KeyPair,
    subject: &Name,
    alt: &AltNames,
    ca_dn: &Name,
    cred: &Credential<'_>,
    now: Duration,
) -> Result<Sent, ClientError> {
    let mut template = CertTemplate {
        subject: Some(subject.clone()),
        public_key: Some(key.public_key_info()?),
        ..CertTemplate::default()
    };
    if let Some(san) = alt.to_extension()? {
        let ext = (&san).to_extension(subject, &[]).map_err(der_build("ir"))?;
        template.extensions = Some(vec![ext]);
    }
    let sender = match cred {
        Credential::Secret { .. } => subject,
        Credential::Certificate { cert, .. } => cert.tbs_certificate().subject(),
    };
    request("ir", template, None, key, sender, ca_dn, cred, now)
}

/// A KUR: a template with `new_key`'s public key and `old_cert`'s subject
/// and subjectAltName, the control id-regCtrl-oldCertID =
/// `CertId::of(old_cert)`, POP signed by `new_key`; protected by a
/// signature with `old_key` (extraCerts \[old_cert\], senderKID its
/// subjectKeyIdentifier); sender `old_cert`'s subject, recipient its
/// issuer.
pub fn kur(
    new_key: &KeyPair,
    old_cert: &Certificate,
    old_key: &KeyPair,
    now: Duration,
) -> Result<Sent, ClientError> {
    let tbs = old_cert.tbs_certificate();
    if !old_key.matches(tbs.subject_public_key_info()) {
        return Err(ClientError::OldKeyMismatch(subject_string(tbs.subject())));
    }
    let san: Option<Extension> = tbs
        .extensions()
        .and_then(|exts| exts.iter().find(|e| e.extn_id == SubjectAltName::OID))
        .cloned();
    let template = CertTemplate {
        subject: Some(tbs.subject().clone()),
        public_key: Some(new_key.public_key_info()?),
        extensions: san.map(|e| vec![e]),
        ..CertTemplate::default()
    };
    let control = CertId::of(old_cert)
        .to_old_cert_id_control()
        .map_err(der_build("kur"))?;
    let cred = Credential::Certificate {
        cert: old_cert,
        key: old_key,
    };
    request(
        "kur",
        template,
        Some(vec![control]),
        new_key,
        tbs.subject(),
        tbs.issuer(),
        &cred,
        now,
    )
}

/// A message after the first one of `txn`: same transactionID, sender and
/// recipient, recipNonce = the CA's last senderNonce (when recorded), a
/// fresh senderNonce.
fn follow_up(
    what: &'static str,
    txn: &Transaction,
    body: PkiBody,
    cred: &Credential<'_>,
    now: Duration,
) -> Result<Sent, ClientError> {
    let mut header = PkiHeader::new(txn.sender_name()?, txn.recipient_name()?, now.as_secs())
        .map_err(build(what))?
        .with_transaction_id(&txn.transaction_id_bytes()?)
        .map_err(build(what))?;
    if !txn.recip_nonce.is_empty() {
        let nonce = Transaction::bytes("recipNonce", &txn.recip_nonce)?;
        header = header.with_recip_nonce(&nonce).map_err(build(what))?;
    }
    seal(what, header, body, cred, txn.clone())
}

/// certConf for `cert` (CertStatus::for_certificate, status accepted) in
/// `txn`, protected with `cred`.
pub fn cert_conf(
    txn: &Transaction,
    cert: &Certificate,
    cred: &Credential<'_>,
    now: Duration,
) -> Result<Sent, ClientError> {
    let status =
        CertStatus::for_certificate(cert, txn.cert_req_id, Some(PkiStatusInfo::accepted()))
            .map_err(build("certConf"))?;
    follow_up("certConf", txn, PkiBody::CertConf(vec![status]), cred, now)
}

/// pollReq for `txn.cert_req_id`, protected with `cred`.
pub fn poll_req(
    txn: &Transaction,
    cred: &Credential<'_>,
    now: Duration,
) -> Result<Sent, ClientError> {
    let body = PkiBody::PollReq(vec![PollReq {
        cert_req_id: txn.cert_req_id,
    }]);
    follow_up("pollReq", txn, body, cred, now)
}

/// Whether `ca` issued `cert`: issuer name and signature.
fn signed_by(cert: &Certificate, ca: &Certificate) -> Result<(), String> {
    let ca_subject = ca.tbs_certificate().subject();
    if cert.tbs_certificate().issuer() != ca_subject {
        return Err(format!(
            "its issuer {} is not {}",
            subject_string(cert.tbs_certificate().issuer()),
            subject_string(ca_subject)
        ));
    }
    crate::verify::certificate(cert, ca.tbs_certificate().subject_public_key_info())
        .map_err(|e| e.to_string())
}

/// Checks the protection of a received reply per `trust`.
fn check_protection(received: &Received, trust: &Trust<'_>) -> Result<(), ClientError> {
    let msg = &received.message;
    let body = msg.body_name();
    if msg.protection.is_none() || msg.header.protection_alg.is_none() {
        let said = match &msg.body {
            PkiBody::Error(e) => format!(" (it says: {})", status_words(&e.pki_status_info)),
            _ => String::new(),
        };
        return Err(ClientError::Unprotected { body, said });
    }
    match *trust {
        Trust::Secret(secret) => received.verify_mac(secret).map_err(|e| match e {
            CmpError::BadMac => ClientError::BadMac { body },
            source => ClientError::Protection { body, source },
        }),
        Trust::Ca(ca) => match received.verify_signature(ca) {
            Ok(()) => Ok(()),
            Err(CmpError::Signature(direct)) => {
                let bad = |detail: String| ClientError::BadSignature {
                    body,
                    ca: subject_string(ca.tbs_certificate().subject()),
                    detail,
                };
                let first = msg.extra_certs.as_ref().and_then(|c| c.first());
                match first {
                    Some(signer) if signer != ca && signed_by(signer, ca).is_ok() => {
                        received.verify_signature(signer).map_err(|e| {
                            bad(format!(
                                "by {}: {e}",
                                subject_string(signer.tbs_certificate().subject())
                            ))
                        })
                    }
                    _ => Err(bad(direct.to_string())),
                }
            }
            Err(source) => Err(ClientError::Protection { body, source }),
        },
    }
}

/// Decodes a reply and checks protection, transactionID and recipNonce.
fn open_reply(der: &[u8], txn: &Transaction, trust: &Trust<'_>) -> Result<PkiMessage, ClientError> {
    let received = Received::decode(der).map_err(ClientError::Decode)?;
    check_protection(&received, trust)?;
    let msg = received.into_message();
    let ours = txn.transaction_id_bytes()?;
    match msg.header.transaction_id() {
        Some(t) if t == ours.as_slice() => {}
        got => {
            return Err(ClientError::TransactionIdMismatch {
                sent: hex::encode(&ours),
                got: got.map_or_else(|| "none".to_string(), hex::encode),
            });
        }
    }
    let nonce = txn.sender_nonce_bytes()?;
    match msg.header.recip_nonce() {
        None => Err(ClientError::NoRecipNonce),
        Some(n) if n != nonce.as_slice() => Err(ClientError::RecipNonceMismatch),
        Some(_) => Ok(msg),
    }
}

fn error_message(e: &super::ErrorMsgContent) -> ClientError {
    let info = &e.pki_status_info;
    let mut text: Vec<String> = info.status_string.clone().unwrap_or_default();
    text.extend(e.error_details.iter().flatten().cloned());
    ClientError::ErrorMessage {
        status: info.status,
        fail_info: info.failure_info().names(),
        text: text.join("; "),
    }
}

/// Reads the reply to our last message of `txn`.
///
/// Checks, in order: it decodes ([`Received`], so the protection is
/// checked over the bytes as received); it is protected per `trust` (a MAC
/// with the secret; or a signature by the trusted CA certificate, or by
/// `extraCerts[0]` when the trusted CA signed `extraCerts[0]`) — an
/// unprotected reply is refused; its transactionID is `txn`'s; its
/// recipNonce is `txn.sender_nonce`.
///
/// Then the body: the `ip` (for an `ir`) or `kup` (for a `kur`) must carry
/// exactly one CertResponse for `txn.cert_req_id`: accepted or
/// grantedWithMods → [`Answer::Issued`] (the certificate's public key
/// must be `key`'s); waiting → [`Answer::Waiting`] after
/// [`DEFAULT_CHECK_AFTER`]; rejection → [`Answer::Rejected`]. A `pollRep`
/// → [`Answer::Waiting`] with its checkAfter. An `error` body →
/// [`ClientError::ErrorMessage`].
///
/// This does not record the CA's senderNonce; see
/// [`read_answer_and_record`].
pub fn read_answer(
    der: &[u8],
    txn: &Transaction,
    key: &KeyPair,
    trust: &Trust<'_>,
) -> Result<Answer, ClientError> {
    read_answer_message(der, txn, key, trust).map(|(answer, _)| answer)
}

/// [`read_answer`], and on success records the reply's senderNonce in
/// `txn` (`recip_nonce`), so that the next [`cert_conf`] or [`poll_req`]
/// echoes it.
pub fn read_answer_and_record(
    der: &[u8],
    txn: &mut Transaction,
    key: &KeyPair,
    trust: &Trust<'_>,
) -> Result<Answer, ClientError> {
    let (answer, msg) = read_answer_message(der, txn, key, trust)?;
    txn.recip_nonce = hex::encode(msg.header.sender_nonce().unwrap_or_default());
    Ok(answer)
}

fn read_answer_message(
    der: &[u8],
    txn: &Transaction,
    key: &KeyPair,
    trust: &Trust<'_>,
) -> Result<(Answer, PkiMessage), ClientError> {
    let expected = txn.expected_reply()?;
    let msg = open_reply(der, txn, trust)?;
    let answer = match &msg.body {
        PkiBody::Error(e) => return Err(error_message(e)),
        PkiBody::PollRep(reps) => {
            let rep = reps
                .iter()
                .find(|r| r.cert_req_id == txn.cert_req_id)
                .ok_or_else(|| ClientError::CertReqIdMismatch {
                    sent: txn.cert_req_id,
                    got: reps
                        .first()
                        .map_or_else(|| "none".to_string(), |r| r.cert_req_id.to_string()),
                })?;
            Answer::Waiting {
                check_after: u64::try_from(rep.check_after)
                    .map_err(|_| ClientError::BadCheckAfter(rep.check_after))?,
            }
        }
        body if body.name() == expected => {
            let rep = body.cert_response().ok_or(ClientError::UnexpectedBody {
                got: body.name(),
                expected,
            })?;
            let [response] = rep.response.as_slice() else {
                return Err(ClientError::ResponseCount {
                    body: body.name(),
                    count: rep.response.len(),
                });
            };
            if response.cert_req_id != txn.cert_req_id {
                return Err(ClientError::CertReqIdMismatch {
                    sent: txn.cert_req_id,
                    got: response.cert_req_id.to_string(),
                });
            }
            match response.status.status {
                PkiStatus::Accepted | PkiStatus::GrantedWithMods => {
                    let cert = response
                        .certificate()
                        .ok_or(ClientError::NoCertificate)?
                        .clone();
                    if !key.matches(cert.tbs_certificate().subject_public_key_info()) {
                        return Err(ClientError::KeyMismatch);
                    }
                    Answer::Issued {
                        cert,
                        ca_pubs: rep.ca_pubs.clone().unwrap_or_default(),
                        extra_certs: msg.extra_certs.clone().unwrap_or_default(),
                        implicit_confirm: msg.header.implicit_confirm(),
                    }
                }
                PkiStatus::Waiting => Answer::Waiting {
                    check_after: DEFAULT_CHECK_AFTER,
                },
                PkiStatus::Rejection => Answer::Rejected {
                    reason: status_words(&response.status),
                },
                other => return Err(ClientError::UnexpectedStatus(other)),
            }
        }
        body => {
            return Err(ClientError::UnexpectedBody {
                got: body.name(),
                expected,
            });
        }
    };
    Ok((answer, msg))
}

/// Reads the pkiConf answering our certConf: the same checks as
/// [`read_answer`]; an `error` body is [`ClientError::ErrorMessage`].
pub fn read_pki_conf(der: &[u8], txn: &Transaction, trust: &Trust<'_>) -> Result<(), ClientError> {
    let msg = open_reply(der, txn, trust)?;
    match &msg.body {
        PkiBody::Pkiconf(_) => Ok(()),
        PkiBody::Error(e) => Err(error_message(e)),
        body => Err(ClientError::UnexpectedBody {
            got: body.name(),
            expected: "pkiconf",
        }),
    }
}

/// The CA profile name made from `cert`'s serial number: the least
/// significant 16 uppercase hex digits of the serial (without a leading
/// 00 sign byte), zero-filled on the left when shorter.
pub fn serial_profile_name(cert: &Certificate) -> String {
    let bytes = cert.tbs_certificate().serial_number().as_bytes();
    let bytes = match bytes {
        [0, rest @ ..] => rest,
        all => all,
    };
    let hex = hex::encode_upper(bytes);
    let tail = hex.get(hex.len().saturating_sub(16)..).unwrap_or(&hex);
    format!("{tail:0>16}")
}

/// Whether two certificates are the same (equal decoded structures encode
/// to equal DER).
fn same(a: &Certificate, b: &Certificate) -> bool {
    a == b
}

fn is_self_signed(cert: &Certificate) -> bool {
    signed_by(cert, cert).is_ok()
}

/// Whether `cert` chains to a self-signed root through certificates of
/// `pool` (issuer DN and signature at every step); why not.
fn chains(cert: &Certificate, pool: &[&Certificate]) -> Result<(), String> {
    let mut current = cert;
    for _ in 0..MAX_CHAIN_DEPTH {
        if is_self_signed(current) {
            return Ok(());
        }
        let issuer = current.tbs_certificate().issuer();
        let mut why = None;
        let mut next = None;
        for candidate in pool.iter().copied().filter(|c| !same(c, current)) {
            if candidate.tbs_certificate().subject() != issuer {
                continue;
            }
            match signed_by(current, candidate) {
                Ok(()) => {
                    next = Some(candidate);
                    break;
                }
                Err(e) => why = Some(e),
            }
        }
        current = match (next, why) {
            (Some(n), _) => n,
            (None, Some(e)) => {
                return Err(format!(
                    "{}: the signature by {} does not verify ({e})",
                    subject_string(current.tbs_certificate().subject()),
                    subject_string(issuer)
                ));
            }
            (None, None) => {
                return Err(format!(
                    "{}: its issuer {} is not in the chain",
                    subject_string(current.tbs_certificate().subject()),
                    subject_string(issuer)
                ));
            }
        };
    }
    Err(format!("longer than {MAX_CHAIN_DEPTH} certificates"))
}

/// Whether basicConstraints says cA=TRUE.
fn is_ca(cert: &Certificate) -> bool {
    matches!(
        cert.tbs_certificate().get_extension::<BasicConstraints>(),
        Ok(Some((_, bc))) if bc.ca
    )
}

/// Whether basicConstraints says cA=FALSE.
fn says_not_ca(cert: &Certificate) -> bool {
    matches!(
        cert.tbs_certificate().get_extension::<BasicConstraints>(),
        Ok(Some((_, bc))) if !bc.ca
    )
}

/// Where each CA certificate of a response goes (the Junos rule).
///
/// The issuing CA certificate (found among `ca_pubs` + `extra_certs` by
/// subject = `cert`'s issuer and a verifying signature) goes under
/// `profile`: left out if `existing[profile]` is the same certificate,
/// included (replacing it) if different. When the response carries no
/// issuing CA certificate, `existing[profile]` may be it (then nothing is
/// stored for `profile`); otherwise that is an error, as is an issuing CA
/// certificate that does not chain.
///
/// Every other CA certificate (basicConstraints cA=TRUE) of `ca_pubs` +
/// `extra_certs` that chains (issuer DN and signature at every step, up to
/// a self-signed root, through the response's certificates and those of
/// `existing`) is stored once under [`serial_profile_name`]; when a
/// different certificate of `existing` (or of this result) has that name,
/// under the first free of name-00 ... name-99. Certificates already in
/// `existing` (equal DER, under any name) are left out, as are those that
/// do not chain.
pub fn place_chain(
    cert: &Certificate,
    ca_pubs: &[Certificate],
    extra_certs: &[Certificate],
    profile: &str,
    existing: &BTreeMap<String, Certificate>,
) -> Result<Vec<(String, Certificate)>, ClientError> {
    let mut received: Vec<&Certificate> = Vec::new();
    for c in ca_pubs.iter().chain(extra_certs) {
        if !received.iter().any(|r| same(r, c)) {
            received.push(c);
        }
    }
    let pool: Vec<&Certificate> = received.iter().copied().chain(existing.values()).collect();
    let issuer_dn = cert.tbs_certificate().issuer();
    let issuing = received
        .iter()
        .copied()
        .find(|c| signed_by(cert, c).is_ok())
        .or_else(|| existing.get(profile).filter(|c| signed_by(cert, c).is_ok()))
        .ok_or_else(|| ClientError::NoIssuingCa(subject_string(issuer_dn)))?;
    let unusable = |why: String| ClientError::IssuingCaUnusable {
        subject: subject_string(issuing.tbs_certificate().subject()),
        why,
    };
    if says_not_ca(issuing) {
        return Err(unusable("basicConstraints cA is false".into()));
    }
    chains(issuing, &pool).map_err(unusable)?;

    let mut placed: Vec<(String, Certificate)> = Vec::new();
    if existing.get(profile).is_none_or(|c| !same(c, issuing)) {
        placed.push((profile.to_string(), issuing.clone()));
    }
    let mut taken: BTreeSet<String> = existing.keys().cloned().collect();
    taken.insert(profile.to_string());
    for c in received {
        if same(c, issuing) || !is_ca(c) || existing.values().any(|e| same(e, c)) {
            continue;
        }
        if let Err(why) = chains(c, &pool) {
            tracing::warn!(target: "pki", "CA certificate not stored: {why}");
            continue;
        }
        let base = serial_profile_name(c);
        let name = if taken.contains(&base) {
            (0..100)
                .map(|n| format!("{base}-{n:02}"))
                .find(|n| !taken.contains(n))
                .ok_or_else(|| ClientError::NoFreeName(base.clone()))?
        } else {
            base
        };
        taken.insert(name.clone());
        placed.push((name, c.clone()));
    }
    Ok(placed)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use der::asn1::Null;
    use x509_cert::ext::pkix::name::GeneralName;
    use x509_cert::serial_number::SerialNumber;

    use super::*;
    use crate::cmp::{
        CertRepMessage, CertResponse, ErrorMsgContent, FailureInfo, PollRep, decode, protect,
    };
    use crate::issue::{self, CertProfile};
    use crate::key::{HashAlg, KeyAlgorithm, KeySpec};

    const NOW: Duration = Duration::from_secs(1_800_000_000);
    const SECRET: &[u8] = b"s3cret";
    const REFERENCE: &str = "1234";

    fn name(s: &str) -> Name {
        s.parse().unwrap()
    }

    fn key(algorithm: KeyAlgorithm, bits: u32) -> KeyPair {
        KeyPair::generate(KeySpec::new(algorithm, bits).unwrap()).unwrap()
    }

    fn p256() -> KeyPair {
        key(KeyAlgorithm::Ecdsa, 256)
    }

    fn secret() -> Credential<'static> {
        Credential::Secret {
            reference: REFERENCE,
            secret: SECRET,
        }
    }

    /// A certificate for `subject_key`, signed by `issuer` (self-signed
    /// when None).
    fn make_cert(
        subject: &str,
        subject_key: &KeyPair,
        issuer: Option<(&KeyPair, &Certificate)>,
        ca: bool,
        serial: &[u8],
        alt: AltNames,
    ) -> Certificate {
        let mut profile = CertProfile::end_entity(name(subject), alt, subject_key.spec().algorithm);
        if ca {
            profile.ca = Some(None);
        }
        profile.issuer = issuer.map(|(_, c)| c.tbs_certificate().subject().clone());
        let signer = issuer.map_or(subject_key, |(k, _)| k);
        issue::issue(
            profile,
            SerialNumber::new(serial).unwrap(),
            issue::validity(
                NOW - Duration::from_secs(86400),
                NOW + Duration::from_secs(86400),
            )
            .unwrap(),
            subject_key.public_key_info().unwrap(),
            signer,
            signer.default_hash(),
        )
        .unwrap()
    }

    /// How the fake CA protects a reply.
    enum By<'a> {
        Mac(&'a [u8]),
        Sig,
        Nothing,
    }

    /// A CA built from the message layer.
    struct FakeCa {
        key: KeyPair,
        cert: Certificate,
    }

    impl FakeCa {
        fn new() -> Self {
            let key = p256();
            let cert = make_cert(
                "CN=Fake CMP CA,O=Example",
                &key,
                None,
                true,
                &[0x0c, 0xa0],
                AltNames::default(),
            );
            FakeCa { key, cert }
        }

        fn subject(&self) -> &Name {
            self.cert.tbs_certificate().subject()
        }

        /// Issues what the request's template asks for.
        fn issue_for(&self, req: &CertReqMsg) -> Certificate {
            let t = &req.cert_req.cert_template;
            let spki = t.public_key.clone().unwrap();
            let mut profile = CertProfile::end_entity(
                t.subject.clone().unwrap(),
                AltNames::default(),
                KeyAlgorithm::Ecdsa,
            );
            profile.issuer = Some(self.subject().clone());
            issue::issue(
                profile,
                issue::random_serial(),
                issue::validity(NOW, NOW + Duration::from_secs(86400)).unwrap(),
                spki,
                &self.key,
                HashAlg::Sha256,
            )
            .unwrap()
        }

        fn header(&self, request: &PkiMessage) -> PkiHeader {
            PkiHeader::reply_to(&request.header, self.subject().clone(), NOW.as_secs()).unwrap()
        }

        fn seal(&self, header: PkiHeader, body: PkiBody, by: By<'_>) -> Vec<u8> {
            let (protection, extra) = match by {
                By::Mac(secret) => (Protection::Mac { secret }, vec![]),
                By::Sig => (
                    Protection::Signature {
                        key: &self.key,
                        hash: HashAlg::Sha256,
                    },
                    vec![self.cert.clone()],
                ),
                By::Nothing => (Protection::None, vec![]),
            };
            protect(header, body, protection, extra)
                .unwrap()
                .to_der()
                .unwrap()
        }

        fn reply(&self, request: &PkiMessage, body: PkiBody, by: By<'_>) -> Vec<u8> {
            self.seal(self.header(request), body, by)
        }
    }

    fn ip(cert: &Certificate, ca_pubs: Option<Vec<Certificate>>) -> PkiBody {
        PkiBody::Ip(CertRepMessage {
            ca_pubs,
            response: vec![CertResponse::accepted(0, cert.clone())],
        })
    }

    fn ip_status(status: PkiStatusInfo) -> PkiBody {
        PkiBody::Ip(CertRepMessage {
            ca_pubs: None,
            response: vec![CertResponse::without_certificate(0, status)],
        })
    }

    /// The fake CA's side of an IR with the shared secret: checks it and
    /// returns the request and the certificate it would issue.
    fn receive_ir(ca: &FakeCa, sent: &Sent) -> (PkiMessage, Certificate) {
        let req = Received::decode(&sent.message).unwrap();
        req.verify_mac(SECRET).unwrap();
        let PkiBody::Ir(reqs) = &req.message.body else {
            panic!("not an ir: {}", req.message.body_name())
        };
        reqs[0].verify_popo().unwrap();
        let cert = ca.issue_for(&reqs[0]);
        (req.into_message(), cert)
    }

    fn router() -> Name {
        name("CN=router1,O=Example")
    }

    #[test]
    fn ir_with_secret_ip_cert_conf_pki_conf() {
        let ca = FakeCa::new();
        let key = p256();
        let alt = AltNames {
            dns: vec!["router1.example.net".into()],
            ..AltNames::default()
        };
        let sent = ir(&key, &router(), &alt, ca.subject(), &secret(), NOW).unwrap();

        // What the CA sees.
        let req = Received::decode(&sent.message).unwrap();
        req.verify_mac(SECRET).unwrap();
        let h = &req.message.header;
        assert_eq!(h.pvno, 2);
        assert_eq!(h.sender_kid(), Some(REFERENCE.as_bytes()));
        assert_eq!(h.sender_name(), Some(&router()));
        assert_eq!(
            h.recipient,
            GeneralName::DirectoryName(ca.subject().clone())
        );
        assert_eq!(h.message_time_unix(), Some(NOW.as_secs()));
        assert!(req.message.extra_certs.is_none());
        let PkiBody::Ir(reqs) = &req.message.body else {
            panic!()
        };
        assert_eq!(reqs.len(), 1);
        reqs[0].verify_popo().unwrap();
        let cr = &reqs[0].cert_req;
        assert_eq!(cr.cert_req_id, 0);
        assert_eq!(cr.cert_template.subject.as_ref(), Some(&router()));
        assert!(key.matches(cr.cert_template.public_key.as_ref().unwrap()));
        let exts = cr.cert_template.extensions.as_ref().unwrap();
        let san = SubjectAltName::from_der(exts[0].extn_value.as_bytes()).unwrap();
        assert_eq!(AltNames::from_general_names(&san.0), alt);

        let txn = &sent.transaction;
        assert_eq!(txn.body, "ir");
        assert_eq!(txn.cert_req_id, 0);
        assert_eq!(txn.transaction_id, hex::encode(h.transaction_id().unwrap()));
        assert_eq!(txn.sender_nonce, hex::encode(h.sender_nonce().unwrap()));
        assert_eq!(txn.sender_name().unwrap(), router());
        assert_eq!(txn.recipient_name().unwrap(), *ca.subject());
        assert_eq!(txn.recip_nonce, "");
        let json = serde_json::to_string(txn).unwrap();
        assert_eq!(serde_json::from_str::<Transaction>(&json).unwrap(), *txn);
        // A record written before recip_nonce existed still reads.
        let mut value: serde_json::Value = serde_json::from_str(&json).unwrap();
        value.as_object_mut().unwrap().remove("recip_nonce");
        assert_eq!(serde_json::from_value::<Transaction>(value).unwrap(), *txn);

        // ip, protected with the same secret.
        let cert = ca.issue_for(&reqs[0]);
        let reply = ca.reply(
            &req.message,
            ip(&cert, Some(vec![ca.cert.clone()])),
            By::Mac(SECRET),
        );
        let expected = Answer::Issued {
            cert: cert.clone(),
            ca_pubs: vec![ca.cert.clone()],
            extra_certs: vec![],
            implicit_confirm: false,
        };
        let trust = Trust::Secret(SECRET);
        assert_eq!(read_answer(&reply, txn, &key, &trust).unwrap(), expected);
        let mut txn = txn.clone();
        assert_eq!(
            read_answer_and_record(&reply, &mut txn, &key, &trust).unwrap(),
            expected
        );
        let ip_nonce = decode(&reply)
            .unwrap()
            .header
            .sender_nonce()
            .unwrap()
            .to_vec();
        assert_eq!(txn.recip_nonce, hex::encode(&ip_nonce));

        // certConf.
        let conf = cert_conf(&txn, &cert, &secret(), NOW).unwrap();
        let c = Received::decode(&conf.message).unwrap();
        c.verify_mac(SECRET).unwrap();
        let ch = &c.message.header;
        assert_eq!(ch.transaction_id(), h.transaction_id());
        assert_eq!(ch.recip_nonce(), Some(ip_nonce.as_slice()));
        assert_ne!(ch.sender_nonce(), h.sender_nonce());
        assert_eq!(ch.sender_kid(), Some(REFERENCE.as_bytes()));
        assert_eq!(ch.sender_name(), Some(&router()));
        assert_eq!(
            conf.transaction.sender_nonce,
            hex::encode(ch.sender_nonce().unwrap())
        );
        let PkiBody::CertConf(statuses) = &c.message.body else {
            panic!()
        };
        assert_eq!(statuses.len(), 1);
        assert!(statuses[0].matches(&cert));
        assert!(statuses[0].is_accepted());
        assert_eq!(statuses[0].cert_req_id, 0);

        // pkiConf.
        let pki_conf = ca.reply(&c.message, PkiBody::Pkiconf(Null), By::Mac(SECRET));
        read_pki_conf(&pki_conf, &conf.transaction, &trust).unwrap();
        let e = read_pki_conf(&pki_conf, &txn, &trust).unwrap_err();
        assert!(matches!(e, ClientError::RecipNonceMismatch), "{e}");
        let wrong = ca.reply(&c.message, PkiBody::Pkiconf(Null), By::Mac(b"other"));
        let e = read_pki_conf(&wrong, &conf.transaction, &trust).unwrap_err();
        assert_eq!(
            e.to_string(),
            "PKICONF protection MAC does not verify (wrong secret?)"
        );
        let err = ca.reply(
            &c.message,
            PkiBody::Error(ErrorMsgContent::new(PkiStatusInfo::rejection(
                FailureInfo::BAD_CERT_ID,
                "unknown certificate",
            ))),
            By::Mac(SECRET),
        );
        let e = read_pki_conf(&err, &conf.transaction, &trust).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the CA answered with an error message: rejection (badCertId): unknown certificate"
        );
    }

    #[test]
    fn bad_replies_are_refused() {
        let ca = FakeCa::new();
        let key = p256();
        let sent = ir(
            &key,
            &router(),
            &AltNames::default(),
            ca.subject(),
            &secret(),
            NOW,
        )
        .unwrap();
        let (req, cert) = receive_ir(&ca, &sent);
        let txn = &sent.transaction;
        let trust = Trust::Secret(SECRET);
        let read = |reply: &[u8]| read_answer(reply, txn, &key, &trust).unwrap_err();

        let e = read(&ca.reply(&req, ip(&cert, None), By::Mac(b"wrong")));
        assert_eq!(
            e.to_string(),
            "IP protection MAC does not verify (wrong secret?)"
        );

        let header = ca.header(&req).with_transaction_id(&[7; 16]).unwrap();
        let e = read(&ca.seal(header, ip(&cert, None), By::Mac(SECRET)));
        assert!(e.to_string().starts_with("transactionID mismatch"), "{e}");

        let header = ca.header(&req).with_recip_nonce(&[9; 16]).unwrap();
        let e = read(&ca.seal(header, ip(&cert, None), By::Mac(SECRET)));
        assert_eq!(e.to_string(), "recipNonce does not match our senderNonce");

        let mut header = ca.header(&req);
        header.recip_nonce = None;
        let e = read(&ca.seal(header, ip(&cert, None), By::Mac(SECRET)));
        assert!(matches!(e, ClientError::NoRecipNonce), "{e}");

        let e = read(&ca.reply(&req, ip(&cert, None), By::Nothing));
        assert!(matches!(e, ClientError::Unprotected { .. }), "{e}");

        let error_body = PkiBody::Error(ErrorMsgContent::new(PkiStatusInfo::rejection(
            FailureInfo::BAD_MESSAGE_CHECK | FailureInfo::BAD_POP,
            "POP does not verify",
        )));
        let e = read(&ca.reply(&req, error_body.clone(), By::Mac(SECRET)));
        assert_eq!(
            e.to_string(),
            "the CA answered with an error message: rejection (badMessageCheck, badPOP): POP does not verify"
        );
        let ClientError::ErrorMessage { fail_info, .. } = e else {
            panic!()
        };
        assert_eq!(fail_info, ["badMessageCheck", "badPOP"]);
        // An unprotected error is not believed, but shown.
        let e = read(&ca.reply(&req, error_body, By::Nothing));
        assert_eq!(
            e.to_string(),
            "the CA's error reply is not protected and is refused (it says: rejection (badMessageCheck, badPOP): POP does not verify)"
        );

        let e = read(&ca.reply(&req, PkiBody::Pkiconf(Null), By::Mac(SECRET)));
        assert_eq!(e.to_string(), "unexpected body pkiconf, expected ip");

        // A certificate for another key.
        let other = ca.issue_for(
            &CertReqMsg::signed(
                0,
                CertTemplate {
                    subject: Some(router()),
                    public_key: Some(p256().public_key_info().unwrap()),
                    ..CertTemplate::default()
                },
                None,
                &key,
                HashAlg::Sha256,
            )
            .unwrap(),
        );
        let e = read(&ca.reply(&req, ip(&other, None), By::Mac(SECRET)));
        assert!(matches!(e, ClientError::KeyMismatch), "{e}");

        // Signed where a MAC is expected.
        let e = read(&ca.reply(&req, ip(&cert, None), By::Sig));
        assert!(matches!(e, ClientError::Protection { .. }), "{e}");

        // Two responses, another certReqId.
        let two = PkiBody::Ip(CertRepMessage {
            ca_pubs: None,
            response: vec![
                CertResponse::accepted(0, cert.clone()),
                CertResponse::accepted(1, cert.clone()),
            ],
        });
        let e = read(&ca.reply(&req, two, By::Mac(SECRET)));
        assert!(
            matches!(e, ClientError::ResponseCount { count: 2, .. }),
            "{e}"
        );
        let five = PkiBody::Ip(CertRepMessage {
            ca_pubs: None,
            response: vec![CertResponse::accepted(5, cert.clone())],
        });
        let e = read(&ca.reply(&req, five, By::Mac(SECRET)));
        assert_eq!(e.to_string(), "certReqId mismatch: sent 0, got 5");

        // Not a PKIMessage.
        let e = read(b"\x30\x00");
        assert!(matches!(e, ClientError::Decode(_)), "{e}");
    }

    #[test]
    fn waiting_poll_rep_then_issued_and_rejection() {
        let ca = FakeCa::new();
        let key = p256();
        let sent = ir(
            &key,
            &router(),
            &AltNames::default(),
            ca.subject(),
            &secret(),
            NOW,
        )
        .unwrap();
        let (req, cert) = receive_ir(&ca, &sent);
        let trust = Trust::Secret(SECRET);
        let mut txn = sent.transaction.clone();

        let waiting = ca.reply(&req, ip_status(PkiStatusInfo::waiting("")), By::Mac(SECRET));
        assert_eq!(
            read_answer_and_record(&waiting, &mut txn, &key, &trust).unwrap(),
            Answer::Waiting { check_after: 1 }
        );

        let poll = poll_req(&txn, &secret(), NOW + Duration::from_secs(1)).unwrap();
        let p = Received::decode(&poll.message).unwrap();
        p.verify_mac(SECRET).unwrap();
        assert_eq!(
            p.message.body,
            PkiBody::PollReq(vec![PollReq { cert_req_id: 0 }])
        );
        assert_eq!(
            p.message.header.recip_nonce(),
            decode(&waiting).unwrap().header.sender_nonce()
        );
        assert_eq!(
            p.message.header.transaction_id(),
            req.header.transaction_id()
        );
        let mut txn = poll.transaction.clone();

        let rep = ca.reply(
            &p.message,
            PkiBody::PollRep(vec![PollRep {
                cert_req_id: 0,
                check_after: 5,
                reason: None,
            }]),
            By::Mac(SECRET),
        );
        assert_eq!(
            read_answer_and_record(&rep, &mut txn, &key, &trust).unwrap(),
            Answer::Waiting { check_after: 5 }
        );
        // The poll reply must answer the pollReq, not the ir.
        let e = read_answer(&rep, &sent.transaction, &key, &trust).unwrap_err();
        assert!(matches!(e, ClientError::RecipNonceMismatch), "{e}");

        let poll = poll_req(&txn, &secret(), NOW + Duration::from_secs(6)).unwrap();
        let p = Received::decode(&poll.message).unwrap();
        let issued = ca.reply(&p.message, ip(&cert, None), By::Mac(SECRET));
        assert!(matches!(
            read_answer(&issued, &poll.transaction, &key, &trust).unwrap(),
            Answer::Issued { cert: c, .. } if c == cert
        ));

        let rejected = ca.reply(
            &req,
            ip_status(PkiStatusInfo::rejection(
                FailureInfo::BAD_CERT_TEMPLATE,
                "subject not allowed",
            )),
            By::Mac(SECRET),
        );
        assert_eq!(
            read_answer(&rejected, &sent.transaction, &key, &trust).unwrap(),
            Answer::Rejected {
                reason: "rejection (badCertTemplate): subject not allowed".into()
            }
        );
    }

    #[test]
    fn ir_with_certificate_and_signed_replies() {
        let ca = FakeCa::new();
        let vendor_key = p256();
        let vendor = make_cert(
            "CN=vendor-router1,O=Vendor",
            &vendor_key,
            None,
            false,
            &[0x42],
            AltNames::default(),
        );
        let key = p256();
        let cred = Credential::Certificate {
            cert: &vendor,
            key: &vendor_key,
        };
        let sent = ir(
            &key,
            &router(),
            &AltNames::default(),
            ca.subject(),
            &cred,
            NOW,
        )
        .unwrap();
        let req = Received::decode(&sent.message).unwrap();
        req.verify_signature(&vendor).unwrap();
        assert_eq!(req.message.extra_certs, Some(vec![vendor.clone()]));
        assert_eq!(
            req.message.header.sender_name(),
            Some(vendor.tbs_certificate().subject())
        );
        assert_eq!(
            req.message.header.sender_kid().map(<[u8]>::to_vec),
            subject_key_id(&vendor)
        );
        let PkiBody::Ir(reqs) = &req.message.body else {
            panic!()
        };
        reqs[0].verify_popo().unwrap();
        assert_eq!(reqs[0].cert_req.cert_template.subject, Some(router()));
        let cert = ca.issue_for(&reqs[0]);
        let txn = &sent.transaction;
        let trust = Trust::Ca(&ca.cert);

        // Signed by the CA itself.
        let reply = ca.reply(&req.message, ip(&cert, None), By::Sig);
        assert_eq!(
            read_answer(&reply, txn, &key, &trust).unwrap(),
            Answer::Issued {
                cert: cert.clone(),
                ca_pubs: vec![],
                extra_certs: vec![ca.cert.clone()],
                implicit_confirm: false,
            }
        );

        // Signed by a CMP signer certificate the CA issued.
        let signer_key = p256();
        let signer = make_cert(
            "CN=CMP signer,O=Example",
            &signer_key,
            Some((&ca.key, &ca.cert)),
            false,
            &[0x51],
            AltNames::default(),
        );
        let header = ca.header(&req.message).with_implicit_confirm().unwrap();
        let reply = protect(
            header,
            ip(&cert, None),
            Protection::Signature {
                key: &signer_key,
                hash: HashAlg::Sha256,
            },
            vec![signer.clone(), ca.cert.clone()],
        )
        .unwrap()
        .to_der()
        .unwrap();
        assert!(matches!(
            read_answer(&reply, txn, &key, &trust).unwrap(),
            Answer::Issued {
                implicit_confirm: true,
                ..
            }
        ));

        // Signed by a stranger that puts itself in extraCerts.
        let stranger_key = p256();
        let stranger = make_cert(
            "CN=Fake CMP CA,O=Example",
            &stranger_key,
            None,
            true,
            &[0x66],
            AltNames::default(),
        );
        let reply = protect(
            ca.header(&req.message),
            ip(&cert, None),
            Protection::Signature {
                key: &stranger_key,
                hash: HashAlg::Sha256,
            },
            vec![stranger],
        )
        .unwrap()
        .to_der()
        .unwrap();
        let e = read_answer(&reply, txn, &key, &trust).unwrap_err();
        assert!(matches!(e, ClientError::BadSignature { .. }), "{e}");

        // A MAC where a signature is expected.
        let e = read_answer(
            &ca.reply(&req.message, ip(&cert, None), By::Mac(SECRET)),
            txn,
            &key,
            &trust,
        )
        .unwrap_err();
        assert!(matches!(e, ClientError::Protection { .. }), "{e}");

        // A credential whose key is not the certificate's.
        let wrong = Credential::Certificate {
            cert: &vendor,
            key: &key,
        };
        let e = ir(
            &key,
            &router(),
            &AltNames::default(),
            ca.subject(),
            &wrong,
            NOW,
        )
        .unwrap_err();
        assert!(matches!(e, ClientError::CredentialKeyMismatch(_)), "{e}");

        // certConf signed with the same certificate.
        let conf = cert_conf(txn, &cert, &cred, NOW).unwrap();
        let c = Received::decode(&conf.message).unwrap();
        c.verify_signature(&vendor).unwrap();
        assert_eq!(c.message.extra_certs, Some(vec![vendor.clone()]));
    }

    #[test]
    fn kur_names_the_old_certificate_and_is_signed_by_it() {
        let ca = FakeCa::new();
        let old_key = p256();
        let alt = AltNames {
            dns: vec!["router1.example.net".into()],
            ..AltNames::default()
        };
        let old = make_cert(
            "CN=router1,O=Example",
            &old_key,
            Some((&ca.key, &ca.cert)),
            false,
            &[0x01, 0x23, 0x45],
            alt.clone(),
        );
        let new_key = p256();
        let sent = kur(&new_key, &old, &old_key, NOW).unwrap();
        let req = Received::decode(&sent.message).unwrap();
        req.verify_signature(&old).unwrap();
        assert_eq!(req.message.extra_certs, Some(vec![old.clone()]));
        let h = &req.message.header;
        assert_eq!(h.sender_name(), Some(old.tbs_certificate().subject()));
        assert_eq!(
            h.recipient,
            GeneralName::DirectoryName(ca.subject().clone())
        );
        let PkiBody::Kur(reqs) = &req.message.body else {
            panic!("{}", req.message.body_name())
        };
        reqs[0].verify_popo().unwrap();
        let cr = &reqs[0].cert_req;
        assert!(cr.old_cert_id().unwrap().unwrap().matches(&old));
        let t = &cr.cert_template;
        assert!(new_key.matches(t.public_key.as_ref().unwrap()));
        assert_eq!(t.subject.as_ref(), Some(old.tbs_certificate().subject()));
        let san = SubjectAltName::from_der(t.extensions.as_ref().unwrap()[0].extn_value.as_bytes())
            .unwrap();
        assert_eq!(AltNames::from_general_names(&san.0), alt);
        assert_eq!(sent.transaction.body, "kur");

        let cert = ca.issue_for(&reqs[0]);
        let trust = Trust::Ca(&ca.cert);
        let kup = PkiBody::Kup(CertRepMessage {
            ca_pubs: None,
            response: vec![CertResponse::accepted(0, cert.clone())],
        });
        let reply = ca.reply(&req.message, kup, By::Sig);
        assert!(matches!(
            read_answer(&reply, &sent.transaction, &new_key, &trust).unwrap(),
            Answer::Issued { cert: c, .. } if c == cert
        ));
        let e = read_answer(&reply, &sent.transaction, &old_key, &trust).unwrap_err();
        assert!(matches!(e, ClientError::KeyMismatch), "{e}");
        let reply = ca.reply(&req.message, ip(&cert, None), By::Sig);
        let e = read_answer(&reply, &sent.transaction, &new_key, &trust).unwrap_err();
        assert_eq!(e.to_string(), "unexpected body ip, expected kup");

        let e = kur(&new_key, &old, &new_key, NOW).unwrap_err();
        assert!(matches!(e, ClientError::OldKeyMismatch(_)), "{e}");
    }

    #[test]
    fn ir_pop_with_every_key_type() {
        let ca = FakeCa::new();
        for (algorithm, bits) in [
            (KeyAlgorithm::Ecdsa, 256),
            (KeyAlgorithm::Ecdsa, 384),
            (KeyAlgorithm::Dsa, 2048),
            (KeyAlgorithm::Rsa, 2048),
        ] {
            let key = key(algorithm, bits);
            let sent = ir(
                &key,
                &router(),
                &AltNames::default(),
                ca.subject(),
                &secret(),
                NOW,
            )
            .unwrap();
            let (req, cert) = receive_ir(&ca, &sent);
            let PkiBody::Ir(reqs) = &req.body else {
                panic!()
            };
            let Some(crate::cmp::ProofOfPossession::Signature(pop)) = &reqs[0].popo else {
                panic!()
            };
            assert_eq!(
                pop.algorithm_identifier,
                key.signature_algorithm(key.default_hash()).unwrap(),
                "{algorithm} {bits}"
            );
            let reply = ca.reply(&req, ip(&cert, None), By::Mac(SECRET));
            assert!(matches!(
                read_answer(&reply, &sent.transaction, &key, &Trust::Secret(SECRET)).unwrap(),
                Answer::Issued { .. }
            ));
        }
    }

    #[test]
    fn credential_and_trust_debug_hide_the_secret() {
        let text = format!("{:?} {:?}", secret(), Trust::Secret(SECRET));
        assert!(!text.contains("s3cret"), "{text}");
        assert!(text.contains("1234"), "{text}");
    }

    /// root → intermediate → issuing → end entity.
    struct Chain {
        root: Certificate,
        inter: Certificate,
        issuing: Certificate,
        ee: Certificate,
    }

    fn chain() -> Chain {
        let root_key = p256();
        let root = make_cert(
            "CN=Root CA,O=Example",
            &root_key,
            None,
            true,
            &[1, 2, 3],
            AltNames::default(),
        );
        let inter_key = p256();
        let inter = make_cert(
            "CN=Intermediate CA,O=Example",
            &inter_key,
            Some((&root_key, &root)),
            true,
            &[0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19],
            AltNames::default(),
        );
        let issuing_key = p256();
        let issuing = make_cert(
            "CN=Issuing CA,O=Example",
            &issuing_key,
            Some((&inter_key, &inter)),
            true,
            &[0x0a, 0x0b],
            AltNames::default(),
        );
        let ee = make_cert(
            "CN=router1,O=Example",
            &p256(),
            Some((&issuing_key, &issuing)),
            false,
            &[0x77],
            AltNames::default(),
        );
        Chain {
            root,
            inter,
            issuing,
            ee,
        }
    }

    const ROOT_NAME: &str = "0000000000010203";
    const INTER_NAME: &str = "1213141516171819";

    fn names(placed: &[(String, Certificate)]) -> Vec<&str> {
        placed.iter().map(|(n, _)| n.as_str()).collect()
    }

    #[test]
    fn place_chain_three_levels() {
        let c = chain();
        let none = BTreeMap::new();
        let placed = place_chain(
            &c.ee,
            std::slice::from_ref(&c.root),
            &[c.issuing.clone(), c.inter.clone()],
            "myca",
            &none,
        )
        .unwrap();
        assert_eq!(
            placed,
            vec![
                ("myca".to_string(), c.issuing.clone()),
                (ROOT_NAME.to_string(), c.root.clone()),
                (INTER_NAME.to_string(), c.inter.clone()),
            ]
        );

        // A certificate in both caPubs and extraCerts is placed once, and
        // an end-entity certificate (a CMP signer) is not placed.
        let placed = place_chain(
            &c.ee,
            &[c.root.clone(), c.inter.clone()],
            &[c.ee.clone(), c.issuing.clone(), c.inter.clone()],
            "myca",
            &none,
        )
        .unwrap();
        assert_eq!(names(&placed), ["myca", ROOT_NAME, INTER_NAME]);

        // The profile's CA certificate: kept when the same, replaced when not.
        let mut existing = BTreeMap::from([("myca".to_string(), c.issuing.clone())]);
        let placed = place_chain(
            &c.ee,
            &[c.root.clone(), c.inter.clone()],
            &[],
            "myca",
            &existing,
        )
        .unwrap();
        assert_eq!(names(&placed), [ROOT_NAME, INTER_NAME]);
        existing.insert("myca".into(), c.root.clone());
        let placed = place_chain(
            &c.ee,
            &[c.root.clone(), c.inter.clone(), c.issuing.clone()],
            &[],
            "myca",
            &existing,
        )
        .unwrap();
        // The root is already stored (as myca's old certificate).
        assert_eq!(names(&placed), ["myca", INTER_NAME]);
    }

    #[test]
    fn place_chain_suffixes_and_skips_known_certificates() {
        let c = chain();
        let other = chain();
        let all = [c.root.clone(), c.inter.clone(), c.issuing.clone()];
        let mut existing = BTreeMap::from([(ROOT_NAME.to_string(), other.inter.clone())]);
        let placed = place_chain(&c.ee, &all, &[], "myca", &existing).unwrap();
        assert_eq!(names(&placed), ["myca", "0000000000010203-00", INTER_NAME]);

        existing.insert(format!("{ROOT_NAME}-00"), other.issuing.clone());
        let placed = place_chain(&c.ee, &all, &[], "myca", &existing).unwrap();
        assert_eq!(names(&placed), ["myca", "0000000000010203-01", INTER_NAME]);

        // Identical certificates already stored, under any name, are skipped.
        existing.insert("elsewhere".into(), c.root.clone());
        existing.insert(INTER_NAME.into(), c.inter.clone());
        let placed = place_chain(&c.ee, &all, &[], "myca", &existing).unwrap();
        assert_eq!(names(&placed), ["myca"]);

        // Chaining through a stored root.
        let existing = BTreeMap::from([("root".to_string(), c.root.clone())]);
        let placed = place_chain(
            &c.ee,
            &[c.issuing.clone(), c.inter.clone()],
            &[],
            "myca",
            &existing,
        )
        .unwrap();
        assert_eq!(names(&placed), ["myca", INTER_NAME]);
    }

    #[test]
    fn place_chain_refuses_broken_chains() {
        let c = chain();
        let none = BTreeMap::new();
        // A CA certificate whose issuer is nowhere: not stored.
        let orphan_root_key = p256();
        let orphan_root = make_cert(
            "CN=Orphan Root",
            &orphan_root_key,
            None,
            true,
            &[9],
            AltNames::default(),
        );
        let orphan = make_cert(
            "CN=Orphan CA",
            &p256(),
            Some((&orphan_root_key, &orphan_root)),
            true,
            &[8],
            AltNames::default(),
        );
        // One that names the root as issuer but is signed by another key.
        let forged = make_cert(
            "CN=Forged CA",
            &p256(),
            Some((&orphan_root_key, &c.root)),
            true,
            &[7],
            AltNames::default(),
        );
        let placed = place_chain(
            &c.ee,
            &[c.root.clone(), c.inter.clone(), c.issuing.clone()],
            &[orphan, forged],
            "myca",
            &none,
        )
        .unwrap();
        assert_eq!(names(&placed), ["myca", ROOT_NAME, INTER_NAME]);

        // The issuing CA without its intermediate: an error.
        let e = place_chain(
            &c.ee,
            &[c.root.clone(), c.issuing.clone()],
            &[],
            "myca",
            &none,
        )
        .unwrap_err();
        assert!(matches!(e, ClientError::IssuingCaUnusable { .. }), "{e}");
        assert!(e.to_string().contains("is not in the chain"), "{e}");

        // No issuing CA at all.
        let e = place_chain(
            &c.ee,
            &[c.root.clone(), c.inter.clone()],
            &[],
            "myca",
            &none,
        )
        .unwrap_err();
        assert!(matches!(e, ClientError::NoIssuingCa(_)), "{e}");
        // ... unless the profile already holds it.
        let existing = BTreeMap::from([("myca".to_string(), c.issuing.clone())]);
        let placed = place_chain(
            &c.ee,
            &[c.root.clone(), c.inter.clone()],
            &[],
            "myca",
            &existing,
        )
        .unwrap();
        assert_eq!(names(&placed), [ROOT_NAME, INTER_NAME]);
    }

    #[test]
    fn serial_names_are_16_uppercase_hex_digits() {
        let key = p256();
        let cert = |serial: &[u8]| make_cert("CN=x", &key, None, true, serial, AltNames::default());
        assert_eq!(serial_profile_name(&cert(&[1, 2, 3])), "0000000000010203");
        assert_eq!(serial_profile_name(&cert(&[0xab])), "00000000000000AB");
        assert_eq!(
            serial_profile_name(&cert(&[0x80, 1, 2, 3, 4, 5, 6, 7])),
            "8001020304050607"
        );
        assert_eq!(
            serial_profile_name(&cert(&[0xff, 0xee, 0x80, 1, 2, 3, 4, 5, 6, 7])),
            "8001020304050607"
        );
        for _ in 0..16 {
            let serial = issue::random_serial();
            let name = serial_profile_name(&cert(serial.as_bytes()));
            assert_eq!(name.len(), 16, "{name}");
            assert!(
                name.chars().all(|c| matches!(c, '0'..='9' | 'A'..='F')),
                "{name}"
            );
            crate::id::check(&name).unwrap();
            crate::id::check(&format!("{name}-99")).unwrap();
        }
    }
}
