//! The ES PIC's command ring with arbitrary contents.
//!
//! Each input powers on a fresh card (`espic::Card`, 1 MiB of host memory,
//! the raw host style of `crates/espic/tests/random_descriptors.rs`),
//! programs the rings through the register window (`espic_hw::regs`),
//! installs one SA pair with SA_ADD (outbound slot 0, inbound slot 1, SPI
//! 0x1000, AES-128-CBC/HMAC-SHA1-96, IPv4) and encapsulates one packet
//! with it, so that fuzzed DECAP/ENCAP/SA_* descriptors can succeed too.
//!
//! Input: `[ring sizes][batch max][blob len: u16 LE][blob]` then raw
//! 64-byte descriptors (`espic_hw::desc::Descriptor`, at most 64). The
//! blob is written to host memory at 0x10000 (SA blocks, packets). The
//! descriptors are written as they are into the command ring memory,
//! `CMD_SIZE - 1` at a time, and CMD_TAIL is rung; the harness reaps
//! completions with a bounded wait.
//!
//! The card may fail descriptors, report DMA faults or go FATAL (then the
//! input ends): what it may not do is panic (the engine thread is joined
//! when the card drops, and a panicked engine never completes) or stop
//! completing without a fatal fault (a hang: 3 s of silence panics).

#![no_main]

use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::Receiver;
use espic::Card;
use espic_hw::desc::{self, COMPLETION_SIZE, DESCRIPTOR_SIZE, Descriptor, SA_BLOCK_SIZE, SaBlock};
use espic_hw::regs::{self, ctrl};
use espic_hw::{HostMemory, Interrupt, Mmio, Opcode, Status};
use libfuzzer_sys::fuzz_target;
use vm_memory::{Bytes, GuestAddress};
use zerocopy::{FromZeros, IntoBytes};

/// Host memory: 1 MiB from bus address 0.
const MEM: usize = 1 << 20;
/// Command ring (up to 16 slots).
const CMD_BASE: u64 = 0x1000;
/// Completion ring (up to 16 slots).
const CPL_BASE: u64 = 0x2000;
/// The setup SA blocks.
const SETUP_BLOCKS: u64 = 0x3000;
/// The fuzzer's blob.
const BLOB: u64 = 0x1_0000;
/// An inner IPv4 packet (100 bytes) the setup encapsulates.
const INNER: u64 = 0x2_0000;
/// Where the setup's ESP packet lands (decap it with SA 1 or SA_BY_SPI).
const ESP_OUT: u64 = 0x3_0000;
/// Silent 5 ms interrupt waits before pending descriptors count as a
/// hang (3 s; counted rather than timed: clippy.toml keeps host time out).
const QUIET: u32 = 600;

struct Host {
    card: Option<Card>,
    bar: Arc<dyn Mmio>,
    mem: Arc<HostMemory>,
    irq: Receiver<Interrupt>,
    cmd_size: u32,
    cpl_size: u32,
    cmd_tail: u32,
    cpl_head: u32,
}

enum Ran {
    /// Every descriptor completed; their statuses (as the ring held them).
    Done(Vec<u16>),
    /// The card went FATAL.
    Fatal,
}

impl Host {
    fn new(cmd_size: u32, cpl_size: u32, batch_max: u32) -> Self {
        let mem =
            Arc::new(HostMemory::from_ranges(&[(GuestAddress(0), MEM)]).expect("host memory"));
        let (irq_tx, irq) = crossbeam_channel::unbounded();
        let card = Card::new(Arc::clone(&mem), irq_tx);
        let bar = card.bar();
        assert_eq!(bar.read32(regs::ID), regs::ID_VALUE);
        bar.write32(regs::CMD_BASE_LO, CMD_BASE as u32);
        bar.write32(regs::CMD_BASE_HI, 0);
        bar.write32(regs::CMD_SIZE, cmd_size);
        bar.write32(regs::CPL_BASE_LO, CPL_BASE as u32);
        bar.write32(regs::CPL_BASE_HI, 0);
        bar.write32(regs::CPL_SIZE, cpl_size);
        bar.write32(regs::BATCH_MAX, batch_max);
        bar.write32(regs::INT_MASK, 0);
        bar.write32(regs::CTRL, ctrl::ENABLE);
        Host {
            card: Some(card),
            bar,
            mem,
            irq,
            cmd_size,
            cpl_size,
            cmd_tail: 0,
            cpl_head: 0,
        }
    }

