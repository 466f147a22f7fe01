//! Certificates and CRLs for the authenticator's unit tests (ECDSA P-256).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use der::Encode;
use der::asn1::{BitString, GeneralizedTime};
use pki::altname::AltNames;
use pki::issue::{CertProfile, random_serial, validity};
use pki::key::{HashAlg, KeyAlgorithm, KeyPair, KeySpec, SignatureBytes};
use spki::SubjectPublicKeyInfoRef;
use x509_cert::Certificate;
use x509_cert::builder::profile::BuilderProfile;
use x509_cert::builder::{Builder, CertificateBuilder};
use x509_cert::certificate::{TbsCertificate, Version};
use x509_cert::crl::{CertificateList, RevokedCert, TbsCertList};
use x509_cert::ext::pkix::{CrlNumber, CrlReason};
use x509_cert::ext::{Extension, ToExtension};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::Time;

/// The tests' "now".
pub const NOW: u64 = 1_700_000_000;
/// A day.
pub const DAY: u64 = 86_400;

/// A fresh P-256 key.
pub fn key() -> KeyPair {
    KeyPair::generate(KeySpec::new(KeyAlgorithm::Ecdsa, 256).unwrap()).unwrap()
}

/// A name from RFC 4514 text.
pub fn name(s: &str) -> Name {
    s.parse().unwrap()
}

/// A CertProfile with extensions replaced (same OID) or added.
struct Extra {
    base: CertProfile,
    extra: Vec<Extension>,
    drop: Vec<const_oid::ObjectIdentifier>,
}

impl BuilderProfile for Extra {
    fn get_issuer(&self, subject: &Name) -> Name {
        self.base.get_issuer(subject)
    }

    fn get_subject(&self) -> Name {
        self.base.get_subject()
    }

    fn build_extensions(
        &self,
        spk: SubjectPublicKeyInfoRef<'_>,
        issuer_spk: SubjectPublicKeyInfoRef<'_>,
        tbs: &TbsCertificate,
    ) -> x509_cert::builder::Result<Vec<Extension>> {
        let mut exts = self.base.build_extensions(spk, issuer_spk, tbs)?;
        exts.retain(|e| {
            !self.drop.contains(&e.extn_id) && !self.extra.iter().any(|x| x.extn_id == e.extn_id)
        });
        exts.extend(self.extra.iter().cloned());
        Ok(exts)
    }
}

/// What a test certificate is.
pub struct Spec {
    /// Subject DN text.
    pub subject: String,
    /// `Some(path_len)` for a CA.
    pub ca: Option<Option<u8>>,
    /// DNS subjectAltNames.
    pub dns: Vec<String>,
    /// notBefore, notAfter (seconds since the epoch).
    pub valid: (u64, u64),
    /// Extensions replacing the profile's of the same OID, or added.
    pub extra: Vec<Extension>,
    /// Extensions of the profile left out.
    pub drop: Vec<const_oid::ObjectIdentifier>,
}

impl Spec {
    /// An end entity with `dns` names, valid a year around NOW.
    pub fn ee(subject: &str, dns: &[&str]) -> Self {
        Spec {
            subject: subject.into(),
            ca: None,
            dns: dns.iter().map(|d| d.to_string()).collect(),
            valid: (NOW - DAY, NOW + 365 * DAY),
            extra: Vec::new(),
            drop: Vec::new(),
        }
    }

    /// A CA with `path_len`.
    pub fn ca(subject: &str, path_len: Option<u8>) -> Self {
        Spec {
            ca: Some(path_len),
            ..Spec::ee(subject, &[])
        }
    }
}

