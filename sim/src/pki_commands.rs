//! The `security pki` statements and the `request/show/clear security pki`
//! commands (plus the ES PIC era `request security key-pair`), wired to the
//! PKI manager of `crates/pki`.
//!
//! File names the operator gives to the `security pki` commands are used as
//! they are when absolute and taken relative to the router's home directory
//! (`<data-dir>/home`, the simulated `/var/home/<user>`) otherwise. The ES
//! PIC era commands (`request security key-pair`, `request security
//! certificate enroll`) name files of the simulated `/var/etc/ikecert`
//! instead (`<data-dir>/ikecert`, beside the store's own subdirectories):
//! see [`crate::ikecert`].

use std::path::PathBuf;
use std::sync::Arc;

use cli::command::{
    ArgType, CommandError, CommandTree, Display, DuplicateCommand, Handler, Invocation, Mode,
    Param, Terminal, confirm,
};
use cli::config::{Config, ConfigNodeView, Schema, SchemaError, ValueType};
use pki::altname::AltNames;
use pki::encoding;
use pki::info::{CertInfo, CrlInfo, Fingerprints, RequestInfo};
use pki::key::{HashAlg, KeyAlgorithm, KeySpec};
use pki::manager::{LocalSelector, PkiError, SYSTEM_GENERATED, certificate_der};
use pki::profile::{CaProfile, Revocation};
use pki::render::{self, Level, LocalCert, Reenrollment};

use crate::router::Session;

type Result<T> = std::result::Result<T, CommandError>;

pub(crate) fn handler(
    f: impl Fn(&mut Session, &Invocation, &mut dyn Terminal) -> Result<()> + Send + Sync + 'static,
) -> Handler<Session> {
    Arc::new(f)
}

fn failed(e: PkiError) -> CommandError {
    CommandError::failed(e.to_string())
}

const PKI: &[&str] = &["security", "pki"];

fn path<'a>(rest: &[&'a str]) -> Vec<&'a str> {
    let mut p: Vec<&str> = PKI.to_vec();
    p.extend_from_slice(rest);
    p
}

/// `[edit security certificates]`: the ES PIC era certificate settings.
const CERTS: &[&str] = &["security", "certificates"];

fn certs_path<'a>(rest: &[&'a str]) -> Vec<&'a str> {
    let mut p: Vec<&str> = CERTS.to_vec();
    p.extend_from_slice(rest);
    p
}

/// Registers `[edit security certificates]` (ES PIC era): its
/// `certification-authority` entries act as CA profiles for the
/// enrollment commands, `enrollment-retry` is their retry count and
/// `path-length` bounds the chains the IKE authenticator accepts.
fn register_certificates_schema(s: &mut Schema) -> std::result::Result<(), SchemaError> {
    s.container(CERTS, "X.509 certificate configuration (ES PIC)")?;
    s.leaf(
        &certs_path(&["cache-size"]),
        ValueType::Uint {
            min: 0,
            max: u32::MAX as u64,
        },
        "Maximum size of the certificate cache (bytes)",
    )?;
    s.leaf(
        &certs_path(&["cache-timeout-negative"]),
        ValueType::Uint {
            min: 10,
            max: u32::MAX as u64,
        },
        "Time to cache negative certificates (seconds, default 20)",
    )?;
    s.list(
        &certs_path(&["certification-authority"]),
        ValueType::Word,
        "CA profile name",
    )?;
    s.placeholder(&certs_path(&["certification-authority"]), "name")?;
    s.validator(
        &certs_path(&["certification-authority"]),
        Box::new(check_legacy_ca),
    )?;
    let ca = |leaf: &'static str| {
        let mut p = certs_path(&["certification-authority"]);
        p.push(leaf);
        p
    };
    s.leaf(&ca("ca-name"), ValueType::Word, "CA identity")?;
    s.leaf(&ca("crl"), ValueType::Text, "File to read the CRL from")?;
    s.leaf(
        &ca("encoding"),
        ValueType::Enum(&["binary", "pem"]),
        "File encoding (default binary)",
    )?;
    s.leaf(
        &ca("enrollment-url"),
        ValueType::Url,
        "Enrollment URL of the CA",
    )?;
    s.leaf(
        &ca("file"),
        ValueType::Text,
        "File to read the CA certificate from",
    )?;
    s.leaf(&ca("ldap-url"), ValueType::Url, "LDAP URL of the CA")?;
    s.leaf(
        &certs_path(&["enrollment-retry"]),
        ValueType::Uint { min: 0, max: 1080 },
        "Number of enrollment retries",
    )?;
    s.list(
        &certs_path(&["local"]),
        ValueType::Word,
        "Local certificate name",
    )?;
    s.placeholder(&certs_path(&["local"]), "name")?;
    let local = |leaf: &'static str| {
        let mut p = certs_path(&["local"]);
        p.push(leaf);
        p
    };
    s.leaf(
        &local("certificate"),
        ValueType::Text,
        "Private key and certificate (PEM)",
    )?;
    s.secret(&local("certificate"))?;
    s.leaf(
        &local("load-key-file"),
        ValueType::Text,
        "File holding the key and certificate",
    )?;
    s.leaf(
        &certs_path(&["maximum-certificates"]),
        ValueType::Uint {
            min: 64,
            max: u32::MAX as u64,
        },
        "Maximum number of certificates (default 1024)",
    )?;
    s.leaf(
        &certs_path(&["path-length"]),
        ValueType::Uint { min: 0, max: 15 },
        "Maximum certificate path length (default 15)",
    )?;
    Ok(())
}

/// Commit-time checks of a `security certificates certification-authority`.
fn check_legacy_ca(p: &ConfigNodeView<'_>) -> std::result::Result<(), String> {
    let name = p.key().unwrap_or_default();
    pki::id::check(name).map_err(|e| format!("certification-authority {name}: {e}"))?;
    for leaf in ["file", "crl"] {
        if let Some(f) = p.value(leaf) {
            crate::ikecert::resolve(f)
                .map_err(|e| format!("certification-authority {name}: {leaf}: {e}"))?;
        }
    }
    if p.value("enrollment-url").is_some() && p.value("ca-name").is_none() {
        return Err(format!(
            "certification-authority {name}: enrollment-url needs ca-name (the CA identity sent to the CA)"
        ));
    }
    Ok(())
}

/// The `security certificates certification-authority NAME file F`
/// entries: (NAME, F). Each file (of `/var/etc/ikecert`, see
/// [`crate::ikecert`]) holds a CA certificate the IKE authenticator trusts
/// beside the store's.
pub fn ca_files(config: &Config) -> Vec<(String, String)> {
    let Some(certs) = config.get(CERTS) else {
        return Vec::new();
    };
    certs
        .entries("certification-authority")
        .into_iter()
        .filter_map(|c| Some((c.key()?.to_string(), c.value("file")?.to_string())))
        .collect()
}

/// `security certificates path-length`: the longest chain the IKE
/// authenticator accepts (intermediates), when configured.
pub fn path_length(config: &Config) -> Option<usize> {
    config
        .get(CERTS)?
        .value("path-length")
        .and_then(|v| v.parse().ok())
}

/// Registers `[edit security pki]`.
pub fn register_schema(s: &mut Schema) -> std::result::Result<(), SchemaError> {
    register_certificates_schema(s)?;
    s.container(PKI, "PKI service configuration")?;
    s.list(
        &path(&["ca-profile"]),
        ValueType::Word,
        "Name of certificate authority profile",
    )?;
    s.placeholder(&path(&["ca-profile"]), "name")?;
    s.validator(&path(&["ca-profile"]), Box::new(check_profile))?;
    let cp = |rest: &[&'static str]| {
        let mut p = path(&["ca-profile"]);
        p.extend_from_slice(rest);
        p
    };
    s.leaf(
        &cp(&["ca-identity"]),
        ValueType::Word,
        "Certificate authority identifier",
    )?;
    s.mandatory(&cp(&["ca-identity"]))?;
    s.container(
        &cp(&["enrollment"]),
        "Enrollment parameters for certificate authority",
    )?;
    s.leaf(
        &cp(&["enrollment", "url"]),
        ValueType::Url,
        "Enrollment URL of certificate authority",
    )?;
    s.leaf(
        &cp(&["enrollment", "retry"]),
        ValueType::Uint { min: 0, max: 1080 },
        "Number of enrollment retry attempts before aborting",
    )?;
    s.leaf(
        &cp(&["enrollment", "retry-interval"]),
        ValueType::Uint { min: 0, max: 3600 },
        "Interval in seconds between the enrollment retries",
    )?;
    s.container(
        &cp(&["revocation-check"]),
        "Method for checking certificate revocations",
    )?;
    s.flag(
        &cp(&["revocation-check", "disable"]),
        "Disable revocation check",
    )?;
    s.container(
        &cp(&["revocation-check", "crl"]),
        "Certificate revocation list configuration",
    )?;
    s.leaf_list(
        &cp(&["revocation-check", "crl", "url"]),
        ValueType::Url,
        "URL of CRL distribution point for certificate authority",
    )?;
    s.leaf(
        &cp(&["revocation-check", "crl", "refresh-interval"]),
        ValueType::Uint { min: 0, max: 8784 },
        "CRL refresh interval (hours)",
    )?;
    s.container(
        &cp(&["revocation-check", "crl", "disable"]),
        "Disable CRL validation",
    )?;
    s.flag(
        &cp(&["revocation-check", "crl", "disable", "on-download-failure"]),
        "Check revocation status with existing CRL file if present, otherwise skip",
    )?;
    s.choice(&cp(&["revocation-check"]), &["disable", "crl"])?;
    register_auto_reenrollment(s)?;
    s.container(&cp(&["administrator"]), "Administrator information")?;
    s.leaf(
        &cp(&["administrator", "email-address"]),
        ValueType::Text,
        "Administrator e-mail to which to send certificate requests",
    )?;
    Ok(())
}

