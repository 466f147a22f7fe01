//! The multi-packet path (prepare / seal_many, check / open_many / commit)
//! gives byte for byte what the one-packet path gives, for mixed lengths,
//! every transform and tunnel kind, and keeps anti-replay exact when a
//! batch repeats a sequence number.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use esp::batch::Span;
use esp::{CipherAlg, EspError, InboundSa, IntegAlg, Lifetime, LifetimeEvent, OutboundSa};
use proptest::prelude::*;

use common::params;

fn ipv4_packet(len: usize, fill: u8) -> Vec<u8> {
    let mut p = vec![fill; len.max(20)];
    p[0] = 0x45;
    p
}

fn iv(k: usize) -> [u8; 16] {
    core::array::from_fn(|i| (i + 3 * k) as u8)
}

/// Encapsulates `inners` through prepare + seal_many into one buffer;
/// returns the buffer and each packet's span.
fn batch_encap(sa: &mut OutboundSa, inners: &[Vec<u8>]) -> (Vec<u8>, Vec<Span>) {
    let total: usize = inners.iter().map(|p| sa.encap_len(p.len())).sum();
    let mut buf = vec![0u8; total];
    let mut spans = Vec::new();
    let mut esps = Vec::new();
    let mut preps = Vec::new();
    let mut at = 0;
    for (k, inner) in inners.iter().enumerate() {
        let len = sa.encap_len(inner.len());
        let p = sa.prepare(inner, &iv(k), &mut buf[at..at + len]).unwrap();
        spans.push(Span::new(at, len));
        esps.push(Span::new(at + p.esp.start, p.esp.len));
        preps.push(p);
        at += len;
    }
    sa.keys().seal_many(&mut buf, &esps).unwrap();
    for (p, s) in preps.iter().zip(&spans) {
        p.finish(&mut buf[s.range()]);
    }
    (buf, spans)
}

/// Runs `check` on each packet `spans` of `buf`; returns what it gave and
/// the packets' ESP parts as spans of `buf`.
fn check_all(rx: &mut InboundSa, buf: &[u8], spans: &[Span]) -> (Vec<esp::Checked>, Vec<Span>) {
    let checked: Vec<_> = spans
        .iter()
        .map(|s| rx.check(&buf[s.range()]).unwrap())
        .collect();
    let esps = spans
        .iter()
        .zip(&checked)
        .map(|(s, c)| Span::new(s.start + c.esp.start, c.esp.len))
        .collect();
    (checked, esps)
}

fn check_same_as_one_at_a_time(
    cipher: CipherAlg,
    integ: IntegAlg,
    v6: bool,
    udp: bool,
    lens: &[usize],
) {
    let inners: Vec<Vec<u8>> = lens
        .iter()
        .enumerate()
        .map(|(k, &l)| ipv4_packet(l, k as u8))
        .collect();
    let mut one = OutboundSa::new(params(cipher, integ, v6, udp)).unwrap();
    let mut many = OutboundSa::new(params(cipher, integ, v6, udp)).unwrap();
    let (buf, spans) = batch_encap(&mut many, &inners);
    for (k, (inner, s)) in inners.iter().zip(&spans).enumerate() {
        let mut out = vec![0u8; one.encap_len(inner.len())];
        one.encap(inner, &iv(k), &mut out).unwrap();
        assert_eq!(&buf[s.range()], &out[..], "packet {k} of {lens:?}");
    }
    assert_eq!(one.next_seq(), many.next_seq());

    // Open them all at once; every inner packet comes back.
    let mut rx = InboundSa::new(params(cipher, integ, v6, udp)).unwrap();
    let mut checked = Vec::new();
    let mut esps = Vec::new();
    let mut outs = Vec::new();
    let mut at = 0;
    for s in &spans {
        let c = rx.check(&buf[s.range()]).unwrap();
        esps.push(Span::new(s.start + c.esp.start, c.esp.len));
        outs.push(Span::new(at, s.len));
        at += s.len;
        checked.push(c);
    }
    let mut dst = vec![0u8; at];
    let mut results = vec![Err(EspError::AuthFailed); spans.len()];
    rx.keys()
        .open_many(&buf, &esps, &mut dst, &outs, &mut results);
    for (k, ((c, r), o)) in checked.iter().zip(results).zip(&outs).enumerate() {
        let outcome = rx.commit(c, r).unwrap();
        assert_eq!(outcome.seq, k as u32 + 1);
        assert_eq!(&dst[o.start..o.start + outcome.len], &inners[k][..]);
    }
    assert_eq!(rx.counters().packets, lens.len() as u64);
}

