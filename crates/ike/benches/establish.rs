//! IKEv2 establishments per second: IKE_SA_INIT + IKE_AUTH with
//! certificates and the first CHILD_SA, between two [`IkeSa`]s of the
//! sans-I/O state machine exchanging datagrams in memory (the code two
//! mtsim routers run; the daemon adds only UDP sockets and the card).
//!
//! Group `ike_sa_establishment`, one element = one establishment:
//!
//! - `rsa2048_g14_aes128_sha1`: RSA-2048 certificates, MODP-2048,
//!   AES-CBC-128 / HMAC-SHA1-96 / PRF-HMAC-SHA1 (the interop suite);
//! - `p256_g19_aes256_sha256`: ECDSA P-256 certificates, ECP-256,
//!   AES-CBC-256 / HMAC-SHA-256-128 / PRF-HMAC-SHA-256;
//! - `baseline_pk/*`: the public-key operations of one establishment of
//!   that variant alone (2 DH key generations, 2 DH shared secrets, 2 AUTH
//!   signatures, 2 AUTH verifications), through the crate's crypto API;
//! - `baseline_pk_dh/*`: the Diffie-Hellman part of that alone;
//! - `baseline_chain/*`: the two certificate checks of one establishment
//!   alone (`ike::auth::authenticate`, one certificate signature each).
//!
//! The workspace has no criterion (see `crates/ca/benches/enroll.rs`):
//! this is a `harness = false` bench with a criterion-shaped report: 10
//! samples after a warm-up, time per establishment as
//! `[min median max]` and the throughput of the median.
//!
//! `cargo bench -p ike --bench establish` (`-- --quick` for a short run,
//! `-- FILTER` for the benches whose name contains FILTER).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // benchmark code
#![allow(clippy::disallowed_methods)] // a benchmark measures host time

use std::hint::black_box;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use espic_driver::{Cipher, Integrity};
use ike::auth::{self, Chain, PeerId, Policy, Refusal, RevocationMode, StaticCrls};
use ike::crypto::{
    AuthSigner, DhGroup, DhSecret, Encr, IkeSuite, Integ, Prf, SIGNATURE_HASHES, choose_signer,
    sign_auth, verify_auth,
};
use ike::session::{
    EspSuite, Event, IkeSa, LocalConfig, PeerCheck, Ports, Retransmit, State, identification,
};
use ike::wire::TrafficSelector;
use pki::altname::AltNames;
use pki::issue::{CertProfile, issue, random_serial, validity};
use pki::key::{KeyAlgorithm, KeyPair, KeySpec};
use sha1::{Digest, Sha1};
use spki::SubjectPublicKeyInfoOwned;
use x509_cert::Certificate;

/// The validation time: inside every certificate's validity.
const NOW: u64 = 1_700_000_000;
const DAY: u64 = 86_400;

const A: &str = "192.0.2.1";
const B: &str = "192.0.2.2";

/// The daemon's PeerCheck, less CRLs: the chain to the root and the
/// identity against the subjectAltName.
struct Check {
    root: Certificate,
}

