//! CMP messages (RFC 4210 as updated by RFC 9480, module `PKIXCMP-2021`,
//! `EXPLICIT TAGS`): PKIMessage, PKIHeader, PKIBody and the body contents.
//!
//! Body types this simulator does not process (`popdecc`, `popdecr`, `krp`,
//! `ckuann`, `cann`, `rann`, `crlann`, `nested`) are kept as their raw
//! inner value ([`Any`]), so every message of RFC 4210 decodes and
//! re-encodes unchanged. `nested` in particular is not decoded recursively
//! (no unbounded recursion on peer input).

use const_oid::ObjectIdentifier;
use der::asn1::{Any, BitString, Null, OctetString};
use der::{Choice, Sequence};
use spki::AlgorithmIdentifierOwned;
use x509_cert::Certificate;
use x509_cert::crl::CertificateList;
use x509_cert::ext::Extensions;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::request::CertReq;

use super::crmf::{CertId, CertReqMessages, CertTemplate, EncryptedValue, PkiPublicationInfo};
use super::status::{PkiFreeText, PkiStatusInfo};
use super::time::MessageTime;

/// `pvno` cmp1999.
pub const PVNO_CMP1999: u8 = 1;
/// `pvno` cmp2000 (RFC 4210): the default.
pub const PVNO_CMP2000: u8 = 2;
/// `pvno` cmp2021 (RFC 9480): only needed for its new features.
pub const PVNO_CMP2021: u8 = 3;

/// `id-it-implicitConfirm` (RFC 4210 §5.1.1.1): in generalInfo, with a NULL.
pub const ID_IT_IMPLICIT_CONFIRM: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.4.13");
/// `id-it-confirmWaitTime` (RFC 4210 §5.1.1.2): GeneralizedTime.
pub const ID_IT_CONFIRM_WAIT_TIME: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.4.14");
/// `id-it-caCerts` (RFC 9480 §2.14): genm/genp for the CA certificates.
pub const ID_IT_CA_CERTS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.4.17");

/// A whole CMP message.
///
/// ```text
/// PKIMessage ::= SEQUENCE {
///     header           PKIHeader,
///     body             PKIBody,
///     protection   [0] PKIProtection OPTIONAL,     -- BIT STRING
///     extraCerts   [1] SEQUENCE SIZE (1..MAX) OF CMPCertificate OPTIONAL }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct PkiMessage {
    /// The header.
    pub header: PkiHeader,
    /// The body.
    pub body: PkiBody,
    /// MAC or signature over DER(ProtectedPart).
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    pub protection: Option<BitString>,
    /// Certificates for the recipient (signer chain, CA certificates).
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    pub extra_certs: Option<Vec<Certificate>>,
}

/// ```text
/// PKIHeader ::= SEQUENCE {
///     pvno                INTEGER     { cmp1999(1), cmp2000(2), cmp2021(3) },
///     sender              GeneralName,
///     recipient           GeneralName,
///     messageTime     [0] GeneralizedTime         OPTIONAL,
///     protectionAlg   [1] AlgorithmIdentifier     OPTIONAL,
///     senderKID       [2] KeyIdentifier           OPTIONAL,
///     recipKID        [3] KeyIdentifier           OPTIONAL,
///     transactionID   [4] OCTET STRING            OPTIONAL,
///     senderNonce     [5] OCTET STRING            OPTIONAL,
///     recipNonce      [6] OCTET STRING            OPTIONAL,
///     freeText        [7] PKIFreeText             OPTIONAL,
///     generalInfo     [8] SEQUENCE SIZE (1..MAX) OF InfoTypeAndValue OPTIONAL }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct PkiHeader {
    /// Protocol version.
    pub pvno: u8,
    /// Who sends (a directoryName, possibly the empty DN).
    pub sender: GeneralName,
    /// Who should receive.
    pub recipient: GeneralName,
    /// When the message was produced.
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    pub message_time: Option<MessageTime>,
    /// How the message is protected.
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    pub protection_alg: Option<AlgorithmIdentifierOwned>,
    /// Sender key id (the PBM reference number, or the signer's SKID).
    #[asn1(context_specific = "2", tag_mode = "EXPLICIT", optional = "true")]
    pub sender_kid: Option<OctetString>,
    /// Recipient key id.
    #[asn1(context_specific = "3", tag_mode = "EXPLICIT", optional = "true")]
    pub recip_kid: Option<OctetString>,
    /// Identifies the transaction (the same in all its messages).
    #[asn1(context_specific = "4", tag_mode = "EXPLICIT", optional = "true")]
    pub transaction_id: Option<OctetString>,
    /// Fresh random bytes from the sender.
    #[asn1(context_specific = "5", tag_mode = "EXPLICIT", optional = "true")]
    pub sender_nonce: Option<OctetString>,
    /// The peer's last senderNonce, echoed.
    #[asn1(context_specific = "6", tag_mode = "EXPLICIT", optional = "true")]
    pub recip_nonce: Option<OctetString>,
    /// Human-readable text.
    #[asn1(context_specific = "7", tag_mode = "EXPLICIT", optional = "true")]
    pub free_text: Option<PkiFreeText>,
    /// Extra information (e.g. implicitConfirm).
    #[asn1(context_specific = "8", tag_mode = "EXPLICIT", optional = "true")]
    pub general_info: Option<Vec<InfoTypeAndValue>>,
}

