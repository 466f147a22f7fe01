//! `mtsim pic selftest` as a user runs it, and its capture opened by a third
//! party: tshark decrypts every ESP packet with the SA lines the self-test
//! prints. Under `CI=true` a missing tshark fails the test.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use std::process::Command;

fn mtsim() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mtsim"))
}

#[test]
fn selftest_passes_and_prints_counters() {
    let out = mtsim().args(["pic", "selftest"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("Result: PASS"), "{stdout}");
    assert!(stdout.contains("A->B: 16 sent, 16 encapsulated, 16 decapsulated, 16 identical"));
    assert!(stdout.contains("B->A: 16 sent, 16 encapsulated, 16 decapsulated, 16 identical"));
    // Counters: 33 encapsulations (32 + the one for the negative checks), one
    // authentication failure, one replay.
    let counter = |name: &str| -> u64 {
        let at = stdout
            .find(name)
            .unwrap_or_else(|| panic!("no counter {name}"));
        stdout[at + name.len()..]
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert_eq!(counter("encap packets"), 33);
    assert_eq!(counter("decap packets"), 33);
    assert_eq!(counter("authentication failures"), 1);
    assert_eq!(counter("replays"), 1);
    // Without --pcap no key material is printed.
    assert!(!stdout.contains("uat:esp_sa"), "{stdout}");
}

#[test]
fn bad_arguments_are_refused_with_a_message() {
    let out = mtsim()
        .args(["pic", "selftest", "--packets", "0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--packets"));
    let out = mtsim()
        .args(["pic", "selftest", "--pcap", "/nonexistent-dir/x.pcap"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot write pcap /nonexistent-dir/x.pcap")
    );
}

fn tshark_available() -> bool {
    support::peer_available("tshark", &["--version"], "tshark")
}

#[test]
fn tshark_decrypts_the_selftest_capture() {
    if !tshark_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("espic.pcap");
    let out = mtsim()
        .args(["pic", "selftest", "--packets", "5", "--pcap"])
        .arg(&pcap)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("Wrote 20 ESP packets"), "{stdout}");
    let uats: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.trim().strip_prefix("uat:esp_sa:"))
        .collect();
    assert_eq!(uats.len(), 2, "{stdout}");

    let mut cmd = Command::new("tshark");
    cmd.arg("-r").arg(&pcap).args([
        "-o",
        "esp.enable_encryption_decode:TRUE",
        "-o",
        "esp.enable_authentication_check:TRUE",
    ]);
    for u in &uats {
        cmd.arg("-o").arg(format!("uat:esp_sa:{u}"));
    }
    let out = cmd
        .args([
            "-T",
            "fields",
            "-E",
            "separator=|",
            "-e",
            "esp.icv_good",
            "-e",
            "icmp.type",
            "-e",
            "icmpv6.type",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "tshark: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split('|').collect()).collect();
    assert_eq!(rows.len(), 20, "{text}");
    for r in &rows {
        assert_eq!(r[0], "1", "ICV not verified by tshark: {text}");
        // The decrypted inner packet is an ICMP (8) or ICMPv6 (128) echo request.
        assert!(r[1] == "8" || r[2] == "128", "inner not decoded: {text}");
    }
}
