//! subjectAltName contents the router uses: FQDNs, e-mail addresses and
//! IP addresses (the IKE identities a certificate can vouch for).

use std::net::IpAddr;

use der::asn1::{Ia5String, OctetString};
use x509_cert::Certificate;
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::ext::pkix::name::{GeneralName, GeneralNames};

/// Why an alternative name is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AltNameError {
    /// Not a host name.
    #[error("domain-name '{0}' is not a valid fully qualified domain name")]
    BadDomain(String),
    /// Not an e-mail address.
    #[error("email '{0}' is not a valid e-mail address (user@domain, ASCII)")]
    BadEmail(String),
    /// Encoding failed.
    #[error("subjectAltName encoding: {0}")]
    Encoding(String),
}

/// The subjectAltName entries of a certificate or request.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AltNames {
    /// dNSName entries.
    pub dns: Vec<String>,
    /// rfc822Name entries.
    pub email: Vec<String>,
    /// iPAddress entries.
    pub ip: Vec<IpAddr>,
    /// Other kinds, rendered as text (URIs, directory names, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub other: Vec<String>,
}

fn valid_domain(d: &str) -> bool {
    let d = d.strip_suffix('.').unwrap_or(d);
    !d.is_empty()
        && d.len() <= 253
        && d.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
}

fn valid_email(e: &str) -> bool {
    match e.rsplit_once('@') {
        Some((user, domain)) => {
            !user.is_empty()
                && user.is_ascii()
                && !user
                    .chars()
                    .any(|c| c.is_ascii_whitespace() || c.is_ascii_control())
                && valid_domain(domain)
        }
        None => false,
    }
}

impl AltNames {
    /// No entries at all.
    pub fn is_empty(&self) -> bool {
        self.dns.is_empty() && self.email.is_empty() && self.ip.is_empty() && self.other.is_empty()
    }

    /// Checks the operator-supplied entries.
    pub fn validate(&self) -> Result<(), AltNameError> {
        if let Some(d) = self.dns.iter().find(|d| !valid_domain(d)) {
            return Err(AltNameError::BadDomain(d.clone()));
        }
        if let Some(e) = self.email.iter().find(|e| !valid_email(e)) {
            return Err(AltNameError::BadEmail(e.clone()));
        }
        Ok(())
    }

    /// The GeneralNames for a subjectAltName extension (e-mail, DNS, IP order).
    pub fn to_general_names(&self) -> Result<GeneralNames, AltNameError> {
        self.validate()?;
        let enc = |e: der::Error| AltNameError::Encoding(e.to_string());
        let mut out = Vec::new();
        for e in &self.email {
            out.push(GeneralName::Rfc822Name(
                Ia5String::new(e.as_str()).map_err(enc)?,
            ));
        }
        for d in &self.dns {
            out.push(GeneralName::DnsName(
                Ia5String::new(d.as_str()).map_err(enc)?,
            ));
        }
        for ip in &self.ip {
            let bytes = match ip {
                IpAddr::V4(a) => a.octets().to_vec(),
                IpAddr::V6(a) => a.octets().to_vec(),
            };
            out.push(GeneralName::IpAddress(
                OctetString::new(bytes).map_err(enc)?,
            ));
        }
        Ok(out)
    }

    /// The extension, or None when there is nothing to put in it.
    pub fn to_extension(&self) -> Result<Option<SubjectAltName>, AltNameError> {
        if self.dns.is_empty() && self.email.is_empty() && self.ip.is_empty() {
            return Ok(None);
        }
        Ok(Some(SubjectAltName(self.to_general_names()?)))
    }

    /// Reads GeneralNames (anything the router does not use goes to `other`).
    pub fn from_general_names(names: &[GeneralName]) -> Self {
        let mut out = AltNames::default();
        for n in names {
            match n {
                GeneralName::DnsName(s) => out.dns.push(s.to_string()),
                GeneralName::Rfc822Name(s) => out.email.push(s.to_string()),
                GeneralName::IpAddress(o) => match o.as_bytes().len() {
                    4 => {
                        let mut a = [0u8; 4];
                        a.copy_from_slice(o.as_bytes());
                        out.ip.push(IpAddr::from(a));
                    }
                    16 => {
                        let mut a = [0u8; 16];
                        a.copy_from_slice(o.as_bytes());
                        out.ip.push(IpAddr::from(a));
                    }
                    _ => out.other.push(format!("IP:{}", hex::encode(o.as_bytes()))),
                },
                GeneralName::UniformResourceIdentifier(u) => out.other.push(format!("URI:{u}")),
                GeneralName::DirectoryName(n) => out
                    .other
                    .push(format!("DirName:{}", crate::name::subject_string(n))),
                GeneralName::RegisteredId(o) => out.other.push(format!("RID:{o}")),
                GeneralName::OtherName(o) => out.other.push(format!("othername:{}", o.type_id)),
                GeneralName::EdiPartyName(_) => out.other.push("EdiPartyName".into()),
            }
        }
        out
    }

    /// The certificate's subjectAltName, or None if it has none.
    pub fn from_certificate(cert: &Certificate) -> Result<Option<Self>, der::Error> {
        Ok(cert
            .tbs_certificate()
            .get_extension::<SubjectAltName>()?
            .map(|(_, san)| Self::from_general_names(&san.0)))
    }

    /// The Junos `Alternate subject:` value:
    /// `"email", fqdn, ipv4 <addr|empty>, ipv6 <addr|empty>`.
    pub fn junos_line(&self) -> String {
        let mut parts = Vec::new();
        parts.extend(self.email.iter().map(|e| format!("\"{e}\"")));
        parts.extend(self.dns.iter().cloned());
        let v4: Vec<String> = self
            .ip
            .iter()
            .filter(|a| a.is_ipv4())
            .map(|a| a.to_string())
            .collect();
        let v6: Vec<String> = self
            .ip
            .iter()
            .filter(|a| a.is_ipv6())
            .map(|a| a.to_string())
            .collect();
        if v4.is_empty() {
            parts.push("ipv4 empty".into());
        } else {
            parts.extend(v4.into_iter().map(|a| format!("ipv4 {a}")));
        }
        if v6.is_empty() {
            parts.push("ipv6 empty".into());
        } else {
            parts.extend(v6.into_iter().map(|a| format!("ipv6 {a}")));
        }
        parts.extend(self.other.iter().cloned());
        parts.join(", ")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_line() {
        let a = AltNames {
            dns: vec!["r1.example.net".into()],
            email: vec!["ops@example.net".into()],
            ip: vec!["192.0.2.1".parse().unwrap(), "2001:db8::1".parse().unwrap()],
            other: vec![],
        };
        let back = AltNames::from_general_names(&a.to_general_names().unwrap());
        assert_eq!(back, a);
        assert_eq!(
            a.junos_line(),
            "\"ops@example.net\", r1.example.net, ipv4 192.0.2.1, ipv6 2001:db8::1"
        );
    }

    #[test]
    fn bad_entries() {
        let a = AltNames {
            dns: vec!["bad domain".into()],
            ..Default::default()
        };
        assert!(matches!(a.validate(), Err(AltNameError::BadDomain(_))));
        let a = AltNames {
            email: vec!["nobody".into()],
            ..Default::default()
        };
        assert!(matches!(a.validate(), Err(AltNameError::BadEmail(_))));
    }
}
