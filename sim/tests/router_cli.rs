//! The router and its CLI as a user drives them: one-shot commands,
//! scripts, configuration with commit and rollback that survives a restart,
//! the simulated clock, logs, bad input, two routers side by side.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn mtsim() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mtsim"))
}

fn one_shot(dir: &Path, line: &str) -> Output {
    mtsim()
        .arg("cli")
        .arg("--data-dir")
        .arg(dir)
        .arg("-c")
        .arg(line)
        .output()
        .unwrap()
}

fn script(dir: &Path, text: &str) -> Output {
    let mut child = mtsim()
        .arg("cli")
        .arg("--data-dir")
        .arg(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn show_chassis_hardware_lists_the_es_pic_with_serials() {
    let d = tempfile::tempdir().unwrap();
    let o = one_shot(d.path(), "show chassis hardware");
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.starts_with("Hardware inventory:\n"), "{out}");
    assert!(out.contains("Routing Engine 0"), "{out}");
    assert!(out.contains("FPC 1"), "{out}");
    assert!(out.contains("Encryption Services"), "{out}");
    let serial = std::fs::read_to_string(d.path().join("chassis")).unwrap();
    assert!(out.contains(serial.trim()), "chassis serial shown: {out}");
    // The same serial after a restart.
    assert_eq!(stdout(&one_shot(d.path(), "show chassis hardware")), out);
    // Pipes on the real tree.
    let o = one_shot(d.path(), "show chassis hardware | match pic | count");
    assert_eq!(stdout(&o), "Count: 2 lines\n");
    let o = one_shot(d.path(), "show chassis hardware | display json");
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(
        v["chassis-inventory"]["chassis"]["serial-number"],
        serial.trim()
    );
}

#[test]
fn es_pic_slot_is_configurable() {
    let d = tempfile::tempdir().unwrap();
    let mut router = mtsim()
        .args(["router", "--es-pic", "3/2", "--data-dir"])
        .arg(d.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = String::new();
    for _ in 0..500 {
        if d.path().join("run/cli.sock").exists() {
            let o = one_shot(d.path(), "show interfaces terse");
            out = stdout(&o);
            if o.status.success() {
                break;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(out.contains("es-3/2/0"), "{out}");
    // A client speaking garbage on the socket is dropped; the router goes on.
    for junk in [
        &b"not json\n"[..],
        b"{\"t\":\"line\",\"text\":\"show version\"}\n",
        &[0xff; 64],
    ] {
        let mut raw =
            std::os::unix::net::UnixStream::connect(d.path().join("run/cli.sock")).unwrap();
        raw.write_all(junk).unwrap();
        drop(raw);
    }
    // Several CLI sessions at once on the running router.
    let sessions: Vec<_> = (0..4)
        .map(|i| {
            let p = d.path().to_path_buf();
            std::thread::spawn(move || script(&p, &format!("show version\nshow system uptime\nshow log messages | count\n# session {i}\n")))
        })
        .collect();
    for s in sessions {
        let o = s.join().unwrap();
        assert!(o.status.success(), "{}", stdout(&o));
        assert!(stdout(&o).contains("Hostname: router"));
    }
    // request system reboot asks first; "no" leaves everything as it is.
    let o = script(
        d.path(),
        "request system reboot\nno\nshow system uptime\nrequest system reboot\nyes\n",
    );
    let out = stdout(&o);
    assert!(
        out.contains("Reboot the system ? [yes,no] (no) no"),
        "{out}"
    );
    assert!(out.contains("Shutdown NOW!"), "{out}");
    // A second router on the same directory is refused.
    let o = mtsim()
        .arg("router")
        .arg("--data-dir")
        .arg(d.path())
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("another router is running"),
        "{}",
        stderr(&o)
    );
    router.kill().unwrap();
    router.wait().unwrap();
    let o = mtsim()
        .args(["router", "--es-pic", "9/0"])
        .output()
        .unwrap();
    assert!(
        stderr(&o).contains("slot 9/0 does not exist"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn commit_and_rollback_survive_a_restart() {
    let d = tempfile::tempdir().unwrap();
    let o = script(
        d.path(),
        "configure\nset system host-name alpha\ncommit\nset system host-name beta\ncommit\nexit\n",
    );
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert_eq!(stdout(&o).matches("commit complete").count(), 2);
    // A new router process (the script's ended with its session).
    let o = one_shot(d.path(), "show version");
    assert!(stdout(&o).contains("Hostname: beta"), "{}", stdout(&o));
    let o = script(
        d.path(),
        "configure\nrollback 1\nshow | compare\ncommit\nexit\nshow version\n",
    );
    let out = stdout(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("load complete"), "{out}");
    assert!(
        out.contains("[edit system]\n-  host-name beta;\n+  host-name alpha;"),
        "{out}"
    );
    assert!(out.contains("Hostname: alpha"), "{out}");
    let o = script(d.path(), "configure\nshow | display set\nexit\n");
    assert!(
        stdout(&o).contains("set system host-name alpha"),
        "{}",
        stdout(&o)
    );
    assert!(d.path().join("config/juniper.conf.1").exists());
}

#[test]
fn a_script_stops_at_the_first_failing_command() {
    let d = tempfile::tempdir().unwrap();
    let o = script(
        d.path(),
        "show version\nshow chasis hardware\nshow system uptime\n",
    );
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(out.contains("Hostname: router"), "{out}");
    assert!(out.contains("root@router> show chasis hardware\n                  ^\nsyntax error, expecting <command>."), "{out}");
    assert!(
        !out.contains("Current time"),
        "stopped before the third command: {out}"
    );
}

#[test]
fn bad_input_gets_junos_errors_and_changes_nothing() {
    let d = tempfile::tempdir().unwrap();
    let cases: &[(&str, &str)] = &[
        ("frobnicate", "unknown command."),
        ("show log ../../etc/passwd", "error: invalid file name"),
        (
            "show log nosuchfile",
            "error: could not resolve file: nosuchfile",
        ),
        ("set date 202613011200.00", "error: invalid date"),
        ("show \"unterminated", "unterminated quoted string"),
    ];
    for (line, want) in cases {
        let o = one_shot(d.path(), line);
        assert_eq!(o.status.code(), Some(1), "{line}");
        assert!(stdout(&o).contains(want), "{line}: {}", stdout(&o));
    }
    for (line, want) in [
        ("set system hostname x", "hostname"),
        (
            "set system host-name \"bad name!\"",
            "invalid host name 'bad name!'",
        ),
        ("set nonsense", "nonsense"),
    ] {
        let o = script(d.path(), &format!("configure\n{line}\n"));
        assert_eq!(o.status.code(), Some(1), "{line}");
        assert!(stdout(&o).contains(want), "{line}: {}", stdout(&o));
    }
    // Nothing was committed.
    assert!(
        !d.path().join("config/juniper.conf").exists()
            || std::fs::read_to_string(d.path().join("config/juniper.conf"))
                .unwrap()
                .lines()
                .all(|l| !l.contains("host-name"))
    );
}

#[test]
fn exit_with_uncommitted_changes_asks_and_reads_the_next_line() {
    let d = tempfile::tempdir().unwrap();
    let o = script(
        d.path(),
        "configure\nset system host-name gamma\nexit\nno\nshow | compare\nexit\nyes\nshow version\n",
    );
    let out = stdout(&o);
    assert!(o.status.success(), "{out}");
    assert!(
        out.contains("The configuration has been changed but not committed"),
        "{out}"
    );
    assert!(
        out.contains("Exit with uncommitted changes? [yes,no] (yes) no"),
        "{out}"
    );
    assert!(
        out.contains("+      host-name gamma;"),
        "still in configuration mode: {out}"
    );
    assert!(out.contains("Exiting configuration mode"), "{out}");
    assert!(out.contains("Hostname: router"), "not committed: {out}");
}

#[test]
fn set_date_moves_the_clock_and_logs_go_to_files() {
    let d = tempfile::tempdir().unwrap();
    let o = script(
        d.path(),
        "set date 203001021504.05\nshow system uptime\nshow log messages\n",
    );
    let out = stdout(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("Current time: 2030-01-02 15:04:0"), "{out}");
    assert!(out.contains("date changed from"), "{out}");
    assert!(
        out.contains("Jan  2 15:04:"),
        "log lines are stamped with the simulated clock: {out}"
    );
    assert!(d.path().join("log/messages").exists());
    // clear log empties the file; a file that does not exist is an error.
    let o = script(d.path(), "clear log messages\nshow log messages | count\n");
    assert!(o.status.success(), "{}", stdout(&o));
    assert!(stdout(&o).ends_with("Count: 0 lines\n"), "{}", stdout(&o));
    let o = one_shot(d.path(), "clear log nosuchfile");
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("error: could not resolve file: nosuchfile"));
}

#[test]
fn a_corrupted_configuration_is_reported_and_the_last_good_one_used() {
    let d = tempfile::tempdir().unwrap();
    let o = script(
        d.path(),
        "configure\nset system host-name good\ncommit\nset system host-name better\ncommit\n",
    );
    assert!(o.status.success(), "{}", stdout(&o));
    std::fs::write(
        d.path().join("config/juniper.conf"),
        "system {\n    host-name better\n    garbage {{{\n",
    )
    .unwrap();
    let o = one_shot(d.path(), "show version");
    assert!(o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("juniper.conf"),
        "warning names the file: {err}"
    );
    assert!(stdout(&o).contains("Hostname: good"), "{}", stdout(&o));
}

#[test]
fn two_routers_run_side_by_side() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let ta = std::thread::spawn({
        let p = a.path().to_path_buf();
        move || {
            script(
                &p,
                "configure\nset system host-name ra\ncommit\nexit\nshow version\n",
            )
        }
    });
    let ob = script(
        b.path(),
        "configure\nset system host-name rb\ncommit\nexit\nshow version\n",
    );
    let oa = ta.join().unwrap();
    assert!(stdout(&oa).contains("Hostname: ra"));
    assert!(stdout(&ob).contains("Hostname: rb"));
    assert_ne!(
        std::fs::read_to_string(a.path().join("chassis")).unwrap(),
        std::fs::read_to_string(b.path().join("chassis")).unwrap()
    );
}
