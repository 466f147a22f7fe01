//! `show security ike security-associations [detail]` and `show security
//! ipsec security-associations [detail]`, from kmd's view: the protocol
//! state of each SA, and the card's own record of each CHILD_SA (SA_QUERY:
//! state, packets, bytes, failures).

use std::fmt::Write as _;
use std::time::Duration;

use espic_driver::{Cipher, Integrity, SaInfo, SaState};
use ike::crypto::{DhGroup, Encr, Integ, Prf};
use ike::session::{ChildInfo, Role};
use ike::wire::TrafficSelector;

use super::{SaView, View};

fn encr_name(e: Encr) -> &'static str {
    match e {
        Encr::AesCbc128 => "aes128-cbc",
        Encr::AesCbc192 => "aes192-cbc",
        Encr::AesCbc256 => "aes256-cbc",
    }
}

fn integ_name(i: Integ) -> &'static str {
    match i {
        Integ::HmacSha1_96 => "hmac-sha1-96",
        Integ::HmacSha256_128 => "hmac-sha256-128",
        Integ::HmacSha384_192 => "hmac-sha384-192",
        Integ::HmacSha512_256 => "hmac-sha512-256",
    }
}

fn prf_name(p: Prf) -> &'static str {
    match p {
        Prf::HmacSha1 => "hmac-sha1",
        Prf::HmacSha256 => "hmac-sha256",
        Prf::HmacSha384 => "hmac-sha384",
        Prf::HmacSha512 => "hmac-sha512",
    }
}

fn dh_name(g: DhGroup) -> &'static str {
    match g {
        DhGroup::Modp2048 => "DH-group-14",
        DhGroup::Ecp256 => "DH-group-19",
    }
}

fn esp_name(c: &ChildInfo) -> String {
    let cipher = match c.suite.cipher {
        Cipher::Aes128Cbc => "aes-cbc-128",
        Cipher::Aes192Cbc => "aes-cbc-192",
        Cipher::Aes256Cbc => "aes-cbc-256",
    };
    let integ = match c.suite.integrity {
        Integrity::HmacSha1_96 => "sha1",
        Integrity::HmacSha256_128 => "sha256",
    };
    format!("ESP:{cipher}/{integ}")
}

fn ts(t: &TrafficSelector) -> String {
    if t.start == t.end {
        format!("{}/{}", t.start, if t.start.is_ipv4() { 32 } else { 128 })
    } else {
        format!("{}-{}", t.start, t.end)
    }
}

fn remaining(c: &ChildInfo, now: Duration) -> u64 {
    (c.created + c.lifetime).saturating_sub(now).as_secs()
}

/// `show security ike security-associations [detail]`.
pub fn ike(view: &View, detail: bool) -> String {
    let mut out = String::new();
    for p in &view.problems {
        let _ = writeln!(out, "warning: {p}");
    }
    if view.sas.is_empty() {
        out.push_str("No IKE security associations\n");
        return out;
    }
    if !detail {
        out.push_str(
            "Index   State  Initiator cookie  Responder cookie  Mode           Remote Address\n",
        );
        for (i, v) in view.sas.iter().enumerate() {
            let s = &v.summary;
            let _ = writeln!(
                out,
                "{:<7} {:<6} {:016x}  {:016x}  {:<14} {}",
                i + 1,
                s.state.show(),
                s.spi_i,
                s.spi_r,
                "IKEv2",
                s.remote.ip()
            );
        }
        return out;
    }
    for (i, v) in view.sas.iter().enumerate() {
        detail_ike(&mut out, i + 1, v);
    }
    out
}

fn detail_ike(out: &mut String, index: usize, v: &SaView) {
    let s = &v.summary;
    let _ = writeln!(
        out,
        "IKE peer {}, Index {}, Gateway Name: {}",
        s.remote.ip(),
        index,
        v.gateway
    );
    let role = match s.role {
        Role::Initiator => "Initiator",
        Role::Responder => "Responder",
    };
    let _ = writeln!(out, "  Role: {role}, State: {}", s.state.show());
    let _ = writeln!(
        out,
        "  Initiator cookie: {:016x}, Responder cookie: {:016x}",
        s.spi_i, s.spi_r
    );
    let _ = writeln!(
        out,
        "  Exchange type: IKEv2, Authentication method: RSA-signatures"
    );
    let _ = writeln!(out, "  Local: {}, Remote: {}", s.local, s.remote);
    if let Some(p) = &s.peer {
        let _ = writeln!(out, "  Peer ike-id: {}", p.id);
        let _ = writeln!(
            out,
            "  Peer certificate: {} (serial {})",
            p.subject, p.serial
        );
    }
    if let Some(suite) = &s.suite {
        let _ = writeln!(out, "  Algorithms:");
        let _ = writeln!(
            out,
            "   Authentication        : {}",
            integ_name(suite.integ)
        );
        let _ = writeln!(out, "   Encryption            : {}", encr_name(suite.encr));
        let _ = writeln!(out, "   Pseudo random function: {}", prf_name(suite.prf));
        let _ = writeln!(out, "   Diffie-Hellman group  : {}", dh_name(suite.dh));
    }
    let _ = writeln!(
        out,
        "  NAT traversal: {}, local behind NAT: {}, remote behind NAT: {}",
        if s.encap { "UDP 4500" } else { "none" },
        if s.nat_local { "yes" } else { "no" },
        if s.nat_remote { "yes" } else { "no" }
    );
    let _ = writeln!(
        out,
        "  Message IDs: next request {}, next peer request {}",
        s.next_message_id, s.peer_message_id
    );
    let _ = writeln!(
        out,
        "  IPSec security associations: {} active",
        s.children.len()
    );
    out.push('\n');
}

