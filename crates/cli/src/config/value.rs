//! Statement value types, their checks (with Junos's messages) and quoting.

use std::borrow::Cow;
use std::net::IpAddr;

use thiserror::Error;

/// The type of a statement's value, or of a list's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    /// A bare token: no whitespace, quotes, braces, brackets or `;` (`Root`).
    Word,
    /// Any one-line string; quoted on output when it holds spaces or
    /// special characters.
    Text,
    /// An unsigned integer in `min..=max`.
    Uint {
        /// Smallest accepted value.
        min: u64,
        /// Largest accepted value.
        max: u64,
    },
    /// An IPv4 or IPv6 address.
    IpAddr,
    /// An address prefix, `address/length`.
    Prefix,
    /// A host name following RFC 1123 label rules.
    HostName,
    /// One of a fixed set of words.
    Enum(&'static [&'static str]),
    /// A URL with an `http`, `https` or `ldap` scheme.
    Url,
}

/// Why a value was refused; the text is what Junos prints after `error: `.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ValueError {
    /// The value is empty.
    #[error("empty value is not allowed")]
    Empty,
    /// A word holds whitespace or a special character.
    #[error("invalid value '{value}': expecting a single word")]
    NotAWord {
        /// The refused value.
        value: String,
    },
    /// A text holds a line break or another control character.
    #[error("invalid value: control characters are not allowed")]
    ControlCharacter,
    /// Not a decimal number.
    #[error("invalid numeric value '{value}'")]
    NotANumber {
        /// The refused value.
        value: String,
    },
    /// A number outside the statement's range.
    #[error("value {value} is not within range ({min}..{max})")]
    OutOfRange {
        /// The refused value.
        value: String,
        /// Smallest accepted value.
        min: u64,
        /// Largest accepted value.
        max: u64,
    },
    /// Not an IPv4 or IPv6 address.
    #[error("invalid IP address '{value}'")]
    IpAddr {
        /// The refused value.
        value: String,
    },
    /// Not `address/length` with a length that fits the address family.
    #[error("invalid prefix '{value}': expecting address/length")]
    Prefix {
        /// The refused value.
        value: String,
    },
    /// Breaks the RFC 1123 host name rules.
    #[error("invalid host name '{value}': {reason}")]
    HostName {
        /// The refused value.
        value: String,
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// Not one of the allowed words.
    #[error("invalid value '{value}': expecting one of {}", allowed.join(", "))]
    NotInEnum {
        /// The refused value.
        value: String,
        /// The allowed words.
        allowed: &'static [&'static str],
    },
    /// Not an `http://`, `https://` or `ldap://` URL with a host.
    #[error("invalid URL '{value}': expecting http://, https:// or ldap:// and a host")]
    Url {
        /// The refused value.
        value: String,
    },
}

impl ValueType {
    /// Checks `value` against the type.
    pub fn check(&self, value: &str) -> Result<(), ValueError> {
        if value.is_empty() {
            return Err(ValueError::Empty);
        }
        if value.chars().any(char::is_control) {
            return Err(ValueError::ControlCharacter);
        }
        let owned = || value.to_string();
        match self {
            ValueType::Text => Ok(()),
            ValueType::Word => {
                if value.chars().any(|c| c.is_whitespace() || is_special(c)) {
                    Err(ValueError::NotAWord { value: owned() })
                } else {
                    Ok(())
                }
            }
            ValueType::Uint { min, max } => {
                if !value.chars().all(|c| c.is_ascii_digit()) {
                    return Err(ValueError::NotANumber { value: owned() });
                }
                let out_of_range = || ValueError::OutOfRange {
                    value: owned(),
                    min: *min,
                    max: *max,
                };
                // All digits: a parse failure can only be an overflow.
                let n = value.parse::<u64>().map_err(|_| out_of_range())?;
                if (*min..=*max).contains(&n) {
                    Ok(())
                } else {
                    Err(out_of_range())
                }
            }
            ValueType::IpAddr => value
                .parse::<IpAddr>()
                .map(|_| ())
                .map_err(|_| ValueError::IpAddr { value: owned() }),
            ValueType::Prefix => check_prefix(value),
            ValueType::HostName => check_host_name(value).map_err(|reason| ValueError::HostName {
                value: owned(),
                reason,
            }),
            ValueType::Enum(allowed) => {
                if allowed.contains(&value) {
                    Ok(())
                } else {
                    Err(ValueError::NotInEnum {
                        value: owned(),
                        allowed,
                    })
                }
            }
            ValueType::Url => check_url(value),
        }
    }

    /// The placeholder word `?` shows for a list key of this type when the
    /// schema names none (`name`, `number`, `address`, ...).
    pub fn default_placeholder(&self) -> &'static str {
        match self {
            ValueType::Word | ValueType::Text | ValueType::HostName | ValueType::Enum(_) => "name",
            ValueType::Uint { .. } => "number",
            ValueType::IpAddr => "address",
            ValueType::Prefix => "prefix",
            ValueType::Url => "url",
        }
    }

    /// Extra help shown after a statement's help for its value, e.g. the
    /// range `(0..1080)` of a number.
    pub fn help_suffix(&self) -> Option<String> {
        match self {
            ValueType::Uint { min, max } => Some(format!("({min}..{max})")),
            _ => None,
        }
    }
}

