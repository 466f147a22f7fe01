//! Key pairs: the Junos size rules, generation, PKCS#8 storage, and signing.
//!
//! | type | sizes Junos accepts | weak (generated with a warning) |
//! |---|---|---|
//! | RSA | 512, 1024, 2048, 3072, 4096 | 512, 1024 |
//! | ECDSA | 256 (P-256), 384 (P-384) | — |
//! | DSA | 1024, 2048 | 1024 |

use std::fmt;

use const_oid::ObjectIdentifier;
use const_oid::db::rfc5912;
use der::asn1::{AnyRef, BitString};
use der::{Decode, Encode, pem::LineEnding};
use getrandom::{SysRng, rand_core::UnwrapErr};
use pkcs8::{DecodePrivateKey, EncodePrivateKey, PrivateKeyInfoRef};
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha384, Sha512};
use signature::hazmat::PrehashSigner;
use spki::{
    AlgorithmIdentifierOwned, DynSignatureAlgorithmIdentifier, EncodePublicKey,
    SignatureBitStringEncoding, SubjectPublicKeyInfoOwned,
};
use zeroize::Zeroizing;

/// The public-key algorithm of a key pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyAlgorithm {
    /// RSA.
    Rsa,
    /// ECDSA on a NIST curve.
    Ecdsa,
    /// DSA (FIPS 186).
    Dsa,
}

impl KeyAlgorithm {
    /// The CLI keyword.
    pub fn keyword(self) -> &'static str {
        match self {
            KeyAlgorithm::Rsa => "rsa",
            KeyAlgorithm::Ecdsa => "ecdsa",
            KeyAlgorithm::Dsa => "dsa",
        }
    }

    /// Parses the CLI keyword.
    pub fn from_keyword(s: &str) -> Option<Self> {
        match s {
            "rsa" => Some(KeyAlgorithm::Rsa),
            "ecdsa" => Some(KeyAlgorithm::Ecdsa),
            "dsa" => Some(KeyAlgorithm::Dsa),
            _ => None,
        }
    }

    /// The sizes Junos accepts for this type.
    pub fn sizes(self) -> &'static [u32] {
        match self {
            KeyAlgorithm::Rsa => &[512, 1024, 2048, 3072, 4096],
            KeyAlgorithm::Ecdsa => &[256, 384],
            KeyAlgorithm::Dsa => &[1024, 2048],
        }
    }

    /// The name `show` prints before the size: `rsaEncryption(2048 bits)`.
    pub fn show_name(self) -> &'static str {
        match self {
            KeyAlgorithm::Rsa => "rsaEncryption",
            KeyAlgorithm::Ecdsa => "ecdsaEncryption",
            KeyAlgorithm::Dsa => "dsaEncryption",
        }
    }
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyAlgorithm::Rsa => "RSA",
            KeyAlgorithm::Ecdsa => "ECDSA",
            KeyAlgorithm::Dsa => "DSA",
        })
    }
}

/// A key type and size that Junos accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct KeySpec {
    /// The algorithm.
    pub algorithm: KeyAlgorithm,
    /// The size in bits (the curve size for ECDSA).
    pub bits: u32,
}

impl KeySpec {
    /// The Junos default: RSA 2048.
    pub const DEFAULT: KeySpec = KeySpec {
        algorithm: KeyAlgorithm::Rsa,
        bits: 2048,
    };

    /// Checks a size against the type's rules.
    pub fn new(algorithm: KeyAlgorithm, bits: u32) -> Result<Self, KeyError> {
        if algorithm.sizes().contains(&bits) {
            return Ok(KeySpec { algorithm, bits });
        }
        let fits: Vec<&str> = [KeyAlgorithm::Rsa, KeyAlgorithm::Ecdsa, KeyAlgorithm::Dsa]
            .into_iter()
            .filter(|a| a.sizes().contains(&bits))
            .map(KeyAlgorithm::keyword)
            .collect();
        Err(KeyError::BadSize {
            algorithm,
            bits,
            hint: if fits.is_empty() {
                format!("{bits} is not a key size Junos knows")
            } else {
                format!("size {bits} is for type {}", fits.join(" or "))
            },
        })
    }

