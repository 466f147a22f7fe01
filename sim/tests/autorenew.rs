//! Automatic re-enrollment on the simulated clock against the embedded CA
//! issuing ten-minute certificates: SCEP and CMPv2 renewals when 10 percent
//! of the lifetime remains, with and without a new key pair; the CA down at
//! the trigger time and back (the old certificate kept meanwhile); a write
//! failing between receiving and storing (retried, nothing lost); a hundred
//! certificates due at once.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use ca::authority::{Challenge, Settings};
use ca::server::{RunningCa, ServeConfig};
use mtsim::chassis::Slot;
use mtsim::datadir::DataDir;
use mtsim::enroll;
use mtsim::router::{Router, Session};
use simclock::Clock;
use support::ok;
use x509_cert::Certificate;

const NOW: Duration = Duration::from_secs(support::NOW_SECS);
const LIFETIME: u64 = 600;

fn start_ca(dir: &Path, clock: &Clock, addr: SocketAddr) -> RunningCa {
    let mut config = ServeConfig {
        settings: Settings {
            challenge: Challenge::Reusable("pw".to_string().into()),
            cert_lifetime: Duration::from_secs(LIFETIME),
            ..Settings::default()
        },
        ..ServeConfig::default()
    };
    config.cmp.add_secret("3078", "1234-5678");
    ca::server::start(dir, addr, config, clock.clone(), false).unwrap()
}

fn free_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

struct Lab {
    d: tempfile::TempDir,
    clock: Clock,
    addr: SocketAddr,
    ca: Option<RunningCa>,
    r: Router,
    s: Session,
    _log: tracing::subscriber::DefaultGuard,
}

/// A CA and a router with profiles `scep` and `cmp` at it, and the CA
/// certificate of `scep` loaded.
fn lab() -> Lab {
    let d = tempfile::tempdir().unwrap();
    let clock = Clock::frozen(NOW);
    let addr = free_addr();
    let ca = start_ca(&d.path().join("ca"), &clock, addr);
    let r = Router::start(
        DataDir::new(d.path().join("r1")),
        clock.clone(),
        Slot { fpc: 1, pic: 0 },
    )
    .unwrap();
    let _log = support::log_files(&r);
    let mut s = r.session("root");
    ok(&r, &mut s, "configure");
    for (name, url) in [("scep", ca.scep_url()), ("cmp", ca.cmp_url())] {
        ok(
            &r,
            &mut s,
            &format!(
                "set security pki ca-profile {name} ca-identity {name} enrollment url {url} retry 5 retry-interval 30"
            ),
        );
    }
    ok(&r, &mut s, "commit");
    ok(&r, &mut s, "exit");
    let (res, out) = support::run_answering(
        &r,
        &mut s,
        "request security pki ca-certificate enroll ca-profile scep",
        &["yes"],
    );
    assert!(res.is_ok(), "{out}");
    Lab {
        d,
        clock,
        addr,
        ca: Some(ca),
        r,
        s,
        _log,
    }
}

impl Lab {
    fn configure(&mut self, line: &str) {
        ok(&self.r, &mut self.s, "configure");
        ok(&self.r, &mut self.s, line);
        ok(&self.r, &mut self.s, "commit");
        ok(&self.r, &mut self.s, "exit");
    }

    fn scep_cert(&mut self, id: &str) {
        ok(
            &self.r,
            &mut self.s,
            &format!(
                "request security pki generate-key-pair certificate-id {id} size 2048 type rsa"
            ),
        );
        ok(
            &self.r,
            &mut self.s,
            &format!(
                "request security pki local-certificate enroll scep ca-profile scep certificate-id {id} challenge-password pw subject \"CN={id}.example.net,O=Example\" domain-name {id}.example.net"
            ),
        );
    }

    fn cmp_cert(&mut self, id: &str) {
        ok(
            &self.r,
            &mut self.s,
            &format!(
                "request security pki generate-key-pair certificate-id {id} type ecdsa size 256"
            ),
        );
        ok(
            &self.r,
            &mut self.s,
            &format!(
                "request security pki local-certificate enroll cmpv2 ca-profile cmp certificate-id {id} ca-dn \"CN=mtsim Issuing CA,O=mtsim,C=US\" ca-secret 1234-5678 ca-reference 3078 subject \"CN={id}.example.net,O=Example\" domain-name {id}.example.net"
            ),
        );
    }

    fn cert(&self, id: &str) -> Certificate {
        self.r.shared().pki().local_certificates()[id].clone()
    }

    fn advance_to(&self, secs_after_now: u64) {
        self.clock.set(NOW + Duration::from_secs(secs_after_now));
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.d.path().join("r1/log/pkid")).unwrap_or_default()
    }
}

fn same_key(a: &Certificate, b: &Certificate) -> bool {
    a.tbs_certificate().subject_public_key_info() == b.tbs_certificate().subject_public_key_info()
}

