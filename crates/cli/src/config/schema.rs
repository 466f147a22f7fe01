//! The statement tree: registered at start-up by the crates that own the
//! statements (`system`, `chassis`, `security pki`, ...), then used to check,
//! complete, parse and render configurations.

use std::fmt;

use thiserror::Error;

use crate::config::error::{ConfigError, edit_path};
use crate::config::tree::ConfigNodeView;
use crate::config::value::ValueType;

/// A cross-field check run at commit on every instance of the statement it
/// is registered at (each entry of a list); `Err` holds the message.
pub type Validator = Box<dyn Fn(&ConfigNodeView<'_>) -> Result<(), String> + Send + Sync>;

/// What kind of statement a schema node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatementKind {
    /// Holds other statements: `system { ... }`.
    Container,
    /// One value: `host-name r1;`.
    Leaf(ValueType),
    /// No value: `disable;`.
    Flag,
    /// Named entries holding statements: `ca-profile Root { ... }`.
    List(ValueType),
    /// Several values: `ca-profiles [ a b ];`.
    LeafList(ValueType),
}

/// A statement of the schema.
pub(crate) struct SchemaNode {
    pub(crate) name: String,
    pub(crate) kind: StatementKind,
    pub(crate) help: String,
    pub(crate) mandatory: bool,
    pub(crate) secret: bool,
    pub(crate) placeholder: Option<String>,
    pub(crate) children: Vec<SchemaNode>,
    pub(crate) validators: Vec<Validator>,
    /// Groups of children of which at most one may be present (a YANG
    /// `choice`): setting one removes the others.
    pub(crate) choices: Vec<Vec<String>>,
}

impl fmt::Debug for SchemaNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SchemaNode")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("mandatory", &self.mandatory)
            .field("secret", &self.secret)
            .field("validators", &self.validators.len())
            .field("children", &self.children)
            .finish()
    }
}

impl SchemaNode {
    fn new(name: &str, kind: StatementKind, help: &str) -> Self {
        SchemaNode {
            name: name.to_string(),
            kind,
            help: help.to_string(),
            mandatory: false,
            secret: false,
            placeholder: None,
            children: Vec::new(),
            validators: Vec::new(),
            choices: Vec::new(),
        }
    }

    /// The child statement called `name`.
    pub(crate) fn child(&self, name: &str) -> Option<&SchemaNode> {
        self.children.iter().find(|c| c.name == name)
    }

    /// The child statement `word` names in full, or the only one it
    /// abbreviates (`host` for `host-name`), as the CLI accepts them.
    pub(crate) fn child_abbrev(
        &self,
        word: &str,
        path: &[String],
        index: usize,
    ) -> Result<&SchemaNode, ConfigError> {
        if let Some(c) = self.child(word) {
            return Ok(c);
        }
        let matches: Vec<&SchemaNode> = self
            .children
            .iter()
            .filter(|c| !word.is_empty() && c.name.starts_with(word))
            .collect();
        match matches.as_slice() {
            [one] => Ok(one),
            [] => Err(ConfigError::unknown(word, path, index)),
            many => Err(ConfigError::Ambiguous {
                word: word.to_string(),
                path: edit_path(path),
                candidates: many.iter().map(|c| c.name.clone()).collect(),
                index,
            }),
        }
    }

    /// Position of the child `name` in schema order (unknown names last).
    pub(crate) fn order(&self, name: &str) -> usize {
        self.children
            .iter()
            .position(|c| c.name == name)
            .unwrap_or(usize::MAX)
    }

    /// Whether this node holds statements (root, container or list entry).
    pub(crate) fn holds_statements(&self) -> bool {
        matches!(self.kind, StatementKind::Container | StatementKind::List(_))
    }

    /// The other members of every choice group `name` belongs to.
    pub(crate) fn exclusive_with<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> {
        self.choices
            .iter()
            .filter(move |g| g.iter().any(|m| m == name))
            .flat_map(|g| g.iter())
            .map(String::as_str)
            .filter(move |m| *m != name)
    }

    /// The `<...>` placeholder for this statement's value (or key).
    pub(crate) fn placeholder(&self) -> String {
        if let Some(p) = &self.placeholder {
            return format!("<{p}>");
        }
        match self.kind {
            StatementKind::List(t) => format!("<{}>", t.default_placeholder()),
            _ => format!("<{}>", self.name),
        }
    }

