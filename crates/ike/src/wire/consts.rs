//! The numbers of RFC 7296 section 3 (and the IANA IKEv2 registries):
//! flags, payload types, protocol IDs, transforms, identities, AUTH
//! methods and Notify message types.

/// Header flags (RFC 7296 3.1).
pub mod flags {
    /// I: the message comes from the original initiator of the IKE SA.
    pub const INITIATOR: u8 = 0x08;
    /// V: the sender could speak a higher major version (never set by us).
    pub const VERSION: u8 = 0x10;
    /// R: the message is a response.
    pub const RESPONSE: u8 = 0x20;
}

/// Payload types (RFC 7296 3.2, RFC 7383 2.5).
pub mod payload_type {
    /// No next payload.
    pub const NONE: u8 = 0;
    /// Security Association.
    pub const SA: u8 = 33;
    /// Key Exchange.
    pub const KE: u8 = 34;
    /// Identification - Initiator.
    pub const IDI: u8 = 35;
    /// Identification - Responder.
    pub const IDR: u8 = 36;
    /// Certificate.
    pub const CERT: u8 = 37;
    /// Certificate Request.
    pub const CERTREQ: u8 = 38;
    /// Authentication.
    pub const AUTH: u8 = 39;
    /// Nonce.
    pub const NONCE: u8 = 40;
    /// Notify.
    pub const NOTIFY: u8 = 41;
    /// Delete.
    pub const DELETE: u8 = 42;
    /// Vendor ID.
    pub const VENDOR: u8 = 43;
    /// Traffic Selector - Initiator.
    pub const TSI: u8 = 44;
    /// Traffic Selector - Responder.
    pub const TSR: u8 = 45;
    /// Encrypted and Authenticated.
    pub const SK: u8 = 46;
    /// Configuration.
    pub const CP: u8 = 47;
    /// Extensible Authentication.
    pub const EAP: u8 = 48;
    /// Encrypted and Authenticated Fragment (RFC 7383).
    pub const SKF: u8 = 53;

    /// The short name of a payload type ("SA", "Notify", ...), "UNKNOWN"
    /// for types this codec does not know.
    pub fn name(kind: u8) -> &'static str {
        match kind {
            NONE => "NONE",
            SA => "SA",
            KE => "KE",
            IDI => "IDi",
            IDR => "IDr",
            CERT => "CERT",
            CERTREQ => "CERTREQ",
            AUTH => "AUTH",
            NONCE => "Nonce",
            NOTIFY => "Notify",
            DELETE => "Delete",
            VENDOR => "Vendor ID",
            TSI => "TSi",
            TSR => "TSr",
            SK => "SK",
            CP => "CP",
            EAP => "EAP",
            SKF => "SKF",
            _ => "UNKNOWN",
        }
    }

    /// "SA payload", "Notify payload", ...: the `what` of truncation errors.
    pub(crate) fn what(kind: u8) -> &'static str {
        match kind {
            SA => "SA payload",
            KE => "KE payload",
            IDI => "IDi payload",
            IDR => "IDr payload",
            CERT => "CERT payload",
            CERTREQ => "CERTREQ payload",
            AUTH => "AUTH payload",
            NONCE => "Nonce payload",
            NOTIFY => "Notify payload",
            DELETE => "Delete payload",
            VENDOR => "Vendor ID payload",
            TSI => "TSi payload",
            TSR => "TSr payload",
            SK => "SK payload",
            CP => "CP payload",
            EAP => "EAP payload",
            SKF => "SKF payload",
            _ => "unknown payload",
        }
    }
}

/// Security protocol IDs (RFC 7296 3.3.1).
pub mod protocol {
    /// IKE (the IKE SA itself).
    pub const IKE: u8 = 1;
    /// Authentication Header.
    pub const AH: u8 = 2;
    /// Encapsulating Security Payload.
    pub const ESP: u8 = 3;
}

/// Transform types (RFC 7296 3.3.2).
pub mod transform_type {
    /// Encryption algorithm.
    pub const ENCR: u8 = 1;
    /// Pseudorandom function.
    pub const PRF: u8 = 2;
    /// Integrity algorithm.
    pub const INTEG: u8 = 3;
    /// Diffie-Hellman group.
    pub const DH: u8 = 4;
    /// Extended sequence numbers.
    pub const ESN: u8 = 5;
}

