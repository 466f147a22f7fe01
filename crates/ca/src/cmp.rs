//! The CMP server (RFC 4210 / RFC 9480, over HTTP per RFC 6712), sans-I/O:
//! an HTTP [`Request`] and the time in, a [`Reply`] out. The message layer
//! is `pki::cmp`; the decisions are the [`Authority`]'s.
//!
//! - Protection: a password-based MAC under a shared secret named by its
//!   reference number (senderKID), or a signature by a certificate this CA
//!   issued (carried first in extraCerts). Unprotected requests are refused.
//!   Replies are MACed with the request's secret, or signed by the issuing
//!   CA; extraCerts carry the issuing and root certificates.
//! - Bodies: IR, CR, KUR (signed with the certificate being updated; the
//!   subject and subjectAltName stay), P10CR, certConf (answered pkiConf; a
//!   certificate the client rejects is revoked), pollReq (pollRep while an
//!   operator decides), genm (an empty genp). caPubs in IP/CP hold the root.
//! - Errors are CMP error messages with a PKIFailureInfo and a text, never
//!   a certificate; transaction IDs reused for a new request and replayed
//!   sender nonces are refused.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use der::asn1::Null;
use pki::altname::AltNames;
use pki::cmp::{
    CertConfirmContent, CertRepMessage, CertResponse, CertTemplate, ErrorMsgContent, FailureInfo,
    PkiBody, PkiHeader, PkiMessage, PkiStatusInfo, PollRep, Protection, ProtectionKind, Received,
    protect, protection_kind,
};
use pki::key::HashAlg;
use x509_cert::Certificate;
use x509_cert::ext::pkix::SubjectAltName;

use crate::CaError;
use crate::authority::{Admission, Application, Authority, Decision};
use crate::http::{Method, Reply, Request};
use crate::state::Reason;

/// Content type of CMP over HTTP (RFC 6712).
pub const PKIXCMP: &str = "application/pkixcmp";

/// How the CMP server behaves.
#[derive(Clone)]
pub struct CmpSettings {
    secrets: Vec<(String, zeroize::Zeroizing<Vec<u8>>)>,
    /// Seconds a client is told to wait before polling again.
    pub check_after: i64,
    /// Grant implicit confirmation when a client asks for it.
    pub grant_implicit_confirm: bool,
}

impl Default for CmpSettings {
    fn default() -> Self {
        CmpSettings {
            secrets: Vec::new(),
            check_after: 1,
            grant_implicit_confirm: true,
        }
    }
}

impl std::fmt::Debug for CmpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let refs: Vec<&str> = self.secrets.iter().map(|(r, _)| r.as_str()).collect();
        f.debug_struct("CmpSettings")
            .field("secret_refs", &refs)
            .field("check_after", &self.check_after)
            .field("grant_implicit_confirm", &self.grant_implicit_confirm)
            .finish()
    }
}

impl CmpSettings {
    /// Accepts messages MACed with `secret` under reference `reference`.
    pub fn add_secret(&mut self, reference: &str, secret: &str) {
        self.secrets.push((
            reference.to_string(),
            zeroize::Zeroizing::new(secret.as_bytes().to_vec()),
        ));
    }

    fn secret(&self, reference: &[u8]) -> Option<(usize, &[u8])> {
        self.secrets
            .iter()
            .enumerate()
            .find(|(_, (r, _))| r.as_bytes() == reference)
            .map(|(i, (_, s))| (i, s.as_slice()))
    }
}

/// Which request opened a transaction (its reply type follows from it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Ir,
    Cr,
    Kur,
    P10cr,
}

impl Kind {
    fn reply(self, rep: CertRepMessage) -> PkiBody {
        match self {
            Kind::Ir => PkiBody::Ip(rep),
            Kind::Cr | Kind::P10cr => PkiBody::Cp(rep),
            Kind::Kur => PkiBody::Kup(rep),
        }
    }
}

/// What the server remembers of a transaction between messages.
#[derive(Debug, Clone)]
struct Txn {
    kind: Kind,
    cert_req_id: i64,
}

