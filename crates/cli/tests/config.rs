//! The configuration engine: set/delete, curly text, display set/json,
//! compare, commit checks, and the on-disk store with rollbacks.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use cli::config::{
    CHECKOUT_FAILED, CompletionKind, Config, ConfigError, ConfigStore, MAX_ROLLBACKS, Schema,
    StatementKind, StoreError, ValueType, compare, split_words,
};

const SECRET: &str = "Sup3rS3cretChallenge";

/// A schema that mirrors the statements the owning crates register.
fn schema() -> Schema {
    let mut s = Schema::new();
    s.container(&["system"], "System parameters").unwrap();
    s.leaf(
        &["system", "host-name"],
        ValueType::HostName,
        "Hostname for this router",
    )
    .unwrap();
    s.leaf(&["system", "time-zone"], ValueType::Word, "Time zone name")
        .unwrap();
    s.container(&["chassis"], "Chassis configuration").unwrap();
    s.list(
        &["chassis", "fpc"],
        ValueType::Uint { min: 0, max: 7 },
        "Flexible PIC Concentrator parameters",
    )
    .unwrap();
    s.placeholder(&["chassis", "fpc"], "slot").unwrap();
    s.list(
        &["chassis", "fpc", "pic"],
        ValueType::Uint { min: 0, max: 3 },
        "Physical Interface Card number",
    )
    .unwrap();
    s.placeholder(&["chassis", "fpc", "pic"], "slot").unwrap();
    s.flag(
        &["chassis", "fpc", "pic", "adaptive-services"],
        "Adaptive services PIC",
    )
    .unwrap();
    s.flag(&["chassis", "fpc", "pic", "es"], "Encryption services PIC")
        .unwrap();
    s.choice(&["chassis", "fpc", "pic"], &["adaptive-services", "es"])
        .unwrap();

    s.container(&["security"], "Security configuration")
        .unwrap();
    s.container(&["security", "pki"], "PKI service configuration")
        .unwrap();
    let cp = ["security", "pki", "ca-profile"];
    let at = |tail: &[&'static str]| -> Vec<&'static str> {
        cp.iter().copied().chain(tail.iter().copied()).collect()
    };
    s.list(
        &cp,
        ValueType::Word,
        "Certificate authority profile configuration",
    )
    .unwrap();
    s.leaf(
        &at(&["ca-identity"]),
        ValueType::Text,
        "Certificate authority identifier",
    )
    .unwrap();
    s.mandatory(&at(&["ca-identity"])).unwrap();
    s.leaf(
        &at(&["source-address"]),
        ValueType::IpAddr,
        "Use specified address as source address",
    )
    .unwrap();
    s.container(
        &at(&["enrollment"]),
        "Enrollment parameters for certificate authority",
    )
    .unwrap();
    s.leaf(
        &at(&["enrollment", "url"]),
        ValueType::Url,
        "Enrollment URL of certificate authority",
    )
    .unwrap();
    s.leaf(
        &at(&["enrollment", "retry"]),
        ValueType::Uint { min: 0, max: 1080 },
        "Number of enrollment retry attempts before aborting",
    )
    .unwrap();
    s.leaf(
        &at(&["enrollment", "retry-interval"]),
        ValueType::Uint { min: 0, max: 3600 },
        "Interval in seconds between the enrollment retries",
    )
    .unwrap();
    s.container(
        &at(&["revocation-check"]),
        "Method for checking certificate revocations",
    )
    .unwrap();
    s.flag(
        &at(&["revocation-check", "use-crl"]),
        "Use CRL for revocation check",
    )
    .unwrap();
    s.flag(
        &at(&["revocation-check", "disable"]),
        "Disable revocation check",
    )
    .unwrap();
    s.container(
        &at(&["revocation-check", "crl"]),
        "Certificate revocation list configuration",
    )
    .unwrap();
    s.leaf(
        &at(&["revocation-check", "crl", "url"]),
        ValueType::Url,
        "URL of CRL distribution point for certificate authority",
    )
    .unwrap();
    s.leaf(
        &at(&["revocation-check", "crl", "refresh-interval"]),
        ValueType::Uint { min: 0, max: 8784 },
        "CRL refresh interval",
    )
    .unwrap();
    s.choice(&at(&["revocation-check"]), &["use-crl", "disable"])
        .unwrap();
    s.list(
        &["security", "pki", "trusted-ca-group"],
        ValueType::Word,
        "Trusted Certificate Authority group configuration",
    )
    .unwrap();
    s.leaf_list(
        &["security", "pki", "trusted-ca-group", "ca-profiles"],
        ValueType::Word,
        "Name of the CA profiles (maximum 20)",
    )
    .unwrap();

    let re = ["security", "pki", "auto-re-enrollment", "certificate-id"];
    let ar = |tail: &'static str| -> Vec<&'static str> {
        re.iter().copied().chain(std::iter::once(tail)).collect()
    };
    s.container(
        &["security", "pki", "auto-re-enrollment"],
        "Auto re-enroll of certificate",
    )
    .unwrap();
    s.list(
        &re,
        ValueType::Word,
        "Auto re-enrollment configuration for certificate-id",
    )
    .unwrap();
    s.leaf(
        &ar("ca-profile-name"),
        ValueType::Word,
        "Name of certificate authority profile",
    )
    .unwrap();
    s.mandatory(&ar("ca-profile-name")).unwrap();
    s.leaf(
        &ar("challenge-password"),
        ValueType::Text,
        "Password used by CA for enrollment and revocation",
    )
    .unwrap();
    s.secret(&ar("challenge-password")).unwrap();
    s.leaf(
        &ar("re-enroll-trigger-time-percentage"),
        ValueType::Uint { min: 1, max: 99 },
        "Re-enrollment trigger time before expiration as percentage",
    )
    .unwrap();
    s.flag(
        &ar("re-generate-keypair"),
        "Generate new key-pair for auto-re-enrollment",
    )
    .unwrap();
    s.leaf(
        &ar("scep-encryption-algorithm"),
        ValueType::Enum(&["des", "des3"]),
        "SCEP encryption algorithm",
    )
    .unwrap();
    s.validator(
        &re,
        Box::new(|entry| {
            let Some(profile) = entry.value("ca-profile-name") else {
                return Ok(());
            };
            let known = entry
                .root()
                .get(&["security", "pki"])
                .and_then(|pki| pki.entry("ca-profile", profile))
                .is_some();
            if known {
                Ok(())
            } else {
                Err(format!("Referenced ca-profile '{profile}' is not defined"))
            }
        }),
    )
    .unwrap();
    s
}

fn set(c: &mut Config, s: &Schema, line: &str) {
    let words = split_words(line).unwrap();
    c.set(s, &words)
        .unwrap_or_else(|e| panic!("set {line}: {e}"));
}

fn set_err(c: &mut Config, s: &Schema, line: &str) -> ConfigError {
    let words = split_words(line).unwrap();
    let before = c.clone();
    let e = c.set(s, &words).unwrap_err();
    assert_eq!(*c, before, "a failed set changes nothing");
    e
}

fn delete(c: &mut Config, s: &Schema, line: &str) -> Result<(), ConfigError> {
    c.delete(s, &split_words(line).unwrap())
}

const ALL: &[&str] = &[];

/// A configuration with something of every kind.
fn sample(s: &Schema) -> Config {
    let mut c = Config::new();
    for line in [
        "system time-zone Europe/Amsterdam",
        "system host-name r1",
        "chassis fpc 1 pic 0 es",
        "chassis fpc 0 pic 2 adaptive-services",
        "security pki ca-profile Root ca-identity \"Root CA\" enrollment url http://ca.example/scep retry 5 retry-interval 0",
        "security pki ca-profile Root revocation-check crl url http://ca.example/crl refresh-interval 24",
        "security pki ca-profile Backup ca-identity Backup",
        "security pki ca-profile Backup revocation-check disable",
        "security pki trusted-ca-group TG1 ca-profiles [ Root Backup ]",
        &format!(
            "security pki auto-re-enrollment certificate-id r1-cert ca-profile-name Root challenge-password {SECRET} re-enroll-trigger-time-percentage 70 re-generate-keypair"
        ),
    ] {
        set(&mut c, s, line);
    }
    c
}

const SAMPLE_CURLY: &str = r#"system {
    host-name r1;
    time-zone Europe/Amsterdam;
}
chassis {
    fpc 1 {
        pic 0 {
            es;
        }
    }
    fpc 0 {
        pic 2 {
            adaptive-services;
        }
    }
}
security {
    pki {
        ca-profile Root {
            ca-identity "Root CA";
            enrollment {
                url http://ca.example/scep;
                retry 5;
                retry-interval 0;
            }
            revocation-check {
                crl {
                    url http://ca.example/crl;
                    refresh-interval 24;
                }
            }
        }
        ca-profile Backup {
            ca-identity Backup;
            revocation-check {
                disable;
            }
        }
        trusted-ca-group TG1 {
            ca-profiles [ Root Backup ];
        }
        auto-re-enrollment {
            certificate-id r1-cert {
                ca-profile-name Root;
                challenge-password "$9$SECRET"; ## SECRET-DATA
                re-enroll-trigger-time-percentage 70;
                re-generate-keypair;
            }
        }
    }
}
"#;

