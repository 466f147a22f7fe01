//! `mtsim pic selftest`: brings up an ES PIC, programs an SA pair for a
//! tunnel between two gateways, pushes ICMP echo packets both ways through
//! the rings (encapsulate on one side, decapsulate on the other, compare),
//! checks that a tampered and a replayed packet are refused, and reports
//! the card's counters and SA statistics.
//!
//! Keys are random per run. They are printed only when the user asks for a
//! pcap, in the form Wireshark's ESP SA table takes, so the capture can be
//! opened decrypted.

use std::fmt::{self, Write as _};
use std::fs::File;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use espic_driver::{
    Cipher, Counters, DeviceError, Direction, Integrity, Lifetimes, Request, SaInfo, SaSpec,
};
use espic_hw::regs;
use pcap_file::DataLink;
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};

use crate::pic::{Pic, PicError};
use crate::traffic::{icmp_echo_v4, icmp_echo_v6};

/// Gateway A's tunnel address (TEST-NET-1).
pub const GATEWAY_A: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
/// Gateway B's tunnel address (TEST-NET-1).
pub const GATEWAY_B: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);

/// What can stop the self-test from running at all (a failed check is a
/// [`Report`] with `passed() == false`, not an error).
#[derive(Debug, thiserror::Error)]
pub enum SelftestError {
    /// The card or driver failed.
    #[error(transparent)]
    Pic(#[from] PicError),
    /// The OS random source failed (keys and SPIs come from it).
    #[error("the OS random source failed: {0}")]
    Random(String),
    /// Writing the pcap failed.
    #[error("cannot write pcap {path}: {why}")]
    Pcap {
        /// File asked for.
        path: String,
        /// What went wrong.
        why: String,
    },
}

/// Options of one run.
#[derive(Debug, Clone, Default)]
pub struct Options<'a> {
    /// Echo requests per direction and address family.
    pub packets: u16,
    /// Write the ESP packets to this pcap file (LINKTYPE_RAW).
    pub pcap: Option<&'a Path>,
}

/// One SA of the pair, with its keys (kept for the Wireshark table only).
struct PlannedSa {
    slot: u32,
    spec: SaSpec,
}

/// One direction's traffic result.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Flow {
    /// Direction label ("A->B").
    pub name: String,
    /// Inner packets sent.
    pub sent: usize,
    /// Packets the card encapsulated.
    pub encapsulated: usize,
    /// Packets the card decapsulated.
    pub decapsulated: usize,
    /// Decapsulated packets identical to what was sent.
    pub identical: usize,
}

/// A named check and whether it held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// What was checked.
    pub what: String,
    /// What happened.
    pub got: String,
    /// Whether it was what a working card does.
    pub ok: bool,
}

/// The self-test's findings.
#[derive(Debug, Clone)]
pub struct Report {
    /// ID, VERSION, CAPS, SA_CAPACITY registers.
    pub identity: (u32, u32, u32, u32),
    /// SA slots and their stats after the run.
    pub sas: Vec<(u32, SaInfo)>,
    /// Traffic per direction.
    pub flows: Vec<Flow>,
    /// Negative checks (tamper, replay).
    pub checks: Vec<Check>,
    /// Card counters after the run.
    pub counters: Counters,
    /// Wireshark ESP SA table lines, when a pcap was written.
    pub wireshark: Vec<String>,
    /// ESP packets written to the pcap.
    pub pcap_packets: usize,
}

impl Report {
    /// True when every packet came back identical and every check held.
    pub fn passed(&self) -> bool {
        self.flows
            .iter()
            .all(|f| f.sent > 0 && f.identical == f.sent && f.encapsulated == f.sent)
            && self.checks.iter().all(|c| c.ok)
    }
}

fn random<const N: usize>() -> Result<[u8; N], SelftestError> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|e| SelftestError::Random(e.to_string()))?;
    Ok(b)
}

/// A random SPI in 0x1000_0000.. (never a reserved value).
fn random_spi() -> Result<u32, SelftestError> {
    Ok(u32::from_be_bytes(random()?) | 0x1000_0000)
}

