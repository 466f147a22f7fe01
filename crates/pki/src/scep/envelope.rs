//! The pkcsPKIEnvelope (RFC 8894 section 3.2.2): a CMS EnvelopedData with
//! one KeyTransRecipientInfo (RSA PKCS#1 v1.5 key transport, recipient by
//! issuer and serial number) and CBC content encryption with PKCS#7 padding:
//! DES (`desCBC`), 3DES (`des-ede3-cbc`), AES-128-CBC or AES-256-CBC.
//! (AES-192, which no SCEP capability names, is refused as an unsupported
//! cipher.)

use std::fmt;

use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{
    BlockCipherDecrypt, BlockCipherEncrypt, BlockModeDecrypt, BlockModeEncrypt, KeyInit, KeyIvInit,
};
use cms::cert::IssuerAndSerialNumber;
use cms::content_info::CmsVersion;
use cms::enveloped_data::{
    EncryptedContentInfo, EnvelopedData, KeyTransRecipientInfo, OriginatorInfo,
    RecipientIdentifier, RecipientInfo, RecipientInfos,
};
use const_oid::ObjectIdentifier;
use const_oid::db::{rfc5911, rfc5912};
use der::asn1::{Null, OctetString};
use der::{Any, Decode, Encode, Reader, Sequence, SliceReader, Tag, TagNumber, Tagged};
use getrandom::SysRng;
use rsa::Pkcs1v15Encrypt;
use spki::{AlgorithmIdentifierOwned, DecodePublicKey};
use x509_cert::Certificate;
use x509_cert::attr::Attributes;
use x509_cert::ext::pkix::SubjectKeyIdentifier;
use zeroize::Zeroizing;

use super::{ScepError, oid, oid_name};
use crate::key::KeyPair;

/// A content-encryption algorithm (CBC mode, PKCS#7 padding). Serialized
/// as its [`ContentCipher::name`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum ContentCipher {
    /// Single DES (`desCBC`, 1.3.14.3.2.7): the legacy SCEP default, weak.
    #[serde(rename = "DES")]
    Des,
    /// Triple DES (`des-ede3-cbc`, 1.2.840.113549.3.7): the `DES3` capability.
    #[serde(rename = "3DES")]
    TripleDes,
    /// AES-128-CBC: the `AES` capability.
    #[serde(rename = "AES-128")]
    Aes128,
    /// AES-256-CBC.
    #[serde(rename = "AES-256")]
    Aes256,
}

impl ContentCipher {
    /// Every cipher, weakest first.
    pub const ALL: [ContentCipher; 4] = [
        ContentCipher::Des,
        ContentCipher::TripleDes,
        ContentCipher::Aes128,
        ContentCipher::Aes256,
    ];

    /// The algorithm OID.
    pub fn oid(self) -> ObjectIdentifier {
        match self {
            ContentCipher::Des => oid::DES_CBC,
            ContentCipher::TripleDes => rfc5911::DES_EDE_3_CBC,
            ContentCipher::Aes128 => rfc5911::ID_AES_128_CBC,
            ContentCipher::Aes256 => rfc5911::ID_AES_256_CBC,
        }
    }

    /// The cipher with algorithm OID `oid`.
    pub fn from_oid(oid: &ObjectIdentifier) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.oid() == *oid)
    }

    /// The name (`DES`, `3DES`, `AES-128`, `AES-256`).
    pub fn name(self) -> &'static str {
        match self {
            ContentCipher::Des => "DES",
            ContentCipher::TripleDes => "3DES",
            ContentCipher::Aes128 => "AES-128",
            ContentCipher::Aes256 => "AES-256",
        }
    }

    /// The key length in bytes (DES keys include their parity bits).
    pub fn key_len(self) -> usize {
        match self {
            ContentCipher::Des => 8,
            ContentCipher::TripleDes => 24,
            ContentCipher::Aes128 => 16,
            ContentCipher::Aes256 => 32,
        }
    }

    /// The block (and IV) length in bytes.
    pub fn block_len(self) -> usize {
        match self {
            ContentCipher::Des | ContentCipher::TripleDes => 8,
            _ => 16,
        }
    }

    fn is_des(self) -> bool {
        matches!(self, ContentCipher::Des | ContentCipher::TripleDes)
    }
}

