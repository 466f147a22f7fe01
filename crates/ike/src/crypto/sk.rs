//! The Encrypted payload (SK, RFC 7296 3.14) and the Encrypted Fragment
//! payload (SKF, RFC 7383): AES-CBC with a random IV, then an ICV over the
//! whole datagram up to the ICV.
//!
//! The content of an SK or SKF payload (after its generic header, and for
//! SKF after the fragment number and total) is `IV | ciphertext | ICV`; the
//! plaintext is `inner payloads | padding | pad length`. The caller's codec
//! supplies the bytes in front of the content (the IKE header and the
//! payload header) through a `prefix_of` closure, since the lengths in them
//! depend on the content length.

use aes::cipher::array::Array;
use aes::cipher::{BlockCipherDecrypt, BlockCipherEncrypt, BlockModeDecrypt, BlockModeEncrypt};
use aes::cipher::{KeyInit, KeyIvInit};
use zeroize::Zeroizing;

use super::CryptoError;
use super::keys::IkeKeys;
use super::suite::Encr;

/// The AES block (and IV) length.
const BLOCK: usize = 16;

fn check_key(encr: Encr, key: &[u8]) -> Result<(), CryptoError> {
    if key.len() == encr.key_len() {
        Ok(())
    } else {
        Err(CryptoError::KeyLength {
            what: "SK_e",
            expected: encr.key_len(),
            got: key.len(),
        })
    }
}

fn bad_key(key: &[u8], encr: Encr) -> CryptoError {
    CryptoError::KeyLength {
        what: "SK_e",
        expected: encr.key_len(),
        got: key.len(),
    }
}

fn encrypt_with<C: BlockCipherEncrypt + KeyInit>(
    key: &[u8],
    iv: &[u8; BLOCK],
    buf: &mut [u8],
) -> Result<(), ()> {
    let mut enc = cbc::Encryptor::<C>::new_from_slices(key, iv).map_err(|_| ())?;
    let (blocks, rest) = Array::slice_as_chunks_mut(buf);
    if !rest.is_empty() {
        return Err(());
    }
    enc.encrypt_blocks(blocks);
    Ok(())
}

fn decrypt_with<C: BlockCipherDecrypt + KeyInit>(
    key: &[u8],
    iv: &[u8],
    buf: &mut [u8],
) -> Result<(), ()> {
    let mut dec = cbc::Decryptor::<C>::new_from_slices(key, iv).map_err(|_| ())?;
    let (blocks, rest) = Array::slice_as_chunks_mut(buf);
    if !rest.is_empty() {
        return Err(());
    }
    dec.decrypt_blocks(blocks);
    Ok(())
}

/// CBC-encrypts `buf` (whole blocks) in place.
fn cbc_encrypt(
    encr: Encr,
    key: &[u8],
    iv: &[u8; BLOCK],
    buf: &mut [u8],
) -> Result<(), CryptoError> {
    match encr {
        Encr::AesCbc128 => encrypt_with::<aes::Aes128>(key, iv, buf),
        Encr::AesCbc192 => encrypt_with::<aes::Aes192>(key, iv, buf),
        Encr::AesCbc256 => encrypt_with::<aes::Aes256>(key, iv, buf),
    }
    .map_err(|()| bad_key(key, encr))
}

/// CBC-decrypts `buf` (whole blocks) in place.
fn cbc_decrypt(encr: Encr, key: &[u8], iv: &[u8], buf: &mut [u8]) -> Result<(), CryptoError> {
    match encr {
        Encr::AesCbc128 => decrypt_with::<aes::Aes128>(key, iv, buf),
        Encr::AesCbc192 => decrypt_with::<aes::Aes192>(key, iv, buf),
        Encr::AesCbc256 => decrypt_with::<aes::Aes256>(key, iv, buf),
    }
    .map_err(|()| bad_key(key, encr))
}

/// The ciphertext length for `inner_len` bytes of inner payloads: padding
/// and the pad length byte fill to a block multiple.
fn ciphertext_len(inner_len: usize) -> usize {
    (inner_len + 1).div_ceil(BLOCK) * BLOCK
}

