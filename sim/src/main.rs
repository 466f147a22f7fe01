//! `mtsim`: the simulator's command line.

use std::io::{self, BufReader};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use der::Decode as _;
use mtsim::chassis::Slot;
use mtsim::client::{self, Conn};
use mtsim::datadir::DataDir;
use mtsim::logs::LogFiles;
use mtsim::router::Router;
use simclock::Clock;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// A Juniper M/T Series router simulator with an ES PIC encryption card.
#[derive(Debug, Parser)]
#[command(name = "mtsim", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a router in the foreground (its daemons and its CLI socket).
    Router {
        /// The router's data directory (configuration, PKI store, logs).
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// The ES PIC's slot, FPC/PIC.
        #[arg(long, value_name = "F/P", default_value = "1/0")]
        es_pic: Slot,
        /// The router's inside: a TUN interface to create (in the current
        /// network namespace) whose packets the ES PIC carries through the
        /// IPsec tunnels. Without it, kmd negotiates SAs but has no data path.
        #[arg(long, value_name = "NAME")]
        tun: Option<String>,
    },
    /// The whole lifecycle on one machine: the embedded CA and two routers
    /// with their ES PICs, from key pairs to a tunnel carrying traffic,
    /// certificate renewal and revocation, printing each Junos command and
    /// its output. Exits 0 only if every step did what it should.
    Lab(Box<LabArgs>),
    /// The Junos-style CLI of a router (started for the session if none runs).
    Cli {
        /// The router's data directory.
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// Run one command and exit.
        #[arg(short = 'c', value_name = "COMMAND")]
        command: Option<String>,
        /// Login name shown in the prompt.
        #[arg(long, default_value = "root")]
        user: String,
    },
    /// The embedded CA's administration, against its directory.
    Ca {
        #[command(subcommand)]
        command: CaCommand,
    },
    /// PKI tools.
    Pki {
        #[command(subcommand)]
        command: PkiCommand,
    },
    /// The ES PIC (encryption card).
    Pic {
        #[command(subcommand)]
        command: PicCommand,
    },
    /// Throughput measurements.
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
}

/// `mtsim lab` options.
#[derive(Debug, clap::Args)]
struct LabArgs {
    /// Stay in this router's CLI afterwards (r1 or r2).
    #[arg(long, value_name = "ROUTER", value_parser = ["r1", "r2"])]
    keep: Option<String>,
    /// Print a machine-readable report (JSON) instead of the transcript.
    #[arg(long)]
    json: bool,
    /// Keep the routers' and the CA's files here (default: a temporary
    /// directory, removed afterwards).
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Enroll both routers over CMPv2 at this outside CA instead of the
    /// embedded one (e.g. OpenSSL's CMP mock server).
    #[arg(long, value_name = "URL", value_parser = parse_http_url, requires_all = ["cmp_reference", "cmp_secret", "ca_dn"])]
    cmp_url: Option<String>,
    /// R2's CMP URL when it is not R1's (--cmp-url): e.g. one OpenSSL mock
    /// server per router, each started with that router's certificate.
    #[arg(long, value_name = "URL", value_parser = parse_http_url, requires = "cmp_url")]
    r2_cmp_url: Option<String>,
    /// The outside CA's reference number for the shared secret.
    #[arg(long, value_name = "REF")]
    cmp_reference: Option<String>,
    /// The outside CA's shared secret.
    #[arg(long, value_name = "SECRET")]
    cmp_secret: Option<String>,
    /// The outside CA's subject, e.g. "CN=CA,O=Example".
    #[arg(long, value_name = "DN")]
    ca_dn: Option<String>,
    /// Import R1's and R2's key pairs from DIR/r1.key and DIR/r2.key (PEM
    /// private keys as openssl writes them) instead of generating them.
    #[arg(long, value_name = "DIR")]
    keys: Option<PathBuf>,
    /// R1's and R2's addresses, two loopback IPv4 addresses (default: a
    /// free 127.0.N.1,127.0.N.2 pair).
    #[arg(long, value_name = "A1,A2", value_parser = parse_addresses)]
    addresses: Option<(std::net::Ipv4Addr, std::net::Ipv4Addr)>,
}

