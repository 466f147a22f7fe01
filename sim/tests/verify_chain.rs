//! `mtsim pki verify-chain`: the IKE authenticator from the command line,
//! with certificates made by the embedded CA and by OpenSSL: acceptance
//! for FQDN, IPv4, IPv6, user@FQDN and DN identities, refusals with their
//! reasons (expired, not yet valid, revoked, unknown CA, SAN mismatch, no
//! SAN, wrong key usage, a non-CA intermediate, a path length exceeded),
//! exit 0 / 1 / 2.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use ca::authority::{Application, Authority, Settings};
use ca::state::Reason;
use der::Encode;
use pki::altname::AltNames;
use pki::key::{HashAlg, KeyAlgorithm, KeyPair, KeySpec};
use support::peer_available;

const NOW: u64 = support::NOW_SECS;

fn verify(args: &[&str]) -> (i32, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_mtsim"))
        .args(["pki", "verify-chain"])
        .args(args)
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

fn write_pem(dir: &Path, name: &str, der: &[u8], label: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, pki::encoding::pem(label, der)).unwrap();
    p
}

#[test]
fn embedded_ca_certificates_accepted_and_refused_with_reasons() {
    let d = tempfile::tempdir().unwrap();
    let now = Duration::from_secs(NOW);
    let a = Authority::open(
        &d.path().join("ca"),
        Settings {
            cert_lifetime: Duration::from_secs(3600),
            ..Settings::default()
        },
        now,
    )
    .unwrap();
    let h = a.hierarchy();
    let root = write_pem(
        d.path(),
        "root.pem",
        &h.root.cert.to_der().unwrap(),
        "CERTIFICATE",
    );
    let issuing = write_pem(
        d.path(),
        "issuing.pem",
        &h.issuing.cert.to_der().unwrap(),
        "CERTIFICATE",
    );
    let alt = AltNames {
        dns: vec!["r1.example.net".into()],
        email: vec!["ike@r1.example.net".into()],
        ip: vec!["192.0.2.1".parse().unwrap(), "2001:db8::1".parse().unwrap()],
        other: vec![],
    };
    let key = KeyPair::generate(KeySpec::new(KeyAlgorithm::Ecdsa, 256).unwrap()).unwrap();
    let name = pki::name::parse_subject("CN=r1,O=Example", "").unwrap();
    let csr = pki::request::build(&key, name, &alt, None, HashAlg::Sha256).unwrap();
    let cert = a.issue(&Application::from_csr(&csr).unwrap(), now).unwrap();
    let peer = write_pem(d.path(), "peer.pem", &cert.to_der().unwrap(), "CERTIFICATE");
    let at = NOW.to_string();
    let base = |id: &str| {
        vec![
            "--trusted".to_string(),
            root.display().to_string(),
            "--untrusted".into(),
            issuing.display().to_string(),
            "--peer".into(),
            peer.display().to_string(),
            "--at".into(),
            at.clone(),
            "--id".into(),
            id.to_string(),
        ]
    };
    let run = |args: Vec<String>| verify(&args.iter().map(String::as_str).collect::<Vec<_>>());
    for id in [
        "fqdn:R1.Example.NET",
        "ipv4:192.0.2.1",
        "ipv6:2001:db8::1",
        "email:ike@r1.example.net",
        "dn:CN=r1,O=Example",
    ] {
        let (code, out) = run(base(id));
        assert_eq!(code, 0, "{id}: {out}");
        assert!(out.starts_with("accepted"), "{out}");
    }
    let (code, out) = run(base("fqdn:r2.example.net"));
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("does not match") && out.contains("DNS:r1.example.net"),
        "{out}"
    );
    let (code, out) = run(base("ipv4:192.0.2.9"));
    assert_eq!(code, 1, "{out}");

    // Expired and not yet valid.
    let mut args = base("fqdn:r1.example.net");
    args[7] = (NOW + 7200).to_string();
    let (code, out) = run(args);
    assert_eq!(code, 1);
    assert!(out.contains("expired"), "{out}");
    let mut args = base("fqdn:r1.example.net");
    args[7] = (NOW - 7200).to_string();
    let (code, out) = run(args);
    assert_eq!(code, 1);
    assert!(out.contains("not valid before"), "{out}");

    // Unknown CA: the intermediate is missing.
    let mut args = base("fqdn:r1.example.net");
    args.drain(2..4);
    let (code, out) = run(args);
    assert_eq!(code, 1);
    assert!(out.contains("unknown CA"), "{out}");

    // Revoked by the CA's CRL.
    let serial = pki::info::serial_hex(cert.tbs_certificate().serial_number().as_bytes());
    a.revoke(&serial, Reason::KeyCompromise, now).unwrap();
    let crl = a.crl(now + Duration::from_secs(1)).unwrap();
    let crl = write_pem(d.path(), "crl.pem", &crl, "X509 CRL");
    let mut args = base("fqdn:r1.example.net");
    args[7] = (NOW + 2).to_string();
    args.extend(["--crl".to_string(), crl.display().to_string()]);
    let (code, out) = run(args);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("revoked") && out.contains("key compromise"),
        "{out}"
    );

    // Bad input: exit 2 with the reason.
    let (code, out) = verify(&["--trusted", "/nonexistent", "--peer", "/nonexistent"]);
    assert_eq!(code, 2);
    assert!(out.contains("/nonexistent"), "{out}");
    let (code, out) = run(base("phone:123"));
    assert_eq!(code, 2, "{out}");
}

