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

/// `mtsim ca serve` as a child process on a free loopback port; killed
/// when dropped. Its log (stderr) is kept in `<dir>/serve.log`.
pub struct CaProcess {
    child: std::process::Child,
    // Kept open: the server prints more lines after the first.
    _stdout: std::io::BufReader<std::process::ChildStdout>,
    /// The CA directory.
    pub dir: PathBuf,
    /// `127.0.0.1:PORT`.
    pub addr: String,
}

impl CaProcess {
    /// Starts `mtsim ca serve --dir DIR --listen 127.0.0.1:0 ARGS...`.
    pub fn start(dir: &Path, args: &[&str]) -> Self {
        use std::io::BufRead;
        let log = std::fs::File::create(dir.with_extension("log")).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_mtsim"))
            .args(["ca", "serve", "--dir"])
            .arg(dir)
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut line = String::new();
        let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        stdout.read_line(&mut line).unwrap();
        let addr = line
            .trim()
            .strip_prefix("mtsim CA serving on http://")
            .unwrap_or_else(|| panic!("unexpected first line from mtsim ca serve: {line:?}"))
            .to_string();
        CaProcess {
            child,
            _stdout: stdout,
            dir: dir.to_path_buf(),
            addr,
        }
    }

    /// The SCEP URL.
    pub fn scep_url(&self) -> String {
        format!("http://{}/scep", self.addr)
    }

    /// The CMP URL.
    pub fn cmp_url(&self) -> String {
        format!("http://{}/pkix/", self.addr)
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.with_extension("log")).unwrap_or_default()
    }

    /// Runs `mtsim ca ARGS... --dir DIR` and returns its stdout.
    pub fn admin(&self, args: &[&str]) -> String {
        let o = Command::new(env!("CARGO_BIN_EXE_mtsim"))
            .arg("ca")
            .args(args)
            .arg("--dir")
            .arg(&self.dir)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "mtsim ca {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }
}

