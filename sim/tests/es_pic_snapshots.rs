//! Snapshots (insta) of what the ES PIC era commands and the remaining
//! `security pki` operational commands print, on one simulated clock
//! against the embedded CA. Values that change from run to run (key bytes,
//! fingerprints, serial numbers, ports) are masked; dates are fixed by the
//! frozen clock. Review changes with `cargo insta review`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use ca::authority::{Challenge, Settings};
use ca::server::ServeConfig;
use mtsim::chassis::Slot;
use mtsim::datadir::DataDir;
use mtsim::enroll;
use mtsim::router::Router;
use simclock::Clock;
use support::run_answering;

const NOW: Duration = Duration::from_secs(support::NOW_SECS);

fn filters() -> Vec<(&'static str, &'static str)> {
    vec![
        (r"([0-9a-f]{2}:){5,}[0-9a-f]{2}", "[HEX]"),
        (r"(?m)^(\s+)\[HEX\]\n(\s+\[HEX\]\n)+", "$1[HEX...]\n"),
        (r"127\.0\.0\.1:\d+", "127.0.0.1:[PORT]"),
        (r"JN[0-9A-F]{10}", "[CHASSIS-SERIAL]"),
        (
            r"(Serial number|serial|Serial): ?[0-9a-f]{8,}",
            "$1: [SERIAL]",
        ),
        (r"\(serial [0-9a-f]{8,}\)", "(serial [SERIAL])"),
        (r"/tmp/\.tmp[A-Za-z0-9]+", "[DIR]"),
        (
            r"-----BEGIN CERTIFICATE REQUEST-----\n[A-Za-z0-9+/=\n]+-----END CERTIFICATE REQUEST-----",
            "[PEM CERTIFICATE REQUEST]",
        ),
    ]
}

