//! Outer headers of tunnel-mode ESP: IPv4 / IPv6, optionally UDP (RFC 3948).
//!
//! | layer | bytes | fields written on encap |
//! |-------|-------|-------------------------|
//! | IPv4  | 20    | version 4, IHL 5, TOS 0, total length, id = low 16 bits of the ESP sequence number, no fragment flags, TTL 64, protocol 50 (17 with UDP), header checksum |
//! | IPv6  | 40    | version 6, traffic class 0, flow label 0, payload length, next header 50 (17), hop limit 64 |
//! | UDP   | 8     | ports from the SA, length, checksum 0 over IPv4 (RFC 3948 2.1), computed over IPv6 |
//!
//! The ESP header (SPI, sequence number), IV, ciphertext and ICV follow.

use std::net::IpAddr;

use crate::error::{EspError, MalformedReason as M};
use crate::sa::Tunnel;

/// IP protocol number of ESP.
pub const PROTO_ESP: u8 = 50;
/// IP protocol number of UDP.
pub const PROTO_UDP: u8 = 17;
/// IPv4 header length as written (no options).
pub const IPV4_HEADER_LEN: usize = 20;
/// IPv6 fixed header length.
pub const IPV6_HEADER_LEN: usize = 40;
/// UDP header length.
pub const UDP_HEADER_LEN: usize = 8;
/// TTL / hop limit of outer headers.
pub const OUTER_TTL: u8 = 64;

/// Length of the outer headers (IP and UDP) an SA with `tunnel` writes.
pub fn outer_len(tunnel: &Tunnel) -> usize {
    let ip = if tunnel.dst.is_ipv4() {
        IPV4_HEADER_LEN
    } else {
        IPV6_HEADER_LEN
    };
    ip + if tunnel.udp_encap.is_some() {
        UDP_HEADER_LEN
    } else {
        0
    }
}

/// The internet checksum (RFC 1071) of `data`, starting from the partial sum
/// `initial` (0, or a pseudo-header sum).
pub fn internet_checksum(initial: u32, data: &[u8]) -> u16 {
    let mut sum = initial;
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum = sum.wrapping_add(u32::from(u16::from_be_bytes([c[0], c[1]])));
    }
    if let [last] = chunks.remainder() {
        sum = sum.wrapping_add(u32::from(*last) << 8);
    }
    !fold(sum)
}

/// A one's complement sum of 16-bit words folded to 16 bits.
fn fold(mut sum: u32) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// The IPv6 pseudo-header sum (RFC 8200 8.1) for an upper-layer packet of
/// `len` bytes and protocol `next_header`, to start [`internet_checksum`] with.
pub fn pseudo_header_v6(src: &[u8; 16], dst: &[u8; 16], len: usize, next_header: u8) -> u32 {
    let mut sum = 0u32;
    for c in src.chunks_exact(2).chain(dst.chunks_exact(2)) {
        sum = sum.wrapping_add(u32::from(u16::from_be_bytes([c[0], c[1]])));
    }
    sum.wrapping_add(len as u32)
        .wrapping_add(u32::from(next_header))
}

/// Writes the outer headers into `out[..outer_len(tunnel)]` for an ESP part
/// of `esp_len` bytes that already sits at `out[outer_len(tunnel)..]`.
///
/// The caller has checked that `out` is large enough and that the lengths
/// fit their fields.
pub(crate) fn write_outer(tunnel: &Tunnel, out: &mut [u8], esp_len: usize, seq: u32) {
    let hdr = outer_len(tunnel);
    let udp = tunnel.udp_encap;
    let proto = if udp.is_some() { PROTO_UDP } else { PROTO_ESP };
    let l4_len = esp_len + if udp.is_some() { UDP_HEADER_LEN } else { 0 };
    match (tunnel.src, tunnel.dst) {
        (IpAddr::V4(src), IpAddr::V4(dst)) => {
            // The header as its ten 16-bit words, summed before it is
            // written: summing the bytes just stored would make each load
            // wait for the byte stores under it.
            let (src, dst) = (u32::from(src), u32::from(dst));
            let mut words = [
                0x4500,
                (IPV4_HEADER_LEN + l4_len) as u16,
                seq as u16,
                0,
                u16::from(OUTER_TTL) << 8 | u16::from(proto),
                0,
                (src >> 16) as u16,
                src as u16,
                (dst >> 16) as u16,
                dst as u16,
            ];
            words[5] = !fold(words.iter().map(|&w| u32::from(w)).sum());
            for (b, w) in out[..IPV4_HEADER_LEN].chunks_exact_mut(2).zip(words) {
                b.copy_from_slice(&w.to_be_bytes());
            }
            if let Some(u) = udp {
                write_udp(&mut out[IPV4_HEADER_LEN..hdr], u, l4_len, 0);
            }
        }
        (src, dst) => {
            let (src, dst) = (v6_octets(src), v6_octets(dst));
            let ip = &mut out[..IPV6_HEADER_LEN];
            ip[0..4].copy_from_slice(&[0x60, 0, 0, 0]);
            ip[4..6].copy_from_slice(&(l4_len as u16).to_be_bytes());
            ip[6] = proto;
            ip[7] = OUTER_TTL;
            ip[8..24].copy_from_slice(&src);
            ip[24..40].copy_from_slice(&dst);
            if let Some(u) = udp {
                write_udp(&mut out[IPV6_HEADER_LEN..hdr], u, l4_len, 0);
            }
        }
    }
}

