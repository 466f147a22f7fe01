//! Errors of configuration editing (`set`, `delete`), of parsing the
//! configuration text, and of commit checks, worded as Junos words them.

use std::fmt;

use thiserror::Error;

use crate::config::value::{ValueError, quote};

/// `[edit a b c]` for a configuration path (list keys included).
pub(crate) fn edit_path<S: AsRef<str>>(path: &[S]) -> String {
    let mut s = String::from("[edit");
    for p in path {
        s.push(' ');
        s.push_str(&quote(p.as_ref()));
    }
    s.push(']');
    s
}

/// A `set`, `delete` or `show` that cannot be carried out. `Display` gives
/// the line Junos prints (`syntax error, ...`, `error: ...`,
/// `warning: ...`); `index` fields give the word the caret points at.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConfigError {
    /// No statement was given.
    #[error("syntax error, expecting <statement>.")]
    ExpectingStatement,
    /// A word is not a statement at its level.
    #[error("syntax error, unknown statement '{word}' under {path}.")]
    UnknownStatement {
        /// The word.
        word: String,
        /// The level, as `[edit system]`.
        path: String,
        /// Index of the word.
        index: usize,
    },
    /// A word abbreviates several statements.
    #[error("syntax error, '{word}' is ambiguous under {path}: {}.", candidates.join(", "))]
    Ambiguous {
        /// The word.
        word: String,
        /// The level, as `[edit system]`.
        path: String,
        /// The statements it could abbreviate.
        candidates: Vec<String>,
        /// Index of the word.
        index: usize,
    },
    /// A statement's value (or list key) is missing.
    #[error("syntax error, missing value for '{statement}': expecting {expected}.")]
    MissingValue {
        /// The statement.
        statement: String,
        /// The placeholder, e.g. `<host-name>`.
        expected: String,
        /// Index just past the last word.
        index: usize,
    },
    /// A `[` of a set of values was not closed.
    #[error("syntax error, missing ']' for '{statement}'.")]
    MissingBracket {
        /// The statement.
        statement: String,
        /// Index just past the last word.
        index: usize,
    },
    /// A word where none may follow (e.g. after the statement `delete`
    /// names).
    #[error("syntax error, unexpected '{word}'.")]
    Unexpected {
        /// The word.
        word: String,
        /// Index of the word.
        index: usize,
    },
    /// A value refused by the statement's type.
    #[error("error: {error}")]
    BadValue {
        /// The statement.
        statement: String,
        /// The level, as `[edit system]`.
        path: String,
        /// Index of the value.
        index: usize,
        /// Why it was refused.
        error: ValueError,
    },
    /// `delete` of a statement that is not in the configuration.
    #[error("warning: statement not found")]
    NotFound,
}

impl ConfigError {
    pub(crate) fn unknown(word: &str, path: &[String], index: usize) -> Self {
        ConfigError::UnknownStatement {
            word: word.to_string(),
            path: edit_path(path),
            index,
        }
    }

    pub(crate) fn unexpected<S: AsRef<str>>(words: &[S], index: usize) -> Self {
        ConfigError::Unexpected {
            word: words
                .get(index)
                .map(|w| w.as_ref().to_string())
                .unwrap_or_default(),
            index,
        }
    }

    /// Whether this is a warning (nothing changed, nothing wrong).
    pub fn is_warning(&self) -> bool {
        matches!(self, ConfigError::NotFound)
    }

    /// Index of the word the error is about, for a caret.
    pub fn index(&self) -> Option<usize> {
        match self {
            ConfigError::UnknownStatement { index, .. }
            | ConfigError::Ambiguous { index, .. }
            | ConfigError::MissingValue { index, .. }
            | ConfigError::MissingBracket { index, .. }
            | ConfigError::Unexpected { index, .. }
            | ConfigError::BadValue { index, .. } => Some(*index),
            ConfigError::ExpectingStatement | ConfigError::NotFound => None,
        }
    }
}

/// What is wrong in a configuration text.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParseErrorKind {
    /// A word is not a statement at its level.
    #[error("unknown statement '{word}' under {path}")]
    UnknownStatement {
        /// The word.
        word: String,
        /// The level, as `[edit system]`.
        path: String,
    },
    /// A statement is not closed by `;`.
    #[error("missing ';' after '{statement}'")]
    MissingSemicolon {
        /// The statement.
        statement: String,
    },
    /// A statement's value (or list key) is missing.
    #[error("missing value for '{statement}' under {path}: expecting {expected}")]
    MissingValue {
        /// The statement.
        statement: String,
        /// The level, as `[edit system]`.
        path: String,
        /// The placeholder, e.g. `<host-name>`.
        expected: String,
    },
    /// A value refused by the statement's type.
    #[error("invalid value for '{statement}' under {path}: {error}")]
    BadValue {
        /// The statement.
        statement: String,
        /// The level, as `[edit system]`.
        path: String,
        /// Why it was refused.
        error: ValueError,
    },
    /// A token out of place.
    #[error("unexpected {found}{}", after.as_ref().map(|a| format!(" after '{a}'")).unwrap_or_default())]
    Unexpected {
        /// The token, quoted (`'}'`) or `end of file`.
        found: String,
        /// The statement it follows, if any.
        after: Option<String>,
    },
    /// A block is not closed before the end of the text.
    #[error("missing '}}' for '{statement}' opened on line {line}")]
    MissingBrace {
        /// The statement whose block is open.
        statement: String,
        /// Line of its `{`.
        line: usize,
    },
    /// A `[` of a set of values is not closed.
    #[error("missing ']' for '{statement}'")]
    MissingBracket {
        /// The statement.
        statement: String,
    },
    /// A quoted string is not closed.
    #[error("unterminated quoted string")]
    UnterminatedString,
    /// A `/*` comment is not closed.
    #[error("unterminated comment")]
    UnterminatedComment,
}

/// A configuration text that does not parse: where, and what.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("line {line}: {kind}")]
pub struct ParseError {
    /// Line, from 1.
    pub line: usize,
    /// Column (in characters), from 1.
    pub column: usize,
    /// What is wrong.
    pub kind: ParseErrorKind,
}

/// A commit check that failed, shown as Junos shows it:
///
/// ```text
/// [edit security pki ca-profile Root]
///   'ca-identity'
///     Missing mandatory statement: 'ca-identity'
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitError {
    /// The level the statement is at (list keys included).
    pub path: Vec<String>,
    /// The statement, as `'...'` shows it (empty for the whole
    /// configuration).
    pub statement: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for CommitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", edit_path(&self.path))?;
        if self.statement.is_empty() {
            write!(f, "  {}", self.message)
        } else {
            write!(f, "  '{}'\n    {}", self.statement, self.message)
        }
    }
}

impl std::error::Error for CommitError {}

/// The summary line printed after the commit errors.
pub const CHECKOUT_FAILED: &str = "error: configuration check-out failed";