/// Replaces the `$9$` text of the sample's secret with `$9$SECRET`.
fn mask(text: &str) -> String {
    let secret = cli::config::secret::encode(SECRET);
    assert!(secret.starts_with("$9$"));
    text.replace(&secret, "$9$SECRET")
}

#[test]
fn set_and_show_in_schema_order_with_entries_in_insertion_order() {
    let s = schema();
    let c = sample(&s);
    assert_eq!(mask(&c.render_curly(&s, ALL)), SAMPLE_CURLY);
    assert_eq!(
        c.render_curly(&s, &["system"]),
        "host-name r1;\ntime-zone Europe/Amsterdam;\n"
    );
    assert_eq!(
        c.render_curly(&s, &["system", "host-name"]),
        "host-name r1;\n"
    );
    assert_eq!(
        c.render_curly(&s, &["security", "pki", "ca-profile", "Backup"]),
        "ca-identity Backup;\nrevocation-check {\n    disable;\n}\n"
    );
    // A list without a key shows every entry; abbreviations are accepted.
    let profiles = c.render_curly(&s, &["sec", "pki", "ca-profile"]);
    assert!(profiles.starts_with("ca-profile Root {\n"));
    assert!(profiles.contains("\nca-profile Backup {\n"));
    // Nothing there: nothing shown.
    assert_eq!(
        c.render_curly(&s, &["security", "pki", "ca-profile", "Nope"]),
        ""
    );
    assert_eq!(c.render_curly(&s, &["bogus"]), "");
}

#[test]
fn read_access_for_owners() {
    let s = schema();
    let c = sample(&s);
    assert_eq!(c.value(&["system", "host-name"]), Some("r1"));
    let pki = c.get(&["security", "pki"]).unwrap();
    let names: Vec<_> = pki
        .entries("ca-profile")
        .iter()
        .map(|e| e.key().unwrap().to_string())
        .collect();
    assert_eq!(names, ["Root", "Backup"]);
    let root = pki.entry("ca-profile", "Root").unwrap();
    assert_eq!(root.path(), ["security", "pki", "ca-profile", "Root"]);
    assert_eq!(root.child("enrollment").unwrap().value("retry"), Some("5"));
    assert_eq!(
        c.value(&[
            "security",
            "pki",
            "auto-re-enrollment",
            "certificate-id",
            "r1-cert",
            "challenge-password"
        ]),
        Some(SECRET),
        "owners read the secret in plain"
    );
    assert!(
        c.get(&[
            "security",
            "pki",
            "ca-profile",
            "Backup",
            "revocation-check"
        ])
        .unwrap()
        .has("disable")
    );
    assert_eq!(
        pki.entry("trusted-ca-group", "TG1")
            .unwrap()
            .values("ca-profiles"),
        ["Root", "Backup"]
    );
    assert_eq!(
        s.kind(&["chassis", "fpc"]),
        Some(StatementKind::List(ValueType::Uint { min: 0, max: 7 }))
    );
}

