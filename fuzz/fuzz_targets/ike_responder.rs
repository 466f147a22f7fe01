//! The IKEv2 state machine on untrusted datagrams.
//!
//! Input: `mode` byte, then a 2-byte big-endian length `n`, then datagram
//! one (`n` bytes), then datagram two (the rest).
//!
//! - mode % 4 == 0: `IkeSa::respond_init` on datagram one (a fuzzed
//!   IKE_SA_INIT request), then `handle` of datagram two on the new SA.
//! - mode % 4 == 1: a real initiator's IKE_SA_INIT (fresh DH and nonce)
//!   opens the responder SA, then `handle` of datagram two (what follows
//!   an honest IKE_SA_INIT: retransmissions, anything unencrypted...).
//! - mode % 4 == 2: a real initiator `handle`s datagram two as the answer
//!   to its IKE_SA_INIT (SA/KE/nonce choice, INVALID_KE_PAYLOAD, COOKIE,
//!   NO_PROPOSAL_CHOSEN, NAT detection...).
//! - mode % 4 == 3: the harness plays the initiator with the `ike::wire`
//!   and `ike::crypto` building blocks: a real IKE_SA_INIT exchange with
//!   the responder, then datagram two is the *inner* payload chain of an
//!   encrypted request, sealed with the derived SK_ei/SK_ai (as one SK
//!   payload or as SKF fragments). Its first four bytes are the first
//!   inner payload type, the exchange (IKE_AUTH, INFORMATIONAL,
//!   CREATE_CHILD_SA, other) and fragmentation flag, the message ID and
//!   the fragment size. This reaches the pre-authentication IKE_AUTH
//!   processing (identities, certificates, AUTH, SA, traffic selectors)
//!   that anyone who completes IKE_SA_INIT can drive.
//!
//! The local configuration is fixed (no certificates: a P-256 key made
//! once), the peer check refuses everyone, and the SA's timers are run
//! past every retransmission afterwards.

#![no_main]

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use espic_driver::{Cipher, Integrity};
use ike::auth::{Chain, PeerId, Refusal};
use ike::crypto::{DhGroup, DhSecret, Encr, IkeKeys, IkeSuite, Integ, Prf};
use ike::session::{EspSuite, IkeSa, LocalConfig, PeerCheck, Ports, Retransmit, identification};
use ike::wire::{
    Exchange, HEADER_LEN, Header, Ke, Notify, Payload, Proposal, TrafficSelector, Transform,
    VERSION_2_0, dh, encr, flags, integ, notify, prf, protocol, transform_type,
};
use libfuzzer_sys::fuzz_target;
use pki::key::{KeyAlgorithm, KeyPair, KeySpec};
use x509_cert::Certificate;

const NOW: Duration = Duration::from_secs(1_800_000_000);

struct RefuseAll;

impl PeerCheck for RefuseAll {
    fn check(&mut self, _: &PeerId, _: &Certificate, _: &[Certificate]) -> Result<Chain, Refusal> {
        Err(Refusal::Malformed("fuzzing: every peer is refused".into()))
    }
}

fn cfg(name: &str) -> LocalConfig {
    static KEY: OnceLock<Arc<KeyPair>> = OnceLock::new();
    let key = KEY.get_or_init(|| {
        let spec = KeySpec::new(KeyAlgorithm::Ecdsa, 256).expect("P-256 spec");
        Arc::new(KeyPair::generate(spec).expect("P-256 key"))
    });
    LocalConfig {
        id: identification(&PeerId::Fqdn(name.into())).expect("FQDN identity"),
        certs: Vec::new(),
        key: Arc::clone(key),
        ike_suites: vec![
            IkeSuite {
                encr: Encr::AesCbc128,
                prf: Prf::HmacSha1,
                integ: Integ::HmacSha1_96,
                dh: DhGroup::Ecp256,
            },
            IkeSuite {
                encr: Encr::AesCbc256,
                prf: Prf::HmacSha256,
                integ: Integ::HmacSha256_128,
                dh: DhGroup::Ecp256,
            },
        ],
        esp_suites: vec![EspSuite {
            cipher: Cipher::Aes128Cbc,
            integrity: Integrity::HmacSha1_96,
        }],
        pfs: None,
        local_ts: TrafficSelector::host("198.51.100.1".parse().expect("address")),
        remote_ts: TrafficSelector::host("203.0.113.1".parse().expect("address")),
        remote_id: None,
        certreq: vec![[0x11; 20]],
        fragment_size: 576,
        force_encap: false,
        child_lifetime: Duration::from_secs(3600),
        child_lifetime_bytes: 0,
        retransmit: Retransmit::default(),
        dpd: Some(Duration::from_secs(10)),
        ports: Ports::default(),
    }
}

