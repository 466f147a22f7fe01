//! The signed pkiMessage (RFC 8894 section 3.2): a CMS SignedData over
//! `id-data`, one SignerInfo identified by issuer and serial number, the
//! SCEP fields as signed attributes, and the pkcsPKIEnvelope as content.

use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::CmsVersion;
use cms::revocation::RevocationInfoChoices;
use cms::signed_data::{
    CertificateSet, DigestAlgorithmIdentifiers, EncapsulatedContentInfo, SignatureValue,
    SignedAttributes, SignedData, SignerIdentifier, SignerInfo, SignerInfos,
};
use const_oid::ObjectIdentifier;
use const_oid::db::{rfc5911, rfc5912};
use der::asn1::{Null, OctetString, PrintableStringRef, SetOfVec};
use der::{Any, Encode, Sequence, Tag, Tagged};
use spki::AlgorithmIdentifierOwned;
use x509_cert::Certificate;
use x509_cert::attr::Attribute;
use x509_cert::ext::pkix::SubjectKeyIdentifier;

use super::{
    Attributes, FailInfo, MessageType, NONCE_LEN_ACCEPTED, PkiStatus, ScepError, oid, oid_name,
};
use crate::key::{HashAlg, KeyPair};
use crate::verify::VerifyError;

/// How the SignerInfo names its signature algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignatureStyle {
    /// `rsaEncryption` (1.2.840.113549.1.1.1), the hash given by the
    /// digestAlgorithm: what most SCEP implementations send and what
    /// strongSwan 5.9.8 requires. RSA keys only.
    RsaEncryption,
    /// The combined OID (`sha256WithRSAEncryption`, `ecdsa-with-SHA256`).
    WithHash,
}

/// A pkiMessage to sign.
#[derive(Debug, Clone)]
pub struct Outgoing<'a> {
    /// The SCEP fields.
    pub attributes: Attributes,
    /// The DER of the pkcsPKIEnvelope ContentInfo; `None` for a FAILURE or
    /// PENDING CertRep (the SignedData then has no eContent).
    pub content: Option<&'a [u8]>,
    /// The signer's certificate (included in the message).
    pub signer_cert: &'a Certificate,
    /// The signer's private key.
    pub signer_key: &'a KeyPair,
    /// The digest algorithm (messageDigest and the signature hash).
    pub digest: HashAlg,
    /// How the signature algorithm is named.
    pub signature_algorithm: SignatureStyle,
    /// More certificates to include (an RA's CA, a chain).
    pub extra_certs: &'a [Certificate],
}

/// A parsed, signature-checked pkiMessage.
#[derive(Debug, Clone)]
pub struct Incoming {
    /// The SCEP fields.
    pub attributes: Attributes,
    /// The DER of the pkcsPKIEnvelope; `None` when the SignedData has no or
    /// empty content (a FAILURE or PENDING CertRep).
    pub content: Option<Vec<u8>>,
    /// The certificate whose key made the signature.
    pub signer: Certificate,
    /// Whether `signer` came from the caller's trusted signers (true) or
    /// only from the message itself (false: a request signed with the
    /// requester's self-signed or old certificate; the caller decides what
    /// that certificate is worth).
    pub signer_trusted: bool,
    /// The certificates the message carries.
    pub certificates: Vec<Certificate>,
    /// The digest algorithm the signer used.
    pub digest: HashAlg,
}

