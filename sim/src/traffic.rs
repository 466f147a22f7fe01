//! Inner packets for tests and the self-test: ICMP echo requests over IPv4
//! and IPv6 with correct lengths and checksums, so that tshark and scapy
//! dissect them cleanly.

use std::net::{Ipv4Addr, Ipv6Addr};

use esp::wire::{internet_checksum, pseudo_header_v6};

/// An IPv4 ICMP echo request (TTL 64) carrying `payload`; `id` is both the
/// IP identification and the ICMP identifier.
pub fn icmp_echo_v4(src: Ipv4Addr, dst: Ipv4Addr, id: u16, seq: u16, payload: &[u8]) -> Vec<u8> {
    let total = 20 + 8 + payload.len();
    let mut p = vec![0u8; total];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    p[4..6].copy_from_slice(&id.to_be_bytes());
    p[8] = 64;
    p[9] = 1;
    p[12..16].copy_from_slice(&src.octets());
    p[16..20].copy_from_slice(&dst.octets());
    let sum = internet_checksum(0, &p[..20]);
    p[10..12].copy_from_slice(&sum.to_be_bytes());
    let icmp = &mut p[20..];
    icmp[0] = 8;
    icmp[4..6].copy_from_slice(&id.to_be_bytes());
    icmp[6..8].copy_from_slice(&seq.to_be_bytes());
    icmp[8..].copy_from_slice(payload);
    let sum = internet_checksum(0, icmp);
    icmp[2..4].copy_from_slice(&sum.to_be_bytes());
    p
}

/// An IPv6 ICMPv6 echo request (hop limit 64) carrying `payload`.
pub fn icmp_echo_v6(src: Ipv6Addr, dst: Ipv6Addr, id: u16, seq: u16, payload: &[u8]) -> Vec<u8> {
    const ICMPV6: u8 = 58;
    let len = 8 + payload.len();
    let mut p = vec![0u8; 40 + len];
    p[0] = 0x60;
    p[4..6].copy_from_slice(&(len as u16).to_be_bytes());
    p[6] = ICMPV6;
    p[7] = 64;
    p[8..24].copy_from_slice(&src.octets());
    p[24..40].copy_from_slice(&dst.octets());
    let icmp = &mut p[40..];
    icmp[0] = 128;
    icmp[4..6].copy_from_slice(&id.to_be_bytes());
    icmp[6..8].copy_from_slice(&seq.to_be_bytes());
    icmp[8..].copy_from_slice(payload);
    let sum = internet_checksum(
        pseudo_header_v6(&src.octets(), &dst.octets(), len, ICMPV6),
        icmp,
    );
    icmp[2..4].copy_from_slice(&sum.to_be_bytes());
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_verify() {
        let p = icmp_echo_v4(
            Ipv4Addr::new(198, 51, 100, 1),
            Ipv4Addr::new(203, 0, 113, 1),
            1,
            1,
            b"KAT",
        );
        // The scapy KAT inner packet (scapy_esp_roundtrip.py --kat).
        assert_eq!(
            hex::encode(&p),
            "4500001f00010000400114a7c6336401cb007101080058bc000100014b4154"
        );
        let src = "2001:db8:1::1".parse().unwrap();
        let dst = "2001:db8:2::1".parse().unwrap();
        let p = icmp_echo_v6(src, dst, 7, 9, b"hello");
        let sum = internet_checksum(
            pseudo_header_v6(&src.octets(), &dst.octets(), p.len() - 40, 58),
            &p[40..],
        );
        assert_eq!(sum, 0);
    }
}
