//! The peer's IKE identity (the ID payload, RFC 7296 §3.5) and matching it
//! against the peer's certificate.
//!
//! The rules (RFC 4945 §3.1, the IPsec PKI profile):
//!
//! * FQDN (`ID_FQDN`) matches a subjectAltName dNSName, ASCII
//!   case-insensitively, a trailing dot on either side ignored. Wildcards
//!   only when [`Policy::wildcards`] is set, and then only a whole leftmost
//!   `*.` label that stands for exactly one label, with at least two labels
//!   after it (`*.example.com` matches `vpn.example.com`, not
//!   `example.com`, `a.vpn.example.com`, nor anything under `*.com`).
//! * user@FQDN (`ID_RFC822_ADDR`) matches an rfc822Name: the local part
//!   byte for byte, the domain case-insensitively.
//! * IPv4 / IPv6 (`ID_IPV4_ADDR`, `ID_IPV6_ADDR`) match an iPAddress of the
//!   same family with the same bytes (an IPv4-mapped IPv6 address is not an
//!   IPv4 address).
//! * DN (`ID_DER_ASN1_DN`) matches the certificate's subject: equal names,
//!   or names that differ only in the case of PrintableString / UTF8String
//!   values.
//!
//! A certificate without a subjectAltName is refused for **every** kind of
//! identity, DN included: the IPsec profile (RFC 4945 §5.1.3.1) has the
//! peer's identity in the subjectAltName, and accepting a subject-only
//! certificate for a DN identity would let any certificate of the CA that
//! happens to carry a matching subject stand in for a gateway.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use der::Tag;
use der::Tagged;
use der::asn1::Any;
use pki::altname::AltNames;
use x509_cert::Certificate;
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::name::{Name, RelativeDistinguishedName};

use super::{Policy, Refusal};

/// The peer's IKE identity (RFC 7296 ID payload types).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerId {
    /// `ID_FQDN`: a host name.
    Fqdn(String),
    /// `ID_IPV4_ADDR`.
    Ipv4(Ipv4Addr),
    /// `ID_IPV6_ADDR`.
    Ipv6(Ipv6Addr),
    /// `ID_RFC822_ADDR`: `user@fqdn`.
    Email(String),
    /// `ID_DER_ASN1_DN`: a distinguished name.
    Dn(Name),
}

fn valid_fqdn(s: &str) -> bool {
    let s = s.strip_suffix('.').unwrap_or(s);
    !s.is_empty()
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
}

impl PeerId {
    /// Parses `fqdn:NAME`, `ipv4:A`, `ipv6:A`, `email:U` (user@fqdn) or
    /// `dn:DN` (a Junos subject string as `pki::name::parse_subject` reads
    /// it, first attribute typed = first RDN). The prefix is
    /// case-insensitive. [`fmt::Display`] writes the same forms back.
    pub fn parse(s: &str) -> Result<Self, String> {
        let (kind, value) = s
            .split_once(':')
            .ok_or_else(|| format!("'{s}': expected KIND:VALUE (fqdn, ipv4, ipv6, email, dn)"))?;
        let value = value.trim();
        match kind.trim().to_ascii_lowercase().as_str() {
            "fqdn" => {
                if valid_fqdn(value) {
                    Ok(PeerId::Fqdn(value.to_string()))
                } else {
                    Err(format!("'{value}' is not a fully qualified domain name"))
                }
            }
            "ipv4" => value
                .parse()
                .map(PeerId::Ipv4)
                .map_err(|_| format!("'{value}' is not an IPv4 address")),
            "ipv6" => value
                .parse()
                .map(PeerId::Ipv6)
                .map_err(|_| format!("'{value}' is not an IPv6 address")),
            "email" => match value.rsplit_once('@') {
                Some((user, domain))
                    if !user.is_empty()
                        && !user.chars().any(|c| c.is_whitespace() || c.is_control())
                        && valid_fqdn(domain) =>
                {
                    Ok(PeerId::Email(value.to_string()))
                }
                _ => Err(format!("'{value}' is not a user@fqdn address")),
            },
            "dn" => pki::name::parse_subject(value, "")
                .map(PeerId::Dn)
                .map_err(|e| format!("distinguished name '{value}': {e}")),
            other => Err(format!(
                "unknown identity kind '{other}' (fqdn, ipv4, ipv6, email, dn)"
            )),
        }
    }
}

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeerId::Fqdn(n) => write!(f, "fqdn:{n}"),
            PeerId::Ipv4(a) => write!(f, "ipv4:{a}"),
            PeerId::Ipv6(a) => write!(f, "ipv6:{a}"),
            PeerId::Email(e) => write!(f, "email:{e}"),
            PeerId::Dn(n) => write!(f, "dn:{}", pki::name::subject_string(n)),
        }
    }
}

