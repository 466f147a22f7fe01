//! The PKI manager: the router's key pairs, local and CA certificates, CRLs
//! and requests, in memory and in the store, and the operations behind the
//! `request/clear security pki ...` commands.
//!
//! Every operation checks everything it can before it writes; a write that
//! fails part-way is undone, so a failed operation changes nothing stored.

use std::collections::BTreeMap;
use std::time::Duration;

use der::Encode;
use x509_cert::Certificate;
use x509_cert::crl::CertificateList;
use x509_cert::ext::pkix::BasicConstraints;
use x509_cert::request::CertReq;

use crate::altname::{AltNameError, AltNames};
use crate::encoding::{self, DecodeError};
use crate::id::{self, IdError};
use crate::issue::{self, IssueError};
use crate::key::{HashAlg, KeyError, KeyPair, KeySpec};
use crate::name::{self, NameError};
use crate::profile::CaProfile;
use crate::request;
use crate::store::{Kind, Store, StoreError};
use crate::verify::{self, VerifyError};

/// The identifier of the system-generated self-signed certificate (and its key pair).
pub const SYSTEM_GENERATED: &str = "system-generated";

/// Lifetime of self-signed certificates: five years.
pub const SELF_SIGNED_LIFETIME: Duration = Duration::from_secs(5 * 365 * 86400);

/// Why an operation was refused. Messages are what the CLI prints after `error: `.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// A bad identifier.
    #[error("{0}")]
    Id(#[from] IdError),
    /// A key pair with this identifier exists.
    #[error("Key pair for certificate-id {0} already exists")]
    KeyPairExists(String),
    /// A local certificate with this identifier exists.
    #[error("Local certificate {0} already exists")]
    LocalExists(String),
    /// The CA profile already holds a CA certificate.
    #[error("CA certificate for profile {0} already exists; clear it first")]
    CaExists(String),
    /// No key pair.
    #[error("Keypair doesn't exist for certificate-id {0}")]
    NoKeyPair(String),
    /// No such local certificate.
    #[error("certificate-id {0} not found in local database")]
    NoLocal(String),
    /// No CA certificate in the profile.
    #[error("CA certificate for profile {0} doesn't exist")]
    NoCa(String),
    /// No CRL in the profile.
    #[error("CRL for profile {0} doesn't exist")]
    NoCrl(String),
    /// No request.
    #[error("certificate request {0} doesn't exist")]
    NoRequest(String),
    /// The profile is not in the committed configuration.
    #[error("CA profile {0} not configured")]
    ProfileNotConfigured(String),
    /// A key pair still used by a local certificate.
    #[error("key pair {0} is used by local certificate {0}; clear the certificate first")]
    KeyInUse(String),
    /// The certificate is for another key.
    #[error("certificate does not match the key pair {id}: {why}")]
    KeyMismatch {
        /// The identifier.
        id: String,
        /// What differs.
        why: String,
    },
    /// A CA certificate that is not one.
    #[error("{0}")]
    NotCa(String),
    /// A CRL that the profile's CA did not sign.
    #[error("CRL is not signed by the CA certificate of profile {profile}: {why}")]
    CrlSignature {
        /// The profile.
        profile: String,
        /// What failed.
        why: String,
    },
    /// Unparseable input.
    #[error("{0}")]
    Decode(#[from] DecodeError),
    /// Key generation or parsing.
    #[error("{0}")]
    Key(#[from] KeyError),
    /// The subject string.
    #[error("{0}")]
    Name(#[from] NameError),
    /// The alternative names.
    #[error("{0}")]
    AltName(#[from] AltNameError),
    /// Building a certificate or request.
    #[error("{0}")]
    Issue(#[from] IssueError),
    /// The store.
    #[error("certificate store: {0}")]
    Store(#[from] StoreError),
}

/// Where a key pair came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyOrigin {
    /// Generated on this router.
    Generated,
    /// Loaded from a file.
    Imported,
}

impl KeyOrigin {
    /// The `Keypair Location:` text.
    pub fn location(self) -> &'static str {
        match self {
            KeyOrigin::Generated => "Keypair generated locally",
            KeyOrigin::Imported => "Keypair imported",
        }
    }
}

/// What the store's metadata file records.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Metadata {
    /// Format version.
    #[serde(default)]
    pub version: u32,
    /// Per key pair: where it came from.
    #[serde(default)]
    pub key_pairs: BTreeMap<String, KeyOrigin>,
}

/// Something in the store that could not be loaded (the rest still loads).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadProblem {
    /// The file.
    pub path: std::path::PathBuf,
    /// Why.
    pub reason: String,
}

impl std::fmt::Display for LoadProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.reason)
    }
}

