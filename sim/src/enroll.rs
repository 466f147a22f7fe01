//! pkid's SCEP enrollments: the work a `request security pki
//! local-certificate enroll scep` leaves running after the command has
//! returned. Each enrollment is a record in the certificate store
//! (`enrollment/<certificate-id>.json`, mode 0600), so it survives a
//! restart; [`run_due`] moves every record whose time has come on the
//! simulated clock one step: send the request, poll, store the
//! certificate, or give up. The router daemon calls it from its `pkid`
//! thread; tests call it directly after moving the clock.
//!
//! The message work (choosing algorithms, building and reading
//! pkiMessages) is `pki::scep::client`; this module holds the timers and
//! the HTTP (see [`crate::pki_http`]). Progress goes to the PKI log
//! (`pkid`); the challenge password never does.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use base64::Engine;
use pki::altname::AltNames;
use pki::key::HashAlg;
use pki::scep::client::{self, Answer, CaChain, Choice, Transaction};
use pki::scep::{Capabilities, Capability, ContentCipher};

use crate::pki_http::{self, HttpReply};
use crate::router::Shared;

/// Where an enrollment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    /// The request is still to be sent (or the CA did not answer yet).
    Sending,
    /// The CA holds the request; polling with CertPoll.
    Pending,
    /// Given up; the reason is in `last_error`.
    Failed,
}

/// The enrollment protocol.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// SCEP (RFC 8894).
    #[default]
    Scep,
    /// CMPv2 (RFC 4210/9480).
    Cmpv2,
}

impl Protocol {
    /// How logs and `show` name it.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Scep => "SCEP",
            Protocol::Cmpv2 => "CMPv2",
        }
    }
}

/// What a CMPv2 enrollment adds to a record.
#[derive(Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct CmpPart {
    /// `ca-dn`: the CA's subject, the recipient of our messages.
    pub ca_dn: String,
    /// `ca-reference`: the reference number of the shared secret.
    #[serde(default)]
    pub reference: Option<String>,
    /// `ca-secret`, kept until the transaction is over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// The transaction, once the request is sent.
    #[serde(default)]
    pub transaction: Option<pki::cmp::client::Transaction>,
}

/// One enrollment, as stored.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct Record {
    /// The key pair and the certificate-to-be.
    pub cert_id: String,
    /// The CA profile.
    pub profile: String,
    /// The enrollment URL (from the profile when the enrollment started).
    pub url: String,
    /// The subject string.
    pub subject: String,
    /// subjectAltName: DNS names.
    #[serde(default)]
    pub dns: Vec<String>,
    /// subjectAltName: e-mail addresses.
    #[serde(default)]
    pub email: Vec<String>,
    /// subjectAltName: addresses.
    #[serde(default)]
    pub ip: Vec<String>,
    /// The challenge password, kept only until the request is sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub challenge: Option<String>,
    /// `scep-encryption-algorithm`, if given.
    #[serde(default)]
    pub cipher: Option<String>,
    /// `scep-digest-algorithm`, if given.
    #[serde(default)]
    pub digest: Option<String>,
    /// A renewal of the current certificate (RenewalReq, or a PKCSReq
    /// signed with it when the CA does not offer Renewal).
    #[serde(default)]
    pub renewal: bool,
    /// Where it stands.
    pub stage: Stage,
    /// Failed attempts to reach the CA.
    #[serde(default)]
    pub attempts: u32,
    /// CertPolls sent.
    #[serde(default)]
    pub polls: u32,
    /// When the next step is due (seconds since the epoch, simulated).
    pub next_at: u64,
    /// When the enrollment started.
    pub started: u64,
    /// The transaction, once the request is sent.
    #[serde(default)]
    pub transaction: Option<Transaction>,
    /// The last problem.
    #[serde(default)]
    pub last_error: Option<String>,
    /// A new key pair for a renewal that changes the key
    /// (`re-generate-keypair`), PKCS#8 PEM; it replaces the key pair only
    /// together with the new certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_key: Option<String>,
    /// Started by automatic re-enrollment.
    #[serde(default)]
    pub automatic: bool,
    /// Also write the certificate to this file (the ES PIC form of
    /// `request security certificate enroll`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub export: Option<Export>,
    /// SCEP or CMPv2.
    #[serde(default)]
    pub protocol: Protocol,
    /// CMPv2 specifics.
    #[serde(default)]
    pub cmp: Option<CmpPart>,
}

