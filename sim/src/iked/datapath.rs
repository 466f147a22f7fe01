//! The tunnel's packets around the card: the router's inside (a TUN
//! interface, or a channel in tests and the lab), and the outer framing of
//! ESP in UDP (RFC 3948) between the card's packets and the port-4500
//! socket.

use std::net::{IpAddr, SocketAddr};

use esp::wire::internet_checksum;
use tokio::sync::mpsc;

/// The router's inside: where clear packets come from and go to.
pub enum Inside {
    /// A TUN interface to create when kmd starts (its runtime must exist
    /// to register the device).
    TunNamed(String),
    /// A TUN interface (a network namespace's routes lead into it).
    Tun(tun::AsyncDevice),
    /// In-process: packets the test or the lab injects, and those the
    /// router delivers.
    Channel {
        /// Packets to encapsulate.
        from_host: mpsc::Receiver<Vec<u8>>,
        /// Decapsulated packets.
        to_host: mpsc::Sender<Vec<u8>>,
    },
    /// No inside (IKE only).
    None,
}

impl Inside {
    /// The TUN interface `name`, created (up, without addresses: the
    /// namespace's own `ip addr`/`ip route` decide what enters it) when
    /// kmd starts.
    pub fn tun(name: &str) -> Inside {
        Inside::TunNamed(name.to_string())
    }

    /// Creates a named TUN interface; must run inside the tokio runtime.
    pub(super) fn open(self) -> Result<Inside, String> {
        let Inside::TunNamed(name) = self else {
            return Ok(self);
        };
        let mut cfg = tun::Configuration::default();
        cfg.tun_name(&name).mtu(1400).up();
        tun::create_as_async(&cfg)
            .map(Inside::Tun)
            .map_err(|e| format!("cannot create TUN interface {name}: {e}"))
    }

    /// The next packet from the host (pending forever when there is no
    /// inside).
    pub async fn recv(&mut self) -> Option<Vec<u8>> {
        match self {
            Inside::Tun(dev) => {
                let mut buf = vec![0u8; 2048];
                match dev.recv(&mut buf).await {
                    Ok(n) => {
                        buf.truncate(n);
                        Some(buf)
                    }
                    Err(e) => {
                        tracing::warn!(target: "kmd", "TUN read: {e}");
                        None
                    }
                }
            }
            Inside::Channel { from_host, .. } => from_host.recv().await,
            Inside::None | Inside::TunNamed(_) => std::future::pending().await,
        }
    }

    /// Delivers a decapsulated packet to the host.
    pub async fn send(&mut self, packet: &[u8]) {
        match self {
            Inside::Tun(dev) => {
                if let Err(e) = dev.send(packet).await {
                    tracing::warn!(target: "kmd", "TUN write: {e}");
                }
            }
            Inside::Channel { to_host, .. } => {
                let _ = to_host.send(packet.to_vec()).await;
            }
            Inside::None | Inside::TunNamed(_) => {}
        }
    }
}

/// The destination and source addresses of an inner IP packet.
pub fn inner_addresses(packet: &[u8]) -> Option<(IpAddr, IpAddr)> {
    match packet.first()? >> 4 {
        4 if packet.len() >= 20 => {
            let s: [u8; 4] = packet.get(12..16)?.try_into().ok()?;
            let d: [u8; 4] = packet.get(16..20)?.try_into().ok()?;
            Some((IpAddr::from(s), IpAddr::from(d)))
        }
        6 if packet.len() >= 40 => {
            let s: [u8; 16] = packet.get(8..24)?.try_into().ok()?;
            let d: [u8; 16] = packet.get(24..40)?.try_into().ok()?;
            Some((IpAddr::from(s), IpAddr::from(d)))
        }
        _ => None,
    }
}

/// The UDP payload (the ESP packet) and its destination from an outer
/// packet the card encapsulated: IPv4, UDP, ESP.
pub fn udp_payload(outer: &[u8]) -> Option<(SocketAddr, &[u8])> {
    let first = *outer.first()?;
    if first >> 4 != 4 || outer.get(9) != Some(&17) {
        return None;
    }
    let hlen = usize::from(first & 0x0f) * 4;
    let dst: [u8; 4] = outer.get(16..20)?.try_into().ok()?;
    let udp = outer.get(hlen..hlen + 8)?;
    let port = u16::from_be_bytes([udp[2], udp[3]]);
    Some((
        SocketAddr::new(IpAddr::from(dst), port),
        outer.get(hlen + 8..)?,
    ))
}

/// The outer packet the card decapsulates, rebuilt around an ESP packet
/// that arrived on the UDP socket: IPv4 (with its checksum) and UDP (no
/// checksum, RFC 3948 2.1).
pub fn udp_outer(from: SocketAddr, to: SocketAddr, esp: &[u8]) -> Option<Vec<u8>> {
    let (IpAddr::V4(src), IpAddr::V4(dst)) = (from.ip(), to.ip()) else {
        return None;
    };
    let total = 20 + 8 + esp.len();
    let total16 = u16::try_from(total).ok()?;
    let mut p = Vec::with_capacity(total);
    p.extend_from_slice(&[0x45, 0, 0, 0, 0, 0, 0, 0, 64, 17, 0, 0]);
    p[2..4].copy_from_slice(&total16.to_be_bytes());
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    let sum = internet_checksum(0, &p[..20]);
    p[10..12].copy_from_slice(&sum.to_be_bytes());
    p.extend_from_slice(&from.port().to_be_bytes());
    p.extend_from_slice(&to.port().to_be_bytes());
    p.extend_from_slice(&(total16 - 20).to_be_bytes());
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(esp);
    Some(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outer_round_trip() {
        let from: SocketAddr = "192.0.2.2:4500".parse().unwrap();
        let to: SocketAddr = "192.0.2.1:4500".parse().unwrap();
        let p = udp_outer(from, to, b"ESPDATA!").unwrap();
        assert_eq!(internet_checksum(0, &p[..20]), 0);
        let (dst, payload) = udp_payload(&p).unwrap();
        assert_eq!(dst, to);
        assert_eq!(payload, b"ESPDATA!");
        assert!(udp_payload(&p[..10]).is_none());
        assert_eq!(inner_addresses(&p), Some((from.ip(), to.ip())));
    }
}
