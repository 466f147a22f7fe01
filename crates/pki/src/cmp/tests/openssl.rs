//! Interoperability with OpenSSL 3.0's `openssl cmp`.
//!
//! OpenSSL's client runs against its own mock server in-process
//! (`-use_mock_srv`: no socket at all, so nothing listens on any
//! interface), saving every request and response with `-reqout`/`-rspout`.
//! We decode those, re-encode them byte for byte, and verify their MACs and
//! signatures. The other direction uses `-rspin`: the OpenSSL client reads
//! a response *we* built and protected, adopts its transactionID and
//! nonces (that is what `-rspin` does), and checks its protection and
//! content like any response from a server.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use der::DecodePem;
use x509_cert::Certificate;
use x509_cert::name::Name;

use crate::cmp::*;
use crate::key::{HashAlg, KeyPair};

const OPENSSL: &str = "/usr/bin/openssl";
const SECRET: &str = "1234-5678";
const REF: &str = "3078";
const SUBJECT: &str = "/CN=router1.example.net";
const CA_DN: &str = "/CN=Test CMP Root CA";

fn openssl_available() -> bool {
    if Path::new(OPENSSL).exists() {
        return true;
    }
    eprintln!("skipping: {OPENSSL} not found");
    false
}

/// Runs `openssl ARGS` in `dir`, bounded by `timeout`.
fn openssl(dir: &Path, args: &[&str]) -> Output {
    let mut cmd = if Path::new("/usr/bin/timeout").exists() {
        let mut c = Command::new("/usr/bin/timeout");
        c.args(["30", OPENSSL]);
        c
    } else {
        Command::new(OPENSSL)
    };
    cmd.args(args)
        .current_dir(dir)
        .env("OPENSSL_CONF", "/dev/null")
        .output()
        .expect("run openssl")
}

