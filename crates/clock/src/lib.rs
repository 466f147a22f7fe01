//! The simulated clock.
//!
//! Everything in mtsim that reads time (certificate validity, enrollment
//! retries, re-enrollment, IKE and SA lifetimes, uptime, log stamps) reads a
//! [`Clock`]. A running clock follows the host's clock from where it was
//! last set (`set date` on the router); a frozen clock moves only when told
//! to, which is what tests use instead of sleeping.
//!
//! This module is the one place allowed to read the host's clock
//! (`clippy.toml` disallows `SystemTime::now` and `Instant::now` elsewhere).

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub use der::DateTime;

#[derive(Debug, Clone, Copy)]
enum Source {
    /// Follows the host's monotonic clock from `base`.
    Running { since: Instant, base: Duration },
    /// Stands still at a time since the epoch.
    Frozen(Duration),
}

/// A shared, settable clock (cheap to clone; clones share the time).
#[derive(Debug, Clone)]
pub struct Clock {
    source: Arc<Mutex<Source>>,
}

#[allow(clippy::disallowed_methods)] // the clock module is where host time enters
fn host_now() -> (Instant, Duration) {
    let unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    (Instant::now(), unix)
}

#[allow(clippy::disallowed_methods)] // the clock module is where host time enters
fn monotonic_now() -> Instant {
    Instant::now()
}

impl Clock {
    /// A running clock starting at the host's current time.
    pub fn system() -> Self {
        let (since, base) = host_now();
        Self::with(Source::Running { since, base })
    }

    /// A running clock starting at `at` (time since the Unix epoch).
    pub fn running_from(at: Duration) -> Self {
        Self::with(Source::Running {
            since: monotonic_now(),
            base: at,
        })
    }

    /// A clock standing still at `at` (time since the Unix epoch).
    pub fn frozen(at: Duration) -> Self {
        Self::with(Source::Frozen(at))
    }

    fn with(source: Source) -> Self {
        Clock {
            source: Arc::new(Mutex::new(source)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Source> {
        self.source.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The current time since the Unix epoch.
    pub fn now(&self) -> Duration {
        match *self.lock() {
            Source::Running { since, base } => base + since.elapsed(),
            Source::Frozen(t) => t,
        }
    }

    /// The current time as a calendar date (UTC).
    pub fn now_utc(&self) -> DateTime {
        to_datetime(self.now())
    }

    /// Moves the clock to `at` (what `set date` does); a running clock goes
    /// on running from there.
    pub fn set(&self, at: Duration) {
        let mut s = self.lock();
        *s = match *s {
            Source::Running { .. } => Source::Running {
                since: monotonic_now(),
                base: at,
            },
            Source::Frozen(_) => Source::Frozen(at),
        };
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let now = self.now();
        self.set(now.saturating_add(by));
    }

    /// Whether the clock stands still between `set`/`advance` calls.
    pub fn is_frozen(&self) -> bool {
        matches!(*self.lock(), Source::Frozen(_))
    }
}

/// Converts a time since the epoch to a calendar date, clamped to the
/// range DER can express (1970..=9999).
pub fn to_datetime(t: Duration) -> DateTime {
    DateTime::from_unix_duration(Duration::from_secs(t.as_secs())).unwrap_or(DateTime::INFINITY)
}

/// A time as Junos prints it: `2026-11-23 12:00:00 UTC`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JunosTime(pub Duration);

impl fmt::Display for JunosTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = to_datetime(self.0);
        write!(
            f,
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
            d.year(),
            d.month(),
            d.day(),
            d.hour(),
            d.minutes(),
            d.seconds()
        )
    }
}

/// A duration as Junos prints uptimes: `1d 02:03:04` or `02:03:04`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JunosDuration(pub Duration);

impl fmt::Display for JunosDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0.as_secs();
        let (d, h, m, s) = (s / 86400, s / 3600 % 24, s / 60 % 60, s % 60);
        if d > 0 {
            write!(f, "{d}d {h:02}:{m:02}:{s:02}")
        } else {
            write!(f, "{h:02}:{m:02}:{s:02}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frozen_clock_moves_only_when_told() {
        let c = Clock::frozen(Duration::from_secs(1_795_000_000));
        assert_eq!(c.now(), Duration::from_secs(1_795_000_000));
        c.advance(Duration::from_secs(90));
        assert_eq!(c.now(), Duration::from_secs(1_795_000_090));
        let d = DateTime::new(2026, 11, 23, 12, 0, 0).unwrap();
        c.set(d.unix_duration());
        assert_eq!(JunosTime(c.now()).to_string(), "2026-11-23 12:00:00 UTC");
        assert!(c.is_frozen());
        let clone = c.clone();
        clone.advance(Duration::from_secs(1));
        assert_eq!(c.now_utc().seconds(), 1);
    }

    #[test]
    fn running_clock_runs_from_where_it_was_set() {
        let c = Clock::running_from(Duration::from_secs(1000));
        let t = c.now();
        assert!(t >= Duration::from_secs(1000) && t < Duration::from_secs(1100));
        c.set(Duration::from_secs(5000));
        assert!(c.now() >= Duration::from_secs(5000));
        assert!(Clock::system().now() > Duration::from_secs(1_700_000_000));
    }

    #[test]
    fn durations() {
        assert_eq!(
            JunosDuration(Duration::from_secs(3723)).to_string(),
            "01:02:03"
        );
        assert_eq!(
            JunosDuration(Duration::from_secs(90061)).to_string(),
            "1d 01:01:01"
        );
    }
}
