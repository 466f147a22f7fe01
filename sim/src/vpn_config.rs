//! `[edit security ipsec]`: `proposal NAME { … }`, `policy NAME { … }` and
//! `vpn NAME { bind-interface; ike { gateway; ipsec-policy; };
//! traffic-selector; establish-tunnels; df-bit; }`, checked at commit, and
//! read by the IKE daemon as [`VpnCfg`] through [`vpns`] (each with its
//! [`GatewayCfg`] from `[edit security ike]`, see [`crate::ike_config`],
//! whose typed extraction is re-exported here).
//!
//! IPsec proposal sets (Junos's real sets hold 3DES, which is not
//! implemented here; these are their AES counterparts), every proposal
//! ESP with a lifetime of 3600 seconds and no kilobyte limit. A set brings
//! no PFS: `perfect-forward-secrecy keys` alone sets it.
//!
//! | set          | proposals (encryption, integrity)                                       |
//! |--------------|-------------------------------------------------------------------------|
//! | `standard`   | aes-128-cbc hmac-sha1-96; aes-256-cbc hmac-sha1-96                      |
//! | `compatible` | aes-256-cbc hmac-sha-256-128; aes-128-cbc hmac-sha-256-128; aes-128-cbc hmac-sha1-96 |
//! | `basic`      | aes-128-cbc hmac-sha1-96                                                |

use std::net::IpAddr;

use cli::config::{Config, ConfigNodeView, Schema, SchemaError, ValueType};

pub use crate::ike_config::{
    AuthMethodCfg, EncrCfg, GatewayCfg, HashCfg, IkeProposalCfg, gateway, gateways,
    ike_policy_proposals, ike_proposal_set,
};
use crate::ike_config::{PROPOSAL_SETS, gateway_view, resolve_gateway};

const IPSEC: &[&str] = &["security", "ipsec"];

fn ipsec_path<'a>(rest: &[&'a str]) -> Vec<&'a str> {
    let mut p: Vec<&str> = IPSEC.to_vec();
    p.extend_from_slice(rest);
    p
}

/// IPsec SA lifetime when `lifetime-seconds` is not configured.
pub const DEFAULT_IPSEC_LIFETIME: u32 = 3600;

/// Registers `[edit security ipsec]`.
pub fn register_schema(s: &mut Schema) -> Result<(), SchemaError> {
    s.container(IPSEC, "IPsec configuration")?;
    register_proposal(s)?;
    register_policy(s)?;
    register_vpn(s)?;
    Ok(())
}

