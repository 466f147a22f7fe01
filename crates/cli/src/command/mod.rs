//! Operational and configuration-mode commands: the tree the owning crates
//! register into, the parser with Junos's error messages, completion for
//! `?` and Tab, pipes, and dispatch.

mod complete;
mod parse;
mod pipe;
pub mod token;
mod tree;
mod value;

use std::collections::BTreeMap;

pub use complete::Completions;
pub use parse::SyntaxError;
pub use pipe::{Display, Pipe};
pub use tree::{Candidate, CommandTree, DuplicateCommand, Handler, Mode, Param, RestCompleter};
pub use value::{ArgType, DateTime, Value, parse_date};

/// What a command handler talks to: output and yes/no questions.
pub trait Terminal {
    /// Writes output text.
    fn print(&mut self, text: &str);
    /// Asks a question (e.g. `Do you want to load this CA certificate ?
    /// [yes,no] (no) `) and returns the answer line, or `None` at end of
    /// input.
    fn ask(&mut self, question: &str) -> Option<String>;
}

/// Asks a Junos yes/no question with a default; `yes`/`no` (or `y`/`n`)
/// answer it, an empty line takes the default, end of input is "no".
pub fn confirm(term: &mut dyn Terminal, question: &str, default: bool) -> bool {
    let d = if default { "yes" } else { "no" };
    loop {
        let Some(answer) = term.ask(&format!("{question} [yes,no] ({d}) ")) else {
            return false;
        };
        match answer.trim().to_ascii_lowercase().as_str() {
            "" => return default,
            "yes" | "y" => return true,
            "no" | "n" => return false,
            _ => term.print("Please answer 'yes' or 'no'.\n"),
        }
    }
}

/// A parsed command, handed to its handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// The command's keywords, in full (abbreviations expanded).
    pub path: Vec<String>,
    /// Parameter values by parameter name.
    pub values: BTreeMap<&'static str, Value>,
    /// Words taken by a rest-of-line parameter.
    pub rest: Vec<String>,
    /// The output format asked for with `| display ...`.
    pub display: Display,
    /// Whether `| compare` was given (configuration `show`).
    pub compare: bool,
}

impl Invocation {
    /// A text or word value.
    pub fn text(&self, name: &str) -> Option<&str> {
        match self.values.get(name) {
            Some(Value::Text(t)) => Some(t),
            _ => None,
        }
    }

    /// A numeric value.
    pub fn uint(&self, name: &str) -> Option<u64> {
        match self.values.get(name) {
            Some(Value::Uint(v)) => Some(*v),
            _ => None,
        }
    }

    /// An address value.
    pub fn ip(&self, name: &str) -> Option<std::net::IpAddr> {
        match self.values.get(name) {
            Some(Value::Ip(a)) => Some(*a),
            _ => None,
        }
    }

    /// Whether a flag was given.
    pub fn flag(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }
}

/// Why a command failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// The line did not parse (rendered with a caret under `at`).
    #[error("{0}")]
    Syntax(#[from] SyntaxError),
    /// The command ran and failed: printed as `error: ...`.
    #[error("error: {0}")]
    Failed(String),
    /// The command failed with a message already worded as Junos prints
    /// it (`error: ...`, `syntax error, ...`), printed as it is.
    #[error("{0}")]
    Reported(String),
}

impl CommandError {
    /// A failure with a message (printed after `error: `).
    pub fn failed(msg: impl Into<String>) -> Self {
        CommandError::Failed(msg.into())
    }
}

/// Runs `line` in `mode`: parses it, runs the handler with output captured,
/// applies the pipes and writes the result to `term`.
pub fn execute<C>(
    tree: &CommandTree<C>,
    mode: Mode,
    ctx: &mut C,
    line: &str,
    term: &mut dyn Terminal,
) -> Result<(), CommandError> {
    let parsed = tree.parse(mode, line)?;
    let mut buffered = pipe::Buffered::new(term, &parsed.pipes);
    let result = (parsed.command.handler)(ctx, &parsed.invocation, &mut buffered);
    if parsed.invocation.display == Display::Json && !parsed.command.json {
        buffered.wrap_json();
    }
    buffered.finish();
    result
}
