//! The router's real command tree, in process: completion, configuration
//! editing, commit check errors, display formats.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use cli::command::CommandError;
use mtsim::router::{Router, Session};

mod support;

use support::{router, run};

fn words(r: &Router, s: &Session, line: &str) -> Vec<String> {
    r.complete(s, line)
        .candidates
        .into_iter()
        .map(|c| c.word)
        .collect()
}

#[test]
fn completion_on_the_real_tree() {
    let d = tempfile::tempdir().unwrap();
    let r = router(d.path());
    let mut s = r.session("root");
    assert_eq!(
        words(&r, &s, "show "),
        [
            "chassis",
            "interfaces",
            "log",
            "security",
            "system",
            "version"
        ]
    );
    assert_eq!(
        words(&r, &s, "show security pki "),
        [
            "ca-certificate",
            "certificate-request",
            "crl",
            "key-pair",
            "local-certificate"
        ]
    );
    assert_eq!(words(&r, &s, "show chassis "), ["hardware"]);
    assert_eq!(words(&r, &s, "show log "), ["<filename>"]);
    assert_eq!(words(&r, &s, "set "), ["date"]);
    assert!(words(&r, &s, "").contains(&"configure".to_string()));
    assert_eq!(r.complete(&s, "conf").tab().as_deref(), Some("igure "));
    run(&r, &mut s, "configure").0.unwrap();
    let w = words(&r, &s, "set ");
    assert!(
        w.contains(&"system".into()) && w.contains(&"chassis".into()),
        "{w:?}"
    );
    let w = words(&r, &s, "set system ");
    assert!(
        w.contains(&"host-name".into()) && w.contains(&"login".into()),
        "{w:?}"
    );
    assert_eq!(words(&r, &s, "set system host"), ["host-name"]);
    let listing = r.complete(&s, "set system ").render();
    assert!(
        listing.contains("host-name            Hostname for this router"),
        "{listing}"
    );
    let w = words(&r, &s, "");
    for verb in ["commit", "delete", "exit", "rollback", "run", "set", "show"] {
        assert!(w.contains(&verb.to_string()), "{verb} in {w:?}");
    }
}

#[test]
fn commit_check_names_the_missing_statement_and_applies_nothing() {
    let d = tempfile::tempdir().unwrap();
    let r = router(d.path());
    let mut s = r.session("root");
    run(&r, &mut s, "configure").0.unwrap();
    run(&r, &mut s, "set system login user alice uid 2001")
        .0
        .unwrap();
    let (res, out) = run(&r, &mut s, "commit check");
    assert_eq!(
        res,
        Err(CommandError::failed("configuration check-out failed"))
    );
    assert!(out.contains("[edit system login user alice]"), "{out}");
    assert!(
        out.contains("Missing mandatory statement: 'class'"),
        "{out}"
    );
    let (res, _) = run(&r, &mut s, "commit");
    assert!(res.is_err());
    assert!(
        !d.path().join("config/juniper.conf").exists()
            || !std::fs::read_to_string(d.path().join("config/juniper.conf"))
                .unwrap()
                .contains("alice")
    );
    run(&r, &mut s, "set system login user alice class operator")
        .0
        .unwrap();
    let (res, out) = run(&r, &mut s, "commit check");
    res.unwrap();
    assert_eq!(out, "configuration check succeeds\n");
    let (res, out) = run(&r, &mut s, "set system login user alice uid 99");
    assert!(
        res.unwrap_err().to_string().contains("not within range"),
        "{out}"
    );
    let (_, out) = run(&r, &mut s, "show system login");
    // Statements come in schema order, as Junos shows them.
    assert_eq!(out, "user alice {\n    class operator;\n    uid 2001;\n}\n");
    let (_, out) = run(&r, &mut s, "show | display json");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(v.to_string().contains("alice"), "{v}");
    run(&r, &mut s, "delete system login user alice").0.unwrap();
    let (_, out) = run(&r, &mut s, "show");
    assert!(!out.contains("alice"), "{out}");
    let (_, out) = run(&r, &mut s, "delete system login user bob");
    assert_eq!(out, "warning: statement not found\n");
    // run: an operational command from configuration mode.
    let (res, out) = run(&r, &mut s, "run show version");
    res.unwrap();
    assert!(out.contains("Hostname: router"), "{out}");
    let (_, out) = run(&r, &mut s, "rollback 7");
    assert!(out.is_empty());
}
