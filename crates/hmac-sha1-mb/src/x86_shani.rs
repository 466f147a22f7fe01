//! The SHA-1 compression function on the x86 SHA extensions (SHA-NI), one
//! stream and several streams interleaved.
//!
//! This is the only module of the project allowed to use `unsafe`. The
//! unsafe surface is three kinds of operation, each in a small function with
//! its `SAFETY` argument:
//!
//! 1. unaligned 16-byte loads (`_mm_loadu_si128`) from a `&[u8; 64]` block at
//!    offsets 0, 16, 32 and 48 (`load_be`): in bounds, no alignment needed;
//! 2. an unaligned 16-byte load and store of words 0..4 of a `[u32; 5]`
//!    chaining state (`load_abcd`, `store_abcd`): in bounds, the store
//!    through a `&mut`;
//! 3. calls into the `#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]`
//!    kernels from the safe methods of [`ShaNi`], a zero-sized token that can
//!    only be obtained from [`ShaNi::detect`], i.e. after the running CPU was
//!    seen to have those features.
//!
//! Everything else (the SHA and SSE intrinsics that take no pointers) is
//! safe to call inside a function compiled with those target features.
//!
//! How the kernel works: `sha1rnds4` does four rounds of SHA-1 on the packed
//! state `ABCD` and a vector holding `E` plus four schedule words; each group
//! of four rounds needs the previous group's result, so one stream is bound
//! by the instruction's latency and leaves the SHA unit mostly idle.
//! Independent streams have no such dependency: the kernels here run the
//! same round sequence for 1, 2 or 4 streams (unrelated messages and
//! chaining states), each step written once per lane by a macro, so the
//! out-of-order core overlaps their latencies. A kernel call takes a run of
//! blocks per stream and keeps the chaining states in registers across it.

#![allow(unsafe_code)]
#![deny(clippy::undocumented_unsafe_blocks)]

use core::arch::x86_64::{
    __m128i, _mm_add_epi32, _mm_extract_epi32, _mm_loadu_si128, _mm_set_epi32, _mm_set_epi64x,
    _mm_setzero_si128, _mm_sha1msg1_epu32, _mm_sha1msg2_epu32, _mm_sha1nexte_epu32,
    _mm_sha1rnds4_epu32, _mm_shuffle_epi8, _mm_shuffle_epi32, _mm_storeu_si128, _mm_xor_si128,
};
use std::sync::OnceLock;

/// Proof that the running CPU has SHA-NI (and the SSE levels the kernels
/// use). Only [`ShaNi::detect`] makes one.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ShaNi(());

impl ShaNi {
    /// Returns the token if the CPU has `sha`, `sse2`, `ssse3` and `sse4.1`
    /// (detected once per process).
    pub(crate) fn detect() -> Option<Self> {
        static HAVE: OnceLock<bool> = OnceLock::new();
        let have = *HAVE.get_or_init(|| {
            std::is_x86_feature_detected!("sha")
                && std::is_x86_feature_detected!("sse2")
                && std::is_x86_feature_detected!("ssse3")
                && std::is_x86_feature_detected!("sse4.1")
        });
        have.then_some(Self(()))
    }

    /// Four independent streams: `blocks[i]` is absorbed into `states[i]`,
    /// in order. The streams advance together, so only the first `n` blocks
    /// of each are absorbed, `n` being the shortest slice's length.
    #[inline]
    pub(crate) fn compress4(self, states: &mut [[u32; 5]; 4], blocks: [&[[u8; 64]]; 4]) {
        // SAFETY: `self` exists, so `detect` saw sha, sse2, ssse3 and sse4.1
        // on this CPU: the kernel's target features are available.
        unsafe { kernel4(states, blocks) }
    }

    /// Two independent streams, as [`ShaNi::compress4`].
    #[inline]
    pub(crate) fn compress2(self, states: &mut [[u32; 5]; 2], blocks: [&[[u8; 64]]; 2]) {
        // SAFETY: as in `compress4`, the token proves the features.
        unsafe { kernel2(states, blocks) }
    }

