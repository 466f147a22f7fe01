//! The CA's decisions, independent of any protocol: check a PKCS#10
//! request, issue (or hold it for the operator), revoke, make CRLs.
//! Time is passed in (the simulator's clock); nothing here reads the host
//! clock or touches the network.
//!
//! Issuing policy: the subject and subjectAltName come from the request;
//! the serial is 16 random bytes, unique among the CA's certificates; key
//! usage is digitalSignature (+ keyEncipherment for RSA), extended key
//! usage serverAuth, clientAuth and ipsecIKE (RFC 4945); the CRL
//! distribution point is the CA's CRL URL; the lifetime is the configured
//! one, never past the issuing CA's own notAfter.

use std::path::{Path, PathBuf};
use std::time::Duration;

use der::asn1::{BitString, GeneralizedTime, Uint};
use der::{Decode, Encode};
use pki::altname::AltNames;
use pki::encoding;
use pki::info::{RequestInfo, serial_hex};
use pki::issue::{self, CertProfile};
use pki::key::{HashAlg, KeyAlgorithm};
use spki::SubjectPublicKeyInfoOwned;
use x509_cert::Certificate;
use x509_cert::Version;
use x509_cert::crl::{CertificateList, RevokedCert, TbsCertList};
use x509_cert::ext::ToExtension;
use x509_cert::ext::pkix::{AuthorityKeyIdentifier, CrlNumber, CrlReason, SubjectKeyIdentifier};
use x509_cert::request::CertReq;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::Time;

use crate::CaError;
use crate::hierarchy::{Hierarchy, Names};
use crate::state::{
    OneTimeChallenge, Pending, PendingState, Reason, Record, State, StateFile, Status,
};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// id-kp-ipsecIKE (RFC 4945).
pub const ID_KP_IPSEC_IKE: const_oid::ObjectIdentifier =
    const_oid::ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.17");

/// How the CA behaves.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Lifetime of issued certificates.
    pub cert_lifetime: Duration,
    /// Lifetime of CRLs (thisUpdate to nextUpdate); a new one is made when
    /// half of it has passed or after a revocation.
    pub crl_lifetime: Duration,
    /// The URL written into certificates as their CRL distribution point.
    pub crl_url: Option<String>,
    /// Hold every request for `mtsim ca approve|reject`.
    pub manual_approval: bool,
    /// Make and use a separate SCEP RA certificate.
    pub ra: bool,
    /// Subject names of the hierarchy.
    pub names: Names,
    /// Challenge passwords for SCEP enrollment.
    pub challenge: Challenge,
    /// Which subjects are certified.
    pub policy: Policy,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            cert_lifetime: Duration::from_secs(365 * 86400),
            crl_lifetime: Duration::from_secs(86400),
            crl_url: None,
            manual_approval: false,
            ra: false,
            names: Names::default(),
            challenge: Challenge::None,
            policy: Policy::default(),
        }
    }
}

/// What became of a request.
#[derive(Debug, Clone)]
pub enum Decision {
    /// Issued.
    Issued(Box<Certificate>),
    /// Held for the operator, under this id.
    Pending(u64),
    /// Refused, with the reason.
    Rejected(String),
}

/// What a client asks the CA to certify, once its protocol has checked
/// that the client holds the key (a PKCS#10 self-signature, a CRMF
/// proof of possession).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Application {
    /// The subject.
    pub subject: x509_cert::name::Name,
    /// The subjectAltName entries.
    pub alt: AltNames,
    /// The public key.
    pub public_key: SubjectPublicKeyInfoOwned,
}

/// How an [`Application`] is kept while it waits for the operator.
#[derive(der::Sequence)]
struct StoredApplication {
    subject: x509_cert::name::Name,
    public_key: SubjectPublicKeyInfoOwned,
    alt: Option<x509_cert::ext::pkix::name::GeneralNames>,
}