impl fmt::Display for ContentCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A decrypted envelope.
pub struct Opened {
    /// The content (zeroed on drop: a PKCS#10 may carry a challenge password).
    pub content: Zeroizing<Vec<u8>>,
    /// The cipher the sender chose.
    pub cipher: ContentCipher,
}

impl fmt::Debug for Opened {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Opened")
            .field("content", &format_args!("[{} bytes]", self.content.len()))
            .field("cipher", &self.cipher)
            .finish()
    }
}

/// Seals `content` for `recipient` (an RSA certificate): the DER of a
/// ContentInfo(envelopedData) with a fresh content-encryption key and IV.
pub fn seal(
    content: &[u8],
    recipient: &Certificate,
    cipher: ContentCipher,
) -> Result<Vec<u8>, ScepError> {
    let tbs = recipient.tbs_certificate();
    let public = rsa_public_key(recipient)?;
    let key = content_key(cipher)?;
    let mut iv = vec![0u8; cipher.block_len()];
    getrandom::fill(&mut iv).map_err(|e| ScepError::Random(e.to_string()))?;
    let ciphertext = encrypt(cipher, &key, &iv, content)?;
    let encrypted_key = public
        .encrypt(&mut SysRng, Pkcs1v15Encrypt, &key)
        .map_err(|e| ScepError::Encode(format!("RSA key transport: {e}")))?;

    let enc = |e: der::Error| ScepError::Encode(e.to_string());
    let recipient_info = RecipientInfo::Ktri(KeyTransRecipientInfo {
        version: CmsVersion::V0,
        rid: RecipientIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
            issuer: tbs.issuer().clone(),
            serial_number: tbs.serial_number().clone(),
        }),
        key_enc_alg: AlgorithmIdentifierOwned {
            oid: rfc5912::RSA_ENCRYPTION,
            parameters: Some(Null.into()),
        },
        enc_key: OctetString::new(encrypted_key).map_err(enc)?,
    });
    let enveloped = EnvelopedData {
        version: CmsVersion::V0,
        originator_info: None,
        recip_infos: RecipientInfos::try_from(vec![recipient_info]).map_err(enc)?,
        encrypted_content: EncryptedContentInfo {
            content_type: rfc5911::ID_DATA,
            content_enc_alg: AlgorithmIdentifierOwned {
                oid: cipher.oid(),
                parameters: Some(
                    Any::encode_from(&OctetString::new(iv).map_err(enc)?).map_err(enc)?,
                ),
            },
            encrypted_content: Some(OctetString::new(ciphertext).map_err(enc)?),
        },
        unprotected_attrs: None,
    };
    super::wrap(rfc5911::ID_ENVELOPED_DATA, &enveloped)
}

/// Opens an envelope with the private `key` of `cert`: finds the
/// KeyTransRecipientInfo for `cert` (or the only one there is), decrypts
/// the content-encryption key and then the content.
pub fn open_envelope(der: &[u8], key: &KeyPair, cert: &Certificate) -> Result<Opened, ScepError> {
    let KeyPair::Rsa(private) = key else {
        return Err(ScepError::NotRsa(format!(
            "the private key is {}",
            key.spec().algorithm
        )));
    };
    let enveloped: EnvelopedIn = super::unwrap(der, rfc5911::ID_ENVELOPED_DATA, "EnvelopedData")?;

    let ktris: Vec<&KeyTransRecipientInfo> = enveloped
        .recip_infos
        .0
        .iter()
        .filter_map(|ri| match ri {
            RecipientInfo::Ktri(k) => Some(k),
            _ => None,
        })
        .collect();
    let ktri = ktris
        .iter()
        .find(|k| rid_matches(cert, &k.rid))
        .or(match ktris.as_slice() {
            [only] => Some(only),
            _ => None,
        })
        .ok_or_else(|| ScepError::NoRecipient(describe_cert(cert)))?;
    if ktri.key_enc_alg.oid != rfc5912::RSA_ENCRYPTION {
        return Err(ScepError::UnsupportedKeyTransport(oid_name(
            &ktri.key_enc_alg.oid,
        )));
    }

    let eci = &enveloped.encrypted_content;
    let alg = &eci.content_enc_alg;
    let cipher = ContentCipher::from_oid(&alg.oid)
        .ok_or_else(|| ScepError::UnsupportedCipher(oid_name(&alg.oid)))?;
    let iv = iv_of(cipher, alg.parameters.as_ref())?;
    let ciphertext = encrypted_bytes(eci.encrypted_content.as_ref())?;

    let cek = Zeroizing::new(
        private
            .decrypt_blinded(&mut SysRng, Pkcs1v15Encrypt, ktri.enc_key.as_bytes())
            .map_err(|_| ScepError::KeyTransport)?,
    );
    if cek.len() != cipher.key_len() {
        return Err(ScepError::BadKeyLength {
            cipher: cipher.name(),
            len: cek.len(),
            expected: cipher.key_len(),
        });
    }
    let content = decrypt(cipher, &cek, &iv, &ciphertext)?;
    Ok(Opened { content, cipher })
}

