//! The ES PIC era files of the simulated `/var/etc/ikecert`
//! (`<data-dir>/ikecert`, the PKI store's directory).
//!
//! The ES PIC commands and statements name files, not store identifiers:
//! `request security key-pair NAME`, `request security certificate enroll
//! filename F … key-file KEY`, `[edit security ike policy PEER]
//! local-certificate F; local-key-pair KEY;`. A name resolves so
//! ([`resolve`]):
//!
//! | the operator types          | the file                                 |
//! |-----------------------------|------------------------------------------|
//! | `NAME` (no `/`)             | `<data-dir>/ikecert/NAME`                |
//! | `/var/etc/ikecert/NAME`     | `<data-dir>/ikecert/NAME` (the same)     |
//! | any other absolute path     | that path on the host, as typed          |
//! | a relative path with a `/`  | refused: it could reach the store's own subdirectories |
//!
//! `NAME` must be usable at the top of the store
//! ([`pki::store::check_file_name`]): not hidden, not one of the store's
//! own names (`key-pair`, `local`, `crl`, …, `metadata.json`). Files in
//! ikecert are written through the store, atomically and mode 0600; the
//! store lists them as ES PIC files, never as foreign, and never changes
//! them on its own.
//!
//! When a policy's file is not in ikecert, a plain name falls back to the
//! PKI store's local certificate or key pair of that identifier, so a
//! certificate made with the `security pki` commands can serve an ES PIC
//! policy too ([`local_certificate`], [`local_key_pair`]).

use std::path::PathBuf;

use pki::key::KeyPair;
use pki::manager::Pki;
use pki::store::Store;
use x509_cert::Certificate;

/// The directory the ES PIC names its files in.
pub const DIR: &str = "/var/etc/ikecert";

/// Where an ES PIC file name leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A file at the top of the simulated `/var/etc/ikecert`.
    Ikecert(String),
    /// A file elsewhere on the host (an absolute path the operator typed).
    Outside(PathBuf),
}

impl Target {
    /// The name the operator sees: `/var/etc/ikecert/NAME`, or the path.
    pub fn display(&self) -> String {
        match self {
            Target::Ikecert(n) => format!("{DIR}/{n}"),
            Target::Outside(p) => p.display().to_string(),
        }
    }

    /// The file in ikecert, if it is one.
    pub fn ikecert_name(&self) -> Option<&str> {
        match self {
            Target::Ikecert(n) => Some(n),
            Target::Outside(_) => None,
        }
    }
}

/// Resolves a file name of an ES PIC command or statement (see the module
/// documentation); `Err` says what is wrong with it.
pub fn resolve(name: &str) -> Result<Target, String> {
    if name.is_empty() {
        return Err("the file name is empty".into());
    }
    let in_dir = name
        .strip_prefix(DIR)
        .and_then(|rest| rest.strip_prefix('/'));
    let plain = match in_dir {
        Some("") => return Err(format!("{name} is the directory itself; name a file in it")),
        Some(rest) => rest,
        None if name == DIR => {
            return Err(format!("{name} is the directory itself; name a file in it"));
        }
        None if name.starts_with('/') => return Ok(Target::Outside(PathBuf::from(name))),
        None if name.contains('/') => {
            return Err(format!(
                "{name}: ES PIC files are plain names in {DIR} (no '/'); give an absolute path for a file elsewhere"
            ));
        }
        None => name,
    };
    pki::store::check_file_name(plain).map_err(|e| e.to_string())?;
    Ok(Target::Ikecert(plain.to_string()))
}

/// The name of a key pair for `request security key-pair NAME` and
/// `key-file NAME`: a plain name, or `/var/etc/ikecert/NAME`.
pub fn key_pair_name(name: &str) -> Result<String, String> {
    match resolve(name)? {
        Target::Ikecert(n) => Ok(n),
        Target::Outside(p) => Err(format!(
            "{}: a key pair lives in {DIR}; give its name there",
            p.display()
        )),
    }
}

/// Writes `bytes` to `target`: through the store in ikecert (atomic,
/// mode 0600), else atomically beside the target (mode 0600; its directory
/// must exist).
pub fn write(store: &Store, target: &Target, bytes: &[u8]) -> Result<(), String> {
    let done = match target {
        Target::Ikecert(n) => store.write_file(n, bytes),
        Target::Outside(p) => pki::store::write_atomic(p, bytes),
    };
    done.map_err(|e| format!("cannot write {}: {e}", target.display()))
}

/// The content of `target`, `None` if there is no such file.
pub fn read(store: &Store, target: &Target) -> Result<Option<Vec<u8>>, String> {
    let read = match target {
        Target::Ikecert(n) => store.read_file(n).map_err(|e| e.to_string()),
        Target::Outside(p) => match std::fs::read(p) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.to_string()),
        },
    };
    read.map_err(|e| format!("cannot read {}: {e}", target.display()))
}

