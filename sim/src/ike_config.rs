//! `[edit security ike]`, checked at commit, in two forms:
//!
//! * The ES PIC form: `proposal NAME { … }` and `policy PEER-ADDRESS {
//!   proposals [ … ]; local-certificate FILE; local-key-pair FILE; encoding;
//!   identity; … }`. A peer at a configured address is authenticated by the
//!   IKE authenticator against its certificate's iPAddress (or the
//!   configured `identity`) — see [`policy_for`].
//! * The IKEv2 form: `policy NAME { proposals [ … ] | proposal-set SET;
//!   certificate { local-certificate CERT-ID; } }` and `gateway NAME {
//!   ike-policy NAME; address A; local-identity …; remote-identity …;
//!   dead-peer-detection { … }; version v2-only; … }`, read by the IKE
//!   daemon as [`GatewayCfg`] through [`gateways`].
//!
//! A policy whose key parses as an IP address is an ES PIC policy; any
//! other key names an IKEv2 policy. The `[edit security ipsec]` side is in
//! [`crate::vpn_config`]. kmd serves each ES PIC policy with a local
//! certificate and key pair as a gateway of its own ([`es_pic_policies`],
//! [`EsPicPeer`]; made into a VPN by `crate::iked`'s gateway module,
//! which reads the certificate to learn the local address).
//!
//! Proposal sets (Junos's real sets hold DES and 3DES, which are not
//! implemented here; these are their AES counterparts), every proposal
//! with a lifetime of 28800 seconds:
//!
//! | set          | proposals (method, DH group, encryption, hash)                       |
//! |--------------|----------------------------------------------------------------------|
//! | `standard`   | rsa-signatures group14 aes-128-cbc sha1; rsa-signatures group14 aes-256-cbc sha-256 |
//! | `compatible` | rsa-signatures group14: aes-256-cbc sha-256; aes-128-cbc sha-256; aes-128-cbc sha1 |
//! | `basic`      | rsa-signatures group14 aes-128-cbc sha1                              |

use std::net::IpAddr;

use cli::config::{Config, ConfigNodeView, Schema, SchemaError, ValueType};
use ike::auth::PeerId;

const IKE: &[&str] = &["security", "ike"];

fn ike_path<'a>(rest: &[&'a str]) -> Vec<&'a str> {
    let mut p: Vec<&str> = IKE.to_vec();
    p.extend_from_slice(rest);
    p
}

/// The proposal-set names, IKE and IPsec alike.
pub(crate) const PROPOSAL_SETS: &[&str] = &["standard", "compatible", "basic"];

/// The identity kinds of `local-identity` and `remote-identity`.
const IDENTITY_KINDS: &[&str] = &[
    "hostname",
    "inet",
    "inet6",
    "user-at-hostname",
    "distinguished-name",
];

/// IKE lifetime when `lifetime-seconds` is not configured.
pub const DEFAULT_IKE_LIFETIME: u32 = 28800;
/// Dead-peer-detection interval when `dead-peer-detection` is present
/// without `interval`.
pub const DEFAULT_DPD_INTERVAL: u32 = 10;
/// Dead-peer-detection threshold when not configured.
pub const DEFAULT_DPD_THRESHOLD: u32 = 5;
/// NAT keepalive interval when not configured.
pub const DEFAULT_NAT_KEEPALIVE: u32 = 20;

/// Registers `[edit security ike]`.
pub fn register_schema(s: &mut Schema) -> Result<(), SchemaError> {
    s.container(IKE, "IKE configuration")?;
    register_proposal(s)?;
    register_policy(s)?;
    register_gateway(s)?;
    Ok(())
}