fn plan() -> Result<Vec<PlannedSa>, SelftestError> {
    let mut sas = Vec::new();
    // Slot 2k: the sender's outbound SA; slot 2k+1: the receiver's inbound SA.
    for (k, (src, dst)) in [(GATEWAY_A, GATEWAY_B), (GATEWAY_B, GATEWAY_A)]
        .into_iter()
        .enumerate()
    {
        let spi = random_spi()?;
        let enc: [u8; 16] = random()?;
        let auth: [u8; 20] = random()?;
        for (i, direction) in [Direction::Outbound, Direction::Inbound]
            .into_iter()
            .enumerate()
        {
            sas.push(PlannedSa {
                slot: (2 * k + i) as u32,
                spec: SaSpec {
                    spi,
                    direction,
                    cipher: Cipher::Aes128Cbc,
                    enc_key: enc.to_vec(),
                    integrity: Integrity::HmacSha1_96,
                    auth_key: auth.to_vec(),
                    tunnel_src: IpAddr::V4(src),
                    tunnel_dst: IpAddr::V4(dst),
                    udp_encap: None,
                    replay_window: 64,
                    lifetimes: Lifetimes::default(),
                    initial_seq: 0,
                },
            });
        }
    }
    Ok(sas)
}

/// The inner packets one gateway's hosts send to the other's.
fn inner_packets(from_a: bool, count: u16) -> Vec<Vec<u8>> {
    let (s4, d4) = (
        Ipv4Addr::new(198, 51, 100, 1),
        Ipv4Addr::new(203, 0, 113, 1),
    );
    let (s6, d6): (Ipv6Addr, Ipv6Addr) = (
        Ipv6Addr::new(0x2001, 0xdb8, 0xa, 0, 0, 0, 0, 1),
        Ipv6Addr::new(0x2001, 0xdb8, 0xb, 0, 0, 0, 0, 1),
    );
    let (s4, d4, s6, d6) = if from_a {
        (s4, d4, s6, d6)
    } else {
        (d4, s4, d6, s6)
    };
    let mut v = Vec::new();
    for seq in 1..=count {
        let payload = format!("mtsim es-pic selftest {seq:04} ").repeat(usize::from(seq % 8) + 1);
        v.push(icmp_echo_v4(s4, d4, seq, seq, payload.as_bytes()));
        v.push(icmp_echo_v6(s6, d6, 1, seq, payload.as_bytes()));
    }
    v
}

fn status_name(r: &Result<Bytes, DeviceError>) -> String {
    match r {
        Ok(_) => "OK".into(),
        Err(e) => e.to_string(),
    }
}

fn pcap_err(path: &Path, e: impl fmt::Display) -> SelftestError {
    SelftestError::Pcap {
        path: path.display().to_string(),
        why: e.to_string(),
    }
}