/// Transform attribute types (RFC 7296 3.3.5).
pub mod attribute {
    /// Key Length in bits, always in TV form (AF bit set).
    pub const KEY_LENGTH: u16 = 14;
    /// The Attribute Format bit: set for TV (type/value), clear for TLV.
    pub const AF: u16 = 0x8000;
}

/// Encryption algorithm transform IDs (transform type 1).
pub mod encr {
    /// ENCR_3DES.
    pub const DES3: u16 = 3;
    /// ENCR_AES_CBC (key length attribute required).
    pub const AES_CBC: u16 = 12;
    /// ENCR_AES_GCM_16 (16-octet ICV, key length attribute required).
    pub const AES_GCM_16: u16 = 20;
}

/// Pseudorandom function transform IDs (transform type 2).
pub mod prf {
    /// PRF_HMAC_SHA1.
    pub const HMAC_SHA1: u16 = 2;
    /// PRF_HMAC_SHA2_256.
    pub const HMAC_SHA2_256: u16 = 5;
    /// PRF_HMAC_SHA2_384.
    pub const HMAC_SHA2_384: u16 = 6;
    /// PRF_HMAC_SHA2_512.
    pub const HMAC_SHA2_512: u16 = 7;
}

/// Integrity algorithm transform IDs (transform type 3).
pub mod integ {
    /// AUTH_HMAC_SHA1_96.
    pub const HMAC_SHA1_96: u16 = 2;
    /// AUTH_HMAC_SHA2_256_128.
    pub const HMAC_SHA2_256_128: u16 = 12;
    /// AUTH_HMAC_SHA2_384_192.
    pub const HMAC_SHA2_384_192: u16 = 13;
    /// AUTH_HMAC_SHA2_512_256.
    pub const HMAC_SHA2_512_256: u16 = 14;
}

/// Diffie-Hellman group transform IDs (transform type 4).
pub mod dh {
    /// 2048-bit MODP group.
    pub const MODP_2048: u16 = 14;
    /// 256-bit random ECP group (P-256).
    pub const ECP_256: u16 = 19;
    /// 384-bit random ECP group (P-384).
    pub const ECP_384: u16 = 20;
}

/// Extended sequence numbers transform IDs (transform type 5).
pub mod esn {
    /// No extended sequence numbers.
    pub const NO: u16 = 0;
    /// Extended sequence numbers.
    pub const YES: u16 = 1;
}

/// Identification types (RFC 7296 3.5).
pub mod id_type {
    /// A single four-octet IPv4 address.
    pub const IPV4_ADDR: u8 = 1;
    /// A fully qualified domain name string.
    pub const FQDN: u8 = 2;
    /// An RFC 822 e-mail address (user@FQDN).
    pub const RFC822_ADDR: u8 = 3;
    /// A single sixteen-octet IPv6 address.
    pub const IPV6_ADDR: u8 = 5;
    /// The DER encoding of an X.500 distinguished name.
    pub const DER_ASN1_DN: u8 = 9;
    /// An opaque octet stream.
    pub const KEY_ID: u8 = 11;
}

/// Certificate encodings (RFC 7296 3.6).
pub mod cert_encoding {
    /// X.509 certificate - signature (DER).
    pub const X509_SIGNATURE: u8 = 4;
}

/// Authentication methods (RFC 7296 3.8, RFC 4754, RFC 7427).
pub mod auth_method {
    /// RSA digital signature (PKCS#1 v1.5, SHA-1).
    pub const RSA_SIG: u8 = 1;
    /// Shared key message integrity code.
    pub const SHARED_KEY: u8 = 2;
    /// ECDSA with SHA-256 on the P-256 curve.
    pub const ECDSA_SHA256_P256: u8 = 9;
    /// ECDSA with SHA-384 on the P-384 curve.
    pub const ECDSA_SHA384_P384: u8 = 10;
    /// ECDSA with SHA-512 on the P-521 curve.
    pub const ECDSA_SHA512_P521: u8 = 11;
    /// Digital signature (RFC 7427: an AlgorithmIdentifier precedes it).
    pub const DIGITAL_SIGNATURE: u8 = 14;
}

/// Traffic selector types (RFC 7296 3.13.1).
pub mod ts_type {
    /// An IPv4 address range.
    pub const IPV4_ADDR_RANGE: u8 = 7;
    /// An IPv6 address range.
    pub const IPV6_ADDR_RANGE: u8 = 8;
}

