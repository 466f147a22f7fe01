//! The router's SCEP client on what a CA (or anyone on the path) answers.
//!
//! The first byte picks what the rest is (mode % 4):
//!
//! - 0: a CertRep for a pending PKCSReq, read by
//!   `pki::scep::client::read_cert_rep` (trusting a fixed CA);
//! - 1: a CertRep built from the bytes and signed by that CA: status,
//!   failInfo, whether the transaction ID and nonce echo ours from the next
//!   bytes, the rest sealed to the router's certificate as the
//!   certs-only PKCS#7 it opens on SUCCESS;
//! - 2: a GetCACert reply: `CaChain::from_reply` with one of the content
//!   types (and its RA/CA selection and recipient choice);
//! - 3: a GetCACaps reply (`Capabilities::parse`, `choose`) and the
//!   lower-level parsers `parse_certs_only`, `parse_degenerate`,
//!   `open_unverified_attributes`, `open`.

#![no_main]

mod common;

use std::sync::OnceLock;

use common::{byte, ca_identity, client_identity, take};
use der::Encode;
use libfuzzer_sys::fuzz_target;
use pki::key::HashAlg;
use pki::scep::client::{CaChain, Choice, Transaction, choose, read_cert_rep};
use pki::scep::{
    Attributes, Capabilities, ContentCipher, FailInfo, MessageType, Outgoing, PkiStatus,
    SignatureStyle,
};

const TID: &str = "3A0A1E6F8C2B4D77A9F01234567890ABCDEF0123";
const NONCE: [u8; 16] = [0x42; 16];

fn chain() -> &'static CaChain {
    static C: OnceLock<CaChain> = OnceLock::new();
    C.get_or_init(|| CaChain {
        ca: ca_identity().1.clone(),
        ra: Vec::new(),
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn txn() -> &'static Transaction {
    static T: OnceLock<Transaction> = OnceLock::new();
    T.get_or_init(|| {
        let cert = &client_identity().1;
        Transaction {
            transaction_id: TID.into(),
            message_type: MessageType::PkcsReq,
            sender_nonce: hex(&NONCE),
            signer_cert: hex(&cert.to_der().expect("DER")),
            subject: hex(&cert.tbs_certificate().subject().to_der().expect("DER")),
            choice: Choice {
                cipher: ContentCipher::Aes128,
                digest: HashAlg::Sha256,
            },
        }
    })
}

/// A CertRep signed by the trusted CA, shaped by `data`.
fn cert_rep(mut data: &[u8]) -> Option<Vec<u8>> {
    let d = &mut data;
    let flags = byte(d);
    let status = match flags % 4 {
        0 => Some(PkiStatus::Success),
        1 => Some(PkiStatus::Failure),
        2 => Some(PkiStatus::Pending),
        _ => None,
    };
    let fail_info = match (flags >> 2) % 6 {
        0 => Some(FailInfo::BadAlg),
        1 => Some(FailInfo::BadMessageCheck),
        2 => Some(FailInfo::BadRequest),
        3 => Some(FailInfo::BadTime),
        4 => Some(FailInfo::BadCertId),
        _ => None,
    };
    let transaction_id = if flags & 0x20 != 0 {
        let n = usize::from(byte(d) % 48);
        String::from_utf8_lossy(take(d, n)).into_owned()
    } else {
        TID.to_string()
    };
    let recipient_nonce = if flags & 0x40 != 0 {
        let n = usize::from(byte(d) % 72);
        Some(take(d, n).to_vec())
    } else {
        Some(NONCE.to_vec())
    };
    let cipher = ContentCipher::ALL[usize::from(byte(d) % 4)];
    let content = *d;
    let (_, router) = client_identity();
    let envelope = if flags & 0x80 != 0 {
        None
    } else {
        Some(pki::scep::seal(content, router, cipher).ok()?)
    };
    let (ca_key, ca_cert) = ca_identity();
    pki::scep::sign(&Outgoing {
        attributes: Attributes {
            message_type: MessageType::CertRep,
            transaction_id,
            sender_nonce: Some(vec![7; 16]),
            recipient_nonce,
            status,
            fail_info,
        },
        content: envelope.as_deref(),
        signer_cert: ca_cert,
        signer_key: ca_key,
        digest: HashAlg::Sha256,
        signature_algorithm: SignatureStyle::RsaEncryption,
        extra_certs: &[],
    })
    .ok()
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let (key, _) = client_identity();
    match mode % 4 {
        0 => {
            let _ = read_cert_rep(rest, txn(), key, chain());
        }
        1 => {
            if let Some(der) = cert_rep(rest) {
                let _ = read_cert_rep(&der, txn(), key, chain());
            }
        }
        2 => {
            let content_type = match (mode >> 2) % 4 {
                0 => "application/x-x509-ca-cert",
                1 => "application/x-x509-ca-ra-cert",
                2 => "application/x-x509-ca-ra-cert; charset=binary",
                _ => "",
            };
            if let Ok(chain) = CaChain::from_reply(content_type, rest) {
                let _ = chain.recipient();
                let _ = chain.signers();
            }
        }
        _ => {
            let caps = Capabilities::parse(&String::from_utf8_lossy(rest));
            let _ = (caps.list(), caps.unknown(), caps.render());
            let _ = (caps.preferred_cipher(), caps.preferred_digest());
            for cipher in [None, Some(ContentCipher::Des), Some(ContentCipher::Aes256)] {
                let _ = choose(&caps, cipher, None);
            }
            let _ = pki::scep::parse_certs_only(rest);
            let _ = pki::scep::parse_degenerate(rest);
            let _ = pki::scep::open_unverified_attributes(rest);
            let _ = pki::scep::open(rest, std::slice::from_ref(&ca_identity().1));
        }
    }
});
