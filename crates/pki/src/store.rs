//! The file layer of the certificate store: a directory (the simulated
//! `/var/etc/ikecert`) of PEM files and one metadata file.
//!
//! The store knows nothing of X.509: it keeps bytes under (kind, identifier)
//! names and writes them atomically. Higher layers parse what they read.
//!
//! | kind ([`Kind`])     | file                                                    |
//! |---------------------|---------------------------------------------------------|
//! | [`Kind::KeyPair`]   | `key-pair/<id>.priv` (PKCS#8 PEM, mode 0600)            |
//! | [`Kind::Local`]     | `local/<id>.cert`                                       |
//! | [`Kind::Ca`]        | `certification-authority/<id>.cert`                     |
//! | [`Kind::Crl`]       | `crl/<id>.crl`                                          |
//! | [`Kind::Request`]   | `certificate-request/<id>.csr`                          |
//! | [`Kind::Ra`]        | `registration-authority/<id>.cert` (PEM bundle)         |
//! | [`Kind::Enrollment`]| `enrollment/<id>.json` (mode 0600: may hold a secret)   |
//! | metadata            | `metadata.json` at the root (readable JSON)             |
//! | ES PIC file         | `<name>` at the root (see below)                        |
//!
//! Every file is written with mode 0600; the store directory and its
//! subdirectories are 0700.
//!
//! **ES PIC files.** The ES PIC era commands (`request security key-pair`,
//! `request security certificate enroll filename F`) and the ES PIC IKE
//! policy (`local-certificate F`, `local-key-pair F`) name plain files of
//! `/var/etc/ikecert`: they live at the top of the store, beside its own
//! subdirectories, under the operator's name ([`check_file_name`]). The
//! store lists them in [`Scan::files`] (never as foreign), keeps them out
//! of its entries, never removes or rewrites one on its own, and writes
//! them like everything else: atomically, mode 0600 ([`Store::write_file`]).
//!
//! A write goes to a temporary file `.<file-name>.tmp` in the same
//! directory, which is synced and then renamed over the target, after which
//! the directory is synced: a reader sees the old content or the new, never
//! a mixture. A crash can leave the temporary file behind; [`Store::open`]
//! removes such leftovers and [`Store::scan`] never reports them.
//!
//! Identifiers follow the Junos rule ([`crate::id::check`]): 1 to 32
//! characters, none of `/`, `%`, `.`, space or a control character, so a
//! name can never leave its directory.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

/// The metadata file's name, at the root of the store.
const METADATA: &str = "metadata.json";
/// Mode of every file in the store.
const FILE_MODE: u32 = 0o600;
/// Mode of the store directory and its subdirectories.
const DIR_MODE: u32 = 0o700;

/// What a stored file holds, which decides its directory and extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// A private key (PKCS#8 PEM).
    KeyPair,
    /// A local (end-entity) certificate.
    Local,
    /// A CA certificate, named by its CA profile.
    Ca,
    /// A certificate revocation list, named by its CA profile.
    Crl,
    /// A PKCS#10 certificate request.
    Request,
    /// The RA certificates (a PEM bundle of one or more) that came with a
    /// CA certificate from SCEP GetCACert, named by its CA profile.
    Ra,
    /// An enrollment in progress (an opaque JSON record the router keeps
    /// between SCEP polls), named by its certificate-id. It may hold a
    /// challenge password: like every store file it is mode 0600.
    Enrollment,
}

impl Kind {
    /// Every kind, in store order.
    pub const ALL: [Kind; 7] = [
        Kind::KeyPair,
        Kind::Local,
        Kind::Ca,
        Kind::Crl,
        Kind::Request,
        Kind::Ra,
        Kind::Enrollment,
    ];

    /// The subdirectory holding files of this kind.
    pub fn dir(self) -> &'static str {
        match self {
            Kind::KeyPair => "key-pair",
            Kind::Local => "local",
            Kind::Ca => "certification-authority",
            Kind::Crl => "crl",
            Kind::Request => "certificate-request",
            Kind::Ra => "registration-authority",
            Kind::Enrollment => "enrollment",
        }
    }

    /// The file extension (without the dot) of files of this kind.
    pub fn extension(self) -> &'static str {
        match self {
            Kind::KeyPair => "priv",
            Kind::Local | Kind::Ca | Kind::Ra => "cert",
            Kind::Crl => "crl",
            Kind::Request => "csr",
            Kind::Enrollment => "json",
        }
    }

    /// The kind whose subdirectory is `name`.
    fn from_dir(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.dir() == name)
    }
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file-system operation failed.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The identifier does not follow the Junos rule.
    #[error("invalid identifier {0:?}")]
    BadIdentifier(String),
    /// A failure injected by [`Store::fail_before_rename`].
    #[error("injected failure before renaming {}", .0.display())]
    Injected(PathBuf),
    /// The name is not usable for an ES PIC file ([`check_file_name`]).
    #[error("file name {name:?} is not usable in /var/etc/ikecert: {why}")]
    BadFileName {
        /// The name given.
        name: String,
        /// Why not.
        why: String,
    },
}

