//! `request security pki ca-certificate verify`, `local-certificate verify`
//! (chain, validity and revocation through the IKE authenticator, CRL from
//! the CA's distribution point), and the export commands (certificate PEM
//! or DER, key pair as PKCS#8 with mode 0600).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use ca::server::ServeConfig;
use ca::state::Reason;
use mtsim::chassis::Slot;
use mtsim::datadir::DataDir;
use mtsim::router::Router;
use simclock::Clock;
use support::{err, ok};

const NOW: Duration = Duration::from_secs(support::NOW_SECS);

#[test]
fn verify_and_export() {
    let d = tempfile::tempdir().unwrap();
    let clock = Clock::frozen(NOW);
    let mut config = ServeConfig::default();
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
        clock.clone(),
        Slot { fpc: 1, pic: 0 },
    )
    .unwrap();
    let mut s = r.session("root");
    ok(&r, &mut s, "configure");
    ok(
        &r,
        &mut s,
        &format!(
            "set security pki ca-profile ca1 ca-identity ca1 enrollment url {}",
            ca.cmp_url()
        ),
    );
    ok(
        &r,
        &mut s,
        "set security pki ca-profile ca1 revocation-check crl refresh-interval 1",
    );
    ok(&r, &mut s, "commit");
    ok(&r, &mut s, "exit");
    ok(
        &r,
        &mut s,
        "request security pki generate-key-pair certificate-id r1 type ecdsa size 256",
    );
    ok(
        &r,
        &mut s,
        "request security pki local-certificate enroll cmpv2 ca-profile ca1 certificate-id r1 ca-dn \"CN=mtsim Issuing CA,O=mtsim,C=US\" ca-secret 1234-5678 ca-reference 3078 subject CN=r1 domain-name r1.example.net",
    );
    assert_eq!(mtsim::enroll::run_due(r.shared()), 1);

    let out = ok(
        &r,
        &mut s,
        "request security pki ca-certificate verify ca-profile ca1",
    );
    assert_eq!(out, "CA certificate ca1 verified successfully\n");
    let out = ok(
        &r,
        &mut s,
        "request security pki local-certificate verify certificate-id r1",
    );
    assert_eq!(out, "Local certificate r1 verification success\n");
    assert!(
        r.shared().pki().crls().contains_key("ca1"),
        "the CRL was fetched for the check"
    );
    let e = err(
        &r,
        &mut s,
        "request security pki ca-certificate verify ca-profile nope",
    );
    assert!(e.contains("doesn't exist"), "{e}");

    // Exports.
    ok(
        &r,
        &mut s,
        "request security pki local-certificate export certificate-id r1 filename r1.pem",
    );
    ok(
        &r,
        &mut s,
        "request security pki local-certificate export certificate-id r1 filename r1.der type der",
    );
    ok(
        &r,
        &mut s,
        "request security pki key-pair export certificate-id r1 filename r1.key",
    );
    let home = d.path().join("r1/home");
    let cert = r.shared().pki().local_certificates()["r1"].clone();
    assert_eq!(
        pki::encoding::certificate(&std::fs::read(home.join("r1.pem")).unwrap()).unwrap(),
        cert
    );
    let der = std::fs::read(home.join("r1.der")).unwrap();
    assert_eq!(der[0], 0x30);
    assert_eq!(pki::encoding::certificate(&der).unwrap(), cert);
    let key_file = home.join("r1.key");
    let mode = std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "a private key file is 0600");
    let key = pki::key::KeyPair::from_bytes(&std::fs::read(&key_file).unwrap()).unwrap();
    assert!(key.matches(cert.tbs_certificate().subject_public_key_info()));

    // Revoked at the CA: once the cached CRL is older than the refresh
    // interval, verification fails and says why.
    let serial = pki::info::serial_hex(cert.tbs_certificate().serial_number().as_bytes());
    ca.authority()
        .revoke(&serial, Reason::Superseded, NOW)
        .unwrap();
    clock.advance(Duration::from_secs(3601));
    let e = err(
        &r,
        &mut s,
        "request security pki local-certificate verify certificate-id r1",
    );
    assert!(
        e.contains("verification failed") && e.contains("revoked"),
        "{e}"
    );
}
