//! IKEv2 cryptography: PRFs, Diffie-Hellman, key derivation, the SK payload,
//! NAT detection hashes and AUTH signatures.
//!
//! - [`suite`]: the transform ids (ENCR, PRF, INTEG, D-H) and the PRF, prf+
//!   and integrity primitives;
//! - [`dh`]: MODP 2048 (group 14) and ECP 256 (group 19) exchanges;
//! - [`keys`]: SKEYSEED and the IKE SA keys (RFC 7296 2.14, 2.18), the
//!   CHILD_SA keying material (2.17);
//! - [`sk`]: sealing and opening the Encrypted payload (RFC 7296 3.14) and
//!   its fragments (RFC 7383);
//! - [`sign`]: the octets an AUTH payload signs and the signature methods 1,
//!   9, 10 and 14 (RFC 7296 2.15, RFC 4754, RFC 7427);
//! - [`natd`]: the NAT_DETECTION_*_IP hashes (RFC 7296 2.23).
//!
//! No key material appears in any `Debug` output.

pub mod dh;
pub mod keys;
pub mod natd;
pub mod sign;
pub mod sk;
pub mod suite;

pub use dh::DhSecret;
pub use keys::{ChildKeys, IkeKeys, child_keys};
pub use natd::nat_hash;
pub use sign::{
    AuthSigner, SIGNATURE_HASHES, choose_signer, hash_from_id, sign_auth, signed_octets,
    verify_auth,
};
pub use sk::{open, seal, seal_fragments};
pub use suite::{DhGroup, Encr, IkeSuite, Integ, Prf};

/// Why a cryptographic operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The system's random number generator failed.
    #[error("random number generator failed: {0}")]
    Random(String),
    /// The peer's Diffie-Hellman public value is not acceptable.
    #[error("invalid {group:?} public value from the peer: {reason}")]
    BadPeerPublic {
        /// The group of the exchange.
        group: suite::DhGroup,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The ICV of an Encrypted payload does not match.
    #[error("integrity check failed")]
    Integrity,
    /// Input of the wrong shape (an Encrypted payload too short or not
    /// whole blocks, a bad pad length, a broken AUTH AlgorithmIdentifier).
    #[error("malformed input: {0}")]
    Malformed(&'static str),
    /// A key of the wrong length for its algorithm.
    #[error("{what} key is {got} bytes, expected {expected}")]
    KeyLength {
        /// Which key.
        what: &'static str,
        /// The length the algorithm needs.
        expected: usize,
        /// The length given.
        got: usize,
    },
    /// The datagram size limit leaves no room for fragment content.
    #[error(
        "a datagram limit of {max} bytes leaves no room for content ({overhead} bytes of overhead)"
    )]
    DatagramTooSmall {
        /// The limit asked for.
        max: usize,
        /// Header, IV, ICV and padding bytes of one fragment.
        overhead: usize,
    },
    /// A message would need more fragments than RFC 7383 can number.
    #[error("the message needs {0} fragments, more than 65535")]
    TooManyFragments(usize),
    /// An AUTH method this implementation does not do.
    #[error("unsupported AUTH method {0}")]
    UnsupportedAuthMethod(u8),
    /// The AUTH signature does not verify.
    #[error("AUTH signature does not verify")]
    BadSignature,
    /// The AUTH method or signature algorithm does not fit the key.
    #[error("key does not fit the signature: {0}")]
    KeyMismatch(String),
    /// A signature algorithm this implementation does not do.
    #[error("unsupported signature algorithm: {0}")]
    UnsupportedSignature(String),
    /// Signing failed.
    #[error("signing failed: {0}")]
    Sign(String),
    /// DER encoding failed.
    #[error("encoding failed: {0}")]
    Encoding(String),
    /// An arithmetic set-up step that cannot fail did (a bug).
    #[error("internal error: {0}")]
    Internal(&'static str),
}
