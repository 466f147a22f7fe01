//! The router's IKE authenticator: anchors from its PKI store, revocation
//! per CA profile with CRLs fetched over HTTP from the embedded CA and
//! cached, fail-closed unless the profile says otherwise, `revocation-check
//! disable` honoured, and every verdict logged with its reason.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use std::time::Duration;

use ca::authority::{Application, Settings};
use ca::server::{RunningCa, ServeConfig};
use ca::state::Reason;
use ike::auth::{PeerId, Refusal};
use mtsim::chassis::Slot;
use mtsim::datadir::DataDir;
use mtsim::router::{Router, Session};
use pki::altname::AltNames;
use pki::key::{HashAlg, KeyAlgorithm, KeyPair, KeySpec};
use simclock::Clock;
use support::{ok, run_answering};
use x509_cert::Certificate;

const NOW: Duration = Duration::from_secs(support::NOW_SECS);

struct Lab {
    d: tempfile::TempDir,
    ca: Option<RunningCa>,
    r: Router,
    s: Session,
    clock: Clock,
    _log: tracing::subscriber::DefaultGuard,
}

fn lab(revocation: &str) -> Lab {
    let d = tempfile::tempdir().unwrap();
    let clock = Clock::frozen(NOW);
    let ca = ca::server::start(
        &d.path().join("ca"),
        "127.0.0.1:0".parse().unwrap(),
        ServeConfig {
            settings: Settings {
                crl_lifetime: Duration::from_secs(86400),
                ..Settings::default()
            },
            ..ServeConfig::default()
        },
        clock.clone(),
        false,
    )
    .unwrap();
    let r = Router::start(
        DataDir::new(d.path().join("r1")),
        clock.clone(),
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
            "set security pki ca-profile ca1 ca-identity ca1 enrollment url {}",
            ca.scep_url()
        ),
    );
    if !revocation.is_empty() {
        ok(
            &r,
            &mut s,
            &format!("set security pki ca-profile ca1 revocation-check {revocation}"),
        );
    }
    ok(&r, &mut s, "commit");
    ok(&r, &mut s, "exit");
    let (res, out) = run_answering(
        &r,
        &mut s,
        "request security pki ca-certificate enroll ca-profile ca1",
        &["yes"],
    );
    assert!(res.is_ok(), "{out}");
    Lab {
        d,
        ca: Some(ca),
        r,
        s,
        clock,
        _log,
    }
}

fn peer(ca: &RunningCa, dns: &str) -> Certificate {
    let key = KeyPair::generate(KeySpec::new(KeyAlgorithm::Ecdsa, 256).unwrap()).unwrap();
    let alt = AltNames {
        dns: vec![dns.into()],
        ..AltNames::default()
    };
    let name = pki::name::parse_subject(&format!("CN={dns}"), "").unwrap();
    let csr = pki::request::build(&key, name, &alt, None, HashAlg::Sha256).unwrap();
    ca.authority()
        .issue(&Application::from_csr(&csr).unwrap(), NOW)
        .unwrap()
}

fn fqdn(s: &str) -> PeerId {
    PeerId::Fqdn(s.into())
}

#[test]
fn crls_are_fetched_cached_and_refreshed() {
    let lab = lab("crl refresh-interval 1");
    let ca = lab.ca.as_ref().unwrap();
    let good = peer(ca, "gw1.example.net");
    let bad = peer(ca, "gw2.example.net");
    let sh = lab.r.shared();
    assert!(sh.pki().crls().is_empty());
    mtsim::ike_auth::authenticate(sh, &good, &[], &fqdn("gw1.example.net")).unwrap();
    assert!(
        sh.pki().crls().contains_key("ca1"),
        "the CRL fetched from the certificate's distribution point is kept"
    );
    // Revoked at the CA: the cached CRL does not know yet.
    let serial = pki::info::serial_hex(bad.tbs_certificate().serial_number().as_bytes());
    ca.authority()
        .revoke(&serial, Reason::KeyCompromise, NOW)
        .unwrap();
    mtsim::ike_auth::authenticate(sh, &bad, &[], &fqdn("gw2.example.net")).unwrap();
    // After the refresh interval the new CRL is fetched and the peer refused.
    lab.clock.advance(Duration::from_secs(3601));
    let e = mtsim::ike_auth::authenticate(sh, &bad, &[], &fqdn("gw2.example.net")).unwrap_err();
    assert!(matches!(e, Refusal::Revoked { .. }), "{e}");
    // A wrong identity is refused even with a good chain.
    let e = mtsim::ike_auth::authenticate(sh, &good, &[], &fqdn("gw9.example.net")).unwrap_err();
    assert!(matches!(e, Refusal::IdentityMismatch { .. }), "{e}");
    let mut s = lab.s;
    let show = ok(&lab.r, &mut s, "show security ike");
    assert!(show.contains("fqdn:gw9.example.net"), "{show}");
    assert!(
        show.contains("Result: refused: IKE identity 'fqdn:gw9.example.net' does not match"),
        "{show}"
    );
    assert!(
        show.contains("Result: refused: certificate"),
        "the revocation, in words: {show}"
    );
    assert!(show.contains("Result: accepted"), "{show}");
    let log = std::fs::read_to_string(lab.d.path().join("r1/log/kmd")).unwrap();
    assert!(
        log.contains("peer fqdn:gw1.example.net") && log.contains("authenticated"),
        "{log}"
    );
    assert!(log.contains("refused") && log.contains("revoked"), "{log}");
}

