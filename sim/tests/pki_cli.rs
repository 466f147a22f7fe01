//! The PKI commands through the router's real command tree, in process:
//! key pairs, CA profiles, requests, self-signed certificates, loading and
//! clearing, show output, and bad input that changes nothing stored.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use support::{configure_profile, err, ok, router, run, run_answering, snapshot};

#[test]
fn key_pairs_follow_the_junos_rules() {
    let d = tempfile::tempdir().unwrap();
    let r = router(d.path());
    let mut s = r.session("lab");
    let out = ok(
        &r,
        &mut s,
        "request security pki generate-key-pair certificate-id k-default",
    );
    assert_eq!(out, "Generated key pair k-default, key size 2048 bits\n");
    let out = ok(
        &r,
        &mut s,
        "request security pki generate-key-pair certificate-id k-ec size 384 type ecdsa",
    );
    assert_eq!(out, "Generated key pair k-ec, key size 384 bits\n");
    let out = ok(
        &r,
        &mut s,
        "request security pki generate-key-pair certificate-id k-weak size 1024 type rsa",
    );
    assert!(
        out.starts_with("warning: RSA 1024 bits is a weak key size: "),
        "{out}"
    );
    assert!(out.contains("80 bits of security"), "{out}");

    // Unknown sizes and sizes of another type are refused, with nothing stored.
    let before = snapshot(d.path());
    let e = err(
        &r,
        &mut s,
        "request security pki generate-key-pair certificate-id x size 1596",
    );
    assert!(e.contains("1596 is not a key size Junos knows"), "{e}");
    let e = err(
        &r,
        &mut s,
        "request security pki generate-key-pair certificate-id x size 256 type rsa",
    );
    assert!(e.contains("size 256 is for type ecdsa"), "{e}");
    let e = err(
        &r,
        &mut s,
        "request security pki generate-key-pair certificate-id x size 4096 type ecdsa",
    );
    assert!(e.contains("size 4096 is for type rsa"), "{e}");
    // An existing identifier is never overwritten.
    let e = err(
        &r,
        &mut s,
        "request security pki generate-key-pair certificate-id k-ec",
    );
    assert_eq!(e, "Key pair for certificate-id k-ec already exists");
    for bad in ["a.b", "a/b", "a%b", "abcdefghijklmnopqrstuvwxyz0123456"] {
        let e = err(
            &r,
            &mut s,
            &format!("request security pki generate-key-pair certificate-id {bad}"),
        );
        assert!(
            e.contains("Must not contain '/', %, '.' or a space") || e.contains("longer than 32"),
            "{bad}: {e}"
        );
    }
    assert_eq!(snapshot(d.path()), before);

    // The ES PIC form: RSA 1024 by default, with its own message.
    let out = ok(&r, &mut s, "request security key-pair batt");
    assert!(
        out.ends_with("Generated key pair, key size 1024, file batt Algorithm RSA\n"),
        "{out}"
    );
    // The ES PIC sizes include 1596 (RSA, a 1596-bit modulus, with a
    // warning); the security pki command keeps to today's sizes.
    let out = ok(&r, &mut s, "request security key-pair other size 1596");
    assert!(
        out.contains("warning: RSA 1596 bits is a weak key size"),
        "{out}"
    );
    assert!(
        out.ends_with("Generated key pair, key size 1596, file other Algorithm RSA\n"),
        "{out}"
    );
    // 512 bits, as the ES PIC took: made (unchecked generator), with a
    // warning, usable for a request.
    let out = ok(&r, &mut s, "request security key-pair tiny size 512");
    assert!(
        out.contains("warning: RSA 512 bits is a weak key size"),
        "{out}"
    );
    assert!(
        out.ends_with("Generated key pair, key size 512, file tiny Algorithm RSA\n"),
        "{out}"
    );
    let out = ok(&r, &mut s, "show security pki key-pair certificate-id tiny");
    assert!(out.contains("Key size: 512 bits"), "{out}");
    ok(
        &r,
        &mut s,
        "request security pki generate-certificate-request certificate-id tiny subject CN=tiny domain-name tiny.example.net",
    );
    let e = err(&r, &mut s, "request security key-pair big size 4096");
    assert!(
        e.contains("the ES PIC takes rsa sizes 512, 1024, 1596, 2048"),
        "{e}"
    );
    // Both command sets see the same store: the ES PIC key pair is a
    // security pki key pair.
    let out = ok(
        &r,
        &mut s,
        "show security pki key-pair certificate-id other",
    );
    assert!(out.contains("Key size: 1596 bits"), "{out}");
    ok(
        &r,
        &mut s,
        "request security pki generate-certificate-request certificate-id other subject CN=other domain-name other.example.net",
    );

    // Private keys: PKCS#8 PEM, mode 0600.
    let key = d.path().join("ikecert/key-pair/k-ec.priv");
    let pem = std::fs::read_to_string(&key).unwrap();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );

    let out = ok(&r, &mut s, "show security pki key-pair");
    assert!(
        out.contains("Certificate identifier: k-ec\n  Key type: ECDSA\n  Key size: 384 bits\n"),
        "{out}"
    );
    assert!(
        out.contains("Certificate identifier: batt\n  Key type: RSA\n  Key size: 1024 bits\n"),
        "{out}"
    );
    let json = ok(&r, &mut s, "show security pki key-pair | display json");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert!(v.to_string().contains("\"k-default\""), "{json}");

    ok(
        &r,
        &mut s,
        "clear security pki key-pair certificate-id k-weak",
    );
    assert!(!d.path().join("ikecert/key-pair/k-weak.priv").exists());
    let e = err(
        &r,
        &mut s,
        "clear security pki key-pair certificate-id k-weak",
    );
    assert_eq!(e, "Keypair doesn't exist for certificate-id k-weak");
    let out = ok(&r, &mut s, "show security pki key-pair");
    assert!(!out.contains("k-weak"), "{out}");
}

