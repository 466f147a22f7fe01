//! SA behaviour: round trips over every transform and tunnel kind,
//! anti-replay, sequence overflow, lifetimes, short buffers, tampering.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use esp::{
    CipherAlg, EspError, InboundSa, IntegAlg, Lifetime, LifetimeEvent, LifetimeState,
    MalformedReason, OutboundSa, SaParams,
};
use proptest::prelude::*;

const IV: [u8; 16] = [7; 16];

use common::params;

fn basic() -> SaParams {
    params(CipherAlg::Aes128Cbc, IntegAlg::HmacSha1_96, false, false)
}

fn ipv4_packet(payload_len: usize) -> Vec<u8> {
    let mut p = vec![0u8; 20 + payload_len];
    p[0] = 0x45;
    let total = p.len() as u16;
    p[2..4].copy_from_slice(&total.to_be_bytes());
    p[9] = 17;
    for (i, b) in p[20..].iter_mut().enumerate() {
        *b = i as u8;
    }
    p
}

fn encap(sa: &mut OutboundSa, inner: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; sa.encap_len(inner.len())];
    sa.encap(inner, &IV, &mut out).unwrap();
    out
}

fn decap(sa: &mut InboundSa, pkt: &[u8]) -> Result<Vec<u8>, EspError> {
    let mut out = vec![0u8; 70_000];
    sa.decap(pkt, &mut out).map(|o| out[..o.len].to_vec())
}

#[test]
fn every_transform_and_tunnel_roundtrips() {
    for cipher in [
        CipherAlg::Aes128Cbc,
        CipherAlg::Aes192Cbc,
        CipherAlg::Aes256Cbc,
    ] {
        for integ in [IntegAlg::HmacSha1_96, IntegAlg::HmacSha256_128] {
            for v6 in [false, true] {
                for udp in [false, true] {
                    let mut tx = OutboundSa::new(params(cipher, integ, v6, udp)).unwrap();
                    let mut rx = InboundSa::new(params(cipher, integ, v6, udp)).unwrap();
                    for len in [0, 1, 13, 14, 15, 16, 100, 1400] {
                        let inner = ipv4_packet(len);
                        let pkt = encap(&mut tx, &inner);
                        assert_eq!(decap(&mut rx, &pkt).unwrap(), inner);
                    }
                }
            }
        }
    }
}

#[test]
fn inner_ipv6_uses_next_header_41() {
    let mut tx = OutboundSa::new(basic()).unwrap();
    let mut rx = InboundSa::new(basic()).unwrap();
    let mut inner = vec![0u8; 48];
    inner[0] = 0x60;
    let pkt = encap(&mut tx, &inner);
    assert_eq!(decap(&mut rx, &pkt).unwrap(), inner);
}

#[test]
fn replay_and_outside_window_are_dropped_and_counted() {
    let mut tx = OutboundSa::new(basic()).unwrap();
    let mut rx = InboundSa::new(basic()).unwrap();
    let pkts: Vec<_> = (0..200).map(|_| encap(&mut tx, &ipv4_packet(10))).collect();
    decap(&mut rx, &pkts[0]).unwrap();
    assert_eq!(decap(&mut rx, &pkts[0]), Err(EspError::Replay { seq: 1 }));
    decap(&mut rx, &pkts[150]).unwrap();
    assert_eq!(
        decap(&mut rx, &pkts[1]),
        Err(EspError::OutsideWindow {
            seq: 2,
            highest: 151
        })
    );
    // Inside the window, never seen: accepted.
    decap(&mut rx, &pkts[100]).unwrap();
    let c = rx.counters();
    assert_eq!(
        (c.packets, c.replay_drops, c.outside_window_drops),
        (3, 1, 1)
    );
    assert_eq!(rx.highest_seq(), 151);
}

#[test]
fn forged_packet_does_not_move_the_window() {
    let mut tx = OutboundSa::new(basic()).unwrap();
    let mut rx = InboundSa::new(basic()).unwrap();
    let mut pkt = encap(&mut tx, &ipv4_packet(10));
    let good = pkt.clone();
    let last = pkt.len() - 1;
    pkt[last] ^= 1;
    assert_eq!(decap(&mut rx, &pkt), Err(EspError::AuthFailed));
    assert_eq!(rx.highest_seq(), 0);
    decap(&mut rx, &good).unwrap();
    assert_eq!(rx.counters().auth_failures, 1);
}

#[test]
fn sequence_number_overflow_stops_the_sa() {
    let mut p = basic();
    p.initial_seq = u32::MAX - 2;
    let mut tx = OutboundSa::new(p).unwrap();
    let inner = ipv4_packet(10);
    let mut out = vec![0u8; tx.encap_len(inner.len())];
    assert_eq!(tx.encap(&inner, &IV, &mut out).unwrap().seq, u32::MAX - 1);
    assert_eq!(tx.encap(&inner, &IV, &mut out).unwrap().seq, u32::MAX);
    assert_eq!(tx.encap(&inner, &IV, &mut out), Err(EspError::SeqOverflow));
    assert_eq!(tx.counters().packets, 2);
}

