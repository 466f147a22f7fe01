//! Answers to IKE_SA_INIT requests that never get an SA: a major version we
//! do not speak (RFC 7296 2.5: INVALID_MAJOR_VERSION, in a version 2.0
//! header) and a request whose payloads do not parse (INVALID_SYNTAX).
//! Anything else that is malformed, or not an initial request, is dropped
//! without an answer: unauthenticated errors must not be amplified.

use crate::wire::{self, Exchange, HEADER_LEN, Header, Notify, Payload, WireError, flags, notify};

/// The answer to an unusable datagram, if it deserves one.
pub fn error_reply(datagram: &[u8], error: &WireError) -> Option<Vec<u8>> {
    let raw: &[u8; HEADER_LEN] = datagram.get(..HEADER_LEN)?.try_into().ok()?;
    let spi_i = u64::from_be_bytes(raw[0..8].try_into().ok()?);
    let spi_r = u64::from_be_bytes(raw[8..16].try_into().ok()?);
    let exchange = Exchange::from_code(raw[18]);
    let f = raw[19];
    let message_id = u32::from_be_bytes(raw[20..24].try_into().ok()?);
    // Only an initial request (IKE_SA_INIT, message 0, from the initiator,
    // no responder SPI yet) is answered.
    if exchange != Exchange::IkeSaInit
        || f & flags::RESPONSE != 0
        || f & flags::INITIATOR == 0
        || message_id != 0
        || spi_r != 0
    {
        return None;
    }
    let kind = match error {
        WireError::Version(_) => notify::INVALID_MAJOR_VERSION,
        WireError::UnsupportedCritical(_) => notify::UNSUPPORTED_CRITICAL_PAYLOAD,
        _ => notify::INVALID_SYNTAX,
    };
    let data = match error {
        WireError::UnsupportedCritical(t) => vec![*t],
        _ => Vec::new(),
    };
    Some(init_notify_reply(spi_i, kind, data))
}

/// An IKE_SA_INIT response (version 2.0, no responder SPI) that carries
/// only the notify `kind` with `data`: the stateless answers.
pub(crate) fn init_notify_reply(spi_i: u64, kind: u16, data: Vec<u8>) -> Vec<u8> {
    let h = Header {
        spi_i,
        spi_r: 0,
        next_payload: 0,
        version: 0x20,
        exchange: Exchange::IkeSaInit,
        flags: flags::RESPONSE,
        message_id: 0,
        length: 0,
    };
    let n = Payload::Notify(Notify {
        protocol: 0,
        spi: Vec::new(),
        kind,
        data,
    });
    wire::encode_plain(&h, &[n])
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use super::*;
    use crate::wire::{Body, parse_message};

    fn init_header(version: u8, flags_: u8, spi_r: u64) -> Vec<u8> {
        let mut b = vec![0u8; HEADER_LEN];
        b[0..8].copy_from_slice(&7u64.to_be_bytes());
        b[8..16].copy_from_slice(&spi_r.to_be_bytes());
        b[17] = version;
        b[18] = 34;
        b[19] = flags_;
        b[24..28].copy_from_slice(&(HEADER_LEN as u32).to_be_bytes());
        b
    }

    fn notify_of(reply: &[u8]) -> u16 {
        match parse_message(reply).unwrap().body {
            Body::Plain(p) => match &p[0] {
                Payload::Notify(n) => n.kind,
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_higher_major_version_gets_invalid_major_version_in_a_2_0_header() {
        let d = init_header(0x30, flags::INITIATOR, 0);
        let e = parse_message(&d).unwrap_err();
        let r = error_reply(&d, &e).unwrap();
        assert_eq!(r[17], 0x20);
        assert_eq!(notify_of(&r), notify::INVALID_MAJOR_VERSION);
    }

    #[test]
    fn only_initial_requests_are_answered() {
        let e = WireError::Version(3);
        assert!(error_reply(&init_header(0x30, flags::RESPONSE, 0), &e).is_none());
        assert!(error_reply(&init_header(0x30, flags::INITIATOR, 9), &e).is_none());
        assert!(error_reply(&[0u8; 10], &e).is_none());
        let r = error_reply(
            &init_header(0x20, flags::INITIATOR, 0),
            &WireError::Misplaced("x"),
        )
        .unwrap();
        assert_eq!(notify_of(&r), notify::INVALID_SYNTAX);
    }
}