/// Removes `target` if it is there (undoing a write of a failed command).
pub fn remove(store: &Store, target: &Target) -> Result<(), String> {
    let done = match target {
        Target::Ikecert(n) => store.remove_file(n).map(drop).map_err(|e| e.to_string()),
        Target::Outside(p) => match std::fs::remove_file(p) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.to_string()),
            _ => Ok(()),
        },
    };
    done.map_err(|e| format!("cannot remove {}: {e}", target.display()))
}

/// Whether a name is a store identifier (for the fallback to the store).
fn store_id(name: &str) -> Option<&str> {
    pki::id::check(name).is_ok().then_some(name)
}

/// The certificate a policy's `local-certificate NAME` names: the file
/// (DER or PEM: told apart by content, whatever `encoding` says), else the
/// store's local certificate `NAME`. Returns it with where it came from.
pub fn local_certificate(pki: &Pki, name: &str) -> Result<(Certificate, String), String> {
    let what = |w: &str| format!("local-certificate {name}: {w}");
    let target = resolve(name).map_err(|e| what(&e))?;
    if let Some(bytes) = read(pki.store(), &target).map_err(|e| what(&e))? {
        let cert = pki::encoding::certificate(&bytes).map_err(|e| {
            what(&format!(
                "{} does not hold a certificate: {e}",
                target.display()
            ))
        })?;
        return Ok((cert, target.display()));
    }
    let from_store = target
        .ikecert_name()
        .and_then(store_id)
        .and_then(|id| pki.local_certificates().get(id));
    match from_store {
        Some(c) => Ok((
            c.clone(),
            format!("local certificate {name} of the PKI store"),
        )),
        None => Err(what(&format!(
            "no file {}{}",
            target.display(),
            if target.ikecert_name().and_then(store_id).is_some() {
                format!(" and no local certificate {name} in the PKI store")
            } else {
                String::new()
            }
        ))),
    }
}

/// The key pair a policy's `local-key-pair NAME` names: the file (PKCS#8,
/// PKCS#1 or SEC1, DER or PEM), else the store's key pair `NAME`. An
/// error never quotes the file's content.
pub fn local_key_pair(pki: &Pki, name: &str) -> Result<KeyPair, String> {
    let what = |w: &str| format!("local-key-pair {name}: {w}");
    let target = resolve(name).map_err(|e| what(&e))?;
    if let Some(bytes) = read(pki.store(), &target).map_err(|e| what(&e))? {
        let bytes = zeroize::Zeroizing::new(bytes);
        return KeyPair::from_bytes(&bytes).map_err(|e| {
            what(&format!(
                "{} does not hold a private key: {e}",
                target.display()
            ))
        });
    }
    let from_store = target
        .ikecert_name()
        .and_then(store_id)
        .and_then(|id| pki.key_pairs().get(id));
    match from_store {
        Some(k) => Ok(k.key.clone()),
        None => Err(what(&format!("no file {}", target.display()))),
    }
}

/// Tells kmd that ES PIC files changed (a policy may be servable now).
pub fn changed(shared: &crate::router::Shared) {
    if let Some(kmd) = shared.kmd.get() {
        kmd.send(crate::iked::Command::Reconfigure);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn names_resolve_into_the_simulated_directory() {
        assert_eq!(resolve("ca1.der"), Ok(Target::Ikecert("ca1.der".into())));
        assert_eq!(
            resolve("/var/etc/ikecert/batt"),
            Ok(Target::Ikecert("batt".into()))
        );
        assert_eq!(
            resolve("/tmp/x.pem"),
            Ok(Target::Outside(PathBuf::from("/tmp/x.pem")))
        );
        assert_eq!(
            Target::Ikecert("batt".into()).display(),
            "/var/etc/ikecert/batt"
        );
        for (bad, why) in [
            ("", "empty"),
            ("sub/x", "plain names"),
            ("../x", "plain names"),
            ("/var/etc/ikecert", "directory itself"),
            ("/var/etc/ikecert/", "directory itself"),
            ("/var/etc/ikecert/a/b", "not allowed"),
            ("/var/etc/ikecert/crl", "own crl directory"),
            ("key-pair", "own key-pair directory"),
            (".hidden", "start with '.'"),
        ] {
            let e = resolve(bad).unwrap_err();
            assert!(e.contains(why), "{bad:?}: {e}");
        }
        assert_eq!(key_pair_name("/var/etc/ikecert/k1"), Ok("k1".into()));
        assert!(key_pair_name("/tmp/k1").unwrap_err().contains("lives in"));
    }
}