/// The message body: one of the 27 message types of RFC 4210 §5.1.2.
#[derive(Clone, Debug, PartialEq, Eq, Choice)]
#[allow(clippy::large_enum_variant)] // der's derive cannot box; one body per message
pub enum PkiBody {
    /// `[0]` initialization request.
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", constructed = "true")]
    Ir(CertReqMessages),
    /// `[1]` initialization response.
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", constructed = "true")]
    Ip(CertRepMessage),
    /// `[2]` certification request.
    #[asn1(context_specific = "2", tag_mode = "EXPLICIT", constructed = "true")]
    Cr(CertReqMessages),
    /// `[3]` certification response.
    #[asn1(context_specific = "3", tag_mode = "EXPLICIT", constructed = "true")]
    Cp(CertRepMessage),
    /// `[4]` PKCS#10 certification request.
    #[asn1(context_specific = "4", tag_mode = "EXPLICIT", constructed = "true")]
    P10cr(CertReq),
    /// `[5]` POP challenge (raw `POPODecKeyChallContent`).
    #[asn1(context_specific = "5", tag_mode = "EXPLICIT", constructed = "true")]
    Popdecc(Any),
    /// `[6]` POP response (raw `POPODecKeyRespContent`).
    #[asn1(context_specific = "6", tag_mode = "EXPLICIT", constructed = "true")]
    Popdecr(Any),
    /// `[7]` key update request.
    #[asn1(context_specific = "7", tag_mode = "EXPLICIT", constructed = "true")]
    Kur(CertReqMessages),
    /// `[8]` key update response.
    #[asn1(context_specific = "8", tag_mode = "EXPLICIT", constructed = "true")]
    Kup(CertRepMessage),
    /// `[9]` key recovery request.
    #[asn1(context_specific = "9", tag_mode = "EXPLICIT", constructed = "true")]
    Krr(CertReqMessages),
    /// `[10]` key recovery response (raw `KeyRecRepContent`).
    #[asn1(context_specific = "10", tag_mode = "EXPLICIT", constructed = "true")]
    Krp(Any),
    /// `[11]` revocation request.
    #[asn1(context_specific = "11", tag_mode = "EXPLICIT", constructed = "true")]
    Rr(RevReqContent),
    /// `[12]` revocation response.
    #[asn1(context_specific = "12", tag_mode = "EXPLICIT", constructed = "true")]
    Rp(RevRepContent),
    /// `[13]` cross-certification request.
    #[asn1(context_specific = "13", tag_mode = "EXPLICIT", constructed = "true")]
    Ccr(CertReqMessages),
    /// `[14]` cross-certification response.
    #[asn1(context_specific = "14", tag_mode = "EXPLICIT", constructed = "true")]
    Ccp(CertRepMessage),
    /// `[15]` CA key update announcement (raw `CAKeyUpdAnnContent`).
    #[asn1(context_specific = "15", tag_mode = "EXPLICIT", constructed = "true")]
    Ckuann(Any),
    /// `[16]` certificate announcement (raw `CMPCertificate`).
    #[asn1(context_specific = "16", tag_mode = "EXPLICIT", constructed = "true")]
    Cann(Any),
    /// `[17]` revocation announcement (raw `RevAnnContent`).
    #[asn1(context_specific = "17", tag_mode = "EXPLICIT", constructed = "true")]
    Rann(Any),
    /// `[18]` CRL announcement (raw `SEQUENCE OF CertificateList`).
    #[asn1(context_specific = "18", tag_mode = "EXPLICIT", constructed = "true")]
    Crlann(Any),
    /// `[19]` confirmation (`PKIConfirmContent ::= NULL`).
    #[asn1(context_specific = "19", tag_mode = "EXPLICIT", constructed = "true")]
    Pkiconf(Null),
    /// `[20]` nested messages (raw `SEQUENCE OF PKIMessage`).
    #[asn1(context_specific = "20", tag_mode = "EXPLICIT", constructed = "true")]
    Nested(Any),
    /// `[21]` general message.
    #[asn1(context_specific = "21", tag_mode = "EXPLICIT", constructed = "true")]
    Genm(Vec<InfoTypeAndValue>),
    /// `[22]` general response.
    #[asn1(context_specific = "22", tag_mode = "EXPLICIT", constructed = "true")]
    Genp(Vec<InfoTypeAndValue>),
    /// `[23]` error message.
    #[asn1(context_specific = "23", tag_mode = "EXPLICIT", constructed = "true")]
    Error(ErrorMsgContent),
    /// `[24]` certificate confirmation.
    #[asn1(context_specific = "24", tag_mode = "EXPLICIT", constructed = "true")]
    CertConf(CertConfirmContent),
    /// `[25]` polling request.
    #[asn1(context_specific = "25", tag_mode = "EXPLICIT", constructed = "true")]
    PollReq(PollReqContent),
    /// `[26]` polling response.
    #[asn1(context_specific = "26", tag_mode = "EXPLICIT", constructed = "true")]
    PollRep(PollRepContent),
}

