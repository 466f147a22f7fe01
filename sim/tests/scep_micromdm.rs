//! The router's SCEP client against a CA that is not ours: micromdm's
//! `scepserver` 2.1 (Debian package `scep`). It binds every interface, so
//! it runs in a network namespace this test creates (only `lo`, up), and
//! the router daemon (`mtsim router`) runs in the same namespace; the CLI
//! reaches the daemon over its Unix socket. The router fetches the CA
//! certificate, enrolls, is refused with a wrong challenge, and renews.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use support::{Netns, daemon_cli, peer_available, wait_for, wait_show};

const MTSIM: &str = env!("CARGO_BIN_EXE_mtsim");

#[test]
fn enrolls_with_micromdm_scepserver() {
    if !peer_available("scepserver", &["-version"], "scep")
        || !peer_available("ip", &["-V"], "iproute2")
    {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let w = d.path();
    let st = Command::new("scepserver")
        .args([
            "ca",
            "-init",
            "-depot",
            "depot",
            "-keySize",
            "2048",
            "-organization",
            "Test SCEP CA",
        ])
        .current_dir(w)
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let mut ns = Netns::new("scep");
    ns.spawn(
        w,
        &w.join("scepserver.log"),
        "scepserver",
        &[
            "-depot",
            "depot",
            "-port",
            "8080",
            "-challenge",
            "secret123",
            "-allowrenew",
            "0",
        ],
    );
    let data: PathBuf = w.join("r1");
    ns.spawn(
        w,
        &w.join("router.log"),
        MTSIM,
        &["router", "--data-dir", data.to_str().unwrap()],
    );
    wait_for(&w.join("scepserver.log"), "listening");
    for _ in 0..100 {
        if data.join("run/cli.sock").exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }

    // The profile, then the CA certificate over GetCACaps/GetCACert.
    let script = "configure\nset security pki ca-profile m ca-identity m enrollment url http://127.0.0.1:8080/scep retry 5 retry-interval 1\ncommit\n";
    let o = Command::new(MTSIM)
        .args(["cli", "--data-dir"])
        .arg(&data)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(script.as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    assert!(String::from_utf8_lossy(&o.stdout).contains("commit complete"));
    let out = daemon_cli(
        &data,
        "request security pki ca-certificate enroll ca-profile m force",
    );
    assert!(
        out.contains("(sha1)") && out.contains("loaded successfully"),
        "{out}"
    );

    // Enrollment.
    daemon_cli(
        &data,
        "request security pki generate-key-pair certificate-id r1 size 2048 type rsa",
    );
    let out = daemon_cli(
        &data,
        "request security pki local-certificate enroll scep ca-profile m certificate-id r1 challenge-password secret123 subject \"CN=r1.example.net,O=Example\" domain-name r1.example.net",
    );
    assert!(out.contains("enrollment has started"), "{out}");
    let show = wait_show(&data, "r1", "Test SCEP CA");
    assert!(show.contains("r1.example.net"), "{show}");
    let first_serial = show
        .lines()
        .find(|l| l.contains("Serial number"))
        .unwrap()
        .to_string();

    // A wrong challenge: micromdm answers FAILURE badRequest.
    daemon_cli(
        &data,
        "request security pki generate-key-pair certificate-id r2 size 2048 type rsa",
    );
    daemon_cli(
        &data,
        "request security pki local-certificate enroll scep ca-profile m certificate-id r2 challenge-password WRONG subject \"CN=r2.example.net,O=Example\" domain-name r2.example.net",
    );
    let show = wait_show(&data, "r2", "failed");
    assert!(show.contains("badRequest"), "{show}");

    // Renewal (micromdm advertises Renewal: a RenewalReq signed with r1).
    let out = daemon_cli(
        &data,
        "request security pki local-certificate re-enroll scep ca-profile m certificate-id r1 challenge-password secret123",
    );
    assert!(out.contains("re-enrollment has started"), "{out}");
    for _ in 0..200 {
        let show = daemon_cli(
            &data,
            "show security pki local-certificate certificate-id r1 detail",
        );
        let serial = show
            .lines()
            .find(|l| l.contains("Serial number"))
            .unwrap_or("")
            .to_string();
        if !show.contains("Enrollment:") && serial != first_serial {
            assert!(show.contains("r1.example.net"), "{show}");
            let log = std::fs::read_to_string(data.join("log/pkid")).unwrap();
            assert!(log.contains("renewal as RenewalReq sent"), "{log}");
            assert!(
                !log.contains("secret123") && !log.contains("WRONG"),
                "no passwords in the log"
            );
            return;
        }
        assert!(!show.contains("failed"), "renewal failed:\n{show}");
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the renewal never completed");
}
