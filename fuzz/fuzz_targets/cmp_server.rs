//! The embedded CA's CMP server (`ca::cmp::CmpServer::handle`) on
//! PKIMessages from the network (RFC 6712 POST bodies).
//!
//! The first byte picks the shape (mode % 2):
//!
//! - 0: the rest is the POST body as it is;
//! - 1: the next byte says how long a transactionID to take from the
//!   input, then the rest is the DER of a PKIBody (ir, cr, kur, p10cr,
//!   certConf, pollReq, rr, genm, error, ...) that the harness wraps in a
//!   header (sender, the issuing CA as recipient, the transactionID, a
//!   fresh senderNonce, senderKID "3078", implicitConfirm when mode & 2)
//!   and protects with the server's shared secret (PBM, 1 iteration), so
//!   the server gets past authentication and acts on the body.
//!
//! The CA is made once in a temporary directory; the server keeps its
//! transactions and seen nonces across inputs.

#![no_main]

mod common;

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use ca::cmp::{CmpServer, CmpSettings, PKIXCMP};
use ca::http::{Method, Request};
use common::{CMP_REFERENCE, CMP_SECRET, NOW, authority, byte, take};
use der::Decode;
use libfuzzer_sys::fuzz_target;
use pki::cmp::{PbmConfig, PkiBody, PkiHeader, Protection, protect};
use pki::key::HashAlg;

fn server() -> &'static CmpServer {
    static S: OnceLock<CmpServer> = OnceLock::new();
    S.get_or_init(|| {
        let mut settings = CmpSettings::default();
        settings.add_secret(CMP_REFERENCE, CMP_SECRET);
        CmpServer::new(settings)
    })
}

/// A MAC-protected PKIMessage around the body in `data`.
fn structured(mut data: &[u8], implicit: bool) -> Option<Vec<u8>> {
    static NONCE: AtomicU64 = AtomicU64::new(0);
    let d = &mut data;
    let tid_len = usize::from(byte(d) % 33);
    let tid = take(d, tid_len).to_vec();
    let body = PkiBody::from_der(d).ok()?;
    let recipient = authority()
        .hierarchy()
        .issuing
        .cert
        .tbs_certificate()
        .subject()
        .clone();
    let nonce = NONCE.fetch_add(1, Ordering::Relaxed).to_be_bytes();
    let mut header = PkiHeader::new(
        "CN=router1,O=Example".parse().ok()?,
        recipient,
        NOW.as_secs(),
    )
    .ok()?
    .with_transaction_id(&tid)
    .ok()?
    .with_sender_nonce(&[&nonce[..], &[0x5a; 8]].concat())
    .ok()?
    .with_sender_kid(CMP_REFERENCE.as_bytes())
    .ok()?;
    if implicit {
        header = header.with_implicit_confirm().ok()?;
    }
    let config = PbmConfig {
        owf: HashAlg::Sha256,
        mac: HashAlg::Sha256,
        iterations: 1,
        salt_len: 8,
    };
    let msg = protect(
        header,
        body,
        Protection::MacWith {
            secret: CMP_SECRET.as_bytes(),
            config,
        },
        Vec::new(),
    )
    .ok()?;
    msg.to_der().ok()
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let body = if mode % 2 == 0 {
        rest.to_vec()
    } else {
        match structured(rest, mode & 2 != 0) {
            Some(b) => b,
            None => return,
        }
    };
    let req = Request {
        method: Method::Post,
        path: "/pkix/".into(),
        query: Vec::new(),
        content_type: Some(PKIXCMP.into()),
        body: body.into(),
        peer: None,
    };
    let reply = server().handle(authority(), &req, NOW);
    assert!(
        (200..600).contains(&reply.status),
        "HTTP status {}",
        reply.status
    );
});
