//! Responder cookies (RFC 7296 2.6): under a flood of IKE_SA_INIT requests
//! the responder answers with a COOKIE notify instead of keeping state or
//! computing Diffie-Hellman, and only a request that returns the cookie,
//! which proves the initiator receives at its address, gets an IKE SA.

use std::net::IpAddr;

use crate::crypto::Prf;
use crate::wire::{self, Body, Exchange, Payload, notify};

/// What to do with an IKE_SA_INIT request when cookies are required.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CookieCheck {
    /// It carries our cookie: go on.
    Valid,
    /// No cookie, or not ours: answer with this datagram, keep nothing.
    Reply(Vec<u8>),
    /// Not an IKE_SA_INIT request we can answer: drop it.
    Drop,
}

/// The responder's cookie secret. Cookie = version byte | prf(secret, Ni |
/// IPi | SPIi), as RFC 7296 2.6 suggests.
pub struct CookieJar {
    secret: [u8; 32],
    version: u8,
}

impl std::fmt::Debug for CookieJar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CookieJar")
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

impl Default for CookieJar {
    fn default() -> Self {
        Self::new()
    }
}

impl CookieJar {
    /// A jar with a fresh random secret.
    pub fn new() -> Self {
        let mut secret = [0u8; 32];
        secret.copy_from_slice(&super::random_bytes(32));
        CookieJar { secret, version: 0 }
    }

    /// Replaces the secret (periodically, RFC 7296 2.6); cookies made with
    /// the previous one stop being accepted.
    pub fn rotate(&mut self) {
        self.secret.copy_from_slice(&super::random_bytes(32));
        self.version = self.version.wrapping_add(1);
    }

    fn cookie(&self, ni: &[u8], ip: IpAddr, spi_i: u64) -> Vec<u8> {
        let mut data = ni.to_vec();
        match ip {
            IpAddr::V4(a) => data.extend_from_slice(&a.octets()),
            IpAddr::V6(a) => data.extend_from_slice(&a.octets()),
        }
        data.extend_from_slice(&spi_i.to_be_bytes());
        let mut c = vec![self.version];
        c.extend_from_slice(&Prf::HmacSha256.prf(&self.secret, &data));
        c
    }

    /// Checks an IKE_SA_INIT request from `from`.
    pub fn check(&self, datagram: &[u8], from: IpAddr) -> CookieCheck {
        let Ok(msg) = wire::parse_message(datagram) else {
            return CookieCheck::Drop;
        };
        let h = msg.header;
        if h.exchange != Exchange::IkeSaInit || h.is_response() || h.spi_r != 0 {
            return CookieCheck::Drop;
        }
        let Body::Plain(payloads) = msg.body else {
            return CookieCheck::Drop;
        };
        let Some(ni) = payloads.iter().find_map(|p| match p {
            Payload::Nonce(n) => Some(n),
            _ => None,
        }) else {
            return CookieCheck::Drop;
        };
        let want = self.cookie(ni, from, h.spi_i);
        // The COOKIE notify must be the first payload (RFC 7296 2.6).
        if let Some(Payload::Notify(n)) = payloads.first()
            && n.kind == notify::COOKIE
            && subtle::ConstantTimeEq::ct_eq(n.data.as_slice(), want.as_slice()).into()
        {
            return CookieCheck::Valid;
        }
        CookieCheck::Reply(super::stateless::init_notify_reply(
            h.spi_i,
            notify::COOKIE,
            want,
        ))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use super::*;
    use crate::wire::{Header, Ke, Notify, Payload, encode_plain, flags};

    fn init(spi_i: u64, cookie: Option<Vec<u8>>) -> Vec<u8> {
        let mut p = Vec::new();
        if let Some(c) = cookie {
            p.push(Payload::Notify(Notify {
                protocol: 0,
                spi: Vec::new(),
                kind: notify::COOKIE,
                data: c,
            }));
        }
        p.push(Payload::Ke(Ke {
            group: 19,
            data: vec![1; 64],
        }));
        p.push(Payload::Nonce(vec![7; 32]));
        let h = Header {
            spi_i,
            spi_r: 0,
            next_payload: 0,
            version: 0x20,
            exchange: Exchange::IkeSaInit,
            flags: flags::INITIATOR,
            message_id: 0,
            length: 0,
        };
        encode_plain(&h, &p)
    }

    fn cookie_of(reply: &[u8]) -> Vec<u8> {
        let m = wire::parse_message(reply).unwrap();
        match m.body {
            Body::Plain(p) => match &p[0] {
                Payload::Notify(n) if n.kind == notify::COOKIE => n.data.clone(),
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_returned_cookie_is_valid_only_for_its_address_spi_and_secret() {
        let mut jar = CookieJar::new();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let CookieCheck::Reply(r) = jar.check(&init(5, None), ip) else {
            panic!("no cookie asked for")
        };
        let c = cookie_of(&r);
        assert_eq!(jar.check(&init(5, Some(c.clone())), ip), CookieCheck::Valid);
        // Another address, another SPI, a forged cookie: asked again.
        assert!(matches!(
            jar.check(&init(5, Some(c.clone())), "192.0.2.9".parse().unwrap()),
            CookieCheck::Reply(_)
        ));
        assert!(matches!(
            jar.check(&init(6, Some(c.clone())), ip),
            CookieCheck::Reply(_)
        ));
        assert!(matches!(
            jar.check(&init(5, Some(vec![0; 33])), ip),
            CookieCheck::Reply(_)
        ));
        // A new secret: the old cookie no longer works.
        jar.rotate();
        assert!(matches!(
            jar.check(&init(5, Some(c)), ip),
            CookieCheck::Reply(_)
        ));
        // Garbage is dropped, not answered.
        assert_eq!(jar.check(b"garbage", ip), CookieCheck::Drop);
    }
}