#[test]
fn set_errors_name_the_word_and_change_nothing() {
    let s = schema();
    let mut c = sample(&s);
    let e = set_err(&mut c, &s, "system hostname r2");
    assert_eq!(
        e.to_string(),
        "syntax error, unknown statement 'hostname' under [edit system]."
    );
    assert_eq!(e.index(), Some(1));
    assert_eq!(
        set_err(&mut c, &s, "system host-name").to_string(),
        "syntax error, missing value for 'host-name': expecting <host-name>."
    );
    assert_eq!(
        set_err(&mut c, &s, "chassis fpc").to_string(),
        "syntax error, missing value for 'fpc': expecting <slot>."
    );
    let e = set_err(&mut c, &s, "chassis fpc 9 pic 0 es");
    assert_eq!(e.to_string(), "error: value 9 is not within range (0..7)");
    assert_eq!(e.index(), Some(2));
    assert_eq!(
        set_err(
            &mut c,
            &s,
            "security pki ca-profile Root enrollment retry 70000"
        )
        .to_string(),
        "error: value 70000 is not within range (0..1080)"
    );
    assert_eq!(
        set_err(
            &mut c,
            &s,
            "security pki ca-profile Root source-address 1.2.3"
        )
        .to_string(),
        "error: invalid IP address '1.2.3'"
    );
    assert_eq!(
        set_err(
            &mut c,
            &s,
            "security pki ca-profile Root enrollment url ftp://x/"
        )
        .to_string(),
        "error: invalid URL 'ftp://x/': expecting http://, https:// or ldap:// and a host"
    );
    assert_eq!(
        set_err(&mut c, &s, "system host-name -bad").to_string(),
        "error: invalid host name '-bad': a label cannot start or end with a hyphen"
    );
    assert_eq!(
        set_err(
            &mut c,
            &s,
            "security pki auto-re-enrollment certificate-id x scep-encryption-algorithm aes"
        )
        .to_string(),
        "error: invalid value 'aes': expecting one of des, des3"
    );
    assert_eq!(
        set_err(
            &mut c,
            &s,
            "security pki trusted-ca-group G ca-profiles [ a b"
        )
        .to_string(),
        "syntax error, missing ']' for 'ca-profiles'."
    );
    assert!(matches!(
        set_err(&mut c, &s, "s host-name r1"),
        ConfigError::Ambiguous { .. }
    ));
    assert_eq!(
        c.set::<&str>(&s, &[]).unwrap_err().to_string(),
        "syntax error, expecting <statement>."
    );
    // A failed value deep in a long line leaves the earlier statements out too.
    set_err(
        &mut c,
        &s,
        "security pki ca-profile New ca-identity New enrollment retry 99999",
    );
    assert!(c.get(&["security", "pki", "ca-profile", "New"]).is_none());
}

#[test]
fn set_replaces_values_choices_and_abbreviations() {
    let s = schema();
    let mut c = sample(&s);
    set(&mut c, &s, "sys host r2");
    assert_eq!(c.value(&["system", "host-name"]), Some("r2"));
    // `use-crl` and `disable` are a choice; `es` and `adaptive-services` too.
    set(
        &mut c,
        &s,
        "security pki ca-profile Backup revocation-check use-crl",
    );
    assert_eq!(
        c.render_curly(
            &s,
            &[
                "security",
                "pki",
                "ca-profile",
                "Backup",
                "revocation-check"
            ]
        ),
        "use-crl;\n"
    );
    set(&mut c, &s, "chassis fpc 1 pic 0 adaptive-services");
    assert_eq!(
        c.render_set(&s, &["chassis", "fpc", "1"]),
        "set chassis fpc 1 pic 0 adaptive-services\n"
    );
    // Leaf-list values are added once each, in order.
    set(
        &mut c,
        &s,
        "security pki trusted-ca-group TG1 ca-profiles Third",
    );
    set(
        &mut c,
        &s,
        "security pki trusted-ca-group TG1 ca-profiles Root",
    );
    assert_eq!(
        c.render_curly(&s, &["security", "pki", "trusted-ca-group"]),
        "trusted-ca-group TG1 {\n    ca-profiles [ Root Backup Third ];\n}\n"
    );
    // An entry or a container alone.
    set(&mut c, &s, "security pki ca-profile Empty");
    assert!(
        c.render_curly(&s, &["security", "pki"])
            .contains("\nca-profile Empty;\n")
    );
}