    /// Consecutive blocks of one stream.
    #[inline]
    pub(crate) fn compress1(self, state: &mut [u32; 5], blocks: &[[u8; 64]]) {
        let mut s = [*state];
        // SAFETY: as in `compress4`, the token proves the features.
        unsafe { kernel1(&mut s, [blocks]) }
        *state = s[0];
    }
}

/// Loads the `i`-th 16-byte quarter of `block` (`i < 4`) as four big-endian
/// words, the first in the highest lane (the order `sha1rnds4` expects).
#[inline]
#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
fn load_be(block: &[u8; 64], i: usize, bswap: __m128i) -> __m128i {
    debug_assert!(i < 4);
    let p = block.as_ptr().wrapping_add(16 * (i & 3));
    // SAFETY: `p` is `block` + 0, 16, 32 or 48, so the 16 bytes read lie
    // inside the 64-byte array that `block` borrows; `_mm_loadu_si128` has
    // no alignment requirement.
    let v = unsafe { _mm_loadu_si128(p.cast::<__m128i>()) };
    _mm_shuffle_epi8(v, bswap)
}

/// Loads `state[0..4]` as `ABCD` with `A` in the highest lane.
#[inline]
#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
fn load_abcd(state: &[u32; 5]) -> __m128i {
    // SAFETY: the 16 bytes read are `state[0..4]`, inside the array;
    // `_mm_loadu_si128` has no alignment requirement.
    let v = unsafe { _mm_loadu_si128(state.as_ptr().cast::<__m128i>()) };
    _mm_shuffle_epi32(v, 0b00_01_10_11)
}

/// Stores `ABCD` (`A` in the highest lane) into `state[0..4]`.
#[inline]
#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
fn store_abcd(state: &mut [u32; 5], abcd: __m128i) {
    let v = _mm_shuffle_epi32(abcd, 0b00_01_10_11);
    // SAFETY: the 16 bytes written are `state[0..4]`, inside the array that
    // `state` borrows exclusively; `_mm_storeu_si128` has no alignment
    // requirement.
    unsafe { _mm_storeu_si128(state.as_mut_ptr().cast::<__m128i>(), v) }
}

/// Runs `$body` once per lane, with `$l` bound to the lane's index, in lane
/// order: the textual interleaving of the streams.
macro_rules! each_lane {
    ([$($n:literal),+], $l:ident => $body:expr) => {
        $( { let $l: usize = $n; $body; } )+
    };
}

/// Four rounds with the next `E` derived from the previous `ABCD`.
macro_rules! rounds4 {
    ($h0:expr, $h1:expr, $wk:expr, $i:literal) => {
        _mm_sha1rnds4_epu32($h0, _mm_sha1nexte_epu32($h1, $wk), $i)
    };
}

/// The next four schedule words from the previous sixteen.
macro_rules! schedule {
    ($v0:expr, $v1:expr, $v2:expr, $v3:expr) => {
        _mm_sha1msg2_epu32(_mm_xor_si128(_mm_sha1msg1_epu32($v0, $v1), $v2), $v3)
    };
}

/// Four rounds without schedule update (rounds 4..16), for every lane.
macro_rules! r4 {
    ($lanes:tt; $h0:ident, $h1:ident, $w:ident, $i:literal) => {
        each_lane!($lanes, l => $h1[l] = rounds4!($h0[l], $h1[l], $w[l], $i))
    };
}

/// Schedule four words, then four rounds, for every lane.
macro_rules! sr4 {
    ($lanes:tt; $h0:ident, $h1:ident, $w0:ident, $w1:ident, $w2:ident, $w3:ident, $w4:ident, $i:literal) => {
        each_lane!($lanes, l => {
            $w4[l] = schedule!($w0[l], $w1[l], $w2[l], $w3[l]);
            $h1[l] = rounds4!($h0[l], $h1[l], $w4[l], $i);
        })
    };
}

