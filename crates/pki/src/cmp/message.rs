//! Builders and helpers: decoding with precise errors, headers for
//! requests and replies, body names, certificate request messages with
//! their proof of possession.

use der::asn1::{Any, BitString, Null, OctetString};
use der::{Decode, Encode, Reader, SliceReader, Tag};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::name::Name;

use super::CmpError;
use super::crmf::{CertReqMsg, CertRequest, CertTemplate, PopoSigningKey, ProofOfPossession};
use super::status::PkiStatusInfo;
use super::time::MessageTime;
use super::types::{
    CertOrEncCert, CertResponse, CertStatus, CertifiedKeyPair, ErrorMsgContent,
    ID_IT_IMPLICIT_CONFIRM, InfoTypeAndValue, MAX_BODY_TAG, PVNO_CMP2000, PkiBody, PkiHeader,
    PkiMessage,
};
use crate::key::{HashAlg, KeyPair};

/// Length of the transactionID and nonces we generate (RFC 9483: 16).
pub const NONCE_LEN: usize = 16;

/// Decodes a DER PKIMessage. An unknown body type is reported by its tag
/// number ([`CmpError::UnknownBody`]); other problems as [`CmpError::Decode`].
pub fn decode(der: &[u8]) -> Result<PkiMessage, CmpError> {
    PkiMessage::from_der(der).map_err(|e| match peek_body_tag(der) {
        Some(n) if n > MAX_BODY_TAG => CmpError::UnknownBody(n),
        _ => CmpError::Decode(e),
    })
}

/// The context tag number of the body of a PKIMessage, read structurally.
fn peek_body_tag(der: &[u8]) -> Option<u32> {
    let mut outer = SliceReader::new(der).ok()?;
    let header = der::Header::decode(&mut outer).ok()?;
    if header.tag() != Tag::Sequence {
        return None;
    }
    let inner = outer.read_slice(header.length()).ok()?;
    let mut reader = SliceReader::new(inner).ok()?;
    let _pki_header: der::asn1::AnyRef<'_> = reader.decode().ok()?;
    match Tag::peek(&reader).ok()? {
        Tag::ContextSpecific { number, .. } => Some(number.value()),
        _ => None,
    }
}

/// The ASN.1 name of a body's type: `"ir"`, `"ip"`, `"certConf"`, ...
pub fn body_name(body: &PkiBody) -> &'static str {
    body.name()
}

impl PkiMessage {
    /// The DER encoding.
    pub fn to_der(&self) -> Result<Vec<u8>, CmpError> {
        Encode::to_der(self).map_err(CmpError::Encode)
    }

    /// The body type's name (see [`body_name`]).
    pub fn body_name(&self) -> &'static str {
        self.body.name()
    }
}

fn octets(bytes: &[u8]) -> Result<OctetString, CmpError> {
    OctetString::new(bytes).map_err(CmpError::Encode)
}

fn random_octets() -> Result<OctetString, CmpError> {
    octets(&super::protection::random_bytes(NONCE_LEN)?)
}

impl PkiHeader {
    /// A header opening a transaction: pvno 2 (cmp2000), sender and
    /// recipient as directoryNames, messageTime from `unix_time` (seconds),
    /// a random 16-byte transactionID and senderNonce.
    pub fn new(sender: Name, recipient: Name, unix_time: u64) -> Result<Self, CmpError> {
        Ok(PkiHeader {
            pvno: PVNO_CMP2000,
            sender: GeneralName::DirectoryName(sender),
            recipient: GeneralName::DirectoryName(recipient),
            message_time: Some(MessageTime::from_unix(unix_time).map_err(CmpError::Encode)?),
            protection_alg: None,
            sender_kid: None,
            recip_kid: None,
            transaction_id: Some(random_octets()?),
            sender_nonce: Some(random_octets()?),
            recip_nonce: None,
            free_text: None,
            general_info: None,
        })
    }

    /// The header of a reply to `request` (from the CA, or the client's
    /// next message after a response): recipient = the request's sender,
    /// same transactionID, recipNonce = its senderNonce, recipKID = its
    /// senderKID, a fresh senderNonce, the request's pvno. No senderKID:
    /// set it with [`PkiHeader::with_sender_kid`].
    pub fn reply_to(request: &PkiHeader, sender: Name, unix_time: u64) -> Result<Self, CmpError> {
        Ok(PkiHeader {
            pvno: request.pvno,
            sender: GeneralName::DirectoryName(sender),
            recipient: request.sender.clone(),
            message_time: Some(MessageTime::from_unix(unix_time).map_err(CmpError::Encode)?),
            protection_alg: None,
            sender_kid: None,
            recip_kid: request.sender_kid.clone(),
            transaction_id: request.transaction_id.clone(),
            sender_nonce: Some(random_octets()?),
            recip_nonce: request.sender_nonce.clone(),
            free_text: None,
            general_info: None,
        })
    }

