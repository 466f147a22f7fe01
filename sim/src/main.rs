//! `mtsim`: the simulator's command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

/// A Juniper M/T Series router simulator with an ES PIC encryption card.
#[derive(Debug, Parser)]
#[command(name = "mtsim", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The ES PIC (encryption card).
    Pic {
        #[command(subcommand)]
        command: PicCommand,
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

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("MTSIM_LOG").unwrap_or_else(|_| EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Pic {
            command: PicCommand::Selftest { pcap, packets },
        } => {
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
    }
}
