//! The certificate authenticator: builds and validates the peer's
//! certificate path to a trust anchor (RFC 5280 section 6 in spirit),
//! checks revocation against CRLs, and matches the peer's IKE identity.
//!
//! [`validate`] does the path, [`authenticate`] the path and the identity.
//! Every refusal is a [`Refusal`] whose text tells an operator why.

use std::time::Duration;

use x509_cert::Certificate;
use x509_cert::crl::CertificateList;

mod constraints;
pub mod identity;
pub mod path;
pub mod revocation;
#[cfg(test)]
pub(crate) mod testutil;

pub use identity::{PeerId, match_identity};
pub use path::validate;
pub use revocation::StaticCrls;

/// Why a peer is refused: each variant's Display says why in words an
/// operator understands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// A certificate of the path is past its notAfter.
    #[error("certificate '{subject}' expired on {not_after}")]
    Expired {
        /// The certificate's subject.
        subject: String,
        /// Its notAfter.
        not_after: String,
    },
    /// A certificate of the path is before its notBefore.
    #[error("certificate '{subject}' is not valid before {not_before}")]
    NotYetValid {
        /// The certificate's subject.
        subject: String,
        /// Its notBefore.
        not_before: String,
    },
    /// No path to a trust anchor: the issuer is not a known CA.
    #[error("no trusted CA certificate for issuer '{issuer}' (unknown CA)")]
    UnknownCa {
        /// The issuer name no CA certificate was found for.
        issuer: String,
    },
    /// The issuer's key does not verify the certificate's signature.
    #[error("the signature of certificate '{subject}' does not verify with its issuer's key")]
    BadSignature {
        /// The certificate's subject.
        subject: String,
    },
    /// An issuing certificate that may not issue certificates.
    #[error(
        "certificate '{subject}' issues certificates but is not a CA \
         (basicConstraints cA and keyUsage keyCertSign)"
    )]
    NotCa {
        /// The would-be CA's subject.
        subject: String,
    },
    /// A pathLenConstraint is exceeded.
    #[error("the path below CA '{subject}' is longer than its pathLenConstraint allows")]
    PathLength {
        /// The constraining CA's subject.
        subject: String,
    },
    /// A key usage the peer certificate lacks or may not have.
    #[error("certificate '{subject}' key usage: {what}")]
    KeyUsage {
        /// The certificate's subject.
        subject: String,
        /// What is wrong.
        what: String,
    },
    /// A name outside a CA's name constraints.
    #[error("name '{name}' of certificate '{subject}' violates a CA's name constraints")]
    NameConstraints {
        /// The certificate's subject.
        subject: String,
        /// The offending name.
        name: String,
    },
    /// A critical extension the validator does not understand (or one
    /// that must not be critical).
    #[error("certificate '{subject}' has a critical extension {oid} that is not understood")]
    UnknownCriticalExtension {
        /// The certificate's subject.
        subject: String,
        /// The extension's OID.
        oid: String,
    },
    /// The certificate is listed on its issuer's CRL.
    #[error("certificate '{subject}' (serial {serial}) is revoked: {reason}")]
    Revoked {
        /// The certificate's subject.
        subject: String,
        /// Its serial number (hex).
        serial: String,
        /// The CRL entry's reason.
        reason: String,
    },
    /// No usable CRL of an issuer while one is required.
    #[error("no usable CRL from CA '{issuer}': {why}")]
    CrlUnavailable {
        /// The CA whose CRL is missing.
        issuer: String,
        /// Why.
        why: String,
    },
    /// The peer certificate has no subjectAltName (identity matching).
    #[error("the peer certificate has no subjectAltName to match the IKE identity against")]
    NoSubjectAltName,
    /// The IKE identity is not in the certificate.
    #[error("IKE identity '{id}' does not match the certificate ({have})")]
    IdentityMismatch {
        /// The peer's IKE identity.
        id: String,
        /// What the certificate has.
        have: String,
    },
    /// No path within the depth limit.
    #[error("no certificate path within {max} intermediate CA certificates")]
    TooDeep {
        /// The limit.
        max: usize,
    },
    /// A certificate or CRL that breaks the X.509 profile.
    #[error("malformed certificate: {0}")]
    Malformed(String),
}

/// How CRLs are used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevocationMode {
    /// No revocation checking.
    Disabled,
    /// A CRL is required for every certificate below the anchor; none →
    /// refuse.
    Required,
    /// A CRL is used when one can be had; none (or a fetch error) →
    /// accept. A CRL that is had but does not check out still refuses.
    BestEffort,
}

/// How to validate.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Validation time (the simulated clock), since the Unix epoch. Whole
    /// seconds count: fractions are dropped.
    pub time: Duration,
    /// The most intermediate CA certificates (between the peer and the
    /// trust anchor, neither counted) a path may have; `None`:
    /// [`DEFAULT_MAX_DEPTH`]. x509-limbo's `max_chain_depth`.
    pub max_depth: Option<usize>,
    /// Revocation checking.
    pub revocation: RevocationMode,
    /// DNS wildcard subjectAltNames accepted for FQDN identities.
    pub wildcards: bool,
    /// The end-entity keyUsage, when present, must include
    /// digitalSignature (or nonRepudiation, which RFC 4945 5.1.3.2 lets
    /// stand in for it).
    pub require_digital_signature: bool,
}

/// The intermediate limit when [`Policy::max_depth`] is `None`.
pub const DEFAULT_MAX_DEPTH: usize = 8;

impl Policy {
    /// The defaults at `time`: depth [`DEFAULT_MAX_DEPTH`], best-effort
    /// revocation, no wildcards, digitalSignature required.
    pub fn new(time: Duration) -> Self {
        Policy {
            time,
            max_depth: None,
            revocation: RevocationMode::BestEffort,
            wildcards: false,
            require_digital_signature: true,
        }
    }
}

/// Where CRLs come from (the router implements it with its PKI store and
/// HTTP).
pub trait CrlSource {
    /// The current CRL of `issuer` (whose certificates name
    /// `distribution_points`), `Ok(None)` when there is none, `Err` when
    /// getting it failed.
    fn crl(
        &self,
        issuer: &Certificate,
        distribution_points: &[String],
    ) -> Result<Option<CertificateList>, String>;
}

/// The chain that validated: peer first, trust anchor last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain(pub Vec<Certificate>);

/// [`validate`], then [`match_identity`] of the peer against `id`.
pub fn authenticate(
    peer: &Certificate,
    untrusted: &[Certificate],
    anchors: &[Certificate],
    crls: &dyn CrlSource,
    id: &PeerId,
    policy: &Policy,
) -> Result<Chain, Refusal> {
    let chain = validate(peer, untrusted, anchors, crls, policy)?;
    match_identity(peer, id, policy)?;
    Ok(chain)
}