/// `proposal NAME { … }`.
fn register_proposal(s: &mut Schema) -> Result<(), SchemaError> {
    s.list(
        &ike_path(&["proposal"]),
        ValueType::Word,
        "IKE proposal name",
    )?;
    s.placeholder(&ike_path(&["proposal"]), "name")?;
    let pr = |leaf: &'static str| ike_path(&["proposal", leaf]);
    s.leaf(
        &pr("authentication-method"),
        ValueType::Enum(&[
            "rsa-signatures",
            "dsa-signatures",
            "ecdsa-signatures-256",
            "ecdsa-signatures-384",
            "pre-shared-keys",
        ]),
        "Authentication method",
    )?;
    s.leaf(
        &pr("authentication-algorithm"),
        ValueType::Enum(&["md5", "sha1", "sha-256", "sha-384"]),
        "Authentication algorithm",
    )?;
    s.leaf(
        &pr("dh-group"),
        ValueType::Enum(&["group1", "group2", "group14", "group19", "group20"]),
        "Diffie-Hellman group",
    )?;
    s.leaf(
        &pr("encryption-algorithm"),
        ValueType::Enum(&[
            "des-cbc",
            "3des-cbc",
            "aes-128-cbc",
            "aes-192-cbc",
            "aes-256-cbc",
        ]),
        "Encryption algorithm",
    )?;
    s.leaf(
        &pr("lifetime-seconds"),
        ValueType::Uint {
            min: 180,
            max: 86400,
        },
        "Lifetime, in seconds",
    )?;
    s.leaf(
        &pr("description"),
        ValueType::Text,
        "Text description of the proposal",
    )?;
    Ok(())
}

/// `policy NAME-OR-PEER-ADDRESS { … }`.
fn register_policy(s: &mut Schema) -> Result<(), SchemaError> {
    s.list(
        &ike_path(&["policy"]),
        ValueType::Word,
        "IKE policy name (ES PIC form: the peer address)",
    )?;
    s.placeholder(&ike_path(&["policy"]), "name")?;
    s.validator(&ike_path(&["policy"]), Box::new(check_policy))?;
    let po = |leaf: &'static str| ike_path(&["policy", leaf]);
    s.leaf(
        &po("mode"),
        ValueType::Enum(&["main", "aggressive"]),
        "Exchange mode",
    )?;
    s.leaf_list(&po("proposals"), ValueType::Word, "IKE proposals")?;
    s.leaf(
        &po("proposal-set"),
        ValueType::Enum(PROPOSAL_SETS),
        "Types of default IKE proposal-set",
    )?;
    s.choice(&ike_path(&["policy"]), &["proposals", "proposal-set"])?;
    s.container(&po("certificate"), "Certificate configuration")?;
    s.leaf(
        &ike_path(&["policy", "certificate", "local-certificate"]),
        ValueType::Word,
        "Local certificate identifier (certificate-id of the PKI store)",
    )?;
    s.leaf(
        &ike_path(&["policy", "certificate", "peer-certificate-type"]),
        ValueType::Enum(&["x509-signature"]),
        "Preferred type of certificate from peer",
    )?;
    s.leaf(
        &po("pre-shared-key"),
        ValueType::Text,
        "Preshared authentication key",
    )?;
    s.secret(&po("pre-shared-key"))?;
    s.leaf(
        &po("encoding"),
        ValueType::Enum(&["binary", "pem"]),
        "File encoding (default binary)",
    )?;
    s.leaf(
        &po("identity"),
        ValueType::Text,
        "Peer identity when IKE cannot learn it (fqdn:, email:, dn:, ipv4:, ipv6:)",
    )?;
    s.leaf(
        &po("local-certificate"),
        ValueType::Text,
        "Local certificate (certificate-id or file)",
    )?;
    s.leaf(
        &po("local-key-pair"),
        ValueType::Text,
        "Local key pair (key pair name)",
    )?;
    s.leaf(
        &po("description"),
        ValueType::Text,
        "Text description of the policy",
    )?;
    Ok(())
}