impl Drop for CaProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a command with a time limit (via coreutils `timeout`), in `cwd`;
/// returns (success, stdout, stderr).
pub fn run_peer(cwd: &Path, secs: u32, cmd: &str, args: &[&str]) -> (bool, String, String) {
    let o = Command::new("timeout")
        .arg(secs.to_string())
        .arg(cmd)
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Sends this thread's log events (in-process steps such as
/// `enroll::run_due` run on it) to the router's log files, as the daemon
/// does; dropped, it stops.
pub fn log_files(r: &Router) -> tracing::subscriber::DefaultGuard {
    use tracing_subscriber::layer::SubscriberExt;
    let sh = r.shared();
    let files = mtsim::logs::LogFiles::new(sh.dir.log(), sh.host.clone(), sh.clock.clone());
    tracing::subscriber::set_default(tracing_subscriber::registry().with(files))
}

/// A network namespace with `lo` up; deleted (with what runs in it) when dropped.
pub struct Netns {
    name: String,
    children: Vec<std::process::Child>,
}

impl Netns {
    /// A new namespace `mtsim-<what>-<pid>`.
    pub fn new(what: &str) -> Self {
        let name = format!("mtsim-{what}-{}", std::process::id());
        let st = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .unwrap();
        assert!(st.success(), "ip netns add (the test needs root)");
        let st = Command::new("ip")
            .args(["netns", "exec", &name, "ip", "link", "set", "lo", "up"])
            .status()
            .unwrap();
        assert!(st.success());
        Netns {
            name,
            children: Vec::new(),
        }
    }

    /// Starts `cmd args` inside the namespace, output to `log`; its index.
    pub fn spawn(&mut self, cwd: &Path, log: &Path, cmd: &str, args: &[&str]) -> usize {
        let out = std::fs::File::create(log).unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", &self.name, cmd])
            .args(args)
            .current_dir(cwd)
            .stdin(std::process::Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap();
        self.children.push(child);
        self.children.len() - 1
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs `cmd args` inside the namespace to completion: (success, output).
    pub fn run(&self, cmd: &str, args: &[&str]) -> (bool, String) {
        let o = Command::new("ip")
            .args(["netns", "exec", &self.name, cmd])
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        (o.status.success(), text)
    }

    /// Runs `cmd args` inside the namespace; it must succeed.
    pub fn must(&self, cmd: &str, args: &[&str]) -> String {
        let (ok, text) = self.run(cmd, args);
        assert!(ok, "{cmd} {args:?} in {}:\n{text}", self.name);
        text
    }

    /// Joins `self` and `other` with a veth pair made directly inside
    /// them (`if_a` here with `addr_a`/24, `if_b` there with `addr_b`/24).
    pub fn veth(&self, if_a: &str, addr_a: &str, other: &Netns, if_b: &str, addr_b: &str) {
        let st = Command::new("ip")
            .args([
                "link", "add", if_a, "netns", &self.name, "type", "veth", "peer", "name", if_b,
            ])
            .args(["netns", &other.name])
            .status()
            .unwrap();
        assert!(st.success(), "ip link add veth");
        for (ns, ifname, addr) in [(self, if_a, addr_a), (other, if_b, addr_b)] {
            ns.must("ip", &["addr", "add", &format!("{addr}/24"), "dev", ifname]);
            ns.must("ip", &["link", "set", ifname, "up"]);
        }
    }

    /// Stops the child `i` (`ip netns exec` execs the command: it is that process).
    pub fn stop(&mut self, i: usize) {
        let c = &mut self.children[i];
        let _ = c.kill();
        let _ = c.wait();
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// Runs one line with `mtsim cli -c` against the router daemon of `data`;
/// it must succeed; its output.
pub fn daemon_cli(data: &Path, line: &str) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_mtsim"))
        .args(["cli", "--data-dir"])
        .arg(data)
        .args(["-c", line])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "{line}:\n{text}");
    text
}

/// Runs `lines` as a script (stdin) with `mtsim cli` against the router
/// daemon of `data`; it must succeed; its output.
pub fn daemon_script(data: &Path, lines: &[String]) -> String {
    use std::io::Write as _;
    let mut child = Command::new(env!("CARGO_BIN_EXE_mtsim"))
        .args(["cli", "--data-dir"])
        .arg(data)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    for l in lines {
        writeln!(stdin, "{l}").unwrap();
    }
    drop(stdin);
    let o = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        o.status.success() && !text.contains("error:"),
        "{lines:?}:\n{text}"
    );
    text
}

/// The PKI log of the router in `data`.
pub fn pkid_log(data: &Path) -> String {
    std::fs::read_to_string(data.join("log/pkid")).unwrap_or_default()
}

/// Waits (up to 20 s: a peer process is working) until `show` of `id`
/// contains `what`.
pub fn wait_show(data: &Path, id: &str, what: &str) -> String {
    let line = format!("show security pki local-certificate certificate-id {id} detail");
    let mut last = String::new();
    for _ in 0..200 {
        let o = Command::new(env!("CARGO_BIN_EXE_mtsim"))
            .args(["cli", "--data-dir"])
            .arg(data)
            .args(["-c", &line])
            .output()
            .unwrap();
        last = String::from_utf8_lossy(&o.stdout).into_owned();
        if last.contains(what) {
            return last;
        }
        assert!(
            !last.contains(", failed"),
            "{id} failed while waiting for '{what}':\n{last}\n{}",
            pkid_log(data)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("'{what}' never shown for {id}:\n{last}\n{}", pkid_log(data));
}

/// Waits (up to 10 s: a peer process is starting) until the file at
/// `path` contains `what`.
pub fn wait_for(path: &Path, what: &str) {
    for _ in 0..100 {
        if std::fs::read_to_string(path).is_ok_and(|t| t.contains(what)) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!(
        "{} never said '{what}':\n{}",
        path.display(),
        std::fs::read_to_string(path).unwrap_or_default()
    );
}