fn responder() -> &'static LocalConfig {
    static CFG: OnceLock<LocalConfig> = OnceLock::new();
    CFG.get_or_init(|| cfg("responder.example.net"))
}

fn initiator() -> &'static LocalConfig {
    static CFG: OnceLock<LocalConfig> = OnceLock::new();
    CFG.get_or_init(|| cfg("initiator.example.net"))
}

fn sends(sa: &mut IkeSa) -> Vec<Vec<u8>> {
    sa.take_events()
        .into_iter()
        .filter_map(|e| match e {
            ike::session::Event::Send(t) => Some(t.datagram),
            _ => None,
        })
        .collect()
}

/// Runs the SA's timers through every retransmission and liveness check.
fn age(sa: &mut IkeSa) {
    let mut now = NOW;
    for _ in 0..8 {
        now += Duration::from_secs(40);
        sa.tick(now);
        let _ = sa.take_events();
    }
    let _ = sa.summary();
}

/// IKE_SA_INIT as the harness's own initiator, then `inner` sealed as an
/// encrypted request to the responder.
fn encrypted(inner_spec: &[u8], me: SocketAddr, peer: SocketAddr) {
    let [first_inner, kind, id, frag, inner @ ..] = inner_spec else {
        return;
    };
    let suite = IkeSuite {
        encr: Encr::AesCbc128,
        prf: Prf::HmacSha1,
        integ: Integ::HmacSha1_96,
        dh: DhGroup::Ecp256,
    };
    let Ok((secret, public)) = DhSecret::generate(DhGroup::Ecp256) else {
        return;
    };
    let spi_i = 0x0123_4567_89ab_cdef;
    let ni = vec![0x4e; 32];
    let init = Header {
        spi_i,
        spi_r: 0,
        next_payload: 0,
        version: VERSION_2_0,
        exchange: Exchange::IkeSaInit,
        flags: flags::INITIATOR,
        message_id: 0,
        length: 0,
    };
    let request = ike::wire::encode_plain(
        &init,
        &[
            Payload::Sa(vec![Proposal {
                number: 1,
                protocol: protocol::IKE,
                spi: Vec::new(),
                transforms: vec![
                    Transform::with_key_length(transform_type::ENCR, encr::AES_CBC, 128),
                    Transform::new(transform_type::PRF, prf::HMAC_SHA1),
                    Transform::new(transform_type::INTEG, integ::HMAC_SHA1_96),
                    Transform::new(transform_type::DH, dh::ECP_256),
                ],
            }]),
            Payload::Ke(Ke {
                group: dh::ECP_256,
                data: public,
            }),
            Payload::Nonce(ni.clone()),
            Payload::Notify(Notify::new(
                notify::IKEV2_FRAGMENTATION_SUPPORTED,
                Vec::new(),
            )),
        ],
    );
    let Ok(mut sa) = IkeSa::respond_init(responder().clone(), me, peer, &request, NOW) else {
        panic!("the responder refused the harness's IKE_SA_INIT");
    };
    let Some(answer) = sends(&mut sa).into_iter().next() else {
        panic!("the responder did not answer the harness's IKE_SA_INIT");
    };
    let Ok(msg) = ike::wire::parse_message(&answer) else {
        panic!("the responder's IKE_SA_INIT does not parse");
    };
    let ike::wire::Body::Plain(payloads) = msg.body else {
        panic!("an encrypted IKE_SA_INIT response");
    };
    let mut ke_r = None;
    let mut nr = None;
    for p in payloads {
        match p {
            Payload::Ke(k) => ke_r = Some(k.data),
            Payload::Nonce(n) => nr = Some(n),
            _ => {}
        }
    }
    let (Some(ke_r), Some(nr)) = (ke_r, nr) else {
        panic!("the responder's IKE_SA_INIT has no KE or nonce");
    };
    let Ok(g_ir) = secret.shared(&ke_r) else {
        panic!("the responder's KE does not agree");
    };
    let keys = IkeKeys::derive(suite, &ni, &nr, &g_ir, spi_i, msg.header.spi_r);
    let header = Header {
        spi_r: msg.header.spi_r,
        exchange: match kind % 4 {
            0 => Exchange::IkeAuth,
            1 => Exchange::Informational,
            2 => Exchange::CreateChildSa,
            _ => Exchange::from_code(*id),
        },
        message_id: if id & 0x80 != 0 {
            u32::from(id & 0x7f)
        } else {
            1
        },
        ..init
    };
    let datagrams = if kind & 4 != 0 {
        let max = HEADER_LEN + 8 + 64 + usize::from(*frag) * 4;
        ike::crypto::seal_fragments(&keys, true, inner, max, &|len, n, total| {
            ike::wire::encode_encrypted_prefix(&header, *first_inner, len, Some((n, total)))
        })
        .unwrap_or_default()
    } else {
        ike::crypto::seal(&keys, true, inner, &|len| {
            ike::wire::encode_encrypted_prefix(&header, *first_inner, len, None)
        })
        .into_iter()
        .collect()
    };
    for d in datagrams.iter().take(64) {
        let _ = sa.handle(d, peer, false, &mut RefuseAll, NOW);
        let _ = sa.take_events();
    }
    age(&mut sa);
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let Some((len, rest)) = rest.split_first_chunk::<2>() else {
        return;
    };
    let n = usize::from(u16::from_be_bytes(*len)).min(rest.len());
    let (one, two) = rest.split_at(n);
    let me: SocketAddr = "192.0.2.2:500".parse().expect("address");
    let peer: SocketAddr = "192.0.2.1:500".parse().expect("address");
    let floated = mode & 0x80 != 0;
    let from = if floated {
        "192.0.2.1:4500".parse().expect("address")
    } else {
        peer
    };
    match mode % 4 {
        0 => {
            let Ok(mut sa) = IkeSa::respond_init(responder().clone(), me, peer, one, NOW) else {
                return;
            };
            let _ = sa.take_events();
            let _ = sa.handle(two, from, floated, &mut RefuseAll, NOW);
            age(&mut sa);
        }
        1 => {
            let Ok(mut init) = IkeSa::initiate(initiator().clone(), peer, me, NOW) else {
                return;
            };
            for request in sends(&mut init) {
                let Ok(mut sa) = IkeSa::respond_init(responder().clone(), me, peer, &request, NOW)
                else {
                    continue;
                };
                let _ = sa.take_events();
                let _ = sa.handle(two, from, floated, &mut RefuseAll, NOW);
                age(&mut sa);
            }
        }
        2 => {
            let Ok(mut init) = IkeSa::initiate(initiator().clone(), peer, me, NOW) else {
                return;
            };
            let _ = init.take_events();
            let _ = init.handle(two, me, floated, &mut RefuseAll, NOW);
            // What it sent in answer (IKE_AUTH, a retry with a cookie or
            // another group) is fed back to nobody; run its timers.
            age(&mut init);
        }
        _ => encrypted(two, me, peer),
    }
});
