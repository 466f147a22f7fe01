//! The x509-limbo suite (C2SP, the IKE-relevant subset in
//! `shared/suites/limbo/limbo.ike-in-scope.json.xz`) against the
//! authenticator: path validation with [`ike::auth::validate`], then the
//! expected peer name with [`ike::auth::match_identity`].
//!
//! The suite is a read-only input found through `$MTSIM_SUITES` or
//! `../../../shared/suites` from this crate; without it the test says
//! "skipping" and passes. Results go to `target/limbo-results.json` in the
//! limbo harness convention. Cases listed in `tests/limbo-exceptions.tsv`
//! (id TAB reason) may disagree with the suite; any other disagreement
//! fails, and an exception that agrees again is reported so the list can
//! shrink.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use ike::auth::{CrlSource, PeerId, Policy, RevocationMode, StaticCrls, match_identity, validate};
use serde::Deserialize;
use x509_cert::Certificate;
use x509_cert::crl::CertificateList;

/// Cases that must agree with the suite; raise it when the validator
/// improves, never lower it without a reason.
const MIN_PASS: usize = 9681;

/// The validation time of cases without one. limbo's `null` means "now";
/// the certificates of those cases are valid from 1970 to 2969 (one
/// expired decoy aside), so a fixed instant (when the suite was
/// generated, 2026-11-22T11:16:44Z) keeps the run reproducible.
const DEFAULT_TIME: Duration = Duration::from_secs(1_795_346_204);

/// Features we run; a case tagged with any other is skipped.
const SUPPORTED_FEATURES: &[&str] = &["has-crl", "max-chain-depth", "pedantic-rfc5280"];

#[derive(Deserialize)]
struct Limbo {
    version: u32,
    testcases: Vec<Case>,
}

#[derive(Deserialize)]
struct PeerName {
    kind: String,
    value: String,
}

#[derive(Deserialize)]
struct Case {
    id: String,
    #[serde(default)]
    features: Vec<String>,
    validation_kind: String,
    trusted_certs: Vec<String>,
    untrusted_intermediates: Vec<String>,
    peer_certificate: String,
    validation_time: Option<String>,
    #[serde(default)]
    signature_algorithms: Vec<String>,
    #[serde(default)]
    key_usage: Vec<String>,
    #[serde(default)]
    extended_key_usage: Vec<String>,
    expected_result: String,
    expected_peer_name: Option<PeerName>,
    #[serde(default)]
    expected_peer_names: Vec<PeerName>,
    max_chain_depth: Option<u64>,
    #[serde(default)]
    crls: Vec<String>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Outcome {
    Success,
    Failure,
    Skipped,
}

impl Outcome {
    fn text(self) -> &'static str {
        match self {
            Outcome::Success => "SUCCESS",
            Outcome::Failure => "FAILURE",
            Outcome::Skipped => "SKIPPED",
        }
    }
}

fn suites_dir() -> PathBuf {
    match std::env::var_os("MTSIM_SUITES") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/suites"),
    }
}

/// The results file: `target/limbo-results.json` (whatever the target
/// directory is).
fn results_path() -> PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"))
        .join("limbo-results.json")
}

/// Seconds since the epoch of an RFC 3339 date-time
/// (`2024-03-01T00:00:00.999+00:00`, `...Z`), fraction kept.
fn parse_rfc3339(s: &str) -> Result<Duration, String> {
    let bad = || format!("bad RFC 3339 time '{s}'");
    let num = |t: &str| t.parse::<u32>().map_err(|_| bad());
    let (date, rest) = s.split_once(['T', 't', ' ']).ok_or_else(bad)?;
    let d: Vec<&str> = date.split('-').collect();
    if d.len() != 3 || rest.len() < 8 {
        return Err(bad());
    }
    let (clock, mut zone) = rest.split_at(8);
    let c: Vec<&str> = clock.split(':').collect();
    if c.len() != 3 {
        return Err(bad());
    }
    let mut nanos = 0u32;
    if let Some(frac) = zone.strip_prefix('.') {
        let digits = frac.chars().take_while(char::is_ascii_digit).count();
        let f = &frac[..digits];
        zone = &frac[digits..];
        let padded: String = f.chars().chain(std::iter::repeat('0')).take(9).collect();
        nanos = num(&padded)?;
    }
    let offset: i64 = match zone {
        "Z" | "z" => 0,
        z if z.len() == 6 && (z.starts_with('+') || z.starts_with('-')) => {
            let (h, m) = z[1..].split_once(':').ok_or_else(bad)?;
            let secs = i64::from(num(h)?) * 3600 + i64::from(num(m)?) * 60;
            if z.starts_with('-') { -secs } else { secs }
        }
        _ => return Err(bad()),
    };
    let year = d[0].parse::<u16>().map_err(|_| bad())?;
    let dt = der::DateTime::new(
        year,
        num(d[1])? as u8,
        num(d[2])? as u8,
        num(c[0])? as u8,
        num(c[1])? as u8,
        num(c[2])? as u8,
    )
    .map_err(|e| format!("{}: {e}", bad()))?;
    let secs = dt.unix_duration().as_secs() as i64 - offset;
    let secs = u64::try_from(secs).map_err(|_| bad())?;
    Ok(Duration::new(secs, nanos))
}

