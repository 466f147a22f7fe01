//! The CA's HTTP server in-process, driven over loopback HTTP: SCEP
//! algorithms held to the advertised capabilities, the RA chain, bad input
//! answered with the protocol's own errors (never a crash, the server keeps
//! answering), replays, restarts that lose nothing, and hundreds of
//! concurrent enrollments with unique serials. The clock is frozen.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod client;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use base64::Engine;
use ca::authority::{Challenge, Settings};
use ca::scep::{CapsPreset, ScepSettings};
use ca::server::{RunningCa, ServeConfig};
use client::{Batch, ScepIdentity, cmp_cert_conf, cmp_ir, http};
use pki::cmp::{FailureInfo, PkiBody};
use pki::key::{HashAlg, KeyAlgorithm, KeyPair, KeySpec};
use pki::scep::{ContentCipher, FailInfo, MessageType, PkiStatus};
use simclock::Clock;
use x509_cert::Certificate;

const NOW: Duration = Duration::from_secs(1_795_000_000);

fn config(scep: ScepSettings) -> ServeConfig {
    let mut c = ServeConfig {
        settings: Settings {
            challenge: Challenge::Reusable("pw".to_string().into()),
            ..Settings::default()
        },
        scep,
        ..ServeConfig::default()
    };
    c.cmp.add_secret("3078", "1234-5678");
    c
}

