//! Differential tests against the RustCrypto `hmac` + `sha1` crates: the
//! compression kernels, single MACs and batches, on the detected backend and
//! on the portable fallback.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use hmac::{Hmac, KeyInit, Mac};
use hmac_sha1_mb::{
    Backend, HmacSha1Key, Job, compress1, compress4, mac_many, mac_many_with, shani_available,
};
use proptest::prelude::*;
use sha1::Sha1;

const BACKENDS: [Backend; 2] = [Backend::Auto, Backend::Portable];

fn reference(key: &[u8], msg: &[u8]) -> [u8; 20] {
    let mut m = Hmac::<Sha1>::new_from_slice(key).unwrap();
    m.update(msg);
    m.finalize().into_bytes().into()
}

fn block() -> impl Strategy<Value = [u8; 64]> {
    proptest::array::uniform32(any::<u8>()).prop_flat_map(|a| {
        proptest::array::uniform32(any::<u8>()).prop_map(move |b| {
            let mut out = [0u8; 64];
            out[..32].copy_from_slice(&a);
            out[32..].copy_from_slice(&b);
            out
        })
    })
}

fn state() -> impl Strategy<Value = [u32; 5]> {
    proptest::array::uniform5(any::<u32>())
}

/// (key, message) pairs with lengths drawn so that every padding case
/// (one or two final blocks) and every key case (short, block, hashed) is hit.
fn key_and_msg() -> impl Strategy<Value = (Vec<u8>, Vec<u8>)> {
    (
        proptest::collection::vec(any::<u8>(), 0..=100),
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..=130),
            proptest::collection::vec(any::<u8>(), 0..=2000),
        ],
    )
}

#[test]
fn report_backend() {
    // Not an assertion: CI machines may lack SHA-NI. Shown with --nocapture.
    println!("SHA-NI available: {}", shani_available());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn compress4_matches_sha1_compress(
        states in proptest::array::uniform4(state()),
        blocks in proptest::array::uniform4(block()),
    ) {
        let mut ours = states;
        compress4(&mut ours, [&blocks[0], &blocks[1], &blocks[2], &blocks[3]]);
        for i in 0..4 {
            let mut theirs = states[i];
            sha1::block_api::compress(&mut theirs, &[blocks[i]]);
            prop_assert_eq!(ours[i], theirs, "lane {}", i);
        }
    }

    #[test]
    fn compress1_matches_sha1_compress(
        st in state(),
        blocks in proptest::collection::vec(block(), 0..5),
    ) {
        let mut ours = st;
        compress1(&mut ours, &blocks);
        let mut theirs = st;
        sha1::block_api::compress(&mut theirs, &blocks);
        prop_assert_eq!(ours, theirs);
    }

    #[test]
    fn mac_matches_hmac_crate((key, msg) in key_and_msg()) {
        let k = HmacSha1Key::new(&key);
        let want = reference(&key, &msg);
        prop_assert_eq!(k.mac(&msg), want);
        for b in BACKENDS {
            prop_assert_eq!(k.mac_with(b, &msg), want, "{:?}", b);
        }
        prop_assert!(k.verify_96(&msg, &want[..12]));
        let mut bad = want;
        bad[11] ^= 1;
        prop_assert!(!k.verify_96(&msg, &bad[..12]));
        prop_assert!(!k.verify_96(&msg, &want[..11]));
        prop_assert!(!k.verify_96(&msg, &want));
    }

    #[test]
    fn mac_many_matches_hmac_crate(
        pairs in proptest::collection::vec(key_and_msg(), 1..=40),
    ) {
        let keys: Vec<HmacSha1Key> = pairs.iter().map(|(k, _)| HmacSha1Key::new(k)).collect();
        let want: Vec<[u8; 20]> = pairs.iter().map(|(k, m)| reference(k, m)).collect();
        for b in BACKENDS {
            let mut jobs: Vec<Job<'_>> = keys
                .iter()
                .zip(&pairs)
                .map(|(k, (_, m))| Job { key: k, msg: m, out: [0xEE; 20] })
                .collect();
            mac_many_with(b, &mut jobs);
            for (i, j) in jobs.iter().enumerate() {
                prop_assert_eq!(j.out, want[i], "{:?} job {} (len {})", b, i, j.msg.len());
            }
        }
    }
}

/// Every message length 0..=200 (one and two padding blocks, every block
/// boundary), in one batch in increasing order (neighbouring lanes in
/// step) and in a scrambled order (lanes out of step: runs cut short by
/// other lanes' padding and outer blocks).
#[test]
fn mac_many_all_small_lengths() {
    let key = HmacSha1Key::new(b"boundary key");
    let msgs: Vec<Vec<u8>> = (0..=200)
        .map(|n| (0..n).map(|i| (i * 7 + n) as u8).collect())
        .collect();
    let in_order: Vec<usize> = (0..=200).collect();
    let scrambled: Vec<usize> = (0..=200).map(|i| i * 37 % 201).collect();
    for order in [in_order, scrambled] {
        for b in BACKENDS {
            let mut jobs: Vec<Job<'_>> = order.iter().map(|&i| Job::new(&key, &msgs[i])).collect();
            mac_many_with(b, &mut jobs);
            for j in &jobs {
                let want = reference(b"boundary key", j.msg);
                assert_eq!(j.out, want, "{b:?} len {}", j.msg.len());
            }
        }
    }
}

/// IMIX-like batches of every size 0..=12, different keys per job.
#[test]
fn mac_many_imix_every_batch_size() {
    let sizes = [64usize, 576, 64, 1420, 64, 576, 64, 64, 1420, 576, 64, 0];
    let raw_keys: Vec<Vec<u8>> = (0..12u8)
        .map(|i| vec![i; 20 + usize::from(i) * 5])
        .collect();
    let keys: Vec<HmacSha1Key> = raw_keys.iter().map(|k| HmacSha1Key::new(k)).collect();
    let msgs: Vec<Vec<u8>> = sizes.iter().map(|&n| vec![n as u8; n]).collect();
    for count in 0..=12 {
        let mut jobs: Vec<Job<'_>> = (0..count).map(|i| Job::new(&keys[i], &msgs[i])).collect();
        mac_many(&mut jobs);
        for (i, j) in jobs.iter().enumerate() {
            assert_eq!(
                j.out,
                reference(&raw_keys[i], &msgs[i]),
                "batch {count} job {i}"
            );
        }
    }
}

/// RFC 2202 test cases 1, 6 and 7 (keys of 20 and 80 bytes).
#[test]
fn rfc2202() {
    let cases: [(&[u8], &[u8], &str); 3] = [
        (
            &[0x0b; 20],
            b"Hi There",
            "b617318655057264e28bc0b6fb378c8ef146be00",
        ),
        (
            &[0xaa; 80],
            b"Test Using Larger Than Block-Size Key - Hash Key First",
            "aa4ae5e15272d00e95705637ce8a3b55ed402112",
        ),
        (
            &[0xaa; 80],
            b"Test Using Larger Than Block-Size Key and Larger Than One Block-Size Data",
            "e8e99d0f45237d786d6bbaa7965c7808bbff1a91",
        ),
    ];
    for (key, msg, tag) in cases {
        assert_eq!(hex::encode(HmacSha1Key::new(key).mac(msg)), tag);
    }
}