/// Notify message types (RFC 7296 3.10.1 and later RFCs): errors below
/// 16384, status types from 16384.
pub mod notify {
    /// A critical payload type was not understood.
    pub const UNSUPPORTED_CRITICAL_PAYLOAD: u16 = 1;
    /// The message named an IKE SA the recipient does not know.
    pub const INVALID_IKE_SPI: u16 = 4;
    /// The major version is not supported.
    pub const INVALID_MAJOR_VERSION: u16 = 5;
    /// The message was malformed.
    pub const INVALID_SYNTAX: u16 = 7;
    /// The message ID was out of the window.
    pub const INVALID_MESSAGE_ID: u16 = 9;
    /// An ESP/AH packet named an SPI the recipient does not know.
    pub const INVALID_SPI: u16 = 11;
    /// None of the proposals was acceptable.
    pub const NO_PROPOSAL_CHOSEN: u16 = 14;
    /// The KE payload's group is not the one selected (data: the group).
    pub const INVALID_KE_PAYLOAD: u16 = 17;
    /// The AUTH payload did not verify, or the peer was not accepted.
    pub const AUTHENTICATION_FAILED: u16 = 24;
    /// Only a single pair of traffic selectors is acceptable.
    pub const SINGLE_PAIR_REQUIRED: u16 = 34;
    /// No more CHILD_SAs are accepted on this IKE SA.
    pub const NO_ADDITIONAL_SAS: u16 = 35;
    /// No internal address could be assigned.
    pub const INTERNAL_ADDRESS_FAILURE: u16 = 36;
    /// A CP payload was required but not sent.
    pub const FAILED_CP_REQUIRED: u16 = 37;
    /// The traffic selectors are not acceptable.
    pub const TS_UNACCEPTABLE: u16 = 38;
    /// An ESP/AH packet did not match the SA's selectors.
    pub const INVALID_SELECTORS: u16 = 39;
    /// The request cannot be served now; retry later.
    pub const TEMPORARY_FAILURE: u16 = 43;
    /// The CHILD_SA to rekey or delete does not exist.
    pub const CHILD_SA_NOT_FOUND: u16 = 44;

    /// This is the first IKE SA between the two identities.
    pub const INITIAL_CONTACT: u16 = 16384;
    /// The number of requests the sender can take concurrently.
    pub const SET_WINDOW_SIZE: u16 = 16385;
    /// NAT detection: hash of the sender's SPIs, address and port.
    pub const NAT_DETECTION_SOURCE_IP: u16 = 16388;
    /// NAT detection: hash of the SPIs and the recipient's address and port.
    pub const NAT_DETECTION_DESTINATION_IP: u16 = 16389;
    /// A stateless cookie (RFC 7296 2.6).
    pub const COOKIE: u16 = 16390;
    /// The CHILD_SA should use transport mode.
    pub const USE_TRANSPORT_MODE: u16 = 16391;
    /// The CHILD_SA being created replaces the one whose SPI is given.
    pub const REKEY_SA: u16 = 16393;
    /// The sender does not accept TFC padding.
    pub const ESP_TFC_PADDING_NOT_SUPPORTED: u16 = 16394;
    /// Non-first fragments are also sent on this SA.
    pub const NON_FIRST_FRAGMENTS_ALSO: u16 = 16395;
    /// MOBIKE is supported (RFC 4555).
    pub const MOBIKE_SUPPORTED: u16 = 16396;
    /// The sender has no additional addresses (RFC 4555).
    pub const NO_ADDITIONAL_ADDRESSES: u16 = 16399;
    /// Multiple authentication is supported (RFC 4739).
    pub const MULTIPLE_AUTH_SUPPORTED: u16 = 16404;
    /// Redirection is supported (RFC 5685).
    pub const REDIRECT_SUPPORTED: u16 = 16406;
    /// EAP-only authentication is requested (RFC 5998).
    pub const EAP_ONLY_AUTHENTICATION: u16 = 16417;
    /// IKE_AUTH without a CHILD_SA is supported (RFC 6023).
    pub const CHILDLESS_IKEV2_SUPPORTED: u16 = 16418;
    /// Message ID synchronisation is supported (RFC 6311).
    pub const MESSAGE_ID_SYNC_SUPPORTED: u16 = 16420;
    /// IKEv2 fragmentation is supported (RFC 7383).
    pub const IKEV2_FRAGMENTATION_SUPPORTED: u16 = 16430;
    /// The hash algorithms accepted for signatures (RFC 7427; data: a
    /// list of two-octet hash algorithm IDs).
    pub const SIGNATURE_HASH_ALGORITHMS: u16 = 16431;

