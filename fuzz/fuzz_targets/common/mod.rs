//! What several targets share: the frozen time, RSA identities made once,
//! and an embedded CA in a temporary directory made once per process.

#![allow(dead_code)]

use std::sync::OnceLock;
use std::time::Duration;

use ca::authority::{Authority, Challenge, Settings};
use pki::altname::AltNames;
use pki::key::{KeyAlgorithm, KeyPair, KeySpec};
use x509_cert::Certificate;

/// The frozen time of the PKI targets (2026-11-18 11:06:40 UTC).
pub const NOW: Duration = Duration::from_secs(1_795_000_000);

/// The SCEP challenge password of [`authority`].
pub const CHALLENGE: &str = "pw";

/// The CMP shared secret of the CMP targets and its reference.
pub const CMP_REFERENCE: &str = "3078";
/// See [`CMP_REFERENCE`].
pub const CMP_SECRET: &str = "1234-5678";

/// A fresh RSA 2048 key and a self-signed certificate.
fn make_identity(subject: &str, ca: bool) -> (KeyPair, Certificate) {
    let spec = KeySpec::new(KeyAlgorithm::Rsa, 2048).expect("RSA 2048");
    let key = KeyPair::generate(spec).expect("RSA key");
    let validity = pki::issue::validity(
        NOW - Duration::from_secs(86400),
        NOW + Duration::from_secs(86400),
    )
    .expect("validity");
    let cert = pki::issue::self_signed(
        &key,
        subject.parse().expect("subject"),
        AltNames::default(),
        ca,
        validity,
    )
    .expect("self-signed certificate");
    (key, cert)
}

/// A self-signed RSA CA (for the client targets, which must sign replies
/// as the CA they trust).
pub fn ca_identity() -> &'static (KeyPair, Certificate) {
    static ID: OnceLock<(KeyPair, Certificate)> = OnceLock::new();
    ID.get_or_init(|| make_identity("CN=Fuzz CA,O=Example", true))
}

/// A router's RSA key and self-signed certificate.
pub fn client_identity() -> &'static (KeyPair, Certificate) {
    static ID: OnceLock<(KeyPair, Certificate)> = OnceLock::new();
    ID.get_or_init(|| make_identity("CN=router1,O=Example", false))
}

/// The embedded CA (root and issuing CA made on first use) in a temporary
/// directory that lives as long as the process. Reusable challenge
/// password [`CHALLENGE`].
pub fn authority() -> &'static Authority {
    static CA: OnceLock<(tempfile::TempDir, Authority)> = OnceLock::new();
    let (_, a) = CA.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temporary directory");
        let settings = Settings {
            challenge: Challenge::Reusable(CHALLENGE.to_string().into()),
            crl_url: Some("http://127.0.0.1:8080/crl/issuing.crl".into()),
            ..Settings::default()
        };
        let a = Authority::open(&dir.path().join("ca"), settings, NOW).expect("CA");
        (dir, a)
    });
    a
}

/// Splits `n` bytes off the front of `data` (fewer if it is shorter).
pub fn take<'a>(data: &mut &'a [u8], n: usize) -> &'a [u8] {
    let (head, tail) = data.split_at(n.min(data.len()));
    *data = tail;
    head
}

/// One byte off the front of `data` (0 when empty).
pub fn byte(data: &mut &[u8]) -> u8 {
    take(data, 1).first().copied().unwrap_or(0)
}