/// `proposal NAME { … }`.
fn register_proposal(s: &mut Schema) -> Result<(), SchemaError> {
    let pr = |rest: &[&'static str]| ipsec_path(&[&["proposal"][..], rest].concat());
    s.list(&pr(&[]), ValueType::Word, "Define an IPsec proposal")?;
    s.placeholder(&pr(&[]), "name")?;
    s.leaf(
        &pr(&["protocol"]),
        ValueType::Enum(&["esp"]),
        "Define an IPsec protocol for the proposal",
    )?;
    s.leaf(
        &pr(&["authentication-algorithm"]),
        ValueType::Enum(&["hmac-sha1-96", "hmac-sha-256-128"]),
        "Define authentication algorithm",
    )?;
    s.leaf(
        &pr(&["encryption-algorithm"]),
        ValueType::Enum(&["aes-128-cbc", "aes-192-cbc", "aes-256-cbc"]),
        "Define encryption algorithm",
    )?;
    s.leaf(
        &pr(&["lifetime-seconds"]),
        ValueType::Uint {
            min: 180,
            max: 86400,
        },
        "Lifetime, in seconds",
    )?;
    s.leaf(
        &pr(&["lifetime-kilobytes"]),
        ValueType::Uint {
            min: 64,
            max: 4_294_967_294,
        },
        "Lifetime, in kilobytes",
    )?;
    s.leaf(
        &pr(&["description"]),
        ValueType::Text,
        "Text description of IPsec proposal",
    )?;
    Ok(())
}

/// `policy NAME { … }`.
fn register_policy(s: &mut Schema) -> Result<(), SchemaError> {
    let po = |rest: &[&'static str]| ipsec_path(&[&["policy"][..], rest].concat());
    s.list(&po(&[]), ValueType::Word, "Define an IPsec policy")?;
    s.placeholder(&po(&[]), "name")?;
    s.validator(&po(&[]), Box::new(check_policy))?;
    s.leaf(
        &po(&["description"]),
        ValueType::Text,
        "Text description of IPsec policy",
    )?;
    s.container(
        &po(&["perfect-forward-secrecy"]),
        "Define perfect forward secrecy",
    )?;
    s.leaf(
        &po(&["perfect-forward-secrecy", "keys"]),
        ValueType::Enum(&["group14", "group19", "group20"]),
        "Define Diffie-Hellman group",
    )?;
    s.leaf_list(&po(&["proposals"]), ValueType::Word, "IPsec proposals")?;
    s.leaf(
        &po(&["proposal-set"]),
        ValueType::Enum(PROPOSAL_SETS),
        "Types of default IPsec proposal-set",
    )?;
    s.choice(&po(&[]), &["proposals", "proposal-set"])?;
    Ok(())
}

/// `vpn NAME { … }`.
fn register_vpn(s: &mut Schema) -> Result<(), SchemaError> {
    let vpn = |rest: &[&'static str]| ipsec_path(&[&["vpn"][..], rest].concat());
    s.list(&vpn(&[]), ValueType::Word, "Define an IPsec VPN")?;
    s.placeholder(&vpn(&[]), "name")?;
    s.validator(&vpn(&[]), Box::new(check_vpn))?;
    s.leaf(
        &vpn(&["bind-interface"]),
        ValueType::Word,
        "Bind to tunnel interface (route-based VPN)",
    )?;
    s.leaf(
        &vpn(&["df-bit"]),
        ValueType::Enum(&["clear", "set", "copy"]),
        "Specify how to handle the Don't Fragment bit",
    )?;
    s.container(&vpn(&["ike"]), "Define an IKE-keyed IPsec VPN")?;
    s.leaf(
        &vpn(&["ike", "gateway"]),
        ValueType::Word,
        "Name of remote gateway",
    )?;
    s.leaf(
        &vpn(&["ike", "ipsec-policy"]),
        ValueType::Word,
        "Name of the IPsec policy",
    )?;
    s.list(
        &vpn(&["traffic-selector"]),
        ValueType::Word,
        "Traffic selector",
    )?;
    s.placeholder(&vpn(&["traffic-selector"]), "name")?;
    for (leaf, help) in [
        ("local-ip", "IP address of local traffic-selector"),
        ("remote-ip", "IP address of remote traffic-selector"),
    ] {
        s.leaf(&vpn(&["traffic-selector", leaf]), ValueType::Prefix, help)?;
        s.mandatory(&vpn(&["traffic-selector", leaf]))?;
    }
    s.leaf(
        &vpn(&["establish-tunnels"]),
        ValueType::Enum(&["immediately", "on-traffic"]),
        "Define the criteria to establish tunnels",
    )?;
    Ok(())
}

/// Commit checks of one IPsec policy: its proposals (or proposal-set)
/// resolve.
fn check_policy(p: &ConfigNodeView<'_>) -> Result<(), String> {
    let name = p.key().unwrap_or_default();
    resolve_policy_proposals(p)
        .map(drop)
        .map_err(|e| format!("policy {name}: {e}"))
}

/// Commit checks of one VPN: its gateway and IPsec policy exist, its
/// traffic selector (at most one) has prefixes of one family.
fn check_vpn(v: &ConfigNodeView<'_>) -> Result<(), String> {
    let name = v.key().unwrap_or_default();
    let root = v.root();
    let ike = v.child("ike");
    let ike_value = |leaf: &str| ike.as_ref().and_then(|i| i.value(leaf));
    let Some(gw) = ike_value("gateway") else {
        return Err(format!(
            "vpn {name}: ike gateway is required (manual keying is not implemented)"
        ));
    };
    if gateway_view(&root, gw).is_none() {
        return Err(format!("vpn {name}: ike gateway {gw} is not configured"));
    }
    let Some(pol) = ike_value("ipsec-policy") else {
        return Err(format!("vpn {name}: ike ipsec-policy is required"));
    };
    if policy_view(&root, pol).is_none() {
        return Err(format!(
            "vpn {name}: ike ipsec-policy {pol} is not configured"
        ));
    }
    traffic_selector(v).map_err(|e| format!("vpn {name}: {e}"))?;
    Ok(())
}

/// An `address/length` prefix.
fn parse_prefix(s: &str) -> Option<(IpAddr, u8)> {
    let (addr, len) = s.split_once('/')?;
    let addr: IpAddr = addr.parse().ok()?;
    if len.is_empty() || !len.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let len: u8 = len.parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    (len <= max).then_some((addr, len))
}

/// Local and remote prefixes.
type Selector = ((IpAddr, u8), (IpAddr, u8));

/// A VPN's traffic selector (at most one); `Err` names what is wrong.
fn traffic_selector(v: &ConfigNodeView<'_>) -> Result<Option<Selector>, String> {
    let selectors = v.entries("traffic-selector");
    let ts = match selectors.as_slice() {
        [] => return Ok(None),
        [one] => one,
        _ => return Err("only one traffic-selector is supported".to_string()),
    };
    let ts_name = ts.key().unwrap_or_default();
    let prefix = |leaf: &str| {
        let value = ts
            .value(leaf)
            .ok_or_else(|| format!("traffic-selector {ts_name}: {leaf} is required"))?;
        parse_prefix(value).ok_or_else(|| {
            format!("traffic-selector {ts_name}: {leaf} {value} is not a prefix (address/length)")
        })
    };
    let local = prefix("local-ip")?;
    let remote = prefix("remote-ip")?;
    if local.0.is_ipv4() != remote.0.is_ipv4() {
        return Err(format!(
            "traffic-selector {ts_name}: local-ip and remote-ip are of different address families"
        ));
    }
    Ok(Some((local, remote)))
}

// ----- Typed extraction (the IKE daemon's view) -----

/// The integrity algorithm of an IPsec proposal (`authentication-algorithm`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IntegCfg {
    /// `hmac-sha1-96`.
    HmacSha1_96,
    /// `hmac-sha-256-128`.
    HmacSha256_128,
}

impl IntegCfg {
    /// The configuration word.
    pub fn from_config(word: &str) -> Option<Self> {
        match word {
            "hmac-sha1-96" => Some(Self::HmacSha1_96),
            "hmac-sha-256-128" => Some(Self::HmacSha256_128),
            _ => None,
        }
    }

    /// The configuration word.
    pub fn as_config(self) -> &'static str {
        match self {
            Self::HmacSha1_96 => "hmac-sha1-96",
            Self::HmacSha256_128 => "hmac-sha-256-128",
        }
    }

    /// Key length in bytes (20, 32).
    pub fn key_bytes(self) -> usize {
        match self {
            Self::HmacSha1_96 => 20,
            Self::HmacSha256_128 => 32,
        }
    }

    /// Length of the truncated ICV in bytes (12, 16).
    pub fn icv_bytes(self) -> usize {
        match self {
            Self::HmacSha1_96 => 12,
            Self::HmacSha256_128 => 16,
        }
    }
}

/// An IPsec (ESP) proposal resolved from the configuration (or a
/// proposal-set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpsecProposalCfg {
    /// The proposal's name (for a proposal-set, a descriptive name such as
    /// `esp-aes128-sha1`).
    pub name: String,
    /// `encryption-algorithm`.
    pub encryption: EncrCfg,
    /// `authentication-algorithm`.
    pub integrity: IntegCfg,
    /// `lifetime-seconds`, default [`DEFAULT_IPSEC_LIFETIME`] (3600).
    pub lifetime_seconds: u32,
    /// `lifetime-kilobytes`, if configured.
    pub lifetime_kilobytes: Option<u64>,
}

