//! Two IKE SAs talking to each other in memory: establishment with
//! certificates, fragmentation, DH group retry, rekey, delete,
//! retransmission, and the refusals.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use espic_driver::{Cipher, Integrity};
use pki::key::KeyPair;
use x509_cert::Certificate;

use super::super::*;
use crate::auth::testutil::{self, NOW, Spec};
use crate::auth::{self, Chain, PeerId, Policy, Refusal, RevocationMode, StaticCrls};
use crate::crypto::{DhGroup, Encr, IkeSuite, Integ, Prf};
use crate::wire::TrafficSelector;

const A: &str = "192.0.2.1:500";
const B: &str = "192.0.2.2:500";

struct Check {
    root: Certificate,
    expect: Option<PeerId>,
}

impl PeerCheck for Check {
    fn check(
        &mut self,
        id: &PeerId,
        peer: &Certificate,
        untrusted: &[Certificate],
    ) -> Result<Chain, Refusal> {
        if let Some(want) = &self.expect
            && want != id
        {
            return Err(Refusal::IdentityMismatch {
                id: id.to_string(),
                have: want.to_string(),
            });
        }
        let mut policy = Policy::new(Duration::from_secs(NOW));
        policy.revocation = RevocationMode::Disabled;
        auth::authenticate(
            peer,
            untrusted,
            std::slice::from_ref(&self.root),
            &StaticCrls(vec![]),
            id,
            &policy,
        )
    }
}

struct Side {
    cfg: LocalConfig,
    check: Check,
}

fn suite(dh: DhGroup) -> IkeSuite {
    IkeSuite {
        encr: Encr::AesCbc128,
        prf: Prf::HmacSha1,
        integ: Integ::HmacSha1_96,
        dh,
    }
}

fn pair() -> (Side, Side) {
    let pki = testutil::Pki::new();
    let mk = |name: &str, ts_l: &str, ts_r: &str| {
        let key = testutil::key();
        let cert = testutil::make(
            Spec::ee(&format!("CN={name}"), &[name]),
            &key,
            Some((&pki.ica, &pki.ica_key)),
        );
        cfg(
            name,
            key,
            vec![
                der::Encode::to_der(&cert).unwrap(),
                der::Encode::to_der(&pki.ica).unwrap(),
            ],
            ts_l,
            ts_r,
        )
    };
    let a = mk("a.example.net", "198.51.100.1", "203.0.113.1");
    let b = mk("b.example.net", "203.0.113.1", "198.51.100.1");
    (
        Side {
            cfg: a,
            check: Check {
                root: pki.root.clone(),
                expect: None,
            },
        },
        Side {
            cfg: b,
            check: Check {
                root: pki.root.clone(),
                expect: None,
            },
        },
    )
}

fn cfg(name: &str, key: KeyPair, certs: Vec<Vec<u8>>, ts_l: &str, ts_r: &str) -> LocalConfig {
    LocalConfig {
        id: identification(&PeerId::Fqdn(name.into())).unwrap(),
        certs,
        key: Arc::new(key),
        ike_suites: vec![suite(DhGroup::Ecp256)],
        esp_suites: vec![EspSuite {
            cipher: Cipher::Aes128Cbc,
            integrity: Integrity::HmacSha1_96,
        }],
        pfs: None,
        local_ts: TrafficSelector::host(ts_l.parse().unwrap()),
        remote_ts: TrafficSelector::host(ts_r.parse().unwrap()),
        remote_id: None,
        certreq: Vec::new(),
        fragment_size: 1280,
        force_encap: false,
        child_lifetime: Duration::from_secs(3600),
        child_lifetime_bytes: 0,
        retransmit: Retransmit::default(),
        dpd: None,
        ports: Ports::default(),
    }
}

