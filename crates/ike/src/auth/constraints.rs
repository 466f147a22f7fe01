//! Name constraints (RFC 5280 4.2.1.10): dNSName, iPAddress, rfc822Name
//! and directoryName subtrees, permitted and excluded. A constraint of
//! another kind is refused only when a certificate below it has a name of
//! that kind (the validator cannot tell whether it is inside).

use const_oid::db::rfc3280;
use x509_cert::Certificate;
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::ext::pkix::constraints::name::{GeneralSubtrees, NameConstraints};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::name::Name;

use super::Refusal;

/// Checks the constraints themselves: at least one subtree, every base
/// well formed (a dNSName without wildcards or a leading dot, an iPAddress
/// as address and contiguous mask), minimum 0 and no maximum.
pub(super) fn check_extension(nc: &NameConstraints) -> Result<(), String> {
    let permitted = nc.permitted_subtrees.as_deref().unwrap_or(&[]);
    let excluded = nc.excluded_subtrees.as_deref().unwrap_or(&[]);
    if permitted.is_empty() && excluded.is_empty() {
        return Err("nameConstraints with neither permitted nor excluded subtrees".into());
    }
    for s in permitted.iter().chain(excluded) {
        if s.minimum != 0 || s.maximum.is_some() {
            return Err("nameConstraints subtree with minimum or maximum".into());
        }
        match &s.base {
            GeneralName::DnsName(d) => {
                let d = d.to_string();
                if !d.is_empty() && !valid_dns(&normalize(&d), false) {
                    return Err(format!("nameConstraints dNSName '{d}' is not a domain"));
                }
            }
            GeneralName::IpAddress(o) => {
                let b = o.as_bytes();
                if (b.len() != 8 && b.len() != 32) || !contiguous(&b[b.len() / 2..]) {
                    return Err(format!(
                        "nameConstraints iPAddress {} is not an address and mask",
                        hex_of(b)
                    ));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn hex_of(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn contiguous(mask: &[u8]) -> bool {
    let mut ones = true;
    for byte in mask {
        for i in (0..8).rev() {
            let bit = byte >> i & 1 == 1;
            if bit && !ones {
                return false;
            }
            ones = bit;
        }
    }
    true
}

fn normalize(d: &str) -> String {
    d.strip_suffix('.').unwrap_or(d).to_ascii_lowercase()
}

/// A host name in preferred name syntax (underscores tolerated), with a
/// leading `*.` label when `wildcard`.
fn valid_dns(d: &str, wildcard: bool) -> bool {
    let d = match d.strip_prefix("*.") {
        Some(rest) if wildcard => rest,
        _ => d,
    };
    !d.is_empty()
        && d.len() <= 253
        && d.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        })
}

fn in_subtree(name: &str, base: &str) -> bool {
    base.is_empty()
        || name == base
        || (name.len() > base.len()
            && name.ends_with(base)
            && name.as_bytes()[name.len() - base.len() - 1] == b'.')
}

/// How a name relates to a subtree of the same kind.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Rel {
    /// Every name it stands for is inside.
    Inside,
    /// Some of the names it stands for are inside (a wildcard).
    Overlaps,
    /// None inside.
    Outside,
    /// Cannot be told: a malformed name or an unsupported kind.
    Unknown,
}

fn kind(g: &GeneralName) -> u8 {
    match g {
        GeneralName::OtherName(_) => 0,
        GeneralName::Rfc822Name(_) => 1,
        GeneralName::DnsName(_) => 2,
        GeneralName::DirectoryName(_) => 4,
        GeneralName::EdiPartyName(_) => 5,
        GeneralName::UniformResourceIdentifier(_) => 6,
        GeneralName::IpAddress(_) => 7,
        GeneralName::RegisteredId(_) => 8,
    }
}

fn dns_rel(name: &str, base: &str) -> Rel {
    let name = normalize(name);
    let base = normalize(base);
    if !valid_dns(&name, true) {
        return Rel::Unknown;
    }
    match name.strip_prefix("*.") {
        None => {
            if in_subtree(&name, &base) {
                Rel::Inside
            } else {
                Rel::Outside
            }
        }
        Some(parent) => {
            if in_subtree(parent, &base) {
                Rel::Inside
            } else if base
                .strip_suffix(parent)
                .and_then(|l| l.strip_suffix('.'))
                .is_some_and(|label| !label.is_empty() && !label.contains('.'))
            {
                Rel::Overlaps
            } else {
                Rel::Outside
            }
        }
    }
}

fn ip_rel(name: &[u8], base: &[u8]) -> Rel {
    if name.len() != 4 && name.len() != 16 {
        return Rel::Unknown;
    }
    if base.len() != name.len() * 2 {
        return Rel::Outside;
    }
    let (addr, mask) = base.split_at(name.len());
    let inside = name
        .iter()
        .zip(addr)
        .zip(mask)
        .all(|((n, a), m)| n & m == a & m);
    if inside { Rel::Inside } else { Rel::Outside }
}

fn email_rel(name: &str, base: &str) -> Rel {
    let Some((local, domain)) = name.rsplit_once('@') else {
        return Rel::Unknown;
    };
    if local.is_empty() || !valid_dns(&normalize(domain), false) {
        return Rel::Unknown;
    }
    let domain = normalize(domain);
    let inside = if let Some((blocal, bdomain)) = base.rsplit_once('@') {
        blocal == local && normalize(bdomain) == domain
    } else if let Some(suffix) = base.strip_prefix('.') {
        let suffix = normalize(suffix);
        domain.len() > suffix.len()
            && domain.ends_with(&suffix)
            && domain.as_bytes()[domain.len() - suffix.len() - 1] == b'.'
    } else {
        domain == normalize(base)
    };
    if inside { Rel::Inside } else { Rel::Outside }
}

fn dn_rel(name: &Name, base: &Name) -> Rel {
    let n: Vec<_> = name.iter_rdn().collect();
    let b: Vec<_> = base.iter_rdn().collect();
    if b.len() <= n.len() && n.iter().zip(&b).all(|(x, y)| x == y) {
        Rel::Inside
    } else {
        Rel::Outside
    }
}

fn relation(name: &GeneralName, base: &GeneralName) -> Rel {
    match (name, base) {
        (GeneralName::DnsName(n), GeneralName::DnsName(b)) => dns_rel(n.as_str(), b.as_str()),
        (GeneralName::IpAddress(n), GeneralName::IpAddress(b)) => {
            ip_rel(n.as_bytes(), b.as_bytes())
        }
        (GeneralName::Rfc822Name(n), GeneralName::Rfc822Name(b)) => {
            email_rel(n.as_str(), b.as_str())
        }
        (GeneralName::DirectoryName(n), GeneralName::DirectoryName(b)) => dn_rel(n, b),
        _ => Rel::Unknown,
    }
}

fn show(g: &GeneralName) -> String {
    match g {
        GeneralName::DnsName(d) => format!("DNS:{d}"),
        GeneralName::Rfc822Name(e) => format!("email:{e}"),
        GeneralName::IpAddress(o) => {
            let b = o.as_bytes();
            match b.len() {
                4 => {
                    let mut a = [0u8; 4];
                    a.copy_from_slice(b);
                    format!("IP:{}", std::net::Ipv4Addr::from(a))
                }
                16 => {
                    let mut a = [0u8; 16];
                    a.copy_from_slice(b);
                    format!("IP:{}", std::net::Ipv6Addr::from(a))
                }
                _ => format!("IP:{}", hex_of(b)),
            }
        }
        GeneralName::DirectoryName(n) => format!("DirName:{}", pki::name::subject_string(n)),
        GeneralName::UniformResourceIdentifier(u) => format!("URI:{u}"),
        GeneralName::OtherName(o) => format!("othername:{}", o.type_id),
        GeneralName::RegisteredId(o) => format!("RID:{o}"),
        GeneralName::EdiPartyName(_) => "EdiPartyName".into(),
    }
}

/// The names of `cert` that name constraints apply to: the subject (as a
/// directoryName, when not empty), its emailAddress attributes (as
/// rfc822Names) and the subjectAltName entries.
pub(super) fn names_of(cert: &Certificate) -> Result<Vec<GeneralName>, Refusal> {
    let tbs = cert.tbs_certificate();
    let mut out = Vec::new();
    let subject = tbs.subject();
    if !subject.is_empty() {
        out.push(GeneralName::DirectoryName(subject.clone()));
        for atv in subject.iter() {
            if atv.oid == rfc3280::EMAIL_ADDRESS {
                let v = pki::name::value_text(&atv.value);
                if let Ok(s) = der::asn1::Ia5String::new(v.as_str()) {
                    out.push(GeneralName::Rfc822Name(s));
                }
            }
        }
    }
    let san = tbs
        .get_extension::<SubjectAltName>()
        .map_err(|e| Refusal::Malformed(format!("subjectAltName: {e}")))?;
    if let Some((_, san)) = san {
        out.extend(san.0);
    }
    Ok(out)
}

fn subtrees(
    s: &Option<GeneralSubtrees>,
) -> &[x509_cert::ext::pkix::constraints::name::GeneralSubtree] {
    s.as_deref().unwrap_or(&[])
}

/// Applies one CA's `nc` to the `names` of the certificate `subject`.
pub(super) fn apply(
    nc: &NameConstraints,
    names: &[GeneralName],
    subject: &str,
) -> Result<(), Refusal> {
    let permitted = subtrees(&nc.permitted_subtrees);
    let excluded = subtrees(&nc.excluded_subtrees);
    let refuse = |g: &GeneralName| Refusal::NameConstraints {
        subject: subject.to_string(),
        name: show(g),
    };
    for name in names {
        let k = kind(name);
        let mut same_kind = permitted.iter().filter(|s| kind(&s.base) == k).peekable();
        if same_kind.peek().is_some() {
            let mut ok = false;
            for s in same_kind {
                match relation(name, &s.base) {
                    Rel::Inside => ok = true,
                    Rel::Unknown => return Err(refuse(name)),
                    Rel::Overlaps | Rel::Outside => {}
                }
            }
            if !ok {
                return Err(refuse(name));
            }
        }
        for s in excluded.iter().filter(|s| kind(&s.base) == k) {
            if relation(name, &s.base) != Rel::Outside {
                return Err(refuse(name));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn dns_relations() {
        assert!(dns_rel("foo.example.com", "example.com") == Rel::Inside);
        assert!(dns_rel("example.com", "example.com") == Rel::Inside);
        assert!(dns_rel("notexample.com", "example.com") == Rel::Outside);
        assert!(dns_rel("*.example.com", "example.com") == Rel::Inside);
        assert!(dns_rel("*.example.com", "bar.example.com") == Rel::Overlaps);
        assert!(dns_rel("*.example.com", "a.bar.example.com") == Rel::Outside);
        assert!(dns_rel(".example.com", "example.com") == Rel::Unknown);
        assert!(dns_rel("Foo.Example.COM.", "example.com") == Rel::Inside);
    }

    #[test]
    fn ip_and_mask() {
        let base = [192, 0, 2, 0, 255, 255, 255, 0];
        assert!(ip_rel(&[192, 0, 2, 7], &base) == Rel::Inside);
        assert!(ip_rel(&[192, 0, 3, 7], &base) == Rel::Outside);
        assert!(ip_rel(&[192, 0, 2, 0, 255, 255, 255, 0], &base) == Rel::Unknown);
        assert!(contiguous(&[255, 255, 240, 0]));
        assert!(!contiguous(&[255, 0, 255, 0]));
    }

    #[test]
    fn email_relations() {
        assert!(email_rel("a@x.example.com", ".example.com") == Rel::Inside);
        assert!(email_rel("a@example.com", ".example.com") == Rel::Outside);
        assert!(email_rel("a@Example.com", "example.com") == Rel::Inside);
        assert!(email_rel("a@example.com", "b@example.com") == Rel::Outside);
    }
}