/// `gateway NAME { … }`.
fn register_gateway(s: &mut Schema) -> Result<(), SchemaError> {
    let gw = |rest: &[&'static str]| {
        let mut p = ike_path(&["gateway"]);
        p.extend_from_slice(rest);
        p
    };
    s.list(&gw(&[]), ValueType::Word, "Name of the IKE gateway")?;
    s.placeholder(&gw(&[]), "name")?;
    s.validator(&gw(&[]), Box::new(check_gateway))?;
    s.leaf(
        &gw(&["ike-policy"]),
        ValueType::Word,
        "Name of the IKE policy",
    )?;
    s.leaf(
        &gw(&["address"]),
        ValueType::IpAddr,
        "IPv4 or IPv6 address of the peer",
    )?;
    s.mandatory(&gw(&["address"]))?;
    s.container(&gw(&["dead-peer-detection"]), "Enable dead peer detection")?;
    s.leaf(
        &gw(&["dead-peer-detection", "interval"]),
        ValueType::Uint { min: 10, max: 60 },
        "Interval at which to send DPD messages (seconds)",
    )?;
    s.leaf(
        &gw(&["dead-peer-detection", "threshold"]),
        ValueType::Uint { min: 1, max: 5 },
        "Maximum number of DPD retransmissions",
    )?;
    s.flag(&gw(&["no-nat-traversal"]), "Disable IPsec NAT traversal")?;
    s.leaf(
        &gw(&["nat-keepalive"]),
        ValueType::Uint { min: 1, max: 300 },
        "Interval at which to send NAT keepalives (seconds)",
    )?;
    for (side, help) in [
        ("local-identity", "Set the local IKE identity"),
        ("remote-identity", "Set the remote IKE identity"),
    ] {
        s.container(&gw(&[side]), help)?;
        s.leaf(
            &gw(&[side, "hostname"]),
            ValueType::Word,
            "Use a fully-qualified domain name",
        )?;
        s.leaf(
            &gw(&[side, "inet"]),
            ValueType::IpAddr,
            "Use an IPv4 address",
        )?;
        s.leaf(
            &gw(&[side, "inet6"]),
            ValueType::IpAddr,
            "Use an IPv6 address",
        )?;
        s.leaf(
            &gw(&[side, "user-at-hostname"]),
            ValueType::Word,
            "Use an e-mail address",
        )?;
        s.leaf(
            &gw(&[side, "distinguished-name"]),
            ValueType::Text,
            "Use a distinguished name",
        )?;
        s.choice(&gw(&[side]), IDENTITY_KINDS)?;
    }
    s.leaf(
        &gw(&["external-interface"]),
        ValueType::Word,
        "External interface for IKE negotiations",
    )?;
    s.leaf(
        &gw(&["local-address"]),
        ValueType::IpAddr,
        "Local IP for IKE negotiations",
    )?;
    s.leaf(
        &gw(&["version"]),
        ValueType::Enum(&["v1-only", "v2-only"]),
        "Negotiate using either IKE v1 or IKE v2 protocol",
    )?;
    Ok(())
}

/// An ES PIC policy's key: the peer address.
fn es_pic_key(key: &str) -> bool {
    key.parse::<IpAddr>().is_ok()
}

/// Commit checks of one policy, by form (see the module documentation).
fn check_policy(p: &ConfigNodeView<'_>) -> Result<(), String> {
    let key = p.key().unwrap_or_default();
    if es_pic_key(key) {
        check_es_pic_policy(p)
    } else {
        check_named_policy(p)
    }
}

/// ES PIC form: its proposals exist, signatures need a local certificate
/// and key pair, the identity parses.
fn check_es_pic_policy(p: &ConfigNodeView<'_>) -> Result<(), String> {
    let addr = p.key().unwrap_or_default();
    let root = p.root();
    let mut signatures = p.value("proposal-set").is_some();
    for name in p.values("proposals") {
        let Some(proposal) = proposal_view(&root, name) else {
            return Err(format!("policy {addr}: proposal {name} is not configured"));
        };
        if proposal
            .value("authentication-method")
            .is_some_and(|m| m != "pre-shared-keys")
        {
            signatures = true;
        }
    }
    if signatures && (p.value("local-certificate").is_none() || p.value("local-key-pair").is_none())
    {
        return Err(format!(
            "policy {addr}: signature authentication needs local-certificate and local-key-pair"
        ));
    }
    if let Some(id) = p.value("identity") {
        PeerId::parse(id).map_err(|e| format!("policy {addr}: identity: {e}"))?;
    }
    for leaf in ["local-certificate", "local-key-pair"] {
        if let Some(f) = p.value(leaf) {
            crate::ikecert::resolve(f).map_err(|e| format!("policy {addr}: {leaf}: {e}"))?;
        }
    }
    Ok(())
}