fn openssl_ok(dir: &Path, args: &[&str]) -> Output {
    let out = openssl(dir, args);
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

const EXT_CNF: &str = "\
[ca_ext]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign,digitalSignature
subjectKeyIdentifier = hash
[srv_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ee_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
";

/// The PKI material (after `gen_material.sh` of the interop notes, with
/// EC keys except the CMP server's RSA key): a root CA, the server's
/// signer, the router's old certificate, a certificate pre-issued for the
/// key it will enrol, and one for a key update with the old serial.
struct Material {
    dir: tempfile::TempDir,
}

impl Material {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("ext.cnf"), EXT_CNF).unwrap();
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ];
        let mut args = vec!["req", "-x509"];
        args.extend(ec);
        args.extend([
            "-keyout",
            "ca.key",
            "-subj",
            CA_DN,
            "-days",
            "30",
            "-sha256",
            "-config",
            "ext.cnf",
            "-extensions",
            "ca_ext",
            "-out",
            "ca.crt",
        ]);
        openssl_ok(d, &args);
        let issue = |name: &str, subj: &str, newkey: &[&str], serial: &str, ext: &str| {
            let key = format!("{name}.key");
            let csr = format!("{name}.csr");
            let crt = format!("{name}.crt");
            if !d.join(&key).exists() {
                let mut args = vec!["req", "-new"];
                args.extend(newkey);
                args.extend(["-keyout", &key, "-subj", subj, "-out", &csr]);
                openssl_ok(d, &args);
            } else {
                openssl_ok(
                    d,
                    &["req", "-new", "-key", &key, "-subj", subj, "-out", &csr],
                );
            }
            openssl_ok(
                d,
                &[
                    "x509",
                    "-req",
                    "-in",
                    &csr,
                    "-CA",
                    "ca.crt",
                    "-CAkey",
                    "ca.key",
                    "-set_serial",
                    serial,
                    "-days",
                    "30",
                    "-sha256",
                    "-extfile",
                    "ext.cnf",
                    "-extensions",
                    ext,
                    "-out",
                    &crt,
                ],
            );
        };
        issue(
            "srv",
            "/CN=Test CMP Server",
            &["-newkey", "rsa:2048", "-nodes"],
            "0x02",
            "srv_ext",
        );
        issue("old", SUBJECT, &ec, "0x1001", "ee_ext");
        issue("new", SUBJECT, &ec, "0x1002", "ee_ext");
        // Same serial as old.crt: the mock checks KUR/RR against -rsp_cert.
        issue("kur", SUBJECT, &ec, "0x1001", "ee_ext");
        Material { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn cert(&self, name: &str) -> Certificate {
        let pem = std::fs::read(self.file(&format!("{name}.crt"))).unwrap();
        Certificate::from_pem(&pem).unwrap()
    }

    fn key(&self, name: &str) -> KeyPair {
        KeyPair::from_bytes(&std::fs::read(self.file(&format!("{name}.key"))).unwrap()).unwrap()
    }

    /// Runs the OpenSSL client against the in-process mock server, saving
    /// up to four requests and responses as `{tag}_req{i}.der` /
    /// `{tag}_rsp{i}.der`; returns the messages that were written.
    fn run_mock(
        &self,
        tag: &str,
        srv: &[&str],
        cli: &[&str],
    ) -> (Vec<Vec<u8>>, Vec<Vec<u8>>, bool) {
        let names = |kind: &str| {
            (1..=4)
                .map(|i| format!("{tag}_{kind}{i}.der"))
                .collect::<Vec<_>>()
                .join(",")
        };
        let (reqs, rsps) = (names("req"), names("rsp"));
        let mut args = vec!["cmp", "-use_mock_srv"];
        args.extend(srv);
        args.extend(cli);
        args.extend(["-reqout", &reqs, "-rspout", &rsps]);
        let out = openssl(self.path(), &args);
        let read = |kind: &str| {
            (1..=4)
                .map_while(|i| std::fs::read(self.file(&format!("{tag}_{kind}{i}.der"))).ok())
                .collect::<Vec<_>>()
        };
        (read("req"), read("rsp"), out.status.success())
    }
}

/// Decodes, checks the byte-exact round trip, and returns the message.
fn decode_exact(der: &[u8]) -> PkiMessage {
    let msg = decode(der).unwrap();
    assert_eq!(msg.to_der().unwrap(), der, "re-encoding differs");
    let received = Received::decode(der).unwrap();
    assert_eq!(
        received.protected_part(),
        protected_part(&msg.header, &msg.body).unwrap()
    );
    assert_eq!(received.message, msg);
    msg
}

fn pbm_srv() -> Vec<&'static str> {
    vec!["-srv_ref", REF, "-srv_secret", "pass:1234-5678"]
}

fn pbm_cli() -> Vec<&'static str> {
    vec![
        "-ref",
        REF,
        "-secret",
        "pass:1234-5678",
        "-recipient",
        CA_DN,
    ]
}

