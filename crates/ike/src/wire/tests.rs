//! Whole messages: plain, encrypted and fragmented; a strongSwan
//! IKE_SA_INIT request built byte by byte; and a fuzz-ish loop over
//! truncations and byte flips.

use super::payload::tests::every_payload;
use super::*;

fn header(exchange: Exchange, flags: u8) -> Header {
    Header {
        spi_i: 0x8877_6655_4433_2211,
        spi_r: 0x0102_0304_0506_0708,
        next_payload: 0,
        version: VERSION_2_0,
        exchange,
        flags,
        message_id: 7,
        length: 0,
    }
}

/// Sets the header's length field to the datagram's length.
fn fix_length(d: &mut [u8]) {
    let len = (d.len() as u32).to_be_bytes();
    d[24..28].copy_from_slice(&len);
}

#[test]
fn plain_round_trip() {
    let h = header(Exchange::Informational, flags::RESPONSE);
    let payloads = every_payload();
    let d = encode_plain(&h, &payloads);
    let m = parse_message(&d).unwrap();
    assert_eq!(m.header.next_payload, payload_type::SA);
    assert_eq!(m.header.length as usize, d.len());
    assert_eq!(
        m.header,
        Header {
            next_payload: payload_type::SA,
            length: d.len() as u32,
            ..h
        }
    );
    assert_eq!(m.body, Body::Plain(payloads));

    // No payloads at all (an empty INFORMATIONAL, a liveness check).
    let d = encode_plain(&h, &[]);
    assert_eq!(d.len(), HEADER_LEN);
    assert_eq!(parse_message(&d).unwrap().body, Body::Plain(vec![]));
}

#[test]
fn length_must_match() {
    let h = header(Exchange::IkeSaInit, flags::INITIATOR);
    let mut d = encode_plain(&h, &[Payload::Nonce(vec![1; 32])]);
    d.push(0);
    assert_eq!(
        parse_message(&d),
        Err(WireError::Length {
            header: 64,
            actual: 65
        })
    );
    d.truncate(60);
    assert_eq!(
        parse_message(&d),
        Err(WireError::Length {
            header: 64,
            actual: 60
        })
    );
    assert_eq!(
        parse_message(&d[..20]),
        Err(WireError::Truncated {
            what: "IKE header",
            need: 28,
            have: 20
        })
    );
}

#[test]
fn encrypted() {
    let h = header(Exchange::IkeAuth, flags::INITIATOR);
    let content = vec![0xee; 80];
    let mut d = encode_encrypted_prefix(&h, payload_type::IDI, content.len(), None);
    assert_eq!(d.len(), HEADER_LEN + 4);
    d.extend_from_slice(&content);
    let m = parse_message(&d).unwrap();
    assert_eq!(m.header.next_payload, payload_type::SK);
    assert_eq!(m.header.length as usize, d.len());
    let Body::Encrypted {
        before,
        first_inner,
        offset,
        len,
    } = m.body
    else {
        panic!("not encrypted: {:?}", m.body);
    };
    assert!(before.is_empty());
    assert_eq!(first_inner, payload_type::IDI);
    assert_eq!((offset, len), (32, 80));
    assert_eq!(&d[offset..offset + len], &content[..]);
}

#[test]
fn encrypted_after_plain_payloads() {
    // A Vendor ID before SK: `before` holds it, offsets follow it.
    let h = header(Exchange::Informational, 0);
    let (first, mut body) = encode_payloads(&[Payload::Vendor(vec![1, 2, 3, 4])]);
    body[0] = payload_type::SK;
    body.extend_from_slice(&[0, 0, 0, 4 + 16]);
    body.extend_from_slice(&[0xaa; 16]);
    let mut d = encode_plain(&h, &[]);
    d[16] = first;
    d.extend_from_slice(&body);
    fix_length(&mut d);
    assert_eq!(
        parse_message(&d).unwrap().body,
        Body::Encrypted {
            before: vec![Payload::Vendor(vec![1, 2, 3, 4])],
            first_inner: 0,
            offset: HEADER_LEN + 8 + 4,
            len: 16
        }
    );
    // SK followed by something else is misplaced.
    let mut d2 = d.clone();
    d2.extend_from_slice(&[0, 0, 0, 4]);
    fix_length(&mut d2);
    assert_eq!(
        parse_message(&d2),
        Err(WireError::Misplaced("SK payload is not the last payload"))
    );
}