/// `security pki auto-re-enrollment (scep | cmpv2) certificate-id ID { … }`.
fn register_auto_reenrollment(s: &mut Schema) -> std::result::Result<(), SchemaError> {
    s.container(
        &path(&["auto-re-enrollment"]),
        "Automatic re-enrollment of local certificates",
    )?;
    for (proto, help) in [
        ("scep", "Re-enroll with SCEP"),
        ("cmpv2", "Re-enroll with CMPv2 (key update)"),
    ] {
        let base = |rest: &[&'static str]| {
            let mut p = path(&["auto-re-enrollment", proto, "certificate-id"]);
            p.extend_from_slice(rest);
            p
        };
        s.container(&path(&["auto-re-enrollment", proto]), help)?;
        s.list(&base(&[]), ValueType::Word, "Certificate identifier")?;
        s.placeholder(&base(&[]), "name")?;
        s.leaf(
            &base(&["ca-profile-name"]),
            ValueType::Word,
            "CA profile name",
        )?;
        s.mandatory(&base(&["ca-profile-name"]))?;
        s.leaf(
            &base(&["re-enroll-trigger-time-percentage"]),
            ValueType::Uint { min: 1, max: 99 },
            "Re-enroll when this percentage of the lifetime remains",
        )?;
        s.mandatory(&base(&["re-enroll-trigger-time-percentage"]))?;
        s.flag(&base(&["re-generate-keypair"]), "Certify a new key pair")?;
        if proto == "scep" {
            s.leaf(
                &base(&["challenge-password"]),
                ValueType::Text,
                "Challenge password the CA asks for",
            )?;
            s.secret(&base(&["challenge-password"]))?;
            s.leaf(
                &base(&["scep-encryption-algorithm"]),
                ValueType::Enum(&["des", "des3", "aes128", "aes256"]),
                "Envelope cipher",
            )?;
            s.leaf(
                &base(&["scep-digest-algorithm"]),
                ValueType::Enum(&["sha1", "sha256", "sha384", "sha512"]),
                "Digest",
            )?;
        }
    }
    Ok(())
}

/// One `auto-re-enrollment` entry of the committed configuration.
#[derive(Clone, PartialEq, Eq)]
pub struct AutoReenroll {
    /// The local certificate.
    pub cert_id: String,
    /// SCEP or CMPv2.
    pub protocol: crate::enroll::Protocol,
    /// The CA profile.
    pub profile: String,
    /// Re-enroll when this percentage of the lifetime remains.
    pub percentage: u8,
    /// Certify a new key pair.
    pub new_key: bool,
    /// SCEP challenge password.
    pub challenge: Option<String>,
    /// SCEP `scep-encryption-algorithm`.
    pub cipher: Option<String>,
    /// SCEP `scep-digest-algorithm`.
    pub digest: Option<String>,
}

impl std::fmt::Debug for AutoReenroll {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AutoReenroll")
            .field("cert_id", &self.cert_id)
            .field("protocol", &self.protocol)
            .field("profile", &self.profile)
            .field("percentage", &self.percentage)
            .field("new_key", &self.new_key)
            .finish_non_exhaustive()
    }
}

/// The `auto-re-enrollment` entries of `config`.
pub fn auto_reenrollment(config: &Config) -> Vec<AutoReenroll> {
    let Some(are) = config.get(&path(&["auto-re-enrollment"])) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (proto, protocol) in [
        ("scep", crate::enroll::Protocol::Scep),
        ("cmpv2", crate::enroll::Protocol::Cmpv2),
    ] {
        let Some(p) = are.child(proto) else { continue };
        for e in p.entries("certificate-id") {
            let Some(id) = e.key() else { continue };
            out.push(AutoReenroll {
                cert_id: id.to_string(),
                protocol,
                profile: e.value("ca-profile-name").unwrap_or_default().to_string(),
                percentage: e
                    .value("re-enroll-trigger-time-percentage")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(10),
                new_key: e.has("re-generate-keypair"),
                challenge: e.value("challenge-password").map(str::to_string),
                cipher: e.value("scep-encryption-algorithm").map(str::to_string),
                digest: e.value("scep-digest-algorithm").map(str::to_string),
            });
        }
    }
    out
}

/// Commit-time checks of one `ca-profile` entry.
fn check_profile(p: &ConfigNodeView<'_>) -> std::result::Result<(), String> {
    let name = p.key().unwrap_or_default();
    pki::id::check(name).map_err(|e| format!("ca-profile {name}: {e}"))?;
    if let Some(url) = p.child("enrollment").and_then(|e| e.value("url"))
        && !(url.starts_with("http://") || url.starts_with("https://"))
    {
        return Err(format!(
            "ca-profile {name}: enrollment url '{url}' must be an http:// or https:// URL"
        ));
    }
    if let Some(crl) = p.child("revocation-check").and_then(|r| r.child("crl")) {
        for url in crl.values("url") {
            if !(url.starts_with("http://")
                || url.starts_with("https://")
                || url.starts_with("ldap://"))
            {
                return Err(format!(
                    "ca-profile {name}: crl url '{url}' must be an http://, https:// or ldap:// URL"
                ));
            }
        }
    }
    if let Some(mail) = p
        .child("administrator")
        .and_then(|a| a.value("email-address"))
        && !mail.contains('@')
    {
        return Err(format!(
            "ca-profile {name}: administrator email-address '{mail}' is not an e-mail address"
        ));
    }
    Ok(())
}

/// The CA profiles of a configuration.
pub fn profiles(config: &Config) -> Vec<CaProfile> {
    let mut out = legacy_profiles(config);
    let Some(pki) = config.get(PKI) else {
        return out;
    };
    out.extend(modern_profiles(&pki));
    out
}

/// The `security certificates certification-authority` entries as CA
/// profiles (a `security pki ca-profile` of the same name wins).
fn legacy_profiles(config: &Config) -> Vec<CaProfile> {
    let Some(certs) = config.get(CERTS) else {
        return Vec::new();
    };
    let retry = certs.value("enrollment-retry").and_then(|v| v.parse().ok());
    certs
        .entries("certification-authority")
        .into_iter()
        .filter_map(|c| {
            let name = c.key()?;
            let mut profile = CaProfile::new(name, c.value("ca-name").unwrap_or(name));
            profile.enrollment_url = c.value("enrollment-url").map(str::to_string);
            if let Some(r) = retry {
                profile.retry = r;
            }
            Some(profile)
        })
        .collect()
}

fn modern_profiles(pki: &ConfigNodeView<'_>) -> Vec<CaProfile> {
    pki.entries("ca-profile")
        .into_iter()
        .filter_map(|p| {
            let name = p.key()?;
            let mut profile = CaProfile::new(name, p.value("ca-identity").unwrap_or(name));
            if let Some(e) = p.child("enrollment") {
                profile.enrollment_url = e.value("url").map(str::to_string);
                if let Some(r) = e.value("retry").and_then(|v| v.parse().ok()) {
                    profile.retry = r;
                }
                if let Some(r) = e.value("retry-interval").and_then(|v| v.parse().ok()) {
                    profile.retry_interval = r;
                }
            }
            if let Some(rc) = p.child("revocation-check") {
                if rc.has("disable") {
                    profile.revocation = Revocation::Disabled;
                } else if let Some(crl) = rc.child("crl") {
                    profile.revocation = Revocation::Crl {
                        urls: crl.values("url").to_vec(),
                        refresh_hours: crl.value("refresh-interval").and_then(|v| v.parse().ok()),
                        disable_on_download_failure: crl
                            .child("disable")
                            .is_some_and(|d| d.has("on-download-failure")),
                    };
                }
            }
            profile.admin_email = p
                .child("administrator")
                .and_then(|a| a.value("email-address"))
                .map(str::to_string);
            Some(profile)
        })
        .collect()
}

