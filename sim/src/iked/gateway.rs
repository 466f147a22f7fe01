//! From the committed `[edit security ike]` and `[edit security ipsec]`
//! configuration and the PKI store to what one IKE SA runs with, and the
//! router's check of a peer (its gateway's remote identity, then the
//! authenticator: chain, revocation, subjectAltName).
//!
//! An ES PIC `security ike policy PEER-ADDRESS` with a local certificate
//! and key pair is served as a gateway and VPN of its own
//! ([`es_pic_vpns`]):
//!
//! | what            | from                                                       |
//! |-----------------|------------------------------------------------------------|
//! | gateway name    | the policy's name (the peer address); VPN `es-pic-<peer>`  |
//! | peer            | the policy's name                                          |
//! | local address   | the local certificate's iPAddress of the peer's family (the `alternative-subject`, "tunnel source address", it was enrolled with) |
//! | local identity  | that address (`ipv4:`/`ipv6:`), which the certificate carries |
//! | peer check      | the policy's `identity`, else the peer address, in the peer's certificate; and the ID the peer sends, too |
//! | certificate, key| `local-certificate`, `local-key-pair` (files of `/var/etc/ikecert`, else the store), read at each negotiation |
//! | IKE proposals   | `proposals` (or `proposal-set`); `pre-shared-keys` ones and ones whose method does not fit the key are left out, with a problem |
//! | IPsec           | ESP AES-128-CBC with HMAC-SHA1-96, 3600 s, no PFS: what the ES PIC ran |
//! | selectors       | any to any (the peer may narrow them; we accept its narrower ones) |
//! | start           | responds always; initiates when traffic needs it (no `establish-tunnels immediately` in that era) |

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

use crate::ike_config::{AuthMethodCfg, EsPicPeer, GatewayCfg};
use crate::router::Shared;
use crate::vpn_config::{EncrCfg, HashCfg, IntegCfg, IpsecProposalCfg, VpnCfg};

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

/// The prefix of the VPN kmd makes of an ES PIC policy (`es-pic-<peer>`).
pub const ES_PIC_VPN_PREFIX: &str = "es-pic-";

/// The card's ES PIC era default for an ES PIC policy's CHILD_SAs.
fn es_pic_esp() -> IpsecProposalCfg {
    IpsecProposalCfg {
        name: "es-pic-esp-aes128-sha1".into(),
        encryption: EncrCfg::Aes128Cbc,
        integrity: IntegCfg::HmacSha1_96,
        lifetime_seconds: crate::vpn_config::DEFAULT_IPSEC_LIFETIME,
        lifetime_kilobytes: None,
    }
}

/// Whether `method` signs with `key`.
fn method_fits(method: AuthMethodCfg, key: &pki::key::KeyPair) -> bool {
    use pki::key::KeyPair as K;
    matches!(
        (method, key),
        (AuthMethodCfg::RsaSignatures, K::Rsa(_))
            | (AuthMethodCfg::DsaSignatures, K::Dsa(_))
            | (AuthMethodCfg::EcdsaSignatures256, K::P256(_))
            | (AuthMethodCfg::EcdsaSignatures384, K::P384(_))
    )
}

/// The local certificate and key of an ES PIC policy, checked to belong
/// together.
fn es_pic_credentials(
    shared: &Shared,
    e: &EsPicPeer,
) -> Result<(Certificate, pki::key::KeyPair), String> {
    let pki = shared.pki();
    let (cert, _) = crate::ikecert::local_certificate(&pki, &e.local_certificate)?;
    let key = crate::ikecert::local_key_pair(&pki, &e.local_key_pair)?;
    if !key.matches(cert.tbs_certificate().subject_public_key_info()) {
        return Err(format!(
            "local-key-pair {} is not the key of local-certificate {}",
            e.local_key_pair, e.local_certificate
        ));
    }
    Ok((cert, key))
}

/// The address of `cert`'s subjectAltName of `peer`'s family: the tunnel
/// source address it was enrolled with (`alternative-subject`).
fn tunnel_source(cert: &Certificate, peer: IpAddr) -> Option<IpAddr> {
    pki::altname::AltNames::from_certificate(cert)
        .ok()
        .flatten()?
        .ip
        .into_iter()
        .find(|a| a.is_ipv4() == peer.is_ipv4())
}

/// The VPNs kmd makes of the ES PIC policies of `config` (see the module
/// documentation), and why the others are not served. A policy that a
/// `security ike gateway` names as its `ike-policy` is that gateway's and
/// not served on its own; `configured`: the configured VPNs, whose
/// gateways win over a policy for the same peer.
pub fn es_pic_vpns(
    shared: &Shared,
    config: &cli::config::Config,
    configured: &[VpnCfg],
) -> (Vec<VpnCfg>, Vec<String>) {
    let mut vpns = Vec::new();
    let mut problems = Vec::new();
    for policy in crate::ike_config::es_pic_policies(config) {
        if let Some(g) = &policy.used_by_gateway {
            tracing::debug!(target: "kmd", "ike policy {} is gateway {g}'s", policy.name);
            continue;
        }
        match es_pic_vpn(shared, &policy, configured, &mut problems) {
            Ok(v) => vpns.push(v),
            Err(why) => problems.push(format!(
                "ike policy {}: {why}; kmd does not serve this peer",
                policy.name
            )),
        }
    }
    (vpns, problems)
}

