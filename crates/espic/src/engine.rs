//! The engine thread: command ring in, completions out.
//!
//! The engine owns the ring state and the SA table. It wakes on doorbell and
//! control writes, drains up to `BATCH_MAX` descriptors, runs each one,
//! writes the completions, publishes `CPL_TAIL` and `CMD_HEAD` once per
//! batch and raises one interrupt for the batch.
//!
//! Nothing the host writes is trusted: an index beyond the ring size or a
//! ring outside memory is a fatal fault (STATUS.FATAL, the engine stops
//! until a soft reset) rather than a retry; a buffer outside memory fails
//! only its own descriptor with DMA_FAULT.

use std::collections::VecDeque;
use std::sync::Arc;

use crossbeam_channel::Receiver;
use esp::batch::Span;
use espic_hw::desc::{
    COMPLETION_SIZE, CPL_F_SA_HARD, CPL_F_SA_SOFT, Completion, DESCRIPTOR_SIZE, Descriptor,
    SA_BLOCK_SIZE, SA_BY_SPI, SA_STATS_SIZE, SaBlock,
};
use espic_hw::regs::{self, ctrl, int};
use espic_hw::{FaultCode, HostMemory, Opcode, Status, dma_read, dma_write};
use vm_memory::{Bytes, GuestAddress, GuestMemory, Permissions};
use zerocopy::{FromZeros, IntoBytes};

use crate::iv::IvSource;
use crate::lot::{Job, JobState, Lot};
use crate::regfile::{RegisterFile, Tally};
use crate::sa_table::{self, SaEntry, SaTable};
use crate::workers::Workers;

/// Largest packet (input or output) the engine handles, in bytes.
pub const MAX_PACKET: usize = 65535;

/// Why the engine thread is woken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// CMD_TAIL, CPL_HEAD or CTRL.ENABLE was written.
    Doorbell,
    /// CTRL.SOFT_RESET was written.
    Reset,
    /// The card is being dropped.
    Shutdown,
}

impl Wake {
    /// Its bit in [`RegisterFile::take_wakes`].
    pub fn bit(self) -> u32 {
        match self {
            Wake::Doorbell => 1,
            Wake::Reset => 2,
            Wake::Shutdown => 4,
        }
    }
}

/// Ring geometry latched when the engine starts.
#[derive(Debug, Clone, Copy)]
struct Rings {
    cmd_base: u64,
    cmd_size: u32,
    cpl_base: u64,
    cpl_size: u32,
}

/// The outcome of one descriptor.
struct Done {
    status: Status,
    result_len: u32,
    sa_index: u32,
    seq: u32,
    spi: u32,
    flags: u16,
}

impl Done {
    fn status(status: Status, sa_index: u32) -> Self {
        Done {
            status,
            result_len: 0,
            sa_index,
            seq: 0,
            spi: 0,
            flags: 0,
        }
    }
}

/// The device's engine: everything behind the registers.
pub struct Engine {
    regs: Arc<RegisterFile>,
    mem: Arc<HostMemory>,
    bell: Receiver<()>,
    rings: Option<Rings>,
    /// `RegisterFile::enable_count` when `rings` was latched.
    rings_enable: u64,
    fatal: bool,
    cpl_full_signalled: bool,
    sas: SaTable,
    iv_pool: IvSource,
    /// The lot being admitted.
    lot: Lot,
    /// Lots handed to the crypto step, oldest first.
    pending: VecDeque<Pending>,
    /// Emptied lots, for reuse.
    spare: Vec<Lot>,
    workers: Workers,
    /// The worker the next lot goes to; `workers.len()` means this thread.
    next_worker: usize,
    /// Completion ring tail and interrupt causes of the batch being run.
    cpl_tail: u32,
    causes: u32,
    /// The batch's descriptors, read from the ring in one or two copies.
    descs: Vec<Descriptor>,
    /// The batch's completions, written to the ring in one or two copies.
    cpls: Vec<Completion>,
    /// The batch's counts, added to the counters before it is published.
    tally: Tally,
}

/// A lot whose crypto is done or under way.
enum Pending {
    /// Done on the engine thread.
    Ready(Lot),
    /// Given to this worker.
    At(usize),
}

