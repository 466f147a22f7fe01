//! The mtsim simulator as a library: what the `mtsim` binary runs and what
//! the scenario tests in `tests/` drive.
//!
//! - [`pic`]: an ES PIC in its slot: host memory, the card, and the host
//!   driver bound to it.
//! - [`traffic`]: inner test packets (ICMP echo over IPv4 and IPv6).
//! - [`selftest`]: `mtsim pic selftest`, the card's end-to-end self-test.
//! - [`bench`]: `mtsim bench pic`, the card's throughput against the bare
//!   ESP transform and a naive baseline.
//! - [`router`]: the router process (`mtsim router`): [`chassis`], [`commands`],
//!   [`pki_commands`], [`logs`], the CLI socket ([`protocol`]) in its [`datadir`];
//!   the ES PIC files of its `/var/etc/ikecert` in [`ikecert`].
//! - [`client`]: `mtsim cli`, one-shot, script or interactive.

pub mod autorenew;
pub mod bench;
pub mod chassis;
pub mod client;
pub mod commands;
pub mod datadir;
pub mod enroll;
pub mod enroll_cmp;
pub mod ike_auth;
pub mod ike_commands;
pub mod ike_config;
pub mod ikecert;
pub mod iked;
pub mod lab;
pub mod logs;
pub mod pic;
pub mod pki_commands;
pub mod pki_http;
pub mod protocol;
pub mod router;
pub mod selftest;
pub mod traffic;
pub mod vpn_config;