    fn write(&self, addr: u64, bytes: &[u8]) {
        self.mem
            .write_slice(bytes, GuestAddress(addr))
            .expect("in host memory");
    }

    fn fatal(&self) -> bool {
        self.bar.read32(regs::STATUS) & regs::status::FATAL != 0
    }

    fn state(&self) -> String {
        format!(
            "STATUS {:#x} CMD_HEAD {} CMD_TAIL {} CPL_HEAD {} CPL_TAIL {} FAULT_CODE {} INT_STATUS {:#x}",
            self.bar.read32(regs::STATUS),
            self.bar.read32(regs::CMD_HEAD),
            self.bar.read32(regs::CMD_TAIL),
            self.bar.read32(regs::CPL_HEAD),
            self.bar.read32(regs::CPL_TAIL),
            self.bar.read32(regs::FAULT_CODE),
            self.bar.read32(regs::INT_STATUS),
        )
    }

    /// Writes `descs` (raw 64-byte slots) into the command ring, rings the
    /// doorbell and reaps their completions.
    fn run(&mut self, descs: &[[u8; DESCRIPTOR_SIZE]]) -> Ran {
        let mut statuses = Vec::with_capacity(descs.len());
        for chunk in descs.chunks(self.cmd_size as usize - 1) {
            for d in chunk {
                let at = CMD_BASE + u64::from(self.cmd_tail) * DESCRIPTOR_SIZE as u64;
                self.write(at, d);
                self.cmd_tail = (self.cmd_tail + 1) & (self.cmd_size - 1);
            }
            self.bar.write32(regs::CMD_TAIL, self.cmd_tail);
            let mut left = chunk.len();
            let mut quiet = 0;
            let mut spins = 0u32;
            while left > 0 {
                let tail = self.bar.read32(regs::CPL_TAIL);
                assert!(
                    tail < self.cpl_size,
                    "CPL_TAIL out of range; {}",
                    self.state()
                );
                let mut got = 0;
                while self.cpl_head != tail && left > 0 {
                    // Descriptors may DMA anywhere, the completion ring
                    // included: the status is only informative.
                    let at = CPL_BASE + u64::from(self.cpl_head) * COMPLETION_SIZE as u64 + 8;
                    let mut status = [0u8; 2];
                    let _ = self.mem.read_slice(&mut status, GuestAddress(at));
                    statuses.push(u16::from_le_bytes(status));
                    self.cpl_head = (self.cpl_head + 1) & (self.cpl_size - 1);
                    left -= 1;
                    got += 1;
                }
                if got > 0 {
                    self.bar.write32(regs::CPL_HEAD, self.cpl_head);
                    quiet = 0;
                    spins = 0;
                    continue;
                }
                if self.fatal() {
                    return Ran::Fatal;
                }
                if self.irq.recv_timeout(Duration::from_millis(5)).is_err() {
                    quiet += 1;
                }
                spins += 1;
                if (quiet > QUIET || spins > 100 * QUIET) && !self.fatal() {
                    panic!(
                        "the card stopped completing: {left} descriptors pending; {}",
                        self.state()
                    );
                }
            }
        }
        Ran::Done(statuses)
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        // Joins the engine thread.
        drop(self.card.take());
    }
}