/// The engine stopped with a fatal fault in the middle of a batch.
struct Stopped;

impl Engine {
    /// An engine for the card with register file `regs`, running the
    /// crypto on `crypto_threads` threads: its own and `crypto_threads - 1`
    /// workers.
    pub fn new(
        regs: Arc<RegisterFile>,
        mem: Arc<HostMemory>,
        bell: Receiver<()>,
        crypto_threads: usize,
    ) -> Self {
        Engine {
            regs,
            mem,
            bell,
            rings: None,
            rings_enable: 0,
            fatal: false,
            cpl_full_signalled: false,
            sas: SaTable::new(regs::SA_TABLE_SIZE),
            iv_pool: IvSource::default(),
            lot: Lot::new(),
            pending: VecDeque::new(),
            spare: Vec::new(),
            workers: Workers::start(crypto_threads.saturating_sub(1)),
            next_worker: 0,
            cpl_tail: 0,
            causes: 0,
            descs: vec![Descriptor::new_zeroed(); regs::BATCH_LIMIT as usize],
            cpls: Vec::with_capacity(regs::BATCH_LIMIT as usize),
            tally: Tally::default(),
        }
    }

    /// The thread body: serve wake-ups until shutdown.
    pub fn run(mut self) {
        while self.bell.recv().is_ok() {
            let wakes = self.regs.take_wakes();
            let reset = wakes & Wake::Reset.bit() != 0;
            let shutdown = wakes & Wake::Shutdown.bit() != 0;
            if shutdown {
                break;
            }
            if reset {
                self.soft_reset();
            }
            self.service();
        }
        self.sas.clear();
    }

    fn service(&mut self) {
        let ctrl = self.regs.get(regs::CTRL);
        if ctrl & ctrl::SOFT_RESET != 0 {
            return;
        }
        if ctrl & ctrl::ENABLE == 0 {
            self.rings = None;
            self.regs.clear_bits(regs::STATUS, regs::status::RUNNING);
            return;
        }
        if self.fatal {
            return;
        }
        // A disable and re-enable since the rings were latched (even one
        // faster than this thread woke up) means new ring registers.
        let enables = self.regs.enable_count();
        if enables != self.rings_enable {
            self.rings = None;
            self.rings_enable = enables;
        }
        let rings = match self.rings {
            Some(r) => r,
            None => match self.start() {
                Some(r) => r,
                None => return,
            },
        };
        while self.run_batch(rings) {}
    }

    /// Validates and latches the ring registers when ENABLE goes to 1.
    fn start(&mut self) -> Option<Rings> {
        let r = &self.regs;
        let cmd_base =
            u64::from(r.get(regs::CMD_BASE_HI)) << 32 | u64::from(r.get(regs::CMD_BASE_LO));
        let cpl_base =
            u64::from(r.get(regs::CPL_BASE_HI)) << 32 | u64::from(r.get(regs::CPL_BASE_LO));
        let rings = Rings {
            cmd_base,
            cmd_size: r.get(regs::CMD_SIZE),
            cpl_base,
            cpl_size: r.get(regs::CPL_SIZE),
        };
        let size_ok =
            |s: u32| (regs::RING_MIN..=regs::RING_MAX).contains(&s) && s.is_power_of_two();
        let in_memory = |base: u64, size: u32, entry: usize| {
            self.mem.check_range(
                GuestAddress(base),
                size as usize * entry,
                Permissions::ReadWrite,
            )
        };
        let (bad_addr, ok) = if !size_ok(rings.cmd_size)
            || cmd_base % DESCRIPTOR_SIZE as u64 != 0
            || !in_memory(cmd_base, rings.cmd_size, DESCRIPTOR_SIZE)
        {
            (cmd_base, false)
        } else if !size_ok(rings.cpl_size)
            || cpl_base % COMPLETION_SIZE as u64 != 0
            || !in_memory(cpl_base, rings.cpl_size, COMPLETION_SIZE)
        {
            (cpl_base, false)
        } else {
            (0, true)
        };
        if !ok {
            self.fail_fatal(FaultCode::RingConfig, bad_addr);
            return None;
        }
        // Enabling starts both rings from slot 0.
        self.regs.set(regs::CMD_HEAD, 0);
        self.regs.set(regs::CPL_TAIL, 0);
        self.regs.set_bits(regs::STATUS, regs::status::RUNNING);
        self.rings = Some(rings);
        Some(rings)
    }