/// IKEv2 form: proposals (or a proposal-set) that resolve to implemented
/// algorithms, the local certificate for signatures, the pre-shared key
/// for pre-shared keys.
fn check_named_policy(p: &ConfigNodeView<'_>) -> Result<(), String> {
    let name = p.key().unwrap_or_default();
    let proposals = resolve_policy_proposals(p).map_err(|e| format!("policy {name}: {e}"))?;
    if proposals.iter().any(|pr| pr.method.uses_certificate()) && policy_certificate(p).is_none() {
        return Err(format!(
            "policy {name}: signature authentication needs certificate local-certificate"
        ));
    }
    if proposals
        .iter()
        .any(|pr| pr.method == AuthMethodCfg::PreSharedKeys)
        && p.value("pre-shared-key").is_none()
    {
        return Err(format!(
            "policy {name}: pre-shared-keys authentication needs pre-shared-key"
        ));
    }
    Ok(())
}

/// Commit checks of one gateway: its policy exists (and, for an ES PIC
/// policy, resolves to implemented proposals), the identities parse,
/// the addresses agree in family, `version v2-only` is set.
fn check_gateway(g: &ConfigNodeView<'_>) -> Result<(), String> {
    let name = g.key().unwrap_or_default();
    let root = g.root();
    let Some(policy_name) = g.value("ike-policy") else {
        return Err(format!("gateway {name}: ike-policy is required"));
    };
    let Some(policy) = policy_view(&root, policy_name) else {
        return Err(format!(
            "gateway {name}: ike-policy {policy_name} is not configured"
        ));
    };
    if es_pic_key(policy_name) {
        // A named policy reports its own errors; an ES PIC one is checked
        // only here, where it is used for IKEv2.
        resolve_policy_proposals(&policy)
            .map_err(|e| format!("gateway {name}: ike-policy {policy_name}: {e}"))?;
    }
    match g.value("version") {
        Some("v2-only") => {}
        Some(v) => {
            return Err(format!(
                "gateway {name}: version {v}: IKEv1 is not implemented (set version v2-only)"
            ));
        }
        None => {
            return Err(format!(
                "gateway {name}: version v2-only is required (IKEv1 is not implemented)"
            ));
        }
    }
    for side in ["local-identity", "remote-identity"] {
        identity(g, side).map_err(|e| format!("gateway {name}: {e}"))?;
    }
    if let (Some(remote), Some(local)) = (
        g.value("address").and_then(|a| a.parse::<IpAddr>().ok()),
        g.value("local-address")
            .and_then(|a| a.parse::<IpAddr>().ok()),
    ) && remote.is_ipv4() != local.is_ipv4()
    {
        return Err(format!(
            "gateway {name}: local-address {local} and address {remote} are of different address families"
        ));
    }
    Ok(())
}

/// The `local-identity` or `remote-identity` (`side`) of a gateway, as an
/// IKE identity; `Err` names the statement.
fn identity(g: &ConfigNodeView<'_>, side: &str) -> Result<Option<PeerId>, String> {
    let Some(c) = g.child(side) else {
        return Ok(None);
    };
    let set: Vec<(&str, &str)> = IDENTITY_KINDS
        .iter()
        .filter_map(|k| c.value(k).map(|v| (*k, v)))
        .collect();
    let (kind, value) = match set.as_slice() {
        [one] => *one,
        [] => {
            return Err(format!("{side} needs one of {}", IDENTITY_KINDS.join(", ")));
        }
        many => {
            let kinds: Vec<&str> = many.iter().map(|(k, _)| *k).collect();
            return Err(format!(
                "{side}: only one identity may be set, not {}",
                kinds.join(" and ")
            ));
        }
    };
    let prefix = match kind {
        "hostname" => "fqdn",
        "inet" => "ipv4",
        "inet6" => "ipv6",
        "user-at-hostname" => "email",
        _ => "dn",
    };
    PeerId::parse(&format!("{prefix}:{value}"))
        .map(Some)
        .map_err(|e| format!("{side} {kind}: {e}"))
}

/// One committed ES PIC IKE policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EsPicPolicy {
    /// The policy's name as configured (the peer's address).
    pub name: String,
    /// The peer's address.
    pub peer: IpAddr,
    /// The configured identity, if any.
    pub identity: Option<String>,
    /// The local certificate: a file of `/var/etc/ikecert` (or an absolute
    /// path), else a certificate-id of the store (see [`crate::ikecert`]).
    pub local_certificate: Option<String>,
    /// The local key pair, resolved the same way.
    pub local_key_pair: Option<String>,
    /// A `pre-shared-key` is configured (kmd does not implement them).
    pub pre_shared_key: bool,
    /// Its proposals, each resolved on its own (in order; or its
    /// proposal-set's): `Err` names what is missing or not implemented.
    pub proposals: Vec<Result<IkeProposalCfg, String>>,
    /// The first `security ike gateway` whose `ike-policy` it is, if any
    /// (such a policy serves that gateway, not a peer of its own).
    pub used_by_gateway: Option<String>,
}