/// One VPN of the committed configuration, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VpnCfg {
    /// The VPN's name.
    pub name: String,
    /// `ike gateway`, resolved.
    pub gateway: GatewayCfg,
    /// The proposals of `ike ipsec-policy`, in order (or its proposal-set's).
    pub proposals: Vec<IpsecProposalCfg>,
    /// The IPsec policy's `perfect-forward-secrecy keys` (14, 19 or 20).
    pub pfs_group: Option<u16>,
    /// `bind-interface` (e.g. `st0.0`, `es-1/0/0`).
    pub bind_interface: Option<String>,
    /// `establish-tunnels immediately` (default: on traffic).
    pub establish_immediately: bool,
    /// The traffic selector's `local-ip`.
    pub local_ts: Option<(IpAddr, u8)>,
    /// The traffic selector's `remote-ip`.
    pub remote_ts: Option<(IpAddr, u8)>,
}

fn esp(name: &str, encryption: EncrCfg, integrity: IntegCfg) -> IpsecProposalCfg {
    IpsecProposalCfg {
        name: name.to_string(),
        encryption,
        integrity,
        lifetime_seconds: DEFAULT_IPSEC_LIFETIME,
        lifetime_kilobytes: None,
    }
}

/// The IPsec proposals of proposal-set `set` (`standard`, `compatible`,
/// `basic`; see the module documentation), in order; `None` for another
/// word.
pub fn ipsec_proposal_set(set: &str) -> Option<Vec<IpsecProposalCfg>> {
    use EncrCfg::{Aes128Cbc, Aes256Cbc};
    use IntegCfg::{HmacSha1_96, HmacSha256_128};
    match set {
        "standard" => Some(vec![
            esp("esp-aes128-sha1", Aes128Cbc, HmacSha1_96),
            esp("esp-aes256-sha1", Aes256Cbc, HmacSha1_96),
        ]),
        "compatible" => Some(vec![
            esp("esp-aes256-sha256", Aes256Cbc, HmacSha256_128),
            esp("esp-aes128-sha256", Aes128Cbc, HmacSha256_128),
            esp("esp-aes128-sha1", Aes128Cbc, HmacSha1_96),
        ]),
        "basic" => Some(vec![esp("esp-aes128-sha1", Aes128Cbc, HmacSha1_96)]),
        _ => None,
    }
}