#[test]
fn delete_statements_entries_and_values() {
    let s = schema();
    let mut c = sample(&s);
    delete(&mut c, &s, "system host-name").unwrap();
    assert_eq!(
        c.render_curly(&s, &["system"]),
        "time-zone Europe/Amsterdam;\n"
    );
    // The value may be given; a different value is not found.
    assert_eq!(
        delete(&mut c, &s, "system time-zone UTC")
            .unwrap_err()
            .to_string(),
        "warning: statement not found"
    );
    delete(&mut c, &s, "system time-zone Europe/Amsterdam").unwrap();
    // The emptied container is gone.
    assert!(c.get(&["system"]).is_none());
    let e = delete(&mut c, &s, "system host-name").unwrap_err();
    assert!(e.is_warning());
    assert_eq!(e.to_string(), "warning: statement not found");
    // Unknown statements are syntax errors, not warnings.
    assert!(!delete(&mut c, &s, "system bogus").unwrap_err().is_warning());

    delete(&mut c, &s, "security pki ca-profile Backup").unwrap();
    assert!(
        c.get(&["security", "pki", "ca-profile", "Backup"])
            .is_none()
    );
    assert!(c.get(&["security", "pki", "ca-profile", "Root"]).is_some());
    delete(
        &mut c,
        &s,
        "security pki trusted-ca-group TG1 ca-profiles Backup",
    )
    .unwrap();
    assert_eq!(
        c.render_set(&s, &["security", "pki", "trusted-ca-group"]),
        "set security pki trusted-ca-group TG1 ca-profiles Root\n"
    );
    delete(&mut c, &s, "chassis fpc 0 pic 2 adaptive-services").unwrap();
    assert_eq!(
        c.render_set(&s, &["chassis"]),
        "set chassis fpc 1 pic 0 es\nset chassis fpc 0 pic 2\n"
    );
    delete(&mut c, &s, "chassis fpc").unwrap();
    assert!(c.get(&["chassis"]).is_none());
    assert!(matches!(
        delete(&mut c, &s, "system host-name r1 time-zone UTC"),
        Err(ConfigError::Unexpected { .. })
    ));
    c.delete::<&str>(&s, &[]).unwrap();
    assert!(c.is_empty());
    assert!(c.delete::<&str>(&s, &[]).unwrap_err().is_warning());
}

#[test]
fn display_set() {
    let s = schema();
    let c = sample(&s);
    let secret = cli::config::secret::encode(SECRET);
    let expected = format!(
        r#"set system host-name r1
set system time-zone Europe/Amsterdam
set chassis fpc 1 pic 0 es
set chassis fpc 0 pic 2 adaptive-services
set security pki ca-profile Root ca-identity "Root CA"
set security pki ca-profile Root enrollment url http://ca.example/scep
set security pki ca-profile Root enrollment retry 5
set security pki ca-profile Root enrollment retry-interval 0
set security pki ca-profile Root revocation-check crl url http://ca.example/crl
set security pki ca-profile Root revocation-check crl refresh-interval 24
set security pki ca-profile Backup ca-identity Backup
set security pki ca-profile Backup revocation-check disable
set security pki trusted-ca-group TG1 ca-profiles Root
set security pki trusted-ca-group TG1 ca-profiles Backup
set security pki auto-re-enrollment certificate-id r1-cert ca-profile-name Root
set security pki auto-re-enrollment certificate-id r1-cert challenge-password "{secret}"
set security pki auto-re-enrollment certificate-id r1-cert re-enroll-trigger-time-percentage 70
set security pki auto-re-enrollment certificate-id r1-cert re-generate-keypair
"#
    );
    let text = c.render_set(&s, ALL);
    assert_eq!(text, expected);
    assert_eq!(
        c.render_set(&s, &["system"]),
        "set system host-name r1\nset system time-zone Europe/Amsterdam\n"
    );
    // The lines rebuild the same configuration (the secret from its $9$ form).
    let mut rebuilt = Config::new();
    for line in text.lines() {
        let words = split_words(line).unwrap();
        assert_eq!(words[0], "set");
        rebuilt.set(&s, &words[1..]).unwrap();
    }
    assert_eq!(rebuilt, c);
}