    /// Sets the senderKID (for PBM: the reference number).
    pub fn with_sender_kid(mut self, kid: &[u8]) -> Result<Self, CmpError> {
        self.sender_kid = Some(octets(kid)?);
        Ok(self)
    }

    /// Sets the recipKID.
    pub fn with_recip_kid(mut self, kid: &[u8]) -> Result<Self, CmpError> {
        self.recip_kid = Some(octets(kid)?);
        Ok(self)
    }

    /// Sets the transactionID.
    pub fn with_transaction_id(mut self, id: &[u8]) -> Result<Self, CmpError> {
        self.transaction_id = Some(octets(id)?);
        Ok(self)
    }

    /// Sets the senderNonce.
    pub fn with_sender_nonce(mut self, nonce: &[u8]) -> Result<Self, CmpError> {
        self.sender_nonce = Some(octets(nonce)?);
        Ok(self)
    }

    /// Sets the recipNonce (the peer's last senderNonce).
    pub fn with_recip_nonce(mut self, nonce: &[u8]) -> Result<Self, CmpError> {
        self.recip_nonce = Some(octets(nonce)?);
        Ok(self)
    }

    /// Sets the protocol version.
    pub fn with_pvno(mut self, pvno: u8) -> Self {
        self.pvno = pvno;
        self
    }

    /// Adds free text.
    pub fn with_free_text(mut self, text: &str) -> Self {
        self.free_text
            .get_or_insert_with(Vec::new)
            .push(text.to_owned());
        self
    }

    /// Adds a generalInfo entry.
    pub fn with_general_info(mut self, info: InfoTypeAndValue) -> Self {
        self.general_info.get_or_insert_with(Vec::new).push(info);
        self
    }

    /// Adds `id-it-implicitConfirm` (a client asking for, or a server
    /// granting, confirmation without certConf/pkiConf).
    pub fn with_implicit_confirm(self) -> Result<Self, CmpError> {
        let null = Any::encode_from(&Null).map_err(CmpError::Encode)?;
        Ok(self.with_general_info(InfoTypeAndValue {
            info_type: ID_IT_IMPLICIT_CONFIRM,
            info_value: Some(null),
        }))
    }

    /// Whether generalInfo carries `id-it-implicitConfirm`.
    pub fn implicit_confirm(&self) -> bool {
        self.general_info
            .as_ref()
            .is_some_and(|g| g.iter().any(|i| i.info_type == ID_IT_IMPLICIT_CONFIRM))
    }

    /// The transactionID bytes.
    pub fn transaction_id(&self) -> Option<&[u8]> {
        self.transaction_id.as_ref().map(OctetString::as_bytes)
    }

    /// The senderNonce bytes.
    pub fn sender_nonce(&self) -> Option<&[u8]> {
        self.sender_nonce.as_ref().map(OctetString::as_bytes)
    }

    /// The recipNonce bytes.
    pub fn recip_nonce(&self) -> Option<&[u8]> {
        self.recip_nonce.as_ref().map(OctetString::as_bytes)
    }

    /// The senderKID bytes.
    pub fn sender_kid(&self) -> Option<&[u8]> {
        self.sender_kid.as_ref().map(OctetString::as_bytes)
    }

    /// The sender's DN, if the sender is a directoryName.
    pub fn sender_name(&self) -> Option<&Name> {
        match &self.sender {
            GeneralName::DirectoryName(n) => Some(n),
            _ => None,
        }
    }

    /// messageTime as Unix seconds, when present and parseable.
    pub fn message_time_unix(&self) -> Option<u64> {
        self.message_time.as_ref()?.to_unix()
    }
}

impl CertReqMsg {
    /// A request with a signature proof of possession (RFC 4211 §4.1, no
    /// poposkInput): `key` signs DER(certReq) with `hash`. The template
    /// should carry the subject and `key`'s public key.
    pub fn signed(
        cert_req_id: i64,
        cert_template: CertTemplate,
        controls: Option<super::crmf::Controls>,
        key: &KeyPair,
        hash: HashAlg,
    ) -> Result<Self, CmpError> {
        let cert_req = CertRequest {
            cert_req_id,
            cert_template,
            controls,
        };
        let signed = cert_req.to_der().map_err(CmpError::Encode)?;
        let signature = key.sign(hash, &signed)?;
        Ok(CertReqMsg {
            cert_req,
            popo: Some(ProofOfPossession::Signature(PopoSigningKey {
                poposk_input: None,
                algorithm_identifier: key.signature_algorithm(hash)?,
                signature: BitString::from_bytes(&signature).map_err(CmpError::Encode)?,
            })),
            reg_info: None,
        })
    }

