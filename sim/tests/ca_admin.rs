//! `mtsim ca list|approve|reject|revoke` against a CA directory, as an
//! operator runs them while the CA holds requests for approval.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::process::Command;
use std::time::Duration;

use ca::authority::{Admission, Application, Authority, Decision, Settings};
use pki::altname::AltNames;
use pki::info::serial_hex;
use pki::key::{HashAlg, KeyAlgorithm, KeyPair, KeySpec};

fn mtsim(args: &[&str]) -> (bool, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_mtsim"))
        .args(args)
        .output()
        .unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn approve_reject_revoke_from_the_command_line() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().to_str().unwrap();
    let now = Duration::from_secs(1_795_000_000);
    let a = Authority::open(
        d.path(),
        Settings {
            manual_approval: true,
            ..Settings::default()
        },
        now,
    )
    .unwrap();
    let key = KeyPair::generate(KeySpec::new(KeyAlgorithm::Ecdsa, 256).unwrap()).unwrap();
    let name = pki::name::parse_subject("CN=r1,O=Example", "").unwrap();
    let req = pki::request::build(&key, name, &AltNames::default(), None, HashAlg::Sha256).unwrap();
    let req = Application::from_csr(&req).unwrap();
    let Decision::Pending(id) = a
        .request(&req, "tx-a", Admission::Challenge(None), now)
        .unwrap()
    else {
        panic!()
    };
    let Decision::Pending(id2) = a
        .request(&req, "tx-b", Admission::Challenge(None), now)
        .unwrap()
    else {
        panic!()
    };

    let (ok, out, _) = mtsim(&["ca", "list", "--dir", dir]);
    assert!(ok);
    assert!(out.contains(&format!("  {id:<6} waiting")), "{out}");
    let (ok, out, _) = mtsim(&["ca", "approve", "--dir", dir, &id.to_string()]);
    assert!(ok, "{out}");
    assert_eq!(out, format!("request {id} approved\n"));
    let (ok, _, _) = mtsim(&["ca", "reject", "--dir", dir, &id2.to_string()]);
    assert!(ok);
    let (ok, _, err) = mtsim(&["ca", "approve", "--dir", dir, "99"]);
    assert!(!ok);
    assert!(err.contains("no pending request 99"), "{err}");

    // The server side sees the operator's decisions.
    let Decision::Issued(cert) = a.poll("tx-a", now).unwrap() else {
        panic!()
    };
    assert!(matches!(
        a.poll("tx-b", now).unwrap(),
        Decision::Rejected(_)
    ));
    let serial = serial_hex(cert.tbs_certificate().serial_number().as_bytes());
    let (ok, out, err) = mtsim(&[
        "ca",
        "revoke",
        "--dir",
        dir,
        &serial,
        "--reason",
        "keyCompromise",
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("revoked (keyCompromise)"), "{out}");
    let (_, out, _) = mtsim(&["ca", "list", "--dir", dir]);
    assert!(
        out.contains(&serial) && out.contains("revoked (keyCompromise)"),
        "{out}"
    );
    let (ok, _, err) = mtsim(&["ca", "revoke", "--dir", dir, &serial, "--reason", "bored"]);
    assert!(!ok);
    assert!(err.contains("unknown revocation reason 'bored'"), "{err}");

    // An empty directory is not a CA, and is not turned into one.
    let empty = tempfile::tempdir().unwrap();
    let (ok, _, err) = mtsim(&["ca", "list", "--dir", empty.path().to_str().unwrap()]);
    assert!(!ok);
    assert!(err.contains("no CA in"), "{err}");
    assert!(!empty.path().join("root.cert").exists());
}