/// Both SAs and everything they reported.
struct Run {
    a: IkeSa,
    b: Option<IkeSa>,
    sa: Side,
    sb: Side,
    ea: Vec<Event>,
    eb: Vec<Event>,
    now: Duration,
    /// Drop the next n datagrams from B to A.
    drop_b_to_a: usize,
}

impl Run {
    fn new(sa: Side, sb: Side) -> Run {
        let a = IkeSa::initiate(
            sa.cfg.clone(),
            A.parse().unwrap(),
            B.parse().unwrap(),
            Duration::ZERO,
        )
        .unwrap();
        Run {
            a,
            b: None,
            sa,
            sb,
            ea: Vec::new(),
            eb: Vec::new(),
            now: Duration::ZERO,
            drop_b_to_a: 0,
        }
    }

    fn sends(events: &[Event]) -> Vec<(Vec<u8>, SocketAddr)> {
        events
            .iter()
            .filter_map(|e| match e {
                Event::Send(t) => Some((t.datagram.clone(), t.to)),
                _ => None,
            })
            .collect()
    }

    /// Exchanges datagrams until both are quiet.
    fn settle(&mut self) {
        for _ in 0..50 {
            let from_a = self.a.take_events();
            let to_b = Self::sends(&from_a);
            self.ea.extend(from_a);
            let mut moved = !to_b.is_empty();
            for (d, _) in to_b {
                let fresh_init = peek(&d).is_ok_and(|h| h.spi_r == 0);
                match &mut self.b {
                    _ if fresh_init => {
                        self.b = Some(
                            IkeSa::respond_init(
                                self.sb.cfg.clone(),
                                B.parse().unwrap(),
                                A.parse().unwrap(),
                                &d,
                                self.now,
                            )
                            .unwrap(),
                        );
                    }
                    None => unreachable!("the first datagram is IKE_SA_INIT"),
                    Some(b) => {
                        let _ =
                            b.handle(&d, A.parse().unwrap(), false, &mut self.sb.check, self.now);
                    }
                }
            }
            if let Some(b) = &mut self.b {
                let from_b = b.take_events();
                let to_a = Self::sends(&from_b);
                self.eb.extend(from_b);
                moved |= !to_a.is_empty();
                for (d, _) in to_a {
                    if self.drop_b_to_a > 0 {
                        self.drop_b_to_a -= 1;
                        continue;
                    }
                    let _ =
                        self.a
                            .handle(&d, B.parse().unwrap(), false, &mut self.sa.check, self.now);
                }
            }
            if !moved {
                return;
            }
        }
        panic!("the SAs never went quiet");
    }

    fn b(&self) -> &IkeSa {
        self.b.as_ref().unwrap()
    }
}

fn ups(events: &[Event]) -> Vec<ChildUp> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::ChildUp(c) => Some((**c).clone()),
            _ => None,
        })
        .collect()
}

fn downs(events: &[Event]) -> Vec<u32> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::ChildDown { spi_in, .. } => Some(*spi_in),
            _ => None,
        })
        .collect()
}

fn refusals(events: &[Event]) -> Vec<Refusal> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Refused { refusal, .. } => Some(refusal.clone()),
            _ => None,
        })
        .collect()
}

/// A's outbound SA is B's inbound SA, key for key.
fn assert_mirrored(a: &ChildUp, b: &ChildUp) {
    assert_eq!(a.outbound.spi, b.inbound.spi);
    assert_eq!(a.inbound.spi, b.outbound.spi);
    assert_eq!(a.outbound.enc_key, b.inbound.enc_key);
    assert_eq!(a.outbound.auth_key, b.inbound.auth_key);
    assert_eq!(a.inbound.enc_key, b.outbound.enc_key);
    assert_eq!(a.inbound.auth_key, b.outbound.auth_key);
    assert_ne!(a.outbound.enc_key, a.inbound.enc_key);
}