/// Seals one datagram: `prefix_of(content_len) | IV | AES-CBC(inner |
/// padding | pad length) | ICV`.
fn seal_one(
    keys: &IkeKeys,
    sender_is_initiator: bool,
    inner: &[u8],
    prefix_of: impl FnOnce(usize) -> Vec<u8>,
) -> Result<Vec<u8>, CryptoError> {
    let suite = keys.suite;
    let (sk_e, sk_a) = keys.sender_keys(sender_is_initiator);
    // Checked first, so that no plaintext is left in a buffer on error.
    check_key(suite.encr, sk_e)?;
    let ct_len = ciphertext_len(inner.len());
    let pad = ct_len - inner.len() - 1;
    let content_len = BLOCK + ct_len + suite.integ.icv_len();
    let prefix = prefix_of(content_len);
    let mut iv = [0u8; BLOCK];
    getrandom::fill(&mut iv).map_err(|e| CryptoError::Random(e.to_string()))?;

    let mut out = Vec::with_capacity(prefix.len() + content_len);
    out.extend_from_slice(&prefix);
    out.extend_from_slice(&iv);
    let ct_start = out.len();
    out.extend_from_slice(inner);
    out.resize(out.len() + pad, 0);
    out.push(pad as u8);
    cbc_encrypt(suite.encr, sk_e, &iv, &mut out[ct_start..])?;
    let icv = suite.integ.mac(sk_a, &out);
    out.extend_from_slice(&icv);
    Ok(out)
}

/// Seals inner payload bytes into one encrypted datagram (RFC 7296 3.14).
/// `prefix_of(content_len)` returns the IKE header and SK payload header
/// for that content length (the caller's codec builds them); the content
/// is `IV (random) | AES-CBC(inner | padding | pad length) | ICV`, with
/// the ICV the sender's integrity MAC over `prefix | IV | ciphertext`. The
/// initiator sends with SK_ei/SK_ai, the responder with SK_er/SK_ar. The
/// padding is zero bytes up to a block multiple (the pad length byte
/// counted).
pub fn seal(
    keys: &IkeKeys,
    sender_is_initiator: bool,
    inner: &[u8],
    prefix_of: &dyn Fn(usize) -> Vec<u8>,
) -> Result<Vec<u8>, CryptoError> {
    seal_one(keys, sender_is_initiator, inner, prefix_of)
}

/// Splits `inner` into fragments (RFC 7383) so that each datagram is at
/// most `max_datagram` bytes, and seals each. `prefix_of(content_len,
/// number, total)` returns the IKE header and SKF payload header (with the
/// fragment number and total) for fragment `number` (from 1) of `total`;
/// its length must not depend on its arguments. Returns the datagrams in
/// order; a message that fits in one fragment still gives one SKF
/// datagram.
pub fn seal_fragments(
    keys: &IkeKeys,
    sender_is_initiator: bool,
    inner: &[u8],
    max_datagram: usize,
    prefix_of: &dyn Fn(usize, u16, u16) -> Vec<u8>,
) -> Result<Vec<Vec<u8>>, CryptoError> {
    let prefix_len = prefix_of(0, 1, 1).len();
    let icv_len = keys.suite.integ.icv_len();
    // The fixed overhead plus the smallest padding (the pad length byte).
    let overhead = prefix_len + BLOCK + icv_len + 1;
    let too_small = CryptoError::DatagramTooSmall {
        max: max_datagram,
        overhead,
    };
    let room = max_datagram
        .checked_sub(prefix_len + BLOCK + icv_len)
        .ok_or_else(|| too_small.clone())?;
    // Whole blocks of ciphertext, one byte of which is the pad length.
    let chunk = (room / BLOCK * BLOCK)
        .checked_sub(1)
        .filter(|c| *c > 0)
        .ok_or_else(|| too_small.clone())?;
    let pieces: Vec<&[u8]> = if inner.is_empty() {
        vec![inner]
    } else {
        inner.chunks(chunk).collect()
    };
    let total =
        u16::try_from(pieces.len()).map_err(|_| CryptoError::TooManyFragments(pieces.len()))?;
    let mut out = Vec::with_capacity(pieces.len());
    for (number, piece) in (1..=total).zip(pieces) {
        let datagram = seal_one(keys, sender_is_initiator, piece, |len| {
            prefix_of(len, number, total)
        })?;
        if datagram.len() > max_datagram {
            // The prefix grew with its arguments.
            return Err(too_small);
        }
        out.push(datagram);
    }
    Ok(out)
}

