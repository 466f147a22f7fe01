//! The small fixed-layout payloads: KE, IDi/IDr, CERT/CERTREQ, AUTH,
//! Notify and Delete (RFC 7296 3.4 to 3.11).

use super::WireError;
use super::consts::{cert_encoding, id_type, payload_type, protocol};
use super::util::{be16, fixed};

/// A Key Exchange payload (RFC 7296 3.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ke {
    /// The Diffie-Hellman group ([`dh`](super::dh)).
    pub group: u16,
    /// The public value (never empty on the wire).
    pub data: Vec<u8>,
}

/// An Identification payload, IDi or IDr (RFC 7296 3.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identification {
    /// The ID type ([`id_type`](super::id_type)).
    pub id_type: u8,
    /// The identification data (4 bytes for IPv4, 16 for IPv6, never
    /// empty).
    pub data: Vec<u8>,
}

impl Identification {
    /// The payload body after the generic header: the ID type, three
    /// reserved zero bytes and the data. This is the "RestOfIDPayload"
    /// that the AUTH computation hashes (RFC 7296 2.15).
    pub fn body(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(4 + self.data.len());
        b.extend_from_slice(&[self.id_type, 0, 0, 0]);
        b.extend_from_slice(&self.data);
        b
    }
}

/// A Certificate payload (RFC 7296 3.6), or a Certificate Request payload
/// (3.7), whose data for X.509 is a concatenation of 20-byte SHA-1 hashes
/// of trusted CAs' SubjectPublicKeyInfo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cert {
    /// The certificate encoding ([`cert_encoding`](super::cert_encoding)).
    pub encoding: u8,
    /// The certificate (DER), or the CA hashes of a request.
    pub data: Vec<u8>,
}

/// An Authentication payload (RFC 7296 3.8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Auth {
    /// The authentication method ([`auth_method`](super::auth_method)).
    pub method: u8,
    /// The signature or shared-key MIC (never empty on the wire).
    pub data: Vec<u8>,
}

/// A Notify payload (RFC 7296 3.10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notify {
    /// The protocol ID of the SA concerned, 0 when none.
    pub protocol: u8,
    /// The SPI of the SA concerned, usually empty.
    pub spi: Vec<u8>,
    /// The Notify message type ([`notify`](super::notify)).
    pub kind: u16,
    /// The notification data.
    pub data: Vec<u8>,
}

impl Notify {
    /// A notification without protocol or SPI.
    pub fn new(kind: u16, data: Vec<u8>) -> Self {
        Notify {
            protocol: 0,
            spi: Vec::new(),
            kind,
            data,
        }
    }
}

/// A Delete payload (RFC 7296 3.11).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delete {
    /// The protocol ID: IKE (no SPIs: the SA of the message is deleted),
    /// AH or ESP (4-byte SPIs).
    pub protocol: u8,
    /// The SPIs, all of the same size.
    pub spis: Vec<Vec<u8>>,
}

fn bad(kind: u8, why: impl Into<String>) -> WireError {
    WireError::BadPayload {
        kind,
        why: why.into(),
    }
}

impl Ke {
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.group.to_be_bytes());
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&self.data);
    }

    pub(crate) fn decode(b: &[u8]) -> Result<Self, WireError> {
        let (&[g0, g1, _, _], data) = fixed::<4>(b, "KE payload")?;
        if data.is_empty() {
            return Err(bad(payload_type::KE, "no key exchange data"));
        }
        Ok(Ke {
            group: be16(g0, g1),
            data: data.to_vec(),
        })
    }
}

impl Identification {
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[self.id_type, 0, 0, 0]);
        out.extend_from_slice(&self.data);
    }

    pub(crate) fn decode(kind: u8, b: &[u8]) -> Result<Self, WireError> {
        let (&[ty, _, _, _], data) = fixed::<4>(b, payload_type::what(kind))?;
        let want = match ty {
            id_type::IPV4_ADDR => Some(4),
            id_type::IPV6_ADDR => Some(16),
            _ => None,
        };
        if let Some(want) = want
            && data.len() != want
        {
            return Err(bad(
                kind,
                format!(
                    "ID type {ty} needs a {want}-byte address, have {} bytes",
                    data.len()
                ),
            ));
        }
        if data.is_empty() {
            return Err(bad(
                kind,
                format!("ID type {ty} with no identification data"),
            ));
        }
        Ok(Identification {
            id_type: ty,
            data: data.to_vec(),
        })
    }
}

impl Cert {
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.encoding);
        out.extend_from_slice(&self.data);
    }

    /// Parses a CERT (`kind` = CERT: data must not be empty) or a CERTREQ
    /// (X.509 data must be a whole number of 20-byte hashes, possibly none).
    pub(crate) fn decode(kind: u8, b: &[u8]) -> Result<Self, WireError> {
        let (&[encoding], data) = fixed::<1>(b, payload_type::what(kind))?;
        if kind == payload_type::CERT && data.is_empty() {
            return Err(bad(kind, "no certificate data"));
        }
        if kind == payload_type::CERTREQ
            && encoding == cert_encoding::X509_SIGNATURE
            && data.len() % 20 != 0
        {
            return Err(bad(
                kind,
                format!("{} bytes of CA hashes is not a multiple of 20", data.len()),
            ));
        }
        Ok(Cert {
            encoding,
            data: data.to_vec(),
        })
    }
}

