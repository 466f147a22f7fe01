//! Where the tests find the public conformance suites (x509-limbo,
//! Wycheproof, the SCEP and CMP sample messages). They are read-only
//! inputs of the workplace, never copied into the project: the directory
//! is `$MTSIM_SUITES`, or `shared/suites` beside the checkout. A test
//! whose suite is not there says so and skips.

use std::path::PathBuf;

/// The directory `rel` inside the suites, if present.
pub(crate) fn suite(rel: &str) -> Option<PathBuf> {
    let root = std::env::var_os("MTSIM_SUITES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../../shared/suites"
            ))
        });
    let dir = root.join(rel);
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "skipping: conformance suite {rel} not found under {} (set MTSIM_SUITES)",
            root.display()
        );
        None
    }
}