impl PeerCheck for Check {
    fn check(
        &mut self,
        id: &PeerId,
        peer: &Certificate,
        untrusted: &[Certificate],
    ) -> Result<Chain, Refusal> {
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

/// One variant: a root CA, two routers' certificates and configurations.
struct Variant {
    name: &'static str,
    root: Certificate,
    a: LocalConfig,
    b: LocalConfig,
    ee_a: Certificate,
    ee_b: Certificate,
    spki_a: SubjectPublicKeyInfoOwned,
    spki_b: SubjectPublicKeyInfoOwned,
    group: DhGroup,
}

fn key(alg: KeyAlgorithm) -> KeyPair {
    let bits = match alg {
        KeyAlgorithm::Rsa => 2048,
        _ => 256,
    };
    KeyPair::generate(KeySpec::new(alg, bits).unwrap()).unwrap()
}

/// A certificate for `subject_key`, by `issuer` (None: a self-signed root).
fn cert(
    subject: &str,
    dns: &[&str],
    subject_key: &KeyPair,
    issuer: Option<(&Certificate, &KeyPair)>,
) -> Certificate {
    let mut profile = CertProfile::end_entity(
        subject.parse().unwrap(),
        AltNames {
            dns: dns.iter().map(|d| d.to_string()).collect(),
            ..Default::default()
        },
        subject_key.spec().algorithm,
    );
    if issuer.is_none() {
        profile.ca = Some(None);
    }
    profile.issuer = issuer.map(|(c, _)| c.tbs_certificate().subject().clone());
    let signing = issuer.map_or(subject_key, |(_, k)| k);
    let v = validity(
        Duration::from_secs(NOW - DAY),
        Duration::from_secs(NOW + 365 * DAY),
    )
    .unwrap();
    issue(
        profile,
        random_serial(),
        v,
        subject_key.public_key_info().unwrap(),
        signing,
        signing.default_hash(),
    )
    .unwrap()
}

impl Variant {
    fn new(name: &'static str, alg: KeyAlgorithm, ike: IkeSuite, esp: EspSuite) -> Variant {
        let root_key = key(alg);
        let root = cert("CN=Bench Root,O=Example", &[], &root_key, None);
        let certreq = {
            let spki = der::Encode::to_der(root.tbs_certificate().subject_public_key_info());
            vec![<[u8; 20]>::from(Sha1::digest(spki.unwrap()))]
        };
        // As sim/src/iked/gateway.rs builds it: our certificate only, the
        // CERTREQ of the CAs we trust, fragments of 1280, forced NAT-T.
        let router = |fqdn: &str, ts_l: &str, ts_r: &str| {
            let k = key(alg);
            let ee = cert(
                &format!("CN={fqdn},O=Example"),
                &[fqdn],
                &k,
                Some((&root, &root_key)),
            );
            let cfg = LocalConfig {
                id: identification(&PeerId::Fqdn(fqdn.into())).unwrap(),
                certs: vec![der::Encode::to_der(&ee).unwrap()],
                key: Arc::new(k),
                ike_suites: vec![ike],
                esp_suites: vec![esp],
                pfs: None,
                local_ts: TrafficSelector::host(ts_l.parse().unwrap()),
                remote_ts: TrafficSelector::host(ts_r.parse().unwrap()),
                remote_id: None,
                certreq: certreq.clone(),
                fragment_size: 1280,
                force_encap: true,
                child_lifetime: Duration::from_secs(3600),
                child_lifetime_bytes: 0,
                retransmit: Retransmit::default(),
                dpd: None,
                ports: Ports::default(),
            };
            (cfg, ee)
        };
        let (a, ee_a) = router("a.example.net", "198.51.100.1", "203.0.113.1");
        let (b, ee_b) = router("b.example.net", "203.0.113.1", "198.51.100.1");
        Variant {
            name,
            spki_a: a.key.public_key_info().unwrap(),
            spki_b: b.key.public_key_info().unwrap(),
            root,
            a,
            b,
            ee_a,
            ee_b,
            group: ike.dh,
        }
    }
}

fn addr(host: &str, encap: bool) -> SocketAddr {
    let ports = Ports::default();
    SocketAddr::new(
        host.parse().unwrap(),
        if encap { ports.nat_t } else { ports.ike },
    )
}

/// The datagrams in `events` (with their encapsulation); anything that
/// says the establishment failed panics.
fn sends(events: Vec<Event>) -> Vec<(Vec<u8>, bool)> {
    let mut out = Vec::new();
    for e in events {
        match e {
            Event::Send(t) => out.push((t.datagram, t.encap)),
            Event::Refused { refusal, .. } => panic!("refused: {refusal}"),
            Event::Closed(why) => panic!("closed: {why}"),
            Event::ChildDown { reason, .. } => panic!("CHILD_SA down: {reason}"),
            // The daemon would program the ChildUp onto the card.
            Event::Authenticated(_) | Event::Established | Event::ChildUp(_) => {}
        }
    }
    out
}

/// One complete establishment: A initiates, B responds, datagrams go
/// back and forth in memory until both are established with their
/// CHILD_SA. `wire` (when given) gets each datagram's direction and size.
fn establish(
    v: &Variant,
    ca: &mut Check,
    cb: &mut Check,
    mut wire: Option<&mut Vec<String>>,
) -> (IkeSa, IkeSa) {
    let now = Duration::from_secs(NOW);
    let mut a = IkeSa::initiate(v.a.clone(), addr(A, false), addr(B, false), now).unwrap();
    let mut b: Option<IkeSa> = None;
    for _ in 0..8 {
        let to_b = sends(a.take_events());
        for (d, encap) in to_b {
            if let Some(w) = wire.as_deref_mut() {
                w.push(format!("A→B {}", d.len()));
            }
            match &mut b {
                None => {
                    b = Some(
                        IkeSa::respond_init(v.b.clone(), addr(B, encap), addr(A, encap), &d, now)
                            .unwrap(),
                    );
                }
                Some(b) => b.handle(&d, addr(A, encap), encap, cb, now).unwrap(),
            }
        }
        let Some(sb) = &mut b else {
            panic!("A sent no IKE_SA_INIT")
        };
        let to_a = sends(sb.take_events());
        if to_a.is_empty() {
            break;
        }
        for (d, encap) in to_a {
            if let Some(w) = wire.as_deref_mut() {
                w.push(format!("B→A {}", d.len()));
            }
            a.handle(&d, addr(B, encap), encap, ca, now).unwrap();
        }
    }
    let b = b.unwrap();
    assert_eq!(
        (a.state(), b.state()),
        (State::Established, State::Established)
    );
    assert_eq!((a.children().len(), b.children().len()), (1, 1));
    (a, b)
}

/// The public-key operations of one establishment, as the state machine
/// does them: each side's DH key pair and shared secret, each side's AUTH
/// signature (method 14 with SHA-256, as both announce
/// SIGNATURE_HASH_ALGORITHMS) and its verification by the other.
struct PkOps<'a> {
    v: &'a Variant,
    how_a: AuthSigner,
    how_b: AuthSigner,
    /// About the size of what AUTH signs (the IKE_SA_INIT message, a
    /// nonce and a PRF output).
    octets: Vec<u8>,
}

impl<'a> PkOps<'a> {
    fn new(v: &'a Variant) -> Self {
        let hashes = SIGNATURE_HASHES.as_slice();
        PkOps {
            v,
            how_a: choose_signer(&v.a.key, Some(hashes)),
            how_b: choose_signer(&v.b.key, Some(hashes)),
            octets: (0..600u32).map(|i| (i * 7) as u8).collect(),
        }
    }