fn card_line(
    out: &mut String,
    dir: &str,
    spi: u32,
    slot: u32,
    info: Option<&SaInfo>,
    c: &ChildInfo,
    now: Duration,
) {
    let _ = writeln!(
        out,
        "    Direction: {dir}, SPI: {spi:08x}, AUX-SPI: 0, Mode: Tunnel, Type: dynamic"
    );
    let state = match info.map(|i| i.state) {
        Some(SaState::Active) => "Active",
        Some(SaState::SoftExpired) => "Soft-expired",
        Some(SaState::HardExpired) => "Hard-expired",
        None => "Not on the card",
    };
    let _ = writeln!(out, "      ES PIC SA slot: {slot}, State: {state}");
    let _ = writeln!(
        out,
        "      Protocol: ESP, Authentication: {}, Encryption: {}",
        match c.suite.integrity {
            Integrity::HmacSha1_96 => "hmac-sha1-96",
            Integrity::HmacSha256_128 => "hmac-sha256-128",
        },
        match c.suite.cipher {
            Cipher::Aes128Cbc => "aes-cbc (128 bits)",
            Cipher::Aes192Cbc => "aes-cbc (192 bits)",
            Cipher::Aes256Cbc => "aes-cbc (256 bits)",
        }
    );
    let left = remaining(c, now);
    let _ = writeln!(
        out,
        "      Soft lifetime: Expires in {} seconds, Hard lifetime: Expires in {left} seconds",
        left.saturating_sub(c.lifetime.as_secs() / 10)
    );
    if dir == "inbound" {
        let _ = writeln!(
            out,
            "      Anti-replay service: enabled, Replay window size: 64"
        );
    }
    if let Some(i) = info {
        let _ = writeln!(
            out,
            "      Packets: {}, Bytes: {}, Authentication failures: {}, Replay drops: {}, Sequence: {}",
            i.packets, i.bytes, i.auth_failures, i.replay_drops, i.seq
        );
    }
}

/// `show security ipsec security-associations [detail]`.
pub fn ipsec(view: &View, detail: bool, now: Duration) -> String {
    let mut out = String::new();
    let tunnels: usize = view.sas.iter().map(|v| v.slots.len()).sum();
    let _ = writeln!(out, "  Total active tunnels: {tunnels}");
    if tunnels == 0 {
        return out;
    }
    if !detail {
        out.push_str("  ID    Algorithm       SPI      Life:sec/kb  Mon lsys Port  Gateway\n");
    }
    for v in &view.sas {
        for (spi_in, in_slot, out_slot) in &v.slots {
            let Some(c) = v.summary.children.iter().find(|c| c.spi_in == *spi_in) else {
                continue;
            };
            let id = 131073 + in_slot / 2;
            let port = if c.encap { 4500 } else { 500 };
            let left = remaining(c, now);
            if !detail {
                for (arrow, spi) in [("<", c.spi_in), (">", c.spi_out)] {
                    let _ = writeln!(
                        out,
                        "  {arrow}{id:<5} {:<15} {spi:08x} {left}/ unlim  -   root {port:<5} {}",
                        esp_name(c),
                        v.summary.remote.ip()
                    );
                }
                continue;
            }
            let _ = writeln!(out, "  ID: {id} Virtual-system: root, VPN Name: {}", v.vpn);
            let _ = writeln!(
                out,
                "  Local Gateway: {}, Remote Gateway: {}",
                v.summary.local.ip(),
                v.summary.remote.ip()
            );
            let _ = writeln!(
                out,
                "  Local Identity: ipv4_subnet(any:0,[0..7]={})",
                ts(&c.local_ts)
            );
            let _ = writeln!(
                out,
                "  Remote Identity: ipv4_subnet(any:0,[0..7]={})",
                ts(&c.remote_ts)
            );
            let _ = writeln!(
                out,
                "  Version: IKEv2, Port: {port}, UDP encapsulation: {}",
                if c.encap { "yes" } else { "no" }
            );
            card_line(
                &mut out,
                "inbound",
                c.spi_in,
                *in_slot,
                view.card.get(in_slot),
                c,
                now,
            );
            card_line(
                &mut out,
                "outbound",
                c.spi_out,
                *out_slot,
                view.card.get(out_slot),
                c,
                now,
            );
            out.push('\n');
        }
    }
    out
}