#[test]
fn lifetimes_raise_soft_then_hard_then_refuse() {
    let mut p = basic();
    p.lifetime = Lifetime {
        soft_packets: 3,
        hard_packets: 5,
        ..Lifetime::default()
    };
    let mut tx = OutboundSa::new(p.clone()).unwrap();
    let inner = ipv4_packet(10);
    let mut out = vec![0u8; tx.encap_len(inner.len())];
    let events: Vec<_> = (0..5)
        .map(|_| tx.encap(&inner, &IV, &mut out).unwrap().event)
        .collect();
    assert_eq!(
        events,
        [
            None,
            None,
            Some(LifetimeEvent::Soft),
            None,
            Some(LifetimeEvent::Hard)
        ]
    );
    assert_eq!(tx.state(), LifetimeState::HardExpired);
    assert_eq!(
        tx.encap(&inner, &IV, &mut out),
        Err(EspError::LifetimeExpired)
    );

    // Byte lifetime on the inbound side.
    p.lifetime = Lifetime {
        soft_bytes: 60,
        hard_bytes: 100,
        ..Lifetime::default()
    };
    let mut tx = OutboundSa::new(basic()).unwrap();
    let mut rx = InboundSa::new(p).unwrap();
    let pkts: Vec<_> = (0..4).map(|_| encap(&mut tx, &ipv4_packet(20))).collect();
    let mut out = vec![0u8; 2000];
    let ev: Vec<_> = pkts[..3]
        .iter()
        .map(|p| rx.decap(p, &mut out).unwrap().event)
        .collect();
    assert_eq!(
        ev,
        [None, Some(LifetimeEvent::Soft), Some(LifetimeEvent::Hard)]
    );
    assert_eq!(rx.decap(&pkts[3], &mut out), Err(EspError::LifetimeExpired));
}

#[test]
fn short_output_buffer_changes_nothing() {
    let mut tx = OutboundSa::new(basic()).unwrap();
    let inner = ipv4_packet(100);
    let need = tx.encap_len(inner.len());
    let mut out = vec![0xAAu8; need - 1];
    assert_eq!(
        tx.encap(&inner, &IV, &mut out),
        Err(EspError::DestTooSmall {
            needed: need,
            available: need - 1
        })
    );
    assert!(out.iter().all(|&b| b == 0xAA));
    assert_eq!(tx.next_seq(), 1);

    let pkt = encap(&mut tx, &inner);
    let mut rx = InboundSa::new(basic()).unwrap();
    let mut small = vec![0xAAu8; inner.len() - 1];
    assert_eq!(
        rx.decap(&pkt, &mut small),
        Err(EspError::DestTooSmall {
            needed: inner.len(),
            available: inner.len() - 1
        })
    );
    assert!(small.iter().all(|&b| b == 0xAA));
    assert_eq!(rx.highest_seq(), 0);
    // An exactly sized buffer works (tail decrypted via scratch).
    let mut exact = vec![0u8; inner.len()];
    assert_eq!(rx.decap(&pkt, &mut exact).unwrap().len, inner.len());
    assert_eq!(exact, inner);
}

#[test]
fn bad_params_are_named() {
    let mut p = basic();
    p.enc_key.pop();
    assert!(
        matches!(OutboundSa::new(p), Err(EspError::BadParams(m)) if m.contains("encryption key"))
    );
    let mut p = basic();
    p.replay_window = 16;
    assert!(
        matches!(InboundSa::new(p), Err(EspError::BadParams(m)) if m.contains("replay window"))
    );
    let mut p = basic();
    p.spi = 255;
    assert!(matches!(InboundSa::new(p), Err(EspError::BadParams(m)) if m.contains("SPI")));
    let mut p = basic();
    p.tunnel.dst = "2001:db8::1".parse().unwrap();
    assert!(matches!(InboundSa::new(p), Err(EspError::BadParams(m)) if m.contains("famil")));
}