/// An ES PIC policy of the configuration.
fn es_pic_policy(p: &ConfigNodeView<'_>) -> Option<EsPicPolicy> {
    let name = p.key()?;
    let peer: IpAddr = name.parse().ok()?;
    let proposals = match p.value("proposal-set") {
        Some(set) => match ike_proposal_set(set) {
            Some(v) => v.into_iter().map(Ok).collect(),
            None => vec![Err(format!("unknown proposal-set {set}"))],
        },
        None => {
            let root = p.root();
            p.values("proposals")
                .iter()
                .map(|n| {
                    proposal_view(&root, n)
                        .ok_or_else(|| format!("proposal {n} is not configured"))
                        .and_then(|v| resolve_proposal(&v))
                })
                .collect()
        }
    };
    Some(EsPicPolicy {
        name: name.to_string(),
        peer,
        identity: p.value("identity").map(str::to_string),
        local_certificate: p.value("local-certificate").map(str::to_string),
        local_key_pair: p.value("local-key-pair").map(str::to_string),
        pre_shared_key: p.value("pre-shared-key").is_some(),
        proposals,
        used_by_gateway: p.root().get(IKE).and_then(|ike| {
            ike.entries("gateway")
                .into_iter()
                .find(|g| g.value("ike-policy") == Some(name))
                .and_then(|g| g.key().map(str::to_string))
        }),
    })
}

/// The policy for `peer` in `config`.
pub fn policy_for(config: &Config, peer: IpAddr) -> Option<EsPicPolicy> {
    es_pic_policies(config).into_iter().find(|p| p.peer == peer)
}

/// Every ES PIC policy of `config` (those keyed by a peer address), in
/// order.
pub fn es_pic_policies(config: &Config) -> Vec<EsPicPolicy> {
    config
        .get(IKE)
        .map(|ike| ike.entries("policy"))
        .unwrap_or_default()
        .iter()
        .filter_map(es_pic_policy)
        .collect()
}

/// What a gateway kmd makes of an ES PIC policy has beside a configured
/// gateway's: where its certificate and key come from, and what its peer
/// must be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EsPicPeer {
    /// `local-certificate`, as configured (read at each negotiation).
    pub local_certificate: String,
    /// `local-key-pair`, as configured (read at each negotiation).
    pub local_key_pair: String,
    /// What the peer's certificate must carry: the policy's `identity`,
    /// else the peer's address as an iPAddress.
    pub peer_identity: PeerId,
}

// ----- Typed extraction (the IKE daemon's view) -----

/// A CBC cipher of an IKE or IPsec proposal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EncrCfg {
    /// `aes-128-cbc`.
    Aes128Cbc,
    /// `aes-192-cbc`.
    Aes192Cbc,
    /// `aes-256-cbc`.
    Aes256Cbc,
}

impl EncrCfg {
    /// The configuration word (`aes-128-cbc`, …); `None` for one that is
    /// not implemented (`des-cbc`, `3des-cbc`).
    pub fn from_config(word: &str) -> Option<Self> {
        match word {
            "aes-128-cbc" => Some(Self::Aes128Cbc),
            "aes-192-cbc" => Some(Self::Aes192Cbc),
            "aes-256-cbc" => Some(Self::Aes256Cbc),
            _ => None,
        }
    }

    /// The configuration word.
    pub fn as_config(self) -> &'static str {
        match self {
            Self::Aes128Cbc => "aes-128-cbc",
            Self::Aes192Cbc => "aes-192-cbc",
            Self::Aes256Cbc => "aes-256-cbc",
        }
    }

    /// Key length in bytes (16, 24, 32).
    pub fn key_bytes(self) -> usize {
        match self {
            Self::Aes128Cbc => 16,
            Self::Aes192Cbc => 24,
            Self::Aes256Cbc => 32,
        }
    }
}

