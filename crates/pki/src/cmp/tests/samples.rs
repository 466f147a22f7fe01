//! The Siemens CMP test-suite samples (read at run time, not copied).

use std::path::{Path, PathBuf};

use der::asn1::ContextSpecific;
use der::{Decode, DecodePem, Encode, TagMode, TagNumber};
use x509_cert::request::CertReq;

use crate::cmp::*;
use crate::verify::VerifyError;

/// The PBM secret of the OpenSSL-generated IR samples (the test suite's
/// default pre-shared secret).
const SIEMENS_SECRET: &[u8] = b"SiemensIT";

fn samples_dir() -> Option<PathBuf> {
    crate::testdata::suite("scep-cmp/siemens-cmp-test-suite-data")
}

/// The first block of base64 lines in a sample (comments start with `#`;
/// one sample ends its base64 with a stray `'`), decoded.
fn base64_block(text: &str) -> Vec<u8> {
    let mut b64 = String::new();
    for line in text.lines() {
        let line = line.trim().trim_end_matches('\'');
        let is_b64 = !line.is_empty()
            && line
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='));
        if is_b64 {
            b64.push_str(line);
        } else if !b64.is_empty() {
            break;
        }
    }
    // Re-wrap to the 64 columns of RFC 7468 and let der's PEM decoder do it.
    let mut pem = String::from("-----BEGIN CMP-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(chunk).unwrap());
        pem.push('\n');
    }
    pem.push_str("-----END CMP-----\n");
    der::pem::decode_vec(pem.as_bytes()).unwrap().1
}

/// A sample's bytes: DER files as they are, the `.pem` ones (bare base64
/// with comments) decoded.
fn sample(dir: &Path, name: &str) -> Vec<u8> {
    let bytes = std::fs::read(dir.join(name)).unwrap();
    if name.ends_with(".pem") {
        base64_block(&String::from_utf8_lossy(&bytes))
    } else {
        bytes
    }
}

/// Every PKIMessage sample with the body it holds (`None`: not a PKIMessage).
const SAMPLES: &[(&str, Option<&str>)] = &[
    ("cmp-sample-reject.pem", Some("error")),
    ("example-cmp-response-accept.pem", Some("ip")),
    ("example-p10cr-rufus.pem", Some("p10cr")),
    ("example-p10r.pkimessage", None), // "bla bla todo"
    ("example-request-ir.pem", Some("ir")),
    ("example-response-CertRepMessage.pem", Some("cp")),
    ("example-response-error-implicitConfirm.pem", Some("error")),
    ("example-response-p10rp-cert.pem", Some("cp")),
    ("example-response-unsupported-algo.pem", Some("error")),
    ("example-rufus-01-p10cr.pem", Some("p10cr")),
    ("example-rufus-02-certConf.pem", Some("certConf")),
    ("req-ir.pkimessage", Some("ir")),
    (
        "req-p10cr-prot_none-pop_sig-dilithium.pkimessage",
        Some("p10cr"),
    ),
];

fn message(dir: &Path, name: &str) -> PkiMessage {
    decode(&sample(dir, name)).unwrap()
}

#[test]
fn every_sample_decodes_and_re_encodes_identically() {
    let Some(dir) = samples_dir() else { return };
    // Every PKIMessage file in the directory is in the table.
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if (name.ends_with(".pem") && name != "example-csr.pem") || name.ends_with(".pkimessage") {
            assert!(SAMPLES.iter().any(|(n, _)| *n == name), "new sample {name}");
        }
    }
    for (name, body) in SAMPLES {
        let der = sample(&dir, name);
        match (decode(&der), body) {
            (Ok(msg), Some(body)) => {
                assert_eq!(msg.body_name(), *body, "{name}");
                assert_eq!(msg.to_der().unwrap(), der, "{name}: re-encoding differs");
                let received = Received::decode(&der).unwrap();
                assert_eq!(
                    received.protected_part(),
                    protected_part(&msg.header, &msg.body).unwrap(),
                    "{name}"
                );
            }
            (Err(CmpError::Decode(_)), None) => {}
            (other, _) => panic!("{name}: {other:?}"),
        }
    }
}