    /// Stops the engine until a soft reset.
    fn fail_fatal(&mut self, code: FaultCode, addr: u64) {
        tracing::warn!(
            fault = code.name(),
            addr,
            "espic: fatal fault, engine stopped"
        );
        self.fatal = true;
        self.rings = None;
        self.set_fault(code, addr);
        self.regs.clear_bits(regs::STATUS, regs::status::RUNNING);
        self.regs.set_bits(regs::STATUS, regs::status::FATAL);
        self.regs.raise(int::FATAL);
    }

    fn set_fault(&self, code: FaultCode, addr: u64) {
        self.regs.set(regs::FAULT_ADDR_LO, addr as u32);
        self.regs.set(regs::FAULT_ADDR_HI, (addr >> 32) as u32);
        self.regs.set(regs::FAULT_CODE, code as u32);
    }

    /// Runs one batch; returns whether more work may be pending.
    fn run_batch(&mut self, rings: Rings) -> bool {
        let tail = self.regs.get(regs::CMD_TAIL);
        if tail >= rings.cmd_size {
            self.fail_fatal(FaultCode::CmdIndex, u64::from(tail));
            return false;
        }
        let cpl_head = self.regs.get(regs::CPL_HEAD);
        if cpl_head >= rings.cpl_size {
            self.fail_fatal(FaultCode::CplIndex, u64::from(cpl_head));
            return false;
        }
        let mut head = self.regs.get(regs::CMD_HEAD);
        let cpl_tail = self.regs.get(regs::CPL_TAIL);
        let pending = tail.wrapping_sub(head) & (rings.cmd_size - 1);
        if pending == 0 {
            return false;
        }
        let free = cpl_head.wrapping_sub(cpl_tail).wrapping_sub(1) & (rings.cpl_size - 1);
        if free == 0 {
            self.regs.set_bits(regs::STATUS, regs::status::CPL_FULL);
            if !self.cpl_full_signalled {
                self.cpl_full_signalled = true;
                self.regs.raise(int::CPL_FULL);
            }
            return false;
        }
        self.cpl_full_signalled = false;
        self.regs.clear_bits(regs::STATUS, regs::status::CPL_FULL);
        let batch_max = self.regs.get(regs::BATCH_MAX).clamp(1, regs::BATCH_LIMIT);
        let n = pending.min(free).min(batch_max);
        self.causes = int::COMPLETION;
        self.cpl_tail = cpl_tail;
        self.cpls.clear();
        if self
            .run_descriptors(rings, &mut head, n)
            .and_then(|()| self.write_completions(rings, cpl_tail))
            .is_err()
        {
            self.cpls.clear();
            self.regs.count_tally(&mut self.tally);
            self.abandon();
            return false;
        }
        // Publish: counters and completions first, then the indices
        // (Release stores).
        self.regs.count_tally(&mut self.tally);
        self.regs.set(regs::CPL_TAIL, self.cpl_tail);
        self.regs.set(regs::CMD_HEAD, head);
        self.regs.raise(self.causes);
        true
    }

    /// Runs `n` descriptors from `head`: transforms go into lots, anything
    /// else runs once every lot before it has completed.
    fn run_descriptors(&mut self, rings: Rings, head: &mut u32, n: u32) -> Result<(), Stopped> {
        let n = (n as usize).min(self.descs.len());
        // The batch in at most two copies: up to the end of the ring, then
        // from its start.
        let first = n.min((rings.cmd_size - *head) as usize);
        for (start, slot, count) in [(0, *head, first), (first, 0, n - first)] {
            if count == 0 {
                continue;
            }
            let at = rings.cmd_base + u64::from(slot) * DESCRIPTOR_SIZE as u64;
            if !dma_read(
                &self.mem,
                at,
                self.descs[start..start + count].as_mut_bytes(),
            ) {
                self.fail_fatal(FaultCode::RingDma, at);
                return Err(Stopped);
            }
        }
        for i in 0..n {
            let d = self.descs[i];
            match Opcode::from_raw(d.opcode) {
                Some(op @ (Opcode::Encap | Opcode::Decap)) => self.admit(rings, op, d)?,
                _ => {
                    self.close_lot(rings)?;
                    self.drain(rings)?;
                    let mut causes = 0;
                    let done = self.execute(&d, &mut causes);
                    self.causes |= causes;
                    self.post(rings, &d, done);
                }
            }
            *head = (*head + 1) & (rings.cmd_size - 1);
        }
        self.close_lot(rings)?;
        self.drain(rings)
    }