/// The hash of an IKE proposal (`authentication-algorithm`): the PRF and
/// the integrity algorithm of the IKE SA (HMAC-SHA1-96,
/// HMAC-SHA2-256-128, HMAC-SHA2-384-192).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HashCfg {
    /// `sha1`.
    Sha1,
    /// `sha-256`.
    Sha256,
    /// `sha-384`.
    Sha384,
}

impl HashCfg {
    /// The configuration word (`sha1`, `sha-256`, `sha-384`); `None` for
    /// `md5`, which is not implemented.
    pub fn from_config(word: &str) -> Option<Self> {
        match word {
            "sha1" => Some(Self::Sha1),
            "sha-256" => Some(Self::Sha256),
            "sha-384" => Some(Self::Sha384),
            _ => None,
        }
    }

    /// The configuration word.
    pub fn as_config(self) -> &'static str {
        match self {
            Self::Sha1 => "sha1",
            Self::Sha256 => "sha-256",
            Self::Sha384 => "sha-384",
        }
    }
}

/// The `authentication-method` of an IKE proposal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthMethodCfg {
    /// `rsa-signatures`.
    RsaSignatures,
    /// `ecdsa-signatures-256` (P-256, SHA-256).
    EcdsaSignatures256,
    /// `ecdsa-signatures-384` (P-384, SHA-384).
    EcdsaSignatures384,
    /// `pre-shared-keys`.
    PreSharedKeys,
    /// `dsa-signatures`.
    DsaSignatures,
}

impl AuthMethodCfg {
    /// The configuration word.
    pub fn from_config(word: &str) -> Option<Self> {
        match word {
            "rsa-signatures" => Some(Self::RsaSignatures),
            "ecdsa-signatures-256" => Some(Self::EcdsaSignatures256),
            "ecdsa-signatures-384" => Some(Self::EcdsaSignatures384),
            "pre-shared-keys" => Some(Self::PreSharedKeys),
            "dsa-signatures" => Some(Self::DsaSignatures),
            _ => None,
        }
    }

    /// The configuration word.
    pub fn as_config(self) -> &'static str {
        match self {
            Self::RsaSignatures => "rsa-signatures",
            Self::EcdsaSignatures256 => "ecdsa-signatures-256",
            Self::EcdsaSignatures384 => "ecdsa-signatures-384",
            Self::PreSharedKeys => "pre-shared-keys",
            Self::DsaSignatures => "dsa-signatures",
        }
    }

    /// Whether the method signs with the local certificate's key (all but
    /// pre-shared keys).
    pub fn uses_certificate(self) -> bool {
        self != Self::PreSharedKeys
    }
}

/// An IKE proposal resolved from the configuration (or a proposal-set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IkeProposalCfg {
    /// The proposal's name (for a proposal-set, a descriptive name such as
    /// `rsa-g14-aes128-sha1`).
    pub name: String,
    /// `encryption-algorithm`.
    pub encryption: EncrCfg,
    /// `authentication-algorithm` (PRF and integrity).
    pub authentication: HashCfg,
    /// `dh-group`: 14 (MODP 2048), 19 (ECP 256) or 20 (ECP 384).
    pub dh_group: u16,
    /// `lifetime-seconds`, default [`DEFAULT_IKE_LIFETIME`] (28800).
    pub lifetime_seconds: u32,
    /// `authentication-method`.
    pub method: AuthMethodCfg,
}

/// One gateway of the committed configuration, resolved: its IKE policy's
/// proposals and local certificate included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayCfg {
    /// The gateway's name.
    pub name: String,
    /// `address`: the peer.
    pub address: IpAddr,
    /// `local-address`.
    pub local_address: Option<IpAddr>,
    /// `local-identity` (hostname → FQDN, inet → IPv4, inet6 → IPv6,
    /// user-at-hostname → e-mail, distinguished-name → DN).
    pub local_identity: Option<PeerId>,
    /// `remote-identity`, the same kinds.
    pub remote_identity: Option<PeerId>,
    /// The IKE policy's `certificate local-certificate` (a certificate-id
    /// of the PKI store).
    pub local_certificate: Option<String>,
    /// The IKE policy's proposals, in order (or its proposal-set's).
    pub ike_proposals: Vec<IkeProposalCfg>,
    /// `dead-peer-detection interval`: `None` without
    /// `dead-peer-detection`, [`DEFAULT_DPD_INTERVAL`] (10) when it is
    /// present without an interval.
    pub dpd_interval: Option<u32>,
    /// `dead-peer-detection threshold`, default [`DEFAULT_DPD_THRESHOLD`] (5).
    pub dpd_threshold: u32,
    /// Without `no-nat-traversal`.
    pub nat_traversal: bool,
    /// `nat-keepalive`, default [`DEFAULT_NAT_KEEPALIVE`] (20).
    pub nat_keepalive: u32,
    /// Set when kmd made this gateway of an ES PIC policy (`None` for a
    /// configured `security ike gateway`).
    pub es_pic: Option<EsPicPeer>,
}