/// Registers the PKI commands.
pub fn register(t: &mut CommandTree<Session>) -> std::result::Result<(), DuplicateCommand> {
    use Mode::Operational as Op;
    let id = || Param::keyword("certificate-id", ArgType::Word, "Certificate identifier");
    let profile = || Param::keyword("ca-profile", ArgType::Word, "CA profile name");
    let file = || Param::keyword("filename", ArgType::Text, "File name");
    let level = || {
        vec![
            Param::flag("brief", "Display brief output (default)"),
            Param::flag("detail", "Display detailed output"),
        ]
    };
    let subject_params = || {
        vec![
            Param::keyword(
                "subject",
                ArgType::Text,
                "Distinguished name format: DC=<Domain component>,CN=<Common-Name>,OU=<Organizational-Unit-name>,O=<Organization-name>,SN=<Serial-Number>,L=<Locality>,ST=<state>,C=<Country>",
            )
            .required(),
            Param::keyword("domain-name", ArgType::Word, "Fully qualified domain name"),
            Param::keyword("email", ArgType::Word, "E-mail address"),
            Param::keyword("ip-address", ArgType::IpAddr, "IPv4 address"),
            Param::keyword("ipv6-address", ArgType::IpAddr, "IPv6 address"),
        ]
    };
    let scep_options = || {
        vec![
            Param::keyword(
                "challenge-password",
                ArgType::Text,
                "Challenge password the CA asks for",
            ),
            Param::keyword(
                "scep-encryption-algorithm",
                ArgType::Choice(&["des", "des3", "aes128", "aes256"]),
                "Envelope cipher (default: the strongest the CA offers)",
            ),
            Param::keyword(
                "scep-digest-algorithm",
                ArgType::Choice(&["md5", "sha1", "sha256", "sha384", "sha512"]),
                "Digest (default: the strongest the CA offers)",
            ),
        ]
    };
    t.help(Op, "request security", "Security-related requests");
    t.help(
        Op,
        "request security pki",
        "Public-key infrastructure requests",
    );
    t.help(Op, "show security", "Show security information");
    t.register(
        Op,
        "show security ike",
        "Show IKE information: the latest peer authentications and why refused ones were",
        vec![],
        handler(|s: &mut Session, _inv: &Invocation, t: &mut dyn Terminal| {
            t.print(&crate::ike_auth::show(&s.shared));
            Ok(())
        }),
    )?;
    t.help(
        Op,
        "show security pki",
        "Show public-key infrastructure information",
    );
    t.help(Op, "clear security", "Clear security information");
    t.help(
        Op,
        "clear security pki",
        "Clear public-key infrastructure information",
    );

    t.register(
        Op,
        "request security pki generate-key-pair",
        "Generate public/private key pair",
        vec![
            id().required(),
            Param::keyword(
                "size",
                ArgType::Uint {
                    min: 0,
                    max: u32::MAX as u64,
                },
                "Key size in bits (RSA 512..4096, ECDSA 256|384, DSA 1024|2048)",
            ),
            Param::keyword(
                "type",
                ArgType::Choice(&["rsa", "ecdsa", "dsa"]),
                "Key type",
            ),
        ],
        handler(generate_key_pair),
    )?;
    t.register(
        Op,
        "request security key-pair",
        "Generate public/private key pair (ES PIC)",
        vec![
            Param::positional("name", ArgType::Word, "Name of file to store the key pair")
                .required(),
            Param::keyword(
                "size",
                ArgType::Uint {
                    min: 0,
                    max: u32::MAX as u64,
                },
                "Key size in bits",
            ),
            Param::keyword("type", ArgType::Choice(&["rsa", "dsa"]), "Key type"),
        ],
        handler(legacy_key_pair),
    )?;
    t.register(
        Op,
        "request security pki key-pair export",
        "Export a key pair (private key, PKCS#8) to a file, mode 0600",
        vec![
            id().required(),
            file().required(),
            Param::keyword(
                "type",
                ArgType::Choice(&["pem", "der"]),
                "Encoding (default pem)",
            ),
        ],
        handler(export_key_pair),
    )?;
    t.register(
        Op,
        "show security pki key-pair",
        "Show key pairs",
        vec![id()],
        handler(show_key_pairs),
    )?;
    t.renders_json(Op, "show security pki key-pair");
    t.register(
        Op,
        "clear security pki key-pair",
        "Clear key pairs",
        vec![id(), Param::flag("all", "All key pairs")],
        handler(clear_key_pair),
    )?;

    let mut csr = vec![id().required()];
    csr.extend(subject_params());
    csr.push(file());
    csr.push(Param::keyword(
        "digest",
        ArgType::Choice(&["sha-1", "sha-256", "sha-384"]),
        "Digest algorithm of the signature",
    ));
    csr.push(Param::keyword(
        "challenge-password",
        ArgType::Text,
        "Challenge password put into the request",
    ));
    t.register(
        Op,
        "request security pki generate-certificate-request",
        "Generate PKCS-10 certificate request",
        csr,
        handler(generate_request),
    )?;
    let mut lv = vec![id()];
    lv.extend(level());
    t.register(
        Op,
        "show security pki certificate-request",
        "Show PKCS-10 certificate request information",
        lv,
        handler(show_requests),
    )?;
    t.renders_json(Op, "show security pki certificate-request");
    t.register(
        Op,
        "clear security pki certificate-request",
        "Clear certificate requests",
        vec![id(), Param::flag("all", "All certificate requests")],
        handler(clear_request),
    )?;

    t.help(
        Op,
        "request security pki local-certificate",
        "Local certificate requests",
    );
    let mut ss = vec![id().required()];
    ss.extend(subject_params());
    ss.push(Param::flag(
        "add-ca-constraint",
        "Add the CA basic constraint (cA TRUE)",
    ));
    t.register(
        Op,
        "request security pki local-certificate generate-self-signed",
        "Generate self-signed certificate",
        ss,
        handler(generate_self_signed),
    )?;
    t.help(
        Op,
        "request security pki local-certificate enroll",
        "Enroll a local certificate online",
    );
    let mut enroll = vec![profile().required(), id().required()];
    enroll.extend(subject_params());
    enroll.extend(scep_options());
    t.register(
        Op,
        "request security pki local-certificate enroll scep",
        "Enroll a local certificate with SCEP",
        enroll,
        handler(enroll_local_scep),
    )?;
    let mut cmp = vec![profile().required(), id().required()];
    cmp.extend(subject_params());
    cmp.extend([
        Param::keyword(
            "ca-dn",
            ArgType::Text,
            "Subject of the CA (the CMP recipient)",
        )
        .required(),
        Param::keyword(
            "ca-secret",
            ArgType::Text,
            "Shared secret (initial authentication key)",
        ),
        Param::keyword(
            "ca-reference",
            ArgType::Text,
            "Reference value of the shared secret",
        ),
    ]);
    t.register(
        Op,
        "request security pki local-certificate enroll cmpv2",
        "Enroll a local certificate with CMPv2",
        cmp,
        handler(enroll_local_cmp),
    )?;
    t.help(
        Op,
        "request security pki local-certificate re-enroll",
        "Renew a local certificate online",
    );
    t.register(
        Op,
        "request security pki local-certificate re-enroll cmpv2",
        "Renew a local certificate with a CMPv2 key update (KUR)",
        vec![
            profile().required(),
            id().required(),
            Param::flag(
                "re-generate-keypair",
                "Certify a new key pair of the same type and size",
            ),
        ],
        handler(reenroll_local_cmp),
    )?;
    t.register(
        Op,
        "request security pki local-certificate re-enroll scep",
        "Renew a local certificate with SCEP (RenewalReq, or a PKCSReq signed with it)",
        [profile().required(), id().required()]
            .into_iter()
            .chain(scep_options())
            .collect(),
        handler(reenroll_local_scep),
    )?;
    t.register(
        Op,
        "request security pki local-certificate verify",
        "Verify a local certificate (chain, validity, revocation)",
        vec![id().required()],
        handler(verify_local),
    )?;
    t.register(
        Op,
        "request security pki local-certificate export",
        "Export a local certificate to a file",
        vec![
            id().required(),
            file().required(),
            Param::keyword(
                "type",
                ArgType::Choice(&["pem", "der"]),
                "Encoding (default pem)",
            ),
        ],
        handler(export_local),
    )?;
    t.register(
        Op,
        "request security pki local-certificate load",
        "Load local certificate from file",
        vec![
            id().required(),
            file().required(),
            Param::keyword("key", ArgType::Text, "File holding the private key"),
        ],
        handler(load_local),
    )?;
    let mut lv = vec![
        id(),
        Param::flag("system-generated", "System-generated certificate"),
    ];
    lv.extend(level());
    t.register(
        Op,
        "show security pki local-certificate",
        "Show local certificate information",
        lv,
        handler(show_locals),
    )?;
    t.renders_json(Op, "show security pki local-certificate");
    t.register(
        Op,
        "clear security pki local-certificate",
        "Clear local certificates, their requests and key pairs",
        vec![
            id(),
            Param::flag("all", "All local certificates"),
            Param::flag(
                "system-generated",
                "The system-generated certificate (made again)",
            ),
        ],
        handler(clear_local),
    )?;

    t.help(
        Op,
        "request security pki ca-certificate",
        "CA certificate requests",
    );
    t.register(
        Op,
        "request security pki ca-certificate load",
        "Load CA certificate from file",
        vec![
            profile().required(),
            file().required(),
            Param::flag("force", "Load without asking for confirmation"),
        ],
        handler(load_ca),
    )?;
    t.register(
        Op,
        "request security pki ca-certificate verify",
        "Verify a CA certificate (signature, validity)",
        vec![profile().required()],
        handler(verify_ca),
    )?;
    t.register(
        Op,
        "request security pki ca-certificate enroll",
        "Obtain the CA certificate from the CA with SCEP",
        vec![
            profile().required(),
            Param::flag("force", "Load without asking for confirmation"),
        ],
        handler(enroll_ca),
    )?;
    t.help(
        Op,
        "request security certificate",
        "Certificate requests (ES PIC)",
    );
    t.register(
        Op,
        "request security certificate enroll",
        "Obtain a CA certificate, or a local certificate, with SCEP into a file (ES PIC)",
        vec![
            file().required(),
            Param::keyword(
                "ca-name",
                ArgType::Text,
                "CA identity sent to the CA (CA certificate)",
            ),
            Param::keyword("url", ArgType::Text, "SCEP URL of the CA (CA certificate)"),
            Param::keyword(
                "ca-file",
                ArgType::Word,
                "Also load it as the CA certificate of this CA profile",
            ),
            Param::keyword(
                "encoding",
                ArgType::Choice(&["binary", "pem"]),
                "File encoding (default binary)",
            ),
            Param::keyword("subject", ArgType::Text, "Subject DN (local certificate)"),
            Param::keyword(
                "alternative-subject",
                ArgType::IpAddr,
                "Tunnel source address (local certificate)",
            ),
            Param::keyword(
                "certification-authority",
                ArgType::Word,
                "CA profile to enroll with (local certificate)",
            ),
            Param::keyword("key-file", ArgType::Word, "Key pair (local certificate)"),
            Param::keyword("domain-name", ArgType::Word, "Fully qualified domain name"),
            Param::keyword("password", ArgType::Text, "Challenge password"),
        ],
        handler(legacy_enroll),
    )?;
    let mut lv = vec![profile()];
    lv.extend(level());
    t.register(
        Op,
        "show security pki ca-certificate",
        "Show CA certificate information",
        lv,
        handler(show_cas),
    )?;
    t.renders_json(Op, "show security pki ca-certificate");
    t.register(
        Op,
        "clear security pki ca-certificate",
        "Clear CA certificates",
        vec![
            profile(),
            Param::flag("all", "All CA certificates"),
            Param::flag("force", "Clear without asking for confirmation"),
        ],
        handler(clear_ca),
    )?;

    t.help(
        Op,
        "request security pki crl",
        "Certificate revocation list requests",
    );
    t.register(
        Op,
        "request security pki crl load",
        "Load certificate revocation list from file",
        vec![profile().required(), file().required()],
        handler(load_crl),
    )?;
    let mut lv = vec![profile()];
    lv.extend(level());
    t.register(
        Op,
        "show security pki crl",
        "Show certificate revocation list information",
        lv,
        handler(show_crls),
    )?;
    t.renders_json(Op, "show security pki crl");
    t.register(
        Op,
        "clear security pki crl",
        "Clear certificate revocation lists",
        vec![profile(), Param::flag("all", "All CRLs")],
        handler(clear_crl),
    )?;
    Ok(())
}

