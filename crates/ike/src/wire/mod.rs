//! IKEv2 messages on the wire (RFC 7296 section 3, RFC 7383 fragments).
//!
//! [`parse_message`] turns a datagram (without the non-ESP marker) into a
//! [`Message`]: the [`Header`] and either plain payloads or the location of
//! the SK/SKF payload's content, which the crypto layer decrypts before
//! [`decode_payloads`] reads the inner chain. [`encode_plain`] and
//! [`encode_encrypted_prefix`] go the other way. Nothing here panics on
//! input: every problem is a [`WireError`] saying what was wrong, and
//! [`WireError::notify_type`] gives the error notification to answer with.
//! The layouts are tabled in `docs/ike/WIRE.md`.

mod bodies;
mod consts;
mod header;
mod payload;
mod sa;
mod ts;
mod util;

#[cfg(test)]
mod tests;

pub use bodies::{Auth, Cert, Delete, Identification, Ke, Notify};
pub use consts::{
    attribute, auth_method, cert_encoding, dh, encr, esn, flags, id_type, integ, notify,
    payload_type, prf, protocol, transform_type, ts_type,
};
pub use header::{Exchange, HEADER_LEN, Header, VERSION_2_0};
pub use payload::{Payload, decode_payloads, encode_payloads};
pub use sa::{Proposal, Transform};
pub use ts::TrafficSelector;

use payload::{Chain, decode_one};
use util::{be16, fixed};

/// What was wrong with received bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// A structure ended before its fixed part or announced length.
    #[error("{what} truncated: needs {need} bytes, {have} left")]
    Truncated {
        /// The structure ("IKE header", "SA payload", ...).
        what: &'static str,
        /// The bytes it needs.
        need: usize,
        /// The bytes there were.
        have: usize,
    },
    /// The header's length field is not the datagram's length.
    #[error("IKE header says {header} bytes but the datagram has {actual}")]
    Length {
        /// The header's length field.
        header: u32,
        /// The datagram's length.
        actual: usize,
    },
    /// The major version is not 2 (answer INVALID_MAJOR_VERSION).
    #[error("IKE major version {0} is not supported (only 2)")]
    Version(u8),
    /// An unknown payload type with the critical bit set (answer
    /// UNSUPPORTED_CRITICAL_PAYLOAD with the type as data).
    #[error("unsupported critical payload type {0}")]
    UnsupportedCritical(u8),
    /// A payload of a known type is malformed.
    #[error("{}: {why}", payload_type::what(*.kind))]
    BadPayload {
        /// The payload type.
        kind: u8,
        /// What is wrong with it.
        why: String,
    },
    /// A payload where it may not be (SK not last, SK inside SK, ...).
    #[error("misplaced payload: {0}")]
    Misplaced(&'static str),
    /// Bytes after the last payload of a chain.
    #[error("{extra} bytes after the last payload")]
    Trailing {
        /// How many.
        extra: usize,
    },
}

impl WireError {
    /// The Notify error type to answer a request that failed so:
    /// INVALID_MAJOR_VERSION, UNSUPPORTED_CRITICAL_PAYLOAD, else
    /// INVALID_SYNTAX.
    pub fn notify_type(&self) -> u16 {
        match self {
            WireError::Version(_) => notify::INVALID_MAJOR_VERSION,
            WireError::UnsupportedCritical(_) => notify::UNSUPPORTED_CRITICAL_PAYLOAD,
            _ => notify::INVALID_SYNTAX,
        }
    }
}

/// A parsed datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The IKE header.
    pub header: Header,
    /// The payloads, or where the encrypted ones are.
    pub body: Body,
}

/// The payloads of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// An unencrypted message's payloads.
    Plain(Vec<Payload>),
    /// An SK payload (RFC 7296 3.14), which must be the last payload;
    /// `offset` is where its content (IV || ciphertext || ICV) starts in
    /// the datagram, `first_inner` the type of the first inner payload;
    /// `before` = unencrypted payloads before it (normally none).
    Encrypted {
        /// Unencrypted payloads before the SK payload.
        before: Vec<Payload>,
        /// The type of the first inner payload.
        first_inner: u8,
        /// Where the SK content starts in the datagram.
        offset: usize,
        /// The SK content's length.
        len: usize,
    },
    /// An SKF payload (RFC 7383 2.5), the only payload of its message:
    /// fragment number (1-based), total fragments (number <= total,
    /// total >= 1), first_inner (meaningful in fragment 1 only); offset/len
    /// of IV || ciphertext || ICV in the datagram.
    Fragment {
        /// This fragment's number, from 1.
        number: u16,
        /// The number of fragments.
        total: u16,
        /// The type of the first inner payload (fragment 1 only).
        first_inner: u8,
        /// Where the content starts in the datagram.
        offset: usize,
        /// The content's length.
        len: usize,
    },
}

