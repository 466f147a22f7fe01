//! The PKI manager: the router's key pairs, local and CA certificates, CRLs
//! and requests, in memory and in the store, and the operations behind the
//! `request/clear security pki ...` commands.
//!
//! Every operation checks everything it can before it writes; a write that
//! fails part-way is undone, so a failed operation changes nothing stored.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use der::Encode;
use x509_cert::Certificate;
use x509_cert::crl::CertificateList;
use x509_cert::ext::pkix::BasicConstraints;
use x509_cert::request::CertReq;
use zeroize::{Zeroize, Zeroizing};

use crate::altname::{AltNameError, AltNames};
use crate::encoding::{self, DecodeError};
use crate::id::{self, IdError};
use crate::issue::{self, IssueError};
use crate::key::{HashAlg, KeyAlgorithm, KeyError, KeyPair, KeySpec};
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
    /// An enrolled or renewed certificate that the profile's CA did not sign.
    #[error("certificate is not signed by the CA certificate of profile {profile}: {why}")]
    NotIssuedByCa {
        /// The profile.
        profile: String,
        /// What failed.
        why: String,
    },
    /// An RA certificate that the profile's CA did not sign.
    #[error("RA certificate {ra} is not signed by the CA certificate of profile {profile}: {why}")]
    RaNotIssued {
        /// The profile.
        profile: String,
        /// The RA certificate's subject.
        ra: String,
        /// What failed.
        why: String,
    },
    /// A key pair of a type SCEP cannot use (the CA encrypts its reply to
    /// the requester's RSA key).
    #[error("{algorithm} Keypair not supported with SCEP for cert_id {id}")]
    ScepKeyNotSupported {
        /// The key's algorithm.
        algorithm: KeyAlgorithm,
        /// The certificate-id.
        id: String,
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
    /// An ES PIC file of that name is already in `/var/etc/ikecert`.
    #[error("file /var/etc/ikecert/{0} already exists")]
    EsPicFileExists(String),
}

/// What an ES PIC file at the top of the store holds ([`es_pic_content`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EsPicContent {
    /// One or more certificates (DER or PEM).
    Certificate,
    /// A private key (PKCS#8, PKCS#1 or SEC1; DER or PEM).
    KeyPair,
    /// A CRL.
    Crl,
    /// A PKCS#10 certificate request.
    Request,
}

/// What the ES PIC file `bytes` holds: a certificate, a key pair, a CRL or
/// a certificate request; anything else is not an ES PIC file (`Err`
/// says so, without quoting the content).
pub fn es_pic_content(bytes: &[u8]) -> Result<EsPicContent, String> {
    if encoding::certificates(bytes).is_ok_and(|c| !c.is_empty()) {
        Ok(EsPicContent::Certificate)
    } else if encoding::crl(bytes).is_ok() {
        Ok(EsPicContent::Crl)
    } else if encoding::request(bytes).is_ok() {
        Ok(EsPicContent::Request)
    } else if KeyPair::from_bytes(bytes).is_ok() {
        Ok(EsPicContent::KeyPair)
    } else {
        Err("unknown entry: not a certificate, key pair, CRL or certificate request (what an ES PIC file of /var/etc/ikecert holds)".into())
    }
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
    /// Per local certificate: the outcome of its last automatic
    /// re-enrollment, as shown by `show … local-certificate detail`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub reenrollment: BTreeMap<String, String>,
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

/// Enrollment records by certificate-id. They may hold a challenge
/// password: never printed, zeroed when replaced, removed or dropped.
#[derive(Default)]
struct Enrollments(BTreeMap<String, Vec<u8>>);

impl Enrollments {
    fn insert(&mut self, id: &str, state: Vec<u8>) {
        if let Some(mut old) = self.0.insert(id.to_string(), state) {
            old.zeroize();
        }
    }

    fn remove(&mut self, id: &str) {
        if let Some(mut old) = self.0.remove(id) {
            old.zeroize();
        }
    }
}

impl fmt::Debug for Enrollments {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for (id, state) in &self.0 {
            map.entry(id, &format_args!("[{} bytes]", state.len()));
        }
        map.finish()
    }
}

