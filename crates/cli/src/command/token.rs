//! Splitting a command line into words, as the Junos CLI does: whitespace
//! separates words, double quotes group a word with spaces (`\"` and `\\`
//! escape inside quotes), and ` | ` starts a pipe.

use thiserror::Error;

/// A word of a command line and where it starts (byte offset, for carets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    /// The word, quotes removed.
    pub text: String,
    /// Byte offset of the word's first character in the line.
    pub at: usize,
    /// Whether the word was quoted (a quoted `|` is not a pipe).
    pub quoted: bool,
}

/// A line that cannot be split into words.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TokenError {
    /// A double quote was opened and never closed.
    #[error("syntax error: unterminated quoted string")]
    UnterminatedQuote {
        /// Offset of the opening quote.
        at: usize,
    },
}

/// Splits `line` into words.
pub fn split(line: &str) -> Result<Vec<Word>, TokenError> {
    let mut words = Vec::new();
    let mut chars = line.char_indices().peekable();
    while let Some(&(start, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let mut text = String::new();
        if c == '"' {
            chars.next();
            let mut closed = false;
            while let Some((_, c)) = chars.next() {
                match c {
                    '"' => {
                        closed = true;
                        break;
                    }
                    '\\' => {
                        if let Some((_, n)) = chars.next() {
                            text.push(n);
                        }
                    }
                    _ => text.push(c),
                }
            }
            if !closed {
                return Err(TokenError::UnterminatedQuote { at: start });
            }
            words.push(Word {
                text,
                at: start,
                quoted: true,
            });
        } else {
            while let Some(&(_, c)) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                text.push(c);
                chars.next();
            }
            words.push(Word {
                text,
                at: start,
                quoted: false,
            });
        }
    }
    Ok(words)
}

/// Quotes `s` for display if it needs it (empty, spaces, quotes, `;`,
/// braces): the same rule as configuration values.
pub fn quote(s: &str) -> String {
    crate::config::quote(s).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_and_quotes() {
        let w = split(r#"set system host-name "my router" | match "a b""#).unwrap();
        let t: Vec<_> = w.iter().map(|w| w.text.as_str()).collect();
        assert_eq!(
            t,
            [
                "set",
                "system",
                "host-name",
                "my router",
                "|",
                "match",
                "a b"
            ]
        );
        assert_eq!(w[3].at, 21);
        assert!(w[3].quoted && !w[4].quoted);
        assert_eq!(
            split(r#"show "abc"#),
            Err(TokenError::UnterminatedQuote { at: 5 })
        );
        assert_eq!(split(r#""a\"b\\""#).unwrap()[0].text, r#"a"b\"#);
        assert_eq!(quote("a b"), "\"a b\"");
        assert_eq!(quote("plain"), "plain");
    }
}