#[test]
fn display_json() {
    let s = schema();
    let c = sample(&s);
    let v = c.to_json(&s, ALL);
    let conf = &v["configuration"];
    assert_eq!(conf["system"]["host-name"], "r1");
    assert_eq!(conf["chassis"]["fpc"][0]["name"], "1");
    assert_eq!(
        conf["chassis"]["fpc"][0]["pic"][0]["es"],
        serde_json::json!([null])
    );
    let root = &conf["security"]["pki"]["ca-profile"][0];
    assert_eq!(root["name"], "Root");
    assert_eq!(root["ca-identity"], "Root CA");
    assert_eq!(root["enrollment"]["retry"], "5");
    assert_eq!(
        conf["security"]["pki"]["trusted-ca-group"][0]["ca-profiles"],
        serde_json::json!(["Root", "Backup"])
    );
    let pw =
        conf["security"]["pki"]["auto-re-enrollment"]["certificate-id"][0]["challenge-password"]
            .as_str()
            .unwrap();
    assert!(pw.starts_with("$9$"));
    // Keys keep Junos's order ("name" first).
    let text = serde_json::to_string(root).unwrap();
    assert!(
        text.starts_with(r#"{"name":"Root","ca-identity":"Root CA","enrollment""#),
        "{text}"
    );
    // A subtree keeps its hierarchy.
    assert_eq!(
        c.to_json(
            &s,
            &["security", "pki", "ca-profile", "Backup", "ca-identity"]
        ),
        serde_json::json!({"configuration": {"security": {"pki": {"ca-profile": [
            {"name": "Backup", "ca-identity": "Backup"}
        ]}}}})
    );
    assert_eq!(
        c.to_json(&s, &["system"]),
        serde_json::json!({"configuration": {"system": {
            "host-name": "r1", "time-zone": "Europe/Amsterdam"
        }}})
    );
}

#[test]
fn curly_text_round_trips_with_comments_and_one_liners() {
    let s = schema();
    let c = sample(&s);
    let text = c.render_curly(&s, ALL);
    assert_eq!(Config::parse(&text, &s).unwrap(), c);

    let hand = r#"## Last commit: 2026-11-23 18:52:04 UTC by admin
/* a comment
   over lines */
system { host-name r1; }   # trailing comment
security {
    pki {
        ca-profile Backup {
            ca-identity Backup;
            revocation-check disable;
        }
        trusted-ca-group G ca-profiles X;
    }
}
"#;
    let parsed = Config::parse(hand, &s).unwrap();
    assert_eq!(
        parsed.render_set(&s, ALL),
        "set system host-name r1\n\
         set security pki ca-profile Backup ca-identity Backup\n\
         set security pki ca-profile Backup revocation-check disable\n\
         set security pki trusted-ca-group G ca-profiles X\n"
    );
    assert_eq!(Config::parse("", &s).unwrap(), Config::new());
}

#[test]
fn parse_errors_name_line_and_statement() {
    let s = schema();
    let err = |text: &str| Config::parse(text, &s).unwrap_err();

    let e = err("chassis {\n}\nsecurity {\n    pki;\n}\nsystem {\n    hostname r1;\n}\n");
    assert_eq!(
        e.to_string(),
        "line 7: unknown statement 'hostname' under [edit system]"
    );
    assert_eq!((e.line, e.column), (7, 5));

    let e = err("system {\n    host-name r1\n    time-zone UTC;\n}\n");
    assert_eq!(e.to_string(), "line 2: missing ';' after 'host-name'");

    let e = err("system {\n    host-name r1;\n");
    assert_eq!(
        e.to_string(),
        "line 2: missing '}' for 'system' opened on line 1"
    );
    let e = err("system {\n}\n}\n");
    assert_eq!(e.to_string(), "line 3: unexpected '}'");

    let e = err("security { pki { ca-profile Root {\n enrollment { retry 70000; } } } }");
    assert_eq!(
        e.to_string(),
        "line 2: invalid value for 'retry' under [edit security pki ca-profile Root enrollment]: \
         value 70000 is not within range (0..1080)"
    );
    let e = err("chassis { fpc x; }");
    assert_eq!(
        e.to_string(),
        "line 1: invalid value for 'fpc' under [edit chassis]: invalid numeric value 'x'"
    );
    let e = err("system { host-name; }");
    assert_eq!(
        e.to_string(),
        "line 1: missing value for 'host-name' under [edit system]: expecting <host-name>"
    );
    assert_eq!(
        err("system { host-name \"r1; }").to_string(),
        "line 1: unterminated quoted string"
    );
    assert_eq!(
        err("/* system {").to_string(),
        "line 1: unterminated comment"
    );
    assert_eq!(
        err("system { host-name r1 { } }").to_string(),
        "line 1: missing ';' after 'host-name'"
    );
    assert_eq!(
        err("system").to_string(),
        "line 1: missing ';' after 'system'"
    );
    assert_eq!(err("system { ; }").to_string(), "line 1: unexpected ';'");
}

#[test]
fn commit_check_errors_look_like_junos() {
    let s = schema();
    let mut c = sample(&s);
    assert_eq!(c.validate(&s), Ok(()));
    set(
        &mut c,
        &s,
        "security pki ca-profile NoId enrollment retry 3",
    );
    set(
        &mut c,
        &s,
        "security pki auto-re-enrollment certificate-id other ca-profile-name Ghost",
    );
    let errors = c.validate(&s).unwrap_err();
    let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            "[edit security pki ca-profile NoId]\n  'ca-identity'\n    Missing mandatory statement: 'ca-identity'",
            "[edit security pki auto-re-enrollment]\n  'certificate-id other'\n    Referenced ca-profile 'Ghost' is not defined",
        ]
    );
    assert_eq!(CHECKOUT_FAILED, "error: configuration check-out failed");

    // Values are checked again at commit: a schema whose range shrank.
    let text = sample(&s).render_curly(&s, ALL);
    let mut narrow = schema();
    narrow
        .leaf(&["system", "time-zone"], ValueType::Word, "")
        .unwrap();
    let mut strict = Schema::new();
    strict.container(&["system"], "").unwrap();
    strict
        .leaf(&["system", "host-name"], ValueType::Enum(&["r9"]), "")
        .unwrap();
    let loose_schema = {
        let mut l = Schema::new();
        l.container(&["system"], "").unwrap();
        l.leaf(&["system", "host-name"], ValueType::Word, "")
            .unwrap();
        l
    };
    let loaded = Config::parse("system { host-name r1; }", &loose_schema).unwrap();
    let errors = loaded.validate(&strict).unwrap_err();
    assert_eq!(
        errors[0].to_string(),
        "[edit system]\n  'host-name r1'\n    invalid value 'r1': expecting one of r9"
    );
    assert!(Config::parse(&text, &narrow).is_ok());
}

#[test]
fn compare_groups_changes_by_level() {
    let s = schema();
    let old = sample(&s);
    assert_eq!(compare(&old, &old, &s), "");
    let mut new = old.clone();
    set(&mut new, &s, "system host-name r2");
    set(
        &mut new,
        &s,
        "security pki ca-profile Root enrollment retry 10",
    );
    set(
        &mut new,
        &s,
        "security pki ca-profile Third ca-identity Third",
    );
    delete(&mut new, &s, "security pki ca-profile Backup").unwrap();
    delete(&mut new, &s, "chassis fpc 0").unwrap();
    assert_eq!(
        compare(&old, &new, &s),
        r#"[edit system]
-  host-name r1;
+  host-name r2;
[edit chassis]
-  fpc 0 {
-      pic 2 {
-          adaptive-services;
-      }
-  }
[edit security pki ca-profile Root enrollment]
-  retry 5;
+  retry 10;
[edit security pki]
-  ca-profile Backup {
-      ca-identity Backup;
-      revocation-check {
-          disable;
-      }
-  }
+  ca-profile Third {
+      ca-identity Third;
+  }
"#
    );
    // Whole hierarchies added to an empty configuration.
    let mut small = Config::new();
    set(&mut small, &s, "system host-name r1");
    assert_eq!(
        compare(&Config::new(), &small, &s),
        "[edit]\n+  system {\n+      host-name r1;\n+  }\n"
    );
    assert_eq!(
        compare(&small, &Config::new(), &s),
        "[edit]\n-  system {\n-      host-name r1;\n-  }\n"
    );
}