impl Drop for Enrollments {
    fn drop(&mut self) {
        for state in self.0.values_mut() {
            state.zeroize();
        }
    }
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
    ras: BTreeMap<String, Vec<Certificate>>,
    enrollments: Enrollments,
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
            ras: BTreeMap::new(),
            enrollments: Enrollments::default(),
            meta,
        };
        let scan = pki.store.scan();
        for f in scan.foreign {
            problems.push(LoadProblem {
                path: f.path,
                reason: f.reason,
            });
        }
        // ES PIC files are the operator's: checked for what they hold,
        // never loaded into the store's own maps, never changed.
        for f in scan.files {
            let checked = match pki.store.read_file(&f.name) {
                // A key pair file is private.
                Ok(Some(b)) => es_pic_content(&Zeroizing::new(b)).map(drop),
                Ok(None) => Ok(()),
                Err(e) => Err(e.to_string()),
            };
            if let Err(reason) = checked {
                problems.push(LoadProblem {
                    path: f.path,
                    reason,
                });
            }
        }
        for entry in scan.entries {
            let bytes = match pki.store.read(entry.kind, &entry.id) {
                // An enrollment record may hold a challenge password.
                Ok(Some(b)) => Zeroizing::new(b),
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
            Kind::Ra => {
                let certs = encoding::certificates(bytes).map_err(|e| e.to_string())?;
                self.ras.insert(id.to_string(), certs);
            }
            Kind::Enrollment => self.enrollments.insert(id, bytes.to_vec()),
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

    /// RA certificates (from SCEP GetCACert) by CA profile.
    pub fn ra_certificates(&self) -> &BTreeMap<String, Vec<Certificate>> {
        &self.ras
    }

    /// Enrollment records (opaque, written by the router) by certificate-id.
    pub fn enrollments(&self) -> &BTreeMap<String, Vec<u8>> {
        &self.enrollments.0
    }

    /// The outcome of the last automatic re-enrollment of `id`.
    pub fn reenrollment_result(&self, id: &str) -> Option<&str> {
        self.meta.reenrollment.get(id).map(String::as_str)
    }

    /// Records the outcome of an automatic re-enrollment of `id` (kept
    /// across restarts); nothing changes if the write fails.
    pub fn set_reenrollment_result(&mut self, id: &str, result: &str) -> Result<(), PkiError> {
        let before = self
            .meta
            .reenrollment
            .insert(id.to_string(), result.to_string());
        if let Err(e) = self.save_metadata() {
            match before {
                Some(b) => self.meta.reenrollment.insert(id.to_string(), b),
                None => self.meta.reenrollment.remove(id),
            };
            return Err(e);
        }
        Ok(())
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
        // The security pki sizes, or the ES PIC ones (RSA 1596).
        let spec = KeySpec::new(spec.algorithm, spec.bits)
            .or_else(|e| KeySpec::es_pic(spec.algorithm, spec.bits).map_err(|_| e))?;
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

    /// Key pair `id` from a private key made elsewhere (what `openssl
    /// genpkey`/`genrsa` write: PKCS#8 or PKCS#1/SEC1, PEM or DER), stored
    /// as PKCS#8 and shown as imported. Refused, with nothing written, if
    /// `id` exists, the bytes hold no usable private key, or its type and
    /// size are not one `generate-key-pair` could make.
    pub fn import_key_pair(&mut self, id: &str, bytes: &[u8]) -> Result<KeySpec, PkiError> {
        id::check(id)?;
        if self.keys.contains_key(id) || self.store.exists(Kind::KeyPair, id) {
            return Err(PkiError::KeyPairExists(id.to_string()));
        }
        let key = KeyPair::from_bytes(bytes)?;
        let spec = key.spec();
        // The sizes generate-key-pair accepts (PKCS#1 is not checked on reading).
        KeySpec::new(spec.algorithm, spec.bits)
            .or_else(|e| KeySpec::es_pic(spec.algorithm, spec.bits).map_err(|_| e))?;
        self.write_key(id, key, KeyOrigin::Imported)?;
        tracing::info!(target: "pki", "imported key pair {id}, {spec}");
        Ok(spec)
    }

    /// `request security key-pair NAME` (ES PIC): key pair `NAME` in the
    /// store (what `key-file NAME` and the `security pki` commands use)
    /// and the ES PIC file `/var/etc/ikecert/NAME` holding it (PKCS#8
    /// PEM, mode 0600, written atomically), which `local-key-pair NAME`
    /// reads. Refused, with nothing written, if either exists or `NAME`
    /// cannot be a file name there; if the file cannot be written the key
    /// pair is removed again.
    pub fn generate_es_pic_key_pair(
        &mut self,
        name: &str,
        spec: KeySpec,
    ) -> Result<Generated, PkiError> {
        id::check(name)?;
        let path = self.store.file_path(name)?;
        if std::fs::symlink_metadata(&path).is_ok() {
            return Err(PkiError::EsPicFileExists(name.to_string()));
        }
        let generated = self.generate_key_pair(name, spec)?;
        let written = self
            .key(name)
            .and_then(|k| Ok(k.to_pkcs8_pem()?))
            .and_then(|pem| Ok(self.store.write_file(name, pem.as_bytes())?));
        if let Err(e) = written {
            // Undo: the command failed, the key pair must not stay.
            if let Err(undo) = self.clear_key_pair(name) {
                tracing::error!(target: "pki", "key pair {name} not removed after a failed write: {undo}");
            }
            return Err(e);
        }
        tracing::info!(target: "pki", "key pair {name} written to /var/etc/ikecert/{name}");
        Ok(generated)
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
        self.keys_entry(id).map(|k| &k.key)
    }

    fn keys_entry(&self, id: &str) -> Result<&KeyEntry, PkiError> {
        id::check(id)?;
        self.keys
            .get(id)
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
        check_ca_flag(&cert)?;
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

    /// Stores CA certificates under the names of `entries` (from the CMP
    /// chain rule, [`crate::cmp::client::place_chain`]), replacing what a
    /// name held. Unlike [`Pki::store_ca`] no configured CA profile is
    /// needed: Junos creates these names itself. All or nothing: every
    /// name and certificate is checked first, and if a write fails the
    /// ones already written are put back as they were.
    pub fn store_ca_certificates(
        &mut self,
        entries: &[(String, Certificate)],
    ) -> Result<(), PkiError> {
        for (name, cert) in entries {
            id::check(name)?;
            check_ca_flag(cert)?;
        }
        let mut undo: Vec<(String, Option<Certificate>)> = Vec::new();
        for (name, cert) in entries {
            if !undo.iter().any(|(n, _)| n == name) {
                undo.push((name.clone(), self.cas.get(name).cloned()));
            }
            if let Err(e) = self.write_cert(Kind::Ca, name, cert) {
                for (name, old) in undo.into_iter().rev() {
                    let restored = match old {
                        Some(c) => self.write_cert(Kind::Ca, &name, &c),
                        None => {
                            self.cas.remove(&name);
                            self.store
                                .remove(Kind::Ca, &name)
                                .map(|_| ())
                                .map_err(PkiError::from)
                        }
                    };
                    if let Err(e) = restored {
                        tracing::error!(target: "pki", "cannot restore CA certificate {name}: {e}");
                    }
                }
                return Err(e);
            }
        }
        for (name, _) in entries {
            tracing::info!(target: "pki", "CA certificate {name} stored");
        }
        Ok(())
    }

    /// `clear security pki ca-certificate ca-profile P` (None: all); also
    /// drops the profile's CRL, which nothing could verify any more, and
    /// its RA certificates.
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
            if self.ras.contains_key(p) {
                self.store.remove(Kind::Ra, p)?;
                self.ras.remove(p);
            }
            tracing::info!(target: "pki", "cleared CA certificate of profile {p}");
        }
        if profile.is_none() {
            // RA bundles whose CA certificate is gone (an interrupted clear).
            let orphans: Vec<String> = self.ras.keys().cloned().collect();
            for p in orphans {
                self.store.remove(Kind::Ra, &p)?;
                self.ras.remove(&p);
            }
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

    /// Stores a CA certificate and the RA certificates that came with it
    /// (SCEP GetCACert); an empty `ra` removes a stored RA bundle. Same
    /// checks as [`Pki::store_ca`] (profile configured, no CA certificate
    /// yet); besides, the CA certificate must not say it is not a CA and
    /// every RA certificate must be signed by it. The CA certificate is
    /// written first and removed again if the RA bundle cannot be written.
    pub fn store_ca_chain(
        &mut self,
        profile: &str,
        ca: &Certificate,
        ra: &[Certificate],
    ) -> Result<(), PkiError> {
        id::check(profile)?;
        if !self.profiles.contains_key(profile) {
            return Err(PkiError::ProfileNotConfigured(profile.to_string()));
        }
        if self.cas.contains_key(profile) {
            return Err(PkiError::CaExists(profile.to_string()));
        }
        check_ca_flag(ca)?;
        for r in ra {
            signed_by(r, ca).map_err(|why| PkiError::RaNotIssued {
                profile: profile.to_string(),
                ra: name::subject_string(r.tbs_certificate().subject()),
                why,
            })?;
        }
        let mut bundle = String::new();
        for r in ra {
            bundle.push_str(
                &encoding::to_pem("CERTIFICATE", r)
                    .map_err(|e| IssueError::Build(e.to_string()))?,
            );
        }
        self.write_cert(Kind::Ca, profile, ca)?;
        let ra_written = if ra.is_empty() {
            self.store.remove(Kind::Ra, profile).map(|_| ())
        } else {
            self.store.write(Kind::Ra, profile, bundle.as_bytes())
        };
        if let Err(e) = ra_written {
            // Undo: the operation failed, the CA certificate must not stay.
            let _ = self.store.remove(Kind::Ca, profile);
            self.cas.remove(profile);
            return Err(e.into());
        }
        if ra.is_empty() {
            self.ras.remove(profile);
        } else {
            self.ras.insert(profile.to_string(), ra.to_vec());
        }
        tracing::info!(
            target: "pki",
            "CA certificate for profile {profile} loaded with {} RA certificate(s)",
            ra.len()
        );
        Ok(())
    }

    /// Stores the enrollment record of certificate-id `id` (an opaque blob
    /// the router writes between SCEP polls), replacing any. The file is
    /// mode 0600 and the record is never printed: it may hold a challenge
    /// password.
    pub fn save_enrollment(&mut self, id: &str, state: &[u8]) -> Result<(), PkiError> {
        id::check(id)?;
        self.store.write(Kind::Enrollment, id, state)?;
        self.enrollments.insert(id, state.to_vec());
        Ok(())
    }

    /// Removes the enrollment record of certificate-id `id` (Ok if there is
    /// none).
    pub fn clear_enrollment(&mut self, id: &str) -> Result<(), PkiError> {
        id::check(id)?;
        self.store.remove(Kind::Enrollment, id)?;
        self.enrollments.remove(id);
        Ok(())
    }

    /// The key pair `id` for SCEP: it must exist and be RSA (the CA
    /// encrypts its reply to it), else the Junos error
    /// `ECDSA Keypair not supported with SCEP for cert_id <id>`.
    pub fn scep_key(&self, id: &str) -> Result<&KeyPair, PkiError> {
        let key = self.key(id)?;
        match key {
            KeyPair::Rsa(_) => Ok(key),
            other => Err(PkiError::ScepKeyNotSupported {
                algorithm: other.spec().algorithm,
                id: id.to_string(),
            }),
        }
    }

    /// Checks a certificate from the CA of `profile` for key pair `id`.
    fn check_enrolled(
        &self,
        id: &str,
        profile: &str,
        key: &KeyPair,
        cert: &Certificate,
        why_mismatch: &str,
    ) -> Result<(), PkiError> {
        id::check(profile)?;
        if !self.profiles.contains_key(profile) {
            return Err(PkiError::ProfileNotConfigured(profile.to_string()));
        }
        if !key.matches(cert.tbs_certificate().subject_public_key_info()) {
            return Err(PkiError::KeyMismatch {
                id: id.to_string(),
                why: why_mismatch.to_string(),
            });
        }
        let ca = self
            .cas
            .get(profile)
            .ok_or_else(|| PkiError::NoCa(profile.to_string()))?;
        signed_by(cert, ca).map_err(|why| PkiError::NotIssuedByCa {
            profile: profile.to_string(),
            why,
        })
    }

    /// Puts local certificate `id` back as it was (`None`: absent).
    fn restore_local(&mut self, id: &str, old: Option<Certificate>) {
        match old {
            Some(c) => {
                if let Err(e) = self.write_cert(Kind::Local, id, &c) {
                    tracing::error!(target: "pki", "cannot restore local certificate {id}: {e}");
                }
            }
            None => {
                if let Err(e) = self.store.remove(Kind::Local, id) {
                    tracing::error!(target: "pki", "cannot remove local certificate {id}: {e}");
                }
                self.locals.remove(id);
            }
        }
    }

    /// An enrolled certificate for key pair `id` from the CA of `profile`:
    /// refused unless its public key is the key pair's and it is signed by
    /// the profile's CA certificate; then stored as local certificate `id`
    /// (replacing an older one: this is how a renewal with the same key
    /// lands) and the enrollment record cleared.
    pub fn store_enrolled(
        &mut self,
        id: &str,
        profile: &str,
        cert: &Certificate,
    ) -> Result<(), PkiError> {
        let key = self.key(id)?;
        self.check_enrolled(
            id,
            profile,
            key,
            cert,
            "the enrolled certificate's public key is not this key pair's",
        )?;
        let old = self.locals.get(id).cloned();
        self.write_cert(Kind::Local, id, cert)?;
        if let Err(e) = self.store.remove(Kind::Enrollment, id) {
            self.restore_local(id, old);
            return Err(e.into());
        }
        self.enrollments.remove(id);
        tracing::info!(target: "pki", "enrolled local certificate {id} from CA profile {profile}");
        Ok(())
    }

    /// A renewal with a new key: replaces key pair `id` by `key` and local
    /// certificate `id` by `cert` together. Refused unless `cert` is for
    /// `key` and signed by the CA certificate of `profile`, and key pair
    /// `id` exists. The key file is written first, then the certificate;
    /// a failure puts the old ones back. The enrollment record is cleared.
    pub fn store_renewed(
        &mut self,
        id: &str,
        profile: &str,
        key: KeyPair,
        cert: &Certificate,
    ) -> Result<(), PkiError> {
        let old_key = self.keys_entry(id)?.clone();
        self.check_enrolled(
            id,
            profile,
            &key,
            cert,
            "the renewed certificate's public key is not the new key pair's",
        )?;
        let old_cert = self.locals.get(id).cloned();
        self.write_key(id, key, KeyOrigin::Generated)?;
        let mut result = self.write_cert(Kind::Local, id, cert);
        if result.is_ok() {
            result = self
                .store
                .remove(Kind::Enrollment, id)
                .map(|_| ())
                .map_err(PkiError::from);
        }
        if let Err(e) = result {
            self.restore_local(id, old_cert);
            if let Err(e) = self.write_key(id, old_key.key, old_key.origin) {
                tracing::error!(target: "pki", "cannot restore key pair {id}: {e}");
            }
            return Err(e);
        }
        self.enrollments.remove(id);
        tracing::info!(target: "pki", "renewed local certificate {id} with a new key pair from CA profile {profile}");
        Ok(())
    }
}

/// Refuses a certificate whose basicConstraints say it is not a CA.
fn check_ca_flag(cert: &Certificate) -> Result<(), PkiError> {
    if let Ok(Some((_, bc))) = cert.tbs_certificate().get_extension::<BasicConstraints>()
        && !bc.ca
    {
        return Err(PkiError::NotCa(format!(
            "the certificate for {} is not a CA certificate (basicConstraints cA is false)",
            name::subject_string(cert.tbs_certificate().subject())
        )));
    }
    Ok(())
}

/// Whether `ca` issued `cert` (issuer name and signature); why not.
fn signed_by(cert: &Certificate, ca: &Certificate) -> Result<(), String> {
    let ca_subject = ca.tbs_certificate().subject();
    if cert.tbs_certificate().issuer() != ca_subject {
        return Err(format!(
            "its issuer {} is not the CA {}",
            name::subject_string(cert.tbs_certificate().issuer()),
            name::subject_string(ca_subject)
        ));
    }
    verify::certificate(cert, ca.tbs_certificate().subject_public_key_info())
        .map_err(|e| e.to_string())
}

/// DER of a certificate (for fingerprints and exports).
pub fn certificate_der(cert: &Certificate) -> Vec<u8> {
    cert.to_der().unwrap_or_default()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use std::os::unix::fs::PermissionsExt;
    use std::path::{Path, PathBuf};

    use spki::SubjectPublicKeyInfoOwned;

    use super::*;
    use crate::issue::{CertProfile, random_serial};
    use crate::key::KeyAlgorithm;
    use crate::scep::tests::{ca, rsa_identity};

    const NOW: Duration = Duration::from_secs(1_800_000_000);

    fn rsa() -> KeySpec {
        KeySpec::new(KeyAlgorithm::Rsa, 2048).unwrap()
    }

    fn open(root: &Path) -> Pki {
        let (mut pki, problems) = Pki::open(root, "SN1").unwrap();
        assert!(problems.is_empty(), "{problems:?}");
        pki.set_profiles([CaProfile::new("p", "ca.example")]);
        pki
    }

    fn issue_for(
        subject: &str,
        spki: SubjectPublicKeyInfoOwned,
        issuer: &(KeyPair, Certificate),
    ) -> Certificate {
        let mut profile = CertProfile::end_entity(
            subject.parse().unwrap(),
            AltNames::default(),
            KeyAlgorithm::Rsa,
        );
        profile.issuer = Some(issuer.1.tbs_certificate().subject().clone());
        let validity =
            issue::validity(NOW - Duration::from_secs(60), NOW + SELF_SIGNED_LIFETIME).unwrap();
        issue::issue(
            profile,
            random_serial(),
            validity,
            spki,
            &issuer.0,
            HashAlg::Sha256,
        )
        .unwrap()
    }

    /// Every stored file and its bytes.
    fn files(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
        fn walk(p: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
            for e in std::fs::read_dir(p).unwrap() {
                let path = e.unwrap().path();
                if path.is_dir() {
                    walk(&path, out);
                } else {
                    out.insert(path.clone(), std::fs::read(&path).unwrap());
                }
            }
        }
        let mut out = BTreeMap::new();
        walk(root, &mut out);
        out
    }

    #[test]
    fn store_ca_certificates_needs_no_profile_and_is_all_or_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("ikecert");
        let mut pki = open(&root);
        let p256 = || KeySpec::new(KeyAlgorithm::Ecdsa, 256).unwrap();
        let (_, a) = crate::scep::tests::identity(p256(), "CN=Root A", true);
        let (_, b) = crate::scep::tests::identity(p256(), "CN=Root B", true);
        let (_, c) = crate::scep::tests::identity(p256(), "CN=Root C", true);

        // Names no profile configures; "p" is replaced.
        pki.store_ca("p", &a).unwrap();
        pki.store_ca_certificates(&[
            ("0000000000010203".into(), b.clone()),
            ("p".into(), c.clone()),
        ])
        .unwrap();
        let pki2 = open(&root);
        assert_eq!(pki2.ca_certificates()["0000000000010203"], b);
        assert_eq!(pki2.ca_certificates()["p"], c);

        // Checked before anything is written.
        let before = files(&root);
        let e = pki
            .store_ca_certificates(&[("x".into(), a.clone()), ("bad/name".into(), a.clone())])
            .unwrap_err();
        assert!(matches!(e, PkiError::Id(_)), "{e}");
        assert_eq!(files(&root), before);

        // The second write fails: the first is undone.
        pki.store().fail_before_rename(2);
        let e = pki
            .store_ca_certificates(&[("p".into(), a.clone()), ("new".into(), b.clone())])
            .unwrap_err();
        assert!(matches!(e, PkiError::Store(_)), "{e}");
        assert_eq!(pki.ca_certificates()["p"], c);
        assert!(!pki.ca_certificates().contains_key("new"));
        pki.store().fail_before_rename(1);
        let e = pki
            .store_ca_certificates(&[("new".into(), b.clone())])
            .unwrap_err();
        assert!(matches!(e, PkiError::Store(_)), "{e}");
        let pki = open(&root);
        assert_eq!(pki.ca_certificates()["p"], c);
        assert!(!pki.ca_certificates().contains_key("new"));
        assert_eq!(pki.ca_certificates().len(), 2);
    }

    #[test]
    fn ca_chain_with_ra_reloads_and_clears() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("ikecert");
        let mut pki = open(&root);
        let ra_key = KeyPair::generate(rsa()).unwrap();
        let ra = issue_for("CN=RA", ra_key.public_key_info().unwrap(), ca());

        // An RA certificate the CA did not sign: refused, nothing written.
        let before = files(&root);
        let (_, stray) = rsa_identity("CN=Stray RA");
        let e = pki
            .store_ca_chain("p", &ca().1, &[ra.clone(), stray])
            .unwrap_err();
        assert!(matches!(e, PkiError::RaNotIssued { .. }), "{e}");
        assert!(e.to_string().contains("CN=Stray RA"), "{e}");
        assert_eq!(files(&root), before);
        assert!(pki.ca_certificates().is_empty());
        // Unconfigured profile.
        let e = pki.store_ca_chain("q", &ca().1, &[]).unwrap_err();
        assert_eq!(e.to_string(), "CA profile q not configured");

        // A failing RA write leaves no CA certificate behind.
        pki.store().fail_before_rename(2);
        let e = pki
            .store_ca_chain("p", &ca().1, std::slice::from_ref(&ra))
            .unwrap_err();
        assert!(matches!(e, PkiError::Store(_)), "{e}");
        assert!(pki.ca_certificates().is_empty());
        assert!(pki.ra_certificates().is_empty());
        assert!(!pki.store().exists(Kind::Ca, "p"));

        pki.store_ca_chain("p", &ca().1, std::slice::from_ref(&ra))
            .unwrap();
        assert_eq!(pki.ra_certificates()["p"], vec![ra.clone()]);
        let e = pki.store_ca_chain("p", &ca().1, &[]).unwrap_err();
        assert!(matches!(e, PkiError::CaExists(_)), "{e}");

        let mut pki = open(&root);
        assert_eq!(pki.ca_certificates()["p"], ca().1);
        assert_eq!(pki.ra_certificates()["p"], vec![ra.clone()]);

        pki.clear_ca(Some("p")).unwrap();
        assert!(pki.ra_certificates().is_empty());
        assert!(!pki.store().exists(Kind::Ra, "p"));
        let pki = open(&root);
        assert!(pki.ra_certificates().is_empty());
        assert!(pki.ca_certificates().is_empty());
    }

    #[test]
    fn ra_bundle_of_several_and_empty_ra_removes_it() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("ikecert");
        let mut pki = open(&root);
        let a = issue_for(
            "CN=RA sign",
            KeyPair::generate(rsa()).unwrap().public_key_info().unwrap(),
            ca(),
        );
        let b = issue_for(
            "CN=RA encrypt",
            KeyPair::generate(rsa()).unwrap().public_key_info().unwrap(),
            ca(),
        );
        pki.store_ca_chain("p", &ca().1, &[a.clone(), b.clone()])
            .unwrap();
        let pki = open(&root);
        assert_eq!(pki.ra_certificates()["p"], vec![a.clone(), b]);

        // A stale bundle (its CA certificate gone) is replaced by none.
        pki.store().remove(Kind::Ca, "p").unwrap();
        drop(pki);
        let mut pki = open(&root);
        assert!(pki.store().exists(Kind::Ra, "p"));
        pki.store_ca_chain("p", &ca().1, &[]).unwrap();
        assert!(!pki.store().exists(Kind::Ra, "p"));
        assert!(pki.ra_certificates().is_empty());
    }

    #[test]
    fn enrollment_record_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("ikecert");
        let mut pki = open(&root);
        let secret = br#"{"challenge":"s3cret-Password"}"#;
        pki.save_enrollment("r1", secret).unwrap();
        let path = pki.store().path(Kind::Enrollment, "r1");
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(pki.enrollments()["r1"], secret.to_vec());
        // Never printed.
        let shown = format!("{pki:?}");
        assert!(
            !shown.contains(&format!("{:?}", secret.to_vec())),
            "{shown}"
        );
        assert!(shown.contains("\"r1\": [31 bytes]"), "{shown}");

        let mut pki = open(&root);
        assert_eq!(pki.enrollments()["r1"], secret.to_vec());
        pki.save_enrollment("r1", b"{}").unwrap();
        assert_eq!(pki.enrollments()["r1"], b"{}".to_vec());
        pki.clear_enrollment("r1").unwrap();
        assert!(pki.enrollments().is_empty());
        assert!(!path.exists());
        pki.clear_enrollment("r1").unwrap();
        assert!(pki.save_enrollment("a/b", b"{}").is_err());
        let pki = open(&root);
        assert!(pki.enrollments().is_empty());
    }

    #[test]
    fn store_enrolled_checks_key_and_ca() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("ikecert");
        let mut pki = open(&root);
        pki.generate_key_pair("r1", rsa()).unwrap();
        pki.store_ca_chain("p", &ca().1, &[]).unwrap();
        pki.save_enrollment("r1", b"{\"state\":1}").unwrap();
        let key = pki.key_pairs()["r1"].key.clone();
        let before = files(&root);

        // A certificate for another key.
        let other = KeyPair::generate(rsa()).unwrap();
        let wrong_key = issue_for("CN=r1", other.public_key_info().unwrap(), ca());
        let e = pki.store_enrolled("r1", "p", &wrong_key).unwrap_err();
        assert!(matches!(e, PkiError::KeyMismatch { .. }), "{e}");
        assert!(e.to_string().contains("r1"), "{e}");
        // Signed by someone else, with the CA's name or not.
        let (impostor_key, _) = rsa_identity("CN=impostor");
        let impostor = (impostor_key, ca().1.clone());
        let forged = issue_for("CN=r1", key.public_key_info().unwrap(), &impostor);
        let e = pki.store_enrolled("r1", "p", &forged).unwrap_err();
        assert!(matches!(e, PkiError::NotIssuedByCa { .. }), "{e}");
        assert_eq!(
            e.to_string(),
            "certificate is not signed by the CA certificate of profile p: signature does not verify"
        );
        let other_ca = rsa_identity("CN=Other CA");
        let foreign = issue_for("CN=r1", key.public_key_info().unwrap(), &other_ca);
        let e = pki.store_enrolled("r1", "p", &foreign).unwrap_err();
        assert!(e.to_string().contains("CN=Other CA"), "{e}");
        // Unknown key pair, unconfigured profile, no CA.
        let good = issue_for("CN=r1", key.public_key_info().unwrap(), ca());
        assert!(matches!(
            pki.store_enrolled("nope", "p", &good),
            Err(PkiError::NoKeyPair(_))
        ));
        assert!(matches!(
            pki.store_enrolled("r1", "q", &good),
            Err(PkiError::ProfileNotConfigured(_))
        ));
        // Nothing changed.
        assert_eq!(files(&root), before);
        assert!(pki.local_certificates().get("r1").is_none());
        assert!(pki.enrollments().contains_key("r1"));

        // A failing certificate write changes nothing either.
        pki.store().fail_before_rename(1);
        assert!(pki.store_enrolled("r1", "p", &good).is_err());
        assert!(pki.local_certificates().get("r1").is_none());
        assert!(pki.enrollments().contains_key("r1"));

        pki.store_enrolled("r1", "p", &good).unwrap();
        assert_eq!(pki.local_certificates()["r1"], good);
        assert!(pki.enrollments().is_empty());
        assert!(!pki.store().exists(Kind::Enrollment, "r1"));
        assert_eq!(pki.issuer_profile(&good), Some("p"));

        // A renewal with the same key replaces the certificate.
        let renewed = issue_for("CN=r1", key.public_key_info().unwrap(), ca());
        pki.store_enrolled("r1", "p", &renewed).unwrap();
        let pki = open(&root);
        assert_eq!(pki.local_certificates()["r1"], renewed);
    }

    #[test]
    fn store_renewed_replaces_key_and_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("ikecert");
        let mut pki = open(&root);
        pki.generate_key_pair("r1", rsa()).unwrap();
        pki.store_ca_chain("p", &ca().1, &[]).unwrap();
        let old_key = pki.key_pairs()["r1"].key.clone();
        let old = issue_for("CN=r1", old_key.public_key_info().unwrap(), ca());
        pki.store_enrolled("r1", "p", &old).unwrap();
        pki.save_enrollment("r1", b"{}").unwrap();

        let new_key = KeyPair::generate(rsa()).unwrap();
        let new = issue_for("CN=r1", new_key.public_key_info().unwrap(), ca());
        let before = files(&root);
        // The certificate must be for the new key.
        let e = pki
            .store_renewed("r1", "p", new_key.clone(), &old)
            .unwrap_err();
        assert!(matches!(e, PkiError::KeyMismatch { .. }), "{e}");
        assert!(matches!(
            pki.store_renewed("r2", "p", new_key.clone(), &new),
            Err(PkiError::NoKeyPair(_))
        ));
        assert_eq!(files(&root), before);

        // The certificate write fails (writes: key, metadata, certificate):
        // the old key comes back.
        pki.store().fail_before_rename(3);
        assert!(pki.store_renewed("r1", "p", new_key.clone(), &new).is_err());
        assert_eq!(files(&root), before);
        assert!(old_key.matches(&pki.key_pairs()["r1"].key.public_key_info().unwrap()));
        assert_eq!(pki.local_certificates()["r1"], old);

        pki.store_renewed("r1", "p", new_key.clone(), &new).unwrap();
        assert!(pki.enrollments().is_empty());
        let pki = open(&root);
        assert!(new_key.matches(&pki.key_pairs()["r1"].key.public_key_info().unwrap()));
        assert_eq!(pki.local_certificates()["r1"], new);
    }

    #[test]
    fn scep_needs_rsa() {
        let dir = tempfile::tempdir().unwrap();
        let mut pki = open(&dir.path().join("ikecert"));
        pki.generate_key_pair("ec", KeySpec::new(KeyAlgorithm::Ecdsa, 256).unwrap())
            .unwrap();
        pki.generate_key_pair("r1", rsa()).unwrap();
        assert_eq!(
            pki.scep_key("ec").unwrap_err().to_string(),
            "ECDSA Keypair not supported with SCEP for cert_id ec"
        );
        assert!(pki.scep_key("r1").is_ok());
        assert!(matches!(pki.scep_key("none"), Err(PkiError::NoKeyPair(_))));
    }

    #[test]
    fn es_pic_key_pair_is_a_store_key_and_a_file_and_nothing_on_failure() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("ikecert");
        let mut pki = open(&root);
        let spec = KeySpec::es_pic(KeyAlgorithm::Rsa, 1024).unwrap();
        pki.generate_es_pic_key_pair("batt", spec).unwrap();
        let file = std::fs::read(root.join("batt")).unwrap();
        let from_file = KeyPair::from_bytes(&file).unwrap();
        let stored = &pki.key_pairs()["batt"].key;
        assert_eq!(
            from_file.public_key_info().unwrap(),
            stored.public_key_info().unwrap(),
            "the file holds the store's key pair"
        );
        assert_eq!(
            std::fs::metadata(root.join("batt"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o600
        );
        // Again: refused, nothing changes.
        let before = files(&root);
        let e = pki.generate_es_pic_key_pair("batt", spec).unwrap_err();
        assert_eq!(e.to_string(), "file /var/etc/ikecert/batt already exists");
        // A name the store uses itself.
        let e = pki.generate_es_pic_key_pair("crl", spec).unwrap_err();
        assert!(e.to_string().contains("own crl directory"), "{e}");
        // The file cannot be written: the key pair does not stay.
        // (write 1: the store key, 2: metadata, 3: the file)
        pki.store().fail_before_rename(3);
        assert!(matches!(
            pki.generate_es_pic_key_pair("k2", spec),
            Err(PkiError::Store(StoreError::Injected(_)))
        ));
        assert!(!pki.key_pairs().contains_key("k2"));
        let _ = std::fs::remove_file(root.join(".k2.tmp"));
        assert_eq!(files(&root), before);
        // Reopened: the ES PIC file is no problem, not a key pair of the
        // store's own (the store key is), and its bytes are kept.
        drop(pki);
        let pki = open(&root);
        assert_eq!(pki.key_pairs().keys().collect::<Vec<_>>(), ["batt"]);
        assert_eq!(std::fs::read(root.join("batt")).unwrap(), file);
    }

    #[test]
    fn import_key_pair_takes_pkcs8_and_pkcs1_and_refuses_the_rest() {
        use rsa::pkcs1::EncodeRsaPrivateKey;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("ikecert");
        let mut pki = open(&root);
        let a = KeyPair::generate(rsa()).unwrap();
        let b = KeyPair::generate(rsa()).unwrap();

        // PKCS#8 (`BEGIN PRIVATE KEY`, what openssl genpkey writes).
        let spec = pki
            .import_key_pair("a", a.to_pkcs8_pem().unwrap().as_bytes())
            .unwrap();
        assert_eq!(spec, rsa());
        // PKCS#1 (`BEGIN RSA PRIVATE KEY`, openssl genrsa -traditional).
        let KeyPair::Rsa(inner) = &b else {
            panic!("not RSA")
        };
        let pkcs1 = inner.to_pkcs1_pem(der::pem::LineEnding::LF).unwrap();
        assert!(pkcs1.starts_with("-----BEGIN RSA PRIVATE KEY-----"));
        pki.import_key_pair("b", pkcs1.as_bytes()).unwrap();

        // Stored, shown as imported, and the same keys after reopening.
        drop(pki);
        let mut pki = open(&root);
        for (id, key) in [("a", &a), ("b", &b)] {
            let e = &pki.key_pairs()[id];
            assert_eq!(e.origin, KeyOrigin::Imported);
            assert_eq!(
                e.key.public_key_info().unwrap(),
                key.public_key_info().unwrap()
            );
        }

        // Refused, nothing written: an existing id, not a key, a bad id.
        let before = files(&root);
        let e = pki
            .import_key_pair("a", b.to_pkcs8_pem().unwrap().as_bytes())
            .unwrap_err();
        assert!(matches!(e, PkiError::KeyPairExists(_)), "{e}");
        let e = pki.import_key_pair("c", b"hello").unwrap_err();
        assert!(e.to_string().contains("not a private key"), "{e}");
        let e = pki
            .import_key_pair(
                "c",
                b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            )
            .unwrap_err();
        assert!(e.to_string().contains("CERTIFICATE"), "{e}");
        assert!(matches!(
            pki.import_key_pair("bad/id", a.to_pkcs8_pem().unwrap().as_bytes()),
            Err(PkiError::Id(_))
        ));
        assert_eq!(files(&root), before);
        assert!(!pki.key_pairs().contains_key("c"));
    }

    #[test]
    fn open_checks_what_es_pic_files_hold() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("ikecert");
        let (_, ca_cert) = ca();
        drop(open(&root));
        let der = certificate_der(ca_cert);
        std::fs::write(root.join("ca1.der"), &der).unwrap();
        std::fs::write(root.join("ca1.pem"), encoding::pem("CERTIFICATE", &der)).unwrap();
        std::fs::write(root.join("notes.txt"), "hello").unwrap();
        let (pki, problems) = Pki::open(&root, "SN1").unwrap();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].path, root.join("notes.txt"));
        assert!(problems[0].reason.contains("not a certificate, key pair"));
        assert!(pki.ca_certificates().is_empty() && pki.local_certificates().is_empty());
        assert_eq!(es_pic_content(&der), Ok(EsPicContent::Certificate));
        assert!(es_pic_content(b"").is_err());
    }
}