impl std::fmt::Debug for Record {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Record")
            .field("cert_id", &self.cert_id)
            .field("profile", &self.profile)
            .field("stage", &self.stage)
            .field("polls", &self.polls)
            .field("attempts", &self.attempts)
            .field("next_at", &self.next_at)
            .finish_non_exhaustive()
    }
}

/// A file the enrolled certificate is also written to.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Export {
    /// The file: `/var/etc/ikecert/NAME` (see `file`), or a host path.
    pub path: String,
    /// PEM (else DER).
    pub pem: bool,
    /// The ES PIC file in the simulated `/var/etc/ikecert`, written
    /// through the store (a record without it writes `path` as it is).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
}

impl Export {
    /// Where the certificate goes.
    fn target(&self) -> crate::ikecert::Target {
        match &self.file {
            Some(n) => crate::ikecert::Target::Ikecert(n.clone()),
            None => crate::ikecert::Target::Outside(self.path.clone().into()),
        }
    }

    fn write(
        &self,
        store: &pki::store::Store,
        cert: &x509_cert::Certificate,
    ) -> Result<(), String> {
        let der = pki::manager::certificate_der(cert);
        let bytes = if self.pem {
            pki::encoding::pem("CERTIFICATE", &der).into_bytes()
        } else {
            der
        };
        crate::ikecert::write(store, &self.target(), &bytes)
    }
}

/// What a new enrollment is asked for.
pub struct Request<'a> {
    /// The key pair and the certificate-to-be.
    pub cert_id: &'a str,
    /// The CA profile.
    pub profile: &'a str,
    /// Its enrollment URL.
    pub url: &'a str,
    /// The subject string.
    pub subject: &'a str,
    /// subjectAltName.
    pub alt: &'a AltNames,
    /// The challenge password.
    pub challenge: Option<&'a str>,
    /// `scep-encryption-algorithm`.
    pub cipher: Option<&'a str>,
    /// `scep-digest-algorithm`.
    pub digest: Option<&'a str>,
    /// A renewal of the current certificate.
    pub renewal: bool,
}

impl Record {
    /// A new enrollment, due at `now`.
    pub fn new(req: &Request<'_>, now: u64) -> Self {
        Record {
            cert_id: req.cert_id.to_string(),
            profile: req.profile.to_string(),
            url: req.url.to_string(),
            subject: req.subject.to_string(),
            dns: req.alt.dns.clone(),
            email: req.alt.email.clone(),
            ip: req.alt.ip.iter().map(|a| a.to_string()).collect(),
            challenge: req.challenge.map(str::to_string),
            cipher: req.cipher.map(str::to_string),
            digest: req.digest.map(str::to_string),
            renewal: req.renewal,
            stage: Stage::Sending,
            attempts: 0,
            polls: 0,
            next_at: now,
            started: now,
            transaction: None,
            last_error: None,
            new_key: None,
            automatic: false,
            export: None,
            protocol: Protocol::Scep,
            cmp: None,
        }
    }

    /// The subjectAltName.
    pub fn alt(&self) -> AltNames {
        AltNames {
            dns: self.dns.clone(),
            email: self.email.clone(),
            ip: self.ip.iter().filter_map(|a| a.parse().ok()).collect(),
            other: Vec::new(),
        }
    }

    /// Reads a stored record.
    pub fn from_json(bytes: &[u8]) -> Result<Self, String> {
        serde_json::from_slice(bytes).map_err(|e| format!("enrollment record: {e}"))
    }

    fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).unwrap_or_default()
    }
}

/// The forced cipher of `scep-encryption-algorithm`.
pub fn cipher_keyword(s: &str) -> Option<ContentCipher> {
    match s {
        "des" => Some(ContentCipher::Des),
        "des3" => Some(ContentCipher::TripleDes),
        "aes128" => Some(ContentCipher::Aes128),
        "aes256" => Some(ContentCipher::Aes256),
        _ => None,
    }
}

/// The forced digest of `scep-digest-algorithm`.
pub fn digest_keyword(s: &str) -> Option<HashAlg> {
    match s {
        "sha1" => Some(HashAlg::Sha1),
        "sha256" => Some(HashAlg::Sha256),
        "sha384" => Some(HashAlg::Sha384),
        "sha512" => Some(HashAlg::Sha512),
        _ => None,
    }
}

