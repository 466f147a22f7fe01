//! The embedded CA's CMP server (`mtsim ca serve`, at `/pkix/`) against
//! the real `openssl cmp` client (OpenSSL 3.0): initialization with a
//! shared secret (PBM), IR, CR, P10CR and KUR under signature protection,
//! requests held for the operator (the client polls until approved or
//! rejected) and implicit confirmation. Everything on 127.0.0.1: the CA
//! binds only the address it is given. The issued certificates are
//! checked with `openssl verify` against the CA's own chain.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use std::path::{Path, PathBuf};

use support::{CaProcess, peer_available, run_peer};

/// The shared secret's reference number and the secret itself.
const REF: &str = "3078";
const SECRET: &str = "1234-5678";

fn openssl_available() -> bool {
    peer_available("openssl", &["version"], "openssl")
}

fn openssl(cwd: &Path, args: &[&str]) -> (bool, String) {
    let (ok, out, err) = run_peer(cwd, 30, "openssl", args);
    (ok, format!("{out}{err}"))
}

/// Starts a CA that knows the shared secret [`REF`]=[`SECRET`], and copies
/// its root certificate to `root.pem` in `w`.
fn start_ca(w: &Path, extra: &[&str]) -> CaProcess {
    let secret = format!("{REF}={SECRET}");
    let mut args = vec!["--cmp-secret", secret.as_str()];
    args.extend_from_slice(extra);
    let ca = CaProcess::start(&w.join("ca"), &args);
    std::fs::copy(ca.dir.join("root.cert"), w.join("root.pem")).unwrap();
    ca
}

/// `root.cert` + `issuing.cert` of the CA as one PEM file.
fn chain_file(ca: &CaProcess, into: &Path) -> PathBuf {
    let mut pem = std::fs::read_to_string(ca.dir.join("root.cert")).unwrap();
    pem.push_str(&std::fs::read_to_string(ca.dir.join("issuing.cert")).unwrap());
    let path = into.join("chain.pem");
    std::fs::write(&path, pem).unwrap();
    path
}

/// An RSA 2048 (`"rsa"`) or EC P-256 (`"ec"`) key in `w/name`.
fn genkey(w: &Path, kind: &str, name: &str) {
    let args: &[&str] = match kind {
        "rsa" => &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            name,
        ],
        _ => &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            name,
        ],
    };
    let (ok, out) = openssl(w, args);
    assert!(ok, "{out}");
}

/// Runs `openssl cmp` against the CA with ARGS; returns (success, its
/// stdout and stderr together).
fn cmp(w: &Path, ca: &CaProcess, args: &[&str]) -> (bool, String) {
    let mut all = vec![
        "cmp",
        "-server",
        ca.addr.as_str(),
        "-path",
        "pkix/",
        "-msg_timeout",
        "10",
        "-total_timeout",
        "30",
    ];
    all.extend_from_slice(args);
    let (ok, out, err) = run_peer(w, 60, "openssl", &all);
    (ok, format!("{out}{err}"))
}

/// The arguments of a request protected with the shared secret `secret`
/// under reference `reference`.
fn pbm<'a>(reference: &'a str, secret: &'a str) -> Vec<&'a str> {
    vec![
        "-ref",
        reference,
        "-secret",
        secret,
        "-recipient",
        "/CN=mtsim Issuing CA",
    ]
}

/// The arguments of a request signed with `new.crt`/`new.key`.
const SIGNED: &[&str] = &[
    "-cert", "new.crt", "-key", "new.key", "-trusted", "root.pem",
];

/// `openssl x509 -noout ARGS` of the certificate `cert`.
fn x509(w: &Path, cert: &str, args: &[&str]) -> String {
    let mut all = vec!["x509", "-in", cert, "-noout"];
    all.extend_from_slice(args);
    let (ok, out) = openssl(w, &all);
    assert!(ok, "{out}");
    out
}

fn serial_of(w: &Path, cert: &str) -> String {
    x509(w, cert, &["-serial"])
        .trim()
        .trim_start_matches("serial=")
        .to_ascii_lowercase()
}

