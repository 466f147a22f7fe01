//! Identifiers of key pairs, certificates and CA profiles.
//!
//! Junos allows 1 to 32 characters and refuses `/`, `%`, `.` and space
//! ("Must not contain '/', %, '.' or a space"). The simulator also refuses
//! control characters, since identifiers become file names in the store.

use std::fmt;

/// The longest identifier Junos accepts.
pub const MAX_LEN: usize = 32;

/// Why a string is not an identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// Empty.
    #[error("identifier is empty")]
    Empty,
    /// More than 32 characters.
    #[error("identifier '{0}' is longer than 32 characters")]
    TooLong(String),
    /// A character Junos refuses.
    #[error("identifier '{0}' is not valid: Must not contain '/', %, '.' or a space")]
    BadCharacter(String),
}

/// A validated certificate, key-pair or CA-profile identifier.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Identifier(String);

impl Identifier {
    /// Checks `s` against the Junos rule.
    pub fn new(s: &str) -> Result<Self, IdError> {
        check(s)?;
        Ok(Identifier(s.to_string()))
    }

    /// The identifier as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Checks `s` against the Junos identifier rule.
pub fn check(s: &str) -> Result<(), IdError> {
    if s.is_empty() {
        return Err(IdError::Empty);
    }
    if s.chars().count() > MAX_LEN {
        return Err(IdError::TooLong(s.to_string()));
    }
    if s.chars()
        .any(|c| matches!(c, '/' | '%' | '.' | ' ') || c.is_control())
    {
        return Err(IdError::BadCharacter(s.to_string()));
    }
    Ok(())
}

impl fmt::Display for Identifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Identifier {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn junos_rule() {
        assert!(Identifier::new("myCert").is_ok());
        assert!(Identifier::new("a-b_c:1").is_ok());
        assert!(Identifier::new(&"x".repeat(32)).is_ok());
        assert_eq!(Identifier::new(""), Err(IdError::Empty));
        assert!(matches!(
            Identifier::new(&"x".repeat(33)),
            Err(IdError::TooLong(_))
        ));
        for bad in ["a/b", "a%b", "a.b", "a b", "a\nb", "..", "/"] {
            assert!(
                matches!(Identifier::new(bad), Err(IdError::BadCharacter(_))),
                "{bad:?}"
            );
        }
    }
}
