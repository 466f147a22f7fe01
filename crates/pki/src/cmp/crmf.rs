//! CRMF (RFC 4211, module `PKIXCRMF-2005`, `IMPLICIT TAGS`): the
//! certificate request messages that travel inside CMP `ir`, `cr`, `kur`,
//! `krr` and `ccr` bodies.
//!
//! Under IMPLICIT TAGS a tag on a CHOICE type (`Name`, `Time`,
//! `GeneralName`, `POPOPrivKey`) is necessarily EXPLICIT (X.680 §31.2.7), so
//! those fields are declared `EXPLICIT` here; everything else is `IMPLICIT`.

use const_oid::ObjectIdentifier;
use der::asn1::{Any, BitString, Null, OctetString};
use der::{Choice, Decode, Encode, Sequence};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::Certificate;
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::ext::Extensions;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::Time;

/// `id-regCtrl-oldCertID` (RFC 4211 §6.5): the certificate a key update
/// request (`kur`) replaces, as a [`CertId`] in the request's controls.
pub const ID_REG_CTRL_OLD_CERT_ID: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.5.1.5");

/// `id-regCtrl-regToken` (RFC 4211 §6.1): a one-time authorisation token.
pub const ID_REG_CTRL_REG_TOKEN: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.5.1.1");

/// `CertReqMessages ::= SEQUENCE SIZE (1..MAX) OF CertReqMsg`.
pub type CertReqMessages = Vec<CertReqMsg>;

/// `Controls ::= SEQUENCE SIZE (1..MAX) OF AttributeTypeAndValue`.
pub type Controls = Vec<AttributeTypeAndValue>;

/// One certificate request with its proof of possession.
///
/// ```text
/// CertReqMsg ::= SEQUENCE {
///     certReq   CertRequest,
///     popo      ProofOfPossession  OPTIONAL,
///     regInfo   SEQUENCE SIZE(1..MAX) OF AttributeTypeAndValue OPTIONAL }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
#[asn1(tag_mode = "IMPLICIT")]
pub struct CertReqMsg {
    /// The request proper.
    pub cert_req: CertRequest,
    /// Proof of possession of the private key.
    #[asn1(optional = "true")]
    pub popo: Option<ProofOfPossession>,
    /// Registration information (regInfo).
    #[asn1(optional = "true")]
    pub reg_info: Option<Vec<AttributeTypeAndValue>>,
}

/// ```text
/// CertRequest ::= SEQUENCE {
///     certReqId     INTEGER,
///     certTemplate  CertTemplate,
///     controls      Controls OPTIONAL }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
#[asn1(tag_mode = "IMPLICIT")]
pub struct CertRequest {
    /// Matches the response to the request (usually 0).
    pub cert_req_id: i64,
    /// What the requester would like in the certificate.
    pub cert_template: CertTemplate,
    /// Controls, e.g. `id-regCtrl-oldCertID` for a key update.
    #[asn1(optional = "true")]
    pub controls: Option<Controls>,
}

/// The fields of the certificate the requester asks for; every field is
/// optional.
///
/// ```text
/// CertTemplate ::= SEQUENCE {
///     version      [0] Version               OPTIONAL,
///     serialNumber [1] INTEGER               OPTIONAL,
///     signingAlg   [2] AlgorithmIdentifier   OPTIONAL,
///     issuer       [3] Name                  OPTIONAL,
///     validity     [4] OptionalValidity      OPTIONAL,
///     subject      [5] Name                  OPTIONAL,
///     publicKey    [6] SubjectPublicKeyInfo  OPTIONAL,
///     issuerUID    [7] UniqueIdentifier      OPTIONAL,
///     subjectUID   [8] UniqueIdentifier      OPTIONAL,
///     extensions   [9] Extensions            OPTIONAL }
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Sequence)]
#[asn1(tag_mode = "IMPLICIT")]
pub struct CertTemplate {
    /// Certificate version (2 = v3).
    #[asn1(context_specific = "0", optional = "true")]
    pub version: Option<u8>,
    /// Serial number (only in revocation requests).
    #[asn1(context_specific = "1", optional = "true")]
    pub serial_number: Option<SerialNumber>,
    /// Signature algorithm the CA should use.
    #[asn1(context_specific = "2", optional = "true")]
    pub signing_alg: Option<AlgorithmIdentifierOwned>,
    /// Issuer DN (a CHOICE, so EXPLICIT).
    #[asn1(context_specific = "3", tag_mode = "EXPLICIT", optional = "true")]
    pub issuer: Option<Name>,
    /// Requested validity.
    #[asn1(context_specific = "4", optional = "true")]
    pub validity: Option<OptionalValidity>,
    /// Subject DN (a CHOICE, so EXPLICIT).
    #[asn1(context_specific = "5", tag_mode = "EXPLICIT", optional = "true")]
    pub subject: Option<Name>,
    /// The public key to certify.
    #[asn1(context_specific = "6", optional = "true")]
    pub public_key: Option<SubjectPublicKeyInfoOwned>,
    /// Issuer unique identifier.
    #[asn1(context_specific = "7", optional = "true")]
    pub issuer_uid: Option<BitString>,
    /// Subject unique identifier.
    #[asn1(context_specific = "8", optional = "true")]
    pub subject_uid: Option<BitString>,
    /// Requested extensions.
    #[asn1(context_specific = "9", optional = "true")]
    pub extensions: Option<Extensions>,
}