/// How the request proved who sent it.
enum Auth {
    /// The MAC under secret number `.0`.
    Mac(usize),
    /// A signature by this certificate of the CA.
    Signature(Box<Certificate>),
}

/// Why a request ends in a CMP error message.
struct Refusal {
    fail: FailureInfo,
    text: String,
}

fn refuse(fail: FailureInfo, text: impl Into<String>) -> Refusal {
    Refusal {
        fail,
        text: text.into(),
    }
}

/// Recently seen sender nonces, and their order (oldest first).
type SeenNonces = (HashSet<Vec<u8>>, VecDeque<Vec<u8>>);

/// How many sender nonces are remembered to catch replays.
const NONCES_KEPT: usize = 8192;

/// The CMP server.
#[derive(Debug, Default)]
pub struct CmpServer {
    settings: CmpSettings,
    transactions: Mutex<HashMap<Vec<u8>, Txn>>,
    nonces: Mutex<SeenNonces>,
}

fn transaction_key(tid: &[u8]) -> String {
    format!("cmp-{}", hex::encode(tid))
}

fn ca_refusal(e: CaError) -> Refusal {
    match e {
        CaError::TransactionInUse(t) => refuse(
            FailureInfo::TRANSACTION_ID_IN_USE,
            format!("transaction {t} is already in use"),
        ),
        CaError::BadRequest(why) => refuse(FailureInfo::BAD_REQUEST, why),
        CaError::NotFound(why) => refuse(FailureInfo::BAD_REQUEST, why),
        other => {
            tracing::error!(target: "ca::cmp", "{other}");
            refuse(
                FailureInfo::SYSTEM_FAILURE,
                "the CA failed; try again later",
            )
        }
    }
}

impl CmpServer {
    /// A server with `settings`.
    pub fn new(settings: CmpSettings) -> Self {
        CmpServer {
            settings,
            ..CmpServer::default()
        }
    }

