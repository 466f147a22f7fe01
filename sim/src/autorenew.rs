//! Automatic re-enrollment (`security pki auto-re-enrollment`): when the
//! remaining lifetime of a configured local certificate falls to its
//! `re-enroll-trigger-time-percentage` (the percentage of the lifetime that
//! *remains*, see docs/pki/ENROLLMENT.md), a renewal is started as an
//! ordinary enrollment record: SCEP RenewalReq (or a PKCSReq signed with
//! the current certificate), or a CMPv2 KUR, for the same or a new key
//! pair. The current certificate and key stay in use until the new
//! certificate is checked and stored; a failed attempt is retried per the
//! CA profile and shown with `show security pki local-certificate`.

use std::sync::PoisonError;
use std::time::Duration;

use pki::altname::AltNames;
use x509_cert::Certificate;

use crate::enroll::{self, CmpPart, Protocol, Record, Request};
use crate::pki_commands::AutoReenroll;
use crate::router::Shared;

/// The configured entries.
#[derive(Debug, Default)]
pub struct Autorenew {
    /// From the committed configuration.
    pub entries: Vec<AutoReenroll>,
}

/// When `cert` is due: `percentage` of its lifetime remains.
pub fn trigger_time(cert: &Certificate, percentage: u8) -> Duration {
    let v = cert.tbs_certificate().validity();
    let nb = v.not_before.to_unix_duration();
    let na = v.not_after.to_unix_duration();
    let life = na.saturating_sub(nb);
    na.saturating_sub(life * u32::from(percentage) / 100)
}

/// The configured entries, with each `certificate-id all` entry expanded
/// to every local certificate issued by its CA profile's CA that has no
/// entry of its own (all the certificates of that kind).
pub fn effective_entries(shared: &Shared) -> Vec<AutoReenroll> {
    let configured = shared
        .autorenew
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .entries
        .clone();
    let (all, mut out): (Vec<AutoReenroll>, Vec<AutoReenroll>) =
        configured.into_iter().partition(|e| e.cert_id == ALL);
    if all.is_empty() {
        return out;
    }
    let pki = shared.pki();
    for e in all {
        for (id, cert) in pki.local_certificates() {
            if id == pki::manager::SYSTEM_GENERATED || out.iter().any(|o| &o.cert_id == id) {
                continue;
            }
            if pki.issuer_profile(cert) == Some(e.profile.as_str()) {
                out.push(AutoReenroll {
                    cert_id: id.clone(),
                    ..e.clone()
                });
            }
        }
    }
    out
}

/// The `certificate-id` that stands for every certificate of a CA profile.
pub const ALL: &str = "all";

/// Notes the outcome of an automatic renewal in the store's metadata (it
/// survives a restart). Called with the PKI lock held.
pub fn record_result(pki: &mut pki::manager::Pki, cert_id: &str, result: String) {
    if let Err(e) = pki.set_reenrollment_result(cert_id, &result) {
        tracing::error!(target: "pki", "auto-re-enrollment of {cert_id}: cannot record the outcome: {e}");
    }
}

/// Starts the renewals that are due at `now`; returns how many.
pub fn schedule(shared: &Shared, now: u64) -> usize {
    let entries = effective_entries(shared);
    let mut started = 0;
    for e in entries {
        match start_if_due(shared, &e, now) {
            Ok(true) => started += 1,
            Ok(false) => {}
            Err(why) => {
                tracing::error!(target: "pki", "auto-re-enrollment of {}: {why}", e.cert_id);
                record_result(&mut shared.pki(), &e.cert_id, format!("not started: {why}"));
            }
        }
    }
    started
}

fn start_if_due(shared: &Shared, e: &AutoReenroll, now: u64) -> Result<bool, String> {
    let pki = shared.pki();
    let Some(cert) = pki.local_certificates().get(&e.cert_id).cloned() else {
        return Ok(false);
    };
    if pki.enrollments().contains_key(&e.cert_id) {
        return Ok(false);
    }
    if Duration::from_secs(now) < trigger_time(&cert, e.percentage) {
        return Ok(false);
    }
    let url = pki
        .profile(&e.profile)
        .and_then(|p| p.enrollment_url.clone())
        .ok_or_else(|| format!("CA profile {} has no enrollment url", e.profile))?;
    let key = pki
        .key_pairs()
        .get(&e.cert_id)
        .ok_or_else(|| format!("Keypair doesn't exist for certificate-id {}", e.cert_id))?;
    let new_key = if e.new_key {
        let k = pki::key::KeyPair::generate(key.key.spec()).map_err(|err| err.to_string())?;
        Some(k.to_pkcs8_pem().map_err(|err| err.to_string())?.to_string())
    } else {
        None
    };
    let subject = pki::name::subject_string(cert.tbs_certificate().subject());
    let alt = AltNames::from_certificate(&cert)
        .ok()
        .flatten()
        .unwrap_or_default();
    let mut record = Record::new(
        &Request {
            cert_id: &e.cert_id,
            profile: &e.profile,
            url: &url,
            subject: &subject,
            alt: &alt,
            challenge: e.challenge.as_deref(),
            cipher: e.cipher.as_deref(),
            digest: e.digest.as_deref(),
            renewal: true,
        },
        now,
    );
    record.protocol = e.protocol;
    record.automatic = true;
    record.new_key = new_key;
    if e.protocol == Protocol::Cmpv2 {
        record.cmp = Some(CmpPart {
            ca_dn: pki::name::subject_string(cert.tbs_certificate().issuer()),
            ..CmpPart::default()
        });
    }
    drop(pki);
    enroll::submit(shared, &record)?;
    tracing::info!(
        target: "pki",
        "auto-re-enrollment of {}: {} percent of the lifetime remains; {} renewal{} started",
        e.cert_id,
        e.percentage,
        e.protocol.name(),
        if e.new_key { " with a new key pair" } else { "" }
    );
    Ok(true)
}
