//! A failure injected between writing a file and renaming it into place
//! (where a crash would hit) loses nothing: the previous key pairs,
//! certificates and CRLs stay intact and load again, and the failed
//! operation leaves nothing half-done behind.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use der::Encode;
use der::asn1::GeneralizedTime;
use pki::altname::AltNames;
use pki::encoding;
use pki::key::{HashAlg, KeyAlgorithm, KeyPair, KeySpec, SignatureBytes};
use pki::manager::{Pki, PkiError};
use pki::profile::CaProfile;
use pki::store::StoreError;
use x509_cert::builder::{Builder, CrlBuilder};
use x509_cert::ext::pkix::CrlNumber;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::Time;

const NOW: Duration = Duration::from_secs(1_795_000_000);

fn ec() -> KeySpec {
    KeySpec::new(KeyAlgorithm::Ecdsa, 256).unwrap()
}

/// Every stored file and its bytes, temporary files excluded.
fn files(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(p: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for e in std::fs::read_dir(p).unwrap() {
            let path = e.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if !path.to_string_lossy().ends_with(".tmp") {
                out.insert(path.clone(), std::fs::read(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, &mut out);
    out
}

fn temp_files(root: &Path) -> usize {
    fn walk(p: &Path) -> usize {
        std::fs::read_dir(p)
            .unwrap()
            .map(|e| {
                let path = e.unwrap().path();
                if path.is_dir() {
                    walk(&path)
                } else {
                    usize::from(path.to_string_lossy().ends_with(".tmp"))
                }
            })
            .sum()
    }
    walk(root)
}

fn crl_pem(ca_key: &KeyPair, ca_pem: &[u8], number: u32, at: Duration) -> Vec<u8> {
    let ca = encoding::certificate(ca_pem).unwrap();
    let this_update = Time::GeneralTime(GeneralizedTime::from_unix_duration(at).unwrap());
    let revoked = x509_cert::crl::RevokedCert {
        serial_number: SerialNumber::from(number),
        revocation_date: this_update,
        crl_entry_extensions: None,
    };
    let builder = CrlBuilder::new_with_this_update(
        &ca,
        CrlNumber::from(der::asn1::Uint::new(&number.to_be_bytes()).unwrap()),
        this_update,
    )
    .unwrap()
    .with_certificates(std::iter::once(revoked));
    let signer = ca_key.signer(HashAlg::Sha256).unwrap();
    let crl = builder.build::<_, SignatureBytes>(&signer).unwrap();
    encoding::pem("X509 CRL", &crl.to_der().unwrap()).into_bytes()
}

fn injected(e: &PkiError) -> bool {
    matches!(e, PkiError::Store(StoreError::Injected(_)))
}

#[test]
fn injected_failures_lose_nothing() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("ikecert");
    let (mut pki, problems) = Pki::open(&root, "JN0123456789").unwrap();
    assert!(problems.is_empty(), "{problems:?}");
    pki.set_profiles([CaProfile::new("Lab", "Lab")]);

    // What is there before: a key pair with its certificate, a CA and its CRL.
    pki.generate_key_pair("a", ec()).unwrap();
    pki.generate_self_signed("a", "CN=a", &AltNames::default(), false, NOW)
        .unwrap();
    let ca_key = KeyPair::generate(ec()).unwrap();
    let ca = pki::issue::self_signed(
        &ca_key,
        pki::name::parse_subject("CN=Lab CA", "x").unwrap(),
        AltNames::default(),
        true,
        pki::issue::validity(NOW, NOW + Duration::from_secs(86400 * 365)).unwrap(),
    )
    .unwrap();
    let ca_pem = encoding::pem("CERTIFICATE", &ca.to_der().unwrap()).into_bytes();
    pki.store_ca("Lab", &pki.read_ca("Lab", &ca_pem).unwrap())
        .unwrap();
    let crl1 = crl_pem(&ca_key, &ca_pem, 1, NOW);
    pki.load_crl("Lab", &crl1).unwrap();
    let before = files(&root);

    // 1. A new key pair whose file never gets renamed into place.
    pki.store().fail_before_rename(1);
    let e = pki.generate_key_pair("b", ec()).unwrap_err();
    assert!(injected(&e), "{e}");
    assert!(!pki.key_pairs().contains_key("b"));
    assert_eq!(files(&root), before);
    assert_eq!(temp_files(&root), 1, "the crash leaves its temporary file");

    // 2. A newer CRL replacing the stored one: the old one stays.
    pki.store().fail_before_rename(1);
    let crl2 = crl_pem(&ca_key, &ca_pem, 2, NOW + Duration::from_secs(3600));
    let e = pki.load_crl("Lab", &crl2).unwrap_err();
    assert!(injected(&e), "{e}");
    assert_eq!(files(&root), before);
    let crl_in_memory = pki.crls()["Lab"].to_der().unwrap();
    assert_eq!(
        crl_in_memory,
        encoding::crl(&crl1).unwrap().to_der().unwrap()
    );

    // 3. Loading a certificate with its key: the key is written, the
    //    certificate is not; the key is taken back out.
    let other = KeyPair::generate(ec()).unwrap();
    let other_cert = pki::issue::self_signed(
        &other,
        pki::name::parse_subject("CN=c", "x").unwrap(),
        AltNames::default(),
        false,
        pki::issue::validity(NOW, NOW + Duration::from_secs(86400)).unwrap(),
    )
    .unwrap();
    let cert_pem = encoding::pem("CERTIFICATE", &other_cert.to_der().unwrap());
    let key_pem = other.to_pkcs8_pem().unwrap();
    // Writes: the key (1), the metadata recording its origin (2), the certificate (3).
    pki.store().fail_before_rename(3);
    let e = pki
        .load_local("c", cert_pem.as_bytes(), Some(key_pem.as_bytes()))
        .unwrap_err();
    assert!(injected(&e), "{e}");
    assert!(!pki.key_pairs().contains_key("c"));
    assert!(!pki.local_certificates().contains_key("c"));
    let now_files = files(&root);
    assert_eq!(
        now_files.keys().collect::<Vec<_>>(),
        before.keys().collect::<Vec<_>>(),
        "no key or certificate left behind"
    );
    for (path, bytes) in &before {
        if !path.ends_with("metadata.json") {
            assert_eq!(&now_files[path], bytes, "{} changed", path.display());
        }
    }

    // After the "crash": everything that was there loads, the leftovers go.
    drop(pki);
    let (pki, problems) = Pki::open(&root, "JN0123456789").unwrap();
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(temp_files(&root), 0);
    let key = &pki.key_pairs()["a"].key;
    let cert = &pki.local_certificates()["a"];
    assert!(key.matches(cert.tbs_certificate().subject_public_key_info()));
    assert!(pki.ca_certificates().contains_key("Lab"));
    assert_eq!(
        pki.crls()["Lab"].to_der().unwrap(),
        encoding::crl(&crl1).unwrap().to_der().unwrap()
    );
    assert!(!pki.key_pairs().contains_key("b"));
    assert!(!pki.key_pairs().contains_key("c"));

    // And the operations work again once nothing fails.
    let mut pki = pki;
    pki.set_profiles([CaProfile::new("Lab", "Lab")]);
    pki.load_crl("Lab", &crl2).unwrap();
    pki.load_local("c", cert_pem.as_bytes(), Some(key_pem.as_bytes()))
        .unwrap();
}