/// Completes a packet [`write_outer`] wrote once its ESP part is final:
/// an outer IPv6 header with UDP needs the UDP checksum over the sealed
/// payload (IPv4 sends 0, RFC 3948 2.1). Reads the addresses and lengths
/// from the packet itself; anything else is left alone.
pub(crate) fn finish_outer(out: &mut [u8]) {
    let hdr = IPV6_HEADER_LEN + UDP_HEADER_LEN;
    if out.len() < hdr || out[0] >> 4 != 6 || out[6] != PROTO_UDP {
        return;
    }
    let l4_len = usize::from(u16::from_be_bytes([out[4], out[5]]));
    let Some(l4) = out.get(IPV6_HEADER_LEN..IPV6_HEADER_LEN + l4_len) else {
        return;
    };
    let mut src = [0u8; 16];
    let mut dst = [0u8; 16];
    src.copy_from_slice(&out[8..24]);
    dst.copy_from_slice(&out[24..40]);
    let sum = internet_checksum(pseudo_header_v6(&src, &dst, l4_len, PROTO_UDP), l4);
    // RFC 768: a computed 0 is sent as all ones.
    let sum = if sum == 0 { 0xffff } else { sum };
    out[IPV6_HEADER_LEN + 6..IPV6_HEADER_LEN + 8].copy_from_slice(&sum.to_be_bytes());
}

fn v6_octets(a: IpAddr) -> [u8; 16] {
    match a {
        IpAddr::V6(a) => a.octets(),
        IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
    }
}

fn write_udp(udp: &mut [u8], ports: crate::sa::UdpEncap, len: usize, sum: u16) {
    udp[0..2].copy_from_slice(&ports.src_port.to_be_bytes());
    udp[2..4].copy_from_slice(&ports.dst_port.to_be_bytes());
    udp[4..6].copy_from_slice(&(len as u16).to_be_bytes());
    udp[6..8].copy_from_slice(&sum.to_be_bytes());
}

/// What [`parse_outer`] found around the ESP part of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outer {
    /// Outer IP version (4 or 6).
    pub version: u8,
    /// Offset of the ESP header (the SPI) in the packet.
    pub esp_start: usize,
    /// End of the ESP part (end of the IP packet; trailing link padding excluded).
    pub esp_end: usize,
    /// UDP destination port, if the packet is ESP-in-UDP.
    pub udp_dst_port: Option<u16>,
}