#[test]
fn openssl_pbm_ir_transaction() {
    if !openssl_available() {
        return;
    }
    let m = Material::new();
    let mut srv = pbm_srv();
    srv.extend(["-rsp_cert", "new.crt", "-rsp_capubs", "ca.crt"]);
    let mut cli = pbm_cli();
    cli.extend([
        "-cmd", "ir", "-newkey", "new.key", "-subject", SUBJECT, "-certout", "out.crt",
    ]);
    let (reqs, rsps, ok) = m.run_mock("pbm", &srv, &cli);
    assert!(ok);
    assert_eq!((reqs.len(), rsps.len()), (2, 2));
    let names: Vec<_> = reqs
        .iter()
        .zip(&rsps)
        .flat_map(|(q, r)| [decode_exact(q).body_name(), decode_exact(r).body_name()])
        .collect();
    assert_eq!(names, ["ir", "ip", "certConf", "pkiconf"]);

    // The IR: PBM as OpenSSL makes it (owf SHA-256, 500 iterations,
    // HMAC-SHA1), senderKID = the reference.
    let ir = decode_exact(&reqs[0]);
    assert_eq!(ir.header.pvno, PVNO_CMP2000);
    assert_eq!(protection_kind(&ir), ProtectionKind::PasswordBasedMac);
    assert_eq!(ir.header.sender_kid(), Some(REF.as_bytes()));
    let params = pbm_parameters(&ir).unwrap();
    assert_eq!(params.iteration_count, 500);
    assert_eq!(params.owf.oid, HashAlg::Sha256.oid());
    assert_eq!(params.mac.oid, ID_HMAC_SHA1);
    // Our PBM over OpenSSL's protected part reproduces its MAC exactly.
    assert_eq!(
        compute_mac(&ir, SECRET.as_bytes()).unwrap(),
        ir.protection.as_ref().unwrap().raw_bytes()
    );
    verify_mac(&ir, SECRET.as_bytes()).unwrap();
    assert!(matches!(
        verify_mac(&ir, b"1234-5679"),
        Err(CmpError::BadMac)
    ));
    assert!(matches!(
        verify_signature(&ir, &m.cert("old")),
        Err(CmpError::WrongProtection { .. })
    ));
    // Its request: subject, key, signature POP that verifies.
    let PkiBody::Ir(reqs_ir) = &ir.body else {
        panic!("not ir")
    };
    let req = &reqs_ir[0];
    assert_eq!(req.cert_req.cert_req_id, 0);
    let tmpl = &req.cert_req.cert_template;
    assert_eq!(
        tmpl.subject.as_ref().unwrap().to_string(),
        "CN=router1.example.net"
    );
    assert!(m.key("new").matches(tmpl.public_key.as_ref().unwrap()));
    req.verify_popo().unwrap();
    let mut forged = req.clone();
    forged.cert_req.cert_template.subject = Some("CN=evil".parse::<Name>().unwrap());
    assert!(matches!(forged.verify_popo(), Err(CmpError::Pop(_))));

    // The IP: same transaction, our nonce echoed, the certificate and CA.
    let ip = decode_exact(&rsps[0]);
    verify_mac(&ip, SECRET.as_bytes()).unwrap();
    assert_eq!(ip.header.transaction_id(), ir.header.transaction_id());
    assert_eq!(ip.header.recip_nonce(), ir.header.sender_nonce());
    let rep = ip.body.cert_response().unwrap();
    assert_eq!(rep.ca_pubs.as_ref().unwrap()[0], m.cert("ca"));
    let resp = &rep.response[0];
    assert_eq!(resp.status, PkiStatusInfo::accepted());
    let cert = resp.certificate().unwrap();
    assert_eq!(*cert, m.cert("new"));
    // OpenSSL's response entry is exactly what our CA would build.
    assert_eq!(*resp, CertResponse::accepted(0, m.cert("new")));

    // certConf: OpenSSL's certHash is ours.
    let cc = decode_exact(&reqs[1]);
    verify_mac(&cc, SECRET.as_bytes()).unwrap();
    let PkiBody::CertConf(statuses) = &cc.body else {
        panic!("not certConf")
    };
    assert_eq!(statuses[0].cert_hash.as_bytes(), cert_hash(cert).unwrap());
    assert_eq!(statuses[0].cert_req_id, 0);
    assert!(statuses[0].matches(cert) && statuses[0].is_accepted());
    assert!(!statuses[0].matches(&m.cert("old")));
    // What our client would send is what OpenSSL sent (which spells the
    // acceptance out).
    assert_eq!(
        CertStatus::for_certificate(cert, 0, Some(PkiStatusInfo::accepted())).unwrap(),
        statuses[0]
    );
    let conf = decode_exact(&rsps[1]);
    verify_mac(&conf, SECRET.as_bytes()).unwrap();
    assert_eq!(conf.body, PkiBody::Pkiconf(der::asn1::Null));

    // Tampering: every single-byte change of the IR fails to decode or to
    // verify.
    for i in 0..reqs[0].len() {
        let mut bad = reqs[0].clone();
        bad[i] ^= 0x01;
        if let Ok(msg) = decode(&bad) {
            assert!(verify_mac(&msg, SECRET.as_bytes()).is_err(), "byte {i}");
        }
    }
}

