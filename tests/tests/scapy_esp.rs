//! Interop with a third-party ESP implementation: scapy's
//! `SecurityAssociation` (Debian's python3-scapy, through /usr/bin/python3).
//!
//! - Packets the card encapsulates are decrypted by scapy back to the inner
//!   packet, and scapy, re-encrypting the inner packet with the same
//!   sequence number and IV, produces the card's ESP bytes exactly.
//! - Packets scapy encrypts are decapsulated by the card to the inner packet.
//!
//! Both for plain ESP and ESP-in-UDP (NAT-T, port 4500), with IPv4 and
//! IPv6 inner packets. Under `CI=true` a missing scapy fails the test.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::process::{Command, Stdio};

use espic_driver::{Cipher, DeviceError, Direction, Integrity, Lifetimes, Request, SaSpec};
use mtsim::pic::Pic;
use mtsim::traffic::{icmp_echo_v4, icmp_echo_v6};
use serde_json::{Value, json};

const PYTHON: &str = "/usr/bin/python3";
const ENC_KEY: &str = "00112233445566778899aabbccddeeff";
const AUTH_KEY: &str = "0102030405060708090a0b0c0d0e0f1011121314";

fn peer_script() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("interop/esp_peer.py")
}

/// Whether scapy is usable; fails under CI=true when it is not.
fn scapy_available() -> bool {
    let ok = Command::new(PYTHON)
        .args(["-c", "import scapy.layers.ipsec, cryptography"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        let msg = "scapy is not installed: apt-get install python3-scapy python3-cryptography (.ci/run does)";
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{msg}");
        }
        eprintln!("skipping: {msg}");
    }
    ok
}

fn run_peer(job: &Value) -> Value {
    let mut child = Command::new(PYTHON)
        .arg(peer_script())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the scapy peer");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(job.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "scapy peer failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

const SPI: u32 = 0x0000_c001;
const GW_A: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const GW_B: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);

fn spec(direction: Direction, natt: bool) -> SaSpec {
    SaSpec {
        spi: SPI,
        direction,
        cipher: Cipher::Aes128Cbc,
        enc_key: hex::decode(ENC_KEY).unwrap(),
        integrity: Integrity::HmacSha1_96,
        auth_key: hex::decode(AUTH_KEY).unwrap(),
        tunnel_src: IpAddr::V4(GW_A),
        tunnel_dst: IpAddr::V4(GW_B),
        udp_encap: natt.then_some((4500, 4500)),
        replay_window: 64,
        lifetimes: Lifetimes::default(),
        initial_seq: 0,
    }
}

fn sa_json(natt: bool) -> Value {
    json!({"spi": SPI, "src": GW_A.to_string(), "dst": GW_B.to_string(),
           "enc_key": ENC_KEY, "auth_key": AUTH_KEY, "natt": natt})
}

/// Inner packets of many sizes, IPv4 and IPv6 (every padding length occurs).
fn inner_packets() -> Vec<Vec<u8>> {
    let v4 = (
        Ipv4Addr::new(198, 51, 100, 1),
        Ipv4Addr::new(203, 0, 113, 1),
    );
    let v6: (Ipv6Addr, Ipv6Addr) = (
        "2001:db8:a::1".parse().unwrap(),
        "2001:db8:b::1".parse().unwrap(),
    );
    let mut v = Vec::new();
    for n in 0..20u16 {
        let payload: Vec<u8> = (0..n * 7).map(|i| i as u8).collect();
        v.push(icmp_echo_v4(v4.0, v4.1, n + 1, n + 1, &payload));
        v.push(icmp_echo_v6(v6.0, v6.1, 1, n + 1, &payload));
    }
    v
}

#[test]
fn card_encapsulates_scapy_decrypts_byte_for_byte() {
    if !scapy_available() {
        return;
    }
    for natt in [false, true] {
        let mut pic = Pic::power_on().unwrap();
        pic.driver
            .add_sa(0, &spec(Direction::Outbound, natt))
            .unwrap();
        let inner = inner_packets();
        let reqs: Vec<_> = inner
            .iter()
            .map(|p| Request::Encap { sa: 0, packet: p })
            .collect();
        let done = pic.process(&reqs).unwrap();
        let packets: Vec<Value> = done
            .iter()
            .zip(&inner)
            .map(|(c, i)| {
                let outer = c.result.as_ref().expect("card encapsulated");
                json!({"outer": hex::encode(outer), "inner": hex::encode(i)})
            })
            .collect();
        let answer = run_peer(&json!({"sa": sa_json(natt), "mode": "decrypt", "packets": packets}));
        let results = answer["results"].as_array().unwrap();
        assert_eq!(results.len(), inner.len());
        for (i, r) in results.iter().enumerate() {
            assert_eq!(
                r["error"],
                Value::Null,
                "natt={natt} packet {i}: scapy: {}",
                r["error"]
            );
            assert_eq!(
                r["inner_equal"], true,
                "natt={natt} packet {i}: inner differs"
            );
            assert_eq!(
                r["esp_equal"], true,
                "natt={natt} packet {i}: ESP bytes differ from scapy's"
            );
        }
    }
}

#[test]
fn scapy_encrypts_card_decapsulates() {
    if !scapy_available() {
        return;
    }
    for natt in [false, true] {
        let mut pic = Pic::power_on().unwrap();
        pic.driver
            .add_sa(1, &spec(Direction::Inbound, natt))
            .unwrap();
        let inner = inner_packets();
        let packets: Vec<Value> = inner
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let iv: Vec<u8> = (0..16).map(|k| (i * 31 + k * 7) as u8).collect();
                json!({"inner": hex::encode(p), "seq": i + 1, "iv": hex::encode(iv)})
            })
            .collect();
        let answer = run_peer(&json!({"sa": sa_json(natt), "mode": "encrypt", "packets": packets}));
        let outer: Vec<Vec<u8>> = answer["outer"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| hex::decode(h.as_str().unwrap()).unwrap())
            .collect();
        assert_eq!(outer.len(), inner.len());
        let reqs: Vec<_> = outer
            .iter()
            .map(|p| Request::Decap {
                sa: None,
                packet: p,
            })
            .collect();
        let done = pic.process(&reqs).unwrap();
        for (i, (c, want)) in done.iter().zip(&inner).enumerate() {
            let got = c
                .result
                .as_ref()
                .unwrap_or_else(|e| panic!("natt={natt} packet {i}: card: {e}"));
            assert_eq!(&got[..], &want[..], "natt={natt} packet {i}");
            assert_eq!(c.seq as usize, i + 1);
        }
        // scapy's packet replayed is refused by the card.
        let again = pic
            .process(&[Request::Decap {
                sa: Some(1),
                packet: &outer[0],
            }])
            .unwrap();
        assert_eq!(again[0].result, Err(DeviceError::Replay));
        let info = pic.driver.query_sa(1).unwrap();
        assert_eq!(info.packets, inner.len() as u64);
        assert_eq!(info.replay_drops, 1);
    }
}