    /// The sizes the ES PIC era `request security key-pair` took: RSA 512,
    /// 1024, 1596 and 2048 (1596 is on that page; RSA needs no multiple of
    /// 8, so it is generated as a 1596-bit modulus) and DSA 1024 and 2048.
    pub fn es_pic(algorithm: KeyAlgorithm, bits: u32) -> Result<Self, KeyError> {
        let sizes: &[u32] = match algorithm {
            KeyAlgorithm::Rsa => &[512, 1024, 1596, 2048],
            KeyAlgorithm::Dsa => &[1024, 2048],
            KeyAlgorithm::Ecdsa => &[],
        };
        if sizes.contains(&bits) {
            Ok(KeySpec { algorithm, bits })
        } else {
            Err(KeyError::BadSize {
                algorithm,
                bits,
                hint: format!(
                    "the ES PIC takes {} sizes {}",
                    algorithm.keyword(),
                    sizes
                        .iter()
                        .map(u32::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            })
        }
    }

    /// Why this size is weak, if it is.
    pub fn weakness(&self) -> Option<&'static str> {
        match (self.algorithm, self.bits) {
            (KeyAlgorithm::Rsa, 512) => Some(
                "RSA 512-bit keys were factored publicly in 1999 and can be broken in hours today",
            ),
            (KeyAlgorithm::Rsa, 1024) => Some(
                "RSA 1024-bit keys give about 80 bits of security, below the 112 bits NIST SP 800-131A has required since 2014",
            ),
            (KeyAlgorithm::Rsa, 1596) => Some(
                "RSA 1596-bit keys give about 100 bits of security, below the 112 bits NIST SP 800-131A has required since 2014",
            ),
            (KeyAlgorithm::Dsa, 1024) => Some(
                "DSA 1024-bit keys give about 80 bits of security, below the 112 bits NIST SP 800-131A has required since 2014",
            ),
            _ => None,
        }
    }
}

impl fmt::Display for KeySpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} bits", self.algorithm, self.bits)
    }
}

/// A hash algorithm for signatures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HashAlg {
    /// SHA-1 (legacy SCEP).
    Sha1,
    /// SHA-256 (the default).
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl HashAlg {
    /// Hashes `msg`.
    pub fn digest(self, msg: &[u8]) -> Vec<u8> {
        match self {
            HashAlg::Sha1 => Sha1::digest(msg).to_vec(),
            HashAlg::Sha256 => Sha256::digest(msg).to_vec(),
            HashAlg::Sha384 => Sha384::digest(msg).to_vec(),
            HashAlg::Sha512 => Sha512::digest(msg).to_vec(),
        }
    }

    /// The hash's own OID (for DigestInfo, CMS).
    pub fn oid(self) -> ObjectIdentifier {
        match self {
            HashAlg::Sha1 => rfc5912::ID_SHA_1,
            HashAlg::Sha256 => rfc5912::ID_SHA_256,
            HashAlg::Sha384 => rfc5912::ID_SHA_384,
            HashAlg::Sha512 => rfc5912::ID_SHA_512,
        }
    }

    /// The hash an OID names (`None` for a hash this crate does not do).
    pub fn from_oid(oid: &ObjectIdentifier) -> Option<Self> {
        [
            HashAlg::Sha1,
            HashAlg::Sha256,
            HashAlg::Sha384,
            HashAlg::Sha512,
        ]
        .into_iter()
        .find(|h| h.oid() == *oid)
    }
}

/// Why a key operation failed.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// A size the type does not have.
    #[error("key size {bits} is not valid for type {}: {hint}", algorithm.keyword())]
    BadSize {
        /// The requested type.
        algorithm: KeyAlgorithm,
        /// The requested size.
        bits: u32,
        /// What would fit.
        hint: String,
    },
    /// Generation failed (randomness or arithmetic).
    #[error("key generation failed: {0}")]
    Generate(String),
    /// A private key file could not be read.
    #[error("not a private key: {0}")]
    Decode(String),
    /// A key of a type or curve the router does not support.
    #[error("unsupported key: {0}")]
    Unsupported(String),
    /// Encoding failed (a bug or resource problem).
    #[error("key encoding failed: {0}")]
    Encode(String),
    /// Signing failed.
    #[error("signing failed: {0}")]
    Sign(String),
}