    /// Queues the completion of `d` for the completion ring.
    fn post(&mut self, rings: Rings, d: &Descriptor, done: Done) {
        self.tally.add(regs::CNT_DESCRIPTORS, 1);
        if let Some(counter) = done.status.counter() {
            self.tally.add(counter, 1);
        }
        self.cpls.push(Completion {
            cookie: d.cookie,
            status: (done.status as u16).into(),
            flags: done.flags.into(),
            result_len: done.result_len.into(),
            sa_index: done.sa_index.into(),
            seq: done.seq.into(),
            spi: done.spi.into(),
            reserved: 0.into(),
        });
        self.cpl_tail = (self.cpl_tail + 1) & (rings.cpl_size - 1);
    }

    /// Writes the batch's completions from slot `from` on, in at most two
    /// copies.
    fn write_completions(&mut self, rings: Rings, from: u32) -> Result<(), Stopped> {
        let n = self.cpls.len();
        let first = n.min((rings.cpl_size - from) as usize);
        for (start, slot, count) in [(0, from, first), (first, 0, n - first)] {
            if count == 0 {
                continue;
            }
            let at = rings.cpl_base + u64::from(slot) * COMPLETION_SIZE as u64;
            if !dma_write(&self.mem, at, self.cpls[start..start + count].as_bytes()) {
                self.fail_fatal(FaultCode::RingDma, at);
                return Err(Stopped);
            }
        }
        self.cpls.clear();
        Ok(())
    }

    /// After a fatal fault: takes every lot back from the workers, unposted.
    fn abandon(&mut self) {
        while let Some(p) = self.pending.pop_front() {
            let lot = match p {
                Pending::Ready(lot) => Some(lot),
                Pending::At(i) => self.workers.recv(i),
            };
            if let Some(mut lot) = lot {
                lot.reset();
                self.spare.push(lot);
            }
        }
        self.lot.reset();
        self.next_worker = 0;
    }

    /// Sends the lot being admitted to the crypto step: to the next worker
    /// in turn, or run here; then completes the oldest lots while more are
    /// under way than there are workers.
    fn close_lot(&mut self, rings: Rings) -> Result<(), Stopped> {
        if self.lot.is_empty() {
            return Ok(());
        }
        let fresh = self.spare.pop().unwrap_or_else(Lot::new);
        let mut lot = std::mem::replace(&mut self.lot, fresh);
        let turn = self.next_worker;
        self.next_worker = if turn >= self.workers.len() {
            0
        } else {
            turn + 1
        };
        if turn < self.workers.len() {
            match self.workers.send(turn, lot) {
                None => self.pending.push_back(Pending::At(turn)),
                Some(mut back) => {
                    back.crypto();
                    self.pending.push_back(Pending::Ready(back));
                }
            }
        } else {
            lot.crypto();
            self.pending.push_back(Pending::Ready(lot));
        }
        while self.pending.len() > self.workers.len() {
            self.complete_front(rings)?;
        }
        Ok(())
    }

    /// Completes every lot under way.
    fn drain(&mut self, rings: Rings) -> Result<(), Stopped> {
        while !self.pending.is_empty() {
            self.complete_front(rings)?;
        }
        Ok(())
    }