#[test]
fn openssl_signature_protected_transactions() {
    if !openssl_available() {
        return;
    }
    let m = Material::new();
    let (old, srv_cert) = (m.cert("old"), m.cert("srv"));
    let srv_sig = [
        "-srv_cert",
        "srv.crt",
        "-srv_key",
        "srv.key",
        "-srv_trusted",
        "ca.crt",
    ];
    let cli_sig = ["-cert", "old.crt", "-key", "old.key", "-trusted", "ca.crt"];
    let check = |reqs: &[Vec<u8>], rsps: &[Vec<u8>], expect: &[&str]| {
        let mut names = Vec::new();
        for (q, r) in reqs.iter().zip(rsps) {
            let (q, r) = (decode_exact(q), decode_exact(r));
            verify_signature(&q, &old).unwrap();
            verify_signature(&r, &srv_cert).unwrap();
            // The signer's certificate travels in extraCerts.
            assert_eq!(q.extra_certs.as_ref().unwrap()[0], old);
            assert!(matches!(
                verify_signature(&r, &old),
                Err(CmpError::Signature(_))
            ));
            names.extend([q.body_name(), r.body_name()]);
        }
        assert_eq!(names, expect);
    };

    for (cmd, first, reply) in [("ir", "ir", "ip"), ("cr", "cr", "cp")] {
        let mut srv = srv_sig.to_vec();
        srv.extend(["-rsp_cert", "new.crt"]);
        let mut cli = cli_sig.to_vec();
        cli.extend([
            "-cmd", cmd, "-newkey", "new.key", "-subject", SUBJECT, "-certout", "o.crt",
        ]);
        let (reqs, rsps, ok) = m.run_mock(cmd, &srv, &cli);
        assert!(ok, "{cmd}");
        check(&reqs, &rsps, &[first, reply, "certConf", "pkiconf"]);
    }

    // P10CR: the PKCS#10 request inside CMP.
    openssl_ok(
        m.path(),
        &[
            "req", "-new", "-key", "new.key", "-subj", SUBJECT, "-out", "p10.csr",
        ],
    );
    let mut srv = srv_sig.to_vec();
    srv.extend(["-rsp_cert", "new.crt"]);
    let mut cli = cli_sig.to_vec();
    cli.extend(["-cmd", "p10cr", "-csr", "p10.csr", "-certout", "o.crt"]);
    let (reqs, rsps, ok) = m.run_mock("p10", &srv, &cli);
    assert!(ok);
    check(&reqs, &rsps, &["p10cr", "cp", "certConf", "pkiconf"]);
    let PkiBody::P10cr(csr) = decode(&reqs[0]).unwrap().body else {
        panic!("not p10cr")
    };
    crate::verify::request(&csr).unwrap();

    // KUR: oldCertID names old.crt.
    let mut srv = srv_sig.to_vec();
    srv.extend(["-rsp_cert", "kur.crt"]);
    let mut cli = cli_sig.to_vec();
    cli.extend(["-cmd", "kur", "-newkey", "kur.key", "-certout", "o.crt"]);
    let (reqs, rsps, ok) = m.run_mock("kur", &srv, &cli);
    assert!(ok);
    check(&reqs, &rsps, &["kur", "kup", "certConf", "pkiconf"]);
    let kur = decode(&reqs[0]).unwrap();
    let req = &kur.body.cert_requests().unwrap()[0];
    let old_id = req.cert_req.old_cert_id().unwrap().unwrap();
    assert!(old_id.matches(&old));
    assert_eq!(old_id, CertId::of(&old));
    assert_eq!(
        old_id.to_old_cert_id_control().unwrap(),
        req.cert_req.controls.as_ref().unwrap()[0]
    );
    req.verify_popo().unwrap();

    // RR and GENM.
    let (reqs, rsps, ok) = m.run_mock(
        "rr",
        &[&srv_sig[..], &["-rsp_cert", "kur.crt"]].concat(),
        &[
            &cli_sig[..],
            &["-cmd", "rr", "-oldcert", "old.crt", "-revreason", "4"],
        ]
        .concat(),
    );
    assert!(ok);
    check(&reqs, &rsps, &["rr", "rp"]);
    let PkiBody::Rr(rr) = decode(&reqs[0]).unwrap().body else {
        panic!("not rr")
    };
    let t = &rr[0].cert_details;
    assert_eq!(
        t.serial_number.as_ref(),
        Some(old.tbs_certificate().serial_number())
    );
    assert_eq!(t.issuer.as_ref(), Some(old.tbs_certificate().issuer()));
    let PkiBody::Rp(rp) = decode(&rsps[0]).unwrap().body else {
        panic!("not rp")
    };
    assert_eq!(rp.status[0].status, PkiStatus::Accepted);

    let (reqs, rsps, ok) = m.run_mock(
        "genm",
        &srv_sig,
        &[
            &cli_sig[..],
            &["-cmd", "genm", "-infotype", "signKeyPairTypes"],
        ]
        .concat(),
    );
    assert!(ok);
    check(&reqs, &rsps, &["genm", "genp"]);

    // A KUR for a certificate the server does not know: an error message.
    let (reqs, rsps, ok) = m.run_mock(
        "kurerr",
        &[&srv_sig[..], &["-rsp_cert", "new.crt"]].concat(),
        &[
            &cli_sig[..],
            &["-cmd", "kur", "-newkey", "kur.key", "-certout", "o.crt"],
        ]
        .concat(),
    );
    assert!(!ok);
    assert_eq!(decode_exact(&reqs[0]).body_name(), "kur");
    let err = decode_exact(&rsps[0]);
    verify_signature(&err, &srv_cert).unwrap();
    let PkiBody::Error(e) = &err.body else {
        panic!("not error")
    };
    assert_eq!(e.pki_status_info.status, PkiStatus::Rejection);
    assert_eq!(e.pki_status_info.failure_info(), FailureInfo::BAD_REQUEST);
    assert!(
        e.pki_status_info.text().contains("wrong certid"),
        "{}",
        e.pki_status_info
    );
}

