//! The command tree: keywords registered by the crates that own the
//! commands, each command with its typed parameters and its handler.
//!
//! A command is a path of keywords (`show chassis hardware`) followed by
//! parameters in any order, as Junos takes them: keyword parameters
//! (`certificate-id ID`, `size 2048`), flags (`detail`), at most one
//! positional value (`show log FILE`), or the rest of the line (`set ...`
//! in configuration mode, with completion supplied by the owner).

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::command::value::ArgType;
use crate::command::{CommandError, Invocation, Terminal};

/// The CLI mode a command belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Mode {
    /// Operational mode (`user@host>`).
    Operational,
    /// Configuration mode (`user@host#`).
    Configuration,
}

/// What runs a command: the session context `C`, the parsed invocation, and
/// the terminal (for output and yes/no questions).
pub type Handler<C> =
    Arc<dyn Fn(&mut C, &Invocation, &mut dyn Terminal) -> Result<(), CommandError> + Send + Sync>;

/// Completion of a rest-of-line parameter: given the context and the words
/// typed so far, the possible next words with their help.
pub type RestCompleter<C> = Arc<dyn Fn(&C, &[String]) -> Vec<Candidate> + Send + Sync>;

/// A possible next word, for `?` and Tab.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Candidate {
    /// The word, or a placeholder such as `<filename>` for a value.
    pub word: String,
    /// Help text.
    pub help: String,
}

impl Candidate {
    /// A candidate.
    pub fn new(word: impl Into<String>, help: impl Into<String>) -> Self {
        Candidate {
            word: word.into(),
            help: help.into(),
        }
    }

    /// Whether the candidate is a value placeholder (`<...>`), not a word to type.
    pub fn is_placeholder(&self) -> bool {
        self.word.starts_with('<')
    }
}

/// A parameter of a command.
#[derive(Clone)]
pub struct Param<C> {
    pub(crate) name: &'static str,
    pub(crate) kind: ParamKind<C>,
    pub(crate) required: bool,
    pub(crate) help: &'static str,
}

#[derive(Clone)]
pub(crate) enum ParamKind<C> {
    /// `keyword VALUE`.
    Keyword(ArgType),
    /// `keyword` alone.
    Flag,
    /// A value without keyword.
    Positional(ArgType),
    /// Every remaining word.
    Rest(Option<RestCompleter<C>>),
}

impl<C> Param<C> {
    /// `name VALUE`, e.g. `size 2048`.
    pub fn keyword(name: &'static str, ty: ArgType, help: &'static str) -> Self {
        Param {
            name,
            kind: ParamKind::Keyword(ty),
            required: false,
            help,
        }
    }

    /// A flag word, e.g. `detail`.
    pub fn flag(name: &'static str, help: &'static str) -> Self {
        Param {
            name,
            kind: ParamKind::Flag,
            required: false,
            help,
        }
    }

    /// A value given without a keyword, e.g. the file of `show log FILE`;
    /// `name` is how handlers look it up and what `?` shows (`<name>`).
    pub fn positional(name: &'static str, ty: ArgType, help: &'static str) -> Self {
        Param {
            name,
            kind: ParamKind::Positional(ty),
            required: false,
            help,
        }
    }

    /// The rest of the line, completed by `completer`.
    pub fn rest(
        name: &'static str,
        completer: Option<RestCompleter<C>>,
        help: &'static str,
    ) -> Self {
        Param {
            name,
            kind: ParamKind::Rest(completer),
            required: false,
            help,
        }
    }

    /// Makes the parameter mandatory.
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }
}

/// A registered command: its parameters and handler.
#[derive(Clone)]
pub struct Command<C> {
    pub(crate) params: Vec<Param<C>>,
    pub(crate) handler: Handler<C>,
    /// Whether the handler renders `| display json` itself.
    pub(crate) json: bool,
}

/// A node of the keyword tree.
pub(crate) struct Node<C> {
    pub(crate) help: String,
    pub(crate) children: BTreeMap<&'static str, Node<C>>,
    pub(crate) command: Option<Command<C>>,
}

impl<C> Node<C> {
    fn new(help: &str) -> Self {
        Node {
            help: help.to_string(),
            children: BTreeMap::new(),
            command: None,
        }
    }
}

/// The CLI's commands, per mode.
pub struct CommandTree<C> {
    pub(crate) roots: BTreeMap<Mode, Node<C>>,
}

impl<C> Default for CommandTree<C> {
    fn default() -> Self {
        Self::new()
    }
}

/// A registration that conflicts with what is already registered: a bug in
/// the registering crate, reported at start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("command '{path}' is registered twice")]
pub struct DuplicateCommand {
    /// The command path.
    pub path: String,
}

impl<C> CommandTree<C> {
    /// An empty tree.
    pub fn new() -> Self {
        let mut roots = BTreeMap::new();
        roots.insert(Mode::Operational, Node::new(""));
        roots.insert(Mode::Configuration, Node::new(""));
        CommandTree { roots }
    }

    fn node_mut(&mut self, mode: Mode, path: &str) -> Option<&mut Node<C>> {
        let mut node = self.roots.get_mut(&mode)?;
        for word in path.split_whitespace() {
            // Keywords are registered from 'static strings by owners; a
            // leaked copy is not needed because `path` is 'static below.
            node = node.children.get_mut(word)?;
        }
        Some(node)
    }

    /// Sets the help text of the keyword at `path` (creating it), e.g.
    /// `("show chassis", "Show chassis information")`.
    pub fn help(&mut self, mode: Mode, path: &'static str, help: &str) {
        let mut node = match self.roots.get_mut(&mode) {
            Some(n) => n,
            None => return,
        };
        for word in path.split_whitespace() {
            node = node.children.entry(word).or_insert_with(|| Node::new(""));
        }
        node.help = help.to_string();
    }

    /// Registers the command at `path` (keywords separated by spaces).
    pub fn register(
        &mut self,
        mode: Mode,
        path: &'static str,
        help: &str,
        params: Vec<Param<C>>,
        handler: Handler<C>,
    ) -> Result<(), DuplicateCommand> {
        let Some(mut node) = self.roots.get_mut(&mode) else {
            return Ok(());
        };
        for word in path.split_whitespace() {
            node = node.children.entry(word).or_insert_with(|| Node::new(""));
        }
        if node.command.is_some() {
            return Err(DuplicateCommand {
                path: path.to_string(),
            });
        }
        if node.help.is_empty() {
            node.help = help.to_string();
        }
        node.command = Some(Command {
            params,
            handler,
            json: false,
        });
        Ok(())
    }

    /// Declares that the command at `path` renders `| display json` itself
    /// (others get their text output wrapped as `{"output": ...}`).
    pub fn renders_json(&mut self, mode: Mode, path: &str) {
        if let Some(c) = self.node_mut(mode, path).and_then(|n| n.command.as_mut()) {
            c.json = true;
        }
    }

    /// Whether a command is registered at `path`.
    pub fn contains(&mut self, mode: Mode, path: &str) -> bool {
        self.node_mut(mode, path)
            .is_some_and(|n| n.command.is_some())
    }
}