fn certs(pems: &[String]) -> Result<Vec<Certificate>, String> {
    pems.iter()
        .map(|p| pki::encoding::certificate(p.as_bytes()).map_err(|e| e.to_string()))
        .collect()
}

fn crls(pems: &[String]) -> Result<Vec<CertificateList>, String> {
    pems.iter()
        .map(|p| pki::encoding::crl(p.as_bytes()).map_err(|e| e.to_string()))
        .collect()
}

/// Why this harness does not run `case`, if it does not.
fn skip_reason(case: &Case) -> Option<String> {
    if case.validation_kind != "SERVER" && case.validation_kind != "CLIENT" {
        return Some(format!("validation kind {}", case.validation_kind));
    }
    if let Some(f) = case
        .features
        .iter()
        .find(|f| !SUPPORTED_FEATURES.contains(&f.as_str()))
    {
        return Some(format!("feature {f} not supported"));
    }
    if !case.signature_algorithms.is_empty() {
        return Some("signature algorithm constraints not supported".into());
    }
    if !case.extended_key_usage.is_empty() {
        return Some("extended key usage constraints not supported".into());
    }
    if let Some(ku) = case
        .key_usage
        .iter()
        .find(|k| k.as_str() != "digitalSignature")
    {
        return Some(format!("key usage constraint {ku} not supported"));
    }
    if !case.expected_peer_names.is_empty() {
        return Some("client peer names (expected_peer_names) not supported".into());
    }
    if let Some(n) = &case.expected_peer_name
        && !matches!(n.kind.as_str(), "DNS" | "IP" | "RFC822")
    {
        return Some(format!("peer name kind {}", n.kind));
    }
    None
}

/// Runs one case: the outcome and a line of context.
fn run(case: &Case, now: Duration) -> (Outcome, String) {
    if let Some(reason) = skip_reason(case) {
        return (Outcome::Skipped, reason);
    }
    let inputs = (|| {
        let peer = pki::encoding::certificate(case.peer_certificate.as_bytes())
            .map_err(|e| format!("peer: {e}"))?;
        let anchors = certs(&case.trusted_certs).map_err(|e| format!("trusted: {e}"))?;
        let untrusted =
            certs(&case.untrusted_intermediates).map_err(|e| format!("intermediate: {e}"))?;
        let lists = crls(&case.crls).map_err(|e| format!("CRL: {e}"))?;
        let time = match &case.validation_time {
            Some(t) => parse_rfc3339(t)?,
            None => now,
        };
        Ok::<_, String>((peer, anchors, untrusted, lists, time))
    })();
    let (peer, anchors, untrusted, lists, time) = match inputs {
        Ok(i) => i,
        Err(e) => return (Outcome::Failure, format!("decode: {e}")),
    };
    let policy = Policy {
        time,
        max_depth: case.max_chain_depth.map(|d| d as usize),
        revocation: if lists.is_empty() {
            RevocationMode::Disabled
        } else {
            RevocationMode::Required
        },
        // Web PKI name matching: `*.example.com` names are part of the suite.
        wildcards: true,
        require_digital_signature: case.key_usage.iter().any(|k| k == "digitalSignature"),
    };
    let source = StaticCrls(lists);
    let crl_source: &dyn CrlSource = &source;
    let chain = match validate(&peer, &untrusted, &anchors, crl_source, &policy) {
        Ok(c) => c,
        Err(r) => return (Outcome::Failure, format!("validate: {r}")),
    };
    let Some(name) = &case.expected_peer_name else {
        return (Outcome::Success, format!("chain of {}", chain.0.len()));
    };
    let id = match name.kind.as_str() {
        "DNS" => PeerId::Fqdn(name.value.clone()),
        "RFC822" => PeerId::Email(name.value.clone()),
        _ => match name.value.parse::<IpAddr>() {
            Ok(IpAddr::V4(a)) => PeerId::Ipv4(a),
            Ok(IpAddr::V6(a)) => PeerId::Ipv6(a),
            Err(_) => {
                return (
                    Outcome::Failure,
                    format!("peer name '{}' is not an IP address", name.value),
                );
            }
        },
    };
    match match_identity(&peer, &id, &policy) {
        Ok(()) => (
            Outcome::Success,
            format!("chain of {}, {id}", chain.0.len()),
        ),
        Err(r) => (Outcome::Failure, format!("identity: {r}")),
    }
}

fn read_exceptions() -> BTreeMap<String, String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/limbo-exceptions.tsv");
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| match l.split_once('\t') {
            Some((id, reason)) => (id.trim().to_string(), reason.trim().to_string()),
            None => panic!("{}: line without a TAB: {l}", path.display()),
        })
        .collect()
}