#[test]
fn establishes_with_certificates_and_programs_mirrored_children() {
    let (a, b) = pair();
    let mut r = Run::new(a, b);
    r.settle();
    assert_eq!(r.a.state(), State::Established);
    assert_eq!(r.b().state(), State::Established);
    let (ua, ub) = (ups(&r.ea), ups(&r.eb));
    assert_eq!((ua.len(), ub.len()), (1, 1));
    assert_mirrored(&ua[0], &ub[0]);
    assert_eq!(
        ua[0].info.local_ts,
        TrafficSelector::host("198.51.100.1".parse().unwrap())
    );
    assert!(r.ea.iter().any(
        |e| matches!(e, Event::Authenticated(p) if p.id == PeerId::Fqdn("b.example.net".into()))
    ));
    assert!(r.eb.iter().any(
        |e| matches!(e, Event::Authenticated(p) if p.id == PeerId::Fqdn("a.example.net".into()))
    ));
}

#[test]
fn fragments_ike_auth_when_it_is_large() {
    let (mut a, mut b) = pair();
    a.cfg.fragment_size = 400;
    b.cfg.fragment_size = 400;
    let mut r = Run::new(a, b);
    r.settle();
    let fragments = r
        .ea
        .iter()
        .filter(|e| matches!(e, Event::Send(t) if t.datagram.len() <= 400 && t.datagram.get(16) == Some(&53)))
        .count();
    assert!(fragments >= 2, "IKE_AUTH went in {fragments} fragments");
    assert_eq!(r.a.state(), State::Established);
    assert_mirrored(&ups(&r.ea)[0], &ups(&r.eb)[0]);
}

#[test]
fn retries_with_the_group_the_responder_wants() {
    let (mut a, mut b) = pair();
    a.cfg.ike_suites = vec![suite(DhGroup::Ecp256), suite(DhGroup::Modp2048)];
    b.cfg.ike_suites = vec![suite(DhGroup::Modp2048)];
    let mut r = Run::new(a, b);
    r.settle();
    // The first responder SA answered INVALID_KE_PAYLOAD and closed; the
    // retry made a second one.
    assert_eq!(r.a.state(), State::Established);
    assert_eq!(r.a.summary().suite.unwrap().dh, DhGroup::Modp2048);
}

#[test]
fn rekeys_a_child_and_deletes_the_old_one() {
    let (mut a, b) = pair();
    a.cfg.pfs = Some(DhGroup::Ecp256);
    let mut r = Run::new(a, b);
    r.sb.cfg.pfs = Some(DhGroup::Ecp256);
    r.settle();
    let old = ups(&r.ea)[0].info.spi_in;
    r.a.rekey_child(old, Duration::from_secs(10));
    r.settle();
    let (ua, ub) = (ups(&r.ea), ups(&r.eb));
    assert_eq!((ua.len(), ub.len()), (2, 2));
    assert_eq!(ua[1].replaces, Some(old));
    assert_mirrored(&ua[1], &ub[1]);
    assert_ne!(ua[1].outbound.enc_key, ua[0].outbound.enc_key);
    assert_eq!(downs(&r.ea), vec![old]);
    assert_eq!(downs(&r.eb), vec![ub[0].info.spi_in]);
    assert_eq!(r.a.children().len(), 1);
    assert_eq!(r.b().children().len(), 1);
}

#[test]
fn deleting_the_ike_sa_takes_the_children_down_on_both_sides() {
    let (a, b) = pair();
    let mut r = Run::new(a, b);
    r.settle();
    r.a.delete(Duration::from_secs(5));
    r.settle();
    assert_eq!(r.a.state(), State::Closed);
    assert_eq!(r.b().state(), State::Closed);
    assert_eq!(downs(&r.ea).len(), 1);
    assert_eq!(downs(&r.eb).len(), 1);
}

