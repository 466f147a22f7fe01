//! `mtsim lab`: the whole lifecycle on one machine. The embedded CA, two
//! M/T routers (R1, R2) each with its ES PIC, driven through their Junos
//! CLIs: key pairs, CA profiles, the CA certificate over SCEP, R1's
//! certificate over SCEP and R2's over CMPv2, IKE gateways with FQDN and IP
//! identities, IKE and IPsec SAs on both cards, traffic with the card
//! counters, the clock moved so that automatic re-enrollment renews both
//! certificates and the tunnel reauthenticates with them without dropping
//! traffic, and a revoked certificate refused. Every step is checked; the
//! run succeeds only if all of them did what they should.
//!
//! With an outside CA ([`Options::outside`]) both routers enroll over
//! CMPv2 there (each at its own URL if given), and the steps that need a CA
//! the lab controls (renewal, revocation) are skipped with the reason. Key
//! pairs imported from files ([`Options::keys`]) and fixed addresses
//! ([`Options::addresses`]) let certificates be made beforehand, which is
//! what OpenSSL's CMP mock server needs: it answers every request with one
//! certificate (`scripts/lab-openssl-cmp-mock.sh`).

use std::fmt::Write as _;
use std::io::IsTerminal;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ca::authority::{Challenge, Settings};
use ca::server::{RunningCa, ServeConfig};
use ca::state::Reason;
use cli::command::Terminal;
use simclock::Clock;
use tokio::sync::mpsc;

use crate::chassis::Slot;
use crate::datadir::DataDir;
use crate::iked::{Inside, Ports};
use crate::router::{Router, Session};

/// The networks behind them.
const R1_INSIDE: &str = "198.51.100.1";
const R2_INSIDE: &str = "203.0.113.1";
/// The embedded CA's challenge password and CMP shared secret (lab only).
const CHALLENGE: &str = "lab-challenge";
const CMP_REFERENCE: &str = "3078";
const CMP_SECRET: &str = "lab-cmp-secret";
/// Certificates of one day: re-enrollment at 10 % left is 21 h 36 min on.
const CERT_LIFETIME: u64 = 86_400;

/// An outside CA instead of the embedded one.
#[derive(Debug, Clone)]
pub struct OutsideCa {
    /// Its CMP URL (both routers enroll over CMPv2 there, unless R2 has
    /// its own URL).
    pub cmp_url: String,
    /// R2's CMP URL when it is not `cmp_url` (e.g. one OpenSSL mock
    /// server per router, each answering with that router's certificate).
    pub r2_cmp_url: Option<String>,
    /// The CMP reference number of the shared secret.
    pub reference: String,
    /// The shared secret.
    pub secret: String,
    /// The CA's subject (Junos form), the recipient of the requests.
    pub ca_dn: String,
}

/// How the lab runs.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Where the routers and the CA keep their files (a temporary
    /// directory when `None`).
    pub dir: Option<PathBuf>,
    /// Print the report as JSON (and nothing else on stdout).
    pub json: bool,
    /// Use this CA instead of the embedded one.
    pub outside: Option<OutsideCa>,
    /// Import R1's and R2's key pairs from `DIR/r1.key` and `DIR/r2.key`
    /// (PEM or DER private keys as openssl writes them) instead of
    /// generating them, so that certificates can be made for them
    /// beforehand.
    pub keys: Option<PathBuf>,
    /// R1's and R2's addresses (loopback) instead of the free pair the lab
    /// picks, so that certificates made beforehand can carry them.
    pub addresses: Option<(Ipv4Addr, Ipv4Addr)>,
}

/// One step of the scenario.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Step {
    /// What it does.
    pub name: String,
    /// `pass`, `fail` or `skipped`.
    pub result: &'static str,
    /// What it found (or why it failed).
    pub detail: String,
}

/// What the lab did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// Every step passed (or was skipped for a reason given).
    pub ok: bool,
}

/// One router of the lab.
pub struct Node {
    /// Its name (r1, r2).
    pub name: &'static str,
    /// The router.
    pub router: Router,
    session: Session,
    to_router: mpsc::Sender<Vec<u8>>,
    from_router: mpsc::Receiver<Vec<u8>>,
}

/// The CLI's output for the transcript.
#[derive(Default)]
struct Capture {
    out: String,
    answers: Vec<String>,
}

impl Terminal for Capture {
    fn print(&mut self, text: &str) {
        self.out.push_str(text);
    }