    fn run(&self) {
        self.dh();
        let (ma, sa) = sign_auth(&self.v.a.key, self.how_a, &self.octets).unwrap();
        let (mb, sb) = sign_auth(&self.v.b.key, self.how_b, &self.octets).unwrap();
        verify_auth(&self.v.spki_a, ma, &sa, &self.octets).unwrap();
        verify_auth(&self.v.spki_b, mb, &sb, &self.octets).unwrap();
    }

    /// The Diffie-Hellman part alone.
    fn dh(&self) {
        let (xa, pa) = DhSecret::generate(self.v.group).unwrap();
        let (xb, pb) = DhSecret::generate(self.v.group).unwrap();
        let ka = xa.shared(&pb).unwrap();
        let kb = xb.shared(&pa).unwrap();
        assert_eq!(*ka, *kb);
    }
}

// ---- a criterion-shaped harness --------------------------------------------

struct Config {
    sample_size: usize,
    warm_up: Duration,
    measurement: Duration,
    filter: Option<String>,
}

/// What one bench measured: seconds per element, sorted.
struct Measured {
    id: String,
    per_elem: Vec<f64>,
}

impl Measured {
    fn median(&self) -> f64 {
        let s = &self.per_elem;
        let n = s.len();
        if n % 2 == 1 {
            s[n / 2]
        } else {
            (s[n / 2 - 1] + s[n / 2]) / 2.0
        }
    }
}

fn fmt_time(s: f64) -> String {
    if s >= 1.0 {
        format!("{s:.3} s")
    } else if s >= 1e-3 {
        format!("{:.3} ms", s * 1e3)
    } else {
        format!("{:.3} µs", s * 1e6)
    }
}

/// Warms `f` up, then takes `sample_size` samples of enough iterations to
/// fill the measurement time; one iteration is one element.
fn bench(cfg: &Config, group: &str, id: &str, mut f: impl FnMut()) -> Option<Measured> {
    let id = format!("{group}/{id}");
    if cfg
        .filter
        .as_ref()
        .is_some_and(|w| !id.contains(w.as_str()))
    {
        return None;
    }
    let start = Instant::now();
    let mut warm = 0u64;
    while warm == 0 || start.elapsed() < cfg.warm_up {
        f();
        warm += 1;
    }
    let per = start.elapsed().as_secs_f64() / warm as f64;
    let budget = cfg.measurement.as_secs_f64() / cfg.sample_size as f64;
    let iters = ((budget / per) as u64).max(1);
    let mut per_elem: Vec<f64> = (0..cfg.sample_size)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..iters {
                f();
            }
            t.elapsed().as_secs_f64() / iters as f64
        })
        .collect();
    per_elem.sort_by(f64::total_cmp);
    let m = Measured { id, per_elem };
    let (lo, hi) = (m.per_elem[0], m.per_elem[m.per_elem.len() - 1]);
    println!("{}", m.id);
    println!(
        "                        time:   [{} {} {}]",
        fmt_time(lo),
        fmt_time(m.median()),
        fmt_time(hi)
    );
    println!(
        "                        thrpt:  [{:.2} elem/s {:.2} elem/s {:.2} elem/s]",
        1.0 / hi,
        1.0 / m.median(),
        1.0 / lo
    );
    println!(
        "                        ({} samples x {iters} iterations, [min median max])",
        cfg.sample_size
    );
    Some(m)
}