/// EnvelopedData as read: like [`cms::enveloped_data::EnvelopedData`], but
/// the encrypted content may also be a constructed `[0]` (segments of OCTET
/// STRING), as Go's pkcs7 and streaming OpenSSL write it.
#[derive(Sequence)]
struct EnvelopedIn {
    version: CmsVersion,
    #[asn1(
        context_specific = "0",
        tag_mode = "IMPLICIT",
        constructed = "true",
        optional = "true"
    )]
    originator_info: Option<OriginatorInfo>,
    recip_infos: RecipientInfos,
    encrypted_content: EncryptedContentIn,
    #[asn1(
        context_specific = "1",
        tag_mode = "IMPLICIT",
        constructed = "true",
        optional = "true"
    )]
    unprotected_attrs: Option<Attributes>,
}

/// EncryptedContentInfo with the `[0] IMPLICIT OCTET STRING` kept raw.
#[derive(Sequence)]
struct EncryptedContentIn {
    content_type: ObjectIdentifier,
    content_enc_alg: AlgorithmIdentifierOwned,
    encrypted_content: Option<Any>,
}

/// The bytes of `[0] IMPLICIT OCTET STRING`, primitive or constructed.
fn encrypted_bytes(field: Option<&Any>) -> Result<Vec<u8>, ScepError> {
    let field = field.ok_or(ScepError::NoEncryptedContent)?;
    let malformed = |detail: String| ScepError::Malformed {
        what: "EnvelopedData",
        detail,
    };
    match field.tag() {
        Tag::ContextSpecific {
            constructed: false,
            number: TagNumber(0),
        } => Ok(field.value().to_vec()),
        Tag::ContextSpecific {
            constructed: true,
            number: TagNumber(0),
        } => {
            let mut out = Vec::new();
            let mut reader =
                SliceReader::new_with_encoding_rules(field.value(), der::EncodingRules::Ber)
                    .map_err(|e| malformed(e.to_string()))?;
            while !reader.is_finished() {
                let segment = OctetString::decode(&mut reader)
                    .map_err(|e| malformed(format!("encrypted content segment: {e}")))?;
                out.extend_from_slice(segment.as_bytes());
            }
            Ok(out)
        }
        other => Err(malformed(format!(
            "encryptedContent is a {other}, not [0] OCTET STRING"
        ))),
    }
}

/// The IV from the algorithm parameters: an OCTET STRING of one block.
fn iv_of(cipher: ContentCipher, params: Option<&Any>) -> Result<Vec<u8>, ScepError> {
    let bad = |detail: String| ScepError::BadIv {
        cipher: cipher.name(),
        detail,
    };
    let params = params.ok_or_else(|| bad("the algorithm has no parameters".into()))?;
    if params.tag() != Tag::OctetString {
        return Err(bad(format!(
            "parameters are a {}, not an OCTET STRING",
            params.tag()
        )));
    }
    let iv = params.value();
    if iv.len() != cipher.block_len() {
        return Err(bad(format!(
            "{} bytes, expected {}",
            iv.len(),
            cipher.block_len()
        )));
    }
    Ok(iv.to_vec())
}

fn rsa_public_key(cert: &Certificate) -> Result<rsa::PublicKey, ScepError> {
    let spki = cert.tbs_certificate().subject_public_key_info();
    if spki.algorithm.oid != rfc5912::RSA_ENCRYPTION {
        return Err(ScepError::NotRsa(format!(
            "the recipient's key is {}",
            oid_name(&spki.algorithm.oid)
        )));
    }
    let der = spki
        .to_der()
        .map_err(|e| ScepError::Encode(e.to_string()))?;
    rsa::PublicKey::from_public_key_der(&der)
        .map_err(|e| ScepError::NotRsa(format!("the recipient's RSA key does not parse ({e})")))
}

