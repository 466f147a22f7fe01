//! The SA payload (RFC 7296 3.3): proposals, transforms and the key
//! length attribute.

use super::WireError;
use super::consts::{attribute, payload_type};
use super::util::{be16, len16, patch_u16};

/// One transform of a proposal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transform {
    /// The transform type ([`transform_type`](super::transform_type)).
    pub kind: u8,
    /// The transform ID ([`encr`](super::encr), [`prf`](super::prf), ...).
    pub id: u16,
    /// The Key Length attribute (type 14, TV form) in bits, if present.
    pub key_length: Option<u16>,
}

impl Transform {
    /// A transform without attributes.
    pub fn new(kind: u8, id: u16) -> Self {
        Transform {
            kind,
            id,
            key_length: None,
        }
    }

    /// A transform with a Key Length attribute of `bits`.
    pub fn with_key_length(kind: u8, id: u16, bits: u16) -> Self {
        Transform {
            kind,
            id,
            key_length: Some(bits),
        }
    }
}

/// One proposal of an SA payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposal {
    /// The proposal number (1 for the first; a responder echoes the
    /// number of the proposal it chose).
    pub number: u8,
    /// The protocol ID ([`protocol`](super::protocol)).
    pub protocol: u8,
    /// The sending entity's SPI: empty for the IKE SA in IKE_SA_INIT, 8
    /// bytes when rekeying an IKE SA, 4 bytes for ESP/AH.
    pub spi: Vec<u8>,
    /// The transforms.
    pub transforms: Vec<Transform>,
}

fn bad(why: String) -> WireError {
    WireError::BadPayload {
        kind: payload_type::SA,
        why,
    }
}

/// Appends the SA payload body (the proposals). Structures longer than
/// the one-byte and two-byte count and length fields allow (more than 255
/// transforms, 64 KiB) are the caller's mistake and come out malformed.
pub(crate) fn encode_sa(proposals: &[Proposal], out: &mut Vec<u8>) {
    for (i, p) in proposals.iter().enumerate() {
        let start = out.len();
        let last = i + 1 == proposals.len();
        out.extend_from_slice(&[if last { 0 } else { 2 }, 0, 0, 0]);
        out.push(p.number);
        out.push(p.protocol);
        out.push(p.spi.len() as u8);
        out.push(p.transforms.len() as u8);
        out.extend_from_slice(&p.spi);
        for (j, t) in p.transforms.iter().enumerate() {
            let tlast = j + 1 == p.transforms.len();
            let tlen: u16 = if t.key_length.is_some() { 12 } else { 8 };
            out.push(if tlast { 0 } else { 3 });
            out.push(0);
            out.extend_from_slice(&tlen.to_be_bytes());
            out.push(t.kind);
            out.push(0);
            out.extend_from_slice(&t.id.to_be_bytes());
            if let Some(bits) = t.key_length {
                out.extend_from_slice(&(attribute::AF | attribute::KEY_LENGTH).to_be_bytes());
                out.extend_from_slice(&bits.to_be_bytes());
            }
        }
        let len = len16(out.len() - start);
        patch_u16(out, start + 2, len);
    }
}

/// Parses an SA payload body: at least one proposal, each with at least
/// one transform, the "last" bytes consistent with the structure.
pub(crate) fn decode_sa(body: &[u8]) -> Result<Vec<Proposal>, WireError> {
    if body.is_empty() {
        return Err(bad("no proposals".into()));
    }
    let mut rest = body;
    let mut out = Vec::new();
    loop {
        let index = out.len() + 1;
        let Some((hdr, _)) = rest.split_first_chunk::<8>() else {
            return Err(bad(format!(
                "proposal {index}: {} bytes left, a proposal needs at least 8",
                rest.len()
            )));
        };
        let [last, _, l0, l1, number, protocol, spi_size, count] = *hdr;
        let len = usize::from(be16(l0, l1));
        let min = 8 + usize::from(spi_size);
        if len < min {
            return Err(bad(format!(
                "proposal {number} length {len} < {min} (8 + SPI size {spi_size})"
            )));
        }
        let Some((prop, after)) = rest.split_at_checked(len) else {
            return Err(bad(format!(
                "proposal {number} length {len} runs past the {} bytes left",
                rest.len()
            )));
        };
        let Some((spi, transforms)) = prop
            .get(8..)
            .and_then(|p| p.split_at_checked(usize::from(spi_size)))
        else {
            return Err(bad(format!("proposal {number}: SPI truncated")));
        };
        let transforms = decode_transforms(number, count, transforms)?;
        out.push(Proposal {
            number,
            protocol,
            spi: spi.to_vec(),
            transforms,
        });
        rest = after;
        match (last, rest.is_empty()) {
            (0, true) => return Ok(out),
            (2, false) => {}
            (0, false) => {
                return Err(bad(format!(
                    "proposal {number} is marked last but {} bytes follow",
                    rest.len()
                )));
            }
            (2, true) => {
                return Err(bad(format!(
                    "proposal {number} announces another proposal but the payload ends"
                )));
            }
            (other, _) => {
                return Err(bad(format!(
                    "proposal {number}: 'last' byte {other} is neither 0 nor 2"
                )));
            }
        }
    }
}