/// Asserts that `cert` chains to the CA and is made for IKE.
fn assert_issued(w: &Path, chain: &Path, cert: &str) {
    let (ok, out) = openssl(w, &["verify", "-CAfile", chain.to_str().unwrap(), cert]);
    assert!(ok, "{cert} must chain to the CA: {out}");
    let eku = x509(w, cert, &["-ext", "extendedKeyUsage"]);
    assert!(
        eku.contains("ipsec Internet Key Exchange"),
        "{cert}: EKU for IKE: {eku}"
    );
}

/// Bootstraps `new.crt` (key `new.key`, CN=router1.example.net with two
/// SANs) by an IR protected with the shared secret; returns the client's
/// output.
fn bootstrap(w: &Path, ca: &CaProcess) -> String {
    genkey(w, "rsa", "new.key");
    let secret = format!("pass:{SECRET}");
    let mut args = pbm(REF, &secret);
    args.extend_from_slice(&[
        "-cmd",
        "ir",
        "-newkey",
        "new.key",
        "-subject",
        "/CN=router1.example.net/O=Example",
        "-sans",
        "router1.example.net 192.0.2.1",
        "-certout",
        "new.crt",
        "-cacertsout",
        "capubs.pem",
        "-out_trusted",
        "root.pem",
    ]);
    let (ok, out) = cmp(w, ca, &args);
    assert!(
        ok && w.join("new.crt").exists(),
        "IR with the shared secret:\n{out}\n{}",
        ca.log()
    );
    out
}

#[test]
fn ir_with_a_shared_secret_and_refusals() {
    if !openssl_available() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let w = d.path();
    let ca = start_ca(w, &[]);

    let out = bootstrap(w, &ca);
    for step in [
        "sending IR",
        "received IP",
        "sending CERTCONF",
        "received PKICONF",
    ] {
        assert!(out.contains(step), "{step}:\n{out}");
    }
    let chain = chain_file(&ca, w);
    assert_issued(w, &chain, "new.crt");
    let text = x509(w, "new.crt", &["-subject", "-ext", "subjectAltName"]);
    assert!(
        text.contains("CN = router1.example.net, O = Example"),
        "{text}"
    );
    assert!(
        text.contains("DNS:router1.example.net") && text.contains("IP Address:192.0.2.1"),
        "{text}"
    );
    // caPubs: the root.
    let capubs = std::fs::read_to_string(w.join("capubs.pem")).unwrap();
    let root = std::fs::read_to_string(w.join("root.pem")).unwrap();
    assert_eq!(capubs.trim(), root.trim(), "caPubs carries the root");

    // A wrong secret: refused with a signed error message the client can
    // check against the root.
    genkey(w, "ec", "k2.key");
    let refused = |reference: &str, secret: &str, certout: &str| {
        let mut args = pbm(reference, secret);
        args.extend_from_slice(&[
            "-trusted", "root.pem", "-cmd", "ir", "-newkey", "k2.key", "-subject", "/CN=x",
            "-certout", certout,
        ]);
        let (ok, out) = cmp(w, &ca, &args);
        assert!(!ok, "{reference}/{secret} must be refused:\n{out}");
        assert!(!w.join(certout).exists(), "no certificate:\n{out}");
        out
    };
    let out = refused(REF, "pass:wrong", "bad.crt");
    assert!(
        out.contains("received ERROR")
            && out.contains("badMessageCheck")
            && out.contains("protection MAC does not verify"),
        "{out}"
    );
    assert!(ca.log().contains("badMessageCheck"), "{}", ca.log());

    // An unknown reference.
    let secret = format!("pass:{SECRET}");
    let out = refused("9999", &secret, "bad2.crt");
    assert!(
        out.contains("badMessageCheck") && out.contains("no shared secret with reference '9999'"),
        "{out}"
    );

    let log = ca.log();
    assert!(
        log.contains("no shared secret with reference '9999'"),
        "{log}"
    );
    assert!(!log.contains(SECRET), "the secret is never logged:\n{log}");
    let listing = ca.admin(&["list"]);
    assert_eq!(
        listing.matches("valid").count(),
        1,
        "one certificate issued:\n{listing}"
    );
}

