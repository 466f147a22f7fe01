//! A message as received: decoded, with the bytes its protection covers
//! kept as the peer sent them.
//!
//! The MAC or signature of a message covers the sender's encoding of
//! `SEQUENCE { header, body }`. For DER input that is our re-encoding too,
//! but the `der` crate sorts SET OF values while decoding, so a peer whose
//! encoder left a multi-valued RDN or the attributes of a PKCS#10 request
//! unsorted (strongSwan does the latter) would fail a check over the
//! re-encoding although its protection is correct. A CMP server should
//! therefore verify what it received with [`Received`].

use der::asn1::AnyRef;
use der::{Decode, Encode, Reader, SliceReader, Tag, Tagged};
use x509_cert::Certificate;

use super::CmpError;
use super::message::decode;
use super::protection::{check_mac, check_signature, mac_over};
use super::types::PkiMessage;

/// A decoded message and its `DER(ProtectedPart)` as received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    /// The message.
    pub message: PkiMessage,
    protected_part: Vec<u8>,
}

impl Received {
    /// Decodes `der` (see [`decode`]) and keeps the protected part.
    pub fn decode(der: &[u8]) -> Result<Self, CmpError> {
        let message = decode(der)?;
        let protected_part = raw_protected_part(der).map_err(CmpError::Decode)?;
        Ok(Received {
            message,
            protected_part,
        })
    }

    /// `SEQUENCE { header, body }` with the header and body bytes as sent.
    pub fn protected_part(&self) -> &[u8] {
        &self.protected_part
    }

    /// The PBM under `secret` over the bytes as sent.
    pub fn compute_mac(&self, secret: &[u8]) -> Result<Vec<u8>, CmpError> {
        mac_over(&self.message, &self.protected_part, secret)
    }

    /// Checks the password-based MAC over the bytes as sent.
    pub fn verify_mac(&self, secret: &[u8]) -> Result<(), CmpError> {
        check_mac(&self.message, &self.protected_part, secret)
    }

    /// Checks the signature over the bytes as sent with `signer`'s key.
    pub fn verify_signature(&self, signer: &Certificate) -> Result<(), CmpError> {
        check_signature(&self.message, &self.protected_part, signer)
    }

    /// The message.
    pub fn into_message(self) -> PkiMessage {
        self.message
    }
}

/// The header and body TLVs of a PKIMessage, re-wrapped in a SEQUENCE.
fn raw_protected_part(der: &[u8]) -> der::Result<Vec<u8>> {
    let outer = AnyRef::from_der(der)?;
    if outer.tag() != Tag::Sequence {
        return Err(Tag::Sequence.value_error().into());
    }
    let mut reader = SliceReader::new(outer.value())?;
    let _header: AnyRef<'_> = reader.decode()?;
    let _body: AnyRef<'_> = reader.decode()?;
    let end = usize::try_from(reader.position())?;
    let inner = outer
        .value()
        .get(..end)
        .ok_or_else(|| der::Error::from(der::ErrorKind::Overlength))?;
    AnyRef::new(Tag::Sequence, inner)?.to_der()
}
