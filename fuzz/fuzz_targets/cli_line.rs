//! The router's CLI on arbitrary command lines, in operational and
//! configuration mode.
//!
//! One `mtsim::router::Router` is started per process in a temporary
//! directory with a frozen `simclock::Clock`. Input: a flag byte, then
//! UTF-8 text (invalid UTF-8 is skipped) of up to 8 lines run one after
//! the other in a fresh session with `Router::run_line`. Flag bit 0 enters
//! configuration mode first (`configure`); bit 1 answers "yes" to the
//! first four questions a command asks (else end of input: "no").
//!
//! Before each input the clock, the candidate and active configurations
//! and the last-commit stamp are put back as they were at start, so an
//! input does not depend on the ones before it (the certificate store and
//! the files under the data directory do carry over).
//!
//! Lines the harness does not run (the CLI is never reached for them):
//!
//! - commands that are slow by design or talk to the network: key
//!   generation (`request security pki generate-key-pair`, `request
//!   security key-pair`), every `enroll`/`re-enroll` (SCEP, CMPv2, CA
//!   certificate) and `request security pki local-certificate verify`
//!   (which fetches CRLs), recognised after abbreviation expansion over
//!   the command paths below and also by any word containing
//!   "generate-key-pair" or "enroll", in operational mode and after `run`
//!   in configuration mode (configuration statements such as
//!   `enrollment url` and `auto-re-enrollment` are allowed: committing
//!   them contacts nobody, as the router's renewal worker is not running);
//! - lines with a word starting with `/` or containing `..`: file names
//!   are absolute or relative to the router's home, and an absolute or
//!   escaping path could read a device forever or overwrite files outside
//!   the temporary directory.

#![no_main]

use std::cell::RefCell;
use std::time::Duration;

use cli::command::{Mode, Terminal};
use cli::config::Config;
use libfuzzer_sys::fuzz_target;
use mtsim::chassis::Slot;
use mtsim::datadir::DataDir;
use mtsim::router::Router;
use simclock::Clock;

const NOW: Duration = Duration::from_secs(1_795_000_000);

/// The operational-mode command paths (sim/src/commands.rs,
/// pki_commands.rs, ike_commands.rs), for abbreviation expansion.
const OP_COMMANDS: &[&str] = &[
    "show chassis hardware",
    "show system uptime",
    "show version",
    "set date",
    "show log",
    "clear log",
    "show interfaces terse",
    "request system reboot",
    "configure",
    "exit",
    "quit",
    "show security ike",
    "show security ike security-associations",
    "show security ipsec security-associations",
    "clear security ike security-associations",
    "request security pki generate-key-pair",
    "request security key-pair",
    "request security pki key-pair export",
    "show security pki key-pair",
    "clear security pki key-pair",
    "request security pki generate-certificate-request",
    "show security pki certificate-request",
    "clear security pki certificate-request",
    "request security pki local-certificate generate-self-signed",
    "request security pki local-certificate enroll scep",
    "request security pki local-certificate enroll cmpv2",
    "request security pki local-certificate re-enroll cmpv2",
    "request security pki local-certificate re-enroll scep",
    "request security pki local-certificate verify",
    "request security pki local-certificate export",
    "request security pki local-certificate load",
    "show security pki local-certificate",
    "clear security pki local-certificate",
    "request security pki ca-certificate load",
    "request security pki ca-certificate verify",
    "request security pki ca-certificate enroll",
    "request security certificate enroll",
    "show security pki ca-certificate",
    "clear security pki ca-certificate",
    "request security pki crl load",
    "show security pki crl",
    "clear security pki crl",
];

/// The configuration-mode commands (their first words).
const CFG_COMMANDS: &[&str] = &[
    "set", "delete", "show", "commit", "rollback", "exit", "quit", "run",
];

/// Operational commands the harness never runs (slow or networked).
const REFUSED: &[&str] = &[
    "request security pki generate-key-pair",
    "request security key-pair",
    "request security pki local-certificate enroll",
    "request security pki local-certificate re-enroll",
    "request security pki local-certificate verify",
    "request security pki ca-certificate enroll",
    "request security certificate enroll",
];