    /// Answers one CMP HTTP request.
    pub fn handle(&self, ca: &Authority, req: &Request, now: Duration) -> Reply {
        if req.method != Method::Post {
            return Reply::error(405, "CMP messages are sent with POST (RFC 6712)");
        }
        if let Some(ct) = &req.content_type
            && !ct.to_ascii_lowercase().starts_with(PKIXCMP)
        {
            return Reply::error(
                415,
                format!("CMP: Content-Type must be {PKIXCMP}, not {ct}"),
            );
        }
        let received = match Received::decode(&req.body) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(target: "ca::cmp", "not a PKIMessage: {e}");
                return self.error_reply(
                    ca,
                    None,
                    refuse(
                        FailureInfo::BAD_DATA_FORMAT,
                        format!("not a PKIMessage: {e}"),
                    ),
                    now,
                );
            }
        };
        let msg = &received.message;
        let auth = match self.authenticate(ca, &received, now) {
            Ok(a) => a,
            Err(r) => return self.error_reply(ca, Some(&msg.header), r, now),
        };
        match self.answer(ca, msg, &auth, now) {
            Ok((body, implicit)) => self.reply(ca, &msg.header, body, &auth, implicit, now),
            Err(r) => {
                let body = error_body(&r);
                tracing::warn!(
                    target: "ca::cmp",
                    "{} refused: {} ({})",
                    msg.body_name(),
                    r.fail.names().join(","),
                    r.text
                );
                self.reply(ca, &msg.header, body, &auth, false, now)
            }
        }
    }

    /// Checks the protection; the sender nonce must be new.
    fn authenticate(&self, ca: &Authority, r: &Received, now: Duration) -> Result<Auth, Refusal> {
        let msg = &r.message;
        let Some(tid) = msg.header.transaction_id() else {
            return Err(refuse(
                FailureInfo::BAD_DATA_FORMAT,
                "the header has no transactionID",
            ));
        };
        if tid.is_empty() {
            return Err(refuse(FailureInfo::BAD_DATA_FORMAT, "empty transactionID"));
        }
        let auth = match protection_kind(msg) {
            ProtectionKind::None => {
                return Err(refuse(
                    FailureInfo::BAD_MESSAGE_CHECK,
                    "unprotected messages are not accepted",
                ));
            }
            ProtectionKind::Pbmac1 => {
                return Err(refuse(
                    FailureInfo::BAD_ALG,
                    "PBMAC1 protection is not supported",
                ));
            }
            ProtectionKind::PasswordBasedMac => {
                let reference = msg.header.sender_kid().unwrap_or_default();
                let Some((index, secret)) = self.settings.secret(reference) else {
                    return Err(refuse(
                        FailureInfo::BAD_MESSAGE_CHECK | FailureInfo::SIGNER_NOT_TRUSTED,
                        format!(
                            "no shared secret with reference '{}'",
                            String::from_utf8_lossy(reference)
                        ),
                    ));
                };
                r.verify_mac(secret)
                    .map_err(|e| refuse(FailureInfo::BAD_MESSAGE_CHECK, e.to_string()))?;
                Auth::Mac(index)
            }
            ProtectionKind::Signature(_) => {
                let signer = msg
                    .extra_certs
                    .as_ref()
                    .and_then(|c| c.first())
                    .ok_or_else(|| {
                        refuse(
                            FailureInfo::BAD_MESSAGE_CHECK,
                            "signature protection without the signer's certificate in extraCerts",
                        )
                    })?;
                r.verify_signature(signer)
                    .map_err(|e| refuse(FailureInfo::BAD_MESSAGE_CHECK, e.to_string()))?;
                let issuing = &ca.hierarchy().issuing.cert;
                pki::verify::certificate(
                    signer,
                    issuing.tbs_certificate().subject_public_key_info(),
                )
                .map_err(|_| {
                    refuse(
                        FailureInfo::SIGNER_NOT_TRUSTED,
                        "the message is signed with a certificate this CA did not issue",
                    )
                })?;
                let v = signer.tbs_certificate().validity();
                if now < v.not_before.to_unix_duration() || now > v.not_after.to_unix_duration() {
                    return Err(refuse(
                        FailureInfo::SIGNER_NOT_TRUSTED,
                        "the signer's certificate is not valid now",
                    ));
                }
                Auth::Signature(Box::new(signer.clone()))
            }
        };
        if let Some(nonce) = msg.header.sender_nonce() {
            let mut guard = self
                .nonces
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let (seen, order) = &mut *guard;
            if !seen.insert(nonce.to_vec()) {
                return Err(refuse(
                    FailureInfo::BAD_SENDER_NONCE,
                    "senderNonce already seen: a replayed message",
                ));
            }
            order.push_back(nonce.to_vec());
            if order.len() > NONCES_KEPT
                && let Some(old) = order.pop_front()
            {
                seen.remove(&old);
            }
        }
        Ok(auth)
    }

    fn txn(&self, tid: &[u8]) -> Option<Txn> {
        self.transactions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(tid)
            .cloned()
    }

    fn remember(&self, tid: &[u8], txn: Txn) {
        self.transactions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(tid.to_vec(), txn);
    }

    /// The reply body, and whether implicit confirmation was granted.
    fn answer(
        &self,
        ca: &Authority,
        msg: &PkiMessage,
        auth: &Auth,
        now: Duration,
    ) -> Result<(PkiBody, bool), Refusal> {
        let tid = msg.header.transaction_id().unwrap_or_default();
        let key = transaction_key(tid);
        match &msg.body {
            PkiBody::Ir(reqs) | PkiBody::Cr(reqs) | PkiBody::Kur(reqs) => {
                let kind = match &msg.body {
                    PkiBody::Ir(_) => Kind::Ir,
                    PkiBody::Cr(_) => Kind::Cr,
                    _ => Kind::Kur,
                };
                let [req] = reqs.as_slice() else {
                    return Err(refuse(
                        FailureInfo::BAD_REQUEST,
                        format!(
                            "{} certificate requests in one message; this CA takes one",
                            reqs.len()
                        ),
                    ));
                };
                self.refuse_known(ca, tid, &key, now)?;
                req.verify_popo()
                    .map_err(|e| refuse(FailureInfo::BAD_POP, e.to_string()))?;
                let old = match auth {
                    Auth::Signature(cert) => Some(cert.as_ref()),
                    Auth::Mac(_) => None,
                };
                if kind == Kind::Kur {
                    let Some(old) = old else {
                        return Err(refuse(
                            FailureInfo::NOT_AUTHORIZED,
                            "a KUR must be signed with the certificate it updates",
                        ));
                    };
                    if let Some(id) = req.cert_req.old_cert_id() {
                        let id = id.map_err(|e| {
                            refuse(FailureInfo::BAD_DATA_FORMAT, format!("oldCertID: {e}"))
                        })?;
                        if !id.matches(old) {
                            return Err(refuse(
                                FailureInfo::BAD_CERT_ID,
                                "oldCertID does not name the certificate that signed the KUR",
                            ));
                        }
                    }
                }
                let app = application(
                    &req.cert_req.cert_template,
                    (kind == Kind::Kur).then_some(old).flatten(),
                )?;
                let admission = match (kind, old) {
                    (Kind::Kur, Some(old)) => Admission::Renewal(old),
                    (_, Some(holder)) => Admission::Holder(holder),
                    (_, None) => Admission::Authenticated,
                };
                let decision = ca.request(&app, &key, admission, now).map_err(ca_refusal)?;
                let id = req.cert_req.cert_req_id;
                self.remember(
                    tid,
                    Txn {
                        kind,
                        cert_req_id: id,
                    },
                );
                Ok(self.decided(ca, msg, kind, id, decision))
            }
            PkiBody::P10cr(csr) => {
                self.refuse_known(ca, tid, &key, now)?;
                let app = Application::from_csr(csr)
                    .map_err(|e| refuse(FailureInfo::BAD_POP, e.to_string()))?;
                let admission = match auth {
                    Auth::Signature(cert) => Admission::Holder(cert),
                    Auth::Mac(_) => Admission::Authenticated,
                };
                let decision = ca.request(&app, &key, admission, now).map_err(ca_refusal)?;
                self.remember(
                    tid,
                    Txn {
                        kind: Kind::P10cr,
                        cert_req_id: 0,
                    },
                );
                Ok(self.decided(ca, msg, Kind::P10cr, 0, decision))
            }
            PkiBody::PollReq(polls) => {
                let txn = self.txn(tid).unwrap_or(Txn {
                    kind: Kind::Ir,
                    cert_req_id: 0,
                });
                let id = polls.first().map_or(txn.cert_req_id, |p| p.cert_req_id);
                let decision = ca.poll(&key, now).map_err(|e| match e {
                    CaError::NotFound(_) => refuse(
                        FailureInfo::BAD_REQUEST,
                        "pollReq for a transaction this CA does not know",
                    ),
                    other => ca_refusal(other),
                })?;
                match decision {
                    Decision::Pending(_) => Ok((
                        PkiBody::PollRep(vec![PollRep {
                            cert_req_id: id,
                            check_after: self.settings.check_after,
                            reason: Some(vec!["held for the CA operator's approval".into()]),
                        }]),
                        false,
                    )),
                    other => Ok(self.decided(ca, msg, txn.kind, id, other)),
                }
            }
            PkiBody::CertConf(statuses) => self.cert_conf(ca, &key, statuses, now),
            PkiBody::Genm(_) => Ok((PkiBody::Genp(Vec::new()), false)),
            PkiBody::Error(e) => {
                tracing::warn!(
                    target: "ca::cmp",
                    "client reported an error in transaction {key}: {}",
                    e.pki_status_info.text()
                );
                Ok((PkiBody::Pkiconf(Null), false))
            }
            other => Err(refuse(
                FailureInfo::BAD_REQUEST,
                format!("{} messages are not served by this CA", other.name()),
            )),
        }
    }

    /// A transaction ID already used for a request is not used again.
    fn refuse_known(
        &self,
        ca: &Authority,
        tid: &[u8],
        key: &str,
        now: Duration,
    ) -> Result<(), Refusal> {
        if self.txn(tid).is_some() || ca.poll(key, now).is_ok() {
            return Err(refuse(
                FailureInfo::TRANSACTION_ID_IN_USE,
                "transactionID already used for a request",
            ));
        }
        Ok(())
    }

    fn decided(
        &self,
        ca: &Authority,
        msg: &PkiMessage,
        kind: Kind,
        id: i64,
        decision: Decision,
    ) -> (PkiBody, bool) {
        let (response, implicit) = match decision {
            Decision::Issued(cert) => {
                let implicit =
                    self.settings.grant_implicit_confirm && msg.header.implicit_confirm();
                tracing::info!(
                    target: "ca::cmp",
                    "{}: issued {}",
                    msg.body_name(),
                    pki::info::serial_hex(cert.tbs_certificate().serial_number().as_bytes())
                );
                (CertResponse::accepted(id, *cert), implicit)
            }
            Decision::Pending(n) => {
                tracing::info!(target: "ca::cmp", "{}: waiting as request {n}", msg.body_name());
                (
                    CertResponse::without_certificate(
                        id,
                        PkiStatusInfo::waiting("held for the CA operator's approval"),
                    ),
                    false,
                )
            }
            Decision::Rejected(why) => (
                CertResponse::without_certificate(
                    id,
                    PkiStatusInfo::rejection(FailureInfo::NOT_AUTHORIZED, &why),
                ),
                false,
            ),
        };
        let ca_pubs = (kind != Kind::Kur).then(|| vec![ca.hierarchy().root.cert.clone()]);
        (
            kind.reply(CertRepMessage {
                ca_pubs,
                response: vec![response],
            }),
            implicit,
        )
    }

    fn cert_conf(
        &self,
        ca: &Authority,
        key: &str,
        statuses: &CertConfirmContent,
        now: Duration,
    ) -> Result<(PkiBody, bool), Refusal> {
        let cert = match ca.poll(key, now) {
            Ok(Decision::Issued(cert)) => cert,
            Ok(_) => {
                return Err(refuse(
                    FailureInfo::BAD_REQUEST,
                    "certConf for a transaction without a certificate",
                ));
            }
            Err(_) => {
                return Err(refuse(
                    FailureInfo::BAD_REQUEST,
                    "certConf for a transaction this CA does not know",
                ));
            }
        };
        let serial = pki::info::serial_hex(cert.tbs_certificate().serial_number().as_bytes());
        let accepted = match statuses.as_slice() {
            [] => false,
            [status] => {
                if !status.matches(&cert) {
                    return Err(refuse(
                        FailureInfo::BAD_CERT_ID,
                        "certHash does not match the certificate issued",
                    ));
                }
                status.is_accepted()
            }
            _ => {
                return Err(refuse(
                    FailureInfo::BAD_REQUEST,
                    "certConf confirms more certificates than were issued",
                ));
            }
        };
        if !accepted {
            tracing::warn!(target: "ca::cmp", "the client rejected {serial}; revoking it");
            if let Err(e) = ca.revoke(&serial, Reason::CessationOfOperation, now) {
                tracing::warn!(target: "ca::cmp", "revoking {serial}: {e}");
            }
        } else {
            tracing::info!(target: "ca::cmp", "certificate {serial} confirmed");
        }
        Ok((PkiBody::Pkiconf(Null), false))
    }

    /// Protects and encodes a reply the way the request was protected.
    fn reply(
        &self,
        ca: &Authority,
        request: &PkiHeader,
        body: PkiBody,
        auth: &Auth,
        implicit: bool,
        now: Duration,
    ) -> Reply {
        let h = ca.hierarchy();
        let built = (|| {
            let mut header = PkiHeader::reply_to(
                request,
                h.issuing.cert.tbs_certificate().subject().clone(),
                now.as_secs(),
            )?;
            if implicit {
                header = header.with_implicit_confirm()?;
            }
            let chain = vec![h.issuing.cert.clone(), h.root.cert.clone()];
            let message = match auth {
                Auth::Mac(index) => {
                    let (reference, secret) = &self.settings.secrets[*index];
                    let header = header.with_sender_kid(reference.as_bytes())?;
                    protect(header, body, Protection::Mac { secret }, chain)?
                }
                Auth::Signature(_) => protect(
                    header,
                    body,
                    Protection::Signature {
                        key: &h.issuing.key,
                        hash: HashAlg::Sha256,
                    },
                    chain,
                )?,
            };
            message.to_der()
        })();
        match built {
            Ok(der) => Reply::ok(PKIXCMP, der),
            Err(e) => {
                tracing::error!(target: "ca::cmp", "building a reply: {e}");
                Reply::error(500, "CMP: cannot build the reply")
            }
        }
    }

    /// An error message signed by the issuing CA (the request's own
    /// protection could not be trusted).
    fn error_reply(
        &self,
        ca: &Authority,
        request: Option<&PkiHeader>,
        r: Refusal,
        now: Duration,
    ) -> Reply {
        tracing::warn!(
            target: "ca::cmp",
            "error {}: {}",
            r.fail.names().join(","),
            r.text
        );
        let h = ca.hierarchy();
        let issuer = h.issuing.cert.tbs_certificate().subject().clone();
        let built = (|| {
            let header = match request {
                Some(req) => PkiHeader::reply_to(req, issuer, now.as_secs())?,
                None => PkiHeader::new(issuer, x509_cert::name::Name::default(), now.as_secs())?,
            };
            protect(
                header,
                error_body(&r),
                Protection::Signature {
                    key: &h.issuing.key,
                    hash: HashAlg::Sha256,
                },
                vec![h.issuing.cert.clone(), h.root.cert.clone()],
            )?
            .to_der()
        })();
        match built {
            Ok(der) => Reply::ok(PKIXCMP, der),
            Err(e) => {
                tracing::error!(target: "ca::cmp", "building an error reply: {e}");
                Reply::error(400, format!("CMP: {}", r.text))
            }
        }
    }
}