#[test]
fn no_crl_fails_closed_unless_configured_and_disable_is_honoured() {
    // Default: a CRL is required; the CA is down and none is cached.
    let mut lab1 = lab("");
    let p = peer(lab1.ca.as_ref().unwrap(), "gw1.example.net");
    lab1.ca.take().unwrap().stop().unwrap();
    let e = mtsim::ike_auth::authenticate(lab1.r.shared(), &p, &[], &fqdn("gw1.example.net"))
        .unwrap_err();
    assert!(matches!(e, Refusal::CrlUnavailable { .. }), "{e}");
    let _ = &mut lab1.s;

    let mut lab2 = lab("crl disable on-download-failure");
    let p = peer(lab2.ca.as_ref().unwrap(), "gw1.example.net");
    lab2.ca.take().unwrap().stop().unwrap();
    mtsim::ike_auth::authenticate(lab2.r.shared(), &p, &[], &fqdn("gw1.example.net")).unwrap();

    let lab3 = lab("disable");
    let ca = lab3.ca.as_ref().unwrap();
    let p = peer(ca, "gw1.example.net");
    let serial = pki::info::serial_hex(p.tbs_certificate().serial_number().as_bytes());
    ca.authority()
        .revoke(&serial, Reason::KeyCompromise, NOW)
        .unwrap();
    mtsim::ike_auth::authenticate(lab3.r.shared(), &p, &[], &fqdn("gw1.example.net")).unwrap();
    assert!(lab3.r.shared().pki().crls().is_empty(), "no CRL fetched");
}

#[test]
fn the_es_pic_certificates_configuration_feeds_enrollment_and_ike() {
    let lab = lab("disable");
    let mut s = lab.s;
    let r = &lab.r;
    let ca = lab.ca.as_ref().unwrap();
    ok(r, &mut s, "configure");
    ok(
        r,
        &mut s,
        &format!(
            "set security certificates certification-authority legacy ca-name legacy enrollment-url {}",
            ca.scep_url()
        ),
    );
    ok(
        r,
        &mut s,
        "set security certificates enrollment-retry 7 path-length 0 maximum-certificates 64",
    );
    // Validated at commit.
    let e = support::err(r, &mut s, "set security certificates path-length 16");
    assert!(e.contains("16"), "{e}");
    ok(r, &mut s, "commit");
    ok(r, &mut s, "exit");
    // The ES PIC CA is a CA profile for the enrollment commands.
    assert_eq!(r.shared().pki().profile("legacy").map(|p| p.retry), Some(7));
    let (res, out) = run_answering(
        r,
        &mut s,
        "request security pki ca-certificate enroll ca-profile legacy",
        &["yes"],
    );
    assert!(res.is_ok(), "{out}");
    // path-length 0: a chain with an intermediate between the peer and the
    // root is too long when only the root is trusted.
    let p = peer(ca, "gw1.example.net");
    let root = ca.authority().hierarchy().root.cert.clone();
    let issuing = ca.authority().hierarchy().issuing.cert.clone();
    r.shared()
        .pki()
        .store_ca_certificates(&[("rootonly".into(), root)])
        .unwrap();
    r.shared().pki().clear_ca(Some("ca1")).unwrap();
    r.shared().pki().clear_ca(Some("legacy")).unwrap();
    let e = mtsim::ike_auth::authenticate(r.shared(), &p, &[issuing], &fqdn("gw1.example.net"))
        .unwrap_err();
    assert!(matches!(e, Refusal::TooDeep { .. }), "{e}");
    // A commit error names the entry.
    ok(r, &mut s, "configure");
    ok(
        r,
        &mut s,
        "set security certificates certification-authority broken enrollment-url http://127.0.0.1:1/scep",
    );
    let (res, out) = support::run(r, &mut s, "commit");
    assert!(res.is_err(), "{out}");
    let all = format!("{res:?}{out}");
    assert!(
        all.contains("certification-authority broken") && all.contains("ca-name"),
        "{all}"
    );
}

fn peer_with_ip(ca: &RunningCa, ip: &str) -> Certificate {
    let key = KeyPair::generate(KeySpec::new(KeyAlgorithm::Ecdsa, 256).unwrap()).unwrap();
    let alt = AltNames {
        ip: vec![ip.parse().unwrap()],
        ..AltNames::default()
    };
    let name = pki::name::parse_subject("CN=es-pic-peer", "").unwrap();
    let csr = pki::request::build(&key, name, &alt, None, HashAlg::Sha256).unwrap();
    ca.authority()
        .issue(&Application::from_csr(&csr).unwrap(), NOW)
        .unwrap()
}