/// The SK generic payload header's length.
const SK_HEADER_LEN: usize = 4;
/// The SKF generic payload header plus fragment number and total.
const SKF_HEADER_LEN: usize = 8;

/// Parses one IKE datagram (no non-ESP marker; the caller strips it):
/// header, the header's length field must equal the datagram length (else
/// [`WireError::Length`]), then the payload chain. An SK payload must be
/// the last; an SKF payload must be the only one.
pub fn parse_message(datagram: &[u8]) -> Result<Message, WireError> {
    let header = Header::parse(datagram)?;
    if usize::try_from(header.length).ok() != Some(datagram.len()) {
        return Err(WireError::Length {
            header: header.length,
            actual: datagram.len(),
        });
    }
    let payloads = datagram.get(HEADER_LEN..).unwrap_or_default();
    let mut chain = Chain::new(header.next_payload, payloads);
    let mut before = Vec::new();
    while let Some(raw) = chain.next_raw()? {
        let offset = HEADER_LEN + raw.offset;
        match raw.kind {
            payload_type::SK => {
                if !chain.at_end() {
                    return Err(WireError::Misplaced("SK payload is not the last payload"));
                }
                let body = Body::Encrypted {
                    before,
                    first_inner: raw.next,
                    offset: offset + SK_HEADER_LEN,
                    len: raw.body.len(),
                };
                return Ok(Message { header, body });
            }
            payload_type::SKF => {
                if !before.is_empty() || !chain.at_end() {
                    return Err(WireError::Misplaced("SKF payload is not the only payload"));
                }
                let (&[n0, n1, t0, t1], content) = fixed::<4>(raw.body, "SKF payload")?;
                let (number, total) = (be16(n0, n1), be16(t0, t1));
                if number == 0 || total == 0 || number > total {
                    return Err(WireError::BadPayload {
                        kind: payload_type::SKF,
                        why: format!("fragment number {number} of {total}"),
                    });
                }
                let body = Body::Fragment {
                    number,
                    total,
                    first_inner: raw.next,
                    offset: offset + SKF_HEADER_LEN,
                    len: content.len(),
                };
                return Ok(Message { header, body });
            }
            _ => before.push(decode_one(&raw)?),
        }
    }
    Ok(Message {
        header,
        body: Body::Plain(before),
    })
}

/// Encodes an unencrypted message: fills `next_payload` and `length` in
/// the header.
pub fn encode_plain(header: &Header, payloads: &[Payload]) -> Vec<u8> {
    let (first, bytes) = encode_payloads(payloads);
    let header = Header {
        next_payload: first,
        length: total_len(HEADER_LEN + bytes.len()),
        ..*header
    };
    let mut out = Vec::with_capacity(HEADER_LEN + bytes.len());
    header.encode(&mut out);
    out.extend_from_slice(&bytes);
    out
}

/// Writes the header and an SK (or SKF when `fragment` = Some((number,
/// total))) generic payload header for an encrypted message whose SK
/// content (IV || ciphertext || ICV) will be `content_len` bytes; returns
/// the bytes written (the AAD/start of the datagram); the caller appends
/// the content. Header.length and next_payload are set from the
/// arguments. In SKF fragments after the first, the next-payload field is
/// written as 0 (RFC 7383 2.5) whatever `first_inner` says.
pub fn encode_encrypted_prefix(
    header: &Header,
    first_inner: u8,
    content_len: usize,
    fragment: Option<(u16, u16)>,
) -> Vec<u8> {
    let (kind, payload_header, next) = match fragment {
        None => (payload_type::SK, SK_HEADER_LEN, first_inner),
        Some((number, _)) => (
            payload_type::SKF,
            SKF_HEADER_LEN,
            if number == 1 { first_inner } else { 0 },
        ),
    };
    let payload_len = payload_header.saturating_add(content_len);
    let header = Header {
        next_payload: kind,
        length: total_len(HEADER_LEN.saturating_add(payload_len)),
        ..*header
    };
    let mut out = Vec::with_capacity(HEADER_LEN + payload_header);
    header.encode(&mut out);
    out.extend_from_slice(&[next, 0]);
    out.extend_from_slice(&util::len16(payload_len).to_be_bytes());
    if let Some((number, total)) = fragment {
        out.extend_from_slice(&number.to_be_bytes());
        out.extend_from_slice(&total.to_be_bytes());
    }
    out
}

/// A message length as the header's u32 (saturating; IKE datagrams are
/// far smaller).
fn total_len(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}
