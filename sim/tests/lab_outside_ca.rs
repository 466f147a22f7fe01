//! `mtsim lab` against an outside CA, as the README describes it: the
//! script `scripts/lab-openssl-cmp-mock.sh` makes a CA, R1's and R2's keys
//! and their certificates with openssl, starts one OpenSSL CMP mock server
//! per router (`openssl cmp -port`, each answering with that router's
//! certificate) in a network namespace of its own (the mock binds every
//! interface), and runs the built `mtsim lab` there with `--keys`,
//! `--addresses`, `--cmp-url` and `--r2-cmp-url`. The lab must pass:
//! both routers enrolled over CMPv2 at their mock, the tunnel up and
//! carrying traffic, renewal and revocation skipped (not failed), and the
//! routers holding exactly the certificates openssl issued.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use support::peer_available;

const MTSIM: &str = env!("CARGO_BIN_EXE_mtsim");
const SECRET: &str = "lab-outside-secret";
const PORT1: &str = "18091";
const PORT2: &str = "18092";

/// The script, and on drop (a failed assertion included) whatever it left:
/// it is killed (its trap stops the mocks and deletes the namespace), then
/// the namespace is deleted in case the trap could not run.
struct Recipe {
    child: Option<Child>,
    ns: String,
}

impl Drop for Recipe {
    fn drop(&mut self) {
        if let Some(c) = &mut self.child {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.ns])
            .stderr(Stdio::null())
            .status();
    }
}

/// `openssl x509 -in cert -noout ARG`, the value after `=`.
fn x509(cert: &Path, arg: &str) -> String {
    let o = Command::new("openssl")
        .args(["x509", "-noout", arg, "-in"])
        .arg(cert)
        .output()
        .unwrap();
    assert!(o.status.success(), "openssl x509 {arg} {}", cert.display());
    let text = String::from_utf8_lossy(&o.stdout);
    text.trim().split_once('=').unwrap().1.to_string()
}

/// A serial as hex without leading zeros, lower case.
fn serial(s: &str) -> String {
    s.trim_start_matches('0').to_ascii_lowercase()
}

#[test]
fn the_lab_passes_against_openssl_cmp_mock_servers() {
    if !peer_available("openssl", &["version"], "openssl")
        || !peer_available("ip", &["-V"], "iproute2")
    {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let w = d.path();
    let script: PathBuf = [env!("CARGO_MANIFEST_DIR"), "..", "scripts"]
        .iter()
        .collect::<PathBuf>()
        .join("lab-openssl-cmp-mock.sh");
    let ns = format!("mtsim-labca-{}", std::process::id());
    let data = w.join("lab");
    let mut recipe = Recipe {
        child: None,
        ns: ns.clone(),
    };
    // Bounded: timeout signals the script's process group, and its trap
    // cleans up.
    let child = Command::new("timeout")
        .arg("600")
        .arg("bash")
        .arg(&script)
        .args(["--json", "--dir"])
        .arg(&data)
        .env("MTSIM", MTSIM)
        .env("WORKDIR", w)
        .env("NS", &ns)
        .env("A1", "127.0.30.1")
        .env("A2", "127.0.30.2")
        .env("PORT1", PORT1)
        .env("PORT2", PORT2)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    recipe.child = Some(child);
    let o = recipe.child.take().unwrap().wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    let logs = || {
        ["r1.mock.log", "r2.mock.log"]
            .iter()
            .map(|l| {
                format!(
                    "--- {l}\n{}",
                    std::fs::read_to_string(w.join(l)).unwrap_or_default()
                )
            })
            .collect::<String>()
    };
    assert!(
        o.status.success(),
        "the recipe failed ({:?}):\n{text}\n{err}\n{}",
        o.status,
        logs()
    );

    // The namespace is gone and no mock is left.
    let list = Command::new("ip").args(["netns", "list"]).output().unwrap();
    assert!(
        !String::from_utf8_lossy(&list.stdout).contains(&ns),
        "namespace {ns} left behind"
    );

    let report: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}\n{err}"));
    assert_eq!(report["ok"], true, "{text}");
    let steps = report["steps"].as_array().unwrap();
    let step = |name: &str| {
        steps
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("no step '{name}' in {text}"))
    };
    let result = |name: &str| step(name)["result"].as_str().unwrap().to_string();
    assert!(steps.iter().all(|s| s["result"] != "fail"), "{text}");

    let keys = w.join("keys");
    assert_eq!(
        result(&format!("key pairs imported from {}", keys.display())),
        "pass",
        "{text}"
    );
    for name in [
        "CA profiles configured and committed",
        "R1's certificate enrolled over CMPv2",
        "R2's certificate enrolled over CMPv2",
        "IKE gateways and IPsec VPNs configured",
        "IKE and IPsec SAs up and programmed onto both cards",
        "traffic across the tunnel",
    ] {
        assert_eq!(result(name), "pass", "{name}: {text}");
    }
    for name in [
        "CA certificate enrolled over SCEP (R1)",
        "automatic re-enrollment",
        "a revoked certificate is refused",
    ] {
        assert_eq!(result(name), "skipped", "{name}: {text}");
        assert!(
            !step(name)["detail"].as_str().unwrap().is_empty(),
            "{name}: no reason given"
        );
    }

    // Each router at its own mock, holding what openssl issued for it.
    for (r, port) in [("r1", PORT1), ("r2", PORT2)] {
        let name = format!("{}'s certificate enrolled over CMPv2", r.to_uppercase());
        let detail = step(&name)["detail"].as_str().unwrap().to_string();
        let issued = w.join(format!("{r}.crt"));
        let want = serial(&x509(&issued, "-serial"));
        assert!(
            detail.contains(&format!("from http://127.0.0.1:{port}/pkix/")),
            "{detail}"
        );
        let got = detail
            .strip_prefix("serial ")
            .and_then(|d| d.split_whitespace().next())
            .map(serial)
            .unwrap_or_default();
        assert_eq!(got, want, "{name}: {detail}");
        let stored = data.join(format!("{r}/ikecert/local/{r}.cert"));
        assert_eq!(
            x509(&stored, "-fingerprint"),
            x509(&issued, "-fingerprint"),
            "{r}'s stored certificate is not the one openssl issued"
        );
        let log = std::fs::read_to_string(w.join(format!("{r}.mock.log"))).unwrap();
        assert!(
            log.contains("POST /pkix/"),
            "{r}'s mock saw nothing:\n{log}"
        );
    }
    assert!(
        step("IKE gateways and IPsec VPNs configured")["detail"]
            .as_str()
            .unwrap()
            .contains("inet 127.0.30.2"),
        "{text}"
    );

    // The shared secret stays out of the report.
    assert!(!text.contains(SECRET), "{text}");
}

