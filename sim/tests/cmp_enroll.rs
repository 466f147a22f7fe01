//! The router's CMPv2 client against the embedded CA, both in this process
//! on one simulated clock: IR under a shared secret (the CA chain placed
//! per the Junos naming rule, with forced collisions), IR signed with the
//! current certificate, KUR with the same and with a new key pair,
//! "waiting" then approval or rejection, and a reply whose MAC does not
//! verify (rejected, nothing stored).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use std::path::Path;
use std::time::Duration;

use ca::authority::Settings;
use ca::server::{RunningCa, ServeConfig};
use mtsim::chassis::Slot;
use mtsim::datadir::DataDir;
use mtsim::enroll;
use mtsim::router::{Router, Session};
use simclock::Clock;
use support::{err, ok};

const NOW: Duration = Duration::from_secs(support::NOW_SECS);

struct Lab {
    d: tempfile::TempDir,
    ca: RunningCa,
    r: Router,
    s: Session,
    _log: tracing::subscriber::DefaultGuard,
}

fn lab(manual: bool) -> Lab {
    let d = tempfile::tempdir().unwrap();
    let clock = Clock::frozen(NOW);
    let mut config = ServeConfig {
        settings: Settings {
            manual_approval: manual,
            ..Settings::default()
        },
        ..ServeConfig::default()
    };
    config.cmp.add_secret("3078", "1234-5678");
    let ca = ca::server::start(
        &d.path().join("ca"),
        "127.0.0.1:0".parse().unwrap(),
        config,
        clock.clone(),
        false,
    )
    .unwrap();
    let r = Router::start(
        DataDir::new(d.path().join("r1")),
        clock,
        Slot { fpc: 1, pic: 0 },
    )
    .unwrap();
    let _log = support::log_files(&r);
    let mut s = r.session("root");
    ok(&r, &mut s, "configure");
    ok(
        &r,
        &mut s,
        &format!(
            "set security pki ca-profile ca1 ca-identity ca1 enrollment url {} retry 3 retry-interval 60",
            ca.cmp_url()
        ),
    );
    ok(&r, &mut s, "commit");
    ok(&r, &mut s, "exit");
    ok(
        &r,
        &mut s,
        "request security pki generate-key-pair certificate-id r1 type ecdsa size 256",
    );
    Lab { d, ca, r, s, _log }
}

fn pkid_log(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("r1/log/pkid")).unwrap_or_default()
}

const IR: &str = "request security pki local-certificate enroll cmpv2 ca-profile ca1 certificate-id r1 ca-dn \"CN=mtsim Issuing CA,O=mtsim,C=US\" ca-secret 1234-5678 ca-reference 3078 subject \"CN=r1.example.net,O=Example\" domain-name r1.example.net ip-address 192.0.2.1";

fn local(r: &Router, id: &str) -> x509_cert::Certificate {
    r.shared().pki().local_certificates()[id].clone()
}

#[test]
fn ir_with_a_shared_secret_stores_the_certificate_and_the_chain() {
    let Lab {
        d,
        ca,
        r,
        mut s,
        _log,
    } = lab(false);
    let root = ca.authority().hierarchy().root.cert.clone();
    let issuing = ca.authority().hierarchy().issuing.cert.clone();
    let out = ok(&r, &mut s, IR);
    assert!(out.contains("enrollment has started"), "{out}");
    assert_eq!(enroll::run_due(r.shared()), 1);
    let cert = local(&r, "r1");
    assert_eq!(
        cert.tbs_certificate().issuer(),
        issuing.tbs_certificate().subject()
    );
    let cas = r.shared().pki().ca_certificates().clone();
    assert_eq!(cas["ca1"], issuing, "the issuing CA in the named profile");
    let name = pki::cmp::client::serial_profile_name(&root);
    assert_eq!(name.len(), 16);
    assert_eq!(cas[&name], root, "the root under its serial-derived name");
    let show = ok(&r, &mut s, "show security pki ca-certificate");
    assert!(show.contains(&name), "{show}");
    let log = pkid_log(d.path());
    assert!(log.contains("IR sent") && log.contains("loaded"), "{log}");
    assert!(!log.contains("1234-5678"), "the secret is never logged");
    let store = support::snapshot(&d.path().join("r1"));
    assert!(
        store
            .values()
            .all(|b| !String::from_utf8_lossy(b).contains("1234-5678")),
        "nor kept once the transaction is over"
    );
}

