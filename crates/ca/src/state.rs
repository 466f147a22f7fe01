//! The CA's persistent state: issued certificates, pending requests, the
//! CRL number. One JSON file (`state.json`), read and rewritten atomically
//! under an exclusive lock on `state.lock`, so that `mtsim ca approve` in
//! one process and the server in another never lose each other's changes.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use crate::CaError;

/// Why a certificate was revoked (RFC 5280 CRLReason).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Reason {
    /// unspecified (0).
    Unspecified,
    /// keyCompromise (1).
    KeyCompromise,
    /// cACompromise (2).
    CaCompromise,
    /// affiliationChanged (3).
    AffiliationChanged,
    /// superseded (4).
    Superseded,
    /// cessationOfOperation (5).
    CessationOfOperation,
    /// certificateHold (6).
    CertificateHold,
}

impl Reason {
    /// Every reason with its command-line keyword.
    pub const ALL: [(Reason, &'static str); 7] = [
        (Reason::Unspecified, "unspecified"),
        (Reason::KeyCompromise, "keyCompromise"),
        (Reason::CaCompromise, "cACompromise"),
        (Reason::AffiliationChanged, "affiliationChanged"),
        (Reason::Superseded, "superseded"),
        (Reason::CessationOfOperation, "cessationOfOperation"),
        (Reason::CertificateHold, "certificateHold"),
    ];

    /// Parses the keyword (case-insensitive).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .find(|(_, k)| k.eq_ignore_ascii_case(s))
            .map(|(r, _)| *r)
    }

    /// The keyword.
    pub fn keyword(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(r, _)| *r == self)
            .map(|(_, k)| *k)
            .unwrap_or("unspecified")
    }
}

/// Whether an issued certificate is still good.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case", tag = "state")]
pub enum Status {
    /// Not revoked.
    Valid,
    /// Revoked at `at` (seconds since the epoch) for `reason`.
    Revoked {
        /// When.
        at: u64,
        /// Why.
        reason: Reason,
    },
}

/// One issued certificate.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Record {
    /// Serial number, lowercase hex.
    pub serial: String,
    /// Subject, as a subject string.
    pub subject: String,
    /// notBefore, seconds since the epoch.
    pub not_before: u64,
    /// notAfter, seconds since the epoch.
    pub not_after: u64,
    /// Valid or revoked.
    pub status: Status,
}

/// Where a request waiting for the operator stands.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case", tag = "state")]
pub enum PendingState {
    /// Waiting for `mtsim ca approve|reject`.
    Waiting,
    /// Approved; issued on the next poll.
    Approved,
    /// Issued with this serial.
    Issued {
        /// The certificate's serial.
        serial: String,
    },
    /// Refused by the operator.
    Rejected,
}

/// A request held for manual approval.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Pending {
    /// The operator's handle (`mtsim ca approve ID`).
    pub id: u64,
    /// The protocol's transaction identifier.
    pub transaction: String,
    /// Subject string of the request (for `mtsim ca list`).
    pub subject: String,
    /// The PKCS#10 request, DER in hex.
    pub request: String,
    /// When it arrived, seconds since the epoch.
    pub received: u64,
    /// Where it stands.
    pub state: PendingState,
}

/// Everything the CA remembers.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct State {
    /// Format version.
    #[serde(default)]
    pub version: u32,
    /// The number of the last CRL made.
    #[serde(default)]
    pub crl_number: u64,
    /// Set when a revocation makes the current CRL stale.
    #[serde(default)]
    pub crl_stale: bool,
    /// Issued certificates by serial.
    #[serde(default)]
    pub issued: BTreeMap<String, Record>,
    /// Requests held for approval, by id.
    #[serde(default)]
    pub pending: BTreeMap<u64, Pending>,
    /// The next pending id.
    #[serde(default)]
    pub next_pending: u64,
    /// Transactions answered with a certificate: transaction id to serial
    /// (a retransmitted request gets the same certificate, never a second).
    #[serde(default)]
    pub transactions: BTreeMap<String, String>,
    /// One-time challenge passwords (`mtsim ca challenge`), by the SHA-256
    /// of the password in hex; the password itself is never stored.
    #[serde(default)]
    pub challenges: BTreeMap<String, OneTimeChallenge>,
}

/// A one-time challenge password.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OneTimeChallenge {
    /// When it was made, seconds since the epoch.
    pub created: u64,
    /// The transaction that used it up, if any.
    #[serde(default)]
    pub used_by: Option<String>,
}

/// `state.json` and its lock.
#[derive(Debug, Clone)]
pub struct StateFile {
    path: PathBuf,
    lock: PathBuf,
}

impl StateFile {
    /// The state of the CA in `dir`.
    pub fn new(dir: &Path) -> Self {
        StateFile {
            path: dir.join("state.json"),
            lock: dir.join("state.lock"),
        }
    }

    fn locked(&self) -> Result<File, CaError> {
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&self.lock)
            .map_err(|e| CaError::io(&self.lock, e))?;
        f.lock().map_err(|e| CaError::io(&self.lock, e))?;
        Ok(f)
    }

    fn read_unlocked(&self) -> Result<State, CaError> {
        match std::fs::read(&self.path) {
            Ok(b) => serde_json::from_slice(&b)
                .map_err(|e| CaError::Corrupt(format!("{}: {e}", self.path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
            Err(e) => Err(CaError::io(&self.path, e)),
        }
    }

    /// Reads the state (under the lock).
    pub fn read(&self) -> Result<State, CaError> {
        let _lock = self.locked()?;
        self.read_unlocked()
    }

    /// Runs `f` on the state under the lock and writes the result back if
    /// `f` succeeds and changed it; an error leaves the stored state as it was.
    pub fn update<T>(
        &self,
        f: impl FnOnce(&mut State) -> Result<T, CaError>,
    ) -> Result<T, CaError> {
        let _lock = self.locked()?;
        let before = self.read_unlocked()?;
        let mut state = before.clone();
        let out = f(&mut state)?;
        if state != before {
            state.version = 1;
            let bytes =
                serde_json::to_vec_pretty(&state).map_err(|e| CaError::Internal(e.to_string()))?;
            pki::store::write_atomic(&self.path, &bytes)?;
        }
        Ok(out)
    }
}
