//! The configuration file parser (`cli::config::Config::parse`, what
//! `ConfigStore::open` runs on `juniper.conf` and its rollbacks) with the
//! router's schema (the statements of sim/src/commands.rs,
//! pki_commands.rs, ike_config.rs and vpn_config.rs).
//!
//! Input: the file's bytes (not UTF-8: skipped, as the store refuses such
//! a file before parsing). A parse error must render; a parsed
//! configuration must pass through everything the router does with a
//! loaded configuration: the commit check, the three renderings, and the
//! readers of the PKI, IKE and VPN statements. And it must survive a
//! restart: the curly text a commit writes must parse back to the same
//! configuration.

#![no_main]

use std::sync::OnceLock;

use cli::config::{Config, Schema};
use libfuzzer_sys::fuzz_target;
use mtsim::{commands, ike_config, pki_commands, vpn_config};

fn schema() -> &'static Schema {
    static S: OnceLock<Schema> = OnceLock::new();
    S.get_or_init(|| {
        let mut s = Schema::new();
        commands::register_schema(&mut s).expect("schema");
        pki_commands::register_schema(&mut s).expect("schema");
        ike_config::register_schema(&mut s).expect("schema");
        vpn_config::register_schema(&mut s).expect("schema");
        s
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let schema = schema();
    let config = match Config::parse(text, schema) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    let _ = config.validate(schema);
    let curly = config.render_curly::<&str>(schema, &[]);
    let _ = config.render_set::<&str>(schema, &[]);
    let _ = config.to_json::<&str>(schema, &[]);
    match Config::parse(&curly, schema) {
        Ok(again) => assert!(
            again == config,
            "the rendered configuration parses to another one:\n{curly}"
        ),
        Err(e) => panic!("the rendered configuration does not parse: {e}\n{curly}"),
    }

    let _ = pki_commands::profiles(&config);
    let _ = pki_commands::auto_reenrollment(&config);
    let _ = pki_commands::path_length(&config);
    for g in ike_config::gateways(&config) {
        let _ = ike_config::policy_for(&config, g.address);
        let _ = ike_config::gateway(&config, &g.name);
    }
    for v in vpn_config::vpns(&config) {
        let _ = vpn_config::vpn(&config, &v.name);
    }
    for policy in config
        .view()
        .child("security")
        .and_then(|s| s.child("ike"))
        .map(|ike| ike.entries("policy"))
        .unwrap_or_default()
    {
        if let Some(name) = policy.key() {
            let _ = ike_config::ike_policy_proposals(&config, name);
        }
    }
    for policy in config
        .view()
        .child("security")
        .and_then(|s| s.child("ipsec"))
        .map(|ipsec| ipsec.entries("policy"))
        .unwrap_or_default()
    {
        if let Some(name) = policy.key() {
            let _ = vpn_config::ipsec_policy_proposals(&config, name);
        }
    }
    let _ = ike_config::policy_for(&config, "192.0.2.1".parse().expect("address"));
});