    /// Completes the oldest lot: commits, writes back and posts each of its
    /// descriptors in ring order.
    fn complete_front(&mut self, rings: Rings) -> Result<(), Stopped> {
        let mut lot = match self.pending.pop_front() {
            None => return Ok(()),
            Some(Pending::Ready(lot)) => lot,
            Some(Pending::At(i)) => match self.workers.recv(i) {
                Some(lot) => lot,
                None => {
                    tracing::error!(worker = i, "espic: a crypto worker is gone");
                    self.fail_fatal(FaultCode::RingDma, 0);
                    return Err(Stopped);
                }
            },
        };
        for job in &lot.jobs {
            let done = self.finish_job(&lot.dst, job);
            self.post(rings, &job.desc, done);
        }
        lot.reset();
        self.spare.push(lot);
        Ok(())
    }

    /// The outcome of one job of a lot whose crypto is done: for DECAP the
    /// SA's commit (anti-replay, lifetime), then the write to host memory.
    fn finish_job(&mut self, dst: &[u8], job: &Job) -> Done {
        let index = job.sa_index;
        let result = match &job.state {
            JobState::Failed(status) => Err(*status),
            JobState::Seal { out, prepared, .. } => match self.sas.get_mut(index) {
                Ok(SaEntry::Outbound(sa)) => Ok((
                    Opcode::Encap,
                    prepared.outcome,
                    out.start,
                    sa.spi(),
                    job.desc.src_len.get() as usize,
                )),
                _ => Err(Status::UnknownSa),
            },
            JobState::Open {
                out,
                checked,
                opened,
                ..
            } => match self.sas.get_mut(index) {
                Ok(SaEntry::Inbound(sa)) => sa
                    .commit(checked, *opened)
                    .map(|o| (Opcode::Decap, o, out.start, sa.spi(), o.len))
                    .map_err(|e| status_of(&e)),
                _ => Err(Status::UnknownSa),
            },
        };
        let (op, outcome, at, spi, inner_len) = match result {
            Ok(r) => r,
            Err(status) => return Done::status(status, index),
        };
        let dst_addr = job.desc.dst_addr.get();
        let written = dst.get(at..at + outcome.len).unwrap_or_default();
        if !dma_write(&self.mem, dst_addr, written) {
            // Checked at admission; a region cannot shrink under us. Report it all the same.
            let status = self.fault_in_batch(FaultCode::DmaWrite, dst_addr);
            return Done::status(status, index);
        }
        let mut flags = 0;
        match outcome.event {
            Some(esp::LifetimeEvent::Soft) => {
                flags |= CPL_F_SA_SOFT;
                self.causes |= int::SA_SOFT;
                self.regs.set(regs::SA_EVENT, index);
            }
            Some(esp::LifetimeEvent::Hard) => {
                flags |= CPL_F_SA_HARD;
                self.causes |= int::SA_HARD;
                self.regs.set(regs::SA_EVENT, index);
            }
            None => {}
        }
        let (pkts, bytes) = if op == Opcode::Encap {
            (regs::CNT_ENCAP_PKTS, regs::CNT_ENCAP_BYTES)
        } else {
            (regs::CNT_DECAP_PKTS, regs::CNT_DECAP_BYTES)
        };
        self.tally.add(pkts, 1);
        self.tally.add(bytes, inner_len as u64);
        Done {
            status: Status::Ok,
            result_len: outcome.len as u32,
            sa_index: index,
            seq: outcome.seq,
            spi,
            flags,
        }
    }

    /// Admits one ENCAP or DECAP descriptor into the lot being filled:
    /// reads its packet, finds its SA and runs the SA's serial step
    /// (`prepare` or `check`). A refused descriptor joins the lot all the
    /// same, so that it completes in ring order.
    fn admit(&mut self, rings: Rings, op: Opcode, d: Descriptor) -> Result<(), Stopped> {
        let src_len = d.src_len.get() as usize;
        let dst_len = (d.dst_len.get() as usize).min(MAX_PACKET);
        // ENCAP adds at most an outer IPv6 and UDP header, ESP header, IV,
        // a block of padding, trailer and ICV: well under 128 bytes.
        let dst_room = dst_len.min(src_len.saturating_add(128));
        if !self.lot.fits(src_len.min(MAX_PACKET), dst_room) {
            self.close_lot(rings)?;
        }
        let (sa_index, state) = match self.admit_job(op, &d, src_len, dst_len) {
            Ok(r) => r,
            Err(status) => (d.sa_index.get(), JobState::Failed(status)),
        };
        self.lot.jobs.push(Job {
            desc: d,
            sa_index,
            state,
        });
        if self.lot.is_full() {
            self.close_lot(rings)?;
        }
        Ok(())
    }