/// GetCACaps from `url` (a CA that does not answer it offers nothing).
pub fn get_caps(url: &str) -> Result<Capabilities, String> {
    let r = pki_http::call(
        "GET",
        &pki_http::with_query(url, &[("operation", "GetCACaps")]),
        None,
        Vec::new(),
    )?;
    if r.status == 200 {
        Ok(Capabilities::parse(&String::from_utf8_lossy(&r.body)))
    } else {
        Ok(Capabilities::parse(""))
    }
}

/// GetCACert from `url` for CA identity `ident`.
pub fn get_ca_cert(url: &str, ident: &str) -> Result<CaChain, String> {
    let r = pki_http::call(
        "GET",
        &pki_http::with_query(url, &[("operation", "GetCACert"), ("message", ident)]),
        None,
        Vec::new(),
    )?;
    if r.status != 200 {
        return Err(format!("GetCACert: HTTP {} from {url}", r.status));
    }
    CaChain::from_reply(&r.content_type, &r.body).map_err(|e| format!("GetCACert: {e}"))
}

fn pki_operation(url: &str, message: Vec<u8>, post: bool) -> Result<Vec<u8>, String> {
    let r: HttpReply = if post {
        pki_http::call(
            "POST",
            &pki_http::with_query(url, &[("operation", "PKIOperation")]),
            Some("application/x-pki-message"),
            message,
        )?
    } else {
        let b64 = base64::engine::general_purpose::STANDARD.encode(&message);
        pki_http::call(
            "GET",
            &pki_http::with_query(url, &[("operation", "PKIOperation"), ("message", &b64)]),
            None,
            Vec::new(),
        )?
    };
    if r.status != 200 {
        return Err(format!(
            "PKIOperation: HTTP {} from {url}: {}",
            r.status,
            String::from_utf8_lossy(&r.body).trim()
        ));
    }
    Ok(r.body)
}

/// The algorithms for `record` given what the CA offers.
pub fn choice_for(
    caps: &Capabilities,
    cipher: Option<&str>,
    digest: Option<&str>,
) -> Result<(Choice, Option<String>), String> {
    let forced_cipher = match cipher {
        Some(c) => Some(cipher_keyword(c).ok_or_else(|| format!("unknown cipher {c}"))?),
        None => None,
    };
    let forced_digest = match digest {
        Some(d) => Some(digest_keyword(d).ok_or_else(|| format!("unknown digest {d}"))?),
        None => None,
    };
    client::choose(caps, forced_cipher, forced_digest).map_err(|e| e.to_string())
}

/// Checks the forced algorithms of a new enrollment against what the CA
/// offers, before anything is sent: an error names what it offers; a CA
/// that does not answer now is tried again in the background. Returns a
/// warning to show (single DES).
pub fn precheck(req: &Request<'_>) -> Result<Option<String>, String> {
    if req.digest == Some("md5") {
        return Err(
            "scep-digest-algorithm md5 is not supported (MD5 is broken); use sha1 or sha256".into(),
        );
    }
    match get_caps(req.url) {
        Ok(caps) => choice_for(&caps, req.cipher, req.digest).map(|(_, warning)| warning),
        Err(e) => {
            tracing::warn!(target: "pki", "SCEP enrollment of {}: GetCACaps: {e}; will retry", req.cert_id);
            Ok(None)
        }
    }
}

/// Storing the certificate failed. A write that failed (a full disk, a
/// crash in the middle) changed nothing, so the step is tried again like an
/// unreachable CA; a certificate refused on its merits ends the enrollment.
pub(crate) fn store_failed(
    shared: &Shared,
    r: Record,
    now: u64,
    e: pki::manager::PkiError,
) -> Option<Record> {
    match e {
        pki::manager::PkiError::Store(_) => {
            unreachable(shared, r, now, format!("storing the certificate: {e}"))
        }
        other => fail(r, format!("the certificate returned is refused: {other}")),
    }
}

