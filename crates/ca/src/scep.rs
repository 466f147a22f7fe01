//! The SCEP server (RFC 8894), sans-I/O: an HTTP [`Request`] and the time
//! in, a [`Reply`] out. The message layer (pkiMessage, envelopes,
//! certs-only PKCS#7) is `pki::scep`; the decisions are the
//! [`Authority`]'s.
//!
//! What a client gets:
//! - `GetCACaps`: the configured capabilities ([`CapsPreset`]).
//! - `GetCACert`: the issuing CA's certificate alone, or, with an RA, the
//!   RA and CA certificates as a degenerate PKCS#7.
//! - `PKIOperation` (GET with a base64 `message`, or POST): PKCSReq,
//!   RenewalReq, CertPoll and GetCert. A request the CA refuses gets a
//!   FAILURE CertRep with a failInfo, never a certificate; a message that is
//!   not a pkiMessage at all gets HTTP 400 with the reason.
//!
//! Algorithms are held to what GetCACaps advertised: an envelope or digest
//! the CA did not offer gets FAILURE badAlg. The one exception, switchable
//! off, is single DES, which clients that never read GetCACaps still send.

use std::time::Duration;

use base64::Engine;
use der::{Decode, Encode};
use pki::key::HashAlg;
use pki::scep::{
    self, Attributes, Capabilities, Capability, ContentCipher, FailInfo, Incoming, MessageType,
    Outgoing, PkiStatus, SignatureStyle,
};
use x509_cert::Certificate;
use x509_cert::request::CertReq;

use crate::CaError;
use crate::authority::{Admission, Application, Authority, Decision};
use crate::http::{Method, Reply, Request};

/// Which capabilities GetCACaps advertises (and so which algorithms the
/// server accepts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CapsPreset {
    /// AES, DES3, SHA-1, SHA-256, SHA-384, SHA-512, POSTPKIOperation,
    /// Renewal, SCEPStandard.
    Modern,
    /// DES3 and SHA-1 only, GET only: an old CA.
    Legacy3Des,
    /// Nothing advertised: single DES and SHA-1, GET only (the pre-RFC
    /// default; for testing very old clients).
    LegacyDes,
}

impl CapsPreset {
    /// Parses `modern`, `legacy` (3DES) or `legacy-des`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "modern" => Some(CapsPreset::Modern),
            "legacy" | "legacy-3des" => Some(CapsPreset::Legacy3Des),
            "legacy-des" => Some(CapsPreset::LegacyDes),
            _ => None,
        }
    }

    /// The GetCACaps lines.
    pub fn lines(self) -> &'static [&'static str] {
        match self {
            CapsPreset::Modern => &[
                "AES",
                "DES3",
                "POSTPKIOperation",
                "Renewal",
                "SHA-1",
                "SHA-256",
                "SHA-384",
                "SHA-512",
                "SCEPStandard",
            ],
            CapsPreset::Legacy3Des => &["DES3", "SHA-1"],
            CapsPreset::LegacyDes => &[],
        }
    }
}

/// How the SCEP server behaves.
#[derive(Debug, Clone)]
pub struct ScepSettings {
    /// The capabilities advertised and enforced.
    pub caps: CapsPreset,
    /// Accept RenewalReq.
    pub renewal_req: bool,
    /// Accept a PKCSReq signed by a certificate of this CA as a renewal
    /// (the Cisco form).
    pub pkcsreq_renewal: bool,
    /// Put the issuing CA's certificate into the CertRep next to the issued
    /// one (some clients want it; Junos-style clients refuse it).
    pub ca_in_certrep: bool,
    /// SignerInfo.signatureAlgorithm of CertReps: `rsaEncryption` (what
    /// strongSwan 5.9.8 insists on) or `sha*WithRSAEncryption`.
    pub signature: SignatureStyle,
    /// Accept single-DES envelopes even when GetCACaps offers better: a
    /// client that ignores GetCACaps uses DES (RFC 8894 section 3.5.2's
    /// default), as micromdm's scepclient 2.1 does. Logged as weak.
    pub accept_des: bool,
}