    /// Verifies a signature proof of possession made without poposkInput
    /// against the template's public key. `raVerified` and the other POP
    /// kinds are reported as [`CmpError::Pop`] (the CA decides what to
    /// accept).
    pub fn verify_popo(&self) -> Result<(), CmpError> {
        let popo = match &self.popo {
            Some(ProofOfPossession::Signature(s)) => s,
            Some(ProofOfPossession::RaVerified(_)) => {
                return Err(CmpError::Pop("raVerified POP is not a signature".into()));
            }
            Some(_) => {
                return Err(CmpError::Pop(
                    "only signature proof of possession is supported".into(),
                ));
            }
            None => return Err(CmpError::Pop("no proof of possession".into())),
        };
        if popo.poposk_input.is_some() {
            return Err(CmpError::Pop(
                "POPOSigningKeyInput is not supported (the template must carry subject and key)"
                    .into(),
            ));
        }
        let key = self
            .cert_req
            .cert_template
            .public_key
            .as_ref()
            .ok_or_else(|| CmpError::Pop("the template has no public key".into()))?;
        let signed = self.cert_req.to_der().map_err(CmpError::Encode)?;
        let sig = popo
            .signature
            .as_bytes()
            .ok_or_else(|| CmpError::Pop("signature BIT STRING has unused bits".into()))?;
        crate::verify::verify(key, &popo.algorithm_identifier, &signed, sig)
            .map_err(|e| CmpError::Pop(e.to_string()))
    }
}

impl CertResponse {
    /// An accepted response carrying `cert`.
    pub fn accepted(cert_req_id: i64, cert: x509_cert::Certificate) -> Self {
        CertResponse {
            cert_req_id,
            status: PkiStatusInfo::accepted(),
            certified_key_pair: Some(CertifiedKeyPair {
                cert_or_enc_cert: CertOrEncCert::Certificate(cert),
                private_key: None,
                publication_info: None,
            }),
            rsp_info: None,
        }
    }

    /// A response without a certificate (rejection, waiting).
    pub fn without_certificate(cert_req_id: i64, status: PkiStatusInfo) -> Self {
        CertResponse {
            cert_req_id,
            status,
            certified_key_pair: None,
            rsp_info: None,
        }
    }

    /// The certificate in clear, if the response carries one.
    pub fn certificate(&self) -> Option<&x509_cert::Certificate> {
        match &self.certified_key_pair.as_ref()?.cert_or_enc_cert {
            CertOrEncCert::Certificate(c) => Some(c),
            CertOrEncCert::EncryptedCert(_) => None,
        }
    }
}

impl CertStatus {
    /// The certConf entry for `cert`: its [`cert_hash`](super::cert_hash),
    /// and `status` (`None` means accepted).
    pub fn for_certificate(
        cert: &x509_cert::Certificate,
        cert_req_id: i64,
        status: Option<PkiStatusInfo>,
    ) -> Result<Self, CmpError> {
        Ok(CertStatus {
            cert_hash: octets(&super::protection::cert_hash(cert)?)?,
            cert_req_id,
            status_info: status,
            hash_alg: None,
        })
    }

    /// Whether `cert` is the certificate this entry confirms (compared in
    /// constant time; a hash is not secret, but this costs nothing).
    pub fn matches(&self, cert: &x509_cert::Certificate) -> bool {
        use subtle::ConstantTimeEq;
        super::protection::cert_hash(cert)
            .is_ok_and(|h| bool::from(h.ct_eq(self.cert_hash.as_bytes())))
    }

    /// Whether the client accepted the certificate (no status, or a granted
    /// one).
    pub fn is_accepted(&self) -> bool {
        self.status_info
            .as_ref()
            .is_none_or(PkiStatusInfo::is_granted)
    }
}

impl ErrorMsgContent {
    /// An error body with `status` and no code or details.
    pub fn new(status: PkiStatusInfo) -> Self {
        ErrorMsgContent {
            pki_status_info: status,
            error_code: None,
            error_details: None,
        }
    }
}
