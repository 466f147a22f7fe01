//! pkid's CMPv2 enrollments (RFC 4210/9480 over HTTP, RFC 6712): the
//! steps of a record whose protocol is CMPv2. An IR (or a KUR for a
//! re-enrollment) is sent; the answer is a certificate, "waiting" (poll
//! after checkAfter with pollReq, up to the profile's retry count), or a
//! rejection. A certificate is confirmed (certConf, then pkiConf) before
//! it is stored, with the CA chain of the response placed per the Junos
//! naming rule. The message work is `pki::cmp::client`.

use std::time::Duration;

use pki::cmp::client::{self, Answer, Credential, Transaction, Trust};
use pki::key::KeyPair;
use x509_cert::Certificate;
use zeroize::Zeroizing;

use crate::enroll::{Record, Stage, fail, limits, store_failed, unreachable};
use crate::pki_http;
use crate::router::Shared;

/// The content type of CMP over HTTP.
const PKIXCMP: &str = "application/pkixcmp";

fn post(url: &str, message: Vec<u8>) -> Result<Vec<u8>, String> {
    let r = pki_http::call("POST", url, Some(PKIXCMP), message)?;
    if r.status != 200 {
        return Err(format!(
            "CMP: HTTP {} from {url}: {}",
            r.status,
            String::from_utf8_lossy(&r.body).trim()
        ));
    }
    Ok(r.body)
}

/// The key the new certificate is for: a new key pair of a key update,
/// else the key pair `cert_id`.
fn new_key(shared: &Shared, r: &Record) -> Result<Option<KeyPair>, String> {
    let fresh = crate::enroll::new_key_of(r)?;
    if fresh.is_none() && !shared.pki().key_pairs().contains_key(&r.cert_id) {
        return Err(format!(
            "Keypair doesn't exist for certificate-id {}",
            r.cert_id
        ));
    }
    Ok(fresh)
}

/// One step of a CMPv2 record; `None` when it is over.
pub fn step(shared: &Shared, r: Record, now: u64) -> Option<Record> {
    let Some(part) = r.cmp.clone() else {
        return fail(r, "a CMPv2 enrollment without its CMP settings".into());
    };
    let fresh = match new_key(shared, &r) {
        Ok(k) => k,
        Err(e) => return fail(r, e),
    };
    let secret: Option<Zeroizing<Vec<u8>>> = part
        .secret
        .as_ref()
        .map(|s| Zeroizing::new(s.as_bytes().to_vec()));
    let reference = part.reference.clone().unwrap_or_default();
    let at = Duration::from_secs(now);

    // Build the message under the PKI lock; send it without.
    let built = {
        let pki = shared.pki();
        let Some(entry) = pki.key_pairs().get(&r.cert_id) else {
            drop(pki);
            return fail(
                r.clone(),
                format!("Keypair doesn't exist for certificate-id {}", r.cert_id),
            );
        };
        let current = pki.local_certificates().get(&r.cert_id).cloned();
        let cred = match (&secret, &current) {
            (Some(s), _) => Credential::Secret {
                reference: &reference,
                secret: s,
            },
            (None, Some(cert)) => Credential::Certificate {
                cert,
                key: &entry.key,
            },
            (None, None) => {
                drop(pki);
                return fail(
                    r.clone(),
                    "neither a shared secret nor a certificate to sign with".into(),
                );
            }
        };
        let key = fresh.as_ref().unwrap_or(&entry.key);
        match (&part.transaction, r.stage) {
            (Some(txn), Stage::Pending) => client::poll_req(txn, &cred, at),
            _ if r.renewal => match &current {
                Some(old) => client::kur(key, old, &entry.key, at),
                None => {
                    drop(pki);
                    return fail(r.clone(), "no current certificate to update".into());
                }
            },
            _ => {
                let subject = match pki::name::parse_subject(&r.subject, pki.chassis_serial()) {
                    Ok(n) => n,
                    Err(e) => {
                        drop(pki);
                        return fail(r.clone(), format!("subject: {e}"));
                    }
                };
                let ca_dn = match pki::name::parse_subject(&part.ca_dn, "") {
                    Ok(n) => n,
                    Err(e) => {
                        drop(pki);
                        return fail(r.clone(), format!("ca-dn: {e}"));
                    }
                };
                client::ir(key, &subject, &r.alt(), &ca_dn, &cred, at)
            }
        }
        .map_err(|e| e.to_string())
    };
    let sent = match built {
        Ok(s) => s,
        Err(e) => return fail(r, e),
    };
    let body = if r.stage == Stage::Pending {
        "pollReq"
    } else if r.renewal {
        "KUR"
    } else {
        "IR"
    };
    tracing::info!(
        target: "pki",
        "CMPv2 enrollment of {}: {body} sent to {}, transaction {}",
        r.cert_id,
        r.url,
        sent.transaction.transaction_id
    );
    let reply = match post(&r.url, sent.message) {
        Ok(b) => b,
        Err(e) => return unreachable(shared, r, now, e),
    };
    let mut r = r;
    if r.stage == Stage::Pending {
        r.polls += 1;
    }
    r.attempts = 0;
    let txn = sent.transaction;
    if let Some(c) = &mut r.cmp {
        c.transaction = Some(txn.clone());
    }
    answer(
        shared,
        r,
        &txn,
        &reply,
        fresh,
        secret.as_deref().map(|s| s.as_slice()),
        now,
    )
}

