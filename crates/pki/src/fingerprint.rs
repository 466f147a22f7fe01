//! Certificate and request fingerprints: lowercase hex pairs joined by `:`,
//! as Junos and `openssl x509 -fingerprint` print them (OpenSSL in upper case).

use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256};

fn colon_hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// SHA-1 fingerprint of DER bytes.
pub fn sha1(der: &[u8]) -> String {
    colon_hex(&Sha1::digest(der))
}

/// MD5 fingerprint of DER bytes (display only, never for security).
pub fn md5(der: &[u8]) -> String {
    colon_hex(&Md5::digest(der))
}

/// SHA-256 fingerprint of DER bytes.
pub fn sha256(der: &[u8]) -> String {
    colon_hex(&Sha256::digest(der))
}

/// The colon-hex form of any bytes (public-key dumps, serials).
pub fn hex_pairs(bytes: &[u8]) -> String {
    colon_hex(bytes)
}

#[cfg(test)]
mod tests {
    #[test]
    fn known_values() {
        assert_eq!(
            super::md5(b""),
            "d4:1d:8c:d9:8f:00:b2:04:e9:80:09:98:ec:f8:42:7e"
        );
        assert_eq!(
            super::sha1(b"abc"),
            "a9:99:3e:36:47:06:81:6a:ba:3e:25:71:78:50:c2:6c:9c:d0:d8:9d"
        );
    }
}