/// Issues `spec` for `subject_key`, by `issuer` (None: self-signed).
pub fn make(
    spec: Spec,
    subject_key: &KeyPair,
    issuer: Option<(&Certificate, &KeyPair)>,
) -> Certificate {
    let mut base = CertProfile::end_entity(
        name(&spec.subject),
        AltNames {
            dns: spec.dns,
            ..Default::default()
        },
        KeyAlgorithm::Ecdsa,
    );
    base.ca = spec.ca;
    base.issuer = issuer.map(|(c, _)| c.tbs_certificate().subject().clone());
    let signing = issuer.map(|(_, k)| k).unwrap_or(subject_key);
    let profile = Extra {
        base,
        extra: spec.extra,
        drop: spec.drop,
    };
    let v = validity(
        Duration::from_secs(spec.valid.0),
        Duration::from_secs(spec.valid.1),
    )
    .unwrap();
    let signer = signing.signer(HashAlg::Sha256).unwrap();
    CertificateBuilder::new(
        profile,
        random_serial(),
        v,
        subject_key.public_key_info().unwrap(),
    )
    .unwrap()
    .build::<_, SignatureBytes>(&signer)
    .unwrap()
}

/// An extension from its parts.
pub fn ext<T: Encode>(oid: const_oid::ObjectIdentifier, critical: bool, value: &T) -> Extension {
    Extension {
        extn_id: oid,
        critical,
        extn_value: der::asn1::OctetString::new(value.to_der().unwrap()).unwrap(),
    }
}

fn time(secs: u64) -> Time {
    Time::GeneralTime(GeneralizedTime::from_unix_duration(Duration::from_secs(secs)).unwrap())
}

/// A CRL by `ca` (key `key`) valid around NOW listing `revoked` serials.
pub fn crl(
    ca: &Certificate,
    key: &KeyPair,
    revoked: &[(&SerialNumber, CrlReason)],
) -> CertificateList {
    let issuer = ca.tbs_certificate().subject().clone();
    let entries: Vec<RevokedCert> = revoked
        .iter()
        .map(|(serial, reason)| RevokedCert {
            serial_number: (*serial).clone(),
            revocation_date: time(NOW - DAY),
            crl_entry_extensions: Some(vec![reason.to_extension(&issuer, &[]).unwrap()]),
        })
        .collect();
    let number = CrlNumber(der::asn1::Uint::new(&[1]).unwrap());
    let algorithm = key.signature_algorithm(HashAlg::Sha256).unwrap();
    let tbs = TbsCertList {
        version: Version::V2,
        signature: algorithm.clone(),
        issuer: issuer.clone(),
        this_update: time(NOW - DAY),
        next_update: Some(time(NOW + 7 * DAY)),
        revoked_certificates: (!entries.is_empty()).then_some(entries),
        crl_extensions: Some(vec![(&number).to_extension(&issuer, &[]).unwrap()]),
    };
    let sig = key.sign(HashAlg::Sha256, &tbs.to_der().unwrap()).unwrap();
    CertificateList {
        tbs_cert_list: tbs,
        signature_algorithm: algorithm,
        signature: BitString::from_bytes(&sig).unwrap(),
    }
}

/// A three-level PKI: root, intermediate (pathlen 0), peer.
pub struct Pki {
    /// Root key.
    pub root_key: KeyPair,
    /// Root certificate.
    pub root: Certificate,
    /// Intermediate key.
    pub ica_key: KeyPair,
    /// Intermediate certificate.
    pub ica: Certificate,
    /// Peer key.
    pub peer_key: KeyPair,
    /// Peer certificate.
    pub peer: Certificate,
}

impl Pki {
    /// Root → ICA → peer (`peer.example.net`).
    pub fn new() -> Self {
        let root_key = key();
        let root = make(Spec::ca("CN=Test Root,O=Example", None), &root_key, None);
        let ica_key = key();
        let ica = make(
            Spec::ca("CN=Test ICA,O=Example", Some(0)),
            &ica_key,
            Some((&root, &root_key)),
        );
        let peer_key = key();
        let peer = make(
            Spec::ee("CN=peer,O=Example", &["peer.example.net"]),
            &peer_key,
            Some((&ica, &ica_key)),
        );
        Pki {
            root_key,
            root,
            ica_key,
            ica,
            peer_key,
            peer,
        }
    }

    /// A peer certificate from `spec` issued by the ICA.
    pub fn peer_from(&self, spec: Spec) -> Certificate {
        make(spec, &self.peer_key, Some((&self.ica, &self.ica_key)))
    }
}
