//! Crash consistency: the router process is killed (SIGKILL) at varying
//! moments while it generates key pairs, commits configurations, and
//! enrolls certificates over SCEP in the background; after each restart the
//! store and the configuration load without complaint, and nothing that
//! was reported done before the kill is lost.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use support::CaProcess;

const MTSIM: &str = env!("CARGO_BIN_EXE_mtsim");

struct Router {
    child: Child,
    data: PathBuf,
}

impl Router {
    /// Starts `mtsim router` and waits for its CLI socket; its stderr
    /// (start-up warnings included) goes to `start-N.log`.
    fn start(data: &Path, n: usize) -> Router {
        let log = std::fs::File::create(data.with_extension(format!("start-{n}.log"))).unwrap();
        let _ = std::fs::remove_file(data.join("run/cli.sock"));
        let mut child = Command::new(MTSIM)
            .args(["router", "--data-dir"])
            .arg(data)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        for _ in 0..200 {
            if std::os::unix::net::UnixStream::connect(data.join("run/cli.sock")).is_ok() {
                return Router {
                    child,
                    data: data.to_path_buf(),
                };
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("the router did not start");
    }

    fn kill(self) {
        drop(self);
    }

    /// Runs one CLI line; (success, output).
    fn cli(&self, line: &str) -> (bool, String) {
        let o = Command::new(MTSIM)
            .args(["cli", "--data-dir"])
            .arg(&self.data)
            .args(["-c", line])
            .output()
            .unwrap();
        (
            o.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ),
        )
    }

    fn script(&self, lines: &str) -> String {
        use std::io::Write as _;
        let mut c = Command::new(MTSIM)
            .args(["cli", "--data-dir"])
            .arg(&self.data)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        c.stdin.take().unwrap().write_all(lines.as_bytes()).unwrap();
        let o = c.wait_with_output().unwrap();
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    }
}

impl Drop for Router {
    /// Kills the process (SIGKILL), also when a test fails.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A pseudo-random delay in 0..max ms, different for each iteration.
fn delay(i: usize, max: u64) -> Duration {
    Duration::from_millis((i as u64).wrapping_mul(2_654_435_761) % max)
}

/// Runs `mtsim cli -c LINE` or, with newlines, a script on stdin;
/// (success, output). The router may be killed under it.
fn cli_in_thread(data: PathBuf, line: String) -> std::thread::JoinHandle<(bool, String)> {
    std::thread::spawn(move || {
        use std::io::Write as _;
        let mut c = Command::new(MTSIM);
        c.args(["cli", "--data-dir"]).arg(&data);
        let o = if line.contains('\n') {
            let mut child = c
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let _ = child.stdin.take().unwrap().write_all(line.as_bytes());
            child.wait_with_output().unwrap()
        } else {
            c.args(["-c", &line]).output().unwrap()
        };
        (
            o.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ),
        )
    })
}

#[test]
fn killing_the_router_at_any_moment_loses_nothing_reported_done() {
    let d = tempfile::tempdir().unwrap();
    let ca = CaProcess::start(&d.path().join("ca"), &["--challenge", "pw"]);
    let data = d.path().join("r1");
    std::fs::create_dir_all(&data).unwrap();
    let mut r = Router::start(&data, 0);
    r.script(&format!(
        "configure\nset security pki ca-profile ca1 ca-identity ca1 enrollment url {} retry 30 retry-interval 1\ncommit\n",
        ca.scep_url()
    ));
    let out = r.script("request security pki ca-certificate enroll ca-profile ca1\nyes\n");
    assert!(out.contains("loaded successfully"), "{out}");

    let mut keys: Vec<String> = Vec::new();
    let mut host = String::from("router");
    let mut enrolling: Vec<String> = Vec::new();
    let mut interrupted = 0;
    for i in 1..=24 {
        let line = match i % 3 {
            0 => format!(
                "request security pki generate-key-pair certificate-id k{i} size 2048 type rsa"
            ),
            1 => format!("configure\nset system host-name h{i}\ncommit\n"),
            _ => {
                let (ok, out) = r.cli(&format!(
                    "request security pki generate-key-pair certificate-id e{i} size 2048 type rsa"
                ));
                assert!(ok, "{out}");
                keys.push(format!("e{i}"));
                format!(
                    "request security pki local-certificate enroll scep ca-profile ca1 certificate-id e{i} challenge-password pw subject CN=e{i} domain-name e{i}.example.net"
                )
            }
        };
        let op = cli_in_thread(data.clone(), line);
        std::thread::sleep(delay(i, 60));
        r.kill();
        let (_, out) = op.join().unwrap();
        let done = [
            "Generated key pair",
            "commit complete",
            "enrollment has started",
        ]
        .iter()
        .any(|w| out.contains(w));
        interrupted += usize::from(!done);
        // What the router reported done must survive.
        if out.contains("Generated key pair") {
            keys.push(format!("k{i}"));
        }
        if out.contains("commit complete") {
            host = format!("h{i}");
        }
        if out.contains("enrollment has started") {
            enrolling.push(format!("e{i}"));
        }
        r = Router::start(&data, i);
        let start = std::fs::read_to_string(data.with_extension(format!("start-{i}.log"))).unwrap();
        assert!(
            !start.contains("error"),
            "iteration {i}: the router complained at start:\n{start}"
        );
        let (ok, shown) = r.cli("show security pki key-pair");
        assert!(ok, "{shown}");
        for k in &keys {
            assert!(
                shown.contains(&format!("Certificate identifier: {k}\n")),
                "iteration {i}: key pair {k} lost:\n{shown}"
            );
        }
        // A commit cut short may have happened or not, never half.
        let (_, version) = r.cli("show version");
        let cut_short = format!("Hostname: h{i}\n");
        if i % 3 == 1 && !done && version.contains(&cut_short) {
            host = format!("h{i}");
        }
        assert!(
            version.contains(&format!("Hostname: {host}\n")),
            "iteration {i}: {version}"
        );
    }
    eprintln!("{interrupted} of 24 operations were cut short by the kill");
    // Every enrollment that was reported started completes after the
    // restarts (pkid resumes them).
    for e in &enrolling {
        support::wait_show(&data, e, "Serial number:");
    }

    // Re-enrollment, killed at varying moments: the certificate is never
    // lost (the old one until the new one is stored), and every
    // re-enrollment reported started ends with a new certificate.
    let serial = |r: &Router, id: &str| -> String {
        let (_, out) = r.cli(&format!(
            "show security pki local-certificate certificate-id {id} detail"
        ));
        out.lines()
            .find_map(|l| l.trim().strip_prefix("Serial number: "))
            .unwrap_or_else(|| panic!("{id} lost:\n{out}"))
            .to_string()
    };
    let mut renewing = Vec::new();
    for (k, e) in enrolling.iter().enumerate() {
        let before = serial(&r, e);
        let op = cli_in_thread(
            data.clone(),
            format!(
                "request security pki local-certificate re-enroll scep ca-profile ca1 certificate-id {e} challenge-password pw"
            ),
        );
        std::thread::sleep(delay(k + 100, 60));
        r.kill();
        let (_, out) = op.join().unwrap();
        r = Router::start(&data, 100 + k);
        let start =
            std::fs::read_to_string(data.with_extension(format!("start-{}.log", 100 + k))).unwrap();
        assert!(
            !start.contains("error"),
            "re-enrollment {k}: the router complained at start:\n{start}"
        );
        // Still a certificate: the old one or already the new one.
        let _ = serial(&r, e);
        if out.contains("re-enrollment has started") {
            renewing.push((e.clone(), before));
        }
    }
    for (e, before) in &renewing {
        let mut renewed = false;
        for _ in 0..200 {
            if serial(&r, e) != *before {
                renewed = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(
            renewed,
            "the re-enrollment of {e} reported started never completed"
        );
    }
    eprintln!(
        "{} of {} re-enrollments were reported started",
        renewing.len(),
        enrolling.len()
    );
    r.kill();
}
