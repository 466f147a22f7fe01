//! The configuration side of IKEv2 VPNs: `[edit security ike]` proposals,
//! named policies and gateways, `[edit security ipsec]` proposals,
//! policies and VPNs; their commit checks, each naming what is wrong; the
//! typed view the IKE daemon reads; and `show` of the statements.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use std::net::IpAddr;

use ike::auth::PeerId;
use mtsim::router::{Router, Session};
use mtsim::vpn_config::{
    self, AuthMethodCfg, EncrCfg, GatewayCfg, HashCfg, IkeProposalCfg, IntegCfg, IpsecProposalCfg,
    VpnCfg,
};
use support::{err, ok, run};

/// A complete two-VPN configuration: gateway `gw-a` (hostname identities,
/// its own ECDSA proposal, DPD) carries `vpn-a` (bound to `st0.0`, a
/// traffic selector, PFS); gateway `gw-b` (IPv4 identities, the standard
/// proposal-set, no NAT traversal) carries `vpn-b`.
const FULL: &[&str] = &[
    "set security ike proposal ike-ecdsa authentication-method ecdsa-signatures-256",
    "set security ike proposal ike-ecdsa dh-group group19",
    "set security ike proposal ike-ecdsa authentication-algorithm sha-256",
    "set security ike proposal ike-ecdsa encryption-algorithm aes-256-cbc",
    "set security ike proposal ike-ecdsa lifetime-seconds 3600",
    "set security ike proposal ike-rsa authentication-method rsa-signatures dh-group group20 authentication-algorithm sha-384 encryption-algorithm aes-128-cbc",
    "set security ike policy ike-pol proposals [ ike-ecdsa ike-rsa ]",
    "set security ike policy ike-pol certificate local-certificate r1-cert",
    "set security ike policy ike-pol certificate peer-certificate-type x509-signature",
    "set security ike policy ike-std proposal-set standard",
    "set security ike policy ike-std certificate local-certificate r1-cert",
    "set security ike gateway gw-a ike-policy ike-pol",
    "set security ike gateway gw-a address 192.0.2.2",
    "set security ike gateway gw-a local-address 192.0.2.1",
    "set security ike gateway gw-a external-interface ge-0/0/0.0",
    "set security ike gateway gw-a local-identity hostname r1.example.net",
    "set security ike gateway gw-a remote-identity hostname gw-a.example.net",
    "set security ike gateway gw-a dead-peer-detection interval 20 threshold 3",
    "set security ike gateway gw-a nat-keepalive 30",
    "set security ike gateway gw-a version v2-only",
    "set security ike gateway gw-b ike-policy ike-std",
    "set security ike gateway gw-b address 198.51.100.2",
    "set security ike gateway gw-b local-identity inet 192.0.2.1",
    "set security ike gateway gw-b remote-identity inet 198.51.100.2",
    "set security ike gateway gw-b no-nat-traversal",
    "set security ike gateway gw-b version v2-only",
    "set security ipsec proposal esp-a protocol esp authentication-algorithm hmac-sha-256-128 encryption-algorithm aes-256-cbc lifetime-seconds 1800 lifetime-kilobytes 100000",
    "set security ipsec proposal esp-b protocol esp authentication-algorithm hmac-sha1-96 encryption-algorithm aes-128-cbc",
    "set security ipsec policy ipsec-pol perfect-forward-secrecy keys group19",
    "set security ipsec policy ipsec-pol proposals [ esp-a esp-b ]",
    "set security ipsec policy ipsec-std proposal-set standard",
    "set security ipsec vpn vpn-a bind-interface st0.0",
    "set security ipsec vpn vpn-a df-bit clear",
    "set security ipsec vpn vpn-a ike gateway gw-a",
    "set security ipsec vpn vpn-a ike ipsec-policy ipsec-pol",
    "set security ipsec vpn vpn-a traffic-selector ts1 local-ip 10.1.0.0/24 remote-ip 10.2.0.0/24",
    "set security ipsec vpn vpn-a establish-tunnels immediately",
    "set security ipsec vpn vpn-b bind-interface es-1/0/0",
    "set security ipsec vpn vpn-b ike gateway gw-b",
    "set security ipsec vpn vpn-b ike ipsec-policy ipsec-std",
];