#[test]
fn requests_and_self_signed_certificates() {
    let d = tempfile::tempdir().unwrap();
    let r = router(d.path());
    let mut s = r.session("lab");
    let serial = r.shared().chassis.serial.clone();
    ok(
        &r,
        &mut s,
        "request security pki generate-key-pair certificate-id r1 size 2048 type rsa",
    );
    let out = ok(
        &r,
        &mut s,
        "request security pki generate-certificate-request certificate-id r1 subject \"DC=example,CN=r1,SN,OU=ops,O=Example Corp,L=Sunnyvale,ST=CA,C=US\" domain-name r1.example.net email ops@example.net ip-address 192.0.2.1 filename r1.csr",
    );
    assert!(
        out.starts_with("Generated certificate request\n-----BEGIN CERTIFICATE REQUEST-----\n"),
        "{out}"
    );
    assert!(
        out.contains("-----END CERTIFICATE REQUEST-----\nFingerprint:\n"),
        "{out}"
    );
    assert!(out.ends_with(" (md5)\n"), "{out}");
    assert!(d.path().join("home/r1.csr").exists());
    let out = ok(
        &r,
        &mut s,
        "show security pki certificate-request certificate-id r1 detail",
    );
    assert!(
        out.contains(&format!(
            "DC=example, CN=r1, serialNumber={serial}, OU=ops, O=Example Corp, L=Sunnyvale, ST=CA, C=US"
        )),
        "{out}"
    );
    assert!(
        out.contains("\"ops@example.net\", r1.example.net, ipv4 192.0.2.1, ipv6 empty"),
        "{out}"
    );

    // Without a key pair there is no request.
    let e = err(
        &r,
        &mut s,
        "request security pki generate-certificate-request certificate-id nokey subject CN=x",
    );
    assert_eq!(e, "Keypair doesn't exist for certificate-id nokey");

    // Bad subjects: a clear error, nothing stored.
    let before = snapshot(d.path());
    let e = err(
        &r,
        &mut s,
        "request security pki generate-certificate-request certificate-id r1 subject \"FOO=bar,CN=x\"",
    );
    assert!(e.contains("unknown attribute 'FOO'"), "{e}");
    let e = err(
        &r,
        &mut s,
        "request security pki generate-certificate-request certificate-id r1 subject \"CN=a\\\\zz\"",
    );
    assert!(e.contains("escape"), "{e}");
    let e = err(
        &r,
        &mut s,
        "request security pki generate-certificate-request certificate-id r1 subject CN=x domain-name \"bad domain\"",
    );
    assert!(e.contains("not a valid fully qualified domain name"), "{e}");
    assert_eq!(snapshot(d.path()), before);

    let out = ok(
        &r,
        &mut s,
        "request security pki local-certificate generate-self-signed certificate-id r1 subject \"CN=r1,O=Example\" domain-name r1.example.net ip-address 192.0.2.1",
    );
    assert_eq!(
        out,
        "Self-signed certificate generated and loaded successfully\n"
    );
    let e = err(
        &r,
        &mut s,
        "request security pki local-certificate generate-self-signed certificate-id r1 subject CN=r1",
    );
    assert_eq!(e, "Local certificate r1 already exists");
    let out = ok(
        &r,
        &mut s,
        "show security pki local-certificate certificate-id r1 detail",
    );
    assert!(
        out.starts_with("Certificate identifier: r1\n  Certificate version: 3\n"),
        "{out}"
    );
    assert!(
        out.contains("  Subject string:\n    CN=r1, O=Example\n"),
        "{out}"
    );
    assert!(
        out.contains("  Alternate subject: r1.example.net, ipv4 192.0.2.1, ipv6 empty\n"),
        "{out}"
    );
    assert!(
        out.contains("  Public key algorithm: rsaEncryption(2048 bits)\n"),
        "{out}"
    );
    assert!(
        out.contains("  Signature algorithm: sha256WithRSAEncryption\n"),
        "{out}"
    );
    assert!(out.contains("    Not before: 11-18-2026 "), "{out}");
    assert!(out.contains("  Auto-re-enrollment:\n    Status: Disabled\n    Next trigger time: Timer not started\n"), "{out}");
    let json = ok(
        &r,
        &mut s,
        "show security pki local-certificate certificate-id r1 detail | display json",
    );
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let entry = &v["x509-pki-certificate-info-list"]["pkid-x509-certificate-information"][0];
    assert_eq!(entry["identifier"], "r1");
    assert_eq!(entry["public-key"]["public-key-length"], 2048);
}