impl Default for ScepSettings {
    fn default() -> Self {
        ScepSettings {
            caps: CapsPreset::Modern,
            renewal_req: true,
            pkcsreq_renewal: true,
            ca_in_certrep: false,
            signature: SignatureStyle::RsaEncryption,
            accept_des: true,
        }
    }
}

/// Content type of PKIOperation replies.
pub const PKI_MESSAGE: &str = "application/x-pki-message";

/// The SCEP server.
#[derive(Debug, Clone, Default)]
pub struct ScepServer {
    settings: ScepSettings,
}

/// Why a PKIOperation ends in a FAILURE CertRep.
struct Refusal {
    info: FailInfo,
    why: String,
}

fn refuse(info: FailInfo, why: impl Into<String>) -> Refusal {
    Refusal {
        info,
        why: why.into(),
    }
}

impl ScepServer {
    /// A server with `settings`.
    pub fn new(settings: ScepSettings) -> Self {
        ScepServer { settings }
    }

    /// The settings.
    pub fn settings(&self) -> &ScepSettings {
        &self.settings
    }

    fn caps(&self) -> Capabilities {
        Capabilities::parse(&self.settings.caps.lines().join("\n"))
    }

    /// Answers one SCEP HTTP request.
    pub fn handle(&self, ca: &Authority, req: &Request, now: Duration) -> Reply {
        let Some(operation) = req.param("operation") else {
            return Reply::error(400, "SCEP: no 'operation' parameter");
        };
        match (operation, &req.method) {
            (_, Method::Other(m)) => Reply::error(405, format!("SCEP: method {m} not allowed")),
            ("GetCACaps", _) => Reply::ok("text/plain", self.caps().render().into_bytes()),
            ("GetCACert", _) => self.get_ca_cert(ca),
            ("PKIOperation", Method::Post) if !self.caps().has(Capability::PostPkiOperation) => {
                Reply::error(
                    405,
                    "SCEP: POSTPKIOperation is not offered by this CA; use GET",
                )
            }
            ("PKIOperation", Method::Post) => self.pki_operation(ca, &req.body, now),
            ("PKIOperation", Method::Get) => {
                let Some(message) = req.param("message") else {
                    return Reply::error(400, "SCEP: PKIOperation by GET without 'message'");
                };
                // '+' in unescaped base64 reads back as a space.
                let text: String = message
                    .chars()
                    .filter(|c| *c != '\r' && *c != '\n')
                    .map(|c| if c == ' ' { '+' } else { c })
                    .collect();
                match base64::engine::general_purpose::STANDARD.decode(text.as_bytes()) {
                    Ok(der) => self.pki_operation(ca, &der, now),
                    Err(e) => Reply::error(400, format!("SCEP: 'message' is not base64: {e}")),
                }
            }
            (other, _) => Reply::error(400, format!("SCEP: unknown operation '{other}'")),
        }
    }

    fn responder(ca: &Authority) -> &crate::hierarchy::Credential {
        ca.hierarchy()
            .ra
            .as_ref()
            .unwrap_or(&ca.hierarchy().issuing)
    }

    fn get_ca_cert(&self, ca: &Authority) -> Reply {
        let h = ca.hierarchy();
        match &h.ra {
            None => match h.issuing.cert.to_der() {
                Ok(der) => Reply::ok("application/x-x509-ca-cert", der),
                Err(e) => Reply::error(500, format!("encoding the CA certificate: {e}")),
            },
            Some(ra) => match scep::certs_only(&[ra.cert.clone(), h.issuing.cert.clone()]) {
                Ok(der) => Reply::ok("application/x-x509-ca-ra-cert", der),
                Err(e) => Reply::error(500, format!("encoding the RA chain: {e}")),
            },
        }
    }