fn main() {
    let mut quick = false;
    let mut filter = None;
    for a in std::env::args().skip(1) {
        match a.as_str() {
            "--quick" => quick = true,
            s if s.starts_with('-') => {} // --bench and criterion's flags
            s => filter = Some(s.to_string()),
        }
    }
    let cfg = Config {
        sample_size: 10,
        warm_up: Duration::from_secs(1),
        measurement: Duration::from_secs(if quick { 1 } else { 3 }),
        filter,
    };

    // Keys and certificates are made before any clock starts.
    let variants = [
        Variant::new(
            "rsa2048_g14_aes128_sha1",
            KeyAlgorithm::Rsa,
            IkeSuite {
                encr: Encr::AesCbc128,
                prf: Prf::HmacSha1,
                integ: Integ::HmacSha1_96,
                dh: DhGroup::Modp2048,
            },
            EspSuite {
                cipher: Cipher::Aes128Cbc,
                integrity: Integrity::HmacSha1_96,
            },
        ),
        Variant::new(
            "p256_g19_aes256_sha256",
            KeyAlgorithm::Ecdsa,
            IkeSuite {
                encr: Encr::AesCbc256,
                prf: Prf::HmacSha256,
                integ: Integ::HmacSha256_128,
                dh: DhGroup::Ecp256,
            },
            EspSuite {
                cipher: Cipher::Aes256Cbc,
                integrity: Integrity::HmacSha256_128,
            },
        ),
    ];

    let group = "ike_sa_establishment";
    println!("{group}: one element = one establishment (single thread; the machine has 2 cores)");
    let mut rows = Vec::new();
    for v in &variants {
        let mut ca = Check {
            root: v.root.clone(),
        };
        let mut cb = Check {
            root: v.root.clone(),
        };
        let mut wire = Vec::new();
        establish(v, &mut ca, &mut cb, Some(&mut wire));
        println!("{}: datagrams {}", v.name, wire.join(", "));
        let full = bench(&cfg, group, v.name, || {
            black_box(establish(v, &mut ca, &mut cb, None));
        });
        let pk_ops = PkOps::new(v);
        let pk = bench(&cfg, group, &format!("baseline_pk/{}", v.name), || {
            pk_ops.run()
        });
        let dh = bench(&cfg, group, &format!("baseline_pk_dh/{}", v.name), || {
            pk_ops.dh()
        });
        let chain = bench(&cfg, group, &format!("baseline_chain/{}", v.name), || {
            let id_a = PeerId::Fqdn("a.example.net".into());
            let id_b = PeerId::Fqdn("b.example.net".into());
            black_box(cb.check(&id_a, &v.ee_a, &[]).unwrap());
            black_box(ca.check(&id_b, &v.ee_b, &[]).unwrap());
        });
        rows.push((v.name, full, pk, dh, chain));
    }

    println!();
    println!("summary (medians; per establishment)");
    println!(
        "  {:<24} {:>9} {:>22} {:>22} {:>22}",
        "variant", "estab./s", "public-key ops", "of which DH", "cert checks"
    );
    for (name, full, pk, dh, chain) in &rows {
        let Some(full) = full else { continue };
        let t = full.median();
        let part = |m: &Option<Measured>| {
            m.as_ref().map_or("-".to_string(), |m| {
                format!("{} ({:.0} %)", fmt_time(m.median()), 100.0 * m.median() / t)
            })
        };
        println!(
            "  {name:<24} {:>9.1} {:>22} {:>22} {:>22}",
            1.0 / t,
            part(pk),
            part(dh),
            part(chain)
        );
    }
}