    fn admit_job(
        &mut self,
        op: Opcode,
        d: &Descriptor,
        src_len: usize,
        dst_len: usize,
    ) -> Result<(u32, JobState), Status> {
        if src_len == 0 || src_len > MAX_PACKET {
            return Err(Status::Malformed);
        }
        let src = d.src_addr.get();
        let dst = d.dst_addr.get();
        // ENCAP on an outbound SA with room for the whole packet: the
        // inner packet is read straight into its place in the output (no
        // copy from `src` to `dst` afterwards). Anything else is read into
        // `src`, and refused below exactly as before.
        let placed = match (op, self.sas.get_mut(d.sa_index.get())) {
            (Opcode::Encap, Ok(SaEntry::Outbound(sa))) if sa.encap_len(src_len) <= dst_len => {
                let out = self.lot.take_dst(sa.encap_len(src_len));
                Some((out, Span::new(out.start + sa.payload_offset(), src_len)))
            }
            _ => None,
        };
        // The input goes straight into the lot: a source outside memory
        // fails the read itself. The output is only checked here (written
        // at completion), before the SA's state moves.
        let lot = &mut self.lot;
        // `input`: the packet's span in `src` (empty when placed in `dst`).
        let (input, read_ok) = match placed {
            Some((_, at)) => (
                Span::default(),
                dma_read(&self.mem, src, &mut lot.dst[at.range()]),
            ),
            None => {
                let input = lot.take_src(src_len);
                (input, dma_read(&self.mem, src, &mut lot.src[input.range()]))
            }
        };
        if !read_ok {
            return Err(self.fault_in_batch(FaultCode::DmaRead, src));
        }
        if !self.in_memory(dst, dst_len, Permissions::Write) {
            return Err(self.fault_in_batch(FaultCode::DmaWrite, dst));
        }
        if self.regs.take_injected_error() {
            return Err(self.fault_in_batch(FaultCode::DmaRead, src));
        }
        let lot = &mut self.lot;
        let bytes = &lot.src[input.range()];
        let mut index = d.sa_index.get();
        if op == Opcode::Decap && index == SA_BY_SPI {
            let spi = esp::wire::peek_spi(bytes).ok_or(Status::Malformed)?;
            index = self.sas.find_inbound(spi).ok_or(Status::UnknownSa)?;
        }
        let state = match (op, self.sas.get_mut(index)?) {
            (Opcode::Encap, SaEntry::Outbound(sa)) => {
                let mut iv = [0u8; 16];
                if !self.iv_pool.fill(&mut iv) {
                    return Err(Status::Aborted);
                }
                let (out, prepared) = match placed {
                    Some((out, _)) => (
                        out,
                        sa.prepare_in_place(src_len, &iv, &mut lot.dst[out.range()]),
                    ),
                    None => {
                        let out = lot.take_dst(dst_len.min(sa.encap_len(src_len)));
                        let inner = &lot.src[input.range()];
                        (out, sa.prepare(inner, &iv, &mut lot.dst[out.range()]))
                    }
                };
                let prepared = prepared.map_err(|e| status_of(&e))?;
                JobState::Seal {
                    keys: lot.seal_keys(sa.keys()),
                    out,
                    prepared,
                }
            }
            (Opcode::Decap, SaEntry::Inbound(sa)) => {
                let checked = sa
                    .check(&lot.src[input.range()])
                    .map_err(|e| status_of(&e))?;
                JobState::Open {
                    keys: lot.open_keys(sa.keys()),
                    input,
                    out: lot.take_dst(dst_len.min(src_len)),
                    checked,
                    opened: Err(esp::EspError::AuthFailed),
                }
            }
            _ => return Err(Status::WrongDirection),
        };
        Ok((index, state))
    }

