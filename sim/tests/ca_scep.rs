//! The embedded CA's SCEP server (`mtsim ca serve`) against real SCEP
//! clients from Debian packages: micromdm's `scepclient` (package `scep`)
//! and strongSwan's `pki --scepca` / `pki --scep` 5.9.8 (package
//! `strongswan-pki`). Everything on 127.0.0.1: the CA binds only the
//! address it is given. The issued certificates are checked with
//! `openssl verify` against the CA's own chain, and a revoked one against
//! the CRL the CA serves.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use std::path::Path;

use support::{CaProcess, peer_available, run_peer};

fn scepclient_available() -> bool {
    peer_available("scepclient", &["-version"], "scep")
}

fn pki_available() -> bool {
    peer_available("pki", &["--help"], "strongswan-pki")
}

fn openssl(cwd: &Path, args: &[&str]) -> (bool, String) {
    let (ok, out, err) = run_peer(cwd, 30, "openssl", args);
    (ok, format!("{out}{err}"))
}

/// `root.cert` + `issuing.cert` of the CA as one PEM file.
fn chain_file(ca: &CaProcess, into: &Path) -> std::path::PathBuf {
    let mut pem = std::fs::read_to_string(ca.dir.join("root.cert")).unwrap();
    pem.push_str(&std::fs::read_to_string(ca.dir.join("issuing.cert")).unwrap());
    let path = into.join("chain.pem");
    std::fs::write(&path, pem).unwrap();
    path
}

fn serial_of(cwd: &Path, cert: &str) -> String {
    let (ok, out) = openssl(cwd, &["x509", "-in", cert, "-noout", "-serial"]);
    assert!(ok, "{out}");
    out.trim()
        .trim_start_matches("serial=")
        .to_ascii_lowercase()
}

#[test]
fn micromdm_scepclient_enrolls_and_a_wrong_challenge_is_refused() {
    if !scepclient_available() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let ca = CaProcess::start(&d.path().join("ca"), &["--challenge", "secret123"]);

    // scepclient writes csr.pem/self.pem into its working directory and
    // reuses them: one fresh directory per client.
    let c1 = d.path().join("c1");
    std::fs::create_dir(&c1).unwrap();
    let url = ca.scep_url();
    let (ok, out, err) = run_peer(
        &c1,
        60,
        "scepclient",
        &[
            "-server-url",
            &url,
            "-private-key",
            "c1.key",
            "-certificate",
            "c1.pem",
            "-cn",
            "router1.example.net",
            "-organization",
            "Example",
            "-challenge",
            "secret123",
        ],
    );
    assert!(
        ok && c1.join("c1.pem").exists(),
        "scepclient failed:\n{out}\n{err}\n{}",
        ca.log()
    );
    let chain = chain_file(&ca, d.path());
    let (ok, out) = openssl(
        &c1,
        &[
            "verify",
            "-CAfile",
            chain.to_str().unwrap(),
            "-purpose",
            "sslclient",
            "c1.pem",
        ],
    );
    assert!(ok, "the issued certificate must chain to the CA: {out}");
    let (_, text) = openssl(
        &c1,
        &[
            "x509",
            "-in",
            "c1.pem",
            "-noout",
            "-subject",
            "-ext",
            "extendedKeyUsage,crlDistributionPoints",
        ],
    );
    assert!(text.contains("CN = router1.example.net"), "{text}");
    assert!(
        text.contains("ipsec Internet Key Exchange"),
        "EKU for IKE: {text}"
    );
    assert!(
        text.contains(&format!("http://{}/crl/issuing.crl", ca.addr)),
        "{text}"
    );

    let c2 = d.path().join("c2");
    std::fs::create_dir(&c2).unwrap();
    let (_, out, err) = run_peer(
        &c2,
        60,
        "scepclient",
        &[
            "-server-url",
            &url,
            "-private-key",
            "c2.key",
            "-certificate",
            "c2.pem",
            "-cn",
            "router2.example.net",
            "-challenge",
            "WRONG",
        ],
    );
    assert!(
        !c2.join("c2.pem").exists(),
        "a wrong challenge must not get a certificate"
    );
    assert!(
        format!("{out}{err}").contains("badRequest"),
        "the client is told badRequest:\n{out}\n{err}"
    );
    let log = ca.log();
    assert!(log.contains("wrong challenge password"), "{log}");
    assert!(
        !log.contains("WRONG") && !log.contains("secret123"),
        "passwords never logged"
    );
    let listing = ca.admin(&["list"]);
    assert_eq!(
        listing.matches("valid").count(),
        1,
        "one certificate issued:\n{listing}"
    );
}