/// A renewal must keep the subject and subjectAltName; a CA that changes
/// them is refused, and the renewal reported as failed.
pub(crate) fn same_identity(
    old: &x509_cert::Certificate,
    new: &x509_cert::Certificate,
) -> Result<(), String> {
    if old.tbs_certificate().subject() != new.tbs_certificate().subject() {
        return Err(format!(
            "the CA changed the subject from '{}' to '{}'; the renewal is refused",
            pki::name::subject_string(old.tbs_certificate().subject()),
            pki::name::subject_string(new.tbs_certificate().subject())
        ));
    }
    let alt = |c| {
        AltNames::from_certificate(c)
            .ok()
            .flatten()
            .unwrap_or_default()
    };
    let (a, b) = (alt(old), alt(new));
    if a.dns != b.dns || a.email != b.email || a.ip != b.ip {
        return Err("the CA changed the subjectAltName; the renewal is refused".into());
    }
    Ok(())
}

/// The new key pair of a renewal that changes the key, if any.
pub(crate) fn new_key_of(r: &Record) -> Result<Option<pki::key::KeyPair>, String> {
    r.new_key
        .as_ref()
        .map(|pem| {
            pki::key::KeyPair::from_bytes(pem.as_bytes())
                .map_err(|e| format!("the new key pair: {e}"))
        })
        .transpose()
}

/// Serialises the steps: the daemon's thread and a test never step one
/// enrollment twice at once.
static STEPPING: Mutex<()> = Mutex::new(());

/// Saves a new enrollment (due at once).
pub fn submit(shared: &Shared, record: &Record) -> Result<(), String> {
    shared
        .pki()
        .save_enrollment(&record.cert_id, &record.to_json())
        .map_err(|e| e.to_string())?;
    tracing::info!(
        target: "pki",
        "{} enrollment of {} with CA profile {} started",
        record.protocol.name(),
        record.cert_id,
        record.profile
    );
    Ok(())
}

/// Every stored enrollment.
pub fn records(shared: &Shared) -> Vec<Record> {
    shared
        .pki()
        .enrollments()
        .values()
        .filter_map(|b| Record::from_json(b).ok())
        .collect()
}

/// Moves every enrollment that is due one step; returns how many moved.
pub fn run_due(shared: &Shared) -> usize {
    let _one = STEPPING.lock().unwrap_or_else(PoisonError::into_inner);
    let now = shared.clock.now().as_secs();
    crate::autorenew::schedule(shared, now);
    let due: Vec<Record> = records(shared)
        .into_iter()
        .filter(|r| r.stage != Stage::Failed && r.next_at <= now)
        .collect();
    let n = due.len();
    for record in due {
        let id = record.cert_id.clone();
        let automatic = record.automatic;
        let next = step(shared, record, now);
        let mut pki = shared.pki();
        if next.is_none() && automatic {
            let serial = pki
                .local_certificates()
                .get(&id)
                .map(|c| pki::info::serial_hex(c.tbs_certificate().serial_number().as_bytes()))
                .unwrap_or_default();
            crate::autorenew::record_result(
                &mut pki,
                &id,
                format!(
                    "renewed at {} (serial {serial})",
                    pki::info::junos_date(&simclock::to_datetime(Duration::from_secs(now)))
                ),
            );
        }
        // Over (a stored certificate clears its record), or cleared by the
        // operator in the meantime: nothing to save.
        if !pki.enrollments().contains_key(&id) {
            continue;
        }
        let saved = match next {
            Some(r) => {
                if r.automatic && r.stage == Stage::Failed {
                    crate::autorenew::record_result(
                        &mut pki,
                        &id,
                        format!("failed: {}", r.last_error.clone().unwrap_or_default()),
                    );
                }
                pki.save_enrollment(&id, &r.to_json())
            }
            None => pki.clear_enrollment(&id),
        };
        if let Err(e) = saved {
            tracing::error!(target: "pki", "enrollment of {id}: cannot save its state: {e}");
        }
    }
    n
}

/// Runs [`run_due`] every 200 ms of host time until the process ends
/// (the router daemon's `pkid` thread).
pub fn spawn_worker(shared: Arc<Shared>) {
    let spawned = std::thread::Builder::new()
        .name("pkid-enroll".into())
        .spawn(move || {
            loop {
                run_due(&shared);
                std::thread::sleep(Duration::from_millis(200));
            }
        });
    if let Err(e) = spawned {
        tracing::error!(target: "pki", "cannot start the enrollment thread: {e}");
    }
}

