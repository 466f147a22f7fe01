//! The embedded certificate authority: a root and an issuing CA made on
//! first start, an issuing policy suited to IKE, manual approval,
//! revocation and CRLs, all persistent and crash-safe in one directory.
//! The SCEP and CMP servers sit on top of [`authority::Authority`].

pub mod authority;
pub mod cmp;
pub mod hierarchy;
pub mod http;
pub mod scep;
pub mod server;
pub mod service;
pub mod state;

use std::path::Path;

/// Why a CA operation failed.
#[derive(Debug, thiserror::Error)]
pub enum CaError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// A file of the CA directory does not parse.
    #[error("corrupt CA file: {0}")]
    Corrupt(String),
    /// A setting that cannot work.
    #[error("configuration: {0}")]
    Config(String),
    /// The request is refused (the client's fault).
    #[error("request refused: {0}")]
    BadRequest(String),
    /// A transaction id already used for a different request.
    #[error("transaction {0} is already in use for another request")]
    TransactionInUse(String),
    /// No such pending request or certificate.
    #[error("{0}")]
    NotFound(String),
    /// A bug or resource problem.
    #[error("internal error: {0}")]
    Internal(String),
}

impl CaError {
    fn io(path: &Path, source: std::io::Error) -> Self {
        CaError::Io {
            path: path.display().to_string(),
            source,
        }
    }
}

impl From<pki::store::StoreError> for CaError {
    fn from(e: pki::store::StoreError) -> Self {
        CaError::Internal(e.to_string())
    }
}

impl From<pki::issue::IssueError> for CaError {
    fn from(e: pki::issue::IssueError) -> Self {
        CaError::Internal(e.to_string())
    }
}
