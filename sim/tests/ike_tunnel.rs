//! Two simulated routers, each with its ES PIC, certificates from the
//! embedded CA (enrolled over SCEP through their CLIs), establish IKEv2 and
//! CHILD SAs with each other over UDP on loopback, and pass packets through
//! their cards; rekey under traffic; delete; and the refusals, each seen in
//! `show security ike` on the refusing side. One router of a pair may be
//! configured only the ES PIC way (`request security key-pair`,
//! `request security certificate enroll`, `security certificates`,
//! `security ike policy PEER-ADDRESS`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use std::path::Path;
use std::time::Duration;

use ca::authority::{Challenge, Settings};
use ca::server::{RunningCa, ServeConfig};
use ca::state::Reason;
use mtsim::chassis::Slot;
use mtsim::datadir::DataDir;
use mtsim::enroll;
use mtsim::iked::Inside;
use mtsim::router::{Router, Session};
use mtsim::traffic::icmp_echo_v4;
use simclock::Clock;
use support::{ok, run_answering};
use tokio::sync::mpsc;

const NOW: Duration = Duration::from_secs(support::NOW_SECS);

fn start_ca(dir: &Path, clock: &Clock) -> RunningCa {
    start_ca_with(dir, clock, Settings::default().cert_lifetime)
}

fn start_ca_with(dir: &Path, clock: &Clock, cert_lifetime: Duration) -> RunningCa {
    start_ca_at(dir, clock, cert_lifetime, "127.0.0.1:0".parse().unwrap())
}

fn start_ca_at(
    dir: &Path,
    clock: &Clock,
    cert_lifetime: Duration,
    addr: std::net::SocketAddr,
) -> RunningCa {
    let config = ServeConfig {
        settings: Settings {
            challenge: Challenge::Reusable("s3cret-pw".to_string().into()),
            cert_lifetime,
            ..Settings::default()
        },
        ..ServeConfig::default()
    };
    ca::server::start(dir, addr, config, clock.clone(), false).unwrap()
}

/// One router of the pair: its CLI session and its inside.
struct Node {
    r: Router,
    s: Session,
    to_router: mpsc::Sender<Vec<u8>>,
    from_router: mpsc::Receiver<Vec<u8>>,
    inside: Option<Inside>,
}

impl Node {
    fn cli(&mut self, line: &str) -> String {
        ok(&self.r, &mut self.s, line)
    }

    fn tunnels(&mut self) -> usize {
        let out = self.cli("show security ipsec security-associations");
        out.lines()
            .find_map(|l| l.trim().strip_prefix("Total active tunnels: "))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0)
    }
}

/// What differs between the two routers of a test.
struct Spec {
    name: &'static str,
    addr: &'static str,
    peer: &'static str,
    inner: &'static str,
    remote_inner: &'static str,
    /// The identity it claims.
    identity: &'static str,
    /// The identity it expects of the peer.
    expects: &'static str,
    initiates: bool,
    revocation: bool,
    /// `lifetime-kilobytes` of the IPsec proposal.
    kilobytes: Option<u32>,
}

/// A router enrolled at `ca` (CA certificate, then an RSA local
/// certificate over SCEP) and configured for one VPN to its peer; kmd is
/// not started yet.
fn node_stopped(dir: &Path, clock: Clock, ca: &RunningCa, sp: &Spec) -> Node {
    let r = Router::start(DataDir::new(dir), clock, Slot { fpc: 1, pic: 0 }).unwrap();
    let mut s = r.session("root");
    let name = sp.name;
    ok(&r, &mut s, "configure");
    ok(
        &r,
        &mut s,
        &format!(
            "set security pki ca-profile ca1 ca-identity ca1 enrollment url {}",
            ca.scep_url()
        ),
    );
    if sp.revocation {
        ok(
            &r,
            &mut s,
            "set security pki ca-profile ca1 revocation-check crl refresh-interval 1",
        );
    } else {
        ok(
            &r,
            &mut s,
            "set security pki ca-profile ca1 revocation-check disable",
        );
    }
    ok(&r, &mut s, "commit");
    ok(&r, &mut s, "exit");
    let (res, out) = run_answering(
        &r,
        &mut s,
        "request security pki ca-certificate enroll ca-profile ca1",
        &["yes"],
    );
    assert!(res.is_ok(), "{out}");
    ok(
        &r,
        &mut s,
        &format!("request security pki generate-key-pair certificate-id {name} size 2048 type rsa"),
    );
    ok(
        &r,
        &mut s,
        &format!(
            "request security pki local-certificate enroll scep ca-profile ca1 certificate-id {name} \
             challenge-password s3cret-pw subject \"CN={name}.example.net,O=Example\" \
             domain-name {name}.example.net ip-address {}",
            sp.addr
        ),
    );
    assert_eq!(enroll::run_due(r.shared()), 1);
    let lines = [
        "configure".to_string(),
        "set security ike proposal p1 authentication-method rsa-signatures dh-group group14 authentication-algorithm sha1 encryption-algorithm aes-128-cbc".into(),
        "set security ike policy pol proposals p1".into(),
        format!("set security ike policy pol certificate local-certificate {name}"),
        "set security ike gateway gw ike-policy pol".into(),
        format!("set security ike gateway gw address {}", sp.peer),
        format!("set security ike gateway gw local-address {}", sp.addr),
        format!("set security ike gateway gw local-identity hostname {}", sp.identity),
        format!("set security ike gateway gw remote-identity hostname {}", sp.expects),
        "set security ike gateway gw version v2-only".into(),
        "set security ipsec proposal e1 protocol esp authentication-algorithm hmac-sha1-96 encryption-algorithm aes-128-cbc".into(),
        "set security ipsec policy ip proposals e1".into(),
        "set security ipsec vpn v ike gateway gw".into(),
        "set security ipsec vpn v ike ipsec-policy ip".into(),
        "set security ipsec vpn v bind-interface es-1/0/0".into(),
        format!(
            "set security ipsec vpn v traffic-selector ts local-ip {}/32 remote-ip {}/32",
            sp.inner, sp.remote_inner
        ),
    ];
    for l in &lines {
        ok(&r, &mut s, l);
    }
    if sp.initiates {
        ok(
            &r,
            &mut s,
            "set security ipsec vpn v establish-tunnels immediately",
        );
    }
    if let Some(kb) = sp.kilobytes {
        ok(
            &r,
            &mut s,
            &format!("set security ipsec proposal e1 lifetime-kilobytes {kb}"),
        );
    }
    ok(&r, &mut s, "commit");
    ok(&r, &mut s, "exit");
    let (to_router, from_host) = mpsc::channel(256);
    let (to_host, from_router) = mpsc::channel(256);
    Node {
        r,
        s,
        to_router,
        from_router,
        inside: Some(Inside::Channel { from_host, to_host }),
    }
}