/// The keywords `words` name, expanding abbreviations as the CLI does
/// (an exact child, else the only child the word is a prefix of) over
/// `paths`; stops at the first word that is not a keyword.
fn expand(paths: &[&str], words: &[String]) -> Vec<String> {
    let split: Vec<Vec<&str>> = paths.iter().map(|p| p.split(' ').collect()).collect();
    let mut out: Vec<String> = Vec::new();
    for w in words {
        let depth = out.len();
        let mut children: Vec<&str> = split
            .iter()
            .filter(|p| p.len() > depth && p[..depth].iter().zip(&out).all(|(a, b)| a == b))
            .map(|p| p[depth])
            .collect();
        children.sort_unstable();
        children.dedup();
        let next = if children.contains(&w.as_str()) {
            Some(w.as_str())
        } else {
            let mut m = children.iter().filter(|c| c.starts_with(w.as_str()));
            match (m.next(), m.next()) {
                (Some(only), None) if !w.is_empty() => Some(*only),
                _ => None,
            }
        };
        match next {
            Some(k) => out.push(k.to_string()),
            None => break,
        }
    }
    out
}

fn refused_op(words: &[String]) -> bool {
    if words
        .iter()
        .any(|w| w.contains("generate-key-pair") || w.contains("enroll"))
    {
        return true;
    }
    let path = expand(OP_COMMANDS, words).join(" ");
    REFUSED
        .iter()
        .any(|r| path == *r || path.starts_with(&format!("{r} ")))
}

/// Whether the harness refuses to run `line` in `mode`.
fn refused(line: &str, mode: Mode) -> bool {
    let Ok(words) = cli::command::token::split(line) else {
        return false; // the CLI refuses it itself
    };
    if words
        .iter()
        .any(|w| w.text.starts_with('/') || w.text.contains(".."))
    {
        return true;
    }
    let words: Vec<String> = words
        .into_iter()
        .take_while(|w| w.quoted || w.text != "|")
        .map(|w| w.text)
        .collect();
    match mode {
        Mode::Operational => refused_op(&words),
        Mode::Configuration => {
            let first = expand(CFG_COMMANDS, &words[..words.len().min(1)]);
            first.first().is_some_and(|w| w == "run") && refused_op(&words[1..])
        }
    }
}

struct Term {
    yes: u32,
}

impl Terminal for Term {
    fn print(&mut self, _: &str) {}
    fn ask(&mut self, _: &str) -> Option<String> {
        if self.yes == 0 {
            return None;
        }
        self.yes -= 1;
        Some("yes".into())
    }
}

struct Lab {
    _dir: tempfile::TempDir,
    clock: Clock,
    router: Router,
    initial: Config,
}

thread_local! {
    static LAB: RefCell<Option<Lab>> = const { RefCell::new(None) };
}

fn lab() -> Lab {
    let dir = tempfile::tempdir().expect("temporary directory");
    let clock = Clock::frozen(NOW);
    let router = Router::start(
        DataDir::new(dir.path().join("r1")),
        clock.clone(),
        Slot { fpc: 1, pic: 0 },
    )
    .expect("router");
    let initial = router.shared().state().active.clone();
    Lab {
        _dir: dir,
        clock,
        router,
        initial,
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    LAB.with(|cell| {
        let mut slot = cell.borrow_mut();
        let lab = slot.get_or_insert_with(lab);
        lab.clock.set(NOW);
        {
            let shared = lab.router.shared();
            let mut st = shared.state();
            st.active = lab.initial.clone();
            st.candidate = lab.initial.clone();
            st.last_commit = None;
        }
        lab.router.shared().apply(&lab.initial);
        let mut session = lab.router.session("fuzz");
        let mut term = Term {
            yes: if flags & 2 != 0 { 4 } else { 0 },
        };
        if flags & 1 != 0 {
            lab.router
                .run_line(&mut session, "configure", &mut term)
                .expect("configure");
        }
        for line in text.split('\n').take(8) {
            if session.ended {
                break;
            }
            if refused(line, session.mode) {
                continue;
            }
            let _ = lab.router.run_line(&mut session, line, &mut term);
        }
    });
});