fn start(dir: &Path, config: ServeConfig) -> RunningCa {
    ca::server::start(
        dir,
        "127.0.0.1:0".parse().unwrap(),
        config,
        Clock::frozen(NOW),
        false,
    )
    .unwrap()
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// PKIOperation by GET, as a CA without POSTPKIOperation wants it.
async fn pki_op_get(addr: SocketAddr, der: Vec<u8>) -> Vec<u8> {
    let b64 = base64::engine::general_purpose::STANDARD.encode(&der);
    let query: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("operation", "PKIOperation")
        .append_pair("message", &b64)
        .finish();
    let (status, _, body) = http(addr, "GET", &format!("/scep?{query}"), None, vec![]).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    body
}

async fn pki_op(addr: SocketAddr, der: Vec<u8>) -> Vec<u8> {
    let (status, ct, body) = http(
        addr,
        "POST",
        "/scep?operation=PKIOperation",
        Some("application/x-pki-message"),
        der,
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(ct, "application/x-pki-message");
    body
}

fn issuing(ca: &RunningCa) -> Certificate {
    ca.authority().hierarchy().issuing.cert.clone()
}

#[test]
fn scep_algorithms_follow_the_advertised_capabilities() {
    let rt = rt();
    let id = ScepIdentity::new(2048);
    let d = tempfile::tempdir().unwrap();
    let modern = start(&d.path().join("modern"), config(ScepSettings::default()));
    let legacy = start(
        &d.path().join("legacy"),
        config(ScepSettings {
            caps: CapsPreset::Legacy3Des,
            ..ScepSettings::default()
        }),
    );
    let strict = start(
        &d.path().join("strict"),
        config(ScepSettings {
            accept_des: false,
            ..ScepSettings::default()
        }),
    );
    rt.block_on(async {
        let (_, _, caps) = http(
            legacy.addr(),
            "GET",
            "/scep?operation=GetCACaps",
            None,
            vec![],
        )
        .await;
        assert_eq!(String::from_utf8(caps).unwrap(), "DES3\nSHA-1\n");
        let cases = [
            (&modern, ContentCipher::Aes256, HashAlg::Sha256, None),
            (&modern, ContentCipher::Aes128, HashAlg::Sha512, None),
            (&modern, ContentCipher::TripleDes, HashAlg::Sha1, None),
            (&modern, ContentCipher::Des, HashAlg::Sha1, None),
            (
                &strict,
                ContentCipher::Des,
                HashAlg::Sha1,
                Some(FailInfo::BadAlg),
            ),
            (&legacy, ContentCipher::TripleDes, HashAlg::Sha1, None),
            (
                &legacy,
                ContentCipher::Aes128,
                HashAlg::Sha1,
                Some(FailInfo::BadAlg),
            ),
            (
                &legacy,
                ContentCipher::TripleDes,
                HashAlg::Sha256,
                Some(FailInfo::BadAlg),
            ),
        ];
        for (i, (ca, cipher, digest, expect)) in cases.into_iter().enumerate() {
            let msg = id.pkcs_req(
                &issuing(ca),
                "CN=r1,O=Example",
                Some("pw"),
                &format!("t{i}"),
                cipher,
                digest,
            );
            let rep = if std::ptr::eq(ca, &legacy) {
                pki_op_get(ca.addr(), msg).await
            } else {
                pki_op(ca.addr(), msg).await
            };
            let (status, fail, cert) = id.cert_rep(&issuing(ca), &rep);
            match expect {
                None => {
                    assert_eq!(status, PkiStatus::Success, "case {i}: {fail:?}");
                    assert!(cert.is_some());
                }
                Some(f) => {
                    assert_eq!((status, fail), (PkiStatus::Failure, Some(f)), "case {i}");
                    assert!(cert.is_none());
                }
            }
        }
        // The legacy CA takes PKIOperation by GET only.
        let msg = id.pkcs_req(
            &issuing(&legacy),
            "CN=r2",
            Some("pw"),
            "g1",
            ContentCipher::TripleDes,
            HashAlg::Sha1,
        );
        let (status, _, _) = http(
            legacy.addr(),
            "POST",
            "/scep?operation=PKIOperation",
            None,
            msg.clone(),
        )
        .await;
        assert_eq!(status, 405);
        let body = pki_op_get(legacy.addr(), msg).await;
        assert_eq!(id.cert_rep(&issuing(&legacy), &body).0, PkiStatus::Success);
        // Unescaped '+' in the base64 (as some clients send it) also works.
        let msg2 = id.pkcs_req(
            &issuing(&legacy),
            "CN=r3",
            Some("pw"),
            "g2",
            ContentCipher::TripleDes,
            HashAlg::Sha1,
        );
        let b64 = base64::engine::general_purpose::STANDARD
            .encode(&msg2)
            .replace('/', "%2F")
            .replace('=', "%3D");
        assert!(
            b64.contains('+'),
            "a message this long has a '+' in its base64"
        );
        let raw = format!("/scep?operation=PKIOperation&message={b64}");
        let (status, _, body) = http(legacy.addr(), "GET", &raw, None, vec![]).await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        assert_eq!(id.cert_rep(&issuing(&legacy), &body).0, PkiStatus::Success);
    });
}

#[test]
fn scep_ra_chain_and_ca_certificate_in_certrep() {
    let rt = rt();
    let id = ScepIdentity::new(2048);
    let d = tempfile::tempdir().unwrap();
    let mut c = config(ScepSettings {
        ca_in_certrep: true,
        ..ScepSettings::default()
    });
    c.settings.ra = true;
    let ca = start(d.path(), c);
    let ra = ca.authority().hierarchy().ra.as_ref().unwrap().cert.clone();
    rt.block_on(async {
        let (status, ct, body) =
            http(ca.addr(), "GET", "/scep?operation=GetCACert", None, vec![]).await;
        assert_eq!(
            (status, ct.as_str()),
            (200, "application/x-x509-ca-ra-cert")
        );
        let chain = pki::scep::parse_certs_only(&body).unwrap();
        assert_eq!(chain.len(), 2);
        assert!(chain.contains(&ra) && chain.contains(&issuing(&ca)));
        let msg = id.pkcs_req(
            &ra,
            "CN=r1",
            Some("pw"),
            "t1",
            ContentCipher::Aes128,
            HashAlg::Sha256,
        );
        let rep = pki_op(ca.addr(), msg).await;
        // Signed by the RA, and the CertRep carries the CA certificate too.
        let m = pki::scep::open(&rep, std::slice::from_ref(&ra)).unwrap();
        assert_eq!(m.signer, ra);
        let opened = pki::scep::open_envelope(&m.content.unwrap(), &id.key, &id.cert).unwrap();
        let certs = pki::scep::parse_certs_only(&opened.content).unwrap();
        // A SET OF: the order is the encoding's, not the server's.
        assert_eq!(certs.len(), 2);
        assert!(certs.contains(&issuing(&ca)));
    });
}

#[test]
fn bad_input_gets_the_protocols_errors_and_the_server_keeps_answering() {
    let rt = rt();
    let id = ScepIdentity::new(2048);
    let d = tempfile::tempdir().unwrap();
    let mut c = config(ScepSettings::default());
    c.limits.max_body = 64 * 1024;
    let ca = start(d.path(), c);
    let addr = ca.addr();
    let ca_cert = issuing(&ca);
    rt.block_on(async {
        // HTTP level.
        let (s, _, _) = http(addr, "GET", "/nothing", None, vec![]).await;
        assert_eq!(s, 404);
        let (s, _, _) = http(addr, "PUT", "/scep?operation=GetCACaps", None, vec![]).await;
        assert_eq!(s, 405);
        let (s, _, body) = http(
            addr,
            "POST",
            "/scep?operation=PKIOperation",
            None,
            vec![0x30; 100_000],
        )
        .await;
        assert_eq!(s, 413, "{}", String::from_utf8_lossy(&body));
        // SCEP.
        for (query, what) in [
            ("/scep", "no 'operation'"),
            (
                "/scep?operation=Frobnicate",
                "unknown operation 'Frobnicate'",
            ),
            ("/scep?operation=PKIOperation", "without 'message'"),
            ("/scep?operation=PKIOperation&message=***", "not base64"),
        ] {
            let (s, _, body) = http(addr, "GET", query, None, vec![]).await;
            let text = String::from_utf8_lossy(&body);
            assert_eq!(s, 400, "{query}: {text}");
            assert!(text.contains(what), "{query}: {text}");
        }
        let (s, _, body) = http(
            addr,
            "POST",
            "/scep?operation=PKIOperation",
            None,
            b"\x30\x03\x02\x01\x00".to_vec(),
        )
        .await;
        assert_eq!(s, 400);
        assert!(String::from_utf8_lossy(&body).contains("not a pkiMessage"));
        // The wrong content type: an envelope where a SignedData belongs.
        let envelope = pki::scep::seal(b"hello", &ca_cert, ContentCipher::Aes128).unwrap();
        let (s, _, _) = http(addr, "POST", "/scep?operation=PKIOperation", None, envelope).await;
        assert_eq!(s, 400);
        // A signature that does not verify: FAILURE badMessageCheck.
        let mut msg = id.pkcs_req(
            &ca_cert,
            "CN=r1",
            Some("pw"),
            "bad-sig",
            ContentCipher::Aes128,
            HashAlg::Sha256,
        );
        let n = msg.len();
        msg[n - 10] ^= 0x01;
        let rep = pki_op(addr, msg).await;
        assert_eq!(
            id.cert_rep(&ca_cert, &rep).1,
            Some(FailInfo::BadMessageCheck)
        );
        // An envelope holding junk instead of a PKCS#10 request.
        let junk = id.message(
            &ca_cert,
            MessageType::PkcsReq,
            b"junk",
            "junk",
            ContentCipher::Aes128,
            HashAlg::Sha256,
        );
        assert_eq!(
            id.cert_rep(&ca_cert, &pki_op(addr, junk).await).1,
            Some(FailInfo::BadRequest)
        );
        // CertPoll for a transaction nobody started.
        let ias = pki::scep::IssuerAndSubject {
            issuer: ca_cert.tbs_certificate().subject().clone(),
            subject: pki::name::parse_subject("CN=r1", "").unwrap(),
        };
        let poll = id.message(
            &ca_cert,
            MessageType::CertPoll,
            &der::Encode::to_der(&ias).unwrap(),
            "nobody",
            ContentCipher::Aes128,
            HashAlg::Sha256,
        );
        assert_eq!(
            id.cert_rep(&ca_cert, &pki_op(addr, poll).await).1,
            Some(FailInfo::BadCertId)
        );
        // A retransmitted PKCSReq gets the same certificate; a CertPoll
        // after success too.
        let msg = id.pkcs_req(
            &ca_cert,
            "CN=r1",
            Some("pw"),
            "again",
            ContentCipher::Aes128,
            HashAlg::Sha256,
        );
        let first = id
            .cert_rep(&ca_cert, &pki_op(addr, msg.clone()).await)
            .2
            .unwrap();
        let second = id.cert_rep(&ca_cert, &pki_op(addr, msg).await).2.unwrap();
        assert_eq!(first, second);
        let poll = id.message(
            &ca_cert,
            MessageType::CertPoll,
            &der::Encode::to_der(&ias).unwrap(),
            "again",
            ContentCipher::Aes128,
            HashAlg::Sha256,
        );
        assert_eq!(
            id.cert_rep(&ca_cert, &pki_op(addr, poll).await).2.unwrap(),
            first
        );

        // CMP.
        let cmp = |body: Vec<u8>, ct: Option<&'static str>| http(addr, "POST", "/pkix/", ct, body);
        let (s, _, _) = cmp(b"junk".to_vec(), Some("text/plain")).await;
        assert_eq!(s, 415);
        let (s, ct, body) = cmp(b"junk".to_vec(), Some("application/pkixcmp")).await;
        assert_eq!((s, ct.as_str()), (200, "application/pkixcmp"));
        let e = pki::cmp::decode(&body).unwrap();
        let PkiBody::Error(content) = &e.body else {
            panic!("{e:?}")
        };
        assert!(
            content
                .pki_status_info
                .failure_info()
                .contains(FailureInfo::BAD_DATA_FORMAT)
        );
        let key = KeyPair::generate(KeySpec::new(KeyAlgorithm::Ecdsa, 256).unwrap()).unwrap();
        let ca_subject = ca_cert.tbs_certificate().subject().clone();
        let ir = cmp_ir(
            &key,
            "CN=c1",
            "3078",
            b"1234-5678",
            &ca_subject,
            NOW.as_secs(),
        );
        let (_, _, body) = cmp(ir.clone(), Some("application/pkixcmp")).await;
        let ip = pki::cmp::decode(&body).unwrap();
        let cert = ip.body.cert_response().unwrap().response[0]
            .certificate()
            .unwrap()
            .clone();
        // The same message again: a replay.
        let (_, _, body) = cmp(ir, Some("application/pkixcmp")).await;
        let e = pki::cmp::decode(&body).unwrap();
        let PkiBody::Error(content) = &e.body else {
            panic!("{e:?}")
        };
        assert!(
            content
                .pki_status_info
                .failure_info()
                .contains(FailureInfo::BAD_SENDER_NONCE)
        );
        // A certConf with the wrong hash, then the right one.
        let conf = cmp_cert_conf(&ip, &ca_cert, "CN=c1", "3078", b"1234-5678", NOW.as_secs());
        let (_, _, body) = cmp(conf, Some("application/pkixcmp")).await;
        let PkiBody::Error(content) = pki::cmp::decode(&body).unwrap().body else {
            panic!()
        };
        assert!(
            content
                .pki_status_info
                .failure_info()
                .contains(FailureInfo::BAD_CERT_ID)
        );
        let conf = cmp_cert_conf(&ip, &cert, "CN=c1", "3078", b"1234-5678", NOW.as_secs());
        let (_, _, body) = cmp(conf, Some("application/pkixcmp")).await;
        assert!(matches!(
            pki::cmp::decode(&body).unwrap().body,
            PkiBody::Pkiconf(_)
        ));
        // A new IR that reuses the transaction ID.
        let mut m = pki::cmp::decode(&cmp_ir(
            &key,
            "CN=c2",
            "3078",
            b"1234-5678",
            &ca_subject,
            NOW.as_secs(),
        ))
        .unwrap();
        m.header.transaction_id = ip.header.transaction_id.clone();
        let reused = pki::cmp::protect(
            m.header,
            m.body,
            pki::cmp::Protection::Mac {
                secret: b"1234-5678",
            },
            vec![],
        )
        .unwrap()
        .to_der()
        .unwrap();
        let (_, _, body) = cmp(reused, Some("application/pkixcmp")).await;
        let PkiBody::Error(content) = pki::cmp::decode(&body).unwrap().body else {
            panic!()
        };
        assert!(
            content
                .pki_status_info
                .failure_info()
                .contains(FailureInfo::TRANSACTION_ID_IN_USE)
        );
        // Still serving.
        let (s, _, _) = http(addr, "GET", "/scep?operation=GetCACaps", None, vec![]).await;
        assert_eq!(s, 200);
    });
    let listing = ca.authority().listing().unwrap();
    assert_eq!(listing.matches(" valid ").count(), 2, "{listing}");
}

#[test]
fn a_restart_loses_nothing() {
    let rt = rt();
    let id = ScepIdentity::new(2048);
    let d = tempfile::tempdir().unwrap();
    let mut c = config(ScepSettings::default());
    c.settings.manual_approval = true;
    let ca = start(d.path(), c.clone());
    let ca_cert = issuing(&ca);
    let root = ca.authority().hierarchy().root.cert.clone();
    let msg = id.pkcs_req(
        &ca_cert,
        "CN=held",
        Some("pw"),
        "held",
        ContentCipher::Aes128,
        HashAlg::Sha256,
    );
    let rep = rt.block_on(pki_op(ca.addr(), msg));
    assert_eq!(id.cert_rep(&ca_cert, &rep).0, PkiStatus::Pending);
    let crl_before = ca.authority().crl(NOW).unwrap();
    ca.stop().unwrap();

    let ca = start(d.path(), c);
    assert_eq!(issuing(&ca), ca_cert, "the same hierarchy after a restart");
    assert_eq!(ca.authority().hierarchy().root.cert, root);
    assert_eq!(ca.authority().crl(NOW).unwrap(), crl_before, "the same CRL");
    ca.authority().approve(1).unwrap();
    let ias = pki::scep::IssuerAndSubject {
        issuer: ca_cert.tbs_certificate().subject().clone(),
        subject: pki::name::parse_subject("CN=held", "").unwrap(),
    };
    let poll = id.message(
        &ca_cert,
        MessageType::CertPoll,
        &der::Encode::to_der(&ias).unwrap(),
        "held",
        ContentCipher::Aes128,
        HashAlg::Sha256,
    );
    let rep = rt.block_on(pki_op(ca.addr(), poll));
    let (status, _, cert) = id.cert_rep(&ca_cert, &rep);
    assert_eq!(status, PkiStatus::Success);
    assert_eq!(
        cert.unwrap().tbs_certificate().subject_public_key_info(),
        id.cert.tbs_certificate().subject_public_key_info()
    );
}

#[test]
fn a_thousand_concurrent_enrollments_get_unique_serials_in_bounded_memory() {
    const SCEP: usize = 500;
    const CMP: usize = 500;
    let rt = rt();
    let d = tempfile::tempdir().unwrap();
    let ca = start(d.path(), config(ScepSettings::default()));
    let addr = ca.addr();
    let ca_cert = issuing(&ca);
    let Batch { ids, scep, cmp } = Batch::new(&ca_cert, SCEP.max(CMP), NOW.as_secs());
    let scep_msgs = scep.into_iter().take(SCEP);
    let cmp_msgs = cmp.into_iter().take(CMP);
    let serials: Vec<String> = rt.block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        for (i, m) in scep_msgs.into_iter().enumerate() {
            tasks.spawn(async move { (i, true, pki_op(addr, m).await) });
        }
        for (i, m) in cmp_msgs.into_iter().enumerate() {
            tasks.spawn(async move {
                (
                    i,
                    false,
                    http(addr, "POST", "/pkix/", Some("application/pkixcmp"), m)
                        .await
                        .2,
                )
            });
        }
        let mut serials = Vec::new();
        while let Some(r) = tasks.join_next().await {
            let (i, scep, body) = r.unwrap();
            let cert = if scep {
                let (status, fail, cert) = ids[i % ids.len()].cert_rep(&ca_cert, &body);
                assert_eq!(status, PkiStatus::Success, "SCEP {i}: {fail:?}");
                cert.unwrap()
            } else {
                let ip = pki::cmp::decode(&body).unwrap();
                ip.body
                    .cert_response()
                    .unwrap_or_else(|| panic!("CMP {i}: {ip:?}"))
                    .response[0]
                    .certificate()
                    .unwrap()
                    .clone()
            };
            serials.push(pki::info::serial_hex(
                cert.tbs_certificate().serial_number().as_bytes(),
            ));
        }
        serials
    });
    assert_eq!(serials.len(), SCEP + CMP);
    // The CA serves them with a bounded number of workers and connections:
    // the process's peak memory stays far below one buffer per request
    // kept around.
    let peak_kib = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .unwrap_or(0);
    eprintln!("peak resident memory: {peak_kib} KiB");
    assert!(peak_kib < 512 * 1024, "peak resident memory {peak_kib} KiB");
    let unique: BTreeSet<&String> = serials.iter().collect();
    assert_eq!(unique.len(), SCEP + CMP, "serials are unique");
    assert_eq!(ca.authority().state().unwrap().issued.len(), SCEP + CMP);
}