fn json_string(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

#[test]
fn limbo() {
    let file = suites_dir().join("limbo/limbo.ike-in-scope.json.xz");
    if !file.exists() {
        eprintln!("skipping: {} not found (set MTSIM_SUITES)", file.display());
        return;
    }
    #[allow(clippy::disallowed_methods)] // wall-clock duration of the run, for the log
    let started = Instant::now();
    let out = Command::new("xz")
        .arg("-dc")
        .arg(&file)
        .output()
        .expect("run xz");
    assert!(
        out.status.success(),
        "xz -dc {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let suite: Limbo = serde_json::from_slice(&out.stdout).expect("limbo JSON");
    drop(out);
    assert_eq!(suite.version, 1, "limbo schema version");
    let exceptions = read_exceptions();
    let now = DEFAULT_TIME;

    // Two halves in parallel: the suite is big.
    let cases = &suite.testcases;
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8);
    let chunk = cases.len().div_ceil(threads).max(1);
    let outcomes: Vec<(Outcome, String)> = std::thread::scope(|s| {
        let handles: Vec<_> = cases
            .chunks(chunk)
            .map(|part| s.spawn(move || part.iter().map(|c| run(c, now)).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a case panicked"))
            .collect()
    });

    let (mut pass, mut fail, mut skip, mut excepted) = (0usize, 0usize, 0usize, 0usize);
    let mut unexpected = Vec::new();
    let mut fixed = Vec::new();
    let mut skip_reasons: BTreeMap<&str, usize> = BTreeMap::new();
    let mut results = Vec::new();
    for (case, (outcome, context)) in cases.iter().zip(&outcomes) {
        results.push(format!(
            "{{\"id\":{},\"actual_result\":{},\"context\":{}}}",
            json_string(&case.id),
            json_string(outcome.text()),
            json_string(context)
        ));
        if *outcome == Outcome::Skipped {
            skip += 1;
            *skip_reasons.entry(context.as_str()).or_default() += 1;
            continue;
        }
        let agrees = outcome.text() == case.expected_result;
        match (agrees, exceptions.contains_key(&case.id)) {
            (true, false) => pass += 1,
            (true, true) => {
                pass += 1;
                fixed.push(case.id.clone());
            }
            (false, true) => {
                fail += 1;
                excepted += 1;
            }
            (false, false) => {
                fail += 1;
                unexpected.push(format!(
                    "{}\texpected {}, got {}: {}",
                    case.id,
                    case.expected_result,
                    outcome.text(),
                    context
                ));
            }
        }
    }
    let ids: BTreeSet<&str> = cases.iter().map(|c| c.id.as_str()).collect();
    let stale: Vec<&String> = exceptions
        .keys()
        .filter(|k| !ids.contains(k.as_str()))
        .collect();

    let json = format!(
        "{{\"version\":1,\"harness\":\"mtsim-ike\",\"results\":[\n{}\n]}}\n",
        results.join(",\n")
    );
    let path = results_path();
    if let Err(e) = std::fs::write(&path, json) {
        eprintln!("could not write {}: {e}", path.display());
    }

    eprintln!(
        "limbo: {} cases: {pass} pass, {fail} fail ({excepted} listed exceptions), {skip} skipped, in {:.1?}; results in {}",
        cases.len(),
        started.elapsed(),
        path.display()
    );
    for (reason, n) in &skip_reasons {
        eprintln!("  skipped {n}: {reason}");
    }
    for id in &fixed {
        eprintln!(
            "limbo: exception {id} now agrees with the suite: remove it from limbo-exceptions.tsv"
        );
    }
    for id in &stale {
        eprintln!(
            "limbo: exception {id} is not a case of the suite: remove it from limbo-exceptions.tsv"
        );
    }
    assert!(
        unexpected.is_empty(),
        "{} disagreements with x509-limbo not in limbo-exceptions.tsv:\n{}",
        unexpected.len(),
        unexpected.join("\n")
    );
    assert!(
        pass >= MIN_PASS,
        "only {pass} limbo cases agree, at least {MIN_PASS} did before"
    );
}

#[test]
fn rfc3339() {
    assert_eq!(
        parse_rfc3339("1970-01-01T00:00:03+00:00").unwrap(),
        Duration::from_secs(3)
    );
    assert_eq!(
        parse_rfc3339("2024-03-01T00:00:00.999+00:00").unwrap(),
        Duration::new(1_709_251_200, 999_000_000)
    );
    assert_eq!(
        parse_rfc3339("2024-03-01T01:00:00+01:00").unwrap(),
        Duration::from_secs(1_709_251_200)
    );
    assert_eq!(
        parse_rfc3339("2024-03-01T00:00:00Z").unwrap(),
        Duration::from_secs(1_709_251_200)
    );
    assert!(parse_rfc3339("2024-03-01").is_err());
    assert_eq!(parse_rfc3339("2026-11-22T11:16:44Z").unwrap(), DEFAULT_TIME);
}