fn error_body(r: &Refusal) -> PkiBody {
    let mut content = ErrorMsgContent::new(PkiStatusInfo::rejection(r.fail, &r.text));
    content.error_details = Some(vec![r.text.clone()]);
    PkiBody::Error(content)
}

/// What a CRMF template asks for; a KUR's missing subject and SANs come
/// from the certificate it updates.
fn application(t: &CertTemplate, updating: Option<&Certificate>) -> Result<Application, Refusal> {
    let public_key = t.public_key.clone().ok_or_else(|| {
        refuse(
            FailureInfo::BAD_CERT_TEMPLATE,
            "the template has no public key",
        )
    })?;
    let mut alt = None;
    for ext in t.extensions.iter().flatten() {
        if ext.extn_id == const_oid::db::rfc5912::ID_CE_SUBJECT_ALT_NAME {
            let san = <SubjectAltName as der::Decode>::from_der(ext.extn_value.as_bytes())
                .map_err(|e| {
                    refuse(
                        FailureInfo::BAD_CERT_TEMPLATE,
                        format!("subjectAltName: {e}"),
                    )
                })?;
            alt = Some(AltNames::from_general_names(&san.0));
        }
    }
    let subject = match (&t.subject, updating) {
        (Some(s), _) if !s.is_empty() => s.clone(),
        (_, Some(old)) => old.tbs_certificate().subject().clone(),
        (Some(s), None) => s.clone(),
        (None, None) => {
            return Err(refuse(
                FailureInfo::BAD_CERT_TEMPLATE,
                "the template has no subject",
            ));
        }
    };
    let alt = match (alt, updating) {
        (Some(a), _) => a,
        (None, Some(old)) => AltNames::from_certificate(old)
            .ok()
            .flatten()
            .unwrap_or_default(),
        (None, None) => AltNames::default(),
    };
    Ok(Application {
        subject,
        alt,
        public_key,
    })
}