#[test]
fn secrets_never_appear_in_plain() {
    let s = schema();
    let mut c = sample(&s);
    let curly = c.render_curly(&s, ALL);
    let set_text = c.render_set(&s, ALL);
    let json = c.to_json(&s, ALL).to_string();
    let diff = compare(&Config::new(), &c, &s);
    for out in [&curly, &set_text, &json, &diff] {
        assert!(!out.contains(SECRET), "{out}");
    }
    assert!(curly.contains("challenge-password \"$9$"));
    assert!(curly.contains("; ## SECRET-DATA\n"));
    // The $9$ form reads back as the secret.
    let back = Config::parse(&curly, &s).unwrap();
    assert_eq!(back, c);
    // A $9$ value typed at `set` is taken as the secret it encodes.
    let hello = "$9$FNkC3/t1IcevLuOWx";
    set(
        &mut c,
        &s,
        &format!(
            "security pki auto-re-enrollment certificate-id r1-cert challenge-password \"{hello}\""
        ),
    );
    assert_eq!(
        c.value(&[
            "security",
            "pki",
            "auto-re-enrollment",
            "certificate-id",
            "r1-cert",
            "challenge-password"
        ]),
        Some("hello")
    );
    let errors = {
        let mut bad = Schema::new();
        bad.container(&["system"], "").unwrap();
        bad.leaf(&["system", "host-name"], ValueType::Text, "")
            .unwrap();
        assert!(bad.secret(&["system"]).is_err());
        bad.secret(&["system", "host-name"]).unwrap();
        bad
    };
    let mut d = Config::new();
    d.set(&errors, &["system", "host-name", SECRET]).unwrap();
    assert!(!d.render_curly(&errors, ALL).contains(SECRET));
}

#[test]
fn completion_lists_statements_and_values() {
    let s = schema();
    let words = |line: &str| -> Vec<(String, CompletionKind)> {
        s.next_words(&split_words(line).unwrap())
            .unwrap()
            .into_iter()
            .map(|c| (c.word, c.kind))
            .collect()
    };
    assert_eq!(
        words(""),
        [
            ("system".to_string(), CompletionKind::Container),
            ("chassis".to_string(), CompletionKind::Container),
            ("security".to_string(), CompletionKind::Container),
        ]
    );
    let fpc = s.next_words(&["chassis", "fpc"]).unwrap();
    assert_eq!(fpc.len(), 1);
    assert_eq!(fpc[0].word, "<slot>");
    assert_eq!(fpc[0].help, "Flexible PIC Concentrator parameters (0..7)");
    assert_eq!(fpc[0].kind, CompletionKind::Value);
    assert_eq!(
        words("security pki ca-profile")[0],
        ("<name>".to_string(), CompletionKind::Value)
    );
    assert_eq!(
        words("system host-name")[0],
        ("<host-name>".to_string(), CompletionKind::Value)
    );
    let after_value = words("system host-name r1");
    assert_eq!(
        after_value[0],
        ("<[Enter]>".to_string(), CompletionKind::Enter)
    );
    assert!(after_value.contains(&("time-zone".to_string(), CompletionKind::Leaf)));
    assert_eq!(
        words("security pki auto-re-enrollment certificate-id c scep-encryption-algorithm"),
        [
            ("des".to_string(), CompletionKind::Keyword),
            ("des3".to_string(), CompletionKind::Keyword),
        ]
    );
    let pic = words("chassis fpc 0 pic 1");
    assert!(pic.contains(&("es".to_string(), CompletionKind::Flag)));
    assert!(
        words("security pki trusted-ca-group G ca-profiles [ a")
            .contains(&("]".to_string(), CompletionKind::Keyword))
    );
    assert!(s.next_words(&["system", "bogus"]).is_err());
    // The configuration adds the entries present (for delete and show).
    let c = sample(&s);
    let existing: Vec<String> = c
        .next_words(&s, &["security", "pki", "ca-profile"])
        .unwrap()
        .into_iter()
        .filter(|w| w.kind == CompletionKind::Existing)
        .map(|w| w.word)
        .collect();
    assert_eq!(existing, ["Root", "Backup"]);
    assert_eq!(
        c.next_words(&s, &["system"]).unwrap(),
        s.next_words(&["system"]).unwrap()
    );
    assert!(
        s.check_path(&["security", "pki", "ca-profile", "Root"])
            .is_ok()
    );
    assert!(s.check_path(&["security", "pkx"]).is_err());
}

#[test]
fn schema_registration_errors() {
    let mut s = schema();
    assert!(s.leaf(&["nope", "x"], ValueType::Word, "").is_err());
    assert!(
        s.leaf(&["system", "host-name", "x"], ValueType::Word, "")
            .is_err()
    );
    assert!(
        s.flag(&["system", "host-name"], "").is_err(),
        "kind conflict"
    );
    assert!(
        s.container(&["system"], "again").is_ok(),
        "shared containers"
    );
    assert!(s.leaf(&[], ValueType::Word, "").is_err());
    assert!(
        s.leaf(&["system", "bad name"], ValueType::Word, "")
            .is_err()
    );
    assert!(s.mandatory(&["system", "nope"]).is_err());
    assert!(s.choice(&["system"], &["host-name", "nope"]).is_err());
    assert!(
        s.validator(&["system", "host-name"], Box::new(|_| Ok(())))
            .is_err()
    );
}

// ---------------------------------------------------------------- store

fn store_dir() -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("config");
    (tmp, dir)
}

fn with_host(s: &Schema, name: &str) -> Config {
    let mut c = Config::new();
    set(&mut c, s, &format!("system host-name {name}"));
    c
}

