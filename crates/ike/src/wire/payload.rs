//! The generic payload chain (RFC 7296 3.2): each payload starts with a
//! four-byte header (next payload type, critical bit, length).

use super::WireError;
use super::bodies::{Auth, Cert, Delete, Identification, Ke, Notify};
use super::consts::payload_type as pt;
use super::sa::{Proposal, decode_sa, encode_sa};
use super::ts::{TrafficSelector, decode_ts, encode_ts};
use super::util::{be16, len16, patch_u16};

/// The critical bit of the generic payload header's second byte.
const CRITICAL: u8 = 0x80;

/// Nonce lengths allowed (RFC 7296 3.9).
const NONCE_LEN: std::ops::RangeInclusive<usize> = 16..=256;

/// One decoded payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// Security Association: the proposals.
    Sa(Vec<Proposal>),
    /// Key Exchange.
    Ke(Ke),
    /// The initiator's identity.
    IdI(Identification),
    /// The responder's identity.
    IdR(Identification),
    /// A certificate.
    Cert(Cert),
    /// A certificate request.
    CertReq(Cert),
    /// Authentication data.
    Auth(Auth),
    /// A nonce (16 to 256 bytes).
    Nonce(Vec<u8>),
    /// A notification.
    Notify(Notify),
    /// A delete request.
    Delete(Delete),
    /// A vendor ID.
    Vendor(Vec<u8>),
    /// The initiator's traffic selectors.
    TsI(Vec<TrafficSelector>),
    /// The responder's traffic selectors.
    TsR(Vec<TrafficSelector>),
    /// A payload this codec does not decode (including CP and EAP), kept
    /// as it came; it is re-encoded with its critical bit.
    Unknown {
        /// The payload type.
        kind: u8,
        /// The critical bit.
        critical: bool,
        /// The body after the generic header.
        body: Vec<u8>,
    },
}

impl Payload {
    /// The payload type number.
    pub fn kind(&self) -> u8 {
        match self {
            Payload::Sa(_) => pt::SA,
            Payload::Ke(_) => pt::KE,
            Payload::IdI(_) => pt::IDI,
            Payload::IdR(_) => pt::IDR,
            Payload::Cert(_) => pt::CERT,
            Payload::CertReq(_) => pt::CERTREQ,
            Payload::Auth(_) => pt::AUTH,
            Payload::Nonce(_) => pt::NONCE,
            Payload::Notify(_) => pt::NOTIFY,
            Payload::Delete(_) => pt::DELETE,
            Payload::Vendor(_) => pt::VENDOR,
            Payload::TsI(_) => pt::TSI,
            Payload::TsR(_) => pt::TSR,
            Payload::Unknown { kind, .. } => *kind,
        }
    }

    /// Appends the body (what follows the generic header).
    fn encode_body(&self, out: &mut Vec<u8>) {
        match self {
            Payload::Sa(proposals) => encode_sa(proposals, out),
            Payload::Ke(ke) => ke.encode(out),
            Payload::IdI(id) | Payload::IdR(id) => id.encode(out),
            Payload::Cert(c) | Payload::CertReq(c) => c.encode(out),
            Payload::Auth(a) => a.encode(out),
            Payload::Nonce(b) | Payload::Vendor(b) => out.extend_from_slice(b),
            Payload::Notify(n) => n.encode(out),
            Payload::Delete(d) => d.encode(out),
            Payload::TsI(ts) | Payload::TsR(ts) => encode_ts(ts, out),
            Payload::Unknown { body, .. } => out.extend_from_slice(body),
        }
    }
}

/// Encodes payloads as a chain of generic payload headers (each
/// next-payload field = the following payload's type, the last 0);
/// returns the type of the first (0 if empty) and the bytes. The critical
/// bit is set only on `Unknown` payloads that carry it. Payloads must stay
/// below 64 KiB (the length field is two bytes).
pub fn encode_payloads(payloads: &[Payload]) -> (u8, Vec<u8>) {
    let mut out = Vec::new();
    for (i, p) in payloads.iter().enumerate() {
        let next = payloads.get(i + 1).map_or(pt::NONE, Payload::kind);
        let critical = match p {
            Payload::Unknown { critical: true, .. } => CRITICAL,
            _ => 0,
        };
        let start = out.len();
        out.extend_from_slice(&[next, critical, 0, 0]);
        p.encode_body(&mut out);
        let len = len16(out.len() - start);
        patch_u16(&mut out, start + 2, len);
    }
    (payloads.first().map_or(pt::NONE, Payload::kind), out)
}