/// Runs the self-test on a freshly powered-on card.
pub fn run(opts: &Options<'_>) -> Result<Report, SelftestError> {
    let mut pic = Pic::power_on()?;
    let bar = pic.driver.bar().clone();
    let identity = (
        bar.read32(regs::ID),
        bar.read32(regs::VERSION),
        bar.read32(regs::CAPS),
        bar.read32(regs::SA_CAPACITY),
    );
    let sas = plan()?;
    for sa in &sas {
        pic.driver
            .add_sa(sa.slot, &sa.spec)
            .map_err(PicError::from)?;
    }

    let mut flows = Vec::new();
    let mut esp_packets: Vec<Bytes> = Vec::new();
    let mut checks = Vec::new();
    for (k, name) in ["A->B", "B->A"].into_iter().enumerate() {
        let inner = inner_packets(k == 0, opts.packets.max(1));
        let out_slot = (2 * k) as u32;
        let encap: Vec<Request<'_>> = inner
            .iter()
            .map(|p| Request::Encap {
                sa: out_slot,
                packet: p,
            })
            .collect();
        let encapped = pic.process(&encap)?;
        let outer: Vec<Bytes> = encapped
            .iter()
            .filter_map(|c| c.result.clone().ok())
            .collect();
        // The receiving side finds its inbound SA by SPI.
        let decap: Vec<Request<'_>> = outer
            .iter()
            .map(|p| Request::Decap {
                sa: None,
                packet: p,
            })
            .collect();
        let decapped = pic.process(&decap)?;
        let identical = decapped
            .iter()
            .zip(&inner)
            .filter(|(c, sent)| c.result.as_ref().is_ok_and(|got| got[..] == sent[..]))
            .count();
        flows.push(Flow {
            name: name.into(),
            sent: inner.len(),
            encapsulated: outer.len(),
            decapsulated: decapped.iter().filter(|c| c.result.is_ok()).count(),
            identical,
        });
        esp_packets.extend(outer);
    }

    // Negative checks on the A->B SA with a fresh packet: its forgery is
    // refused and does not move the replay window, the genuine packet is
    // then accepted, and the same packet again is a replay.
    let fresh = inner_packets(true, 1).swap_remove(0);
    let sent = pic.process(&[Request::Encap {
        sa: 0,
        packet: &fresh,
    }])?;
    if let Some(Ok(genuine)) = sent.first().map(|c| c.result.clone()) {
        let mut forged = genuine.to_vec();
        if let Some(b) = forged.last_mut() {
            *b ^= 0x01;
        }
        let r = pic.process(&[
            Request::Decap {
                sa: None,
                packet: &forged,
            },
            Request::Decap {
                sa: None,
                packet: &genuine,
            },
            Request::Decap {
                sa: None,
                packet: &genuine,
            },
        ])?;
        let expect = [
            (
                "packet with one ICV bit flipped",
                Err(DeviceError::AuthFailed),
            ),
            ("the genuine packet after it", Ok(())),
            ("the genuine packet again", Err(DeviceError::Replay)),
        ];
        for (c, (what, want)) in r.iter().zip(expect) {
            checks.push(Check {
                what: what.into(),
                got: status_name(&c.result),
                ok: c.result.as_ref().map(|_| ()).map_err(|e| *e) == want,
            });
        }
    } else {
        checks.push(Check {
            what: "encapsulating one more packet".into(),
            got: sent
                .first()
                .map(|c| status_name(&c.result))
                .unwrap_or_default(),
            ok: false,
        });
    }

    let mut infos = Vec::new();
    for sa in &sas {
        infos.push((
            sa.slot,
            pic.driver.query_sa(sa.slot).map_err(PicError::from)?,
        ));
    }
    // Let the card's counters settle: every request has completed.
    let _ = pic.driver.wait(Duration::from_millis(1));
    let counters = pic.driver.counters();

    let mut wireshark = Vec::new();
    let mut pcap_packets = 0;
    if let Some(path) = opts.pcap {
        pcap_packets = write_pcap(path, &esp_packets)?;
        for sa in sas
            .iter()
            .filter(|s| s.spec.direction == Direction::Outbound)
        {
            wireshark.push(uat_line(&sa.spec));
        }
    }
    Ok(Report {
        identity,
        sas: infos,
        flows,
        checks,
        counters,
        wireshark,
        pcap_packets,
    })
}

/// Writes raw IP packets to a pcap (LINKTYPE_RAW), 1 ms apart on the
/// simulated clock starting at 0.
fn write_pcap(path: &Path, packets: &[Bytes]) -> Result<usize, SelftestError> {
    let file = File::create(path).map_err(|e| pcap_err(path, e))?;
    let header = PcapHeader {
        datalink: DataLink::RAW,
        ..PcapHeader::default()
    };
    let mut w = PcapWriter::with_header(file, header).map_err(|e| pcap_err(path, e))?;
    for (i, p) in packets.iter().enumerate() {
        let ts = Duration::from_millis(i as u64);
        w.write_packet(&PcapPacket::new(ts, p.len() as u32, p))
            .map_err(|e| pcap_err(path, e))?;
    }
    Ok(packets.len())
}

