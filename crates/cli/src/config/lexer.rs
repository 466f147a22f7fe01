//! Tokens of the configuration text: words, quoted strings, `{ } ; [ ]`;
//! `/* */` comments and `#` comments (a `#` that starts a word runs to the
//! end of the line, as in `## Last commit` and `## SECRET-DATA`).

use crate::config::error::{ParseError, ParseErrorKind};

/// A token's kind and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tok {
    /// A bare word.
    Word(String),
    /// A quoted string (quotes removed, escapes resolved).
    Str(String),
    LBrace,
    RBrace,
    Semi,
    LBracket,
    RBracket,
}

impl Tok {
    /// How an error message shows the token.
    pub(crate) fn describe(&self) -> String {
        match self {
            Tok::Word(w) => format!("'{w}'"),
            Tok::Str(s) => format!("\"{s}\""),
            Tok::LBrace => "'{'".into(),
            Tok::RBrace => "'}'".into(),
            Tok::Semi => "';'".into(),
            Tok::LBracket => "'['".into(),
            Tok::RBracket => "']'".into(),
        }
    }

    /// The text of a word or string.
    pub(crate) fn text(&self) -> Option<&str> {
        match self {
            Tok::Word(s) | Tok::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// A token and where it starts and ends (lines and columns from 1; the
/// end is the column just past its last character).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token {
    pub(crate) tok: Tok,
    pub(crate) line: usize,
    pub(crate) column: usize,
    pub(crate) end_line: usize,
    pub(crate) end_column: usize,
}

struct Cursor<'t> {
    chars: std::iter::Peekable<std::str::Chars<'t>>,
    line: usize,
    column: usize,
}

impl Cursor<'_> {
    fn peek(&mut self) -> Option<char> {
        self.chars.peek().copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.chars.next()?;
        if c == '\n' {
            self.line += 1;
            self.column = 1;
        } else {
            self.column += 1;
        }
        Some(c)
    }
}

/// Splits `text` into tokens.
pub(crate) fn lex(text: &str) -> Result<Vec<Token>, ParseError> {
    let mut cur = Cursor {
        chars: text
            .strip_prefix('\u{feff}')
            .unwrap_or(text)
            .chars()
            .peekable(),
        line: 1,
        column: 1,
    };
    let mut tokens = Vec::new();
    while let Some(c) = cur.peek() {
        let (line, column) = (cur.line, cur.column);
        if c.is_whitespace() {
            cur.bump();
            continue;
        }
        let tok = match c {
            '#' => {
                while cur.peek().is_some_and(|c| c != '\n') {
                    cur.bump();
                }
                continue;
            }
            '/' => {
                cur.bump();
                if cur.peek() == Some('*') {
                    cur.bump();
                    let mut prev = '\0';
                    loop {
                        match cur.bump() {
                            None => {
                                return Err(ParseError {
                                    line,
                                    column,
                                    kind: ParseErrorKind::UnterminatedComment,
                                });
                            }
                            Some('/') if prev == '*' => break,
                            Some(c) => prev = c,
                        }
                    }
                    continue;
                }
                let mut w = String::from("/");
                read_word(&mut cur, &mut w);
                Tok::Word(w)
            }
            '{' | '}' | ';' | '[' | ']' => {
                cur.bump();
                match c {
                    '{' => Tok::LBrace,
                    '}' => Tok::RBrace,
                    ';' => Tok::Semi,
                    '[' => Tok::LBracket,
                    _ => Tok::RBracket,
                }
            }
            '"' => {
                cur.bump();
                let mut s = String::new();
                loop {
                    match cur.bump() {
                        None => {
                            return Err(ParseError {
                                line,
                                column,
                                kind: ParseErrorKind::UnterminatedString,
                            });
                        }
                        Some('"') => break,
                        Some('\\') => match cur.bump() {
                            Some(e) => s.push(e),
                            None => {
                                return Err(ParseError {
                                    line,
                                    column,
                                    kind: ParseErrorKind::UnterminatedString,
                                });
                            }
                        },
                        Some(c) => s.push(c),
                    }
                }
                Tok::Str(s)
            }
            _ => {
                let mut w = String::new();
                read_word(&mut cur, &mut w);
                Tok::Word(w)
            }
        };
        tokens.push(Token {
            tok,
            line,
            column,
            end_line: cur.line,
            end_column: cur.column,
        });
    }
    Ok(tokens)
}

/// Reads the rest of a bare word into `w`: up to whitespace, `{`, `}`, `;`
/// or `"`; a `]` ends it too unless the word holds a `[` (`http://[::1]/`).
fn read_word(cur: &mut Cursor<'_>, w: &mut String) {
    while let Some(c) = cur.peek() {
        if c.is_whitespace() || matches!(c, '{' | '}' | ';' | '"') || (c == ']' && !w.contains('['))
        {
            break;
        }
        w.push(c);
        cur.bump();
    }
}

/// Splits a `set`-style line into words as the configuration text does:
/// quotes group and are removed, `[` and `]` are words of their own.
pub fn split_words(line: &str) -> Result<Vec<String>, ParseError> {
    lex(line)?
        .into_iter()
        .map(|t| match t.tok {
            Tok::Word(s) | Tok::Str(s) => Ok(s),
            Tok::LBracket => Ok("[".into()),
            Tok::RBracket => Ok("]".into()),
            other => Err(ParseError {
                line: t.line,
                column: t.column,
                kind: ParseErrorKind::Unexpected {
                    found: other.describe(),
                    after: None,
                },
            }),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        lex(s).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn tokens() {
        assert_eq!(
            toks("## Last commit\nsystem { host-name \"r 1\"; } /* c\n */ a [ b c ];"),
            vec![
                Tok::Word("system".into()),
                Tok::LBrace,
                Tok::Word("host-name".into()),
                Tok::Str("r 1".into()),
                Tok::Semi,
                Tok::RBrace,
                Tok::Word("a".into()),
                Tok::LBracket,
                Tok::Word("b".into()),
                Tok::Word("c".into()),
                Tok::RBracket,
                Tok::Semi,
            ]
        );
        assert_eq!(
            toks("url http://x/a#b; p \"$9$x\"; ## SECRET-DATA\n"),
            vec![
                Tok::Word("url".into()),
                Tok::Word("http://x/a#b".into()),
                Tok::Semi,
                Tok::Word("p".into()),
                Tok::Str("$9$x".into()),
                Tok::Semi,
            ]
        );
        let err = lex("a {\n  b \"open;\n").unwrap_err();
        assert_eq!((err.line, err.column), (2, 5));
        assert!(lex("/* never closed").is_err());
        assert_eq!(
            toks("http://[::1]/x;")[0],
            Tok::Word("http://[::1]/x".into())
        );
    }

    #[test]
    fn set_words() {
        assert_eq!(
            split_words(r#"set a "b c" [ d e ]"#).unwrap(),
            ["set", "a", "b c", "[", "d", "e", "]"]
        );
        assert!(split_words("set a;").is_err());
    }
}