/// ```text
/// OptionalValidity ::= SEQUENCE {
///     notBefore  [0] Time OPTIONAL,
///     notAfter   [1] Time OPTIONAL }   -- Time is a CHOICE: EXPLICIT
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Sequence)]
#[asn1(tag_mode = "IMPLICIT")]
pub struct OptionalValidity {
    /// Start of validity.
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    pub not_before: Option<Time>,
    /// End of validity.
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    pub not_after: Option<Time>,
}

/// ```text
/// ProofOfPossession ::= CHOICE {
///     raVerified        [0] NULL,
///     signature         [1] POPOSigningKey,
///     keyEncipherment   [2] POPOPrivKey,
///     keyAgreement      [3] POPOPrivKey }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Choice)]
#[asn1(tag_mode = "IMPLICIT")]
#[allow(clippy::large_enum_variant)] // der's derive cannot box; almost always `Signature`
pub enum ProofOfPossession {
    /// An RA has already verified possession.
    #[asn1(context_specific = "0")]
    RaVerified(Null),
    /// A signature with the private key (the usual case).
    #[asn1(context_specific = "1", constructed = "true")]
    Signature(PopoSigningKey),
    /// For encryption keys (a CHOICE, so EXPLICIT).
    #[asn1(context_specific = "2", tag_mode = "EXPLICIT", constructed = "true")]
    KeyEncipherment(PopoPrivKey),
    /// For key-agreement keys (a CHOICE, so EXPLICIT).
    #[asn1(context_specific = "3", tag_mode = "EXPLICIT", constructed = "true")]
    KeyAgreement(PopoPrivKey),
}

/// ```text
/// POPOSigningKey ::= SEQUENCE {
///     poposkInput           [0] POPOSigningKeyInput OPTIONAL,
///     algorithmIdentifier   AlgorithmIdentifier,
///     signature             BIT STRING }
/// ```
///
/// Without `poposkInput` the signature is over the DER of `certReq`.
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
#[asn1(tag_mode = "IMPLICIT")]
pub struct PopoSigningKey {
    /// Input signed instead of `certReq` (when the template lacks the
    /// subject or key).
    #[asn1(context_specific = "0", optional = "true")]
    pub poposk_input: Option<PopoSigningKeyInput>,
    /// Signature algorithm.
    pub algorithm_identifier: AlgorithmIdentifierOwned,
    /// The signature.
    pub signature: BitString,
}

/// ```text
/// POPOSigningKeyInput ::= SEQUENCE {
///     authInfo  CHOICE { sender [0] GeneralName, publicKeyMAC PKMACValue },
///     publicKey SubjectPublicKeyInfo }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
#[asn1(tag_mode = "IMPLICIT")]
pub struct PopoSigningKeyInput {
    /// Who is asking, or a MAC over the key.
    pub auth_info: PopoAuthInfo,
    /// The key being certified.
    pub public_key: SubjectPublicKeyInfoOwned,
}

/// The `authInfo` CHOICE of [`PopoSigningKeyInput`].
#[derive(Clone, Debug, PartialEq, Eq, Choice)]
pub enum PopoAuthInfo {
    /// `sender [0] GeneralName` (a CHOICE, so EXPLICIT).
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", constructed = "true")]
    Sender(GeneralName),
    /// `publicKeyMAC PKMACValue`.
    PublicKeyMac(PkMacValue),
}

/// `PKMACValue ::= SEQUENCE { algId AlgorithmIdentifier, value BIT STRING }`.
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct PkMacValue {
    /// The MAC algorithm (normally password-based MAC).
    pub alg_id: AlgorithmIdentifierOwned,
    /// The MAC.
    pub value: BitString,
}

/// ```text
/// POPOPrivKey ::= CHOICE {
///     thisMessage       [0] BIT STRING,         -- deprecated
///     subsequentMessage [1] SubsequentMessage,  -- INTEGER
///     dhMAC             [2] BIT STRING,         -- deprecated
///     agreeMAC          [3] PKMACValue,
///     encryptedKey      [4] EnvelopedData }
/// ```
///
/// `encryptedKey` is kept as its raw value (the SEQUENCE contents of the
/// EnvelopedData); this crate does not decrypt it.
#[derive(Clone, Debug, PartialEq, Eq, Choice)]
#[asn1(tag_mode = "IMPLICIT")]
pub enum PopoPrivKey {
    /// The private key, encrypted, in this message (deprecated).
    #[asn1(context_specific = "0")]
    ThisMessage(BitString),
    /// Proof in a later message: 0 = encrCert, 1 = challengeResp.
    #[asn1(context_specific = "1")]
    SubsequentMessage(u8),
    /// A DH MAC (deprecated).
    #[asn1(context_specific = "2")]
    DhMac(BitString),
    /// A MAC under a key agreed with the CA.
    #[asn1(context_specific = "3", constructed = "true")]
    AgreeMac(PkMacValue),
    /// The private key in an EnvelopedData (raw).
    #[asn1(context_specific = "4", constructed = "true")]
    EncryptedKey(RawSequence),
}

