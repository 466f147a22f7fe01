//! The gate between the authenticator and the card: a CHILD_SA pair is
//! programmed onto the ES PIC (real card, real driver) only for a peer the
//! router authenticated, removed on delete, and the card's lifetime events
//! map to rekey (soft) and removal (hard).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use std::net::IpAddr;
use std::time::Duration;

use ca::authority::{Application, Settings};
use ca::server::ServeConfig;
use espic_driver::{CardEvent, Cipher, Direction, Integrity, LifetimeEvent, Lifetimes, SaSpec};
use ike::auth::PeerId;
use ike::child::{self, Action, ChildSa, InstallError};
use mtsim::chassis::Slot;
use mtsim::datadir::DataDir;
use mtsim::pic::Pic;
use mtsim::router::Router;
use pki::altname::AltNames;
use pki::key::{HashAlg, KeyAlgorithm, KeyPair, KeySpec};
use simclock::Clock;
use support::{ok, run_answering};

const NOW: Duration = Duration::from_secs(support::NOW_SECS);

fn spec(spi: u32, direction: Direction) -> SaSpec {
    SaSpec {
        spi,
        direction,
        cipher: Cipher::Aes128Cbc,
        enc_key: vec![7; 16],
        integrity: Integrity::HmacSha1_96,
        auth_key: vec![9; 20],
        tunnel_src: IpAddr::from([192, 0, 2, 1]),
        tunnel_dst: IpAddr::from([192, 0, 2, 2]),
        udp_encap: None,
        replay_window: 64,
        lifetimes: Lifetimes::default(),
        initial_seq: 0,
    }
}

#[test]
fn only_an_authenticated_peer_gets_sas_on_the_card() {
    let d = tempfile::tempdir().unwrap();
    let clock = Clock::frozen(NOW);
    let ca = ca::server::start(
        &d.path().join("ca"),
        "127.0.0.1:0".parse().unwrap(),
        ServeConfig {
            settings: Settings::default(),
            ..ServeConfig::default()
        },
        clock.clone(),
        false,
    )
    .unwrap();
    let r = Router::start(
        DataDir::new(d.path().join("r1")),
        clock,
        Slot { fpc: 1, pic: 0 },
    )
    .unwrap();
    let mut s = r.session("root");
    ok(&r, &mut s, "configure");
    ok(
        &r,
        &mut s,
        &format!(
            "set security pki ca-profile ca1 ca-identity ca1 enrollment url {}",
            ca.scep_url()
        ),
    );
    ok(
        &r,
        &mut s,
        "set security pki ca-profile ca1 revocation-check disable",
    );
    ok(&r, &mut s, "commit");
    ok(&r, &mut s, "exit");
    let (res, out) = run_answering(
        &r,
        &mut s,
        "request security pki ca-certificate enroll ca-profile ca1",
        &["yes"],
    );
    assert!(res.is_ok(), "{out}");
    let key = KeyPair::generate(KeySpec::new(KeyAlgorithm::Ecdsa, 256).unwrap()).unwrap();
    let alt = AltNames {
        dns: vec!["gw.example.net".into()],
        ..AltNames::default()
    };
    let csr = pki::request::build(
        &key,
        pki::name::parse_subject("CN=gw", "").unwrap(),
        &alt,
        None,
        HashAlg::Sha256,
    )
    .unwrap();
    let peer = ca
        .authority()
        .issue(&Application::from_csr(&csr).unwrap(), NOW)
        .unwrap();

    let mut pic = Pic::power_on().unwrap();
    let (inb, outb) = (
        spec(0x1001, Direction::Inbound),
        spec(0x2001, Direction::Outbound),
    );

    // Refused peer (wrong identity): nothing on the card.
    let verdict = mtsim::ike_auth::authenticate(
        r.shared(),
        &peer,
        &[],
        &PeerId::Fqdn("other.example.net".into()),
    );
    let e = child::install_after_auth(&verdict, &mut pic.driver, (0, 1), &inb, &outb).unwrap_err();
    assert!(matches!(e, InstallError::NotAuthenticated(_)), "{e}");
    assert!(
        pic.driver.query_sa(0).is_err() && pic.driver.query_sa(1).is_err(),
        "slots stay empty"
    );

    // Authenticated: the pair is on the card.
    let verdict = mtsim::ike_auth::authenticate(
        r.shared(),
        &peer,
        &[],
        &PeerId::Fqdn("gw.example.net".into()),
    );
    let pair = child::install_after_auth(&verdict, &mut pic.driver, (0, 1), &inb, &outb).unwrap();
    assert_eq!(
        pair,
        ChildSa {
            inbound: 0,
            outbound: 1
        }
    );
    assert_eq!(pic.driver.query_sa(0).unwrap().spi, 0x1001);
    assert_eq!(
        pic.driver.query_sa(1).unwrap().direction,
        Direction::Outbound
    );

    // Lifetime events: soft → rekey, hard → remove; other slots are not ours.
    let soft = CardEvent::Lifetime {
        sa_index: 1,
        event: LifetimeEvent::Soft,
    };
    assert_eq!(child::on_event(&soft, &[pair]), Some(Action::Rekey(pair)));
    let hard = CardEvent::Lifetime {
        sa_index: 0,
        event: LifetimeEvent::Hard,
    };
    assert_eq!(child::on_event(&hard, &[pair]), Some(Action::Remove(pair)));
    let other = CardEvent::Lifetime {
        sa_index: 7,
        event: LifetimeEvent::Hard,
    };
    assert_eq!(child::on_event(&other, &[pair]), None);

    // DELETE: both slots are cleared.
    child::remove(&mut pic.driver, pair).unwrap();
    assert!(pic.driver.query_sa(0).is_err() && pic.driver.query_sa(1).is_err());
}
