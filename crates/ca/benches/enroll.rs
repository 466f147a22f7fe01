//! Enrollments per second through the embedded CA over loopback HTTP:
//! SCEP (PKCSReq, AES-128 envelope, SHA-256) and CMP (IR under a shared
//! secret), each with 8 clients in flight, against a baseline measured in
//! the same run: the CA issuing directly, with no protocol and no HTTP.
//!
//! `cargo bench -p ca --bench enroll` (`-- --quick` for a short run).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // benchmark code
#![allow(clippy::disallowed_methods)] // a benchmark measures host time

#[path = "../tests/client/mod.rs"]
mod client;

use std::time::{Duration, Instant};

use ca::authority::{Application, Challenge, Settings};
use ca::server::ServeConfig;
use client::{Batch, http};
use pki::key::{HashAlg, KeyAlgorithm, KeyPair, KeySpec};
use pki::scep::PkiStatus;
use simclock::Clock;

const NOW: Duration = Duration::from_secs(1_795_000_000);
const IN_FLIGHT: usize = 8;

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let n = if quick { 100 } else { 600 };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut config = ServeConfig {
        settings: Settings {
            challenge: Challenge::Reusable("pw".to_string().into()),
            ..Settings::default()
        },
        ..ServeConfig::default()
    };
    config.cmp.add_secret("3078", "1234-5678");
    config.limits.workers = 2;
    let ca = ca::server::start(
        dir.path(),
        "127.0.0.1:0".parse().unwrap(),
        config,
        Clock::frozen(NOW),
        false,
    )
    .unwrap();
    let addr = ca.addr();
    let ca_cert = ca.authority().hierarchy().issuing.cert.clone();

    // Client material is made before the clocks start: key generation is
    // the client's cost, not the CA's.
    let Batch { scep, cmp, .. } = Batch::new(&ca_cert, n, NOW.as_secs());
    let ec = KeyPair::generate(KeySpec::new(KeyAlgorithm::Ecdsa, 256).unwrap()).unwrap();
    let apps: Vec<Application> = (0..n)
        .map(|i| {
            let name = pki::name::parse_subject(&format!("CN=base{i}"), "").unwrap();
            let csr =
                pki::request::build(&ec, name, &Default::default(), None, HashAlg::Sha256).unwrap();
            Application::from_csr(&csr).unwrap()
        })
        .collect();

    let t = Instant::now();
    for app in &apps {
        ca.authority().issue(app, NOW).unwrap();
    }
    let base = n as f64 / t.elapsed().as_secs_f64();

    let run = |msgs: Vec<Vec<u8>>, path: &'static str, ct: &'static str| {
        rt.block_on(async {
            let t = Instant::now();
            let sem = std::sync::Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
            let mut tasks = tokio::task::JoinSet::new();
            for m in msgs {
                let permit = sem.clone().acquire_owned().await.unwrap();
                tasks.spawn(async move {
                    let r = http(addr, "POST", path, Some(ct), m).await;
                    drop(permit);
                    r.2
                });
            }
            let mut bodies = Vec::new();
            while let Some(b) = tasks.join_next().await {
                bodies.push(b.unwrap());
            }
            (t.elapsed(), bodies)
        })
    };
    let (scep_time, bodies) = run(
        scep,
        "/scep?operation=PKIOperation",
        "application/x-pki-message",
    );
    for (i, b) in bodies.iter().enumerate() {
        // Which identity made it does not matter for the status.
        let m = pki::scep::open(b, std::slice::from_ref(&ca_cert)).unwrap();
        assert_eq!(m.attributes.status, Some(PkiStatus::Success), "SCEP {i}");
    }
    let (cmp_time, bodies) = run(cmp, "/pkix/", "application/pkixcmp");
    for b in &bodies {
        let ip = pki::cmp::decode(b).unwrap();
        assert!(
            ip.body.cert_response().unwrap().response[0]
                .certificate()
                .is_some()
        );
    }
    let scep_rate = n as f64 / scep_time.as_secs_f64();
    let cmp_rate = n as f64 / cmp_time.as_secs_f64();
    println!("enrollments through the embedded CA ({n} each, {IN_FLIGHT} in flight, 2 cores)");
    println!("  baseline: Authority::issue, no protocol   {base:8.1} /s   1.00");
    println!(
        "  SCEP PKCSReq over HTTP (RSA-2048 CA)     {scep_rate:8.1} /s   {:.2} of baseline",
        scep_rate / base
    );
    println!(
        "  CMP IR + PBM over HTTP                   {cmp_rate:8.1} /s   {:.2} of baseline",
        cmp_rate / base
    );
}
