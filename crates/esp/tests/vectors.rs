//! Known-answer tests: RFC 3602 (AES-CBC), RFC 2202 / RFC 4231 (truncated
//! HMAC), and a full ESP packet cross-checked with scapy and the openssl CLI
//! (../shared/interop/esp/kat_openssl_check.sh).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use esp::crypto::{CbcDecryptor, CbcEncryptor, IntegKey};
use esp::{CipherAlg, EspError, InboundSa, IntegAlg, Lifetime, OutboundSa, SaParams, Tunnel};

fn h(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

fn iv(s: &str) -> [u8; 16] {
    h(s).try_into().unwrap()
}

#[test]
fn rfc3602_case1_single_block() {
    let key = h("06a9214036b8a15b512e03d534120006");
    let iv = iv("3dafba429d9eb430b422da802c9fac41");
    let mut buf = b"Single block msg".to_vec();
    CbcEncryptor::new(CipherAlg::Aes128Cbc, &key)
        .unwrap()
        .encrypt_in_place(&iv, &mut buf)
        .unwrap();
    assert_eq!(hex::encode(&buf), "e353779c1079aeb82708942dbe77181a");
    CbcDecryptor::new(CipherAlg::Aes128Cbc, &key)
        .unwrap()
        .decrypt_in_place(&iv, &mut buf)
        .unwrap();
    assert_eq!(buf, b"Single block msg");
}

#[test]
fn rfc3602_case2_two_blocks() {
    let key = h("c286696d887c9aa0611bbb3e2025a45a");
    let iv = iv("562e17996d093d28ddb3ba695a2e6f58");
    let pt = h("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
    let mut buf = pt.clone();
    CbcEncryptor::new(CipherAlg::Aes128Cbc, &key)
        .unwrap()
        .encrypt_in_place(&iv, &mut buf)
        .unwrap();
    assert_eq!(
        hex::encode(&buf),
        "d296cd94c2cccf8a3a863028b5e1dc0a7586602d253cfff91b8266bea6d61ab1"
    );
    let mut back = vec![0u8; buf.len()];
    CbcDecryptor::new(CipherAlg::Aes128Cbc, &key)
        .unwrap()
        .decrypt_b2b(&iv, &buf, &mut back)
        .unwrap();
    assert_eq!(back, pt);
}

#[test]
fn cbc_rejects_partial_blocks_and_wrong_keys() {
    let enc = CbcEncryptor::new(CipherAlg::Aes128Cbc, &[0; 16]).unwrap();
    let mut odd = [0u8; 17];
    assert!(matches!(
        enc.encrypt_in_place(&[0; 16], &mut odd),
        Err(EspError::Malformed(_))
    ));
    assert!(matches!(
        CbcEncryptor::new(CipherAlg::Aes256Cbc, &[0; 16]),
        Err(EspError::BadParams(_))
    ));
}

#[test]
fn rfc2202_hmac_sha1_96() {
    let k = IntegKey::new(IntegAlg::HmacSha1_96, &[0x0b; 20]).unwrap();
    assert_eq!(
        hex::encode(k.compute(b"Hi There").as_bytes()),
        "b617318655057264e28bc0b6"
    );
    let k = IntegKey::new(IntegAlg::HmacSha1_96, b"Jefe").unwrap();
    let icv = k.compute(b"what do ya want for nothing?");
    assert_eq!(hex::encode(icv.as_bytes()), "effcdf6ae5eb2fa2d27416d5");
    k.verify(b"what do ya want for nothing?", icv.as_bytes())
        .unwrap();
    let mut bad = icv.as_bytes().to_vec();
    bad[11] ^= 0x80;
    assert_eq!(
        k.verify(b"what do ya want for nothing?", &bad),
        Err(EspError::AuthFailed)
    );
    assert_eq!(
        k.verify(b"what do ya want for nothing?", &bad[..11]),
        Err(EspError::AuthFailed)
    );
}

#[test]
fn rfc4231_hmac_sha256_128() {
    let k = IntegKey::new(IntegAlg::HmacSha256_128, &[0x0b; 20]).unwrap();
    assert_eq!(
        hex::encode(k.compute(b"Hi There").as_bytes()),
        "b0344c61d8db38535ca8afceaf0bf12b"
    );
    let k = IntegKey::new(IntegAlg::HmacSha256_128, b"Jefe").unwrap();
    assert_eq!(
        hex::encode(k.compute(b"what do ya want for nothing?").as_bytes()),
        "5bdcc146bf60754e6a042426089575c7"
    );
}

/// scapy_esp_roundtrip.py --kat (scapy 2.5.0), identical to the openssl CLI result.
const KAT_INNER: &str = "4500001f00010000400114a7c6336401cb007101080058bc000100014b4154";
const KAT_ESP: &str = "0000c00100000007000102030405060708090a0b0c0d0e0f7d24b71b4d715379ea881f309de020757210137b508ebc012a2c1a344148286b09b7312dc07c145baab8a9642fbd27996406430b3d5ef2f35491591f";

fn kat_params() -> SaParams {
    SaParams {
        spi: 0xc001,
        cipher: CipherAlg::Aes128Cbc,
        enc_key: h("00112233445566778899aabbccddeeff"),
        integ: IntegAlg::HmacSha1_96,
        auth_key: h("0102030405060708090a0b0c0d0e0f1011121314"),
        tunnel: Tunnel {
            src: "192.0.2.1".parse().unwrap(),
            dst: "192.0.2.2".parse().unwrap(),
            udp_encap: None,
        },
        replay_window: 64,
        lifetime: Lifetime::default(),
        initial_seq: 6,
    }
}

#[test]
fn esp_kat_matches_scapy_and_openssl() {
    let mut sa = OutboundSa::new(kat_params()).unwrap();
    let inner = h(KAT_INNER);
    let mut out = vec![0u8; sa.encap_len(inner.len())];
    let o = sa
        .encap(&inner, &iv("000102030405060708090a0b0c0d0e0f"), &mut out)
        .unwrap();
    assert_eq!(o.seq, 7);
    assert_eq!(o.len, out.len());
    assert_eq!(hex::encode(&out[20..]), KAT_ESP);
    // Outer header: 192.0.2.1 -> 192.0.2.2, protocol 50, TTL 64.
    assert_eq!(&out[12..20], &[192, 0, 2, 1, 192, 0, 2, 2]);
    assert_eq!((out[8], out[9]), (64, 50));

    let mut rx = InboundSa::new(kat_params()).unwrap();
    let mut back = vec![0u8; 1500];
    let o = rx.decap(&out, &mut back).unwrap();
    assert_eq!(&back[..o.len], &inner[..]);
    assert_eq!(o.seq, 7);
}