    /// Help for this statement's value: the help plus e.g. a range.
    pub(crate) fn value_help(&self) -> String {
        let ty = match self.kind {
            StatementKind::Leaf(t) | StatementKind::LeafList(t) | StatementKind::List(t) => t,
            StatementKind::Container | StatementKind::Flag => return self.help.clone(),
        };
        match ty.help_suffix() {
            Some(s) if self.help.is_empty() => s,
            Some(s) => format!("{} {s}", self.help),
            None => self.help.clone(),
        }
    }
}

/// A registration the schema refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SchemaError {
    /// The path is empty.
    #[error("empty statement path")]
    EmptyPath,
    /// A statement name is empty or holds whitespace or special characters.
    #[error("invalid statement name '{name}'")]
    BadName {
        /// The refused name.
        name: String,
    },
    /// The parent statement is not registered.
    #[error("cannot register [{path}]: parent statement is not registered", path = path.join(" "))]
    MissingParent {
        /// The path being registered.
        path: Vec<String>,
    },
    /// The parent is a leaf or flag, which holds no statements.
    #[error("cannot register [{path}]: parent statement holds no statements", path = path.join(" "))]
    ParentNotContainer {
        /// The path being registered.
        path: Vec<String>,
    },
    /// The statement exists with another kind.
    #[error("[{path}] is already registered as a different kind of statement", path = path.join(" "))]
    Conflict {
        /// The path being registered.
        path: Vec<String>,
    },
    /// The statement to mark is not registered.
    #[error("[{path}] is not registered", path = path.join(" "))]
    NotRegistered {
        /// The path given.
        path: Vec<String>,
    },
    /// The statement cannot take this property (e.g. `secret` on a container).
    #[error("[{path}]: {what}", path = path.join(" "))]
    NotApplicable {
        /// The path given.
        path: Vec<String>,
        /// What cannot be applied.
        what: &'static str,
    },
}

fn owned(path: &[&str]) -> Vec<String> {
    path.iter().map(|s| s.to_string()).collect()
}

/// The kind of a completion candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompletionKind {
    /// The words so far form a complete command (`<[Enter]>`).
    Enter,
    /// A container statement.
    Container,
    /// A list statement (takes a name).
    List,
    /// A statement with one value.
    Leaf,
    /// A statement with several values.
    LeafList,
    /// A valueless statement.
    Flag,
    /// A value placeholder such as `<name>` or `<slot>`.
    Value,
    /// One of a fixed set of values.
    Keyword,
    /// The name of an entry present in the configuration.
    Existing,
}

/// A possible next word for `set`, `delete`, `show` and `?`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    /// The word, or a `<placeholder>` for a value.
    pub word: String,
    /// Help text.
    pub help: String,
    /// What the word is.
    pub kind: CompletionKind,
}

impl Completion {
    fn new(word: impl Into<String>, help: impl Into<String>, kind: CompletionKind) -> Self {
        Completion {
            word: word.into(),
            help: help.into(),
            kind,
        }
    }
}

/// One statement met by a walk over `set`-style words.
#[derive(Debug)]
pub(crate) enum Step<'s, 'w> {
    /// Into a container.
    Container(&'s SchemaNode),
    /// Into a list entry with this key.
    Entry(&'s SchemaNode, &'w str),
    /// A leaf with its value (as typed).
    Leaf(&'s SchemaNode, &'w str),
    /// A flag.
    Flag(&'s SchemaNode),
    /// Values of a leaf-list.
    Values(&'s SchemaNode, Vec<&'w str>),
}

impl Step<'_, '_> {
    /// Whether the step goes down into a statement-holding node.
    pub(crate) fn descends(&self) -> bool {
        matches!(self, Step::Container(_) | Step::Entry(..))
    }
}

/// Where a walk over `set`-style words ended.
#[derive(Debug)]
pub(crate) enum WalkEnd<'s> {
    /// At a statement-holding node: more statements may follow.
    Statements {
        /// The node.
        node: &'s SchemaNode,
    },
    /// A value (or key) of `node` is expected next; `open_bracket` when
    /// inside an unterminated `[ ... ]`.
    Value {
        /// The leaf, leaf-list or list.
        node: &'s SchemaNode,
        /// Whether a `[` was opened and not closed.
        open_bracket: bool,
        /// Index of the word that named the statement.
        index: usize,
    },
}

/// The result of a walk: the statements met, with the index of the word
/// that named each, and where it ended.
#[derive(Debug)]
pub(crate) struct Walk<'s, 'w> {
    pub(crate) steps: Vec<(usize, Step<'s, 'w>)>,
    pub(crate) end: WalkEnd<'s>,
}

/// The configuration statement tree.
#[derive(Debug)]
pub struct Schema {
    pub(crate) root: SchemaNode,
}

impl Default for Schema {
    fn default() -> Self {
        Self::new()
    }
}

impl Schema {
    /// An empty schema.
    pub fn new() -> Self {
        Schema {
            root: SchemaNode::new("", StatementKind::Container, ""),
        }
    }