/// Runs `mtsim lab ARGS`: (exit code, stdout, stderr).
fn lab(args: &[&str]) -> (Option<i32>, String, String) {
    let o = Command::new(MTSIM)
        .arg("lab")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn bad_lab_options_exit_2_saying_what_is_wrong() {
    let outside = [
        "--cmp-url",
        "http://127.0.0.1:18081/pkix/",
        "--cmp-reference",
        "3078",
        "--cmp-secret",
        SECRET,
        "--ca-dn",
        "CN=CA",
    ];
    for (args, want) in [
        (
            vec!["--addresses", "127.0.0.5"],
            "is not two addresses A1,A2",
        ),
        (
            vec!["--addresses", "127.0.0.5,192.0.2.1"],
            "R2's address 192.0.2.1 is not a loopback address",
        ),
        (
            vec!["--addresses", "127.0.0.5,127.0.0.x"],
            "R2's address '127.0.0.x' is not an IPv4 address",
        ),
        (
            vec!["--addresses", "127.0.0.5,127.0.0.5"],
            "R1 and R2 cannot both have the address 127.0.0.5",
        ),
        (
            vec!["--r2-cmp-url", "http://127.0.0.1:18082/pkix/"],
            "--cmp-url <URL>",
        ),
        (
            [&outside[..], &["--r2-cmp-url", "https://ca/pkix/"]].concat(),
            "'https://ca/pkix/' is not an http:// URL",
        ),
    ] {
        let (code, _, err) = lab(&args);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: '{want}' missing: {err}");
        assert!(!err.contains(SECRET), "{err}");
    }
}

#[test]
fn key_files_that_are_missing_or_not_keys_fail_the_first_step_naming_them() {
    let d = tempfile::tempdir().unwrap();
    let keys = d.path().to_str().unwrap();
    let name = format!("key pairs imported from {keys}");
    // Missing.
    let (code, out, err) = lab(&["--keys", keys, "--json"]);
    assert_eq!(code, Some(1), "{out}\n{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    let steps = report["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 1, "{out}");
    assert_eq!(steps[0]["name"], name.as_str());
    assert_eq!(steps[0]["result"], "fail");
    let detail = steps[0]["detail"].as_str().unwrap();
    assert!(
        detail.contains(&format!("{keys}/r1.key")) && detail.contains("No such file"),
        "{detail}"
    );
    // Not a key.
    std::fs::write(d.path().join("r1.key"), "not a key\n").unwrap();
    let (code, out, _) = lab(&["--keys", keys]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains(&format!(
            "== {name}: FAIL ({keys}/r1.key: not a private key"
        )),
        "{out}"
    );
    assert!(out.contains(&format!("  FAIL     {name}")), "{out}");
}