#[test]
fn serial_name_collisions_get_numbered() {
    for taken in [1usize, 2] {
        let Lab {
            d: _d,
            ca,
            r,
            mut s,
            _log,
        } = lab(false);
        let root = ca.authority().hierarchy().root.cert.clone();
        let name = pki::cmp::client::serial_profile_name(&root);
        // Other CA certificates already hold the name (and name-00).
        let other = ca.authority().hierarchy().issuing.cert.clone();
        let mut squat = vec![(name.clone(), other.clone())];
        if taken == 2 {
            let key = pki::key::KeyPair::generate(
                pki::key::KeySpec::new(pki::key::KeyAlgorithm::Ecdsa, 256).unwrap(),
            )
            .unwrap();
            let third = pki::issue::self_signed(
                &key,
                pki::name::parse_subject("CN=squatter", "").unwrap(),
                Default::default(),
                true,
                pki::issue::validity(NOW, NOW + Duration::from_secs(86400)).unwrap(),
            )
            .unwrap();
            squat.push((format!("{name}-00"), third));
        }
        r.shared().pki().store_ca_certificates(&squat).unwrap();
        ok(&r, &mut s, IR);
        enroll::run_due(r.shared());
        let cas = r.shared().pki().ca_certificates().clone();
        let expect = format!("{name}-{:02}", taken - 1);
        assert_eq!(
            cas.get(&expect),
            Some(&root),
            "{taken} taken: {:?}",
            cas.keys()
        );
        assert_eq!(cas[&name], other, "the existing one is left as it is");
    }
}

#[test]
fn signed_ir_and_key_updates() {
    let Lab {
        d,
        ca: _ca,
        r,
        mut s,
        _log,
    } = lab(false);
    ok(&r, &mut s, IR);
    enroll::run_due(r.shared());
    let first = local(&r, "r1");
    // IR signed with the current certificate (no shared secret).
    r.shared().clock.advance(Duration::from_secs(60));
    ok(
        &r,
        &mut s,
        "request security pki local-certificate enroll cmpv2 ca-profile ca1 certificate-id r1 ca-dn \"CN=mtsim Issuing CA,O=mtsim,C=US\" subject \"CN=r1.example.net,O=Example\" domain-name r1.example.net",
    );
    assert_eq!(enroll::run_due(r.shared()), 1);
    let second = local(&r, "r1");
    assert_ne!(first, second);
    // KUR with the same key pair.
    r.shared().clock.advance(Duration::from_secs(60));
    ok(
        &r,
        &mut s,
        "request security pki local-certificate re-enroll cmpv2 ca-profile ca1 certificate-id r1",
    );
    assert_eq!(enroll::run_due(r.shared()), 1);
    let third = local(&r, "r1");
    assert_ne!(second, third);
    assert_eq!(
        third.tbs_certificate().subject_public_key_info(),
        second.tbs_certificate().subject_public_key_info()
    );
    assert_eq!(
        third.tbs_certificate().subject(),
        second.tbs_certificate().subject()
    );
    // KUR with a new key pair.
    r.shared().clock.advance(Duration::from_secs(60));
    ok(
        &r,
        &mut s,
        "request security pki local-certificate re-enroll cmpv2 ca-profile ca1 certificate-id r1 re-generate-keypair",
    );
    assert_eq!(enroll::run_due(r.shared()), 1);
    let fourth = local(&r, "r1");
    assert_ne!(
        fourth.tbs_certificate().subject_public_key_info(),
        third.tbs_certificate().subject_public_key_info(),
        "a new key"
    );
    let pki = r.shared().pki();
    assert!(
        pki.key_pairs()["r1"]
            .key
            .matches(fourth.tbs_certificate().subject_public_key_info())
    );
    drop(pki);
    let log = pkid_log(d.path());
    assert!(log.contains("KUR sent"), "{log}");
}

