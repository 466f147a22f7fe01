//! The interactive CLI under a real terminal: tmux runs `mtsim cli`, the
//! test sends keys and reads the pane. Under `CI=true` a missing tmux fails
//! the test.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use std::process::Command;
use std::time::Duration;

struct Tmux {
    socket: String,
}

impl Tmux {
    fn cmd(&self) -> Command {
        let mut c = Command::new("tmux");
        c.arg("-L").arg(&self.socket);
        c
    }

    fn send(&self, keys: &[&str]) {
        let ok = self
            .cmd()
            .args(["send-keys", "-t", "cli"])
            .args(keys)
            .status()
            .unwrap();
        assert!(ok.success());
    }

    fn pane(&self) -> String {
        let o = self
            .cmd()
            .args(["capture-pane", "-p", "-t", "cli"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Waits (bounded) until the pane satisfies `f`.
    fn wait_for(&self, what: &str, f: impl Fn(&str) -> bool) -> String {
        for _ in 0..250 {
            let p = self.pane();
            if f(&p) {
                return p;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("timed out waiting for {what}; pane:\n{}", self.pane());
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd().arg("kill-server").status();
    }
}

fn tmux_available() -> bool {
    support::peer_available("tmux", &["-V"], "tmux")
}

#[test]
fn question_mark_tab_and_commands_at_the_prompt() {
    if !tmux_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let tmux = Tmux {
        socket: format!("mtsim-test-{}", std::process::id()),
    };
    let cmdline = format!(
        "{} cli --data-dir {}",
        env!("CARGO_BIN_EXE_mtsim"),
        dir.path().display()
    );
    let ok = tmux
        .cmd()
        .args([
            "new-session",
            "-d",
            "-s",
            "cli",
            "-x",
            "160",
            "-y",
            "50",
            &cmdline,
        ])
        .status()
        .unwrap();
    assert!(ok.success());
    // capture-pane trims trailing spaces, so prompts are matched without theirs.
    tmux.wait_for("the prompt", |p| p.contains("root@router>"));

    // Tab completes a unique prefix.
    tmux.send(&["show ch", "Tab"]);
    tmux.wait_for("Tab completion", |p| {
        p.contains("root@router> show chassis")
    });

    // ? lists the next words with help, then gives the line back.
    tmux.send(&["?"]);
    let p = tmux.wait_for("the ? listing", |p| p.contains("Possible completions:"));
    assert!(
        p.contains("  hardware             Show installed hardware components"),
        "{p}"
    );
    tmux.wait_for("the line given back", |p| {
        p.trim_end().ends_with("root@router> show chassis")
            && p.matches("root@router> show chassis").count() >= 2
    });

    tmux.send(&["hardware", "Enter"]);
    let p = tmux.wait_for("the command output", |p| p.contains("Hardware inventory:"));
    assert!(p.contains("Encryption Services"), "{p}");

    // History: Up recalls the previous command, Enter runs it again.
    tmux.send(&["Up", "Enter"]);
    tmux.wait_for("the recalled command's output", |p| {
        p.matches("Hardware inventory:").count() >= 2
    });

    // A syntax error draws the caret under the bad word.
    tmux.send(&["show chasis", "Enter"]);
    let p = tmux.wait_for("the syntax error", |p| {
        p.contains("syntax error, expecting <command>.")
    });
    assert!(
        p.contains("root@router> show chasis\n                  ^\n"),
        "{p}"
    );

    // Configuration mode prompt, then a yes/no question answered at the prompt.
    tmux.send(&["configure", "Enter"]);
    tmux.wait_for("configuration mode", |p| p.contains("[edit]\nroot@router#"));
    tmux.send(&["set system host-name tmuxed", "Enter"]);
    tmux.send(&["commit", "Enter"]);
    tmux.wait_for("commit", |p| p.contains("commit complete"));
    tmux.wait_for("the new host name", |p| p.contains("root@tmuxed#"));
    tmux.send(&["exit", "Enter"]);
    tmux.wait_for("operational mode", |p| p.contains("root@tmuxed>"));
    tmux.send(&["exit", "Enter"]);
}