impl Application {
    /// From a DER PKCS#10 request, its self-signature checked over the
    /// bytes as sent.
    pub fn from_csr_der(der: &[u8]) -> Result<Self, CaError> {
        let req = pki::verify::request_der(der)
            .map_err(|e| CaError::BadRequest(format!("PKCS#10 request: {e}")))?;
        Ok(Self::from_checked_csr(&req))
    }

    /// From a decoded PKCS#10 request, its self-signature checked.
    pub fn from_csr(req: &CertReq) -> Result<Self, CaError> {
        pki::verify::request(req)
            .map_err(|e| CaError::BadRequest(format!("request signature: {e}")))?;
        Ok(Self::from_checked_csr(req))
    }

    fn from_checked_csr(req: &CertReq) -> Self {
        Application {
            subject: req.info.subject.clone(),
            alt: RequestInfo::of(req).alt.unwrap_or_default(),
            public_key: req.info.public_key.clone(),
        }
    }

    fn to_stored(&self) -> Result<String, CaError> {
        let general = self
            .alt
            .to_general_names()
            .map_err(|e| CaError::BadRequest(e.to_string()))?;
        let stored = StoredApplication {
            subject: self.subject.clone(),
            public_key: self.public_key.clone(),
            alt: (!general.is_empty()).then_some(general),
        };
        stored
            .to_der()
            .map(hex::encode)
            .map_err(|e| CaError::Internal(e.to_string()))
    }

    fn from_stored(text: &str) -> Result<Self, CaError> {
        let der =
            hex::decode(text).map_err(|e| CaError::Corrupt(format!("pending request: {e}")))?;
        let s = StoredApplication::from_der(&der)
            .map_err(|e| CaError::Corrupt(format!("pending request: {e}")))?;
        Ok(Application {
            subject: s.subject,
            alt: s
                .alt
                .map(|g| AltNames::from_general_names(&g))
                .unwrap_or_default(),
            public_key: s.public_key,
        })
    }
}

/// How a request earned its way in.
#[derive(Debug, Clone)]
pub enum Admission<'a> {
    /// An enrollment with the challenge password it carries (if any),
    /// checked against [`Settings::challenge`].
    Challenge(Option<&'a str>),
    /// A renewal signed with a certificate this CA issued: the new
    /// certificate keeps its subject and subjectAltName.
    Renewal(&'a Certificate),
    /// A request signed with a certificate this CA issued (CMP IR/CR under
    /// signature protection): any subject the policy allows.
    Holder(&'a Certificate),
    /// Authenticated by the protocol (a CMP shared secret or signature).
    Authenticated,
}

/// Challenge passwords for enrollment.
#[derive(Clone, Default)]
pub enum Challenge {
    /// None asked for.
    #[default]
    None,
    /// One password, usable any number of times.
    Reusable(zeroize::Zeroizing<String>),
    /// One-time passwords made by `mtsim ca challenge`.
    OneTime,
}

impl std::fmt::Debug for Challenge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Challenge::None => "None",
            Challenge::Reusable(_) => "Reusable(..)",
            Challenge::OneTime => "OneTime",
        })
    }
}

/// What subjects the CA certifies.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// Attribute=value pairs every subject must contain (e.g. `O=Example`).
    pub required: Vec<x509_cert::attr::AttributeTypeAndValue>,
    /// DNS names must be one of these domains or under them (empty: any).
    pub domains: Vec<String>,
}

impl Policy {
    /// Adds required attributes from a subject string such as `O=Example`.
    pub fn require(&mut self, subject: &str) -> Result<(), CaError> {
        let name = pki::name::parse_subject(subject, "")
            .map_err(|e| CaError::Config(format!("subject policy '{subject}': {e}")))?;
        self.required.extend(name.iter().cloned());
        Ok(())
    }

