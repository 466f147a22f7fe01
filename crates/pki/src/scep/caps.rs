//! GetCACaps (RFC 8894 section 3.5.2): the CA's capabilities, one keyword
//! per line.

use std::fmt;

use super::ContentCipher;
use crate::key::HashAlg;

/// A capability keyword RFC 8894 defines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Capability {
    /// `AES`: AES-128-CBC content encryption.
    Aes,
    /// `DES3`: triple-DES content encryption.
    Des3,
    /// `SHA-1`.
    Sha1,
    /// `SHA-256`.
    Sha256,
    /// `SHA-384`.
    Sha384,
    /// `SHA-512`.
    Sha512,
    /// `SHA-224`.
    Sha224,
    /// `POSTPKIOperation`: PKIOperation by HTTP POST.
    PostPkiOperation,
    /// `Renewal`: RenewalReq.
    Renewal,
    /// `GetNextCACert`: CA rollover.
    GetNextCaCert,
    /// `SCEPStandard`: RFC 8894 as a whole (AES, SHA-256, POST).
    ScepStandard,
    /// `Update`: certificate update (an alias of Renewal in old drafts).
    Update,
}

impl Capability {
    /// Every keyword.
    pub const ALL: [Capability; 12] = [
        Capability::Aes,
        Capability::Des3,
        Capability::Sha1,
        Capability::Sha256,
        Capability::Sha384,
        Capability::Sha512,
        Capability::Sha224,
        Capability::PostPkiOperation,
        Capability::Renewal,
        Capability::GetNextCaCert,
        Capability::ScepStandard,
        Capability::Update,
    ];

    /// The keyword as RFC 8894 spells it.
    pub fn name(self) -> &'static str {
        match self {
            Capability::Aes => "AES",
            Capability::Des3 => "DES3",
            Capability::Sha1 => "SHA-1",
            Capability::Sha256 => "SHA-256",
            Capability::Sha384 => "SHA-384",
            Capability::Sha512 => "SHA-512",
            Capability::Sha224 => "SHA-224",
            Capability::PostPkiOperation => "POSTPKIOperation",
            Capability::Renewal => "Renewal",
            Capability::GetNextCaCert => "GetNextCACert",
            Capability::ScepStandard => "SCEPStandard",
            Capability::Update => "Update",
        }
    }

    /// Parses a keyword, ignoring case.
    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(s.trim()))
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A GetCACaps reply: the lines as sent (unknown keywords kept).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities(Vec<String>);

impl Capabilities {
    /// Parses the reply body: one keyword per line (LF or CRLF), surrounding
    /// blanks and empty lines ignored.
    pub fn parse(text: &str) -> Self {
        Capabilities(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect(),
        )
    }

    /// The reply body: each line followed by LF.
    pub fn render(&self) -> String {
        self.0.iter().map(|l| format!("{l}\n")).collect()
    }

    /// Whether the CA announces `cap`.
    pub fn has(&self, cap: Capability) -> bool {
        self.0.iter().any(|l| Capability::from_name(l) == Some(cap))
    }

    /// The known capabilities, in the order sent.
    pub fn list(&self) -> Vec<Capability> {
        self.0
            .iter()
            .filter_map(|l| Capability::from_name(l))
            .collect()
    }

    /// The lines that are not RFC 8894 keywords.
    pub fn unknown(&self) -> Vec<&str> {
        self.0
            .iter()
            .filter(|l| Capability::from_name(l).is_none())
            .map(String::as_str)
            .collect()
    }

    /// The lines as sent.
    pub fn lines(&self) -> &[String] {
        &self.0
    }

    /// Adds a keyword (no-op if already present).
    pub fn push(&mut self, cap: Capability) {
        if !self.has(cap) {
            self.0.push(cap.name().to_owned());
        }
    }

    /// The content cipher a client should use: AES-128 for `AES` or
    /// `SCEPStandard`, 3DES for `DES3`, else single DES (RFC 8894's
    /// fallback for CAs that announce nothing).
    pub fn preferred_cipher(&self) -> ContentCipher {
        if self.has(Capability::Aes) || self.has(Capability::ScepStandard) {
            ContentCipher::Aes128
        } else if self.has(Capability::Des3) {
            ContentCipher::TripleDes
        } else {
            ContentCipher::Des
        }
    }

    /// The strongest digest the CA announces (`SCEPStandard` implies
    /// SHA-256); SHA-1 when it announces none (RFC 8894's fallback is MD5,
    /// which this implementation does not do).
    pub fn preferred_digest(&self) -> HashAlg {
        if self.has(Capability::Sha512) {
            HashAlg::Sha512
        } else if self.has(Capability::Sha384) {
            HashAlg::Sha384
        } else if self.has(Capability::Sha256) || self.has(Capability::ScepStandard) {
            HashAlg::Sha256
        } else {
            HashAlg::Sha1
        }
    }
}

impl FromIterator<Capability> for Capabilities {
    fn from_iter<I: IntoIterator<Item = Capability>>(iter: I) -> Self {
        let mut caps = Capabilities::default();
        for c in iter {
            caps.push(c);
        }
        caps
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn parse_crlf_case_and_unknown() {
        let caps =
            Capabilities::parse("POSTPKIOperation\r\naes\r\nSHA-256\r\n\r\nX-Vendor-Thing\r\n");
        assert!(caps.has(Capability::PostPkiOperation));
        assert!(caps.has(Capability::Aes));
        assert!(caps.has(Capability::Sha256));
        assert!(!caps.has(Capability::Des3));
        assert_eq!(
            caps.list(),
            vec![
                Capability::PostPkiOperation,
                Capability::Aes,
                Capability::Sha256
            ]
        );
        assert_eq!(caps.unknown(), vec!["X-Vendor-Thing"]);
        assert_eq!(
            caps.render(),
            "POSTPKIOperation\naes\nSHA-256\nX-Vendor-Thing\n"
        );
        assert_eq!(caps.preferred_cipher(), ContentCipher::Aes128);
        assert_eq!(caps.preferred_digest(), HashAlg::Sha256);
    }

    #[test]
    fn build_render_parse() {
        let caps: Capabilities = Capability::ALL.into_iter().collect();
        let text = caps.render();
        assert_eq!(text.lines().count(), 12);
        assert!(text.contains("GetNextCACert\n") && text.contains("SCEPStandard\n"));
        assert_eq!(Capabilities::parse(&text), caps);
        assert_eq!(caps.preferred_digest(), HashAlg::Sha512);

        let legacy = Capabilities::parse("");
        assert_eq!(legacy.preferred_cipher(), ContentCipher::Des);
        assert_eq!(legacy.preferred_digest(), HashAlg::Sha1);
        assert_eq!(
            Capabilities::parse("DES3\n").preferred_cipher(),
            ContentCipher::TripleDes
        );
    }
}