#[test]
fn signature_protected_ir_cr_p10cr_and_kur() {
    if !openssl_available() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let w = d.path();
    let ca = start_ca(w, &[]);
    bootstrap(w, &ca);
    let chain = chain_file(&ca, w);
    genkey(w, "ec", "k2.key");

    // IR and CR signed with the bootstrapped certificate.
    for (cmd, sent, received) in [
        ("ir", "sending IR", "received IP"),
        ("cr", "sending CR", "received CP"),
    ] {
        let certout = format!("{cmd}.crt");
        let mut args = SIGNED.to_vec();
        args.extend_from_slice(&[
            "-cmd",
            cmd,
            "-newkey",
            "k2.key",
            "-subject",
            "/CN=router2.example.net/O=Example",
            "-sans",
            "router2.example.net",
            "-certout",
            &certout,
            "-out_trusted",
            "root.pem",
        ]);
        let (ok, out) = cmp(w, &ca, &args);
        assert!(ok, "{cmd} under signature:\n{out}\n{}", ca.log());
        assert!(out.contains(sent) && out.contains(received), "{out}");
        assert_issued(w, &chain, &certout);
        let text = x509(w, &certout, &["-subject", "-ext", "subjectAltName"]);
        assert!(
            text.contains("CN = router2.example.net, O = Example")
                && text.contains("DNS:router2.example.net"),
            "{text}"
        );
    }

    // P10CR: a PKCS#10 request carried in CMP.
    let (ok, out) = openssl(
        w,
        &[
            "req",
            "-new",
            "-key",
            "k2.key",
            "-subj",
            "/CN=router3/O=Example",
            "-out",
            "p10.csr",
        ],
    );
    assert!(ok, "{out}");
    let mut args = SIGNED.to_vec();
    args.extend_from_slice(&["-cmd", "p10cr", "-csr", "p10.csr", "-certout", "p10.crt"]);
    let (ok, out) = cmp(w, &ca, &args);
    assert!(ok, "p10cr:\n{out}\n{}", ca.log());
    assert!(
        out.contains("sending P10CR") && out.contains("received CP"),
        "{out}"
    );
    assert_issued(w, &chain, "p10.crt");
    let text = x509(w, "p10.crt", &["-subject"]);
    assert!(text.contains("CN = router3, O = Example"), "{text}");

    // KUR: a new key for the bootstrapped certificate; same subject and
    // SANs, a new serial.
    genkey(w, "ec", "kur.key");
    let mut args = SIGNED.to_vec();
    args.extend_from_slice(&[
        "-cmd",
        "kur",
        "-newkey",
        "kur.key",
        "-certout",
        "kur.crt",
        "-out_trusted",
        "root.pem",
    ]);
    let (ok, out) = cmp(w, &ca, &args);
    assert!(ok, "kur:\n{out}\n{}", ca.log());
    assert!(
        out.contains("sending KUR") && out.contains("received KUP"),
        "{out}"
    );
    assert_issued(w, &chain, "kur.crt");
    let text = x509(w, "kur.crt", &["-subject", "-ext", "subjectAltName"]);
    assert!(
        text.contains("CN = router1.example.net, O = Example")
            && text.contains("DNS:router1.example.net, IP Address:192.0.2.1"),
        "the subject and SANs are kept: {text}"
    );
    assert_ne!(serial_of(w, "new.crt"), serial_of(w, "kur.crt"));
    let (ok, pubkey) = openssl(w, &["pkey", "-in", "kur.key", "-pubout"]);
    assert!(ok, "{pubkey}");
    assert_eq!(
        x509(w, "kur.crt", &["-pubkey"]).trim(),
        pubkey.trim(),
        "the certificate carries the new key"
    );

    let listing = ca.admin(&["list"]);
    assert_eq!(
        listing.matches("valid").count(),
        5,
        "bootstrap, IR, CR, P10CR and KUR issued:\n{listing}"
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

/// Runs an IR protected with the shared secret for CN=`cn` in a thread.
fn ir_in_background(
    w: &Path,
    ca: &CaProcess,
    cn: &str,
) -> std::thread::JoinHandle<(bool, String, String)> {
    let w = w.to_path_buf();
    let server = ca.addr.clone();
    let subject = format!("/CN={cn}/O=Example");
    let certout = format!("{cn}.crt");
    let secret = format!("pass:{SECRET}");
    std::thread::spawn(move || {
        run_peer(
            &w,
            60,
            "openssl",
            &[
                "cmp",
                "-server",
                &server,
                "-path",
                "pkix/",
                "-msg_timeout",
                "10",
                "-total_timeout",
                "30",
                "-ref",
                REF,
                "-secret",
                &secret,
                "-recipient",
                "/CN=mtsim Issuing CA",
                "-cmd",
                "ir",
                "-newkey",
                "k.key",
                "-subject",
                &subject,
                "-certout",
                &certout,
            ],
        )
    })
}

#[test]
fn manual_approval_polls_until_approved_or_rejected() {
    if !openssl_available() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let w = d.path();
    let ca = start_ca(w, &["--manual-approval"]);
    let chain = chain_file(&ca, w);
    genkey(w, "ec", "k.key");

    // Held, then approved: the client polls and gets its certificate.
    let client = ir_in_background(w, &ca, "r1");
    wait_for_pending(&ca);
    assert!(ca.admin(&["approve", "1"]).contains("approved"));
    let (ok, out, err) = client.join().unwrap();
    let out = format!("{out}{err}");
    assert!(
        ok && w.join("r1.crt").exists(),
        "IR after approval:\n{out}\n{}",
        ca.log()
    );
    // ("received polling response" appears only when a poll came before
    // the approval; under load the first poll may already get the
    // certificate.)
    for step in [
        "sending POLLREQ",
        "received ip/cp/kup after polling",
        "sending CERTCONF",
    ] {
        assert!(out.contains(step), "{step}:\n{out}");
    }
    assert_issued(w, &chain, "r1.crt");
    assert!(
        ca.log().contains("ir: waiting as request 1"),
        "{}",
        ca.log()
    );

    // Held, then rejected: the client is told so.
    let client = ir_in_background(w, &ca, "r2");
    wait_for_pending(&ca);
    assert!(ca.admin(&["reject", "2"]).contains("rejected"));
    let (ok, out, err) = client.join().unwrap();
    let out = format!("{out}{err}");
    assert!(!ok && !w.join("r2.crt").exists(), "{out}");
    assert!(
        out.contains("rejection") && out.contains("rejected by the CA operator"),
        "{out}"
    );
    let listing = ca.admin(&["list"]);
    assert_eq!(
        listing.matches("valid").count(),
        1,
        "only the approved request was issued:\n{listing}"
    );
}

#[test]
fn implicit_confirm_skips_certconf() {
    if !openssl_available() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let w = d.path();
    let ca = start_ca(w, &[]);
    let chain = chain_file(&ca, w);
    genkey(w, "ec", "k.key");
    let secret = format!("pass:{SECRET}");
    let mut args = pbm(REF, &secret);
    args.extend_from_slice(&[
        "-cmd",
        "ir",
        "-newkey",
        "k.key",
        "-subject",
        "/CN=router4/O=Example",
        "-certout",
        "ic.crt",
        "-implicit_confirm",
    ]);
    let (ok, out) = cmp(w, &ca, &args);
    assert!(ok, "IR with implicit confirm:\n{out}\n{}", ca.log());
    assert!(
        out.contains("sending IR") && out.contains("received IP"),
        "{out}"
    );
    assert!(
        !out.contains("sending CERTCONF"),
        "the CA grants implicit confirmation: no certConf:\n{out}"
    );
    assert_issued(w, &chain, "ic.crt");
    let log = ca.log();
    assert!(
        !log.contains("confirmed"),
        "nothing to confirm explicitly:\n{log}"
    );
}
