//! The router's SCEP client against the embedded CA, both in this process
//! on one simulated clock: CA certificate enrollment (single and RA
//! chain), local certificate enrollment with PENDING then approval or
//! rejection, a wrong challenge, a 3DES/SHA-1-only CA, a CA that is down,
//! a reply signed by the wrong key, ECDSA refused, and an enrollment that
//! survives a restart. The clock only moves when a test moves it; each
//! step of the background enrollment is run with `enroll::run_due`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use std::path::Path;
use std::time::Duration;

use ca::authority::{Challenge, Settings};
use ca::scep::{CapsPreset, ScepSettings};
use ca::server::{RunningCa, ServeConfig};
use mtsim::chassis::Slot;
use mtsim::datadir::DataDir;
use mtsim::enroll;
use mtsim::router::{Router, Session};
use simclock::Clock;
use support::{err, ok, run_answering};

const NOW: Duration = Duration::from_secs(support::NOW_SECS);

/// A router in `dir` on `clock` (shared with the CA, so both see the
/// same simulated time).
fn router_on(dir: &Path, clock: &Clock) -> Router {
    Router::start(DataDir::new(dir), clock.clone(), Slot { fpc: 1, pic: 0 }).unwrap()
}

fn start_ca(dir: &Path, clock: &Clock, scep: ScepSettings, manual: bool, ra: bool) -> RunningCa {
    let config = ServeConfig {
        settings: Settings {
            challenge: Challenge::Reusable("s3cret-pw".to_string().into()),
            manual_approval: manual,
            ra,
            ..Settings::default()
        },
        scep,
        ..ServeConfig::default()
    };
    ca::server::start(
        dir,
        "127.0.0.1:0".parse().unwrap(),
        config,
        clock.clone(),
        false,
    )
    .unwrap()
}

fn profile(r: &Router, s: &mut Session, url: &str) {
    ok(r, s, "configure");
    ok(
        r,
        s,
        &format!(
            "set security pki ca-profile ca1 ca-identity ca1 enrollment url {url} retry 3 retry-interval 60"
        ),
    );
    ok(r, s, "commit");
    ok(r, s, "exit");
}

/// A CA and a router ready to enroll (see [`ready`]), on one clock.
struct Lab {
    d: tempfile::TempDir,
    ca: RunningCa,
    r: Router,
    s: Session,
    _log: tracing::subscriber::DefaultGuard,
}

fn lab(scep: ScepSettings, manual: bool) -> Lab {
    let d = tempfile::tempdir().unwrap();
    let clock = Clock::frozen(NOW);
    let ca = start_ca(&d.path().join("ca"), &clock, scep, manual, false);
    let (r, s) = ready(&d.path().join("r1"), &clock, &ca);
    let _log = support::log_files(&r);
    Lab { d, ca, r, s, _log }
}

/// A router with profile ca1 at `ca`, its CA certificate enrolled, and an
/// RSA key pair r1.
fn ready(dir: &Path, clock: &Clock, ca: &RunningCa) -> (Router, Session) {
    let r = router_on(dir, clock);
    let mut s = r.session("root");
    profile(&r, &mut s, &ca.scep_url());
    enroll_ca(&r, &mut s);
    ok(
        &r,
        &mut s,
        "request security pki generate-key-pair certificate-id r1 size 2048 type rsa",
    );
    (r, s)
}

fn enroll_ca(r: &Router, s: &mut Session) -> String {
    let (res, out) = run_answering(
        r,
        s,
        "request security pki ca-certificate enroll ca-profile ca1",
        &["yes"],
    );
    assert!(res.is_ok(), "{res:?}\n{out}");
    assert!(out.contains("(sha1)") && out.contains("(md5)"), "{out}");
    assert!(
        out.contains("CA certificate for profile ca1 loaded successfully"),
        "{out}"
    );
    out
}

const ENROLL: &str = "request security pki local-certificate enroll scep ca-profile ca1 certificate-id r1 challenge-password s3cret-pw subject \"CN=r1.example.net,O=Example\" domain-name r1.example.net ip-address 192.0.2.1";

fn advance(r: &Router, secs: u64) {
    r.shared().clock.advance(Duration::from_secs(secs));
}

fn pkid_log(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("log/pkid")).unwrap_or_default()
}

