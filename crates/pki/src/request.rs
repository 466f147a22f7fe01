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

/// The request's challengePassword, if it carries one (a DirectoryString:
/// PrintableString, UTF8String, IA5String or TeletexString as clients send it).
pub fn challenge_password(req: &CertReq) -> Option<zeroize::Zeroizing<String>> {
    use der::{Decode, Encode, Tag, Tagged};
    let attr = req
        .info
        .attributes
        .iter()
        .find(|a| a.oid == crate::info::CHALLENGE_PASSWORD)?;
    let value = attr.values.iter().next()?;
    let text = match value.tag() {
        Tag::PrintableString | Tag::Utf8String | Tag::Ia5String | Tag::TeletexString => {
            let der = value.to_der().ok()?;
            let any = der::asn1::AnyRef::from_der(&der).ok()?;
            String::from_utf8(any.value().to_vec()).ok()?
        }
        _ => return None,
    };
    Some(zeroize::Zeroizing::new(text))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::key::{KeyAlgorithm, KeySpec};

    #[test]
    fn challenge_password_reads_back() {
        let key = KeyPair::generate(KeySpec::new(KeyAlgorithm::Ecdsa, 256).unwrap()).unwrap();
        let name = crate::name::parse_subject("CN=r1", "S").unwrap();
        let with = build(
            &key,
            name.clone(),
            &AltNames::default(),
            Some("s3cret"),
            HashAlg::Sha256,
        )
        .unwrap();
        assert_eq!(challenge_password(&with).unwrap().as_str(), "s3cret");
        let without = build(&key, name, &AltNames::default(), None, HashAlg::Sha256).unwrap();
        assert!(challenge_password(&without).is_none());
    }
}