fn ike_proposal(
    name: &str,
    method: AuthMethodCfg,
    encryption: EncrCfg,
    authentication: HashCfg,
) -> IkeProposalCfg {
    IkeProposalCfg {
        name: name.to_string(),
        encryption,
        authentication,
        dh_group: 14,
        lifetime_seconds: DEFAULT_IKE_LIFETIME,
        method,
    }
}

/// The IKE proposals of proposal-set `set` (`standard`, `compatible`,
/// `basic`; see the module documentation), in order; `None` for another
/// word.
pub fn ike_proposal_set(set: &str) -> Option<Vec<IkeProposalCfg>> {
    use AuthMethodCfg::RsaSignatures as Rsa;
    let aes128_sha1 = || {
        ike_proposal(
            "rsa-g14-aes128-sha1",
            Rsa,
            EncrCfg::Aes128Cbc,
            HashCfg::Sha1,
        )
    };
    let aes256_sha256 = || {
        ike_proposal(
            "rsa-g14-aes256-sha256",
            Rsa,
            EncrCfg::Aes256Cbc,
            HashCfg::Sha256,
        )
    };
    let aes128_sha256 = || {
        ike_proposal(
            "rsa-g14-aes128-sha256",
            Rsa,
            EncrCfg::Aes128Cbc,
            HashCfg::Sha256,
        )
    };
    match set {
        "standard" => Some(vec![aes128_sha1(), aes256_sha256()]),
        "compatible" => Some(vec![aes256_sha256(), aes128_sha256(), aes128_sha1()]),
        "basic" => Some(vec![aes128_sha1()]),
        _ => None,
    }
}

/// Proposal `name` of `[security ike]`.
fn proposal_view<'a>(root: &ConfigNodeView<'a>, name: &str) -> Option<ConfigNodeView<'a>> {
    root.get(IKE)?.entry("proposal", name)
}

/// Policy `name` of `[security ike]`.
fn policy_view<'a>(root: &ConfigNodeView<'a>, name: &str) -> Option<ConfigNodeView<'a>> {
    root.get(IKE)?.entry("policy", name)
}

/// A policy's `certificate local-certificate`.
fn policy_certificate<'a>(p: &ConfigNodeView<'a>) -> Option<&'a str> {
    p.child("certificate")?.value("local-certificate")
}

/// A configured IKE proposal as IKEv2 uses it; `Err` names what is
/// missing or not implemented.
fn resolve_proposal(p: &ConfigNodeView<'_>) -> Result<IkeProposalCfg, String> {
    let name = p.key().unwrap_or_default();
    let need = |leaf: &str| {
        p.value(leaf)
            .ok_or_else(|| format!("proposal {name}: {leaf} is required"))
    };
    let unsupported = |leaf: &str, v: &str, allowed: &str| {
        format!("proposal {name}: {leaf} {v} is not implemented (use {allowed})")
    };
    let m = need("authentication-method")?;
    let method = AuthMethodCfg::from_config(m).ok_or_else(|| {
        unsupported(
            "authentication-method",
            m,
            "rsa-signatures, ecdsa-signatures-256, ecdsa-signatures-384, pre-shared-keys",
        )
    })?;
    let a = need("authentication-algorithm")?;
    let authentication = HashCfg::from_config(a)
        .ok_or_else(|| unsupported("authentication-algorithm", a, "sha1, sha-256, sha-384"))?;
    let d = need("dh-group")?;
    let dh_group = match d {
        "group14" => 14,
        "group19" => 19,
        "group20" => 20,
        _ => return Err(unsupported("dh-group", d, "group14, group19, group20")),
    };
    let e = need("encryption-algorithm")?;
    let encryption = EncrCfg::from_config(e).ok_or_else(|| {
        unsupported(
            "encryption-algorithm",
            e,
            "aes-128-cbc, aes-192-cbc, aes-256-cbc",
        )
    })?;
    let lifetime_seconds = p
        .value("lifetime-seconds")
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_IKE_LIFETIME);
    Ok(IkeProposalCfg {
        name: name.to_string(),
        encryption,
        authentication,
        dh_group,
        lifetime_seconds,
        method,
    })
}