#[test]
fn enrollment_loads_the_certificate() {
    let Lab {
        d,
        ca: _ca,
        r,
        mut s,
        _log,
        ..
    } = lab(ScepSettings::default(), false);
    let out = ok(&r, &mut s, ENROLL);
    assert!(out.contains("Certificate enrollment has started"), "{out}");
    assert_eq!(enroll::run_due(r.shared()), 1);
    let show = ok(
        &r,
        &mut s,
        "show security pki local-certificate certificate-id r1 detail",
    );
    assert!(show.contains("r1.example.net"), "{show}");
    assert!(show.contains("mtsim Issuing CA"), "{show}");
    assert!(
        !show.contains("Enrollment:"),
        "nothing pending any more: {show}"
    );
    assert!(enroll::records(r.shared()).is_empty());
    let log = pkid_log(&d.path().join("r1"));
    assert!(
        log.contains("PKCSReq sent") && log.contains("loaded"),
        "{log}"
    );
    assert!(
        log.contains("AES-128"),
        "the strongest cipher the CA offers: {log}"
    );
    assert!(
        !log.contains("s3cret-pw"),
        "the challenge password is never logged"
    );
    let store = support::snapshot(&d.path().join("r1"));
    assert!(
        store
            .values()
            .all(|b| !String::from_utf8_lossy(b).contains("s3cret-pw")),
        "nor kept once the request is sent"
    );
    // Already there: a second enrollment is refused.
    assert!(err(&r, &mut s, ENROLL).contains("already exists"));
}

#[test]
fn pending_then_approval_survives_a_restart_and_pending_then_rejection() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("r1");
    let clock = Clock::frozen(NOW);
    let ca = start_ca(
        &d.path().join("ca"),
        &clock,
        ScepSettings::default(),
        true,
        false,
    );
    let (r, mut s) = ready(&dir, &clock, &ca);
    let _log = support::log_files(&r);
    ok(&r, &mut s, ENROLL);
    enroll::run_due(r.shared());
    let show = ok(&r, &mut s, "show security pki local-certificate detail");
    assert!(show.contains("Certificate identifier: r1"), "{show}");
    assert!(show.contains("pending at the CA"), "{show}");
    assert!(show.contains("Transaction:"), "{show}");
    // Not due yet: nothing moves until retry-interval has passed.
    advance(&r, 30);
    assert_eq!(enroll::run_due(r.shared()), 0);

    // The router restarts while the request is held; the CA approves.
    drop(s);
    drop(r);
    let r = router_on(&dir, &clock);
    let _log2 = support::log_files(&r);
    let mut s = r.session("root");
    ca.authority().approve(1).unwrap();
    advance(&r, 60);
    assert_eq!(enroll::run_due(r.shared()), 1);
    let show = ok(
        &r,
        &mut s,
        "show security pki local-certificate certificate-id r1",
    );
    assert!(show.contains("r1.example.net"), "{show}");

    // A second key pair, held and then rejected.
    ok(
        &r,
        &mut s,
        "request security pki generate-key-pair certificate-id r2 size 2048 type rsa",
    );
    ok(&r, &mut s, &ENROLL.replace("r1", "r2"));
    enroll::run_due(r.shared());
    ca.authority().reject(2).unwrap();
    advance(&r, 60);
    enroll::run_due(r.shared());
    let show = ok(
        &r,
        &mut s,
        "show security pki local-certificate certificate-id r2 detail",
    );
    assert!(show.contains("failed"), "{show}");
    assert!(show.contains("badRequest"), "{show}");
    assert!(
        pkid_log(&dir).contains("FAILURE: badRequest"),
        "{}",
        pkid_log(&dir)
    );
}

#[test]
fn wrong_challenge_is_reported_in_words() {
    let Lab {
        d,
        ca: _ca,
        r,
        mut s,
        _log,
        ..
    } = lab(ScepSettings::default(), false);
    ok(&r, &mut s, &ENROLL.replace("s3cret-pw", "wrong"));
    enroll::run_due(r.shared());
    let show = ok(
        &r,
        &mut s,
        "show security pki local-certificate certificate-id r1 detail",
    );
    assert!(show.contains("failed"), "{show}");
    assert!(
        show.contains("transaction not permitted or supported"),
        "{show}"
    );
    assert!(
        !pkid_log(&d.path().join("r1")).contains("wrong"),
        "no password in the log"
    );
}