    fn count(&self, status: Status) {
        self.regs.count(regs::CNT_DESCRIPTORS, 1);
        if let Some(counter) = status.counter() {
            self.regs.count(counter, 1);
        }
    }

    /// Runs one descriptor. Extra interrupt causes are added to `causes`.
    fn execute(&mut self, d: &Descriptor, causes: &mut u32) -> Done {
        let index = d.sa_index.get();
        let Some(op) = Opcode::from_raw(d.opcode) else {
            return Done::status(Status::BadOpcode, index);
        };
        let result = match op {
            Opcode::Nop => Ok(Done::status(Status::Ok, index)),
            // Transforms go through lots (`admit`), never here.
            Opcode::Encap | Opcode::Decap => Err(Status::BadOpcode),
            Opcode::SaAdd => self.sa_add(d, causes),
            Opcode::SaDelete => self
                .sas
                .delete(index)
                .map(|()| Done::status(Status::Ok, index)),
            Opcode::SaQuery => self.sa_query(d, causes),
        };
        result.unwrap_or_else(|status| Done::status(status, index))
    }

    /// Checks that `[addr, addr+len)` is host memory; on failure records a
    /// DMA fault and returns DMA_FAULT.
    fn dma_check(
        &self,
        addr: u64,
        len: usize,
        code: FaultCode,
        causes: &mut u32,
    ) -> Result<(), Status> {
        let access = if code == FaultCode::DmaWrite {
            Permissions::Write
        } else {
            Permissions::Read
        };
        if self.in_memory(addr, len, access) {
            Ok(())
        } else {
            Err(self.dma_fault(code, addr, causes))
        }
    }

    /// Whether `[addr, addr+len)` is host memory: one region lookup when it
    /// lies in one region, the general check otherwise.
    fn in_memory(&self, addr: u64, len: usize, access: Permissions) -> bool {
        addr.checked_add(len as u64).is_some()
            && (vm_memory::GuestMemoryBackend::get_slice(&*self.mem, GuestAddress(addr), len)
                .is_ok()
                || self.mem.check_range(GuestAddress(addr), len, access))
    }

    /// [`Engine::dma_fault`] for a transform of the batch being run (its
    /// cause goes with the batch's interrupt).
    fn fault_in_batch(&mut self, code: FaultCode, addr: u64) -> Status {
        let mut causes = 0;
        let status = self.dma_fault(code, addr, &mut causes);
        self.causes |= causes;
        status
    }

    /// Records a DMA fault for one descriptor: fault registers, the
    /// DMA_FAULT cause, and the status the descriptor completes with.
    fn dma_fault(&self, code: FaultCode, addr: u64, causes: &mut u32) -> Status {
        self.set_fault(code, addr);
        *causes |= int::DMA_FAULT;
        Status::DmaFault
    }

    fn sa_add(&mut self, d: &Descriptor, causes: &mut u32) -> Result<Done, Status> {
        let index = d.sa_index.get();
        if (d.src_len.get() as usize) < SA_BLOCK_SIZE {
            return Err(Status::BadSaParams);
        }
        let src = d.src_addr.get();
        self.dma_check(src, SA_BLOCK_SIZE, FaultCode::DmaRead, causes)?;
        let mut block = SaBlock::new_zeroed();
        if self
            .mem
            .read_slice(block.as_mut_bytes(), GuestAddress(src))
            .is_err()
        {
            return Err(self.dma_fault(FaultCode::DmaRead, src, causes));
        }
        let result = self.sas.add(index, &block);
        let spi = block.spi.get();
        sa_table::wipe(&mut block);
        result?;
        Ok(Done {
            spi,
            ..Done::status(Status::Ok, index)
        })
    }

    fn sa_query(&mut self, d: &Descriptor, causes: &mut u32) -> Result<Done, Status> {
        let index = d.sa_index.get();
        let stats = self.sas.stats(index)?;
        if (d.dst_len.get() as usize) < SA_STATS_SIZE {
            return Err(Status::DstTooSmall);
        }
        let dst = d.dst_addr.get();
        self.dma_check(dst, SA_STATS_SIZE, FaultCode::DmaWrite, causes)?;
        if self
            .mem
            .write_slice(stats.as_bytes(), GuestAddress(dst))
            .is_err()
        {
            return Err(self.dma_fault(FaultCode::DmaWrite, dst, causes));
        }
        Ok(Done {
            result_len: SA_STATS_SIZE as u32,
            spi: stats.spi.get(),
            seq: stats.seq.get() as u32,
            ..Done::status(Status::Ok, index)
        })
    }

