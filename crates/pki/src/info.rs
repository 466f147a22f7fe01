//! What `show security pki ...` prints, read out of certificates, CRLs and
//! requests: owned, display-ready views that never fail on foreign input
//! (a field that does not parse is shown as unknown, not an error).

use const_oid::ObjectIdentifier;
use const_oid::db::rfc5912;
use der::{DateTime, Decode, Encode};
use spki::SubjectPublicKeyInfoOwned;
use x509_cert::Certificate;
use x509_cert::crl::CertificateList;
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
use x509_cert::ext::pkix::{
    AuthorityInfoAccessSyntax, BasicConstraints, CrlDistributionPoints, CrlNumber, KeyUsage,
    KeyUsages,
};
use x509_cert::name::Name;
use x509_cert::request::{CertReq, ExtensionReq};
use x509_cert::time::Time;

use crate::altname::AltNames;
use crate::fingerprint;

/// `MM-DD-YYYY HH:MM UTC` with the day space-padded, as Junos prints
/// validity dates: `04- 3-2018 09:13 UTC`.
pub fn junos_date(t: &DateTime) -> String {
    format!(
        "{:02}-{:2}-{} {:02}:{:02} UTC",
        t.month(),
        t.day(),
        t.year(),
        t.hour(),
        t.minutes()
    )
}

/// OpenSSL's name for a signature algorithm OID (`sha256WithRSAEncryption`).
pub fn signature_name(oid: &ObjectIdentifier) -> String {
    let known = [
        (rfc5912::MD_5_WITH_RSA_ENCRYPTION, "md5WithRSAEncryption"),
        (rfc5912::SHA_1_WITH_RSA_ENCRYPTION, "sha1WithRSAEncryption"),
        (
            rfc5912::SHA_224_WITH_RSA_ENCRYPTION,
            "sha224WithRSAEncryption",
        ),
        (
            rfc5912::SHA_256_WITH_RSA_ENCRYPTION,
            "sha256WithRSAEncryption",
        ),
        (
            rfc5912::SHA_384_WITH_RSA_ENCRYPTION,
            "sha384WithRSAEncryption",
        ),
        (
            rfc5912::SHA_512_WITH_RSA_ENCRYPTION,
            "sha512WithRSAEncryption",
        ),
        (rfc5912::ID_RSASSA_PSS, "rsassaPss"),
        (rfc5912::ECDSA_WITH_SHA_224, "ecdsa-with-SHA224"),
        (rfc5912::ECDSA_WITH_SHA_256, "ecdsa-with-SHA256"),
        (rfc5912::ECDSA_WITH_SHA_384, "ecdsa-with-SHA384"),
        (rfc5912::ECDSA_WITH_SHA_512, "ecdsa-with-SHA512"),
        (rfc5912::DSA_WITH_SHA_1, "dsaWithSHA1"),
        (rfc5912::DSA_WITH_SHA_224, "dsa_with_SHA224"),
        (rfc5912::DSA_WITH_SHA_256, "dsa_with_SHA256"),
    ];
    known
        .iter()
        .find(|(o, _)| o == oid)
        .map(|(_, n)| (*n).to_string())
        .unwrap_or_else(|| oid.to_string())
}

/// A public key as `show` describes it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct KeyDescription {
    /// `rsaEncryption`, `ecdsaEncryption`, `dsaEncryption`, or the OID.
    pub algorithm: String,
    /// Size in bits (0 if unknown).
    pub bits: u32,
    /// The contents of the subjectPublicKey BIT STRING (what the detail
    /// view dumps in hex).
    pub contents: Vec<u8>,
}