#[test]
fn ra_chain_and_legacy_algorithms() {
    let d = tempfile::tempdir().unwrap();
    let clock = Clock::frozen(NOW);
    let ca = start_ca(
        &d.path().join("ca"),
        &clock,
        ScepSettings {
            caps: CapsPreset::Legacy3Des,
            ..ScepSettings::default()
        },
        false,
        true,
    );
    let r = router_on(&d.path().join("r1"), &clock);
    let _log = support::log_files(&r);
    let mut s = r.session("root");
    profile(&r, &mut s, &ca.scep_url());
    let out = enroll_ca(&r, &mut s);
    assert!(out.contains("Received following certificates:"), "{out}");
    assert!(out.contains("Certificate: CN=mtsim SCEP RA"), "{out}");
    ok(
        &r,
        &mut s,
        "request security pki generate-key-pair certificate-id r1 size 2048 type rsa",
    );
    // A forced choice the CA does not offer is refused before anything is sent.
    let e = err(
        &r,
        &mut s,
        &format!("{ENROLL} scep-encryption-algorithm aes128"),
    );
    assert!(
        e.contains("does not offer") && e.contains("it offers DES3"),
        "{e}"
    );
    let e = err(
        &r,
        &mut s,
        &format!("{ENROLL} scep-digest-algorithm sha256"),
    );
    assert!(e.contains("does not offer") && e.contains("SHA-1"), "{e}");
    assert!(enroll::records(r.shared()).is_empty(), "nothing started");
    // Single DES only when asked for, with a warning.
    ok(
        &r,
        &mut s,
        "request security pki generate-key-pair certificate-id r2 size 2048 type rsa",
    );
    let out = ok(
        &r,
        &mut s,
        &format!(
            "{} scep-encryption-algorithm des",
            ENROLL.replace("r1", "r2")
        ),
    );
    assert!(out.contains("warning: single DES"), "{out}");
    // The default picks 3DES and SHA-1, by GET (no POSTPKIOperation).
    ok(&r, &mut s, ENROLL);
    assert_eq!(enroll::run_due(r.shared()), 2);
    for id in ["r1", "r2"] {
        let show = ok(
            &r,
            &mut s,
            &format!("show security pki local-certificate certificate-id {id}"),
        );
        assert!(show.contains("mtsim Issuing CA"), "{id}: {show}");
    }
    let log = pkid_log(&d.path().join("r1"));
    assert!(log.contains("3DES") && log.contains("Sha1"), "{log}");
}

#[test]
fn a_ca_that_is_down_is_retried_then_given_up() {
    let Lab {
        d: _d,
        ca,
        r,
        mut s,
        _log,
        ..
    } = lab(ScepSettings::default(), false);
    ca.stop().unwrap();
    ok(&r, &mut s, ENROLL);
    enroll::run_due(r.shared());
    let show = ok(
        &r,
        &mut s,
        "show security pki local-certificate certificate-id r1 detail",
    );
    assert!(
        show.contains("CA not reachable, 1 attempt(s) failed"),
        "{show}"
    );
    for _ in 0..3 {
        advance(&r, 60);
        assert_eq!(enroll::run_due(r.shared()), 1);
    }
    let show = ok(
        &r,
        &mut s,
        "show security pki local-certificate certificate-id r1 detail",
    );
    assert!(show.contains("failed"), "{show}");
    assert!(show.contains("did not answer after 3 retries"), "{show}");
    advance(&r, 600);
    assert_eq!(
        enroll::run_due(r.shared()),
        0,
        "a failed enrollment stays failed"
    );
}

#[test]
fn a_reply_signed_by_another_key_is_rejected() {
    let d = tempfile::tempdir().unwrap();
    let clock = Clock::frozen(NOW);
    let good = start_ca(
        &d.path().join("good"),
        &clock,
        ScepSettings::default(),
        false,
        false,
    );
    let other = start_ca(
        &d.path().join("other"),
        &clock,
        ScepSettings::default(),
        false,
        false,
    );
    let (r, mut s) = ready(&d.path().join("r1"), &clock, &good);
    let _log = support::log_files(&r);
    // The profile now points at another CA: its replies are not signed by
    // the CA certificate the router loaded.
    profile(&r, &mut s, &other.scep_url());
    ok(&r, &mut s, ENROLL);
    enroll::run_due(r.shared());
    let log = pkid_log(&d.path().join("r1"));
    assert!(log.contains("reply rejected"), "{log}");
    assert!(log.contains("not by the CA or its RA"), "{log}");
    let show = ok(
        &r,
        &mut s,
        "show security pki local-certificate certificate-id r1 detail",
    );
    assert!(
        show.contains("Enrollment:"),
        "still waiting, nothing loaded: {show}"
    );
    assert!(!show.contains("Issued by"), "{show}");
}

