//! Whatever a descriptor holds, the card completes it with a status.
//!
//! Random descriptors (any opcode byte, addresses in memory, at its end,
//! past it and near `u64::MAX`, any lengths and SA indices, random and
//! almost-valid SA blocks for SaAdd, random reserved bytes) go through the
//! command ring of a card with 1 MiB of host memory. For every case:
//!
//! - each descriptor completes exactly once, in ring order, with its cookie
//!   echoed and a defined status; a failure writes no result length;
//! - the counter registers agree with the statuses seen;
//! - FAULT_CODE/FAULT_ADDR describe the last DmaFault, or are clear;
//! - the card never writes into the command ring, never goes FATAL, and a
//!   final NOP still completes Ok (the engine thread is alive);
//! - nothing hangs: every wait is a bounded channel receive.
//!
//! The ring programming here is deliberately minimal and independent of
//! the host driver (`espic` must not depend on `espic-driver`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::Receiver;
use espic::Card;
use espic_hw::desc::{
    self, COMPLETION_SIZE, Completion, DESCRIPTOR_SIZE, Descriptor, SA_BLOCK_SIZE, SA_BY_SPI,
    SaBlock,
};
use espic_hw::regs::{self, ctrl, int};
use espic_hw::{FaultCode, HostMemory, Interrupt, Mmio, Opcode, Status};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use vm_memory::{Bytes, GuestAddress};
use zerocopy::{FromBytes, FromZeros, IntoBytes};

/// Host memory: 1 MiB from bus address 0.
const MEM: u64 = 1 << 20;
/// Command ring (up to 16 entries: 1 KiB).
const CMD_BASE: u64 = 0x1000;
/// Completion ring (up to 16 entries: 512 bytes).
const CPL_BASE: u64 = 0x2000;
/// Everything a random in-memory address may point at starts here, so the
/// rings are never a DMA target of a random descriptor.
const DATA: u64 = 0x1_0000;
/// Random SA blocks, 256 bytes apart.
const SA_BLOCKS: u64 = DATA;
/// Number of random SA blocks per case.
const N_BLOCKS: usize = 8;
/// Random inner packets, 4 KiB apart.
const PACKETS: u64 = 0x2_0000;
/// Number of random packets per case.
const N_PACKETS: usize = 8;
/// Output buffers of the encap/decap round trips, 8 KiB apart.
const OUTS: u64 = 0x8_0000;
/// SA block pairs of [`Step::Pair`], 512 bytes per step.
const PAIRS: u64 = 0x4_0000;
/// SA stats blocks written by [`Step::Pair`].
const QUERIES: u64 = 0x6_0000;
/// The SA pair installed at the start of every case (slots 0 and 1).
const SETUP_SPI: u32 = 0x0000_1000;
/// Silent 10 ms receives before a wait gives up (3 s).
const QUIET: u32 = 300;

/// One random descriptor.
#[derive(Debug, Clone)]
struct RawDesc {
    opcode: u8,
    flags: u8,
    sa_index: u32,
    src: u64,
    src_len: u32,
    dst: u64,
    dst_len: u32,
    reserved: [u8; 24],
}

/// What one step of a case puts on the ring.
#[derive(Debug, Clone)]
enum Step {
    /// A random descriptor.
    Raw(RawDesc),
    /// Encap packet `pkt` with the setup SA into output `out`, then decap
    /// that output by SPI (an exercise of the successful paths).
    RoundTrip { pkt: usize, out: u64 },
    /// Install `block` as an outbound SA in `slot` and as an inbound SA in
    /// `slot + 8`, push `pkts` through both (encap, then decap by SPI with
    /// the outer length the block implies), optionally replay the first,
    /// query the inbound SA, delete both. Exercises lifetimes, sequence
    /// overflow, replay, NAT-T and IPv6 on whatever the block says.
    Pair {
        block: SaBlock,
        slot: u32,
        pkts: Vec<usize>,
        replay: bool,
    },
}

