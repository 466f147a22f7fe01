//! PKCS#10 certificate requests (RFC 2986): subject, subjectAltName in an
//! extensionRequest, optional challengePassword, signed with the key pair.

use der::asn1::Utf8StringRef;
use x509_cert::builder::{Builder, RequestBuilder};
use x509_cert::ext::pkix::name::DirectoryString;
use x509_cert::name::Name;
use x509_cert::request::{CertReq, attributes::ChallengePassword};

use crate::altname::AltNames;
use crate::issue::IssueError;
use crate::key::{HashAlg, KeyPair, SignatureBytes};

/// Builds and signs a request.
pub fn build(
    key: &KeyPair,
    subject: Name,
    alt: &AltNames,
    challenge: Option<&str>,
    hash: HashAlg,
) -> Result<CertReq, IssueError> {
    let build_err = |e: &dyn std::fmt::Display| IssueError::Build(e.to_string());
    let mut b = RequestBuilder::new(subject).map_err(|e| build_err(&e))?;
    if let Some(san) = alt.to_extension()? {
        b.add_extension(&san).map_err(|e| build_err(&e))?;
    }
    if let Some(pw) = challenge {
        let v = Utf8StringRef::new(pw).map_err(|e| build_err(&e))?;
        b.add_attribute(&ChallengePassword(DirectoryString::Utf8String(
            v.to_string(),
        )))
        .map_err(|e| build_err(&e))?;
    }
    let signer = key.signer(hash)?;
    b.build::<_, SignatureBytes>(&signer)
        .map_err(|e| build_err(&e))
}
