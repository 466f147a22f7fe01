//! The IKE header (RFC 7296 3.1).

use super::WireError;
use super::consts::flags;
use super::util::fixed;

/// The length of the IKE header.
pub const HEADER_LEN: usize = 28;

/// The version byte of IKEv2 messages: major 2, minor 0.
pub const VERSION_2_0: u8 = 0x20;

/// Exchange types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exchange {
    /// IKE_SA_INIT (34).
    IkeSaInit,
    /// IKE_AUTH (35).
    IkeAuth,
    /// CREATE_CHILD_SA (36).
    CreateChildSa,
    /// INFORMATIONAL (37).
    Informational,
    /// Any other exchange type.
    Other(u8),
}

impl Exchange {
    /// The exchange type number.
    pub fn code(self) -> u8 {
        match self {
            Exchange::IkeSaInit => 34,
            Exchange::IkeAuth => 35,
            Exchange::CreateChildSa => 36,
            Exchange::Informational => 37,
            Exchange::Other(code) => code,
        }
    }

    /// The exchange of a type number (`Other` for unknown numbers).
    pub fn from_code(code: u8) -> Self {
        match code {
            34 => Exchange::IkeSaInit,
            35 => Exchange::IkeAuth,
            36 => Exchange::CreateChildSa,
            37 => Exchange::Informational,
            other => Exchange::Other(other),
        }
    }
}

/// The fixed 28-byte IKE header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The IKE SA initiator's SPI.
    pub spi_i: u64,
    /// The IKE SA responder's SPI (zero in the first IKE_SA_INIT request).
    pub spi_r: u64,
    /// The type of the first payload.
    pub next_payload: u8,
    /// Major version (high nibble) and minor version (low nibble): 0x20.
    pub version: u8,
    /// The exchange type.
    pub exchange: Exchange,
    /// The flags ([`flags`]).
    pub flags: u8,
    /// The message ID.
    pub message_id: u32,
    /// The length of the whole message, header included.
    pub length: u32,
}

impl Header {
    /// Parses the first 28 bytes of `b`. The major version must be 2
    /// (else [`WireError::Version`] with the major version received); the
    /// minor version is not checked, nor is `length` (see
    /// [`parse_message`](super::parse_message)).
    pub fn parse(b: &[u8]) -> Result<Header, WireError> {
        let (h, _) = fixed::<HEADER_LEN>(b, "IKE header")?;
        let [
            i0,
            i1,
            i2,
            i3,
            i4,
            i5,
            i6,
            i7,
            r0,
            r1,
            r2,
            r3,
            r4,
            r5,
            r6,
            r7,
            next_payload,
            version,
            exchange,
            flags,
            m0,
            m1,
            m2,
            m3,
            l0,
            l1,
            l2,
            l3,
        ] = *h;
        let major = version >> 4;
        if major != 2 {
            return Err(WireError::Version(major));
        }
        Ok(Header {
            spi_i: u64::from_be_bytes([i0, i1, i2, i3, i4, i5, i6, i7]),
            spi_r: u64::from_be_bytes([r0, r1, r2, r3, r4, r5, r6, r7]),
            next_payload,
            version,
            exchange: Exchange::from_code(exchange),
            flags,
            message_id: u32::from_be_bytes([m0, m1, m2, m3]),
            length: u32::from_be_bytes([l0, l1, l2, l3]),
        })
    }

    /// Appends the 28 header bytes, exactly as the fields say.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.spi_i.to_be_bytes());
        out.extend_from_slice(&self.spi_r.to_be_bytes());
        out.push(self.next_payload);
        out.push(self.version);
        out.push(self.exchange.code());
        out.push(self.flags);
        out.extend_from_slice(&self.message_id.to_be_bytes());
        out.extend_from_slice(&self.length.to_be_bytes());
    }

    /// Whether the R (response) flag is set.
    pub fn is_response(&self) -> bool {
        self.flags & flags::RESPONSE != 0
    }

    /// Whether the I (original initiator) flag is set.
    pub fn is_initiator(&self) -> bool {
        self.flags & flags::INITIATOR != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Header {
        Header {
            spi_i: 0x0102_0304_0506_0708,
            spi_r: 0x1112_1314_1516_1718,
            next_payload: 33,
            version: VERSION_2_0,
            exchange: Exchange::IkeSaInit,
            flags: flags::INITIATOR,
            message_id: 0x2122_2324,
            length: 0x3132_3334,
        }
    }

    #[test]
    fn round_trip() {
        let h = sample();
        let mut b = Vec::new();
        h.encode(&mut b);
        assert_eq!(b.len(), HEADER_LEN);
        assert_eq!(
            b,
            [
                1, 2, 3, 4, 5, 6, 7, 8, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 33, 0x20,
                34, 0x08, 0x21, 0x22, 0x23, 0x24, 0x31, 0x32, 0x33, 0x34
            ]
        );
        assert_eq!(Header::parse(&b), Ok(h));
        assert!(h.is_initiator());
        assert!(!h.is_response());
        // Extra bytes after the header are not the header's business.
        b.extend_from_slice(&[9; 10]);
        assert_eq!(Header::parse(&b), Ok(h));
    }

    #[test]
    fn exchanges() {
        for code in 0..=255u8 {
            assert_eq!(Exchange::from_code(code).code(), code);
        }
        assert_eq!(Exchange::from_code(37), Exchange::Informational);
        assert_eq!(Exchange::from_code(40), Exchange::Other(40));
    }

    #[test]
    fn response_flag() {
        let h = Header {
            flags: flags::RESPONSE,
            ..sample()
        };
        assert!(h.is_response());
        assert!(!h.is_initiator());
    }

    #[test]
    fn truncated() {
        let mut b = Vec::new();
        sample().encode(&mut b);
        for n in 0..HEADER_LEN {
            assert_eq!(
                Header::parse(&b[..n]),
                Err(WireError::Truncated {
                    what: "IKE header",
                    need: HEADER_LEN,
                    have: n
                })
            );
        }
    }

    #[test]
    fn versions() {
        let mut b = Vec::new();
        sample().encode(&mut b);
        b[17] = 0x10;
        assert_eq!(Header::parse(&b), Err(WireError::Version(1)));
        b[17] = 0x30;
        assert_eq!(Header::parse(&b), Err(WireError::Version(3)));
        b[17] = 0x21; // minor versions are accepted
        assert_eq!(Header::parse(&b).map(|h| h.version), Ok(0x21));
    }
}