/// A private key with its public half.
#[derive(Clone)]
pub enum KeyPair {
    /// RSA.
    Rsa(Box<rsa::PrivateKey>),
    /// ECDSA P-256.
    P256(p256::ecdsa::SigningKey),
    /// ECDSA P-384.
    P384(p384::ecdsa::SigningKey),
    /// DSA.
    Dsa(Box<dsa::SigningKey>),
}

impl fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the private half.
        write!(f, "KeyPair({})", self.spec())
    }
}

fn rng() -> UnwrapErr<SysRng> {
    UnwrapErr(SysRng)
}

impl KeyPair {
    /// Generates a key pair of `spec` from the system's randomness.
    pub fn generate(spec: KeySpec) -> Result<Self, KeyError> {
        let spec = KeySpec::new(spec.algorithm, spec.bits)
            .or_else(|e| KeySpec::es_pic(spec.algorithm, spec.bits).map_err(|_| e))?;
        let gen_err = |e: &dyn fmt::Display| KeyError::Generate(e.to_string());
        let mut rng = rng();
        Ok(match (spec.algorithm, spec.bits) {
            // The ES PIC era's 512 bits: below what `rsa` generates by
            // default, so through its unchecked generator (the size was
            // validated above; the weakness warning says what it is worth).
            (KeyAlgorithm::Rsa, bits) if (bits as usize) < rsa::PublicKey::MIN_SIZE => {
                KeyPair::Rsa(Box::new(
                    rsa::PrivateKey::new_unchecked(&mut rng, bits as usize)
                        .map_err(|e| gen_err(&e))?,
                ))
            }
            (KeyAlgorithm::Rsa, bits) => KeyPair::Rsa(Box::new(
                rsa::PrivateKey::new(&mut rng, bits as usize).map_err(|e| gen_err(&e))?,
            )),
            (KeyAlgorithm::Ecdsa, 256) => {
                use p256::elliptic_curve::Generate;
                KeyPair::P256(p256::ecdsa::SigningKey::generate_from_rng(&mut rng))
            }
            (KeyAlgorithm::Ecdsa, _) => {
                use p384::elliptic_curve::Generate;
                KeyPair::P384(p384::ecdsa::SigningKey::generate_from_rng(&mut rng))
            }
            (KeyAlgorithm::Dsa, bits) => {
                // DSA 1024 is weak; the operator asked for it and was warned.
                #[allow(deprecated)]
                let size = if bits == 1024 {
                    dsa::KeySize::DSA_1024_160
                } else {
                    dsa::KeySize::DSA_2048_256
                };
                let components =
                    dsa::Components::try_generate_from_rng_with_key_size(&mut rng, size)
                        .map_err(|e| gen_err(&e))?;
                KeyPair::Dsa(Box::new(
                    dsa::SigningKey::try_generate_from_rng_with_components(&mut rng, components)
                        .map_err(|e| gen_err(&e))?,
                ))
            }
        })
    }

    /// The key's type and size.
    pub fn spec(&self) -> KeySpec {
        use rsa::traits::PublicKeyParts;
        match self {
            KeyPair::Rsa(k) => KeySpec {
                algorithm: KeyAlgorithm::Rsa,
                bits: k.n().bit_width(),
            },
            KeyPair::P256(_) => KeySpec {
                algorithm: KeyAlgorithm::Ecdsa,
                bits: 256,
            },
            KeyPair::P384(_) => KeySpec {
                algorithm: KeyAlgorithm::Ecdsa,
                bits: 384,
            },
            KeyPair::Dsa(k) => KeySpec {
                algorithm: KeyAlgorithm::Dsa,
                bits: k.verifying_key().components().p().bit_width(),
            },
        }
    }

