//! The router's side of the IKE authenticator: trust anchors are the CA
//! certificates of the PKI store, revocation follows the CA profile
//! (`revocation-check disable`, `crl { url …; refresh-interval H; disable
//! on-download-failure; }`), and CRLs come from the store or are fetched
//! over HTTP from the profile's CRL URL or the certificate's distribution
//! point, then kept in the store until their nextUpdate (or the refresh
//! interval) passes. Every verdict is logged with its reason.

use std::time::Duration;

use ike::auth::{self, Chain, CrlSource, PeerId, Policy, Refusal, RevocationMode};
use pki::profile::{CaProfile, Revocation};
use x509_cert::Certificate;
use x509_cert::crl::CertificateList;

use crate::router::Shared;

/// How many verdicts `show security ike` keeps.
pub const VERDICTS_KEPT: usize = 64;

/// One authentication verdict, as `show security ike` lists it.
#[derive(Debug, Clone)]
pub struct Verdict {
    /// When (simulated time).
    pub at: Duration,
    /// The IKE gateway (empty for an ES PIC policy).
    pub gateway: String,
    /// The check that decided (`accepted` when all passed).
    pub check: &'static str,
    /// The peer's IKE identity.
    pub id: String,
    /// The peer certificate's subject.
    pub subject: String,
    /// `None`: accepted; else why it was refused.
    pub refusal: Option<String>,
    /// For an accepted peer of an ES PIC policy: what matched (the
    /// `Check:` line of `show security ike`).
    pub decided_by: Option<String>,
}

/// CRLs for the authenticator: the store first, then HTTP.
pub struct RouterCrls<'a> {
    shared: &'a Shared,
    now: Duration,
}

impl<'a> RouterCrls<'a> {
    /// CRLs as the router sees them at `now`.
    pub fn new(shared: &'a Shared, now: Duration) -> Self {
        RouterCrls { shared, now }
    }
}

/// The configured CA profile whose CA certificate is `ca`.
fn profile_of(shared: &Shared, ca: &Certificate) -> Option<CaProfile> {
    let pki = shared.pki();
    let name = pki
        .ca_certificates()
        .iter()
        .find(|(_, c)| *c == ca)
        .map(|(n, _)| n.clone())?;
    pki.profile(&name).cloned()
}

fn fresh(crl: &CertificateList, now: Duration, refresh_hours: Option<u32>) -> bool {
    let this = crl.tbs_cert_list.this_update.to_unix_duration();
    let next = crl.tbs_cert_list.next_update.map(|t| t.to_unix_duration());
    let by_next = next.is_none_or(|n| now < n);
    let by_refresh =
        refresh_hours.is_none_or(|h| now < this + Duration::from_secs(u64::from(h) * 3600));
    by_next && by_refresh
}

impl CrlSource for RouterCrls<'_> {
    fn crl(
        &self,
        issuer: &Certificate,
        distribution_points: &[String],
    ) -> Result<Option<CertificateList>, String> {
        let profile = profile_of(self.shared, issuer);
        let (urls, refresh) = match profile.as_ref().map(|p| &p.revocation) {
            Some(Revocation::Crl {
                urls,
                refresh_hours,
                ..
            }) => (urls.clone(), *refresh_hours),
            _ => (Vec::new(), None),
        };
        if let Some(p) = &profile
            && let Some(crl) = self.shared.pki().crls().get(&p.name)
            && fresh(crl, self.now, refresh)
        {
            return Ok(Some(crl.clone()));
        }
        let mut last = String::from("no CRL URL in the CA profile or the certificate");
        for url in urls.iter().chain(distribution_points) {
            match crate::pki_http::call("GET", url, None, Vec::new()) {
                Ok(r) if r.status == 200 => {
                    let stored = match &profile {
                        Some(p) => self
                            .shared
                            .pki()
                            .load_crl(&p.name, &r.body)
                            .map_err(|e| e.to_string()),
                        None => pki::encoding::crl(&r.body).map_err(|e| e.to_string()),
                    };
                    match stored {
                        Ok(crl) => {
                            tracing::info!(target: "pki", "CRL downloaded from {url}");
                            return Ok(Some(crl));
                        }
                        Err(e) => last = format!("{url}: {e}"),
                    }
                }
                Ok(r) => last = format!("{url}: HTTP {}", r.status),
                Err(e) => last = e,
            }
        }
        tracing::warn!(target: "pki", "CRL download failed: {last}");
        Err(last)
    }
}

/// The revocation mode of the profile whose CA certificate issued `peer`
/// (required by default; fail-open only with `disable on-download-failure`).
pub fn revocation_for(shared: &Shared, peer: &Certificate) -> RevocationMode {
    let pki = shared.pki();
    let profile = pki.issuer_profile(peer).and_then(|n| pki.profile(n));
    match profile.map(|p| &p.revocation) {
        Some(Revocation::Disabled) => RevocationMode::Disabled,
        Some(Revocation::Crl {
            disable_on_download_failure: true,
            ..
        }) => RevocationMode::BestEffort,
        _ => RevocationMode::Required,
    }
}