    /// Refuses a request outside the policy, naming what is wrong.
    pub fn check(&self, app: &Application) -> Result<(), CaError> {
        for need in &self.required {
            let present = app.subject.iter().any(|atav| {
                atav.oid == need.oid
                    && pki::name::value_text(&atav.value) == pki::name::value_text(&need.value)
            });
            if !present {
                let want = need.to_string();
                return Err(CaError::BadRequest(format!(
                    "the CA only certifies subjects with {want}"
                )));
            }
        }
        if !self.domains.is_empty() {
            for dns in &app.alt.dns {
                let dns = dns.to_ascii_lowercase();
                let ok = self.domains.iter().any(|d| {
                    let d = d.to_ascii_lowercase();
                    dns == d || dns.ends_with(&format!(".{d}"))
                });
                if !ok {
                    return Err(CaError::BadRequest(format!(
                        "the CA does not certify the DNS name {dns}"
                    )));
                }
            }
        }
        Ok(())
    }
}

enum Outcome {
    Issued(Box<Certificate>),
    Seen(String),
    Held,
    Waiting(u64),
    Rejected,
}

/// The certificate authority in its directory.
#[derive(Debug)]
pub struct Authority {
    dir: PathBuf,
    hierarchy: Hierarchy,
    settings: Settings,
    state: StateFile,
}

fn key_algorithm(spki: &SubjectPublicKeyInfoOwned) -> Result<KeyAlgorithm, CaError> {
    match pki::info::KeyDescription::of(spki).algorithm.as_str() {
        "rsaEncryption" => Ok(KeyAlgorithm::Rsa),
        "ecdsaEncryption" => Ok(KeyAlgorithm::Ecdsa),
        "dsaEncryption" => Ok(KeyAlgorithm::Dsa),
        other => Err(CaError::BadRequest(format!(
            "the CA does not certify {other} keys"
        ))),
    }
}

fn secs(d: Duration) -> u64 {
    d.as_secs()
}

fn time(d: Duration) -> Result<Time, CaError> {
    GeneralizedTime::from_unix_duration(Duration::from_secs(d.as_secs()))
        .map(Time::GeneralTime)
        .map_err(|e| CaError::Internal(e.to_string()))
}

