//! The CA's web service: which path goes to which server. SCEP answers at
//! `/scep` (and `/cgi-bin/pkiclient.exe`, where Cisco-style clients look),
//! CMP at `/pkix/`, the CRL at the path of the URL written into the
//! certificates.

use simclock::Clock;

use crate::authority::Authority;
use crate::cmp::CmpServer;
use crate::http::{Handler, Method, Reply, Request};
use crate::scep::ScepServer;

/// The path the CRL is served at by default.
pub const CRL_PATH: &str = "/crl/issuing.crl";

/// The CA behind its HTTP endpoints.
pub struct CaService {
    authority: Authority,
    clock: Clock,
    scep: ScepServer,
    cmp: CmpServer,
    crl_path: String,
}

impl CaService {
    /// Serves `authority` with time from `clock`.
    pub fn new(authority: Authority, clock: Clock, scep: ScepServer, cmp: CmpServer) -> Self {
        let crl_path = authority
            .settings()
            .crl_url
            .as_deref()
            .and_then(url_path)
            .unwrap_or(CRL_PATH)
            .to_string();
        CaService {
            authority,
            clock,
            scep,
            cmp,
            crl_path,
        }
    }

    /// The CA.
    pub fn authority(&self) -> &Authority {
        &self.authority
    }

    fn crl(&self, req: &Request) -> Reply {
        if req.method != Method::Get {
            return Reply::error(405, "the CRL is fetched with GET");
        }
        match self.authority.crl(self.clock.now()) {
            Ok(der) => Reply::ok("application/pkix-crl", der),
            Err(e) => {
                tracing::error!(target: "ca", "making the CRL: {e}");
                Reply::error(500, "the CRL is not available")
            }
        }
    }
}

/// The path part of an http URL (`http://host:port/path` -> `/path`).
fn url_path(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))?;
    rest.find('/').map(|i| &rest[i..])
}

impl Handler for CaService {
    fn handle(&self, req: &Request) -> Reply {
        let path = req.path.as_str();
        if path == "/scep" || path.starts_with("/scep/") || path == "/cgi-bin/pkiclient.exe" {
            self.scep.handle(&self.authority, req, self.clock.now())
        } else if path == "/pkix" || path.starts_with("/pkix/") {
            self.cmp.handle(&self.authority, req, self.clock.now())
        } else if path == self.crl_path {
            self.crl(req)
        } else {
            Reply::error(
                404,
                format!("nothing at {path}; SCEP is at /scep, CMP at /pkix/"),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::url_path;

    #[test]
    fn crl_path_from_url() {
        assert_eq!(
            url_path("http://127.0.0.1:8080/crl/x.crl"),
            Some("/crl/x.crl")
        );
        assert_eq!(url_path("http://h"), None);
        assert_eq!(url_path("ldap://h/x"), None);
    }
}
