//! Crypto workers: threads that run [`Lot::crypto`] for the engine.
//!
//! The engine thread keeps the SA state and the rings; a worker only ever
//! sees a lot (its buffers and the SA's shared keys). Each worker takes
//! lots from its own queue and returns them on its own queue in the order
//! it got them, so the engine, which hands lots out round robin and
//! collects them in the same order, completes descriptors in ring order:
//! per SA, sequence numbers and completions stay in order whatever the
//! number of workers.

use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, bounded};

use crate::lot::Lot;

/// One worker thread and its two queues. `None` travels only when the
/// queues are primed ([`prime`]).
struct Worker {
    to: Sender<Option<Lot>>,
    from: Receiver<Option<Lot>>,
    thread: Option<JoinHandle<()>>,
}

/// The engine's crypto workers (possibly none: the engine thread alone).
pub(crate) struct Workers {
    workers: Vec<Worker>,
}

/// Lots a worker may hold at once (queued and running).
const DEPTH: usize = 4;

/// How long [`prime`] waits on each side of a queue.
const PRIME_WAIT: Duration = Duration::from_millis(5);

/// Makes both sides of `queue` (empty, its other ends not yet in use) wait
/// once. A channel allocates the list of threads waiting on each side the
/// first time one waits; without this, the first lot that finds the engine
/// waiting for a worker (or a full queue) paid for it, on the data path.
fn prime(tx: &Sender<Option<Lot>>, rx: &Receiver<Option<Lot>>) {
    let _ = rx.recv_timeout(PRIME_WAIT);
    for _ in 0..DEPTH {
        let _ = tx.try_send(None);
    }
    let _ = tx.send_timeout(None, PRIME_WAIT);
    while rx.try_recv().is_ok() {}
}

impl Workers {
    /// Starts `n` worker threads. A thread that cannot be started is
    /// logged and left out: the engine then has fewer helpers.
    pub fn start(n: usize) -> Self {
        let mut workers = Vec::with_capacity(n);
        for i in 0..n {
            let (to, jobs) = bounded::<Option<Lot>>(DEPTH);
            let (done, from) = bounded::<Option<Lot>>(DEPTH);
            prime(&to, &jobs);
            prime(&done, &from);
            let spawned = std::thread::Builder::new()
                .name(format!("espic-crypto-{i}"))
                .spawn(move || {
                    for mut lot in jobs.into_iter().flatten() {
                        lot.crypto();
                        if done.send(Some(lot)).is_err() {
                            break;
                        }
                    }
                });
            match spawned {
                Ok(handle) => workers.push(Worker {
                    to,
                    from,
                    thread: Some(handle),
                }),
                Err(e) => tracing::error!(error = %e, "espic: could not start a crypto worker"),
            }
        }
        Workers { workers }
    }

    /// Number of worker threads.
    pub fn len(&self) -> usize {
        self.workers.len()
    }

    /// Hands `lot` to worker `i`; gives it back if that worker is gone.
    pub fn send(&self, i: usize, lot: Lot) -> Option<Lot> {
        match self.workers.get(i) {
            Some(w) => w.to.send(Some(lot)).err().and_then(|e| e.into_inner()),
            None => Some(lot),
        }
    }

    /// The next lot worker `i` finished, waiting for it; `None` if that
    /// worker is gone.
    pub fn recv(&self, i: usize) -> Option<Lot> {
        self.workers.get(i)?.from.recv().ok().flatten()
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        let mut threads = Vec::new();
        for w in self.workers.drain(..) {
            // Dropping the sender ends the worker's loop.
            threads.extend(w.thread);
        }
        for t in threads {
            let _ = t.join();
        }
    }
}