impl Authority {
    /// Opens the CA in `dir`, making the directory and the hierarchy on
    /// first start.
    pub fn open(dir: &Path, settings: Settings, now: Duration) -> Result<Self, CaError> {
        std::fs::create_dir_all(dir.join("issued")).map_err(|e| CaError::io(dir, e))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .map_err(|e| CaError::io(dir, e))?;
        }
        let hierarchy = Hierarchy::load_or_create(dir, &settings.names, settings.ra, now)?;
        Ok(Authority {
            dir: dir.to_path_buf(),
            state: StateFile::new(dir),
            hierarchy,
            settings,
        })
    }

    /// Opens a CA that already exists in `dir` (for `mtsim ca list`,
    /// `approve`, `reject`, `revoke`); a directory without one is an error,
    /// never a new CA.
    pub fn open_existing(dir: &Path, now: Duration) -> Result<Self, CaError> {
        if !dir.join("root.cert").exists() {
            return Err(CaError::NotFound(format!("no CA in {}", dir.display())));
        }
        Self::open(dir, Settings::default(), now)
    }

    /// `mtsim ca list`: issued certificates, then pending requests.
    pub fn listing(&self) -> Result<String, CaError> {
        let st = self.state.read()?;
        let mut out = String::from("Issued certificates:\n");
        out.push_str(&format!(
            "  {:<34} {:<10} {:<12} {}\n",
            "Serial", "Status", "Not after", "Subject"
        ));
        for r in st.issued.values() {
            let status = match &r.status {
                Status::Valid => "valid".to_string(),
                Status::Revoked { reason, .. } => format!("revoked ({})", reason.keyword()),
            };
            out.push_str(&format!(
                "  {:<34} {:<10} {:<12} {}\n",
                r.serial, status, r.not_after, r.subject
            ));
        }
        out.push_str("Pending requests:\n");
        for p in st.pending.values() {
            let state = match &p.state {
                PendingState::Waiting => "waiting".to_string(),
                PendingState::Approved => "approved".to_string(),
                PendingState::Issued { serial } => format!("issued {serial}"),
                PendingState::Rejected => "rejected".to_string(),
            };
            out.push_str(&format!("  {:<6} {:<20} {}\n", p.id, state, p.subject));
        }
        Ok(out)
    }

    /// The CA's certificates and keys.
    pub fn hierarchy(&self) -> &Hierarchy {
        &self.hierarchy
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The current state (issued certificates, pending requests).
    pub fn state(&self) -> Result<State, CaError> {
        self.state.read()
    }

    /// Checks an application: a subject or SAN to certify, a key the CA
    /// certifies, and the CA's subject policy.
    pub fn check(&self, app: &Application) -> Result<(), CaError> {
        key_algorithm(&app.public_key)?;
        if app.subject.is_empty() && app.alt.is_empty() {
            return Err(CaError::BadRequest(
                "the request has neither a subject nor a subjectAltName".into(),
            ));
        }
        self.settings.policy.check(app)
    }

    /// Handles a new request under `transaction`, admitted by `admission`:
    /// issues it, or holds it for the operator. A transaction already seen
    /// is answered with its outcome (a retransmission never issues twice);
    /// a transaction id reused for another key is refused. Admission,
    /// issuing and recording happen under one lock: a one-time challenge is
    /// used up only by the request that gets through.
    pub fn request(
        &self,
        app: &Application,
        transaction: &str,
        admission: Admission<'_>,
        now: Duration,
    ) -> Result<Decision, CaError> {
        self.check(app)?;
        match &admission {
            Admission::Renewal(old) => self.check_renewal(app, old, now)?,
            Admission::Holder(cert) => self.check_ours(cert, now)?,
            _ => {}
        }
        let stored = app.to_stored()?;
        let subject = pki::name::subject_string(&app.subject);
        let outcome = self.state.update(|st| {
            if let Some(serial) = st.transactions.get(transaction) {
                return Ok(Outcome::Seen(serial.clone()));
            }
            if let Some(p) = st.pending.values().find(|p| p.transaction == transaction) {
                if p.request != stored {
                    return Err(CaError::TransactionInUse(transaction.to_string()));
                }
                return Ok(Outcome::Held);
            }
            self.admit(st, &admission, transaction, now)?;
            if self.settings.manual_approval {
                st.next_pending += 1;
                let id = st.next_pending;
                st.pending.insert(
                    id,
                    Pending {
                        id,
                        transaction: transaction.to_string(),
                        subject: subject.clone(),
                        request: stored.clone(),
                        received: secs(now),
                        state: PendingState::Waiting,
                    },
                );
                tracing::info!(target: "ca", "request {id} (transaction {transaction}) held for approval");
                return Ok(Outcome::Held);
            }
            let cert = self.issue_locked(st, app, now)?;
            st.transactions.insert(
                transaction.to_string(),
                serial_hex(cert.tbs_certificate().serial_number().as_bytes()),
            );
            Ok(Outcome::Issued(Box::new(cert)))
        })?;
        match outcome {
            Outcome::Issued(cert) => Ok(Decision::Issued(cert)),
            Outcome::Held | Outcome::Waiting(_) | Outcome::Rejected => self.poll(transaction, now),
            Outcome::Seen(serial) => {
                let cert = self.certificate(&serial)?;
                if cert.tbs_certificate().subject_public_key_info() != &app.public_key {
                    return Err(CaError::TransactionInUse(transaction.to_string()));
                }
                Ok(Decision::Issued(Box::new(cert)))
            }
        }
    }

    /// Whether `admission` lets a request in (called under the state lock).
    fn admit(
        &self,
        st: &mut State,
        admission: &Admission<'_>,
        transaction: &str,
        now: Duration,
    ) -> Result<(), CaError> {
        match admission {
            Admission::Authenticated => Ok(()),
            Admission::Renewal(old) | Admission::Holder(old) => {
                let serial = serial_hex(old.tbs_certificate().serial_number().as_bytes());
                match st.issued.get(&serial).map(|r| &r.status) {
                    Some(Status::Valid) => Ok(()),
                    Some(Status::Revoked { .. }) => Err(CaError::BadRequest(format!(
                        "signed with certificate {serial}, which is revoked"
                    ))),
                    None => Err(CaError::BadRequest(format!(
                        "signed with certificate {serial}, which this CA did not issue"
                    ))),
                }
            }
            Admission::Challenge(presented) => match &self.settings.challenge {
                Challenge::None => Ok(()),
                Challenge::Reusable(expected) => match presented {
                    Some(p) if bool::from(p.as_bytes().ct_eq(expected.as_bytes())) => Ok(()),
                    Some(_) => Err(CaError::BadRequest("wrong challenge password".into())),
                    None => Err(CaError::BadRequest("no challenge password".into())),
                },
                Challenge::OneTime => {
                    let Some(p) = presented else {
                        return Err(CaError::BadRequest("no challenge password".into()));
                    };
                    let digest = hex::encode(Sha256::digest(p.as_bytes()));
                    let found = st
                        .challenges
                        .iter_mut()
                        .find(|(k, _)| bool::from(k.as_bytes().ct_eq(digest.as_bytes())));
                    match found {
                        Some((_, c)) if c.used_by.is_none() => {
                            c.used_by = Some(transaction.to_string());
                            tracing::info!(target: "ca", "one-time challenge used by transaction {transaction} at {}", now.as_secs());
                            Ok(())
                        }
                        Some(_) => Err(CaError::BadRequest(
                            "challenge password already used".into(),
                        )),
                        None => Err(CaError::BadRequest("wrong challenge password".into())),
                    }
                }
            },
        }
    }

    /// A renewal: `old` must be a certificate of this CA, valid now, and the
    /// request must keep its subject and subjectAltName.
    fn check_renewal(
        &self,
        app: &Application,
        old: &Certificate,
        now: Duration,
    ) -> Result<(), CaError> {
        self.check_ours(old, now)?;
        if old.tbs_certificate().subject() != &app.subject {
            return Err(CaError::BadRequest(format!(
                "a renewal keeps the subject: the request asks for '{}', the certificate has '{}'",
                pki::name::subject_string(&app.subject),
                pki::name::subject_string(old.tbs_certificate().subject())
            )));
        }
        let old_alt = pki::altname::AltNames::from_certificate(old)
            .ok()
            .flatten()
            .unwrap_or_default();
        let new_alt = &app.alt;
        if old_alt.dns != new_alt.dns || old_alt.email != new_alt.email || old_alt.ip != new_alt.ip
        {
            return Err(CaError::BadRequest(
                "a renewal keeps the subjectAltName of the certificate it renews".into(),
            ));
        }
        Ok(())
    }

    /// `cert` must be a certificate of this CA, valid now (revocation is
    /// checked under the state lock).
    fn check_ours(&self, cert: &Certificate, now: Duration) -> Result<(), CaError> {
        let issuing = &self.hierarchy.issuing.cert;
        pki::verify::certificate(cert, issuing.tbs_certificate().subject_public_key_info())
            .map_err(|_| {
                CaError::BadRequest(
                    "the request is signed with a certificate this CA did not issue".into(),
                )
            })?;
        let v = cert.tbs_certificate().validity();
        if now < v.not_before.to_unix_duration() || now > v.not_after.to_unix_duration() {
            return Err(CaError::BadRequest(
                "the certificate signing the request is not valid now".into(),
            ));
        }
        Ok(())
    }

    /// `mtsim ca challenge`: a new one-time challenge password (shown once;
    /// only its hash is kept).
    pub fn new_challenge(&self, now: Duration) -> Result<String, CaError> {
        let mut bytes = [0u8; 12];
        getrandom::fill(&mut bytes).map_err(|e| CaError::Internal(e.to_string()))?;
        let password = hex::encode_upper(bytes);
        let digest = hex::encode(Sha256::digest(password.as_bytes()));
        self.state.update(|st| {
            st.challenges.insert(
                digest,
                OneTimeChallenge {
                    created: secs(now),
                    used_by: None,
                },
            );
            Ok(())
        })?;
        Ok(password)
    }

    /// The outcome of a held request (SCEP CertPoll, CMP pollReq); an
    /// approved request is issued here, once.
    pub fn poll(&self, transaction: &str, now: Duration) -> Result<Decision, CaError> {
        let outcome = self.state.update(|st| {
            let p = st
                .pending
                .values()
                .find(|p| p.transaction == transaction)
                .cloned();
            let Some(p) = p else {
                return match st.transactions.get(transaction) {
                    Some(serial) => Ok(Outcome::Seen(serial.clone())),
                    None => Err(CaError::NotFound(format!(
                        "no request with transaction {transaction}"
                    ))),
                };
            };
            match &p.state {
                PendingState::Waiting => Ok(Outcome::Waiting(p.id)),
                PendingState::Rejected => Ok(Outcome::Rejected),
                PendingState::Issued { serial } => Ok(Outcome::Seen(serial.clone())),
                PendingState::Approved => {
                    let app = Application::from_stored(&p.request)?;
                    let cert = self.issue_locked(st, &app, now)?;
                    let serial = serial_hex(cert.tbs_certificate().serial_number().as_bytes());
                    if let Some(p) = st.pending.get_mut(&p.id) {
                        p.state = PendingState::Issued { serial };
                    }
                    Ok(Outcome::Issued(Box::new(cert)))
                }
            }
        })?;
        match outcome {
            Outcome::Issued(cert) => Ok(Decision::Issued(cert)),
            Outcome::Seen(serial) => self
                .certificate(&serial)
                .map(|c| Decision::Issued(Box::new(c))),
            Outcome::Waiting(id) => Ok(Decision::Pending(id)),
            Outcome::Rejected => Ok(Decision::Rejected("rejected by the CA operator".into())),
            Outcome::Held => Err(CaError::Internal("poll found a held request".into())),
        }
    }

    /// `mtsim ca approve ID`.
    pub fn approve(&self, id: u64) -> Result<(), CaError> {
        self.decide(id, PendingState::Approved)
    }

    /// `mtsim ca reject ID`.
    pub fn reject(&self, id: u64) -> Result<(), CaError> {
        self.decide(id, PendingState::Rejected)
    }

    fn decide(&self, id: u64, to: PendingState) -> Result<(), CaError> {
        self.state.update(|st| {
            let p = st
                .pending
                .get_mut(&id)
                .ok_or_else(|| CaError::NotFound(format!("no pending request {id}")))?;
            if p.state != PendingState::Waiting {
                return Err(CaError::BadRequest(format!(
                    "request {id} is no longer waiting ({:?})",
                    p.state
                )));
            }
            p.state = to;
            Ok(())
        })
    }

    /// An issued certificate by serial (lowercase hex).
    pub fn certificate(&self, serial: &str) -> Result<Certificate, CaError> {
        if serial.is_empty() || !serial.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(CaError::NotFound(format!(
                "no certificate with serial '{serial}'"
            )));
        }
        let path = self.dir.join("issued").join(format!("{serial}.pem"));
        let bytes = std::fs::read(&path).map_err(|e| CaError::io(&path, e))?;
        encoding::certificate(&bytes)
            .map_err(|e| CaError::Corrupt(format!("{}: {e}", path.display())))
    }

    /// Issues a certificate for `app` now (no admission, no approval step).
    pub fn issue(&self, app: &Application, now: Duration) -> Result<Certificate, CaError> {
        self.check(app)?;
        self.state.update(|st| self.issue_locked(st, app, now))
    }

    /// Issues under the state lock: picks an unused serial, writes the
    /// certificate file, then records it.
    fn issue_locked(
        &self,
        st: &mut State,
        app: &Application,
        now: Duration,
    ) -> Result<Certificate, CaError> {
        let issuing = &self.hierarchy.issuing;
        let mut profile = CertProfile::end_entity(
            app.subject.clone(),
            app.alt.clone(),
            key_algorithm(&app.public_key)?,
        );
        profile.alt.other.clear();
        profile.issuer = Some(issuing.cert.tbs_certificate().subject().clone());
        profile.extended_key_usage = vec![
            const_oid::db::rfc5912::ID_KP_SERVER_AUTH,
            const_oid::db::rfc5912::ID_KP_CLIENT_AUTH,
            ID_KP_IPSEC_IKE,
        ];
        profile.crl_urls = self.settings.crl_url.iter().cloned().collect();
        let ca_end = issuing
            .cert
            .tbs_certificate()
            .validity()
            .not_after
            .to_unix_duration();
        let not_after = (now + self.settings.cert_lifetime).min(ca_end);
        let validity = issue::validity(now, not_after)?;
        let mut serial = issue::random_serial();
        while st.issued.contains_key(&serial_hex(serial.as_bytes())) {
            serial = issue::random_serial();
        }
        let cert = issue::issue(
            profile,
            serial,
            validity,
            app.public_key.clone(),
            &issuing.key,
            HashAlg::Sha256,
        )?;
        let serial = serial_hex(cert.tbs_certificate().serial_number().as_bytes());
        let der = cert
            .to_der()
            .map_err(|e| CaError::Internal(e.to_string()))?;
        // The certificate file first, then the record that points at it.
        pki::store::write_atomic(
            &self.dir.join("issued").join(format!("{serial}.pem")),
            encoding::pem("CERTIFICATE", &der).as_bytes(),
        )?;
        st.issued.insert(
            serial.clone(),
            Record {
                serial: serial.clone(),
                subject: pki::name::subject_string(cert.tbs_certificate().subject()),
                not_before: secs(now),
                not_after: secs(not_after),
                status: Status::Valid,
            },
        );
        tracing::info!(
            target: "ca",
            "issued {serial} to {}",
            pki::name::subject_string(cert.tbs_certificate().subject())
        );
        Ok(cert)
    }

    /// `mtsim ca revoke SERIAL [--reason R]`: marks the certificate revoked
    /// and makes the CRL stale (the next [`Authority::crl`] makes a new one).
    pub fn revoke(&self, serial: &str, reason: Reason, now: Duration) -> Result<(), CaError> {
        let serial = serial.trim_start_matches("0x").to_ascii_lowercase();
        let serial = serial_hex(
            &hex::decode(if serial.len() % 2 == 1 {
                format!("0{serial}")
            } else {
                serial.clone()
            })
            .map_err(|_| CaError::BadRequest(format!("'{serial}' is not a hex serial number")))?,
        );
        self.state.update(|st| {
            let r = st
                .issued
                .get_mut(&serial)
                .ok_or_else(|| CaError::NotFound(format!("no certificate with serial {serial}")))?;
            if let Status::Revoked { .. } = r.status {
                return Err(CaError::BadRequest(format!(
                    "certificate {serial} is already revoked"
                )));
            }
            r.status = Status::Revoked {
                at: secs(now),
                reason,
            };
            st.crl_stale = true;
            Ok(())
        })?;
        tracing::info!(target: "ca", "revoked {serial} ({})", reason.keyword());
        Ok(())
    }

    /// The current CRL as DER, made again after a revocation, when half of
    /// its lifetime has passed, or when there is none.
    pub fn crl(&self, now: Duration) -> Result<Vec<u8>, CaError> {
        let path = self.dir.join("crl.der");
        self.state.update(|st| {
            if !st.crl_stale
                && let Ok(der) = std::fs::read(&path)
                && let Ok(crl) = CertificateList::<x509_cert::certificate::Rfc5280>::from_der(&der)
            {
                let this = crl.tbs_cert_list.this_update.to_unix_duration();
                if now >= this && now < this + self.settings.crl_lifetime / 2 {
                    return Ok(der);
                }
            }
            let der = self.make_crl(st, now)?;
            pki::store::write_atomic(&path, &der)?;
            st.crl_number += 1;
            st.crl_stale = false;
            Ok(der)
        })
    }

    fn make_crl(&self, st: &State, now: Duration) -> Result<Vec<u8>, CaError> {
        let issuing = &self.hierarchy.issuing;
        let number = CrlNumber(
            Uint::new(&(st.crl_number + 1).to_be_bytes())
                .map_err(|e| CaError::Internal(e.to_string()))?,
        );
        let issuer_name = issuing.cert.tbs_certificate().subject().clone();
        let mut revoked: Vec<RevokedCert> = Vec::new();
        for r in st.issued.values() {
            if let Status::Revoked { at, reason } = r.status {
                let bytes = hex::decode(&r.serial).map_err(|e| CaError::Corrupt(e.to_string()))?;
                let code = match reason {
                    Reason::Unspecified => CrlReason::Unspecified,
                    Reason::KeyCompromise => CrlReason::KeyCompromise,
                    Reason::CaCompromise => CrlReason::CaCompromise,
                    Reason::AffiliationChanged => CrlReason::AffiliationChanged,
                    Reason::Superseded => CrlReason::Superseded,
                    Reason::CessationOfOperation => CrlReason::CessationOfOperation,
                    Reason::CertificateHold => CrlReason::CertificateHold,
                };
                let ext = (&code)
                    .to_extension(&issuer_name, &[])
                    .map_err(|e| CaError::Internal(e.to_string()))?;
                revoked.push(RevokedCert {
                    serial_number: SerialNumber::new(&bytes)
                        .map_err(|e| CaError::Corrupt(e.to_string()))?,
                    revocation_date: time(Duration::from_secs(at))?,
                    crl_entry_extensions: Some(vec![ext]),
                });
            }
        }
        // Built by hand rather than with x509-cert's CrlBuilder: its
        // authorityKeyIdentifier is copied from the issuer certificate's own
        // AKI, which for an intermediate names the root's key, and OpenSSL
        // then cannot match the CRL to its issuer. Ours is the issuing
        // CA's subjectKeyIdentifier, as RFC 5280 5.2.1 wants.
        let ski = issuing
            .cert
            .tbs_certificate()
            .get_extension::<SubjectKeyIdentifier>()
            .map_err(|e| CaError::Internal(e.to_string()))?
            .map(|(_, ski)| ski)
            .ok_or_else(|| CaError::Corrupt("the issuing CA has no subjectKeyIdentifier".into()))?;
        let aki = AuthorityKeyIdentifier {
            key_identifier: Some(ski.0),
            authority_cert_issuer: None,
            authority_cert_serial_number: None,
        };
        let internal = |e: der::Error| CaError::Internal(e.to_string());
        let extensions = vec![
            (&aki).to_extension(&issuer_name, &[]).map_err(internal)?,
            (&number)
                .to_extension(&issuer_name, &[])
                .map_err(internal)?,
        ];
        let algorithm = issuing
            .key
            .signature_algorithm(HashAlg::Sha256)
            .map_err(|e| CaError::Internal(e.to_string()))?;
        let tbs = TbsCertList {
            version: Version::V2,
            signature: algorithm.clone(),
            issuer: issuer_name,
            this_update: time(now)?,
            next_update: Some(time(now + self.settings.crl_lifetime)?),
            revoked_certificates: (!revoked.is_empty()).then_some(revoked),
            crl_extensions: Some(extensions),
        };
        let tbs_der = tbs.to_der().map_err(internal)?;
        let signature = issuing
            .key
            .sign(HashAlg::Sha256, &tbs_der)
            .map_err(|e| CaError::Internal(e.to_string()))?;
        let crl = CertificateList {
            tbs_cert_list: tbs,
            signature_algorithm: algorithm,
            signature: BitString::from_bytes(&signature).map_err(internal)?,
        };
        crl.to_der().map_err(|e| CaError::Internal(e.to_string()))
    }
}