#[test]
fn system_generated_certificate_is_made_and_made_again() {
    let d = tempfile::tempdir().unwrap();
    let r = router(d.path());
    let mut s = r.session("lab");
    let out = ok(
        &r,
        &mut s,
        "show security pki local-certificate system-generated",
    );
    let serial = r.shared().chassis.serial.clone();
    assert!(out.contains(&format!("Issued to: {serial}")), "{out}");
    let before = std::fs::read(d.path().join("ikecert/local/system-generated.cert")).unwrap();
    ok(
        &r,
        &mut s,
        "clear security pki local-certificate system-generated",
    );
    let after = std::fs::read(d.path().join("ikecert/local/system-generated.cert")).unwrap();
    assert_ne!(before, after, "a new certificate after clearing");
    drop(s);
    drop(r);
    // A restart keeps it rather than making another.
    let r = router(d.path());
    let again = std::fs::read(d.path().join("ikecert/local/system-generated.cert")).unwrap();
    assert_eq!(after, again);
    drop(r);
}

#[test]
fn ca_profiles_are_validated_at_commit() {
    let d = tempfile::tempdir().unwrap();
    let r = router(d.path());
    let mut s = r.session("lab");
    ok(&r, &mut s, "configure");
    ok(
        &r,
        &mut s,
        "set security pki ca-profile Root enrollment url http://127.0.0.1:8080/scep",
    );
    let (res, out) = run(&r, &mut s, "commit");
    assert!(res.is_err(), "{out}");
    let e = format!("{res:?}{out}");
    assert!(e.contains("ca-identity"), "{e}");
    ok(
        &r,
        &mut s,
        "set security pki ca-profile Root ca-identity Root",
    );
    ok(
        &r,
        &mut s,
        "set security pki ca-profile Root enrollment retry 5 retry-interval 30",
    );
    ok(
        &r,
        &mut s,
        "set security pki ca-profile Root revocation-check crl url http://127.0.0.1:8080/crl refresh-interval 24",
    );
    ok(
        &r,
        &mut s,
        "set security pki ca-profile Root administrator email-address pki@example.net",
    );
    let e = err(
        &r,
        &mut s,
        "set security pki ca-profile Root enrollment retry 5000",
    );
    assert!(e.contains("5000"), "{e}");
    ok(&r, &mut s, "commit");
    ok(
        &r,
        &mut s,
        "set security pki ca-profile Bad ca-identity Bad enrollment url ldap://127.0.0.1/ca",
    );
    let (res, out) = run(&r, &mut s, "commit");
    let e = format!("{res:?}{out}");
    assert!(e.contains("must be an http:// or https:// URL"), "{e}");
    ok(&r, &mut s, "delete security pki ca-profile Bad");
    ok(
        &r,
        &mut s,
        "set security pki ca-profile Root revocation-check disable",
    );
    ok(&r, &mut s, "commit");
    let profile = r.shared().pki().profile("Root").cloned().unwrap();
    assert_eq!(profile.retry, 5);
    assert_eq!(profile.retry_interval, 30);
    assert_eq!(profile.revocation, pki::profile::Revocation::Disabled);
    assert_eq!(
        profile.enrollment_url.as_deref(),
        Some("http://127.0.0.1:8080/scep")
    );
}