/// Authenticates a peer at the simulated time: the chain to a CA of the
/// store, revocation per its profile, the IKE identity against the
/// certificate. The verdict is logged (kmd) with its reason.
pub fn authenticate(
    shared: &Shared,
    peer: &Certificate,
    untrusted: &[Certificate],
    id: &PeerId,
) -> Result<Chain, Refusal> {
    authenticate_for(shared, "", peer, untrusted, id)
}

/// [`authenticate`] for the peer of IKE gateway `gateway`.
pub fn authenticate_for(
    shared: &Shared,
    gateway: &str,
    peer: &Certificate,
    untrusted: &[Certificate],
    id: &PeerId,
) -> Result<Chain, Refusal> {
    let verdict = check_peer(shared, peer, untrusted, id, None);
    let who = pki::name::subject_string(peer.tbs_certificate().subject());
    keep(
        shared,
        gateway,
        &id.to_string(),
        &who,
        verdict.as_ref().err(),
        None,
    );
    verdict
}

/// The trust anchors: the CA certificates of the store, and those of the
/// ES PIC files named by `security certificates certification-authority
/// NAME file F` (a file that cannot be read is logged and left out).
fn anchors(shared: &Shared, config: &cli::config::Config) -> Vec<Certificate> {
    let pki = shared.pki();
    let mut anchors: Vec<Certificate> = pki.ca_certificates().values().cloned().collect();
    for (name, file) in crate::pki_commands::ca_files(config) {
        let cert = crate::ikecert::resolve(&file).and_then(|t| {
            match crate::ikecert::read(pki.store(), &t)? {
                Some(b) => pki::encoding::certificate(&b).map_err(|e| e.to_string()),
                None => Err(format!("no file {}", t.display())),
            }
        });
        match cert {
            Ok(c) if !anchors.contains(&c) => anchors.push(c),
            Ok(_) => {}
            Err(e) => tracing::warn!(
                target: "ike",
                "certification-authority {name}: file {file} is not used as a trust anchor: {e}"
            ),
        }
    }
    anchors
}

/// The authenticator at the simulated time: the chain to a CA of the
/// store (`security certificates path-length` bounding it), revocation
/// per its profile, `id` against the certificate; then `also`, when given,
/// against the certificate too.
fn check_peer(
    shared: &Shared,
    peer: &Certificate,
    untrusted: &[Certificate],
    id: &PeerId,
    also: Option<&PeerId>,
) -> Result<Chain, Refusal> {
    let now = shared.clock.now();
    let config = shared.state().active.clone();
    let anchors = anchors(shared, &config);
    let mut policy = Policy::new(now);
    policy.revocation = revocation_for(shared, peer);
    // `security certificates path-length`, when configured.
    policy.max_depth = crate::pki_commands::path_length(&config);
    let crls = RouterCrls::new(shared, now);
    let chain = auth::authenticate(peer, untrusted, &anchors, &crls, id, &policy)?;
    if let Some(other) = also.filter(|o| *o != id) {
        auth::match_identity(peer, other, &policy)?;
    }
    Ok(chain)
}

/// Authenticates the peer of ES PIC policy `policy` (its name, the peer's
/// address): the chain, validity and revocation as for any peer, then the
/// ES PIC check, that the certificate carries `want` (the policy's
/// `identity`, else the peer's address as an iPAddress); and `sent`, the
/// IKE identity the peer sent, must be in its certificate too. The
/// verdict is recorded with the check that decided.
pub fn authenticate_es_pic_peer(
    shared: &Shared,
    policy: &str,
    want: &PeerId,
    sent: Option<&PeerId>,
    peer: &Certificate,
    untrusted: &[Certificate],
) -> Result<Chain, Refusal> {
    let verdict = check_peer(shared, peer, untrusted, want, sent);
    let who = pki::name::subject_string(peer.tbs_certificate().subject());
    let how = match want {
        PeerId::Ipv4(_) | PeerId::Ipv6(_) => "as an iPAddress",
        PeerId::Fqdn(_) => "as a dNSName (the policy's identity)",
        PeerId::Email(_) => "as an rfc822Name (the policy's identity)",
        PeerId::Dn(_) => "as its subject (the policy's identity)",
    };
    let mut decided = format!("ES PIC ike policy {policy}: the certificate carries {want} {how}");
    if let Some(s) = sent.filter(|s| *s != want) {
        decided.push_str(&format!(", and the peer's IKE identity {s}"));
    }
    keep(
        shared,
        policy,
        &want.to_string(),
        &who,
        verdict.as_ref().err(),
        Some(decided),
    );
    verdict
}