#[test]
fn store_commit_rollback_and_reopen() {
    let s = schema();
    let (_tmp, dir) = store_dir();
    let (mut store, active, warnings) = ConfigStore::open(&dir, &s).unwrap();
    assert!(active.is_empty() && warnings.is_empty());
    assert!(store.list_rollbacks().is_empty());
    assert!(matches!(
        store.rollback(&s, 0),
        Err(StoreError::NoRollback(0))
    ));

    store
        .commit(&s, &with_host(&s, "r1"), "2026-11-23 10:00:00 UTC", "admin")
        .unwrap();
    let c2 = sample(&s);
    store
        .commit(&s, &c2, "2026-11-23 11:00:00 UTC", "ops")
        .unwrap();

    let text = std::fs::read_to_string(dir.join("juniper.conf")).unwrap();
    assert!(text.starts_with("## Last commit: 2026-11-23 11:00:00 UTC by ops\nsystem {\n"));
    assert!(!text.contains(SECRET), "secrets are stored in $9$ form");

    let (store, active, warnings) = ConfigStore::open(&dir, &s).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(active, c2);
    assert_eq!(store.rollback(&s, 0).unwrap(), c2);
    assert_eq!(store.rollback(&s, 1).unwrap(), with_host(&s, "r1"));
    assert_eq!(
        store.list_rollbacks(),
        [
            (0, "2026-11-23 11:00:00 UTC by ops".to_string()),
            (1, "2026-11-23 10:00:00 UTC by admin".to_string()),
        ]
    );
    let e = store.rollback(&s, 2).unwrap_err();
    assert_eq!(e.to_string(), "rollback 2 does not exist");
    assert_eq!(
        store.rollback(&s, 50).unwrap_err().to_string(),
        "rollback 50 is out of range (0..49)"
    );

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for n in 0..=1 {
            let mode = std::fs::metadata(store.file(n))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "rollback {n}");
        }
    }
}

#[test]
fn store_refuses_invalid_configuration() {
    let s = schema();
    let (_tmp, dir) = store_dir();
    let (mut store, _, _) = ConfigStore::open(&dir, &s).unwrap();
    store
        .commit(&s, &with_host(&s, "r1"), "t1", "admin")
        .unwrap();
    let mut bad = Config::new();
    set(&mut bad, &s, "security pki ca-profile X enrollment retry 1");
    match store.commit(&s, &bad, "t2", "admin") {
        Err(StoreError::Invalid(errors)) => assert_eq!(errors.len(), 1),
        other => panic!("{other:?}"),
    }
    assert_eq!(store.list_rollbacks().len(), 1, "nothing written");
    assert_eq!(store.rollback(&s, 0).unwrap(), with_host(&s, "r1"));
}

#[test]
fn store_keeps_49_rollbacks() {
    let s = schema();
    let (_tmp, dir) = store_dir();
    let (mut store, _, _) = ConfigStore::open(&dir, &s).unwrap();
    for i in 0..55 {
        store
            .commit(
                &s,
                &with_host(&s, &format!("r{i}")),
                &format!("t{i}"),
                "admin",
            )
            .unwrap();
    }
    let list = store.list_rollbacks();
    assert_eq!(list.len(), MAX_ROLLBACKS as usize + 1);
    assert_eq!(list[0], (0, "t54 by admin".to_string()));
    assert_eq!(list[49], (49, "t5 by admin".to_string()));
    assert_eq!(store.rollback(&s, 49).unwrap(), with_host(&s, "r5"));
    assert_eq!(store.rollback(&s, 3).unwrap(), with_host(&s, "r51"));
    assert!(!dir.join("juniper.conf.50").exists());
    let files = std::fs::read_dir(&dir).unwrap().count();
    assert_eq!(files, 50, "no temporary files left behind");
}

#[test]
fn store_loads_last_good_configuration_when_active_is_corrupt() {
    let s = schema();
    for (label, corrupt, problem) in [
        (
            "garbage",
            b"\x00\xff\xfe garbage \x01".to_vec(),
            "not text (invalid UTF-8 at byte 1)",
        ),
        (
            "truncated",
            b"## Last commit: t3 by admin\nsystem {\n    host-name r3;\n".to_vec(),
            "line 3: missing '}' for 'system' opened on line 2",
        ),
        (
            "unknown statement",
            b"## Last commit: t3 by admin\nsystem {\n    hostname r3;\n}\n".to_vec(),
            "line 3: unknown statement 'hostname' under [edit system]",
        ),
    ] {
        let (_tmp, dir) = store_dir();
        let (mut store, _, _) = ConfigStore::open(&dir, &s).unwrap();
        store
            .commit(&s, &with_host(&s, "r1"), "t1", "admin")
            .unwrap();
        store
            .commit(&s, &with_host(&s, "r2"), "t2", "admin")
            .unwrap();
        std::fs::write(dir.join("juniper.conf"), &corrupt).unwrap();
        let (store, active, warnings) = ConfigStore::open(&dir, &s).unwrap();
        assert_eq!(active, with_host(&s, "r1"), "{label}: rollback 1 loaded");
        assert_eq!(warnings.len(), 2, "{label}: {warnings:?}");
        assert!(
            warnings[0].contains("juniper.conf: "),
            "{label}: {warnings:?}"
        );
        assert!(warnings[0].ends_with(problem), "{label}: {warnings:?}");
        assert!(
            warnings[1].starts_with("loaded rollback 1 ("),
            "{warnings:?}"
        );
        assert!(matches!(
            store.rollback(&s, 0),
            Err(StoreError::Corrupt { .. })
        ));
    }

    // A corrupt newest rollback is skipped too; nothing loadable: empty.
    let (_tmp, dir) = store_dir();
    let (mut store, _, _) = ConfigStore::open(&dir, &s).unwrap();
    for i in 1..=3 {
        store
            .commit(&s, &with_host(&s, &format!("r{i}")), "t", "admin")
            .unwrap();
    }
    std::fs::write(dir.join("juniper.conf"), "system {").unwrap();
    std::fs::write(dir.join("juniper.conf.1"), "}}}").unwrap();
    let (_, active, warnings) = ConfigStore::open(&dir, &s).unwrap();
    assert_eq!(active, with_host(&s, "r1"));
    assert_eq!(warnings.len(), 3, "{warnings:?}");
    assert!(warnings[1].contains("juniper.conf.1: line 1: unexpected '}'"));
    assert!(warnings[2].starts_with("loaded rollback 2 "));

    std::fs::write(dir.join("juniper.conf.2"), "x").unwrap();
    let (_, active, warnings) = ConfigStore::open(&dir, &s).unwrap();
    assert!(active.is_empty());
    assert!(
        warnings
            .last()
            .unwrap()
            .contains("starting with an empty configuration"),
        "{warnings:?}"
    );

    // The active file missing while rollbacks exist (a crash): rollback 1.
    let (_tmp, dir) = store_dir();
    let (mut store, _, _) = ConfigStore::open(&dir, &s).unwrap();
    store
        .commit(&s, &with_host(&s, "r1"), "t1", "admin")
        .unwrap();
    store
        .commit(&s, &with_host(&s, "r2"), "t2", "admin")
        .unwrap();
    std::fs::remove_file(dir.join("juniper.conf")).unwrap();
    let (_, active, warnings) = ConfigStore::open(&dir, &s).unwrap();
    assert_eq!(active, with_host(&s, "r1"));
    assert!(warnings[0].ends_with("juniper.conf: file is missing"));
}