#[test]
fn fragments() {
    let h = header(Exchange::IkeAuth, flags::RESPONSE);
    for (number, total, inner) in [(1, 3, payload_type::IDR), (3, 3, 0)] {
        let mut d = encode_encrypted_prefix(&h, payload_type::IDR, 40, Some((number, total)));
        assert_eq!(d.len(), HEADER_LEN + 8);
        d.extend_from_slice(&[0x11; 40]);
        let m = parse_message(&d).unwrap();
        assert_eq!(m.header.next_payload, payload_type::SKF);
        assert_eq!(
            m.body,
            Body::Fragment {
                number,
                total,
                first_inner: inner,
                offset: 36,
                len: 40
            }
        );
    }
    for (number, total) in [(0, 3), (4, 3), (1, 0)] {
        let mut d = encode_encrypted_prefix(&h, 0, 16, Some((number, total)));
        d.extend_from_slice(&[0; 16]);
        let e = parse_message(&d).unwrap_err();
        assert_eq!(
            e,
            WireError::BadPayload {
                kind: payload_type::SKF,
                why: format!("fragment number {number} of {total}")
            }
        );
        assert_eq!(
            e.to_string(),
            format!("SKF payload: fragment number {number} of {total}")
        );
    }
    // An SKF payload too short for its number and total.
    let mut d = encode_plain(&h, &[]);
    d[16] = payload_type::SKF;
    d.extend_from_slice(&[0, 0, 0, 6, 0, 1]);
    fix_length(&mut d);
    assert_eq!(
        parse_message(&d),
        Err(WireError::Truncated {
            what: "SKF payload",
            need: 4,
            have: 2
        })
    );
    // SKF after another payload.
    let (first, mut body) = encode_payloads(&[Payload::Vendor(vec![1])]);
    body[0] = payload_type::SKF;
    body.extend_from_slice(&[0, 0, 0, 8, 0, 1, 0, 1]);
    let mut d = encode_plain(&h, &[]);
    d[16] = first;
    d.extend_from_slice(&body);
    fix_length(&mut d);
    assert_eq!(
        parse_message(&d),
        Err(WireError::Misplaced("SKF payload is not the only payload"))
    );
}

#[test]
fn errors_name_the_problem() {
    let cases = [
        (
            WireError::Truncated {
                what: "SA payload",
                need: 48,
                have: 20,
            },
            "SA payload truncated: needs 48 bytes, 20 left",
        ),
        (
            WireError::Length {
                header: 100,
                actual: 90,
            },
            "IKE header says 100 bytes but the datagram has 90",
        ),
        (
            WireError::Version(3),
            "IKE major version 3 is not supported (only 2)",
        ),
        (
            WireError::UnsupportedCritical(99),
            "unsupported critical payload type 99",
        ),
        (
            WireError::BadPayload {
                kind: payload_type::SA,
                why: "proposal 1 transform 1 length 3 < 8".into(),
            },
            "SA payload: proposal 1 transform 1 length 3 < 8",
        ),
    ];
    for (e, text) in cases {
        assert_eq!(e.to_string(), text);
    }
    assert_eq!(
        WireError::Version(1).notify_type(),
        notify::INVALID_MAJOR_VERSION
    );
    assert_eq!(
        WireError::UnsupportedCritical(1).notify_type(),
        notify::UNSUPPORTED_CRITICAL_PAYLOAD
    );
    assert_eq!(
        WireError::Trailing { extra: 1 }.notify_type(),
        notify::INVALID_SYNTAX
    );
}