fn openssl(dir: &Path, args: &[&str]) {
    let o = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn openssl_made_chains() {
    if !peer_available("openssl", &["version"], "openssl") {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let w = d.path();
    let ca_ext = "basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n";
    let ca_ext_nopath = "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n";
    std::fs::write(w.join("ca.ext"), ca_ext).unwrap();
    std::fs::write(w.join("ca-nopath.ext"), ca_ext_nopath).unwrap();
    std::fs::write(w.join("notca.ext"), "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n").unwrap();
    let ee = |ku: &str, san: &str| {
        format!(
            "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,{ku}\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n{san}"
        )
    };
    std::fs::write(
        w.join("ee.ext"),
        ee(
            "digitalSignature",
            "subjectAltName=DNS:gw.example.net,IP:198.51.100.7,IP:2001:db8::7,email:ike@gw.example.net\n",
        ),
    )
    .unwrap();
    std::fs::write(
        w.join("ee-ku.ext"),
        ee("keyEncipherment", "subjectAltName=DNS:gw.example.net\n"),
    )
    .unwrap();
    std::fs::write(w.join("ee-nosan.ext"), ee("digitalSignature", "")).unwrap();
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    let mut root = vec![
        "req",
        "-x509",
        "-keyout",
        "root.key",
        "-out",
        "root.pem",
        "-subj",
        "/CN=OpenSSL Root",
        "-days",
        "30",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ];
    root.extend(ec);
    openssl(w, &root);
    // name, issuer, extension file
    let sign = |name: &str, subj: &str, issuer: &str, ext: &str| {
        let mut req = vec!["req", "-new", "-keyout"];
        let key = format!("{name}.key");
        let csr = format!("{name}.csr");
        req.extend([key.as_str(), "-out", csr.as_str(), "-subj", subj]);
        req.extend(ec);
        openssl(w, &req);
        let ca = format!("{issuer}.pem");
        let cakey = format!("{issuer}.key");
        let out = format!("{name}.pem");
        openssl(
            w,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                &ca,
                "-CAkey",
                &cakey,
                "-CAcreateserial",
                "-out",
                &out,
                "-days",
                "30",
                "-extfile",
                ext,
            ],
        );
    };
    sign("inter", "/CN=OpenSSL Intermediate", "root", "ca.ext");
    sign("gw", "/CN=gw.example.net/O=Example", "inter", "ee.ext");
    sign("gw-ku", "/CN=gw.example.net", "inter", "ee-ku.ext");
    sign("gw-nosan", "/CN=gw.example.net", "inter", "ee-nosan.ext");
    sign("notca", "/CN=Not A CA", "root", "notca.ext");
    sign("under-notca", "/CN=gw.example.net", "notca", "ee.ext");
    sign(
        "inter2",
        "/CN=Second Intermediate",
        "inter",
        "ca-nopath.ext",
    );
    sign("too-deep", "/CN=gw.example.net", "inter2", "ee.ext");
    let p = |f: &str| w.join(f).display().to_string();
    let chain = |peer: &str, inters: &[&str], id: &str| {
        let mut a = vec![
            "--trusted".to_string(),
            p("root.pem"),
            "--peer".into(),
            p(peer),
            "--id".into(),
            id.into(),
        ];
        for i in inters {
            a.extend(["--untrusted".to_string(), p(i)]);
        }
        let (code, out) = verify(&a.iter().map(String::as_str).collect::<Vec<_>>());
        (code, out)
    };
    for id in [
        "fqdn:gw.example.net",
        "ipv4:198.51.100.7",
        "ipv6:2001:db8::7",
        "email:ike@gw.example.net",
        "dn:CN=gw.example.net,O=Example",
    ] {
        let (code, out) = chain("gw.pem", &["inter.pem"], id);
        assert_eq!(code, 0, "{id}: {out}");
    }
    let cases = [
        ("gw-ku.pem", vec!["inter.pem"], "key usage"),
        ("gw-nosan.pem", vec!["inter.pem"], "subjectAltName"),
        ("under-notca.pem", vec!["notca.pem"], "not a CA"),
        (
            "too-deep.pem",
            vec!["inter.pem", "inter2.pem"],
            "pathLenConstraint",
        ),
    ];
    for (peer, inters, why) in cases {
        let (code, out) = chain(peer, &inters, "fqdn:gw.example.net");
        assert_eq!(code, 1, "{peer}: {out}");
        assert!(
            out.to_lowercase().contains(&why.to_lowercase()),
            "{peer}: expected '{why}' in: {out}"
        );
    }
}