    fn pki_operation(&self, ca: &Authority, body: &[u8], now: Duration) -> Reply {
        // Some clients POST the message base64-encoded.
        let decoded;
        let der = if body.first() == Some(&0x30) {
            body
        } else {
            let text: Vec<u8> = body
                .iter()
                .copied()
                .filter(|b| !b.is_ascii_whitespace())
                .collect();
            match base64::engine::general_purpose::STANDARD.decode(&text) {
                Ok(d) => {
                    decoded = d;
                    &decoded[..]
                }
                Err(_) => {
                    tracing::warn!(target: "ca::scep", "PKIOperation body is neither DER nor base64");
                    return Reply::error(400, "SCEP: the body is not a DER pkiMessage");
                }
            }
        };
        let incoming = match scep::open(der, &[]) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(target: "ca::scep", "refused a pkiMessage: {e}");
                return match scep::open_unverified_attributes(der) {
                    Ok(attrs) => self.certrep_failure(
                        ca,
                        &attrs,
                        HashAlg::Sha256,
                        refuse(FailInfo::BadMessageCheck, e.to_string()),
                    ),
                    Err(_) => Reply::error(400, format!("SCEP: not a pkiMessage: {e}")),
                };
            }
        };
        let attrs = &incoming.attributes;
        match self.decide(ca, &incoming, now) {
            Ok((Decision::Issued(cert), cipher)) => {
                self.certrep_success(ca, &incoming, &cert, cipher)
            }
            Ok((Decision::Pending(id), _)) => {
                tracing::info!(
                    target: "ca::scep",
                    "transaction {} ({}): PENDING as request {id}",
                    attrs.transaction_id,
                    attrs.message_type.name()
                );
                self.certrep(ca, attrs, incoming.digest, PkiStatus::Pending, None, None)
            }
            Ok((Decision::Rejected(why), _)) => self.certrep_failure(
                ca,
                attrs,
                incoming.digest,
                refuse(FailInfo::BadRequest, why),
            ),
            Err(r) => self.certrep_failure(ca, attrs, incoming.digest, r),
        }
    }

    /// Checks algorithms, opens the envelope and asks the CA.
    fn decide(
        &self,
        ca: &Authority,
        m: &Incoming,
        now: Duration,
    ) -> Result<(Decision, ContentCipher), Refusal> {
        let caps = self.caps();
        let sha2_offered = [Capability::Sha256, Capability::Sha384, Capability::Sha512]
            .iter()
            .any(|c| caps.has(*c));
        let digest_ok = match m.digest {
            HashAlg::Sha1 => caps.has(Capability::Sha1) || !sha2_offered,
            HashAlg::Sha256 => caps.has(Capability::Sha256) || caps.has(Capability::ScepStandard),
            HashAlg::Sha384 => caps.has(Capability::Sha384),
            HashAlg::Sha512 => caps.has(Capability::Sha512),
        };
        if !digest_ok {
            return Err(refuse(
                FailInfo::BadAlg,
                format!("digest {:?} is not offered by this CA", m.digest),
            ));
        }
        let kind = m.attributes.message_type;
        let opened = match (&m.content, kind) {
            (Some(content), _) => Some(self.open_envelope(ca, content)?),
            (None, MessageType::PkcsReq | MessageType::RenewalReq) => {
                return Err(refuse(
                    FailInfo::BadRequest,
                    "the request carries no envelope",
                ));
            }
            (None, _) => None,
        };
        let cipher = opened
            .as_ref()
            .map(|o| o.cipher)
            .unwrap_or(ContentCipher::Aes128);
        let tid = &m.attributes.transaction_id;
        let ca_result =
            |r: Result<Decision, CaError>| -> Result<(Decision, ContentCipher), Refusal> {
                match r {
                    Ok(d) => Ok((d, cipher)),
                    Err(CaError::NotFound(why)) => Err(refuse(FailInfo::BadCertId, why)),
                    Err(e @ (CaError::BadRequest(_) | CaError::TransactionInUse(_))) => {
                        Err(refuse(FailInfo::BadRequest, e.to_string()))
                    }
                    Err(e) => {
                        tracing::error!(target: "ca::scep", "transaction {tid}: {e}");
                        Err(refuse(FailInfo::BadRequest, format!("the CA failed: {e}")))
                    }
                }
            };
        match kind {
            MessageType::PkcsReq | MessageType::RenewalReq => {
                let content = opened.as_ref().map(|o| &o.content[..]).unwrap_or(&[]);
                let csr = CertReq::from_der(content).map_err(|e| {
                    refuse(
                        FailInfo::BadRequest,
                        format!("the envelope does not hold a PKCS#10 request: {e}"),
                    )
                })?;
                let ours = pki::verify::certificate(
                    &m.signer,
                    ca.hierarchy()
                        .issuing
                        .cert
                        .tbs_certificate()
                        .subject_public_key_info(),
                )
                .is_ok();
                let admission = match (kind, ours) {
                    (MessageType::RenewalReq, false) => {
                        return Err(refuse(
                            FailInfo::BadRequest,
                            "a RenewalReq must be signed with a certificate of this CA",
                        ));
                    }
                    (MessageType::RenewalReq, true) if !self.settings.renewal_req => {
                        return Err(refuse(FailInfo::BadRequest, "RenewalReq is switched off"));
                    }
                    (_, true) if kind == MessageType::PkcsReq && !self.settings.pkcsreq_renewal => {
                        return Err(refuse(
                            FailInfo::BadRequest,
                            "renewal by a PKCSReq signed with the old certificate is switched off",
                        ));
                    }
                    (_, true) => Admission::Renewal(&m.signer),
                    (_, false) => {
                        if m.signer.tbs_certificate().subject_public_key_info()
                            != &csr.info.public_key
                        {
                            return Err(refuse(
                                FailInfo::BadMessageCheck,
                                "the message is signed with a key other than the request's",
                            ));
                        }
                        Admission::Challenge(None)
                    }
                };
                let challenge = pki::request::challenge_password(&csr);
                let admission = match admission {
                    Admission::Challenge(_) => {
                        Admission::Challenge(challenge.as_ref().map(|c| c.as_str()))
                    }
                    other => other,
                };
                let app = Application::from_csr_der(content)
                    .map_err(|e| refuse(FailInfo::BadRequest, e.to_string()))?;
                ca_result(ca.request(&app, tid, admission, now))
            }
            MessageType::CertPoll => {
                if let Some(o) = &opened {
                    scep::IssuerAndSubject::from_der(&o.content).map_err(|e| {
                        refuse(
                            FailInfo::BadRequest,
                            format!("CertPoll content is not IssuerAndSubject: {e}"),
                        )
                    })?;
                }
                ca_result(ca.poll(tid, now))
            }
            MessageType::GetCert => {
                let content = opened.as_ref().map(|o| &o.content[..]).unwrap_or(&[]);
                let ias = cms::cert::IssuerAndSerialNumber::from_der(content).map_err(|e| {
                    refuse(
                        FailInfo::BadRequest,
                        format!("GetCert content is not IssuerAndSerialNumber: {e}"),
                    )
                })?;
                let serial = pki::info::serial_hex(ias.serial_number.as_bytes());
                ca_result(
                    ca.certificate(&serial)
                        .map(|c| Decision::Issued(Box::new(c))),
                )
            }
            other => Err(refuse(
                FailInfo::BadRequest,
                format!("message type {other:?} is not a request this CA answers"),
            )),
        }
    }

    fn open_envelope(&self, ca: &Authority, content: &[u8]) -> Result<scep::Opened, Refusal> {
        let h = ca.hierarchy();
        let mut last = None;
        for cred in h.ra.iter().chain(std::iter::once(&h.issuing)) {
            match scep::open_envelope(content, &cred.key, &cred.cert) {
                Ok(o) => {
                    let caps = self.caps();
                    let allowed = match o.cipher {
                        ContentCipher::Aes128 | ContentCipher::Aes256 => {
                            caps.has(Capability::Aes) || caps.has(Capability::ScepStandard)
                        }
                        ContentCipher::TripleDes => caps.has(Capability::Des3),
                        ContentCipher::Des => {
                            self.settings.caps == CapsPreset::LegacyDes || self.settings.accept_des
                        }
                    };
                    if allowed && o.cipher == ContentCipher::Des {
                        tracing::warn!(target: "ca::scep", "accepted a weak single-DES envelope (the client ignores GetCACaps)");
                    }
                    if !allowed {
                        return Err(refuse(
                            FailInfo::BadAlg,
                            format!(
                                "envelope cipher {} is not offered by this CA",
                                o.cipher.name()
                            ),
                        ));
                    }
                    return Ok(o);
                }
                Err(e) => last = Some(e),
            }
        }
        Err(refuse(
            FailInfo::BadMessageCheck,
            format!(
                "the envelope does not open: {}",
                last.map(|e| e.to_string()).unwrap_or_default()
            ),
        ))
    }

    fn certrep_success(
        &self,
        ca: &Authority,
        m: &Incoming,
        cert: &Certificate,
        cipher: ContentCipher,
    ) -> Reply {
        let mut certs = vec![cert.clone()];
        if self.settings.ca_in_certrep {
            certs.push(ca.hierarchy().issuing.cert.clone());
        }
        let sealed = scep::certs_only(&certs)
            .and_then(|degenerate| scep::seal(&degenerate, &m.signer, cipher));
        match sealed {
            Ok(envelope) => {
                tracing::info!(
                    target: "ca::scep",
                    "transaction {} ({}): SUCCESS, certificate {}",
                    m.attributes.transaction_id,
                    m.attributes.message_type.name(),
                    pki::info::serial_hex(cert.tbs_certificate().serial_number().as_bytes())
                );
                self.certrep(
                    ca,
                    &m.attributes,
                    m.digest,
                    PkiStatus::Success,
                    None,
                    Some(&envelope),
                )
            }
            Err(e) => self.certrep_failure(
                ca,
                &m.attributes,
                m.digest,
                refuse(
                    FailInfo::BadRequest,
                    format!("cannot encrypt to the requester: {e}"),
                ),
            ),
        }
    }

    fn certrep_failure(
        &self,
        ca: &Authority,
        attrs: &Attributes,
        digest: HashAlg,
        r: Refusal,
    ) -> Reply {
        tracing::warn!(
            target: "ca::scep",
            "transaction {}: FAILURE {} ({})",
            attrs.transaction_id,
            r.info.words(),
            r.why
        );
        self.certrep(ca, attrs, digest, PkiStatus::Failure, Some(r.info), None)
    }

    fn certrep(
        &self,
        ca: &Authority,
        request: &Attributes,
        digest: HashAlg,
        status: PkiStatus,
        fail_info: Option<FailInfo>,
        content: Option<&[u8]>,
    ) -> Reply {
        let signer = Self::responder(ca);
        let out = Outgoing {
            attributes: Attributes {
                message_type: MessageType::CertRep,
                transaction_id: request.transaction_id.clone(),
                sender_nonce: Some(scep::new_nonce()),
                recipient_nonce: request.sender_nonce.clone(),
                status: Some(status),
                fail_info,
            },
            content,
            signer_cert: &signer.cert,
            signer_key: &signer.key,
            digest,
            signature_algorithm: self.settings.signature,
            extra_certs: &[],
        };
        match scep::sign(&out) {
            Ok(der) => Reply::ok(PKI_MESSAGE, der),
            Err(e) => {
                tracing::error!(target: "ca::scep", "signing a CertRep: {e}");
                Reply::error(500, format!("SCEP: cannot sign the reply: {e}"))
            }
        }
    }
}