#[test]
fn waiting_then_approval_or_rejection() {
    let Lab {
        d,
        ca,
        r,
        mut s,
        _log,
    } = lab(true);
    ok(&r, &mut s, IR);
    enroll::run_due(r.shared());
    let show = ok(
        &r,
        &mut s,
        "show security pki local-certificate certificate-id r1 detail",
    );
    assert!(
        show.contains("Enrollment: CMPv2 enrollment") && show.contains("pending"),
        "{show}"
    );
    ca.authority().approve(1).unwrap();
    r.shared().clock.advance(Duration::from_secs(1));
    assert_eq!(enroll::run_due(r.shared()), 1);
    assert!(r.shared().pki().local_certificates().contains_key("r1"));

    ok(
        &r,
        &mut s,
        "request security pki generate-key-pair certificate-id r2 type rsa size 2048",
    );
    ok(
        &r,
        &mut s,
        &IR.replace("certificate-id r1", "certificate-id r2"),
    );
    enroll::run_due(r.shared());
    ca.authority().reject(2).unwrap();
    r.shared().clock.advance(Duration::from_secs(1));
    enroll::run_due(r.shared());
    let show = ok(
        &r,
        &mut s,
        "show security pki local-certificate certificate-id r2 detail",
    );
    assert!(show.contains("failed"), "{show}");
    assert!(show.contains("rejected by the CA operator"), "{show}");
    assert!(show.contains("notAuthorized"), "{show}");
    let _ = d;
}

#[test]
fn a_reply_without_the_right_mac_is_rejected_and_nothing_stored() {
    let Lab {
        d,
        ca: _ca,
        r,
        mut s,
        _log,
    } = lab(false);
    let before = support::snapshot(&d.path().join("r1"));
    ok(
        &r,
        &mut s,
        &IR.replace("ca-secret 1234-5678", "ca-secret wrong"),
    );
    enroll::run_due(r.shared());
    let log = pkid_log(d.path());
    assert!(log.contains("reply rejected"), "{log}");
    assert!(!r.shared().pki().local_certificates().contains_key("r1"));
    assert!(
        r.shared().pki().ca_certificates().is_empty(),
        "no CA certificate stored"
    );
    let after = support::snapshot(&d.path().join("r1"));
    let changed: Vec<_> = after
        .keys()
        .filter(|k| before.get(*k) != after.get(*k))
        .filter(|k| !k.to_string_lossy().contains("enrollment"))
        .collect();
    assert!(
        changed.is_empty(),
        "only the enrollment record changes: {changed:?}"
    );
    let e = err(
        &r,
        &mut s,
        "request security pki local-certificate enroll cmpv2 ca-profile ca1 certificate-id r9 ca-dn CN=x subject CN=r9 ca-secret a",
    );
    assert!(e.contains("ca-secret and ca-reference go together"), "{e}");
}

#[test]
fn rsa_and_dsa_key_pairs_enroll_too() {
    let Lab {
        d: _d,
        ca: _ca,
        r,
        mut s,
        _log,
    } = lab(false);
    for (id, kind) in [("k-rsa", "rsa size 2048"), ("k-dsa", "dsa size 1024")] {
        ok(
            &r,
            &mut s,
            &format!("request security pki generate-key-pair certificate-id {id} type {kind}"),
        );
        ok(
            &r,
            &mut s,
            &IR.replace("certificate-id r1", &format!("certificate-id {id}")),
        );
    }
    assert_eq!(enroll::run_due(r.shared()), 2);
    let pki = r.shared().pki();
    for id in ["k-rsa", "k-dsa"] {
        let cert = &pki.local_certificates()[id];
        assert!(
            pki.key_pairs()[id]
                .key
                .matches(cert.tbs_certificate().subject_public_key_info()),
            "{id}"
        );
    }
}
