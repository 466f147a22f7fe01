//! ESP decapsulation (`esp::InboundSa::decap`) of packets from the wire,
//! plain ESP and ESP-in-UDP (RFC 3948), IPv4 and IPv6 tunnels.
//!
//! Input: a config byte (cipher, integrity, UDP, IPv6, replay window,
//! lifetime), an output-size byte, then up to 16 records
//! `[kind][len: u16 BE][bytes]` decapsulated in order on the same SA (so
//! the replay window and lifetimes move). A record's kind % 3 is:
//!
//! - 0: the bytes are the whole outer packet;
//! - 1: the bytes are an ESP payload (sequence number, IV, ciphertext):
//!   the harness adds valid outer headers, the SA's SPI and a correct ICV,
//!   so the decryption, padding and next-header checks run;
//! - 2: like 1 but the bytes after the IV are plaintext (inner packet,
//!   padding, pad length, next header) that the harness encrypts first.

#![no_main]

use std::net::IpAddr;

use esp::crypto::{BLOCK_LEN, CbcEncryptor, IntegKey};
use esp::wire::{internet_checksum, pseudo_header_v6};
use esp::{CipherAlg, InboundSa, IntegAlg, Lifetime, SaParams, Tunnel, UdpEncap};
use libfuzzer_sys::fuzz_target;

const SPI: u32 = 0x0000_1000;

struct Sa {
    cipher: CipherAlg,
    integ: IntegAlg,
    enc_key: Vec<u8>,
    auth_key: Vec<u8>,
    v6: bool,
    udp: bool,
}

impl Sa {
    fn from_byte(b: u8) -> Self {
        let cipher = match b & 3 {
            1 => CipherAlg::Aes192Cbc,
            2 => CipherAlg::Aes256Cbc,
            _ => CipherAlg::Aes128Cbc,
        };
        let integ = if b & 4 != 0 {
            IntegAlg::HmacSha256_128
        } else {
            IntegAlg::HmacSha1_96
        };
        Sa {
            cipher,
            integ,
            enc_key: (0..cipher.key_len() as u8).collect(),
            auth_key: (100..100 + integ.key_len() as u8).collect(),
            v6: b & 8 != 0,
            udp: b & 16 != 0,
        }
    }

    fn addrs(&self) -> (IpAddr, IpAddr) {
        let (s, d) = if self.v6 {
            ("2001:db8::1", "2001:db8::2")
        } else {
            ("192.0.2.1", "192.0.2.2")
        };
        (s.parse().expect("address"), d.parse().expect("address"))
    }

    fn params(&self, b: u8) -> SaParams {
        let (src, dst) = self.addrs();
        let lifetime = if b & 64 != 0 {
            Lifetime {
                soft_bytes: 100,
                hard_bytes: 300,
                soft_packets: 2,
                hard_packets: 4,
            }
        } else {
            Lifetime::default()
        };
        SaParams {
            spi: SPI,
            cipher: self.cipher,
            enc_key: self.enc_key.clone(),
            integ: self.integ,
            auth_key: self.auth_key.clone(),
            tunnel: Tunnel {
                src,
                dst,
                udp_encap: self.udp.then_some(UdpEncap {
                    src_port: 4500,
                    dst_port: 4500,
                }),
            },
            replay_window: if b & 32 != 0 { 32 } else { 0 },
            lifetime,
            initial_seq: 0,
        }
    }

    /// Outer IP (and UDP) headers around `esp`.
    fn wrap(&self, esp: &[u8]) -> Vec<u8> {
        let (src, dst) = self.addrs();
        let mut l4 = Vec::with_capacity(esp.len() + 8);
        if self.udp {
            let len = (esp.len() + 8) as u16;
            l4.extend_from_slice(&4500u16.to_be_bytes());
            l4.extend_from_slice(&4500u16.to_be_bytes());
            l4.extend_from_slice(&len.to_be_bytes());
            l4.extend_from_slice(&[0, 0]);
        }
        l4.extend_from_slice(esp);
        let proto = if self.udp { 17 } else { 50 };
        match (src, dst) {
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                if self.udp {
                    let sum = internet_checksum(
                        pseudo_header_v6(&s.octets(), &d.octets(), l4.len(), 17),
                        &l4,
                    );
                    let sum = if sum == 0 { 0xffff } else { sum };
                    l4[6..8].copy_from_slice(&sum.to_be_bytes());
                }
                let mut p = vec![0x60, 0, 0, 0];
                p.extend_from_slice(&(l4.len() as u16).to_be_bytes());
                p.extend_from_slice(&[proto, 64]);
                p.extend_from_slice(&s.octets());
                p.extend_from_slice(&d.octets());
                p.extend_from_slice(&l4);
                p
            }
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                let total = (20 + l4.len()) as u16;
                let mut p = vec![0x45, 0];
                p.extend_from_slice(&total.to_be_bytes());
                p.extend_from_slice(&[0, 0, 0, 0, 64, proto, 0, 0]);
                p.extend_from_slice(&s.octets());
                p.extend_from_slice(&d.octets());
                let sum = internet_checksum(0, &p);
                p[10..12].copy_from_slice(&sum.to_be_bytes());
                p.extend_from_slice(&l4);
                p
            }
            _ => unreachable!("both addresses are of one family"),
        }
    }

    /// SPI || `body` (sequence number, IV, ciphertext) || ICV.
    fn esp(&self, body: &[u8], encrypt: bool) -> Vec<u8> {
        let mut esp = SPI.to_be_bytes().to_vec();
        esp.extend_from_slice(body);
        let ct_at = 4 + 4 + BLOCK_LEN;
        if encrypt && esp.len() > ct_at {
            let blocks = (esp.len() - ct_at) / BLOCK_LEN * BLOCK_LEN;
            esp.truncate(ct_at + blocks);
            let mut iv = [0u8; BLOCK_LEN];
            iv.copy_from_slice(&esp[8..ct_at]);
            let enc = CbcEncryptor::new(self.cipher, &self.enc_key).expect("key");
            enc.encrypt_in_place(&iv, &mut esp[ct_at..])
                .expect("whole blocks");
        }
        let integ = IntegKey::new(self.integ, &self.auth_key).expect("key");
        let icv = integ.compute(&esp);
        esp.extend_from_slice(icv.as_bytes());
        esp
    }
}

fuzz_target!(|data: &[u8]| {
    let [conf, out_size, rest @ ..] = data else {
        return;
    };
    let sa = Sa::from_byte(*conf);
    let Ok(mut inbound) = InboundSa::new(sa.params(*conf)) else {
        panic!("the harness's SA parameters are valid");
    };
    let mut out = vec![
        0u8;
        if *out_size == 0xff {
            70_000
        } else {
            usize::from(*out_size) * 8
        }
    ];
    let mut rest = rest;
    for _ in 0..16 {
        let [kind, l0, l1, tail @ ..] = rest else {
            break;
        };
        let len = usize::from(u16::from_be_bytes([*l0, *l1])).min(tail.len());
        let (bytes, after) = tail.split_at(len);
        rest = after;
        let packet = match kind % 3 {
            0 => bytes.to_vec(),
            1 => sa.wrap(&sa.esp(bytes, false)),
            _ => sa.wrap(&sa.esp(bytes, true)),
        };
        if let Ok(o) = inbound.decap(&packet, &mut out) {
            assert!(o.len <= out.len() && o.len > 0);
        }
        let _ = esp::wire::peek_spi(&packet);
    }
    let _ = (inbound.counters(), inbound.state(), inbound.highest_seq());
});