    fn node_mut(&mut self, path: &[&str]) -> Option<&mut SchemaNode> {
        let mut node = &mut self.root;
        for name in path {
            node = node.children.iter_mut().find(|c| c.name == *name)?;
        }
        Some(node)
    }

    /// The schema node at `path` (statement names only, no list keys).
    pub(crate) fn node(&self, path: &[&str]) -> Option<&SchemaNode> {
        let mut node = &self.root;
        for name in path {
            node = node.child(name)?;
        }
        Some(node)
    }

    fn register(
        &mut self,
        path: &[&str],
        kind: StatementKind,
        help: &str,
    ) -> Result<(), SchemaError> {
        let (name, parent_path) = path.split_last().ok_or(SchemaError::EmptyPath)?;
        if name.is_empty()
            || name
                .chars()
                .any(|c| c.is_whitespace() || "\"'\\;{}[]#".contains(c))
        {
            return Err(SchemaError::BadName {
                name: name.to_string(),
            });
        }
        let parent = self
            .node_mut(parent_path)
            .ok_or_else(|| SchemaError::MissingParent { path: owned(path) })?;
        if !parent.holds_statements() {
            return Err(SchemaError::ParentNotContainer { path: owned(path) });
        }
        if let Some(existing) = parent.children.iter_mut().find(|c| c.name == *name) {
            if existing.kind != kind {
                return Err(SchemaError::Conflict { path: owned(path) });
            }
            if existing.help.is_empty() {
                existing.help = help.to_string();
            }
            return Ok(());
        }
        parent.children.push(SchemaNode::new(name, kind, help));
        Ok(())
    }

    fn mark(
        &mut self,
        path: &[&str],
        f: impl FnOnce(&mut SchemaNode) -> Result<(), &'static str>,
    ) -> Result<(), SchemaError> {
        if path.is_empty() {
            return Err(SchemaError::EmptyPath);
        }
        let node = self
            .node_mut(path)
            .ok_or_else(|| SchemaError::NotRegistered { path: owned(path) })?;
        f(node).map_err(|what| SchemaError::NotApplicable {
            path: owned(path),
            what,
        })
    }

    /// Registers a container: `system { ... }`. Registering the same
    /// container twice is allowed (several crates share `security`).
    pub fn container(&mut self, path: &[&str], help: &str) -> Result<(), SchemaError> {
        self.register(path, StatementKind::Container, help)
    }

    /// Registers a statement with one value: `host-name r1;`.
    pub fn leaf(&mut self, path: &[&str], ty: ValueType, help: &str) -> Result<(), SchemaError> {
        self.register(path, StatementKind::Leaf(ty), help)
    }

    /// Registers a valueless statement: `disable;`.
    pub fn flag(&mut self, path: &[&str], help: &str) -> Result<(), SchemaError> {
        self.register(path, StatementKind::Flag, help)
    }

    /// Registers a list of named entries: `ca-profile NAME { ... }`. The
    /// entries' statements are registered under the list's path
    /// (`["security", "pki", "ca-profile", "ca-identity"]`).
    pub fn list(&mut self, path: &[&str], key: ValueType, help: &str) -> Result<(), SchemaError> {
        self.register(path, StatementKind::List(key), help)
    }

    /// Registers a statement with several values: `ca-profiles [ a b ];`
    /// (`set` adds values one at a time or as `[ a b ]`).
    pub fn leaf_list(
        &mut self,
        path: &[&str],
        ty: ValueType,
        help: &str,
    ) -> Result<(), SchemaError> {
        self.register(path, StatementKind::LeafList(ty), help)
    }

    /// Marks a statement as mandatory: it must be present whenever its
    /// parent container or list entry is (checked at commit).
    pub fn mandatory(&mut self, path: &[&str]) -> Result<(), SchemaError> {
        self.mark(path, |n| {
            n.mandatory = true;
            Ok(())
        })
    }

