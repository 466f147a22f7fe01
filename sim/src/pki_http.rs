//! The routing engine's HTTP client for enrollment (SCEP over HTTP, RFC
//! 8894 section 4.1): `hyper` on a tokio runtime made per call, with a
//! connect-and-answer timeout and a limit on the reply size. Only `http://`
//! URLs: SCEP protects its messages itself.

use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;

/// How long a CA may take to connect and answer.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// The largest reply read.
pub const MAX_REPLY: usize = 1024 * 1024;

/// A reply: status, content type, body.
#[derive(Debug, Clone)]
pub struct HttpReply {
    /// The HTTP status.
    pub status: u16,
    /// The Content-Type (empty if absent).
    pub content_type: String,
    /// The body.
    pub body: Vec<u8>,
}

/// The parts of an enrollment URL.
fn split(url: &str) -> Result<(String, u16, String), String> {
    let uri: hyper::Uri = url
        .parse()
        .map_err(|e| format!("'{url}' is not a URL: {e}"))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some(other) => return Err(format!("'{url}': {other} URLs are not supported, use http")),
        None => return Err(format!("'{url}' has no scheme (http://...)")),
    }
    let host = uri
        .host()
        .ok_or_else(|| format!("'{url}' has no host"))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = uri.port_u16().unwrap_or(80);
    let path = uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    Ok((host, port, path))
}

async fn exchange(
    method: &str,
    url: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> Result<HttpReply, String> {
    let (host, port, path) = split(url)?;
    let stream = tokio::net::TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|e| format!("cannot connect to {host}:{port}: {e}"))?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| format!("{host}:{port}: {e}"))?;
    tokio::spawn(conn);
    let authority = if port == 80 {
        host.clone()
    } else {
        format!("{host}:{port}")
    };
    let mut req = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", authority)
        // One exchange per connection, and the server is told so (RFC 9112
        // 9.6): OpenSSL's CMP mock server otherwise waits for the next
        // message on this connection and drops the transaction.
        .header("connection", "close");
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    let req = req
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| format!("building the request: {e}"))?;
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| format!("{host}:{port}: {e}"))?;
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = Limited::new(resp.into_body(), MAX_REPLY)
        .collect()
        .await
        .map_err(|e| format!("reading the reply from {host}:{port}: {e}"))?
        .to_bytes()
        .to_vec();
    Ok(HttpReply {
        status,
        content_type,
        body,
    })
}

/// One HTTP exchange, blocking the calling thread (at most [`TIMEOUT`]).
/// Called from inside a tokio runtime (kmd fetching a CRL), the exchange
/// runs on a thread of its own: a runtime cannot block on another.
pub fn call(
    method: &str,
    url: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> Result<HttpReply, String> {
    if tokio::runtime::Handle::try_current().is_ok() {
        let (method, url, content_type) = (
            method.to_string(),
            url.to_string(),
            content_type.map(str::to_string),
        );
        return std::thread::scope(|s| {
            s.spawn(|| call_here(&method, &url, content_type.as_deref(), body))
                .join()
                .unwrap_or_else(|_| Err("the HTTP thread panicked".into()))
        });
    }
    call_here(method, url, content_type, body)
}

fn call_here(
    method: &str,
    url: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> Result<HttpReply, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    rt.block_on(async {
        tokio::time::timeout(TIMEOUT, exchange(method, url, content_type, body))
            .await
            .unwrap_or_else(|_| Err(format!("{url}: no answer within {} s", TIMEOUT.as_secs())))
    })
}

/// `url` with a query string of `pairs` appended (percent-encoded).
pub fn with_query(url: &str, pairs: &[(&str, &str)]) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        q.append_pair(k, v);
    }
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{}", q.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            split("http://127.0.0.1:8080/scep").ok(),
            Some(("127.0.0.1".into(), 8080, "/scep".into()))
        );
        assert_eq!(
            split("http://ca.example.net/cgi-bin/pkiclient.exe").ok(),
            Some(("ca.example.net".into(), 80, "/cgi-bin/pkiclient.exe".into()))
        );
        assert!(split("https://ca/x").unwrap_err().contains("https"));
        assert!(split("ca/x").is_err());
        assert_eq!(
            with_query(
                "http://h/scep",
                &[("operation", "GetCACert"), ("message", "a b")]
            ),
            "http://h/scep?operation=GetCACert&message=a+b"
        );
    }
}