impl Auth {
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[self.method, 0, 0, 0]);
        out.extend_from_slice(&self.data);
    }

    pub(crate) fn decode(b: &[u8]) -> Result<Self, WireError> {
        let (&[method, _, _, _], data) = fixed::<4>(b, "AUTH payload")?;
        if data.is_empty() {
            return Err(bad(payload_type::AUTH, "no authentication data"));
        }
        Ok(Auth {
            method,
            data: data.to_vec(),
        })
    }
}

impl Notify {
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.protocol);
        out.push(self.spi.len() as u8);
        out.extend_from_slice(&self.kind.to_be_bytes());
        out.extend_from_slice(&self.spi);
        out.extend_from_slice(&self.data);
    }

    pub(crate) fn decode(b: &[u8]) -> Result<Self, WireError> {
        let (&[protocol, spi_size, t0, t1], rest) = fixed::<4>(b, "Notify payload")?;
        let kind = be16(t0, t1);
        let Some((spi, data)) = rest.split_at_checked(usize::from(spi_size)) else {
            return Err(bad(
                payload_type::NOTIFY,
                format!(
                    "{} ({kind}): SPI size {spi_size} but only {} bytes follow",
                    super::consts::notify::name(kind),
                    rest.len()
                ),
            ));
        };
        Ok(Notify {
            protocol,
            spi: spi.to_vec(),
            kind,
            data: data.to_vec(),
        })
    }
}

