//! Files an operator loads (`request security pki ... load filename`,
//! certificates and CRLs fetched over HTTP): PEM or DER certificates,
//! chains, CRLs, PKCS#10 requests and private keys.
//!
//! Calls `pki::encoding::{certificates, certificate, crl, request}` and
//! `pki::key::KeyPair::from_bytes` on the same bytes, and on success what
//! the router does next with such an object: the `show` renderers (text
//! and JSON, brief and detail), signature checks, identity extraction.

#![no_main]

use libfuzzer_sys::fuzz_target;
use pki::info::{CertInfo, CrlInfo, RequestInfo};
use pki::key::{HashAlg, KeyPair};
use pki::render::{self, Level};

fuzz_target!(|data: &[u8]| {
    if let Ok(certs) = pki::encoding::certificates(data) {
        for cert in &certs {
            let info = CertInfo::of(cert);
            for level in [Level::Brief, Level::Detail] {
                let _ = render::ca_certificates(&[("fuzz", &info)], level);
                let _ = render::ca_certificates_json(&[("fuzz", &info)], level);
            }
            let tbs = cert.tbs_certificate();
            let _ = pki::name::subject_string(tbs.subject());
            let _ = pki::name::issued_by(tbs.issuer());
            let _ = pki::name::labelled_line(tbs.subject());
            let _ = pki::name::common_name(tbs.subject());
            if let Ok(Some(alt)) = pki::altname::AltNames::from_certificate(cert) {
                let _ = alt.junos_line();
            }
            let _ = pki::verify::certificate(cert, tbs.subject_public_key_info());
            let _ = ike::session::public_key(cert);
        }
        if !certs.is_empty() {
            let ders: Vec<Vec<u8>> = certs
                .iter()
                .filter_map(|c| der::Encode::to_der(c).ok())
                .collect();
            let _ = ike::session::certificates(&ders);
        }
    }
    let _ = pki::encoding::certificate(data);
    if let Ok(crl) = pki::encoding::crl(data) {
        let info = CrlInfo::of(&crl);
        for level in [Level::Brief, Level::Detail] {
            let _ = render::crls(&[("fuzz", &info)], level);
            let _ = render::crls_json(&[("fuzz", &info)], level);
        }
    }
    if let Ok(req) = pki::encoding::request(data) {
        let info = RequestInfo::of(&req);
        for level in [Level::Brief, Level::Detail] {
            let _ = render::requests(&[("fuzz", &info)], level);
            let _ = render::requests_json(&[("fuzz", &info)], level);
        }
        let _ = pki::verify::request(&req);
        if let Ok(der) = der::Encode::to_der(&req) {
            let _ = ca::authority::Application::from_csr_der(&der);
        }
    }
    if let Ok(key) = KeyPair::from_bytes(data) {
        let spec = key.spec();
        let _ = render::key_pairs(&[("fuzz", spec, "generated")]);
        if let Ok(spki) = key.public_key_info() {
            assert!(
                key.matches(&spki),
                "a key does not match its own public key"
            );
        }
        let _ = key.to_pkcs8_der();
        if spec.bits <= 2048 {
            let _ = key.sign(HashAlg::Sha256, b"fuzz");
        }
    }
});