#[test]
fn wrong_spi_family_and_inner_are_rejected() {
    let mut tx = OutboundSa::new(basic()).unwrap();
    let pkt = encap(&mut tx, &ipv4_packet(10));
    let mut other = basic();
    other.spi = 0x2000;
    let mut rx = InboundSa::new(other).unwrap();
    assert_eq!(
        decap(&mut rx, &pkt),
        Err(EspError::SpiMismatch {
            expected: 0x2000,
            got: 0x1000
        })
    );
    let mut rx6 = InboundSa::new(params(
        CipherAlg::Aes128Cbc,
        IntegAlg::HmacSha1_96,
        true,
        false,
    ))
    .unwrap();
    assert_eq!(decap(&mut rx6, &pkt), Err(EspError::AddressFamilyMismatch));
    let mut out = vec![0u8; 100];
    assert_eq!(
        tx.encap(&[], &IV, &mut out),
        Err(EspError::Malformed(MalformedReason::InnerEmpty))
    );
    assert_eq!(
        tx.encap(&[0x20, 0, 0], &IV, &mut out),
        Err(EspError::Malformed(MalformedReason::InnerNotIp {
            version: 2
        }))
    );
    assert_eq!(tx.counters().malformed, 2);
}

#[test]
fn keys_never_appear_in_debug() {
    let p = basic();
    let s = format!(
        "{p:?} {:?} {:?}",
        OutboundSa::new(p.clone()).unwrap(),
        InboundSa::new(p.clone()).unwrap()
    );
    assert!(s.contains("redacted"));
    assert!(!s.contains("[0, 1, 2, 3"), "{s}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn roundtrip_any_payload(
        len in 0usize..2000,
        v6 in any::<bool>(),
        udp in any::<bool>(),
        iv in any::<[u8; 16]>(),
        cipher in prop::sample::select(vec![CipherAlg::Aes128Cbc, CipherAlg::Aes192Cbc, CipherAlg::Aes256Cbc]),
        integ in prop::sample::select(vec![IntegAlg::HmacSha1_96, IntegAlg::HmacSha256_128]),
        enc_key in any::<[u8; 32]>(),
        auth_key in any::<[u8; 32]>(),
    ) {
        let mut p = params(cipher, integ, v6, udp);
        p.enc_key = enc_key[..cipher.key_len()].to_vec();
        p.auth_key = auth_key[..integ.key_len()].to_vec();
        let mut tx = OutboundSa::new(p.clone()).unwrap();
        let mut rx = InboundSa::new(p).unwrap();
        let inner = ipv4_packet(len);
        let mut pkt = vec![0u8; tx.encap_len(inner.len())];
        tx.encap(&inner, &iv, &mut pkt).unwrap();
        prop_assert_eq!(decap(&mut rx, &pkt).unwrap(), inner);
    }

    #[test]
    fn any_bit_flip_in_esp_is_rejected(len in 0usize..200, bit in any::<prop::sample::Index>()) {
        let mut tx = OutboundSa::new(basic()).unwrap();
        let mut rx = InboundSa::new(basic()).unwrap();
        let mut pkt = encap(&mut tx, &ipv4_packet(len));
        // Flip a bit in the ESP part (after the 20-byte outer header).
        let i = 20 * 8 + bit.index((pkt.len() - 20) * 8);
        pkt[i / 8] ^= 1 << (i % 8);
        let r = decap(&mut rx, &pkt);
        prop_assert!(r.is_err());
        // SPI and sequence-number flips may be caught earlier; the rest must be the ICV.
        if i / 8 >= 28 {
            prop_assert_eq!(r, Err(EspError::AuthFailed));
        }
        prop_assert_eq!(rx.counters().packets, 0);
    }

    #[test]
    fn random_input_never_panics(data in prop::collection::vec(any::<u8>(), 0..600), udp in any::<bool>(), out_len in 0usize..700) {
        let mut rx = InboundSa::new(params(CipherAlg::Aes128Cbc, IntegAlg::HmacSha1_96, false, udp)).unwrap();
        let mut out = vec![0u8; out_len];
        let _ = rx.decap(&data, &mut out);
        let _ = esp::wire::peek_spi(&data);
        let mut tx = OutboundSa::new(basic()).unwrap();
        let _ = tx.encap(&data, &IV, &mut out);
    }

    #[test]
    fn random_esp_with_valid_outer_never_panics(esp_bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        // Valid outer IPv4 header around arbitrary ESP bytes with the right SPI.
        let mut pkt = vec![0u8; 20];
        pkt[0] = 0x45;
        pkt[8] = 64;
        pkt[9] = 50;
        let mut body = vec![0, 0, 0x10, 0];
        body.extend_from_slice(&esp_bytes);
        let total = (20 + body.len()) as u16;
        pkt[2..4].copy_from_slice(&total.to_be_bytes());
        let sum = ipv4_checksum(&pkt);
        pkt[10..12].copy_from_slice(&sum.to_be_bytes());
        pkt.extend_from_slice(&body);
        let mut rx = InboundSa::new(basic()).unwrap();
        let mut out = vec![0u8; 500];
        prop_assert!(rx.decap(&pkt, &mut out).is_err());
    }
}

fn ipv4_checksum(h: &[u8]) -> u16 {
    let mut s: u32 = h
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
        .sum();
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}