#[test]
fn ecdsa_and_bad_commands_are_refused_and_change_nothing() {
    let Lab {
        d,
        ca: _ca,
        r,
        mut s,
        _log,
        ..
    } = lab(ScepSettings::default(), false);
    ok(
        &r,
        &mut s,
        "request security pki generate-key-pair certificate-id e1 type ecdsa",
    );
    let before = support::snapshot(&d.path().join("r1"));
    let e = err(
        &r,
        &mut s,
        &ENROLL.replace("certificate-id r1", "certificate-id e1"),
    );
    assert_eq!(e, "ECDSA Keypair not supported with SCEP for cert_id e1");
    let e = err(
        &r,
        &mut s,
        "request security pki local-certificate enroll scep ca-profile ca1 certificate-id r1 subject CN=r1",
    );
    assert!(
        e.contains("at least one of domain-name, email or ip-address"),
        "{e}"
    );
    let e = err(
        &r,
        &mut s,
        &ENROLL.replace("certificate-id r1", "certificate-id nokey"),
    );
    assert!(
        e.contains("Keypair doesn't exist for certificate-id nokey"),
        "{e}"
    );
    let e = err(
        &r,
        &mut s,
        &ENROLL.replace("ca-profile ca1", "ca-profile nope"),
    );
    assert!(e.contains("nope"), "{e}");
    let e = err(&r, &mut s, &format!("{ENROLL} scep-digest-algorithm md5"));
    assert!(e.contains("md5"), "{e}");
    assert_eq!(support::snapshot(&d.path().join("r1")), before);
}

#[test]
fn ca_certificate_not_loaded_on_no_and_the_legacy_form_writes_a_file() {
    let d = tempfile::tempdir().unwrap();
    let clock = Clock::frozen(NOW);
    let ca = start_ca(
        &d.path().join("ca"),
        &clock,
        ScepSettings::default(),
        false,
        false,
    );
    let r = router_on(&d.path().join("r1"), &clock);
    let _log = support::log_files(&r);
    let mut s = r.session("root");
    profile(&r, &mut s, &ca.scep_url());
    let (res, out) = run_answering(
        &r,
        &mut s,
        "request security pki ca-certificate enroll ca-profile ca1",
        &["no"],
    );
    assert!(res.is_err(), "{out}");
    assert!(
        out.contains("Do you want to load the above CA certificate ?"),
        "{out}"
    );
    assert!(
        err(
            &r,
            &mut s,
            "show security pki ca-certificate ca-profile ca1"
        )
        .contains("doesn't exist")
    );
    let out = ok(
        &r,
        &mut s,
        &format!(
            "request security certificate enroll filename ca1.pem ca-name ca1 url {} encoding pem",
            ca.scep_url()
        ),
    );
    assert!(
        out.contains("(sha1)") && out.contains("written to /var/etc/ikecert/ca1.pem"),
        "{out}"
    );
    // The simulated /var/etc/ikecert.
    let pem = std::fs::read_to_string(d.path().join("r1/ikecert/ca1.pem")).unwrap();
    let cert = pki::encoding::certificate(pem.as_bytes()).unwrap();
    assert_eq!(cert, ca.authority().hierarchy().issuing.cert);
    let e = err(
        &r,
        &mut s,
        "request security certificate enroll filename x.der ca-name ca1 url https://127.0.0.1:1/scep",
    );
    assert!(e.contains("https"), "{e}");
}