/// The check a refusal comes from, as `show security ike` names it.
pub fn check_of(r: &Refusal) -> &'static str {
    match r {
        Refusal::Expired { .. } | Refusal::NotYetValid { .. } => "validity period",
        Refusal::UnknownCa { .. }
        | Refusal::BadSignature { .. }
        | Refusal::NotCa { .. }
        | Refusal::PathLength { .. }
        | Refusal::TooDeep { .. }
        | Refusal::NameConstraints { .. }
        | Refusal::UnknownCriticalExtension { .. }
        | Refusal::KeyUsage { .. } => "certificate chain",
        Refusal::Revoked { .. } | Refusal::CrlUnavailable { .. } => "revocation",
        Refusal::NoSubjectAltName | Refusal::IdentityMismatch { .. } => "identity (subjectAltName)",
        Refusal::Malformed(why) if why.contains("AUTH payload") => "AUTH signature",
        Refusal::Malformed(_) => "message",
    }
}

/// Records a refusal that did not come from [`authenticate_for`] (the
/// gateway's remote identity, a bad AUTH signature, the peer refusing us).
pub fn record_refusal(
    shared: &Shared,
    gateway: &str,
    id: Option<&PeerId>,
    subject: Option<&str>,
    refusal: &Refusal,
) {
    let id = id.map(ToString::to_string).unwrap_or_else(|| "-".into());
    keep(
        shared,
        gateway,
        &id,
        subject.unwrap_or("-"),
        Some(refusal),
        None,
    );
}

fn keep(
    shared: &Shared,
    gateway: &str,
    id: &str,
    subject: &str,
    refusal: Option<&Refusal>,
    decided_by: Option<String>,
) {
    let at = shared.clock.now();
    match refusal {
        None => tracing::info!(target: "ike", "peer {id} ({subject}) authenticated"),
        Some(why) => tracing::warn!(target: "ike", "peer {id} ({subject}) refused: {why}"),
    }
    let mut kept = shared
        .ike_verdicts
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if kept.len() >= VERDICTS_KEPT {
        kept.pop_back();
    }
    kept.push_front(Verdict {
        at,
        gateway: gateway.to_string(),
        check: refusal.map_or("accepted", check_of),
        id: id.to_string(),
        subject: subject.to_string(),
        refusal: refusal.map(ToString::to_string),
        decided_by: decided_by.filter(|_| refusal.is_none()),
    });
}

/// `show security ike`: the latest peer authentications, newest first.
pub fn show(shared: &Shared) -> String {
    let kept = shared
        .ike_verdicts
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if kept.is_empty() {
        return "No IKE peer authentications\n".into();
    }
    let mut out = String::from("IKE peer authentications (newest first):\n");
    for v in kept.iter() {
        out.push_str(&format!(
            "  {}  {}  {}\n",
            pki::info::junos_date(&simclock::to_datetime(v.at)),
            v.id,
            v.subject
        ));
        if !v.gateway.is_empty() {
            out.push_str(&format!("    Gateway: {}\n", v.gateway));
        }
        match &v.refusal {
            None => {
                if let Some(d) = &v.decided_by {
                    out.push_str(&format!("    Check: {d}\n"));
                }
                out.push_str("    Result: accepted\n");
            }
            Some(why) => {
                out.push_str(&format!("    Check: {}\n", v.check));
                out.push_str(&format!("    Result: refused: {why}\n"));
            }
        }
    }
    out
}

/// What the certificate of the peer of ES PIC policy `policy` must carry:
/// its `identity`, else the peer's address.
pub fn es_pic_identity(policy: &crate::ike_config::EsPicPolicy) -> Result<PeerId, String> {
    match &policy.identity {
        Some(text) => PeerId::parse(text).map_err(|e| format!("identity {text}: {e}")),
        None => Ok(match policy.peer {
            std::net::IpAddr::V4(a) => PeerId::Ipv4(a),
            std::net::IpAddr::V6(a) => PeerId::Ipv6(a),
        }),
    }
}

/// Authenticates the peer at `addr` the ES PIC way: its `security ike
/// policy ADDRESS` must exist, and the certificate must carry that address
/// as an iPAddress (or match the policy's `identity`); see
/// [`authenticate_es_pic_peer`].
pub fn authenticate_es_pic(
    shared: &Shared,
    addr: std::net::IpAddr,
    peer: &Certificate,
    untrusted: &[Certificate],
) -> Result<Chain, Refusal> {
    let policy = crate::ike_config::policy_for(&shared.state().active, addr);
    let Some(policy) = policy else {
        let why = format!("no IKE policy for peer {addr}");
        tracing::warn!(target: "ike", "peer {addr} refused: {why}");
        return Err(Refusal::Malformed(why));
    };
    let id = es_pic_identity(&policy).map_err(Refusal::Malformed)?;
    authenticate_es_pic_peer(shared, &policy.name, &id, None, peer, untrusted)
}