pub(crate) fn fail(mut r: Record, why: String) -> Option<Record> {
    tracing::error!(target: "pki", "{} enrollment of {} failed: {why}", r.protocol.name(), r.cert_id);
    if let Some(c) = &mut r.cmp {
        c.secret = None;
    }
    r.new_key = None;
    r.stage = Stage::Failed;
    r.challenge = None;
    r.last_error = Some(why);
    Some(r)
}

/// A CA that could not be reached: try again after retry-interval, up to
/// retry times.
pub(crate) fn unreachable(shared: &Shared, mut r: Record, now: u64, why: String) -> Option<Record> {
    let (retry, interval) = limits(shared, &r.profile);
    r.attempts += 1;
    if r.attempts > retry {
        return fail(
            r,
            format!("the CA did not answer after {retry} retries: {why}"),
        );
    }
    tracing::warn!(
        target: "pki",
        "{} enrollment of {}: {why}; retry {} of {retry} in {interval} s",
        r.protocol.name(),
        r.cert_id,
        r.attempts
    );
    r.last_error = Some(why);
    r.next_at = now + interval;
    Some(r)
}

pub(crate) fn limits(shared: &Shared, profile: &str) -> (u32, u64) {
    shared
        .pki()
        .profile(profile)
        .map(|p| (p.retry, u64::from(p.retry_interval.max(1))))
        .unwrap_or((1000, 600))
}

fn chain(shared: &Shared, profile: &str) -> Result<CaChain, String> {
    let pki = shared.pki();
    let ca = pki
        .ca_certificates()
        .get(profile)
        .cloned()
        .ok_or_else(|| format!("CA certificate for profile {profile} is not loaded"))?;
    let ra = pki
        .ra_certificates()
        .get(profile)
        .cloned()
        .unwrap_or_default();
    Ok(CaChain { ca, ra })
}

/// One step of `r`; `None` when the enrollment is over and its record goes.
fn step(shared: &Shared, r: Record, now: u64) -> Option<Record> {
    if r.protocol == Protocol::Cmpv2 {
        return crate::enroll_cmp::step(shared, r, now);
    }
    let chain = match chain(shared, &r.profile) {
        Ok(c) => c,
        Err(e) => return fail(r, e),
    };
    match r.stage {
        Stage::Sending => send(shared, r, &chain, now),
        Stage::Pending => poll(shared, r, &chain, now),
        Stage::Failed => Some(r),
    }
}

fn send(shared: &Shared, mut r: Record, chain: &CaChain, now: u64) -> Option<Record> {
    let caps = match get_caps(&r.url) {
        Ok(c) => c,
        Err(e) => return unreachable(shared, r, now, e),
    };
    let (choice, warning) = match choice_for(&caps, r.cipher.as_deref(), r.digest.as_deref()) {
        Ok(c) => c,
        Err(e) => return fail(r, e),
    };
    if let Some(w) = warning {
        tracing::warn!(target: "pki", "SCEP enrollment of {}: {w}", r.cert_id);
    }
    let fresh = match new_key_of(&r) {
        Ok(k) => k,
        Err(e) => return fail(r, e),
    };
    let built = {
        let pki = shared.pki();
        let key = match pki.scep_key(&r.cert_id) {
            Ok(k) => k,
            Err(e) => {
                let why = e.to_string();
                drop(pki);
                return fail(r, why);
            }
        };
        let name = match pki::name::parse_subject(&r.subject, pki.chassis_serial()) {
            Ok(n) => n,
            Err(e) => {
                drop(pki);
                return fail(r.clone(), format!("subject: {e}"));
            }
        };
        let requested = fresh.as_ref().unwrap_or(key);
        let csr = pki::request::build(
            requested,
            name,
            &r.alt(),
            r.challenge.as_deref(),
            choice.digest,
        )
        .map_err(|e| e.to_string())
        .and_then(|csr| der::Encode::to_der(&csr).map_err(|e| e.to_string()));
        let renew_with = if r.renewal {
            pki.local_certificates().get(&r.cert_id).cloned()
        } else {
            None
        };
        csr.and_then(|csr| match &renew_with {
            Some(old) => client::renewal_req(
                requested,
                &csr,
                old,
                key,
                chain,
                choice,
                !caps.has(Capability::Renewal),
            )
            .map_err(|e| e.to_string()),
            None => client::pkcs_req(key, &csr, chain, choice, Duration::from_secs(now))
                .map_err(|e| e.to_string()),
        })
    };
    let sent = match built {
        Ok(s) => s,
        Err(e) => return fail(r, e),
    };
    let post = caps.has(Capability::PostPkiOperation) || caps.has(Capability::ScepStandard);
    tracing::info!(
        target: "pki",
        "SCEP enrollment of {}: {}{} sent to {}, transaction {} ({}, {:?})",
        r.cert_id,
        if r.renewal { "renewal as " } else { "" },
        sent.transaction.message_type.name(),
        r.url,
        sent.transaction.transaction_id,
        choice.cipher.name(),
        choice.digest
    );
    let reply = match pki_operation(&r.url, sent.message, post) {
        Ok(b) => b,
        Err(e) => return unreachable(shared, r, now, e),
    };
    r.challenge = None;
    r.attempts = 0;
    r.transaction = Some(sent.transaction);
    answer(shared, r, chain, &reply, now)
}