fn descriptor(op: Opcode, sa: u32, src: (u64, u32), dst: (u64, u32), cookie: u64) -> [u8; 64] {
    let d = Descriptor {
        opcode: op as u8,
        sa_index: sa.into(),
        src_addr: src.0.into(),
        dst_addr: dst.0.into(),
        src_len: src.1.into(),
        dst_len: dst.1.into(),
        cookie: cookie.into(),
        ..Descriptor::new_zeroed()
    };
    let mut out = [0u8; 64];
    out.copy_from_slice(d.as_bytes());
    out
}

fn setup_block(direction: u8) -> SaBlock {
    let mut b = SaBlock::new_zeroed();
    b.spi = 0x1000.into();
    b.direction = direction;
    b.cipher = desc::CIPHER_AES128_CBC;
    b.integ = desc::INTEG_HMAC_SHA1_96;
    b.replay_window = 64.into();
    b.key_lens = [16, 20, 0, 0];
    b.tunnel_src[..4].copy_from_slice(&[192, 0, 2, 1]);
    b.tunnel_dst[..4].copy_from_slice(&[192, 0, 2, 2]);
    b.enc_key = [0x5a; 32];
    b.auth_key = [0xa5; 32];
    b
}

fn inner_packet() -> Vec<u8> {
    let mut p = vec![0u8; 100];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&100u16.to_be_bytes());
    p[8] = 64;
    p[9] = 17;
    p[12..16].copy_from_slice(&[198, 51, 100, 1]);
    p[16..20].copy_from_slice(&[203, 0, 113, 1]);
    p
}

fuzz_target!(|data: &[u8]| {
    let [sizes, batch, b0, b1, rest @ ..] = data else {
        return;
    };
    let ring = |b: u8| [2u32, 4, 8, 16][usize::from(b & 3)];
    let batch_max = match batch % 4 {
        0 => 64,
        1 => 1,
        2 => u32::from(*batch),
        _ => u32::MAX,
    };
    let blob_len = usize::from(u16::from_le_bytes([*b0, *b1]))
        .min(rest.len())
        .min(0x1_0000);
    let (blob, rest) = rest.split_at(blob_len);
    let descs: Vec<[u8; DESCRIPTOR_SIZE]> = rest
        .chunks_exact(DESCRIPTOR_SIZE)
        .take(64)
        .map(|c| {
            let mut d = [0u8; DESCRIPTOR_SIZE];
            d.copy_from_slice(c);
            d
        })
        .collect();

    let mut host = Host::new(ring(*sizes), ring(*sizes >> 2), batch_max);
    host.write(SETUP_BLOCKS, setup_block(desc::DIR_OUTBOUND).as_bytes());
    host.write(
        SETUP_BLOCKS + 256,
        setup_block(desc::DIR_INBOUND).as_bytes(),
    );
    host.write(INNER, &inner_packet());
    host.write(BLOB, blob);
    let block = |at: u64| (at, SA_BLOCK_SIZE as u32);
    let setup = [
        descriptor(Opcode::SaAdd, 0, block(SETUP_BLOCKS), (0, 0), 1),
        descriptor(Opcode::SaAdd, 1, block(SETUP_BLOCKS + 256), (0, 0), 2),
        descriptor(Opcode::Encap, 0, (INNER, 100), (ESP_OUT, 2048), 3),
    ];
    match host.run(&setup) {
        Ran::Done(s) => assert!(
            s.iter().all(|&s| s == Status::Ok as u16),
            "setup failed: {s:?}; {}",
            host.state()
        ),
        Ran::Fatal => panic!("the card went FATAL during setup; {}", host.state()),
    }
    if let Ran::Done(statuses) = host.run(&descs) {
        for s in statuses {
            let _ = Status::from_raw(s);
        }
        // The engine thread is alive: a NOP completes (unless the fuzzed
        // descriptors wrote over the ring and the card faulted since).
        let nop = [descriptor(Opcode::Nop, 0, (0, 0), (0, 0), 4)];
        let _ = host.run(&nop);
    }
    for r in regs::REGISTERS {
        if r.width == 64 {
            let _ = host.bar.read64(r.offset);
        } else {
            let _ = host.bar.read32(r.offset);
        }
    }
});