/// Lower-cased, without a trailing dot.
fn normalise_host(s: &str) -> String {
    s.strip_suffix('.').unwrap_or(s).to_ascii_lowercase()
}

/// Does the certificate's dNSName `pattern` vouch for `host`?
fn dns_matches(pattern: &str, host: &str, wildcards: bool) -> bool {
    let pattern = normalise_host(pattern);
    let host = normalise_host(host);
    if pattern.is_empty() || host.is_empty() || host.contains('*') {
        return false;
    }
    if !pattern.contains('*') {
        return pattern == host;
    }
    if !wildcards {
        return false;
    }
    // Only `*.` followed by at least two wildcard-free labels.
    let Some(rest) = pattern.strip_prefix("*.") else {
        return false;
    };
    if rest.contains('*') || rest.split('.').count() < 2 || rest.split('.').any(str::is_empty) {
        return false;
    }
    match host.split_once('.') {
        Some((first, host_rest)) => !first.is_empty() && host_rest == rest,
        None => false,
    }
}

/// Does the certificate's rfc822Name `have` vouch for `want`?
fn email_matches(have: &str, want: &str) -> bool {
    match (have.rsplit_once('@'), want.rsplit_once('@')) {
        (Some((hu, hd)), Some((wu, wd))) => {
            !hu.is_empty() && hu == wu && normalise_host(hd) == normalise_host(wd)
        }
        _ => false,
    }
}

/// The text of a PrintableString / UTF8String value, lower-cased.
fn folded_string(value: &Any) -> Option<String> {
    match value.tag() {
        Tag::PrintableString | Tag::Utf8String => std::str::from_utf8(value.value())
            .ok()
            .map(str::to_lowercase),
        _ => None,
    }
}

