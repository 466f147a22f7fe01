//! The peer as IKE_AUTH presents it: its ID payload as a [`PeerId`], and
//! the check (chain, revocation, identity) the daemon supplies.

use std::net::{Ipv4Addr, Ipv6Addr};

use der::Decode;
use spki::SubjectPublicKeyInfoOwned;
use x509_cert::Certificate;
use x509_cert::name::Name;

use crate::auth::{Chain, PeerId, Refusal};
use crate::wire::{Identification, id_type};

/// Validates a peer's certificates against its identity: the daemon's
/// authenticator (trust anchors, CRLs, policy) behind one call.
pub trait PeerCheck {
    /// Checks `certs` (the end-entity certificate first, then the
    /// intermediates the peer sent) for the identity `id`. Returns the
    /// accepted chain.
    fn check(
        &mut self,
        id: &PeerId,
        peer: &Certificate,
        untrusted: &[Certificate],
    ) -> Result<Chain, Refusal>;
}

/// The identity an ID payload carries.
pub fn peer_id(id: &Identification) -> Result<PeerId, Refusal> {
    let bad = |what: &str| Refusal::Malformed(format!("ID payload: {what}"));
    match id.id_type {
        id_type::IPV4_ADDR => {
            let b: [u8; 4] = id
                .data
                .as_slice()
                .try_into()
                .map_err(|_| bad("an IPv4 address is 4 bytes"))?;
            Ok(PeerId::Ipv4(Ipv4Addr::from(b)))
        }
        id_type::IPV6_ADDR => {
            let b: [u8; 16] = id
                .data
                .as_slice()
                .try_into()
                .map_err(|_| bad("an IPv6 address is 16 bytes"))?;
            Ok(PeerId::Ipv6(Ipv6Addr::from(b)))
        }
        id_type::FQDN => {
            let s = std::str::from_utf8(&id.data).map_err(|_| bad("FQDN is not text"))?;
            Ok(PeerId::Fqdn(s.to_string()))
        }
        id_type::RFC822_ADDR => {
            let s = std::str::from_utf8(&id.data).map_err(|_| bad("RFC822 address is not text"))?;
            Ok(PeerId::Email(s.to_string()))
        }
        id_type::DER_ASN1_DN => Name::from_der(&id.data)
            .map(PeerId::Dn)
            .map_err(|e| bad(&format!("distinguished name: {e}"))),
        other => Err(bad(&format!("ID type {other} is not supported"))),
    }
}

/// The ID payload for an identity.
pub fn identification(id: &PeerId) -> Result<Identification, String> {
    Ok(match id {
        PeerId::Ipv4(a) => Identification {
            id_type: id_type::IPV4_ADDR,
            data: a.octets().to_vec(),
        },
        PeerId::Ipv6(a) => Identification {
            id_type: id_type::IPV6_ADDR,
            data: a.octets().to_vec(),
        },
        PeerId::Fqdn(s) => Identification {
            id_type: id_type::FQDN,
            data: s.as_bytes().to_vec(),
        },
        PeerId::Email(s) => Identification {
            id_type: id_type::RFC822_ADDR,
            data: s.as_bytes().to_vec(),
        },
        PeerId::Dn(n) => Identification {
            id_type: id_type::DER_ASN1_DN,
            data: der::Encode::to_der(n).map_err(|e| e.to_string())?,
        },
    })
}

/// The peer's certificates from CERT payloads: the first is the end
/// entity's.
pub fn certificates(certs: &[Vec<u8>]) -> Result<(Certificate, Vec<Certificate>), Refusal> {
    let mut parsed = certs.iter().map(|c| {
        Certificate::from_der(c).map_err(|e| Refusal::Malformed(format!("CERT payload: {e}")))
    });
    let Some(first) = parsed.next() else {
        return Err(Refusal::Malformed(
            "the peer sent no certificate (CERT payload)".into(),
        ));
    };
    let first = first?;
    let rest = parsed.collect::<Result<Vec<_>, _>>()?;
    Ok((first, rest))
}

/// The public key of a certificate.
pub fn public_key(cert: &Certificate) -> SubjectPublicKeyInfoOwned {
    cert.tbs_certificate().subject_public_key_info().clone()
}