#[test]
fn scep_and_cmp_renew_at_ten_percent_with_and_without_a_new_key() {
    let mut lab = lab();
    lab.scep_cert("s1");
    lab.scep_cert("s2");
    lab.cmp_cert("c1");
    lab.cmp_cert("c2");
    assert_eq!(enroll::run_due(lab.r.shared()), 4);
    let before: Vec<Certificate> = ["s1", "s2", "c1", "c2"]
        .iter()
        .map(|i| lab.cert(i))
        .collect();
    lab.configure("set security pki auto-re-enrollment scep certificate-id s1 ca-profile-name scep challenge-password pw re-enroll-trigger-time-percentage 10");
    lab.configure("set security pki auto-re-enrollment scep certificate-id s2 ca-profile-name scep re-enroll-trigger-time-percentage 10 re-generate-keypair");
    lab.configure("set security pki auto-re-enrollment cmpv2 certificate-id c1 ca-profile-name cmp re-enroll-trigger-time-percentage 10");
    lab.configure("set security pki auto-re-enrollment cmpv2 certificate-id c2 ca-profile-name cmp re-enroll-trigger-time-percentage 10 re-generate-keypair");
    let show = ok(
        &lab.r,
        &mut lab.s,
        "show security pki local-certificate certificate-id s1 detail",
    );
    assert!(show.contains("Status: Enabled"), "{show}");
    assert!(
        show.contains("Next trigger time: 11-18-2026 11:15 UTC"),
        "90 % of 10 min after 11:06:40: {show}"
    );

    // 89 % of the lifetime gone: nothing yet.
    lab.advance_to(LIFETIME * 89 / 100);
    assert_eq!(enroll::run_due(lab.r.shared()), 0);
    // 90 %: all four renew, each in one step.
    lab.advance_to(LIFETIME * 90 / 100);
    assert_eq!(enroll::run_due(lab.r.shared()), 4);
    for (i, id) in ["s1", "s2", "c1", "c2"].iter().enumerate() {
        let after = lab.cert(id);
        assert_ne!(after, before[i], "{id} renewed");
        assert_eq!(
            after.tbs_certificate().subject(),
            before[i].tbs_certificate().subject()
        );
        let new_key = id.ends_with('2');
        assert_eq!(
            !same_key(&after, &before[i]),
            new_key,
            "{id}: new key pair {new_key}"
        );
        let pki = lab.r.shared().pki();
        assert!(
            pki.key_pairs()[*id]
                .key
                .matches(after.tbs_certificate().subject_public_key_info())
        );
    }
    let show = ok(
        &lab.r,
        &mut lab.s,
        "show security pki local-certificate certificate-id c2 detail",
    );
    assert!(show.contains("Last attempt: renewed at"), "{show}");
    let log = lab.log();
    assert!(
        log.contains("auto-re-enrollment of s2") && log.contains("with a new key pair"),
        "{log}"
    );
    assert!(
        !log.contains("pw ") && !log.contains("1234-5678"),
        "no secrets in the log"
    );
}

#[test]
fn the_ca_down_at_the_trigger_time_then_back() {
    let mut lab = lab();
    lab.scep_cert("s1");
    enroll::run_due(lab.r.shared());
    let old = lab.cert("s1");
    lab.configure("set security pki auto-re-enrollment scep certificate-id s1 ca-profile-name scep re-enroll-trigger-time-percentage 10");
    lab.ca.take().unwrap().stop().unwrap();
    lab.advance_to(LIFETIME * 90 / 100);
    enroll::run_due(lab.r.shared());
    assert_eq!(
        lab.cert("s1"),
        old,
        "the old certificate stays while the CA is down"
    );
    let show = ok(
        &lab.r,
        &mut lab.s,
        "show security pki local-certificate certificate-id s1 detail",
    );
    assert!(show.contains("Last attempt: in progress"), "{show}");
    assert!(
        show.contains("CA not reachable, 1 attempt(s) failed"),
        "{show}"
    );
    // The CA comes back on the same address; the next retry succeeds.
    lab.ca = Some(start_ca(&lab.d.path().join("ca"), &lab.clock, lab.addr));
    lab.advance_to(LIFETIME * 90 / 100 + 30);
    assert_eq!(enroll::run_due(lab.r.shared()), 1);
    let new = lab.cert("s1");
    assert_ne!(new, old);
    assert!(lab.log().contains("retry 1 of 5"), "{}", lab.log());
}