/// A router with [`FULL`] committed, in configuration mode.
fn committed() -> (tempfile::TempDir, Router, Session) {
    let d = tempfile::tempdir().unwrap();
    let r = support::router(d.path());
    let mut s = r.session("root");
    ok(&r, &mut s, "configure");
    for line in FULL {
        ok(&r, &mut s, line);
    }
    ok(&r, &mut s, "commit");
    (d, r, s)
}

/// Commits, which must fail; the errors printed (with the result).
fn commit_fails(r: &Router, s: &mut Session) -> String {
    let (res, out) = run(r, s, "commit");
    assert!(res.is_err(), "commit succeeded:\n{out}");
    format!("{out}{res:?}")
}

/// `line` then a commit that must fail naming `expected`; then back to
/// the committed configuration.
fn refused(r: &Router, s: &mut Session, lines: &[&str], expected: &[&str]) {
    for line in lines {
        ok(r, s, line);
    }
    let all = commit_fails(r, s);
    for e in expected {
        assert!(all.contains(e), "{lines:?}: expected {e:?} in\n{all}");
    }
    ok(r, s, "rollback 0");
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn ike_prop(
    name: &str,
    encryption: EncrCfg,
    authentication: HashCfg,
    dh_group: u16,
    lifetime_seconds: u32,
    method: AuthMethodCfg,
) -> IkeProposalCfg {
    IkeProposalCfg {
        name: name.into(),
        encryption,
        authentication,
        dh_group,
        lifetime_seconds,
        method,
    }
}

fn esp(
    name: &str,
    encryption: EncrCfg,
    integrity: IntegCfg,
    lifetime_seconds: u32,
    lifetime_kilobytes: Option<u64>,
) -> IpsecProposalCfg {
    IpsecProposalCfg {
        name: name.into(),
        encryption,
        integrity,
        lifetime_seconds,
        lifetime_kilobytes,
    }
}

#[test]
fn a_full_configuration_commits_and_reads_back_typed() {
    let (d, r, _s) = committed();
    let active = r.shared().state().active.clone();

    let gw_a = GatewayCfg {
        name: "gw-a".into(),
        address: ip("192.0.2.2"),
        local_address: Some(ip("192.0.2.1")),
        local_identity: Some(PeerId::Fqdn("r1.example.net".into())),
        remote_identity: Some(PeerId::Fqdn("gw-a.example.net".into())),
        local_certificate: Some("r1-cert".into()),
        ike_proposals: vec![
            ike_prop(
                "ike-ecdsa",
                EncrCfg::Aes256Cbc,
                HashCfg::Sha256,
                19,
                3600,
                AuthMethodCfg::EcdsaSignatures256,
            ),
            ike_prop(
                "ike-rsa",
                EncrCfg::Aes128Cbc,
                HashCfg::Sha384,
                20,
                28800,
                AuthMethodCfg::RsaSignatures,
            ),
        ],
        dpd_interval: Some(20),
        dpd_threshold: 3,
        nat_traversal: true,
        nat_keepalive: 30,
        es_pic: None,
    };
    // proposal-set standard: RSA signatures, group 14, AES-128/SHA-1 then
    // AES-256/SHA-256.
    let gw_b = GatewayCfg {
        name: "gw-b".into(),
        address: ip("198.51.100.2"),
        local_address: None,
        local_identity: Some(PeerId::Ipv4("192.0.2.1".parse().unwrap())),
        remote_identity: Some(PeerId::Ipv4("198.51.100.2".parse().unwrap())),
        local_certificate: Some("r1-cert".into()),
        ike_proposals: vec![
            ike_prop(
                "rsa-g14-aes128-sha1",
                EncrCfg::Aes128Cbc,
                HashCfg::Sha1,
                14,
                28800,
                AuthMethodCfg::RsaSignatures,
            ),
            ike_prop(
                "rsa-g14-aes256-sha256",
                EncrCfg::Aes256Cbc,
                HashCfg::Sha256,
                14,
                28800,
                AuthMethodCfg::RsaSignatures,
            ),
        ],
        dpd_interval: None,
        dpd_threshold: 5,
        nat_traversal: false,
        nat_keepalive: 20,
        es_pic: None,
    };
    assert_eq!(
        vpn_config::gateways(&active),
        vec![gw_a.clone(), gw_b.clone()]
    );
    assert_eq!(vpn_config::gateway(&active, "gw-b"), Some(gw_b.clone()));
    assert_eq!(vpn_config::gateway(&active, "nope"), None);

    let vpn_a = VpnCfg {
        name: "vpn-a".into(),
        gateway: gw_a,
        proposals: vec![
            esp(
                "esp-a",
                EncrCfg::Aes256Cbc,
                IntegCfg::HmacSha256_128,
                1800,
                Some(100_000),
            ),
            esp(
                "esp-b",
                EncrCfg::Aes128Cbc,
                IntegCfg::HmacSha1_96,
                3600,
                None,
            ),
        ],
        pfs_group: Some(19),
        bind_interface: Some("st0.0".into()),
        establish_immediately: true,
        local_ts: Some((ip("10.1.0.0"), 24)),
        remote_ts: Some((ip("10.2.0.0"), 24)),
    };
    let vpn_b = VpnCfg {
        name: "vpn-b".into(),
        gateway: gw_b,
        proposals: vec![
            esp(
                "esp-aes128-sha1",
                EncrCfg::Aes128Cbc,
                IntegCfg::HmacSha1_96,
                3600,
                None,
            ),
            esp(
                "esp-aes256-sha1",
                EncrCfg::Aes256Cbc,
                IntegCfg::HmacSha1_96,
                3600,
                None,
            ),
        ],
        pfs_group: None,
        bind_interface: Some("es-1/0/0".into()),
        establish_immediately: false,
        local_ts: None,
        remote_ts: None,
    };
    assert_eq!(vpn_config::vpns(&active), vec![vpn_a.clone(), vpn_b]);
    assert_eq!(vpn_config::vpn(&active, "vpn-a"), Some(vpn_a.clone()));

    // The policies' proposals, resolved by name in order.
    assert_eq!(
        vpn_config::ike_policy_proposals(&active, "ike-pol"),
        Some(vpn_a.gateway.ike_proposals.clone())
    );
    assert_eq!(
        vpn_config::ipsec_policy_proposals(&active, "ipsec-pol"),
        Some(vpn_a.proposals.clone())
    );
    assert_eq!(vpn_config::ike_policy_proposals(&active, "nope"), None);
    assert_eq!(
        vpn_config::ike_proposal_set("basic").map(|v| v.len()),
        Some(1)
    );
    assert_eq!(
        vpn_config::ipsec_proposal_set("compatible").map(|v| v.len()),
        Some(3)
    );
    assert_eq!(vpn_config::ipsec_proposal_set("bogus"), None);

    // The same after a restart (read back from the committed file).
    drop(r);
    let r = support::router(d.path());
    let active = r.shared().state().active.clone();
    assert_eq!(vpn_config::vpn(&active, "vpn-a"), Some(vpn_a));
}

#[test]
fn show_gives_the_new_statements() {
    let (_d, r, mut s) = committed();
    let out = ok(&r, &mut s, "show security ike gateway gw-a");
    for want in [
        "ike-policy ike-pol;",
        "address 192.0.2.2;",
        "dead-peer-detection {\n    interval 20;\n    threshold 3;\n}",
        "local-identity {\n    hostname r1.example.net;\n}",
        "remote-identity {\n    hostname gw-a.example.net;\n}",
        "version v2-only;",
    ] {
        assert!(out.contains(want), "{want:?} in\n{out}");
    }
    let out = ok(&r, &mut s, "show security");
    for want in [
        "ike {",
        "policy ike-pol {",
        "proposals [ ike-ecdsa ike-rsa ];",
        "certificate {",
        "local-certificate r1-cert;",
        "peer-certificate-type x509-signature;",
        "proposal-set standard;",
        "gateway gw-b {",
        "no-nat-traversal;",
        "ipsec {",
        "proposal esp-a {",
        "lifetime-kilobytes 100000;",
        "perfect-forward-secrecy {",
        "keys group19;",
        "vpn vpn-a {",
        "bind-interface st0.0;",
        "traffic-selector ts1 {",
        "local-ip 10.1.0.0/24;",
        "establish-tunnels immediately;",
    ] {
        assert!(out.contains(want), "{want:?} in\n{out}");
    }
    // `| display set` gives the lines back.
    let out = ok(&r, &mut s, "show security | display set");
    for want in [
        "set security ike proposal ike-ecdsa authentication-method ecdsa-signatures-256\n",
        "set security ike gateway gw-b local-identity inet 192.0.2.1\n",
        "set security ike gateway gw-a dead-peer-detection interval 20\n",
        "set security ipsec policy ipsec-pol proposals esp-a\n",
        "set security ipsec vpn vpn-a ike gateway gw-a\n",
        "set security ipsec vpn vpn-a traffic-selector ts1 remote-ip 10.2.0.0/24\n",
        "set security ipsec vpn vpn-a df-bit clear\n",
    ] {
        assert!(out.contains(want), "{want:?} in\n{out}");
    }
}

#[test]
fn gateway_commit_checks_name_what_is_wrong() {
    let (_d, r, mut s) = committed();
    let s = &mut s;
    let r = &r;
    // Missing or unknown IKE policy.
    refused(
        r,
        s,
        &["delete security ike gateway gw-a ike-policy"],
        &["gateway gw-a: ike-policy is required"],
    );
    refused(
        r,
        s,
        &["set security ike gateway gw-a ike-policy nope"],
        &["gateway gw-a: ike-policy nope is not configured"],
    );
    // The peer address is mandatory.
    refused(
        r,
        s,
        &["delete security ike gateway gw-b address"],
        &[
            "[edit security ike gateway gw-b]",
            "Missing mandatory statement: 'address'",
        ],
    );
    // IKEv1 is not implemented: version v2-only is required.
    refused(
        r,
        s,
        &["delete security ike gateway gw-b version"],
        &["gateway gw-b: version v2-only is required (IKEv1 is not implemented)"],
    );
    refused(
        r,
        s,
        &["set security ike gateway gw-b version v1-only"],
        &["gateway gw-b: version v1-only: IKEv1 is not implemented"],
    );
    // Identities: the kind must fit the value.
    refused(
        r,
        s,
        &["set security ike gateway gw-b remote-identity inet 2001:db8::2"],
        &["gateway gw-b: remote-identity inet: '2001:db8::2' is not an IPv4 address"],
    );
    refused(
        r,
        s,
        &["set security ike gateway gw-a local-identity hostname bad!name"],
        &["gateway gw-a: local-identity hostname:", "bad!name"],
    );
    refused(
        r,
        s,
        &["set security ike gateway gw-a remote-identity user-at-hostname nobody"],
        &["gateway gw-a: remote-identity user-at-hostname:"],
    );
    refused(
        r,
        s,
        &["set security ike gateway gw-a remote-identity distinguished-name \"CN=gw-a, BOGUS=x\""],
        &["gateway gw-a: remote-identity distinguished-name:"],
    );
    // An identity with no kind.
    refused(
        r,
        s,
        &[
            "delete security ike gateway gw-a local-identity hostname",
            "set security ike gateway gw-a local-identity",
        ],
        &[
            "gateway gw-a: local-identity needs one of hostname, inet, inet6, user-at-hostname, distinguished-name",
        ],
    );
    // Mixed address families.
    refused(
        r,
        s,
        &["set security ike gateway gw-a local-address 2001:db8::1"],
        &[
            "gateway gw-a: local-address 2001:db8::1 and address 192.0.2.2 are of different address families",
        ],
    );
    // DPD ranges are checked as typed.
    let e = err(
        r,
        s,
        "set security ike gateway gw-a dead-peer-detection interval 5",
    );
    assert!(e.contains("not within range (10..60)"), "{e}");
    let e = err(
        r,
        s,
        "set security ike gateway gw-a dead-peer-detection threshold 6",
    );
    assert!(e.contains("not within range (1..5)"), "{e}");
}

#[test]
fn one_identity_of_each_side_replaces_the_other() {
    let (_d, r, mut s) = committed();
    // local-identity is a choice: a second kind replaces the first.
    ok(
        &r,
        &mut s,
        "set security ike gateway gw-a local-identity inet6 2001:db8::1",
    );
    let out = ok(&r, &mut s, "show security ike gateway gw-a local-identity");
    assert_eq!(out, "inet6 2001:db8::1;\n");
    ok(
        &r,
        &mut s,
        "set security ike gateway gw-a remote-identity user-at-hostname admin@gw-a.example.net",
    );
    ok(
        &r,
        &mut s,
        "set security ike gateway gw-b remote-identity distinguished-name \"CN=gw-b, O=Example\"",
    );
    ok(&r, &mut s, "commit");
    let active = r.shared().state().active.clone();
    let a = vpn_config::gateway(&active, "gw-a").unwrap();
    assert_eq!(
        a.local_identity,
        Some(PeerId::Ipv6("2001:db8::1".parse().unwrap()))
    );
    assert_eq!(
        a.remote_identity,
        Some(PeerId::Email("admin@gw-a.example.net".into()))
    );
    let b = vpn_config::gateway(&active, "gw-b").unwrap();
    assert_eq!(
        b.remote_identity,
        Some(PeerId::parse("dn:CN=gw-b, O=Example").unwrap())
    );
}

#[test]
fn ike_policy_and_proposal_commit_checks_name_what_is_wrong() {
    let (_d, r, mut s) = committed();
    let s = &mut s;
    let r = &r;
    refused(
        r,
        s,
        &["set security ike policy ike-pol proposals nope"],
        &[
            "[edit security ike]",
            "'policy ike-pol'",
            "policy ike-pol: proposal nope is not configured",
        ],
    );
    refused(
        r,
        s,
        &["set security ike policy lonely certificate local-certificate r1-cert"],
        &["policy lonely: proposals or proposal-set is required"],
    );
    // Signatures need the local certificate.
    refused(
        r,
        s,
        &["delete security ike policy ike-pol certificate local-certificate"],
        &["policy ike-pol: signature authentication needs certificate local-certificate"],
    );
    refused(
        r,
        s,
        &["delete security ike policy ike-std certificate"],
        &["policy ike-std: signature authentication needs certificate local-certificate"],
    );
    // Pre-shared keys need the key.
    refused(
        r,
        s,
        &["set security ike proposal ike-rsa authentication-method pre-shared-keys"],
        &["policy ike-pol: pre-shared-keys authentication needs pre-shared-key"],
    );
    // Algorithms IKEv2 here does not implement, and missing ones.
    refused(
        r,
        s,
        &["set security ike proposal ike-rsa dh-group group2"],
        &[
            "policy ike-pol: proposal ike-rsa: dh-group group2 is not implemented (use group14, group19, group20)",
        ],
    );
    refused(
        r,
        s,
        &["set security ike proposal ike-rsa encryption-algorithm 3des-cbc"],
        &["proposal ike-rsa: encryption-algorithm 3des-cbc is not implemented"],
    );
    refused(
        r,
        s,
        &["delete security ike proposal ike-ecdsa authentication-algorithm"],
        &["policy ike-pol: proposal ike-ecdsa: authentication-algorithm is required"],
    );
    // proposals and proposal-set exclude each other.
    ok(
        r,
        s,
        "set security ike policy ike-pol proposal-set compatible",
    );
    let out = ok(r, s, "show security ike policy ike-pol");
    assert!(
        out.contains("proposal-set compatible;") && !out.contains("proposals"),
        "{out}"
    );
    ok(r, s, "commit");
    let active = r.shared().state().active.clone();
    let names: Vec<String> = vpn_config::ike_policy_proposals(&active, "ike-pol")
        .unwrap()
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(
        names,
        [
            "rsa-g14-aes256-sha256",
            "rsa-g14-aes128-sha256",
            "rsa-g14-aes128-sha1"
        ]
    );
}

#[test]
fn ipsec_commit_checks_name_what_is_wrong() {
    let (_d, r, mut s) = committed();
    let s = &mut s;
    let r = &r;
    refused(
        r,
        s,
        &["set security ipsec vpn vpn-a ike gateway nope"],
        &[
            "[edit security ipsec]",
            "'vpn vpn-a'",
            "vpn vpn-a: ike gateway nope is not configured",
        ],
    );
    refused(
        r,
        s,
        &["delete security ipsec vpn vpn-b ike gateway"],
        &["vpn vpn-b: ike gateway is required"],
    );
    refused(
        r,
        s,
        &["set security ipsec vpn vpn-a ike ipsec-policy nope"],
        &["vpn vpn-a: ike ipsec-policy nope is not configured"],
    );
    refused(
        r,
        s,
        &["delete security ipsec vpn vpn-a ike ipsec-policy"],
        &["vpn vpn-a: ike ipsec-policy is required"],
    );
    refused(
        r,
        s,
        &["set security ipsec policy ipsec-pol proposals esp-x"],
        &["policy ipsec-pol: proposal esp-x is not configured"],
    );
    refused(
        r,
        s,
        &["delete security ipsec policy ipsec-pol proposals"],
        &["policy ipsec-pol: proposals or proposal-set is required"],
    );
    refused(
        r,
        s,
        &["delete security ipsec proposal esp-b encryption-algorithm"],
        &["policy ipsec-pol: proposal esp-b: encryption-algorithm is required"],
    );
    // A bad prefix is refused as typed, naming the statement and value.
    let e = err(
        r,
        s,
        "set security ipsec vpn vpn-a traffic-selector ts1 local-ip 10.1.0.0/33",
    );
    assert!(e.contains("10.1.0.0/33"), "{e}");
    let e = err(
        r,
        s,
        "set security ipsec vpn vpn-a traffic-selector ts1 remote-ip 10.2.0.0",
    );
    assert!(e.contains("10.2.0.0"), "{e}");
    refused(
        r,
        s,
        &["set security ipsec vpn vpn-a traffic-selector ts1 local-ip 2001:db8:1::/48"],
        &[
            "vpn vpn-a: traffic-selector ts1: local-ip and remote-ip are of different address families",
        ],
    );
    refused(
        r,
        s,
        &[
            "set security ipsec vpn vpn-a traffic-selector ts2 local-ip 10.3.0.0/24 remote-ip 10.4.0.0/24",
        ],
        &["vpn vpn-a: only one traffic-selector is supported"],
    );
    refused(
        r,
        s,
        &["set security ipsec vpn vpn-b traffic-selector ts9 local-ip 10.9.0.0/16"],
        &["Missing mandatory statement: 'remote-ip'"],
    );
    // A VPN with IPv6 selectors commits.
    ok(
        r,
        s,
        "set security ipsec vpn vpn-b traffic-selector v6 local-ip 2001:db8:1::/48 remote-ip 2001:db8:2::/48",
    );
    ok(r, s, "commit");
    let active = r.shared().state().active.clone();
    let b = vpn_config::vpn(&active, "vpn-b").unwrap();
    assert_eq!(b.local_ts, Some((ip("2001:db8:1::"), 48)));
    assert_eq!(b.remote_ts, Some((ip("2001:db8:2::"), 48)));
}

#[test]
fn es_pic_policies_keyed_by_address_still_commit() {
    let (_d, r, mut s) = committed();
    ok(
        &r,
        &mut s,
        "set security ike proposal legacy authentication-method rsa-signatures authentication-algorithm sha1 dh-group group2 encryption-algorithm 3des-cbc",
    );
    ok(
        &r,
        &mut s,
        "set security ike policy 192.0.2.9 proposals legacy",
    );
    let all = commit_fails(&r, &mut s);
    assert!(
        all.contains(
            "policy 192.0.2.9: signature authentication needs local-certificate and local-key-pair"
        ),
        "{all}"
    );
    ok(
        &r,
        &mut s,
        "set security ike policy 192.0.2.9 local-certificate batt local-key-pair batt",
    );
    ok(&r, &mut s, "commit");
    let active = r.shared().state().active.clone();
    let p = mtsim::ike_config::policy_for(&active, ip("192.0.2.9")).unwrap();
    assert_eq!(p.local_certificate.as_deref(), Some("batt"));
    // Used by an IKEv2 gateway, its 3DES / group 2 proposal is refused.
    ok(
        &r,
        &mut s,
        "set security ike gateway gw-a ike-policy 192.0.2.9",
    );
    let all = commit_fails(&r, &mut s);
    assert!(
        all.contains("gateway gw-a: ike-policy 192.0.2.9: proposal legacy: dh-group group2 is not implemented"),
        "{all}"
    );
}