/// Signs a pkiMessage: the DER of a ContentInfo(signedData).
pub fn sign(msg: &Outgoing<'_>) -> Result<Vec<u8>, ScepError> {
    let body = msg.content.unwrap_or(&[]);
    let digest = msg.digest.digest(body);

    let mut attrs = scep_attributes(&msg.attributes)?;
    attrs.push(attribute(
        rfc5911::ID_CONTENT_TYPE,
        encode_any(&rfc5911::ID_DATA)?,
    )?);
    attrs.push(attribute(rfc5911::ID_MESSAGE_DIGEST, octets(&digest)?)?);
    let signed_attrs: SignedAttributes = SetOfVec::try_from(attrs).map_err(encode_err)?;
    let to_be_signed = signed_attrs.to_der().map_err(encode_err)?;

    let signature_algorithm = match msg.signature_algorithm {
        SignatureStyle::WithHash => msg.signer_key.signature_algorithm(msg.digest)?,
        SignatureStyle::RsaEncryption => match msg.signer_key {
            KeyPair::Rsa(_) => AlgorithmIdentifierOwned {
                oid: rfc5912::RSA_ENCRYPTION,
                parameters: Some(Null.into()),
            },
            other => {
                return Err(ScepError::NotRsa(format!(
                    "the rsaEncryption signature style with a {} key",
                    other.spec().algorithm
                )));
            }
        },
    };
    let signature = msg.signer_key.sign(msg.digest, &to_be_signed)?;

    let tbs = msg.signer_cert.tbs_certificate();
    let digest_alg = AlgorithmIdentifierOwned {
        oid: msg.digest.oid(),
        parameters: None,
    };
    let signer_info = SignerInfo {
        version: CmsVersion::V1,
        sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
            issuer: tbs.issuer().clone(),
            serial_number: tbs.serial_number().clone(),
        }),
        digest_alg: digest_alg.clone(),
        signed_attrs: Some(signed_attrs),
        signature_algorithm,
        signature: SignatureValue::new(signature).map_err(encode_err)?,
        unsigned_attrs: None,
    };

    let mut certs: Vec<CertificateChoices> = Vec::new();
    for cert in std::iter::once(msg.signer_cert).chain(msg.extra_certs) {
        let choice = CertificateChoices::Certificate(cert.clone());
        if !certs.contains(&choice) {
            certs.push(choice);
        }
    }

    let signed_data = SignedData {
        version: CmsVersion::V1,
        digest_algorithms: SetOfVec::try_from(vec![digest_alg]).map_err(encode_err)?,
        encap_content_info: EncapsulatedContentInfo {
            econtent_type: rfc5911::ID_DATA,
            econtent: match msg.content {
                Some(c) => Some(octets(c)?),
                None => None,
            },
        },
        certificates: Some(CertificateSet::try_from(certs).map_err(encode_err)?),
        crls: None,
        signer_infos: SignerInfos::try_from(vec![signer_info]).map_err(encode_err)?,
    };
    super::wrap(rfc5911::ID_SIGNED_DATA, &signed_data)
}

/// Opens a pkiMessage: finds the signer's certificate (by the SignerInfo's
/// issuer and serial number or subject key identifier, first among
/// `trusted_signers`, then among the message's own certificates), checks
/// the messageDigest and the signature, and parses the SCEP attributes.
///
/// Whether a signer found only in the message is acceptable is the
/// caller's decision ([`Incoming::signer_trusted`]).
pub fn open(der: &[u8], trusted_signers: &[Certificate]) -> Result<Incoming, ScepError> {
    let parsed = Parsed::decode(der)?;
    let si = parsed.signer_info;
    let signed_attrs = si
        .signed_attrs
        .as_ref()
        .ok_or(ScepError::NoSignedAttributes)?;
    let digest = hash_of(&si.digest_alg.oid)?;

    // contentType must be id-data, as the eContentType.
    let content_type = single(signed_attrs, rfc5911::ID_CONTENT_TYPE, "contentType")?
        .ok_or(ScepError::MissingAttribute("contentType"))?;
    let content_type = content_type
        .decode_as::<ObjectIdentifier>()
        .map_err(|e| bad("contentType", e))?;
    if content_type != rfc5911::ID_DATA || content_type != parsed.econtent_type {
        return Err(ScepError::BadAttribute {
            name: "contentType",
            detail: format!(
                "is {} with eContentType {}; a pkiMessage is id-data",
                oid_name(&content_type),
                oid_name(&parsed.econtent_type)
            ),
        });
    }

    // messageDigest must match the content (empty when absent).
    let message_digest = single(signed_attrs, rfc5911::ID_MESSAGE_DIGEST, "messageDigest")?
        .ok_or(ScepError::MissingAttribute("messageDigest"))?;
    let message_digest = octet_string(message_digest, "messageDigest")?;
    let content = parsed.content.unwrap_or_default();
    if digest.digest(&content) != message_digest {
        return Err(ScepError::DigestMismatch);
    }

    let (signer, signer_trusted) = trusted_signers
        .iter()
        .find(|c| matches_sid(c, &si.sid))
        .map(|c| (c, true))
        .or_else(|| {
            parsed
                .certificates
                .iter()
                .find(|c| matches_sid(c, &si.sid))
                .map(|c| (c, false))
        })
        .ok_or_else(|| ScepError::SignerNotFound(describe_sid(&si.sid)))?;

    let to_be_signed = signed_attrs.to_der().map_err(encode_err)?;
    let alg = effective_signature_algorithm(&si.signature_algorithm, digest);
    crate::verify::verify(
        signer.tbs_certificate().subject_public_key_info(),
        &alg,
        &to_be_signed,
        si.signature.as_bytes(),
    )
    .map_err(|e| match e {
        VerifyError::BadSignature => ScepError::BadSignature,
        other => ScepError::Verify(other),
    })?;

    let attributes = parse_attributes(signed_attrs)?;
    Ok(Incoming {
        attributes,
        content: (!content.is_empty()).then_some(content),
        signer: signer.clone(),
        signer_trusted,
        certificates: parsed.certificates,
        digest,
    })
}