#[test]
fn a_write_failing_between_receiving_and_storing_loses_nothing() {
    let mut lab = lab();
    lab.scep_cert("s1");
    enroll::run_due(lab.r.shared());
    let old = lab.cert("s1");
    lab.configure("set security pki auto-re-enrollment scep certificate-id s1 ca-profile-name scep re-enroll-trigger-time-percentage 10 re-generate-keypair");
    lab.advance_to(LIFETIME * 90 / 100);
    // The first write of the new key pair fails where a crash would hit.
    // (write 1 is the renewal record itself, write 2 the new key pair.)
    lab.r.shared().pki().store().fail_before_rename(2);
    enroll::run_due(lab.r.shared());
    assert_eq!(lab.cert("s1"), old, "the old certificate is still there");
    {
        let pki = lab.r.shared().pki();
        assert!(
            pki.key_pairs()["s1"]
                .key
                .matches(old.tbs_certificate().subject_public_key_info()),
            "and its key"
        );
    }
    assert_eq!(
        enroll::records(lab.r.shared()).len(),
        1,
        "the renewal waits for its retry"
    );

    // A restart in the middle resumes from the stored record.
    let Lab {
        d,
        clock,
        addr: _,
        ca,
        r,
        s,
        _log,
    } = lab;
    drop(s);
    drop(r);
    let r = Router::start(
        DataDir::new(d.path().join("r1")),
        clock.clone(),
        Slot { fpc: 1, pic: 0 },
    )
    .unwrap();
    let _log2 = support::log_files(&r);
    let mut s = r.session("root");
    assert_eq!(enroll::records(r.shared()).len(), 1);
    clock.set(NOW + Duration::from_secs(LIFETIME * 90 / 100 + 30));
    assert_eq!(enroll::run_due(r.shared()), 1);
    let new = r.shared().pki().local_certificates()["s1"].clone();
    assert_ne!(new, old);
    assert!(!same_key(&new, &old), "renewed with the new key pair");
    assert!(
        r.shared().pki().key_pairs()["s1"]
            .key
            .matches(new.tbs_certificate().subject_public_key_info())
    );
    // The CA issued exactly one renewal: the retransmission got the same certificate.
    let issued = ca
        .as_ref()
        .unwrap()
        .authority()
        .state()
        .unwrap()
        .issued
        .len();
    assert_eq!(issued, 2, "one enrollment and one renewal, not two");
    let show = ok(
        &r,
        &mut s,
        "show security pki local-certificate certificate-id s1 detail",
    );
    assert!(show.contains("Status: Enabled"), "{show}");
    assert!(show.contains("Last attempt: renewed at"), "{show}");
    // The outcome is kept in the store: another restart still shows it.
    drop(s);
    drop(_log2);
    drop(r);
    let r = Router::start(
        DataDir::new(d.path().join("r1")),
        clock,
        Slot { fpc: 1, pic: 0 },
    )
    .unwrap();
    let mut s = r.session("root");
    let show = ok(
        &r,
        &mut s,
        "show security pki local-certificate certificate-id s1 detail",
    );
    assert!(show.contains("Last attempt: renewed at"), "{show}");
}

#[test]
fn a_hundred_certificates_due_at_once() {
    let mut lab = lab();
    for i in 0..100 {
        lab.cmp_cert(&format!("c{i}"));
    }
    assert_eq!(enroll::run_due(lab.r.shared()), 100);
    ok(&lab.r, &mut lab.s, "configure");
    for i in 0..100 {
        ok(
            &lab.r,
            &mut lab.s,
            &format!(
                "set security pki auto-re-enrollment cmpv2 certificate-id c{i} ca-profile-name cmp re-enroll-trigger-time-percentage 10"
            ),
        );
    }
    ok(&lab.r, &mut lab.s, "commit");
    ok(&lab.r, &mut lab.s, "exit");
    let before: Vec<Certificate> = (0..100).map(|i| lab.cert(&format!("c{i}"))).collect();
    lab.advance_to(LIFETIME * 90 / 100);
    assert_eq!(enroll::run_due(lab.r.shared()), 100);
    for (i, old) in before.iter().enumerate() {
        assert_ne!(&lab.cert(&format!("c{i}")), old, "c{i} renewed");
    }
    assert!(enroll::records(lab.r.shared()).is_empty());
}

#[test]
fn certificate_id_all_covers_every_certificate_of_the_profile() {
    let mut lab = lab();
    for id in ["a1", "a2", "a3"] {
        lab.cmp_cert(id);
    }
    assert_eq!(enroll::run_due(lab.r.shared()), 3);
    lab.configure("set security pki auto-re-enrollment cmpv2 certificate-id all ca-profile-name cmp re-enroll-trigger-time-percentage 10");
    let system = lab.cert(pki::manager::SYSTEM_GENERATED);
    let before: Vec<Certificate> = ["a1", "a2", "a3"].iter().map(|i| lab.cert(i)).collect();
    let show = ok(
        &lab.r,
        &mut lab.s,
        "show security pki local-certificate certificate-id a2 detail",
    );
    assert!(show.contains("Status: Enabled"), "{show}");
    lab.advance_to(LIFETIME * 90 / 100);
    assert_eq!(enroll::run_due(lab.r.shared()), 3);
    for (i, id) in ["a1", "a2", "a3"].iter().enumerate() {
        assert_ne!(lab.cert(id), before[i], "{id} renewed");
    }
    assert_eq!(
        lab.cert(pki::manager::SYSTEM_GENERATED),
        system,
        "not of that kind"
    );
}