/// Parses a chain starting with type `first`. Unknown payload types: with
/// the critical bit set, [`WireError::UnsupportedCritical`]; else kept as
/// [`Payload::Unknown`] (CP and EAP, defined by RFC 7296 but not decoded
/// here, are always kept). SK/SKF inside a chain is an error
/// ([`WireError::Misplaced`]). Lengths below 4 or running past the end
/// are errors, as are bytes after the last payload. A nonce must be 16 to
/// 256 bytes.
pub fn decode_payloads(first: u8, bytes: &[u8]) -> Result<Vec<Payload>, WireError> {
    let mut chain = Chain::new(first, bytes);
    let mut out = Vec::new();
    while let Some(raw) = chain.next_raw()? {
        match raw.kind {
            pt::SK => return Err(WireError::Misplaced("SK payload inside a payload chain")),
            pt::SKF => return Err(WireError::Misplaced("SKF payload inside a payload chain")),
            _ => out.push(decode_one(&raw)?),
        }
    }
    Ok(out)
}

/// One payload as found in a chain, not yet decoded.
#[derive(Debug)]
pub(crate) struct Raw<'a> {
    /// The payload type.
    pub kind: u8,
    /// The critical bit.
    pub critical: bool,
    /// The next-payload field (for SK/SKF: the first inner payload).
    pub next: u8,
    /// Where the generic header starts, relative to the chain's start.
    pub offset: usize,
    /// The body after the generic header.
    pub body: &'a [u8],
}

/// A walk over a chain of generic payload headers.
pub(crate) struct Chain<'a> {
    next: u8,
    rest: &'a [u8],
    offset: usize,
}

impl<'a> Chain<'a> {
    /// A chain whose first payload has type `first`.
    pub(crate) fn new(first: u8, bytes: &'a [u8]) -> Self {
        Chain {
            next: first,
            rest: bytes,
            offset: 0,
        }
    }

    /// Whether nothing follows the payload returned last.
    pub(crate) fn at_end(&self) -> bool {
        self.rest.is_empty()
    }

    /// The next payload; `None` after the last one (when the chain's
    /// bytes must be used up: else [`WireError::Trailing`]).
    pub(crate) fn next_raw(&mut self) -> Result<Option<Raw<'a>>, WireError> {
        let kind = self.next;
        if kind == pt::NONE {
            if self.rest.is_empty() {
                return Ok(None);
            }
            return Err(WireError::Trailing {
                extra: self.rest.len(),
            });
        }
        let Some((&[next, flags, l0, l1], _)) = self.rest.split_first_chunk::<4>() else {
            return Err(WireError::Truncated {
                what: pt::what(kind),
                need: 4,
                have: self.rest.len(),
            });
        };
        let len = usize::from(be16(l0, l1));
        if len < 4 {
            return Err(WireError::BadPayload {
                kind,
                why: format!("payload type {kind}: length {len} < 4"),
            });
        }
        let Some((payload, after)) = self.rest.split_at_checked(len) else {
            return Err(WireError::Truncated {
                what: pt::what(kind),
                need: len,
                have: self.rest.len(),
            });
        };
        let raw = Raw {
            kind,
            critical: flags & CRITICAL != 0,
            next,
            offset: self.offset,
            body: payload.get(4..).unwrap_or_default(),
        };
        self.next = next;
        self.rest = after;
        self.offset += len;
        Ok(Some(raw))
    }
}

