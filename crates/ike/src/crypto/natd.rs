//! NAT detection (RFC 7296 2.23).

use std::net::IpAddr;

use sha1::{Digest, Sha1};

/// The data of a NAT_DETECTION_SOURCE_IP or NAT_DETECTION_DESTINATION_IP
/// notification: `SHA-1(SPIi | SPIr | IP address | port)`, the address in
/// its 4 or 16 bytes and the port as 2 bytes, big-endian.
pub fn nat_hash(spi_i: u64, spi_r: u64, addr: IpAddr, port: u16) -> [u8; 20] {
    let mut h = Sha1::new();
    h.update(spi_i.to_be_bytes());
    h.update(spi_r.to_be_bytes());
    match addr {
        IpAddr::V4(a) => h.update(a.octets()),
        IpAddr::V6(a) => h.update(a.octets()),
    }
    h.update(port.to_be_bytes());
    h.finalize().into()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn known_values() {
        // Computed once with Python's hashlib.sha1 over the same bytes.
        let (i, r) = (0x0102030405060708, 0x1112131415161718);
        assert_eq!(
            hex(&nat_hash(i, r, "192.0.2.1".parse().unwrap(), 500)),
            "d798d986143f878f70765e0e869c80bbc375f701"
        );
        assert_eq!(
            hex(&nat_hash(i, r, "2001:db8::1".parse().unwrap(), 4500)),
            "1ee24423bf8f59515e0265c6d0f08be3d038f7e5"
        );
        assert_ne!(
            nat_hash(i, r, "192.0.2.1".parse().unwrap(), 500),
            nat_hash(i, r, "192.0.2.1".parse().unwrap(), 4500)
        );
    }
}