/// Waits (up to 30 s: a peer process is polling) until the CA holds a
/// request.
fn wait_for_pending(ca: &CaProcess) {
    for _ in 0..300 {
        if ca.admin(&["list"]).contains("waiting") {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("no pending request:\n{}", ca.log());
}

/// Runs `pki --scep`; returns (success, the certificate PEM on stdout, stderr).
fn pki_scep(cwd: &Path, url: &str, extra: &[&str]) -> (bool, String, String) {
    let mut args = vec![
        "--scep",
        "--url",
        url,
        "--cacert-enc",
        "ca-1.der",
        "--cacert-sig",
        "ca-1.der",
        "--interval",
        "1",
        "--maxpolltime",
        "60",
        "--outform",
        "pem",
    ];
    args.extend_from_slice(extra);
    run_peer(cwd, 90, "pki", &args)
}

#[test]
fn strongswan_pki_enrolls_after_approval_and_renews() {
    if !pki_available() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let w = d.path();
    let ca = CaProcess::start(
        &w.join("ca"),
        &["--challenge", "secret123", "--manual-approval"],
    );
    let url = ca.scep_url();
    let (ok, out, err) = run_peer(
        w,
        30,
        "pki",
        &["--scepca", "--url", &url, "--caout", "ca.der", "--force"],
    );
    // The issuing CA is an intermediate: pki names it ca-1.der.
    assert!(
        ok && w.join("ca-1.der").exists(),
        "pki --scepca:\n{out}\n{err}"
    );

    let (ok, out, err) = run_peer(
        w,
        30,
        "pki",
        &[
            "--gen",
            "--type",
            "rsa",
            "--size",
            "2048",
            "--outform",
            "pem",
        ],
    );
    assert!(ok, "{err}");
    std::fs::write(w.join("r.key"), out).unwrap();

    // Enrollment: held for approval; the client polls until it is approved.
    let url2 = url.clone();
    let w2 = w.to_path_buf();
    let client = std::thread::spawn(move || {
        pki_scep(
            &w2,
            &url2,
            &[
                "--in",
                "r.key",
                "--dn",
                "CN=router3.example.net, O=Example",
                "--san",
                "router3.example.net",
                "--san",
                "192.0.2.3",
                "--password",
                "secret123",
            ],
        )
    });
    wait_for_pending(&ca);
    assert!(ca.admin(&["approve", "1"]).contains("approved"));
    let (ok, pem, err) = client.join().unwrap();
    assert!(ok, "pki --scep after approval:\n{err}\n{}", ca.log());
    std::fs::write(w.join("r3.crt"), pem).unwrap();
    let (_, text) = openssl(
        w,
        &[
            "x509",
            "-in",
            "r3.crt",
            "-noout",
            "-subject",
            "-ext",
            "subjectAltName",
        ],
    );
    assert!(
        text.contains("router3.example.net") && text.contains("192.0.2.3"),
        "{text}"
    );
    assert!(
        ca.log().contains("(PKCSReq): PENDING as request 1"),
        "{}",
        ca.log()
    );

    // Renewal with a new key, signed with the current certificate: held
    // too, approved, same subject and SANs, a new serial.
    let (_, key2, _) = run_peer(
        w,
        30,
        "pki",
        &[
            "--gen",
            "--type",
            "rsa",
            "--size",
            "2048",
            "--outform",
            "pem",
        ],
    );
    std::fs::write(w.join("r2.key"), key2).unwrap();
    let url2 = url.clone();
    let w2 = w.to_path_buf();
    let client = std::thread::spawn(move || {
        pki_scep(
            &w2,
            &url2,
            &[
                "--in",
                "r2.key",
                "--cert",
                "r3.crt",
                "--key",
                "r.key",
                "--dn",
                "CN=router3.example.net, O=Example",
                "--san",
                "router3.example.net",
                "--san",
                "192.0.2.3",
            ],
        )
    });
    wait_for_pending(&ca);
    ca.admin(&["approve", "2"]);
    let (ok, pem, err) = client.join().unwrap();
    assert!(ok, "pki --scep renewal:\n{err}\n{}", ca.log());
    std::fs::write(w.join("r3b.crt"), pem).unwrap();
    let (_, text) = openssl(
        w,
        &[
            "x509",
            "-in",
            "r3b.crt",
            "-noout",
            "-subject",
            "-ext",
            "subjectAltName",
        ],
    );
    assert!(
        text.contains("CN = router3.example.net, O = Example") && text.contains("192.0.2.3"),
        "{text}"
    );
    assert_ne!(serial_of(w, "r3.crt"), serial_of(w, "r3b.crt"));
    assert!(
        ca.log().contains("(RenewalReq): PENDING as request 2"),
        "renewed by RenewalReq:\n{}",
        ca.log()
    );
}

#[test]
fn a_revoked_certificate_fails_openssl_crl_check() {
    if !scepclient_available() || !peer_available("curl", &["--version"], "curl") {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let w = d.path();
    let ca = CaProcess::start(&w.join("ca"), &["--challenge", "pw"]);
    let url = ca.scep_url();
    for name in ["keep", "gone"] {
        let (ok, out, err) = run_peer(
            w,
            60,
            "scepclient",
            &[
                "-server-url",
                &url,
                "-private-key",
                &format!("{name}.key"),
                "-certificate",
                &format!("{name}.pem"),
                "-cn",
                name,
                "-challenge",
                "pw",
            ],
        );
        assert!(ok, "{out}{err}");
        // scepclient reuses csr.pem and self.pem from its directory.
        let _ = std::fs::remove_file(w.join("csr.pem"));
        let _ = std::fs::remove_file(w.join("self.pem"));
    }
    let serial = serial_of(w, "gone.pem");
    let out = ca.admin(&["revoke", &serial, "--reason", "keyCompromise"]);
    assert!(out.contains("revoked"), "{out}");
    let crl_url = format!("http://{}/crl/issuing.crl", ca.addr);
    let (ok, _, err) = run_peer(w, 30, "curl", &["-sf", "-o", "crl.der", &crl_url]);
    assert!(ok, "fetching the CRL: {err}");
    let (ok, out) = openssl(
        w,
        &["crl", "-inform", "DER", "-in", "crl.der", "-out", "crl.pem"],
    );
    assert!(ok, "{out}");
    let chain = chain_file(&ca, w);
    let verify = |cert: &str| {
        openssl(
            w,
            &[
                "verify",
                "-crl_check",
                "-CAfile",
                chain.to_str().unwrap(),
                "-CRLfile",
                "crl.pem",
                cert,
            ],
        )
    };
    let (ok, out) = verify("keep.pem");
    assert!(ok, "the other certificate is still good: {out}");
    let (ok, out) = verify("gone.pem");
    assert!(!ok && out.contains("certificate revoked"), "{out}");
}
