//! A lot: up to [`LOT_MAX`] consecutive ENCAP and DECAP descriptors whose
//! packets sit in one pair of buffers, so that the crypto of each run of
//! packets of one SA goes through one multi-buffer pass ([`esp::batch`]).
//!
//! A lot goes through three steps. The engine thread *admits* each
//! descriptor (DMA read, SA lookup, sequence number or anti-replay check:
//! the SA's state, serially); then [`Lot::crypto`] runs, on the engine
//! thread or a crypto worker, touching only the lot's buffers and the SAs'
//! shared keys; then the engine *completes* the lot in ring order
//! (anti-replay commit, DMA write, completion record). Nothing here
//! allocates once the lot's buffers have been made.

use std::sync::Arc;

use esp::batch::{OpenKeys, SealKeys, Span};
use esp::{Checked, EspError, Prepared};
use espic_hw::Status;
use espic_hw::desc::Descriptor;

use crate::engine::MAX_PACKET;

/// Descriptors per lot: one cipher call's worth of lanes.
pub const LOT_MAX: usize = esp::batch::LANES;

/// Bytes of each of a lot's two buffers: room for 64 packets of 2 KiB, and
/// for one packet of [`MAX_PACKET`] alone.
const ARENA: usize = 2 * MAX_PACKET;

/// Where one descriptor of a lot stands.
#[derive(Debug)]
pub(crate) enum JobState {
    /// Refused at admission: completes with this status.
    Failed(Status),
    /// ENCAP: laid out in `dst` at `out`, to be sealed.
    Seal {
        /// The outbound SA's keys: `Keys::Seal` at this index of the lot's
        /// keys.
        keys: usize,
        /// The whole outer packet in `dst`.
        out: Span,
        /// What `prepare` returned (ESP part relative to `out`).
        prepared: Prepared,
    },
    /// DECAP: the packet in `src` at `input`, inner packet to `dst` at `out`.
    Open {
        /// The inbound SA's keys: `Keys::Open` at this index of the lot's
        /// keys.
        keys: usize,
        /// The whole outer packet in `src`.
        input: Span,
        /// Room for the inner packet in `dst`.
        out: Span,
        /// What `check` returned (ESP part relative to `input`).
        checked: Checked,
        /// Filled by the crypto step.
        opened: Result<usize, EspError>,
    },
}

/// The keys of one SA a lot's jobs use.
#[derive(Debug)]
pub(crate) enum Keys {
    /// An outbound SA's.
    Seal(Arc<SealKeys>),
    /// An inbound SA's.
    Open(Arc<OpenKeys>),
}

/// One descriptor of a lot.
#[derive(Debug)]
pub(crate) struct Job {
    /// The descriptor as read from the ring.
    pub desc: Descriptor,
    /// The SA slot it resolved to.
    pub sa_index: u32,
    /// Its state.
    pub state: JobState,
}

/// Consecutive transform descriptors and their packets.
pub(crate) struct Lot {
    /// Input packets, as read from host memory.
    pub src: Vec<u8>,
    /// Output packets.
    pub dst: Vec<u8>,
    src_used: usize,
    dst_used: usize,
    /// The descriptors, in ring order.
    pub jobs: Vec<Job>,
    /// The SA keys the jobs name, one entry per run of jobs of one SA: a
    /// packet's admission and completion touch no reference count (an
    /// atomic there waited, every packet, for the stores of the DMA write
    /// before it to reach memory the host's core held).
    keys: Vec<Keys>,
    esps: Vec<Span>,
    outs: Vec<Span>,
    results: Vec<Result<usize, EspError>>,
}

impl Lot {
    /// An empty lot with its buffers made.
    pub fn new() -> Lot {
        Lot {
            src: vec![0; ARENA],
            dst: vec![0; ARENA],
            src_used: 0,
            dst_used: 0,
            jobs: Vec::with_capacity(LOT_MAX),
            keys: Vec::with_capacity(LOT_MAX),
            esps: Vec::with_capacity(LOT_MAX),
            outs: Vec::with_capacity(LOT_MAX),
            results: Vec::with_capacity(LOT_MAX),
        }
    }

    /// Empties the lot for reuse.
    pub fn reset(&mut self) {
        self.src_used = 0;
        self.dst_used = 0;
        self.jobs.clear();
        self.keys.clear();
    }

    /// The index of `keys` in the lot's keys, added unless the last job's
    /// run already uses them.
    pub fn seal_keys(&mut self, keys: &Arc<SealKeys>) -> usize {
        self.keys_index(
            |k| matches!(k, Keys::Seal(last) if Arc::ptr_eq(last, keys)),
            || Keys::Seal(Arc::clone(keys)),
        )
    }