#[derive(Debug, Clone)]
struct Case {
    cmd_size: u32,
    cpl_size: u32,
    batch_max: u32,
    blocks: Vec<SaBlock>,
    packets: Vec<Vec<u8>>,
    steps: Vec<Step>,
    cookie_salt: u64,
}

fn addr() -> impl Strategy<Value = u64> {
    prop_oneof![
        4 => DATA..MEM,
        2 => (0..N_BLOCKS as u64).prop_map(|i| SA_BLOCKS + i * 256),
        2 => (0..N_PACKETS as u64).prop_map(|i| PACKETS + i * 0x1000),
        2 => (0u64..512).prop_map(|o| MEM - o),
        2 => (0u64..4096).prop_map(|o| MEM + o),
        1 => (0u64..64).prop_map(|o| u64::MAX - o),
        1 => any::<u64>().prop_map(|a| if a < DATA { a + DATA } else { a }),
    ]
}

fn len() -> impl Strategy<Value = u32> {
    prop_oneof![
        1 => Just(0u32),
        3 => 1u32..128,
        2 => 150u32..170,
        3 => 0u32..4096,
        1 => 60_000u32..70_000,
        1 => (0u32..4).prop_map(|o| u32::MAX - o),
        1 => any::<u32>(),
    ]
}

fn sa_index() -> impl Strategy<Value = u32> {
    prop_oneof![
        6 => 0u32..8,
        2 => 1016u32..1032,
        2 => Just(SA_BY_SPI),
        1 => any::<u32>(),
    ]
}

fn opcode() -> impl Strategy<Value = u8> {
    prop_oneof![
        8 => 0u8..=5,
        1 => 6u8..=16,
        1 => any::<u8>(),
    ]
}

fn raw_desc() -> impl Strategy<Value = RawDesc> {
    (
        opcode(),
        prop_oneof![4 => Just(0u8), 1 => any::<u8>()],
        sa_index(),
        (addr(), len()),
        (addr(), len()),
        prop_oneof![4 => Just([0u8; 24]), 1 => any::<[u8; 24]>()],
    )
        .prop_map(
            |(opcode, flags, sa_index, (src, src_len), (dst, dst_len), reserved)| RawDesc {
                opcode,
                flags,
                sa_index,
                src,
                src_len,
                dst,
                dst_len,
                reserved,
            },
        )
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        8 => raw_desc().prop_map(Step::Raw),
        1 => (0..N_PACKETS, 0u64..16).prop_map(|(pkt, k)| Step::RoundTrip {
            pkt,
            out: OUTS + k * 0x2000,
        }),
        2 => (
            plausible_block(),
            2u32..8,
            proptest::collection::vec(0..N_PACKETS, 1..5),
            any::<bool>(),
        )
            .prop_map(|(block, slot, pkts, replay)| Step::Pair {
                block,
                slot,
                pkts,
                replay,
            }),
    ]
}

