//! Making certificates: the extension profile the router (and the embedded
//! CA) puts into certificates, self-signed certificates, and issuing a
//! certificate for someone else's public key.

use std::time::Duration;

use der::DateTime;
use der::asn1::{GeneralizedTime, Ia5String};
use getrandom::{SysRng, rand_core::UnwrapErr};
use spki::{SubjectPublicKeyInfoOwned, SubjectPublicKeyInfoRef};
use x509_cert::Certificate;
use x509_cert::builder::profile::BuilderProfile;
use x509_cert::builder::{Builder, CertificateBuilder};
use x509_cert::certificate::TbsCertificate;
use x509_cert::ext::pkix::crl::dp::DistributionPoint;
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
use x509_cert::ext::pkix::{
    AccessDescription, AuthorityInfoAccessSyntax, AuthorityKeyIdentifier, BasicConstraints,
    CrlDistributionPoints, ExtendedKeyUsage, KeyUsage, KeyUsages, SubjectKeyIdentifier,
};
use x509_cert::ext::{Extension, ToExtension};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::{Time, Validity};

use crate::altname::{AltNameError, AltNames};
use crate::key::{HashAlg, KeyAlgorithm, KeyError, KeyPair, SignatureBytes};

/// Why a certificate could not be made.
#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    /// The signing key.
    #[error("{0}")]
    Key(#[from] KeyError),
    /// The alternative names.
    #[error("{0}")]
    AltName(#[from] AltNameError),
    /// A date outside what X.509 can carry, or notAfter before notBefore.
    #[error("bad validity: {0}")]
    Validity(String),
    /// The builder failed.
    #[error("certificate encoding: {0}")]
    Build(String),
}

/// What goes into a certificate besides its key.
#[derive(Debug, Clone)]
pub struct CertProfile {
    /// Subject DN.
    pub subject: Name,
    /// Issuer DN; None for self-signed.
    pub issuer: Option<Name>,
    /// `Some(path_len)` for a CA certificate (basicConstraints cA, critical).
    pub ca: Option<Option<u8>>,
    /// subjectAltName entries.
    pub alt: AltNames,
    /// CRL distribution point URLs.
    pub crl_urls: Vec<String>,
    /// OCSP responder URLs.
    pub ocsp_urls: Vec<String>,
    /// extendedKeyUsage purposes (none: no extension).
    pub extended_key_usage: Vec<const_oid::ObjectIdentifier>,
    /// The subject key's algorithm (decides keyEncipherment for RSA).
    pub key_algorithm: KeyAlgorithm,
}

impl CertProfile {
    /// An end-entity profile for `subject` with `alt` names.
    pub fn end_entity(subject: Name, alt: AltNames, key_algorithm: KeyAlgorithm) -> Self {
        CertProfile {
            subject,
            issuer: None,
            ca: None,
            alt,
            crl_urls: Vec::new(),
            ocsp_urls: Vec::new(),
            extended_key_usage: Vec::new(),
            key_algorithm,
        }
    }

    fn key_usage(&self) -> KeyUsage {
        let mut ku = KeyUsages::DigitalSignature.into();
        if self.ca.is_some() {
            ku |= KeyUsages::KeyCertSign | KeyUsages::CRLSign;
        } else if self.key_algorithm == KeyAlgorithm::Rsa {
            ku |= KeyUsages::KeyEncipherment;
        }
        KeyUsage(ku)
    }
}

impl BuilderProfile for CertProfile {
    fn get_issuer(&self, subject: &Name) -> Name {
        self.issuer.clone().unwrap_or_else(|| subject.clone())
    }

    fn get_subject(&self) -> Name {
        self.subject.clone()
    }

    fn build_extensions(
        &self,
        spk: SubjectPublicKeyInfoRef<'_>,
        issuer_spk: SubjectPublicKeyInfoRef<'_>,
        tbs: &TbsCertificate,
    ) -> x509_cert::builder::Result<Vec<Extension>> {
        let subject = tbs.subject();
        let mut exts: Vec<Extension> = Vec::new();
        let ski = SubjectKeyIdentifier::try_from(spk)?;
        let self_signed = self.issuer.is_none();
        exts.push((&ski).to_extension(subject, &exts)?);
        if !self_signed {
            let aki = AuthorityKeyIdentifier::try_from(issuer_spk)?;
            exts.push((&aki).to_extension(subject, &exts)?);
        }
        if let Some(path_len) = self.ca {
            let bc = BasicConstraints {
                ca: true,
                path_len_constraint: path_len,
            };
            exts.push((&bc).to_extension(subject, &exts)?);
        }
        let ku = self.key_usage();
        exts.push((&ku).to_extension(subject, &exts)?);
        if !self.extended_key_usage.is_empty() {
            let eku = ExtendedKeyUsage(self.extended_key_usage.clone());
            exts.push((&eku).to_extension(subject, &exts)?);
        }
        if let Some(san) = self
            .alt
            .to_extension()
            .map_err(|_| der::Error::from(der::ErrorKind::Failed))?
        {
            exts.push((&san).to_extension(subject, &exts)?);
        }
        if !self.crl_urls.is_empty() {
            let mut points = Vec::new();
            for u in &self.crl_urls {
                points.push(DistributionPoint {
                    distribution_point: Some(DistributionPointName::FullName(vec![
                        GeneralName::UniformResourceIdentifier(Ia5String::new(u.as_str())?),
                    ])),
                    reasons: None,
                    crl_issuer: None,
                });
            }
            exts.push((&CrlDistributionPoints(points)).to_extension(subject, &exts)?);
        }
        if !self.ocsp_urls.is_empty() {
            let mut access = Vec::new();
            for u in &self.ocsp_urls {
                access.push(AccessDescription {
                    access_method: const_oid::db::rfc5912::ID_AD_OCSP,
                    access_location: GeneralName::UniformResourceIdentifier(Ia5String::new(
                        u.as_str(),
                    )?),
                });
            }
            exts.push((&AuthorityInfoAccessSyntax(access)).to_extension(subject, &exts)?);
        }
        Ok(exts)
    }
}

/// A random positive 16-byte serial number.
pub fn random_serial() -> SerialNumber {
    SerialNumber::generate(&mut UnwrapErr(SysRng))
}

/// A validity period from two instants (seconds since the epoch).
pub fn validity(not_before: Duration, not_after: Duration) -> Result<Validity, IssueError> {
    if not_after <= not_before {
        return Err(IssueError::Validity(
            "notAfter is not after notBefore".into(),
        ));
    }
    let t = |d: Duration| -> Result<Time, IssueError> {
        let dt = DateTime::from_unix_duration(Duration::from_secs(d.as_secs()))
            .map_err(|e| IssueError::Validity(e.to_string()))?;
        Ok(Time::GeneralTime(GeneralizedTime::from_date_time(dt)))
    };
    Ok(Validity::new(t(not_before)?, t(not_after)?))
}

/// Issues a certificate for `subject_key` under `profile`, signed by
/// `issuer_key` (the subject's own key for a self-signed certificate).
pub fn issue(
    profile: CertProfile,
    serial: SerialNumber,
    validity: Validity,
    subject_key: SubjectPublicKeyInfoOwned,
    issuer_key: &KeyPair,
    hash: HashAlg,
) -> Result<Certificate, IssueError> {
    profile.alt.validate()?;
    let signer = issuer_key.signer(hash)?;
    let builder = CertificateBuilder::new(profile, serial, validity, subject_key)
        .map_err(|e| IssueError::Build(e.to_string()))?;
    builder
        .build::<_, SignatureBytes>(&signer)
        .map_err(|e| IssueError::Build(e.to_string()))
}

/// A self-signed certificate for `key` (a CA certificate when `ca`).
pub fn self_signed(
    key: &KeyPair,
    subject: Name,
    alt: AltNames,
    ca: bool,
    validity: Validity,
) -> Result<Certificate, IssueError> {
    let mut profile = CertProfile::end_entity(subject, alt, key.spec().algorithm);
    if ca {
        profile.ca = Some(None);
    }
    issue(
        profile,
        random_serial(),
        validity,
        key.public_key_info()?,
        key,
        key.default_hash(),
    )
}