#[test]
fn every_transform_in_batches_matches_one_at_a_time() {
    // More than one cipher call's worth of lanes, mixed lengths.
    let lens: Vec<usize> = (0..150)
        .map(|k| [64, 576, 20, 1420, 100, 33][k % 6])
        .collect();
    for cipher in [
        CipherAlg::Aes128Cbc,
        CipherAlg::Aes192Cbc,
        CipherAlg::Aes256Cbc,
    ] {
        for integ in [IntegAlg::HmacSha1_96, IntegAlg::HmacSha256_128] {
            for (v6, udp) in [(false, false), (false, true), (true, false), (true, true)] {
                check_same_as_one_at_a_time(cipher, integ, v6, udp, &lens);
            }
        }
    }
}

#[test]
fn a_forged_packet_fails_alone() {
    let inners: Vec<Vec<u8>> = (0..8).map(|k| ipv4_packet(64 + k * 10, 1)).collect();
    let p = params(CipherAlg::Aes128Cbc, IntegAlg::HmacSha1_96, false, false);
    let mut tx = OutboundSa::new(p.clone()).unwrap();
    let (mut buf, spans) = batch_encap(&mut tx, &inners);
    let victim = spans[3];
    buf[victim.start + victim.len - 1] ^= 1;
    let mut rx = InboundSa::new(p).unwrap();
    let (checked, esps) = check_all(&mut rx, &buf, &spans);
    let mut dst = vec![0u8; buf.len()];
    let mut results = vec![Ok(0); spans.len()];
    rx.keys()
        .open_many(&buf, &esps, &mut dst, &spans, &mut results);
    for (k, (c, r)) in checked.iter().zip(results).enumerate() {
        let got = rx.commit(c, r);
        if k == 3 {
            assert_eq!(got, Err(EspError::AuthFailed));
        } else {
            assert!(got.is_ok(), "packet {k}: {got:?}");
        }
    }
    assert_eq!(rx.counters().auth_failures, 1);
    assert_eq!(rx.counters().packets, 7);
}

#[test]
fn a_sequence_number_repeated_within_a_batch_is_a_replay() {
    let p = params(CipherAlg::Aes128Cbc, IntegAlg::HmacSha1_96, false, false);
    let mut tx = OutboundSa::new(p.clone()).unwrap();
    let inner = ipv4_packet(100, 9);
    let mut pkt = vec![0u8; tx.encap_len(inner.len())];
    let n = tx.encap(&inner, &iv(0), &mut pkt).unwrap().len;
    let mut rx = InboundSa::new(p).unwrap();
    // Both copies pass the cheap check before either is committed.
    let a = rx.check(&pkt[..n]).unwrap();
    let b = rx.check(&pkt[..n]).unwrap();
    let mut out = vec![0u8; n];
    let ra = rx.keys().open(&pkt[a.esp.range()], &mut out);
    let rb = rx.keys().open(&pkt[b.esp.range()], &mut out);
    assert!(rx.commit(&a, ra).is_ok());
    assert_eq!(rx.commit(&b, rb), Err(EspError::Replay { seq: 1 }));
    assert_eq!(rx.counters().replay_drops, 1);
}