    fn ask(&mut self, question: &str) -> Option<String> {
        self.out.push_str(question);
        let a = (!self.answers.is_empty()).then(|| self.answers.remove(0));
        if let Some(a) = &a {
            self.out.push_str(a);
            self.out.push('\n');
        }
        a
    }
}

/// A spinner on stderr while a long step runs, when stderr is a terminal.
struct Progress {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Progress {
    fn start(what: &str) -> Progress {
        let stop = Arc::new(AtomicBool::new(false));
        if !std::io::stderr().is_terminal() {
            return Progress { stop, thread: None };
        }
        let (s, what) = (Arc::clone(&stop), what.to_string());
        let thread = std::thread::spawn(move || {
            const FRAMES: [char; 4] = ['|', '/', '-', '\\'];
            let mut i = 0;
            while !s.load(Ordering::Relaxed) {
                eprint!("\r{} {what}...", FRAMES[i % 4]);
                i += 1;
                std::thread::sleep(Duration::from_millis(120));
            }
            eprint!("\r{}\r", " ".repeat(what.len() + 6));
        });
        Progress {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The running lab.
pub struct Lab {
    opts: Options,
    clock: Clock,
    ca: Option<RunningCa>,
    /// R1.
    pub r1: Node,
    /// R2.
    pub r2: Node,
    addr1: String,
    addr2: String,
    steps: Vec<Step>,
    _tmp: Option<tempfile::TempDir>,
}

impl Lab {
    fn say(&self, text: &str) {
        if !self.opts.json {
            println!("{text}");
        }
    }

    /// Runs `line` on a router, printing it and its output; the output.
    fn cli(&mut self, which: u8, line: &str) -> Result<String, String> {
        self.cli_answering(which, line, &[])
    }

    fn cli_answering(&mut self, which: u8, line: &str, answers: &[&str]) -> Result<String, String> {
        let json = self.opts.json;
        let node = if which == 1 {
            &mut self.r1
        } else {
            &mut self.r2
        };
        let mut term = Capture {
            out: String::new(),
            answers: answers.iter().map(|s| s.to_string()).collect(),
        };
        let prompt = match node.session.mode {
            cli::command::Mode::Configuration => "#",
            cli::command::Mode::Operational => ">",
        };
        let res = node.router.run_line(&mut node.session, line, &mut term);
        if !json {
            println!("lab@{}{prompt} {}", node.name, masked(line));
            for l in term.out.lines() {
                println!("{l}");
            }
        }
        match res {
            Ok(()) if !term.out.contains("error:") => Ok(term.out),
            Ok(()) => Err(format!("{}: {line}: {}", node.name, term.out.trim())),
            Err(e) => Err(format!("{}: {line}: {e} {}", node.name, term.out.trim())),
        }
    }

    /// Runs `lines` in configuration mode and commits.
    fn configure(&mut self, which: u8, lines: &[String]) -> Result<(), String> {
        self.cli(which, "configure")?;
        for l in lines {
            if let Err(e) = self.cli(which, l) {
                let _ = self.cli(which, "rollback");
                let _ = self.cli(which, "exit");
                return Err(e);
            }
        }
        let r = self.cli(which, "commit");
        self.cli(which, "exit")?;
        r.map(|_| ())
    }

    fn record(&mut self, name: &str, r: Result<String, String>) -> bool {
        let (result, detail) = match r {
            Ok(d) => ("pass", d),
            Err(e) => ("fail", e),
        };
        if !self.opts.json {
            println!(
                "== {name}: {}{}",
                result.to_uppercase(),
                if detail.is_empty() {
                    String::new()
                } else {
                    format!(" ({detail})")
                }
            );
            println!();
        }
        self.steps.push(Step {
            name: name.into(),
            result,
            detail,
        });
        result == "pass"
    }

    fn skip(&mut self, name: &str, why: &str) {
        self.say(&format!("== {name}: SKIPPED ({why})\n"));
        self.steps.push(Step {
            name: name.into(),
            result: "skipped",
            detail: why.into(),
        });
    }

    fn node(&mut self, which: u8) -> &mut Node {
        if which == 1 {
            &mut self.r1
        } else {
            &mut self.r2
        }
    }

    /// Waits (bounded, real time: the routers talk over sockets) for `f`.
    fn wait(&mut self, mut f: impl FnMut(&mut Lab) -> bool) -> bool {
        for _ in 0..300 {
            if f(self) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    fn tunnels(&mut self, which: u8) -> usize {
        let node = self.node(which);
        let view = node.router.shared().kmd.get().map(|k| k.view());
        view.map_or(0, |v| v.sas.iter().map(|s| s.slots.len()).sum())
    }

    /// Sends `n` packets each way; how many arrived each way.
    fn traffic(&mut self, n: u16, tag: u16) -> (u16, u16) {
        let a: std::net::Ipv4Addr = R1_INSIDE.parse().unwrap_or(std::net::Ipv4Addr::LOCALHOST);
        let b: std::net::Ipv4Addr = R2_INSIDE.parse().unwrap_or(std::net::Ipv4Addr::LOCALHOST);
        for seq in 0..n {
            let p = crate::traffic::icmp_echo_v4(a, b, tag, seq, b"mtsim lab");
            let _ = self.r1.to_router.blocking_send(p);
            let p = crate::traffic::icmp_echo_v4(b, a, tag, seq, b"mtsim lab");
            let _ = self.r2.to_router.blocking_send(p);
        }
        let (mut at_b, mut at_a) = (0u16, 0u16);
        for _ in 0..200 {
            while self.r2.from_router.try_recv().is_ok() {
                at_b += 1;
            }
            while self.r1.from_router.try_recv().is_ok() {
                at_a += 1;
            }
            if at_a >= n && at_b >= n {
                break;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        (at_b, at_a)
    }

    /// Imports `dir/<id>.key` as key pair `id` of router `which` (through
    /// its PKI manager, as `local-certificate load ... key` would), shows
    /// it, and says what it is.
    fn import_key(&mut self, which: u8, id: &str, dir: &Path) -> Result<String, String> {
        let path = dir.join(format!("{id}.key"));
        let bytes = zeroize::Zeroizing::new(
            std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?,
        );
        let node = self.node(which);
        let name = node.name;
        let spec = node
            .router
            .shared()
            .pki()
            .import_key_pair(id, &bytes)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        self.say(&format!(
            "lab: {} imported into {name}'s store as key pair {id}",
            path.display()
        ));
        self.cli(
            which,
            &format!("show security pki key-pair certificate-id {id}"),
        )?;
        Ok(format!("{spec} ({})", path.display()))
    }

    fn serial(&self, which: u8, id: &str) -> Option<String> {
        let node = if which == 1 { &self.r1 } else { &self.r2 };
        let pki = node.router.shared().pki();
        pki.local_certificates()
            .get(id)
            .map(|c| pki::info::serial_hex(c.tbs_certificate().serial_number().as_bytes()))
    }
}

/// IKE's own ports when we may bind them, else the same pair above 1024;
/// and R1's and R2's addresses: those given (both ports must be free on
/// them), else the first 127.0.N.1 / 127.0.N.2 whose ports are free, N
/// starting from a number drawn from the process id, so that labs can run
/// side by side. Loopback: nothing leaves the machine.
fn ports_and_addresses(
    given: Option<(Ipv4Addr, Ipv4Addr)>,
) -> Result<(Ports, String, String), String> {
    let privileged = std::net::UdpSocket::bind(("127.0.9.1", 500)).is_ok();
    let ports = if privileged {
        Ports::default()
    } else {
        Ports {
            ike: 10500,
            nat_t: 14500,
        }
    };
    if let Some((a, b)) = given {
        check_addresses(a, b)?;
        for (who, addr) in [("R1", a), ("R2", b)] {
            for port in [ports.ike, ports.nat_t] {
                std::net::UdpSocket::bind((addr, port))
                    .map_err(|e| format!("{who}'s address {addr}: UDP port {port}: {e}"))?;
            }
        }
        return Ok((ports, a.to_string(), b.to_string()));
    }
    let start = 10 + std::process::id() % 240;
    for k in 0..240u32 {
        let n = 10 + (start - 10 + k) % 240;
        let (a, b) = (format!("127.0.{n}.1"), format!("127.0.{n}.2"));
        let free = [&a, &b].iter().all(|h| {
            [ports.ike, ports.nat_t]
                .iter()
                .all(|p| std::net::UdpSocket::bind((h.as_str(), *p)).is_ok())
        });
        if free {
            return Ok((ports, a, b));
        }
    }
    Err("no free loopback address pair for the routers".into())
}

/// Whether `a` and `b` can be R1's and R2's addresses: two different
/// loopback addresses (the routers talk over loopback only).
pub fn check_addresses(a: Ipv4Addr, b: Ipv4Addr) -> Result<(), String> {
    for (who, addr) in [("R1", a), ("R2", b)] {
        if !addr.is_loopback() {
            return Err(format!(
                "{who}'s address {addr} is not a loopback address (127.0.0.0/8): the lab's routers talk over loopback only"
            ));
        }
    }
    if a == b {
        return Err(format!("R1 and R2 cannot both have the address {a}"));
    }
    Ok(())
}

fn node(name: &'static str, dir: &Path, clock: &Clock, ports: Ports) -> Result<Node, String> {
    let router = Router::start(
        DataDir::new(dir.join(name)),
        clock.clone(),
        Slot { fpc: 1, pic: 0 },
    )
    .map_err(|e| format!("{name}: {e}"))?;
    let session = router.session("lab");
    let (to_router, from_host) = mpsc::channel(1024);
    let (to_host, from_router) = mpsc::channel(1024);
    router
        .start_kmd_on(Inside::Channel { from_host, to_host }, ports)
        .map_err(|e| format!("{name}: kmd: {e}"))?;
    Ok(Node {
        name,
        router,
        session,
        to_router,
        from_router,
    })
}

/// Starts the lab: the CA (unless outside) and the two routers.
fn start(opts: &Options) -> Result<Lab, String> {
    let (tmp, dir) = match &opts.dir {
        Some(d) => (None, d.clone()),
        None => {
            let t = tempfile::tempdir().map_err(|e| format!("temporary directory: {e}"))?;
            let p = t.path().to_path_buf();
            (Some(t), p)
        }
    };
    // The simulated clock starts at the host's time, then only moves when
    // the lab moves it.
    let clock = Clock::frozen(Clock::system().now());
    let ca = if opts.outside.is_none() {
        let mut config = ServeConfig {
            settings: Settings {
                challenge: Challenge::Reusable(CHALLENGE.to_string().into()),
                cert_lifetime: Duration::from_secs(CERT_LIFETIME),
                ..Settings::default()
            },
            ..ServeConfig::default()
        };
        config.cmp.add_secret(CMP_REFERENCE, CMP_SECRET);
        let addr: SocketAddr = "127.0.0.1:0".parse().map_err(|e| format!("{e}"))?;
        Some(
            ca::server::start(&dir.join("ca"), addr, config, clock.clone(), false)
                .map_err(|e| format!("embedded CA: {e}"))?,
        )
    } else {
        None
    };
    let (ports, addr1, addr2) = ports_and_addresses(opts.addresses)?;
    let r1 = node("r1", &dir, &clock, ports)?;
    let r2 = node("r2", &dir, &clock, ports)?;
    Ok(Lab {
        opts: opts.clone(),
        clock,
        ca,
        r1,
        r2,
        addr1,
        addr2,
        steps: Vec::new(),
        _tmp: tmp,
    })
}

/// Runs the scenario; the report, and the lab (for `--keep`).
pub fn run(opts: &Options) -> (Report, Option<Lab>) {
    let mut lab = match start(opts) {
        Ok(l) => l,
        Err(e) => {
            let steps = vec![Step {
                name: "start the CA and the routers".into(),
                result: "fail",
                detail: e,
            }];
            return (Report { steps, ok: false }, None);
        }
    };
    scenario(&mut lab);
    let ok = lab.steps.iter().all(|s| s.result != "fail");
    let report = Report {
        steps: lab.steps.clone(),
        ok,
    };
    (report, Some(lab))
}

/// The CA's URLs and names as the routers use them.
struct CaView {
    scep_url: Option<String>,
    cmp_url: String,
    /// R2's CMP URL (`cmp_url` unless the outside CA gave R2 its own).
    r2_cmp_url: String,
    reference: String,
    secret: String,
    ca_dn: String,
}

fn ca_view(lab: &Lab) -> CaView {
    match (&lab.ca, &lab.opts.outside) {
        (Some(ca), _) => CaView {
            scep_url: Some(ca.scep_url()),
            cmp_url: ca.cmp_url(),
            r2_cmp_url: ca.cmp_url(),
            reference: CMP_REFERENCE.into(),
            secret: CMP_SECRET.into(),
            ca_dn: pki::name::subject_string(
                ca.authority()
                    .hierarchy()
                    .issuing
                    .cert
                    .tbs_certificate()
                    .subject(),
            )
            .replace(", ", ","),
        },
        (None, Some(o)) => CaView {
            scep_url: None,
            cmp_url: o.cmp_url.clone(),
            r2_cmp_url: o.r2_cmp_url.clone().unwrap_or_else(|| o.cmp_url.clone()),
            reference: o.reference.clone(),
            secret: o.secret.clone(),
            ca_dn: o.ca_dn.clone(),
        },
        (None, None) => CaView {
            scep_url: None,
            cmp_url: String::new(),
            r2_cmp_url: String::new(),
            reference: String::new(),
            secret: String::new(),
            ca_dn: String::new(),
        },
    }
}

fn scenario(lab: &mut Lab) {
    let ca = ca_view(lab);
    let (r1_addr, r2_addr) = (lab.addr1.clone(), lab.addr2.clone());
    let port = if lab.r1.router.shared().kmd.get().is_some() {
        ""
    } else {
        " (kmd not running)"
    };
    lab.say(&format!(
        "mtsim lab: R1 {r1_addr} (inside {R1_INSIDE}) and R2 {r2_addr} (inside {R2_INSIDE}), each with an ES PIC in slot 1/0{port}"
    ));
    match &lab.ca {
        Some(c) => lab.say(&format!(
            "embedded CA: SCEP {} CMP {}\n",
            c.scep_url(),
            c.cmp_url()
        )),
        None if ca.r2_cmp_url != ca.cmp_url => lab.say(&format!(
            "outside CA: CMP {} (R1) and {} (R2)\n",
            ca.cmp_url, ca.r2_cmp_url
        )),
        None => lab.say(&format!("outside CA: CMP {}\n", ca.cmp_url)),
    }

    // 1. Key pairs.
    let keys = lab.opts.keys.clone();
    let r = (|| {
        lab.cli(1, "set cli screen-length 0").ok();
        lab.configure(1, &["set system host-name r1".into()])?;
        lab.configure(2, &["set system host-name r2".into()])?;
        match &keys {
            Some(dir) => {
                let a = lab.import_key(1, "r1", dir)?;
                let b = lab.import_key(2, "r2", dir)?;
                Ok(format!("R1 {a}, R2 {b}"))
            }
            None => {
                let _p = Progress::start("generating RSA 2048 key pairs");
                lab.cli(
                    1,
                    "request security pki generate-key-pair certificate-id r1 size 2048 type rsa",
                )?;
                lab.cli(
                    2,
                    "request security pki generate-key-pair certificate-id r2 size 2048 type rsa",
                )?;
                Ok("RSA 2048 on both routers".to_string())
            }
        }
    })();
    let name = match &keys {
        Some(dir) => format!("key pairs imported from {}", dir.display()),
        None => "key pairs generated".to_string(),
    };
    if !lab.record(&name, r) {
        return;
    }

    // 2. CA profiles.
    let scep_profile = ca.scep_url.clone();
    let r = (|| {
        let mut r1 = Vec::new();
        match &scep_profile {
            Some(url) => r1.push(format!(
                "set security pki ca-profile lab-ca ca-identity lab-ca enrollment url {url}"
            )),
            None => r1.push(format!(
                "set security pki ca-profile lab-ca ca-identity lab-ca enrollment url {}",
                ca.cmp_url
            )),
        }
        // The embedded CA publishes a CRL and the lab revokes at it. An
        // outside CA may publish none: a CRL is then checked when one can
        // be had (the certificate's distribution point), else not.
        let crl: &[&str] = if scep_profile.is_some() {
            &["revocation-check crl refresh-interval 1"]
        } else {
            &[
                "revocation-check crl refresh-interval 1",
                "revocation-check crl disable on-download-failure",
            ]
        };
        r1.extend(
            crl.iter()
                .map(|c| format!("set security pki ca-profile lab-ca {c}")),
        );
        lab.configure(1, &r1)?;
        let mut r2 = vec![format!(
            "set security pki ca-profile lab-cmp ca-identity lab-ca enrollment url {}",
            ca.r2_cmp_url
        )];
        r2.extend(
            crl.iter()
                .map(|c| format!("set security pki ca-profile lab-cmp {c}")),
        );
        lab.configure(2, &r2)?;
        Ok(if scep_profile.is_some() {
            "R1 lab-ca (SCEP), R2 lab-cmp (CMPv2), CRL checking on both".to_string()
        } else {
            "R1 lab-ca (CMPv2), R2 lab-cmp (CMPv2), CRL checked when the CA publishes one"
                .to_string()
        })
    })();
    if !lab.record("CA profiles configured and committed", r) {
        return;
    }

    // 3. The CA certificate over SCEP (R1); R2 receives the chain with its
    // CMP answer.
    if scep_profile.is_some() {
        let r = (|| {
            let out = lab.cli_answering(
                1,
                "request security pki ca-certificate enroll ca-profile lab-ca",
                &["yes"],
            )?;
            let fp = out
                .lines()
                .find(|l| l.contains("(sha1)"))
                .map(str::trim)
                .unwrap_or_default()
                .to_string();
            if fp.is_empty() || !out.contains("loaded successfully") {
                return Err("no fingerprint shown or not loaded".into());
            }
            Ok(format!("fingerprint {fp}"))
        })();
        if !lab.record("CA certificate enrolled over SCEP (R1)", r) {
            return;
        }
    } else {
        lab.skip(
            "CA certificate enrolled over SCEP (R1)",
            "the outside CA speaks CMPv2 only; the chain comes with the CMP answer",
        );
    }

    // 4. R1's certificate over SCEP, R2's over CMPv2.
    let r = (|| {
        let _p = Progress::start("enrolling R1's certificate");
        match &scep_profile {
            Some(_) => lab.cli(
                1,
                &format!(
                    "request security pki local-certificate enroll scep ca-profile lab-ca certificate-id r1 challenge-password {CHALLENGE} subject \"CN=r1.lab.example,O=mtsim lab\" domain-name r1.lab.example ip-address {r1_addr}"
                ),
            )?,
            None => lab.cli(1, &cmp_enroll("lab-ca", "r1", &ca, &r1_addr))?,
        };
        let n = crate::enroll::run_due(lab.r1.router.shared());
        lab.cli(1, "show security pki local-certificate certificate-id r1")?;
        let serial = lab.serial(1, "r1").ok_or(format!(
            "R1's certificate is not in the store ({n} enrollment steps ran)"
        ))?;
        Ok(match &scep_profile {
            Some(_) => format!("serial {serial}"),
            None => format!("serial {serial} from {}", ca.cmp_url),
        })
    })();
    if !lab.record(
        if scep_profile.is_some() {
            "R1's certificate enrolled over SCEP"
        } else {
            "R1's certificate enrolled over CMPv2"
        },
        r,
    ) {
        return;
    }
    let r = (|| {
        let _p = Progress::start("enrolling R2's certificate");
        lab.cli(2, &cmp_enroll("lab-cmp", "r2", &ca, &r2_addr))?;
        let n = crate::enroll::run_due(lab.r2.router.shared());
        lab.cli(2, "show security pki local-certificate certificate-id r2")?;
        lab.cli(2, "show security pki ca-certificate")?;
        let serial = lab.serial(2, "r2").ok_or(format!(
            "R2's certificate is not in the store ({n} enrollment steps ran)"
        ))?;
        Ok(format!("serial {serial} from {}", ca.r2_cmp_url))
    })();
    if !lab.record("R2's certificate enrolled over CMPv2", r) {
        return;
    }

    // 5. IKE and IPsec.
    let r = (|| {
        // R2 first: it must listen before R1 establishes the tunnel.
        lab.configure(
            2,
            &vpn_config(
                "r2",
                &format!("inet {r2_addr}"),
                "hostname r1.lab.example",
                &r2_addr,
                &r1_addr,
                R2_INSIDE,
                R1_INSIDE,
                false,
            ),
        )?;
        lab.configure(
            1,
            &vpn_config(
                "r1",
                "hostname r1.lab.example",
                &format!("inet {r2_addr}"),
                &r1_addr,
                &r2_addr,
                R1_INSIDE,
                R2_INSIDE,
                true,
            ),
        )?;
        Ok(format!(
            "R1 identity hostname r1.lab.example (FQDN), R2 identity inet {r2_addr} (IP)"
        ))
    })();
    if !lab.record("IKE gateways and IPsec VPNs configured", r) {
        return;
    }
    let r = (|| {
        let _p = Progress::start("negotiating IKE and IPsec SAs");
        let up = lab.wait(|l| l.tunnels(1) == 1 && l.tunnels(2) == 1);
        lab.cli(1, "show security ike security-associations")?;
        lab.cli(2, "show security ike security-associations detail")?;
        lab.cli(1, "show security ipsec security-associations")?;
        lab.cli(2, "show security ike")?;
        if !up {
            return Err("the SAs did not come up on both routers".into());
        }
        Ok("one IKE SA and one CHILD_SA pair on each card".to_string())
    })();
    if !lab.record("IKE and IPsec SAs up and programmed onto both cards", r) {
        return;
    }

    // 6. Traffic.
    let r = (|| {
        let (to_r2, to_r1) = lab.traffic(50, 1);
        // kmd republishes the card's counters at its next tick.
        lab.wait(|l| {
            let v =
                l.r1.router
                    .shared()
                    .kmd
                    .get()
                    .map(|k| k.view())
                    .unwrap_or_default();
            v.card.values().any(|i| i.packets >= 50)
        });
        lab.cli(1, "show security ipsec security-associations detail")?;
        if (to_r2, to_r1) != (50, 50) {
            return Err(format!(
                "{to_r2}/50 packets reached R2's inside, {to_r1}/50 R1's"
            ));
        }
        Ok("50 packets each way through both ES PICs".to_string())
    })();
    lab.record("traffic across the tunnel", r);

    // 7. Automatic re-enrollment and reauthentication.
    if lab.opts.outside.is_none() {
        let r = (|| {
            let old = (lab.serial(1, "r1"), lab.serial(2, "r2"));
            lab.configure(1, &[format!("set security pki auto-re-enrollment scep certificate-id r1 ca-profile-name lab-ca challenge-password {CHALLENGE} re-enroll-trigger-time-percentage 10 re-generate-keypair")])?;
            lab.configure(2, &["set security pki auto-re-enrollment cmpv2 certificate-id r2 ca-profile-name lab-cmp re-enroll-trigger-time-percentage 10".into()])?;
            lab.cli(
                1,
                "show security pki local-certificate certificate-id r1 detail",
            )?;
            let at = lab.clock.now() + Duration::from_secs(CERT_LIFETIME * 9 / 10 + 60);
            let date = simclock::to_datetime(at);
            let set = format!(
                "set date {:04}{:02}{:02}{:02}{:02}.{:02}",
                date.year(),
                date.month(),
                date.day(),
                date.hour(),
                date.minutes(),
                date.seconds()
            );
            lab.cli(1, &set)?;
            let _p = Progress::start("re-enrolling both certificates");
            // R2 (the responder) first: R1's renewal makes R1 reauthenticate,
            // and the new IKE SA then carries both new certificates.
            let n = crate::enroll::run_due(lab.r2.router.shared())
                + crate::enroll::run_due(lab.r1.router.shared());
            let new = (lab.serial(1, "r1"), lab.serial(2, "r2"));
            if new.0 == old.0 || new.1 == old.1 {
                return Err(format!("not both renewed ({n} steps): {old:?} -> {new:?}"));
            }
            // Traffic while kmd reauthenticates with the new certificates.
            let (to_r2, to_r1) = lab.traffic(100, 2);
            let serial2 = new.1.clone().unwrap_or_default();
            let serial1 = new.0.clone().unwrap_or_default();
            let done = lab.wait(|l| {
                let d =
                    l.r1.router
                        .shared()
                        .kmd
                        .get()
                        .map(|k| k.view())
                        .unwrap_or_default();
                d.sas.len() == 1
                    && d.sas
                        .iter()
                        .all(|s| s.summary.peer.as_ref().is_some_and(|p| p.serial == serial2))
                    && l.tunnels(2) == 1
            });
            lab.cli(1, "show security pki local-certificate certificate-id r1")?;
            lab.cli(2, "show security ike security-associations detail")?;
            lab.cli(1, "show security ipsec security-associations")?;
            if !done {
                return Err("the IKE SA was not reauthenticated with the new certificates".into());
            }
            if (to_r2, to_r1) != (100, 100) {
                return Err(format!(
                    "traffic dropped during the renewal: {to_r2}/100 and {to_r1}/100"
                ));
            }
            Ok(format!(
                "R1 serial {serial1}, R2 serial {serial2}; 100 packets each way, none lost"
            ))
        })();
        lab.record(
            "automatic re-enrollment renewed both certificates and the tunnel moved to them",
            r,
        );
    } else {
        lab.skip(
            "automatic re-enrollment",
            "needs a CA whose certificate lifetimes the lab controls; the outside CA's are its own",
        );
    }

    // 8. A revoked certificate.
    if lab.ca.is_some() {
        let r = (|| {
            let serial = lab.serial(2, "r2").ok_or("R2 has no certificate")?;
            if let Some(ca) = &lab.ca {
                ca.authority()
                    .revoke(&serial, Reason::KeyCompromise, lab.clock.now())
                    .map_err(|e| e.to_string())?;
            }
            lab.say(&format!("ca> revoke {serial} key-compromise\n"));
            // R1's CRL is refreshed hourly.
            lab.clock.advance(Duration::from_secs(3700));
            lab.cli(1, "clear security ike security-associations")?;
            let refused =
                lab.wait(|l| crate::ike_auth::show(l.r1.router.shared()).contains("is revoked"));
            lab.cli(1, "show security ike")?;
            lab.cli(1, "show security ipsec security-associations")?;
            if !refused {
                return Err("R1 did not refuse R2's revoked certificate".into());
            }
            if lab.tunnels(1) != 0 {
                return Err("an SA is still on R1's card".into());
            }
            Ok(format!(
                "R1 refused R2 (serial {serial} revoked); nothing on the card"
            ))
        })();
        lab.record("a revoked certificate is refused", r);
    } else {
        lab.skip(
            "a revoked certificate is refused",
            "needs a CA whose CRL the lab controls (revoking at the embedded CA)",
        );
    }
}

/// A command line as the transcript shows it: the values of
/// `challenge-password` and `ca-secret` replaced by asterisks.
fn masked(line: &str) -> String {
    let mut out = Vec::new();
    let mut hide = false;
    for word in line.split(' ') {
        out.push(if hide { "********" } else { word });
        hide = matches!(word, "challenge-password" | "ca-secret");
    }
    out.join(" ")
}

fn cmp_enroll(profile: &str, id: &str, ca: &CaView, addr: &str) -> String {
    format!(
        "request security pki local-certificate enroll cmpv2 ca-profile {profile} certificate-id {id} ca-dn \"{}\" ca-secret {} ca-reference {} subject \"CN={id}.lab.example,O=mtsim lab\" domain-name {id}.lab.example ip-address {addr}",
        ca.ca_dn, ca.secret, ca.reference
    )
}

#[allow(clippy::too_many_arguments)]
fn vpn_config(
    cert: &str,
    local_id: &str,
    remote_id: &str,
    local: &str,
    peer: &str,
    inside: &str,
    remote_inside: &str,
    initiate: bool,
) -> Vec<String> {
    let mut v = vec![
        "set security ike proposal ike-rsa authentication-method rsa-signatures dh-group group14 authentication-algorithm sha-256 encryption-algorithm aes-256-cbc".to_string(),
        "set security ike policy ike-pol proposals ike-rsa".into(),
        format!("set security ike policy ike-pol certificate local-certificate {cert}"),
        "set security ike gateway peer ike-policy ike-pol".into(),
        format!("set security ike gateway peer address {peer}"),
        format!("set security ike gateway peer local-address {local}"),
        format!("set security ike gateway peer local-identity {local_id}"),
        format!("set security ike gateway peer remote-identity {remote_id}"),
        "set security ike gateway peer version v2-only".into(),
        "set security ipsec proposal esp-aes protocol esp authentication-algorithm hmac-sha1-96 encryption-algorithm aes-128-cbc".into(),
        "set security ipsec policy ipsec-pol proposals esp-aes".into(),
        "set security ipsec vpn to-peer ike gateway peer".into(),
        "set security ipsec vpn to-peer ike ipsec-policy ipsec-pol".into(),
        "set security ipsec vpn to-peer bind-interface es-1/0/0".into(),
        format!("set security ipsec vpn to-peer traffic-selector ts local-ip {inside}/32 remote-ip {remote_inside}/32"),
    ];
    if initiate {
        v.push("set security ipsec vpn to-peer establish-tunnels immediately".into());
    }
    v
}

impl Report {
    /// The summary table.
    pub fn summary(&self) -> String {
        let mut out = String::from("Summary\n");
        for s in &self.steps {
            let _ = writeln!(out, "  {:<8} {}", s.result.to_uppercase(), s.name);
        }
        let _ = writeln!(out, "Result: {}", if self.ok { "PASS" } else { "FAIL" });
        out
    }
}

impl Lab {
    /// Runs R1's or R2's CLI on stdin until `exit` or end of input.
    pub fn keep(&mut self, which: u8) {
        use std::io::BufRead as _;
        let name = self.node(which).name;
        println!("lab: staying in {name}'s CLI (exit or end of input to leave)");
        let stdin = std::io::stdin();
        loop {
            let node = self.node(which);
            let prompt = match node.session.mode {
                cli::command::Mode::Configuration => "#",
                cli::command::Mode::Operational => ">",
            };
            print!("lab@{name}{prompt} ");
            let _ = std::io::Write::flush(&mut std::io::stdout());
            let mut line = String::new();
            if stdin.lock().read_line(&mut line).unwrap_or(0) == 0 {
                break;
            }
            let line = line.trim();
            if line == "exit" && node.session.mode == cli::command::Mode::Operational {
                break;
            }
            let mut term = Capture::default();
            if let Err(e) = node.router.run_line(&mut node.session, line, &mut term) {
                term.out.push_str(&format!("{e}\n"));
            }
            print!("{}", term.out);
        }
    }
}