/// Policy `name` of `[security ipsec]`.
fn policy_view<'a>(root: &ConfigNodeView<'a>, name: &str) -> Option<ConfigNodeView<'a>> {
    root.get(IPSEC)?.entry("policy", name)
}

/// A configured IPsec proposal; `Err` names what is missing.
fn resolve_proposal(p: &ConfigNodeView<'_>) -> Result<IpsecProposalCfg, String> {
    let name = p.key().unwrap_or_default();
    let need = |leaf: &str| {
        p.value(leaf)
            .ok_or_else(|| format!("proposal {name}: {leaf} is required"))
    };
    let bad = |leaf: &str, v: &str| format!("proposal {name}: {leaf} {v} is not implemented");
    let e = need("encryption-algorithm")?;
    let encryption = EncrCfg::from_config(e).ok_or_else(|| bad("encryption-algorithm", e))?;
    let a = need("authentication-algorithm")?;
    let integrity = IntegCfg::from_config(a).ok_or_else(|| bad("authentication-algorithm", a))?;
    Ok(IpsecProposalCfg {
        name: name.to_string(),
        encryption,
        integrity,
        lifetime_seconds: p
            .value("lifetime-seconds")
            .and_then(|v| v.parse().ok())
            .unwrap_or(DEFAULT_IPSEC_LIFETIME),
        lifetime_kilobytes: p.value("lifetime-kilobytes").and_then(|v| v.parse().ok()),
    })
}

/// An IPsec policy's proposals, resolved in order, or its proposal-set's.
fn resolve_policy_proposals(p: &ConfigNodeView<'_>) -> Result<Vec<IpsecProposalCfg>, String> {
    if let Some(set) = p.value("proposal-set") {
        return ipsec_proposal_set(set).ok_or_else(|| format!("unknown proposal-set {set}"));
    }
    let names = p.values("proposals");
    if names.is_empty() {
        return Err("proposals or proposal-set is required".to_string());
    }
    let root = p.root();
    names
        .iter()
        .map(|n| {
            let view = root
                .get(IPSEC)
                .and_then(|i| i.entry("proposal", n))
                .ok_or_else(|| format!("proposal {n} is not configured"))?;
            resolve_proposal(&view)
        })
        .collect()
}

/// The proposals of IPsec policy `policy`, resolved in order — its
/// `proposals`, each to its `[security ipsec proposal]`, or its
/// `proposal-set`. `None` if the policy is not configured or a proposal
/// does not resolve (which commit refuses).
pub fn ipsec_policy_proposals(config: &Config, policy: &str) -> Option<Vec<IpsecProposalCfg>> {
    let root = config.view();
    resolve_policy_proposals(&policy_view(&root, policy)?).ok()
}

/// A VPN of the configuration, resolved.
fn resolve_vpn(v: &ConfigNodeView<'_>) -> Option<VpnCfg> {
    let root = v.root();
    let ike = v.child("ike")?;
    let gateway = resolve_gateway(&gateway_view(&root, ike.value("gateway")?)?)?;
    let policy = policy_view(&root, ike.value("ipsec-policy")?)?;
    let pfs_group = policy
        .child("perfect-forward-secrecy")
        .and_then(|p| p.value("keys"))
        .and_then(|k| k.strip_prefix("group"))
        .and_then(|n| n.parse().ok());
    let ts = traffic_selector(v).ok()?;
    Some(VpnCfg {
        name: v.key()?.to_string(),
        gateway,
        proposals: resolve_policy_proposals(&policy).ok()?,
        pfs_group,
        bind_interface: v.value("bind-interface").map(str::to_string),
        establish_immediately: v.value("establish-tunnels") == Some("immediately"),
        local_ts: ts.map(|(l, _)| l),
        remote_ts: ts.map(|(_, r)| r),
    })
}

/// Every `[security ipsec vpn]` of `config`, in order, resolved (one that
/// does not resolve — which commit refuses — is left out).
pub fn vpns(config: &Config) -> Vec<VpnCfg> {
    config
        .get(IPSEC)
        .map(|i| i.entries("vpn"))
        .unwrap_or_default()
        .iter()
        .filter_map(resolve_vpn)
        .collect()
}

/// VPN `name` of `config`, resolved.
pub fn vpn(config: &Config, name: &str) -> Option<VpnCfg> {
    resolve_vpn(&config.get(IPSEC)?.entry("vpn", name)?)
}