    /// The private key as PKCS#8 DER (zeroed on drop).
    pub fn to_pkcs8_der(&self) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        let doc = match self {
            KeyPair::Rsa(k) => k.to_pkcs8_der(),
            KeyPair::P256(k) => k.to_pkcs8_der(),
            KeyPair::P384(k) => k.to_pkcs8_der(),
            KeyPair::Dsa(k) => k.to_pkcs8_der(),
        }
        .map_err(|e| KeyError::Encode(e.to_string()))?;
        Ok(Zeroizing::new(doc.as_bytes().to_vec()))
    }

    /// The private key as PKCS#8 PEM (`BEGIN PRIVATE KEY`).
    pub fn to_pkcs8_pem(&self) -> Result<Zeroizing<String>, KeyError> {
        let der = self.to_pkcs8_der()?;
        der::pem::encode_string("PRIVATE KEY", LineEnding::LF, &der)
            .map(Zeroizing::new)
            .map_err(|e| KeyError::Encode(e.to_string()))
    }

    /// Reads a private key: PKCS#8 (PEM or DER), or the traditional
    /// OpenSSL forms `RSA PRIVATE KEY` (PKCS#1) and `EC PRIVATE KEY` (SEC1).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        if let Ok(text) = std::str::from_utf8(bytes)
            && text.contains("-----BEGIN")
        {
            let (label, der) = der::pem::decode_vec(text.trim().as_bytes())
                .map_err(|e| KeyError::Decode(format!("bad PEM: {e}")))?;
            let der = Zeroizing::new(der);
            return match label {
                "PRIVATE KEY" => Self::from_pkcs8_der(&der),
                "RSA PRIVATE KEY" => {
                    use rsa::pkcs1::DecodeRsaPrivateKey;
                    rsa::PrivateKey::from_pkcs1_der(&der)
                        .map(|k| KeyPair::Rsa(Box::new(k)))
                        .map_err(|e| KeyError::Decode(format!("bad PKCS#1 RSA key: {e}")))
                }
                "EC PRIVATE KEY" => Self::from_sec1_der(&der),
                "ENCRYPTED PRIVATE KEY" => Err(KeyError::Unsupported(
                    "encrypted private keys are not supported; decrypt it first".into(),
                )),
                other => Err(KeyError::Decode(format!(
                    "PEM block is '{other}', expected 'PRIVATE KEY'"
                ))),
            };
        }
        // DER: PKCS#8, else the traditional PKCS#1 (RSA) and SEC1 (EC)
        // forms that `openssl pkey -outform DER` writes.
        Self::from_pkcs8_der(bytes).or_else(|e| {
            use rsa::pkcs1::DecodeRsaPrivateKey;
            rsa::PrivateKey::from_pkcs1_der(bytes)
                .map(|k| KeyPair::Rsa(Box::new(k)))
                .or_else(|_| Self::from_sec1_der(bytes))
                .map_err(|_| e)
        })
    }

    /// Reads a PKCS#8 DER private key.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, KeyError> {
        let info = PrivateKeyInfoRef::from_der(der)
            .map_err(|e| KeyError::Decode(format!("bad PKCS#8 structure: {e}")))?;
        let oid = info.algorithm.oid;
        let bad = |e: &dyn fmt::Display| KeyError::Decode(e.to_string());
        if oid == rfc5912::RSA_ENCRYPTION {
            let k = rsa::PrivateKey::from_pkcs8_der(der).map_err(|e| bad(&e))?;
            let spec = KeyPair::Rsa(Box::new(k));
            check_size(spec)
        } else if oid == rfc5912::ID_EC_PUBLIC_KEY {
            let curve: ObjectIdentifier = info
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p: &AnyRef<'_>| p.decode_as().ok())
                .ok_or_else(|| KeyError::Decode("EC key without a named curve".into()))?;
            if curve == rfc5912::SECP_256_R_1 {
                p256::ecdsa::SigningKey::from_pkcs8_der(der)
                    .map(KeyPair::P256)
                    .map_err(|e| bad(&e))
            } else if curve == rfc5912::SECP_384_R_1 {
                p384::ecdsa::SigningKey::from_pkcs8_der(der)
                    .map(KeyPair::P384)
                    .map_err(|e| bad(&e))
            } else {
                Err(KeyError::Unsupported(format!(
                    "EC curve {curve}; only P-256 and P-384 are supported"
                )))
            }
        } else if oid == rfc5912::ID_DSA {
            let k = dsa::SigningKey::try_from(info).map_err(|e| bad(&e))?;
            check_size(KeyPair::Dsa(Box::new(k)))
        } else {
            Err(KeyError::Unsupported(format!("key algorithm {oid}")))
        }
    }

    fn from_sec1_der(der: &[u8]) -> Result<Self, KeyError> {
        use p256::elliptic_curve::SecretKey;
        if let Ok(k) = SecretKey::<p256::NistP256>::from_sec1_der(der) {
            return Ok(KeyPair::P256(k.into()));
        }
        if let Ok(k) = SecretKey::<p384::NistP384>::from_sec1_der(der) {
            return Ok(KeyPair::P384(k.into()));
        }
        Err(KeyError::Decode(
            "bad SEC1 EC key (only P-256 and P-384 are supported)".into(),
        ))
    }

    /// The public key as SubjectPublicKeyInfo.
    pub fn public_key_info(&self) -> Result<SubjectPublicKeyInfoOwned, KeyError> {
        let doc = match self {
            KeyPair::Rsa(k) => k.to_public_key().to_public_key_der(),
            KeyPair::P256(k) => k.verifying_key().to_public_key_der(),
            KeyPair::P384(k) => k.verifying_key().to_public_key_der(),
            KeyPair::Dsa(k) => k.verifying_key().to_public_key_der(),
        }
        .map_err(|e| KeyError::Encode(e.to_string()))?;
        SubjectPublicKeyInfoOwned::from_der(doc.as_bytes())
            .map_err(|e| KeyError::Encode(e.to_string()))
    }

    /// Whether `spki` is this key pair's public key.
    pub fn matches(&self, spki: &SubjectPublicKeyInfoOwned) -> bool {
        match (self.public_key_info(), spki.to_der()) {
            (Ok(mine), Ok(theirs)) => mine.to_der().map(|m| m == theirs).unwrap_or(false),
            _ => false,
        }
    }

    /// The hash this key signs with by default: SHA-384 for P-384, else SHA-256.
    pub fn default_hash(&self) -> HashAlg {
        match self {
            KeyPair::P384(_) => HashAlg::Sha384,
            _ => HashAlg::Sha256,
        }
    }

    /// The signature AlgorithmIdentifier for signing with `hash`.
    pub fn signature_algorithm(&self, hash: HashAlg) -> Result<AlgorithmIdentifierOwned, KeyError> {
        let (oid, null_params) = match (self, hash) {
            (KeyPair::Rsa(_), HashAlg::Sha1) => (rfc5912::SHA_1_WITH_RSA_ENCRYPTION, true),
            (KeyPair::Rsa(_), HashAlg::Sha256) => (rfc5912::SHA_256_WITH_RSA_ENCRYPTION, true),
            (KeyPair::Rsa(_), HashAlg::Sha384) => (rfc5912::SHA_384_WITH_RSA_ENCRYPTION, true),
            (KeyPair::Rsa(_), HashAlg::Sha512) => (rfc5912::SHA_512_WITH_RSA_ENCRYPTION, true),
            (KeyPair::P256(_) | KeyPair::P384(_), HashAlg::Sha256) => {
                (rfc5912::ECDSA_WITH_SHA_256, false)
            }
            (KeyPair::P256(_) | KeyPair::P384(_), HashAlg::Sha384) => {
                (rfc5912::ECDSA_WITH_SHA_384, false)
            }
            (KeyPair::P256(_) | KeyPair::P384(_), HashAlg::Sha512) => {
                (rfc5912::ECDSA_WITH_SHA_512, false)
            }
            (KeyPair::Dsa(_), HashAlg::Sha1) => (rfc5912::DSA_WITH_SHA_1, false),
            (KeyPair::Dsa(_), HashAlg::Sha256) => (rfc5912::DSA_WITH_SHA_256, false),
            (k, h) => {
                return Err(KeyError::Unsupported(format!(
                    "{} signatures with {h:?}",
                    k.spec().algorithm
                )));
            }
        };
        Ok(AlgorithmIdentifierOwned {
            oid,
            parameters: null_params.then_some(der::asn1::Null.into()),
        })
    }

    /// Signs `msg` (hashing it with `hash`); the signature in its X.509
    /// encoding (PKCS#1 v1.5 for RSA, DER `Ecdsa-Sig-Value` / `Dss-Sig-Value`).
    pub fn sign(&self, hash: HashAlg, msg: &[u8]) -> Result<Vec<u8>, KeyError> {
        self.signature_algorithm(hash)?;
        let digest = hash.digest(msg);
        let err = |e: signature::Error| KeyError::Sign(e.to_string());
        match self {
            KeyPair::Rsa(k) => {
                let scheme = match hash {
                    HashAlg::Sha1 => rsa::Pkcs1v15Sign::new::<Sha1>(),
                    HashAlg::Sha256 => rsa::Pkcs1v15Sign::new::<Sha256>(),
                    HashAlg::Sha384 => rsa::Pkcs1v15Sign::new::<Sha384>(),
                    HashAlg::Sha512 => rsa::Pkcs1v15Sign::new::<Sha512>(),
                };
                k.sign_with_rng(&mut rng(), scheme, &digest)
                    .map_err(|e| KeyError::Sign(e.to_string()))
            }
            KeyPair::P256(k) => {
                let sig: p256::ecdsa::Signature = k.sign_prehash(&digest).map_err(err)?;
                Ok(sig.to_der().as_bytes().to_vec())
            }
            KeyPair::P384(k) => {
                let sig: p384::ecdsa::Signature = k.sign_prehash(&digest).map_err(err)?;
                Ok(sig.to_der().as_bytes().to_vec())
            }
            KeyPair::Dsa(k) => {
                let sig = match hash {
                    HashAlg::Sha1 => k.sign_prehashed_rfc6979::<Sha1>(&digest),
                    _ => k.sign_prehashed_rfc6979::<Sha256>(&digest),
                }
                .map_err(err)?;
                sig.to_der().map_err(|e| KeyError::Sign(e.to_string()))
            }
        }
    }

    /// A signer for the x509-cert builders (certificates, requests, CRLs).
    pub fn signer(&self, hash: HashAlg) -> Result<KeySigner<'_>, KeyError> {
        Ok(KeySigner {
            key: self,
            hash,
            algorithm: self.signature_algorithm(hash)?,
            public: self.public_key_info()?,
        })
    }
}