/// The contents of an IMPLICIT-tagged SEQUENCE kept undecoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawSequence(pub Vec<u8>);

impl der::FixedTag for RawSequence {
    const TAG: der::Tag = der::Tag::Sequence;
}

impl<'a> der::DecodeValue<'a> for RawSequence {
    type Error = der::Error;
    fn decode_value<R: der::Reader<'a>>(reader: &mut R, header: der::Header) -> der::Result<Self> {
        reader.read_vec(header.length()).map(RawSequence)
    }
}

impl der::EncodeValue for RawSequence {
    fn value_len(&self) -> der::Result<der::Length> {
        der::Length::try_from(self.0.len())
    }
    fn encode_value(&self, writer: &mut impl der::Writer) -> der::Result<()> {
        writer.write(&self.0)
    }
}

/// Identifies a certificate by issuer and serial number.
///
/// ```text
/// CertId ::= SEQUENCE { issuer GeneralName, serialNumber INTEGER }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct CertId {
    /// The issuer (normally a directoryName).
    pub issuer: GeneralName,
    /// The serial number.
    pub serial_number: SerialNumber,
}

impl CertId {
    /// The CertId of `cert`: its issuer as a directoryName, and its serial.
    pub fn of(cert: &Certificate) -> Self {
        CertId {
            issuer: GeneralName::DirectoryName(cert.tbs_certificate().issuer().clone()),
            serial_number: cert.tbs_certificate().serial_number().clone(),
        }
    }

    /// Whether `cert` is the certificate this identifies.
    pub fn matches(&self, cert: &Certificate) -> bool {
        *self == CertId::of(cert)
    }

    /// This CertId as an `id-regCtrl-oldCertID` control (for `kur`).
    pub fn to_old_cert_id_control(&self) -> der::Result<AttributeTypeAndValue> {
        Ok(AttributeTypeAndValue {
            oid: ID_REG_CTRL_OLD_CERT_ID,
            value: Any::from_der(&self.to_der()?)?,
        })
    }
}

impl CertRequest {
    /// The `id-regCtrl-oldCertID` control, if present: `Some(Err)` when it
    /// is present but malformed.
    pub fn old_cert_id(&self) -> Option<der::Result<CertId>> {
        self.controls
            .as_ref()?
            .iter()
            .find(|c| c.oid == ID_REG_CTRL_OLD_CERT_ID)
            .map(|c| c.value.decode_as::<CertId>())
    }
}

/// ```text
/// EncryptedValue ::= SEQUENCE {
///     intendedAlg   [0] AlgorithmIdentifier  OPTIONAL,
///     symmAlg       [1] AlgorithmIdentifier  OPTIONAL,
///     encSymmKey    [2] BIT STRING           OPTIONAL,
///     keyAlg        [3] AlgorithmIdentifier  OPTIONAL,
///     valueHint     [4] OCTET STRING         OPTIONAL,
///     encValue       BIT STRING }
/// ```
///
/// Deprecated by RFC 9480 in favour of EnvelopedData; decoded for
/// interoperability only.
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
#[asn1(tag_mode = "IMPLICIT")]
pub struct EncryptedValue {
    /// Algorithm of the encrypted value.
    #[asn1(context_specific = "0", optional = "true")]
    pub intended_alg: Option<AlgorithmIdentifierOwned>,
    /// Symmetric cipher.
    #[asn1(context_specific = "1", optional = "true")]
    pub symm_alg: Option<AlgorithmIdentifierOwned>,
    /// The encrypted symmetric key.
    #[asn1(context_specific = "2", optional = "true")]
    pub enc_symm_key: Option<BitString>,
    /// Algorithm that encrypted the symmetric key.
    #[asn1(context_specific = "3", optional = "true")]
    pub key_alg: Option<AlgorithmIdentifierOwned>,
    /// A hint to the recipient.
    #[asn1(context_specific = "4", optional = "true")]
    pub value_hint: Option<OctetString>,
    /// The encrypted value.
    pub enc_value: BitString,
}

/// ```text
/// PKIPublicationInfo ::= SEQUENCE {
///     action    INTEGER { dontPublish (0), pleasePublish (1) },
///     pubInfos  SEQUENCE SIZE (1..MAX) OF SinglePubInfo OPTIONAL }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct PkiPublicationInfo {
    /// 0 = dontPublish, 1 = pleasePublish.
    pub action: u8,
    /// Where to publish.
    #[asn1(optional = "true")]
    pub pub_infos: Option<Vec<SinglePubInfo>>,
}

/// ```text
/// SinglePubInfo ::= SEQUENCE {
///     pubMethod    INTEGER { dontCare (0), x500 (1), web (2), ldap (3) },
///     pubLocation  GeneralName OPTIONAL }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct SinglePubInfo {
    /// The publication method.
    pub pub_method: u8,
    /// Where.
    #[asn1(optional = "true")]
    pub pub_location: Option<GeneralName>,
}
