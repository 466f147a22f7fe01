//! Secrets never leak: after a run that uses a SCEP challenge password, a
//! CMP shared secret and private keys (enrollments, re-enrollment
//! configuration, a request with a challenge), no log file, no `show`
//! output, no configuration as displayed or committed, and no enrollment
//! record left behind contains any of them.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use std::path::Path;
use std::time::Duration;

use ca::authority::{Challenge, Settings};
use ca::server::ServeConfig;
use mtsim::chassis::Slot;
use mtsim::datadir::DataDir;
use mtsim::router::Router;
use simclock::Clock;
use support::{ok, run_answering};

const NOW: Duration = Duration::from_secs(support::NOW_SECS);
const CHALLENGE: &str = "Chal-Xyz-123";
const CMP_SECRET: &str = "Cmp-Secret-987";

fn files(dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files(&p, out);
        } else {
            out.push((p.display().to_string(), std::fs::read(&p).unwrap()));
        }
    }
}

#[test]
fn no_secret_in_logs_show_output_configuration_or_records() {
    let d = tempfile::tempdir().unwrap();
    let clock = Clock::frozen(NOW);
    let mut config = ServeConfig {
        settings: Settings {
            challenge: Challenge::Reusable(CHALLENGE.to_string().into()),
            ..Settings::default()
        },
        ..ServeConfig::default()
    };
    config.cmp.add_secret("3078", CMP_SECRET);
    let ca = ca::server::start(
        &d.path().join("ca"),
        "127.0.0.1:0".parse().unwrap(),
        config,
        clock.clone(),
        false,
    )
    .unwrap();
    let data = d.path().join("r1");
    let r = Router::start(DataDir::new(&data), clock, Slot { fpc: 1, pic: 0 }).unwrap();
    let _log = support::log_files(&r);
    let mut s = r.session("root");
    let mut shown = String::new();
    ok(&r, &mut s, "configure");
    ok(
        &r,
        &mut s,
        &format!(
            "set security pki ca-profile scep ca-identity scep enrollment url {}",
            ca.scep_url()
        ),
    );
    ok(
        &r,
        &mut s,
        &format!(
            "set security pki ca-profile cmp ca-identity cmp enrollment url {}",
            ca.cmp_url()
        ),
    );
    ok(
        &r,
        &mut s,
        &format!(
            "set security pki auto-re-enrollment scep certificate-id s1 ca-profile-name scep challenge-password {CHALLENGE} re-enroll-trigger-time-percentage 10"
        ),
    );
    ok(&r, &mut s, "commit");
    shown.push_str(&ok(&r, &mut s, "show security pki"));
    ok(&r, &mut s, "exit");
    let (res, out) = run_answering(
        &r,
        &mut s,
        "request security pki ca-certificate enroll ca-profile scep",
        &["yes"],
    );
    assert!(res.is_ok(), "{out}");
    ok(
        &r,
        &mut s,
        "request security pki generate-key-pair certificate-id s1 size 2048 type rsa",
    );
    ok(
        &r,
        &mut s,
        "request security pki generate-key-pair certificate-id c1 type ecdsa size 256",
    );
    shown.push_str(&ok(&r, &mut s, &format!("request security pki local-certificate enroll scep ca-profile scep certificate-id s1 challenge-password {CHALLENGE} subject CN=s1 domain-name s1.example.net")));
    shown.push_str(&ok(&r, &mut s, &format!("request security pki local-certificate enroll cmpv2 ca-profile cmp certificate-id c1 ca-dn \"CN=mtsim Issuing CA,O=mtsim,C=US\" ca-secret {CMP_SECRET} ca-reference 3078 subject CN=c1 domain-name c1.example.net")));
    shown.push_str(&ok(&r, &mut s, &format!("request security pki generate-certificate-request certificate-id c1 subject CN=c1 domain-name c1.example.net challenge-password {CHALLENGE}")));
    assert_eq!(mtsim::enroll::run_due(r.shared()), 2);
    for line in [
        "show security pki local-certificate detail",
        "show security pki key-pair",
        "show security pki certificate-request detail",
        "show security pki ca-certificate detail",
        "show security ike",
        "show log pkid",
        "show log messages",
    ] {
        shown.push_str(&ok(&r, &mut s, line));
    }
    shown.push_str(&ok(
        &r,
        &mut s,
        "show security pki local-certificate detail | display json",
    ));

    // The private keys, as the store holds them (PKCS#8 PEM): no
    // 32-character piece of their base64 may appear anywhere but in the key
    // files. (Pieces also found in a certificate are public structure:
    // PKCS#8 carries algorithm identifiers and the public key too.)
    let mut public = Vec::new();
    files(&data.join("ikecert/local"), &mut public);
    files(&data.join("ikecert/certification-authority"), &mut public);
    let public: String = public
        .iter()
        .flat_map(|(_, b)| {
            String::from_utf8_lossy(b)
                .lines()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    let mut key_pieces = Vec::new();
    for id in ["s1", "c1"] {
        let pem =
            std::fs::read_to_string(data.join(format!("ikecert/key-pair/{id}.priv"))).unwrap();
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        for start in (0..body.len().saturating_sub(32)).step_by(8) {
            let piece = &body[start..start + 32];
            if !public.contains(piece) {
                key_pieces.push(piece.to_string());
            }
        }
    }
    assert!(key_pieces.len() > 10, "private material to look for");
    let mut everything = vec![("show output".to_string(), shown.into_bytes())];
    files(&data, &mut everything);
    for (what, bytes) in &everything {
        if what.contains("key-pair/") {
            continue;
        }
        let text = String::from_utf8_lossy(bytes);
        assert!(!text.contains(CHALLENGE), "challenge password in {what}");
        assert!(!text.contains(CMP_SECRET), "CMP secret in {what}");
        for piece in &key_pieces {
            assert!(
                !text.contains(piece.as_str()),
                "private key material in {what}: {piece}"
            );
        }
    }
}