    /// As [`Self::seal_keys`], for an inbound SA.
    pub fn open_keys(&mut self, keys: &Arc<OpenKeys>) -> usize {
        self.keys_index(
            |k| matches!(k, Keys::Open(last) if Arc::ptr_eq(last, keys)),
            || Keys::Open(Arc::clone(keys)),
        )
    }

    fn keys_index(&mut self, same: impl Fn(&Keys) -> bool, add: impl FnOnce() -> Keys) -> usize {
        if !self.keys.last().is_some_and(same) {
            self.keys.push(add());
        }
        self.keys.len() - 1
    }

    /// Whether the lot is empty.
    pub fn is_empty(&self) -> bool {
        self.jobs.is_empty()
    }

    /// Whether a descriptor needing `src` input and `dst` output bytes can
    /// join.
    pub fn fits(&self, src: usize, dst: usize) -> bool {
        self.jobs.len() < LOT_MAX
            && self.src_used + src <= self.src.len()
            && self.dst_used + dst <= self.dst.len()
    }

    /// Whether the lot is full.
    pub fn is_full(&self) -> bool {
        self.jobs.len() >= LOT_MAX
    }

    /// Takes `len` bytes of the input buffer (the caller checked [`Self::fits`]).
    pub fn take_src(&mut self, len: usize) -> Span {
        let s = Span::new(self.src_used, len);
        self.src_used += len;
        s
    }

    /// Takes `len` bytes of the output buffer (the caller checked [`Self::fits`]).
    pub fn take_dst(&mut self, len: usize) -> Span {
        let s = Span::new(self.dst_used, len);
        self.dst_used += len;
        s
    }

    /// The crypto step: seals or opens every admitted packet, each run of
    /// consecutive packets of one SA in one multi-buffer pass. Runs on any
    /// thread.
    pub fn crypto(&mut self) {
        let mut i = 0;
        while i < self.jobs.len() {
            i = match self.jobs[i].state {
                JobState::Failed(_) => i + 1,
                JobState::Seal { keys, .. } => self.seal_run(i, keys),
                JobState::Open { keys, .. } => self.open_run(i, keys),
            };
        }
    }

    /// Seals the run of ENCAP jobs on keys `k` that starts at `first`;
    /// returns the index after it.
    fn seal_run(&mut self, first: usize, k: usize) -> usize {
        self.esps.clear();
        let mut end = first;
        for job in &self.jobs[first..] {
            match &job.state {
                JobState::Seal {
                    keys,
                    out,
                    prepared,
                } if *keys == k => {
                    self.esps
                        .push(Span::new(out.start + prepared.esp.start, prepared.esp.len));
                }
                _ => break,
            }
            end += 1;
        }
        // The spans come from `prepare` into this buffer, so sealing cannot
        // fail; should it, every packet of the run fails with it.
        let sealed = match self.keys.get(k) {
            Some(Keys::Seal(keys)) => keys.seal_many(&mut self.dst, &self.esps),
            _ => Err(EspError::BadParams(
                "a lot's job names keys it does not hold",
            )),
        };
        for job in &mut self.jobs[first..end] {
            if let Err(e) = &sealed {
                tracing::error!(error = %e, "espic: sealing failed");
                job.state = JobState::Failed(Status::Malformed);
            } else if let JobState::Seal { out, prepared, .. } = &job.state
                && let Some(packet) = self.dst.get_mut(out.range())
            {
                prepared.finish(packet);
            }
        }
        end
    }

    /// Opens the run of DECAP jobs on keys `k` that starts at `first`;
    /// returns the index after it.
    fn open_run(&mut self, first: usize, k: usize) -> usize {
        self.esps.clear();
        self.outs.clear();
        self.results.clear();
        let mut end = first;
        for job in &self.jobs[first..] {
            match &job.state {
                JobState::Open {
                    keys,
                    input,
                    out,
                    checked,
                    ..
                } if *keys == k => {
                    self.esps
                        .push(Span::new(input.start + checked.esp.start, checked.esp.len));
                    self.outs.push(*out);
                    self.results.push(Err(EspError::AuthFailed));
                }
                _ => break,
            }
            end += 1;
        }
        if let Some(Keys::Open(keys)) = self.keys.get(k) {
            keys.open_many(
                &self.src,
                &self.esps,
                &mut self.dst,
                &self.outs,
                &mut self.results,
            );
        } else {
            tracing::error!("espic: a lot's job names keys it does not hold");
        }
        for (job, r) in self.jobs[first..end].iter_mut().zip(&self.results) {
            if let JobState::Open { opened, .. } = &mut job.state {
                *opened = *r;
            }
        }
        end
    }
}