#[test]
fn es_pic_commands_and_their_output() {
    let d = tempfile::tempdir().unwrap();
    let clock = Clock::frozen(NOW);
    let ca = ca::server::start(
        &d.path().join("ca"),
        "127.0.0.1:0".parse().unwrap(),
        ServeConfig {
            settings: Settings {
                challenge: Challenge::Reusable("s3cret-pw".to_string().into()),
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
        clock,
        Slot { fpc: 1, pic: 0 },
    )
    .unwrap();
    let mut s = r.session("root");
    let url = ca.scep_url();
    let mut transcript = String::new();
    let mut run = |line: &str, answers: &[&str]| {
        let (res, out) = run_answering(&r, &mut s, line, answers);
        transcript.push_str(&format!("> {line}\n{out}"));
        if let Err(e) = res {
            transcript.push_str(&format!("[{e}]\n"));
        }
        transcript.push('\n');
    };
    run("configure", &[]);
    run(
        &format!(
            "set security certificates certification-authority ca1 ca-name ca1 enrollment-url {url} encoding pem"
        ),
        &[],
    );
    run(
        "set security certificates enrollment-retry 5 path-length 2",
        &[],
    );
    run("commit", &[]);
    run("exit", &[]);
    // Key pairs, the ES PIC way: default RSA 1024, the card-era 1596, and a
    // size the card never had.
    run("request security key-pair batt", &[]);
    run("request security key-pair k1596 size 1596", &[]);
    run("request security key-pair big size 4096", &[]);
    run("request security key-pair dsa1 type dsa size 1024", &[]);
    // The CA certificate over SCEP, then the local certificate.
    run(
        &format!(
            "request security certificate enroll filename ca1.der ca-file ca1 ca-name ca1 url {url}"
        ),
        &[],
    );
    run(
        "request security certificate enroll filename batt.pem subject CN=batt,O=Example alternative-subject 192.0.2.9 certification-authority ca1 encoding pem key-file batt domain-name batt.example.net password s3cret-pw",
        &[],
    );
    // The same CA certificate under its literal /var/etc/ikecert name, in
    // PEM; names that are refused, with nothing written.
    run(
        &format!(
            "request security certificate enroll filename /var/etc/ikecert/ca1.pem ca-name ca1 url {url} encoding pem"
        ),
        &[],
    );
    run(
        &format!("request security certificate enroll filename sub/ca1.der ca-name ca1 url {url}"),
        &[],
    );
    run(
        &format!(
            "request security certificate enroll filename again.der ca-file ca1 ca-name ca1 url {url}"
        ),
        &[],
    );
    run("request security key-pair batt", &[]);
    run("request security key-pair crl", &[]);
    run(
        "request security certificate enroll filename x.pem subject CN=x alternative-subject 192.0.2.9 certification-authority ca1 key-file nokey password s3cret-pw",
        &[],
    );
    let done = enroll::run_due(r.shared());
    run("show security pki local-certificate", &[]);
    assert_eq!(done, 1, "{transcript}");
    run(
        "show security pki local-certificate certificate-id batt detail",
        &[],
    );
    run(
        "show security pki ca-certificate ca-profile ca1 detail",
        &[],
    );
    run("show security pki key-pair", &[]);
    // The remaining security pki operational commands.
    run(
        "request security pki ca-certificate verify ca-profile ca1",
        &[],
    );
    run(
        "request security pki local-certificate verify certificate-id batt",
        &[],
    );
    run("show security pki crl ca-profile ca1 detail", &[]);
    run(
        "request security pki local-certificate export certificate-id batt filename batt-out.pem type pem",
        &[],
    );
    run(
        "request security pki key-pair export certificate-id batt filename batt.key type pem",
        &[],
    );
    run(
        "request security pki generate-certificate-request certificate-id k1596 subject CN=k1596 domain-name k1596.example.net filename k1596.csr",
        &[],
    );
    run("show security pki certificate-request", &[]);
    run(
        "clear security pki certificate-request certificate-id k1596",
        &[],
    );
    run("clear security pki crl ca-profile ca1", &[]);
    run("show security pki crl", &[]);
    insta::with_settings!({ filters => filters() }, {
        insta::assert_snapshot!("es_pic_transcript", transcript);
    });

    // The ES PIC files are in the simulated /var/etc/ikecert, private, and
    // hold what they should; the refused commands left nothing.
    let ikecert = d.path().join("r1/ikecert");
    for f in ["batt", "k1596", "dsa1", "ca1.der", "ca1.pem", "batt.pem"] {
        let path = ikecert.join(f);
        let mode = std::fs::metadata(&path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{f}");
    }
    for f in ["again.der", "x.pem", "crl", "sub"] {
        assert!(
            !ikecert.join(f).is_file() && !d.path().join("r1/home").join(f).exists(),
            "{f}"
        );
    }
    assert!(!d.path().join("r1/home/ca1.der").exists());
    let key = pki::key::KeyPair::from_bytes(&std::fs::read(ikecert.join("batt")).unwrap()).unwrap();
    let local =
        pki::encoding::certificate(&std::fs::read(ikecert.join("batt.pem")).unwrap()).unwrap();
    assert!(key.matches(local.tbs_certificate().subject_public_key_info()));
    {
        let pki = r.shared().pki();
        assert_eq!(pki.local_certificates()["batt"], local);
        let ca =
            pki::encoding::certificate(&std::fs::read(ikecert.join("ca1.der")).unwrap()).unwrap();
        assert_eq!(pki.ca_certificates()["ca1"], ca);
        let scan = pki.store().scan();
        assert!(scan.foreign.is_empty(), "{:?}", scan.foreign);
        let files: Vec<&str> = scan.files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            files,
            ["batt", "batt.pem", "ca1.der", "ca1.pem", "dsa1", "k1596"]
        );
    }
    // A restart: no problem with the store, every ES PIC file as it was.
    let before = support::snapshot(&d.path().join("r1"));
    drop(r);
    let (_, problems) = pki::manager::Pki::open(&ikecert, "JN0000000001").unwrap();
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(support::snapshot(&d.path().join("r1")), before);
}
