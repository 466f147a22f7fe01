//! `mtsim`: the simulator's command line.

use std::io::{self, BufReader};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
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
    },
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
    /// The ES PIC (encryption card).
    Pic {
        #[command(subcommand)]
        command: PicCommand,
    },
}

#[derive(Debug, Subcommand)]
enum CaCommand {
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

fn ca_admin(command: CaCommand) -> ExitCode {
    use ca::authority::Authority;
    let now = Clock::system().now();
    let result = match command {
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
        Command::Router { data_dir, es_pic } => router(data_dir, es_pic),
        Command::Ca { command } => ca_admin(command),
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
    }
}

fn router(data_dir: Option<PathBuf>, es_pic: Slot) -> ExitCode {
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