fn check_size(k: KeyPair) -> Result<KeyPair, KeyError> {
    let spec = k.spec();
    if spec.algorithm.sizes().contains(&spec.bits)
        || KeySpec::es_pic(spec.algorithm, spec.bits).is_ok()
    {
        Ok(k)
    } else {
        Err(KeyError::Unsupported(format!(
            "{} keys of {} bits (supported: {:?})",
            spec.algorithm,
            spec.bits,
            spec.algorithm.sizes()
        )))
    }
}

/// A key pair bound to a hash: what the x509-cert builders sign with.
pub struct KeySigner<'a> {
    key: &'a KeyPair,
    hash: HashAlg,
    algorithm: AlgorithmIdentifierOwned,
    public: SubjectPublicKeyInfoOwned,
}

/// The public half, as the builders see it.
#[derive(Clone, Debug)]
pub struct PublicKey(SubjectPublicKeyInfoOwned);

impl EncodePublicKey for PublicKey {
    fn to_public_key_der(&self) -> spki::Result<der::Document> {
        Ok(der::Document::encode_msg(&self.0)?)
    }
}

/// A signature in its X.509 BIT STRING encoding.
#[derive(Clone, Debug)]
pub struct SignatureBytes(pub Vec<u8>);

impl SignatureBitStringEncoding for SignatureBytes {
    fn to_bitstring(&self) -> der::Result<BitString> {
        BitString::from_bytes(&self.0)
    }
}