/// Everything found in the store by [`Store::scan`].
#[derive(Debug, Default)]
pub struct Scan {
    /// Recognised files, sorted by (kind, identifier).
    pub entries: Vec<Entry>,
    /// Entries the store does not recognise, sorted by path.
    pub foreign: Vec<Foreign>,
    /// ES PIC files: regular files at the top of the store with a usable
    /// name ([`check_file_name`]), sorted by name. The store does not look
    /// inside them (the manager checks what they hold).
    pub files: Vec<EsPicFile>,
}

/// An ES PIC file at the top of the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EsPicFile {
    /// Its name in `/var/etc/ikecert`.
    pub name: String,
    /// Its path.
    pub path: PathBuf,
}

/// A recognised file in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// What the file holds.
    pub kind: Kind,
    /// Its identifier.
    pub id: String,
    /// Its path.
    pub path: PathBuf,
}

/// A file or directory the store does not recognise.
#[derive(Debug, Clone)]
pub struct Foreign {
    /// Its path.
    pub path: PathBuf,
    /// Why it is not recognised.
    pub reason: String,
}

/// The certificate store's directory.
///
/// All methods take `&self`; writes and removals are serialised internally,
/// so a store may be shared across threads.
#[derive(Debug)]
pub struct Store {
    root: PathBuf,
    /// Fault countdown: 0 is disarmed, `n` fails the `n`-th next write.
    fail_countdown: AtomicUsize,
    /// Serialises writes and removals (two writes of one name share a
    /// temporary file).
    write_lock: Mutex<()>,
}

impl Store {
    /// Opens (creating if needed) the store at `root`; removes leftover
    /// temporary files from an interrupted write (logging each with
    /// `tracing::warn!`).
    ///
    /// A subdirectory that exists but is not a directory does not stop the
    /// store from opening: [`Store::scan`] reports it, and writes of that
    /// kind fail.
    pub fn open(root: impl Into<PathBuf>) -> Result<Store, StoreError> {
        let root = root.into();
        create_dir(&root, true)?;
        for kind in Kind::ALL {
            let dir = root.join(kind.dir());
            match fs::symlink_metadata(&dir) {
                Ok(m) if m.is_dir() => set_mode(&dir, DIR_MODE)?,
                Ok(_) => tracing::warn!(
                    target: "pki",
                    "certificate store: {} is not a directory",
                    dir.display()
                ),
                Err(e) if e.kind() == io::ErrorKind::NotFound => create_dir(&dir, false)?,
                Err(e) => return Err(io_err(&dir, e)),
            }
        }
        remove_temporaries(&root).map_err(|e| io_err(&root, e))?;
        for kind in Kind::ALL {
            let dir = root.join(kind.dir());
            if dir.is_dir()
                && let Err(e) = remove_temporaries(&dir)
            {
                tracing::warn!(
                    target: "pki",
                    "certificate store: cannot clean {}: {e}",
                    dir.display()
                );
            }
        }
        sync_dir(&root)?;
        Ok(Store {
            root,
            fail_countdown: AtomicUsize::new(0),
            write_lock: Mutex::new(()),
        })
    }

    /// The store's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The path of the file holding `id` of `kind`. `id` must be valid.
    pub fn path(&self, kind: Kind, id: &str) -> PathBuf {
        self.root
            .join(kind.dir())
            .join(format!("{id}.{}", kind.extension()))
    }

    /// Stores `bytes` as `id` of `kind`, replacing any previous content.
    ///
    /// Atomic write: temporary file in the same directory, write, fsync,
    /// (fault point), rename over the target, fsync the directory.
    pub fn write(&self, kind: Kind, id: &str, bytes: &[u8]) -> Result<(), StoreError> {
        check_id(id)?;
        self.atomic_write(&self.path(kind, id), bytes)
    }

    /// The content of `id` of `kind`, or `None` if there is none.
    pub fn read(&self, kind: Kind, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        check_id(id)?;
        read_optional(&self.path(kind, id))
    }

    /// Whether a file holds `id` of `kind` (false for an invalid identifier).
    pub fn exists(&self, kind: Kind, id: &str) -> bool {
        check_id(id).is_ok() && self.path(kind, id).is_file()
    }