/// One record of Wireshark's `esp_sa` table for an SA.
pub fn uat_line(spec: &SaSpec) -> String {
    let family = if spec.tunnel_src.is_ipv4() {
        "IPv4"
    } else {
        "IPv6"
    };
    let cipher = "AES-CBC [RFC3602]";
    let integ = match spec.integrity {
        Integrity::HmacSha1_96 => "HMAC-SHA-1-96 [RFC2404]",
        Integrity::HmacSha256_128 => "HMAC-SHA-256-128 [RFC4868]",
    };
    format!(
        "\"{family}\",\"{}\",\"{}\",\"{:#010x}\",\"{cipher}\",\"0x{}\",\"{integ}\",\"0x{}\"",
        spec.tunnel_src,
        spec.tunnel_dst,
        spec.spi,
        hex::encode(&spec.enc_key),
        hex::encode(&spec.auth_key)
    )
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (id, version, caps, cap) = self.identity;
        writeln!(
            f,
            "ES PIC self-test: card id {id:#010x}, programming model {}.{}, caps {caps:#x}, SA table {cap} slots",
            version >> 16,
            version & 0xffff
        )?;
        writeln!(f, "\nSecurity associations:")?;
        writeln!(
            f,
            "  {:<4} {:<9} {:<10} {:<12} {:>7} {:>9} {:>6} {:>6} {:>5}",
            "Slot", "Direction", "SPI", "State", "Packets", "Bytes", "AuthFl", "Replay", "Seq"
        )?;
        for (slot, s) in &self.sas {
            writeln!(
                f,
                "  {:<4} {:<9} {:<10} {:<12} {:>7} {:>9} {:>6} {:>6} {:>5}",
                slot,
                format!("{:?}", s.direction).to_lowercase(),
                format!("{:#010x}", s.spi),
                format!("{:?}", s.state).to_lowercase(),
                s.packets,
                s.bytes,
                s.auth_failures,
                s.replay_drops,
                s.seq
            )?;
        }
        writeln!(
            f,
            "\nTraffic (tunnel {GATEWAY_A} <-> {GATEWAY_B}, inner ICMP over IPv4 and IPv6):"
        )?;
        for fl in &self.flows {
            writeln!(
                f,
                "  {}: {} sent, {} encapsulated, {} decapsulated, {} identical",
                fl.name, fl.sent, fl.encapsulated, fl.decapsulated, fl.identical
            )?;
        }
        writeln!(f, "\nChecks:")?;
        for c in &self.checks {
            writeln!(
                f,
                "  {:<34} -> {:<32} {}",
                c.what,
                c.got,
                if c.ok { "ok" } else { "FAILED" }
            )?;
        }
        let c = &self.counters;
        writeln!(f, "\nCard counters:")?;
        let rows = [
            ("encap packets", c.encap_packets),
            ("encap bytes", c.encap_bytes),
            ("decap packets", c.decap_packets),
            ("decap bytes", c.decap_bytes),
            ("authentication failures", c.auth_failures),
            ("replays", c.replay),
            ("outside window", c.outside_window),
            ("unknown SA", c.unknown_sa),
            ("bad opcode", c.bad_opcode),
            ("destination too small", c.dst_too_small),
            ("malformed", c.malformed),
            ("DMA faults", c.dma_faults),
            ("lifetime expired", c.lifetime_expired),
            ("sequence overflow", c.seq_overflow),
            ("descriptors", c.descriptors),
            ("interrupts", c.interrupts),
        ];
        let mut line = String::new();
        for (i, (name, v)) in rows.iter().enumerate() {
            let _ = write!(line, "  {name:<24}{v:>10}");
            if i % 2 == 1 {
                writeln!(f, "{line}")?;
                line.clear();
            }
        }
        if !line.is_empty() {
            writeln!(f, "{line}")?;
        }
        if !self.wireshark.is_empty() {
            writeln!(
                f,
                "\nWrote {} ESP packets. Wireshark ESP SAs (Preferences > Protocols > ESP, or tshark -o):",
                self.pcap_packets
            )?;
            for l in &self.wireshark {
                writeln!(f, "  uat:esp_sa:{l}")?;
            }
            let opts: String = self
                .wireshark
                .iter()
                .map(|l| format!(" -o 'uat:esp_sa:{l}'"))
                .collect();
            writeln!(
                f,
                "  e.g. tshark -r FILE -o esp.enable_encryption_decode:TRUE -o esp.enable_authentication_check:TRUE{opts}"
            )?;
        }
        writeln!(
            f,
            "\nResult: {}",
            if self.passed() { "PASS" } else { "FAIL" }
        )
    }
}