fn trust_ca(shared: &Shared, profile: &str) -> Option<Certificate> {
    shared.pki().ca_certificates().get(profile).cloned()
}

#[allow(clippy::too_many_arguments)]
fn answer(
    shared: &Shared,
    mut r: Record,
    txn: &Transaction,
    reply: &[u8],
    fresh: Option<KeyPair>,
    secret: Option<&[u8]>,
    now: u64,
) -> Option<Record> {
    let ca = trust_ca(shared, &r.profile);
    let trust = match (secret, &ca) {
        (Some(s), _) => Trust::Secret(s),
        (None, Some(c)) => Trust::Ca(c),
        (None, None) => {
            let why = format!(
                "no CA certificate for profile {} to check the reply with",
                r.profile
            );
            return fail(r, why);
        }
    };
    // The CA's senderNonce goes into the transaction: our certConf or
    // pollReq echoes it as recipNonce.
    let mut txn = txn.clone();
    let read = {
        let pki = shared.pki();
        match (&fresh, pki.key_pairs().get(&r.cert_id)) {
            (Some(k), _) => client::read_answer_and_record(reply, &mut txn, k, &trust),
            (None, Some(e)) => client::read_answer_and_record(reply, &mut txn, &e.key, &trust),
            (None, None) => {
                drop(pki);
                let why = format!("Keypair doesn't exist for certificate-id {}", r.cert_id);
                return fail(r, why);
            }
        }
    };
    if read.is_ok()
        && let Some(c) = &mut r.cmp
    {
        c.transaction = Some(txn.clone());
    }
    let txn = &txn;
    match read {
        Err(e) => {
            tracing::error!(target: "pki", "CMPv2 enrollment of {}: reply rejected: {e}", r.cert_id);
            // An error message from the CA is its answer; anything else is
            // not believed and tried again.
            if matches!(e, client::ClientError::ErrorMessage { .. }) {
                fail(r, e.to_string())
            } else {
                unreachable(shared, r, now, format!("reply rejected: {e}"))
            }
        }
        Ok(Answer::Waiting { check_after }) => {
            let (retry, _) = limits(shared, &r.profile);
            if r.polls >= retry {
                return fail(r, format!("still waiting after {retry} polls"));
            }
            if r.stage != Stage::Pending {
                tracing::info!(
                    target: "pki",
                    "CMPv2 enrollment of {}: the CA is waiting; polling after {check_after} s",
                    r.cert_id
                );
            }
            r.stage = Stage::Pending;
            r.next_at = now + check_after.max(1);
            Some(r)
        }
        Ok(Answer::Rejected { reason }) => {
            fail(r, format!("the CA rejected the request: {reason}"))
        }
        Ok(Answer::Issued {
            cert,
            ca_pubs,
            extra_certs,
            implicit_confirm,
        }) => confirm_and_store(
            shared,
            r,
            txn,
            &cert,
            &ca_pubs,
            &extra_certs,
            implicit_confirm,
            fresh,
            secret,
            now,
        ),
    }
}