/// An SA block close to valid: each field is usually in range, sometimes
/// not; keys usually of the right length.
fn plausible_block() -> impl Strategy<Value = SaBlock> {
    let ids = (
        prop_oneof![1 => 0u32..300, 4 => 256u32..100_000, 1 => any::<u32>()],
        prop_oneof![8 => 0u8..2, 1 => any::<u8>()],
        prop_oneof![8 => 1u8..=3, 1 => any::<u8>()],
        prop_oneof![8 => 1u8..=2, 1 => any::<u8>()],
        prop_oneof![8 => 0u8..4, 1 => any::<u8>()],
    );
    let window = prop_oneof![
        Just(0u32),
        Just(31),
        Just(32),
        Just(64),
        Just(4096),
        Just(4097),
        any::<u32>()
    ];
    let seq = prop_oneof![
        3 => Just(0u32),
        1 => (0u32..3).prop_map(|o| u32::MAX - o),
        1 => any::<u32>()
    ];
    let port = || prop_oneof![Just(0u16), Just(4500), any::<u16>()];
    let keys = (
        prop_oneof![4 => Just(true), 1 => Just(false)],
        0u8..40,
        0u8..40,
        any::<[u8; 32]>(),
        any::<[u8; 32]>(),
    );
    let addrs = (any::<[u8; 16]>(), any::<[u8; 16]>());
    let limits = || {
        prop_oneof![
            4 => Just((0u64, 0u64)),
            2 => (0u64..3, 1u64..5).prop_map(|(s, h)| (s.min(h), h)),
            1 => (100u64..3000, 3000u64..9000),
            1 => (any::<u64>(), any::<u64>()),
        ]
    };
    let lifetimes = (limits(), limits()).prop_map(|((sb, hb), (sp, hp))| (sb, hb, sp, hp));
    (ids, window, seq, (port(), port()), keys, addrs, lifetimes).prop_map(
        |(
            (spi, direction, cipher, integ, flags),
            window,
            seq,
            (sport, dport),
            (right_keys, elen, alen, enc_key, auth_key),
            (src, dst),
            (soft_b, hard_b, soft_p, hard_p),
        )| {
            let key_lens = if right_keys {
                let e = match cipher {
                    desc::CIPHER_AES192_CBC => 24,
                    desc::CIPHER_AES256_CBC => 32,
                    _ => 16,
                };
                let a = if integ == desc::INTEG_HMAC_SHA256_128 {
                    32
                } else {
                    20
                };
                [e, a, 0, 0]
            } else {
                [elen, alen, 0, 0]
            };
            SaBlock {
                spi: spi.into(),
                direction,
                cipher,
                integ,
                flags,
                replay_window: window.into(),
                initial_seq: seq.into(),
                udp_src_port: sport.into(),
                udp_dst_port: dport.into(),
                key_lens,
                tunnel_src: src,
                tunnel_dst: dst,
                soft_bytes: soft_b.into(),
                hard_bytes: hard_b.into(),
                soft_packets: soft_p.into(),
                hard_packets: hard_p.into(),
                enc_key,
                auth_key,
                reserved: [0; 8],
            }
        },
    )
}

fn sa_block() -> impl Strategy<Value = SaBlock> {
    prop_oneof![
        3 => plausible_block(),
        1 => proptest::collection::vec(any::<u8>(), SA_BLOCK_SIZE)
            .prop_map(|v| SaBlock::read_from_bytes(&v).unwrap()),
    ]
}

/// An inner packet: an IPv4 or IPv6 header (lengths not necessarily
/// right) and random bytes, or random bytes only.
fn packet() -> impl Strategy<Value = Vec<u8>> {
    (0u8..3, proptest::collection::vec(any::<u8>(), 1..3000)).prop_map(|(kind, mut p)| {
        let total = p.len() as u16;
        match kind {
            0 if p.len() >= 20 => {
                p[0] = 0x45;
                p[2..4].copy_from_slice(&total.to_be_bytes());
            }
            1 if p.len() >= 40 => {
                p[0] = 0x60;
                p[4..6].copy_from_slice(&(total - 40).to_be_bytes());
            }
            _ => {}
        }
        p
    })
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop_oneof![Just(8u32), Just(16)],
        prop_oneof![Just(2u32), Just(4), Just(16)],
        prop_oneof![
            Just(0u32),
            Just(1),
            Just(3),
            Just(64),
            Just(256),
            Just(257),
            Just(u32::MAX)
        ],
        proptest::collection::vec(sa_block(), N_BLOCKS),
        proptest::collection::vec(packet(), N_PACKETS),
        proptest::collection::vec(step(), 1..40),
        any::<u64>(),
    )
        .prop_map(
            |(cmd_size, cpl_size, batch_max, blocks, packets, steps, cookie_salt)| Case {
                cmd_size,
                cpl_size,
                batch_max,
                blocks,
                packets,
                steps,
                cookie_salt,
            },
        )
}