impl KeyDescription {
    /// Describes any SubjectPublicKeyInfo.
    pub fn of(spki: &SubjectPublicKeyInfoOwned) -> Self {
        let contents = spki.subject_public_key.raw_bytes().to_vec();
        let oid = spki.algorithm.oid;
        let (algorithm, bits) = if oid == rfc5912::RSA_ENCRYPTION {
            let bits = rsa::pkcs1::RsaPublicKey::<rsa::pkcs1::UintRef<'_>>::from_der(&contents)
                .map(|k| {
                    let n = k.modulus.as_bytes();
                    let lead = n.iter().position(|b| *b != 0).unwrap_or(n.len());
                    let n = &n[lead..];
                    n.first()
                        .map(|b| (n.len() as u32 - 1) * 8 + (8 - b.leading_zeros()))
                        .unwrap_or(0)
                })
                .unwrap_or(0);
            ("rsaEncryption", bits)
        } else if oid == rfc5912::ID_EC_PUBLIC_KEY {
            let curve: Option<ObjectIdentifier> = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.decode_as().ok());
            let bits = match curve {
                Some(c) if c == rfc5912::SECP_256_R_1 => 256,
                Some(c) if c == rfc5912::SECP_384_R_1 => 384,
                Some(c) if c == rfc5912::SECP_521_R_1 => 521,
                _ => 0,
            };
            ("ecdsaEncryption", bits)
        } else if oid == rfc5912::ID_DSA {
            let bits = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.decode_as::<dsa::Components>().ok())
                .map(|c| c.p().bit_width())
                .unwrap_or(0);
            ("dsaEncryption", bits)
        } else {
            return KeyDescription {
                algorithm: oid.to_string(),
                bits: 0,
                contents,
            };
        };
        KeyDescription {
            algorithm: algorithm.into(),
            bits,
            contents,
        }
    }

    /// `rsaEncryption(2048 bits)`.
    pub fn summary(&self) -> String {
        format!("{}({} bits)", self.algorithm, self.bits)
    }

    /// The hex dump: 20 bytes per line, lowercase, colon-separated.
    pub fn hex_lines(&self) -> Vec<String> {
        self.contents
            .chunks(20)
            .map(fingerprint::hex_pairs)
            .collect()
    }
}

/// The three fingerprints of a DER object.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Fingerprints {
    /// SHA-1.
    pub sha1: String,
    /// MD5.
    pub md5: String,
    /// SHA-256.
    pub sha256: String,
}

impl Fingerprints {
    /// Fingerprints of `der`.
    pub fn of(der: &[u8]) -> Self {
        Fingerprints {
            sha1: fingerprint::sha1(der),
            md5: fingerprint::md5(der),
            sha256: fingerprint::sha256(der),
        }
    }
}

/// A certificate, ready to show.
#[derive(Debug, Clone)]
pub struct CertInfo {
    /// X.509 version as printed (1, 2 or 3).
    pub version: u8,
    /// Serial number, lowercase hex, at least 8 digits.
    pub serial: String,
    /// Issuer DN.
    pub issuer: Name,
    /// Subject DN.
    pub subject: Name,
    /// subjectAltName, None when the certificate has none.
    pub alt: Option<AltNames>,
    /// notBefore.
    pub not_before: DateTime,
    /// notAfter.
    pub not_after: DateTime,
    /// The public key.
    pub key: KeyDescription,
    /// OpenSSL's name for the signature algorithm.
    pub signature_algorithm: String,
    /// CRL distribution point URLs.
    pub crl_urls: Vec<String>,
    /// OCSP responder URLs (AIA).
    pub ocsp_urls: Vec<String>,
    /// Key usage names as Junos prints them.
    pub key_usage: Vec<&'static str>,
    /// basicConstraints cA.
    pub is_ca: bool,
    /// Issuer and subject are the same name.
    pub self_issued: bool,
    /// Fingerprints of the DER.
    pub fingerprints: Fingerprints,
}

/// The serial as Junos prints it: lowercase hex, zero-padded to 8 digits.
pub fn serial_hex(bytes: &[u8]) -> String {
    let lead = bytes
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(bytes.len().saturating_sub(1));
    format!("{:0>8}", hex::encode(&bytes[lead..]))
}

fn time(t: &Time) -> DateTime {
    t.to_date_time()
}