/// Parses and checks the outer headers of `packet`.
///
/// `udp` says whether the SA expects ESP-in-UDP (then the packet must be UDP
/// and must not be IKE or a keepalive) or plain ESP.
pub fn parse_outer(packet: &[u8], udp: bool) -> Result<Outer, EspError> {
    let first = *packet.first().ok_or(M::OuterEmpty)?;
    let (version, proto, l4_start, ip_end) = match first >> 4 {
        4 => {
            if packet.len() < IPV4_HEADER_LEN {
                return Err(M::Ipv4Truncated.into());
            }
            let ihl = first & 0x0f;
            if ihl < 5 {
                return Err(M::Ipv4BadIhl { ihl }.into());
            }
            let hlen = usize::from(ihl) * 4;
            let header = packet.get(..hlen).ok_or(M::Ipv4Truncated)?;
            let total_len = u16::from_be_bytes([packet[2], packet[3]]);
            if usize::from(total_len) < hlen || usize::from(total_len) > packet.len() {
                return Err(M::Ipv4BadTotalLength {
                    total_len,
                    available: packet.len(),
                }
                .into());
            }
            if internet_checksum(0, header) != 0 {
                return Err(M::Ipv4BadChecksum.into());
            }
            let frag = u16::from_be_bytes([packet[6], packet[7]]);
            if frag & 0x3fff != 0 {
                return Err(M::Ipv4Fragment.into());
            }
            (4, packet[9], hlen, usize::from(total_len))
        }
        6 => {
            if packet.len() < IPV6_HEADER_LEN {
                return Err(M::Ipv6Truncated.into());
            }
            let payload_len = u16::from_be_bytes([packet[4], packet[5]]);
            let available = packet.len() - IPV6_HEADER_LEN;
            if usize::from(payload_len) > available {
                return Err(M::Ipv6BadPayloadLength {
                    payload_len,
                    available,
                }
                .into());
            }
            (
                6,
                packet[6],
                IPV6_HEADER_LEN,
                IPV6_HEADER_LEN + usize::from(payload_len),
            )
        }
        version => return Err(M::OuterNotIp { version }.into()),
    };
    let expected = if udp { PROTO_UDP } else { PROTO_ESP };
    if proto != expected {
        return Err(M::NotEsp {
            protocol: proto,
            expected,
        }
        .into());
    }
    if !udp {
        return Ok(Outer {
            version,
            esp_start: l4_start,
            esp_end: ip_end,
            udp_dst_port: None,
        });
    }
    let l4 = &packet[l4_start..ip_end];
    if l4.len() < UDP_HEADER_LEN {
        return Err(M::UdpTruncated.into());
    }
    let udp_len = u16::from_be_bytes([l4[4], l4[5]]);
    if usize::from(udp_len) != l4.len() {
        return Err(M::UdpBadLength {
            udp_len,
            ip_payload_len: l4.len(),
        }
        .into());
    }
    let sum = u16::from_be_bytes([l4[6], l4[7]]);
    if version == 6 {
        if sum == 0 {
            return Err(M::UdpZeroChecksumV6.into());
        }
        let mut src = [0u8; 16];
        let mut dst = [0u8; 16];
        src.copy_from_slice(&packet[8..24]);
        dst.copy_from_slice(&packet[24..40]);
        if internet_checksum(pseudo_header_v6(&src, &dst, l4.len(), PROTO_UDP), l4) != 0 {
            return Err(M::UdpBadChecksum.into());
        }
    }
    let payload = &l4[UDP_HEADER_LEN..];
    if payload == [0xff] {
        return Err(M::NatKeepalive.into());
    }
    if payload.len() >= 4 && payload[..4] == [0, 0, 0, 0] {
        return Err(M::NonEspMarker.into());
    }
    Ok(Outer {
        version,
        esp_start: l4_start + UDP_HEADER_LEN,
        esp_end: ip_end,
        udp_dst_port: Some(u16::from_be_bytes([l4[2], l4[3]])),
    })
}