/// A strongSwan-style IKE_SA_INIT request, written out byte by byte from
/// RFC 7296 section 3 (not with the encoder).
fn strongswan_sa_init() -> Vec<u8> {
    let mut d = Vec::new();
    // IKE header: SPIi, SPIr = 0, next SA, version 2.0, IKE_SA_INIT,
    // flags I, message ID 0, length 454.
    d.extend_from_slice(&[0xc6, 0x1b, 0x2f, 0x4e, 0x8d, 0x01, 0x93, 0x7a]);
    d.extend_from_slice(&[0; 8]);
    d.extend_from_slice(&[33, 0x20, 34, 0x08, 0, 0, 0, 0, 0x00, 0x00, 0x01, 0xc6]);
    // SA: next KE, length 48; one proposal (last, length 44, #1, IKE, no
    // SPI, 4 transforms).
    d.extend_from_slice(&[34, 0, 0x00, 0x30]);
    d.extend_from_slice(&[0, 0, 0x00, 0x2c, 1, 1, 0, 4]);
    // ENCR AES-CBC with Key Length 128 (TV attribute 0x800e).
    d.extend_from_slice(&[3, 0, 0x00, 0x0c, 1, 0, 0x00, 0x0c, 0x80, 0x0e, 0x00, 0x80]);
    // INTEG HMAC-SHA1-96.
    d.extend_from_slice(&[3, 0, 0x00, 0x08, 3, 0, 0x00, 0x02]);
    // PRF HMAC-SHA1.
    d.extend_from_slice(&[3, 0, 0x00, 0x08, 2, 0, 0x00, 0x02]);
    // DH MODP-2048 (group 14), the last transform.
    d.extend_from_slice(&[0, 0, 0x00, 0x08, 4, 0, 0x00, 0x0e]);
    // KE: next Nonce, length 264, group 14, 256 bytes of public value.
    d.extend_from_slice(&[40, 0, 0x01, 0x08, 0x00, 0x0e, 0, 0]);
    d.extend((0..256u16).map(|i| (i * 7 + 3) as u8));
    // Nonce: next N, length 36, 32 bytes.
    d.extend_from_slice(&[41, 0, 0x00, 0x24]);
    d.extend((0..32u8).map(|i| i ^ 0xa5));
    // N(NAT_DETECTION_SOURCE_IP): next N, length 28, no protocol or SPI.
    d.extend_from_slice(&[41, 0, 0x00, 0x1c, 0, 0, 0x40, 0x04]);
    d.extend_from_slice(&[0x51; 20]);
    // N(NAT_DETECTION_DESTINATION_IP).
    d.extend_from_slice(&[41, 0, 0x00, 0x1c, 0, 0, 0x40, 0x05]);
    d.extend_from_slice(&[0xd5; 20]);
    // N(IKEV2_FRAGMENTATION_SUPPORTED), no data.
    d.extend_from_slice(&[41, 0, 0x00, 0x08, 0, 0, 0x40, 0x2e]);
    // N(SIGNATURE_HASH_ALGORITHMS): SHA2-256, SHA2-384, SHA2-512; last.
    d.extend_from_slice(&[0, 0, 0x00, 0x0e, 0, 0, 0x40, 0x2f]);
    d.extend_from_slice(&[0x00, 0x02, 0x00, 0x03, 0x00, 0x04]);
    assert_eq!(d.len(), 454);
    d
}

