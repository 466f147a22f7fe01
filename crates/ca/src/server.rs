//! A running CA: binds the address it is given (and only that one), opens
//! the CA directory, and serves SCEP, CMP and the CRL on its own tokio
//! runtime thread until stopped. Used by `mtsim ca serve`, by the
//! simulator's embedded CA and by tests.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use simclock::Clock;
use tokio::sync::oneshot;

use crate::CaError;
use crate::authority::{Authority, Settings};
use crate::cmp::{CmpServer, CmpSettings};
use crate::http::{self, Limits};
use crate::scep::{ScepServer, ScepSettings};
use crate::service::{CRL_PATH, CaService};

/// Everything `mtsim ca serve` is told.
#[derive(Debug, Clone, Default)]
pub struct ServeConfig {
    /// The CA's behaviour; a missing `crl_url` becomes
    /// `http://<bound address>/crl/issuing.crl`.
    pub settings: Settings,
    /// The SCEP server's behaviour.
    pub scep: ScepSettings,
    /// The CMP server's behaviour.
    pub cmp: CmpSettings,
    /// HTTP limits.
    pub limits: Limits,
}

/// A CA serving on a thread of its own.
pub struct RunningCa {
    addr: SocketAddr,
    service: Arc<CaService>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<std::io::Result<()>>>,
}

impl RunningCa {
    /// The address it listens on (the real port when 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The CA (for approving, revoking, listing in-process).
    pub fn authority(&self) -> &Authority {
        self.service.authority()
    }

    /// The SCEP URL.
    pub fn scep_url(&self) -> String {
        format!("http://{}/scep", self.addr)
    }

    /// The CMP URL.
    pub fn cmp_url(&self) -> String {
        format!("http://{}/pkix/", self.addr)
    }

    /// Stops serving and waits for the thread.
    pub fn stop(mut self) -> std::io::Result<()> {
        self.shutdown()
    }

    /// Serves until the process is interrupted (Ctrl-C / SIGINT).
    pub fn wait(mut self) -> std::io::Result<()> {
        match self.thread.take() {
            Some(t) => t
                .join()
                .unwrap_or_else(|_| Err(std::io::Error::other("the CA thread panicked"))),
            None => Ok(()),
        }
    }

    fn shutdown(&mut self) -> std::io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.thread.take() {
            Some(t) => t
                .join()
                .unwrap_or_else(|_| Err(std::io::Error::other("the CA thread panicked"))),
            None => Ok(()),
        }
    }
}

impl Drop for RunningCa {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

/// Binds `listen`, opens (or makes) the CA in `dir` and starts serving.
/// With `until_interrupted`, the server also stops on SIGINT.
pub fn start(
    dir: &Path,
    listen: SocketAddr,
    mut config: ServeConfig,
    clock: Clock,
    until_interrupted: bool,
) -> Result<RunningCa, CaError> {
    let listener = std::net::TcpListener::bind(listen)
        .map_err(|e| CaError::Config(format!("cannot listen on {listen}: {e}")))?;
    let addr = listener
        .local_addr()
        .map_err(|e| CaError::Config(format!("{listen}: {e}")))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| CaError::Config(format!("{listen}: {e}")))?;
    if config.settings.crl_url.is_none() {
        config.settings.crl_url = Some(format!("http://{addr}{CRL_PATH}"));
    }
    let authority = Authority::open(dir, config.settings, clock.now())?;
    let service = Arc::new(CaService::new(
        authority,
        clock,
        ScepServer::new(config.scep),
        CmpServer::new(config.cmp),
    ));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(config.limits.workers.max(1) + 2)
        .enable_all()
        .thread_name("ca-http")
        .build()
        .map_err(|e| CaError::Internal(format!("tokio runtime: {e}")))?;
    let (stop, stopped) = oneshot::channel::<()>();
    let handler: Arc<dyn http::Handler> = service.clone();
    let limits = config.limits;
    let thread = std::thread::Builder::new()
        .name("ca".into())
        .spawn(move || {
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener)?;
                let shutdown = async move {
                    if until_interrupted {
                        tokio::select! {
                            _ = stopped => {}
                            _ = tokio::signal::ctrl_c() => {}
                        }
                    } else {
                        let _ = stopped.await;
                    }
                };
                http::serve(listener, handler, limits, shutdown).await
            })
        })
        .map_err(|e| CaError::Internal(format!("CA thread: {e}")))?;
    tracing::info!(target: "ca", "serving on http://{addr} from {}", dir.display());
    Ok(RunningCa {
        addr,
        service,
        stop: Some(stop),
        thread: Some(thread),
    })
}
