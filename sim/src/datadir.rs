//! A router's data directory: everything one router keeps, so that two
//! routers with two directories run side by side.
//!
//! | path | holds |
//! |---|---|
//! | `config/juniper.conf`, `config/juniper.conf.N` | committed configuration and rollbacks |
//! | `ikecert/` | the PKI store (the simulated `/var/etc/ikecert`): its subdirectories, and the ES PIC files at the top ([`crate::ikecert`]) |
//! | `log/` | per-daemon log files (`messages`, `pkid`, ...), read by `show log` |
//! | `home/` | the operator's files (the simulated `/var/home/<user>`): relative file names in the `security pki` commands |
//! | `run/cli.sock` | the router's CLI socket |
//! | `run/router.lock` | held by the running router |
//! | `chassis` | the chassis serial number, made at first start |

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// Paths inside one router's data directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    /// The data directory at `root` (not created yet).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        DataDir { root: root.into() }
    }

    /// The default: `$MTSIM_DATA_DIR`, else `$XDG_DATA_HOME/mtsim/router`,
    /// else `~/.local/share/mtsim/router`, else `./mtsim-data`.
    pub fn default_location() -> Self {
        if let Some(d) = std::env::var_os("MTSIM_DATA_DIR") {
            return Self::new(d);
        }
        if let Some(d) = std::env::var_os("XDG_DATA_HOME") {
            return Self::new(Path::new(&d).join("mtsim/router"));
        }
        if let Some(h) = std::env::var_os("HOME") {
            return Self::new(Path::new(&h).join(".local/share/mtsim/router"));
        }
        Self::new("mtsim-data")
    }

    /// Creates the directory tree (private to the user: it holds keys).
    pub fn create(&self) -> io::Result<()> {
        for d in [
            self.config(),
            self.ikecert(),
            self.log(),
            self.run(),
            self.home(),
        ] {
            fs::create_dir_all(&d)?;
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&self.root, fs::Permissions::from_mode(0o700))?;
            fs::set_permissions(self.ikecert(), fs::Permissions::from_mode(0o700))?;
        }
        Ok(())
    }

    /// The root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Configuration files.
    pub fn config(&self) -> PathBuf {
        self.root.join("config")
    }

    /// The PKI store, the simulated `/var/etc/ikecert` (ES PIC files at
    /// its top).
    pub fn ikecert(&self) -> PathBuf {
        self.root.join("ikecert")
    }

    /// Log files.
    pub fn log(&self) -> PathBuf {
        self.root.join("log")
    }

    /// The operator's files: relative file names in the `security pki`
    /// commands resolve here.
    pub fn home(&self) -> PathBuf {
        self.root.join("home")
    }

    /// Runtime files (socket, lock).
    pub fn run(&self) -> PathBuf {
        self.root.join("run")
    }

    /// The CLI socket.
    pub fn socket(&self) -> PathBuf {
        self.run().join("cli.sock")
    }

    /// The lock the running router holds.
    pub fn lock_file(&self) -> PathBuf {
        self.run().join("router.lock")
    }

    /// The chassis serial file.
    pub fn chassis_file(&self) -> PathBuf {
        self.root.join("chassis")
    }
}