fn poll(shared: &Shared, mut r: Record, chain: &CaChain, now: u64) -> Option<Record> {
    let Some(txn) = r.transaction.clone() else {
        return fail(r, "pending without a transaction".into());
    };
    let caps = match get_caps(&r.url) {
        Ok(c) => c,
        Err(e) => return unreachable(shared, r, now, e),
    };
    let built = {
        let pki = shared.pki();
        match pki.key_pairs().get(&r.cert_id) {
            Some(entry) => client::cert_poll(&txn, &entry.key, chain).map_err(|e| e.to_string()),
            None => Err(format!(
                "Keypair doesn't exist for certificate-id {}",
                r.cert_id
            )),
        }
    };
    let sent = match built {
        Ok(s) => s,
        Err(e) => return fail(r, e),
    };
    r.polls += 1;
    let post = caps.has(Capability::PostPkiOperation) || caps.has(Capability::ScepStandard);
    let reply = match pki_operation(&r.url, sent.message, post) {
        Ok(b) => b,
        Err(e) => return unreachable(shared, r, now, e),
    };
    r.attempts = 0;
    r.transaction = Some(sent.transaction);
    answer(shared, r, chain, &reply, now)
}

fn answer(
    shared: &Shared,
    mut r: Record,
    chain: &CaChain,
    reply: &[u8],
    now: u64,
) -> Option<Record> {
    let Some(txn) = r.transaction.clone() else {
        return fail(r, "no transaction".into());
    };
    let mut pki = shared.pki();
    let read = match pki.key_pairs().get(&r.cert_id) {
        Some(entry) => client::read_cert_rep(reply, &txn, &entry.key, chain)
            .map(|a| (a, entry.key.public_key_info().ok())),
        None => {
            drop(pki);
            return fail(
                r.clone(),
                format!("Keypair doesn't exist for certificate-id {}", r.cert_id),
            );
        }
    };
    match read {
        Err(e) => {
            drop(pki);
            // A reply that fails a check is not the CA's answer: log it and
            // try again later, as for a CA that did not answer.
            tracing::error!(target: "pki", "SCEP enrollment of {}: reply rejected: {e}", r.cert_id);
            unreachable(shared, r, now, format!("reply rejected: {e}"))
        }
        Ok((Answer::Issued(certs), _)) => {
            let fresh = match new_key_of(&r) {
                Ok(k) => k,
                Err(e) => {
                    drop(pki);
                    return fail(r, e);
                }
            };
            let cert = match &fresh {
                Some(k) => client::certificate_for(&certs, k),
                None => pki
                    .key_pairs()
                    .get(&r.cert_id)
                    .and_then(|e| client::certificate_for(&certs, &e.key)),
            };
            let Some(cert) = cert else {
                drop(pki);
                return fail(r, "the CA returned no certificate for this key pair".into());
            };
            if r.renewal
                && let Some(old) = pki.local_certificates().get(&r.cert_id)
                && let Err(why) = same_identity(old, &cert)
            {
                drop(pki);
                return fail(r, why);
            }
            let stored = match fresh {
                Some(k) => pki.store_renewed(&r.cert_id, &r.profile, k, &cert),
                None => pki.store_enrolled(&r.cert_id, &r.profile, &cert),
            };
            match stored {
                Ok(()) => {
                    tracing::info!(
                        target: "pki",
                        "SCEP enrollment of {}: certificate {} issued by {} loaded",
                        r.cert_id,
                        pki::info::serial_hex(cert.tbs_certificate().serial_number().as_bytes()),
                        pki::name::subject_string(cert.tbs_certificate().issuer())
                    );
                    if let Some(export) = &r.export {
                        let written = export.write(pki.store(), &cert);
                        crate::ikecert::changed(shared);
                        match written {
                            Ok(()) => {
                                tracing::info!(target: "pki", "certificate {} written to {}", r.cert_id, export.path)
                            }
                            Err(e) => {
                                tracing::error!(target: "pki", "certificate {}: {e}", r.cert_id)
                            }
                        }
                    }
                    None
                }
                Err(e) => {
                    drop(pki);
                    store_failed(shared, r, now, e)
                }
            }
        }
        Ok((Answer::Pending, _)) => {
            drop(pki);
            let (retry, interval) = limits(shared, &r.profile);
            if r.polls >= retry {
                return fail(r, format!("still pending after {retry} polls"));
            }
            if r.stage != Stage::Pending {
                tracing::info!(
                    target: "pki",
                    "SCEP enrollment of {}: PENDING at the CA; polling every {interval} s, up to {retry} times",
                    r.cert_id
                );
            }
            r.stage = Stage::Pending;
            r.next_at = now + interval;
            r.last_error = None;
            Some(r)
        }
        Ok((Answer::Failed(info), _)) => {
            drop(pki);
            fail(
                r,
                format!(
                    "the CA answered FAILURE: {} ({})",
                    info.name(),
                    info.words()
                ),
            )
        }
    }
}