#[test]
fn openssl_polling_rejection_and_errors() {
    if !openssl_available() {
        return;
    }
    let m = Material::new();
    let cli_ir = |extra: &[&'static str]| {
        let mut cli = pbm_cli();
        cli.extend([
            "-cmd", "ir", "-newkey", "new.key", "-subject", SUBJECT, "-certout", "o.crt",
        ]);
        cli.extend(extra);
        cli
    };
    let srv = |extra: &[&'static str]| {
        let mut s = pbm_srv();
        s.extend(["-rsp_cert", "new.crt"]);
        s.extend(extra);
        s
    };

    // Polling: the IR is answered "waiting", then pollReq gets a pollRep
    // (checkAfter 0), then the certificate comes after the next pollReq.
    let (reqs, rsps, ok) = m.run_mock(
        "poll",
        &srv(&["-poll_count", "2", "-check_after", "0"]),
        &cli_ir(&[]),
    );
    assert!(ok);
    let reqs: Vec<_> = reqs.iter().map(|d| decode_exact(d)).collect();
    let rsps: Vec<_> = rsps.iter().map(|d| decode_exact(d)).collect();
    for msg in reqs.iter().chain(&rsps) {
        verify_mac(msg, SECRET.as_bytes()).unwrap();
    }
    let names: Vec<_> = reqs
        .iter()
        .zip(&rsps)
        .flat_map(|(q, r)| [q.body_name(), r.body_name()])
        .collect();
    assert_eq!(
        names,
        [
            "ir", "ip", "pollReq", "pollRep", "pollReq", "ip", "certConf", "pkiconf"
        ]
    );
    let waiting = &rsps[0].body.cert_response().unwrap().response[0];
    assert_eq!(waiting.status.status, PkiStatus::Waiting);
    assert!(waiting.certified_key_pair.is_none());
    let PkiBody::PollReq(preq) = &reqs[1].body else {
        panic!("not pollReq")
    };
    assert_eq!(preq[0].cert_req_id, 0);
    let PkiBody::PollRep(prep) = &rsps[1].body else {
        panic!("not pollRep")
    };
    assert_eq!((prep[0].cert_req_id, prep[0].check_after), (0, 0));
    // The whole transaction shares one transactionID, and each response
    // echoes the request's nonce.
    for (q, r) in reqs.iter().zip(&rsps) {
        assert_eq!(q.header.transaction_id(), reqs[0].header.transaction_id());
        assert_eq!(r.header.recip_nonce(), q.header.sender_nonce());
    }

    // Rejection with failInfo badRequest and a status string.
    let (_, rsps, ok) = m.run_mock(
        "rej",
        &srv(&[
            "-pkistatus",
            "2",
            "-failure",
            "2",
            "-statusstring",
            "test rejection",
        ]),
        &cli_ir(&[]),
    );
    assert!(!ok);
    let ip = decode_exact(&rsps[0]);
    let status = &ip.body.cert_response().unwrap().response[0].status;
    assert_eq!(status.status, PkiStatus::Rejection);
    assert_eq!(status.failure_info(), FailureInfo::BAD_REQUEST);
    assert_eq!(status.failure_info().names(), ["badRequest"]);
    assert_eq!(status.text(), "test rejection");
    // OpenSSL's DER of the named bits is ours.
    assert_eq!(
        status.fail_info.as_ref(),
        Some(&FailureInfo::BAD_REQUEST.to_bit_string().unwrap())
    );

    // -send_error: an error body.
    let (_, rsps, ok) = m.run_mock("senderr", &srv(&["-send_error"]), &cli_ir(&[]));
    assert!(!ok);
    let err = decode_exact(&rsps[0]);
    verify_mac(&err, SECRET.as_bytes()).unwrap();
    assert_eq!(err.body_name(), "error");

    // Implicit confirmation granted: no certConf.
    let (reqs, rsps, ok) = m.run_mock(
        "implicit",
        &srv(&["-grant_implicitconf"]),
        &cli_ir(&["-implicit_confirm"]),
    );
    assert!(ok);
    assert_eq!((reqs.len(), rsps.len()), (1, 1));
    assert!(decode_exact(&reqs[0]).header.implicit_confirm());
    assert!(decode_exact(&rsps[0]).header.implicit_confirm());
}