fn uris(names: &[GeneralName]) -> impl Iterator<Item = String> + '_ {
    names.iter().filter_map(|g| match g {
        GeneralName::UniformResourceIdentifier(u) => Some(u.to_string()),
        _ => None,
    })
}

/// Key usage bit names in the Junos wording.
fn key_usage_names(ku: &KeyUsage) -> Vec<&'static str> {
    let table = [
        (KeyUsages::DigitalSignature, "Digital signature"),
        (KeyUsages::NonRepudiation, "Non repudiation"),
        (KeyUsages::KeyEncipherment, "Key encipherment"),
        (KeyUsages::DataEncipherment, "Data encipherment"),
        (KeyUsages::KeyAgreement, "Key agreement"),
        (KeyUsages::KeyCertSign, "Certificate signing"),
        (KeyUsages::CRLSign, "CRL signing"),
        (KeyUsages::EncipherOnly, "Encipher only"),
        (KeyUsages::DecipherOnly, "Decipher only"),
    ];
    table
        .iter()
        .filter(|(bit, _)| ku.0.contains(*bit))
        .map(|(_, n)| *n)
        .collect()
}

impl CertInfo {
    /// Reads everything `show` prints from a certificate.
    pub fn of(cert: &Certificate) -> Self {
        let tbs = cert.tbs_certificate();
        let der = cert.to_der().unwrap_or_default();
        let crl_urls = tbs
            .get_extension::<CrlDistributionPoints>()
            .ok()
            .flatten()
            .map(|(_, cdp)| {
                cdp.0
                    .iter()
                    .filter_map(|dp| match &dp.distribution_point {
                        Some(DistributionPointName::FullName(names)) => {
                            Some(uris(names).collect::<Vec<_>>())
                        }
                        _ => None,
                    })
                    .flatten()
                    .collect()
            })
            .unwrap_or_default();
        let ocsp_urls = tbs
            .get_extension::<AuthorityInfoAccessSyntax>()
            .ok()
            .flatten()
            .map(|(_, aia)| {
                aia.0
                    .iter()
                    .filter(|a| a.access_method == rfc5912::ID_AD_OCSP)
                    .filter_map(|a| match &a.access_location {
                        GeneralName::UniformResourceIdentifier(u) => Some(u.to_string()),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default();
        let key_usage = tbs
            .get_extension::<KeyUsage>()
            .ok()
            .flatten()
            .map(|(_, ku)| key_usage_names(&ku))
            .unwrap_or_default();
        let is_ca = tbs
            .get_extension::<BasicConstraints>()
            .ok()
            .flatten()
            .map(|(_, bc)| bc.ca)
            .unwrap_or(false);
        CertInfo {
            version: tbs.version() as u8 + 1,
            serial: serial_hex(tbs.serial_number().as_bytes()),
            issuer: tbs.issuer().clone(),
            subject: tbs.subject().clone(),
            alt: AltNames::from_certificate(cert).ok().flatten(),
            not_before: time(&tbs.validity().not_before),
            not_after: time(&tbs.validity().not_after),
            key: KeyDescription::of(tbs.subject_public_key_info()),
            signature_algorithm: signature_name(&cert.signature_algorithm().oid),
            crl_urls,
            ocsp_urls,
            key_usage,
            is_ca,
            self_issued: tbs.issuer() == tbs.subject(),
            fingerprints: Fingerprints::of(&der),
        }
    }
}

/// One revoked certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revoked {
    /// Serial, as `serial_hex`.
    pub serial: String,
    /// Revocation date.
    pub date: DateTime,
}

/// A CRL, ready to show.
#[derive(Debug, Clone)]
pub struct CrlInfo {
    /// The raw version value (1 for a v2 CRL), printed `V00000001`.
    pub version: u8,
    /// The cRLNumber extension, hex (None if absent).
    pub number: Option<String>,
    /// Issuer DN.
    pub issuer: Name,
    /// thisUpdate.
    pub this_update: DateTime,
    /// nextUpdate.
    pub next_update: Option<DateTime>,
    /// Revoked certificates.
    pub revoked: Vec<Revoked>,
    /// OpenSSL's name for the signature algorithm.
    pub signature_algorithm: String,
}

impl CrlInfo {
    /// Reads what `show security pki crl` prints.
    pub fn of(crl: &CertificateList) -> Self {
        let tbs = &crl.tbs_cert_list;
        let number = tbs.crl_extensions.as_ref().and_then(|exts| {
            exts.iter()
                .find(|e| e.extn_id == rfc5912::ID_CE_CRL_NUMBER)
                .and_then(|e| CrlNumber::from_der(e.extn_value.as_bytes()).ok())
                .map(|n| serial_hex(n.0.as_bytes()))
        });
        CrlInfo {
            version: tbs.version as u8,
            number,
            issuer: tbs.issuer.clone(),
            this_update: time(&tbs.this_update),
            next_update: tbs.next_update.as_ref().map(time),
            revoked: tbs
                .revoked_certificates
                .iter()
                .flatten()
                .map(|r| Revoked {
                    serial: serial_hex(r.serial_number.as_bytes()),
                    date: time(&r.revocation_date),
                })
                .collect(),
            signature_algorithm: signature_name(&crl.signature_algorithm.oid),
        }
    }
}

/// A PKCS#10 request, ready to show.
#[derive(Debug, Clone)]
pub struct RequestInfo {
    /// Subject DN.
    pub subject: Name,
    /// subjectAltName from the extensionRequest attribute.
    pub alt: Option<AltNames>,
    /// The public key.
    pub key: KeyDescription,
    /// OpenSSL's name for the signature algorithm.
    pub signature_algorithm: String,
    /// Whether a challengePassword attribute is present (its value is never shown).
    pub has_challenge: bool,
    /// Fingerprints of the DER.
    pub fingerprints: Fingerprints,
}

impl RequestInfo {
    /// Reads what `show security pki certificate-request` prints.
    pub fn of(req: &CertReq) -> Self {
        let mut alt = None;
        let mut has_challenge = false;
        for attr in req.info.attributes.iter() {
            if attr.oid == EXTENSION_REQUEST {
                for v in attr.values.iter() {
                    if let Ok(der) = v.to_der()
                        && let Ok(exts) = ExtensionReq::from_der(&der)
                    {
                        for e in exts.0 {
                            if e.extn_id == rfc5912::ID_CE_SUBJECT_ALT_NAME
                                && let Ok(san) = x509_cert::ext::pkix::SubjectAltName::from_der(
                                    e.extn_value.as_bytes(),
                                )
                            {
                                alt = Some(AltNames::from_general_names(&san.0));
                            }
                        }
                    }
                }
            } else if attr.oid == CHALLENGE_PASSWORD {
                has_challenge = true;
            }
        }
        RequestInfo {
            subject: req.info.subject.clone(),
            alt,
            key: KeyDescription::of(&req.info.public_key),
            signature_algorithm: signature_name(&req.algorithm.oid),
            has_challenge,
            fingerprints: Fingerprints::of(&req.to_der().unwrap_or_default()),
        }
    }
}

/// PKCS#9 extensionRequest (1.2.840.113549.1.9.14).
pub const EXTENSION_REQUEST: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.14");
/// PKCS#9 challengePassword (1.2.840.113549.1.9.7).
pub const CHALLENGE_PASSWORD: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.7");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        let t = DateTime::new(2018, 4, 3, 9, 13, 0).unwrap_or(DateTime::INFINITY);
        assert_eq!(junos_date(&t), "04- 3-2018 09:13 UTC");
        assert_eq!(serial_hex(&[0x04, 0x3d, 0xa0]), "00043da0");
        assert_eq!(
            serial_hex(&[0x00, 0x9a, 0x01, 0x02, 0x03, 0x04]),
            "9a01020304"
        );
        assert_eq!(serial_hex(&[0]), "00000000");
    }
}
