//! The committed configuration on disk, as Junos keeps it in `/config`:
//! `juniper.conf` (active) and `juniper.conf.1` .. `juniper.conf.49`
//! (rollbacks, newest first), each starting with
//! `## Last commit: <time> by <user>`. Writes are atomic (temporary file,
//! fsync, rename, fsync of the directory) and the files are mode 0600.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::config::error::{CommitError, ParseError};
use crate::config::schema::Schema;
use crate::config::tree::Config;

/// The active configuration's file name.
pub const ACTIVE_FILE: &str = "juniper.conf";
/// How many rollbacks are kept (`rollback 1` .. `rollback 49`).
pub const MAX_ROLLBACKS: u32 = 49;
/// The header line's prefix.
const HEADER: &str = "## Last commit: ";
/// Larger files are refused as corrupt rather than read.
const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// A store operation that failed.
#[derive(Debug, Error)]
pub enum StoreError {
    /// A file operation failed.
    #[error("cannot {action} {}: {error}", path.display())]
    Io {
        /// What was being done (`read`, `write`, `rename`, ...).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The system's error.
        error: io::Error,
    },
    /// `rollback N` with no such rollback.
    #[error("rollback {0} does not exist")]
    NoRollback(u32),
    /// `rollback N` beyond the rollbacks kept.
    #[error("rollback {0} is out of range (0..{MAX_ROLLBACKS})")]
    OutOfRange(u32),
    /// A file that does not parse (or is not text, or is too large).
    #[error("{}: {problem}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the line for a parse error.
        problem: String,
    },
    /// The configuration failed the commit check; nothing was written.
    #[error("configuration check-out failed")]
    Invalid(Vec<CommitError>),
}

fn io_err<'p>(action: &'static str, path: &'p Path) -> impl FnOnce(io::Error) -> StoreError + 'p {
    move |error| StoreError::Io {
        action,
        path: path.to_path_buf(),
        error,
    }
}

/// The configuration files of one router.
#[derive(Debug)]
pub struct ConfigStore {
    dir: PathBuf,
}

/// Why a stored file could not be loaded.
enum LoadError {
    Missing,
    Io(io::Error),
    TooLarge(u64),
    NotText(usize),
    Parse(ParseError),
}

impl LoadError {
    fn describe(&self) -> String {
        match self {
            LoadError::Missing => "file is missing".into(),
            LoadError::Io(e) => format!("cannot read: {e}"),
            LoadError::TooLarge(n) => format!("file is too large ({n} bytes)"),
            LoadError::NotText(at) => format!("not text (invalid UTF-8 at byte {at})"),
            LoadError::Parse(e) => e.to_string(),
        }
    }
}

impl ConfigStore {
    /// Opens (creating if needed) the store in `dir` and loads the active
    /// configuration. A `juniper.conf` that cannot be loaded gives a
    /// warning naming the file, line and problem, and the newest rollback
    /// that loads is used instead (the last good configuration); if none
    /// does, an empty configuration. Warnings are returned for the caller
    /// to print (after `warning: `) or log.
    pub fn open(
        dir: &Path,
        schema: &Schema,
    ) -> Result<(ConfigStore, Config, Vec<String>), StoreError> {
        fs::create_dir_all(dir).map_err(io_err("create", dir))?;
        let store = ConfigStore {
            dir: dir.to_path_buf(),
        };
        let mut warnings = Vec::new();
        let active = store.file(0);
        match load(&active, schema) {
            Ok(config) => return Ok((store, config, warnings)),
            Err(LoadError::Missing) if !store.any_rollback() => {
                return Ok((store, Config::new(), warnings));
            }
            Err(e) => warnings.push(format!("{}: {}", active.display(), e.describe())),
        }
        for n in 1..=MAX_ROLLBACKS {
            let path = store.file(n);
            match load(&path, schema) {
                Ok(config) => {
                    warnings.push(format!(
                        "loaded rollback {n} ({}), the last good configuration",
                        path.display()
                    ));
                    return Ok((store, config, warnings));
                }
                Err(LoadError::Missing) => {}
                Err(e) => warnings.push(format!("{}: {}", path.display(), e.describe())),
            }
        }
        warnings.push(format!(
            "no loadable configuration in {}: starting with an empty configuration",
            dir.display()
        ));
        Ok((store, Config::new(), warnings))
    }

    /// The directory of the store.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file of rollback `n` (0 = the active configuration).
    pub fn file(&self, n: u32) -> PathBuf {
        if n == 0 {
            self.dir.join(ACTIVE_FILE)
        } else {
            self.dir.join(format!("{ACTIVE_FILE}.{n}"))
        }
    }

    fn any_rollback(&self) -> bool {
        (1..=MAX_ROLLBACKS).any(|n| self.file(n).exists())
    }