/// Parses the `count` transforms of proposal `number`, which must fill
/// `b` exactly.
fn decode_transforms(number: u8, count: u8, mut b: &[u8]) -> Result<Vec<Transform>, WireError> {
    if count == 0 {
        return Err(bad(format!("proposal {number} has no transforms")));
    }
    let mut out = Vec::with_capacity(usize::from(count));
    for i in 1..=count {
        let Some((hdr, _)) = b.split_first_chunk::<8>() else {
            return Err(bad(format!(
                "proposal {number} transform {i} of {count}: {} bytes left, a transform needs at least 8",
                b.len()
            )));
        };
        let [last, _, l0, l1, kind, _, i0, i1] = *hdr;
        let len = usize::from(be16(l0, l1));
        if len < 8 {
            return Err(bad(format!(
                "proposal {number} transform {i} length {len} < 8"
            )));
        }
        let Some((t, after)) = b.split_at_checked(len) else {
            return Err(bad(format!(
                "proposal {number} transform {i} length {len} runs past the {} bytes left in the proposal",
                b.len()
            )));
        };
        let expected = if i == count { 0 } else { 3 };
        if last != expected {
            return Err(bad(match last {
                0 => format!(
                    "proposal {number} transform {i} is marked last but the proposal announces {count} transforms"
                ),
                3 => format!(
                    "proposal {number} transform {i} announces another transform but the proposal has {count}"
                ),
                other => format!(
                    "proposal {number} transform {i}: 'last' byte {other} is neither 0 nor 3"
                ),
            }));
        }
        let key_length = decode_attributes(number, i, t.get(8..).unwrap_or_default())?;
        out.push(Transform {
            kind,
            id: be16(i0, i1),
            key_length,
        });
        b = after;
    }
    if !b.is_empty() {
        return Err(bad(format!(
            "proposal {number}: {} bytes after its {count} transforms",
            b.len()
        )));
    }
    Ok(out)
}