/// A fresh content-encryption key; DES keys get odd parity and are never
/// weak (or, for 3DES, degenerate to single DES).
fn content_key(cipher: ContentCipher) -> Result<Zeroizing<Vec<u8>>, ScepError> {
    let mut key = Zeroizing::new(vec![0u8; cipher.key_len()]);
    for _ in 0..16 {
        getrandom::fill(&mut key).map_err(|e| ScepError::Random(e.to_string()))?;
        if !cipher.is_des() {
            return Ok(key);
        }
        for b in key.iter_mut() {
            let high = (*b >> 1).count_ones();
            *b = (*b & 0xfe) | u8::from(high.is_multiple_of(2));
        }
        if des::weak_key_test(&key).is_ok() {
            return Ok(key);
        }
    }
    Err(ScepError::Random(
        "16 weak DES keys in a row: the random source is broken".into(),
    ))
}

fn encrypt(
    cipher: ContentCipher,
    key: &[u8],
    iv: &[u8],
    plain: &[u8],
) -> Result<Vec<u8>, ScepError> {
    fn run<C: BlockCipherEncrypt + KeyInit>(
        key: &[u8],
        iv: &[u8],
        plain: &[u8],
    ) -> Result<Vec<u8>, ScepError> {
        let enc = cbc::Encryptor::<C>::new_from_slices(key, iv)
            .map_err(|_| ScepError::Encode("content key or IV of the wrong length".into()))?;
        Ok(enc.encrypt_padded_vec::<Pkcs7>(plain))
    }
    match cipher {
        ContentCipher::Des => run::<des::Des>(key, iv, plain),
        ContentCipher::TripleDes => run::<des::TdesEde3>(key, iv, plain),
        ContentCipher::Aes128 => run::<aes::Aes128>(key, iv, plain),
        ContentCipher::Aes256 => run::<aes::Aes256>(key, iv, plain),
    }
}

fn decrypt(
    cipher: ContentCipher,
    key: &[u8],
    iv: &[u8],
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>, ScepError> {
    let fail = |detail| ScepError::Decrypt {
        cipher: cipher.name(),
        detail,
    };
    if ciphertext.is_empty() || !ciphertext.len().is_multiple_of(cipher.block_len()) {
        return Err(fail("the ciphertext is not a whole number of blocks"));
    }
    fn run<C: BlockCipherDecrypt + KeyInit>(
        key: &[u8],
        iv: &[u8],
        ciphertext: &[u8],
    ) -> Result<Vec<u8>, &'static str> {
        let dec = cbc::Decryptor::<C>::new_from_slices(key, iv)
            .map_err(|_| "content key or IV of the wrong length")?;
        dec.decrypt_padded_vec::<Pkcs7>(ciphertext)
            .map_err(|_| "bad padding (wrong key?)")
    }
    match cipher {
        ContentCipher::Des => run::<des::Des>(key, iv, ciphertext),
        ContentCipher::TripleDes => run::<des::TdesEde3>(key, iv, ciphertext),
        ContentCipher::Aes128 => run::<aes::Aes128>(key, iv, ciphertext),
        ContentCipher::Aes256 => run::<aes::Aes256>(key, iv, ciphertext),
    }
    .map(Zeroizing::new)
    .map_err(fail)
}

fn rid_matches(cert: &Certificate, rid: &RecipientIdentifier) -> bool {
    let tbs = cert.tbs_certificate();
    match rid {
        RecipientIdentifier::IssuerAndSerialNumber(isn) => {
            tbs.issuer() == &isn.issuer && tbs.serial_number() == &isn.serial_number
        }
        RecipientIdentifier::SubjectKeyIdentifier(ski) => matches!(
            tbs.get_extension::<SubjectKeyIdentifier>(),
            Ok(Some((_, mine))) if mine == *ski
        ),
    }
}

