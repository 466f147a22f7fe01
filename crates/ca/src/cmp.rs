//! The CMP server (RFC 4210/9480 over HTTP, RFC 6712): being written.

use std::time::Duration;

use crate::authority::Authority;
use crate::http::{Reply, Request};

/// How the CMP server behaves.
#[derive(Clone, Default)]
pub struct CmpSettings {
    secrets: Vec<(String, zeroize::Zeroizing<Vec<u8>>)>,
}

impl std::fmt::Debug for CmpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let refs: Vec<&str> = self.secrets.iter().map(|(r, _)| r.as_str()).collect();
        f.debug_struct("CmpSettings")
            .field("secret_refs", &refs)
            .finish()
    }
}

impl CmpSettings {
    /// Accepts messages MACed with `secret` under reference `reference`.
    pub fn add_secret(&mut self, reference: &str, secret: &str) {
        self.secrets.push((
            reference.to_string(),
            zeroize::Zeroizing::new(secret.as_bytes().to_vec()),
        ));
    }
}

/// The CMP server.
#[derive(Debug, Clone, Default)]
pub struct CmpServer {
    settings: CmpSettings,
}

impl CmpServer {
    /// A server with `settings`.
    pub fn new(settings: CmpSettings) -> Self {
        CmpServer { settings }
    }

    /// Answers one CMP HTTP request.
    pub fn handle(&self, _ca: &Authority, _req: &Request, _now: Duration) -> Reply {
        let _ = &self.settings;
        Reply::error(501, "CMP is not served yet")
    }
}
