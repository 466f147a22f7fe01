//! The renderers behind `show security pki local-certificate`,
//! `ca-certificate`, `crl`, `certificate-request` and `key-pair`, as text
//! (the Junos CLI layout, REFERENCE §4) and as JSON shaped like the Junos
//! XML replies (REFERENCE §4.6), plus the fingerprint block of the prompts.
//!
//! Text layout: top level at column 0, fields at 2, sub-fields at 4; every
//! output ends with a newline and entries are separated by a blank line.

use serde_json::{Map, Value, json};
use x509_cert::name::Name;

use crate::altname::AltNames;
use crate::info::{CertInfo, CrlInfo, Fingerprints, KeyDescription, RequestInfo, junos_date};
use crate::key::KeySpec;
use crate::name;

/// brief (default) or detail
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// The default one-screen summary.
    Brief,
    /// Every field.
    Detail,
}

impl Level {
    fn style(self) -> &'static str {
        match self {
            Level::Brief => "brief",
            Level::Detail => "detail",
        }
    }
}

/// Auto-re-enrollment state for one local certificate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reenrollment {
    /// Whether the CA profile re-enrolls this certificate automatically.
    pub enabled: bool,
    /// When the next attempt fires (None: timer not started).
    pub next_trigger: Option<der::DateTime>,
    /// The outcome of the last attempt, as text.
    pub last_result: Option<String>,
}

/// One local certificate to show.
#[derive(Debug, Clone, Copy)]
pub struct LocalCert<'a> {
    /// The certificate identifier.
    pub id: &'a str,
    /// The certificate.
    pub info: &'a CertInfo,
    /// `Keypair generated locally`, ...
    pub key_location: &'a str,
    /// The issuing CA profile (`Cert-Chain:`), if known.
    pub ca_profile: Option<&'a str>,
    /// Auto-re-enrollment state.
    pub reenrollment: &'a Reenrollment,
}

/// Indented lines into a String.
#[derive(Default)]
struct Out(String);

impl Out {
    fn line(&mut self, indent: usize, text: &str) {
        for _ in 0..indent {
            self.0.push(' ');
        }
        self.0.push_str(text);
        self.0.push('\n');
    }
}

/// Blocks separated by a blank line (each block already ends with `\n`).
fn join_blocks(blocks: Vec<String>) -> String {
    blocks.join("\n")
}

/// `Issued to:` value: the subject CN, or the whole subject string.
fn recipient(subject: &Name) -> String {
    name::common_name(subject).unwrap_or_else(|| name::subject_string(subject))
}

fn fingerprint_lines(out: &mut Out, f: &Fingerprints, sha256: bool) {
    out.line(2, "Fingerprint:");
    out.line(4, &format!("{} (sha1)", f.sha1));
    out.line(4, &format!("{} (md5)", f.md5));
    if sha256 {
        out.line(4, &format!("{} (sha256)", f.sha256));
    }
}

fn key_lines(out: &mut Out, key: &KeyDescription, hex: bool) {
    out.line(2, &format!("Public key algorithm: {}", key.summary()));
    if hex {
        for l in key.hex_lines() {
            out.line(4, &l);
        }
    }
}

fn validity_lines(out: &mut Out, info: &CertInfo) {
    out.line(2, "Validity:");
    out.line(4, &format!("Not before: {}", junos_date(&info.not_before)));
    out.line(4, &format!("Not after: {}", junos_date(&info.not_after)));
}

fn list_lines(out: &mut Out, label: &str, items: &[String]) {
    if !items.is_empty() {
        out.line(2, label);
        for i in items {
            out.line(4, i);
        }
    }
}

/// The detail body shared by local and CA certificates, from
/// `Certificate identifier` to `Fingerprint`.
fn cert_detail(out: &mut Out, id: &str, info: &CertInfo, ca_profile: Option<&str>) {
    out.line(0, &format!("Certificate identifier: {id}"));
    out.line(2, &format!("Certificate version: {}", info.version));
    out.line(2, &format!("Serial number: {}", info.serial));
    out.line(2, "Issuer:");
    out.line(4, &name::labelled_line(&info.issuer));
    out.line(2, "Subject:");
    out.line(4, &name::labelled_line(&info.subject));
    out.line(2, "Subject string:");
    out.line(4, &name::subject_string(&info.subject));
    if let Some(alt) = &info.alt {
        out.line(2, &format!("Alternate subject: {}", alt.junos_line()));
    }
    if let Some(p) = ca_profile {
        out.line(2, &format!("Cert-Chain: {p}"));
    }
    validity_lines(out, info);
    key_lines(out, &info.key, true);
    out.line(
        2,
        &format!("Signature algorithm: {}", info.signature_algorithm),
    );
    list_lines(out, "Distribution CRL:", &info.crl_urls);
    list_lines(out, "Authority Information Access OCSP:", &info.ocsp_urls);
    if !info.key_usage.is_empty() {
        out.line(2, &format!("Use for key: {}", info.key_usage.join(", ")));
    }
    fingerprint_lines(out, &info.fingerprints, true);
}

/// `Certificate identifier`, `Issued to/by`, `Validity`, `Public key algorithm`.
fn cert_brief(out: &mut Out, id: &str, info: &CertInfo) {
    out.line(0, &format!("Certificate identifier: {id}"));
    out.line(
        2,
        &format!(
            "Issued to: {}, Issued by: {}",
            recipient(&info.subject),
            name::issued_by(&info.issuer)
        ),
    );
    validity_lines(out, info);
    key_lines(out, &info.key, false);
}