fn level_of(inv: &Invocation) -> Level {
    if inv.flag("detail") {
        Level::Detail
    } else {
        Level::Brief
    }
}

fn print_json(t: &mut dyn Terminal, v: &serde_json::Value) {
    let mut j = serde_json::to_string_pretty(v).unwrap_or_default();
    j.push('\n');
    t.print(&j);
}

/// A file the operator named: absolute, or relative to the router's home.
fn operator_path(s: &Session, name: &str) -> PathBuf {
    let p = PathBuf::from(name);
    if p.is_absolute() {
        p
    } else {
        s.shared.dir.home().join(p)
    }
}

fn read_file(s: &Session, name: &str) -> Result<Vec<u8>> {
    let p = operator_path(s, name);
    std::fs::read(&p).map_err(|e| CommandError::failed(format!("cannot read {}: {e}", p.display())))
}

fn spec_of(inv: &Invocation, default: KeySpec) -> Result<KeySpec> {
    spec_with(inv, default, KeySpec::new)
}

fn spec_with(
    inv: &Invocation,
    default: KeySpec,
    check: fn(KeyAlgorithm, u32) -> std::result::Result<KeySpec, pki::key::KeyError>,
) -> Result<KeySpec> {
    let algorithm = inv
        .text("type")
        .and_then(KeyAlgorithm::from_keyword)
        .unwrap_or(default.algorithm);
    let bits = match inv.uint("size") {
        Some(b) => u32::try_from(b).map_err(|_| CommandError::failed("key size is too large"))?,
        None if algorithm == KeyAlgorithm::Ecdsa => 256,
        None => default.bits,
    };
    check(algorithm, bits).map_err(|e| CommandError::failed(e.to_string()))
}

fn generate_key_pair(s: &mut Session, inv: &Invocation, t: &mut dyn Terminal) -> Result<()> {
    let id = inv.text("certificate-id").unwrap_or_default().to_string();
    let spec = spec_of(inv, KeySpec::DEFAULT)?;
    let generated = s
        .shared
        .pki()
        .generate_key_pair(&id, spec)
        .map_err(failed)?;
    if let Some(why) = generated.warning {
        t.print(&format!("warning: {spec} is a weak key size: {why}\n"));
    }
    t.print(&format!(
        "Generated key pair {id}, key size {} bits\n",
        spec.bits
    ));
    Ok(())
}

/// `request security key-pair NAME`: the key pair `NAME` of the store and
/// the file `/var/etc/ikecert/NAME` holding it (see
/// [`pki::manager::Pki::generate_es_pic_key_pair`]).
fn legacy_key_pair(s: &mut Session, inv: &Invocation, t: &mut dyn Terminal) -> Result<()> {
    let name = crate::ikecert::key_pair_name(inv.text("name").unwrap_or_default())
        .map_err(CommandError::failed)?;
    // The ES PIC defaults (RSA, 1024 bits) and sizes.
    let spec = spec_with(
        inv,
        KeySpec {
            algorithm: KeyAlgorithm::Rsa,
            bits: 1024,
        },
        KeySpec::es_pic,
    )?;
    let generated = s
        .shared
        .pki()
        .generate_es_pic_key_pair(&name, spec)
        .map_err(failed)?;
    crate::ikecert::changed(&s.shared);
    if let Some(why) = generated.warning {
        t.print(&format!("warning: {spec} is a weak key size: {why}\n"));
    }
    t.print(&format!(
        "Generated key pair, key size {}, file {name} Algorithm {}\n",
        spec.bits, spec.algorithm
    ));
    Ok(())
}

fn show_key_pairs(s: &mut Session, inv: &Invocation, t: &mut dyn Terminal) -> Result<()> {
    let pki = s.shared.pki();
    let only = inv.text("certificate-id");
    let rows: Vec<(&str, KeySpec, &str)> = pki
        .key_pairs()
        .iter()
        .filter(|(id, _)| only.is_none_or(|o| o == id.as_str()))
        .map(|(id, k)| (id.as_str(), k.key.spec(), k.origin.location()))
        .collect();
    if let Some(o) = only
        && rows.is_empty()
    {
        return Err(CommandError::failed(format!(
            "Keypair doesn't exist for certificate-id {o}"
        )));
    }
    if inv.display == Display::Json {
        print_json(t, &render::key_pairs_json(&rows));
    } else {
        t.print(&render::key_pairs(&rows));
    }
    Ok(())
}

