//! The CA's certificates and keys: a self-signed root, the issuing
//! intermediate that signs end-entity certificates and CRLs, and an
//! optional RA certificate for SCEP. Made on first start, kept in the CA
//! directory, loaded on every later start.
//!
//! | file | holds |
//! |---|---|
//! | `root.key`, `root.cert` | the root CA (RSA 2048, 10 years, pathLen 1) |
//! | `issuing.key`, `issuing.cert` | the issuing CA (RSA 2048, 5 years, pathLen 0) |
//! | `ra.key`, `ra.cert` | the SCEP RA (RSA 2048, 2 years), when enabled |

use std::path::Path;
use std::time::Duration;

use der::Encode;
use pki::altname::AltNames;
use pki::encoding;
use pki::issue::{self, CertProfile};
use pki::key::{KeyAlgorithm, KeyPair, KeySpec};
use x509_cert::Certificate;

use crate::CaError;

const YEAR: u64 = 365 * 86400;

/// One certificate with its private key.
#[derive(Debug, Clone)]
pub struct Credential {
    /// The certificate.
    pub cert: Certificate,
    /// Its private key.
    pub key: KeyPair,
}

/// The CA's credentials.
#[derive(Debug, Clone)]
pub struct Hierarchy {
    /// The trust anchor.
    pub root: Credential,
    /// Signs end-entity certificates and CRLs.
    pub issuing: Credential,
    /// SCEP RA (signs and decrypts SCEP messages in place of the CA).
    pub ra: Option<Credential>,
}

/// The names the hierarchy is made with.
#[derive(Debug, Clone)]
pub struct Names {
    /// Root subject, a Junos-style subject string.
    pub root: String,
    /// Issuing CA subject.
    pub issuing: String,
    /// RA subject.
    pub ra: String,
}

impl Default for Names {
    fn default() -> Self {
        Names {
            root: "CN=mtsim Root CA,O=mtsim,C=US".into(),
            issuing: "CN=mtsim Issuing CA,O=mtsim,C=US".into(),
            ra: "CN=mtsim SCEP RA,O=mtsim,C=US".into(),
        }
    }
}

fn load(dir: &Path, name: &str) -> Result<Option<Credential>, CaError> {
    let cert_path = dir.join(format!("{name}.cert"));
    let key_path = dir.join(format!("{name}.key"));
    if !cert_path.exists() && !key_path.exists() {
        return Ok(None);
    }
    let read = |p: &Path| std::fs::read(p).map_err(|e| CaError::io(p, e));
    let cert = encoding::certificate(&read(&cert_path)?)
        .map_err(|e| CaError::Corrupt(format!("{}: {e}", cert_path.display())))?;
    let key = KeyPair::from_bytes(&read(&key_path)?)
        .map_err(|e| CaError::Corrupt(format!("{}: {e}", key_path.display())))?;
    if !key.matches(cert.tbs_certificate().subject_public_key_info()) {
        return Err(CaError::Corrupt(format!(
            "{} does not hold the key of {}",
            key_path.display(),
            cert_path.display()
        )));
    }
    Ok(Some(Credential { cert, key }))
}

fn save(dir: &Path, name: &str, c: &Credential) -> Result<(), CaError> {
    let key = c
        .key
        .to_pkcs8_pem()
        .map_err(|e| CaError::Internal(e.to_string()))?;
    // The key first: a certificate never exists without its key.
    pki::store::write_atomic(&dir.join(format!("{name}.key")), key.as_bytes())?;
    let der = c
        .cert
        .to_der()
        .map_err(|e| CaError::Internal(e.to_string()))?;
    pki::store::write_atomic(
        &dir.join(format!("{name}.cert")),
        encoding::pem("CERTIFICATE", &der).as_bytes(),
    )?;
    Ok(())
}

fn make(
    subject: &str,
    issuer: Option<&Credential>,
    path_len: Option<Option<u8>>,
    lifetime: Duration,
    now: Duration,
) -> Result<Credential, CaError> {
    let key = KeyPair::generate(KeySpec {
        algorithm: KeyAlgorithm::Rsa,
        bits: 2048,
    })
    .map_err(|e| CaError::Internal(e.to_string()))?;
    let name = pki::name::parse_subject(subject, "")
        .map_err(|e| CaError::Config(format!("subject '{subject}': {e}")))?;
    let mut profile = CertProfile::end_entity(name, AltNames::default(), KeyAlgorithm::Rsa);
    profile.ca = path_len;
    profile.issuer = issuer.map(|i| i.cert.tbs_certificate().subject().clone());
    let validity = issue::validity(now, now + lifetime)?;
    let signer = issuer.map(|i| &i.key).unwrap_or(&key);
    let spki = key
        .public_key_info()
        .map_err(|e| CaError::Internal(e.to_string()))?;
    let cert = issue::issue(
        profile,
        issue::random_serial(),
        validity,
        spki,
        signer,
        signer.default_hash(),
    )?;
    Ok(Credential { cert, key })
}

impl Hierarchy {
    /// Loads the hierarchy from `dir`, making whatever is missing (a
    /// missing root means a new hierarchy; a missing RA is made when `ra`).
    pub fn load_or_create(
        dir: &Path,
        names: &Names,
        ra: bool,
        now: Duration,
    ) -> Result<Self, CaError> {
        let root = match load(dir, "root")? {
            Some(r) => r,
            None => {
                let r = make(
                    &names.root,
                    None,
                    Some(Some(1)),
                    Duration::from_secs(10 * YEAR),
                    now,
                )?;
                save(dir, "root", &r)?;
                tracing::info!(target: "ca", "created root CA");
                r
            }
        };
        let issuing = match load(dir, "issuing")? {
            Some(i) => i,
            None => {
                let i = make(
                    &names.issuing,
                    Some(&root),
                    Some(Some(0)),
                    Duration::from_secs(5 * YEAR),
                    now,
                )?;
                save(dir, "issuing", &i)?;
                tracing::info!(target: "ca", "created issuing CA");
                i
            }
        };
        let ra = match (load(dir, "ra")?, ra) {
            (Some(r), _) => Some(r),
            (None, true) => {
                let r = make(
                    &names.ra,
                    Some(&issuing),
                    None,
                    Duration::from_secs(2 * YEAR),
                    now,
                )?;
                save(dir, "ra", &r)?;
                tracing::info!(target: "ca", "created SCEP RA");
                Some(r)
            }
            (None, false) => None,
        };
        Ok(Hierarchy { root, issuing, ra })
    }

    /// The chain a client needs: issuing CA then root.
    pub fn chain(&self) -> Vec<&Certificate> {
        vec![&self.issuing.cert, &self.root.cert]
    }
}