// ---------------------------------------------------------------- proptest

mod props {
    use super::*;
    use proptest::prelude::*;

    fn word() -> impl Strategy<Value = String> {
        "[A-Za-z][A-Za-z0-9_.-]{0,8}"
    }

    fn host() -> impl Strategy<Value = String> {
        "[a-z]([a-z0-9-]{0,6}[a-z0-9])?(\\.[a-z]{1,5}){0,2}"
    }

    fn text() -> impl Strategy<Value = String> {
        "[ -~]{1,16}"
    }

    fn op() -> impl Strategy<Value = (bool, Vec<String>)> {
        let set_line = prop_oneof![
            host().prop_map(|h| vec!["system".into(), "host-name".into(), h]),
            word().prop_map(|w| vec!["system".into(), "time-zone".into(), w]),
            (0u8..8, 0u8..4, any::<bool>()).prop_map(|(f, p, es)| {
                let kind = if es { "es" } else { "adaptive-services" };
                vec![
                    "chassis".into(),
                    "fpc".into(),
                    f.to_string(),
                    "pic".into(),
                    p.to_string(),
                    kind.into(),
                ]
            }),
            (word(), text()).prop_map(|(n, t)| {
                vec![
                    "security".into(),
                    "pki".into(),
                    "ca-profile".into(),
                    n,
                    "ca-identity".into(),
                    t,
                ]
            }),
            (word(), host(), 0u32..=1080).prop_map(|(n, h, r)| {
                vec![
                    "security".into(),
                    "pki".into(),
                    "ca-profile".into(),
                    n,
                    "enrollment".into(),
                    "url".into(),
                    format!("http://{h}/scep"),
                    "retry".into(),
                    r.to_string(),
                ]
            }),
            (word(), any::<bool>()).prop_map(|(n, crl)| {
                let mut v: Vec<String> = vec![
                    "security".into(),
                    "pki".into(),
                    "ca-profile".into(),
                    n,
                    "revocation-check".into(),
                ];
                if crl {
                    v.extend(["crl".into(), "refresh-interval".into(), "12".into()]);
                } else {
                    v.push("disable".into());
                }
                v
            }),
            (word(), prop::collection::vec(word(), 1..4)).prop_map(|(g, ps)| {
                let mut v: Vec<String> = vec![
                    "security".into(),
                    "pki".into(),
                    "trusted-ca-group".into(),
                    g,
                    "ca-profiles".into(),
                    "[".into(),
                ];
                v.extend(ps);
                v.push("]".into());
                v
            }),
            (word(), word(), "[A-Za-z0-9!@%^&*()]{8,16}", 1u32..100).prop_map(
                |(id, p, pw, pct)| {
                    vec![
                        "security".into(),
                        "pki".into(),
                        "auto-re-enrollment".into(),
                        "certificate-id".into(),
                        id,
                        "ca-profile-name".into(),
                        p,
                        "challenge-password".into(),
                        pw,
                        "re-enroll-trigger-time-percentage".into(),
                        pct.to_string(),
                    ]
                }
            ),
        ];
        (0u8..10, set_line).prop_map(|(d, words)| {
            // Sometimes delete a prefix of a set line instead.
            if d == 0 {
                let cut = (words.len() / 2).max(1);
                (false, words[..cut].to_vec())
            } else {
                (true, words)
            }
        })
    }

    fn secrets_of(c: &Config) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(are) = c.get(&["security", "pki", "auto-re-enrollment"]) {
            for e in are.entries("certificate-id") {
                if let Some(p) = e.value("challenge-password") {
                    out.push(p.to_string());
                }
            }
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn render_parse_round_trip(ops in prop::collection::vec(op(), 1..25)) {
            let s = schema();
            let mut c = Config::new();
            for (is_set, words) in &ops {
                if *is_set {
                    c.set(&s, words).unwrap();
                } else {
                    let _ = c.delete(&s, words);
                }
            }
            let curly = c.render_curly::<&str>(&s, &[]);
            let parsed = Config::parse(&curly, &s).unwrap();
            prop_assert_eq!(&parsed, &c);

            let mut rebuilt = Config::new();
            for line in c.render_set::<&str>(&s, &[]).lines() {
                let words = split_words(line).unwrap();
                rebuilt.set(&s, &words[1..]).unwrap();
            }
            prop_assert_eq!(&rebuilt, &c);

            prop_assert_eq!(compare(&c, &parsed, &s), "");
            prop_assert_eq!(compare(&Config::new(), &c, &s).is_empty(), c.is_empty());

            let json = c.to_json::<&str>(&s, &[]).to_string();
            for secret in secrets_of(&c) {
                prop_assert!(!curly.contains(&secret));
                prop_assert!(!json.contains(&secret));
                prop_assert!(!c.render_set::<&str>(&s, &[]).contains(&secret));
            }
        }

        #[test]
        fn parse_never_panics(text in "[a-z{};\"#/* \\n\\[\\]0-9.-]{0,200}") {
            let s = schema();
            let _ = Config::parse(&text, &s);
        }
    }
}
