//! What the in-process router tests share: a terminal that records output
//! and answers questions, a router on a frozen clock, running lines, a
//! snapshot of the PKI store, and the check for a third-party peer.
//! (Each test file includes it with `mod support;` and uses what it needs.)

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use cli::command::{CommandError, Terminal};
use mtsim::chassis::Slot;
use mtsim::datadir::DataDir;
use mtsim::router::{Router, Session};
use simclock::Clock;

/// The router's frozen simulated time (Nov 2026).
pub const NOW_SECS: u64 = 1_795_000_000;

/// A terminal that records what is printed and answers from a list.
#[derive(Default)]
pub struct Term {
    pub out: String,
    pub answers: Vec<String>,
}

impl Terminal for Term {
    fn print(&mut self, t: &str) {
        self.out.push_str(t);
    }
    fn ask(&mut self, q: &str) -> Option<String> {
        self.out.push_str(q);
        (!self.answers.is_empty()).then(|| self.answers.remove(0))
    }
}

/// A router in `dir`, its clock frozen at [`NOW_SECS`], the ES PIC in 1/0.
pub fn router(dir: &Path) -> Router {
    let clock = Clock::frozen(Duration::from_secs(NOW_SECS));
    Router::start(DataDir::new(dir), clock, Slot { fpc: 1, pic: 0 }).unwrap()
}

/// Runs one line; its result and what it printed.
pub fn run(r: &Router, s: &mut Session, line: &str) -> (Result<(), CommandError>, String) {
    run_answering(r, s, line, &[])
}

/// Runs one line, answering its questions in order.
pub fn run_answering(
    r: &Router,
    s: &mut Session,
    line: &str,
    answers: &[&str],
) -> (Result<(), CommandError>, String) {
    let mut t = Term {
        answers: answers.iter().map(|a| a.to_string()).collect(),
        ..Term::default()
    };
    let res = r.run_line(s, line, &mut t);
    (res, t.out)
}

/// Runs a line that must succeed; its output.
pub fn ok(r: &Router, s: &mut Session, line: &str) -> String {
    let (res, out) = run(r, s, line);
    assert!(res.is_ok(), "{line}: {res:?}\n{out}");
    out
}

/// Runs a line that must fail; its error message.
pub fn err(r: &Router, s: &mut Session, line: &str) -> String {
    let (res, out) = run(r, s, line);
    match res {
        Err(CommandError::Failed(m)) | Err(CommandError::Reported(m)) => m,
        Err(CommandError::Syntax(e)) => e.message,
        Ok(()) => panic!("{line} succeeded:\n{out}"),
    }
}

/// Every file under the router's PKI store with its bytes: "nothing stored changed".
pub fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(p: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for e in std::fs::read_dir(p).unwrap() {
            let path = e.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else {
                out.insert(path.clone(), std::fs::read(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(&dir.join("ikecert"), &mut out);
    out
}

/// Configures and commits CA profile `name` (ca-identity = name).
pub fn configure_profile(r: &Router, s: &mut Session, name: &str) {
    ok(r, s, "configure");
    ok(
        r,
        s,
        &format!("set security pki ca-profile {name} ca-identity {name}"),
    );
    ok(r, s, "commit");
    ok(r, s, "exit");
}

/// Whether the third-party program `cmd` answers `args`; missing, it
/// fails the test under `CI=true` (`.ci/run` installs `package`) and
/// skips it otherwise.
pub fn peer_available(cmd: &str, args: &[&str], package: &str) -> bool {
    let ok = Command::new(cmd)
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        let msg = format!("{cmd} is not installed: apt-get install {package} (.ci/run does)");
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{msg}");
        }
        eprintln!("skipping: {msg}");
    }
    ok
}