fn clear_key_pair(s: &mut Session, inv: &Invocation, _t: &mut dyn Terminal) -> Result<()> {
    let mut pki = s.shared.pki();
    match (inv.text("certificate-id"), inv.flag("all")) {
        (Some(id), false) => pki.clear_key_pair(id).map_err(failed),
        (None, true) => {
            let ids: Vec<String> = pki
                .key_pairs()
                .keys()
                .filter(|id| !pki.local_certificates().contains_key(*id))
                .cloned()
                .collect();
            for id in ids {
                pki.clear_key_pair(&id).map_err(failed)?;
            }
            Ok(())
        }
        _ => Err(CommandError::failed("specify certificate-id ID or all")),
    }
}

fn alt_names(inv: &Invocation) -> AltNames {
    AltNames {
        dns: inv
            .text("domain-name")
            .map(str::to_string)
            .into_iter()
            .collect(),
        email: inv.text("email").map(str::to_string).into_iter().collect(),
        ip: [inv.ip("ip-address"), inv.ip("ipv6-address")]
            .into_iter()
            .flatten()
            .collect(),
        other: Vec::new(),
    }
}

fn generate_request(s: &mut Session, inv: &Invocation, t: &mut dyn Terminal) -> Result<()> {
    let id = inv.text("certificate-id").unwrap_or_default().to_string();
    let subject = inv.text("subject").unwrap_or_default().to_string();
    let hash = match inv.text("digest") {
        Some("sha-1") => Some(HashAlg::Sha1),
        Some("sha-256") => Some(HashAlg::Sha256),
        Some("sha-384") => Some(HashAlg::Sha384),
        _ => None,
    };
    let req = s
        .shared
        .pki()
        .generate_request(
            &id,
            &subject,
            &alt_names(inv),
            inv.text("challenge-password"),
            hash,
        )
        .map_err(failed)?;
    let pem = encoding::to_pem("CERTIFICATE REQUEST", &req)
        .map_err(|e| CommandError::failed(e.to_string()))?;
    if let Some(f) = inv.text("filename") {
        let p = operator_path(s, f);
        std::fs::write(&p, pem.as_bytes())
            .map_err(|e| CommandError::failed(format!("cannot write {}: {e}", p.display())))?;
    }
    let info = RequestInfo::of(&req);
    t.print(&format!(
        "Generated certificate request\n{pem}Fingerprint:\n{} (sha1)\n{} (md5)\n",
        info.fingerprints.sha1, info.fingerprints.md5
    ));
    Ok(())
}

fn show_requests(s: &mut Session, inv: &Invocation, t: &mut dyn Terminal) -> Result<()> {
    let pki = s.shared.pki();
    let only = inv.text("certificate-id");
    let infos: Vec<(&str, RequestInfo)> = pki
        .requests()
        .iter()
        .filter(|(id, _)| only.is_none_or(|o| o == id.as_str()))
        .map(|(id, r)| (id.as_str(), RequestInfo::of(r)))
        .collect();
    if let Some(o) = only
        && infos.is_empty()
    {
        return Err(CommandError::failed(format!(
            "certificate request {o} doesn't exist"
        )));
    }
    let rows: Vec<(&str, &RequestInfo)> = infos.iter().map(|(i, r)| (*i, r)).collect();
    if inv.display == Display::Json {
        print_json(t, &render::requests_json(&rows, level_of(inv)));
    } else {
        t.print(&render::requests(&rows, level_of(inv)));
    }
    Ok(())
}

fn clear_request(s: &mut Session, inv: &Invocation, _t: &mut dyn Terminal) -> Result<()> {
    let mut pki = s.shared.pki();
    match (inv.text("certificate-id"), inv.flag("all")) {
        (Some(id), false) => pki.clear_request(id).map_err(failed),
        (None, true) => {
            let ids: Vec<String> = pki.requests().keys().cloned().collect();
            for id in ids {
                pki.clear_request(&id).map_err(failed)?;
            }
            Ok(())
        }
        _ => Err(CommandError::failed("specify certificate-id ID or all")),
    }
}

fn generate_self_signed(s: &mut Session, inv: &Invocation, t: &mut dyn Terminal) -> Result<()> {
    let id = inv.text("certificate-id").unwrap_or_default().to_string();
    let subject = inv.text("subject").unwrap_or_default().to_string();
    let now = s.shared.clock.now();
    s.shared
        .pki()
        .generate_self_signed(
            &id,
            &subject,
            &alt_names(inv),
            inv.flag("add-ca-constraint"),
            now,
        )
        .map_err(failed)?;
    t.print("Self-signed certificate generated and loaded successfully\n");
    Ok(())
}

fn load_local(s: &mut Session, inv: &Invocation, t: &mut dyn Terminal) -> Result<()> {
    let id = inv.text("certificate-id").unwrap_or_default().to_string();
    let cert = read_file(s, inv.text("filename").unwrap_or_default())?;
    let key = match inv.text("key") {
        Some(k) => Some(read_file(s, k)?),
        None => None,
    };
    s.shared
        .pki()
        .load_local(&id, &cert, key.as_deref())
        .map_err(failed)?;
    t.print("Local certificate loaded successfully\n");
    Ok(())
}

fn show_locals(s: &mut Session, inv: &Invocation, t: &mut dyn Terminal) -> Result<()> {
    // Before the PKI lock: expanding `certificate-id all` reads the store.
    let auto = crate::autorenew::effective_entries(&s.shared);
    let pki = s.shared.pki();
    let only = if inv.flag("system-generated") {
        Some(SYSTEM_GENERATED)
    } else {
        inv.text("certificate-id")
    };
    let infos: Vec<(&str, CertInfo, &str, Option<&str>)> = pki
        .local_certificates()
        .iter()
        .filter(|(id, _)| only.is_none_or(|o| o == id.as_str()))
        .map(|(id, c)| {
            let location = pki
                .key_pairs()
                .get(id)
                .map(|k| k.origin.location())
                .unwrap_or("Keypair not found");
            (
                id.as_str(),
                CertInfo::of(c),
                location,
                pki.issuer_profile(c),
            )
        })
        .collect();
    let enrollments: Vec<crate::enroll::Record> = pki
        .enrollments()
        .values()
        .filter_map(|b| crate::enroll::Record::from_json(b).ok())
        .filter(|r| only.is_none_or(|o| o == r.cert_id))
        .collect();
    if let Some(o) = only
        && infos.is_empty()
        && enrollments.is_empty()
    {
        return Err(CommandError::failed(format!(
            "certificate-id {o} not found in local database"
        )));
    }
    let reenrollments: Vec<Reenrollment> = infos
        .iter()
        .map(|(id, _, _, _)| {
            let entry = auto.iter().find(|e| e.cert_id == *id).cloned();
            let cert = pki.local_certificates().get(*id);
            let running = enrollments.iter().find(|r| r.cert_id == *id && r.automatic);
            Reenrollment {
                enabled: entry.is_some(),
                next_trigger: match (&entry, cert) {
                    (Some(e), Some(c)) if running.is_none() => Some(simclock::to_datetime(
                        crate::autorenew::trigger_time(c, e.percentage),
                    )),
                    _ => None,
                },
                last_result: match running {
                    Some(r) => Some(format!(
                        "in progress ({})",
                        r.last_error.as_deref().unwrap_or("request sent")
                    )),
                    None => pki.reenrollment_result(id).map(str::to_string),
                },
            }
        })
        .collect();
    let rows: Vec<LocalCert<'_>> = infos
        .iter()
        .zip(&reenrollments)
        .map(|((id, info, location, profile), reenrollment)| LocalCert {
            id,
            info,
            key_location: location,
            ca_profile: profile.filter(|p| Some(*p) != Some(*id)),
            reenrollment,
        })
        .collect();
    if inv.display == Display::Json {
        print_json(t, &render::local_certificates_json(&rows, level_of(inv)));
    } else {
        t.print(&render::local_certificates(&rows, level_of(inv)));
        for r in &enrollments {
            t.print(&crate::enroll::describe(r));
        }
    }
    Ok(())
}

fn clear_local(s: &mut Session, inv: &Invocation, _t: &mut dyn Terminal) -> Result<()> {
    let which = match (
        inv.text("certificate-id"),
        inv.flag("all"),
        inv.flag("system-generated"),
    ) {
        (Some("all"), false, false) | (None, true, false) => LocalSelector::All,
        (Some(id), false, false) => LocalSelector::Id(id.to_string()),
        (None, false, true) => LocalSelector::SystemGenerated,
        _ => {
            return Err(CommandError::failed(
                "specify one of certificate-id ID, all or system-generated",
            ));
        }
    };
    let now = s.shared.clock.now();
    s.shared.pki().clear_local(&which, now).map_err(failed)?;
    Ok(())
}