#[test]
fn sample_protection() {
    let Some(dir) = samples_dir() else { return };
    // PBM (OpenSSL client: SHA-256 owf, 500 iterations, HMAC-SHA1).
    for name in ["example-request-ir.pem", "req-ir.pkimessage"] {
        let msg = message(&dir, name);
        assert_eq!(protection_kind(&msg), ProtectionKind::PasswordBasedMac);
        verify_mac(&msg, SIEMENS_SECRET).unwrap();
        Received::decode(&sample(&dir, name))
            .unwrap()
            .verify_mac(SIEMENS_SECRET)
            .unwrap();
        assert!(matches!(
            verify_mac(&msg, b"SiemensIt"),
            Err(CmpError::BadMac)
        ));
        assert!(matches!(
            verify_signature(&msg, &dummy_cert(&dir)),
            Err(CmpError::WrongProtection { .. })
        ));
    }
    // RSA signatures by the certificate in extraCerts.
    for name in ["cmp-sample-reject.pem", "example-cmp-response-accept.pem"] {
        let msg = message(&dir, name);
        let signer = &msg.extra_certs.as_ref().unwrap()[0];
        verify_signature(&msg, signer).unwrap();
        Received::decode(&sample(&dir, name))
            .unwrap()
            .verify_signature(signer)
            .unwrap();
        assert!(matches!(
            verify_mac(&msg, b"x"),
            Err(CmpError::WrongProtection { .. })
        ));
    }
    // ECDSA with P-521 keys: a precise "unsupported key" error.
    for name in [
        "example-response-CertRepMessage.pem",
        "example-response-error-implicitConfirm.pem",
        "example-response-p10rp-cert.pem",
    ] {
        let msg = message(&dir, name);
        let signer = &msg.extra_certs.as_ref().unwrap()[0];
        assert!(
            matches!(
                verify_signature(&msg, signer),
                Err(CmpError::Signature(VerifyError::BadKey(_)))
            ),
            "{name}"
        );
    }
    // 262144 PBM iterations: refused before doing any work.
    for name in [
        "example-p10cr-rufus.pem",
        "example-rufus-01-p10cr.pem",
        "example-rufus-02-certConf.pem",
    ] {
        let msg = message(&dir, name);
        assert!(
            matches!(
                verify_mac(&msg, b"x"),
                Err(CmpError::IterationCount(262_144))
            ),
            "{name}"
        );
    }
    // PBMAC1: recognised, reported as unsupported.
    let msg = message(&dir, "example-response-unsupported-algo.pem");
    assert_eq!(protection_kind(&msg), ProtectionKind::Pbmac1);
    assert!(matches!(
        verify_mac(&msg, b"x"),
        Err(CmpError::UnsupportedAlgorithm(_))
    ));
    // Unprotected, with an algorithm (ML-DSA/Dilithium) we do not know.
    let msg = message(&dir, "req-p10cr-prot_none-pop_sig-dilithium.pkimessage");
    assert_eq!(protection_kind(&msg), ProtectionKind::None);
    assert!(matches!(verify_mac(&msg, b"x"), Err(CmpError::Unprotected)));
    let PkiBody::P10cr(csr) = &msg.body else {
        panic!("not p10cr")
    };
    assert_eq!(
        csr.algorithm.oid.to_string(),
        "1.3.6.1.4.1.2.267.7.4.4",
        "the unknown algorithm is kept"
    );
    assert!(matches!(
        crate::verify::request(csr),
        Err(VerifyError::Unsupported(_))
    ));
}

fn dummy_cert(dir: &Path) -> x509_cert::Certificate {
    message(dir, "cmp-sample-reject.pem").extra_certs.unwrap()[0].clone()
}