    /// Marks a leaf's value as a secret: `show` and `| display` output give
    /// it only in `$9$` form, followed by `## SECRET-DATA`.
    pub fn secret(&mut self, path: &[&str]) -> Result<(), SchemaError> {
        self.mark(path, |n| match n.kind {
            StatementKind::Leaf(_) => {
                n.secret = true;
                Ok(())
            }
            _ => Err("only a statement with one value can be secret"),
        })
    }

    /// Names the value placeholder `?` shows, e.g. `slot` for `fpc` gives
    /// `<slot>` (default: the statement's name for values, `<name>` or
    /// `<number>` for list keys).
    pub fn placeholder(&mut self, path: &[&str], name: &str) -> Result<(), SchemaError> {
        self.mark(path, |n| match n.kind {
            StatementKind::Container | StatementKind::Flag => Err("statement takes no value"),
            _ => {
                n.placeholder = Some(name.to_string());
                Ok(())
            }
        })
    }

    /// Adds a commit-time check on the container or list at `path` (run on
    /// each entry of a list; `[]` is the whole configuration).
    pub fn validator(&mut self, path: &[&str], check: Validator) -> Result<(), SchemaError> {
        let node = self
            .node_mut(path)
            .ok_or_else(|| SchemaError::NotRegistered { path: owned(path) })?;
        if !node.holds_statements() {
            return Err(SchemaError::NotApplicable {
                path: owned(path),
                what: "validators run on containers and list entries",
            });
        }
        node.validators.push(check);
        Ok(())
    }

    /// Makes the children `members` of the container or list at `parent`
    /// mutually exclusive (YANG `choice`, e.g. `use-crl | use-ocsp |
    /// disable`): setting one removes the others.
    pub fn choice(&mut self, parent: &[&str], members: &[&str]) -> Result<(), SchemaError> {
        let node = self
            .node_mut(parent)
            .ok_or_else(|| SchemaError::NotRegistered {
                path: owned(parent),
            })?;
        for m in members {
            if node.child(m).is_none() {
                let mut path = owned(parent);
                path.push(m.to_string());
                return Err(SchemaError::NotRegistered { path });
            }
        }
        node.choices.push(owned(members));
        Ok(())
    }

    /// The kind of the statement at `path` (statement names only, no list
    /// keys), if registered.
    pub fn kind(&self, path: &[&str]) -> Option<StatementKind> {
        if path.is_empty() {
            return None;
        }
        self.node(path).map(|n| n.kind)
    }

    /// The help of the statement at `path`, if registered.
    pub fn help(&self, path: &[&str]) -> Option<&str> {
        self.node(path).map(|n| n.help.as_str())
    }

    /// Walks `set`-style words (statement names, values and list keys; a
    /// leaf's value may be followed by further statements of the same
    /// level, as Junos allows), checking names and values.
    pub(crate) fn walk<'s, 'w, S: AsRef<str>>(
        &'s self,
        words: &'w [S],
    ) -> Result<Walk<'s, 'w>, ConfigError> {
        let mut node = &self.root;
        let mut path: Vec<String> = Vec::new();
        let mut steps = Vec::new();
        let mut i = 0;
        while let Some(word) = words.get(i) {
            let word = word.as_ref();
            let child = node.child_abbrev(word, &path, i)?;
            let value = words.get(i + 1).map(AsRef::as_ref);
            let expect_value = |steps, open_bracket| {
                Ok(Walk {
                    steps,
                    end: WalkEnd::Value {
                        node: child,
                        open_bracket,
                        index: i,
                    },
                })
            };
            let at = i;
            match child.kind {
                StatementKind::Flag => {
                    steps.push((at, Step::Flag(child)));
                    i += 1;
                }
                StatementKind::Container => {
                    path.push(child.name.clone());
                    node = child;
                    steps.push((at, Step::Container(child)));
                    i += 1;
                }
                StatementKind::Leaf(ty) => {
                    let Some(v) = value else {
                        return expect_value(steps, false);
                    };
                    check_value(child, ty, v, &path, i + 1)?;
                    steps.push((at, Step::Leaf(child, v)));
                    i += 2;
                }
                StatementKind::List(ty) => {
                    let Some(v) = value else {
                        return expect_value(steps, false);
                    };
                    check_value(child, ty, v, &path, i + 1)?;
                    path.push(child.name.clone());
                    path.push(v.to_string());
                    node = child;
                    steps.push((at, Step::Entry(child, v)));
                    i += 2;
                }
                StatementKind::LeafList(ty) => {
                    let Some(v) = value else {
                        return expect_value(steps, false);
                    };
                    let mut values = Vec::new();
                    if v == "[" {
                        let mut j = i + 2;
                        loop {
                            match words.get(j).map(AsRef::as_ref) {
                                None => {
                                    return expect_value(steps, true);
                                }
                                Some("]") => break,
                                Some(v) => {
                                    check_value(child, ty, v, &path, j)?;
                                    values.push(v);
                                }
                            }
                            j += 1;
                        }
                        i = j + 1;
                    } else {
                        check_value(child, ty, v, &path, i + 1)?;
                        values.push(v);
                        i += 2;
                    }
                    steps.push((at, Step::Values(child, values)));
                }
            }
        }
        Ok(Walk {
            steps,
            end: WalkEnd::Statements { node },
        })
    }

