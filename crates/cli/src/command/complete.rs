//! Completion for `?` (list the possible next words with help) and Tab
//! (complete the word being typed).

use crate::command::parse::{child, command_words};
use crate::command::token;
use crate::command::tree::{Candidate, CommandTree, Mode, ParamKind};

/// What can come next at the end of a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completions {
    /// The partial word being completed ("" after a space).
    pub partial: String,
    /// Byte offset where the partial word starts.
    pub at: usize,
    /// Candidates matching the partial word, sorted.
    pub candidates: Vec<Candidate>,
}

impl Completions {
    /// The text Tab inserts: the rest of the only candidate (plus a space),
    /// or the longest common prefix of several.
    pub fn tab(&self) -> Option<String> {
        let words: Vec<&str> = self
            .candidates
            .iter()
            .filter(|c| !c.is_placeholder())
            .map(|c| c.word.as_str())
            .collect();
        match words.as_slice() {
            [] => None,
            [one] => Some(format!("{} ", one.get(self.partial.len()..).unwrap_or(""))),
            many => {
                let first = many[0];
                let mut n = first.len();
                for w in &many[1..] {
                    n = n.min(
                        first
                            .chars()
                            .zip(w.chars())
                            .take_while(|(a, b)| a == b)
                            .count(),
                    );
                }
                let ext = first.get(self.partial.len()..n).unwrap_or("");
                (!ext.is_empty()).then(|| ext.to_string())
            }
        }
    }

    /// The `?` listing as Junos prints it.
    pub fn render(&self) -> String {
        if self.candidates.is_empty() {
            return "No valid completions\n".into();
        }
        let mut s = String::from("Possible completions:\n");
        for c in &self.candidates {
            s.push_str(&format!("  {:<20} {}\n", c.word, c.help));
        }
        s
    }
}

impl<C> CommandTree<C> {
    /// The possible next words at the end of `line`.
    pub fn complete(&self, mode: Mode, ctx: &C, line: &str) -> Completions {
        let words = token::split(line).unwrap_or_default();
        let words = command_words(&words);
        let ends_in_space = line.ends_with(char::is_whitespace) || line.is_empty();
        let (done, partial, at) = match (ends_in_space, words.split_last()) {
            (false, Some((last, rest))) => (rest, last.text.clone(), last.at),
            _ => (words, String::new(), line.len()),
        };
        let mut candidates = Vec::new();
        let Some(root) = self.roots.get(&mode) else {
            return Completions {
                partial,
                at,
                candidates,
            };
        };
        let mut node = root;
        let mut i = 0;
        while let Some(w) = done.get(i) {
            match child(node, &w.text) {
                Some((_, n)) => {
                    node = n;
                    i += 1;
                }
                None => break,
            }
        }
        let params_words: Vec<String> = done[i..].iter().map(|w| w.text.clone()).collect();
        if params_words.is_empty() {
            for (name, n) in &node.children {
                candidates.push(Candidate::new(*name, n.help.clone()));
            }
        }
        if let Some(cmd) = &node.command {
            // A keyword parameter waiting for its value?
            let pending = params_words.last().and_then(|last| {
                cmd.params
                    .iter()
                    .find(|p| p.name == last && matches!(p.kind, ParamKind::Keyword(_)))
            });
            let rest = cmd.params.iter().find_map(|p| match &p.kind {
                ParamKind::Rest(c) => Some(c),
                _ => None,
            });
            if let Some(p) = pending {
                if let ParamKind::Keyword(ty) = &p.kind {
                    match ty {
                        crate::command::ArgType::Choice(ws) => {
                            for w in ws.iter() {
                                candidates.push(Candidate::new(*w, p.help));
                            }
                        }
                        _ => candidates.push(Candidate::new(ty.placeholder(p.name), p.help)),
                    }
                }
            } else if let Some(completer) = rest {
                if let Some(c) = completer {
                    candidates.extend(c(ctx, &params_words));
                }
            } else {
                for p in &cmd.params {
                    if params_words.iter().any(|w| w == p.name) {
                        continue;
                    }
                    match &p.kind {
                        ParamKind::Keyword(_) | ParamKind::Flag => {
                            candidates.push(Candidate::new(p.name, p.help))
                        }
                        ParamKind::Positional(ty) => {
                            candidates.push(Candidate::new(ty.placeholder(p.name), p.help))
                        }
                        ParamKind::Rest(_) => {}
                    }
                }
                let missing = cmd.params.iter().any(|p| {
                    p.required
                        && match p.kind {
                            ParamKind::Keyword(_) | ParamKind::Flag => {
                                !params_words.iter().any(|w| w == p.name)
                            }
                            ParamKind::Positional(_) | ParamKind::Rest(_) => {
                                params_words.is_empty()
                            }
                        }
                });
                if !missing {
                    candidates.push(Candidate::new("|", "Pipe through a command"));
                }
            }
        }
        // Value placeholders stay while a value is being typed; "<[Enter]>"
        // (the statement is complete) only after a space.
        candidates.retain(|c| {
            if c.is_placeholder() {
                partial.is_empty() || c.word != "<[Enter]>"
            } else {
                c.word.starts_with(partial.as_str())
            }
        });
        candidates.sort();
        candidates.dedup();
        Completions {
            partial,
            at,
            candidates,
        }
    }
}