/// A stored key pair.
#[derive(Debug, Clone)]
pub struct KeyEntry {
    /// The key.
    pub key: KeyPair,
    /// Where it came from.
    pub origin: KeyOrigin,
}

/// Which local certificates to clear.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalSelector {
    /// One identifier.
    Id(String),
    /// Every local certificate.
    All,
    /// The system-generated one (made again at once).
    SystemGenerated,
}

/// A key pair just generated.
#[derive(Debug, Clone)]
pub struct Generated {
    /// What was generated.
    pub spec: KeySpec,
    /// Why the size is weak, if it is.
    pub warning: Option<&'static str>,
}

/// The PKI manager.
#[derive(Debug)]
pub struct Pki {
    store: Store,
    chassis_serial: String,
    profiles: BTreeMap<String, CaProfile>,
    keys: BTreeMap<String, KeyEntry>,
    locals: BTreeMap<String, Certificate>,
    cas: BTreeMap<String, Certificate>,
    crls: BTreeMap<String, CertificateList>,
    requests: BTreeMap<String, CertReq>,
    meta: Metadata,
}

impl Pki {
    /// Opens the store at `root` and loads everything in it. Files that
    /// cannot be loaded are returned as problems; everything else loads.
    pub fn open(
        root: impl Into<std::path::PathBuf>,
        chassis_serial: &str,
    ) -> Result<(Pki, Vec<LoadProblem>), PkiError> {
        let store = Store::open(root)?;
        let mut problems = Vec::new();
        let meta = match store.read_metadata() {
            Ok(Some(bytes)) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                problems.push(LoadProblem {
                    path: store.root().join("metadata.json"),
                    reason: format!("not valid metadata: {e}"),
                });
                Metadata::default()
            }),
            Ok(None) => Metadata::default(),
            Err(e) => {
                problems.push(LoadProblem {
                    path: store.root().join("metadata.json"),
                    reason: e.to_string(),
                });
                Metadata::default()
            }
        };
        let mut pki = Pki {
            store,
            chassis_serial: chassis_serial.to_string(),
            profiles: BTreeMap::new(),
            keys: BTreeMap::new(),
            locals: BTreeMap::new(),
            cas: BTreeMap::new(),
            crls: BTreeMap::new(),
            requests: BTreeMap::new(),
            meta,
        };
        let scan = pki.store.scan();
        for f in scan.foreign {
            problems.push(LoadProblem {
                path: f.path,
                reason: f.reason,
            });
        }
        for entry in scan.entries {
            let bytes = match pki.store.read(entry.kind, &entry.id) {
                Ok(Some(b)) => b,
                Ok(None) => continue,
                Err(e) => {
                    problems.push(LoadProblem {
                        path: entry.path,
                        reason: e.to_string(),
                    });
                    continue;
                }
            };
            if let Err(reason) = pki.load_entry(entry.kind, &entry.id, &bytes) {
                problems.push(LoadProblem {
                    path: entry.path,
                    reason,
                });
            }
        }
        for p in &problems {
            tracing::error!(target: "pki", "certificate store: {p}");
        }
        Ok((pki, problems))
    }

    fn load_entry(&mut self, kind: Kind, id: &str, bytes: &[u8]) -> Result<(), String> {
        match kind {
            Kind::KeyPair => {
                let key = KeyPair::from_bytes(bytes).map_err(|e| e.to_string())?;
                let origin = self
                    .meta
                    .key_pairs
                    .get(id)
                    .copied()
                    .unwrap_or(KeyOrigin::Generated);
                self.keys.insert(id.to_string(), KeyEntry { key, origin });
            }
            Kind::Local => {
                let c = encoding::certificate(bytes).map_err(|e| e.to_string())?;
                self.locals.insert(id.to_string(), c);
            }
            Kind::Ca => {
                let c = encoding::certificate(bytes).map_err(|e| e.to_string())?;
                self.cas.insert(id.to_string(), c);
            }
            Kind::Crl => {
                let c = encoding::crl(bytes).map_err(|e| e.to_string())?;
                self.crls.insert(id.to_string(), c);
            }
            Kind::Request => {
                let r = encoding::request(bytes).map_err(|e| e.to_string())?;
                self.requests.insert(id.to_string(), r);
            }
        }
        Ok(())
    }

    /// The store (for tests and fault injection).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The chassis serial used to fill an empty `SN`.
    pub fn chassis_serial(&self) -> &str {
        &self.chassis_serial
    }

    /// Replaces the configured CA profiles (after a commit).
    pub fn set_profiles(&mut self, profiles: impl IntoIterator<Item = CaProfile>) {
        self.profiles = profiles.into_iter().map(|p| (p.name.clone(), p)).collect();
    }

    /// A configured CA profile.
    pub fn profile(&self, name: &str) -> Option<&CaProfile> {
        self.profiles.get(name)
    }

    /// The configured CA profiles.
    pub fn profiles(&self) -> impl Iterator<Item = &CaProfile> {
        self.profiles.values()
    }

    /// Key pairs by identifier.
    pub fn key_pairs(&self) -> &BTreeMap<String, KeyEntry> {
        &self.keys
    }

    /// Local certificates by identifier.
    pub fn local_certificates(&self) -> &BTreeMap<String, Certificate> {
        &self.locals
    }

    /// CA certificates by profile.
    pub fn ca_certificates(&self) -> &BTreeMap<String, Certificate> {
        &self.cas
    }

    /// CRLs by profile.
    pub fn crls(&self) -> &BTreeMap<String, CertificateList> {
        &self.crls
    }

    /// Requests by identifier.
    pub fn requests(&self) -> &BTreeMap<String, CertReq> {
        &self.requests
    }

    fn save_metadata(&self) -> Result<(), PkiError> {
        let mut meta = self.meta.clone();
        meta.version = 1;
        let bytes = serde_json::to_vec_pretty(&meta).map_err(|e| StoreError::Io {
            path: self.store.root().join("metadata.json"),
            source: std::io::Error::other(e),
        })?;
        self.store.write_metadata(&bytes)?;
        Ok(())
    }

    fn write_key(&mut self, id: &str, key: KeyPair, origin: KeyOrigin) -> Result<(), PkiError> {
        let pem = key.to_pkcs8_pem()?;
        self.store.write(Kind::KeyPair, id, pem.as_bytes())?;
        self.keys.insert(id.to_string(), KeyEntry { key, origin });
        self.meta.key_pairs.insert(id.to_string(), origin);
        // The key is stored; metadata only records its origin.
        if let Err(e) = self.save_metadata() {
            tracing::warn!(target: "pki", "metadata not saved: {e}");
        }
        Ok(())
    }

    fn write_cert(&mut self, kind: Kind, id: &str, cert: &Certificate) -> Result<(), PkiError> {
        let pem =
            encoding::to_pem("CERTIFICATE", cert).map_err(|e| IssueError::Build(e.to_string()))?;
        self.store.write(kind, id, pem.as_bytes())?;
        match kind {
            Kind::Ca => self.cas.insert(id.to_string(), cert.clone()),
            _ => self.locals.insert(id.to_string(), cert.clone()),
        };
        Ok(())
    }

    /// `request security pki generate-key-pair certificate-id ID size N type T`.
    pub fn generate_key_pair(&mut self, id: &str, spec: KeySpec) -> Result<Generated, PkiError> {
        id::check(id)?;
        let spec = KeySpec::new(spec.algorithm, spec.bits)?;
        if self.keys.contains_key(id) || self.store.exists(Kind::KeyPair, id) {
            return Err(PkiError::KeyPairExists(id.to_string()));
        }
        let key = KeyPair::generate(spec)?;
        self.write_key(id, key, KeyOrigin::Generated)?;
        tracing::info!(target: "pki", "generated key pair {id}, {spec}");
        Ok(Generated {
            spec,
            warning: spec.weakness(),
        })
    }

    /// `clear security pki key-pair certificate-id ID`.
    pub fn clear_key_pair(&mut self, id: &str) -> Result<(), PkiError> {
        id::check(id)?;
        if !self.keys.contains_key(id) {
            return Err(PkiError::NoKeyPair(id.to_string()));
        }
        if self.locals.contains_key(id) {
            return Err(PkiError::KeyInUse(id.to_string()));
        }
        self.store.remove(Kind::KeyPair, id)?;
        self.keys.remove(id);
        self.meta.key_pairs.remove(id);
        let _ = self.save_metadata();
        tracing::info!(target: "pki", "cleared key pair {id}");
        Ok(())
    }

    fn key(&self, id: &str) -> Result<&KeyPair, PkiError> {
        id::check(id)?;
        self.keys
            .get(id)
            .map(|k| &k.key)
            .ok_or_else(|| PkiError::NoKeyPair(id.to_string()))
    }

    /// `request security pki generate-certificate-request ...`: builds,
    /// signs and stores a PKCS#10 request for the key pair `id`.
    pub fn generate_request(
        &mut self,
        id: &str,
        subject: &str,
        alt: &AltNames,
        challenge: Option<&str>,
        hash: Option<HashAlg>,
    ) -> Result<CertReq, PkiError> {
        let key = self.key(id)?;
        let name = name::parse_subject(subject, &self.chassis_serial)?;
        alt.validate()?;
        let req = request::build(
            key,
            name,
            alt,
            challenge,
            hash.unwrap_or(key.default_hash()),
        )?;
        let pem = encoding::to_pem("CERTIFICATE REQUEST", &req)
            .map_err(|e| IssueError::Build(e.to_string()))?;
        self.store.write(Kind::Request, id, pem.as_bytes())?;
        self.requests.insert(id.to_string(), req.clone());
        tracing::info!(target: "pki", "generated certificate request {id}");
        Ok(req)
    }

    /// `clear security pki certificate-request certificate-id ID`.
    pub fn clear_request(&mut self, id: &str) -> Result<(), PkiError> {
        id::check(id)?;
        if !self.requests.contains_key(id) {
            return Err(PkiError::NoRequest(id.to_string()));
        }
        self.store.remove(Kind::Request, id)?;
        self.requests.remove(id);
        Ok(())
    }

    /// `request security pki local-certificate generate-self-signed ...`.
    pub fn generate_self_signed(
        &mut self,
        id: &str,
        subject: &str,
        alt: &AltNames,
        add_ca_constraint: bool,
        now: Duration,
    ) -> Result<Certificate, PkiError> {
        let key = self.key(id)?;
        if self.locals.contains_key(id) {
            return Err(PkiError::LocalExists(id.to_string()));
        }
        let name = name::parse_subject(subject, &self.chassis_serial)?;
        let validity = issue::validity(now, now + SELF_SIGNED_LIFETIME)?;
        let cert = issue::self_signed(key, name, alt.clone(), add_ca_constraint, validity)?;
        self.write_cert(Kind::Local, id, &cert)?;
        tracing::info!(target: "pki", "generated self-signed certificate {id}");
        Ok(cert)
    }

    /// Makes the system-generated self-signed certificate if it is missing
    /// (at start, and after it is cleared). Returns whether it was made.
    pub fn ensure_system_generated(&mut self, now: Duration) -> Result<bool, PkiError> {
        if self.locals.contains_key(SYSTEM_GENERATED) {
            return Ok(false);
        }
        let made_key = if self.keys.contains_key(SYSTEM_GENERATED) {
            false
        } else {
            let key = KeyPair::generate(KeySpec::DEFAULT)?;
            self.write_key(SYSTEM_GENERATED, key, KeyOrigin::Generated)?;
            true
        };
        let serial = self.chassis_serial.clone();
        let subject = format!(
            "CN={},CN=system generated,CN=self-signed",
            name::escape_value(&serial)
        );
        match self.generate_self_signed(
            SYSTEM_GENERATED,
            &subject,
            &AltNames::default(),
            false,
            now,
        ) {
            Ok(_) => Ok(true),
            Err(e) => {
                if made_key {
                    let _ = self.store.remove(Kind::KeyPair, SYSTEM_GENERATED);
                    self.keys.remove(SYSTEM_GENERATED);
                }
                Err(e)
            }
        }
    }

    /// `request security pki local-certificate load certificate-id ID
    /// filename F [key K]`: the certificate must match the key pair `id`,
    /// or the key file given (which then becomes key pair `id`).
    pub fn load_local(
        &mut self,
        id: &str,
        cert_bytes: &[u8],
        key_bytes: Option<&[u8]>,
    ) -> Result<Certificate, PkiError> {
        id::check(id)?;
        if self.locals.contains_key(id) {
            return Err(PkiError::LocalExists(id.to_string()));
        }
        let cert = encoding::certificate(cert_bytes)?;
        let spki = cert.tbs_certificate().subject_public_key_info().clone();
        let new_key = match key_bytes {
            Some(b) => {
                if self.keys.contains_key(id) {
                    return Err(PkiError::KeyPairExists(id.to_string()));
                }
                let key = KeyPair::from_bytes(b)?;
                if !key.matches(&spki) {
                    return Err(PkiError::KeyMismatch {
                        id: id.to_string(),
                        why: "the key file holds a different key than the certificate".into(),
                    });
                }
                Some(key)
            }
            None => {
                let key = self.key(id)?;
                if !key.matches(&spki) {
                    return Err(PkiError::KeyMismatch {
                        id: id.to_string(),
                        why: "the certificate's public key is not this key pair's".into(),
                    });
                }
                None
            }
        };
        let imported = new_key.is_some();
        if let Some(key) = new_key {
            self.write_key(id, key, KeyOrigin::Imported)?;
        }
        if let Err(e) = self.write_cert(Kind::Local, id, &cert) {
            if imported {
                // Undo: the operation failed, the key must not stay behind.
                let _ = self.store.remove(Kind::KeyPair, id);
                self.keys.remove(id);
                self.meta.key_pairs.remove(id);
                let _ = self.save_metadata();
            }
            return Err(e);
        }
        tracing::info!(target: "pki", "loaded local certificate {id}");
        Ok(cert)
    }

    /// `clear security pki local-certificate ...`: removes the certificates
    /// with their requests and key pairs (as Junos does). Clearing the
    /// system-generated certificate makes a new one.
    pub fn clear_local(
        &mut self,
        which: &LocalSelector,
        now: Duration,
    ) -> Result<Vec<String>, PkiError> {
        let ids: Vec<String> = match which {
            LocalSelector::Id(id) => {
                id::check(id)?;
                if !self.locals.contains_key(id) {
                    return Err(PkiError::NoLocal(id.clone()));
                }
                vec![id.clone()]
            }
            LocalSelector::All => self.locals.keys().cloned().collect(),
            LocalSelector::SystemGenerated => vec![SYSTEM_GENERATED.to_string()],
        };
        for id in &ids {
            self.store.remove(Kind::Local, id)?;
            self.locals.remove(id);
            if self.requests.remove(id).is_some() {
                self.store.remove(Kind::Request, id)?;
            }
            if self.keys.remove(id).is_some() {
                self.store.remove(Kind::KeyPair, id)?;
                self.meta.key_pairs.remove(id);
            }
            tracing::info!(target: "pki", "cleared local certificate {id}");
        }
        let _ = self.save_metadata();
        if ids.iter().any(|i| i == SYSTEM_GENERATED) {
            self.ensure_system_generated(now)?;
        }
        Ok(ids)
    }

    /// Reads a CA certificate file for `profile` without storing it (the
    /// operator confirms the fingerprint first; then [`Pki::store_ca`]).
    pub fn read_ca(&self, profile: &str, bytes: &[u8]) -> Result<Certificate, PkiError> {
        id::check(profile)?;
        if !self.profiles.contains_key(profile) {
            return Err(PkiError::ProfileNotConfigured(profile.to_string()));
        }
        if self.cas.contains_key(profile) {
            return Err(PkiError::CaExists(profile.to_string()));
        }
        let cert = encoding::certificate(bytes)?;
        if let Ok(Some((_, bc))) = cert.tbs_certificate().get_extension::<BasicConstraints>()
            && !bc.ca
        {
            return Err(PkiError::NotCa(format!(
                "the certificate for {} is not a CA certificate (basicConstraints cA is false)",
                name::subject_string(cert.tbs_certificate().subject())
            )));
        }
        Ok(cert)
    }

    /// Stores a CA certificate in `profile` (after confirmation).
    pub fn store_ca(&mut self, profile: &str, cert: &Certificate) -> Result<(), PkiError> {
        id::check(profile)?;
        if !self.profiles.contains_key(profile) {
            return Err(PkiError::ProfileNotConfigured(profile.to_string()));
        }
        if self.cas.contains_key(profile) {
            return Err(PkiError::CaExists(profile.to_string()));
        }
        self.write_cert(Kind::Ca, profile, cert)?;
        tracing::info!(target: "pki", "CA certificate for profile {profile} loaded");
        Ok(())
    }

    /// `clear security pki ca-certificate ca-profile P` (None: all); also
    /// drops the profile's CRL, which nothing could verify any more.
    pub fn clear_ca(&mut self, profile: Option<&str>) -> Result<Vec<String>, PkiError> {
        let ids: Vec<String> = match profile {
            Some(p) => {
                id::check(p)?;
                if !self.cas.contains_key(p) {
                    return Err(PkiError::NoCa(p.to_string()));
                }
                vec![p.to_string()]
            }
            None => self.cas.keys().cloned().collect(),
        };
        for p in &ids {
            self.store.remove(Kind::Ca, p)?;
            self.cas.remove(p);
            if self.crls.remove(p).is_some() {
                self.store.remove(Kind::Crl, p)?;
            }
            tracing::info!(target: "pki", "cleared CA certificate of profile {p}");
        }
        Ok(ids)
    }

    /// `request security pki crl load ca-profile P filename F`: only a CRL
    /// signed by the profile's CA certificate is stored.
    pub fn load_crl(&mut self, profile: &str, bytes: &[u8]) -> Result<CertificateList, PkiError> {
        id::check(profile)?;
        if !self.profiles.contains_key(profile) {
            return Err(PkiError::ProfileNotConfigured(profile.to_string()));
        }
        let ca = self
            .cas
            .get(profile)
            .ok_or_else(|| PkiError::NoCa(profile.to_string()))?;
        let crl = encoding::crl(bytes)?;
        let ca_subject = ca.tbs_certificate().subject();
        if &crl.tbs_cert_list.issuer != ca_subject {
            return Err(PkiError::CrlSignature {
                profile: profile.to_string(),
                why: format!(
                    "the CRL issuer {} is not the CA {}",
                    name::subject_string(&crl.tbs_cert_list.issuer),
                    name::subject_string(ca_subject)
                ),
            });
        }
        verify::crl(&crl, ca.tbs_certificate().subject_public_key_info()).map_err(
            |e: VerifyError| PkiError::CrlSignature {
                profile: profile.to_string(),
                why: e.to_string(),
            },
        )?;
        let pem =
            encoding::to_pem("X509 CRL", &crl).map_err(|e| IssueError::Build(e.to_string()))?;
        self.store.write(Kind::Crl, profile, pem.as_bytes())?;
        self.crls.insert(profile.to_string(), crl.clone());
        tracing::info!(target: "pki", "CRL for profile {profile} loaded");
        Ok(crl)
    }

    /// `clear security pki crl ca-profile P` (None: all).
    pub fn clear_crl(&mut self, profile: Option<&str>) -> Result<Vec<String>, PkiError> {
        let ids: Vec<String> = match profile {
            Some(p) => {
                id::check(p)?;
                if !self.crls.contains_key(p) {
                    return Err(PkiError::NoCrl(p.to_string()));
                }
                vec![p.to_string()]
            }
            None => self.crls.keys().cloned().collect(),
        };
        for p in &ids {
            self.store.remove(Kind::Crl, p)?;
            self.crls.remove(p);
        }
        Ok(ids)
    }

    /// The issuing CA profile of a local certificate, if one is loaded.
    pub fn issuer_profile(&self, cert: &Certificate) -> Option<&str> {
        self.cas
            .iter()
            .find(|(_, ca)| {
                ca.tbs_certificate().subject() == cert.tbs_certificate().issuer()
                    && verify::certificate(cert, ca.tbs_certificate().subject_public_key_info())
                        .is_ok()
            })
            .map(|(p, _)| p.as_str())
    }
}

/// DER of a certificate (for fingerprints and exports).
pub fn certificate_der(cert: &Certificate) -> Vec<u8> {
    cert.to_der().unwrap_or_default()
}
