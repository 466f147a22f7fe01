//! Parsing a line against the command tree.

use std::collections::BTreeMap;

use crate::command::pipe::{self, Pipe};
use crate::command::token::{self, Word};
use crate::command::tree::{Command, CommandTree, Mode, Node, ParamKind};
use crate::command::{Display, Invocation, Value};

/// A line that does not parse, with Junos's wording and the position of
/// the offending word (for the caret).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SyntaxError {
    /// Junos's message, e.g. `syntax error, expecting <command>.`
    pub message: String,
    /// Byte offset in the line the caret points at.
    pub at: usize,
}

impl SyntaxError {
    fn new(message: impl Into<String>, at: usize) -> Self {
        SyntaxError {
            message: message.into(),
            at,
        }
    }

    /// The caret line and message, for a line shown after `prompt_len`
    /// columns of prompt.
    pub fn render(&self, prompt_len: usize) -> String {
        format!("{}^\n{}", " ".repeat(prompt_len + self.at), self.message)
    }
}

/// A parsed line: the command to run and how.
pub(crate) struct Parsed<'t, C> {
    pub(crate) command: &'t Command<C>,
    pub(crate) invocation: Invocation,
    pub(crate) pipes: Vec<Pipe>,
}

/// Finds the child of `node` named `word`, or the only child it abbreviates.
pub(crate) fn child<'n, C>(node: &'n Node<C>, word: &str) -> Option<(&'static str, &'n Node<C>)> {
    if let Some((k, n)) = node.children.get_key_value(word) {
        return Some((k, n));
    }
    let mut matches = node.children.iter().filter(|(k, _)| k.starts_with(word));
    match (matches.next(), matches.next()) {
        (Some((k, n)), None) => Some((k, n)),
        _ => None,
    }
}

impl<C> CommandTree<C> {
    /// Parses `line` in `mode`.
    pub(crate) fn parse(&self, mode: Mode, line: &str) -> Result<Parsed<'_, C>, SyntaxError> {
        let words = token::split(line).map_err(|e| match e {
            token::TokenError::UnterminatedQuote { at } => {
                SyntaxError::new("syntax error, unterminated quoted string.", at)
            }
        })?;
        let (words, pipe_words) = pipe::split_pipes(&words);
        let pipes = pipe::parse(&pipe_words)?;
        let end = line.trim_end().len();
        let root = self
            .roots
            .get(&mode)
            .ok_or_else(|| SyntaxError::new("unknown command.", 0))?;
        let mut node = root;
        let mut path = Vec::new();
        let mut i = 0;
        while let Some(w) = words.get(i) {
            if w.quoted {
                break;
            }
            match child(node, &w.text) {
                Some((name, next)) => {
                    path.push(name.to_string());
                    node = next;
                    i += 1;
                }
                None => break,
            }
        }
        let Some(command) = node.command.as_ref() else {
            return Err(match words.get(i) {
                Some(w) if path.is_empty() => SyntaxError::new("unknown command.", w.at),
                Some(w) => SyntaxError::new("syntax error, expecting <command>.", w.at),
                None if path.is_empty() => SyntaxError::new("unknown command.", 0),
                None => SyntaxError::new("syntax error, expecting <command>.", end),
            });
        };
        let mut values = BTreeMap::new();
        let mut rest = Vec::new();
        let remaining = &words[i..];
        let mut j = 0;
        while let Some(w) = remaining.get(j) {
            let keyword = (!w.quoted)
                .then(|| {
                    let exact = command.params.iter().find(|p| {
                        p.name == w.text
                            && matches!(p.kind, ParamKind::Keyword(_) | ParamKind::Flag)
                    });
                    exact.or_else(|| {
                        let mut m = command.params.iter().filter(|p| {
                            matches!(p.kind, ParamKind::Keyword(_) | ParamKind::Flag)
                                && p.name.starts_with(w.text.as_str())
                        });
                        match (m.next(), m.next()) {
                            (Some(p), None) => Some(p),
                            _ => None,
                        }
                    })
                })
                .flatten();
            if let Some(p) = keyword {
                if values.contains_key(p.name) {
                    return Err(SyntaxError::new(
                        format!("syntax error, '{}' given twice.", p.name),
                        w.at,
                    ));
                }
                match &p.kind {
                    ParamKind::Flag => {
                        values.insert(p.name, Value::Flag);
                        j += 1;
                    }
                    ParamKind::Keyword(ty) => {
                        let Some(v) = remaining.get(j + 1) else {
                            return Err(SyntaxError::new(
                                format!("syntax error, expecting {}.", ty.placeholder(p.name)),
                                end,
                            ));
                        };
                        let value = ty
                            .parse(p.name, &v.text)
                            .map_err(|m| SyntaxError::new(format!("error: {m}"), v.at))?;
                        values.insert(p.name, value);
                        j += 2;
                    }
                    _ => j += 1,
                }
                continue;
            }
            if let Some(p) = command.params.iter().find(|p| {
                matches!(p.kind, ParamKind::Positional(_)) && !values.contains_key(p.name)
            }) {
                if let ParamKind::Positional(ty) = &p.kind {
                    let value = ty
                        .parse(p.name, &w.text)
                        .map_err(|m| SyntaxError::new(format!("error: {m}"), w.at))?;
                    values.insert(p.name, value);
                }
                j += 1;
                continue;
            }
            if command
                .params
                .iter()
                .any(|p| matches!(p.kind, ParamKind::Rest(_)))
            {
                rest = remaining[j..].iter().map(|w| w.text.clone()).collect();
                break;
            }
            return Err(SyntaxError::new("syntax error.", w.at));
        }
        for p in command.params.iter().filter(|p| p.required) {
            let present = match p.kind {
                ParamKind::Rest(_) => !rest.is_empty(),
                _ => values.contains_key(p.name),
            };
            if !present {
                let what = match &p.kind {
                    ParamKind::Keyword(_) | ParamKind::Flag => p.name.to_string(),
                    ParamKind::Positional(ty) => ty.placeholder(p.name),
                    ParamKind::Rest(_) => format!("<{}>", p.name),
                };
                return Err(SyntaxError::new(
                    format!("syntax error, expecting {what}."),
                    end,
                ));
            }
        }
        let display = pipes
            .iter()
            .rev()
            .find_map(|p| match p {
                Pipe::Display(d) => Some(*d),
                _ => None,
            })
            .unwrap_or(Display::Text);
        let compare = pipes.iter().any(|p| matches!(p, Pipe::Compare));
        Ok(Parsed {
            command,
            invocation: Invocation {
                path,
                values,
                rest,
                display,
                compare,
            },
            pipes,
        })
    }
}

/// Words of a line before the first pipe (for completion).
pub(crate) fn command_words(words: &[Word]) -> &[Word] {
    let n = words
        .iter()
        .position(|w| !w.quoted && w.text == "|")
        .unwrap_or(words.len());
    &words[..n]
}
