//! The Wycheproof HMAC-SHA1 vectors (read from the shared suites checkout,
//! not copied into the project), through `mac`, `mac_many` and the portable
//! fallback. Tags may be truncated: the vector's tag is compared with the
//! same-length prefix of ours.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::path::Path;

use hmac_sha1_mb::{Backend, HmacSha1Key, Job, mac_many_with};
use serde_json::Value;

struct Vector {
    tc_id: u64,
    key: Vec<u8>,
    msg: Vec<u8>,
    tag: Vec<u8>,
    valid: bool,
}

fn load() -> Vec<Vector> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/suites/wycheproof/hmac_sha1_test.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["algorithm"], "HMACSHA1");
    let hex = |v: &Value| hex::decode(v.as_str().unwrap()).unwrap();
    let mut out = Vec::new();
    for group in doc["testGroups"].as_array().unwrap() {
        let tag_bits = group["tagSize"].as_u64().unwrap();
        for t in group["tests"].as_array().unwrap() {
            let v = Vector {
                tc_id: t["tcId"].as_u64().unwrap(),
                key: hex(&t["key"]),
                msg: hex(&t["msg"]),
                tag: hex(&t["tag"]),
                valid: match t["result"].as_str().unwrap() {
                    "valid" => true,
                    "invalid" => false,
                    other => panic!("tcId {}: unexpected result {other}", t["tcId"]),
                },
            };
            assert_eq!(v.tag.len() as u64 * 8, tag_bits, "tcId {}", v.tc_id);
            assert!(v.tag.len() <= 20);
            out.push(v);
        }
    }
    assert_eq!(out.len() as u64, doc["numberOfTests"].as_u64().unwrap());
    out
}

fn check(v: &Vector, tag: &[u8; 20], how: &str) {
    let matches = tag[..v.tag.len()] == v.tag[..];
    assert_eq!(matches, v.valid, "tcId {} via {how}", v.tc_id);
}

#[test]
fn wycheproof_hmac_sha1() {
    let vectors = load();
    let keys: Vec<HmacSha1Key> = vectors.iter().map(|v| HmacSha1Key::new(&v.key)).collect();
    let (mut valid, mut invalid) = (0, 0);
    for (v, k) in vectors.iter().zip(&keys) {
        check(v, &k.mac(&v.msg), "mac");
        check(v, &k.mac_with(Backend::Portable, &v.msg), "mac portable");
        if v.valid { valid += 1 } else { invalid += 1 }
    }
    assert!(valid > 0 && invalid > 0);
    for backend in [Backend::Auto, Backend::Portable] {
        // Whole file as one batch, and in batches of 7 (odd tails).
        let mut all: Vec<Job<'_>> = vectors
            .iter()
            .zip(&keys)
            .map(|(v, k)| Job::new(k, &v.msg))
            .collect();
        mac_many_with(backend, &mut all);
        for (v, j) in vectors.iter().zip(&all) {
            check(v, &j.out, &format!("mac_many {backend:?}"));
        }
        for (vs, ks) in vectors.chunks(7).zip(keys.chunks(7)) {
            let mut jobs: Vec<Job<'_>> = vs
                .iter()
                .zip(ks)
                .map(|(v, k)| Job::new(k, &v.msg))
                .collect();
            mac_many_with(backend, &mut jobs);
            for (v, j) in vs.iter().zip(&jobs) {
                check(v, &j.out, &format!("mac_many {backend:?} by 7"));
            }
        }
    }
    println!("wycheproof: {valid} valid, {invalid} invalid vectors checked");
}