/// Builds the IP a CA would send for OpenSSL's IR, from the IR's header.
fn our_ip(ir_header: &PkiHeader, cert: Certificate, ca: Certificate) -> (PkiHeader, PkiBody) {
    let header =
        PkiHeader::reply_to(ir_header, CA_DN[1..].parse().unwrap(), 1_700_000_000).unwrap();
    let body = PkiBody::Ip(CertRepMessage {
        ca_pubs: Some(vec![ca]),
        response: vec![CertResponse::accepted(0, cert)],
    });
    (header, body)
}

/// OpenSSL's client accepts responses we protect (PBM and signature) and
/// rejects them under the wrong secret.
#[test]
fn openssl_accepts_our_responses() {
    if !openssl_available() {
        return;
    }
    let m = Material::new();
    // An IR from OpenSSL gives a realistic request header to answer.
    let mut srv = pbm_srv();
    srv.extend(["-rsp_cert", "new.crt"]);
    let mut cli = pbm_cli();
    cli.extend([
        "-cmd", "ir", "-newkey", "new.key", "-subject", SUBJECT, "-certout", "o.crt",
    ]);
    let (reqs, _, ok) = m.run_mock("seed", &srv, &cli);
    assert!(ok);
    let ir = decode(&reqs[0]).unwrap();

    let client = |rsp_file: &str, protection: &[&str]| {
        let mut args: Vec<&str> = vec!["cmp", "-rspin", rsp_file];
        args.extend(protection);
        args.extend([
            "-cmd",
            "ir",
            "-newkey",
            "new.key",
            "-subject",
            SUBJECT,
            "-disable_confirm",
            "-certout",
            "got.crt",
        ]);
        let _ = std::fs::remove_file(m.file("got.crt"));
        let out = openssl(m.path(), &args);
        let log = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), log)
    };

    // PBM with our defaults (SHA-256 owf, HMAC-SHA256).
    for (name, secret, config) in [
        ("ip_pbm.der", SECRET, PbmConfig::default()),
        (
            "ip_pbm_sha1.der",
            SECRET,
            PbmConfig {
                owf: HashAlg::Sha1,
                mac: HashAlg::Sha1,
                iterations: 1000,
                salt_len: 20,
            },
        ),
    ] {
        let (header, body) = our_ip(&ir.header, m.cert("new"), m.cert("ca"));
        let header = header.with_sender_kid(REF.as_bytes()).unwrap();
        let msg = protect(
            header,
            body,
            Protection::MacWith {
                secret: secret.as_bytes(),
                config,
            },
            vec![],
        )
        .unwrap();
        verify_mac(&msg, secret.as_bytes()).unwrap();
        std::fs::write(m.file(name), msg.to_der().unwrap()).unwrap();
        let (ok, log) = client(name, &pbm_cli());
        assert!(ok, "OpenSSL rejected our PBM IP ({name}): {log}");
        assert_eq!(
            Certificate::from_pem(std::fs::read(m.file("got.crt")).unwrap()).unwrap(),
            m.cert("new")
        );
    }

    // The wrong secret: OpenSSL refuses it.
    let (header, body) = our_ip(&ir.header, m.cert("new"), m.cert("ca"));
    let header = header.with_sender_kid(REF.as_bytes()).unwrap();
    let msg = protect(
        header,
        body,
        Protection::Mac {
            secret: b"not-the-secret",
        },
        vec![],
    )
    .unwrap();
    std::fs::write(m.file("ip_wrong.der"), msg.to_der().unwrap()).unwrap();
    let (ok, log) = client("ip_wrong.der", &pbm_cli());
    assert!(!ok, "OpenSSL accepted a MAC under the wrong secret: {log}");
    assert!(log.contains("wrong pbm value"), "{log}");

    // Signature protection with the server's RSA key, its certificate in
    // extraCerts; the client trusts the CA.
    let srv_cert = m.cert("srv");
    let (mut header, body) = our_ip(&ir.header, m.cert("new"), m.cert("ca"));
    header.sender = x509_cert::ext::pkix::name::GeneralName::DirectoryName(
        srv_cert.tbs_certificate().subject().clone(),
    );
    let msg = protect(
        header,
        body,
        Protection::Signature {
            key: &m.key("srv"),
            hash: HashAlg::Sha256,
        },
        vec![srv_cert.clone(), m.cert("ca")],
    )
    .unwrap();
    verify_signature(&msg, &srv_cert).unwrap();
    std::fs::write(m.file("ip_sig.der"), msg.to_der().unwrap()).unwrap();
    let (ok, log) = client(
        "ip_sig.der",
        &[
            "-cert",
            "old.crt",
            "-key",
            "old.key",
            "-trusted",
            "ca.crt",
            "-recipient",
            CA_DN,
        ],
    );
    assert!(ok, "OpenSSL rejected our signed IP: {log}");

    // The same signed message, one byte of the body changed: rejected.
    let mut bad = msg.clone();
    if let PkiBody::Ip(rep) = &mut bad.body {
        rep.response[0].cert_req_id = 1;
    }
    std::fs::write(m.file("ip_sig_bad.der"), bad.to_der().unwrap()).unwrap();
    let (ok, badlog) = client(
        "ip_sig_bad.der",
        &[
            "-cert",
            "old.crt",
            "-key",
            "old.key",
            "-trusted",
            "ca.crt",
            "-recipient",
            CA_DN,
        ],
    );
    assert!(!ok);
    assert!(badlog.contains("error validating protection"), "{badlog}");

    // And OpenSSL parses what we produce the way we do: its asn1parse of
    // our message's DER succeeds (a basic structural cross-check).
    openssl_ok(
        m.path(),
        &["asn1parse", "-inform", "DER", "-in", "ip_sig.der"],
    );
}