/// The SPI of an ESP packet (plain or in UDP), or `None` if `packet` is not
/// a well-formed ESP packet as far as its outer headers go. For SA lookup.
pub fn peek_spi(packet: &[u8]) -> Option<u32> {
    let proto = match packet.first()? >> 4 {
        4 => *packet.get(9)?,
        6 => *packet.get(6)?,
        _ => return None,
    };
    let outer = parse_outer(packet, proto == PROTO_UDP).ok()?;
    let spi = packet.get(outer.esp_start..outer.esp_start + 4)?;
    Some(u32::from_be_bytes([spi[0], spi[1], spi[2], spi[3]]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sa::UdpEncap;

    fn tunnel(src: &str, dst: &str, udp: bool) -> Tunnel {
        Tunnel {
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            udp_encap: udp.then_some(UdpEncap {
                src_port: 4500,
                dst_port: 4500,
            }),
        }
    }

    fn build(t: &Tunnel, esp: &[u8]) -> Vec<u8> {
        let hdr = outer_len(t);
        let mut out = vec![0u8; hdr + esp.len()];
        out[hdr..].copy_from_slice(esp);
        write_outer(t, &mut out, esp.len(), 7);
        finish_outer(&mut out);
        out
    }

    #[test]
    fn ipv4_header_fields_and_checksum_for_any_addresses() {
        let cases = [
            ("192.0.2.1", "192.0.2.2", false, 0usize, 7u32),
            (
                "255.255.255.254",
                "255.255.255.255",
                true,
                1460,
                0xffff_ffff,
            ),
            ("0.0.0.0", "10.255.0.1", false, 9000, 0x1_0000),
        ];
        for (src, dst, udp, len, seq) in cases {
            let t = tunnel(src, dst, udp);
            let mut out = vec![0u8; outer_len(&t) + len];
            write_outer(&t, &mut out, len, seq);
            let ip = &out[..IPV4_HEADER_LEN];
            assert_eq!(internet_checksum(0, ip), 0, "{src} -> {dst}");
            let total = IPV4_HEADER_LEN + len + if udp { UDP_HEADER_LEN } else { 0 };
            assert_eq!(&ip[..2], &[0x45, 0]);
            assert_eq!(usize::from(u16::from_be_bytes([ip[2], ip[3]])), total);
            assert_eq!(&ip[4..6], &(seq as u16).to_be_bytes());
            assert_eq!(
                &ip[6..10],
                &[0, 0, OUTER_TTL, if udp { PROTO_UDP } else { PROTO_ESP }]
            );
            assert_eq!(
                ip[12..16],
                src.parse::<std::net::Ipv4Addr>().unwrap().octets()
            );
            assert_eq!(
                ip[16..20],
                dst.parse::<std::net::Ipv4Addr>().unwrap().octets()
            );
        }
    }

    #[test]
    fn ipv4_roundtrip_and_checksum() {
        let t = tunnel("192.0.2.1", "192.0.2.2", false);
        let p = build(&t, &[0, 0, 0xc0, 0x01, 0, 0, 0, 7]);
        assert_eq!(internet_checksum(0, &p[..20]), 0);
        let o = parse_outer(&p, false).unwrap();
        assert_eq!((o.version, o.esp_start, o.esp_end), (4, 20, 28));
        assert_eq!(peek_spi(&p), Some(0xc001));
    }

    #[test]
    fn ipv6_udp_roundtrip_and_checksum() {
        let t = tunnel("2001:db8::1", "2001:db8::2", true);
        let p = build(&t, &[0, 0, 0x12, 0x34, 0, 0, 0, 1, 9, 9]);
        let o = parse_outer(&p, true).unwrap();
        assert_eq!(o.esp_start, 48);
        assert_eq!(o.udp_dst_port, Some(4500));
        assert_eq!(peek_spi(&p), Some(0x1234));
        let mut bad = p.clone();
        bad[50] ^= 1;
        assert_eq!(
            parse_outer(&bad, true),
            Err(EspError::Malformed(M::UdpBadChecksum))
        );
    }

    #[test]
    fn rejects_bad_ipv4() {
        let t = tunnel("192.0.2.1", "192.0.2.2", false);
        let p = build(&t, &[0; 8]);
        let mut bad = p.clone();
        bad[8] = 1; // TTL change without checksum update
        assert_eq!(
            parse_outer(&bad, false),
            Err(EspError::Malformed(M::Ipv4BadChecksum))
        );
        assert!(matches!(
            parse_outer(&p[..10], false),
            Err(EspError::Malformed(M::Ipv4Truncated))
        ));
        assert!(matches!(
            parse_outer(&p, true),
            Err(EspError::Malformed(M::NotEsp { protocol: 50, .. }))
        ));
        assert_eq!(peek_spi(&[]), None);
    }

    #[test]
    fn ike_and_keepalive_are_not_esp() {
        let t = tunnel("192.0.2.1", "192.0.2.2", true);
        let ike = build(&t, &[0, 0, 0, 0, 1, 2, 3, 4]);
        assert_eq!(
            parse_outer(&ike, true),
            Err(EspError::Malformed(M::NonEspMarker))
        );
        let ka = build(&t, &[0xff]);
        assert_eq!(
            parse_outer(&ka, true),
            Err(EspError::Malformed(M::NatKeepalive))
        );
    }
}
