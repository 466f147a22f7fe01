//! `mtsim bench pic --json`: the shape of its output (one row per path ×
//! direction × size, the IMIX included, positive numbers, nothing else on
//! stdout) and its KAT line on stderr. No speed is asserted.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::collections::BTreeSet;
use std::process::Command;

fn mtsim() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mtsim"))
}

#[test]
fn json_has_every_row_and_nothing_else() {
    let out = mtsim()
        .args([
            "bench",
            "pic",
            "--json",
            "--seconds",
            "0.05",
            "--sizes",
            "64",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    // The whole of stdout is one JSON array.
    let rows: serde_json::Value = serde_json::from_str(&stdout).expect("stdout is JSON");
    let rows = rows.as_array().expect("a JSON array");
    let mut seen = BTreeSet::new();
    for row in rows {
        let obj = row.as_object().expect("rows are objects");
        let keys: BTreeSet<&str> = obj.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            BTreeSet::from(["path", "direction", "size", "gbps", "mpps"]),
            "{row}"
        );
        let path = obj["path"].as_str().expect("path is a string");
        assert!(["ring", "engine", "baseline"].contains(&path), "{row}");
        let direction = obj["direction"].as_str().expect("direction is a string");
        assert!(["encap", "decap"].contains(&direction), "{row}");
        let size = match &obj["size"] {
            serde_json::Value::Number(n) => n.as_u64().expect("size is an integer").to_string(),
            serde_json::Value::String(s) if s == "imix" => s.clone(),
            other => panic!("size is {other}"),
        };
        for key in ["gbps", "mpps"] {
            let v = obj[key].as_f64().expect("a number");
            assert!(v.is_finite() && v > 0.0, "{key} = {v} in {row}");
        }
        assert!(
            seen.insert((path.to_string(), direction.to_string(), size.clone())),
            "duplicate row {row}"
        );
    }
    let mut want = BTreeSet::new();
    for path in ["ring", "engine", "baseline"] {
        for direction in ["encap", "decap"] {
            for size in ["64", "imix"] {
                want.insert((path.to_string(), direction.to_string(), size.to_string()));
            }
        }
    }
    assert_eq!(seen, want);
    // The known answer goes to stderr, built the same way by both builders.
    let kat = stderr
        .lines()
        .find(|l| l.starts_with("KAT size=64 icv="))
        .unwrap_or_else(|| panic!("no KAT line in {stderr}"));
    assert!(kat.ends_with("baseline=same"), "{kat}");
}

#[test]
fn bad_options_are_refused() {
    for args in [
        &["--sizes", "10"][..],
        &["--sizes", "64,abc"],
        &["--seconds", "0"],
        &["--seconds", "-1"],
    ] {
        let out = mtsim().args(["bench", "pic"]).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}