    /// CTRL.SOFT_RESET: complete every pending descriptor with ABORTED (as
    /// far as the completion ring has room), clear the SA table (zeroizing
    /// keys), counters, faults and interrupt causes, and disable the engine.
    /// Ring registers keep their values so the driver can reap the aborted
    /// completions before it re-programs the rings.
    fn soft_reset(&mut self) {
        // Counters restart at the reset, so CNT_ABORTED counts the drain.
        self.regs.clear_counters();
        if let (Some(rings), false) = (self.rings, self.fatal) {
            self.drain_aborted(rings);
        }
        self.sas.clear();
        self.rings = None;
        self.fatal = false;
        self.cpl_full_signalled = false;
        for r in [
            regs::FAULT_ADDR_LO,
            regs::FAULT_ADDR_HI,
            regs::FAULT_CODE,
            regs::BAD_ACCESS,
            regs::ERR_INJECT,
        ] {
            self.regs.set(r, 0);
        }
        self.regs.set(regs::SA_EVENT, u32::MAX);
        self.regs.set(regs::STATUS, 0);
        self.regs.clear_bits(regs::INT_STATUS, int::ALL);
        self.regs.set(regs::CTRL, 0);
        self.regs.raise(int::RESET_DONE);
        tracing::debug!("espic: soft reset done");
    }

    fn drain_aborted(&mut self, rings: Rings) {
        let tail = self.regs.get(regs::CMD_TAIL);
        let cpl_head = self.regs.get(regs::CPL_HEAD);
        if tail >= rings.cmd_size || cpl_head >= rings.cpl_size {
            return;
        }
        let mut head = self.regs.get(regs::CMD_HEAD);
        let mut cpl_tail = self.regs.get(regs::CPL_TAIL);
        while head != tail {
            let free = cpl_head.wrapping_sub(cpl_tail).wrapping_sub(1) & (rings.cpl_size - 1);
            if free == 0 {
                break;
            }
            let at = rings.cmd_base + u64::from(head) * DESCRIPTOR_SIZE as u64;
            let mut d = Descriptor::new_zeroed();
            if self
                .mem
                .read_slice(d.as_mut_bytes(), GuestAddress(at))
                .is_err()
            {
                break;
            }
            let c = Completion {
                cookie: d.cookie,
                status: (Status::Aborted as u16).into(),
                sa_index: d.sa_index,
                ..Completion::new_zeroed()
            };
            let at = rings.cpl_base + u64::from(cpl_tail) * COMPLETION_SIZE as u64;
            if self
                .mem
                .write_slice(c.as_bytes(), GuestAddress(at))
                .is_err()
            {
                break;
            }
            self.count(Status::Aborted);
            head = (head + 1) & (rings.cmd_size - 1);
            cpl_tail = (cpl_tail + 1) & (rings.cpl_size - 1);
        }
        self.regs.set(regs::CPL_TAIL, cpl_tail);
        self.regs.set(regs::CMD_HEAD, head);
    }
}

/// Maps an ESP error to the completion status: the one table from the ESP
/// library's errors to the card's status codes.
fn status_of(e: &esp::EspError) -> Status {
    use esp::EspError as E;
    match e {
        E::AuthFailed => Status::AuthFailed,
        E::Replay { .. } => Status::Replay,
        E::OutsideWindow { .. } => Status::OutsideWindow,
        E::SpiMismatch { .. } => Status::UnknownSa,
        E::DestTooSmall { .. } => Status::DstTooSmall,
        E::SeqOverflow => Status::SeqOverflow,
        E::LifetimeExpired => Status::LifetimeExpired,
        E::BadParams(_) => Status::BadSaParams,
        _ => Status::Malformed,
    }
}