/// The SCEP attributes of a pkiMessage without checking its signature or
/// digest: what a CA needs to address a FAILURE/badMessageCheck reply
/// (transaction ID, nonce) to a message that did not verify.
pub fn open_unverified_attributes(der: &[u8]) -> Result<Attributes, ScepError> {
    let parsed = Parsed::decode(der)?;
    let signed_attrs = parsed
        .signer_info
        .signed_attrs
        .as_ref()
        .ok_or(ScepError::NoSignedAttributes)?;
    parse_attributes(signed_attrs)
}

/// The parts of a SignedData pkiMessage.
struct Parsed {
    econtent_type: ObjectIdentifier,
    content: Option<Vec<u8>>,
    certificates: Vec<Certificate>,
    signer_info: SignerInfo,
}

impl Parsed {
    fn decode(der: &[u8]) -> Result<Self, ScepError> {
        let signed_data: SignedDataIn =
            super::unwrap(der, rfc5911::ID_SIGNED_DATA, "SignedData pkiMessage")?;
        let mut infos = signed_data.signer_infos.0.into_vec();
        let signer_info = match infos.len() {
            0 => return Err(ScepError::NoSignerInfo),
            1 => infos.remove(0),
            n => return Err(ScepError::MultipleSigners(n)),
        };
        let encap = signed_data.encap_content_info;
        Ok(Parsed {
            econtent_type: encap.econtent_type,
            content: encap.econtent.map(|c| c.into_bytes().into_vec()),
            certificates: super::certificates_of(signed_data.certificates),
            signer_info,
        })
    }
}

/// SignedData as read: like [`SignedData`], but with the eContent decoded
/// as an OCTET STRING, so that BER's constructed form (segments, as
/// streaming encoders such as `openssl cms -stream` and BouncyCastle write
/// it) reads as its content.
#[derive(Sequence)]
struct SignedDataIn {
    version: CmsVersion,
    digest_algorithms: DigestAlgorithmIdentifiers,
    encap_content_info: EncapsulatedContentIn,
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", optional = "true")]
    certificates: Option<CertificateSet>,
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    crls: Option<RevocationInfoChoices>,
    signer_infos: SignerInfos,
}

/// EncapsulatedContentInfo with an OCTET STRING eContent.
#[derive(Sequence)]
struct EncapsulatedContentIn {
    econtent_type: ObjectIdentifier,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    econtent: Option<OctetString>,
}

/// The SCEP fields as signed attributes.
fn scep_attributes(a: &Attributes) -> Result<Vec<Attribute>, ScepError> {
    let mut out = vec![
        attribute(
            oid::MESSAGE_TYPE,
            printable(&a.message_type.number().to_string(), "messageType")?,
        )?,
        attribute(
            oid::TRANSACTION_ID,
            printable(&a.transaction_id, "transactionID")?,
        )?,
    ];
    if let Some(n) = &a.sender_nonce {
        out.push(attribute(oid::SENDER_NONCE, octets(n)?)?);
    }
    if let Some(n) = &a.recipient_nonce {
        out.push(attribute(oid::RECIPIENT_NONCE, octets(n)?)?);
    }
    if let Some(s) = a.status {
        out.push(attribute(
            oid::PKI_STATUS,
            printable(&s.number().to_string(), "pkiStatus")?,
        )?);
    }
    if let Some(f) = a.fail_info {
        out.push(attribute(
            oid::FAIL_INFO,
            printable(&f.number().to_string(), "failInfo")?,
        )?);
    }
    Ok(out)
}