    /// The registry name of a Notify message type ("AUTHENTICATION_FAILED"),
    /// "UNKNOWN" for types this codec does not know.
    pub fn name(kind: u16) -> &'static str {
        match kind {
            UNSUPPORTED_CRITICAL_PAYLOAD => "UNSUPPORTED_CRITICAL_PAYLOAD",
            INVALID_IKE_SPI => "INVALID_IKE_SPI",
            INVALID_MAJOR_VERSION => "INVALID_MAJOR_VERSION",
            INVALID_SYNTAX => "INVALID_SYNTAX",
            INVALID_MESSAGE_ID => "INVALID_MESSAGE_ID",
            INVALID_SPI => "INVALID_SPI",
            NO_PROPOSAL_CHOSEN => "NO_PROPOSAL_CHOSEN",
            INVALID_KE_PAYLOAD => "INVALID_KE_PAYLOAD",
            AUTHENTICATION_FAILED => "AUTHENTICATION_FAILED",
            SINGLE_PAIR_REQUIRED => "SINGLE_PAIR_REQUIRED",
            NO_ADDITIONAL_SAS => "NO_ADDITIONAL_SAS",
            INTERNAL_ADDRESS_FAILURE => "INTERNAL_ADDRESS_FAILURE",
            FAILED_CP_REQUIRED => "FAILED_CP_REQUIRED",
            TS_UNACCEPTABLE => "TS_UNACCEPTABLE",
            INVALID_SELECTORS => "INVALID_SELECTORS",
            TEMPORARY_FAILURE => "TEMPORARY_FAILURE",
            CHILD_SA_NOT_FOUND => "CHILD_SA_NOT_FOUND",
            INITIAL_CONTACT => "INITIAL_CONTACT",
            SET_WINDOW_SIZE => "SET_WINDOW_SIZE",
            NAT_DETECTION_SOURCE_IP => "NAT_DETECTION_SOURCE_IP",
            NAT_DETECTION_DESTINATION_IP => "NAT_DETECTION_DESTINATION_IP",
            COOKIE => "COOKIE",
            USE_TRANSPORT_MODE => "USE_TRANSPORT_MODE",
            REKEY_SA => "REKEY_SA",
            ESP_TFC_PADDING_NOT_SUPPORTED => "ESP_TFC_PADDING_NOT_SUPPORTED",
            NON_FIRST_FRAGMENTS_ALSO => "NON_FIRST_FRAGMENTS_ALSO",
            MOBIKE_SUPPORTED => "MOBIKE_SUPPORTED",
            NO_ADDITIONAL_ADDRESSES => "NO_ADDITIONAL_ADDRESSES",
            MULTIPLE_AUTH_SUPPORTED => "MULTIPLE_AUTH_SUPPORTED",
            REDIRECT_SUPPORTED => "REDIRECT_SUPPORTED",
            EAP_ONLY_AUTHENTICATION => "EAP_ONLY_AUTHENTICATION",
            CHILDLESS_IKEV2_SUPPORTED => "CHILDLESS_IKEV2_SUPPORTED",
            MESSAGE_ID_SYNC_SUPPORTED => "MESSAGE_ID_SYNC_SUPPORTED",
            IKEV2_FRAGMENTATION_SUPPORTED => "IKEV2_FRAGMENTATION_SUPPORTED",
            SIGNATURE_HASH_ALGORITHMS => "SIGNATURE_HASH_ALGORITHMS",
            _ => "UNKNOWN",
        }
    }

    /// Whether a Notify message type is an error (below 16384) rather
    /// than a status.
    pub fn is_error(kind: u16) -> bool {
        kind < 16384
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notify_names_and_classes() {
        assert_eq!(notify::name(24), "AUTHENTICATION_FAILED");
        assert_eq!(notify::name(16430), "IKEV2_FRAGMENTATION_SUPPORTED");
        assert_eq!(notify::name(16383), "UNKNOWN");
        assert!(notify::is_error(notify::TS_UNACCEPTABLE));
        assert!(notify::is_error(16383));
        assert!(!notify::is_error(notify::INITIAL_CONTACT));
    }

    #[test]
    fn payload_names() {
        assert_eq!(payload_type::name(payload_type::SA), "SA");
        assert_eq!(payload_type::name(payload_type::SKF), "SKF");
        assert_eq!(payload_type::name(99), "UNKNOWN");
        assert_eq!(payload_type::what(payload_type::TSR), "TSr payload");
    }
}