/// One ES PIC policy as a VPN; `notes` gets the proposals left out.
fn es_pic_vpn(
    shared: &Shared,
    policy: &crate::ike_config::EsPicPolicy,
    configured: &[VpnCfg],
    notes: &mut Vec<String>,
) -> Result<VpnCfg, String> {
    let name = &policy.name;
    let (Some(cert_name), Some(key_name)) = (&policy.local_certificate, &policy.local_key_pair)
    else {
        return Err(if policy.pre_shared_key {
            "pre-shared keys are not implemented by kmd (certificates only)".into()
        } else {
            "it needs local-certificate and local-key-pair".into()
        });
    };
    let es_pic = EsPicPeer {
        local_certificate: cert_name.clone(),
        local_key_pair: key_name.clone(),
        peer_identity: crate::ike_auth::es_pic_identity(policy)?,
    };
    let (cert, key) = es_pic_credentials(shared, &es_pic)?;
    let local = tunnel_source(&cert, policy.peer).ok_or_else(|| {
        format!(
            "local-certificate {cert_name} carries no {} address (alternative-subject, the tunnel source address)",
            if policy.peer.is_ipv4() { "IPv4" } else { "IPv6" }
        )
    })?;
    if let Some(v) = configured
        .iter()
        .find(|v| v.gateway.address == policy.peer && v.gateway.local_address == Some(local))
    {
        return Err(format!(
            "gateway {} (vpn {}) already serves peer {} from {local}",
            v.gateway.name, v.name, policy.peer
        ));
    }
    let mut ike_proposals = Vec::new();
    for p in &policy.proposals {
        match p {
            Ok(p) if p.method == AuthMethodCfg::PreSharedKeys => notes.push(format!(
                "ike policy {name}: proposal {}: authentication-method pre-shared-keys is not implemented by kmd, left out",
                p.name
            )),
            Ok(p) if !method_fits(p.method, &key) => notes.push(format!(
                "ike policy {name}: proposal {}: authentication-method {} does not fit local-key-pair {key_name} ({}), left out",
                p.name,
                p.method.as_config(),
                key.spec()
            )),
            Ok(p) => ike_proposals.push(p.clone()),
            Err(e) => notes.push(format!("ike policy {name}: {e}, left out")),
        }
    }
    if ike_proposals.is_empty() {
        return Err("no usable IKE proposal".into());
    }
    let local_identity = Some(match local {
        IpAddr::V4(a) => PeerId::Ipv4(a),
        IpAddr::V6(a) => PeerId::Ipv6(a),
    });
    Ok(VpnCfg {
        name: format!("{ES_PIC_VPN_PREFIX}{name}"),
        gateway: GatewayCfg {
            name: name.clone(),
            address: policy.peer,
            local_address: Some(local),
            local_identity,
            remote_identity: None,
            local_certificate: None,
            ike_proposals,
            dpd_interval: None,
            dpd_threshold: crate::ike_config::DEFAULT_DPD_THRESHOLD,
            nat_traversal: true,
            nat_keepalive: crate::ike_config::DEFAULT_NAT_KEEPALIVE,
            es_pic: Some(es_pic),
        },
        proposals: vec![es_pic_esp()],
        pfs_group: None,
        bind_interface: None,
        establish_immediately: false,
        local_ts: None,
        remote_ts: None,
    })
}

/// What an IKE SA of `vpn` runs with, from the configuration and the PKI
/// store as they are now (a certificate renewed by re-enrollment is used
/// by the next negotiation).
pub fn local_config(shared: &Shared, vpn: &VpnCfg, ports: Ports) -> Result<LocalConfig, String> {
    let gw = &vpn.gateway;
    let local = gw
        .local_address
        .ok_or_else(|| format!("gateway {}: local-address is not configured", gw.name))?;
    let (der, key) = match &gw.es_pic {
        Some(e) => {
            let (cert, key) = es_pic_credentials(shared, e)
                .map_err(|why| format!("ike policy {}: {why}", gw.name))?;
            (pki::manager::certificate_der(&cert), key)
        }
        None => store_credentials(shared, gw)?,
    };
    let pki = shared.pki();
    let certreq = pki
        .ca_certificates()
        .values()
        .filter_map(|ca| {
            let spki = der::Encode::to_der(ca.tbs_certificate().subject_public_key_info()).ok()?;
            Some(<[u8; 20]>::from(Sha1::digest(&spki)))
        })
        .collect();
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

/// The local certificate (DER) and key of a configured gateway: the
/// store's certificate and key pair named by its IKE policy.
fn store_credentials(
    shared: &Shared,
    gw: &GatewayCfg,
) -> Result<(Vec<u8>, pki::key::KeyPair), String> {
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
    Ok((pki::manager::certificate_der(cert), key))
}

/// The router's check of a peer of one gateway.
pub struct RouterCheck<'a> {
    /// The router.
    pub shared: &'a Shared,
    /// The gateway's name (for the verdict).
    pub gateway: String,
    /// The configured `remote-identity`, if any.
    pub remote_identity: Option<PeerId>,
    /// For the gateway of an ES PIC policy: what the peer's certificate
    /// must carry (the policy's `identity`, else the peer's address).
    pub es_pic_identity: Option<PeerId>,
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
        let verdict = match &self.es_pic_identity {
            Some(want) => crate::ike_auth::authenticate_es_pic_peer(
                self.shared,
                &self.gateway,
                want,
                Some(id),
                peer,
                untrusted,
            ),
            None => {
                crate::ike_auth::authenticate_for(self.shared, &self.gateway, peer, untrusted, id)
            }
        };
        let chain = verdict.inspect_err(|e| self.refused = Some(e.clone()))?;
        self.chain = Some(chain.clone());
        Ok(chain)
    }
}