/// A bare host side: memory, card, rings, interrupt line.
struct Host {
    _card: Card,
    bar: Arc<dyn Mmio>,
    mem: Arc<HostMemory>,
    irq: Receiver<Interrupt>,
    cmd_size: u32,
    cpl_size: u32,
    cmd_tail: u32,
    cpl_head: u32,
    /// What the command ring must hold: only the host writes it.
    cmd_shadow: Vec<u8>,
}

impl Host {
    fn new(cmd_size: u32, cpl_size: u32, batch_max: u32) -> Self {
        let mem = Arc::new(HostMemory::from_ranges(&[(GuestAddress(0), MEM as usize)]).unwrap());
        let (irq_tx, irq) = crossbeam_channel::unbounded();
        let card = Card::new(Arc::clone(&mem), irq_tx);
        let bar = card.bar();
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
            _card: card,
            bar,
            mem,
            irq,
            cmd_size,
            cpl_size,
            cmd_tail: 0,
            cpl_head: 0,
            cmd_shadow: vec![0; cmd_size as usize * DESCRIPTOR_SIZE],
        }
    }

    fn write(&self, addr: u64, bytes: &[u8]) {
        self.mem.write_slice(bytes, GuestAddress(addr)).unwrap();
    }

    fn read(&self, addr: u64, len: usize) -> Vec<u8> {
        let mut v = vec![0; len];
        self.mem.read_slice(&mut v, GuestAddress(addr)).unwrap();
        v
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

    /// Puts `descs` on the ring (at most `cmd_size - 1` per doorbell),
    /// reaps their completions and returns them in ring order.
    fn run(&mut self, descs: &[Descriptor]) -> Result<Vec<Completion>, String> {
        let mut out = Vec::with_capacity(descs.len());
        for chunk in descs.chunks(self.cmd_size as usize - 1) {
            for d in chunk {
                let at = self.cmd_tail as usize * DESCRIPTOR_SIZE;
                self.cmd_shadow[at..at + DESCRIPTOR_SIZE].copy_from_slice(d.as_bytes());
                self.write(CMD_BASE + at as u64, d.as_bytes());
                self.cmd_tail = (self.cmd_tail + 1) & (self.cmd_size - 1);
            }
            self.bar.write32(regs::CMD_TAIL, self.cmd_tail);
            let want = out.len() + chunk.len();
            let mut quiet = 0;
            while out.len() < want {
                let tail = self.bar.read32(regs::CPL_TAIL);
                if tail >= self.cpl_size {
                    return Err(format!("CPL_TAIL {tail} out of range; {}", self.state()));
                }
                let before = out.len();
                while self.cpl_head != tail {
                    let at = CPL_BASE + u64::from(self.cpl_head) * COMPLETION_SIZE as u64;
                    let mut c = Completion::new_zeroed();
                    self.mem
                        .read_slice(c.as_mut_bytes(), GuestAddress(at))
                        .unwrap();
                    out.push(c);
                    self.cpl_head = (self.cpl_head + 1) & (self.cpl_size - 1);
                }
                if out.len() > before {
                    self.bar.write32(regs::CPL_HEAD, self.cpl_head);
                    continue;
                }
                if self.irq.recv_timeout(Duration::from_millis(10)).is_err() {
                    quiet += 1;
                    if quiet > QUIET {
                        return Err(format!(
                            "hung: {} of {} completions; {}",
                            out.len(),
                            descs.len(),
                            self.state()
                        ));
                    }
                }
            }
            if out.len() != want {
                return Err(format!(
                    "{} completions for {want} descriptors; {}",
                    out.len(),
                    self.state()
                ));
            }
            if self.read(CMD_BASE, self.cmd_shadow.len()) != self.cmd_shadow {
                return Err("the card wrote into the command ring".into());
            }
        }
        Ok(out)
    }
}

fn raw(opcode: Opcode, sa: u32, src: (u64, u32), dst: (u64, u32), cookie: u64) -> Descriptor {
    Descriptor {
        opcode: opcode as u8,
        sa_index: sa.into(),
        src_addr: src.0.into(),
        dst_addr: dst.0.into(),
        src_len: src.1.into(),
        dst_len: dst.1.into(),
        cookie: cookie.into(),
        ..Descriptor::new_zeroed()
    }
}

