//! SA parameters shared by the ESP integration tests.

#![allow(dead_code, clippy::unwrap_used)] // each test binary uses a part

use esp::{CipherAlg, IntegAlg, Lifetime, SaParams, Tunnel, UdpEncap};

/// Parameters for SPI 0x1000 with deterministic keys (encryption key
/// 0, 1, 2, ...; authentication key 100, 101, ...), a tunnel between
/// documentation addresses (IPv4 or IPv6, optionally UDP-encapsulated on
/// 4500) and a 64-packet replay window.
pub fn params(cipher: CipherAlg, integ: IntegAlg, v6: bool, udp: bool) -> SaParams {
    let (src, dst) = if v6 {
        ("2001:db8::1", "2001:db8::2")
    } else {
        ("192.0.2.1", "192.0.2.2")
    };
    SaParams {
        spi: 0x1000,
        cipher,
        enc_key: (0..cipher.key_len() as u8).collect(),
        integ,
        auth_key: (100..100 + integ.key_len() as u8).collect(),
        tunnel: Tunnel {
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            udp_encap: udp.then_some(UdpEncap {
                src_port: 4500,
                dst_port: 4500,
            }),
        },
        replay_window: 64,
        lifetime: Lifetime::default(),
        initial_seq: 0,
    }
}