    /// Removes the file (`Ok(false)` if there was none), then fsyncs the
    /// directory.
    pub fn remove(&self, kind: Kind, id: &str) -> Result<bool, StoreError> {
        check_id(id)?;
        let path = self.path(kind, id);
        let _guard = self.lock();
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(io_err(&path, e)),
        }
        sync_dir(&self.root.join(kind.dir()))?;
        Ok(true)
    }

    /// Everything in the store: the entries it recognises, sorted by (kind,
    /// id), and the files it does not (a file with the wrong extension, a
    /// name that is not a valid identifier, a directory where a file should
    /// be, an unknown top-level entry), each with a reason. Unreadable
    /// directories are reported as foreign, never a panic.
    pub fn scan(&self) -> Scan {
        let mut scan = Scan::default();
        let Some(top) = list_dir(&self.root, &mut scan.foreign) else {
            return scan;
        };
        for (path, name, ty) in top {
            let Some(name) = name else {
                scan.foreign.push(foreign(&path, "name is not valid UTF-8"));
                continue;
            };
            if ty.is_file() && is_temporary(&name) {
                continue;
            }
            if name == METADATA {
                if !ty.is_file() {
                    scan.foreign.push(foreign(&path, describe_not_file(ty)));
                }
                continue;
            }
            match Kind::from_dir(&name) {
                Some(kind) if ty.is_dir() => self.scan_kind(kind, &path, &mut scan),
                Some(_) => scan.foreign.push(foreign(&path, "expected a directory")),
                None if ty.is_file() => match check_file_name(&name) {
                    Ok(()) => scan.files.push(EsPicFile { name, path }),
                    Err(e) => scan
                        .foreign
                        .push(foreign(&path, format!("unknown entry: {}", why_of(&e)))),
                },
                None => scan.foreign.push(foreign(&path, "unknown entry")),
            }
        }
        scan.entries
            .sort_by(|a, b| (a.kind, &a.id).cmp(&(b.kind, &b.id)));
        scan.foreign.sort_by(|a, b| a.path.cmp(&b.path));
        scan.files.sort_by(|a, b| a.name.cmp(&b.name));
        scan
    }

    /// The path of ES PIC file `name` (checked with [`check_file_name`]).
    pub fn file_path(&self, name: &str) -> Result<PathBuf, StoreError> {
        check_file_name(name)?;
        Ok(self.root.join(name))
    }

    /// Writes ES PIC file `name` at the top of the store, replacing any
    /// previous content: atomically (temporary file, fsync, rename, fsync
    /// of the directory; the fault hook applies), mode 0600 like every
    /// store file (a key pair file is private).
    pub fn write_file(&self, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
        let path = self.file_path(name)?;
        self.atomic_write(&path, bytes)
    }

    /// The content of ES PIC file `name`, or `None` if there is none.
    pub fn read_file(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let path = self.file_path(name)?;
        match fs::symlink_metadata(&path) {
            Ok(m) if !m.is_file() => Err(io_err(
                &path,
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    describe_not_file(m.file_type()),
                ),
            )),
            _ => read_optional(&path),
        }
    }

    /// Whether ES PIC file `name` exists as a regular file (false for an
    /// unusable name).
    pub fn file_exists(&self, name: &str) -> bool {
        self.file_path(name)
            .is_ok_and(|p| fs::symlink_metadata(p).is_ok_and(|m| m.is_file()))
    }

    /// Removes ES PIC file `name` (`Ok(false)` if there was none), then
    /// fsyncs the directory. Only for undoing a failed operation: the
    /// store never removes an ES PIC file on its own.
    pub fn remove_file(&self, name: &str) -> Result<bool, StoreError> {
        let path = self.file_path(name)?;
        let _guard = self.lock();
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(io_err(&path, e)),
        }
        sync_dir(&self.root)?;
        Ok(true)
    }

    /// metadata.json contents (`None` if absent).
    pub fn read_metadata(&self) -> Result<Option<Vec<u8>>, StoreError> {
        read_optional(&self.root.join(METADATA))
    }

    /// Replaces metadata.json, atomically like every other write.
    pub fn write_metadata(&self, bytes: &[u8]) -> Result<(), StoreError> {
        self.atomic_write(&self.root.join(METADATA), bytes)
    }

    /// Test hook: the next `n`-th atomic write (1 = the next one) fails after
    /// the temporary file is written and synced but before the rename, with
    /// [`StoreError::Injected`]; the temporary file is left behind as a crash
    /// would leave it. Only writes that reach the fault point count; `0`
    /// disarms the hook.
    pub fn fail_before_rename(&self, n: usize) {
        self.fail_countdown.store(n, Ordering::SeqCst);
    }

    /// Adds the files of `kind`'s directory `dir` to `scan`.
    fn scan_kind(&self, kind: Kind, dir: &Path, scan: &mut Scan) {
        let Some(files) = list_dir(dir, &mut scan.foreign) else {
            return;
        };
        let suffix = format!(".{}", kind.extension());
        for (path, name, ty) in files {
            let Some(name) = name else {
                scan.foreign.push(foreign(&path, "name is not valid UTF-8"));
                continue;
            };
            if ty.is_file() && is_temporary(&name) {
                continue;
            }
            if !ty.is_file() {
                scan.foreign.push(foreign(&path, describe_not_file(ty)));
                continue;
            }
            let Some(id) = name.strip_suffix(&suffix) else {
                scan.foreign.push(foreign(
                    &path,
                    format!("wrong extension (expected {suffix})"),
                ));
                continue;
            };
            if let Err(e) = crate::id::check(id) {
                scan.foreign
                    .push(foreign(&path, format!("not a valid identifier: {e}")));
                continue;
            }
            scan.entries.push(Entry {
                kind,
                id: id.to_string(),
                path: self.path(kind, id),
            });
        }
    }

    /// Writes `bytes` to `target` through a synced temporary file and a
    /// rename, then syncs the directory.
    fn atomic_write(&self, target: &Path, bytes: &[u8]) -> Result<(), StoreError> {
        let (dir, tmp) = temporary_for(target)?;
        let _guard = self.lock();
        if !dir.is_dir() {
            create_dir(&dir, false)?;
        }
        write_temporary(&tmp, bytes)?;
        if self.inject() {
            return Err(StoreError::Injected(target.to_path_buf()));
        }
        rename_into_place(&tmp, target, &dir)
    }

    /// Counts down the fault hook; true if this write must fail.
    fn inject(&self) -> bool {
        self.fail_countdown
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok_and(|previous| previous == 1)
    }

    fn lock(&self) -> MutexGuard<'_, ()> {
        self.write_lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Writes `bytes` to `target` (mode 0600) atomically: a synced temporary