#[test]
fn renewal_by_renewalreq_or_by_a_pkcsreq_signed_with_the_old_certificate() {
    for (caps, form) in [
        (CapsPreset::Modern, "renewal as RenewalReq sent"),
        (CapsPreset::Legacy3Des, "renewal as PKCSReq sent"),
    ] {
        let d = tempfile::tempdir().unwrap();
        let clock = Clock::frozen(NOW);
        let ca = start_ca(
            &d.path().join("ca"),
            &clock,
            ScepSettings {
                caps,
                ..ScepSettings::default()
            },
            false,
            false,
        );
        let (r, mut s) = ready(&d.path().join("r1"), &clock, &ca);
        let _log = support::log_files(&r);
        ok(&r, &mut s, ENROLL);
        enroll::run_due(r.shared());
        let before = r.shared().pki().local_certificates()["r1"].clone();
        advance(&r, 3600);
        let out = ok(
            &r,
            &mut s,
            "request security pki local-certificate re-enroll scep ca-profile ca1 certificate-id r1",
        );
        assert!(out.contains("re-enrollment has started"), "{out}");
        assert_eq!(enroll::run_due(r.shared()), 1);
        let after = r.shared().pki().local_certificates()["r1"].clone();
        assert_ne!(
            before.tbs_certificate().serial_number(),
            after.tbs_certificate().serial_number(),
            "{caps:?}: a new certificate"
        );
        assert_eq!(
            before.tbs_certificate().subject(),
            after.tbs_certificate().subject()
        );
        assert!(
            after
                .tbs_certificate()
                .validity()
                .not_before
                .to_unix_duration()
                > NOW,
            "issued later"
        );
        let log = pkid_log(&d.path().join("r1"));
        assert!(log.contains(form), "{caps:?}: {log}");
    }
}

#[test]
fn the_es_pic_forms_share_the_store_with_security_pki() {
    let d = tempfile::tempdir().unwrap();
    let clock = Clock::frozen(NOW);
    let ca = start_ca(
        &d.path().join("ca"),
        &clock,
        ScepSettings::default(),
        false,
        false,
    );
    let r = router_on(&d.path().join("r1"), &clock);
    let _log = support::log_files(&r);
    let mut s = r.session("root");
    profile(&r, &mut s, &ca.scep_url());
    // The CA certificate, the ES PIC way, loaded for profile ca1 too.
    let out = ok(
        &r,
        &mut s,
        &format!(
            "request security certificate enroll filename ca1.der ca-file ca1 ca-name ca1 url {}",
            ca.scep_url()
        ),
    );
    assert!(
        out.starts_with("Received CA certificate:\nCertificate: CN=mtsim Issuing CA"),
        "{out}"
    );
    assert!(out.contains("(sha1)") && out.contains("(md5)"), "{out}");
    assert!(r.shared().pki().ca_certificates().contains_key("ca1"));
    // A key pair made with the ES PIC command, enrolled with the ES PIC
    // local form; the certificate lands in the store and in the file.
    ok(&r, &mut s, "request security key-pair batt size 2048");
    let out = ok(
        &r,
        &mut s,
        "request security certificate enroll filename batt.pem subject CN=batt,O=Example alternative-subject 192.0.2.9 certification-authority ca1 encoding pem key-file batt domain-name batt.example.net password s3cret-pw",
    );
    assert!(
        out.contains("will be written to /var/etc/ikecert/batt.pem"),
        "{out}"
    );
    assert_eq!(enroll::run_due(r.shared()), 1);
    let cert = r.shared().pki().local_certificates()["batt"].clone();
    let file = std::fs::read(d.path().join("r1/ikecert/batt.pem")).unwrap();
    assert_eq!(pki::encoding::certificate(&file).unwrap(), cert);
    let show = ok(
        &r,
        &mut s,
        "show security pki local-certificate certificate-id batt detail",
    );
    assert!(
        show.contains("192.0.2.9") && show.contains("batt.example.net"),
        "{show}"
    );
    // And the other way round: a security pki key pair enrolled the ES PIC way.
    ok(
        &r,
        &mut s,
        "request security pki generate-key-pair certificate-id modern size 2048 type rsa",
    );
    ok(
        &r,
        &mut s,
        "request security certificate enroll filename modern.der subject CN=modern certification-authority ca1 key-file modern domain-name modern.example.net password s3cret-pw",
    );
    enroll::run_due(r.shared());
    let der = std::fs::read(d.path().join("r1/ikecert/modern.der")).unwrap();
    assert_eq!(der[0], 0x30, "binary (DER) by default");
    assert!(r.shared().pki().local_certificates().contains_key("modern"));
    let e = err(
        &r,
        &mut s,
        "request security certificate enroll filename x.der subject CN=x key-file batt",
    );
    assert!(e.contains("certification-authority"), "{e}");
}