fn reenrollment_lines(out: &mut Out, r: &Reenrollment) {
    out.line(2, "Auto-re-enrollment:");
    out.line(
        4,
        &format!("Status: {}", if r.enabled { "Enabled" } else { "Disabled" }),
    );
    out.line(
        4,
        &format!(
            "Next trigger time: {}",
            r.next_trigger
                .as_ref()
                .map(junos_date)
                .unwrap_or_else(|| "Timer not started".into())
        ),
    );
    if let Some(last) = &r.last_result {
        out.line(4, &format!("Last attempt: {last}"));
    }
}

/// `show security pki local-certificate [detail]`.
pub fn local_certificates(certs: &[LocalCert<'_>], level: Level) -> String {
    join_blocks(
        certs
            .iter()
            .map(|c| {
                let mut out = Out::default();
                match level {
                    Level::Detail => {
                        cert_detail(&mut out, c.id, c.info, c.ca_profile);
                        reenrollment_lines(&mut out, c.reenrollment);
                    }
                    Level::Brief => cert_brief(&mut out, c.id, c.info),
                }
                out.line(2, &format!("Keypair Location: {}", c.key_location));
                out.0
            })
            .collect(),
    )
}

/// `show security pki ca-certificate [detail]`: (profile name, certificate).
pub fn ca_certificates(certs: &[(&str, &CertInfo)], level: Level) -> String {
    join_blocks(
        certs
            .iter()
            .map(|(id, info)| {
                let mut out = Out::default();
                match level {
                    Level::Detail => cert_detail(&mut out, id, info, None),
                    Level::Brief => cert_brief(&mut out, id, info),
                }
                out.0
            })
            .collect(),
    )
}

/// `show security pki crl [detail]`: (CA profile, CRL). Junos prints no
/// sample of this; the layout is REFERENCE §4.5's suggestion. An empty
/// revocation list prints `(none)` without the column header.
pub fn crls(crls: &[(&str, &CrlInfo)], level: Level) -> String {
    join_blocks(
        crls.iter()
            .map(|(profile, crl)| {
                let mut out = Out::default();
                out.line(0, &format!("CA profile: {profile}"));
                out.line(2, &format!("CRL version: V{:08}", crl.version));
                out.line(
                    2,
                    &format!("CRL number: {}", crl.number.as_deref().unwrap_or("none")),
                );
                out.line(2, &format!("CRL issuer: {}", name::issued_by(&crl.issuer)));
                out.line(
                    2,
                    &format!("Effective date: {}", junos_date(&crl.this_update)),
                );
                out.line(
                    2,
                    &format!(
                        "Next update: {}",
                        crl.next_update
                            .as_ref()
                            .map(junos_date)
                            .unwrap_or_else(|| "none".into())
                    ),
                );
                if level == Level::Detail {
                    out.line(
                        2,
                        &format!("Signature algorithm: {}", crl.signature_algorithm),
                    );
                    out.line(2, "Revocation List:");
                    if crl.revoked.is_empty() {
                        out.line(4, "(none)");
                    } else {
                        out.line(4, &format!("{:<33} {}", "Serial number", "Revocation date"));
                        for r in &crl.revoked {
                            out.line(4, &format!("{:<33} {}", r.serial, junos_date(&r.date)));
                        }
                    }
                }
                out.0
            })
            .collect(),
    )
}

/// `show security pki certificate-request [detail]`: (identifier, request).
/// A challenge password is never shown (RequestInfo does not carry it).
pub fn requests(reqs: &[(&str, &RequestInfo)], level: Level) -> String {
    join_blocks(
        reqs.iter()
            .map(|(id, req)| {
                let mut out = Out::default();
                out.line(0, &format!("Certificate identifier: {id}"));
                match level {
                    Level::Brief => {
                        out.line(2, &format!("Issued to: {}", recipient(&req.subject)));
                        key_lines(&mut out, &req.key, false);
                    }
                    Level::Detail => {
                        out.line(2, "Subject:");
                        out.line(4, &name::labelled_line(&req.subject));
                        out.line(2, "Subject string:");
                        out.line(4, &name::subject_string(&req.subject));
                        if let Some(alt) = &req.alt {
                            out.line(2, &format!("Alternate subject: {}", alt.junos_line()));
                        }
                        key_lines(&mut out, &req.key, true);
                        out.line(
                            2,
                            &format!("Signature algorithm: {}", req.signature_algorithm),
                        );
                        fingerprint_lines(&mut out, &req.fingerprints, false);
                    }
                }
                out.0
            })
            .collect(),
    )
}

/// `show security pki key-pair`: (identifier, spec, key location text).
///
/// No Junos sample of this output exists; the layout is ours, in the style
/// of the certificate views. An empty list renders as an empty string.
pub fn key_pairs(keys: &[(&str, KeySpec, &str)]) -> String {
    join_blocks(
        keys.iter()
            .map(|(id, spec, location)| {
                let mut out = Out::default();
                out.line(0, &format!("Certificate identifier: {id}"));
                out.line(2, &format!("Key type: {}", spec.algorithm));
                out.line(2, &format!("Key size: {} bits", spec.bits));
                out.line(2, &format!("Keypair Location: {location}"));
                out.0
            })
            .collect(),
    )
}

/// `Fingerprint:\n  <sha1> (sha1)\n  <md5> (md5)\n`, as the CA load and
/// enroll prompts and the request command print it.
pub fn fingerprint_block(f: &Fingerprints) -> String {
    format!("Fingerprint:\n  {} (sha1)\n  {} (md5)\n", f.sha1, f.md5)
}

// ---------------------------------------------------------------- JSON

/// `{"distinguished-name": {<json_key>: value, ...}}`; a label that occurs
/// more than once (two OUs) becomes an array of its values.
fn dn_json(n: &Name) -> Value {
    let mut map = Map::new();
    for (label, value) in name::labelled(n) {
        let key = label.json_key();
        match map.get_mut(key) {
            Some(Value::Array(values)) => values.push(Value::String(value)),
            Some(existing) => {
                let first = existing.take();
                *existing = Value::Array(vec![first, Value::String(value)]);
            }
            None => {
                map.insert(key.to_string(), Value::String(value));
            }
        }
    }
    json!({ "distinguished-name": Value::Object(map) })
}

/// The subjectAltName entries, one string each (email, DNS, IP, other).
fn alt_entries(alt: &AltNames) -> Vec<String> {
    alt.email
        .iter()
        .cloned()
        .chain(alt.dns.iter().cloned())
        .chain(alt.ip.iter().map(|a| a.to_string()))
        .chain(alt.other.iter().cloned())
        .collect()
}

fn public_key_json(key: &KeyDescription) -> Value {
    json!({ "public-key-algorithm": key.algorithm, "public-key-length": key.bits })
}

fn fingerprints_json(f: &Fingerprints, sha256: bool) -> Value {
    let mut list = vec![
        json!({ "fingerprint-content": f.sha1, "fingerprint-hash-algorithm": "sha1" }),
        json!({ "fingerprint-content": f.md5, "fingerprint-hash-algorithm": "md5" }),
    ];
    if sha256 {
        list.push(
            json!({ "fingerprint-content": f.sha256, "fingerprint-hash-algorithm": "sha256" }),
        );
    }
    Value::Array(list)
}

fn validity_json(info: &CertInfo) -> Value {
    json!({
        "not-before": junos_date(&info.not_before),
        "not-after": junos_date(&info.not_after),
    })
}

fn insert(map: &mut Map<String, Value>, key: &str, value: Value) {
    map.insert(key.to_string(), value);
}

fn cert_list_json(entries: Vec<Value>) -> Value {
    json!({
        "x509-pki-certificate-info-list": {
            "pkid-x509-certificate-information": entries,
        }
    })
}

/// Per-certificate extras of a local certificate (None for a CA one).
struct LocalExtras<'a> {
    key_location: &'a str,
    ca_profile: Option<&'a str>,
    reenrollment: &'a Reenrollment,
}