/// The highest PKIBody tag number RFC 4210/9480 define (`pollRep`).
pub const MAX_BODY_TAG: u32 = 26;

/// The ASN.1 names of the body types, indexed by tag number.
const BODY_NAMES: [&str; 27] = [
    "ir", "ip", "cr", "cp", "p10cr", "popdecc", "popdecr", "kur", "kup", "krr", "krp", "rr", "rp",
    "ccr", "ccp", "ckuann", "cann", "rann", "crlann", "pkiconf", "nested", "genm", "genp", "error",
    "certConf", "pollReq", "pollRep",
];

/// The ASN.1 name of a body tag number (`"ir"` for 0), if defined.
pub fn body_tag_name(tag: u32) -> Option<&'static str> {
    BODY_NAMES.get(tag as usize).copied()
}

impl PkiBody {
    /// The body's context tag number (0 for `ir`, ... 26 for `pollRep`).
    pub fn tag_number(&self) -> u32 {
        match self {
            PkiBody::Ir(_) => 0,
            PkiBody::Ip(_) => 1,
            PkiBody::Cr(_) => 2,
            PkiBody::Cp(_) => 3,
            PkiBody::P10cr(_) => 4,
            PkiBody::Popdecc(_) => 5,
            PkiBody::Popdecr(_) => 6,
            PkiBody::Kur(_) => 7,
            PkiBody::Kup(_) => 8,
            PkiBody::Krr(_) => 9,
            PkiBody::Krp(_) => 10,
            PkiBody::Rr(_) => 11,
            PkiBody::Rp(_) => 12,
            PkiBody::Ccr(_) => 13,
            PkiBody::Ccp(_) => 14,
            PkiBody::Ckuann(_) => 15,
            PkiBody::Cann(_) => 16,
            PkiBody::Rann(_) => 17,
            PkiBody::Crlann(_) => 18,
            PkiBody::Pkiconf(_) => 19,
            PkiBody::Nested(_) => 20,
            PkiBody::Genm(_) => 21,
            PkiBody::Genp(_) => 22,
            PkiBody::Error(_) => 23,
            PkiBody::CertConf(_) => 24,
            PkiBody::PollReq(_) => 25,
            PkiBody::PollRep(_) => 26,
        }
    }

