//! Junos `$9$` secrets: the reversible obfuscation Junos shows instead of a
//! password (`challenge-password "$9$..."; ## SECRET-DATA`).
//!
//! It is obfuscation, not encryption: it keeps a secret off screens, logs
//! and `show` output, and lets the configuration text round-trip. The
//! alphabet and weight table are the ones every `$9$` implementation uses
//! (Perl `Crypt::Juniper`). Junos picks the salt at random; here it is
//! derived from the plain text so rendering is deterministic (stable
//! `show | compare`, reproducible files) without reading a random source.

const MAGIC: &str = "$9$";
const FAMILY: [&str; 4] = [
    "QzF3n6/9CAtpu0O",
    "B1IREhcSyrleKvMW8LXx",
    "7N-dVbwsY2g4oaJZGUDj",
    "iHkq.mPf5T",
];
const ALPHABET: &[u8; 65] = b"QzF3n6/9CAtpu0OB1IREhcSyrleKvMW8LXx7N-dVbwsY2g4oaJZGUDjiHkq.mPf5T";
const ENCODING: [&[u32]; 7] = [
    &[1, 4, 32],
    &[1, 16, 32],
    &[1, 8, 32],
    &[1, 64],
    &[1, 32],
    &[1, 4, 16, 128],
    &[1, 32, 64],
];

fn index_of(c: u8) -> Option<usize> {
    ALPHABET.iter().position(|&a| a == c)
}

/// How many filler characters follow the salt character `c`.
fn extra(c: u8) -> usize {
    FAMILY
        .iter()
        .position(|f| f.as_bytes().contains(&c))
        .map_or(0, |family| 3 - family)
}

fn alpha(i: usize) -> u8 {
    ALPHABET[i % ALPHABET.len()]
}

/// Encodes `plain` as a `$9$` string.
pub fn encode(plain: &str) -> String {
    // FNV-1a of the plain text seeds the salt and the filler.
    let mut seed: u64 = 0xcbf2_9ce4_8422_2325;
    for b in plain.bytes() {
        seed ^= u64::from(b);
        seed = seed.wrapping_mul(0x0100_0000_01b3);
    }
    let mut next = || {
        seed ^= seed >> 33;
        seed = seed.wrapping_mul(0xff51_afd7_ed55_8ccd);
        seed ^= seed >> 33;
        (seed % ALPHABET.len() as u64) as usize
    };
    let salt = alpha(next());
    let mut out = Vec::with_capacity(MAGIC.len() + 4 + plain.len() * 4);
    out.extend_from_slice(MAGIC.as_bytes());
    out.push(salt);
    for _ in 0..extra(salt) {
        out.push(alpha(next()));
    }
    let mut prev = salt;
    for (pos, byte) in plain.bytes().enumerate() {
        let weights = ENCODING[pos % ENCODING.len()];
        let mut value = u32::from(byte);
        let mut gaps = vec![0u32; weights.len()];
        for (gap, &w) in gaps.iter_mut().zip(weights.iter()).rev() {
            *gap = value / w;
            value %= w;
        }
        for gap in gaps {
            let at = gap as usize + index_of(prev).unwrap_or(0) + 1;
            prev = alpha(at);
            out.push(prev);
        }
    }
    // Every byte pushed is ASCII from MAGIC or ALPHABET.
    String::from_utf8_lossy(&out).into_owned()
}

/// Decodes a `$9$` string; `None` if `text` is not one (wrong prefix,
/// characters outside the alphabet, truncated, or not UTF-8 once decoded).
pub fn decode(text: &str) -> Option<String> {
    let body = text.strip_prefix(MAGIC)?.as_bytes();
    let (&salt, rest) = body.split_first()?;
    index_of(salt)?;
    let mut chars = rest.get(extra(salt)..)?;
    if chars.is_empty() {
        return None;
    }
    let mut prev = salt;
    let mut plain = Vec::new();
    while !chars.is_empty() {
        let weights = ENCODING[plain.len() % ENCODING.len()];
        let nibble = chars.get(..weights.len())?;
        chars = &chars[weights.len()..];
        let mut value: i64 = 0;
        for (&c, &w) in nibble.iter().zip(weights.iter()) {
            let gap = (index_of(c)? as i64 - index_of(prev)? as i64).rem_euclid(65) - 1;
            value += gap * i64::from(w);
            prev = c;
        }
        plain.push(value.rem_euclid(256) as u8);
    }
    String::from_utf8(plain).ok()
}

/// Whether `text` is a well-formed `$9$` string.
pub fn is_encoded(text: &str) -> bool {
    decode(text).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vectors() {
        assert_eq!(decode("$9$FNkC3/t1IcevLuOWx").as_deref(), Some("hello"));
        assert_eq!(decode("$9$o1aGiPfz/Cuk.tO").as_deref(), Some("hello"));
    }

    #[test]
    fn round_trip() {
        for s in [
            "a",
            "hello",
            "s3cret pass \"word\"",
            "äöü €",
            "0123456789abcdefghij",
        ] {
            let e = encode(s);
            assert!(e.starts_with("$9$"));
            assert!(!e.contains(s));
            assert_eq!(decode(&e).as_deref(), Some(s), "{e}");
            assert_eq!(encode(s), e, "deterministic");
        }
    }

    #[test]
    fn garbage_is_not_a_secret() {
        for s in ["", "$9$", "$9$Q", "$9$!!!!", "$9$Qzzz~", "hello", "$9$B"] {
            assert_eq!(decode(s), None, "{s}");
        }
    }
}
