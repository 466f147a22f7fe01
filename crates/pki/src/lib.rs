//! The routing engine's PKI manager: key pairs, the on-disk certificate
//! store (the simulated `/var/etc/ikecert`), CA profiles, PKCS#10 requests,
//! self-signed certificates, manual loading and deletion of certificates and
//! CRLs, and the renderers behind `show security pki ...`.
//!
//! The crate is sans-CLI: the router wires its operations to commands.

pub mod altname;
pub mod cmp;
pub mod encoding;
pub mod fingerprint;
pub mod id;
pub mod info;
pub mod issue;
pub mod key;
pub mod manager;
pub mod name;
pub mod profile;
pub mod render;
pub mod request;
pub mod scep;
pub mod store;
#[cfg(test)]
mod testdata;
pub mod verify;