fn load_ca(s: &mut Session, inv: &Invocation, t: &mut dyn Terminal) -> Result<()> {
    let profile = inv.text("ca-profile").unwrap_or_default().to_string();
    let bytes = read_file(s, inv.text("filename").unwrap_or_default())?;
    let cert = s.shared.pki().read_ca(&profile, &bytes).map_err(failed)?;
    let f = Fingerprints::of(&certificate_der(&cert));
    t.print(&render::fingerprint_block(&f));
    if !inv.flag("force") && !confirm(t, "Do you want to load this CA certificate ?", false) {
        return Err(CommandError::Reported("CA certificate not loaded\n".into()));
    }
    s.shared.pki().store_ca(&profile, &cert).map_err(failed)?;
    t.print(&format!(
        "CA certificate for profile {profile} loaded successfully\n"
    ));
    Ok(())
}

fn show_cas(s: &mut Session, inv: &Invocation, t: &mut dyn Terminal) -> Result<()> {
    let pki = s.shared.pki();
    let only = inv.text("ca-profile");
    let infos: Vec<(&str, CertInfo)> = pki
        .ca_certificates()
        .iter()
        .filter(|(p, _)| only.is_none_or(|o| o == p.as_str()))
        .map(|(p, c)| (p.as_str(), CertInfo::of(c)))
        .collect();
    if let Some(o) = only
        && infos.is_empty()
    {
        return Err(CommandError::failed(format!(
            "CA certificate for profile {o} doesn't exist"
        )));
    }
    let rows: Vec<(&str, &CertInfo)> = infos.iter().map(|(p, c)| (*p, c)).collect();
    if inv.display == Display::Json {
        print_json(t, &render::ca_certificates_json(&rows, level_of(inv)));
    } else {
        t.print(&render::ca_certificates(&rows, level_of(inv)));
    }
    Ok(())
}

fn clear_ca(s: &mut Session, inv: &Invocation, t: &mut dyn Terminal) -> Result<()> {
    let which = match (inv.text("ca-profile"), inv.flag("all")) {
        (Some("all"), false) | (None, true) => None,
        (Some(p), false) => Some(p.to_string()),
        _ => return Err(CommandError::failed("specify ca-profile P or all")),
    };
    if let Some(p) = &which
        && !s.shared.pki().ca_certificates().contains_key(p)
    {
        return Err(failed(PkiError::NoCa(p.clone())));
    }
    let question = match &which {
        Some(p) => format!("Do you want to clear the CA certificate of profile {p} ?"),
        None => "Do you want to clear all CA certificates ?".to_string(),
    };
    if !inv.flag("force") && !confirm(t, &question, false) {
        return Ok(());
    }
    s.shared.pki().clear_ca(which.as_deref()).map_err(failed)?;
    Ok(())
}

fn load_crl(s: &mut Session, inv: &Invocation, t: &mut dyn Terminal) -> Result<()> {
    let profile = inv.text("ca-profile").unwrap_or_default().to_string();
    let bytes = read_file(s, inv.text("filename").unwrap_or_default())?;
    s.shared.pki().load_crl(&profile, &bytes).map_err(failed)?;
    t.print(&format!(
        "CRL for CA profile {profile} loaded successfully\n"
    ));
    Ok(())
}

fn show_crls(s: &mut Session, inv: &Invocation, t: &mut dyn Terminal) -> Result<()> {
    let pki = s.shared.pki();
    let only = inv.text("ca-profile");
    let infos: Vec<(&str, CrlInfo)> = pki
        .crls()
        .iter()
        .filter(|(p, _)| only.is_none_or(|o| o == p.as_str()))
        .map(|(p, c)| (p.as_str(), CrlInfo::of(c)))
        .collect();
    if let Some(o) = only
        && infos.is_empty()
    {
        return Err(failed(PkiError::NoCrl(o.to_string())));
    }
    let rows: Vec<(&str, &CrlInfo)> = infos.iter().map(|(p, c)| (*p, c)).collect();
    if inv.display == Display::Json {
        print_json(t, &render::crls_json(&rows, level_of(inv)));
    } else {
        t.print(&render::crls(&rows, level_of(inv)));
    }
    Ok(())
}

fn clear_crl(s: &mut Session, inv: &Invocation, _t: &mut dyn Terminal) -> Result<()> {
    let which = match (inv.text("ca-profile"), inv.flag("all")) {
        (Some("all"), false) | (None, true) => None,
        (Some(p), false) => Some(p),
        _ => return Err(CommandError::failed("specify ca-profile P or all")),
    };
    s.shared.pki().clear_crl(which).map_err(failed)?;
    Ok(())
}

fn failed_text(e: impl std::fmt::Display) -> CommandError {
    CommandError::failed(e.to_string())
}

/// The enrollment URL and CA identity of a configured profile.
fn enrollment_target(s: &Session, profile: &str) -> Result<(String, String)> {
    let pki = s.shared.pki();
    let p = pki
        .profile(profile)
        .ok_or_else(|| failed(PkiError::ProfileNotConfigured(profile.to_string())))?;
    let url = p.enrollment_url.clone().ok_or_else(|| {
        CommandError::failed(format!("CA profile {profile} has no enrollment url"))
    })?;
    Ok((url, p.ca_identity.clone()))
}

fn fingerprint_lines(cert: &x509_cert::Certificate) -> String {
    render::fingerprint_block(&Fingerprints::of(&certificate_der(cert)))
}

fn enroll_ca(s: &mut Session, inv: &Invocation, t: &mut dyn Terminal) -> Result<()> {
    let profile = inv.text("ca-profile").unwrap_or_default().to_string();
    let (url, ident) = enrollment_target(s, &profile)?;
    let caps = crate::enroll::get_caps(&url).map_err(failed_text)?;
    tracing::info!(
        target: "pki",
        "CA profile {profile}: the CA offers {}",
        caps.render().lines().collect::<Vec<_>>().join(", ")
    );
    let chain = crate::enroll::get_ca_cert(&url, &ident).map_err(failed_text)?;
    if chain.ra.is_empty() {
        t.print(&fingerprint_lines(&chain.ca));
    } else {
        t.print("Received following certificates:\n");
        for c in chain.ra.iter().chain(std::iter::once(&chain.ca)) {
            t.print(&format!(
                "Certificate: {}\n",
                pki::name::subject_string(c.tbs_certificate().subject())
            ));
            t.print(&fingerprint_lines(c));
        }
    }
    if !inv.flag("force") && !confirm(t, "Do you want to load the above CA certificate ?", false) {
        return Err(CommandError::Reported("CA certificate not loaded\n".into()));
    }
    s.shared
        .pki()
        .store_ca_chain(&profile, &chain.ca, &chain.ra)
        .map_err(failed)?;
    tracing::info!(target: "pki", "CA certificate for profile {profile} enrolled from {url}");
    t.print(&format!(
        "CA certificate for profile {profile} loaded successfully\n"
    ));
    Ok(())
}

/// `request security certificate enroll`: the local-certificate form when
/// a subject is given, else the CA-certificate form.
fn legacy_enroll(s: &mut Session, inv: &Invocation, t: &mut dyn Terminal) -> Result<()> {
    if inv.text("subject").is_some() {
        legacy_enroll_local(s, inv, t)
    } else {
        legacy_enroll_ca(s, inv, t)
    }
}

fn legacy_enroll_local(s: &mut Session, inv: &Invocation, t: &mut dyn Terminal) -> Result<()> {
    let need = |k: &str| {
        inv.text(k).map(str::to_string).ok_or_else(|| {
            CommandError::failed(format!(
                "missing argument {k} (local certificate enrollment)"
            ))
        })
    };
    let profile = need("certification-authority")?;
    let id = crate::ikecert::key_pair_name(&need("key-file")?)
        .map_err(|e| CommandError::failed(format!("key-file: {e}")))?;
    let subject = need("subject")?;
    let target = crate::ikecert::resolve(inv.text("filename").unwrap_or_default())
        .map_err(|e| CommandError::failed(format!("filename: {e}")))?;
    let alt = AltNames {
        dns: inv
            .text("domain-name")
            .map(str::to_string)
            .into_iter()
            .collect(),
        email: Vec::new(),
        ip: inv.ip("alternative-subject").into_iter().collect(),
        other: Vec::new(),
    };
    if alt.dns.is_empty() && alt.ip.is_empty() {
        return Err(CommandError::failed(
            "at least one of alternative-subject or domain-name is required",
        ));
    }
    let (url, _) = enrollment_target(s, &profile)?;
    {
        let pki = s.shared.pki();
        // It must exist and be RSA (the Junos SCEP key message).
        pki.scep_key(&id).map_err(|e| match e {
            PkiError::NoKeyPair(_) => CommandError::failed(format!(
                "key-file {id}: no key pair {id} (make it with request security key-pair {id})"
            )),
            other => failed(other),
        })?;
        if !pki.ca_certificates().contains_key(&profile) {
            return Err(failed(PkiError::NoCa(profile.clone())));
        }
        if pki.enrollments().contains_key(&id) {
            return Err(CommandError::failed(format!(
                "an enrollment of key-file {id} is already in progress"
            )));
        }
    }
    let req = crate::enroll::Request {
        cert_id: &id,
        profile: &profile,
        url: &url,
        subject: &subject,
        alt: &alt,
        challenge: inv.text("password"),
        cipher: None,
        digest: None,
        renewal: false,
    };
    if let Some(w) = crate::enroll::precheck(&req).map_err(failed_text)? {
        t.print(&format!("warning: {w}\n"));
    }
    let mut record = crate::enroll::Record::new(&req, s.shared.clock.now().as_secs());
    record.export = Some(crate::enroll::Export {
        path: target.display(),
        pem: inv.text("encoding") == Some("pem"),
        file: target.ikecert_name().map(str::to_string),
    });
    crate::enroll::submit(&s.shared, &record).map_err(failed_text)?;
    t.print(&format!(
        "Certificate enrollment has started; the certificate will be written to {}.\n",
        target.display()
    ));
    Ok(())
}