/// file `.<name>.tmp` beside it, a rename, a directory sync. For files
/// outside a [`Store`] (the embedded CA's directory); the directory must exist.
pub fn write_atomic(target: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let (dir, tmp) = temporary_for(target)?;
    write_temporary(&tmp, bytes)?;
    rename_into_place(&tmp, target, &dir)
}

/// Writes the temporary file, removing it again if that fails.
fn write_temporary(tmp: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    match fs::remove_file(tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(tmp, e)),
    }
    if let Err(e) = write_synced(tmp, bytes) {
        let _ = fs::remove_file(tmp);
        return Err(io_err(tmp, e));
    }
    Ok(())
}

/// Renames the temporary file over `target` and syncs the directory.
fn rename_into_place(tmp: &Path, target: &Path, dir: &Path) -> Result<(), StoreError> {
    if let Err(e) = fs::rename(tmp, target) {
        let _ = fs::remove_file(tmp);
        return Err(io_err(target, e));
    }
    sync_dir(dir)
}

/// The longest ES PIC file name.
pub const MAX_FILE_NAME: usize = 128;

/// Checks that `name` can be an ES PIC file at the top of the store: 1 to
/// [`MAX_FILE_NAME`] characters, letters, digits and `.`, `_`, `-`, `+`,
/// `@`, `=`, `,`, `:`, not starting with `.` (hidden and temporary files,
/// `.` and `..`), and not one of the store's own names (its
/// subdirectories and `metadata.json`).
pub fn check_file_name(name: &str) -> Result<(), StoreError> {
    let bad = |why: String| {
        Err(StoreError::BadFileName {
            name: name.to_string(),
            why,
        })
    };
    if name.is_empty() {
        return bad("the name is empty".into());
    }
    if name.chars().count() > MAX_FILE_NAME {
        return bad(format!("longer than {MAX_FILE_NAME} characters"));
    }
    if name.starts_with('.') {
        return bad("a name must not start with '.'".into());
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "._-+@=,:".contains(*c)))
    {
        return bad(format!(
            "character {c:?} is not allowed (letters, digits and . _ - + @ = , : are)"
        ));
    }
    if name == METADATA {
        return bad("the name is the store's own metadata file".into());
    }
    if Kind::from_dir(name).is_some() {
        return bad(format!(
            "the name is the certificate store's own {name} directory"
        ));
    }
    Ok(())
}

/// The reason of a [`StoreError::BadFileName`] (else the whole message).
fn why_of(e: &StoreError) -> String {
    match e {
        StoreError::BadFileName { why, .. } => format!("not an ES PIC file name ({why})"),
        other => other.to_string(),
    }
}

/// Checks `id` against the Junos identifier rule.
fn check_id(id: &str) -> Result<(), StoreError> {
    crate::id::check(id).map_err(|_| StoreError::BadIdentifier(id.to_string()))
}