/// `--cmp-url`: an http:// URL with a host.
fn parse_http_url(s: &str) -> Result<String, String> {
    let rest = s
        .strip_prefix("http://")
        .ok_or_else(|| format!("'{s}' is not an http:// URL (e.g. http://127.0.0.1:8080/pkix/)"))?;
    if rest.split(['/', ':']).next().unwrap_or_default().is_empty() {
        return Err(format!("'{s}' has no host"));
    }
    Ok(s.to_string())
}

/// `--addresses A1,A2`: R1's and R2's loopback addresses.
fn parse_addresses(s: &str) -> Result<(std::net::Ipv4Addr, std::net::Ipv4Addr), String> {
    let (a, b) = s
        .split_once(',')
        .ok_or_else(|| format!("'{s}' is not two addresses A1,A2 (e.g. 127.0.10.1,127.0.10.2)"))?;
    let parse = |who: &str, t: &str| {
        t.trim()
            .parse::<std::net::Ipv4Addr>()
            .map_err(|_| format!("{who}'s address '{t}' is not an IPv4 address"))
    };
    let (a, b) = (parse("R1", a)?, parse("R2", b)?);
    mtsim::lab::check_addresses(a, b)?;
    Ok((a, b))
}

#[derive(Debug, Subcommand)]
enum CaCommand {
    /// Serve SCEP (/scep), CMP (/pkix/) and the CRL over HTTP, making the
    /// CA in DIR on first start.
    Serve(Box<ServeArgs>),
    /// Make a one-time challenge password (for --one-time-challenges).
    Challenge {
        /// The CA directory.
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
    },
    /// Issued certificates and pending requests.
    List {
        /// The CA directory.
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
    },
    /// Approve a pending request (issued at the client's next poll).
    Approve {
        /// The CA directory.
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
        /// The request's id (`mtsim ca list`).
        id: u64,
    },
    /// Reject a pending request.
    Reject {
        /// The CA directory.
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
        /// The request's id (`mtsim ca list`).
        id: u64,
    },
    /// Revoke an issued certificate (the next CRL lists it).
    Revoke {
        /// The CA directory.
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
        /// The certificate's serial number, hex.
        serial: String,
        /// unspecified, keyCompromise, cACompromise, affiliationChanged,
        /// superseded, cessationOfOperation or certificateHold.
        #[arg(long, default_value = "unspecified")]
        reason: String,
    },
}

/// `mtsim ca serve` options.
#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// The CA directory (made, with a root and an issuing CA, on first start).
    #[arg(long, value_name = "DIR")]
    dir: PathBuf,
    /// The address to listen on; only this address is bound (port 0: any free port).
    #[arg(long, value_name = "ADDR:PORT")]
    listen: std::net::SocketAddr,
    /// A reusable SCEP challenge password.
    #[arg(long, value_name = "PW", conflicts_with = "one_time_challenges")]
    challenge: Option<String>,
    /// Require one-time challenge passwords made by `mtsim ca challenge`.
    #[arg(long)]
    one_time_challenges: bool,
    /// A CMP shared secret and its reference number (repeatable).
    #[arg(long, value_name = "REF=SECRET")]
    cmp_secret: Vec<String>,
    /// Hold every request for `mtsim ca approve|reject`.
    #[arg(long)]
    manual_approval: bool,
    /// Lifetime of issued certificates: 90s, 10m, 12h, 365d.
    #[arg(long, value_name = "DURATION", default_value = "365d", value_parser = parse_duration)]
    cert_lifetime: std::time::Duration,
    /// Lifetime of CRLs (a new one is made at half of it).
    #[arg(long, value_name = "DURATION", default_value = "1d", value_parser = parse_duration)]
    crl_lifetime: std::time::Duration,
    /// The CRL URL written into certificates (default: served here).
    #[arg(long, value_name = "URL")]
    crl_url: Option<String>,
    /// Make a separate SCEP RA certificate (on first start only).
    #[arg(long)]
    ra: bool,
    /// SCEP capabilities: modern, legacy (3DES, SHA-1) or legacy-des.
    #[arg(long, value_name = "PRESET", default_value = "modern", value_parser = parse_caps)]
    scep_caps: ca::scep::CapsPreset,
    /// Refuse SCEP RenewalReq.
    #[arg(long)]
    no_renewal_req: bool,
    /// Refuse renewal by a PKCSReq signed with the old certificate.
    #[arg(long)]
    no_pkcsreq_renewal: bool,
    /// Refuse single-DES SCEP envelopes unless --scep-caps legacy-des.
    #[arg(long)]
    refuse_des: bool,
    /// Include the CA certificate in SCEP CertReps.
    #[arg(long)]
    ca_in_certrep: bool,
    /// SignerInfo signature algorithm of CertReps: rsa (rsaEncryption) or with-hash.
    #[arg(long, value_name = "STYLE", default_value = "rsa")]
    certrep_signature: String,
    /// Only certify subjects containing these attributes (e.g. "O=Example").
    #[arg(long, value_name = "DN")]
    require_subject: Vec<String>,
    /// Only certify DNS names in these domains (repeatable).
    #[arg(long, value_name = "DOMAIN")]
    allow_domain: Vec<String>,
    /// Largest request body, bytes.
    #[arg(long, default_value_t = 256 * 1024)]
    max_body: usize,
    /// Requests worked on at once.
    #[arg(long, default_value_t = 8)]
    workers: usize,
}

fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let (number, unit) = s
        .find(|c: char| !c.is_ascii_digit())
        .map_or((s, ""), |i| s.split_at(i));
    let n: u64 = number
        .parse()
        .map_err(|_| format!("'{s}' is not a duration such as 90s, 10m, 12h or 365d"))?;
    let scale = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => return Err(format!("'{s}': unknown unit '{unit}' (s, m, h or d)")),
    };
    if n == 0 {
        return Err(format!("'{s}': a lifetime cannot be zero"));
    }
    n.checked_mul(scale)
        .map(std::time::Duration::from_secs)
        .ok_or_else(|| format!("'{s}' is too long"))
}

fn parse_caps(s: &str) -> Result<ca::scep::CapsPreset, String> {
    ca::scep::CapsPreset::parse(s)
        .ok_or_else(|| format!("'{s}': expected modern, legacy or legacy-des"))
}

fn serve_config(args: &ServeArgs) -> Result<ca::server::ServeConfig, String> {
    use ca::authority::{Challenge, Settings};
    let mut settings = Settings {
        cert_lifetime: args.cert_lifetime,
        crl_lifetime: args.crl_lifetime,
        crl_url: args.crl_url.clone(),
        manual_approval: args.manual_approval,
        ra: args.ra,
        ..Settings::default()
    };
    settings.challenge = match (&args.challenge, args.one_time_challenges) {
        (Some(pw), _) => Challenge::Reusable(pw.clone().into()),
        (None, true) => Challenge::OneTime,
        (None, false) => Challenge::None,
    };
    for dn in &args.require_subject {
        settings.policy.require(dn).map_err(|e| e.to_string())?;
    }
    settings.policy.domains = args.allow_domain.clone();
    let signature = match args.certrep_signature.as_str() {
        "rsa" => pki::scep::SignatureStyle::RsaEncryption,
        "with-hash" => pki::scep::SignatureStyle::WithHash,
        other => {
            return Err(format!(
                "--certrep-signature '{other}': expected rsa or with-hash"
            ));
        }
    };
    let scep = ca::scep::ScepSettings {
        caps: args.scep_caps,
        renewal_req: !args.no_renewal_req,
        pkcsreq_renewal: !args.no_pkcsreq_renewal,
        ca_in_certrep: args.ca_in_certrep,
        signature,
        accept_des: !args.refuse_des,
    };
    let mut cmp = ca::cmp::CmpSettings::default();
    for entry in &args.cmp_secret {
        let (reference, secret) = entry
            .split_once('=')
            .filter(|(r, s)| !r.is_empty() && !s.is_empty())
            .ok_or_else(|| "--cmp-secret wants REF=SECRET".to_string())?;
        cmp.add_secret(reference, secret);
    }
    Ok(ca::server::ServeConfig {
        settings,
        scep,
        cmp,
        limits: ca::http::Limits {
            max_body: args.max_body,
            workers: args.workers.max(1),
            ..ca::http::Limits::default()
        },
    })
}