    /// The ASN.1 name of the body type (`"ir"`, `"ip"`, `"certConf"`, ...).
    pub fn name(&self) -> &'static str {
        body_tag_name(self.tag_number()).unwrap_or("unknown")
    }

    /// The certificate requests of an `ir`, `cr`, `kur`, `krr` or `ccr`.
    pub fn cert_requests(&self) -> Option<&CertReqMessages> {
        match self {
            PkiBody::Ir(r)
            | PkiBody::Cr(r)
            | PkiBody::Kur(r)
            | PkiBody::Krr(r)
            | PkiBody::Ccr(r) => Some(r),
            _ => None,
        }
    }

    /// The certificate response of an `ip`, `cp`, `kup` or `ccp`.
    pub fn cert_response(&self) -> Option<&CertRepMessage> {
        match self {
            PkiBody::Ip(r) | PkiBody::Cp(r) | PkiBody::Kup(r) | PkiBody::Ccp(r) => Some(r),
            _ => None,
        }
    }
}

/// ```text
/// InfoTypeAndValue ::= SEQUENCE {
///     infoType    OBJECT IDENTIFIER,
///     infoValue   ANY DEFINED BY infoType  OPTIONAL }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct InfoTypeAndValue {
    /// What this is.
    pub info_type: ObjectIdentifier,
    /// The value, undecoded.
    #[asn1(optional = "true")]
    pub info_value: Option<Any>,
}

/// ```text
/// CertRepMessage ::= SEQUENCE {
///     caPubs       [1] SEQUENCE SIZE (1..MAX) OF CMPCertificate OPTIONAL,
///     response         SEQUENCE OF CertResponse }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct CertRepMessage {
    /// CA certificates the client may want to trust.
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    pub ca_pubs: Option<Vec<Certificate>>,
    /// One response per request.
    pub response: Vec<CertResponse>,
}

/// ```text
/// CertResponse ::= SEQUENCE {
///     certReqId           INTEGER,
///     status              PKIStatusInfo,
///     certifiedKeyPair    CertifiedKeyPair    OPTIONAL,
///     rspInfo             OCTET STRING        OPTIONAL }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct CertResponse {
    /// The request's certReqId (-1 for p10cr).
    pub cert_req_id: i64,
    /// Outcome.
    pub status: PkiStatusInfo,
    /// The certificate, when granted.
    #[asn1(optional = "true")]
    pub certified_key_pair: Option<CertifiedKeyPair>,
    /// Registration response information.
    #[asn1(optional = "true")]
    pub rsp_info: Option<OctetString>,
}

/// ```text
/// CertifiedKeyPair ::= SEQUENCE {
///     certOrEncCert       CertOrEncCert,
///     privateKey      [0] EncryptedKey        OPTIONAL,
///     publicationInfo [1] PKIPublicationInfo  OPTIONAL }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct CertifiedKeyPair {
    /// The certificate.
    pub cert_or_enc_cert: CertOrEncCert,
    /// A centrally generated private key (not used by this simulator).
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    pub private_key: Option<EncryptedKey>,
    /// Publication information.
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    pub publication_info: Option<PkiPublicationInfo>,
}

/// ```text
/// CertOrEncCert ::= CHOICE {
///     certificate     [0] CMPCertificate,
///     encryptedCert   [1] EncryptedKey }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Choice)]
#[allow(clippy::large_enum_variant)] // almost always `Certificate`
pub enum CertOrEncCert {
    /// The certificate in clear.
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", constructed = "true")]
    Certificate(Certificate),
    /// The certificate encrypted (for keyEncipherment POP).
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", constructed = "true")]
    EncryptedCert(EncryptedKey),
}

/// ```text
/// EncryptedKey ::= CHOICE {
///     encryptedValue        EncryptedValue,   -- deprecated
///     envelopedData     [0] EnvelopedData }
/// ```
///
/// The EnvelopedData is kept raw.
#[derive(Clone, Debug, PartialEq, Eq, Choice)]
#[allow(clippy::large_enum_variant)] // der's derive cannot box; rarely used
pub enum EncryptedKey {
    /// The deprecated CRMF EncryptedValue.
    EncryptedValue(EncryptedValue),
    /// A CMS EnvelopedData (undecoded).
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", constructed = "true")]
    EnvelopedData(Any),
}

