//! The embedded CA's SCEP server (`ca::scep::ScepServer::handle`) on
//! PKIOperation requests from the network.
//!
//! The first byte picks the shape (mode % 4):
//!
//! - 0: the rest is the body of `POST ?operation=PKIOperation` (DER, or
//!   base64 when it does not start with 0x30);
//! - 1: the rest (lossy UTF-8) is the `message` parameter of
//!   `GET ?operation=PKIOperation`;
//! - 2: the rest is any query string's values (operation, message) and a
//!   POST body, split by the first two 0x00 bytes;
//! - 3: a well-formed pkiMessage around fuzzed content: message type,
//!   envelope cipher, digest, transaction ID and nonce from the next bytes,
//!   the rest sealed for the CA and signed by a router's self-signed RSA
//!   certificate, so the server opens the envelope and decides on the
//!   fuzzed PKCS#10 / IssuerAndSubject / IssuerAndSerialNumber.
//!
//! The CA (root and issuing CA, challenge password "pw") is made once in a
//! temporary directory; the server keeps its state across inputs.

#![no_main]

mod common;

use std::sync::OnceLock;

use ca::http::{Method, Request};
use ca::scep::{CapsPreset, ScepServer, ScepSettings};
use common::{NOW, authority, byte, client_identity, take};
use libfuzzer_sys::fuzz_target;
use pki::key::HashAlg;
use pki::scep::{Attributes, ContentCipher, MessageType, Outgoing, SignatureStyle};

fn servers() -> &'static [ScepServer; 2] {
    static S: OnceLock<[ScepServer; 2]> = OnceLock::new();
    S.get_or_init(|| {
        [
            ScepServer::new(ScepSettings::default()),
            ScepServer::new(ScepSettings {
                caps: CapsPreset::Legacy3Des,
                accept_des: false,
                ca_in_certrep: true,
                ..ScepSettings::default()
            }),
        ]
    })
}

fn request(method: Method, query: Vec<(String, String)>, body: Vec<u8>) -> Request {
    Request {
        method,
        path: "/scep".into(),
        query,
        content_type: Some("application/x-pki-message".into()),
        body: body.into(),
        peer: None,
    }
}

fn pki_operation(extra: Option<(&str, String)>) -> Vec<(String, String)> {
    let mut q = vec![("operation".to_string(), "PKIOperation".to_string())];
    if let Some((k, v)) = extra {
        q.push((k.to_string(), v));
    }
    q
}

/// A signed pkiMessage around `content`, shaped by the first bytes of `data`.
fn structured(mut data: &[u8]) -> Option<Vec<u8>> {
    let d = &mut data;
    let message_type = match byte(d) % 6 {
        0 => MessageType::PkcsReq,
        1 => MessageType::RenewalReq,
        2 => MessageType::CertPoll,
        3 => MessageType::GetCert,
        4 => MessageType::GetCrl,
        _ => MessageType::CertRep,
    };
    let cipher = ContentCipher::ALL[usize::from(byte(d) % 4)];
    let digest = match byte(d) % 4 {
        0 => HashAlg::Sha1,
        1 => HashAlg::Sha256,
        2 => HashAlg::Sha384,
        _ => HashAlg::Sha512,
    };
    let tid_len = usize::from(byte(d) % 48);
    let transaction_id = String::from_utf8_lossy(take(d, tid_len)).into_owned();
    let nonce_len = usize::from(byte(d) % 72);
    let nonce = take(d, nonce_len).to_vec();
    let content = *d;
    let ca = &authority().hierarchy();
    let recipient = ca.ra.as_ref().unwrap_or(&ca.issuing);
    let envelope = pki::scep::seal(content, &recipient.cert, cipher).ok()?;
    let (key, cert) = client_identity();
    pki::scep::sign(&Outgoing {
        attributes: Attributes {
            message_type,
            transaction_id,
            sender_nonce: Some(nonce),
            recipient_nonce: None,
            status: None,
            fail_info: None,
        },
        content: Some(&envelope),
        signer_cert: cert,
        signer_key: key,
        digest,
        signature_algorithm: SignatureStyle::RsaEncryption,
        extra_certs: &[],
    })
    .ok()
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let server = &servers()[usize::from(mode >> 7)];
    let req = match mode % 4 {
        0 => request(Method::Post, pki_operation(None), rest.to_vec()),
        1 => request(
            Method::Get,
            pki_operation(Some((
                "message",
                String::from_utf8_lossy(rest).into_owned(),
            ))),
            Vec::new(),
        ),
        2 => {
            let mut parts = rest.splitn(3, |b| *b == 0);
            let op = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
            let msg = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
            let body = parts.next().unwrap_or_default().to_vec();
            let method = if mode & 0x40 != 0 {
                Method::Get
            } else {
                Method::Post
            };
            request(
                method,
                vec![("operation".into(), op), ("message".into(), msg)],
                body,
            )
        }
        _ => {
            let Some(der) = structured(rest) else {
                return;
            };
            request(Method::Post, pki_operation(None), der)
        }
    };
    let reply = server.handle(authority(), &req, NOW);
    assert!(
        (200..600).contains(&reply.status),
        "HTTP status {}",
        reply.status
    );
});