/// Decodes one payload (not SK/SKF, which the callers handle).
pub(crate) fn decode_one(raw: &Raw<'_>) -> Result<Payload, WireError> {
    let b = raw.body;
    Ok(match raw.kind {
        pt::SA => Payload::Sa(decode_sa(b)?),
        pt::KE => Payload::Ke(Ke::decode(b)?),
        pt::IDI => Payload::IdI(Identification::decode(pt::IDI, b)?),
        pt::IDR => Payload::IdR(Identification::decode(pt::IDR, b)?),
        pt::CERT => Payload::Cert(Cert::decode(pt::CERT, b)?),
        pt::CERTREQ => Payload::CertReq(Cert::decode(pt::CERTREQ, b)?),
        pt::AUTH => Payload::Auth(Auth::decode(b)?),
        pt::NONCE => {
            if !NONCE_LEN.contains(&b.len()) {
                return Err(WireError::BadPayload {
                    kind: pt::NONCE,
                    why: format!("nonce of {} bytes, must be 16 to 256", b.len()),
                });
            }
            Payload::Nonce(b.to_vec())
        }
        pt::NOTIFY => Payload::Notify(Notify::decode(b)?),
        pt::DELETE => Payload::Delete(Delete::decode(b)?),
        pt::VENDOR => Payload::Vendor(b.to_vec()),
        pt::TSI => Payload::TsI(decode_ts(pt::TSI, b)?),
        pt::TSR => Payload::TsR(decode_ts(pt::TSR, b)?),
        kind @ (pt::CP | pt::EAP) => Payload::Unknown {
            kind,
            critical: raw.critical,
            body: b.to_vec(),
        },
        kind if raw.critical => return Err(WireError::UnsupportedCritical(kind)),
        kind => Payload::Unknown {
            kind,
            critical: false,
            body: b.to_vec(),
        },
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::wire::consts::{
        auth_method, cert_encoding, dh, encr, id_type, integ, notify, prf, protocol,
        transform_type as tt,
    };
    use crate::wire::sa::Transform;

    /// One payload of every kind.
    pub(crate) fn every_payload() -> Vec<Payload> {
        vec![
            Payload::Sa(vec![Proposal {
                number: 1,
                protocol: protocol::IKE,
                spi: vec![],
                transforms: vec![
                    Transform::with_key_length(tt::ENCR, encr::AES_CBC, 256),
                    Transform::new(tt::PRF, prf::HMAC_SHA2_256),
                    Transform::new(tt::INTEG, integ::HMAC_SHA2_256_128),
                    Transform::new(tt::DH, dh::ECP_256),
                ],
            }]),
            Payload::Ke(Ke {
                group: dh::ECP_256,
                data: vec![4; 64],
            }),
            Payload::IdI(Identification {
                id_type: id_type::FQDN,
                data: b"east.example".to_vec(),
            }),
            Payload::IdR(Identification {
                id_type: id_type::IPV4_ADDR,
                data: vec![192, 0, 2, 1],
            }),
            Payload::Cert(Cert {
                encoding: cert_encoding::X509_SIGNATURE,
                data: vec![0x30, 3, 2, 1, 0],
            }),
            Payload::CertReq(Cert {
                encoding: cert_encoding::X509_SIGNATURE,
                data: vec![0x5a; 20],
            }),
            Payload::Auth(Auth {
                method: auth_method::ECDSA_SHA256_P256,
                data: vec![1; 64],
            }),
            Payload::Nonce(vec![0x42; 32]),
            Payload::Notify(Notify::new(notify::INITIAL_CONTACT, vec![])),
            Payload::Delete(Delete {
                protocol: protocol::ESP,
                spis: vec![vec![0xde, 0xad, 0xbe, 0xef]],
            }),
            Payload::Vendor(b"mtsim".to_vec()),
            Payload::TsI(vec![TrafficSelector::any_v4()]),
            Payload::TsR(vec![TrafficSelector::host("192.0.2.1".parse().unwrap())]),
            Payload::Unknown {
                kind: 99,
                critical: false,
                body: vec![1, 2, 3],
            },
            Payload::Unknown {
                kind: pt::CP,
                critical: false,
                body: vec![1, 0, 0, 0],
            },
        ]
    }

    #[test]
    fn round_trip_each_and_all() {
        let all = every_payload();
        for p in &all {
            let (first, b) = encode_payloads(std::slice::from_ref(p));
            assert_eq!(first, p.kind());
            assert_eq!(b[0], 0, "last next-payload is 0");
            assert_eq!(usize::from(be16(b[2], b[3])), b.len());
            assert_eq!(decode_payloads(first, &b), Ok(vec![p.clone()]), "{p:?}");
        }
        let (first, b) = encode_payloads(&all);
        assert_eq!(first, pt::SA);
        assert_eq!(b[0], pt::KE);
        assert_eq!(decode_payloads(first, &b), Ok(all));
    }

    #[test]
    fn empty_chain() {
        assert_eq!(encode_payloads(&[]), (0, vec![]));
        assert_eq!(decode_payloads(0, &[]), Ok(vec![]));
        assert_eq!(
            decode_payloads(0, &[1, 2]),
            Err(WireError::Trailing { extra: 2 })
        );
    }

    #[test]
    fn unknown_payloads() {
        let crit = Payload::Unknown {
            kind: 200,
            critical: true,
            body: vec![],
        };
        let (first, b) = encode_payloads(&[crit]);
        assert_eq!(b, [0, 0x80, 0, 4]);
        assert_eq!(
            decode_payloads(first, &b),
            Err(WireError::UnsupportedCritical(200))
        );
        // The critical bit is ignored on known types.
        let (first, mut b) = encode_payloads(&[Payload::Vendor(vec![1])]);
        b[1] = 0x80;
        assert_eq!(
            decode_payloads(first, &b),
            Ok(vec![Payload::Vendor(vec![1])])
        );
        // CP with the critical bit is kept (the type is RFC 7296's own).
        let (first, b) = encode_payloads(&[Payload::Unknown {
            kind: pt::EAP,
            critical: true,
            body: vec![1],
        }]);
        assert!(decode_payloads(first, &b).is_ok());
    }

    #[test]
    fn sk_inside_a_chain() {
        let b = [0, 0, 0, 4];
        assert_eq!(
            decode_payloads(pt::SK, &b),
            Err(WireError::Misplaced("SK payload inside a payload chain"))
        );
        assert_eq!(
            decode_payloads(pt::SKF, &b),
            Err(WireError::Misplaced("SKF payload inside a payload chain"))
        );
    }

    #[test]
    fn bad_lengths() {
        let (first, b) = encode_payloads(&every_payload());
        for n in 0..b.len() {
            assert!(decode_payloads(first, &b[..n]).is_err(), "prefix {n}");
        }
        let mut short = b.clone();
        short[3] = 3;
        short[2] = 0;
        assert_eq!(
            decode_payloads(first, &short),
            Err(WireError::BadPayload {
                kind: pt::SA,
                why: "payload type 33: length 3 < 4".into()
            })
        );
        let mut long = b.clone();
        long[2] = 0xff;
        assert_eq!(
            decode_payloads(first, &long),
            Err(WireError::Truncated {
                what: "SA payload",
                need: usize::from(be16(0xff, b[3])),
                have: b.len()
            })
        );
        // The chain announces one more payload than there is.
        let (first, mut one) = encode_payloads(&[Payload::Vendor(vec![])]);
        one[0] = pt::NONCE;
        assert_eq!(
            decode_payloads(first, &one),
            Err(WireError::Truncated {
                what: "Nonce payload",
                need: 4,
                have: 0
            })
        );
        // Trailing bytes after the last payload.
        let (first, mut extra) = encode_payloads(&[Payload::Vendor(vec![])]);
        extra.push(0);
        assert_eq!(
            decode_payloads(first, &extra),
            Err(WireError::Trailing { extra: 1 })
        );
    }

    #[test]
    fn nonce_lengths() {
        for (n, ok) in [(15, false), (16, true), (256, true), (257, false)] {
            let (first, b) = encode_payloads(&[Payload::Nonce(vec![0; n])]);
            assert_eq!(decode_payloads(first, &b).is_ok(), ok, "{n}");
        }
        let (first, b) = encode_payloads(&[Payload::Nonce(vec![0; 8])]);
        assert_eq!(
            decode_payloads(first, &b).unwrap_err().to_string(),
            "Nonce payload: nonce of 8 bytes, must be 16 to 256"
        );
    }
}