/// Checks the ICV and decrypts an SK or SKF payload's content, found at
/// `datagram[offset..offset + len]` (`IV | ciphertext | ICV`), with the
/// sender's keys (`sender_is_initiator`). The content must end the
/// datagram; the ICV (its last `icv_len` bytes) covers everything before
/// it and is compared in constant time before anything is decrypted.
/// Returns the inner payload bytes with the padding and pad length byte
/// stripped.
///
/// Errors: [`CryptoError::Integrity`] for a bad ICV,
/// [`CryptoError::Malformed`] for content out of the datagram's bounds,
/// too short, not whole blocks, or with a pad length longer than the
/// ciphertext.
pub fn open(
    keys: &IkeKeys,
    sender_is_initiator: bool,
    datagram: &[u8],
    offset: usize,
    len: usize,
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let suite = keys.suite;
    let icv_len = suite.integ.icv_len();
    let (sk_e, sk_a) = keys.sender_keys(sender_is_initiator);
    let end = offset
        .checked_add(len)
        .filter(|end| *end <= datagram.len())
        .ok_or(CryptoError::Malformed(
            "encrypted payload runs past the datagram",
        ))?;
    if end != datagram.len() {
        return Err(CryptoError::Malformed(
            "encrypted payload is not the last in the datagram",
        ));
    }
    if len < BLOCK + BLOCK + icv_len {
        return Err(CryptoError::Malformed(
            "encrypted payload too short for IV, one block and ICV",
        ));
    }
    let icv_start = end - icv_len;
    if !suite
        .integ
        .verify(sk_a, &datagram[..icv_start], &datagram[icv_start..])
    {
        return Err(CryptoError::Integrity);
    }
    let iv = &datagram[offset..offset + BLOCK];
    let ct = &datagram[offset + BLOCK..icv_start];
    if !ct.len().is_multiple_of(BLOCK) {
        return Err(CryptoError::Malformed(
            "encrypted payload ciphertext is not whole blocks",
        ));
    }
    check_key(suite.encr, sk_e)?;
    let mut plain = Zeroizing::new(ct.to_vec());
    cbc_decrypt(suite.encr, sk_e, iv, &mut plain)?;
    let pad = plain.last().copied().map(usize::from).unwrap_or_default();
    let inner_len = plain
        .len()
        .checked_sub(pad + 1)
        .ok_or(CryptoError::Malformed(
            "encrypted payload pad length exceeds the ciphertext",
        ))?;
    plain.truncate(inner_len);
    Ok(plain)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::crypto::suite::{DhGroup, IkeSuite, Integ, Prf};

    /// The IKE header length.
    const HEADER: usize = 28;

    fn keys(encr: Encr, integ: Integ) -> IkeKeys {
        let suite = IkeSuite {
            encr,
            prf: Prf::HmacSha256,
            integ,
            dh: DhGroup::Ecp256,
        };
        IkeKeys::derive(suite, b"nonce-i", b"nonce-r", b"shared", 7, 9)
    }

    /// A stand-in for the codec: an IKE header with the total length and
    /// an SK payload header (next payload 35 = IDi, say).
    fn sk_prefix(content_len: usize) -> Vec<u8> {
        let total = HEADER + 4 + content_len;
        let mut h = vec![0xAA; HEADER];
        h[24..28].copy_from_slice(&(total as u32).to_be_bytes());
        h.extend_from_slice(&[35, 0]);
        h.extend_from_slice(&((4 + content_len) as u16).to_be_bytes());
        h
    }

    fn skf_prefix(content_len: usize, number: u16, total: u16) -> Vec<u8> {
        let len = HEADER + 8 + content_len;
        let mut h = vec![0xBB; HEADER];
        h[24..28].copy_from_slice(&(len as u32).to_be_bytes());
        h.extend_from_slice(&[if number == 1 { 35 } else { 0 }, 0]);
        h.extend_from_slice(&((8 + content_len) as u16).to_be_bytes());
        h.extend_from_slice(&number.to_be_bytes());
        h.extend_from_slice(&total.to_be_bytes());
        h
    }

    const SK_OFFSET: usize = HEADER + 4;
    const SKF_OFFSET: usize = HEADER + 8;

    #[test]
    fn round_trip_both_directions_all_suites() {
        for encr in [Encr::AesCbc128, Encr::AesCbc192, Encr::AesCbc256] {
            for integ in [
                Integ::HmacSha1_96,
                Integ::HmacSha256_128,
                Integ::HmacSha384_192,
                Integ::HmacSha512_256,
            ] {
                let k = keys(encr, integ);
                for len in [0usize, 1, 15, 16, 17, 100] {
                    let inner: Vec<u8> = (0..len).map(|i| i as u8).collect();
                    for init in [true, false] {
                        let dg = seal(&k, init, &inner, &sk_prefix).unwrap();
                        let content = dg.len() - SK_OFFSET;
                        assert_eq!(dg[..SK_OFFSET], sk_prefix(content)[..]);
                        assert_eq!((content - 16 - integ.icv_len()) % 16, 0);
                        let back = open(&k, init, &dg, SK_OFFSET, content).unwrap();
                        assert_eq!(*back, inner);
                        // The other direction's keys do not open it.
                        assert_eq!(
                            open(&k, !init, &dg, SK_OFFSET, content),
                            Err(CryptoError::Integrity)
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn padding_is_minimal() {
        let k = keys(Encr::AesCbc128, Integ::HmacSha256_128);
        // 15 bytes + pad length byte: one block; 16 bytes: two.
        let dg = seal(&k, true, &[1; 15], &sk_prefix).unwrap();
        assert_eq!(dg.len(), SK_OFFSET + 16 + 16 + 16);
        let dg = seal(&k, true, &[1; 16], &sk_prefix).unwrap();
        assert_eq!(dg.len(), SK_OFFSET + 16 + 32 + 16);
    }

    #[test]
    fn tampering_fails_integrity() {
        let k = keys(Encr::AesCbc256, Integ::HmacSha256_128);
        let dg = seal(&k, false, b"some inner payloads", &sk_prefix).unwrap();
        let content = dg.len() - SK_OFFSET;
        for i in 0..dg.len() {
            let mut bad = dg.clone();
            bad[i] ^= 0x01;
            assert_eq!(
                open(&k, false, &bad, SK_OFFSET, content),
                Err(CryptoError::Integrity),
                "byte {i}"
            );
        }
    }

    #[test]
    fn truncation_is_an_error_not_a_panic() {
        let k = keys(Encr::AesCbc128, Integ::HmacSha1_96);
        let dg = seal(&k, true, b"inner payloads, two blocks", &sk_prefix).unwrap();
        let content = dg.len() - SK_OFFSET;
        for cut in 0..dg.len() {
            let short = &dg[..cut];
            assert!(open(&k, true, short, SK_OFFSET, content).is_err());
            if cut >= SK_OFFSET {
                assert!(open(&k, true, short, SK_OFFSET, cut - SK_OFFSET).is_err());
            }
            for offset in [0, cut, usize::MAX] {
                assert!(open(&k, true, short, offset, usize::MAX).is_err());
                assert!(open(&k, true, short, offset, 0).is_err());
            }
        }
        // Content that does not end the datagram.
        let mut longer = dg.clone();
        longer.push(0);
        assert!(matches!(
            open(&k, true, &longer, SK_OFFSET, content),
            Err(CryptoError::Malformed(_))
        ));
    }

    /// Builds a datagram with a valid ICV around chosen plaintext blocks.
    fn forge(k: &IkeKeys, plain: &[u8]) -> Vec<u8> {
        let icv_len = k.suite.integ.icv_len();
        let mut dg = sk_prefix(16 + plain.len() + icv_len);
        let iv = [3u8; 16];
        dg.extend_from_slice(&iv);
        let start = dg.len();
        dg.extend_from_slice(plain);
        cbc_encrypt(k.suite.encr, &k.sk_ei, &iv, &mut dg[start..]).unwrap();
        let icv = k.suite.integ.mac(&k.sk_ai, &dg);
        dg.extend_from_slice(&icv);
        dg
    }

    #[test]
    fn bad_padding_and_shapes_are_malformed() {
        let k = keys(Encr::AesCbc128, Integ::HmacSha256_128);
        // Pad length 16 in a one-block ciphertext.
        let mut block = [0u8; 16];
        block[15] = 16;
        let dg = forge(&k, &block);
        let content = dg.len() - SK_OFFSET;
        assert!(matches!(
            open(&k, true, &dg, SK_OFFSET, content),
            Err(CryptoError::Malformed(_))
        ));
        // Pad length 15: empty inner.
        block[15] = 15;
        let dg = forge(&k, &block);
        assert!(open(&k, true, &dg, SK_OFFSET, content).unwrap().is_empty());
        // Ciphertext not whole blocks, with a valid ICV.
        let mut dg = sk_prefix(16 + 17 + 16);
        dg.extend_from_slice(&[0u8; 33]);
        let icv = k.suite.integ.mac(&k.sk_ai, &dg);
        dg.extend_from_slice(&icv);
        assert!(matches!(
            open(&k, true, &dg, SK_OFFSET, dg.len() - SK_OFFSET),
            Err(CryptoError::Malformed(_))
        ));
    }

    #[test]
    fn wrong_key_length_is_an_error() {
        let mut k = keys(Encr::AesCbc128, Integ::HmacSha256_128);
        k.sk_ei = Zeroizing::new(vec![0; 15]);
        assert!(matches!(
            seal(&k, true, b"x", &sk_prefix),
            Err(CryptoError::KeyLength { .. })
        ));
    }

    #[test]
    fn fragments_reassemble() {
        let k = keys(Encr::AesCbc256, Integ::HmacSha256_128);
        let inner: Vec<u8> = (0..3000u32).map(|i| (i * 7) as u8).collect();
        for max in [100usize, 576, 1280, 5000] {
            for init in [true, false] {
                let frags = seal_fragments(&k, init, &inner, max, &skf_prefix).unwrap();
                let total = frags.len();
                if max == 5000 {
                    assert_eq!(total, 1);
                }
                let mut whole = Vec::new();
                for (i, dg) in frags.iter().enumerate() {
                    assert!(dg.len() <= max, "{} > {max}", dg.len());
                    let content = dg.len() - SKF_OFFSET;
                    assert_eq!(
                        dg[..SKF_OFFSET],
                        skf_prefix(content, i as u16 + 1, total as u16)[..]
                    );
                    let piece = open(&k, init, dg, SKF_OFFSET, content).unwrap();
                    whole.extend_from_slice(&piece);
                }
                assert_eq!(whole, inner);
            }
        }
        // Each full fragment uses the room: with 576 bytes, 576 - 36 - 16
        // - 16 = 508, 31 blocks = 496 bytes, 495 of them inner.
        let frags = seal_fragments(&k, true, &inner, 576, &skf_prefix).unwrap();
        assert_eq!(frags.len(), 3000usize.div_ceil(495));
        assert_eq!(frags[0].len(), SKF_OFFSET + 16 + 496 + 16);
        // Empty inner: one fragment.
        let frags = seal_fragments(&k, true, &[], 576, &skf_prefix).unwrap();
        assert_eq!(frags.len(), 1);
        let content = frags[0].len() - SKF_OFFSET;
        assert!(
            open(&k, true, &frags[0], SKF_OFFSET, content)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn fragment_limits() {
        let k = keys(Encr::AesCbc128, Integ::HmacSha256_128);
        for max in [0, 36, 36 + 16 + 16, 36 + 16 + 16 + 15] {
            assert!(matches!(
                seal_fragments(&k, true, b"abc", max, &skf_prefix),
                Err(CryptoError::DatagramTooSmall { .. })
            ));
        }
        // One block of room: 15 inner bytes a fragment.
        let frags = seal_fragments(&k, true, &[9; 31], 36 + 16 + 16 + 16, &skf_prefix).unwrap();
        assert_eq!(frags.len(), 3);
        // More than 65535 fragments.
        let big = vec![0u8; 15 * 65536];
        assert!(matches!(
            seal_fragments(&k, true, &big, 36 + 16 + 16 + 16, &skf_prefix),
            Err(CryptoError::TooManyFragments(65536))
        ));
    }
}
