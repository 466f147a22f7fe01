//! IKEv2 datagrams as they come off UDP 500/4500: the header, the payload
//! chain and every payload body decoder.
//!
//! - `ike::wire::parse_message(data)`: the whole datagram. When it points
//!   at an SK/SKF payload's content, that range must lie inside the
//!   datagram (the crypto layer slices it without further checks).
//! - `ike::wire::decode_payloads(data[0], &data[1..])`: a decrypted inner
//!   chain whose first payload type is `data[0]`.
//!
//! Whatever decodes must encode again and decode to the same payloads.

#![no_main]

use ike::wire::{Body, decode_payloads, encode_payloads, parse_message};
use libfuzzer_sys::fuzz_target;

fn roundtrip(payloads: &[ike::wire::Payload]) {
    let (first, bytes) = encode_payloads(payloads);
    let again = decode_payloads(first, &bytes)
        .unwrap_or_else(|e| panic!("re-encoded payloads do not decode: {e}\n{payloads:?}"));
    assert_eq!(again, payloads, "decode(encode(payloads)) differs");
}

fuzz_target!(|data: &[u8]| {
    let _ = ike::session::peek(data);
    if let Ok(msg) = parse_message(data) {
        match &msg.body {
            Body::Plain(p) => roundtrip(p),
            Body::Encrypted {
                before,
                offset,
                len,
                ..
            } => {
                roundtrip(before);
                assert!(
                    offset
                        .checked_add(*len)
                        .is_some_and(|end| end <= data.len())
                );
            }
            Body::Fragment { offset, len, .. } => {
                assert!(
                    offset
                        .checked_add(*len)
                        .is_some_and(|end| end <= data.len())
                );
            }
        }
    }
    if let Some((&first, rest)) = data.split_first()
        && let Ok(payloads) = decode_payloads(first, rest)
    {
        roundtrip(&payloads);
    }
});