/// Defines an `N`-lane kernel: each lane its own chaining state and its own
/// run of blocks, all lanes advancing one block per iteration (as many
/// iterations as the shortest run). The round sequence is the standard
/// SHA-NI one (Intel's white paper, the `sha1` crate's backend), each step
/// emitted for all lanes before the next step; the chaining states stay in
/// registers (or at worst the stack) across the run.
macro_rules! kernel {
    ($(#[$m:meta])* $name:ident, $n:literal, $lanes:tt) => {
        $(#[$m])*
        #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
        fn $name(states: &mut [[u32; 5]; $n], blocks: [&[[u8; 64]]; $n]) {
            let count = blocks.iter().map(|b| b.len()).min().unwrap_or(0);
            let bswap = _mm_set_epi64x(0x0001_0203_0405_0607, 0x0809_0a0b_0c0d_0e0f);
            let z = _mm_setzero_si128();
            let mut abcd = [z; $n];
            let mut e = [z; $n];
            let (mut w0, mut w1, mut w2, mut w3, mut w4) = ([z; $n], [z; $n], [z; $n], [z; $n], [z; $n]);
            let (mut h0, mut h1) = ([z; $n], [z; $n]);

            each_lane!($lanes, l => {
                abcd[l] = load_abcd(&states[l]);
                e[l] = _mm_set_epi32(states[l][4] as i32, 0, 0, 0);
            });

            for i in 0..count {
                each_lane!($lanes, l => {
                    let block = &blocks[l][i];
                    w0[l] = load_be(block, 0, bswap);
                    w1[l] = load_be(block, 1, bswap);
                    w2[l] = load_be(block, 2, bswap);
                    w3[l] = load_be(block, 3, bswap);
                    h0[l] = abcd[l];
                    h1[l] = _mm_add_epi32(e[l], w0[l]);
                });

                // Rounds 0..20
                each_lane!($lanes, l => h1[l] = _mm_sha1rnds4_epu32(h0[l], h1[l], 0));
                r4!($lanes; h1, h0, w1, 0);
                r4!($lanes; h0, h1, w2, 0);
                r4!($lanes; h1, h0, w3, 0);
                sr4!($lanes; h0, h1, w0, w1, w2, w3, w4, 0);
                // Rounds 20..40
                sr4!($lanes; h1, h0, w1, w2, w3, w4, w0, 1);
                sr4!($lanes; h0, h1, w2, w3, w4, w0, w1, 1);
                sr4!($lanes; h1, h0, w3, w4, w0, w1, w2, 1);
                sr4!($lanes; h0, h1, w4, w0, w1, w2, w3, 1);
                sr4!($lanes; h1, h0, w0, w1, w2, w3, w4, 1);
                // Rounds 40..60
                sr4!($lanes; h0, h1, w1, w2, w3, w4, w0, 2);
                sr4!($lanes; h1, h0, w2, w3, w4, w0, w1, 2);
                sr4!($lanes; h0, h1, w3, w4, w0, w1, w2, 2);
                sr4!($lanes; h1, h0, w4, w0, w1, w2, w3, 2);
                sr4!($lanes; h0, h1, w0, w1, w2, w3, w4, 2);
                // Rounds 60..80
                sr4!($lanes; h1, h0, w1, w2, w3, w4, w0, 3);
                sr4!($lanes; h0, h1, w2, w3, w4, w0, w1, 3);
                sr4!($lanes; h1, h0, w3, w4, w0, w1, w2, 3);
                sr4!($lanes; h0, h1, w4, w0, w1, w2, w3, 3);
                sr4!($lanes; h1, h0, w0, w1, w2, w3, w4, 3);

                each_lane!($lanes, l => {
                    abcd[l] = _mm_add_epi32(abcd[l], h0[l]);
                    e[l] = _mm_sha1nexte_epu32(h1[l], e[l]);
                });
            }

            each_lane!($lanes, l => {
                store_abcd(&mut states[l], abcd[l]);
                states[l][4] = _mm_extract_epi32(e[l], 3) as u32;
            });
        }
    };
}

kernel!(
    /// Four streams.
    kernel4, 4, [0, 1, 2, 3]
);
kernel!(
    /// Two streams.
    kernel2, 2, [0, 1]
);
kernel!(
    /// One stream.
    kernel1, 1, [0]
);
