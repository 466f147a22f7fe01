//! PKIStatus, PKIStatusInfo and PKIFailureInfo (RFC 4210 §5.2.3).

use std::fmt;
use std::ops::{BitOr, BitOrAssign};

use der::asn1::BitString;
use der::{Enumerated, Sequence};

/// `PKIFreeText ::= SEQUENCE SIZE (1..MAX) OF UTF8String`.
pub type PkiFreeText = Vec<String>;

/// ```text
/// PKIStatus ::= INTEGER {
///     accepted (0), grantedWithMods (1), rejection (2), waiting (3),
///     revocationWarning (4), revocationNotification (5), keyUpdateWarning (6) }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Enumerated)]
#[asn1(type = "INTEGER")]
#[repr(u8)]
pub enum PkiStatus {
    /// You got exactly what you asked for.
    Accepted = 0,
    /// You got something like what you asked for.
    GrantedWithMods = 1,
    /// You don't get it; more information in the failInfo.
    Rejection = 2,
    /// The request has not been processed yet: poll later.
    Waiting = 3,
    /// A revocation is imminent.
    RevocationWarning = 4,
    /// A revocation has occurred.
    RevocationNotification = 5,
    /// The key update has already been done.
    KeyUpdateWarning = 6,
}

impl PkiStatus {
    /// The ASN.1 name: `accepted`, `grantedWithMods`, ...
    pub fn name(self) -> &'static str {
        match self {
            PkiStatus::Accepted => "accepted",
            PkiStatus::GrantedWithMods => "grantedWithMods",
            PkiStatus::Rejection => "rejection",
            PkiStatus::Waiting => "waiting",
            PkiStatus::RevocationWarning => "revocationWarning",
            PkiStatus::RevocationNotification => "revocationNotification",
            PkiStatus::KeyUpdateWarning => "keyUpdateWarning",
        }
    }
}

impl fmt::Display for PkiStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// ```text
/// PKIStatusInfo ::= SEQUENCE {
///     status        PKIStatus,
///     statusString  PKIFreeText     OPTIONAL,
///     failInfo      PKIFailureInfo  OPTIONAL }
/// ```
///
/// `failInfo` is kept as the BIT STRING received (so that re-encoding is
/// byte-identical even when a peer did not trim trailing zero bits); use
/// [`PkiStatusInfo::failure_info`] for the named bits.
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct PkiStatusInfo {
    /// The status.
    pub status: PkiStatus,
    /// Human-readable text.
    #[asn1(optional = "true")]
    pub status_string: Option<PkiFreeText>,
    /// Why it failed (a named-bit BIT STRING, see [`FailureInfo`]).
    #[asn1(optional = "true")]
    pub fail_info: Option<BitString>,
}

impl PkiStatusInfo {
    /// `accepted`, no text.
    pub fn accepted() -> Self {
        PkiStatusInfo {
            status: PkiStatus::Accepted,
            status_string: None,
            fail_info: None,
        }
    }

    /// `grantedWithMods` with an explanation.
    pub fn granted_with_mods(text: &str) -> Self {
        PkiStatusInfo {
            status: PkiStatus::GrantedWithMods,
            status_string: free_text(text),
            fail_info: None,
        }
    }

    /// `waiting` (the client should poll), with an optional text.
    pub fn waiting(text: &str) -> Self {
        PkiStatusInfo {
            status: PkiStatus::Waiting,
            status_string: free_text(text),
            fail_info: None,
        }
    }

    /// `rejection` with the failure bits and a text (omitted when empty).
    pub fn rejection(fail: FailureInfo, text: &str) -> Self {
        PkiStatusInfo {
            status: PkiStatus::Rejection,
            status_string: free_text(text),
            fail_info: fail.to_bit_string().ok(),
        }
    }

    /// The named failure bits (empty when absent).
    pub fn failure_info(&self) -> FailureInfo {
        self.fail_info
            .as_ref()
            .map(FailureInfo::from_bit_string)
            .unwrap_or_default()
    }

    /// The status strings joined with "; " (empty when absent).
    pub fn text(&self) -> String {
        self.status_string
            .as_ref()
            .map(|t| t.join("; "))
            .unwrap_or_default()
    }

    /// Whether the status is `accepted` or `grantedWithMods`.
    pub fn is_granted(&self) -> bool {
        matches!(
            self.status,
            PkiStatus::Accepted | PkiStatus::GrantedWithMods
        )
    }
}

