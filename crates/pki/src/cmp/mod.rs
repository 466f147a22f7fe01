//! CMP (RFC 4210 as updated by RFC 9480) and CRMF (RFC 4211) messages,
//! sans I/O: the ASN.1 types, decoding and encoding, protection (password
//! based MAC and signatures) and small builders. The HTTP transport of
//! RFC 6712 (`POST`, `application/pkixcmp`) is the caller's: this module
//! only turns bytes into messages and back.
//!
//! Both the embedded CA's CMP server and the router's CMPv2 client use it:
//!
//! ```text
//! client                                CA
//! PkiHeader::new, CertReqMsg::signed,
//! protect(.., Protection::Mac{..}) -ir-> Received::decode, verify_mac,
//!                                        CertReqMsg::verify_popo
//!                                  <-ip- PkiHeader::reply_to,
//!                                        CertResponse::accepted, protect
//! Received::decode, verify_mac or
//! verify_signature,
//! CertStatus::for_certificate -certConf-> CertStatus::matches
//!                                  <-pkiconf-
//! ```
//!
//! Verify what you receive with [`Received`]: it checks the protection
//! over the bytes as the peer sent them (the `der` crate re-sorts SET OF
//! values while decoding, so a re-encoding may differ from a peer's
//! non-canonical one).
//!
//! Tag modes follow the ASN.1 modules: the CMP module is `EXPLICIT TAGS`
//! (PKIBody choices and the header's optional fields), CRMF is
//! `IMPLICIT TAGS` except where the tagged type is a CHOICE.

pub mod client;
mod crmf;
mod message;
mod protection;
mod received;
mod status;
mod time;
mod types;

#[cfg(test)]
mod tests;

pub use crmf::*;
pub use message::*;
pub use protection::*;
pub use received::Received;
pub use status::*;
pub use time::MessageTime;
pub use types::*;

use crate::key::KeyError;
use crate::verify::VerifyError;

/// Why a CMP message could not be decoded, built, or verified.
#[derive(Debug, thiserror::Error)]
pub enum CmpError {
    /// The bytes are not a well-formed DER PKIMessage.
    #[error("malformed PKIMessage: {0}")]
    Decode(der::Error),
    /// A body type RFC 4210/9480 does not define.
    #[error("unknown PKIBody type [{0}] (RFC 4210/9480 define 0..=26)")]
    UnknownBody(u32),
    /// Encoding failed (a value out of range, or a bug).
    #[error("encoding PKIMessage: {0}")]
    Encode(der::Error),
    /// The operating system's random source failed.
    #[error("random source: {0}")]
    Random(String),
    /// A verification was asked for but the message has no protection.
    #[error("message is not protected")]
    Unprotected,
    /// The message is protected, but not the way the caller expects.
    #[error("wrong protection: expected {expected}, found {found}")]
    WrongProtection {
        /// What the caller asked to verify.
        expected: &'static str,
        /// What the message has.
        found: String,
    },
    /// An algorithm this implementation does not support.
    #[error("unsupported algorithm: {0}")]
    UnsupportedAlgorithm(String),
    /// The PBMParameter is missing or malformed.
    #[error("bad PBM parameters: {0}")]
    BadPbmParameters(String),
    /// A PBM iteration count of 0 or above the limit.
    #[error("PBM iterationCount {0} is outside 1..={max}", max = MAX_PBM_ITERATIONS)]
    IterationCount(u64),
    /// The password-based MAC does not match.
    #[error("protection MAC does not verify (wrong shared secret or altered message)")]
    BadMac,
    /// The signature protection does not verify.
    #[error("protection signature: {0}")]
    Signature(VerifyError),
    /// A proof of possession that is absent, unsupported or wrong.
    #[error("proof of possession: {0}")]
    Pop(String),
    /// Signing failed.
    #[error("{0}")]
    Key(#[from] KeyError),
}