impl signature::Keypair for KeySigner<'_> {
    type VerifyingKey = PublicKey;
    fn verifying_key(&self) -> PublicKey {
        PublicKey(self.public.clone())
    }
}

impl DynSignatureAlgorithmIdentifier for KeySigner<'_> {
    fn signature_algorithm_identifier(&self) -> spki::Result<AlgorithmIdentifierOwned> {
        Ok(self.algorithm.clone())
    }
}

impl signature::Signer<SignatureBytes> for KeySigner<'_> {
    fn try_sign(&self, msg: &[u8]) -> Result<SignatureBytes, signature::Error> {
        self.key
            .sign(self.hash, msg)
            .map(SignatureBytes)
            .map_err(signature::Error::from_source)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn rsa_512_is_generated_stored_and_read_back() {
        for spec in [
            KeySpec::es_pic(KeyAlgorithm::Rsa, 512).unwrap(),
            KeySpec::new(KeyAlgorithm::Rsa, 512).unwrap(),
        ] {
            assert!(spec.weakness().is_some());
            let k = KeyPair::generate(spec).unwrap();
            assert_eq!(k.spec().bits, 512);
            let der = k.to_pkcs8_der().unwrap();
            let back = KeyPair::from_pkcs8_der(&der).unwrap();
            assert_eq!(back.spec().bits, 512);
        }
    }

    #[test]
    fn a_request_signed_with_an_rsa_512_key_is_refused_by_the_verifier() {
        use der::Encode;
        let k = KeyPair::generate(KeySpec::es_pic(KeyAlgorithm::Rsa, 512).unwrap()).unwrap();
        let subject = crate::name::parse_subject("CN=old.example", "S0").unwrap();
        let req = crate::request::build(
            &k,
            subject,
            &crate::altname::AltNames::default(),
            None,
            HashAlg::Sha256,
        )
        .unwrap();
        let e = crate::verify::request_der(&req.to_der().unwrap())
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("an RSA key of 512 bits, below the 1024 bits"),
            "{e}"
        );
    }

    #[test]
    fn es_pic_sizes_and_the_1596_bit_key() {
        assert!(KeySpec::es_pic(KeyAlgorithm::Rsa, 1596).is_ok());
        assert!(KeySpec::es_pic(KeyAlgorithm::Rsa, 4096).is_err());
        assert!(KeySpec::es_pic(KeyAlgorithm::Ecdsa, 256).is_err());
        let k = KeyPair::generate(KeySpec::es_pic(KeyAlgorithm::Rsa, 1596).unwrap()).unwrap();
        assert_eq!(k.spec().bits, 1596);
        assert!(k.spec().weakness().is_some());
        // The store loads it back (a restart keeps it).
        let back = KeyPair::from_pkcs8_der(&k.to_pkcs8_der().unwrap()).unwrap();
        assert_eq!(back.spec(), k.spec());
    }

    #[test]
    fn size_rules() {
        for (alg, bits) in [
            (KeyAlgorithm::Rsa, 512),
            (KeyAlgorithm::Rsa, 3072),
            (KeyAlgorithm::Ecdsa, 384),
            (KeyAlgorithm::Dsa, 2048),
        ] {
            assert!(KeySpec::new(alg, bits).is_ok());
        }
        let e = KeySpec::new(KeyAlgorithm::Rsa, 1596)
            .unwrap_err()
            .to_string();
        assert!(e.contains("1596 is not a key size Junos knows"), "{e}");
        let e = KeySpec::new(KeyAlgorithm::Rsa, 256)
            .unwrap_err()
            .to_string();
        assert!(e.contains("size 256 is for type ecdsa"), "{e}");
        let e = KeySpec::new(KeyAlgorithm::Ecdsa, 2048)
            .unwrap_err()
            .to_string();
        assert!(e.contains("size 2048 is for type rsa or dsa"), "{e}");
        assert!(
            KeySpec::new(KeyAlgorithm::Rsa, 1024)
                .unwrap()
                .weakness()
                .is_some()
        );
        assert!(
            KeySpec::new(KeyAlgorithm::Dsa, 1024)
                .unwrap()
                .weakness()
                .is_some()
        );
        assert!(KeySpec::DEFAULT.weakness().is_none());
    }

    #[test]
    fn generate_store_reload_sign() {
        for spec in [
            KeySpec::new(KeyAlgorithm::Rsa, 1024).unwrap(),
            KeySpec::new(KeyAlgorithm::Ecdsa, 256).unwrap(),
            KeySpec::new(KeyAlgorithm::Ecdsa, 384).unwrap(),
            KeySpec::new(KeyAlgorithm::Dsa, 1024).unwrap(),
        ] {
            let k = KeyPair::generate(spec).unwrap();
            assert_eq!(k.spec(), spec);
            let pem = k.to_pkcs8_pem().unwrap();
            assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
            let back = KeyPair::from_bytes(pem.as_bytes()).unwrap();
            assert_eq!(back.spec(), spec);
            assert!(back.matches(&k.public_key_info().unwrap()));
            let sig = k.sign(k.default_hash(), b"hello").unwrap();
            assert!(!sig.is_empty());
        }
    }

    #[test]
    fn garbage_is_a_clear_error() {
        let e = KeyPair::from_bytes(b"not a key").unwrap_err().to_string();
        assert!(e.contains("not a private key"), "{e}");
        let e =
            KeyPair::from_bytes(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
                .unwrap_err()
                .to_string();
        assert!(e.contains("CERTIFICATE"), "{e}");
    }
}
