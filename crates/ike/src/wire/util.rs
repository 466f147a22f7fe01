//! Bounds-checked helpers shared by the codec.

use super::WireError;

/// Splits the fixed-size part `N` off the front of `b`, or says that
/// `what` is truncated.
pub(crate) fn fixed<'a, const N: usize>(
    b: &'a [u8],
    what: &'static str,
) -> Result<(&'a [u8; N], &'a [u8]), WireError> {
    b.split_first_chunk::<N>().ok_or(WireError::Truncated {
        what,
        need: N,
        have: b.len(),
    })
}

/// A big-endian u16 from two bytes.
pub(crate) fn be16(hi: u8, lo: u8) -> u16 {
    u16::from_be_bytes([hi, lo])
}

/// Overwrites the two-byte big-endian length at `at` with `value`
/// (nothing if `out` is too short, which the encoders never let happen).
pub(crate) fn patch_u16(out: &mut [u8], at: usize, value: u16) {
    if let Some(slot) = out.get_mut(at..).and_then(|s| s.first_chunk_mut::<2>()) {
        *slot = value.to_be_bytes();
    }
}

/// `len` as a u16 length field (saturating: the encoders document that
/// structures must stay below 64 KiB).
pub(crate) fn len16(len: usize) -> u16 {
    u16::try_from(len).unwrap_or(u16::MAX)
}
