//! The router's CMPv2 client against a CA that is not ours: OpenSSL 3.0's
//! CMP mock server (`openssl cmp -port`). It binds every interface, so it
//! runs in a network namespace this test creates (only `lo`, up), and the
//! router daemon (`mtsim router`) runs in the same namespace; the CLI
//! reaches the daemon over its Unix socket. The mock answers every request
//! with its `-rsp_cert`, so the test signs the router's own CSRs with a CA
//! made by openssl, and restarts the mock with other options for each
//! scenario: IR with a shared secret, IR signed with the current
//! certificate, KUR, polling, a rejection and an error message.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use support::{Netns, daemon_cli, peer_available, pkid_log, wait_for, wait_show};

const MTSIM: &str = env!("CARGO_BIN_EXE_mtsim");
const PORT: &str = "18080";
const SECRET: &str = "1234-5678";

/// Runs `openssl ARGS` in `w`; its stdout.
fn openssl(w: &Path, args: &[&str]) -> String {
    let o = Command::new("openssl")
        .args(args)
        .current_dir(w)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Signs `csr` with the test CA into `out`, with serial `serial` (hex).
fn issue(w: &Path, csr: &Path, out: &str, serial: &str, days: &str) {
    openssl(
        w,
        &[
            "x509",
            "-req",
            "-in",
            csr.to_str().unwrap(),
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-set_serial",
            &format!("0x{serial}"),
            "-days",
            days,
            "-sha256",
            "-out",
            out,
        ],
    );
}

/// The SHA-1 fingerprint of `cert` as `show` prints it (lower case, colons).
fn sha1(w: &Path, cert: &str) -> String {
    let o = openssl(w, &["x509", "-in", cert, "-noout", "-fingerprint", "-sha1"]);
    o.trim().split_once('=').unwrap().1.to_ascii_lowercase()
}

/// The router's key pair `id` and a CSR for it, in `<data>/home/<id>.csr`.
fn key_and_csr(data: &Path, id: &str) -> PathBuf {
    daemon_cli(
        data,
        &format!("request security pki generate-key-pair certificate-id {id} size 2048 type rsa"),
    );
    daemon_cli(
        data,
        &format!(
            "request security pki generate-certificate-request certificate-id {id} subject \"CN={id}.example.net,O=Example\" domain-name {id}.example.net filename {id}.csr"
        ),
    );
    let csr = data.join(format!("home/{id}.csr"));
    assert!(csr.exists(), "{}", csr.display());
    csr
}

/// Starts the mock CMP server with `args` (after `-port`); waits until it accepts.
fn mock(ns: &mut Netns, w: &Path, name: &str, args: &[&str]) -> usize {
    let log = w.join(format!("{name}.mock.log"));
    let mut all = vec!["cmp", "-port", PORT];
    all.extend_from_slice(args);
    let i = ns.spawn(w, &log, "openssl", &all);
    wait_for(&log, "ACCEPT");
    i
}

fn enroll_pbm(data: &Path, id: &str) {
    let out = daemon_cli(
        data,
        &format!(
            "request security pki local-certificate enroll cmpv2 ca-profile ca1 certificate-id {id} ca-dn \"CN=Test CMP Root CA\" ca-secret {SECRET} ca-reference 3078 subject \"CN={id}.example.net,O=Example\" domain-name {id}.example.net"
        ),
    );
    assert!(out.contains("enrollment has started"), "{out}");
}

#[test]
fn enrolls_with_openssl_cmp_mock_server() {
    if !peer_available("openssl", &["version"], "openssl")
        || !peer_available("ip", &["-V"], "iproute2")
    {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let w = d.path();

    // The test CA and the mock server's signer certificate.
    std::fs::write(
        w.join("ext.cnf"),
        "[srv_ext]\nbasicConstraints = critical,CA:FALSE\nkeyUsage = critical,digitalSignature\nsubjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\n",
    )
    .unwrap();
    openssl(
        w,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=Test CMP Root CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "30",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
    openssl(
        w,
        &[
            "req",
            "-new",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=Test CMP Server",
            "-keyout",
            "srv.key",
            "-out",
            "srv.csr",
        ],
    );
    openssl(
        w,
        &[
            "x509",
            "-req",
            "-in",
            "srv.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-set_serial",
            "0x5001",
            "-days",
            "30",
            "-sha256",
            "-extfile",
            "ext.cnf",
            "-extensions",
            "srv_ext",
            "-out",
            "srv.crt",
        ],
    );

    let mut ns = Netns::new("cmp");
    let data: PathBuf = w.join("router");
    ns.spawn(
        w,
        &w.join("router.log"),
        MTSIM,
        &["router", "--data-dir", data.to_str().unwrap()],
    );
    for _ in 0..100 {
        if data.join("run/cli.sock").exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let script = format!(
        "configure\nset security pki ca-profile ca1 ca-identity ca1 enrollment url http://127.0.0.1:{PORT}/pkix/ retry 5 retry-interval 1\ncommit\n"
    );
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

    // The router's key pair r1 and certificates the mock will hand out for it.
    let csr1 = key_and_csr(&data, "r1");
    issue(w, &csr1, "new.crt", "1001", "30");
    issue(w, &csr1, "new2.crt", "1002", "30");
    // The mock accepts a KUR only for the issuer and serial of its
    // -rsp_cert: kur.crt has new2.crt's serial, and another validity.
    issue(w, &csr1, "kur.crt", "1002", "20");
    let pbm = ["-srv_ref", "3078", "-srv_secret", "pass:1234-5678"];
    let sig = [
        "-srv_cert",
        "srv.crt",
        "-srv_key",
        "srv.key",
        "-srv_trusted",
        "ca.crt",
    ];

    // 1. IR protected with the shared secret (PBM); the CA from caPubs.
    let m = mock(
        &mut ns,
        w,
        "ir_pbm",
        &[&pbm[..], &["-rsp_cert", "new.crt", "-rsp_capubs", "ca.crt"]].concat(),
    );
    enroll_pbm(&data, "r1");
    let show = wait_show(&data, "r1", "Test CMP Root CA");
    assert!(show.contains("r1.example.net"), "{show}");
    assert!(show.contains(&sha1(w, "new.crt")), "{show}");
    let ca = daemon_cli(&data, "show security pki ca-certificate");
    assert!(
        ca.contains("ca1") && ca.contains("Test CMP Root CA"),
        "{ca}"
    );
    ns.stop(m);

    // 2. IR signed with the current certificate r1; the reply is signed
    //    by srv.crt (in extraCerts), which ca1 issued.
    let m = mock(
        &mut ns,
        w,
        "ir_sig",
        &[&sig[..], &["-rsp_cert", "new2.crt"]].concat(),
    );
    let out = daemon_cli(
        &data,
        "request security pki local-certificate enroll cmpv2 ca-profile ca1 certificate-id r1 ca-dn \"CN=Test CMP Root CA\" subject \"CN=r1.example.net,O=Example\" domain-name r1.example.net",
    );
    assert!(out.contains("enrollment has started"), "{out}");
    let show = wait_show(&data, "r1", &sha1(w, "new2.crt"));
    assert!(!show.contains("Enrollment:"), "{show}");
    ns.stop(m);

    // 3. KUR for the same key, signed with the current certificate.
    let m = mock(
        &mut ns,
        w,
        "kur",
        &[&sig[..], &["-rsp_cert", "kur.crt"]].concat(),
    );
    let out = daemon_cli(
        &data,
        "request security pki local-certificate re-enroll cmpv2 ca-profile ca1 certificate-id r1",
    );
    assert!(out.contains("re-enrollment has started"), "{out}");
    let show = wait_show(&data, "r1", &sha1(w, "kur.crt"));
    assert!(show.contains("r1.example.net"), "{show}");
    assert!(pkid_log(&data).contains("KUR sent"), "{}", pkid_log(&data));
    ns.stop(m);

    // 4. The CA answers "waiting" twice; the router polls.
    let csr2 = key_and_csr(&data, "r2");
    issue(w, &csr2, "r2.crt", "2001", "30");
    let m = mock(
        &mut ns,
        w,
        "poll",
        &[
            &pbm[..],
            &[
                "-rsp_cert",
                "r2.crt",
                "-poll_count",
                "2",
                "-check_after",
                "1",
            ],
        ]
        .concat(),
    );
    enroll_pbm(&data, "r2");
    wait_show(&data, "r2", "pending");
    let show = wait_show(&data, "r2", &sha1(w, "r2.crt"));
    assert!(show.contains("r2.example.net"), "{show}");
    assert!(
        pkid_log(&data).contains("the CA is waiting"),
        "{}",
        pkid_log(&data)
    );
    ns.stop(m);

    // 5. A rejection: status, failInfo and statusString in words.
    daemon_cli(
        &data,
        "request security pki generate-key-pair certificate-id r3 size 2048 type rsa",
    );
    let m = mock(
        &mut ns,
        w,
        "reject",
        &[
            &pbm[..],
            &[
                "-rsp_cert",
                "new.crt",
                "-pkistatus",
                "2",
                "-failure",
                "2",
                "-statusstring",
                "test rejection",
            ],
        ]
        .concat(),
    );
    enroll_pbm(&data, "r3");
    let show = wait_show(&data, "r3", "failed");
    assert!(
        show.contains("badRequest") && show.contains("test rejection"),
        "{show}"
    );
    ns.stop(m);

    // 6. An error message.
    daemon_cli(
        &data,
        "request security pki generate-key-pair certificate-id r4 size 2048 type rsa",
    );
    let m = mock(
        &mut ns,
        w,
        "error",
        &[&pbm[..], &["-rsp_cert", "new.crt", "-send_error"]].concat(),
    );
    enroll_pbm(&data, "r4");
    let show = wait_show(&data, "r4", "failed");
    assert!(show.contains("error processing message"), "{show}");
    ns.stop(m);

    let log = pkid_log(&data);
    assert!(
        !log.contains(SECRET),
        "the shared secret in the log:\n{log}"
    );
    eprintln!(
        "{}",
        std::fs::read_to_string(w.join("router.log")).unwrap_or_default()
    );
    eprintln!("{log}");
}