/// Parses the attributes of transform `i` of proposal `number`: only the
/// Key Length (TV form, at most once) is defined for IKEv2; any other
/// attribute makes the payload malformed.
fn decode_attributes(number: u8, i: u8, mut b: &[u8]) -> Result<Option<u16>, WireError> {
    let mut key_length = None;
    while !b.is_empty() {
        let Some((hdr, rest)) = b.split_first_chunk::<4>() else {
            return Err(bad(format!(
                "proposal {number} transform {i}: attribute truncated ({} bytes, at least 4 needed)",
                b.len()
            )));
        };
        let [t0, t1, v0, v1] = *hdr;
        let raw = be16(t0, t1);
        let ty = raw & !attribute::AF;
        if raw & attribute::AF == 0 {
            return Err(bad(format!(
                "proposal {number} transform {i}: attribute type {ty} in TLV form is not supported"
            )));
        }
        if ty != attribute::KEY_LENGTH {
            return Err(bad(format!(
                "proposal {number} transform {i}: unknown attribute type {ty}"
            )));
        }
        if key_length.is_some() {
            return Err(bad(format!(
                "proposal {number} transform {i}: key length attribute repeated"
            )));
        }
        key_length = Some(be16(v0, v1));
        b = rest;
    }
    Ok(key_length)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::consts::{dh, encr, esn, integ, prf, protocol, transform_type as tt};

    fn ike() -> Proposal {
        Proposal {
            number: 1,
            protocol: protocol::IKE,
            spi: vec![],
            transforms: vec![
                Transform::with_key_length(tt::ENCR, encr::AES_CBC, 128),
                Transform::new(tt::INTEG, integ::HMAC_SHA1_96),
                Transform::new(tt::PRF, prf::HMAC_SHA1),
                Transform::new(tt::DH, dh::MODP_2048),
            ],
        }
    }

    fn esp() -> Proposal {
        Proposal {
            number: 2,
            protocol: protocol::ESP,
            spi: vec![0xc0, 0xff, 0xee, 0x01],
            transforms: vec![
                Transform::with_key_length(tt::ENCR, encr::AES_GCM_16, 256),
                Transform::new(tt::ESN, esn::NO),
            ],
        }
    }

    fn enc(p: &[Proposal]) -> Vec<u8> {
        let mut b = Vec::new();
        encode_sa(p, &mut b);
        b
    }

    fn why(r: Result<Vec<Proposal>, WireError>) -> String {
        match r {
            Err(WireError::BadPayload { kind, why }) => {
                assert_eq!(kind, payload_type::SA);
                why
            }
            other => panic!("expected a bad SA payload, got {other:?}"),
        }
    }

    #[test]
    fn round_trip() {
        for ps in [vec![ike()], vec![esp()], vec![ike(), esp()]] {
            assert_eq!(decode_sa(&enc(&ps)), Ok(ps));
        }
    }

    #[test]
    fn layout() {
        let b = enc(&[ike()]);
        assert_eq!(
            b,
            [
                0, 0, 0, 44, 1, 1, 0, 4, // proposal header
                3, 0, 0, 12, 1, 0, 0, 12, 0x80, 14, 0, 128, // ENCR AES-CBC 128
                3, 0, 0, 8, 3, 0, 0, 2, // INTEG
                3, 0, 0, 8, 2, 0, 0, 2, // PRF
                0, 0, 0, 8, 4, 0, 0, 14, // DH
            ]
        );
    }

    #[test]
    fn truncation_never_panics() {
        let b = enc(&[ike(), esp()]);
        for n in 0..b.len() {
            assert!(decode_sa(&b[..n]).is_err(), "prefix {n}");
        }
    }

    #[test]
    fn bad_structures() {
        assert_eq!(why(decode_sa(&[])), "no proposals");

        let mut b = enc(&[ike()]);
        b[8 + 3] = 3; // first transform length
        assert_eq!(why(decode_sa(&b)), "proposal 1 transform 1 length 3 < 8");

        let mut b = enc(&[ike()]);
        b[3] = 200;
        assert_eq!(
            why(decode_sa(&b)),
            "proposal 1 length 200 runs past the 44 bytes left"
        );

        let mut b = enc(&[ike()]);
        b[0] = 2;
        assert_eq!(
            why(decode_sa(&b)),
            "proposal 1 announces another proposal but the payload ends"
        );

        let mut b = enc(&[ike(), esp()]);
        b[0] = 0;
        assert!(why(decode_sa(&b)).contains("is marked last but"));

        let mut b = enc(&[ike()]);
        b[7] = 5; // five transforms announced, four present
        assert!(why(decode_sa(&b)).contains("transform 4 is marked last"));

        let mut b = enc(&[ike()]);
        b[7] = 3;
        assert!(why(decode_sa(&b)).contains("announces another transform"));

        let mut b = enc(&[ike()]);
        b[7] = 0;
        assert_eq!(why(decode_sa(&b)), "proposal 1 has no transforms");

        let mut b = enc(&[ike()]);
        b[16] = 0x80;
        b[17] = 15;
        assert_eq!(
            why(decode_sa(&b)),
            "proposal 1 transform 1: unknown attribute type 15"
        );

        let mut b = enc(&[ike()]);
        b[16] = 0;
        assert_eq!(
            why(decode_sa(&b)),
            "proposal 1 transform 1: attribute type 14 in TLV form is not supported"
        );

        let mut b = enc(&[ike()]);
        b[6] = 4; // SPI size 4: the SPI eats the first transform's header
        assert!(why(decode_sa(&b)).starts_with("proposal 1 transform"));
    }

    #[test]
    fn repeated_key_length() {
        let mut b = enc(&[Proposal {
            transforms: vec![Transform::with_key_length(tt::ENCR, encr::AES_CBC, 128)],
            ..ike()
        }]);
        b.extend_from_slice(&[0x80, 14, 0, 128]);
        b[3] += 4;
        b[8 + 3] += 4;
        assert_eq!(
            why(decode_sa(&b)),
            "proposal 1 transform 1: key length attribute repeated"
        );
    }
}
