//! Degenerate ("certs-only") PKCS#7 (RFC 8894 section 3.4): a SignedData
//! with no signers and no content that only carries certificates (the
//! GetCACert reply for a CA with an RA, the content of a SUCCESS CertRep)
//! or CRLs (the GetCRL reply).

use cms::cert::CertificateChoices;
use cms::content_info::CmsVersion;
use cms::revocation::{RevocationInfoChoice, RevocationInfoChoices};
use cms::signed_data::{CertificateSet, EncapsulatedContentInfo, SignedData, SignerInfos};
use const_oid::db::rfc5911;
use der::asn1::SetOfVec;
use x509_cert::Certificate;
use x509_cert::crl::CertificateList;

use super::ScepError;

/// What a degenerate PKCS#7 carries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Degenerate {
    /// The certificates (in the SET OF's DER order).
    pub certificates: Vec<Certificate>,
    /// The CRLs.
    pub crls: Vec<CertificateList>,
}

/// A degenerate certs-only SignedData (no signers; eContentType `id-data`
/// without eContent) carrying `certs`: the DER of the ContentInfo.
pub fn certs_only(certs: &[Certificate]) -> Result<Vec<u8>, ScepError> {
    degenerate(certs, &[])
}

/// A degenerate SignedData carrying `certs` and `crls` (the crls field is
/// omitted when there are none).
pub fn degenerate(certs: &[Certificate], crls: &[CertificateList]) -> Result<Vec<u8>, ScepError> {
    let enc = |e: der::Error| ScepError::Encode(e.to_string());
    let mut choices: Vec<CertificateChoices> = Vec::new();
    for c in certs {
        let choice = CertificateChoices::Certificate(c.clone());
        if !choices.contains(&choice) {
            choices.push(choice);
        }
    }
    let crls: Vec<RevocationInfoChoice> = crls
        .iter()
        .cloned()
        .map(RevocationInfoChoice::Crl)
        .collect();
    let signed_data = SignedData {
        version: CmsVersion::V1,
        digest_algorithms: SetOfVec::new(),
        encap_content_info: EncapsulatedContentInfo {
            econtent_type: rfc5911::ID_DATA,
            econtent: None,
        },
        certificates: if choices.is_empty() {
            None
        } else {
            Some(CertificateSet::try_from(choices).map_err(enc)?)
        },
        crls: if crls.is_empty() {
            None
        } else {
            Some(RevocationInfoChoices::try_from(crls).map_err(enc)?)
        },
        signer_infos: SignerInfos(SetOfVec::new()),
    };
    super::wrap(rfc5911::ID_SIGNED_DATA, &signed_data)
}

/// The certificates of a degenerate (or any) SignedData.
pub fn parse_certs_only(der: &[u8]) -> Result<Vec<Certificate>, ScepError> {
    parse_degenerate(der).map(|d| d.certificates)
}

/// The certificates and CRLs of a degenerate (or any) SignedData. Signers,
/// if any, are ignored: nothing here is verified.
pub fn parse_degenerate(der: &[u8]) -> Result<Degenerate, ScepError> {
    let signed_data: SignedData =
        super::unwrap(der, rfc5911::ID_SIGNED_DATA, "degenerate SignedData")?;
    let crls = signed_data
        .crls
        .map(|c| c.0.into_vec())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|c| match c {
            RevocationInfoChoice::Crl(crl) => Some(crl),
            RevocationInfoChoice::Other(_) => None,
        })
        .collect();
    Ok(Degenerate {
        certificates: super::certificates_of(signed_data.certificates),
        crls,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::scep::tests::{rsa_identity, write_temp};

    #[test]
    fn certs_only_round_trip() {
        let (_, a) = rsa_identity("CN=one");
        let (_, b) = rsa_identity("CN=two");
        let der = certs_only(&[a.clone(), b.clone(), a.clone()]).unwrap();
        let back = parse_certs_only(&der).unwrap();
        assert_eq!(back.len(), 2);
        assert!(back.contains(&a) && back.contains(&b));
        assert!(parse_degenerate(&der).unwrap().crls.is_empty());

        let empty = certs_only(&[]).unwrap();
        assert!(parse_certs_only(&empty).unwrap().is_empty());

        // OpenSSL reads it as a PKCS#7 with two certificates.
        if let Some(dir) = crate::scep::tests::openssl_dir() {
            let p = write_temp(&dir, "certs.p7b", &der);
            let out = std::process::Command::new("openssl")
                .args(["pkcs7", "-inform", "DER", "-print_certs", "-noout", "-in"])
                .arg(&p)
                .output()
                .unwrap();
            assert!(out.status.success(), "{out:?}");
            let text = String::from_utf8_lossy(&out.stdout);
            assert_eq!(text.matches("subject=").count(), 2, "{text}");
        }
    }

    #[test]
    fn not_signed_data() {
        let e = parse_certs_only(&[0x30, 0x03, 0x02, 0x01, 0x00]).unwrap_err();
        assert!(e.to_string().contains("malformed ContentInfo"), "{e}");
        for n in 0..certs_only(&[]).unwrap().len() {
            assert!(parse_certs_only(&certs_only(&[]).unwrap()[..n]).is_err());
        }
    }
}
