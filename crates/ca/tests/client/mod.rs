//! A small SCEP and CMP client for the CA's own tests and benchmark: a
//! hyper HTTP/1 client over tokio, and message builders from `pki::scep`
//! and `pki::cmp`. (The router's real clients are separate; this one only
//! drives the server.)

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::net::SocketAddr;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use pki::altname::AltNames;
use pki::cmp::{CertReqMsg, CertStatus, CertTemplate, PkiBody, PkiHeader, Protection, protect};
use pki::key::{HashAlg, KeyAlgorithm, KeyPair, KeySpec};
use pki::scep::{
    self, Attributes, ContentCipher, MessageType, Outgoing, PkiStatus, SignatureStyle,
};
use x509_cert::Certificate;

/// One HTTP request on a fresh connection: (status, content type, body).
pub async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> (u16, String, Vec<u8>) {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    let mut req = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string());
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    let resp = sender
        .send_request(req.body(Full::new(Bytes::from(body))).unwrap())
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let ct = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = resp
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    (status, ct, body)
}

/// An RSA key with the self-signed certificate SCEP requests are signed with.
pub struct ScepIdentity {
    pub key: KeyPair,
    pub cert: Certificate,
}

impl ScepIdentity {
    pub fn new(bits: u32) -> Self {
        let key = KeyPair::generate(KeySpec::new(KeyAlgorithm::Rsa, bits).unwrap()).unwrap();
        let cert = pki::issue::self_signed(
            &key,
            pki::name::parse_subject("CN=scep transient", "").unwrap(),
            AltNames::default(),
            false,
            pki::issue::validity(
                Duration::from_secs(1_700_000_000),
                Duration::from_secs(2_000_000_000),
            )
            .unwrap(),
        )
        .unwrap();
        ScepIdentity { key, cert }
    }

    /// A PKCSReq for `subject` (with `challenge`), enveloped for `ca`.
    pub fn pkcs_req(
        &self,
        ca: &Certificate,
        subject: &str,
        challenge: Option<&str>,
        tid: &str,
        cipher: ContentCipher,
        digest: HashAlg,
    ) -> Vec<u8> {
        let alt = AltNames {
            dns: vec!["r.example.net".into()],
            ..AltNames::default()
        };
        let csr = pki::request::build(
            &self.key,
            pki::name::parse_subject(subject, "").unwrap(),
            &alt,
            challenge,
            HashAlg::Sha256,
        )
        .unwrap();
        let csr = der::Encode::to_der(&csr).unwrap();
        self.message(ca, MessageType::PkcsReq, &csr, tid, cipher, digest)
    }

    /// A signed and enveloped message of `kind` carrying `content`.
    pub fn message(
        &self,
        ca: &Certificate,
        kind: MessageType,
        content: &[u8],
        tid: &str,
        cipher: ContentCipher,
        digest: HashAlg,
    ) -> Vec<u8> {
        let envelope = scep::seal(content, ca, cipher).unwrap();
        scep::sign(&Outgoing {
            attributes: Attributes::request(kind, tid),
            content: Some(&envelope),
            signer_cert: &self.cert,
            signer_key: &self.key,
            digest,
            signature_algorithm: SignatureStyle::WithHash,
            extra_certs: &[],
        })
        .unwrap()
    }

    /// Opens a CertRep: its status, failInfo and (on SUCCESS) the certificate.
    pub fn cert_rep(
        &self,
        ca: &Certificate,
        der: &[u8],
    ) -> (PkiStatus, Option<scep::FailInfo>, Option<Certificate>) {
        let m = scep::open(der, std::slice::from_ref(ca)).unwrap();
        assert_eq!(m.attributes.message_type, MessageType::CertRep);
        let status = m.attributes.status.unwrap();
        let cert = m.content.map(|c| {
            let opened = scep::open_envelope(&c, &self.key, &self.cert).unwrap();
            scep::parse_certs_only(&opened.content)
                .unwrap()
                .into_iter()
                .next()
                .unwrap()
        });
        (status, m.attributes.fail_info, cert)
    }
}

/// A CMP IR for `subject` with `key`, MACed under `secret` (reference `reference`).
pub fn cmp_ir(
    key: &KeyPair,
    subject: &str,
    reference: &str,
    secret: &[u8],
    ca_subject: &x509_cert::name::Name,
    now: u64,
) -> Vec<u8> {
    let template = CertTemplate {
        subject: Some(pki::name::parse_subject(subject, "").unwrap()),
        public_key: Some(key.public_key_info().unwrap()),
        ..CertTemplate::default()
    };
    let req = CertReqMsg::signed(0, template, None, key, HashAlg::Sha256).unwrap();
    let header = PkiHeader::new(
        pki::name::parse_subject(subject, "").unwrap(),
        ca_subject.clone(),
        now,
    )
    .unwrap()
    .with_sender_kid(reference.as_bytes())
    .unwrap();
    protect(
        header,
        PkiBody::Ir(vec![req]),
        Protection::Mac { secret },
        vec![],
    )
    .unwrap()
    .to_der()
    .unwrap()
}

/// The certConf for `cert` in reply to the IP `ip`.
pub fn cmp_cert_conf(
    ip: &pki::cmp::PkiMessage,
    cert: &Certificate,
    subject: &str,
    reference: &str,
    secret: &[u8],
    now: u64,
) -> Vec<u8> {
    let header = PkiHeader::reply_to(
        &ip.header,
        pki::name::parse_subject(subject, "").unwrap(),
        now,
    )
    .unwrap()
    .with_sender_kid(reference.as_bytes())
    .unwrap();
    let status = CertStatus::for_certificate(cert, 0, None).unwrap();
    protect(
        header,
        PkiBody::CertConf(vec![status]),
        Protection::Mac { secret },
        vec![],
    )
    .unwrap()
    .to_der()
    .unwrap()
}

/// Many clients' worth of requests, made up front (key generation is the
/// clients' cost, not the CA's): `n` SCEP PKCSReqs (challenge "pw") from a
/// few RSA identities and `n` CMP IRs (secret 3078=1234-5678) from a few
/// P-256 keys, each with its own subject and transaction.
pub struct Batch {
    pub ids: Vec<ScepIdentity>,
    pub scep: Vec<Vec<u8>>,
    pub cmp: Vec<Vec<u8>>,
}

impl Batch {
    pub fn new(ca: &Certificate, n: usize, now: u64) -> Self {
        let ids: Vec<ScepIdentity> = (0..4).map(|_| ScepIdentity::new(2048)).collect();
        let keys: Vec<KeyPair> = (0..8)
            .map(|_| KeyPair::generate(KeySpec::new(KeyAlgorithm::Ecdsa, 256).unwrap()).unwrap())
            .collect();
        let ca_subject = ca.tbs_certificate().subject();
        let scep = (0..n)
            .map(|i| {
                ids[i % ids.len()].pkcs_req(
                    ca,
                    &format!("CN=scep{i}"),
                    Some("pw"),
                    &format!("T{i}"),
                    ContentCipher::Aes128,
                    HashAlg::Sha256,
                )
            })
            .collect();
        let cmp = (0..n)
            .map(|i| {
                cmp_ir(
                    &keys[i % keys.len()],
                    &format!("CN=cmp{i}"),
                    "3078",
                    b"1234-5678",
                    ca_subject,
                    now,
                )
            })
            .collect();
        Batch { ids, scep, cmp }
    }
}
