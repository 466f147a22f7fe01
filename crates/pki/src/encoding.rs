//! Reading X.509 objects from files (PEM or DER, told apart by content) and
//! writing them as PEM.

use der::pem::LineEnding;
use der::{Decode, Encode};
use x509_cert::Certificate;
use x509_cert::crl::CertificateList;
use x509_cert::request::CertReq;

/// Why bytes are not the expected object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Nothing to read.
    #[error("{what}: the file is empty")]
    Empty {
        /// What was expected.
        what: &'static str,
    },
    /// A PEM file whose blocks carry other labels.
    #[error("{what}: PEM block is '{found}', expected '{expected}'")]
    WrongLabel {
        /// What was expected.
        what: &'static str,
        /// The label found.
        found: String,
        /// The label wanted.
        expected: &'static str,
    },
    /// Broken PEM armour or base64.
    #[error("{what}: bad PEM: {detail}")]
    BadPem {
        /// What was expected.
        what: &'static str,
        /// The decoder's complaint.
        detail: String,
    },
    /// DER that does not parse as the object.
    #[error("{what}: not valid DER: {detail}")]
    BadDer {
        /// What was expected.
        what: &'static str,
        /// The decoder's complaint.
        detail: String,
    },
}

const BEGIN: &str = "-----BEGIN ";

/// The DER contents of every PEM block labelled `label` in `bytes`, or
/// `bytes` itself when it is not PEM (DER). Blocks with other labels are
/// an error unless some block has the right label (a certificate file may
/// carry a private key beside it).
pub fn der_blocks(
    bytes: &[u8],
    label: &'static str,
    what: &'static str,
) -> Result<Vec<Vec<u8>>, DecodeError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(DecodeError::Empty { what });
    }
    let text = match std::str::from_utf8(bytes) {
        Ok(t) if t.contains(BEGIN) => t,
        _ => return Ok(vec![bytes.to_vec()]),
    };
    let mut out = Vec::new();
    let mut other = None;
    let mut rest = text;
    while let Some(start) = rest.find(BEGIN) {
        let block = &rest[start..];
        let end_marker = block.find("-----END ").ok_or_else(|| DecodeError::BadPem {
            what,
            detail: "a BEGIN line without its END line".into(),
        })?;
        let after_end = block[end_marker + 9..]
            .find("-----")
            .map(|i| end_marker + 9 + i + 5)
            .ok_or_else(|| DecodeError::BadPem {
                what,
                detail: "unterminated END line".into(),
            })?;
        let (found, der) = der::pem::decode_vec(&block.as_bytes()[..after_end]).map_err(|e| {
            DecodeError::BadPem {
                what,
                detail: e.to_string(),
            }
        })?;
        if found == label {
            out.push(der);
        } else if other.is_none() {
            other = Some(found.to_string());
        }
        rest = &block[after_end..];
    }
    if out.is_empty() {
        return Err(DecodeError::WrongLabel {
            what,
            found: other.unwrap_or_default(),
            expected: label,
        });
    }
    Ok(out)
}

fn one<T: for<'a> Decode<'a>>(
    bytes: &[u8],
    label: &'static str,
    what: &'static str,
) -> Result<T, DecodeError> {
    let blocks = der_blocks(bytes, label, what)?;
    let der = blocks.first().ok_or(DecodeError::Empty { what })?;
    T::from_der(der).map_err(|e| DecodeError::BadDer {
        what,
        detail: e.to_string(),
    })
}

/// Reads one certificate (the first, if the file holds several).
pub fn certificate(bytes: &[u8]) -> Result<Certificate, DecodeError> {
    one(bytes, "CERTIFICATE", "certificate")
}

/// Reads every certificate in a file (a chain, or a single DER one).
pub fn certificates(bytes: &[u8]) -> Result<Vec<Certificate>, DecodeError> {
    der_blocks(bytes, "CERTIFICATE", "certificate")?
        .iter()
        .map(|der| {
            Certificate::from_der(der).map_err(|e| DecodeError::BadDer {
                what: "certificate",
                detail: e.to_string(),
            })
        })
        .collect()
}

/// Reads a CRL.
pub fn crl(bytes: &[u8]) -> Result<CertificateList, DecodeError> {
    one(bytes, "X509 CRL", "CRL")
}

/// Reads a PKCS#10 certificate request.
pub fn request(bytes: &[u8]) -> Result<CertReq, DecodeError> {
    one(bytes, "CERTIFICATE REQUEST", "certificate request")
}

/// PEM armour around DER, LF line endings.
pub fn pem(label: &str, der: &[u8]) -> String {
    // Encoding into a String cannot fail for a valid label and any bytes.
    der::pem::encode_string(label, LineEnding::LF, der).unwrap_or_default()
}

/// A DER-encodable object as PEM.
pub fn to_pem<T: Encode>(label: &str, value: &T) -> Result<String, der::Error> {
    Ok(pem(label, &value.to_der()?))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_problem() {
        assert_eq!(
            certificate(b"  \n").unwrap_err(),
            DecodeError::Empty {
                what: "certificate"
            }
        );
        let e = certificate(b"-----BEGIN X509 CRL-----\nMAA=\n-----END X509 CRL-----\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("PEM block is 'X509 CRL', expected 'CERTIFICATE'"),
            "{e}"
        );
        let e = certificate(b"-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("certificate: bad PEM"), "{e}");
        let e = certificate(b"-----BEGIN CERTIFICATE-----\nMAA=\n").unwrap_err();
        assert!(matches!(e, DecodeError::BadPem { .. }), "{e}");
        let e = certificate(b"\x30\x03\x02\x01\x01")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("certificate: not valid DER"), "{e}");
        let e = crl(b"garbage that is not der").unwrap_err().to_string();
        assert!(e.starts_with("CRL: not valid DER"), "{e}");
    }
}