fn ca_serve(args: &ServeArgs) -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("MTSIM_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&io::stderr()))
        .init();
    let config = match serve_config(args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    match ca::server::start(&args.dir, args.listen, config, Clock::system(), true) {
        Ok(running) => {
            println!("mtsim CA serving on http://{}", running.addr());
            println!("  SCEP: {}", running.scep_url());
            println!("  CMP:  {}", running.cmp_url());
            let _ = io::Write::flush(&mut io::stdout());
            match running.wait() {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

#[derive(Debug, Subcommand)]
enum PkiCommand {
    /// Run the IKE authenticator on a peer certificate: the verdict and the
    /// reason. Exit 0 accepted, 1 refused, 2 bad input.
    VerifyChain {
        /// Trust anchors (PEM or DER files; a PEM file may hold several).
        #[arg(long, value_name = "FILE", num_args = 1.., required = true)]
        trusted: Vec<PathBuf>,
        /// Intermediates the peer sent.
        #[arg(long, value_name = "FILE", num_args = 1..)]
        untrusted: Vec<PathBuf>,
        /// The peer's certificate.
        #[arg(long, value_name = "FILE")]
        peer: PathBuf,
        /// CRLs (revocation is then required; without them it is not checked).
        #[arg(long, value_name = "FILE", num_args = 1..)]
        crl: Vec<PathBuf>,
        /// The peer's IKE identity: fqdn:NAME, ipv4:A, ipv6:A, email:U or dn:DN.
        #[arg(long, value_name = "ID")]
        id: Option<String>,
        /// Validation time: seconds since the epoch or YYYY-MM-DDTHH:MM:SSZ (default: now).
        #[arg(long, value_name = "TIME")]
        at: Option<String>,
    },
}

/// Reads every certificate in `path` (PEM bundle or DER).
fn read_certs(path: &std::path::Path) -> Result<Vec<x509_cert::Certificate>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    pki::encoding::certificates(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

fn parse_time(s: &str) -> Result<std::time::Duration, String> {
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(std::time::Duration::from_secs(secs));
    }
    der::asn1::GeneralizedTime::from_der(&{
        // YYYY-MM-DDTHH:MM:SSZ -> YYYYMMDDHHMMSSZ as a DER GeneralizedTime.
        let compact: String = s
            .chars()
            .filter(|c| c.is_ascii_digit() || *c == 'Z')
            .collect();
        let mut der = vec![0x18, compact.len() as u8];
        der.extend_from_slice(compact.as_bytes());
        der
    })
    .map(|t| t.to_unix_duration())
    .map_err(|_| format!("'{s}': expected seconds since the epoch or YYYY-MM-DDTHH:MM:SSZ"))
}

fn verify_chain(command: PkiCommand) -> ExitCode {
    let PkiCommand::VerifyChain {
        trusted,
        untrusted,
        peer,
        crl,
        id,
        at,
    } = command;
    let input = (|| -> Result<_, String> {
        let mut anchors = Vec::new();
        for f in &trusted {
            anchors.extend(read_certs(f)?);
        }
        let mut inter = Vec::new();
        for f in &untrusted {
            inter.extend(read_certs(f)?);
        }
        let peer = read_certs(&peer)?
            .into_iter()
            .next()
            .ok_or_else(|| "the peer file holds no certificate".to_string())?;
        let mut crls = Vec::new();
        for f in &crl {
            let bytes = std::fs::read(f).map_err(|e| format!("{}: {e}", f.display()))?;
            crls.push(pki::encoding::crl(&bytes).map_err(|e| format!("{}: {e}", f.display()))?);
        }
        let id = id.as_deref().map(ike::auth::PeerId::parse).transpose()?;
        let time = match &at {
            Some(t) => parse_time(t)?,
            None => Clock::system().now(),
        };
        Ok((anchors, inter, peer, crls, id, time))
    })();
    let (anchors, inter, peer, crls, id, time) = match input {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let policy = ike::auth::Policy {
        time,
        max_depth: None,
        revocation: if crls.is_empty() {
            ike::auth::RevocationMode::Disabled
        } else {
            ike::auth::RevocationMode::Required
        },
        wildcards: false,
        require_digital_signature: true,
    };
    let source = ike::auth::StaticCrls(crls);
    let verdict = match &id {
        Some(id) => ike::auth::authenticate(&peer, &inter, &anchors, &source, id, &policy),
        None => ike::auth::validate(&peer, &inter, &anchors, &source, &policy),
    };
    match verdict {
        Ok(chain) => {
            println!("accepted");
            for c in &chain.0 {
                println!(
                    "  {}",
                    pki::name::subject_string(c.tbs_certificate().subject())
                );
            }
            ExitCode::SUCCESS
        }
        Err(why) => {
            println!("refused: {why}");
            ExitCode::from(1)
        }
    }
}

#[derive(Debug, Subcommand)]
enum PicCommand {
    /// Bring up a card, program an SA pair, push packets both ways through
    /// the rings and print the counters.
    Selftest {
        /// Also write the ESP packets to this pcap file and print the SAs for
        /// Wireshark's ESP SA table.
        #[arg(long, value_name = "FILE")]
        pcap: Option<PathBuf>,
        /// Echo requests per direction and address family.
        #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=1000))]
        packets: u16,
    },
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// The ES PIC's ESP throughput (AES-128-CBC + HMAC-SHA1-96, tunnel mode
    /// over IPv4): through the rings, the bare engine transform and a naive
    /// baseline, encap and decap, per payload size and an IMIX.
    Pic(PicBenchArgs),
}

/// `mtsim bench pic` options.
#[derive(Debug, clap::Args)]
struct PicBenchArgs {
    /// Print the measurements as a JSON array of rows (path, direction,
    /// size, gbps, mpps) and nothing else on stdout.
    #[arg(long)]
    json: bool,
    /// Seconds per measurement (path × direction × size).
    #[arg(long, value_name = "S", default_value_t = mtsim::bench::DEFAULT_SECONDS, value_parser = parse_seconds)]
    seconds: f64,
    /// Inner packet sizes in bytes, comma-separated (the IMIX is always added).
    #[arg(
        long,
        value_name = "N,N,...",
        value_delimiter = ',',
        default_values_t = mtsim::bench::DEFAULT_SIZES,
        value_parser = parse_size
    )]
    sizes: Vec<usize>,
    /// Threads that run the card's crypto in the ring path: its engine
    /// thread and N - 1 crypto workers (the engine and baseline paths run
    /// on one thread).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=16))]
    threads: u16,
}

fn parse_size(s: &str) -> Result<usize, String> {
    use mtsim::bench::{MAX_SIZE, MIN_SIZE};
    match s.trim().parse::<usize>() {
        Ok(n) if (MIN_SIZE..=MAX_SIZE).contains(&n) => Ok(n),
        _ => Err(format!(
            "'{s}': expected an inner packet size of {MIN_SIZE} to {MAX_SIZE} bytes"
        )),
    }
}

fn parse_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v <= 600.0 => Ok(v),
        _ => Err(format!(
            "'{s}': expected seconds above 0 and at most 600, e.g. 0.5"
        )),
    }
}

fn ca_admin(command: CaCommand) -> ExitCode {
    use ca::authority::Authority;
    let now = Clock::system().now();
    let result = match command {
        CaCommand::Serve(args) => return ca_serve(&args),
        CaCommand::Challenge { dir } => Authority::open_existing(&dir, now)
            .and_then(|a| a.new_challenge(now))
            .map(|pw| println!("{pw}")),
        CaCommand::List { dir } => Authority::open_existing(&dir, now)
            .and_then(|a| a.listing())
            .map(|text| print!("{text}")),
        CaCommand::Approve { dir, id } => Authority::open_existing(&dir, now)
            .and_then(|a| a.approve(id))
            .map(|()| println!("request {id} approved")),
        CaCommand::Reject { dir, id } => Authority::open_existing(&dir, now)
            .and_then(|a| a.reject(id))
            .map(|()| println!("request {id} rejected")),
        CaCommand::Revoke {
            dir,
            serial,
            reason,
        } => match ca::state::Reason::parse(&reason) {
            None => {
                eprintln!("error: unknown revocation reason '{reason}'");
                return ExitCode::from(2);
            }
            Some(r) => Authority::open_existing(&dir, now)
                .and_then(|a| a.revoke(&serial, r, now))
                .map(|()| println!("certificate {serial} revoked ({reason})")),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn stderr_filter() -> EnvFilter {
    EnvFilter::try_from_env("MTSIM_LOG").unwrap_or_else(|_| EnvFilter::new("warn"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Router {
            data_dir,
            es_pic,
            tun,
        } => router(data_dir, es_pic, tun),
        Command::Ca { command } => ca_admin(command),
        Command::Lab(args) => lab(*args),
        Command::Pki { command } => verify_chain(command),
        Command::Cli {
            data_dir,
            command,
            user,
        } => cli_session(data_dir, command, &user),
        Command::Pic {
            command: PicCommand::Selftest { pcap, packets },
        } => {
            tracing_subscriber::fmt()
                .with_env_filter(stderr_filter())
                .with_writer(io::stderr)
                .init();
            selftest(pcap, packets)
        }
        Command::Bench {
            command: BenchCommand::Pic(args),
        } => {
            tracing_subscriber::fmt()
                .with_env_filter(stderr_filter())
                .with_writer(io::stderr)
                .init();
            bench_pic(&args)
        }
    }
}

fn lab(args: LabArgs) -> ExitCode {
    let outside = match (
        args.cmp_url,
        args.cmp_reference,
        args.cmp_secret,
        args.ca_dn,
    ) {
        (Some(cmp_url), Some(reference), Some(secret), Some(ca_dn)) => {
            Some(mtsim::lab::OutsideCa {
                cmp_url,
                r2_cmp_url: args.r2_cmp_url,
                reference,
                secret,
                ca_dn,
            })
        }
        _ => None,
    };
    let opts = mtsim::lab::Options {
        dir: args.dir,
        json: args.json,
        outside,
        keys: args.keys,
        addresses: args.addresses,
    };
    let (report, lab) = mtsim::lab::run(&opts);
    if args.json {
        match serde_json::to_string_pretty(&report) {
            Ok(j) => println!("{j}"),
            Err(e) => eprintln!("error: {e}"),
        }
    } else {
        print!("{}", report.summary());
    }
    if let (Some(which), Some(mut lab)) = (args.keep, lab) {
        lab.keep(if which == "r1" { 1 } else { 2 });
    }
    if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn router(data_dir: Option<PathBuf>, es_pic: Slot, tun: Option<String>) -> ExitCode {
    let dir = data_dir
        .map(DataDir::new)
        .unwrap_or_else(DataDir::default_location);
    let clock = Clock::system();
    let router = match Router::start(dir.clone(), clock.clone(), es_pic) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let files = LogFiles::new(dir.log(), Arc::clone(&router.shared().host), clock);
    tracing_subscriber::registry()
        .with(files.with_filter(EnvFilter::new("info")))
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(io::stderr)
                .with_filter(stderr_filter()),
        )
        .init();
    tracing::info!(target: "mgd", "router up on {}", dir.root().display());
    let inside = tun
        .as_deref()
        .map_or(mtsim::iked::Inside::None, mtsim::iked::Inside::tun);
    if let Err(e) = router.start_kmd(inside) {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    match router.serve() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

use tracing_subscriber::Layer as _;

fn cli_session(data_dir: Option<PathBuf>, command: Option<String>, user: &str) -> ExitCode {
    let dir = data_dir
        .map(DataDir::new)
        .unwrap_or_else(DataDir::default_location);
    let mut conn = match Conn::open(&dir, user) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match command {
        Some(line) => client::one_shot(&mut conn, &line),
        None if client::stdin_is_terminal() => client::interactive(conn),
        None => client::script(&mut conn, BufReader::new(io::stdin()), &mut io::stdout()),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn selftest(pcap: Option<PathBuf>, packets: u16) -> ExitCode {
    let opts = mtsim::selftest::Options {
        packets,
        pcap: pcap.as_deref(),
    };
    match mtsim::selftest::run(&opts) {
        Ok(report) => {
            print!("{report}");
            if report.passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn bench_pic(args: &PicBenchArgs) -> ExitCode {
    let opts = mtsim::bench::Options {
        seconds: args.seconds,
        sizes: args.sizes.clone(),
        threads: usize::from(args.threads),
    };
    match mtsim::bench::run(&opts) {
        Ok(report) if args.json => match serde_json::to_string_pretty(&report.json()) {
            Ok(j) => {
                println!("{j}");
                eprint!("{}{}", report.core_text(), report.kat_text());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
        Ok(report) => {
            print!("{report}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