fn io_err(path: &Path, source: io::Error) -> StoreError {
    StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn foreign(path: &Path, reason: impl Into<String>) -> Foreign {
    Foreign {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

fn describe_not_file(ty: fs::FileType) -> &'static str {
    if ty.is_dir() {
        "a directory where a file should be"
    } else if ty.is_symlink() {
        "a symbolic link where a file should be"
    } else {
        "not a regular file"
    }
}

/// Whether `name` is a temporary file's name, `.<file-name>.tmp`.
fn is_temporary(name: &str) -> bool {
    name.len() > ".tmp".len() + 1 && name.starts_with('.') && name.ends_with(".tmp")
}

/// The directory of `target` and the temporary file to write it through.
fn temporary_for(target: &Path) -> Result<(PathBuf, PathBuf), StoreError> {
    match (target.parent(), target.file_name()) {
        (Some(dir), Some(name)) => {
            let mut tmp = std::ffi::OsString::from(".");
            tmp.push(name);
            tmp.push(".tmp");
            Ok((dir.to_path_buf(), dir.join(tmp)))
        }
        _ => Err(io_err(
            target,
            io::Error::new(io::ErrorKind::InvalidInput, "not a file path"),
        )),
    }
}

/// Creates `path` (a new file, mode 0600), writes `bytes` and syncs it.
fn write_synced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .open(path)?;
    // The umask can only take bits away; make sure of the exact mode.
    file.set_permissions(fs::Permissions::from_mode(FILE_MODE))?;
    file.write_all(bytes)?;
    file.sync_all()
}

fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, StoreError> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err(path, e)),
    }
}

/// Creates the directory `path` (mode 0700), or sets an existing one to 0700.
fn create_dir(path: &Path, recursive: bool) -> Result<(), StoreError> {
    match DirBuilder::new()
        .recursive(recursive)
        .mode(DIR_MODE)
        .create(path)
    {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && path.is_dir() => {}
        Err(e) => return Err(io_err(path, e)),
    }
    set_mode(path, DIR_MODE)
}

fn set_mode(path: &Path, mode: u32) -> Result<(), StoreError> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(|e| io_err(path, e))
}

/// Makes the directory's entries durable.
fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_err(dir, e))
}

