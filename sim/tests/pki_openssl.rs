//! The PKI manager against a real peer, the `openssl` binary: openssl
//! accepts the requests and certificates the router makes (signatures,
//! names, alternative names, fingerprints), and the router loads the keys,
//! certificates and CRLs openssl makes (PEM and DER, PKCS#8 and PKCS#1),
//! refusing CRLs its CA did not sign.
//!
//! Needs `openssl` on PATH (`.ci/run` installs Debian's package); without
//! it the tests are skipped, except under `CI=true`, where they fail.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use mtsim::router::{Router, Session};

mod support;

use support::{NOW_SECS, configure_profile, err, ok, router, run_answering, snapshot};

/// The router's frozen clock as openssl's `-attime` wants it: openssl
/// checks the certificates the router makes at that time.
fn router_now() -> String {
    NOW_SECS.to_string()
}

/// The line after the line `label` (trimmed), empty if none.
fn after_line(text: &str, label: &str) -> String {
    let mut lines = text.lines();
    lines.find(|l| l.trim() == label);
    lines.next().unwrap_or_default().to_string()
}

// ------------------------------------------------------------- openssl

fn openssl_available() -> bool {
    support::peer_available("openssl", &["version"], "openssl")
}

/// What an openssl run printed.
struct Output {
    stdout: String,
    stderr: String,
}