#[test]
fn sample_contents() {
    let Some(dir) = samples_dir() else { return };
    let error_status = |name: &str| match message(&dir, name).body {
        PkiBody::Error(e) => e.pki_status_info,
        other => panic!("{name}: {}", other.name()),
    };
    // A failInfo BIT STRING not trimmed of its trailing zeros (unused
    // bits 0, 32 bits) still reads right, and re-encodes as received.
    let s = error_status("cmp-sample-reject.pem");
    assert_eq!(s.status, PkiStatus::Rejection);
    assert_eq!(s.failure_info(), FailureInfo::SYSTEM_UNAVAIL);
    assert_ne!(
        s.fail_info,
        FailureInfo::SYSTEM_UNAVAIL.to_bit_string().ok()
    );
    // A trimmed one is exactly our encoding.
    let s = error_status("example-response-unsupported-algo.pem");
    assert_eq!(s.failure_info().names(), ["badPOP"]);
    assert_eq!(s.fail_info, FailureInfo::BAD_POP.to_bit_string().ok());
    assert!(s.text().contains("PKCS#10 signature validation failed"));
    let s = error_status("example-response-error-implicitConfirm.pem");
    assert_eq!(s.failure_info(), FailureInfo::BAD_MESSAGE_CHECK);
    assert_eq!(
        s.to_string(),
        "rejection (badMessageCheck): downstream: PasswordBasedMac protection check failed"
    );
    assert!(
        message(&dir, "example-response-error-implicitConfirm.pem")
            .header
            .implicit_confirm()
    );

    // A Go client's messageTime with a +0100 offset.
    let msg = message(&dir, "example-p10cr-rufus.pem");
    let t = msg.header.message_time.as_ref().unwrap();
    assert_eq!(t.as_str(), "20240215205833+0100");
    assert!(!t.is_der());
    assert_eq!(t.to_unix(), Some(1_708_027_113)); // 19:58:33 UTC
    assert_eq!(msg.header.sender_kid().map(<[u8]>::len), Some(32));

    // The IR: template subject and a signature POP that verifies.
    let msg = message(&dir, "example-request-ir.pem");
    assert!(msg.header.message_time.as_ref().unwrap().is_der());
    let req = &msg.body.cert_requests().unwrap()[0];
    assert_eq!(
        req.cert_req
            .cert_template
            .subject
            .as_ref()
            .unwrap()
            .to_string(),
        "CN=testSubject"
    );
    req.verify_popo().unwrap();

    // The EJBCA IP and the Siemens CP carry an accepted certificate.
    for name in [
        "example-cmp-response-accept.pem",
        "example-response-CertRepMessage.pem",
        "example-response-p10rp-cert.pem",
    ] {
        let msg = message(&dir, name);
        let resp = &msg.body.cert_response().unwrap().response[0];
        assert_eq!(resp.status.status, PkiStatus::Accepted, "{name}");
        assert!(
            matches!(
                resp.certified_key_pair,
                Some(CertifiedKeyPair {
                    cert_or_enc_cert: CertOrEncCert::Certificate(_),
                    ..
                })
            ),
            "{name}"
        );
    }

    // certConf with a SHA-512 certHash.
    let msg = message(&dir, "example-rufus-02-certConf.pem");
    let PkiBody::CertConf(c) = &msg.body else {
        panic!("not certConf")
    };
    assert_eq!((c[0].cert_req_id, c[0].cert_hash.as_bytes().len()), (0, 64));
}