/// Starts the node's kmd.
fn start(n: &mut Node) {
    n.r.start_kmd(n.inside.take().unwrap()).unwrap();
}

/// A router as [`node_stopped`] makes it, with kmd running.
fn node(dir: &Path, clock: Clock, ca: &RunningCa, sp: &Spec) -> Node {
    let mut n = node_stopped(dir, clock, ca, sp);
    start(&mut n);
    n
}

/// Waits (bounded, on real time: the protocol runs on sockets) for `what`.
fn wait(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..200 {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting for {what}");
}

fn r1_spec(net: u8) -> Spec {
    Spec {
        name: "r1",
        addr: leak(format!("127.0.{net}.1")),
        peer: leak(format!("127.0.{net}.2")),
        inner: "198.51.100.1",
        remote_inner: "203.0.113.1",
        identity: "r1.example.net",
        expects: "r2.example.net",
        initiates: true,
        revocation: false,
        kilobytes: None,
    }
}

fn r2_spec(net: u8) -> Spec {
    Spec {
        name: "r2",
        addr: leak(format!("127.0.{net}.2")),
        peer: leak(format!("127.0.{net}.1")),
        inner: "203.0.113.1",
        remote_inner: "198.51.100.1",
        identity: "r2.example.net",
        expects: "r1.example.net",
        initiates: false,
        revocation: false,
        kilobytes: None,
    }
}

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

fn ping(from: &Node, to: &mut Node, src: &str, dst: &str, seq: u16) {
    let p = icmp_echo_v4(
        src.parse().unwrap(),
        dst.parse().unwrap(),
        7,
        seq,
        b"through the card",
    );
    from.to_router.blocking_send(p.clone()).unwrap();
    let mut got = None;
    wait("the packet on the far side", || {
        got = to.from_router.try_recv().ok();
        got.is_some()
    });
    assert_eq!(got.unwrap(), p, "the inner packet arrives unchanged");
}

#[test]
fn two_routers_build_a_tunnel_and_carry_traffic_through_their_cards() {
    let d = tempfile::tempdir().unwrap();
    let clock = Clock::frozen(NOW);
    let ca = start_ca(&d.path().join("ca"), &clock);
    let mut r2 = node(&d.path().join("r2"), clock.clone(), &ca, &r2_spec(1));
    let mut r1 = node(&d.path().join("r1"), clock.clone(), &ca, &r1_spec(1));
    wait("the tunnel on both routers", || {
        r1.tunnels() == 1 && r2.tunnels() == 1
    });

    let ike = r1.cli("show security ike security-associations");
    assert!(ike.contains("UP") && ike.contains("127.0.1.2"), "{ike}");
    let detail = r2.cli("show security ike security-associations detail");
    assert!(detail.contains("Role: Responder, State: UP"), "{detail}");
    assert!(
        detail.contains("Peer ike-id: fqdn:r1.example.net"),
        "{detail}"
    );
    assert!(
        detail.contains("DH-group-14") && detail.contains("aes128-cbc"),
        "{detail}"
    );
    let auth = r2.cli("show security ike");
    assert!(
        auth.contains("Gateway: gw") && auth.contains("Result: accepted"),
        "{auth}"
    );

    for seq in 1..=3 {
        ping(&r1, &mut r2, "198.51.100.1", "203.0.113.1", seq);
        ping(&r2, &mut r1, "203.0.113.1", "198.51.100.1", seq);
    }
    // 3 packets each way on the card (kmd republishes the card's counters
    // at its next tick).
    wait("the card's counters", || {
        let sas = r1.cli("show security ipsec security-associations detail");
        sas.contains("ES PIC SA slot") && sas.matches("Packets: 3,").count() == 2
    });

    // Rekey under traffic: a burst each way while the CREATE_CHILD_SA and
    // the delete of the old pair run; nothing is lost, new SPIs, the old
    // pair leaves the card.
    let before = r1.cli("show security ipsec security-associations");
    r1.r.shared()
        .kmd
        .get()
        .unwrap()
        .send(mtsim::iked::Command::RekeyChildren);
    burst(&mut r1, &mut r2, "198.51.100.1", "203.0.113.1", 100);
    wait("the rekeyed pair", || {
        let now = r1.cli("show security ipsec security-associations");
        r1.tunnels() == 1 && r2.tunnels() == 1 && now != before && !now.contains(spi_of(&before))
    });
    ping(&r1, &mut r2, "198.51.100.1", "203.0.113.1", 10);
    ping(&r2, &mut r1, "203.0.113.1", "198.51.100.1", 10);

    // R1's certificate is renewed by re-enrollment; clearing the IKE SA
    // makes R1 (establish-tunnels immediately) negotiate again, with the
    // new certificate, without a restart; the old SAs leave both cards.
    let old_serial = serial(&r1);
    let out = r1.cli(
        "request security pki local-certificate re-enroll scep ca-profile ca1 certificate-id r1",
    );
    assert!(out.contains("re-enrollment has started"), "{out}");
    assert_eq!(enroll::run_due(r1.r.shared()), 1);
    let new_serial = serial(&r1);
    assert_ne!(old_serial, new_serial);
    let first = r2.cli("show security ike security-associations detail");
    assert!(first.contains(&format!("(serial {old_serial})")), "{first}");
    let cookie = r1.cli("show security ike security-associations");
    r1.cli("clear security ike security-associations");
    wait("a new IKE SA with the renewed certificate", || {
        let d = r2.cli("show security ike security-associations detail");
        d.contains(&format!("(serial {new_serial})")) && r1.tunnels() == 1 && r2.tunnels() == 1
    });
    assert_ne!(
        cookie,
        r1.cli("show security ike security-associations"),
        "a new IKE SA"
    );
    let ike = r2.cli("show security ike security-associations");
    assert_eq!(
        ike.matches("UP").count(),
        1,
        "the old IKE SA is gone: {ike}"
    );
    ping(&r1, &mut r2, "198.51.100.1", "203.0.113.1", 20);
}

#[test]
fn the_cards_soft_lifetime_interrupt_makes_the_sender_rekey() {
    let d = tempfile::tempdir().unwrap();
    let clock = Clock::frozen(NOW);
    let ca = start_ca(&d.path().join("ca"), &clock);
    let mut s1 = r1_spec(7);
    s1.kilobytes = Some(64);
    let mut s2 = r2_spec(7);
    s2.kilobytes = Some(64);
    let mut r2 = node(&d.path().join("r2"), clock.clone(), &ca, &s2);
    let mut r1 = node(&d.path().join("r1"), clock.clone(), &ca, &s1);
    wait("the tunnel", || r1.tunnels() == 1 && r2.tunnels() == 1);
    let before = r1.cli("show security ipsec security-associations");
    // 64 KB hard, 90 % soft: 60 packets of 1 KB pass the soft limit of
    // R1's outbound SA (and of R2's inbound one: R2 leaves the rekey to
    // the sender).
    let payload = vec![0x5a; 1000];
    for seq in 0..60 {
        let p = icmp_echo_v4(
            "198.51.100.1".parse().unwrap(),
            "203.0.113.1".parse().unwrap(),
            3,
            seq,
            &payload,
        );
        r1.to_router.blocking_send(p).unwrap();
    }
    wait("the rekey the card asked for", || {
        let now = r1.cli("show security ipsec security-associations");
        r1.tunnels() == 1 && r2.tunnels() == 1 && !now.contains(spi_of(&before))
    });
    let mut got = 0;
    while r2.from_router.try_recv().is_ok() {
        got += 1;
    }
    assert_eq!(got, 60, "every packet crossed, before and after the rekey");
    ping(&r1, &mut r2, "198.51.100.1", "203.0.113.1", 99);
}

#[test]
fn automatic_re_enrollment_renews_the_gateway_certificate_and_ike_uses_it() {
    // Certificates of ten minutes; R1 renews at 90 % of that with a new
    // key pair, while its tunnel is up; kmd reauthenticates with the
    // renewed certificate and the new key, without a restart and without
    // dropping traffic.
    const LIFETIME: u64 = 600;
    let d = tempfile::tempdir().unwrap();
    let clock = Clock::frozen(NOW);
    let ca = start_ca_with(&d.path().join("ca"), &clock, Duration::from_secs(LIFETIME));
    let mut r2 = node(&d.path().join("r2"), clock.clone(), &ca, &r2_spec(8));
    let mut r1 = node(&d.path().join("r1"), clock.clone(), &ca, &r1_spec(8));
    wait("the tunnel", || r1.tunnels() == 1 && r2.tunnels() == 1);
    let old_serial = serial(&r1);
    r1.cli("configure");
    r1.cli("set security pki auto-re-enrollment scep certificate-id r1 ca-profile-name ca1 challenge-password s3cret-pw re-enroll-trigger-time-percentage 10 re-generate-keypair");
    r1.cli("commit");
    r1.cli("exit");
    clock.advance(Duration::from_secs(LIFETIME * 90 / 100));
    assert_eq!(
        enroll::run_due(r1.r.shared()),
        1,
        "the automatic re-enrollment ran"
    );
    let new_serial = serial(&r1);
    assert_ne!(old_serial, new_serial);
    // kmd notices the renewal and reauthenticates make-before-break: a
    // burst of traffic meanwhile loses nothing.
    burst(&mut r1, &mut r2, "198.51.100.1", "203.0.113.1", 100);
    wait("the IKE SA with the renewed certificate, alone", || {
        let d = r2.cli("show security ike security-associations detail");
        d.contains(&format!("(serial {new_serial})"))
            && d.matches("State: UP").count() == 1
            && r1.tunnels() == 1
            && r2.tunnels() == 1
    });
    ping(&r1, &mut r2, "198.51.100.1", "203.0.113.1", 1);
    ping(&r2, &mut r1, "203.0.113.1", "198.51.100.1", 1);
}

/// R1's local certificate serial number.
fn serial(n: &Node) -> String {
    let pki = n.r.shared().pki();
    let cert = pki.local_certificates().get("r1").unwrap();
    pki::info::serial_hex(cert.tbs_certificate().serial_number().as_bytes())
}

/// Sends `n` packets each way at once (while whatever the routers are
/// doing goes on) and checks that every one arrives.
fn burst(a: &mut Node, b: &mut Node, a_in: &str, b_in: &str, n: u16) {
    for seq in 0..n {
        let p = icmp_echo_v4(
            a_in.parse().unwrap(),
            b_in.parse().unwrap(),
            9,
            seq,
            b"burst",
        );
        a.to_router.blocking_send(p).unwrap();
        let p = icmp_echo_v4(
            b_in.parse().unwrap(),
            a_in.parse().unwrap(),
            9,
            seq,
            b"burst",
        );
        b.to_router.blocking_send(p).unwrap();
    }
    let (mut at_a, mut at_b) = (0, 0);
    for _ in 0..200 {
        while b.from_router.try_recv().is_ok() {
            at_b += 1;
        }
        while a.from_router.try_recv().is_ok() {
            at_a += 1;
        }
        if at_a == n && at_b == n {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        (at_a, at_b),
        (n, n),
        "no packet lost either way during the rekey"
    );
}

/// The first inbound SPI of the brief IPsec output.
fn spi_of(brief: &str) -> &str {
    brief
        .lines()
        .find(|l| l.trim_start().starts_with('<'))
        .and_then(|l| l.split_whitespace().nth(2))
        .unwrap_or("none")
}

/// Runs a pair where R2 refuses R1: `prepare` runs after both routers
/// are enrolled and before R1's kmd starts. Returns R2's and R1's `show
/// security ike`.
fn refused(
    r1: Spec,
    r2: Spec,
    prepare: impl FnOnce(&RunningCa, &Node, &Clock),
) -> (String, String) {
    let d = tempfile::tempdir().unwrap();
    let clock = Clock::frozen(NOW);
    let ca = start_ca(&d.path().join("ca"), &clock);
    let c2 = Clock::frozen(NOW);
    let mut n2 = node(&d.path().join("r2"), c2.clone(), &ca, &r2);
    let mut n1 = node_stopped(&d.path().join("r1"), Clock::frozen(NOW), &ca, &r1);
    prepare(&ca, &n1, &c2);
    start(&mut n1);
    wait("R2's refusal", || {
        n2.cli("show security ike").contains("refused")
    });
    wait("R1 told of it", || {
        n1.cli("show security ike")
            .contains("AUTHENTICATION_FAILED")
    });
    assert_eq!(n2.tunnels(), 0, "nothing reached R2's card");
    assert_eq!(n1.tunnels(), 0, "nothing reached R1's card");
    (n2.cli("show security ike"), n1.cli("show security ike"))
}

#[test]
fn an_expired_certificate_is_refused() {
    let (r2, _) = refused(r1_spec(2), r2_spec(2), |_, _, c2| {
        c2.set(NOW + Duration::from_secs(3 * 365 * 86400))
    });
    assert!(
        r2.contains("Check: validity period") && r2.contains("expired"),
        "{r2}"
    );
}

#[test]
fn a_certificate_not_yet_valid_is_refused() {
    let (r2, _) = refused(r1_spec(3), r2_spec(3), |_, _, c2| {
        c2.set(NOW - Duration::from_secs(2 * 86400))
    });
    assert!(
        r2.contains("Check: validity period") && r2.contains("not valid before"),
        "{r2}"
    );
}

#[test]
fn a_revoked_certificate_is_refused() {
    let mut r2 = r2_spec(4);
    r2.revocation = true;
    let (r2, _) = refused(r1_spec(4), r2, |ca, n1, _| {
        let serial = {
            let pki = n1.r.shared().pki();
            let cert = pki.local_certificates().get("r1").unwrap().clone();
            pki::info::serial_hex(cert.tbs_certificate().serial_number().as_bytes())
        };
        ca.authority()
            .revoke(&serial, Reason::KeyCompromise, NOW)
            .unwrap();
    });
    assert!(
        r2.contains("Check: revocation") && r2.contains("is revoked"),
        "{r2}"
    );
}

#[test]
fn an_identity_missing_from_the_subject_alt_name_is_refused() {
    // R1 claims a name its certificate does not hold; R2 expects that very
    // name, so the gateway check passes and the certificate check fails.
    let mut r1 = r1_spec(5);
    r1.identity = "evil.example.net";
    let mut r2 = r2_spec(5);
    r2.expects = "evil.example.net";
    let (r2, _) = refused(r1, r2, |_, _, _| {});
    assert!(r2.contains("Check: identity (subjectAltName)"), "{r2}");
    assert!(
        r2.contains("evil.example.net") && r2.contains("r1.example.net"),
        "{r2}"
    );
}

#[test]
fn a_peer_other_than_the_configured_remote_identity_is_refused() {
    let mut r2 = r2_spec(6);
    r2.expects = "someone-else.example.net";
    let (r2, _) = refused(r1_spec(6), r2, |_, _, _| {});
    assert!(
        r2.contains("Check: identity (subjectAltName)") && r2.contains("someone-else.example.net"),
        "{r2}"
    );
}

/// The fake R1 of [`a_bad_auth_signature_is_refused`] trusts anyone.
struct TrustAll;

impl ike::session::PeerCheck for TrustAll {
    fn check(
        &mut self,
        _id: &ike::auth::PeerId,
        peer: &x509_cert::Certificate,
        _untrusted: &[x509_cert::Certificate],
    ) -> Result<ike::auth::Chain, ike::auth::Refusal> {
        Ok(ike::auth::Chain(vec![peer.clone()]))
    }
}

#[test]
fn a_bad_auth_signature_is_refused() {
    use ike::session::{Event, IkeSa, State};
    use std::net::UdpSocket;
    // An impostor has R1's (public) certificate but not its key: it speaks
    // IKE to R2 from R1's address, presenting the certificate and signing
    // AUTH with a key of its own.
    let d = tempfile::tempdir().unwrap();
    let clock = Clock::frozen(NOW);
    let ca = start_ca(&d.path().join("ca"), &clock);
    let mut r2 = node(&d.path().join("r2"), clock.clone(), &ca, &r2_spec(9));
    let r1 = node_stopped(&d.path().join("r1"), clock.clone(), &ca, &r1_spec(9));
    let config = r1.r.shared().state().active.clone();
    let vpn = mtsim::vpn_config::vpns(&config).pop().unwrap();
    let ports = mtsim::iked::Ports::default();
    let mut cfg = mtsim::iked::local_config(r1.r.shared(), &vpn, ports).unwrap();
    cfg.key = std::sync::Arc::new(
        pki::key::KeyPair::generate(
            pki::key::KeySpec::new(pki::key::KeyAlgorithm::Rsa, 2048).unwrap(),
        )
        .unwrap(),
    );
    let local: std::net::SocketAddr = "127.0.9.1:500".parse().unwrap();
    let s500 = UdpSocket::bind(local).unwrap();
    let s4500 = UdpSocket::bind("127.0.9.1:4500").unwrap();
    for s in [&s500, &s4500] {
        s.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
    }
    let mut sa = IkeSa::initiate(cfg, local, "127.0.9.2:500".parse().unwrap(), NOW).unwrap();
    let mut told = false;
    for _ in 0..100 {
        for ev in sa.take_events() {
            match ev {
                Event::Send(t) if t.encap => {
                    let mut b = vec![0u8; 4];
                    b.extend_from_slice(&t.datagram);
                    s4500.send_to(&b, t.to).unwrap();
                }
                Event::Send(t) => {
                    s500.send_to(&t.datagram, t.to).unwrap();
                }
                Event::Closed(why) => told = why.contains("AUTHENTICATION_FAILED"),
                _ => {}
            }
        }
        if sa.state() == State::Closed {
            break;
        }
        let mut buf = vec![0u8; 65536];
        for (s, encap) in [(&s500, false), (&s4500, true)] {
            if let Ok((n, from)) = s.recv_from(&mut buf) {
                let m = if encap { &buf[4..n] } else { &buf[..n] };
                let _ = sa.handle(m, from, encap, &mut TrustAll, NOW);
            }
        }
    }
    assert!(told, "the impostor was answered AUTHENTICATION_FAILED");
    let show = r2.cli("show security ike");
    assert!(show.contains("Check: AUTH signature"), "{show}");
    assert!(
        show.contains("does not verify with the certificate's key"),
        "{show}"
    );
    assert_eq!(r2.tunnels(), 0, "nothing on R2's card");
}

/// The embedded CA and R1 and R2 (spec `n`) with their tunnel up and one
/// packet through it; the CA is returned so that it keeps serving.
fn carrying_traffic(dir: &Path, n: u8) -> (RunningCa, Node, Node) {
    let clock = Clock::frozen(NOW);
    let ca = start_ca(&dir.join("ca"), &clock);
    let mut r2 = node(&dir.join("r2"), clock.clone(), &ca, &r2_spec(n));
    let mut r1 = node(&dir.join("r1"), clock, &ca, &r1_spec(n));
    wait("the tunnel", || r1.tunnels() == 1 && r2.tunnels() == 1);
    ping(&r1, &mut r2, "198.51.100.1", "203.0.113.1", 1);
    (ca, r1, r2)
}

/// A router's kmd and its card's register window (for faults injected
/// behind the driver's back).
fn card_of(n: &Node) -> (mtsim::iked::Control, std::sync::Arc<dyn espic_hw::Mmio>) {
    let kmd = n.r.shared().kmd.get().unwrap().clone();
    let bar = kmd.card_registers();
    (kmd, bar)
}

#[test]
fn a_fatal_card_fault_during_traffic_is_recovered_by_rekeying() {
    use espic_hw::regs;
    let d = tempfile::tempdir().unwrap();
    let (_ca, mut r1, mut r2) = carrying_traffic(d.path(), 10);
    let before = r1.cli("show security ipsec security-associations");
    // Behind the driver's back: a command-ring doorbell past the ring's
    // end. The card stops with a fatal fault (FAULT_CODE CmdIndex).
    let (kmd, bar) = card_of(&r1);
    let size = bar.read32(regs::CMD_SIZE);
    bar.write32(regs::CMD_TAIL, size);
    wait("the card's fatal fault", || {
        bar.read32(regs::STATUS) & regs::status::FATAL != 0
    });
    // Traffic meets the stopped card: kmd resets it and IKE rekeys the
    // CHILD_SA it lost; traffic flows again on the new pair.
    let p = icmp_echo_v4(
        "198.51.100.1".parse().unwrap(),
        "203.0.113.1".parse().unwrap(),
        7,
        2,
        b"x",
    );
    r1.to_router.blocking_send(p).unwrap();
    wait("the card reset and the tunnel rekeyed", || {
        kmd.view().card_resets == 1
            && r1.tunnels() == 1
            && r2.tunnels() == 1
            && !r1
                .cli("show security ipsec security-associations")
                .contains(spi_of(&before))
    });
    while r2.from_router.try_recv().is_ok() {}
    ping(&r1, &mut r2, "198.51.100.1", "203.0.113.1", 3);
    ping(&r2, &mut r1, "203.0.113.1", "198.51.100.1", 3);
}

/// Stops a router (kmd deletes its SAs as it goes) and starts it again on
/// the same directory and clock, with a new inside.
fn restart(n: Node, dir: &Path, clock: &Clock) -> Node {
    drop(n);
    let r = Router::start(DataDir::new(dir), clock.clone(), Slot { fpc: 1, pic: 0 }).unwrap();
    let s = r.session("root");
    let (to_router, from_host) = mpsc::channel(256);
    let (to_host, from_router) = mpsc::channel(256);
    let mut n = Node {
        r,
        s,
        to_router,
        from_router,
        inside: Some(Inside::Channel { from_host, to_host }),
    };
    start(&mut n);
    n
}

#[test]
fn a_router_restarted_with_its_tunnel_up_keeps_everything_and_the_tunnel_returns() {
    let d = tempfile::tempdir().unwrap();
    let clock = Clock::frozen(NOW);
    let ca = start_ca(&d.path().join("ca"), &clock);
    let r2 = node(&d.path().join("r2"), clock.clone(), &ca, &r2_spec(11));
    let mut r1 = node(&d.path().join("r1"), clock.clone(), &ca, &r1_spec(11));
    wait("the tunnel", || r1.tunnels() == 1);
    let certs_before = r2.r.shared().pki().local_certificates().clone();
    let keys_before: Vec<String> = r2.r.shared().pki().key_pairs().keys().cloned().collect();
    let store_before = support::snapshot(&d.path().join("r2"));

    // R2 restarts: its IKE SA is deleted on the way down, R1 sees it go.
    let mut r2 = restart(r2, &d.path().join("r2"), &clock);
    wait("R1 without an SA", || r1.tunnels() == 0);
    // Nothing of R2's PKI store or configuration was lost.
    assert_eq!(r2.r.shared().pki().local_certificates(), &certs_before);
    let keys_after: Vec<String> = r2.r.shared().pki().key_pairs().keys().cloned().collect();
    assert_eq!(keys_after, keys_before);
    assert_eq!(support::snapshot(&d.path().join("r2")), store_before);
    let conf = r2.cli("show security ike security-associations");
    assert!(conf.contains("No IKE security associations"), "{conf}");

    // R1 tries again after its retry interval (simulated time) and the
    // tunnel comes back with traffic.
    clock.advance(Duration::from_secs(11));
    wait("the tunnel again", || {
        r1.tunnels() == 1 && r2.tunnels() == 1
    });
    ping(&r1, &mut r2, "198.51.100.1", "203.0.113.1", 1);
    ping(&r2, &mut r1, "203.0.113.1", "198.51.100.1", 1);
}

#[test]
fn the_ca_down_at_re_enrollment_leaves_the_tunnel_up_and_the_retry_renews() {
    const LIFETIME: u64 = 600;
    let d = tempfile::tempdir().unwrap();
    let clock = Clock::frozen(NOW);
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let ca = start_ca_at(
        &d.path().join("ca"),
        &clock,
        Duration::from_secs(LIFETIME),
        addr,
    );
    let mut r2 = node(&d.path().join("r2"), clock.clone(), &ca, &r2_spec(12));
    let mut r1 = node(&d.path().join("r1"), clock.clone(), &ca, &r1_spec(12));
    wait("the tunnel", || r1.tunnels() == 1 && r2.tunnels() == 1);
    let old = serial(&r1);
    r1.cli("configure");
    r1.cli("set security pki ca-profile ca1 enrollment retry 5 retry-interval 30");
    r1.cli("set security pki auto-re-enrollment scep certificate-id r1 ca-profile-name ca1 challenge-password s3cret-pw re-enroll-trigger-time-percentage 10");
    r1.cli("commit");
    r1.cli("exit");

    // The CA is down at the trigger time: the re-enrollment fails, the old
    // certificate stays, and the tunnel carries traffic as before.
    ca.stop().unwrap();
    clock.advance(Duration::from_secs(LIFETIME * 90 / 100));
    enroll::run_due(r1.r.shared());
    assert_eq!(serial(&r1), old);
    let show = r1.cli("show security pki local-certificate certificate-id r1 detail");
    assert!(show.contains("CA not reachable"), "{show}");
    ping(&r1, &mut r2, "198.51.100.1", "203.0.113.1", 1);
    assert_eq!((r1.tunnels(), r2.tunnels()), (1, 1));

    // The CA is back on its address: the retry renews, kmd reauthenticates.
    let _ca = start_ca_at(
        &d.path().join("ca"),
        &clock,
        Duration::from_secs(LIFETIME),
        addr,
    );
    clock.advance(Duration::from_secs(30));
    assert_eq!(enroll::run_due(r1.r.shared()), 1);
    let new = serial(&r1);
    assert_ne!(new, old);
    wait("the IKE SA with the renewed certificate", || {
        let d = r2.cli("show security ike security-associations detail");
        d.contains(&format!("(serial {new})")) && d.matches("State: UP").count() == 1
    });
    ping(&r1, &mut r2, "198.51.100.1", "203.0.113.1", 2);
}

#[test]
fn a_full_completion_ring_during_traffic_is_recovered() {
    use espic_hw::regs;
    let d = tempfile::tempdir().unwrap();
    let (_ca, mut r1, mut r2) = carrying_traffic(d.path(), 13);
    // Behind the driver's back: CPL_HEAD one past the card's tail, so the
    // completion ring looks full. The card stalls (CPL_FULL).
    let (kmd, bar) = card_of(&r1);
    let size = bar.read32(regs::CPL_SIZE);
    let tail = bar.read32(regs::CPL_TAIL);
    bar.write32(regs::CPL_HEAD, (tail + 1) % size);
    for seq in 2..6 {
        let p = icmp_echo_v4(
            "198.51.100.1".parse().unwrap(),
            "203.0.113.1".parse().unwrap(),
            7,
            seq,
            b"x",
        );
        r1.to_router.blocking_send(p).unwrap();
    }
    wait("traffic through R1's card again", || {
        while r2.from_router.try_recv().is_ok() {}
        let p = icmp_echo_v4(
            "198.51.100.1".parse().unwrap(),
            "203.0.113.1".parse().unwrap(),
            7,
            99,
            b"y",
        );
        r1.to_router.blocking_send(p).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        r2.from_router.try_recv().is_ok()
    });
    // The driver gave up on the stalled card after its stall timeout; kmd
    // reset it and IKE rekeyed the CHILD_SA.
    assert_eq!(kmd.view().card_resets, 1);
    ping(&r2, &mut r1, "203.0.113.1", "198.51.100.1", 3);
}

#[test]
fn a_flood_of_ike_sa_init_gets_cookies_and_the_real_peer_still_gets_through() {
    use ike::session::{Event, IkeSa};
    let d = tempfile::tempdir().unwrap();
    let clock = Clock::frozen(NOW);
    let ca = start_ca(&d.path().join("ca"), &clock);
    let mut r2 = node(&d.path().join("r2"), clock.clone(), &ca, &r2_spec(14));
    let mut r1 = node_stopped(&d.path().join("r1"), clock.clone(), &ca, &r1_spec(14));
    // 200 IKE_SA_INIT requests claiming R1's address, from other ports,
    // each with its own SPI and nonce, none ever followed by IKE_AUTH.
    let config = r1.r.shared().state().active.clone();
    let vpn = mtsim::vpn_config::vpns(&config).pop().unwrap();
    let cfg =
        mtsim::iked::local_config(r1.r.shared(), &vpn, mtsim::iked::Ports::default()).unwrap();
    let flood = std::net::UdpSocket::bind("127.0.14.1:0").unwrap();
    let local = flood.local_addr().unwrap();
    for _ in 0..200 {
        let mut sa =
            IkeSa::initiate(cfg.clone(), local, "127.0.14.2:500".parse().unwrap(), NOW).unwrap();
        for ev in sa.take_events() {
            if let Event::Send(t) = ev {
                flood.send_to(&t.datagram, t.to).unwrap();
            }
        }
    }
    let kmd = r2.r.shared().kmd.get().unwrap().clone();
    wait("cookies answering the flood", || {
        let v = kmd.view();
        v.cookies_sent + v.half_open as u64 >= 200
    });
    let v = kmd.view();
    assert!(
        v.half_open <= mtsim::iked::COOKIE_THRESHOLD,
        "half-open SAs stay bounded: {}",
        v.half_open
    );
    assert!(v.cookies_sent >= 190, "{} cookies", v.cookies_sent);
    // The real R1 answers the cookie and gets its tunnel.
    start(&mut r1);
    wait("the tunnel", || r1.tunnels() == 1 && r2.tunnels() == 1);
    ping(&r1, &mut r2, "198.51.100.1", "203.0.113.1", 1);
    // The half-open SAs go after their lifetime.
    clock.advance(ike::session::HALF_OPEN_LIFETIME + Duration::from_secs(1));
    wait("the half-open SAs gone", || kmd.view().half_open == 0);
    assert_eq!(r2.tunnels(), 1, "the real tunnel stays");
}

/// Log lines of every thread of this test process, for the bad-input test.
fn captured_log() -> &'static std::sync::Mutex<Vec<u8>> {
    static LOG: std::sync::OnceLock<std::sync::Mutex<Vec<u8>>> = std::sync::OnceLock::new();
    LOG.get_or_init(|| {
        struct W;
        impl std::io::Write for W {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                captured_log().lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let _ = tracing_subscriber::fmt()
            .with_writer(|| W)
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .try_init();
        std::sync::Mutex::new(Vec::new())
    })
}

#[test]
fn bad_ike_input_is_refused_or_dropped_with_a_log_line_and_kmd_keeps_serving() {
    use ike::session::{Event, IkeSa};
    use ike::wire::{Body, Payload, notify, parse_message};
    captured_log();
    let d = tempfile::tempdir().unwrap();
    let clock = Clock::frozen(NOW);
    let ca = start_ca(&d.path().join("ca"), &clock);
    let mut r2 = node(&d.path().join("r2"), clock.clone(), &ca, &r2_spec(15));
    let mut r1 = node_stopped(&d.path().join("r1"), clock.clone(), &ca, &r1_spec(15));
    let peer: std::net::SocketAddr = "127.0.15.2:500".parse().unwrap();
    let s = std::net::UdpSocket::bind("127.0.15.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let me = s.local_addr().unwrap();
    let answer = |bytes: &[u8]| -> Option<Vec<u8>> {
        s.send_to(bytes, peer).unwrap();
        let mut buf = vec![0u8; 4096];
        s.recv_from(&mut buf).ok().map(|(n, _)| buf[..n].to_vec())
    };
    let notify_of = |reply: &[u8]| match parse_message(reply).unwrap().body {
        Body::Plain(p) => match &p[0] {
            Payload::Notify(n) => n.kind,
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    };
    let header = |version: u8, flags: u8, len: u32| {
        let mut b = vec![0u8; 28];
        b[0..8].copy_from_slice(&0x1122_3344_5566_7788u64.to_be_bytes());
        b[17] = version;
        b[18] = 34;
        b[19] = flags;
        b[24..28].copy_from_slice(&len.to_be_bytes());
        b
    };
    // Truncated: dropped without an answer.
    assert_eq!(answer(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]), None);
    // A major version we do not speak: INVALID_MAJOR_VERSION in a 2.0 header.
    let r = answer(&header(0x30, 0x08, 28)).expect("an answer");
    assert_eq!(
        (r[17], notify_of(&r)),
        (0x20, notify::INVALID_MAJOR_VERSION)
    );
    // A length field that lies, and a payload chain that runs off the end:
    // INVALID_SYNTAX.
    let r = answer(&header(0x20, 0x08, 400)).expect("an answer");
    assert_eq!(notify_of(&r), notify::INVALID_SYNTAX);
    let mut broken = header(0x20, 0x08, 36);
    broken[16] = 33; // SA payload first
    broken.extend_from_slice(&[0, 0, 0, 200, 1, 2, 3, 4]);
    let r = answer(&broken).expect("an answer");
    assert_eq!(notify_of(&r), notify::INVALID_SYNTAX);
    // A response to nothing: dropped.
    assert_eq!(answer(&header(0x20, 0x20, 28)), None);
    // A replayed IKE_SA_INIT: answered again with the same response, one SA.
    let config = r1.r.shared().state().active.clone();
    let vpn = mtsim::vpn_config::vpns(&config).pop().unwrap();
    let cfg =
        mtsim::iked::local_config(r1.r.shared(), &vpn, mtsim::iked::Ports::default()).unwrap();
    let mut sa = IkeSa::initiate(cfg, me, peer, NOW).unwrap();
    let init = sa
        .take_events()
        .into_iter()
        .find_map(|e| match e {
            Event::Send(t) => Some(t.datagram),
            _ => None,
        })
        .unwrap();
    let first = answer(&init).expect("an answer");
    let again = answer(&init).expect("an answer");
    assert_eq!(
        first, again,
        "the retransmission is answered from the cache"
    );
    let kmd = r2.r.shared().kmd.get().unwrap().clone();
    assert_eq!(kmd.view().half_open, 1);
    // Every one of them left a line in kmd's log.
    let log = String::from_utf8_lossy(&captured_log().lock().unwrap()).into_owned();
    let mine: Vec<&str> = log
        .lines()
        .filter(|l| l.contains(&me.to_string()))
        .collect();
    assert!(
        mine.iter().filter(|l| l.contains("dropped")).count() >= 2,
        "{mine:#?}"
    );
    assert!(
        mine.iter()
            .filter(|l| l.contains("refused with an error notify"))
            .count()
            >= 3,
        "{mine:#?}"
    );
    // And kmd still serves the real peer.
    start(&mut r1);
    wait("the tunnel", || r1.tunnels() == 1 && r2.tunnels() == 1);
    ping(&r1, &mut r2, "198.51.100.1", "203.0.113.1", 1);
}

/// A router configured only the ES PIC way, at `addr`, for the peer at
/// `peer`: its key pair from `request security key-pair`, the CA
/// certificate and its local certificate (`alternative-subject` = its
/// address) from `request security certificate enroll` against the
/// embedded CA's SCEP URL, `security certificates certification-authority`
/// and `security ike policy <peer>` with `rsa-signatures`. Beside it, a
/// policy kmd cannot serve (pre-shared keys) and a proposal it cannot run
/// (group 2, 3DES). kmd is not started.
fn es_pic_node(dir: &Path, clock: Clock, ca: &RunningCa, addr: &str, peer: &str) -> Node {
    let r = Router::start(DataDir::new(dir), clock, Slot { fpc: 1, pic: 0 }).unwrap();
    let mut s = r.session("root");
    let url = ca.scep_url();
    for l in [
        "configure".to_string(),
        format!(
            "set security certificates certification-authority ca1 ca-name ca1 enrollment-url {url}"
        ),
        "commit".into(),
        "exit".into(),
        "request security key-pair b-key size 2048".into(),
        format!(
            "request security certificate enroll filename ca1.der ca-file ca1 ca-name ca1 url {url}"
        ),
        format!(
            "request security certificate enroll filename b-cert.pem subject \"CN=r2.example.net,O=Example\" \
             alternative-subject {addr} certification-authority ca1 encoding pem key-file b-key \
             domain-name r2.example.net password s3cret-pw"
        ),
    ] {
        ok(&r, &mut s, &l);
    }
    assert_eq!(enroll::run_due(r.shared()), 1);
    for l in [
        "configure".to_string(),
        "set security certificates certification-authority ca1 file ca1.der".into(),
        "set security ike proposal es-3des authentication-method rsa-signatures dh-group group2 authentication-algorithm sha1 encryption-algorithm 3des-cbc".into(),
        "set security ike proposal es-rsa authentication-method rsa-signatures dh-group group14 authentication-algorithm sha1 encryption-algorithm aes-128-cbc".into(),
        format!("set security ike policy {peer} proposals [ es-3des es-rsa ]"),
        format!("set security ike policy {peer} local-certificate b-cert.pem local-key-pair b-key encoding pem"),
        "set security ike proposal psk authentication-method pre-shared-keys dh-group group14 authentication-algorithm sha1 encryption-algorithm aes-128-cbc".into(),
        "set security ike policy 192.0.2.77 proposals psk pre-shared-key t0p-s3cret-psk".into(),
        "commit".into(),
        "exit".into(),
    ] {
        ok(&r, &mut s, &l);
    }
    let (to_router, from_host) = mpsc::channel(256);
    let (to_host, from_router) = mpsc::channel(256);
    Node {
        r,
        s,
        to_router,
        from_router,
        inside: Some(Inside::Channel { from_host, to_host }),
    }
}

/// The modern router of an ES PIC pair: [`node_stopped`], expecting the ES
/// PIC router's address as its identity (what its certificate carries).
fn modern_for_es_pic(dir: &Path, clock: Clock, ca: &RunningCa, sp: &Spec) -> Node {
    let mut n = node_stopped(dir, clock, ca, sp);
    n.cli("configure");
    n.cli("delete security ike gateway gw remote-identity");
    n.cli(&format!(
        "set security ike gateway gw remote-identity inet {}",
        sp.peer
    ));
    n.cli("commit");
    n.cli("exit");
    n
}

/// What both ES PIC tests check of the ES PIC side once the tunnel is up.
fn es_pic_side_is_right(b: &mut Node, a_addr: &str, dir: &Path) {
    let ike = b.cli("show security ike security-associations detail");
    assert!(
        ike.contains(&format!("Gateway Name: {a_addr}")) && ike.contains("State: UP"),
        "{ike}"
    );
    assert!(ike.contains("Peer ike-id: fqdn:r1.example.net"), "{ike}");
    // What kmd could not use is said, and no secret with it.
    assert!(
        ike.contains("warning: ike policy 192.0.2.77: pre-shared keys are not implemented by kmd"),
        "{ike}"
    );
    assert!(
        ike.contains("proposal es-3des: dh-group group2 is not implemented")
            && ike.contains("left out"),
        "{ike}"
    );
    assert!(!ike.contains("t0p-s3cret-psk"), "{ike}");
    let sas = b.cli("show security ipsec security-associations detail");
    assert!(
        sas.contains(&format!("VPN Name: es-pic-{a_addr}"))
            && sas.contains("Authentication: hmac-sha1-96, Encryption: aes-cbc (128 bits)"),
        "{sas}"
    );
    let auth = b.cli("show security ike");
    assert!(
        auth.contains(&format!("Gateway: {a_addr}"))
            && auth.contains(&format!(
                "Check: ES PIC ike policy {a_addr}: the certificate carries ipv4:{a_addr} as an iPAddress, and the peer's IKE identity fqdn:r1.example.net"
            ))
            && auth.contains("Result: accepted"),
        "{auth}"
    );
    // The ES PIC files are in the simulated /var/etc/ikecert, and the
    // store takes them as such.
    for f in ["b-key", "ca1.der", "b-cert.pem"] {
        assert!(dir.join("ikecert").join(f).is_file(), "{f}");
        assert!(!dir.join("home").join(f).exists(), "{f}");
    }
    let scan = b.r.shared().pki().store().scan();
    assert!(scan.foreign.is_empty(), "{:?}", scan.foreign);
    let files: Vec<&str> = scan.files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(files, ["b-cert.pem", "b-key", "ca1.der"]);
}

#[test]
fn a_peer_configured_the_es_pic_way_answers_and_the_tunnel_carries_traffic() {
    let d = tempfile::tempdir().unwrap();
    let clock = Clock::frozen(NOW);
    let ca = start_ca(&d.path().join("ca"), &clock);
    let (a_addr, b_addr) = ("127.0.16.1", "127.0.16.2");
    let mut b = es_pic_node(&d.path().join("r2"), clock.clone(), &ca, b_addr, a_addr);
    start(&mut b);
    let mut a = modern_for_es_pic(&d.path().join("r1"), clock.clone(), &ca, &r1_spec(16));
    start(&mut a);
    wait("the tunnel on both routers", || {
        a.tunnels() == 1 && b.tunnels() == 1
    });

    // The modern side initiated and authenticated B by the address in its
    // certificate.
    let detail = a.cli("show security ike security-associations detail");
    assert!(
        detail.contains("Role: Initiator, State: UP")
            && detail.contains(&format!("Peer ike-id: ipv4:{b_addr}")),
        "{detail}"
    );
    let brief = b.cli("show security ike security-associations");
    assert!(brief.contains("UP") && brief.contains(a_addr), "{brief}");
    let detail = b.cli("show security ike security-associations detail");
    assert!(detail.contains("Role: Responder, State: UP"), "{detail}");
    es_pic_side_is_right(&mut b, a_addr, &d.path().join("r2"));

    for seq in 1..=3 {
        ping(&a, &mut b, "198.51.100.1", "203.0.113.1", seq);
        ping(&b, &mut a, "203.0.113.1", "198.51.100.1", seq);
    }
    wait("3 packets each way on B's card", || {
        let sas = b.cli("show security ipsec security-associations detail");
        sas.matches("Packets: 3,").count() == 2
    });
}

#[test]
fn an_es_pic_router_starts_the_tunnel_when_traffic_needs_it() {
    let d = tempfile::tempdir().unwrap();
    let clock = Clock::frozen(NOW);
    let ca = start_ca(&d.path().join("ca"), &clock);
    let (a_addr, b_addr) = ("127.0.17.1", "127.0.17.2");
    let mut spec = r1_spec(17);
    spec.initiates = false;
    let mut a = modern_for_es_pic(&d.path().join("r1"), clock.clone(), &ca, &spec);
    start(&mut a);
    let mut b = es_pic_node(&d.path().join("r2"), clock.clone(), &ca, b_addr, a_addr);
    start(&mut b);
    // Neither side starts on its own.
    assert_eq!((a.tunnels(), b.tunnels()), (0, 0));
    // A packet on B's inside for A's side: B initiates (the packet that
    // found no SA is dropped, as on a real router).
    let first = icmp_echo_v4(
        "203.0.113.1".parse().unwrap(),
        "198.51.100.1".parse().unwrap(),
        7,
        0,
        b"wake up",
    );
    b.to_router.blocking_send(first).unwrap();
    wait("the tunnel B started", || {
        a.tunnels() == 1 && b.tunnels() == 1
    });
    let detail = b.cli("show security ike security-associations detail");
    assert!(detail.contains("Role: Initiator, State: UP"), "{detail}");
    es_pic_side_is_right(&mut b, a_addr, &d.path().join("r2"));
    let a_side = a.cli("show security ike");
    assert!(
        a_side.contains(&format!("ipv4:{b_addr}")) && a_side.contains("Result: accepted"),
        "{a_side}"
    );
    while a.from_router.try_recv().is_ok() {}
    ping(&b, &mut a, "203.0.113.1", "198.51.100.1", 1);
    ping(&a, &mut b, "198.51.100.1", "203.0.113.1", 1);
}

#[test]
fn an_es_pic_policy_refuses_a_peer_whose_certificate_lacks_its_identity() {
    // B's policy for A names an identity A's certificate does not hold:
    // the ES PIC check refuses A, nothing reaches either card, and B's
    // `show security ike` names the check.
    let d = tempfile::tempdir().unwrap();
    let clock = Clock::frozen(NOW);
    let ca = start_ca(&d.path().join("ca"), &clock);
    let (a_addr, b_addr) = ("127.0.18.1", "127.0.18.2");
    let mut b = es_pic_node(&d.path().join("r2"), clock.clone(), &ca, b_addr, a_addr);
    b.cli("configure");
    b.cli(&format!(
        "set security ike policy {a_addr} identity fqdn:someone-else.example.net"
    ));
    b.cli("commit");
    b.cli("exit");
    start(&mut b);
    let mut a = modern_for_es_pic(&d.path().join("r1"), clock.clone(), &ca, &r1_spec(18));
    start(&mut a);
    wait("B's refusal", || {
        b.cli("show security ike").contains("refused")
    });
    wait("A told of it", || {
        a.cli("show security ike").contains("AUTHENTICATION_FAILED")
    });
    let show = b.cli("show security ike");
    assert!(
        show.contains(&format!("Gateway: {a_addr}"))
            && show.contains("fqdn:someone-else.example.net")
            && show.contains("Check: identity (subjectAltName)")
            && show.contains("Result: refused"),
        "{show}"
    );
    assert_eq!((a.tunnels(), b.tunnels()), (0, 0));
}

#[test]
fn dma_errors_during_traffic_drop_only_their_packets_and_the_sas_stay() {
    use espic_hw::regs;
    let d = tempfile::tempdir().unwrap();
    let (_ca, mut r1, mut r2) = carrying_traffic(d.path(), 19);
    let before = r1.cli("show security ipsec security-associations");
    // The card's error injection: the next two transforms on R1's card
    // fail as if their DMA read had failed.
    let (kmd, bar) = card_of(&r1);
    let faults = bar.read64(regs::CNT_DMA_FAULT);
    bar.write32(regs::ERR_INJECT, 2);
    for seq in [2, 3] {
        let p = icmp_echo_v4(
            "198.51.100.1".parse().unwrap(),
            "203.0.113.1".parse().unwrap(),
            7,
            seq,
            b"lost",
        );
        r1.to_router.blocking_send(p).unwrap();
    }
    // The next packet is the first to arrive: the two before it were
    // dropped on R1's card, and nothing else happened.
    ping(&r1, &mut r2, "198.51.100.1", "203.0.113.1", 4);
    assert_eq!(bar.read64(regs::CNT_DMA_FAULT) - faults, 2);
    assert_eq!(bar.read32(regs::ERR_INJECT), 0);
    assert_eq!(
        kmd.view().card_resets,
        0,
        "a DMA error is not a reason to reset"
    );
    assert_eq!(
        r1.cli("show security ipsec security-associations"),
        before,
        "the same SAs"
    );
    ping(&r2, &mut r1, "203.0.113.1", "198.51.100.1", 5);
}