/// The setup SA pair: IPv4 tunnel, AES-128-CBC, HMAC-SHA1-96.
fn setup_block(direction: u8) -> SaBlock {
    let mut b = SaBlock::new_zeroed();
    b.spi = SETUP_SPI.into();
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

/// Outer length of an encap of `inner` bytes with the SA `block` describes.
fn outer_len(block: &SaBlock, inner: usize) -> u32 {
    let ip = if block.flags & desc::SA_F_IPV6 != 0 {
        40
    } else {
        20
    };
    let udp = if block.flags & desc::SA_F_UDP_ENCAP != 0 {
        8
    } else {
        0
    };
    let icv = if block.integ == desc::INTEG_HMAC_SHA256_128 {
        16
    } else {
        12
    };
    (ip + udp + 8 + 16 + (inner + 2).div_ceil(16) * 16 + icv) as u32
}

/// Outer length of an encap with the setup SA.
fn setup_outer_len(inner: usize) -> u32 {
    outer_len(&setup_block(desc::DIR_OUTBOUND), inner)
}

fn run_case(case: &Case) -> Result<(), String> {
    let mut host = Host::new(case.cmd_size, case.cpl_size, case.batch_max);
    for (i, b) in case.blocks.iter().enumerate() {
        host.write(SA_BLOCKS + i as u64 * 256, b.as_bytes());
    }
    for (i, p) in case.packets.iter().enumerate() {
        host.write(PACKETS + i as u64 * 0x1000, p);
    }
    // A working SA pair, so that encap and decap can succeed.
    let setup_at = DATA - 0x1000;
    host.write(setup_at, setup_block(desc::DIR_OUTBOUND).as_bytes());
    host.write(setup_at + 256, setup_block(desc::DIR_INBOUND).as_bytes());
    let block_len = (setup_at, SA_BLOCK_SIZE as u32);
    let setup = [
        raw(Opcode::SaAdd, 0, block_len, (0, 0), 1),
        raw(
            Opcode::SaAdd,
            1,
            (setup_at + 256, SA_BLOCK_SIZE as u32),
            (0, 0),
            2,
        ),
    ];
    for c in host.run(&setup)? {
        if Status::from_raw(c.status.get()) != Some(Status::Ok) {
            return Err(format!("setup SaAdd failed: {c:?}"));
        }
    }

    let mut descs = Vec::new();
    for (k, s) in case.steps.iter().enumerate() {
        let cookie = case.cookie_salt ^ descs.len() as u64;
        match s {
            Step::Raw(r) => descs.push(Descriptor {
                opcode: r.opcode,
                flags: r.flags,
                reserved0: u16::from(r.reserved[0]).into(),
                sa_index: r.sa_index.into(),
                src_addr: r.src.into(),
                dst_addr: r.dst.into(),
                src_len: r.src_len.into(),
                dst_len: r.dst_len.into(),
                cookie: cookie.into(),
                reserved1: r.reserved,
            }),
            Step::Pair {
                block,
                slot,
                pkts,
                replay,
            } => {
                let at = PAIRS + k as u64 * 512;
                let mut out_block = *block;
                out_block.direction = desc::DIR_OUTBOUND;
                let mut in_block = *block;
                in_block.direction = desc::DIR_INBOUND;
                host.write(at, out_block.as_bytes());
                host.write(at + 256, in_block.as_bytes());
                let n = SA_BLOCK_SIZE as u32;
                let (out_slot, in_slot) = (*slot, *slot + 8);
                let mut push = |d: Descriptor| {
                    let cookie = case.cookie_salt ^ descs.len() as u64;
                    descs.push(Descriptor {
                        cookie: cookie.into(),
                        ..d
                    });
                };
                push(raw(Opcode::SaAdd, out_slot, (at, n), (0, 0), 0));
                push(raw(Opcode::SaAdd, in_slot, (at + 256, n), (0, 0), 0));
                let outer_len = |inner: usize| outer_len(block, inner);
                let mut first = None;
                for (j, &pkt) in pkts.iter().enumerate() {
                    let len = case.packets[pkt].len();
                    let src = (PACKETS + pkt as u64 * 0x1000, len as u32);
                    let out = OUTS + ((k * 4 + j) % 16) as u64 * 0x2000;
                    let outer = (out, outer_len(len));
                    first.get_or_insert(outer);
                    push(raw(Opcode::Encap, out_slot, src, (out, 0x1000), 0));
                    push(raw(
                        Opcode::Decap,
                        SA_BY_SPI,
                        outer,
                        (out + 0x1000, 0x1000),
                        0,
                    ));
                }
                if let (true, Some(outer)) = (replay, first) {
                    push(raw(
                        Opcode::Decap,
                        in_slot,
                        outer,
                        (outer.0 + 0x1000, 0x1000),
                        0,
                    ));
                }
                let q = QUERIES + k as u64 * 64;
                push(raw(Opcode::SaQuery, in_slot, (0, 0), (q, 64), 0));
                push(raw(Opcode::SaDelete, out_slot, (0, 0), (0, 0), 0));
                push(raw(Opcode::SaDelete, in_slot, (0, 0), (0, 0), 0));
            }
            Step::RoundTrip { pkt, out } => {
                let len = case.packets[*pkt].len();
                let src = (PACKETS + *pkt as u64 * 0x1000, len as u32);
                descs.push(raw(Opcode::Encap, 0, src, (*out, 0x1000), cookie));
                let cookie = case.cookie_salt ^ descs.len() as u64;
                let outer = (*out, setup_outer_len(len));
                descs.push(raw(
                    Opcode::Decap,
                    SA_BY_SPI,
                    outer,
                    (*out + 0x1000, 0x1000),
                    cookie,
                ));
            }
        }
    }
    let done = host.run(&descs)?;

    let mut per_counter: std::collections::BTreeMap<u32, u64> = Default::default();
    let (mut encaps, mut decaps) = (0u64, 0u64);
    let mut last_fault = None;
    for (i, (d, c)) in descs.iter().zip(&done).enumerate() {
        let what = || format!("descriptor {i} {d:?} -> {c:?}");
        if c.cookie != d.cookie {
            return Err(format!("cookie not echoed: {}", what()));
        }
        let Some(status) = Status::from_raw(c.status.get()) else {
            return Err(format!("undefined status: {}", what()));
        };
        if let Some(counter) = status.counter() {
            *per_counter.entry(counter).or_default() += 1;
        }
        let op = Opcode::from_raw(d.opcode);
        let len = c.result_len.get();
        let flags = c.flags.get();
        if status != Status::Ok {
            if len != 0 || flags != 0 {
                return Err(format!("failure with a result: {}", what()));
            }
            if op.is_none() && status != Status::BadOpcode {
                return Err(format!("unknown opcode not BadOpcode: {}", what()));
            }
            if status == Status::DmaFault {
                last_fault = Some(*d);
            }
            continue;
        }
        match op {
            Some(Opcode::Encap) | Some(Opcode::Decap) => {
                if op == Some(Opcode::Encap) {
                    encaps += 1;
                } else {
                    decaps += 1;
                }
                if len == 0 || len > d.dst_len.get().min(65535) {
                    return Err(format!("result length out of range: {}", what()));
                }
                if flags & !(desc::CPL_F_SA_SOFT | desc::CPL_F_SA_HARD) != 0 {
                    return Err(format!("undefined completion flags: {}", what()));
                }
            }
            Some(Opcode::SaQuery) => {
                if len != 64 {
                    return Err(format!("SaQuery result length: {}", what()));
                }
            }
            Some(_) => {
                if len != 0 || flags != 0 {
                    return Err(format!("result from a control opcode: {}", what()));
                }
            }
            None => return Err(format!("unknown opcode completed Ok: {}", what())),
        }
    }

    // Counters agree with the statuses (the setup SaAdds were Ok).
    let b = &host.bar;
    let total = (setup.len() + descs.len()) as u64;
    if b.read64(regs::CNT_DESCRIPTORS) != total {
        return Err(format!(
            "CNT_DESCRIPTORS {} for {total} descriptors",
            b.read64(regs::CNT_DESCRIPTORS)
        ));
    }
    for status in Status::ALL {
        if let Some(counter) = status.counter() {
            let want = per_counter.get(&counter).copied().unwrap_or(0);
            let got = b.read64(counter);
            if got != want {
                return Err(format!(
                    "counter {counter:#x} ({status}) is {got}, {want} seen"
                ));
            }
        }
    }
    if (
        b.read64(regs::CNT_ENCAP_PKTS),
        b.read64(regs::CNT_DECAP_PKTS),
    ) != (encaps, decaps)
    {
        return Err(format!("packet counters, expected {encaps}/{decaps}"));
    }

    // The fault registers describe the last DmaFault.
    let code = b.read32(regs::FAULT_CODE);
    let addr =
        u64::from(b.read32(regs::FAULT_ADDR_HI)) << 32 | u64::from(b.read32(regs::FAULT_ADDR_LO));
    match last_fault {
        None => {
            if code != 0 || b.read32(regs::INT_STATUS) & int::DMA_FAULT != 0 {
                return Err(format!("fault {code} at {addr:#x} without a DmaFault"));
            }
        }
        Some(d) => {
            let want = if code == FaultCode::DmaRead as u32 {
                d.src_addr.get()
            } else if code == FaultCode::DmaWrite as u32 {
                d.dst_addr.get()
            } else {
                return Err(format!("FAULT_CODE {code} after a DmaFault"));
            };
            if addr != want {
                return Err(format!("FAULT_ADDR {addr:#x}, last fault {d:?}"));
            }
            if b.read32(regs::INT_STATUS) & int::DMA_FAULT == 0 {
                return Err("DMA_FAULT not raised".into());
            }
        }
    }
    let status = b.read32(regs::STATUS);
    if status & (regs::status::FATAL | regs::status::RUNNING) != regs::status::RUNNING {
        return Err(format!("not running: {}", host.state()));
    }

    // Still alive.
    let fin = host.run(&[raw(Opcode::Nop, 0, (0, 0), (0, 0), u64::MAX)])?;
    match fin.as_slice() {
        [c] if c.cookie.get() == u64::MAX && c.status.get() == Status::Ok as u16 => {}
        other => return Err(format!("final NOP: {other:?}")),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 128,
        max_shrink_iters: 256,
        // A hang costs a 3 s timeout per shrink step: bound the shrinking.
        max_shrink_time: 30_000,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_descriptors_always_complete(case in case()) {
        run_case(&case).map_err(TestCaseError::fail)?;
    }
}

/// The extremes, always: every opcode with every address corner.
#[test]
fn address_corners_complete_for_every_opcode() {
    let corners = [DATA, MEM - 1, MEM, MEM + 1, u64::MAX - 15, u64::MAX];
    let mut steps = Vec::new();
    for opcode in 0u8..=6 {
        for &src in &corners {
            for &dst in &corners {
                steps.push(Step::Raw(RawDesc {
                    opcode,
                    flags: 0,
                    sa_index: u32::from(opcode) % 2,
                    src,
                    src_len: 64,
                    dst,
                    dst_len: 64,
                    reserved: [0; 24],
                }));
            }
        }
    }
    let case = Case {
        cmd_size: 16,
        cpl_size: 4,
        batch_max: 5,
        blocks: vec![setup_block(desc::DIR_OUTBOUND); N_BLOCKS],
        packets: vec![vec![0x45; 64]; N_PACKETS],
        steps,
        cookie_salt: 0xdead_beef,
    };
    run_case(&case).unwrap();
}
