//! From the committed `[edit security ike]` and `[edit security ipsec]`
//! configuration and the PKI store to what one IKE SA runs with, and the
//! router's check of a peer (its gateway's remote identity, then the
//! authenticator: chain, revocation, subjectAltName).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use espic_driver::{Cipher, Integrity};
use ike::auth::{Chain, PeerId, Refusal};
use ike::crypto::{DhGroup, Encr, IkeSuite, Integ, Prf};
use ike::session::{EspSuite, LocalConfig, PeerCheck, Ports, Retransmit, identification};
use ike::wire::TrafficSelector;
use sha1::{Digest, Sha1};
use x509_cert::Certificate;

use crate::router::Shared;
use crate::vpn_config::{EncrCfg, HashCfg, IntegCfg, VpnCfg};

/// Largest IKE datagram before fragmenting (strongSwan's default too).
pub const FRAGMENT_SIZE: usize = 1280;

fn encr(e: &EncrCfg) -> Encr {
    match e {
        EncrCfg::Aes128Cbc => Encr::AesCbc128,
        EncrCfg::Aes192Cbc => Encr::AesCbc192,
        EncrCfg::Aes256Cbc => Encr::AesCbc256,
    }
}

fn cipher(e: &EncrCfg) -> Cipher {
    match e {
        EncrCfg::Aes128Cbc => Cipher::Aes128Cbc,
        EncrCfg::Aes192Cbc => Cipher::Aes192Cbc,
        EncrCfg::Aes256Cbc => Cipher::Aes256Cbc,
    }
}

fn prf_integ(h: &HashCfg) -> (Prf, Integ) {
    match h {
        HashCfg::Sha1 => (Prf::HmacSha1, Integ::HmacSha1_96),
        HashCfg::Sha256 => (Prf::HmacSha256, Integ::HmacSha256_128),
        HashCfg::Sha384 => (Prf::HmacSha384, Integ::HmacSha384_192),
    }
}

fn selector(ts: Option<(IpAddr, u8)>) -> TrafficSelector {
    let Some((addr, len)) = ts else {
        return TrafficSelector::any_v4();
    };
    let (start, end) = match addr {
        IpAddr::V4(a) => {
            let bits = u32::from(a);
            let mask = if len == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(len.min(32)))
            };
            (
                IpAddr::from((bits & mask).to_be_bytes()),
                IpAddr::from((bits | !mask).to_be_bytes()),
            )
        }
        IpAddr::V6(a) => {
            let bits = u128::from(a);
            let mask = if len == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(len.min(128)))
            };
            (
                IpAddr::from((bits & mask).to_be_bytes()),
                IpAddr::from((bits | !mask).to_be_bytes()),
            )
        }
    };
    TrafficSelector {
        ip_protocol: 0,
        start_port: 0,
        end_port: 65535,
        start,
        end,
    }
}

/// Our address for a VPN: its gateway's `local-address`.
pub fn local_address(vpn: &VpnCfg, ports: Ports) -> Option<SocketAddr> {
    vpn.gateway
        .local_address
        .map(|a| SocketAddr::new(a, ports.ike))
}