/// A policy's proposals, resolved in order, or its proposal-set's.
fn resolve_policy_proposals(p: &ConfigNodeView<'_>) -> Result<Vec<IkeProposalCfg>, String> {
    if let Some(set) = p.value("proposal-set") {
        return ike_proposal_set(set).ok_or_else(|| format!("unknown proposal-set {set}"));
    }
    let names = p.values("proposals");
    if names.is_empty() {
        return Err("proposals or proposal-set is required".to_string());
    }
    let root = p.root();
    names
        .iter()
        .map(|n| {
            let view =
                proposal_view(&root, n).ok_or_else(|| format!("proposal {n} is not configured"))?;
            resolve_proposal(&view)
        })
        .collect()
}

/// The proposals of IKE policy `policy` (a name, or an ES PIC peer
/// address), resolved in order — its `proposals`, each to its
/// `[security ike proposal]`, or its `proposal-set`. `None` if the policy
/// is not configured or a proposal does not resolve (which commit
/// refuses for a policy a gateway uses).
pub fn ike_policy_proposals(config: &Config, policy: &str) -> Option<Vec<IkeProposalCfg>> {
    let root = config.view();
    resolve_policy_proposals(&policy_view(&root, policy)?).ok()
}

/// A gateway of the configuration, resolved.
pub(crate) fn resolve_gateway(g: &ConfigNodeView<'_>) -> Option<GatewayCfg> {
    let root = g.root();
    let policy = policy_view(&root, g.value("ike-policy")?)?;
    let dpd = g.child("dead-peer-detection");
    let num = |v: Option<&str>| v.and_then(|v| v.parse::<u32>().ok());
    Some(GatewayCfg {
        name: g.key()?.to_string(),
        address: g.value("address")?.parse().ok()?,
        local_address: g.value("local-address").and_then(|a| a.parse().ok()),
        local_identity: identity(g, "local-identity").ok()?,
        remote_identity: identity(g, "remote-identity").ok()?,
        local_certificate: policy_certificate(&policy).map(str::to_string),
        ike_proposals: resolve_policy_proposals(&policy).ok()?,
        dpd_interval: dpd
            .as_ref()
            .map(|d| num(d.value("interval")).unwrap_or(DEFAULT_DPD_INTERVAL)),
        dpd_threshold: dpd
            .as_ref()
            .and_then(|d| num(d.value("threshold")))
            .unwrap_or(DEFAULT_DPD_THRESHOLD),
        nat_traversal: !g.has("no-nat-traversal"),
        nat_keepalive: num(g.value("nat-keepalive")).unwrap_or(DEFAULT_NAT_KEEPALIVE),
        es_pic: None,
    })
}

/// Every `[security ike gateway]` of `config`, in order, resolved (one
/// that does not resolve — which commit refuses — is left out).
pub fn gateways(config: &Config) -> Vec<GatewayCfg> {
    config
        .get(IKE)
        .map(|ike| ike.entries("gateway"))
        .unwrap_or_default()
        .iter()
        .filter_map(resolve_gateway)
        .collect()
}

/// Gateway `name` of `config`, resolved.
pub fn gateway(config: &Config, name: &str) -> Option<GatewayCfg> {
    resolve_gateway(&config.get(IKE)?.entry("gateway", name)?)
}

/// Gateway `name` under `root` (for the IPsec side's commit checks and
/// extraction).
pub(crate) fn gateway_view<'a>(
    root: &ConfigNodeView<'a>,
    name: &str,
) -> Option<ConfigNodeView<'a>> {
    root.get(IKE)?.entry("gateway", name)
}