#[test]
fn hard_lifetime_reached_mid_batch_refuses_the_rest() {
    let mut p = params(CipherAlg::Aes128Cbc, IntegAlg::HmacSha1_96, false, false);
    p.lifetime = Lifetime {
        soft_packets: 2,
        hard_packets: 3,
        ..Lifetime::default()
    };
    let mut tx = OutboundSa::new(params(
        CipherAlg::Aes128Cbc,
        IntegAlg::HmacSha1_96,
        false,
        false,
    ))
    .unwrap();
    let inners: Vec<Vec<u8>> = (0..5).map(|k| ipv4_packet(64, k)).collect();
    let (buf, spans) = batch_encap(&mut tx, &inners);
    let mut rx = InboundSa::new(p).unwrap();
    let checked: Vec<_> = spans
        .iter()
        .map(|s| rx.check(&buf[s.range()]).unwrap())
        .collect();
    let mut events = Vec::new();
    for (c, s) in checked.iter().zip(&spans) {
        let mut out = vec![0u8; s.len];
        let r = rx.keys().open(
            &buf[s.start + c.esp.start..s.start + c.esp.start + c.esp.len],
            &mut out,
        );
        events.push(rx.commit(c, r).map(|o| o.event));
    }
    assert_eq!(
        events,
        vec![
            Ok(None),
            Ok(Some(LifetimeEvent::Soft)),
            Ok(Some(LifetimeEvent::Hard)),
            Err(EspError::LifetimeExpired),
            Err(EspError::LifetimeExpired),
        ]
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_batches_match_one_at_a_time(
        lens in proptest::collection::vec(0usize..1600, 1..80),
        v6 in any::<bool>(),
        udp in any::<bool>(),
    ) {
        check_same_as_one_at_a_time(CipherAlg::Aes128Cbc, IntegAlg::HmacSha1_96, v6, udp, &lens);
    }
}

#[test]
fn an_authentic_packet_with_nothing_inside_is_refused() {
    use esp::MalformedReason;
    use esp::crypto::{CbcEncryptor, IntegKey};
    let p = params(CipherAlg::Aes128Cbc, IntegAlg::HmacSha1_96, false, false);
    let mut tx = OutboundSa::new(p.clone()).unwrap();
    // A 14-byte inner packet fills one block exactly (no padding)...
    let inner = ipv4_packet(20, 0)[..14].to_vec();
    let mut pkt = vec![0u8; tx.encap_len(inner.len())];
    let n = tx.encap(&inner, &iv(0), &mut pkt).unwrap().len;
    assert_eq!(n, 20 + 8 + 16 + 16 + 12);
    // ...whose block is replaced by 14 bytes of padding and the trailer,
    // sealed with the SA's keys: authentic, and empty.
    let mut block: Vec<u8> = (1..=14).collect();
    block.extend([14, 4]);
    CbcEncryptor::new(p.cipher, &p.enc_key)
        .unwrap()
        .encrypt_in_place(&iv(0), &mut block)
        .unwrap();
    pkt[44..60].copy_from_slice(&block);
    let icv = IntegKey::new(p.integ, &p.auth_key)
        .unwrap()
        .compute(&pkt[20..60]);
    pkt[60..72].copy_from_slice(icv.as_bytes());
    let mut rx = InboundSa::new(p).unwrap();
    let mut out = vec![0u8; 100];
    assert_eq!(
        rx.decap(&pkt[..n], &mut out),
        Err(EspError::Malformed(MalformedReason::InnerEmpty))
    );
    assert_eq!(rx.counters().malformed, 1);
    assert_eq!(rx.highest_seq(), 0, "the window did not move");
}

#[test]
fn outputs_with_room_for_only_the_inner_packet_still_open() {
    // Short packets with room for their whole ciphertext are decrypted
    // across packets; these outputs take exactly the inner packet, so each
    // is decrypted on its own. Both give the same inner packets.
    let p = params(CipherAlg::Aes128Cbc, IntegAlg::HmacSha1_96, false, false);
    let inners: Vec<Vec<u8>> = (0..20).map(|k| ipv4_packet(20 + k * 7, k as u8)).collect();
    let mut tx = OutboundSa::new(p.clone()).unwrap();
    let (buf, spans) = batch_encap(&mut tx, &inners);
    for exact in [false, true] {
        let mut rx = InboundSa::new(p.clone()).unwrap();
        let (_, esps) = check_all(&mut rx, &buf, &spans);
        let mut outs = Vec::new();
        let mut at = 0;
        for (inner, s) in inners.iter().zip(&spans) {
            let len = if exact { inner.len() } else { s.len };
            outs.push(Span::new(at, len));
            at += len;
        }
        let mut dst = vec![0u8; at];
        let mut results = vec![Ok(0); spans.len()];
        rx.keys()
            .open_many(&buf, &esps, &mut dst, &outs, &mut results);
        for (k, (r, o)) in results.iter().zip(&outs).enumerate() {
            let n = r.unwrap();
            assert_eq!(
                &dst[o.start..o.start + n],
                &inners[k][..],
                "packet {k}, exact {exact}"
            );
        }
    }
}

#[test]
fn overlapping_packets_are_refused_before_anything_is_written() {
    let p = params(CipherAlg::Aes128Cbc, IntegAlg::HmacSha1_96, false, false);
    let mut sa = OutboundSa::new(p).unwrap();
    let inners = [ipv4_packet(100, 1), ipv4_packet(100, 2)];
    let len = sa.encap_len(100);
    let mut buf = vec![0u8; 2 * len];
    let mut esps = Vec::new();
    for (k, inner) in inners.iter().enumerate() {
        let p = sa
            .prepare(inner, &iv(k), &mut buf[k * len..(k + 1) * len])
            .unwrap();
        esps.push(Span::new(k * len + p.esp.start, p.esp.len));
    }
    // The second packet's ESP part moved onto the first's.
    esps[1].start = esps[0].start + 16;
    let before = buf.clone();
    let err = sa.keys().seal_many(&mut buf, &esps).unwrap_err();
    assert!(
        matches!(err, EspError::BadParams(m) if m.contains("overlap")),
        "{err}"
    );
    assert_eq!(buf, before);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// A packet read straight into its place (what the card does) gives
    /// byte for byte what `prepare` gives when it copies the packet in, with
    /// the same sequence numbers and counters.
    #[test]
    fn prepare_in_place_matches_prepare(
        lens in proptest::collection::vec(20usize..1600, 1..12),
        v6 in any::<bool>(),
        udp in any::<bool>(),
    ) {
        let p = params(CipherAlg::Aes128Cbc, IntegAlg::HmacSha1_96, v6, udp);
        let mut copied = OutboundSa::new(p.clone()).unwrap();
        let mut placed = OutboundSa::new(p).unwrap();
        for (k, &len) in lens.iter().enumerate() {
            let inner = ipv4_packet(len, k as u8);
            let total = copied.encap_len(len);
            let mut a = vec![0u8; total];
            let mut b = vec![0u8; total];
            let at = placed.payload_offset();
            b[at..at + len].copy_from_slice(&inner);
            let pa = copied.prepare(&inner, &iv(k), &mut a).unwrap();
            let pb = placed.prepare_in_place(len, &iv(k), &mut b).unwrap();
            prop_assert_eq!(pa, pb);
            prop_assert_eq!(&a, &b);
        }
        prop_assert_eq!(copied.counters(), placed.counters());
        prop_assert_eq!(copied.next_seq(), placed.next_seq());
    }
}

#[test]
fn prepare_in_place_refuses_bad_packets_and_leaves_them_as_they_were() {
    let mut sa = OutboundSa::new(params(
        CipherAlg::Aes128Cbc,
        IntegAlg::HmacSha1_96,
        false,
        false,
    ))
    .unwrap();
    let at = sa.payload_offset();
    let total = sa.encap_len(64);
    // Not an IP packet (version 5).
    let mut buf = vec![0u8; total];
    buf[at..at + 64].fill(0x55);
    let before = buf.clone();
    assert!(matches!(
        sa.prepare_in_place(64, &iv(0), &mut buf),
        Err(EspError::Malformed(_))
    ));
    assert_eq!(buf, before);
    // No room for the ICV.
    let mut short = before[..total - 1].to_vec();
    short[at] = 0x45;
    let short_before = short.clone();
    assert!(matches!(
        sa.prepare_in_place(64, &iv(0), &mut short),
        Err(EspError::DestTooSmall { .. })
    ));
    assert_eq!(short, short_before);
    // A packet said to reach past the buffer.
    assert!(matches!(
        sa.prepare_in_place(total, &iv(0), &mut buf),
        Err(EspError::DestTooSmall { .. })
    ));
    // Empty.
    assert!(matches!(
        sa.prepare_in_place(0, &iv(0), &mut buf),
        Err(EspError::Malformed(_))
    ));
    assert_eq!(buf, before);
    assert_eq!(sa.next_seq(), 1);
    assert_eq!(sa.counters().packets, 0);
    assert_eq!(sa.counters().malformed, 2);
}
