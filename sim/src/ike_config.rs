//! `[edit security ike]` in its ES PIC form: `proposal NAME { … }` and
//! `policy PEER-ADDRESS { proposals [ … ]; local-certificate FILE;
//! local-key-pair FILE; encoding; identity; … }`, checked at commit. A
//! peer at a configured address is authenticated by the IKE authenticator
//! against its certificate's iPAddress (or the configured `identity`).

use cli::config::{Config, ConfigNodeView, Schema, SchemaError, ValueType};

const IKE: &[&str] = &["security", "ike"];

fn ike_path<'a>(rest: &[&'a str]) -> Vec<&'a str> {
    let mut p: Vec<&str> = IKE.to_vec();
    p.extend_from_slice(rest);
    p
}

/// Registers `[edit security ike]`.
pub fn register_schema(s: &mut Schema) -> Result<(), SchemaError> {
    s.container(IKE, "IKE configuration")?;
    s.list(
        &ike_path(&["proposal"]),
        ValueType::Word,
        "IKE proposal name",
    )?;
    s.placeholder(&ike_path(&["proposal"]), "name")?;
    let pr = |leaf: &'static str| ike_path(&["proposal", leaf]);
    s.leaf(
        &pr("authentication-method"),
        ValueType::Enum(&["rsa-signatures", "dsa-signatures", "pre-shared-keys"]),
        "Authentication method",
    )?;
    s.leaf(
        &pr("authentication-algorithm"),
        ValueType::Enum(&["md5", "sha1", "sha-256"]),
        "Authentication algorithm",
    )?;
    s.leaf(
        &pr("dh-group"),
        ValueType::Enum(&["group1", "group2", "group14"]),
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
    s.list(
        &ike_path(&["policy"]),
        ValueType::IpAddr,
        "IKE policy (peer address)",
    )?;
    s.placeholder(&ike_path(&["policy"]), "address")?;
    s.validator(&ike_path(&["policy"]), Box::new(check_policy))?;
    let po = |leaf: &'static str| ike_path(&["policy", leaf]);
    s.leaf(
        &po("mode"),
        ValueType::Enum(&["main", "aggressive"]),
        "Exchange mode",
    )?;
    s.leaf_list(&po("proposals"), ValueType::Word, "IKE proposals")?;
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

/// Commit checks of one policy: its proposals exist, signatures need a
/// local certificate and key pair, the identity parses.
fn check_policy(p: &ConfigNodeView<'_>) -> Result<(), String> {
    let addr = p.key().unwrap_or_default();
    let root = p.root();
    let proposals = p.values("proposals");
    let mut signatures = false;
    for name in proposals {
        let found = root
            .child("security")
            .and_then(|s| s.child("ike"))
            .map(|ike| ike.entries("proposal"))
            .unwrap_or_default()
            .into_iter()
            .find(|e| e.key() == Some(name.as_str()));
        let Some(proposal) = found else {
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
        ike::auth::PeerId::parse(id).map_err(|e| format!("policy {addr}: identity: {e}"))?;
    }
    Ok(())
}

/// One committed ES PIC IKE policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EsPicPolicy {
    /// The peer's address.
    pub peer: std::net::IpAddr,
    /// The configured identity, if any.
    pub identity: Option<String>,
    /// The local certificate (a certificate-id of the store, or a file).
    pub local_certificate: Option<String>,
    /// The local key pair.
    pub local_key_pair: Option<String>,
}

/// The policy for `peer` in `config`.
pub fn policy_for(config: &Config, peer: std::net::IpAddr) -> Option<EsPicPolicy> {
    let ike = config.get(IKE)?;
    ike.entries("policy").into_iter().find_map(|p| {
        let addr: std::net::IpAddr = p.key()?.parse().ok()?;
        (addr == peer).then(|| EsPicPolicy {
            peer: addr,
            identity: p.value("identity").map(str::to_string),
            local_certificate: p.value("local-certificate").map(str::to_string),
            local_key_pair: p.value("local-key-pair").map(str::to_string),
        })
    })
}