fn atav_matches(a: &AttributeTypeAndValue, b: &AttributeTypeAndValue) -> bool {
    if a.oid != b.oid {
        return false;
    }
    if a.value == b.value {
        return true;
    }
    match (folded_string(&a.value), folded_string(&b.value)) {
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}

fn rdn_matches(a: &RelativeDistinguishedName, b: &RelativeDistinguishedName) -> bool {
    if a.len() != b.len() {
        return false;
    }
    // A SET: every attribute of `a` pairs with a distinct one of `b`.
    let mut used = vec![false; b.len()];
    a.iter().all(|x| {
        b.iter().enumerate().any(|(i, y)| {
            if !used[i] && atav_matches(x, y) {
                used[i] = true;
                true
            } else {
                false
            }
        })
    })
}

/// Equal names, or equal but for the case of PrintableString / UTF8String
/// values.
fn dn_matches(have: &Name, want: &Name) -> bool {
    have == want
        || (have.len() == want.len()
            && have
                .iter_rdn()
                .zip(want.iter_rdn())
                .all(|(a, b)| rdn_matches(a, b)))
}

/// `DNS:a, email:u@d, IP:1.2.3.4, URI:...` for a refusal message.
fn describe(alt: &AltNames) -> String {
    let mut parts: Vec<String> = Vec::new();
    parts.extend(alt.dns.iter().map(|d| format!("DNS:{d}")));
    parts.extend(alt.email.iter().map(|e| format!("email:{e}")));
    parts.extend(alt.ip.iter().map(|a| format!("IP:{a}")));
    parts.extend(alt.other.iter().cloned());
    parts.join(", ")
}

/// Matches `id` against `cert` (see the module documentation for the
/// rules). A certificate without a subjectAltName (or with an empty one)
/// is refused with [`Refusal::NoSubjectAltName`] for every kind of
/// identity, also for a DN, since IPsec puts the identity in the
/// subjectAltName. A mismatch is [`Refusal::IdentityMismatch`], whose
/// `have` lists what the certificate carries (`DNS:a, IP:1.2.3.4`; for a
/// DN identity the subject first, as `DN:...`). A subjectAltName that does
/// not decode is [`Refusal::Malformed`].
pub fn match_identity(cert: &Certificate, id: &PeerId, policy: &Policy) -> Result<(), Refusal> {
    let alt = AltNames::from_certificate(cert)
        .map_err(|e| Refusal::Malformed(format!("subjectAltName: {e}")))?
        .filter(|a| !a.is_empty())
        .ok_or(Refusal::NoSubjectAltName)?;
    let subject = cert.tbs_certificate().subject();
    let matched = match id {
        PeerId::Fqdn(host) => alt
            .dns
            .iter()
            .any(|d| dns_matches(d, host, policy.wildcards)),
        PeerId::Email(addr) => alt.email.iter().any(|e| email_matches(e, addr)),
        PeerId::Ipv4(a) => alt.ip.contains(&IpAddr::V4(*a)),
        PeerId::Ipv6(a) => alt.ip.contains(&IpAddr::V6(*a)),
        PeerId::Dn(want) => dn_matches(subject, want),
    };
    if matched {
        return Ok(());
    }
    let mut have = describe(&alt);
    if matches!(id, PeerId::Dn(_)) {
        let dn = format!("DN:{}", pki::name::subject_string(subject));
        have = if have.is_empty() {
            dn
        } else {
            format!("{dn}, {have}")
        };
    }
    Err(Refusal::IdentityMismatch {
        id: id.to_string(),
        have,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use std::time::Duration;

    use pki::issue::{self_signed, validity};
    use pki::key::{KeyAlgorithm, KeyPair, KeySpec};

    use super::super::RevocationMode;
    use super::*;

    fn policy(wildcards: bool) -> Policy {
        Policy {
            time: Duration::from_secs(1_700_000_000),
            max_depth: None,
            revocation: RevocationMode::Disabled,
            wildcards,
            require_digital_signature: true,
        }
    }

    fn cert(subject: &str, alt: AltNames) -> Certificate {
        let key = KeyPair::generate(KeySpec::new(KeyAlgorithm::Ecdsa, 256).unwrap()).unwrap();
        let v = validity(
            Duration::from_secs(1_600_000_000),
            Duration::from_secs(1_900_000_000),
        )
        .unwrap();
        self_signed(
            &key,
            pki::name::parse_subject(subject, "").unwrap(),
            alt,
            false,
            v,
        )
        .unwrap()
    }

    /// A certificate whose subjectAltName holds `names` as dNSNames as
    /// given (`pki::issue` refuses wildcards and other odd names).
    fn dns(names: &[&str]) -> Certificate {
        use der::asn1::Ia5String;
        use pki::issue::{CertProfile, random_serial};
        use pki::key::SignatureBytes;
        use x509_cert::builder::{Builder, CertificateBuilder};
        use x509_cert::ext::pkix::SubjectAltName;
        use x509_cert::ext::pkix::name::GeneralName;

        let key = KeyPair::generate(KeySpec::new(KeyAlgorithm::Ecdsa, 256).unwrap()).unwrap();
        let v = validity(
            Duration::from_secs(1_600_000_000),
            Duration::from_secs(1_900_000_000),
        )
        .unwrap();
        let profile = CertProfile::end_entity(
            pki::name::parse_subject("CN=peer", "").unwrap(),
            AltNames::default(),
            KeyAlgorithm::Ecdsa,
        );
        let san = SubjectAltName(
            names
                .iter()
                .map(|n| GeneralName::DnsName(Ia5String::new(n).unwrap()))
                .collect(),
        );
        let mut builder =
            CertificateBuilder::new(profile, random_serial(), v, key.public_key_info().unwrap())
                .unwrap();
        builder.add_extension(&san).unwrap();
        let signer = key.signer(key.default_hash()).unwrap();
        builder.build::<_, SignatureBytes>(&signer).unwrap()
    }

    fn id(s: &str) -> PeerId {
        PeerId::parse(s).unwrap()
    }

    fn mismatch(r: Result<(), Refusal>) -> (String, String) {
        match r {
            Err(Refusal::IdentityMismatch { id, have }) => (id, have),
            other => panic!("expected a mismatch, got {other:?}"),
        }
    }

    #[test]
    fn parse_and_display_round_trip() {
        for s in [
            "fqdn:vpn.example.net",
            "ipv4:192.0.2.1",
            "ipv6:2001:db8::1",
            "email:ops@example.net",
            "dn:CN=peer, O=example, C=us",
        ] {
            assert_eq!(id(s).to_string(), s);
        }
        assert_eq!(id("FQDN:a.b"), PeerId::Fqdn("a.b".into()));
        for bad in [
            "vpn.example.net",
            "fqdn:",
            "fqdn:bad name",
            "ipv4:2001:db8::1",
            "ipv6:192.0.2.1",
            "email:nobody",
            "email:@example.net",
            "dn:",
            "x400:whatever",
        ] {
            assert!(PeerId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn fqdn_case_and_trailing_dot() {
        let c = dns(&["VPN.Example.NET"]);
        let p = policy(false);
        assert!(match_identity(&c, &id("fqdn:vpn.example.net"), &p).is_ok());
        assert!(match_identity(&c, &id("fqdn:vpn.example.net."), &p).is_ok());
        let c = dns(&["vpn.example.net."]);
        assert!(match_identity(&c, &id("fqdn:VPN.EXAMPLE.NET"), &p).is_ok());
        let (i, have) = mismatch(match_identity(&c, &id("fqdn:vpn2.example.net"), &p));
        assert_eq!(i, "fqdn:vpn2.example.net");
        assert_eq!(have, "DNS:vpn.example.net.");
    }

    #[test]
    fn fqdn_wildcards() {
        let c = dns(&["*.example.net"]);
        let off = policy(false);
        let on = policy(true);
        let vpn = id("fqdn:vpn.example.net");
        let (_, have) = mismatch(match_identity(&c, &vpn, &off));
        assert_eq!(have, "DNS:*.example.net");
        assert!(match_identity(&c, &vpn, &on).is_ok());
        assert!(match_identity(&c, &id("fqdn:VPN.Example.Net."), &on).is_ok());
        // Exactly one label.
        assert!(match_identity(&c, &id("fqdn:example.net"), &on).is_err());
        assert!(match_identity(&c, &id("fqdn:a.vpn.example.net"), &on).is_err());
        // Only a whole leftmost label, never over a bare TLD.
        for pattern in [
            "v*.example.net",
            "vpn.*.net",
            "*",
            "*.net",
            "**.example.net",
        ] {
            let c = dns(&[pattern]);
            assert!(match_identity(&c, &vpn, &on).is_err(), "{pattern}");
        }
    }

    #[test]
    fn ip_addresses() {
        let c = cert(
            "CN=peer",
            AltNames {
                dns: vec!["vpn.example.net".into()],
                ip: vec!["192.0.2.1".parse().unwrap(), "2001:db8::1".parse().unwrap()],
                ..Default::default()
            },
        );
        let p = policy(false);
        assert!(match_identity(&c, &id("ipv4:192.0.2.1"), &p).is_ok());
        assert!(match_identity(&c, &id("ipv6:2001:db8:0::1"), &p).is_ok());
        let (i, have) = mismatch(match_identity(&c, &id("ipv4:192.0.2.2"), &p));
        assert_eq!(i, "ipv4:192.0.2.2");
        assert_eq!(have, "DNS:vpn.example.net, IP:192.0.2.1, IP:2001:db8::1");
        let (i, _) = mismatch(match_identity(&c, &id("ipv6:2001:db8::2"), &p));
        assert_eq!(i, "ipv6:2001:db8::2");
        // Same family only: the v4-mapped form of 192.0.2.1 is not it.
        assert!(match_identity(&c, &id("ipv6:::ffff:192.0.2.1"), &p).is_err());
        // An address is not matched against dNSNames.
        let c = dns(&["192.0.2.1"]);
        assert!(match_identity(&c, &id("ipv4:192.0.2.1"), &p).is_err());
    }

    #[test]
    fn user_fqdn() {
        let c = cert(
            "CN=peer",
            AltNames {
                email: vec!["Ops@Example.NET".into()],
                ..Default::default()
            },
        );
        let p = policy(true);
        assert!(match_identity(&c, &id("email:Ops@example.net"), &p).is_ok());
        let (i, have) = mismatch(match_identity(&c, &id("email:ops@example.net"), &p));
        assert_eq!(i, "email:ops@example.net");
        assert_eq!(have, "email:Ops@Example.NET");
        assert!(match_identity(&c, &id("email:Ops@other.net"), &p).is_err());
        // An FQDN identity does not match the mail domain.
        assert!(match_identity(&c, &id("fqdn:example.net"), &p).is_err());
    }

    #[test]
    fn distinguished_name() {
        let c = cert(
            "CN=vpn, O=Example, C=US",
            AltNames {
                dns: vec!["vpn.example.net".into()],
                ..Default::default()
            },
        );
        let p = policy(false);
        assert!(match_identity(&c, &id("dn:CN=vpn, O=Example, C=US"), &p).is_ok());
        assert!(match_identity(&c, &id("dn:cn=VPN,o=example,c=us"), &p).is_ok());
        // Order matters.
        assert!(match_identity(&c, &id("dn:C=US, O=Example, CN=vpn"), &p).is_err());
        let (i, have) = mismatch(match_identity(&c, &id("dn:CN=other, O=Example, C=US"), &p));
        assert_eq!(i, "dn:CN=other, O=Example, C=US");
        assert_eq!(have, "DN:CN=vpn, O=Example, C=US, DNS:vpn.example.net");
        // Fewer attributes is not a match either.
        assert!(match_identity(&c, &id("dn:CN=vpn, O=Example"), &p).is_err());
    }

    #[test]
    fn no_subject_alt_name_is_refused_for_every_kind() {
        let c = cert("CN=vpn.example.net, O=Example", AltNames::default());
        let p = policy(true);
        for s in [
            "fqdn:vpn.example.net",
            "ipv4:192.0.2.1",
            "ipv6:2001:db8::1",
            "email:ops@example.net",
            "dn:CN=vpn.example.net, O=Example",
        ] {
            assert!(
                matches!(
                    match_identity(&c, &id(s), &p),
                    Err(Refusal::NoSubjectAltName)
                ),
                "{s}"
            );
        }
    }

    #[test]
    fn mismatch_messages() {
        let c = cert(
            "CN=peer",
            AltNames {
                dns: vec!["a.example.net".into()],
                email: vec!["u@example.net".into()],
                ip: vec!["192.0.2.1".parse().unwrap()],
                ..Default::default()
            },
        );
        let p = policy(false);
        let have = "DNS:a.example.net, email:u@example.net, IP:192.0.2.1";
        for s in [
            "fqdn:b.example.net",
            "ipv4:192.0.2.9",
            "ipv6:2001:db8::9",
            "email:v@example.net",
        ] {
            let (i, h) = mismatch(match_identity(&c, &id(s), &p));
            assert_eq!(i, s);
            assert_eq!(h, have);
            let text = match_identity(&c, &id(s), &p).unwrap_err().to_string();
            assert!(text.contains(s), "{text}");
        }
    }
}