#[test]
fn a_peer_configured_the_es_pic_way_is_authenticated_by_its_address() {
    let lab = lab("disable");
    let mut s = lab.s;
    let r = &lab.r;
    let ca = lab.ca.as_ref().unwrap();
    ok(r, &mut s, "request security key-pair batt");
    ok(r, &mut s, "configure");
    ok(
        r,
        &mut s,
        "set security ike proposal rsa authentication-method rsa-signatures dh-group group2 encryption-algorithm 3des-cbc",
    );
    ok(r, &mut s, "set security ike policy 192.0.2.9 proposals rsa");
    // Commit checks: signatures need the local certificate and key pair.
    let (res, out) = support::run(r, &mut s, "commit");
    let all = format!("{res:?}{out}");
    assert!(
        res.is_err() && all.contains("needs local-certificate and local-key-pair"),
        "{all}"
    );
    ok(
        r,
        &mut s,
        "set security ike policy 192.0.2.9 local-certificate batt local-key-pair batt encoding pem",
    );
    ok(
        r,
        &mut s,
        "set security ike policy 192.0.2.10 proposals nope",
    );
    let (res, out) = support::run(r, &mut s, "commit");
    let all = format!("{res:?}{out}");
    assert!(
        res.is_err() && all.contains("proposal nope is not configured"),
        "{all}"
    );
    ok(r, &mut s, "delete security ike policy 192.0.2.10");
    ok(r, &mut s, "commit");
    ok(r, &mut s, "exit");

    let good = peer_with_ip(ca, "192.0.2.9");
    let other = peer_with_ip(ca, "192.0.2.77");
    let sh = r.shared();
    mtsim::ike_auth::authenticate_es_pic(sh, "192.0.2.9".parse().unwrap(), &good, &[]).unwrap();
    let e = mtsim::ike_auth::authenticate_es_pic(sh, "192.0.2.9".parse().unwrap(), &other, &[])
        .unwrap_err();
    assert!(matches!(e, Refusal::IdentityMismatch { .. }), "{e}");
    let e = mtsim::ike_auth::authenticate_es_pic(sh, "192.0.2.1".parse().unwrap(), &good, &[])
        .unwrap_err();
    assert!(
        e.to_string().contains("no IKE policy for peer 192.0.2.1"),
        "{e}"
    );
}

#[test]
fn an_es_pic_ca_file_is_a_trust_anchor() {
    // The CA certificate only as an ES PIC file (the CA form of `request
    // security certificate enroll` without ca-file): trusted once a
    // `security certificates certification-authority` names the file.
    let lab = lab("disable");
    let mut s = lab.s;
    let r = &lab.r;
    let ca = lab.ca.as_ref().unwrap();
    r.shared().pki().clear_ca(Some("ca1")).unwrap();
    ok(
        r,
        &mut s,
        &format!(
            "request security certificate enroll filename issuing.pem ca-name ca1 url {} encoding pem",
            ca.scep_url()
        ),
    );
    assert!(lab.d.path().join("r1/ikecert/issuing.pem").is_file());
    ok(r, &mut s, "configure");
    ok(
        r,
        &mut s,
        "set security ike policy 192.0.2.9 local-certificate batt local-key-pair batt",
    );
    ok(r, &mut s, "commit");
    ok(r, &mut s, "exit");
    let good = peer_with_ip(ca, "192.0.2.9");
    let sh = r.shared();
    let e = mtsim::ike_auth::authenticate_es_pic(sh, "192.0.2.9".parse().unwrap(), &good, &[])
        .unwrap_err();
    assert!(matches!(e, Refusal::UnknownCa { .. }), "{e}");
    ok(r, &mut s, "configure");
    // A name that could leave /var/etc/ikecert is refused at commit.
    ok(
        r,
        &mut s,
        "set security certificates certification-authority legacy ca-name ca1 file ../issuing.pem",
    );
    let (res, out) = support::run(r, &mut s, "commit");
    let all = format!("{res:?}{out}");
    assert!(
        res.is_err() && all.contains("certification-authority legacy: file: ../issuing.pem"),
        "{all}"
    );
    ok(
        r,
        &mut s,
        "set security certificates certification-authority legacy file /var/etc/ikecert/issuing.pem",
    );
    ok(r, &mut s, "commit");
    ok(r, &mut s, "exit");
    mtsim::ike_auth::authenticate_es_pic(sh, "192.0.2.9".parse().unwrap(), &good, &[]).unwrap();
    let show = ok(r, &mut s, "show security ike");
    assert!(
        show.contains("Check: ES PIC ike policy 192.0.2.9: the certificate carries ipv4:192.0.2.9 as an iPAddress")
            && show.contains("Result: accepted"),
        "{show}"
    );
}
