//! Per-daemon log files, written through `tracing`.
//!
//! Every event goes to `messages`; events whose target names a daemon also
//! go to that daemon's file, as on Junos: PKI (`pki*` targets) to `pkid`,
//! IKE (`ike*`) to `kmd`, the card (`espic*`) to `espic`. Lines are
//! syslog-style and stamped with the simulated clock:
//! `Nov 23 12:00:00 r1 pkid: message key=value`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use simclock::{Clock, to_datetime};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

/// The daemon log file an event target belongs to, besides `messages`.
pub fn daemon_file(target: &str) -> Option<&'static str> {
    if target.starts_with("pki") {
        Some("pkid")
    } else if target.starts_with("ike") || target.starts_with("kmd") {
        Some("kmd")
    } else if target.starts_with("espic") {
        Some("espic")
    } else {
        None
    }
}

/// The log files of one router.
pub struct LogFiles {
    dir: PathBuf,
    host: Arc<RwLock<String>>,
    clock: Clock,
    files: Mutex<HashMap<&'static str, File>>,
}

impl LogFiles {
    /// Log files in `dir`, stamped with `clock`, naming the host `host`
    /// (shared: the host name changes on commit).
    pub fn new(dir: PathBuf, host: Arc<RwLock<String>>, clock: Clock) -> Self {
        LogFiles {
            dir,
            host,
            clock,
            files: Mutex::new(HashMap::new()),
        }
    }

    fn append(&self, file: &'static str, line: &str) {
        let mut files = self.files.lock().unwrap_or_else(PoisonError::into_inner);
        if !files.contains_key(file) {
            let opened = OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.dir.join(file));
            match opened {
                Ok(f) => {
                    files.insert(file, f);
                }
                Err(_) => return,
            }
        }
        if let Some(f) = files.get_mut(file) {
            let _ = f.write_all(line.as_bytes());
        }
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

#[derive(Default)]
struct Line {
    message: String,
    fields: String,
}

impl Visit for Line {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.fields, " {}={value}", field.name());
        }
    }
}

impl<S: Subscriber> Layer<S> for LogFiles {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut line = Line::default();
        event.record(&mut line);
        let target = event.metadata().target();
        let daemon = daemon_file(target);
        let process = daemon.unwrap_or("mtsim");
        let d = to_datetime(self.clock.now());
        let month = MONTHS
            .get(usize::from(d.month()).saturating_sub(1))
            .copied()
            .unwrap_or("Jan");
        let host = self
            .host
            .read()
            .map(|h| h.clone())
            .unwrap_or_else(|e| e.into_inner().clone());
        let text = format!(
            "{month} {:>2} {:02}:{:02}:{:02} {host} {process}: {}{}\n",
            d.day(),
            d.hour(),
            d.minutes(),
            d.seconds(),
            line.message,
            line.fields
        );
        self.append("messages", &text);
        if let Some(f) = daemon {
            self.append(f, &text);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tracing_subscriber::layer::SubscriberExt;

    #[test]
    fn events_go_to_messages_and_their_daemon_file() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Clock::frozen(Duration::from_secs(1_795_000_000)); // 2026-11-18 11:06:40 UTC
        let host = Arc::new(RwLock::new("r1".to_string()));
        let files = LogFiles::new(dir.path().to_path_buf(), host, clock);
        let subscriber = tracing_subscriber::registry().with(files);
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(target: "pki", certificate_id = "c1", "local certificate loaded");
            tracing::info!(target: "mgd", "commit complete");
        });
        let pkid = std::fs::read_to_string(dir.path().join("pkid")).unwrap();
        assert_eq!(
            pkid,
            "Nov 18 11:06:40 r1 pkid: local certificate loaded certificate_id=c1\n"
        );
        let messages = std::fs::read_to_string(dir.path().join("messages")).unwrap();
        assert_eq!(messages.lines().count(), 2);
        assert!(
            messages.ends_with("r1 mtsim: commit complete\n"),
            "{messages}"
        );
        assert_eq!(daemon_file("ike::sa"), Some("kmd"));
        assert_eq!(daemon_file("espic::engine"), Some("espic"));
    }
}