impl Output {
    fn both(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

/// Runs `openssl ARGS` in `dir` and asserts that it succeeded.
fn openssl(dir: &Path, args: &[&str]) -> Output {
    let o = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    let out = Output {
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    };
    assert!(
        o.status.success(),
        "openssl {args:?} failed ({}):\n{}{}",
        o.status,
        out.stdout,
        out.stderr
    );
    out
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// `openssl dgst -<alg> -r FILE`: the digest, lowercase hex.
fn digest(dir: &Path, alg: &str, file: &Path) -> String {
    let out = openssl(dir, &["dgst", &format!("-{alg}"), "-r", p(file)]);
    out.stdout
        .split_whitespace()
        .next()
        .unwrap()
        .to_ascii_lowercase()
}

/// `openssl x509 -noout -fingerprint -<alg>`: lowercase hex with colons.
fn openssl_fingerprint(dir: &Path, alg: &str, cert: &Path) -> String {
    let out = openssl(
        dir,
        &[
            "x509",
            "-in",
            p(cert),
            "-noout",
            "-fingerprint",
            &format!("-{alg}"),
        ],
    );
    let line = out.stdout.trim();
    let (_, hex) = line
        .split_once("Fingerprint=")
        .unwrap_or_else(|| panic!("{line}"));
    hex.to_ascii_lowercase()
}

/// The `<hex> (<alg>)` value of command output, as printed.
fn printed_fingerprint(out: &str, alg: &str) -> String {
    let tail = format!(" ({alg})");
    out.lines()
        .find_map(|l| l.trim().strip_suffix(tail.as_str()))
        .unwrap_or_else(|| panic!("no {alg} fingerprint in:\n{out}"))
        .to_string()
}

/// `serial=4F3A...` of `openssl x509 -serial` as the router prints serials:
/// lowercase, zero-padded to 8 digits.
fn openssl_serial(dir: &Path, cert: &Path) -> String {
    let out = openssl(dir, &["x509", "-in", p(cert), "-noout", "-serial"]);
    let hex = out.stdout.trim().strip_prefix("serial=").unwrap();
    format!("{:0>8}", hex.to_ascii_lowercase())
}

/// A CA made by openssl, set up for `openssl ca` (revocations and CRLs).
struct OpensslCa {
    dir: PathBuf,
    cert: PathBuf,
    key: PathBuf,
    config: PathBuf,
}

impl OpensslCa {
    /// An RSA 2048 root CA with subject `subj` in `dir` (created).
    fn new(dir: &Path, subj: &str) -> OpensslCa {
        std::fs::create_dir_all(dir).unwrap();
        openssl(
            dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-subj",
                subj,
                "-days",
                "3650",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        );
        std::fs::write(dir.join("index.txt"), "").unwrap();
        std::fs::write(dir.join("crlnumber"), "01\n").unwrap();
        let config = dir.join("openssl.cnf");
        std::fs::write(
            &config,
            format!(
                "[ca]\n\
                 default_ca = CA_default\n\
                 [CA_default]\n\
                 dir = {}\n\
                 database = $dir/index.txt\n\
                 crlnumber = $dir/crlnumber\n\
                 certificate = $dir/ca.pem\n\
                 private_key = $dir/ca.key\n\
                 default_md = sha256\n\
                 default_crl_days = 30\n",
                dir.display()
            ),
        )
        .unwrap();
        OpensslCa {
            dir: dir.to_path_buf(),
            cert: dir.join("ca.pem"),
            key: dir.join("ca.key"),
            config,
        }
    }

    /// A P-256 leaf certificate `<name>.pem` issued by this CA.
    fn issue(&self, name: &str) -> PathBuf {
        let key = format!("{name}.key");
        let csr = format!("{name}.csr");
        let cert = format!("{name}.pem");
        openssl(
            &self.dir,
            &[
                "req",
                "-new",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                &key,
                "-out",
                &csr,
                "-subj",
                &format!("/O=Lab/CN={name}"),
            ],
        );
        openssl(
            &self.dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                p(&self.cert),
                "-CAkey",
                p(&self.key),
                "-CAcreateserial",
                "-days",
                "3650",
                "-out",
                &cert,
            ],
        );
        self.dir.join(cert)
    }

    /// `openssl ca -revoke CERT`.
    fn revoke(&self, cert: &Path) {
        let out = openssl(
            &self.dir,
            &["ca", "-config", p(&self.config), "-revoke", p(cert)],
        );
        assert!(out.both().contains("Database updated"), "{}", out.both());
    }

    /// `openssl ca -gencrl -out NAME`.
    fn gencrl(&self, name: &str) -> PathBuf {
        let crl = self.dir.join(name);
        openssl(
            &self.dir,
            &["ca", "-config", p(&self.config), "-gencrl", "-out", p(&crl)],
        );
        crl
    }
}

// ------------------------------------------------------------- tests

#[test]
fn openssl_accepts_our_requests() {
    if !openssl_available() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let r = router(d.path());
    let mut s = r.session("lab");
    let serial = r.shared().chassis.serial.clone();
    for (id, size, kind) in [
        ("r-rsa", 2048, "rsa"),
        ("r-ec", 256, "ecdsa"),
        ("r-dsa", 2048, "dsa"),
    ] {
        ok(
            &r,
            &mut s,
            &format!(
                "request security pki generate-key-pair certificate-id {id} size {size} type {kind}"
            ),
        );
        let csr = w.join(format!("{id}.csr"));
        let out = ok(
            &r,
            &mut s,
            &format!(
                "request security pki generate-certificate-request certificate-id {id} subject \"DC=example,CN=r1,SN,OU=ops,O=Example Corp,L=Sunnyvale,ST=CA,C=US\" domain-name r1.example.net email ops@example.net ip-address 192.0.2.1 ipv6-address 2001:db8::1 challenge-password s3cret filename {}",
                csr.display()
            ),
        );
        assert!(csr.is_absolute() && csr.exists(), "{id}: {out}");

        // The signature.
        let v = openssl(w, &["req", "-in", p(&csr), "-verify", "-noout"]);
        assert!(v.both().contains("verify OK"), "{id}: {}", v.both());

        // The subject, in the order given, SN filled from the chassis serial.
        let subj = openssl(
            w,
            &[
                "req",
                "-in",
                p(&csr),
                "-noout",
                "-subject",
                "-nameopt",
                "oneline",
            ],
        );
        assert_eq!(
            subj.stdout.trim(),
            format!(
                "subject=DC = example, CN = r1, serialNumber = {serial}, OU = ops, O = Example Corp, L = Sunnyvale, ST = CA, C = US"
            ),
            "{id}"
        );

        // The requested extensions and the challenge password.
        let text = openssl(w, &["req", "-in", p(&csr), "-noout", "-text"]).stdout;
        for want in [
            "DNS:r1.example.net",
            "email:ops@example.net",
            "IP Address:192.0.2.1",
            "IP Address:2001:DB8:0:0:0:0:0:1",
            "challengePassword",
            "s3cret",
            "X509v3 Subject Alternative Name",
        ] {
            assert!(text.contains(want), "{id}: no {want} in\n{text}");
        }
        let algorithm = match kind {
            "rsa" => "rsaEncryption",
            "ecdsa" => "id-ecPublicKey",
            _ => "dsaEncryption",
        };
        assert!(
            text.contains(&format!("Public Key Algorithm: {algorithm}")),
            "{id}: {text}"
        );

        // The fingerprints printed are those of the request's DER.
        let der = w.join(format!("{id}.der"));
        openssl(
            w,
            &["req", "-in", p(&csr), "-outform", "DER", "-out", p(&der)],
        );
        for alg in ["sha1", "md5"] {
            assert_eq!(
                printed_fingerprint(&out, alg).replace(':', ""),
                digest(w, alg, &der),
                "{id} {alg}:\n{out}"
            );
        }
    }
}

#[test]
fn openssl_verifies_our_self_signed_certificates() {
    if !openssl_available() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let w = d.path();
    let r = router(w);
    let mut s = r.session("lab");
    ok(
        &r,
        &mut s,
        "request security pki generate-key-pair certificate-id ss",
    );
    ok(
        &r,
        &mut s,
        "request security pki local-certificate generate-self-signed certificate-id ss subject \"CN=ss,O=Example\" domain-name ss.example.net ip-address 192.0.2.9 add-ca-constraint",
    );
    let ss = w.join("ikecert/local/ss.cert");
    let v = openssl(
        w,
        &[
            "verify",
            "-attime",
            &router_now(),
            "-CAfile",
            p(&ss),
            p(&ss),
        ],
    );
    assert_eq!(v.stdout.trim(), format!("{}: OK", ss.display()));

    let show = ok(
        &r,
        &mut s,
        "show security pki local-certificate certificate-id ss detail",
    );
    for alg in ["sha1", "md5", "sha256"] {
        assert_eq!(
            printed_fingerprint(&show, alg),
            openssl_fingerprint(w, alg, &ss),
            "{alg}:\n{show}"
        );
    }
    let text = openssl(w, &["x509", "-in", p(&ss), "-noout", "-text"]).stdout;
    assert!(
        text.contains("DNS:ss.example.net, IP Address:192.0.2.9"),
        "{text}"
    );
    assert!(text.contains("CA:TRUE"), "{text}");
    assert!(text.contains("Subject: CN = ss, O = Example"), "{text}");
    assert!(text.contains("Issuer: CN = ss, O = Example"), "{text}");

    // An ECDSA leaf without the CA constraint (no basicConstraints, key
    // usage digitalSignature only). OpenSSL 3.0 still takes a self-signed
    // certificate as its own trust anchor, so no -partial_chain is needed.
    ok(
        &r,
        &mut s,
        "request security pki generate-key-pair certificate-id leaf size 256 type ecdsa",
    );
    ok(
        &r,
        &mut s,
        "request security pki local-certificate generate-self-signed certificate-id leaf subject \"CN=leaf,O=Example\" domain-name leaf.example.net",
    );
    let leaf = w.join("ikecert/local/leaf.cert");
    let v = openssl(
        w,
        &[
            "verify",
            "-attime",
            &router_now(),
            "-CAfile",
            p(&leaf),
            p(&leaf),
        ],
    );
    assert_eq!(v.stdout.trim(), format!("{}: OK", leaf.display()));
    let text = openssl(w, &["x509", "-in", p(&leaf), "-noout", "-text"]).stdout;
    assert!(text.contains("DNS:leaf.example.net"), "{text}");
    assert!(text.contains("ecdsa-with-SHA256"), "{text}");
    assert!(!text.contains("CA:TRUE"), "{text}");
    let show = ok(
        &r,
        &mut s,
        "show security pki local-certificate certificate-id leaf detail",
    );
    for alg in ["sha1", "md5", "sha256"] {
        assert_eq!(
            printed_fingerprint(&show, alg),
            openssl_fingerprint(w, alg, &leaf),
            "{alg}:\n{show}"
        );
    }

    // The system-generated certificate is a good certificate as well.
    let sg = w.join("ikecert/local/system-generated.cert");
    let text = openssl(w, &["x509", "-in", p(&sg), "-noout", "-text"]).stdout;
    assert!(
        text.contains("Signature Algorithm: sha256WithRSAEncryption"),
        "{text}"
    );
}

#[test]
fn we_load_what_openssl_makes() {
    if !openssl_available() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let r = router(d.path());
    let mut s = r.session("lab");
    let store = d.path().join("ikecert");

    // (a) An RSA CA certificate.
    let ca = OpensslCa::new(&w.join("lab"), "/C=US/O=Lab/CN=Lab Root");
    configure_profile(&r, &mut s, "Lab");
    let (res, out) = run_answering(
        &r,
        &mut s,
        &format!(
            "request security pki ca-certificate load ca-profile Lab filename {}",
            ca.cert.display()
        ),
        &["yes"],
    );
    assert!(res.is_ok(), "{res:?}\n{out}");
    assert_eq!(
        printed_fingerprint(&out, "sha1"),
        openssl_fingerprint(w, "sha1", &ca.cert),
        "{out}"
    );
    assert_eq!(
        printed_fingerprint(&out, "md5"),
        openssl_fingerprint(w, "md5", &ca.cert),
        "{out}"
    );
    assert!(
        out.ends_with("CA certificate for profile Lab loaded successfully\n"),
        "{out}"
    );
    let show = ok(
        &r,
        &mut s,
        "show security pki ca-certificate ca-profile Lab detail",
    );
    assert!(
        after_line(&show, "Issuer:").contains("Common name: Lab Root"),
        "{show}"
    );
    assert!(
        after_line(&show, "Subject:").contains("Common name: Lab Root"),
        "{show}"
    );
    assert!(
        show.contains("Use for key: Certificate signing, CRL signing"),
        "{show}"
    );
    assert_eq!(
        printed_fingerprint(&show, "sha256"),
        openssl_fingerprint(w, "sha256", &ca.cert)
    );
    // What is stored is the same certificate.
    let stored = store.join("certification-authority/Lab.cert");
    assert_eq!(
        openssl_fingerprint(w, "sha256", &stored),
        openssl_fingerprint(w, "sha256", &ca.cert)
    );

    // (b) Local certificates with keys made by openssl.
    openssl(
        w,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "key.pem",
            "-out",
            "cert.pem",
            "-subj",
            "/O=Peer/CN=peer.example.net",
            "-days",
            "3650",
            "-addext",
            "subjectAltName=DNS:peer.example.net,IP:192.0.2.7",
        ],
    );
    assert!(
        std::fs::read_to_string(w.join("key.pem"))
            .unwrap()
            .starts_with("-----BEGIN PRIVATE KEY-----")
    );
    let out = ok(
        &r,
        &mut s,
        &format!(
            "request security pki local-certificate load certificate-id ext filename {} key {}",
            w.join("cert.pem").display(),
            w.join("key.pem").display()
        ),
    );
    assert_eq!(out, "Local certificate loaded successfully\n");
    let key = store.join("key-pair/ext.priv");
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // The stored key is openssl's key (same public key), as PKCS#8 PEM.
    let public = |f: &Path| openssl(w, &["pkey", "-in", p(f), "-pubout"]).stdout;
    assert_eq!(public(&key), public(&w.join("key.pem")));
    assert!(
        std::fs::read_to_string(&key)
            .unwrap()
            .starts_with("-----BEGIN PRIVATE KEY-----\n")
    );
    let show = ok(
        &r,
        &mut s,
        "show security pki local-certificate certificate-id ext detail",
    );
    assert!(
        show.contains("  Alternate subject: peer.example.net, ipv4 192.0.2.7, ipv6 empty\n"),
        "{show}"
    );
    assert!(
        show.contains("Keypair Location: Keypair imported"),
        "{show}"
    );

    // The same certificate and key in DER. The key as PKCS#8 DER: `openssl
    // pkey -outform DER` writes an EC key as SEC1 DER, which the loader
    // refuses (see `sec1_der_ec_key_loads`).
    openssl(
        w,
        &[
            "x509", "-in", "cert.pem", "-outform", "DER", "-out", "cert.der",
        ],
    );
    openssl(
        w,
        &[
            "pkcs8", "-topk8", "-nocrypt", "-in", "key.pem", "-outform", "DER", "-out", "key.der",
        ],
    );
    let out = ok(
        &r,
        &mut s,
        &format!(
            "request security pki local-certificate load certificate-id ext-der filename {} key {}",
            w.join("cert.der").display(),
            w.join("key.der").display()
        ),
    );
    assert_eq!(out, "Local certificate loaded successfully\n");
    let key_der = store.join("key-pair/ext-der.priv");
    assert_eq!(
        std::fs::metadata(&key_der).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(public(&key_der), public(&w.join("key.pem")));
    assert_eq!(
        openssl_fingerprint(w, "sha1", &store.join("local/ext-der.cert")),
        openssl_fingerprint(w, "sha1", &w.join("cert.pem"))
    );

    // An RSA key in the traditional (PKCS#1) form.
    openssl(w, &["genrsa", "-traditional", "-out", "rsa.key", "2048"]);
    assert!(
        std::fs::read_to_string(w.join("rsa.key"))
            .unwrap()
            .starts_with("-----BEGIN RSA PRIVATE KEY-----")
    );
    openssl(
        w,
        &[
            "req",
            "-x509",
            "-new",
            "-key",
            "rsa.key",
            "-out",
            "rsa.pem",
            "-subj",
            "/CN=rsa-peer",
            "-days",
            "3650",
        ],
    );
    let out = ok(
        &r,
        &mut s,
        &format!(
            "request security pki local-certificate load certificate-id ext-rsa filename {} key {}",
            w.join("rsa.pem").display(),
            w.join("rsa.key").display()
        ),
    );
    assert_eq!(out, "Local certificate loaded successfully\n");
    let key_rsa = store.join("key-pair/ext-rsa.priv");
    assert_eq!(
        std::fs::metadata(&key_rsa).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(public(&key_rsa), public(&w.join("rsa.key")));
    let show = ok(
        &r,
        &mut s,
        "show security pki local-certificate certificate-id ext-rsa",
    );
    assert!(
        show.contains("Public key algorithm: rsaEncryption(2048 bits)"),
        "{show}"
    );

    // A key that is not the certificate's is refused, nothing stored.
    let before = snapshot(d.path());
    let e = err(
        &r,
        &mut s,
        &format!(
            "request security pki local-certificate load certificate-id wrong filename {} key {}",
            w.join("cert.pem").display(),
            w.join("rsa.key").display()
        ),
    );
    assert!(
        e.starts_with("certificate does not match the key pair wrong"),
        "{e}"
    );
    assert_eq!(snapshot(d.path()), before);

    // (c) A certificate the openssl CA issued for our key.
    ok(
        &r,
        &mut s,
        "request security pki generate-key-pair certificate-id mine size 256 type ecdsa",
    );
    let csr = w.join("mine.csr");
    ok(
        &r,
        &mut s,
        &format!(
            "request security pki generate-certificate-request certificate-id mine subject \"CN=mine,O=Example\" domain-name mine.example.net ip-address 192.0.2.5 filename {}",
            csr.display()
        ),
    );
    openssl(
        w,
        &[
            "x509",
            "-req",
            "-in",
            p(&csr),
            "-CA",
            p(&ca.cert),
            "-CAkey",
            p(&ca.key),
            "-CAcreateserial",
            "-days",
            "3650",
            "-out",
            "mine.pem",
            "-copy_extensions",
            "copy",
        ],
    );
    let out = ok(
        &r,
        &mut s,
        &format!(
            "request security pki local-certificate load certificate-id mine filename {}",
            w.join("mine.pem").display()
        ),
    );
    assert_eq!(out, "Local certificate loaded successfully\n");
    let show = ok(
        &r,
        &mut s,
        "show security pki local-certificate certificate-id mine detail",
    );
    assert!(show.contains("  Cert-Chain: Lab\n"), "{show}");
    assert!(
        show.contains("  Alternate subject: mine.example.net, ipv4 192.0.2.5, ipv6 empty\n"),
        "{show}"
    );
    assert!(
        show.contains("Keypair Location: Keypair generated locally"),
        "{show}"
    );
    assert!(
        after_line(&show, "Issuer:").contains("Common name: Lab Root"),
        "{show}"
    );
    assert_eq!(
        printed_fingerprint(&show, "sha1"),
        openssl_fingerprint(w, "sha1", &w.join("mine.pem"))
    );
    // The stored chain verifies with openssl.
    let v = openssl(
        w,
        &[
            "verify",
            "-CAfile",
            p(&stored),
            p(&store.join("local/mine.cert")),
        ],
    );
    assert!(v.stdout.trim().ends_with(": OK"), "{}", v.both());

    // Several local certificates side by side.
    let list = ok(&r, &mut s, "show security pki local-certificate");
    for id in ["ext", "ext-der", "ext-rsa", "mine", "system-generated"] {
        assert!(
            list.contains(&format!("Certificate identifier: {id}\n")),
            "{id}: {list}"
        );
    }
    assert!(list.contains("Issued to: mine, Issued by: "), "{list}");
}

#[test]
fn crls_made_by_openssl() {
    if !openssl_available() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let r = router(d.path());
    let mut s = r.session("lab");
    let store = d.path().join("ikecert");

    let ca = OpensslCa::new(&w.join("lab"), "/C=US/O=Lab/CN=Lab Root");
    configure_profile(&r, &mut s, "Lab");
    ok(
        &r,
        &mut s,
        &format!(
            "request security pki ca-certificate load ca-profile Lab filename {} force",
            ca.cert.display()
        ),
    );
    let gone = ca.issue("gone");
    let gone_serial = openssl_serial(w, &gone);
    ca.revoke(&gone);
    let crl = ca.gencrl("crl.pem");
    let out = ok(
        &r,
        &mut s,
        &format!(
            "request security pki crl load ca-profile Lab filename {}",
            crl.display()
        ),
    );
    assert_eq!(out, "CRL for CA profile Lab loaded successfully\n");
    let show = ok(&r, &mut s, "show security pki crl ca-profile Lab detail");
    assert!(show.starts_with("CA profile: Lab\n"), "{show}");
    assert!(show.contains("  CRL number: 00000001\n"), "{show}");
    assert!(show.contains("  CRL version: V00000001\n"), "{show}");
    assert!(
        show.contains("  Signature algorithm: sha256WithRSAEncryption\n"),
        "{show}"
    );
    // OpenSSL's serials are 20 random bytes: 40 digits, wider than the
    // serial column (see `long_crl_serials_keep_a_space_before_the_date`).
    let (_, list) = show.split_once("Revocation List:\n").unwrap();
    assert!(
        list.lines()
            .any(|l| l.trim_start().starts_with(gone_serial.as_str()) && l.ends_with(" UTC")),
        "{gone_serial}: {show}"
    );
    // openssl reads and verifies what we stored.
    let stored = store.join("crl/Lab.crl");
    let v = openssl(
        w,
        &["crl", "-in", p(&stored), "-CAfile", p(&ca.cert), "-noout"],
    );
    assert!(v.both().contains("verify OK"), "{}", v.both());

    // A newer CRL replaces the old one.
    let later = ca.issue("later");
    let later_serial = openssl_serial(w, &later);
    ca.revoke(&later);
    let crl2 = ca.gencrl("crl2.pem");
    ok(
        &r,
        &mut s,
        &format!(
            "request security pki crl load ca-profile Lab filename {}",
            crl2.display()
        ),
    );
    let show = ok(&r, &mut s, "show security pki crl ca-profile Lab detail");
    assert!(show.contains("  CRL number: 00000002\n"), "{show}");
    assert!(show.contains(&gone_serial), "{show}");
    assert!(show.contains(&later_serial), "{show}");
    let before = snapshot(d.path());

    // A CRL of another CA.
    let other = OpensslCa::new(&w.join("other"), "/C=US/O=Other/CN=Other Root");
    let other_crl = other.gencrl("crl.pem");
    let e = err(
        &r,
        &mut s,
        &format!(
            "request security pki crl load ca-profile Lab filename {}",
            other_crl.display()
        ),
    );
    assert!(
        e.starts_with("CRL is not signed by the CA certificate of profile Lab"),
        "{e}"
    );
    assert_eq!(snapshot(d.path()), before, "nothing stored changed");

    // A CRL with Lab's issuer name, signed by another key.
    let twin = OpensslCa::new(&w.join("twin"), "/C=US/O=Lab/CN=Lab Root");
    let twin_crl = twin.gencrl("crl.pem");
    let e = err(
        &r,
        &mut s,
        &format!(
            "request security pki crl load ca-profile Lab filename {}",
            twin_crl.display()
        ),
    );
    assert!(
        e.starts_with("CRL is not signed by the CA certificate of profile Lab"),
        "{e}"
    );
    assert!(e.contains("signature does not verify"), "{e}");
    assert_eq!(snapshot(d.path()), before, "nothing stored changed");
    let show = ok(&r, &mut s, "show security pki crl ca-profile Lab detail");
    assert!(show.contains("  CRL number: 00000002\n"), "{show}");
}

#[test]
fn json_output_parses() {
    if !openssl_available() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let r = router(d.path());
    let mut s = r.session("lab");
    ok(
        &r,
        &mut s,
        "request security pki generate-key-pair certificate-id js size 256 type ecdsa",
    );
    ok(
        &r,
        &mut s,
        "request security pki local-certificate generate-self-signed certificate-id js subject \"CN=js,O=Example\" domain-name js.example.net",
    );
    let ca = OpensslCa::new(&w.join("lab"), "/C=US/O=Lab/CN=Lab Root");
    configure_profile(&r, &mut s, "Lab");
    ok(
        &r,
        &mut s,
        &format!(
            "request security pki ca-certificate load ca-profile Lab filename {} force",
            ca.cert.display()
        ),
    );
    let gone = ca.issue("gone");
    let gone_serial = openssl_serial(w, &gone);
    ca.revoke(&gone);
    let crl = ca.gencrl("crl.pem");
    ok(
        &r,
        &mut s,
        &format!(
            "request security pki crl load ca-profile Lab filename {}",
            crl.display()
        ),
    );

    let parse = |line: &str, r: &Router, s: &mut Session| -> serde_json::Value {
        let out = ok(r, s, line);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{line}: {e}\n{out}"))
    };
    let v = parse(
        "show security pki local-certificate detail | display json",
        &r,
        &mut s,
    );
    let certs = v["x509-pki-certificate-info-list"]["pkid-x509-certificate-information"]
        .as_array()
        .unwrap();
    let ids: Vec<&str> = certs
        .iter()
        .map(|c| c["identifier"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["js", "system-generated"], "{v}");
    let js = &certs[0];
    assert_eq!(js["style"], "detail");
    assert_eq!(js["certificate-type"], "local");
    assert!(
        js["alternate-subject-list"]
            .to_string()
            .contains("js.example.net"),
        "{js}"
    );
    let js_sha1 = js["fingerprint"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["fingerprint-hash-algorithm"] == "sha1")
        .unwrap()["fingerprint-content"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        js_sha1,
        openssl_fingerprint(w, "sha1", &d.path().join("ikecert/local/js.cert"))
    );

    let v = parse(
        "show security pki ca-certificate | display json",
        &r,
        &mut s,
    );
    let cas = v["x509-pki-certificate-info-list"]["pkid-x509-certificate-information"]
        .as_array()
        .unwrap();
    assert_eq!(cas.len(), 1, "{v}");
    assert_eq!(cas[0]["identifier"], "Lab");
    assert_eq!(cas[0]["certificate-type"], "ca");
    assert_eq!(cas[0]["issue-info"]["recipient"], "Lab Root", "{v}");

    let v = parse("show security pki crl detail | display json", &r, &mut s);
    let crls = v["x509-pkid-crl-information-list"]["pkid-x509-crl-information"]
        .as_array()
        .unwrap();
    assert_eq!(crls.len(), 1, "{v}");
    assert_eq!(crls[0]["identifier"], "Lab");
    assert_eq!(crls[0]["crl-number"], "00000001");
    let revoked = crls[0]["crl-revocation-list"].as_array().unwrap();
    assert_eq!(revoked.len(), 1, "{v}");
    assert_eq!(
        revoked[0]["revoked-cert-serial-number"],
        gone_serial.as_str()
    );
}

// ------------------------------------------------ regressions found by these tests

/// `openssl pkey -outform DER` writes an EC key in its traditional form,
/// SEC1 `ECPrivateKey` DER; the loader once read SEC1 only as PEM.
#[test]
fn sec1_der_ec_key_loads() {
    if !openssl_available() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let r = router(d.path());
    let mut s = r.session("lab");
    openssl(
        w,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "key.pem",
            "-out",
            "cert.pem",
            "-subj",
            "/CN=sec1",
            "-days",
            "3650",
        ],
    );
    openssl(
        w,
        &[
            "pkey", "-in", "key.pem", "-outform", "DER", "-out", "key.der",
        ],
    );
    let out = ok(
        &r,
        &mut s,
        &format!(
            "request security pki local-certificate load certificate-id sec1 filename {} key {}",
            w.join("cert.pem").display(),
            w.join("key.der").display()
        ),
    );
    assert_eq!(out, "Local certificate loaded successfully\n");
}

/// In `show security pki crl detail` a serial of 20 bytes (40 digits, what
/// OpenSSL gives every certificate) once ran straight into the revocation
/// date; a space always separates them now.
#[test]
fn long_crl_serials_keep_a_space_before_the_date() {
    if !openssl_available() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let r = router(d.path());
    let mut s = r.session("lab");
    let ca = OpensslCa::new(&w.join("lab"), "/CN=Lab Root");
    configure_profile(&r, &mut s, "Lab");
    ok(
        &r,
        &mut s,
        &format!(
            "request security pki ca-certificate load ca-profile Lab filename {} force",
            ca.cert.display()
        ),
    );
    let gone = ca.issue("gone");
    let serial = openssl_serial(w, &gone);
    assert!(serial.len() > 34, "{serial}");
    ca.revoke(&gone);
    let crl = ca.gencrl("crl.pem");
    ok(
        &r,
        &mut s,
        &format!(
            "request security pki crl load ca-profile Lab filename {}",
            crl.display()
        ),
    );
    let show = ok(&r, &mut s, "show security pki crl ca-profile Lab detail");
    let row = show
        .lines()
        .find(|l| l.trim_start().starts_with(serial.as_str()))
        .unwrap_or_else(|| panic!("{show}"));
    assert!(
        row.trim_start()[serial.len()..].starts_with(' '),
        "no space between serial and date: {row:?}"
    );
}
