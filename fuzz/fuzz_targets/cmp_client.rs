//! The router's CMPv2 client on what a CA (or anyone on the path) answers.
//!
//! The first byte picks what the rest is (mode % 4):
//!
//! - 0: the answer to an `ir`, read by
//!   `pki::cmp::client::read_answer_and_record` trusting a shared secret;
//! - 1: the same, trusting a CA certificate (signature protection), and
//!   `read_pki_conf`;
//! - 2: the DER of a PKIBody (ip, kup, pollRep, error, pkiconf, ...) that
//!   the harness wraps in a reply header (our transactionID, our nonce
//!   echoed, implicitConfirm when mode & 4) and MAC-protects with the
//!   shared secret, so the client gets to the body checks;
//! - 3: the lower level: `pki::cmp::Received::decode`, the protection
//!   helpers, and `place_chain` on the message's extraCerts.

#![no_main]

mod common;

use std::collections::BTreeMap;
use std::sync::OnceLock;

use common::{CMP_SECRET, NOW, ca_identity, client_identity};
use der::{Decode, Encode};
use libfuzzer_sys::fuzz_target;
use pki::cmp::client::{
    Answer, Transaction, Trust, place_chain, read_answer_and_record, read_pki_conf,
};
use pki::cmp::{PbmConfig, PkiBody, PkiHeader, Protection, Received, protect};
use pki::key::HashAlg;

const TID: [u8; 16] = [0x11; 16];
const NONCE: [u8; 16] = [0x22; 16];

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn txn(body: &str) -> Transaction {
    static NAMES: OnceLock<(String, String)> = OnceLock::new();
    let (recipient, sender) = NAMES.get_or_init(|| {
        let ca = ca_identity()
            .1
            .tbs_certificate()
            .subject()
            .to_der()
            .expect("DER");
        let me = client_identity()
            .1
            .tbs_certificate()
            .subject()
            .to_der()
            .expect("DER");
        (hex(&ca), hex(&me))
    });
    Transaction {
        transaction_id: hex(&TID),
        sender_nonce: hex(&NONCE),
        cert_req_id: 0,
        body: body.into(),
        recipient: recipient.clone(),
        sender: sender.clone(),
        recip_nonce: String::new(),
    }
}

/// A MAC-protected reply around the body in `data`.
fn structured(data: &[u8], implicit: bool) -> Option<Vec<u8>> {
    let body = PkiBody::from_der(data).ok()?;
    let ca = ca_identity().1.tbs_certificate().subject().clone();
    let me = client_identity().1.tbs_certificate().subject().clone();
    let mut header = PkiHeader::new(ca, me, NOW.as_secs())
        .ok()?
        .with_transaction_id(&TID)
        .ok()?
        .with_recip_nonce(&NONCE)
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
    protect(
        header,
        body,
        Protection::MacWith {
            secret: CMP_SECRET.as_bytes(),
            config,
        },
        Vec::new(),
    )
    .ok()?
    .to_der()
    .ok()
}

fn read(der: &[u8], body: &str, trust: &Trust<'_>) {
    let (key, _) = client_identity();
    let mut t = txn(body);
    if let Ok(Answer::Issued {
        cert,
        ca_pubs,
        extra_certs,
        ..
    }) = read_answer_and_record(der, &mut t, key, trust)
    {
        let _ = place_chain(&cert, &ca_pubs, &extra_certs, "fuzz", &BTreeMap::new());
    }
    let _ = read_pki_conf(der, &t, trust);
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let body = if mode & 8 != 0 { "kur" } else { "ir" };
    let secret = Trust::Secret(CMP_SECRET.as_bytes());
    match mode % 4 {
        0 => read(rest, body, &secret),
        1 => read(rest, body, &Trust::Ca(&ca_identity().1)),
        2 => {
            if let Some(der) = structured(rest, mode & 4 != 0) {
                read(&der, body, &secret);
            }
        }
        _ => {
            let Ok(r) = Received::decode(rest) else {
                return;
            };
            let _ = r.protected_part();
            let _ = r.compute_mac(CMP_SECRET.as_bytes());
            let _ = r.verify_mac(CMP_SECRET.as_bytes());
            let _ = r.verify_signature(&ca_identity().1);
            let msg = r.into_message();
            let _ = pki::cmp::protection_kind(&msg);
            let _ = pki::cmp::pbm_parameters(&msg);
            let _ = msg.body_name();
            let _ = msg.to_der();
            let _ = (
                msg.header.implicit_confirm(),
                msg.header.message_time_unix(),
            );
            if let Some(certs) = &msg.extra_certs
                && let Some((first, others)) = certs.split_first()
            {
                let _ = place_chain(first, others, &[], "fuzz", &BTreeMap::new());
                let _ = pki::cmp::client::serial_profile_name(first);
            }
        }
    }
});
