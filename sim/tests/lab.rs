//! `mtsim lab` as a new user runs it: the whole lifecycle in one process,
//! its JSON report, its transcript, and `--keep` leaving the operator in a
//! router's CLI.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::io::Write as _;
use std::process::{Command, Stdio};

const MTSIM: &str = env!("CARGO_BIN_EXE_mtsim");

#[test]
fn the_lab_passes_every_step_and_reports_them_as_json() {
    let o = Command::new(MTSIM)
        .args(["lab", "--json"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(report["ok"], true);
    let steps = report["steps"].as_array().unwrap();
    let names: Vec<&str> = steps.iter().map(|s| s["name"].as_str().unwrap()).collect();
    for want in [
        "key pairs generated",
        "CA profiles configured and committed",
        "CA certificate enrolled over SCEP (R1)",
        "R1's certificate enrolled over SCEP",
        "R2's certificate enrolled over CMPv2",
        "IKE gateways and IPsec VPNs configured",
        "IKE and IPsec SAs up and programmed onto both cards",
        "traffic across the tunnel",
        "automatic re-enrollment renewed both certificates and the tunnel moved to them",
        "a revoked certificate is refused",
    ] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    assert!(steps.iter().all(|s| s["result"] == "pass"), "{text}");
    // Secrets stay out of the report.
    assert!(!text.contains("lab-challenge") && !text.contains("lab-cmp-secret"));
}

#[test]
fn the_transcript_shows_the_commands_and_keep_leaves_a_cli() {
    let mut child = Command::new(MTSIM)
        .args(["lab", "--keep", "r2"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(
            b"show security ike security-associations\nshow security pki local-certificate\nexit\n",
        )
        .unwrap();
    let o = child.wait_with_output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{out}");
    for want in [
        "lab@r1> request security pki generate-key-pair certificate-id r1 size 2048 type rsa",
        "Generated key pair r1, key size 2048 bits",
        "lab@r1> request security pki ca-certificate enroll ca-profile lab-ca",
        "(sha1)",
        "lab@r2> show security ike security-associations detail",
        "Check: revocation",
        "Result: PASS",
        "lab: staying in r2's CLI",
        "lab@r2> ",
        "Certificate identifier: r2",
    ] {
        assert!(out.contains(want), "'{want}' missing:\n{out}");
    }
    // The transcript hides what the operator typed as secrets.
    assert!(
        !out.contains("lab-challenge") && !out.contains("lab-cmp-secret"),
        "{out}"
    );
    assert!(out.contains("challenge-password ********"), "{out}");
    // Not a terminal: no progress spinner.
    assert!(!String::from_utf8_lossy(&o.stderr).contains('\r'));
}