#[allow(clippy::too_many_arguments)]
fn confirm_and_store(
    shared: &Shared,
    r: Record,
    txn: &Transaction,
    cert: &Certificate,
    ca_pubs: &[Certificate],
    extra_certs: &[Certificate],
    implicit_confirm: bool,
    fresh: Option<KeyPair>,
    secret: Option<&[u8]>,
    now: u64,
) -> Option<Record> {
    if r.renewal
        && let Some(old) = shared.pki().local_certificates().get(&r.cert_id).cloned()
        && let Err(why) = crate::enroll::same_identity(&old, cert)
    {
        return fail(r, why);
    }
    let placed = {
        let pki = shared.pki();
        client::place_chain(
            cert,
            ca_pubs,
            extra_certs,
            &r.profile,
            pki.ca_certificates(),
        )
    };
    let placed = match placed {
        Ok(p) => p,
        Err(e) => return fail(r, format!("the CA chain of the reply is not stored: {e}")),
    };
    if !implicit_confirm {
        let reference = r
            .cmp
            .as_ref()
            .and_then(|c| c.reference.clone())
            .unwrap_or_default();
        let conf = {
            let pki = shared.pki();
            let current = pki.local_certificates().get(&r.cert_id).cloned();
            let entry = pki.key_pairs().get(&r.cert_id);
            let cred = match (secret, &current, entry) {
                (Some(s), _, _) => Some(Credential::Secret {
                    reference: &reference,
                    secret: s,
                }),
                (None, Some(c), Some(e)) => Some(Credential::Certificate {
                    cert: c,
                    key: &e.key,
                }),
                _ => None,
            };
            match cred {
                Some(cred) => client::cert_conf(txn, cert, &cred, Duration::from_secs(now))
                    .map_err(|e| e.to_string()),
                None => Err("nothing to protect the certConf with".to_string()),
            }
        };
        let conf = match conf {
            Ok(c) => c,
            Err(e) => return fail(r, e),
        };
        let reply = match post(&r.url, conf.message) {
            Ok(b) => b,
            Err(e) => return fail(r, format!("certConf not acknowledged: {e}")),
        };
        let ca = trust_ca(shared, &r.profile).or_else(|| {
            placed
                .iter()
                .find(|(n, _)| *n == r.profile)
                .map(|(_, c)| c.clone())
        });
        let trust = match (secret, &ca) {
            (Some(s), _) => Trust::Secret(s),
            (None, Some(c)) => Trust::Ca(c),
            (None, None) => return fail(r, "no CA certificate to check the pkiConf with".into()),
        };
        if let Err(e) = client::read_pki_conf(&reply, &conf.transaction, &trust) {
            return fail(r, format!("certConf not acknowledged: {e}"));
        }
    }
    let mut pki = shared.pki();
    if let Err(e) = pki.store_ca_certificates(&placed) {
        drop(pki);
        return fail(r, format!("storing the CA chain: {e}"));
    }
    let stored = match fresh {
        Some(key) => pki.store_renewed(&r.cert_id, &r.profile, key, cert),
        None => pki.store_enrolled(&r.cert_id, &r.profile, cert),
    };
    match stored {
        Ok(()) => {
            let names: Vec<&str> = placed.iter().map(|(n, _)| n.as_str()).collect();
            tracing::info!(
                target: "pki",
                "CMPv2 enrollment of {}: certificate {} loaded{}",
                r.cert_id,
                pki::info::serial_hex(cert.tbs_certificate().serial_number().as_bytes()),
                if names.is_empty() {
                    String::new()
                } else {
                    format!("; CA certificates stored as {}", names.join(", "))
                }
            );
            None
        }
        Err(e) => {
            drop(pki);
            store_failed(shared, r, now, e)
        }
    }
}
