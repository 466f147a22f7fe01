//! The CA's HTTP front: `hyper` on `tokio`. It reads a request (with a
//! body-size limit), hands it to a [`Handler`] on a blocking worker (the
//! CA's work is signatures and file writes), and writes the [`Reply`] back.
//!
//! Limits: a body larger than [`Limits::max_body`] gets 413 before it is
//! read; more than [`Limits::max_connections`] open connections get 503;
//! at most [`Limits::workers`] requests are worked on at once (the rest
//! wait their turn, so a burst of clients is slowed down, not refused);
//! a client that does not send its headers within
//! [`Limits::header_timeout`] is dropped.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// The HTTP method, as the handlers care about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    /// GET.
    Get,
    /// POST.
    Post,
    /// Anything else (answered 405 by the handlers).
    Other(String),
}

/// A request, read in full.
#[derive(Debug, Clone)]
pub struct Request {
    /// The method.
    pub method: Method,
    /// The path, without the query.
    pub path: String,
    /// The query's name/value pairs, percent-decoded.
    pub query: Vec<(String, String)>,
    /// The Content-Type header, if any.
    pub content_type: Option<String>,
    /// The body.
    pub body: Bytes,
    /// The client's address (for the log).
    pub peer: Option<SocketAddr>,
}

impl Request {
    /// The first query value called `name`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What a handler answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The HTTP status.
    pub status: u16,
    /// The Content-Type.
    pub content_type: &'static str,
    /// The body.
    pub body: Vec<u8>,
}

impl Reply {
    /// A 200 reply.
    pub fn ok(content_type: &'static str, body: Vec<u8>) -> Self {
        Reply {
            status: 200,
            content_type,
            body,
        }
    }

    /// A plain-text error reply; the text says what was wrong.
    pub fn error(status: u16, text: impl Into<String>) -> Self {
        let mut body = text.into().into_bytes();
        body.push(b'\n');
        Reply {
            status,
            content_type: "text/plain; charset=utf-8",
            body,
        }
    }
}

/// Answers requests. Called on a blocking worker thread.
pub trait Handler: Send + Sync + 'static {
    /// The reply to `request`.
    fn handle(&self, request: &Request) -> Reply;
}

/// The server's limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The largest request body accepted, in bytes.
    pub max_body: usize,
    /// The most connections open at once.
    pub max_connections: usize,
    /// The most requests worked on at once.
    pub workers: usize,
    /// How long a client may take to send its request headers.
    pub header_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body: 256 * 1024,
            max_connections: 1024,
            workers: 8,
            header_timeout: Duration::from_secs(10),
        }
    }
}

fn reply_to_response(reply: Reply) -> hyper::Response<Full<Bytes>> {
    let mut response = hyper::Response::new(Full::new(Bytes::from(reply.body)));
    *response.status_mut() =
        hyper::StatusCode::from_u16(reply.status).unwrap_or(hyper::StatusCode::OK);
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(reply.content_type));
    response
}

fn parse_query(query: Option<&str>) -> Vec<(String, String)> {
    form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

struct Shared {
    handler: Arc<dyn Handler>,
    limits: Limits,
    work: Semaphore,
}

async fn respond(
    shared: Arc<Shared>,
    peer: SocketAddr,
    overloaded: bool,
    request: hyper::Request<Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    let method = match *request.method() {
        hyper::Method::GET => Method::Get,
        hyper::Method::POST => Method::Post,
        ref other => Method::Other(other.to_string()),
    };
    let path = request.uri().path().to_string();
    let log = |status: u16, what: &str| {
        tracing::info!(target: "ca::http", "{peer} {} {path} -> {status} {what}", request_method_name(&method));
    };
    if overloaded {
        log(503, "too many connections");
        let mut r = reply_to_response(Reply::error(503, "too many connections; retry later"));
        r.headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from_static("5"));
        return Ok(r);
    }
    let declared = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > shared.limits.max_body as u64) {
        log(413, "declared body too large");
        return Ok(reply_to_response(Reply::error(
            413,
            format!("request body larger than {} bytes", shared.limits.max_body),
        )));
    }
    let query = parse_query(request.uri().query());
    let content_type = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = match Limited::new(request.into_body(), shared.limits.max_body)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            let too_large = e.is::<http_body_util::LengthLimitError>();
            let (status, text) = if too_large {
                (
                    413,
                    format!("request body larger than {} bytes", shared.limits.max_body),
                )
            } else {
                (400, format!("reading the request body: {e}"))
            };
            log(status, &text);
            return Ok(reply_to_response(Reply::error(status, text)));
        }
    };
    let req = Request {
        method,
        path,
        query,
        content_type,
        body,
        peer: Some(peer),
    };
    let Ok(_permit) = shared.work.acquire().await else {
        return Ok(reply_to_response(Reply::error(503, "shutting down")));
    };
    let handler = shared.handler.clone();
    let reply = match tokio::task::spawn_blocking(move || {
        let reply = handler.handle(&req);
        (req, reply)
    })
    .await
    {
        Ok((req, reply)) => {
            tracing::info!(target: "ca::http", "{peer} {} {} -> {}", request_method_name(&req.method), req.path, reply.status);
            reply
        }
        Err(e) => {
            tracing::error!(target: "ca::http", "{peer} handler failed: {e}");
            Reply::error(500, "internal error")
        }
    };
    Ok(reply_to_response(reply))
}

fn request_method_name(m: &Method) -> &str {
    match m {
        Method::Get => "GET",
        Method::Post => "POST",
        Method::Other(s) => s,
    }
}

/// Serves `handler` on `listener` until `shutdown` completes; connections
/// already open are finished first.
pub async fn serve(
    listener: TcpListener,
    handler: Arc<dyn Handler>,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let shared = Arc::new(Shared {
        handler,
        limits,
        work: Semaphore::new(limits.workers.max(1)),
    });
    let connections = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: keep serving.
                    tracing::warn!(target: "ca::http", "accept: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let permit = connections.clone().try_acquire_owned().ok();
        let overloaded = permit.is_none();
        let shared = shared.clone();
        tasks.spawn(async move {
            let _permit = permit;
            let service = service_fn(move |req| respond(shared.clone(), peer, overloaded, req));
            let served = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout)
                .serve_connection(TokioIo::new(stream), service)
                .await;
            if let Err(e) = served {
                tracing::debug!(target: "ca::http", "{peer}: {e}");
            }
        });
        // Reap finished connections so the set does not grow.
        while tasks.try_join_next().is_some() {}
    }
    // Give open requests a moment to finish; idle keep-alive connections
    // are dropped.
    let drain = async { while tasks.join_next().await.is_some() {} };
    if tokio::time::timeout(Duration::from_secs(5), drain)
        .await
        .is_err()
    {
        tasks.abort_all();
    }
    Ok(())
}