/// Parses the SCEP fields out of the signed attributes.
fn parse_attributes(attrs: &SignedAttributes) -> Result<Attributes, ScepError> {
    let text = |oid, name| -> Result<Option<String>, ScepError> {
        single(attrs, oid, name)?
            .map(|v| printable_text(v, name))
            .transpose()
    };
    let nonce = |oid, name| -> Result<Option<Vec<u8>>, ScepError> {
        let Some(v) = single(attrs, oid, name)? else {
            return Ok(None);
        };
        let n = octet_string(v, name)?;
        if !NONCE_LEN_ACCEPTED.contains(&n.len()) {
            return Err(ScepError::BadNonceLength { name, len: n.len() });
        }
        Ok(Some(n))
    };

    let message_type = text(oid::MESSAGE_TYPE, "messageType")?
        .ok_or(ScepError::MissingAttribute("messageType"))?;
    let message_type =
        MessageType::from_wire(&message_type).ok_or(ScepError::UnknownMessageType(message_type))?;
    let transaction_id = text(oid::TRANSACTION_ID, "transactionID")?
        .ok_or(ScepError::MissingAttribute("transactionID"))?;
    let status = text(oid::PKI_STATUS, "pkiStatus")?
        .map(|s| PkiStatus::from_wire(&s).ok_or(ScepError::UnknownPkiStatus(s)))
        .transpose()?;
    let fail_info = text(oid::FAIL_INFO, "failInfo")?
        .map(|s| FailInfo::from_wire(&s).ok_or(ScepError::UnknownFailInfo(s)))
        .transpose()?;
    let sender_nonce = nonce(oid::SENDER_NONCE, "senderNonce")?;
    let recipient_nonce = nonce(oid::RECIPIENT_NONCE, "recipientNonce")?;

    if message_type == MessageType::CertRep && status.is_none() {
        return Err(ScepError::MissingAttribute("pkiStatus"));
    }
    if message_type.is_request() && status.is_some() {
        return Err(ScepError::Inconsistent(format!(
            "a {} request carries a pkiStatus",
            message_type.name()
        )));
    }
    Ok(Attributes {
        message_type,
        transaction_id,
        sender_nonce,
        recipient_nonce,
        status,
        fail_info,
    })
}

/// The value of the attribute `oid`, if present; an error if it appears
/// twice or does not have exactly one value.
fn single<'a>(
    attrs: &'a SignedAttributes,
    oid: ObjectIdentifier,
    name: &'static str,
) -> Result<Option<&'a Any>, ScepError> {
    let mut found = None;
    for a in attrs.iter().filter(|a| a.oid == oid) {
        if found.is_some() || a.values.len() > 1 {
            return Err(ScepError::DuplicateAttribute(name));
        }
        found = Some(a.values.get(0).ok_or_else(|| ScepError::BadAttribute {
            name,
            detail: "has no value".into(),
        })?);
    }
    Ok(found)
}

fn printable_text(v: &Any, name: &'static str) -> Result<String, ScepError> {
    if v.tag() != Tag::PrintableString {
        return Err(ScepError::BadAttribute {
            name,
            detail: format!("is a {}, not a PrintableString", v.tag()),
        });
    }
    let s = PrintableStringRef::new(v.value()).map_err(|e| bad(name, e))?;
    Ok(s.as_str().to_owned())
}

fn octet_string(v: &Any, name: &'static str) -> Result<Vec<u8>, ScepError> {
    if v.tag() != Tag::OctetString {
        return Err(ScepError::BadAttribute {
            name,
            detail: format!("is a {}, not an OCTET STRING", v.tag()),
        });
    }
    Ok(v.value().to_vec())
}

fn bad(name: &'static str, e: impl std::fmt::Display) -> ScepError {
    ScepError::BadAttribute {
        name,
        detail: e.to_string(),
    }
}

fn encode_err(e: der::Error) -> ScepError {
    ScepError::Encode(e.to_string())
}

fn encode_any<T: der::EncodeValue + Tagged>(v: &T) -> Result<Any, ScepError> {
    Any::encode_from(v).map_err(encode_err)
}

fn octets(bytes: &[u8]) -> Result<Any, ScepError> {
    Any::new(Tag::OctetString, bytes).map_err(encode_err)
}

fn printable(s: &str, name: &'static str) -> Result<Any, ScepError> {
    let p = PrintableStringRef::new(s).map_err(|e| ScepError::BadAttribute {
        name,
        detail: format!("{s:?} is not a PrintableString: {e}"),
    })?;
    encode_any(&p)
}

fn attribute(oid: ObjectIdentifier, value: Any) -> Result<Attribute, ScepError> {
    Ok(Attribute {
        oid,
        values: SetOfVec::try_from(vec![value]).map_err(encode_err)?,
    })
}

/// The hash of a digestAlgorithm OID.
fn hash_of(oid: &ObjectIdentifier) -> Result<HashAlg, ScepError> {
    HashAlg::from_oid(oid).ok_or_else(|| ScepError::UnsupportedDigest(oid_name(oid)))
}

/// A CMS SignerInfo may name plain `rsaEncryption` and leave the hash to
/// the digestAlgorithm; [`crate::verify::verify`] wants the combined OID.
fn effective_signature_algorithm(
    alg: &AlgorithmIdentifierOwned,
    digest: HashAlg,
) -> AlgorithmIdentifierOwned {
    if alg.oid != rfc5912::RSA_ENCRYPTION {
        return alg.clone();
    }
    AlgorithmIdentifierOwned {
        oid: match digest {
            HashAlg::Sha1 => rfc5912::SHA_1_WITH_RSA_ENCRYPTION,
            HashAlg::Sha256 => rfc5912::SHA_256_WITH_RSA_ENCRYPTION,
            HashAlg::Sha384 => rfc5912::SHA_384_WITH_RSA_ENCRYPTION,
            HashAlg::Sha512 => rfc5912::SHA_512_WITH_RSA_ENCRYPTION,
        },
        parameters: Some(Null.into()),
    }
}