/// What an IKE SA of `vpn` runs with, from the configuration and the PKI
/// store as they are now (a certificate renewed by re-enrollment is used
/// by the next negotiation).
pub fn local_config(shared: &Shared, vpn: &VpnCfg, ports: Ports) -> Result<LocalConfig, String> {
    let gw = &vpn.gateway;
    let local = gw
        .local_address
        .ok_or_else(|| format!("gateway {}: local-address is not configured", gw.name))?;
    let cert_id = gw.local_certificate.clone().ok_or_else(|| {
        format!(
            "gateway {}: its IKE policy names no local certificate",
            gw.name
        )
    })?;
    let pki = shared.pki();
    let cert = pki
        .local_certificates()
        .get(&cert_id)
        .ok_or_else(|| format!("local certificate {cert_id} is not in the store"))?;
    let key = pki
        .key_pairs()
        .get(&cert_id)
        .map(|e| e.key.clone())
        .ok_or_else(|| format!("key pair {cert_id} is not in the store"))?;
    let certreq = pki
        .ca_certificates()
        .values()
        .filter_map(|ca| {
            let spki = der::Encode::to_der(ca.tbs_certificate().subject_public_key_info()).ok()?;
            Some(<[u8; 20]>::from(Sha1::digest(&spki)))
        })
        .collect();
    let der = pki::manager::certificate_der(cert);
    drop(pki);
    let id = match &gw.local_identity {
        Some(id) => id.clone(),
        None => match local {
            IpAddr::V4(a) => PeerId::Ipv4(a),
            IpAddr::V6(a) => PeerId::Ipv6(a),
        },
    };
    let mut ike_suites = Vec::new();
    for p in &gw.ike_proposals {
        let Some(dh) = DhGroup::from_id(p.dh_group) else {
            tracing::warn!(target: "kmd", "IKE proposal {}: DH group {} is not implemented, skipped", p.name, p.dh_group);
            continue;
        };
        let (prf, integ) = prf_integ(&p.authentication);
        ike_suites.push(IkeSuite {
            encr: encr(&p.encryption),
            prf,
            integ,
            dh,
        });
    }
    if ike_suites.is_empty() {
        return Err(format!("gateway {}: no usable IKE proposal", gw.name));
    }
    let esp_suites: Vec<EspSuite> = vpn
        .proposals
        .iter()
        .map(|p| EspSuite {
            cipher: cipher(&p.encryption),
            integrity: match p.integrity {
                IntegCfg::HmacSha1_96 => Integrity::HmacSha1_96,
                IntegCfg::HmacSha256_128 => Integrity::HmacSha256_128,
            },
        })
        .collect();
    if esp_suites.is_empty() {
        return Err(format!("vpn {}: no IPsec proposal", vpn.name));
    }
    let first = vpn.proposals.first();
    Ok(LocalConfig {
        id: identification(&id)?,
        certs: vec![der],
        key: Arc::new(key),
        ike_suites,
        esp_suites,
        pfs: vpn.pfs_group.and_then(DhGroup::from_id),
        local_ts: selector(vpn.local_ts),
        remote_ts: selector(vpn.remote_ts),
        remote_id: gw
            .remote_identity
            .as_ref()
            .map(identification)
            .transpose()?,
        certreq,
        fragment_size: FRAGMENT_SIZE,
        force_encap: true,
        child_lifetime: Duration::from_secs(first.map_or(3600, |p| u64::from(p.lifetime_seconds))),
        child_lifetime_bytes: first
            .and_then(|p| p.lifetime_kilobytes)
            .map_or(0, |kb| kb * 1024),
        retransmit: Retransmit::default(),
        dpd: gw.dpd_interval.map(|s| Duration::from_secs(u64::from(s))),
        ports,
    })
}

/// The router's check of a peer of one gateway.
pub struct RouterCheck<'a> {
    /// The router.
    pub shared: &'a Shared,
    /// The gateway's name (for the verdict).
    pub gateway: String,
    /// The configured `remote-identity`, if any.
    pub remote_identity: Option<PeerId>,
    /// The accepted chain, once checked.
    pub chain: Option<Chain>,
    /// The refusal this check recorded (kmd does not record it twice).
    pub refused: Option<Refusal>,
}

impl PeerCheck for RouterCheck<'_> {
    fn check(
        &mut self,
        id: &PeerId,
        peer: &Certificate,
        untrusted: &[Certificate],
    ) -> Result<Chain, Refusal> {
        if let Some(want) = &self.remote_identity
            && want != id
        {
            let why = Refusal::IdentityMismatch {
                id: id.to_string(),
                have: format!("gateway {} expects remote-identity {want}", self.gateway),
            };
            let subject = pki::name::subject_string(peer.tbs_certificate().subject());
            crate::ike_auth::record_refusal(
                self.shared,
                &self.gateway,
                Some(id),
                Some(&subject),
                &why,
            );
            self.refused = Some(why.clone());
            return Err(why);
        }
        let chain =
            crate::ike_auth::authenticate_for(self.shared, &self.gateway, peer, untrusted, id)
                .inspect_err(|e| self.refused = Some(e.clone()))?;
        self.chain = Some(chain.clone());
        Ok(chain)
    }
}