#[test]
fn truncated_or_corrupted_samples_give_errors_not_panics() {
    let Some(dir) = samples_dir() else { return };
    for (name, body) in SAMPLES {
        let der = sample(&dir, name);
        for len in 0..der.len() {
            assert!(decode(&der[..len]).is_err(), "{name}: prefix {len} decoded");
        }
        if body.is_none() {
            continue;
        }
        // Single-byte changes anywhere decode or fail cleanly.
        let msg = decode(&der).unwrap();
        let unprotected_tail = match &msg.extra_certs {
            Some(certs) => ContextSpecific {
                tag_number: TagNumber(1),
                tag_mode: TagMode::Explicit,
                value: certs.clone(),
            }
            .to_der()
            .unwrap()
            .len(),
            None => 0,
        };
        let signer = msg.extra_certs.as_ref().map(|c| c[0].clone());
        for i in 0..der.len() {
            let mut bad = der.clone();
            bad[i] ^= 0x20;
            let Ok(bad_msg) = decode(&bad) else { continue };
            if i >= der.len() - unprotected_tail {
                continue; // extraCerts are outside the protection
            }
            // Whatever still decodes no longer verifies.
            if *name == "example-request-ir.pem" || *name == "req-ir.pkimessage" {
                assert!(
                    verify_mac(&bad_msg, SIEMENS_SECRET).is_err(),
                    "{name} byte {i}"
                );
            }
            if *name == "cmp-sample-reject.pem" || *name == "example-cmp-response-accept.pem" {
                let signer = signer.as_ref().unwrap();
                assert!(
                    verify_signature(&bad_msg, signer).is_err(),
                    "{name} byte {i}"
                );
            }
        }
    }
}

#[test]
fn unknown_body_tags_are_named() {
    let Some(dir) = samples_dir() else { return };
    let der = sample(&dir, "req-ir.pkimessage");
    let msg = decode(&der).unwrap();
    // The body's tag follows the outer SEQUENCE header and the PKIHeader.
    let mut reader = der::SliceReader::new(&der).unwrap();
    der::Header::decode(&mut reader).unwrap();
    let outer_header_len = usize::try_from(der::Reader::position(&reader)).unwrap();
    let body_at = outer_header_len + msg.header.to_der().unwrap().len();
    assert_eq!(der[body_at], 0xA0, "ir is [0] constructed");
    for (tag_byte, number) in [(0xBBu8, 27u32), (0xBE, 30)] {
        let mut bad = der.clone();
        bad[body_at] = tag_byte;
        match decode(&bad) {
            Err(e @ CmpError::UnknownBody(n)) => {
                assert_eq!(n, number);
                assert!(e.to_string().contains(&format!("[{number}]")), "{e}");
            }
            other => panic!("{other:?}"),
        }
    }
    // A known tag with the wrong content is a decode error, not "unknown".
    let mut bad = der.clone();
    bad[body_at] = 0xB3; // pkiconf [19] around CertReqMessages
    assert!(matches!(decode(&bad), Err(CmpError::Decode(_))));
}

#[test]
fn the_sample_csr_travels_in_a_p10cr() {
    let Some(dir) = samples_dir() else { return };
    // A real PEM, followed by comments.
    let text = std::fs::read_to_string(dir.join("example-csr.pem")).unwrap();
    let end = "-----END CERTIFICATE REQUEST-----";
    let pem = &text[..text.find(end).unwrap() + end.len()];
    let csr = CertReq::from_pem(pem).unwrap();
    crate::verify::request(&csr).unwrap();
    assert_eq!(
        csr.info.subject.to_string(),
        "CN=Hans Mustermann,L=Munich,C=DE"
    );
    let header = PkiHeader::new(
        csr.info.subject.clone(),
        "CN=CA".parse().unwrap(),
        1_700_000_000,
    )
    .unwrap()
    .with_sender_kid(b"ref")
    .unwrap();
    let msg = protect(
        header,
        PkiBody::P10cr(csr.clone()),
        Protection::Mac { secret: b"pw" },
        vec![],
    )
    .unwrap();
    let back = decode(&msg.to_der().unwrap()).unwrap();
    assert_eq!(back, msg);
    verify_mac(&back, b"pw").unwrap();
    assert_eq!(back.body, PkiBody::P10cr(csr));
}