#[test]
fn a_lost_response_is_retransmitted_and_answered_from_the_cache() {
    let (a, b) = pair();
    let mut r = Run::new(a, b);
    r.drop_b_to_a = 1; // the IKE_SA_INIT response
    r.settle();
    assert_eq!(r.a.state(), State::InitSent);
    r.now = Duration::from_secs(3);
    r.a.tick(r.now);
    r.settle();
    assert_eq!(r.a.state(), State::Established);
    assert_eq!(ups(&r.eb).len(), 1, "the responder made one CHILD_SA only");
}

#[test]
fn gives_up_after_the_retransmissions() {
    let (a, _) = pair();
    let mut sa = IkeSa::initiate(
        a.cfg,
        A.parse().unwrap(),
        B.parse().unwrap(),
        Duration::ZERO,
    )
    .unwrap();
    for s in 1..200 {
        sa.tick(Duration::from_secs(s));
    }
    assert_eq!(sa.state(), State::Closed);
    let sends = Run::sends(&sa.take_events()).len();
    assert_eq!(sends, 1 + Retransmit::default().tries as usize);
}

#[test]
fn identity_mismatch_is_refused_with_authentication_failed() {
    let (a, mut b) = pair();
    b.check.expect = Some(PeerId::Fqdn("c.example.net".into()));
    let mut r = Run::new(a, b);
    r.settle();
    assert_eq!(r.b().state(), State::Closed);
    assert_eq!(r.a.state(), State::Closed);
    assert!(matches!(
        refusals(&r.eb)[..],
        [Refusal::IdentityMismatch { .. }]
    ));
    // A learnt it from the AUTHENTICATION_FAILED notify.
    assert_eq!(refusals(&r.ea).len(), 1);
    assert!(ups(&r.ea).is_empty() && ups(&r.eb).is_empty());
}

#[test]
fn a_bad_auth_signature_is_refused() {
    let (mut a, b) = pair();
    // A signs with a key that is not its certificate's.
    a.cfg.key = Arc::new(testutil::key());
    let mut r = Run::new(a, b);
    r.settle();
    let refused = refusals(&r.eb);
    assert_eq!(refused.len(), 1);
    assert!(
        refused[0].to_string().contains("AUTH payload"),
        "{}",
        refused[0]
    );
    assert!(ups(&r.eb).is_empty());
    assert_eq!(r.a.state(), State::Closed);
}

#[test]
fn the_initiator_refuses_a_responder_it_cannot_verify() {
    let (mut a, b) = pair();
    a.check.expect = Some(PeerId::Fqdn("other.example.net".into()));
    let mut r = Run::new(a, b);
    r.settle();
    assert_eq!(r.a.state(), State::Closed);
    assert!(matches!(
        refusals(&r.ea)[..],
        [Refusal::IdentityMismatch { .. }]
    ));
    // The responder was told (INFORMATIONAL AUTHENTICATION_FAILED) and
    // took its CHILD_SA down.
    assert_eq!(r.b().state(), State::Closed);
    assert_eq!(ups(&r.eb).len(), downs(&r.eb).len());
}

#[test]
fn traffic_selectors_that_do_not_fit_leave_the_ike_sa_without_a_child() {
    let (a, mut b) = pair();
    b.cfg.remote_ts = TrafficSelector::host("10.9.9.9".parse().unwrap());
    let mut r = Run::new(a, b);
    r.settle();
    assert_eq!(r.a.state(), State::Established);
    assert!(ups(&r.ea).is_empty() && ups(&r.eb).is_empty());
}

#[test]
fn liveness_checks_are_answered() {
    let (mut a, b) = pair();
    a.cfg.dpd = Some(Duration::from_secs(10));
    let mut r = Run::new(a, b);
    r.settle();
    r.now = Duration::from_secs(11);
    r.a.tick(r.now);
    r.settle();
    assert_eq!(
        r.a.summary().next_message_id,
        3,
        "IKE_SA_INIT, IKE_AUTH, one INFORMATIONAL"
    );
    assert_eq!(r.a.state(), State::Established);
}