/// `RevReqContent ::= SEQUENCE OF RevDetails`.
pub type RevReqContent = Vec<RevDetails>;

/// ```text
/// RevDetails ::= SEQUENCE {
///     certDetails         CertTemplate,
///     crlEntryDetails     Extensions       OPTIONAL }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct RevDetails {
    /// Identifies the certificate (issuer and serialNumber).
    pub cert_details: CertTemplate,
    /// CRL entry extensions, e.g. the reason code.
    #[asn1(optional = "true")]
    pub crl_entry_details: Option<Extensions>,
}

/// ```text
/// RevRepContent ::= SEQUENCE {
///     status       SEQUENCE SIZE (1..MAX) OF PKIStatusInfo,
///     revCerts [0] SEQUENCE SIZE (1..MAX) OF CertId OPTIONAL,
///     crls     [1] SEQUENCE SIZE (1..MAX) OF CertificateList OPTIONAL }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct RevRepContent {
    /// One status per revocation request.
    pub status: Vec<PkiStatusInfo>,
    /// The certificates revoked.
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    pub rev_certs: Option<Vec<CertId>>,
    /// Resulting CRLs.
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    pub crls: Option<Vec<CertificateList>>,
}

/// ```text
/// ErrorMsgContent ::= SEQUENCE {
///     pKIStatusInfo          PKIStatusInfo,
///     errorCode              INTEGER           OPTIONAL,
///     errorDetails           PKIFreeText       OPTIONAL }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct ErrorMsgContent {
    /// Status (normally rejection) and failure bits.
    pub pki_status_info: PkiStatusInfo,
    /// Implementation-specific error code.
    #[asn1(optional = "true")]
    pub error_code: Option<i64>,
    /// Implementation-specific details.
    #[asn1(optional = "true")]
    pub error_details: Option<PkiFreeText>,
}

/// `CertConfirmContent ::= SEQUENCE OF CertStatus`.
pub type CertConfirmContent = Vec<CertStatus>;

/// ```text
/// CertStatus ::= SEQUENCE {
///     certHash    OCTET STRING,
///     certReqId   INTEGER,
///     statusInfo  PKIStatusInfo OPTIONAL,
///     hashAlg [0] AlgorithmIdentifier OPTIONAL }   -- RFC 9480, cmp2021
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct CertStatus {
    /// Hash of the certificate (with the hash of its signature algorithm).
    pub cert_hash: OctetString,
    /// The request's certReqId.
    pub cert_req_id: i64,
    /// Absent or accepted: the certificate is accepted.
    #[asn1(optional = "true")]
    pub status_info: Option<PkiStatusInfo>,
    /// The hash algorithm, when the signature algorithm does not name one.
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    pub hash_alg: Option<AlgorithmIdentifierOwned>,
}

/// `PollReqContent ::= SEQUENCE OF SEQUENCE { certReqId INTEGER }`.
pub type PollReqContent = Vec<PollReq>;

/// One entry of [`PollReqContent`].
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct PollReq {
    /// The request being polled for.
    pub cert_req_id: i64,
}

/// `PollRepContent ::= SEQUENCE OF SEQUENCE { certReqId, checkAfter, reason }`.
pub type PollRepContent = Vec<PollRep>;

/// One entry of [`PollRepContent`].
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct PollRep {
    /// The request being polled for.
    pub cert_req_id: i64,
    /// Seconds to wait before polling again.
    pub check_after: i64,
    /// Why.
    #[asn1(optional = "true")]
    pub reason: Option<PkiFreeText>,
}

/// ```text
/// PBMParameter ::= SEQUENCE {
///     salt                OCTET STRING,
///     owf                 AlgorithmIdentifier,
///     iterationCount      INTEGER,
///     mac                 AlgorithmIdentifier }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct PbmParameter {
    /// Random salt.
    pub salt: OctetString,
    /// The one-way function (a hash) iterated over password || salt.
    pub owf: AlgorithmIdentifierOwned,
    /// How many times.
    pub iteration_count: u64,
    /// The MAC algorithm (HMAC) keyed with the result.
    pub mac: AlgorithmIdentifierOwned,
}