/// Characters that end a bare word in the configuration text.
fn is_special(c: char) -> bool {
    matches!(c, '"' | '\'' | '\\' | ';' | '{' | '}' | '[' | ']')
}

fn check_prefix(value: &str) -> Result<(), ValueError> {
    let bad = || ValueError::Prefix {
        value: value.to_string(),
    };
    let (addr, len) = value.split_once('/').ok_or_else(bad)?;
    let addr: IpAddr = addr.parse().map_err(|_| bad())?;
    if len.is_empty() || !len.chars().all(|c| c.is_ascii_digit()) {
        return Err(bad());
    }
    let len: u32 = len.parse().map_err(|_| bad())?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    if len > max {
        return Err(bad());
    }
    Ok(())
}

/// RFC 1123 host name: dot-separated labels of 1..=63 letters, digits and
/// hyphens, not starting or ending with a hyphen, at most 253 characters.
fn check_host_name(value: &str) -> Result<(), &'static str> {
    if value.len() > 253 {
        return Err("longer than 253 characters");
    }
    for label in value.split('.') {
        if label.is_empty() {
            return Err("empty label");
        }
        if label.len() > 63 {
            return Err("label longer than 63 characters");
        }
        if !label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err("only letters, digits, hyphens and dots are allowed");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err("a label cannot start or end with a hyphen");
        }
    }
    Ok(())
}

fn check_url(value: &str) -> Result<(), ValueError> {
    let bad = || ValueError::Url {
        value: value.to_string(),
    };
    let (scheme, rest) = value.split_once("://").ok_or_else(bad)?;
    if !["http", "https", "ldap"]
        .iter()
        .any(|s| s.eq_ignore_ascii_case(scheme))
    {
        return Err(bad());
    }
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host.is_empty() || value.chars().any(char::is_whitespace) {
        return Err(bad());
    }
    Ok(())
}

/// Quotes `value` for the configuration text when it needs it (empty,
/// whitespace, quotes, braces, brackets, `;`, comment starts), escaping `"`
/// and `\` inside the quotes.
pub fn quote(value: &str) -> Cow<'_, str> {
    let needs = value.is_empty()
        || value.starts_with('#')
        || value.contains("/*")
        || value.contains("*/")
        || value.contains(" #")
        || value.chars().any(|c| c.is_whitespace() || is_special(c));
    if !needs {
        return Cow::Borrowed(value);
    }
    Cow::Owned(always_quote(value))
}

/// Quotes `value` unconditionally (used for secrets, as Junos does).
pub(crate) fn always_quote(value: &str) -> String {
    let mut q = String::with_capacity(value.len() + 2);
    q.push('"');
    for c in value.chars() {
        if c == '"' || c == '\\' {
            q.push('\\');
        }
        q.push(c);
    }
    q.push('"');
    q
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks() {
        let port = ValueType::Uint { min: 1, max: 65535 };
        assert_eq!(
            port.check("70000").unwrap_err().to_string(),
            "value 70000 is not within range (1..65535)"
        );
        assert_eq!(
            port.check("99999999999999999999999")
                .unwrap_err()
                .to_string(),
            "value 99999999999999999999999 is not within range (1..65535)"
        );
        assert!(port.check("-1").is_err() && port.check("+1").is_err());
        assert!(port.check("443").is_ok());
        assert_eq!(
            ValueType::IpAddr.check("1.2.3").unwrap_err().to_string(),
            "invalid IP address '1.2.3'"
        );
        assert!(ValueType::IpAddr.check("2001:db8::1").is_ok());
        assert!(ValueType::Prefix.check("10.0.0.0/8").is_ok());
        assert!(ValueType::Prefix.check("10.0.0.0/33").is_err());
        assert!(ValueType::Prefix.check("2001:db8::/64").is_ok());
        assert!(ValueType::Prefix.check("10.0.0.0").is_err());
        assert!(ValueType::HostName.check("r1.example.net").is_ok());
        assert!(ValueType::HostName.check("-r1").is_err());
        assert!(ValueType::HostName.check("r_1").is_err());
        assert!(ValueType::HostName.check("a..b").is_err());
        assert!(ValueType::Url.check("http://ca.example/scep").is_ok());
        assert!(ValueType::Url.check("ldap://10.0.0.1").is_ok());
        assert!(ValueType::Url.check("ftp://x/").is_err());
        assert!(ValueType::Url.check("http:///x").is_err());
        assert!(ValueType::Word.check("a b").is_err());
        assert!(ValueType::Word.check("").is_err());
        assert!(ValueType::Text.check("a b \"c\"").is_ok());
        assert!(ValueType::Text.check("a\nb").is_err());
        let alg = ValueType::Enum(&["des", "des3"]);
        assert_eq!(
            alg.check("aes").unwrap_err().to_string(),
            "invalid value 'aes': expecting one of des, des3"
        );
    }

    #[test]
    fn quoting() {
        assert_eq!(quote("r1"), "r1");
        assert_eq!(quote("http://x/a?b=c"), "http://x/a?b=c");
        assert_eq!(quote("a b"), "\"a b\"");
        assert_eq!(quote(""), "\"\"");
        assert_eq!(quote("a\"b\\"), "\"a\\\"b\\\\\"");
        assert_eq!(quote("#x"), "\"#x\"");
        assert_eq!(quote("[::1]"), "\"[::1]\"");
    }
}