    /// Checks that `words` name a statement (with list keys), as `show` and
    /// `delete` take them.
    pub fn check_path<S: AsRef<str>>(&self, words: &[S]) -> Result<(), ConfigError> {
        let walk = self.walk(words)?;
        // Only the last statement may be other than a container or entry.
        if let Some(pos) = walk.steps.iter().position(|(_, s)| !s.descends()) {
            if let Some((at, _)) = walk.steps.get(pos + 1) {
                return Err(ConfigError::unexpected(words, *at));
            }
            if let WalkEnd::Value { index, .. } = walk.end {
                return Err(ConfigError::unexpected(words, index));
            }
        }
        if let WalkEnd::Value {
            node,
            open_bracket: true,
            ..
        } = walk.end
        {
            return Err(ConfigError::MissingBracket {
                statement: node.name.clone(),
                index: words.len(),
            });
        }
        Ok(())
    }

    /// The possible next words after `words` (the tail of a `set` command
    /// typed so far): the statements at that level, or the value expected
    /// (`<name>`, `<slot>`, the words of an enumeration), with
    /// `<[Enter]>` first when the words already form a complete command.
    pub fn next_words<S: AsRef<str>>(&self, words: &[S]) -> Result<Vec<Completion>, ConfigError> {
        let mut out = Vec::new();
        let walk = self.walk(words)?;
        match walk.end {
            WalkEnd::Statements { node } => {
                if !walk.steps.is_empty() {
                    out.push(Completion::new(
                        "<[Enter]>",
                        "Execute this command",
                        CompletionKind::Enter,
                    ));
                }
                for c in &node.children {
                    let kind = match c.kind {
                        StatementKind::Container => CompletionKind::Container,
                        StatementKind::Leaf(_) => CompletionKind::Leaf,
                        StatementKind::Flag => CompletionKind::Flag,
                        StatementKind::List(_) => CompletionKind::List,
                        StatementKind::LeafList(_) => CompletionKind::LeafList,
                    };
                    out.push(Completion::new(c.name.clone(), c.help.clone(), kind));
                }
            }
            WalkEnd::Value {
                node, open_bracket, ..
            } => {
                let ty = match node.kind {
                    StatementKind::Leaf(t)
                    | StatementKind::List(t)
                    | StatementKind::LeafList(t) => Some(t),
                    _ => None,
                };
                if let Some(ValueType::Enum(words)) = ty {
                    for w in words {
                        out.push(Completion::new(*w, "", CompletionKind::Keyword));
                    }
                } else {
                    out.push(Completion::new(
                        node.placeholder(),
                        node.value_help(),
                        CompletionKind::Value,
                    ));
                }
                if open_bracket {
                    out.push(Completion::new(
                        "]",
                        "Close the set of values",
                        CompletionKind::Keyword,
                    ));
                } else if matches!(node.kind, StatementKind::LeafList(_)) {
                    out.push(Completion::new(
                        "[",
                        "Open a set of values",
                        CompletionKind::Keyword,
                    ));
                }
            }
        }
        Ok(out)
    }
}

/// Checks a value given for `node` (the secret form `$9$...` is checked
/// once decoded).
pub(crate) fn check_value(
    node: &SchemaNode,
    ty: ValueType,
    value: &str,
    path: &[String],
    index: usize,
) -> Result<(), ConfigError> {
    let decoded = crate::config::tree::input_value(node, value);
    ty.check(&decoded).map_err(|error| ConfigError::BadValue {
        statement: node.name.clone(),
        path: edit_path(path),
        index,
        error,
    })
}