#[test]
fn loading_refuses_bad_input_and_changes_nothing() {
    let d = tempfile::tempdir().unwrap();
    let r = router(d.path());
    let mut s = r.session("lab");
    configure_profile(&r, &mut s, "Root");
    ok(
        &r,
        &mut s,
        "request security pki generate-key-pair certificate-id a size 256 type ecdsa",
    );
    ok(
        &r,
        &mut s,
        "request security pki generate-key-pair certificate-id b size 256 type ecdsa",
    );
    ok(
        &r,
        &mut s,
        "request security pki local-certificate generate-self-signed certificate-id b subject CN=b add-ca-constraint",
    );
    let b_cert = d.path().join("ikecert/local/b.cert");
    let garbage = d.path().join("home/garbage.pem");
    std::fs::write(
        &garbage,
        "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let before = snapshot(d.path());

    let e = err(
        &r,
        &mut s,
        "request security pki local-certificate load certificate-id a filename garbage.pem",
    );
    assert!(e.starts_with("certificate: bad PEM"), "{e}");
    // A certificate for another key.
    let e = err(
        &r,
        &mut s,
        &format!(
            "request security pki local-certificate load certificate-id a filename {}",
            b_cert.display()
        ),
    );
    assert!(
        e.starts_with("certificate does not match the key pair a"),
        "{e}"
    );
    let e = err(
        &r,
        &mut s,
        "request security pki local-certificate load certificate-id a filename missing.pem",
    );
    assert!(
        e.contains("cannot read") && e.contains("missing.pem"),
        "{e}"
    );
    // CA certificates: only into configured profiles; 'no' loads nothing.
    let e = err(
        &r,
        &mut s,
        &format!(
            "request security pki ca-certificate load ca-profile Nope filename {}",
            b_cert.display()
        ),
    );
    assert_eq!(e, "CA profile Nope not configured");
    let (res, out) = run_answering(
        &r,
        &mut s,
        &format!(
            "request security pki ca-certificate load ca-profile Root filename {}",
            b_cert.display()
        ),
        &["no"],
    );
    assert!(res.is_err(), "{out}");
    assert!(out.contains("Fingerprint:\n  "), "{out}");
    assert!(
        out.contains("Do you want to load this CA certificate ? [yes,no] (no) "),
        "{out}"
    );
    // A CRL without the profile's CA certificate, then garbage.
    let e = err(
        &r,
        &mut s,
        "request security pki crl load ca-profile Root filename garbage.pem",
    );
    assert_eq!(e, "CA certificate for profile Root doesn't exist");
    assert_eq!(snapshot(d.path()), before, "nothing stored changed");

    let (res, out) = run_answering(
        &r,
        &mut s,
        &format!(
            "request security pki ca-certificate load ca-profile Root filename {}",
            b_cert.display()
        ),
        &["yes"],
    );
    assert!(res.is_ok(), "{out}");
    assert!(
        out.ends_with("CA certificate for profile Root loaded successfully\n"),
        "{out}"
    );
    let e = err(
        &r,
        &mut s,
        "request security pki crl load ca-profile Root filename garbage.pem",
    );
    assert!(e.starts_with("CRL: "), "{e}");
    let out = ok(
        &r,
        &mut s,
        "show security pki ca-certificate ca-profile Root detail",
    );
    assert!(out.starts_with("Certificate identifier: Root\n"), "{out}");
    assert!(
        out.contains("Use for key: Digital signature, Certificate signing, CRL signing"),
        "{out}"
    );

    // Clearing asks; 'no' keeps it.
    let (res, _) = run_answering(
        &r,
        &mut s,
        "clear security pki ca-certificate ca-profile Root",
        &["no"],
    );
    assert!(res.is_ok());
    assert!(
        d.path()
            .join("ikecert/certification-authority/Root.cert")
            .exists()
    );
    let (res, out) = run_answering(
        &r,
        &mut s,
        "clear security pki ca-certificate ca-profile Root",
        &["yes"],
    );
    assert!(res.is_ok(), "{out}");
    assert!(
        out.contains("Do you want to clear the CA certificate of profile Root ? [yes,no] (no) "),
        "{out}"
    );
    assert!(
        !d.path()
            .join("ikecert/certification-authority/Root.cert")
            .exists()
    );
}

#[test]
fn corrupt_and_foreign_files_are_named_at_start_and_the_rest_loads() {
    let d = tempfile::tempdir().unwrap();
    {
        let r = router(d.path());
        let mut s = r.session("lab");
        ok(
            &r,
            &mut s,
            "request security pki generate-key-pair certificate-id good size 256 type ecdsa",
        );
        ok(
            &r,
            &mut s,
            "request security pki local-certificate generate-self-signed certificate-id good subject CN=good",
        );
    }
    std::fs::write(
        d.path().join("ikecert/local/broken.cert"),
        "not a certificate",
    )
    .unwrap();
    std::fs::write(
        d.path().join("ikecert/key-pair/broken.priv"),
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    std::fs::write(d.path().join("ikecert/stray.txt"), "hello").unwrap();
    let (pki, problems) =
        pki::manager::Pki::open(d.path().join("ikecert"), "JN0000000001").unwrap();
    let text: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
    assert!(
        text.iter()
            .any(|p| p.contains("local/broken.cert") && p.contains("certificate")),
        "{text:?}"
    );
    assert!(
        text.iter()
            .any(|p| p.contains("key-pair/broken.priv") && p.contains("not a private key")),
        "{text:?}"
    );
    assert!(text.iter().any(|p| p.contains("stray.txt")), "{text:?}");
    assert!(pki.local_certificates().contains_key("good"));
    assert!(pki.key_pairs().contains_key("good"));
    drop(pki);
    let r = router(d.path());
    let mut s = r.session("lab");
    let out = ok(
        &r,
        &mut s,
        "show security pki local-certificate certificate-id good",
    );
    assert!(out.contains("Issued to: good"), "{out}");
}