/// The `show security pki local-certificate detail` lines of an
/// enrollment.
pub fn describe(r: &Record) -> String {
    let mut out = format!("Certificate identifier: {}\n", r.cert_id);
    let what = if r.renewal { "renewal" } else { "enrollment" };
    let state = match r.stage {
        Stage::Sending if r.attempts == 0 => "request not sent yet".to_string(),
        Stage::Sending => format!("CA not reachable, {} attempt(s) failed", r.attempts),
        Stage::Pending => "pending at the CA".to_string(),
        Stage::Failed => "failed".to_string(),
    };
    out.push_str(&format!(
        "  Enrollment: {} {what} with CA profile {}, {state}\n",
        r.protocol.name(),
        r.profile
    ));
    out.push_str(&format!("    Subject: {}\n", r.subject));
    if let Some(t) = &r.transaction {
        out.push_str(&format!("    Transaction: {}\n", t.transaction_id));
    }
    if let Some(t) = r.cmp.as_ref().and_then(|c| c.transaction.as_ref()) {
        out.push_str(&format!("    Transaction: {}\n", t.transaction_id));
    }
    if r.stage == Stage::Pending {
        out.push_str(&format!("    Polls: {}\n", r.polls));
    }
    if r.stage != Stage::Failed {
        out.push_str(&format!(
            "    Next attempt: {}\n",
            pki::info::junos_date(&simclock::to_datetime(Duration::from_secs(r.next_at)))
        ));
    }
    if let Some(e) = &r.last_error {
        out.push_str(&format!("    Last error: {e}\n"));
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use pki::key::{KeyAlgorithm, KeyPair, KeySpec};

    fn cert(subject: &str, dns: &str) -> x509_cert::Certificate {
        let key = KeyPair::generate(KeySpec::new(KeyAlgorithm::Ecdsa, 256).unwrap()).unwrap();
        let alt = AltNames {
            dns: vec![dns.into()],
            ..AltNames::default()
        };
        let now = Duration::from_secs(1_795_000_000);
        pki::issue::self_signed(
            &key,
            pki::name::parse_subject(subject, "").unwrap(),
            alt,
            false,
            pki::issue::validity(now, now + Duration::from_secs(600)).unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn a_renewal_keeps_subject_and_alt_names() {
        let old = cert("CN=r1,O=Example", "r1.example.net");
        assert!(same_identity(&old, &cert("CN=r1,O=Example", "r1.example.net")).is_ok());
        let e = same_identity(&old, &cert("CN=r2,O=Example", "r1.example.net")).unwrap_err();
        assert!(
            e.contains("changed the subject") && e.contains("CN=r2"),
            "{e}"
        );
        let e = same_identity(&old, &cert("CN=r1,O=Example", "other.example.net")).unwrap_err();
        assert!(e.contains("subjectAltName"), "{e}");
    }
}