fn matches_sid(cert: &Certificate, sid: &SignerIdentifier) -> bool {
    let tbs = cert.tbs_certificate();
    match sid {
        SignerIdentifier::IssuerAndSerialNumber(isn) => {
            tbs.issuer() == &isn.issuer && tbs.serial_number() == &isn.serial_number
        }
        SignerIdentifier::SubjectKeyIdentifier(ski) => matches!(
            tbs.get_extension::<SubjectKeyIdentifier>(),
            Ok(Some((_, mine))) if mine == *ski
        ),
    }
}

fn describe_sid(sid: &SignerIdentifier) -> String {
    match sid {
        SignerIdentifier::IssuerAndSerialNumber(isn) => format!(
            "issuer {}, serial {}",
            crate::name::subject_string(&isn.issuer),
            crate::info::serial_hex(isn.serial_number.as_bytes())
        ),
        SignerIdentifier::SubjectKeyIdentifier(ski) => {
            format!("subject key identifier {}", hex::encode(ski.0.as_bytes()))
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use std::ffi::OsStr;

    use der::Decode;
    use x509_cert::request::CertReq;

    use super::*;
    use crate::key::{KeyAlgorithm, KeySpec};
    use crate::scep::tests::{ca, client, csr_der, openssl, openssl_dir, pem_files, write_temp};
    use crate::scep::{
        ContentCipher, IssuerAndSubject, certs_only, open_envelope, parse_certs_only, seal,
    };

    fn pkcs_req(
        style: SignatureStyle,
        digest: HashAlg,
        cipher: ContentCipher,
    ) -> (Attributes, Vec<u8>) {
        let (key, cert) = client();
        let envelope = seal(&csr_der(), &ca().1, cipher).unwrap();
        let attributes = Attributes::request(
            MessageType::PkcsReq,
            crate::scep::transaction_id(&key.public_key_info().unwrap()),
        );
        let der = sign(&Outgoing {
            attributes: attributes.clone(),
            content: Some(&envelope),
            signer_cert: cert,
            signer_key: key,
            digest,
            signature_algorithm: style,
            extra_certs: &[],
        })
        .unwrap();
        (attributes, der)
    }

    fn cert_rep(
        request: &Attributes,
        status: PkiStatus,
        content: Option<&[u8]>,
    ) -> (Attributes, Vec<u8>) {
        let (key, cert) = ca();
        let attributes = Attributes::reply(request, status, Some(FailInfo::BadRequest));
        let der = sign(&Outgoing {
            attributes: attributes.clone(),
            content,
            signer_cert: cert,
            signer_key: key,
            digest: HashAlg::Sha256,
            signature_algorithm: SignatureStyle::RsaEncryption,
            extra_certs: &[],
        })
        .unwrap();
        (attributes, der)
    }

    #[test]
    fn pkcs_req_round_trip_both_styles_and_digests() {
        for style in [SignatureStyle::RsaEncryption, SignatureStyle::WithHash] {
            for digest in [HashAlg::Sha1, HashAlg::Sha256] {
                let (attributes, der) = pkcs_req(style, digest, ContentCipher::Aes128);
                // The CA does not know the router: the signer comes from the message.
                let msg = open(&der, &[]).unwrap();
                assert_eq!(msg.attributes, attributes);
                assert_eq!(msg.digest, digest);
                assert_eq!(msg.signer, client().1);
                assert!(!msg.signer_trusted);
                assert_eq!(msg.certificates, vec![client().1.clone()]);
                let opened =
                    open_envelope(msg.content.as_ref().unwrap(), &ca().0, &ca().1).unwrap();
                assert_eq!(opened.cipher, ContentCipher::Aes128);
                assert_eq!(opened.content.as_slice(), csr_der().as_slice());
                CertReq::from_der(&opened.content).unwrap();
                // Trusting the router's certificate marks it so.
                assert!(open(&der, &[client().1.clone()]).unwrap().signer_trusted);
            }
        }
    }

    #[test]
    fn cert_rep_success_pending_failure() {
        let (request, _) = pkcs_req(
            SignatureStyle::WithHash,
            HashAlg::Sha256,
            ContentCipher::Aes128,
        );
        let issued = crate::scep::tests::rsa_identity("CN=issued").1;
        let inner = certs_only(std::slice::from_ref(&issued)).unwrap();
        let envelope = seal(&inner, &client().1, ContentCipher::TripleDes).unwrap();

        let (attributes, der) = cert_rep(&request, PkiStatus::Success, Some(&envelope));
        let msg = open(&der, std::slice::from_ref(&ca().1)).unwrap();
        assert!(msg.signer_trusted);
        assert_eq!(msg.attributes, attributes);
        assert_eq!(msg.attributes.recipient_nonce, request.sender_nonce);
        let opened =
            open_envelope(msg.content.as_ref().unwrap(), &client().0, &client().1).unwrap();
        assert_eq!(opened.cipher, ContentCipher::TripleDes);
        assert_eq!(parse_certs_only(&opened.content).unwrap(), vec![issued]);

        for status in [PkiStatus::Pending, PkiStatus::Failure] {
            let (attributes, der) = cert_rep(&request, status, None);
            let msg = open(&der, std::slice::from_ref(&ca().1)).unwrap();
            assert_eq!(msg.attributes, attributes);
            assert_eq!(msg.content, None);
            assert_eq!(msg.attributes.status, Some(status));
            assert_eq!(
                msg.attributes.fail_info,
                (status == PkiStatus::Failure).then_some(FailInfo::BadRequest)
            );
        }
    }

    #[test]
    fn cert_poll_content_and_extra_certs() {
        let (key, cert) = client();
        let ias = IssuerAndSubject {
            issuer: ca().1.tbs_certificate().subject().clone(),
            subject: cert.tbs_certificate().subject().clone(),
        };
        let envelope = seal(&ias.encode().unwrap(), &ca().1, ContentCipher::Aes256).unwrap();
        let der = sign(&Outgoing {
            attributes: Attributes::request(MessageType::CertPoll, "ABC"),
            content: Some(&envelope),
            signer_cert: cert,
            signer_key: key,
            digest: HashAlg::Sha512,
            signature_algorithm: SignatureStyle::WithHash,
            extra_certs: &[ca().1.clone(), cert.clone()],
        })
        .unwrap();
        let msg = open(&der, &[]).unwrap();
        assert_eq!(msg.attributes.message_type, MessageType::CertPoll);
        assert_eq!(msg.certificates.len(), 2);
        let opened = open_envelope(msg.content.as_ref().unwrap(), &ca().0, &ca().1).unwrap();
        assert_eq!(IssuerAndSubject::decode(&opened.content).unwrap(), ias);
    }

    #[test]
    fn ecdsa_signers() {
        let (key, cert) = crate::scep::tests::identity(
            KeySpec::new(KeyAlgorithm::Ecdsa, 256).unwrap(),
            "CN=ec",
            false,
        );
        let mut out = Outgoing {
            attributes: Attributes::request(MessageType::GetCert, "1"),
            content: Some(b"x"),
            signer_cert: &cert,
            signer_key: &key,
            digest: HashAlg::Sha256,
            signature_algorithm: SignatureStyle::RsaEncryption,
            extra_certs: &[],
        };
        let e = sign(&out).unwrap_err();
        assert!(matches!(e, ScepError::NotRsa(_)), "{e}");
        assert!(e.to_string().contains("ECDSA"), "{e}");
        out.signature_algorithm = SignatureStyle::WithHash;
        let msg = open(&sign(&out).unwrap(), &[]).unwrap();
        assert_eq!(msg.content.as_deref(), Some(&b"x"[..]));
    }

    #[test]
    fn tampering_is_caught() {
        let (attributes, der) = pkcs_req(
            SignatureStyle::RsaEncryption,
            HashAlg::Sha256,
            ContentCipher::Aes128,
        );
        let msg = open(&der, &[]).unwrap();

        // A byte of the content (the envelope): the digest no longer matches.
        let envelope = msg.content.as_ref().unwrap();
        let at = find(&der, envelope) + envelope.len() / 2;
        let mut bad = der.clone();
        bad[at] ^= 0x01;
        let e = open(&bad, &[]).unwrap_err();
        assert!(matches!(e, ScepError::DigestMismatch), "{e}");
        assert_eq!(e.fail_info(), FailInfo::BadMessageCheck);

        // A byte of a signed attribute (the transaction ID): the signature fails.
        let at = find(&der, attributes.transaction_id.as_bytes());
        let mut bad = der.clone();
        bad[at] = if bad[at] == b'A' { b'B' } else { b'A' };
        let e = open(&bad, &[]).unwrap_err();
        assert!(matches!(e, ScepError::BadSignature), "{e}");
        assert_eq!(e.to_string(), "signature does not verify");
        // ... but the attributes still read, to address the FAILURE reply.
        let unverified = open_unverified_attributes(&bad).unwrap();
        assert_eq!(unverified.sender_nonce, attributes.sender_nonce);
        assert_ne!(unverified.transaction_id, attributes.transaction_id);

        // The messageType: "19" -> "99".
        let at = find(&der, &[0x13, 0x02, b'1', b'9']) + 2;
        let mut bad = der.clone();
        bad[at] = b'9';
        assert!(matches!(
            open(&bad, &[]).unwrap_err(),
            ScepError::BadSignature
        ));
        let e = open_unverified_attributes(&bad).unwrap_err();
        assert_eq!(e.to_string(), "unknown messageType \"99\"");

        // The signature itself.
        let mut bad = der.clone();
        let last = bad.len() - 1;
        bad[last] ^= 0x80;
        assert!(matches!(
            open(&bad, &[]).unwrap_err(),
            ScepError::BadSignature
        ));

        // Every byte flipped: an error or (where the byte is not covered
        // by the signature, e.g. the carried certificate's own signature)
        // a message, never a panic.
        for i in 0..der.len() {
            let mut bad = der.clone();
            bad[i] ^= 0x5a;
            let _ = open(&bad, &[]);
            let _ = open_unverified_attributes(&bad);
        }
    }

    #[test]
    fn truncation_is_an_error() {
        let (request, _) = pkcs_req(SignatureStyle::WithHash, HashAlg::Sha1, ContentCipher::Des);
        let (_, der) = cert_rep(&request, PkiStatus::Pending, None);
        for n in 0..der.len() {
            assert!(open(&der[..n], &[]).is_err(), "prefix {n} opened");
            assert!(open_unverified_attributes(&der[..n]).is_err());
        }
        let mut longer = der.clone();
        longer.push(0);
        assert!(open(&longer, &[]).is_err());
    }

    #[test]
    fn precise_errors() {
        // Not a SignedData.
        let envelope = seal(b"hi", &ca().1, ContentCipher::Aes128).unwrap();
        let e = open(&envelope, &[]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "not a SignedData pkiMessage: the ContentInfo's content type is 1.2.840.113549.1.7.3 (id-envelopedData)"
        );
        // A degenerate PKCS#7 is not a pkiMessage.
        let e = open(&certs_only(&[ca().1.clone()]).unwrap(), &[]).unwrap_err();
        assert!(matches!(e, ScepError::NoSignerInfo), "{e}");
        // Garbage.
        let e = open(b"\x30\x03\x02\x01\x00", &[]).unwrap_err();
        assert!(e.to_string().starts_with("malformed ContentInfo"), "{e}");

        // A short nonce.
        let (key, cert) = client();
        let mut attributes = Attributes::request(MessageType::PkcsReq, "T");
        attributes.sender_nonce = Some(vec![1, 2, 3]);
        let out = Outgoing {
            attributes,
            content: Some(b"c"),
            signer_cert: cert,
            signer_key: key,
            digest: HashAlg::Sha256,
            signature_algorithm: SignatureStyle::WithHash,
            extra_certs: &[],
        };
        let e = open(&sign(&out).unwrap(), &[]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "bad senderNonce length 3 (expected 16 bytes)"
        );
        let mut out = out;
        out.attributes.sender_nonce = Some(crate::scep::new_nonce());

        // A transaction ID that is not a PrintableString does not sign.
        let mut bad = out.clone();
        bad.attributes.transaction_id = "a_b".into();
        let e = sign(&bad).unwrap_err();
        assert!(
            e.to_string().starts_with("bad transactionID attribute"),
            "{e}"
        );

        // A CertRep without a status, a request with one.
        let mut no_status = out.clone();
        no_status.attributes.message_type = MessageType::CertRep;
        let e = open(&sign(&no_status).unwrap(), &[]).unwrap_err();
        assert_eq!(e.to_string(), "missing pkiStatus attribute");
        let mut with_status = out.clone();
        with_status.attributes.sender_nonce = None;
        with_status.attributes.status = Some(PkiStatus::Success);
        let e = open(&sign(&with_status).unwrap(), &[]).unwrap_err();
        assert!(matches!(e, ScepError::Inconsistent(_)), "{e}");

        // A signer nobody knows: strip the certificates.
        let der = sign(&out).unwrap();
        let e = open(&strip_certificates(&der), &[]).unwrap_err();
        assert!(e.to_string().contains("CN=router1"), "{e}");
        assert!(open(&strip_certificates(&der), std::slice::from_ref(cert)).is_ok());

        // Attributes removed after signing.
        let e =
            open_unverified_attributes(&without_attribute(&der, oid::MESSAGE_TYPE)).unwrap_err();
        assert_eq!(e.to_string(), "missing messageType attribute");
        let e = open(&without_attribute(&der, rfc5911::ID_MESSAGE_DIGEST), &[]).unwrap_err();
        assert_eq!(e.to_string(), "missing messageDigest attribute");
    }

    #[test]
    fn openssl_verifies_and_decrypts_ours() {
        let Some(dir) = openssl_dir() else { return };
        let (ca_crt, ca_key) = pem_files(&dir, "ca", ca());
        for (cipher, style) in [
            (ContentCipher::Aes128, SignatureStyle::RsaEncryption),
            (ContentCipher::Aes256, SignatureStyle::WithHash),
            (ContentCipher::TripleDes, SignatureStyle::RsaEncryption),
        ] {
            let (_, der) = pkcs_req(style, HashAlg::Sha256, cipher);
            let msg = write_temp(&dir, "msg.der", &der);
            let env = dir.path().join("env.der");
            let plain = dir.path().join("plain.der");
            openssl(&[
                OsStr::new("cms"),
                OsStr::new("-verify"),
                OsStr::new("-noverify"),
                OsStr::new("-inform"),
                OsStr::new("DER"),
                OsStr::new("-in"),
                msg.as_os_str(),
                OsStr::new("-out"),
                env.as_os_str(),
            ]);
            openssl(&[
                OsStr::new("cms"),
                OsStr::new("-decrypt"),
                OsStr::new("-inform"),
                OsStr::new("DER"),
                OsStr::new("-in"),
                env.as_os_str(),
                OsStr::new("-recip"),
                ca_crt.as_os_str(),
                OsStr::new("-inkey"),
                ca_key.as_os_str(),
                OsStr::new("-out"),
                plain.as_os_str(),
            ]);
            assert_eq!(std::fs::read(&plain).unwrap(), csr_der(), "{cipher}");
        }
    }

    #[test]
    fn opens_an_openssl_signature() {
        // `openssl cms -sign` makes a SignedData with its own signed
        // attributes (signingTime, smimeCapabilities) and no SCEP ones:
        // the digest and signature check out, then messageType is missing.
        let Some(dir) = openssl_dir() else { return };
        let (crt, key) = pem_files(&dir, "router", client());
        let content = write_temp(&dir, "content.bin", b"an envelope, say");
        for (md, stream) in [("sha1", false), ("sha256", false), ("sha256", true)] {
            let out = dir.path().join("signed.der");
            openssl(&[
                OsStr::new("cms"),
                OsStr::new("-sign"),
                OsStr::new(if stream { "-stream" } else { "-noindef" }),
                OsStr::new("-nodetach"),
                OsStr::new("-binary"),
                OsStr::new("-md"),
                OsStr::new(md),
                OsStr::new("-signer"),
                crt.as_os_str(),
                OsStr::new("-inkey"),
                key.as_os_str(),
                OsStr::new("-in"),
                content.as_os_str(),
                OsStr::new("-outform"),
                OsStr::new("DER"),
                OsStr::new("-out"),
                out.as_os_str(),
            ]);
            let der = std::fs::read(&out).unwrap();
            let e = open(&der, &[]).unwrap_err();
            assert_eq!(
                e.to_string(),
                "missing messageType attribute",
                "{md} {stream}"
            );
        }
    }

    fn find(haystack: &[u8], needle: &[u8]) -> usize {
        haystack
            .windows(needle.len())
            .position(|w| w == needle)
            .expect("needle")
    }

    fn edit_signed_data(der: &[u8], f: impl FnOnce(&mut SignedData)) -> Vec<u8> {
        let mut sd: SignedData = crate::scep::unwrap(der, rfc5911::ID_SIGNED_DATA, "x").unwrap();
        f(&mut sd);
        crate::scep::wrap(rfc5911::ID_SIGNED_DATA, &sd).unwrap()
    }

    fn strip_certificates(der: &[u8]) -> Vec<u8> {
        edit_signed_data(der, |sd| sd.certificates = None)
    }

    fn without_attribute(der: &[u8], oid: ObjectIdentifier) -> Vec<u8> {
        edit_signed_data(der, |sd| {
            let mut infos = sd.signer_infos.0.clone().into_vec();
            let attrs = infos[0].signed_attrs.take().unwrap();
            let kept: Vec<Attribute> = attrs
                .into_vec()
                .into_iter()
                .filter(|a| a.oid != oid)
                .collect();
            infos[0].signed_attrs = Some(SetOfVec::try_from(kept).unwrap());
            sd.signer_infos = SignerInfos::try_from(infos).unwrap();
        })
    }
}