#[test]
fn strongswan_ike_sa_init_request() {
    let d = strongswan_sa_init();
    let m = parse_message(&d).unwrap();
    assert_eq!(m.header.spi_i, 0xc61b_2f4e_8d01_937a);
    assert_eq!(m.header.spi_r, 0);
    assert_eq!(m.header.exchange, Exchange::IkeSaInit);
    assert!(m.header.is_initiator());
    assert!(!m.header.is_response());
    assert_eq!(m.header.message_id, 0);
    let Body::Plain(payloads) = &m.body else {
        panic!("not plain: {:?}", m.body);
    };
    assert_eq!(payloads.len(), 7);
    assert_eq!(
        payloads[0],
        Payload::Sa(vec![Proposal {
            number: 1,
            protocol: protocol::IKE,
            spi: vec![],
            transforms: vec![
                Transform::with_key_length(transform_type::ENCR, encr::AES_CBC, 128),
                Transform::new(transform_type::INTEG, integ::HMAC_SHA1_96),
                Transform::new(transform_type::PRF, prf::HMAC_SHA1),
                Transform::new(transform_type::DH, dh::MODP_2048),
            ],
        }])
    );
    let Payload::Ke(ke) = &payloads[1] else {
        panic!("not KE: {:?}", payloads[1]);
    };
    assert_eq!(ke.group, dh::MODP_2048);
    assert_eq!(ke.data.len(), 256);
    assert_eq!(ke.data[1], 10);
    assert!(matches!(&payloads[2], Payload::Nonce(n) if n.len() == 32 && n[0] == 0xa5));
    let notifies: Vec<(u16, &[u8])> = payloads[3..]
        .iter()
        .map(|p| match p {
            Payload::Notify(n) => {
                assert_eq!((n.protocol, n.spi.len()), (0, 0));
                (n.kind, &n.data[..])
            }
            other => panic!("not a notify: {other:?}"),
        })
        .collect();
    assert_eq!(
        notifies,
        [
            (notify::NAT_DETECTION_SOURCE_IP, &[0x51; 20][..]),
            (notify::NAT_DETECTION_DESTINATION_IP, &[0xd5; 20][..]),
            (notify::IKEV2_FRAGMENTATION_SUPPORTED, &[][..]),
            (notify::SIGNATURE_HASH_ALGORITHMS, &[0, 2, 0, 3, 0, 4][..]),
        ]
    );
    let names: Vec<&str> = notifies.iter().map(|(k, _)| notify::name(*k)).collect();
    assert_eq!(names[2], "IKEV2_FRAGMENTATION_SUPPORTED");
    // The encoder writes the very same bytes back.
    assert_eq!(encode_plain(&m.header, payloads), d);
}

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn samples() -> Vec<Vec<u8>> {
    let h = header(Exchange::CreateChildSa, flags::INITIATOR);
    let mut sk = encode_encrypted_prefix(&h, payload_type::SA, 48, None);
    sk.extend_from_slice(&[0x3c; 48]);
    let mut skf = encode_encrypted_prefix(&h, payload_type::SA, 48, Some((1, 2)));
    skf.extend_from_slice(&[0x3c; 48]);
    vec![
        strongswan_sa_init(),
        encode_plain(&h, &every_payload()),
        sk,
        skf,
    ]
}

#[test]
fn fuzz_prefixes_and_flips_never_panic() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut accepted = 0usize;
    for sample in samples() {
        assert!(parse_message(&sample).is_ok());
        for n in 0..sample.len() {
            // Plain prefixes fail the length check...
            assert!(parse_message(&sample[..n]).is_err(), "prefix {n}");
            // ...so also make the header agree, to reach the payloads.
            if n >= HEADER_LEN {
                let mut p = sample[..n].to_vec();
                fix_length(&mut p);
                let _ = parse_message(&p);
                let _ = decode_payloads(p[16], &p[HEADER_LEN..]);
            }
        }
        for _ in 0..3000 {
            let mut m = sample.clone();
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(m.len());
                m[at] = match rng.below(3) {
                    0 => m[at] ^ (1 << rng.below(8)),
                    1 => rng.next() as u8,
                    _ => [0, 1, 2, 3, 4, 0x80, 0xff][rng.below(7)],
                };
            }
            if rng.below(2) == 0 {
                fix_length(&mut m);
            }
            if parse_message(&m).is_ok() {
                accepted += 1;
            }
            let _ = decode_payloads(m[16], m.get(HEADER_LEN..).unwrap_or_default());
        }
    }
    // Some flips land in data (nonces, KE values) and still parse.
    assert!(accepted > 0);
}
