//! The header's `messageTime`: a GeneralizedTime kept as received.
//!
//! DER requires `YYYYMMDDHHMMSSZ`, but deployed CMP clients send other
//! GeneralizedTime forms (the Siemens test suite has a Go client's
//! `20240216102207+0100`). Rejecting the whole message over the time would
//! be unhelpful, and re-encoding it differently would break its
//! protection, so the text is kept verbatim and parsed on demand.

use std::fmt;
use std::time::Duration;

use der::asn1::GeneralizedTime;
use der::{DateTime, DecodeValue, EncodeValue, FixedTag, Header, Length, Reader, Tag, Writer};

/// A GeneralizedTime value, byte-exact.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct MessageTime(String);

/// Longest GeneralizedTime text accepted (with fraction and offset).
const MAX_LEN: usize = 32;

impl MessageTime {
    /// The DER form (`YYYYMMDDHHMMSSZ`) of a Unix time in seconds.
    pub fn from_unix(secs: u64) -> der::Result<Self> {
        let dt = DateTime::from_unix_duration(Duration::from_secs(secs))?;
        Ok(MessageTime(format!(
            "{:04}{:02}{:02}{:02}{:02}{:02}Z",
            dt.year(),
            dt.month(),
            dt.day(),
            dt.hour(),
            dt.minutes(),
            dt.seconds()
        )))
    }

    /// The text as received.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is the DER form (`YYYYMMDDHHMMSSZ`).
    pub fn is_der(&self) -> bool {
        let mut buf = Vec::with_capacity(self.0.len() + 2);
        buf.push(0x18);
        buf.push(self.0.len() as u8);
        buf.extend_from_slice(self.0.as_bytes());
        <GeneralizedTime as der::Decode>::from_der(&buf).is_ok()
    }

    /// Seconds since the Unix epoch, if the text is a GeneralizedTime with
    /// `Z` or a `+hhmm`/`-hhmm` offset (fractions of a second are dropped).
    /// Local times without a zone are ambiguous and give `None`.
    pub fn to_unix(&self) -> Option<u64> {
        let s = self.0.as_bytes();
        let digits = |r: std::ops::Range<usize>| -> Option<u32> {
            let part = s.get(r)?;
            if !part.iter().all(u8::is_ascii_digit) {
                return None;
            }
            std::str::from_utf8(part).ok()?.parse().ok()
        };
        let dt = DateTime::new(
            digits(0..4)? as u16,
            digits(4..6)? as u8,
            digits(6..8)? as u8,
            digits(8..10)? as u8,
            digits(10..12)? as u8,
            digits(12..14)? as u8,
        )
        .ok()?;
        let mut rest = s.get(14..)?;
        if let Some((b'.' | b',', frac)) = rest.split_first() {
            let n = frac.iter().take_while(|b| b.is_ascii_digit()).count();
            if n == 0 {
                return None;
            }
            rest = frac.get(n..)?;
        }
        let base = dt.unix_duration().as_secs() as i64;
        let offset = match rest {
            b"Z" => 0,
            [sign @ (b'+' | b'-'), ..] if rest.len() == 5 => {
                let off = |r: std::ops::Range<usize>| -> Option<i64> {
                    let part = rest.get(r)?;
                    if !part.iter().all(u8::is_ascii_digit) {
                        return None;
                    }
                    std::str::from_utf8(part).ok()?.parse().ok()
                };
                let (h, m) = (off(1..3)?, off(3..5)?);
                if h > 23 || m > 59 {
                    return None;
                }
                let secs = h * 3600 + m * 60;
                if *sign == b'+' { secs } else { -secs }
            }
            _ => return None,
        };
        u64::try_from(base - offset).ok()
    }
}

impl fmt::Debug for MessageTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MessageTime({})", self.0)
    }
}

impl fmt::Display for MessageTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FixedTag for MessageTime {
    const TAG: Tag = Tag::GeneralizedTime;
}

impl<'a> DecodeValue<'a> for MessageTime {
    type Error = der::Error;

    fn decode_value<R: Reader<'a>>(reader: &mut R, header: Header) -> der::Result<Self> {
        let len = usize::try_from(header.length())?;
        if len > MAX_LEN {
            return Err(Self::TAG.length_error().into());
        }
        let bytes = reader.read_vec(header.length())?;
        // Only the characters a GeneralizedTime can contain.
        if bytes.len() < 10
            || !bytes
                .iter()
                .all(|b| b.is_ascii_digit() || matches!(b, b'Z' | b'+' | b'-' | b'.' | b','))
        {
            return Err(Self::TAG.value_error().into());
        }
        String::from_utf8(bytes)
            .map(MessageTime)
            .map_err(|_| Self::TAG.value_error().into())
    }
}

impl EncodeValue for MessageTime {
    fn value_len(&self) -> der::Result<Length> {
        Length::try_from(self.0.len())
    }

    fn encode_value(&self, writer: &mut impl Writer) -> der::Result<()> {
        writer.write(self.0.as_bytes())
    }
}