impl Delete {
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.protocol);
        // The SPI size belongs to the protocol, not to the SPIs present: an
        // ESP delete without SPIs still says 4 (found by fuzzing: the
        // encoder wrote 0, which the decoder, and peers, refuse).
        let spi_size = match self.protocol {
            protocol::IKE => 0,
            protocol::AH | protocol::ESP => 4,
            _ => self.spis.first().map_or(0, |s| s.len() as u8),
        };
        out.push(spi_size);
        out.extend_from_slice(&(self.spis.len() as u16).to_be_bytes());
        for spi in &self.spis {
            out.extend_from_slice(spi);
        }
    }

    /// Parses a Delete: for IKE the SPI size and count are zero, for AH
    /// and ESP the SPIs are 4 bytes; the SPIs fill the body exactly.
    pub(crate) fn decode(b: &[u8]) -> Result<Self, WireError> {
        const K: u8 = payload_type::DELETE;
        let (&[proto, spi_size, n0, n1], rest) = fixed::<4>(b, "Delete payload")?;
        let num = usize::from(be16(n0, n1));
        let want = match proto {
            protocol::IKE => Some(0),
            protocol::AH | protocol::ESP => Some(4),
            _ => None,
        };
        if let Some(want) = want
            && spi_size != want
        {
            return Err(bad(
                K,
                format!("SPI size {spi_size} for protocol {proto}, expected {want}"),
            ));
        }
        if spi_size == 0 {
            if num != 0 {
                return Err(bad(K, format!("{num} SPIs of size 0")));
            }
            if !rest.is_empty() {
                return Err(bad(
                    K,
                    format!("{} bytes after a delete without SPIs", rest.len()),
                ));
            }
            return Ok(Delete {
                protocol: proto,
                spis: Vec::new(),
            });
        }
        let need = num * usize::from(spi_size);
        if rest.len() != need {
            return Err(bad(
                K,
                format!(
                    "{num} SPIs of {spi_size} bytes need {need} bytes, have {}",
                    rest.len()
                ),
            ));
        }
        Ok(Delete {
            protocol: proto,
            spis: rest
                .chunks_exact(usize::from(spi_size))
                .map(<[u8]>::to_vec)
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_esp_or_ah_delete_without_spis_round_trips() {
        // fuzz/artifacts/ike_message/crash-2181ea2a…: decoded, re-encoded
        // with SPI size 0, then refused.
        for proto in [protocol::AH, protocol::ESP] {
            let d = Delete {
                protocol: proto,
                spis: Vec::new(),
            };
            let mut b = Vec::new();
            d.encode(&mut b);
            assert_eq!(b, [proto, 4, 0, 0]);
            assert_eq!(Delete::decode(&b), Ok(d));
        }
    }

    use super::*;
    use crate::wire::consts::{auth_method, dh, notify};

    fn why(e: WireError) -> String {
        match e {
            WireError::BadPayload { why, .. } => why,
            other => panic!("expected a bad payload, got {other:?}"),
        }
    }

    #[test]
    fn ke() {
        let ke = Ke {
            group: dh::ECP_256,
            data: vec![7; 64],
        };
        let mut b = Vec::new();
        ke.encode(&mut b);
        assert_eq!(&b[..4], &[0, 19, 0, 0]);
        assert_eq!(Ke::decode(&b), Ok(ke));
        assert_eq!(
            why(Ke::decode(&b[..4]).unwrap_err()),
            "no key exchange data"
        );
        assert_eq!(
            Ke::decode(&b[..3]),
            Err(WireError::Truncated {
                what: "KE payload",
                need: 4,
                have: 3
            })
        );
    }

    #[test]
    fn identification() {
        let id = Identification {
            id_type: id_type::FQDN,
            data: b"vpn.example.com".to_vec(),
        };
        let mut b = Vec::new();
        id.encode(&mut b);
        assert_eq!(b, id.body());
        assert_eq!(&b[..4], &[2, 0, 0, 0]);
        assert_eq!(Identification::decode(payload_type::IDI, &b), Ok(id));
        let short = [id_type::IPV4_ADDR, 0, 0, 0, 10, 0, 0];
        assert_eq!(
            why(Identification::decode(payload_type::IDR, &short).unwrap_err()),
            "ID type 1 needs a 4-byte address, have 3 bytes"
        );
        let v6 = Identification {
            id_type: id_type::IPV6_ADDR,
            data: vec![0x20; 16],
        };
        assert_eq!(
            Identification::decode(payload_type::IDR, &v6.body()),
            Ok(v6)
        );
        assert!(Identification::decode(payload_type::IDI, &[2, 0, 0, 0]).is_err());
    }

    #[test]
    fn cert_and_certreq() {
        let cert = Cert {
            encoding: cert_encoding::X509_SIGNATURE,
            data: vec![0x30, 0x82, 1, 0],
        };
        let mut b = Vec::new();
        cert.encode(&mut b);
        assert_eq!(Cert::decode(payload_type::CERT, &b), Ok(cert));
        assert!(Cert::decode(payload_type::CERT, &[4]).is_err());
        // An empty CERTREQ (no CAs named) is fine; 21 bytes of hashes is not.
        assert_eq!(
            Cert::decode(payload_type::CERTREQ, &[4]),
            Ok(Cert {
                encoding: 4,
                data: vec![]
            })
        );
        let mut req = vec![4];
        req.extend_from_slice(&[0xaa; 40]);
        assert!(Cert::decode(payload_type::CERTREQ, &req).is_ok());
        req.push(0);
        assert_eq!(
            why(Cert::decode(payload_type::CERTREQ, &req).unwrap_err()),
            "41 bytes of CA hashes is not a multiple of 20"
        );
        assert!(Cert::decode(payload_type::CERT, &[]).is_err());
    }

    #[test]
    fn auth() {
        let a = Auth {
            method: auth_method::SHARED_KEY,
            data: vec![1; 20],
        };
        let mut b = Vec::new();
        a.encode(&mut b);
        assert_eq!(&b[..4], &[2, 0, 0, 0]);
        assert_eq!(Auth::decode(&b), Ok(a));
        assert!(Auth::decode(&b[..4]).is_err());
    }

    #[test]
    fn notify_payload() {
        let n = Notify {
            protocol: protocol::ESP,
            spi: vec![1, 2, 3, 4],
            kind: notify::REKEY_SA,
            data: vec![],
        };
        let mut b = Vec::new();
        n.encode(&mut b);
        assert_eq!(b, [3, 4, 0x40, 0x09, 1, 2, 3, 4]);
        assert_eq!(Notify::decode(&b), Ok(n));
        let plain = Notify::new(notify::COOKIE, vec![9; 8]);
        let mut b = Vec::new();
        plain.encode(&mut b);
        assert_eq!(Notify::decode(&b), Ok(plain));
        assert_eq!(
            why(Notify::decode(&[0, 8, 0x40, 0x06, 1, 2, 3]).unwrap_err()),
            "COOKIE (16390): SPI size 8 but only 3 bytes follow"
        );
    }

    #[test]
    fn delete() {
        let ike = Delete {
            protocol: protocol::IKE,
            spis: vec![],
        };
        let esp = Delete {
            protocol: protocol::ESP,
            spis: vec![vec![1, 2, 3, 4], vec![5, 6, 7, 8]],
        };
        for d in [ike, esp] {
            let mut b = Vec::new();
            d.encode(&mut b);
            assert_eq!(Delete::decode(&b), Ok(d));
        }
        assert_eq!(
            why(Delete::decode(&[1, 0, 0, 1]).unwrap_err()),
            "1 SPIs of size 0"
        );
        assert_eq!(
            why(Delete::decode(&[1, 8, 0, 0]).unwrap_err()),
            "SPI size 8 for protocol 1, expected 0"
        );
        assert_eq!(
            why(Delete::decode(&[3, 4, 0, 2, 1, 2, 3, 4]).unwrap_err()),
            "2 SPIs of 4 bytes need 8 bytes, have 4"
        );
        assert!(Delete::decode(&[3, 4]).is_err());
    }
}