fn cert_json(id: &str, info: &CertInfo, level: Level, local: Option<&LocalExtras<'_>>) -> Value {
    let mut m = Map::new();
    insert(&mut m, "identifier", json!(id));
    match level {
        Level::Detail => {
            insert(&mut m, "version", json!(info.version));
            insert(
                &mut m,
                "serial-number-list",
                json!({ "serial-number-x509": info.serial }),
            );
            insert(&mut m, "issuer-name", dn_json(&info.issuer));
            insert(&mut m, "subject-name", dn_json(&info.subject));
            insert(
                &mut m,
                "subject-string-list",
                json!({ "subject-string": name::subject_string(&info.subject) }),
            );
            if let Some(alt) = &info.alt {
                insert(
                    &mut m,
                    "alternate-subject-list",
                    json!({ "alternate-subject": alt_entries(alt) }),
                );
            }
            if let Some(p) = local.and_then(|l| l.ca_profile) {
                insert(&mut m, "cert-chain", json!(p));
            }
            insert(&mut m, "validity", validity_json(info));
            insert(&mut m, "public-key", public_key_json(&info.key));
            insert(
                &mut m,
                "public-key-contents-list",
                json!({ "key-contents": info.key.hex_lines() }),
            );
            insert(
                &mut m,
                "signature-algorithm",
                json!(info.signature_algorithm),
            );
            if !info.crl_urls.is_empty() {
                insert(
                    &mut m,
                    "distribution-crl-list",
                    json!({ "distribution-crl": info.crl_urls }),
                );
            }
            if !info.ocsp_urls.is_empty() {
                insert(
                    &mut m,
                    "authority-information-access-ocsp-list",
                    json!({ "authority-information-access-ocsp": info.ocsp_urls }),
                );
            }
            if !info.key_usage.is_empty() {
                insert(
                    &mut m,
                    "key-usage-list",
                    json!({ "key-usage": info.key_usage }),
                );
            }
            insert(
                &mut m,
                "fingerprint",
                fingerprints_json(&info.fingerprints, true),
            );
            if let Some(l) = local {
                let r = l.reenrollment;
                let mut a = Map::new();
                insert(
                    &mut a,
                    "auto-re-enrollment-status",
                    json!(if r.enabled { "Enabled" } else { "Disabled" }),
                );
                insert(
                    &mut a,
                    "auto-re-enrollment-next-trigger-time",
                    json!(
                        r.next_trigger
                            .as_ref()
                            .map(junos_date)
                            .unwrap_or_else(|| "Timer not started".into())
                    ),
                );
                if let Some(last) = &r.last_result {
                    insert(&mut a, "auto-re-enrollment-last-attempt", json!(last));
                }
                insert(&mut m, "auto-re-enrollment", Value::Object(a));
            }
        }
        Level::Brief => {
            insert(&mut m, "validity", validity_json(info));
            insert(&mut m, "public-key", public_key_json(&info.key));
            insert(
                &mut m,
                "issue-info",
                json!({
                    "recipient": recipient(&info.subject),
                    "issued-by": name::issued_by(&info.issuer),
                }),
            );
        }
    }
    if let Some(l) = local {
        insert(&mut m, "keypair-location", json!(l.key_location));
    }
    insert(
        &mut m,
        "certificate-type",
        json!(if local.is_some() { "local" } else { "ca" }),
    );
    insert(&mut m, "style", json!(level.style()));
    Value::Object(m)
}