    /// Commits `config`: checks it (nothing is written if the check
    /// fails), shifts the rollbacks (the oldest beyond 49 is dropped), keeps
    /// the previous active configuration as rollback 1 and writes the new
    /// one with the header `## Last commit: <when> by <user>`. `when` is the
    /// simulated clock's time, as the caller formats it.
    pub fn commit(
        &mut self,
        schema: &Schema,
        config: &Config,
        when: &str,
        user: &str,
    ) -> Result<(), StoreError> {
        config.validate(schema).map_err(StoreError::Invalid)?;
        let text = format!(
            "{HEADER}{} by {}\n{}",
            one_line(when),
            one_line(user),
            config.render_curly::<&str>(schema, &[])
        );
        let active = self.file(0);
        let tmp = self.dir.join(format!(".{ACTIVE_FILE}.new"));
        write_synced(&tmp, text.as_bytes())?;
        for n in (1..MAX_ROLLBACKS).rev() {
            let from = self.file(n);
            if from.exists() {
                let to = self.file(n + 1);
                fs::rename(&from, &to).map_err(io_err("rename", &from))?;
            }
        }
        // Link (or copy) rather than move the active file, so that a crash
        // at any point leaves a juniper.conf (old or new) in place.
        if active.exists() {
            let first = self.file(1);
            if fs::hard_link(&active, &first).is_err() {
                let old = fs::read(&active).map_err(io_err("read", &active))?;
                let tmp1 = self.dir.join(format!(".{ACTIVE_FILE}.1.new"));
                write_synced(&tmp1, &old)?;
                fs::rename(&tmp1, &first).map_err(io_err("rename", &tmp1))?;
            }
        }
        fs::rename(&tmp, &active).map_err(io_err("rename", &tmp))?;
        sync_dir(&self.dir)?;
        Ok(())
    }

    /// The configuration of rollback `n` (0 = active), as `rollback N`
    /// loads it into the candidate.
    pub fn rollback(&self, schema: &Schema, n: u32) -> Result<Config, StoreError> {
        if n > MAX_ROLLBACKS {
            return Err(StoreError::OutOfRange(n));
        }
        let path = self.file(n);
        load(&path, schema).map_err(|e| match e {
            LoadError::Missing => StoreError::NoRollback(n),
            LoadError::Io(error) => StoreError::Io {
                action: "read",
                path,
                error,
            },
            other => StoreError::Corrupt {
                path,
                problem: other.describe(),
            },
        })
    }

    /// The rollbacks present, for `rollback ?`: number and header text
    /// (`<time> by <user>`), newest first.
    pub fn list_rollbacks(&self) -> Vec<(u32, String)> {
        (0..=MAX_ROLLBACKS)
            .filter_map(|n| {
                let path = self.file(n);
                if !path.is_file() {
                    return None;
                }
                Some((n, header_of(&path).unwrap_or_else(|| "unknown".into())))
            })
            .collect()
    }
}

/// Replaces line breaks and other control characters with spaces.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

fn read_limited(path: &Path) -> Result<Vec<u8>, LoadError> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(LoadError::Missing),
        Err(e) => return Err(LoadError::Io(e)),
    };
    let len = file.metadata().map_err(LoadError::Io)?.len();
    if len > MAX_FILE_BYTES {
        return Err(LoadError::TooLarge(len));
    }
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(LoadError::Io)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(LoadError::TooLarge(bytes.len() as u64));
    }
    Ok(bytes)
}

fn load(path: &Path, schema: &Schema) -> Result<Config, LoadError> {
    let bytes = read_limited(path)?;
    let text =
        String::from_utf8(bytes).map_err(|e| LoadError::NotText(e.utf8_error().valid_up_to()))?;
    Config::parse(&text, schema).map_err(LoadError::Parse)
}

fn header_of(path: &Path) -> Option<String> {
    let mut buf = Vec::new();
    File::open(path)
        .ok()?
        .take(4096)
        .read_to_end(&mut buf)
        .ok()?;
    let text = String::from_utf8_lossy(&buf);
    let first = text.lines().next()?;
    first.strip_prefix(HEADER).map(str::to_string)
}

/// Writes `bytes` to `path` (mode 0600) and syncs it to disk.
fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let mut opts = OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut file = opts.open(path).map_err(io_err("create", path))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // A leftover file keeps its mode through `open`: set it.
        file.set_permissions(fs::Permissions::from_mode(0o600))
            .map_err(io_err("set the mode of", path))?;
    }
    file.write_all(bytes).map_err(io_err("write", path))?;
    file.sync_all().map_err(io_err("sync", path))?;
    Ok(())
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("sync", dir))?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}