fn describe_cert(cert: &Certificate) -> String {
    let tbs = cert.tbs_certificate();
    format!(
        "issuer {}, serial {}",
        crate::name::subject_string(tbs.issuer()),
        crate::info::serial_hex(tbs.serial_number().as_bytes())
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use std::ffi::OsStr;

    use super::*;
    use crate::key::{KeyAlgorithm, KeySpec};
    use crate::scep::tests::{
        ca, client, csr_der, identity, openssl, openssl_dir, pem_files, rsa_identity, write_temp,
    };

    #[test]
    fn seal_open_every_cipher() {
        let (key, cert) = ca();
        for cipher in ContentCipher::ALL {
            for content in [&b""[..], b"x", &[7u8; 16], &csr_der()] {
                let der = seal(content, cert, cipher).unwrap();
                let opened = open_envelope(&der, key, cert).unwrap();
                assert_eq!(opened.cipher, cipher);
                assert_eq!(opened.content.as_slice(), content, "{cipher}");
            }
        }
        let dbg = format!(
            "{:?}",
            open_envelope(
                &seal(b"secret", cert, ContentCipher::Aes128).unwrap(),
                key,
                cert
            )
            .unwrap()
        );
        assert!(!dbg.contains("secret") && dbg.contains("6 bytes"), "{dbg}");
    }

    #[test]
    fn des_keys_have_odd_parity() {
        for cipher in [ContentCipher::Des, ContentCipher::TripleDes] {
            let key = content_key(cipher).unwrap();
            assert!(key.iter().all(|b| b.count_ones() % 2 == 1), "{cipher}");
        }
    }

    #[test]
    fn wrong_recipient_or_key() {
        let der = seal(b"hello", &ca().1, ContentCipher::Aes128).unwrap();
        // The only recipient is tried with the router's key: it does not decrypt.
        let e = open_envelope(&der, &client().0, &client().1).unwrap_err();
        // (rsa answers a bad PKCS#1 padding with a pseudo-random key, so
        // the failure may only show at the key length or the padding.)
        assert!(
            matches!(
                e,
                ScepError::KeyTransport
                    | ScepError::BadKeyLength { .. }
                    | ScepError::Decrypt { .. }
            ),
            "{e}"
        );

        let (ec_key, ec_cert) = identity(
            KeySpec::new(KeyAlgorithm::Ecdsa, 256).unwrap(),
            "CN=ec",
            false,
        );
        let e = open_envelope(&der, &ec_key, &ca().1).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the private key is ECDSA: SCEP envelopes need an RSA key"
        );
        let e = seal(b"hello", &ec_cert, ContentCipher::Aes128).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("the recipient's key is 1.2.840.10045.2.1"),
            "{e}"
        );

        // Not an envelope.
        let e =
            open_envelope(&crate::scep::certs_only(&[]).unwrap(), &ca().0, &ca().1).unwrap_err();
        assert!(matches!(e, ScepError::WrongContentType { .. }), "{e}");
    }

    #[test]
    fn two_recipients_pick_ours() {
        let other = rsa_identity("CN=other");
        let der = seal(b"for the CA", &ca().1, ContentCipher::Aes256).unwrap();
        // Add a second KTRI (for `other`) to the envelope.
        let mut env: EnvelopedData =
            crate::scep::unwrap(&der, rfc5911::ID_ENVELOPED_DATA, "x").unwrap();
        let mut ris = env.recip_infos.0.clone().into_vec();
        let RecipientInfo::Ktri(mut k) = ris[0].clone() else {
            panic!()
        };
        let tbs = other.1.tbs_certificate();
        k.rid = RecipientIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
            issuer: tbs.issuer().clone(),
            serial_number: tbs.serial_number().clone(),
        });
        ris.push(RecipientInfo::Ktri(k));
        env.recip_infos = RecipientInfos::try_from(ris).unwrap();
        let der = crate::scep::wrap(rfc5911::ID_ENVELOPED_DATA, &env).unwrap();
        let opened = open_envelope(&der, &ca().0, &ca().1).unwrap();
        assert_eq!(opened.content.as_slice(), b"for the CA");
        let e = open_envelope(&der, &client().0, &client().1).unwrap_err();
        assert!(
            e.to_string()
                .contains("no recipient for this certificate (issuer O=Example, CN=router1"),
            "{e}"
        );
    }

    #[test]
    fn unknown_cipher_and_bad_iv() {
        let der = seal(b"hello", &ca().1, ContentCipher::Aes128).unwrap();
        let edit = |f: &dyn Fn(&mut EncryptedContentInfo)| {
            let mut env: EnvelopedData =
                crate::scep::unwrap(&der, rfc5911::ID_ENVELOPED_DATA, "x").unwrap();
            f(&mut env.encrypted_content);
            crate::scep::wrap(rfc5911::ID_ENVELOPED_DATA, &env).unwrap()
        };
        let rc2 =
            edit(&|e| e.content_enc_alg.oid = ObjectIdentifier::new_unwrap("1.2.840.113549.3.2"));
        let e = open_envelope(&rc2, &ca().0, &ca().1).unwrap_err();
        assert_eq!(
            e.to_string(),
            "unsupported content cipher 1.2.840.113549.3.2 (rc2-cbc)"
        );
        let aes192 = edit(&|e| e.content_enc_alg.oid = rfc5911::ID_AES_192_CBC);
        let e = open_envelope(&aes192, &ca().0, &ca().1).unwrap_err();
        assert_eq!(
            e.to_string(),
            "unsupported content cipher 2.16.840.1.101.3.4.1.22 (id-aes192-CBC)"
        );
        let short_iv = edit(&|e| {
            e.content_enc_alg.parameters =
                Some(Any::encode_from(&OctetString::new(vec![0u8; 8]).unwrap()).unwrap())
        });
        let e = open_envelope(&short_iv, &ca().0, &ca().1).unwrap_err();
        assert_eq!(e.to_string(), "bad AES-128 IV: 8 bytes, expected 16");
        let aes256 = edit(&|e| e.content_enc_alg.oid = ContentCipher::Aes256.oid());
        let e = open_envelope(&aes256, &ca().0, &ca().1).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the decrypted content-encryption key is 16 bytes, AES-256 needs 32 (wrong private key?)"
        );
        let torn = edit(&|e| e.encrypted_content = Some(OctetString::new(vec![0u8; 15]).unwrap()));
        let e = open_envelope(&torn, &ca().0, &ca().1).unwrap_err();
        assert_eq!(
            e.to_string(),
            "AES-128 content does not decrypt: the ciphertext is not a whole number of blocks"
        );
        let none = edit(&|e| e.encrypted_content = None);
        let e = open_envelope(&none, &ca().0, &ca().1).unwrap_err();
        assert!(matches!(e, ScepError::NoEncryptedContent), "{e}");
    }

    #[test]
    fn truncated_and_flipped_never_panic() {
        let der = seal(b"0123456789abcdef0123", &ca().1, ContentCipher::TripleDes).unwrap();
        for n in 0..der.len() {
            assert!(
                open_envelope(&der[..n], &ca().0, &ca().1).is_err(),
                "prefix {n}"
            );
        }
        // Flips: only the RSA-decrypted key and the ciphertext are secret;
        // any result but a panic is fine (a flipped last block may even
        // leave valid padding).
        for i in (0..der.len()).step_by(3) {
            let mut bad = der.clone();
            bad[i] ^= 0x21;
            let _ = open_envelope(&bad, &ca().0, &ca().1);
        }
    }

    #[test]
    fn openssl_encrypted_envelopes_open() {
        let Some(dir) = openssl_dir() else { return };
        let (ca_crt, _) = pem_files(&dir, "ca", ca());
        let plain = csr_der();
        let input = write_temp(&dir, "plain.der", &plain);
        // -stream: BER with indefinite lengths and the encrypted content
        // as constructed [0] segments.
        for (flag, cipher, stream) in [
            ("-aes128", ContentCipher::Aes128, false),
            ("-aes256", ContentCipher::Aes256, false),
            ("-des3", ContentCipher::TripleDes, false),
            ("-aes256", ContentCipher::Aes256, true),
            ("-des3", ContentCipher::TripleDes, true),
        ] {
            let out = dir.path().join("enc.der");
            openssl(&[
                OsStr::new("cms"),
                OsStr::new("-encrypt"),
                OsStr::new(if stream { "-stream" } else { "-noindef" }),
                OsStr::new("-binary"),
                OsStr::new(flag),
                OsStr::new("-in"),
                input.as_os_str(),
                OsStr::new("-outform"),
                OsStr::new("DER"),
                OsStr::new("-out"),
                out.as_os_str(),
                ca_crt.as_os_str(),
            ]);
            let der = std::fs::read(&out).unwrap();
            let opened = open_envelope(&der, &ca().0, &ca().1).unwrap();
            assert_eq!(opened.cipher, cipher);
            assert_eq!(opened.content.as_slice(), plain.as_slice(), "{flag}");
        }
    }
}