impl fmt::Display for PkiStatusInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.status.name())?;
        let fail = self.failure_info();
        if !fail.is_empty() {
            write!(f, " ({fail})")?;
        }
        let text = self.text();
        if !text.is_empty() {
            write!(f, ": {text}")?;
        }
        Ok(())
    }
}

fn free_text(text: &str) -> Option<PkiFreeText> {
    (!text.is_empty()).then(|| vec![text.to_owned()])
}

/// The names of the PKIFailureInfo bits 0..=26, in bit order.
const FAILURE_NAMES: [&str; 27] = [
    "badAlg",
    "badMessageCheck",
    "badRequest",
    "badTime",
    "badCertId",
    "badDataFormat",
    "wrongAuthority",
    "incorrectData",
    "missingTimeStamp",
    "badPOP",
    "certRevoked",
    "certConfirmed",
    "wrongIntegrity",
    "badRecipientNonce",
    "timeNotAvailable",
    "unacceptedPolicy",
    "unacceptedExtension",
    "addInfoNotAvailable",
    "badSenderNonce",
    "badCertTemplate",
    "signerNotTrusted",
    "transactionIdInUse",
    "unsupportedVersion",
    "notAuthorized",
    "systemUnavail",
    "systemFailure",
    "duplicateCertReq",
];

/// The PKIFailureInfo named bits as a set (bit `n` of the ASN.1 BIT STRING
/// is `1 << n` here). Combine with `|`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct FailureInfo(u32);

impl FailureInfo {
    /// No bits.
    pub const NONE: FailureInfo = FailureInfo(0);
    /// 0: unrecognized or unsupported algorithm identifier.
    pub const BAD_ALG: FailureInfo = FailureInfo(1 << 0);
    /// 1: integrity check failed (e.g. signature or MAC did not verify).
    pub const BAD_MESSAGE_CHECK: FailureInfo = FailureInfo(1 << 1);
    /// 2: transaction not permitted or supported.
    pub const BAD_REQUEST: FailureInfo = FailureInfo(1 << 2);
    /// 3: messageTime was not sufficiently close to the system time.
    pub const BAD_TIME: FailureInfo = FailureInfo(1 << 3);
    /// 4: no certificate could be found matching the criteria.
    pub const BAD_CERT_ID: FailureInfo = FailureInfo(1 << 4);
    /// 5: the data submitted has the wrong format.
    pub const BAD_DATA_FORMAT: FailureInfo = FailureInfo(1 << 5);
    /// 6: the authority indicated in the request is different.
    pub const WRONG_AUTHORITY: FailureInfo = FailureInfo(1 << 6);
    /// 7: the requester's data is incorrect.
    pub const INCORRECT_DATA: FailureInfo = FailureInfo(1 << 7);
    /// 8: timestamp was missing but should be there.
    pub const MISSING_TIME_STAMP: FailureInfo = FailureInfo(1 << 8);
    /// 9: the proof of possession failed.
    pub const BAD_POP: FailureInfo = FailureInfo(1 << 9);
    /// 10: the certificate has already been revoked.
    pub const CERT_REVOKED: FailureInfo = FailureInfo(1 << 10);
    /// 11: the certificate has already been confirmed.
    pub const CERT_CONFIRMED: FailureInfo = FailureInfo(1 << 11);
    /// 12: invalid integrity (password MAC vs signature expected).
    pub const WRONG_INTEGRITY: FailureInfo = FailureInfo(1 << 12);
    /// 13: invalid recipient nonce.
    pub const BAD_RECIPIENT_NONCE: FailureInfo = FailureInfo(1 << 13);
    /// 14: the TSA's time source is not available.
    pub const TIME_NOT_AVAILABLE: FailureInfo = FailureInfo(1 << 14);
    /// 15: the requested TSA policy is not supported.
    pub const UNACCEPTED_POLICY: FailureInfo = FailureInfo(1 << 15);
    /// 16: the requested extension is not supported.
    pub const UNACCEPTED_EXTENSION: FailureInfo = FailureInfo(1 << 16);
    /// 17: the additional information requested is not available.
    pub const ADD_INFO_NOT_AVAILABLE: FailureInfo = FailureInfo(1 << 17);
    /// 18: invalid sender nonce.
    pub const BAD_SENDER_NONCE: FailureInfo = FailureInfo(1 << 18);
    /// 19: invalid certificate template.
    pub const BAD_CERT_TEMPLATE: FailureInfo = FailureInfo(1 << 19);
    /// 20: the signer of the message is unknown or not trusted.
    pub const SIGNER_NOT_TRUSTED: FailureInfo = FailureInfo(1 << 20);
    /// 21: the transaction identifier is already in use.
    pub const TRANSACTION_ID_IN_USE: FailureInfo = FailureInfo(1 << 21);
    /// 22: the version of the message is not supported.
    pub const UNSUPPORTED_VERSION: FailureInfo = FailureInfo(1 << 22);
    /// 23: the sender was not authorized to make the request.
    pub const NOT_AUTHORIZED: FailureInfo = FailureInfo(1 << 23);
    /// 24: the request cannot be handled due to system unavailability.
    pub const SYSTEM_UNAVAIL: FailureInfo = FailureInfo(1 << 24);
    /// 25: the request cannot be handled due to system failure.
    pub const SYSTEM_FAILURE: FailureInfo = FailureInfo(1 << 25);
    /// 26: the certificate cannot be issued because a duplicate exists.
    pub const DUPLICATE_CERT_REQ: FailureInfo = FailureInfo(1 << 26);