fn legacy_enroll_ca(s: &mut Session, inv: &Invocation, t: &mut dyn Terminal) -> Result<()> {
    let (Some(url), Some(ident)) = (inv.text("url"), inv.text("ca-name")) else {
        return Err(CommandError::failed(
            "missing argument: the CA certificate form needs ca-name and url (the local certificate form needs subject)",
        ));
    };
    let target = crate::ikecert::resolve(inv.text("filename").unwrap_or_default())
        .map_err(|e| CommandError::failed(format!("filename: {e}")))?;
    let profile = inv.text("ca-file");
    // What can be checked before asking the CA.
    if let Some(p) = profile {
        let pki = s.shared.pki();
        pki::id::check(p).map_err(|e| CommandError::failed(format!("ca-file: {e}")))?;
        if pki.profile(p).is_none() {
            return Err(failed(PkiError::ProfileNotConfigured(p.to_string())));
        }
        if pki.ca_certificates().contains_key(p) {
            return Err(failed(PkiError::CaExists(p.to_string())));
        }
    }
    let chain = crate::enroll::get_ca_cert(url, ident).map_err(failed_text)?;
    let der = certificate_der(&chain.ca);
    let bytes = match inv.text("encoding") {
        Some("pem") => encoding::pem("CERTIFICATE", &der).into_bytes(),
        _ => der,
    };
    t.print("Received CA certificate:\n");
    t.print(&format!(
        "Certificate: {}\n",
        pki::name::subject_string(chain.ca.tbs_certificate().subject())
    ));
    t.print(&fingerprint_lines(&chain.ca));
    {
        // The file, then the profile's CA certificate; if that is refused
        // the file is put back as it was.
        let mut pki = s.shared.pki();
        let old = crate::ikecert::read(pki.store(), &target).map_err(CommandError::failed)?;
        crate::ikecert::write(pki.store(), &target, &bytes).map_err(CommandError::failed)?;
        if let Some(p) = profile
            && let Err(e) = pki.store_ca_chain(p, &chain.ca, &chain.ra)
        {
            let undone = match &old {
                Some(b) => crate::ikecert::write(pki.store(), &target, b),
                None => crate::ikecert::remove(pki.store(), &target),
            };
            if let Err(u) = undone {
                tracing::error!(target: "pki", "{u}");
            }
            return Err(failed(e));
        }
    }
    crate::ikecert::changed(&s.shared);
    t.print(&format!(
        "CA certificate {} written to {}\n",
        pki::name::subject_string(chain.ca.tbs_certificate().subject()),
        target.display()
    ));
    Ok(())
}

/// certificate-id, ca-profile and subject of an enroll command.
fn enrollment_args(inv: &Invocation) -> (String, String, String) {
    let arg = |k: &str| inv.text(k).unwrap_or_default().to_string();
    (arg("certificate-id"), arg("ca-profile"), arg("subject"))
}

fn enroll_local_scep(s: &mut Session, inv: &Invocation, t: &mut dyn Terminal) -> Result<()> {
    let (id, profile, subject) = enrollment_args(inv);
    let alt = alt_names(inv);
    if alt.dns.is_empty() && alt.email.is_empty() && alt.ip.is_empty() {
        return Err(CommandError::failed(
            "at least one of domain-name, email or ip-address is required",
        ));
    }
    let (url, _) = enrollment_target(s, &profile)?;
    {
        let pki = s.shared.pki();
        pki::name::parse_subject(&subject, pki.chassis_serial())
            .map_err(|e| CommandError::failed(format!("subject: {e}")))?;
        // It must exist and be RSA (the Junos SCEP key message).
        pki.scep_key(&id).map_err(failed)?;
        if !pki.ca_certificates().contains_key(&profile) {
            return Err(CommandError::failed(format!(
                "CA certificate for profile {profile} doesn't exist; enroll it first (request security pki ca-certificate enroll ca-profile {profile})"
            )));
        }
        if pki.local_certificates().contains_key(&id) {
            return Err(CommandError::failed(format!(
                "Local certificate {id} already exists"
            )));
        }
        if pki.enrollments().contains_key(&id) {
            return Err(CommandError::failed(format!(
                "an enrollment of certificate-id {id} is already in progress"
            )));
        }
    }
    start_enrollment(
        s,
        t,
        &crate::enroll::Request {
            cert_id: &id,
            profile: &profile,
            url: &url,
            subject: &subject,
            alt: &alt,
            challenge: inv.text("challenge-password"),
            cipher: inv.text("scep-encryption-algorithm"),
            digest: inv.text("scep-digest-algorithm"),
            renewal: false,
        },
    )?;
    t.print("Certificate enrollment has started. To see the certificate enrollment status, check the PKI log file at /var/log/pkid.\n");
    Ok(())
}

fn reenroll_local_scep(s: &mut Session, inv: &Invocation, t: &mut dyn Terminal) -> Result<()> {
    let id = inv.text("certificate-id").unwrap_or_default().to_string();
    let profile = inv.text("ca-profile").unwrap_or_default().to_string();
    let (url, _) = enrollment_target(s, &profile)?;
    let (subject, alt) = {
        let pki = s.shared.pki();
        let cert = pki.local_certificates().get(&id).ok_or_else(|| {
            CommandError::failed(format!("certificate-id {id} not found in local database"))
        })?;
        if pki.enrollments().contains_key(&id) {
            return Err(CommandError::failed(format!(
                "an enrollment of certificate-id {id} is already in progress"
            )));
        }
        // It must exist and be RSA (the Junos SCEP key message).
        pki.scep_key(&id).map_err(failed)?;
        (
            pki::name::subject_string(cert.tbs_certificate().subject()),
            AltNames::from_certificate(cert)
                .ok()
                .flatten()
                .unwrap_or_default(),
        )
    };
    start_enrollment(
        s,
        t,
        &crate::enroll::Request {
            cert_id: &id,
            profile: &profile,
            url: &url,
            subject: &subject,
            alt: &alt,
            challenge: inv.text("challenge-password"),
            cipher: inv.text("scep-encryption-algorithm"),
            digest: inv.text("scep-digest-algorithm"),
            renewal: true,
        },
    )?;
    t.print("Certificate re-enrollment has started. To see the certificate enrollment status, check the PKI log file at /var/log/pkid.\n");
    Ok(())
}

/// Checks the algorithms with the CA and saves the enrollment for pkid.
fn start_enrollment(
    s: &Session,
    t: &mut dyn Terminal,
    req: &crate::enroll::Request<'_>,
) -> Result<()> {
    if let Some(w) = crate::enroll::precheck(req).map_err(failed_text)? {
        t.print(&format!("warning: {w}\n"));
    }
    let record = crate::enroll::Record::new(req, s.shared.clock.now().as_secs());
    crate::enroll::submit(&s.shared, &record).map_err(failed_text)
}