/// Removes the temporary files left in `dir` by interrupted writes.
fn remove_temporaries(dir: &Path) -> io::Result<()> {
    let mut removed = false;
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let is_temp = entry.file_name().to_str().is_some_and(is_temporary);
        if !is_temp || !entry.file_type()?.is_file() {
            continue;
        }
        let path = entry.path();
        tracing::warn!(
            target: "pki",
            "certificate store: removing {} left by an interrupted write",
            path.display()
        );
        fs::remove_file(&path)?;
        removed = true;
    }
    if removed {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// A directory's entries as (path, UTF-8 name if it is one, type), or `None`
/// (with the reason added to `foreign`) if it cannot be read.
type Listing = Vec<(PathBuf, Option<String>, fs::FileType)>;

fn list_dir(dir: &Path, foreign_out: &mut Vec<Foreign>) -> Option<Listing> {
    let reader = match fs::read_dir(dir) {
        Ok(r) => r,
        Err(e) => {
            foreign_out.push(foreign(dir, format!("cannot read directory: {e}")));
            return None;
        }
    };
    let mut out = Vec::new();
    for entry in reader {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                foreign_out.push(foreign(dir, format!("cannot read directory: {e}")));
                continue;
            }
        };
        let path = entry.path();
        match entry.file_type() {
            Ok(ty) => out.push((path, entry.file_name().into_string().ok(), ty)),
            Err(e) => foreign_out.push(foreign(&path, format!("cannot read file type: {e}"))),
        }
    }
    Some(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    fn open() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("ikecert")).unwrap();
        (dir, store)
    }

    #[test]
    fn open_creates_layout() {
        let (_dir, store) = open();
        assert_eq!(mode(store.root()), 0o700);
        for kind in Kind::ALL {
            let d = store.root().join(kind.dir());
            assert!(d.is_dir(), "{}", d.display());
            assert_eq!(mode(&d), 0o700, "{}", d.display());
        }
        let scan = store.scan();
        assert!(scan.entries.is_empty());
        assert!(scan.foreign.is_empty(), "{:?}", scan.foreign);
    }

    #[test]
    fn round_trip_each_kind() {
        let (_dir, store) = open();
        for kind in Kind::ALL {
            let body = format!("-----BEGIN {kind:?}-----\n").into_bytes();
            assert_eq!(store.read(kind, "my-id").unwrap(), None);
            assert!(!store.exists(kind, "my-id"));
            store.write(kind, "my-id", &body).unwrap();
            assert!(store.exists(kind, "my-id"));
            assert_eq!(store.read(kind, "my-id").unwrap(), Some(body));
            let path = store.path(kind, "my-id");
            assert_eq!(
                path,
                store
                    .root()
                    .join(kind.dir())
                    .join(format!("my-id.{}", kind.extension()))
            );
            assert_eq!(mode(&path), 0o600, "{}", path.display());
        }
        let scan = store.scan();
        let kinds: Vec<Kind> = scan.entries.iter().map(|e| e.kind).collect();
        assert_eq!(kinds, Kind::ALL.to_vec());
        assert!(scan.foreign.is_empty(), "{:?}", scan.foreign);
        for kind in Kind::ALL {
            assert!(store.remove(kind, "my-id").unwrap());
            assert!(!store.remove(kind, "my-id").unwrap());
            assert_eq!(store.read(kind, "my-id").unwrap(), None);
            assert!(!store.exists(kind, "my-id"));
        }
        assert!(store.scan().entries.is_empty());
    }

    #[test]
    fn enrollment_file_is_private() {
        let (_dir, store) = open();
        store
            .write(Kind::Enrollment, "r1", br#"{"challenge":"x"}"#)
            .unwrap();
        let path = store.root().join("enrollment/r1.json");
        assert_eq!(path, store.path(Kind::Enrollment, "r1"));
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&store.root().join("enrollment")), 0o700);
        store.write(Kind::Ra, "p", b"bundle").unwrap();
        assert_eq!(
            store.path(Kind::Ra, "p"),
            store.root().join("registration-authority/p.cert")
        );
        let kinds: Vec<Kind> = store.scan().entries.iter().map(|e| e.kind).collect();
        assert_eq!(kinds, [Kind::Ra, Kind::Enrollment]);
    }

    #[test]
    fn key_file_is_private() {
        let (_dir, store) = open();
        store.write(Kind::KeyPair, "k", b"secret").unwrap();
        let path = store.root().join("key-pair/k.priv");
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&store.root().join("key-pair")), 0o700);
    }

    #[test]
    fn write_replaces_content() {
        let (_dir, store) = open();
        store.write(Kind::Local, "a", b"old content").unwrap();
        store.write(Kind::Local, "a", b"new").unwrap();
        assert_eq!(store.read(Kind::Local, "a").unwrap().unwrap(), b"new");
        assert_eq!(mode(&store.path(Kind::Local, "a")), 0o600);
    }

    #[test]
    fn injected_failure_leaves_old_content_and_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("ikecert");
        let store = Store::open(&root).unwrap();
        store.write(Kind::Local, "a", b"old").unwrap();
        store.fail_before_rename(1);
        let err = store.write(Kind::Local, "a", b"new").unwrap_err();
        assert!(matches!(&err, StoreError::Injected(p) if *p == store.path(Kind::Local, "a")));
        assert!(
            err.to_string()
                .starts_with("injected failure before renaming ")
        );
        assert_eq!(store.read(Kind::Local, "a").unwrap().unwrap(), b"old");
        let tmp = root.join("local/.a.cert.tmp");
        assert!(tmp.is_file());
        assert_eq!(fs::read(&tmp).unwrap(), b"new");
        // The temporary file is not reported, even before the reopen.
        let scan = store.scan();
        assert!(scan.foreign.is_empty(), "{:?}", scan.foreign);
        // The hook fires once.
        store.write(Kind::Local, "b", b"b").unwrap();

        let store = Store::open(&root).unwrap();
        assert!(!tmp.exists());
        let scan = store.scan();
        assert!(scan.foreign.is_empty(), "{:?}", scan.foreign);
        let ids: Vec<&str> = scan.entries.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["a", "b"]);
        assert_eq!(store.read(Kind::Local, "a").unwrap().unwrap(), b"old");
    }

    #[test]
    fn fault_countdown_counts_writes() {
        let (_dir, store) = open();
        store.fail_before_rename(2);
        store.write(Kind::Ca, "one", b"1").unwrap();
        assert!(matches!(
            store.write_metadata(b"{}"),
            Err(StoreError::Injected(_))
        ));
        assert!(store.root().join(".metadata.json.tmp").is_file());
        assert_eq!(store.read_metadata().unwrap(), None);
        store.write(Kind::Ca, "three", b"3").unwrap();
        store.write_metadata(b"{}").unwrap();
        assert!(!store.root().join(".metadata.json.tmp").exists());
    }

    #[test]
    fn scan_reports_foreign_files() {
        let (_dir, store) = open();
        let root = store.root().to_path_buf();
        store.write(Kind::Local, "good", b"x").unwrap();
        store.write(Kind::KeyPair, "good", b"k").unwrap();
        store.write_metadata(b"{}").unwrap();
        fs::write(root.join("local/notes.txt"), b"hi").unwrap();
        fs::write(root.join("key-pair/a.b.priv"), b"k").unwrap();
        fs::write(root.join("key-pair/.priv"), b"k").unwrap();
        fs::write(root.join("crl/x.cert"), b"k").unwrap();
        fs::write(root.join("junk"), b"junk").unwrap();
        fs::write(root.join(".hidden"), b"junk").unwrap();
        fs::write(root.join("sp ace"), b"junk").unwrap();
        fs::create_dir(root.join("local/sub.cert")).unwrap();
        fs::create_dir(root.join("extra")).unwrap();

        let scan = store.scan();
        let entries: Vec<(Kind, &str)> = scan
            .entries
            .iter()
            .map(|e| (e.kind, e.id.as_str()))
            .collect();
        assert_eq!(entries, [(Kind::KeyPair, "good"), (Kind::Local, "good")]);
        assert_eq!(scan.entries[1].path, root.join("local/good.cert"));

        let reason = |rel: &str| -> String {
            let path = root.join(rel);
            scan.foreign
                .iter()
                .find(|f| f.path == path)
                .unwrap_or_else(|| panic!("{rel} not reported: {:?}", scan.foreign))
                .reason
                .clone()
        };
        assert!(reason("local/notes.txt").contains("extension"));
        assert!(reason("key-pair/a.b.priv").contains("identifier"));
        assert!(reason("key-pair/.priv").contains("identifier"));
        assert!(reason("crl/x.cert").contains("expected .crl"));
        assert!(reason(".hidden").starts_with("unknown entry: not an ES PIC file name"));
        assert!(reason("sp ace").contains("' ' is not allowed"));
        assert_eq!(reason("extra"), "unknown entry");
        assert!(reason("local/sub.cert").contains("directory"));
        assert_eq!(scan.foreign.len(), 8, "{:?}", scan.foreign);
        // A plain file at the top with a usable name is an ES PIC file
        // (what it holds is the manager's business), not foreign.
        assert_eq!(
            scan.files,
            [EsPicFile {
                name: "junk".into(),
                path: root.join("junk")
            }]
        );
        // Sorted by path.
        let paths: Vec<&PathBuf> = scan.foreign.iter().map(|f| &f.path).collect();
        let mut sorted = paths.clone();
        sorted.sort();
        assert_eq!(paths, sorted);
        // A directory where a file should be is not an entry.
        assert!(!store.exists(Kind::Local, "sub"));
    }

    #[test]
    fn scan_survives_misshapen_store() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("ikecert");
        fs::create_dir(&root).unwrap();
        // A file where a kind directory should be: open still succeeds.
        fs::write(root.join("crl"), b"not a dir").unwrap();
        fs::create_dir(root.join(METADATA)).unwrap();
        let store = Store::open(&root).unwrap();
        store.write(Kind::Ca, "ca", b"c").unwrap();
        assert!(matches!(
            store.write(Kind::Crl, "ca", b"c"),
            Err(StoreError::Io { .. })
        ));
        // An unreadable directory (unless running as root, which reads it).
        let ca_dir = root.join(Kind::Ca.dir());
        fs::set_permissions(&ca_dir, fs::Permissions::from_mode(0o000)).unwrap();
        let scan = store.scan();
        fs::set_permissions(&ca_dir, fs::Permissions::from_mode(0o700)).unwrap();
        assert!(
            scan.foreign
                .iter()
                .any(|f| f.path == root.join("crl") && f.reason == "expected a directory")
        );
        assert!(scan.foreign.iter().any(|f| f.path == root.join(METADATA)));
        let unreadable = scan
            .foreign
            .iter()
            .any(|f| f.path == ca_dir && f.reason.starts_with("cannot read directory"));
        let listed = scan.entries.iter().any(|e| e.kind == Kind::Ca);
        assert!(unreadable != listed, "{scan:?}");
    }

    #[test]
    fn bad_identifiers_rejected() {
        let (_dir, store) = open();
        let long = "x".repeat(33);
        for bad in [
            "",
            long.as_str(),
            "a/b",
            "a.b",
            "a b",
            "a%b",
            "../x",
            "a\nb",
        ] {
            assert!(
                matches!(store.write(Kind::Local, bad, b"x"), Err(StoreError::BadIdentifier(s)) if s == bad),
                "write {bad:?}"
            );
            assert!(
                matches!(
                    store.read(Kind::Local, bad),
                    Err(StoreError::BadIdentifier(_))
                ),
                "read {bad:?}"
            );
            assert!(
                matches!(
                    store.remove(Kind::Local, bad),
                    Err(StoreError::BadIdentifier(_))
                ),
                "remove {bad:?}"
            );
            assert!(!store.exists(Kind::Local, bad));
        }
        assert_eq!(
            StoreError::BadIdentifier("a/b".into()).to_string(),
            "invalid identifier \"a/b\""
        );
        // Nothing escaped the store.
        assert!(!store.root().join("x.cert").exists());
        assert!(store.scan().entries.is_empty());
        // The longest valid identifier is fine.
        store.write(Kind::Local, &"x".repeat(32), b"x").unwrap();
    }

    #[test]
    fn es_pic_files_live_at_the_top_and_stay() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("ikecert");
        let store = Store::open(&root).unwrap();
        store.write(Kind::KeyPair, "batt", b"store key").unwrap();
        store.write_file("batt", b"es pic key").unwrap();
        store.write_file("ca1.der", b"\x30\x82").unwrap();
        assert_eq!(mode(&root.join("batt")), 0o600);
        assert_eq!(mode(&root.join("ca1.der")), 0o600);
        assert_eq!(store.read_file("batt").unwrap().unwrap(), b"es pic key");
        assert_eq!(store.read_file("nothing").unwrap(), None);
        assert!(store.file_exists("batt") && !store.file_exists("nothing"));
        let scan = store.scan();
        assert!(scan.foreign.is_empty(), "{:?}", scan.foreign);
        let names: Vec<&str> = scan.files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["batt", "ca1.der"]);
        // Not an entry of the store's own.
        let entries: Vec<(Kind, &str)> = scan
            .entries
            .iter()
            .map(|e| (e.kind, e.id.as_str()))
            .collect();
        assert_eq!(entries, [(Kind::KeyPair, "batt")]);
        // A failed write leaves the old content; a reopen keeps every file
        // as it was (and removes only the temporary).
        store.fail_before_rename(1);
        assert!(matches!(
            store.write_file("batt", b"new"),
            Err(StoreError::Injected(_))
        ));
        assert!(root.join(".batt.tmp").is_file());
        drop(store);
        let store = Store::open(&root).unwrap();
        assert!(!root.join(".batt.tmp").exists());
        assert_eq!(store.read_file("batt").unwrap().unwrap(), b"es pic key");
        assert_eq!(store.read_file("ca1.der").unwrap().unwrap(), b"\x30\x82");
        assert_eq!(
            store.read(Kind::KeyPair, "batt").unwrap().unwrap(),
            b"store key"
        );
        assert!(store.remove_file("ca1.der").unwrap());
        assert!(!store.remove_file("ca1.der").unwrap());
    }

    #[test]
    fn es_pic_file_names_cannot_reach_the_stores_own() {
        let (_dir, store) = open();
        for bad in [
            "",
            ".",
            "..",
            ".x.tmp",
            "a/b",
            "../x",
            "a b",
            "a\nb",
            "metadata.json",
            "key-pair",
            "crl",
            "enrollment",
        ] {
            let e = store.write_file(bad, b"x").unwrap_err();
            assert!(
                matches!(&e, StoreError::BadFileName { name, .. } if name == bad),
                "{bad:?}: {e}"
            );
            assert!(store.read_file(bad).is_err(), "{bad:?}");
            assert!(!store.file_exists(bad), "{bad:?}");
        }
        assert_eq!(
            check_file_name("crl").unwrap_err().to_string(),
            "file name \"crl\" is not usable in /var/etc/ikecert: the name is the certificate store's own crl directory"
        );
        let long = "x".repeat(MAX_FILE_NAME + 1);
        assert!(check_file_name(&long).is_err());
        for good in [
            "batt",
            "ca1.der",
            "r1_cert.pem",
            "a-b+c@d=e,f:g",
            &long[1..],
        ] {
            check_file_name(good).unwrap();
        }
        // Nothing was written anywhere.
        let scan = store.scan();
        assert!(scan.files.is_empty() && scan.foreign.is_empty(), "{scan:?}");
        assert_eq!(store.read_metadata().unwrap(), None);
    }

    #[test]
    fn metadata_round_trip() {
        let (_dir, store) = open();
        assert_eq!(store.read_metadata().unwrap(), None);
        let json = br#"{"key_pairs":{"k":"generated"}}"#;
        store.write_metadata(json).unwrap();
        assert_eq!(store.read_metadata().unwrap().unwrap(), json);
        assert_eq!(mode(&store.root().join(METADATA)), 0o600);
        store.write_metadata(b"{}").unwrap();
        assert_eq!(store.read_metadata().unwrap().unwrap(), b"{}");
        let scan = store.scan();
        assert!(scan.foreign.is_empty(), "{:?}", scan.foreign);
    }

    #[test]
    fn io_error_message_names_path() {
        let e = io_err(Path::new("/x/y"), io::Error::other("boom"));
        assert_eq!(e.to_string(), "/x/y: boom");
    }
}