    /// The set with only bit `n` (0..=31).
    pub fn bit(n: u32) -> Option<Self> {
        1u32.checked_shl(n).map(FailureInfo)
    }

    /// The raw mask (bit n = `1 << n`).
    pub fn bits(self) -> u32 {
        self.0
    }

    /// Whether no bit is set.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether every bit of `other` is set here.
    pub fn contains(self, other: FailureInfo) -> bool {
        self.0 & other.0 == other.0
    }

    /// The names of the set bits in bit order (`"bit27"`.. for bits
    /// outside the named range).
    pub fn names(self) -> Vec<&'static str> {
        const UNNAMED: [&str; 5] = ["bit27", "bit28", "bit29", "bit30", "bit31"];
        (0..32usize)
            .filter(|n| self.0 & (1 << n) != 0)
            .map(|n| {
                FAILURE_NAMES
                    .get(n)
                    .or_else(|| UNNAMED.get(n - FAILURE_NAMES.len()))
                    .copied()
                    .unwrap_or("bit?")
            })
            .collect()
    }

    /// The bit with this ASN.1 name (`"badPOP"`), if any.
    pub fn from_name(name: &str) -> Option<Self> {
        FAILURE_NAMES
            .iter()
            .position(|n| *n == name)
            .map(|n| FailureInfo(1 << n))
    }

    /// Reads a PKIFailureInfo BIT STRING. Bits beyond 31 (none are
    /// defined) are ignored.
    pub fn from_bit_string(bits: &BitString) -> Self {
        let len = bits.bit_len().min(32);
        let raw = bits.raw_bytes();
        let mut mask = 0u32;
        for n in 0..len {
            if raw.get(n / 8).is_some_and(|b| b & (0x80 >> (n % 8)) != 0) {
                mask |= 1 << n;
            }
        }
        FailureInfo(mask)
    }

    /// The DER encoding of a named-bit list: trailing zero bits removed
    /// (X.690 §11.2.2), so the empty set is a zero-length BIT STRING.
    /// (It cannot fail: at most 4 bytes and fewer than 8 unused bits.)
    pub fn to_bit_string(self) -> der::Result<BitString> {
        let used = 32 - self.0.leading_zeros() as usize; // bits 0..used
        let nbytes = used.div_ceil(8);
        let mut bytes = vec![0u8; nbytes];
        for n in 0..used {
            if self.0 & (1 << n) != 0
                && let Some(b) = bytes.get_mut(n / 8)
            {
                *b |= 0x80 >> (n % 8);
            }
        }
        let unused = (nbytes * 8 - used) as u8;
        BitString::new(unused, bytes)
    }
}

impl BitOr for FailureInfo {
    type Output = FailureInfo;
    fn bitor(self, rhs: FailureInfo) -> FailureInfo {
        FailureInfo(self.0 | rhs.0)
    }
}

impl BitOrAssign for FailureInfo {
    fn bitor_assign(&mut self, rhs: FailureInfo) {
        self.0 |= rhs.0;
    }
}

impl fmt::Display for FailureInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.names().join(", "))
    }
}