fn enroll_local_cmp(s: &mut Session, inv: &Invocation, t: &mut dyn Terminal) -> Result<()> {
    let (id, profile, subject) = enrollment_args(inv);
    let ca_dn = inv.text("ca-dn").unwrap_or_default().to_string();
    let alt = alt_names(inv);
    let secret = inv.text("ca-secret");
    let reference = inv.text("ca-reference");
    if secret.is_some() != reference.is_some() {
        return Err(CommandError::failed(
            "ca-secret and ca-reference go together",
        ));
    }
    let (url, _) = enrollment_target(s, &profile)?;
    {
        let pki = s.shared.pki();
        pki::name::parse_subject(&subject, pki.chassis_serial())
            .map_err(|e| CommandError::failed(format!("subject: {e}")))?;
        pki::name::parse_subject(&ca_dn, "")
            .map_err(|e| CommandError::failed(format!("ca-dn: {e}")))?;
        if !pki.key_pairs().contains_key(&id) {
            return Err(failed(PkiError::NoKeyPair(id.clone())));
        }
        if secret.is_none() && !pki.local_certificates().contains_key(&id) {
            return Err(CommandError::failed(format!(
                "without ca-secret and ca-reference the request is signed with local certificate {id}, which does not exist"
            )));
        }
        if pki.enrollments().contains_key(&id) {
            return Err(CommandError::failed(format!(
                "an enrollment of certificate-id {id} is already in progress"
            )));
        }
    }
    let mut record = crate::enroll::Record::new(
        &crate::enroll::Request {
            cert_id: &id,
            profile: &profile,
            url: &url,
            subject: &subject,
            alt: &alt,
            challenge: None,
            cipher: None,
            digest: None,
            renewal: false,
        },
        s.shared.clock.now().as_secs(),
    );
    record.protocol = crate::enroll::Protocol::Cmpv2;
    record.cmp = Some(crate::enroll::CmpPart {
        ca_dn,
        reference: reference.map(str::to_string),
        secret: secret.map(str::to_string),
        transaction: None,
    });
    crate::enroll::submit(&s.shared, &record).map_err(failed_text)?;
    t.print("Certificate enrollment has started. To see the certificate enrollment status, check the PKI log file at /var/log/pkid.\n");
    Ok(())
}

fn reenroll_local_cmp(s: &mut Session, inv: &Invocation, t: &mut dyn Terminal) -> Result<()> {
    let id = inv.text("certificate-id").unwrap_or_default().to_string();
    let profile = inv.text("ca-profile").unwrap_or_default().to_string();
    let (url, _) = enrollment_target(s, &profile)?;
    let (subject, issuer, new_key) = {
        let pki = s.shared.pki();
        let cert = pki.local_certificates().get(&id).ok_or_else(|| {
            CommandError::failed(format!("certificate-id {id} not found in local database"))
        })?;
        let key = pki
            .key_pairs()
            .get(&id)
            .ok_or_else(|| failed(PkiError::NoKeyPair(id.clone())))?;
        if pki.enrollments().contains_key(&id) {
            return Err(CommandError::failed(format!(
                "an enrollment of certificate-id {id} is already in progress"
            )));
        }
        let new_key = if inv.flag("re-generate-keypair") {
            let k = pki::key::KeyPair::generate(key.key.spec()).map_err(failed_text)?;
            Some(k.to_pkcs8_pem().map_err(failed_text)?.to_string())
        } else {
            None
        };
        (
            pki::name::subject_string(cert.tbs_certificate().subject()),
            pki::name::subject_string(cert.tbs_certificate().issuer()),
            new_key,
        )
    };
    let mut record = crate::enroll::Record::new(
        &crate::enroll::Request {
            cert_id: &id,
            profile: &profile,
            url: &url,
            subject: &subject,
            alt: &AltNames::default(),
            challenge: None,
            cipher: None,
            digest: None,
            renewal: true,
        },
        s.shared.clock.now().as_secs(),
    );
    record.protocol = crate::enroll::Protocol::Cmpv2;
    record.new_key = new_key;
    record.cmp = Some(crate::enroll::CmpPart {
        ca_dn: issuer,
        reference: None,
        secret: None,
        transaction: None,
    });
    crate::enroll::submit(&s.shared, &record).map_err(failed_text)?;
    t.print("Certificate re-enrollment has started. To see the certificate enrollment status, check the PKI log file at /var/log/pkid.\n");
    Ok(())
}

fn verify_ca(s: &mut Session, inv: &Invocation, t: &mut dyn Terminal) -> Result<()> {
    let profile = inv.text("ca-profile").unwrap_or_default().to_string();
    let (cert, anchors) = {
        let pki = s.shared.pki();
        let cert = pki
            .ca_certificates()
            .get(&profile)
            .cloned()
            .ok_or_else(|| failed(PkiError::NoCa(profile.clone())))?;
        let anchors: Vec<_> = pki.ca_certificates().values().cloned().collect();
        (cert, anchors)
    };
    // A CA certificate of the store is trusted as the profile's anchor: its
    // own validity, CA-ness and (when its issuer is loaded too) signature
    // are what is checked.
    let mut policy = ike::auth::Policy::new(s.shared.clock.now());
    policy.revocation = ike::auth::RevocationMode::Disabled;
    policy.require_digital_signature = false;
    let others: Vec<_> = anchors.into_iter().filter(|c| *c != cert).collect();
    let verdict = if others
        .iter()
        .any(|c| c.tbs_certificate().subject() == cert.tbs_certificate().issuer())
    {
        ike::auth::validate(
            &cert,
            &[],
            &others,
            &ike::auth::StaticCrls::default(),
            &policy,
        )
        .map(|_| ())
    } else {
        ike::auth::validate(
            &cert,
            &[],
            std::slice::from_ref(&cert),
            &ike::auth::StaticCrls::default(),
            &policy,
        )
        .map(|_| ())
    };
    match verdict {
        Ok(()) => {
            t.print(&format!("CA certificate {profile} verified successfully\n"));
            Ok(())
        }
        Err(why) => Err(CommandError::failed(format!(
            "CA certificate {profile}: {why}"
        ))),
    }
}

fn verify_local(s: &mut Session, inv: &Invocation, t: &mut dyn Terminal) -> Result<()> {
    let id = inv.text("certificate-id").unwrap_or_default().to_string();
    let cert = s
        .shared
        .pki()
        .local_certificates()
        .get(&id)
        .cloned()
        .ok_or_else(|| {
            CommandError::failed(format!("certificate-id {id} not found in local database"))
        })?;
    let now = s.shared.clock.now();
    let anchors: Vec<_> = s.shared.pki().ca_certificates().values().cloned().collect();
    let mut policy = ike::auth::Policy::new(now);
    policy.revocation = crate::ike_auth::revocation_for(&s.shared, &cert);
    let crls = crate::ike_auth::RouterCrls::new(&s.shared, now);
    match ike::auth::validate(&cert, &[], &anchors, &crls, &policy) {
        Ok(_) => {
            t.print(&format!("Local certificate {id} verification success\n"));
            Ok(())
        }
        Err(why) => Err(CommandError::failed(format!(
            "Local certificate {id} verification failed: {why}"
        ))),
    }
}

fn export_local(s: &mut Session, inv: &Invocation, t: &mut dyn Terminal) -> Result<()> {
    let id = inv.text("certificate-id").unwrap_or_default().to_string();
    let der = {
        let pki = s.shared.pki();
        let cert = pki.local_certificates().get(&id).ok_or_else(|| {
            CommandError::failed(format!("certificate-id {id} not found in local database"))
        })?;
        certificate_der(cert)
    };
    let bytes = match inv.text("type") {
        Some("der") => der,
        _ => encoding::pem("CERTIFICATE", &der).into_bytes(),
    };
    let path = operator_path(s, inv.text("filename").unwrap_or_default());
    pki::store::write_atomic(&path, &bytes)
        .map_err(|e| CommandError::failed(format!("cannot write {}: {e}", path.display())))?;
    t.print(&format!(
        "Local certificate {id} exported to {}\n",
        path.display()
    ));
    Ok(())
}

fn export_key_pair(s: &mut Session, inv: &Invocation, t: &mut dyn Terminal) -> Result<()> {
    let id = inv.text("certificate-id").unwrap_or_default().to_string();
    let bytes: zeroize::Zeroizing<Vec<u8>> = {
        let pki = s.shared.pki();
        let entry = pki
            .key_pairs()
            .get(&id)
            .ok_or_else(|| failed(PkiError::NoKeyPair(id.clone())))?;
        match inv.text("type") {
            Some("der") => entry.key.to_pkcs8_der().map_err(failed_text)?,
            _ => zeroize::Zeroizing::new(
                entry
                    .key
                    .to_pkcs8_pem()
                    .map_err(failed_text)?
                    .as_bytes()
                    .to_vec(),
            ),
        }
    };
    let path = operator_path(s, inv.text("filename").unwrap_or_default());
    // write_atomic makes the file 0600, as a private key must be.
    pki::store::write_atomic(&path, &bytes)
        .map_err(|e| CommandError::failed(format!("cannot write {}: {e}", path.display())))?;
    tracing::info!(target: "pki", "key pair {id} exported to {}", path.display());
    t.print(&format!("Key pair {id} exported to {}\n", path.display()));
    Ok(())
}