/// `show security pki local-certificate | display json`.
pub fn local_certificates_json(certs: &[LocalCert<'_>], level: Level) -> Value {
    cert_list_json(
        certs
            .iter()
            .map(|c| {
                let extras = LocalExtras {
                    key_location: c.key_location,
                    ca_profile: c.ca_profile,
                    reenrollment: c.reenrollment,
                };
                cert_json(c.id, c.info, level, Some(&extras))
            })
            .collect(),
    )
}

/// `show security pki ca-certificate | display json`.
pub fn ca_certificates_json(certs: &[(&str, &CertInfo)], level: Level) -> Value {
    cert_list_json(
        certs
            .iter()
            .map(|(id, info)| cert_json(id, info, level, None))
            .collect(),
    )
}

/// `show security pki crl | display json`. Absent optional values (CRL
/// number, next update) are left out, as the XML would omit the element.
pub fn crls_json(crls: &[(&str, &CrlInfo)], level: Level) -> Value {
    let entries: Vec<Value> = crls
        .iter()
        .map(|(profile, crl)| {
            let mut m = Map::new();
            insert(&mut m, "identifier", json!(profile));
            insert(&mut m, "crl-version", json!(format!("V{:08}", crl.version)));
            if let Some(n) = &crl.number {
                insert(&mut m, "crl-number", json!(n));
            }
            insert(&mut m, "crl-issuer", json!(name::issued_by(&crl.issuer)));
            let mut v = Map::new();
            insert(
                &mut v,
                "effective-date",
                json!(junos_date(&crl.this_update)),
            );
            if let Some(next) = &crl.next_update {
                insert(&mut v, "next-update", json!(junos_date(next)));
            }
            insert(&mut m, "crl-validity", Value::Object(v));
            if level == Level::Detail {
                insert(
                    &mut m,
                    "signature-algorithm",
                    json!(crl.signature_algorithm),
                );
                let revoked: Vec<Value> = crl
                    .revoked
                    .iter()
                    .map(|r| {
                        json!({
                            "revoked-cert-serial-number": r.serial,
                            "crl-revocation-date": junos_date(&r.date),
                        })
                    })
                    .collect();
                insert(&mut m, "crl-revocation-list", Value::Array(revoked));
            }
            insert(&mut m, "style", json!(level.style()));
            Value::Object(m)
        })
        .collect();
    json!({
        "x509-pkid-crl-information-list": {
            "pkid-x509-crl-information": entries,
        }
    })
}

/// `show security pki certificate-request | display json`. Never carries a
/// challenge password.
pub fn requests_json(reqs: &[(&str, &RequestInfo)], level: Level) -> Value {
    cert_list_json(
        reqs.iter()
            .map(|(id, req)| {
                let mut m = Map::new();
                insert(&mut m, "identifier", json!(id));
                match level {
                    Level::Detail => {
                        insert(&mut m, "subject-name", dn_json(&req.subject));
                        insert(
                            &mut m,
                            "subject-string-list",
                            json!({ "subject-string": name::subject_string(&req.subject) }),
                        );
                        if let Some(alt) = &req.alt {
                            insert(
                                &mut m,
                                "alternate-subject-list",
                                json!({ "alternate-subject": alt_entries(alt) }),
                            );
                        }
                        insert(&mut m, "public-key", public_key_json(&req.key));
                        insert(
                            &mut m,
                            "public-key-contents-list",
                            json!({ "key-contents": req.key.hex_lines() }),
                        );
                        insert(
                            &mut m,
                            "signature-algorithm",
                            json!(req.signature_algorithm),
                        );
                        insert(
                            &mut m,
                            "fingerprint",
                            fingerprints_json(&req.fingerprints, false),
                        );
                    }
                    Level::Brief => {
                        insert(&mut m, "public-key", public_key_json(&req.key));
                        insert(
                            &mut m,
                            "issue-info",
                            json!({ "recipient": recipient(&req.subject) }),
                        );
                    }
                }
                insert(&mut m, "certificate-type", json!("request"));
                insert(&mut m, "style", json!(level.style()));
                Value::Object(m)
            })
            .collect(),
    )
}

/// `show security pki key-pair | display json` (our layout, like the text).
pub fn key_pairs_json(keys: &[(&str, KeySpec, &str)]) -> Value {
    let entries: Vec<Value> = keys
        .iter()
        .map(|(id, spec, location)| {
            let mut m = Map::new();
            insert(&mut m, "identifier", json!(id));
            insert(&mut m, "key-type", json!(spec.algorithm.to_string()));
            insert(&mut m, "key-size", json!(spec.bits));
            insert(&mut m, "keypair-location", json!(location));
            Value::Object(m)
        })
        .collect();
    json!({
        "pki-key-pair-information-list": {
            "pki-key-pair-information": entries,
        }
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use std::time::Duration;

    use der::DateTime;
    use der::asn1::Uint;
    use x509_cert::Certificate;
    use x509_cert::builder::{Builder, CrlBuilder};
    use x509_cert::crl::RevokedCert;
    use x509_cert::ext::pkix::CrlNumber;
    use x509_cert::serial_number::SerialNumber;
    use x509_cert::time::Time;

    use super::*;
    use crate::info::Revoked;
    use crate::key::{HashAlg, KeyAlgorithm, KeyPair, SignatureBytes};

    const SUBJECT: &str =
        "DC=juniper,CN=local,OU=marketing,O=juniper,L=sunnyvale,ST=california,C=us";

    const LABELLED: &str = "    Organization: juniper, Organizational unit: marketing, Country: us, \
         State: california, Locality: sunnyvale, Common name: local, Domain component: juniper";
    const ISSUED_BY: &str = "DC = juniper, CN = local, OU = marketing, O = juniper, \
         L = sunnyvale, ST = california, C = us";

    fn subject() -> Name {
        crate::name::parse_subject(SUBJECT, "JN123").unwrap()
    }

    fn key() -> KeyPair {
        KeyPair::generate(KeySpec::new(KeyAlgorithm::Rsa, 1024).unwrap()).unwrap()
    }

    fn alt() -> AltNames {
        AltNames {
            dns: vec!["juniper.net".into()],
            email: vec!["test@juniper.net".into()],
            ..Default::default()
        }
    }

    fn cert(key: &KeyPair, alt: AltNames) -> Certificate {
        crate::issue::self_signed(
            key,
            subject(),
            alt,
            false,
            crate::issue::validity(
                Duration::from_secs(1_500_000_000),
                Duration::from_secs(1_600_000_000),
            )
            .unwrap(),
        )
        .unwrap()
    }

    fn lines(s: &str) -> Vec<&str> {
        s.lines().collect()
    }

    /// Position of `needle` among the lines, asserting it is there.
    fn at(lines: &[&str], needle: &str) -> usize {
        lines
            .iter()
            .position(|l| *l == needle)
            .unwrap_or_else(|| panic!("line {needle:?} missing from\n{}", lines.join("\n")))
    }

    #[test]
    fn local_detail_text() {
        let key = key();
        let info = CertInfo::of(&cert(&key, alt()));
        let r = Reenrollment::default();
        let lc = LocalCert {
            id: "mynewcert",
            info: &info,
            key_location: "Keypair generated locally",
            ca_profile: None,
            reenrollment: &r,
        };
        let text = local_certificates(&[lc], Level::Detail);
        assert!(text.ends_with('\n'));
        let l = lines(&text);
        assert_eq!(l[0], "Certificate identifier: mynewcert");
        assert_eq!(l[1], "  Certificate version: 3");
        assert_eq!(l[2], format!("  Serial number: {}", info.serial));
        assert_eq!(l[3], "  Issuer:");
        assert_eq!(l[4], LABELLED);
        assert_eq!(l[5], "  Subject:");
        assert_eq!(l[6], LABELLED);
        assert_eq!(l[7], "  Subject string:");
        assert_eq!(
            l[8],
            "    DC=juniper, CN=local, OU=marketing, O=juniper, L=sunnyvale, ST=california, C=us"
        );
        assert_eq!(
            l[9],
            "  Alternate subject: \"test@juniper.net\", juniper.net, ipv4 empty, ipv6 empty"
        );
        assert_eq!(l[10], "  Validity:");
        assert_eq!(l[11], "    Not before: 07-14-2017 02:40 UTC");
        assert_eq!(l[12], "    Not after: 09-13-2020 12:26 UTC");
        assert_eq!(l[13], "  Public key algorithm: rsaEncryption(1024 bits)");
        // 140 bytes of RSAPublicKey: 7 lines of at most 20 bytes.
        assert!(l[14].starts_with("    30:81:89:02:81:81:00:"));
        assert_eq!(l[20].len(), 4 + 20 * 3 - 1);
        let sig = at(&l, "  Signature algorithm: sha256WithRSAEncryption");
        assert_eq!(sig, 21);
        let fp = at(&l, "  Fingerprint:");
        assert_eq!(l[fp + 1], format!("    {} (sha1)", info.fingerprints.sha1));
        assert_eq!(l[fp + 2], format!("    {} (md5)", info.fingerprints.md5));
        assert_eq!(
            l[fp + 3],
            format!("    {} (sha256)", info.fingerprints.sha256)
        );
        assert!(l[fp + 1].ends_with(" (sha1)") && l[fp + 2].ends_with(" (md5)"));
        assert_eq!(l[fp + 4], "  Auto-re-enrollment:");
        assert_eq!(l[fp + 5], "    Status: Disabled");
        assert_eq!(l[fp + 6], "    Next trigger time: Timer not started");
        assert_eq!(l[fp + 7], "  Keypair Location: Keypair generated locally");
        assert_eq!(l.len(), fp + 8);
        assert!(!text.contains("Cert-Chain"));
    }

    #[test]
    fn local_detail_optional_lines_and_two_entries() {
        let key = key();
        let with_san = CertInfo::of(&cert(&key, alt()));
        let without = CertInfo::of(&cert(&key, AltNames::default()));
        let enabled = Reenrollment {
            enabled: true,
            next_trigger: Some(DateTime::new(2020, 8, 3, 12, 26, 0).unwrap()),
            last_result: Some("Enrollment failed: CA unreachable".into()),
        };
        let off = Reenrollment::default();
        let certs = [
            LocalCert {
                id: "a",
                info: &with_san,
                key_location: "Keypair generated locally",
                ca_profile: Some("CA01"),
                reenrollment: &enabled,
            },
            LocalCert {
                id: "b",
                info: &without,
                key_location: "Keypair imported",
                ca_profile: None,
                reenrollment: &off,
            },
        ];
        let text = local_certificates(&certs, Level::Detail);
        let blocks: Vec<&str> = text.split("\n\n").collect();
        assert_eq!(blocks.len(), 2);
        assert!(blocks[1].starts_with("Certificate identifier: b\n"));
        let a = lines(blocks[0]);
        let alt_line = at(
            &a,
            "  Alternate subject: \"test@juniper.net\", juniper.net, ipv4 empty, ipv6 empty",
        );
        assert_eq!(a[alt_line + 1], "  Cert-Chain: CA01");
        assert_eq!(a[alt_line + 2], "  Validity:");
        let st = at(&a, "    Status: Enabled");
        assert_eq!(a[st + 1], "    Next trigger time: 08- 3-2020 12:26 UTC");
        assert_eq!(
            a[st + 2],
            "    Last attempt: Enrollment failed: CA unreachable"
        );
        assert!(!blocks[1].contains("Alternate subject"));
        assert!(!blocks[1].contains("Distribution CRL"));
        assert!(!blocks[1].contains("Authority Information Access OCSP"));
        assert!(blocks[1].ends_with("  Keypair Location: Keypair imported\n"));
    }

    #[test]
    fn local_brief_text() {
        let key = key();
        let info = CertInfo::of(&cert(&key, alt()));
        let r = Reenrollment::default();
        let lc = LocalCert {
            id: "p1-acme-cert",
            info: &info,
            key_location: "Keypair generated locally",
            ca_profile: Some("CA01"),
            reenrollment: &r,
        };
        let text = local_certificates(&[lc], Level::Brief);
        let expected = format!(
            "Certificate identifier: p1-acme-cert\n\
             \x20 Issued to: local, Issued by: {}\n\
             \x20 Validity:\n\
             \x20   Not before: 07-14-2017 02:40 UTC\n\
             \x20   Not after: 09-13-2020 12:26 UTC\n\
             \x20 Public key algorithm: rsaEncryption(1024 bits)\n\
             \x20 Keypair Location: Keypair generated locally\n",
            ISSUED_BY
        );
        assert_eq!(text, expected);
        assert_eq!(local_certificates(&[], Level::Brief), "");
    }

    #[test]
    fn ca_text() {
        let key = key();
        let info = CertInfo::of(&cert(&key, AltNames::default()));
        let detail = ca_certificates(&[("Root", &info)], Level::Detail);
        let l = lines(&detail);
        assert_eq!(l[0], "Certificate identifier: Root");
        assert_eq!(l[1], "  Certificate version: 3");
        assert_eq!(l[9], "  Validity:");
        at(&l, "  Signature algorithm: sha256WithRSAEncryption");
        let fp = at(&l, "  Fingerprint:");
        assert!(l[fp + 3].ends_with(" (sha256)"));
        assert_eq!(l.len(), fp + 4);
        for absent in [
            "Alternate subject",
            "Cert-Chain",
            "Auto-re-enrollment",
            "Keypair Location",
        ] {
            assert!(!detail.contains(absent), "{absent} in\n{detail}");
        }
        let brief = ca_certificates(&[("Root", &info), ("Sub", &info)], Level::Brief);
        let blocks: Vec<&str> = brief.split("\n\n").collect();
        assert_eq!(blocks.len(), 2);
        assert_eq!(
            lines(blocks[0]),
            vec![
                "Certificate identifier: Root".to_string(),
                format!("  Issued to: local, Issued by: {}", ISSUED_BY),
                "  Validity:".into(),
                "    Not before: 07-14-2017 02:40 UTC".into(),
                "    Not after: 09-13-2020 12:26 UTC".into(),
                "  Public key algorithm: rsaEncryption(1024 bits)".into(),
            ]
        );
    }

    #[test]
    fn cert_json_shapes() {
        let key = key();
        let info = CertInfo::of(&cert(&key, alt()));
        let r = Reenrollment::default();
        let lc = LocalCert {
            id: "mynewcert",
            info: &info,
            key_location: "Keypair generated locally",
            ca_profile: None,
            reenrollment: &r,
        };
        let v = local_certificates_json(&[lc], Level::Detail);
        let e = &v["x509-pki-certificate-info-list"]["pkid-x509-certificate-information"][0];
        assert_eq!(e["identifier"], "mynewcert");
        assert_eq!(e["version"], 3);
        assert_eq!(
            e["serial-number-list"]["serial-number-x509"],
            info.serial.as_str()
        );
        assert_eq!(
            e["subject-name"]["distinguished-name"]["common-name"],
            "local"
        );
        assert_eq!(
            e["issuer-name"]["distinguished-name"]["organization-name"],
            "juniper"
        );
        assert_eq!(
            e["subject-string-list"]["subject-string"],
            "DC=juniper, CN=local, OU=marketing, O=juniper, L=sunnyvale, ST=california, C=us"
        );
        assert_eq!(
            e["alternate-subject-list"]["alternate-subject"],
            json!(["test@juniper.net", "juniper.net"])
        );
        assert_eq!(e["validity"]["not-before"], "07-14-2017 02:40 UTC");
        assert_eq!(e["public-key"]["public-key-algorithm"], "rsaEncryption");
        assert_eq!(e["public-key"]["public-key-length"], 1024);
        assert_eq!(
            e["public-key-contents-list"]["key-contents"]
                .as_array()
                .unwrap()
                .len(),
            7
        );
        assert_eq!(e["signature-algorithm"], "sha256WithRSAEncryption");
        let fp = e["fingerprint"].as_array().unwrap();
        assert_eq!(fp.len(), 3);
        assert_eq!(fp[0]["fingerprint-hash-algorithm"], "sha1");
        assert_eq!(
            fp[0]["fingerprint-content"],
            info.fingerprints.sha1.as_str()
        );
        assert_eq!(fp[1]["fingerprint-hash-algorithm"], "md5");
        assert_eq!(fp[2]["fingerprint-hash-algorithm"], "sha256");
        assert_eq!(
            e["auto-re-enrollment"]["auto-re-enrollment-status"],
            "Disabled"
        );
        assert_eq!(
            e["auto-re-enrollment"]["auto-re-enrollment-next-trigger-time"],
            "Timer not started"
        );
        assert_eq!(e["certificate-type"], "local");
        assert_eq!(e["style"], "detail");
        assert!(e.get("issue-info").is_none());

        let v = local_certificates_json(&[lc], Level::Brief);
        let e = &v["x509-pki-certificate-info-list"]["pkid-x509-certificate-information"][0];
        assert_eq!(e["issue-info"]["recipient"], "local");
        assert_eq!(e["issue-info"]["issued-by"], ISSUED_BY);
        assert_eq!(e["style"], "brief");
        assert!(e.get("public-key-contents-list").is_none());
        assert!(e.get("fingerprint").is_none());

        let v = ca_certificates_json(&[("Root", &info)], Level::Detail);
        let e = &v["x509-pki-certificate-info-list"]["pkid-x509-certificate-information"][0];
        assert_eq!(e["identifier"], "Root");
        assert_eq!(e["certificate-type"], "ca");
        assert!(e.get("auto-re-enrollment").is_none());
        assert!(e.get("keypair-location").is_none());
    }

    fn crl_info(key: &KeyPair, issuer: &Certificate, revoked: bool) -> CrlInfo {
        let this_update = Time::GeneralTime(der::asn1::GeneralizedTime::from_date_time(
            DateTime::new(2005, 10, 7, 17, 5, 0).unwrap(),
        ));
        let next = Time::GeneralTime(der::asn1::GeneralizedTime::from_date_time(
            DateTime::new(2005, 10, 14, 17, 5, 0).unwrap(),
        ));
        let mut b = CrlBuilder::new_with_this_update(
            issuer,
            CrlNumber(Uint::new(&[1]).unwrap()),
            this_update,
        )
        .unwrap()
        .with_next_update(Some(next));
        if revoked {
            b = b.with_certificates(
                vec![RevokedCert {
                    serial_number: SerialNumber::new(&[0x10, 0x64, 0x7c, 0x84]).unwrap(),
                    revocation_date: Time::GeneralTime(der::asn1::GeneralizedTime::from_date_time(
                        DateTime::new(2005, 10, 7, 17, 4, 0).unwrap(),
                    )),
                    crl_entry_extensions: None,
                }]
                .into_iter(),
            );
        }
        let signer = key.signer(HashAlg::Sha256).unwrap();
        let crl = b.build::<_, SignatureBytes>(&signer).unwrap();
        CrlInfo::of(&crl)
    }

    #[test]
    fn crl_text_and_json() {
        let key = key();
        let ca = cert(&key, AltNames::default());
        let empty = crl_info(&key, &ca, false);
        let full = crl_info(&key, &ca, true);
        let issuer = ISSUED_BY;

        let brief = crls(&[("entrust", &full)], Level::Brief);
        assert_eq!(
            brief,
            format!(
                "CA profile: entrust\n\
                 \x20 CRL version: V00000001\n\
                 \x20 CRL number: 00000001\n\
                 \x20 CRL issuer: {issuer}\n\
                 \x20 Effective date: 10- 7-2005 17:05 UTC\n\
                 \x20 Next update: 10-14-2005 17:05 UTC\n"
            )
        );

        let detail = crls(&[("entrust", &empty), ("other", &full)], Level::Detail);
        let blocks: Vec<&str> = detail.split("\n\n").collect();
        assert_eq!(blocks.len(), 2);
        assert!(blocks[0].ends_with(
            "  Signature algorithm: sha256WithRSAEncryption\n  Revocation List:\n    (none)"
        ));
        assert!(blocks[1].starts_with("CA profile: other\n"));
        assert!(blocks[1].ends_with(
            "  Revocation List:\n\
             \x20   Serial number                     Revocation date\n\
             \x20   10647c84                          10- 7-2005 17:04 UTC\n"
        ));

        let v = crls_json(&[("entrust", &full)], Level::Detail);
        let e = &v["x509-pkid-crl-information-list"]["pkid-x509-crl-information"][0];
        assert_eq!(e["identifier"], "entrust");
        assert_eq!(e["crl-version"], "V00000001");
        assert_eq!(e["crl-number"], "00000001");
        assert_eq!(e["crl-issuer"], issuer);
        assert_eq!(e["crl-validity"]["effective-date"], "10- 7-2005 17:05 UTC");
        assert_eq!(e["crl-validity"]["next-update"], "10-14-2005 17:05 UTC");
        assert_eq!(
            e["crl-revocation-list"],
            json!([{
                "revoked-cert-serial-number": "10647c84",
                "crl-revocation-date": "10- 7-2005 17:04 UTC",
            }])
        );
        let v = crls_json(&[("entrust", &empty)], Level::Brief);
        let e = &v["x509-pkid-crl-information-list"]["pkid-x509-crl-information"][0];
        assert!(e.get("crl-revocation-list").is_none());
    }

    #[test]
    fn crl_without_number_or_next_update() {
        let info = CrlInfo {
            version: 0,
            number: None,
            issuer: subject(),
            this_update: DateTime::new(2005, 10, 7, 17, 5, 0).unwrap(),
            next_update: None,
            revoked: vec![Revoked {
                serial: "0000abcd".into(),
                date: DateTime::new(2005, 1, 2, 3, 4, 0).unwrap(),
            }],
            signature_algorithm: "sha1WithRSAEncryption".into(),
        };
        let text = crls(&[("p", &info)], Level::Brief);
        assert!(text.contains("  CRL version: V00000000\n"));
        assert!(text.contains("  CRL number: none\n"));
        assert!(text.contains("  Next update: none\n"));
        let v = crls_json(&[("p", &info)], Level::Brief);
        let e = &v["x509-pkid-crl-information-list"]["pkid-x509-crl-information"][0];
        assert!(e.get("crl-number").is_none());
        assert!(e["crl-validity"].get("next-update").is_none());
    }

    #[test]
    fn request_text_and_json_never_show_the_challenge() {
        let key = key();
        let req = crate::request::build(&key, subject(), &alt(), Some("secret"), HashAlg::Sha256)
            .unwrap();
        let info = RequestInfo::of(&req);
        assert!(info.has_challenge);

        let brief = requests(&[("myCert", &info)], Level::Brief);
        assert_eq!(
            brief,
            "Certificate identifier: myCert\n  Issued to: local\n  Public key algorithm: rsaEncryption(1024 bits)\n"
        );

        let detail = requests(&[("myCert", &info)], Level::Detail);
        let l = lines(&detail);
        assert_eq!(l[0], "Certificate identifier: myCert");
        assert_eq!(l[1], "  Subject:");
        assert_eq!(l[2], LABELLED);
        assert_eq!(l[3], "  Subject string:");
        assert_eq!(
            l[4],
            "    DC=juniper, CN=local, OU=marketing, O=juniper, L=sunnyvale, ST=california, C=us"
        );
        assert_eq!(
            l[5],
            "  Alternate subject: \"test@juniper.net\", juniper.net, ipv4 empty, ipv6 empty"
        );
        assert_eq!(l[6], "  Public key algorithm: rsaEncryption(1024 bits)");
        assert_eq!(l[14], "  Signature algorithm: sha256WithRSAEncryption");
        assert_eq!(l[15], "  Fingerprint:");
        assert_eq!(l[16], format!("    {} (sha1)", info.fingerprints.sha1));
        assert_eq!(l[17], format!("    {} (md5)", info.fingerprints.md5));
        assert_eq!(l.len(), 18);

        let jb = requests_json(&[("myCert", &info)], Level::Brief);
        let jd = requests_json(&[("myCert", &info)], Level::Detail);
        let e = &jd["x509-pki-certificate-info-list"]["pkid-x509-certificate-information"][0];
        assert_eq!(e["certificate-type"], "request");
        assert_eq!(
            e["subject-name"]["distinguished-name"]["common-name"],
            "local"
        );
        assert_eq!(e["fingerprint"].as_array().unwrap().len(), 2);
        for s in [brief, detail, jb.to_string(), jd.to_string()] {
            assert!(!s.contains("secret"), "challenge leaked in {s}");
        }
    }

    #[test]
    fn key_pair_text_and_json() {
        let rsa = KeySpec::new(KeyAlgorithm::Rsa, 2048).unwrap();
        let ec = KeySpec::new(KeyAlgorithm::Ecdsa, 256).unwrap();
        let keys = [
            ("billy", rsa, "Keypair generated locally"),
            ("ec1", ec, "Keypair generated locally"),
        ];
        assert_eq!(
            key_pairs(&keys),
            "Certificate identifier: billy\n  Key type: RSA\n  Key size: 2048 bits\n  Keypair Location: Keypair generated locally\n\
             \n\
             Certificate identifier: ec1\n  Key type: ECDSA\n  Key size: 256 bits\n  Keypair Location: Keypair generated locally\n"
        );
        assert_eq!(key_pairs(&[]), "");
        assert_eq!(
            key_pairs_json(&keys[..1]),
            json!({"pki-key-pair-information-list": {"pki-key-pair-information": [{
                "identifier": "billy",
                "key-type": "RSA",
                "key-size": 2048,
                "keypair-location": "Keypair generated locally",
            }]}})
        );
    }

    #[test]
    fn fingerprint_block_layout() {
        let f = Fingerprints {
            sha1: "aa:bb".into(),
            md5: "cc:dd".into(),
            sha256: "ee:ff".into(),
        };
        assert_eq!(
            fingerprint_block(&f),
            "Fingerprint:\n  aa:bb (sha1)\n  cc:dd (md5)\n"
        );
    }
}
