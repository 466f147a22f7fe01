//! The configuration tree: statements in schema order (as Junos shows
//! them), list entries and leaf-list values in the order they were added;
//! `set` and `delete`; read access for the crates that own the statements.

use std::borrow::Cow;

use crate::config::error::ConfigError;
use crate::config::schema::{Schema, SchemaNode, Step, WalkEnd};
use crate::config::secret;

/// A configuration: the candidate being edited, the active one, or a
/// rollback. Compare with `==`: statements are kept in schema order, so two
/// configurations with the same statements and entry order are equal.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Config {
    pub(crate) root: Node,
}

/// Statements under a container, a list entry or the top.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Node {
    pub(crate) children: Vec<Child>,
}

/// A statement present in the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Child {
    pub(crate) name: String,
    pub(crate) item: Item,
}

/// What a present statement holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Item {
    Leaf(String),
    Flag,
    Container(Node),
    List(Vec<Entry>),
    LeafList(Vec<String>),
}

/// A list entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) key: String,
    pub(crate) node: Node,
}

/// A value as typed for `node`: a secret given in `$9$` form is decoded.
pub(crate) fn input_value<'v>(node: &SchemaNode, value: &'v str) -> Cow<'v, str> {
    if node.secret
        && let Some(plain) = secret::decode(value)
    {
        return Cow::Owned(plain);
    }
    Cow::Borrowed(value)
}

impl Node {
    pub(crate) fn get(&self, name: &str) -> Option<&Item> {
        self.children
            .iter()
            .find(|c| c.name == name)
            .map(|c| &c.item)
    }

    fn get_mut(&mut self, name: &str) -> Option<&mut Item> {
        self.children
            .iter_mut()
            .find(|c| c.name == name)
            .map(|c| &mut c.item)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.children.is_empty()
    }

    fn remove(&mut self, name: &str) -> bool {
        let before = self.children.len();
        self.children.retain(|c| c.name != name);
        self.children.len() != before
    }

    /// The item of statement `name`, inserted at its schema position (with
    /// `make`) if absent or of another kind.
    fn slot(
        &mut self,
        ctx: &SchemaNode,
        name: &str,
        same_kind: fn(&Item) -> bool,
        make: impl FnOnce() -> Item,
    ) -> &mut Item {
        let pos = match self.children.iter().position(|c| c.name == name) {
            Some(pos) => {
                if let Some(c) = self.children.get_mut(pos)
                    && !same_kind(&c.item)
                {
                    c.item = make();
                }
                pos
            }
            None => {
                let order = ctx.order(name);
                let pos = self
                    .children
                    .iter()
                    .position(|c| ctx.order(&c.name) > order)
                    .unwrap_or(self.children.len());
                self.children.insert(
                    pos,
                    Child {
                        name: name.to_string(),
                        item: make(),
                    },
                );
                pos
            }
        };
        &mut self.children[pos].item
    }

    /// Removes the statements that share a choice with `name`.
    pub(crate) fn apply_choice(&mut self, ctx: &SchemaNode, name: &str) {
        let others: Vec<String> = ctx.exclusive_with(name).map(str::to_string).collect();
        if !others.is_empty() {
            self.children.retain(|c| !others.contains(&c.name));
        }
    }

    pub(crate) fn set_leaf(&mut self, ctx: &SchemaNode, name: &str, value: String) {
        self.apply_choice(ctx, name);
        let item = self.slot(
            ctx,
            name,
            |i| matches!(i, Item::Leaf(_)),
            || Item::Leaf(String::new()),
        );
        *item = Item::Leaf(value);
    }

    pub(crate) fn set_flag(&mut self, ctx: &SchemaNode, name: &str) {
        self.apply_choice(ctx, name);
        self.slot(ctx, name, |i| matches!(i, Item::Flag), || Item::Flag);
    }

    pub(crate) fn add_values(&mut self, ctx: &SchemaNode, name: &str, values: Vec<String>) {
        self.apply_choice(ctx, name);
        let item = self.slot(
            ctx,
            name,
            |i| matches!(i, Item::LeafList(_)),
            || Item::LeafList(Vec::new()),
        );
        if let Item::LeafList(list) = item {
            for v in values {
                if !list.contains(&v) {
                    list.push(v);
                }
            }
        }
    }

    /// The container `name`, created if absent.
    pub(crate) fn container_mut(&mut self, ctx: &SchemaNode, name: &str) -> Option<&mut Node> {
        self.apply_choice(ctx, name);
        match self.slot(
            ctx,
            name,
            |i| matches!(i, Item::Container(_)),
            || Item::Container(Node::default()),
        ) {
            Item::Container(node) => Some(node),
            _ => None,
        }
    }

    /// The entry `key` of list `name`, created (last) if absent.
    pub(crate) fn entry_mut(
        &mut self,
        ctx: &SchemaNode,
        name: &str,
        key: &str,
    ) -> Option<&mut Node> {
        self.apply_choice(ctx, name);
        match self.slot(
            ctx,
            name,
            |i| matches!(i, Item::List(_)),
            || Item::List(Vec::new()),
        ) {
            Item::List(entries) => {
                let pos = match entries.iter().position(|e| e.key == key) {
                    Some(pos) => pos,
                    None => {
                        entries.push(Entry {
                            key: key.to_string(),
                            node: Node::default(),
                        });
                        entries.len() - 1
                    }
                };
                entries.get_mut(pos).map(|e| &mut e.node)
            }
            _ => None,
        }
    }
}

/// Applies the statements of a checked walk, starting at `node`.
fn apply_steps<'s>(mut node: &mut Node, mut ctx: &'s SchemaNode, steps: &[(usize, Step<'s, '_>)]) {
    for (_, step) in steps {
        match step {
            Step::Flag(sc) => node.set_flag(ctx, &sc.name),
            Step::Leaf(sc, v) => node.set_leaf(ctx, &sc.name, input_value(sc, v).into_owned()),
            Step::Values(sc, vs) => node.add_values(
                ctx,
                &sc.name,
                vs.iter().map(|v| input_value(sc, v).into_owned()).collect(),
            ),
            Step::Container(sc) => match node.container_mut(ctx, &sc.name) {
                Some(child) => {
                    node = child;
                    ctx = sc;
                }
                None => return,
            },
            Step::Entry(sc, key) => match node.entry_mut(ctx, &sc.name, key) {
                Some(child) => {
                    node = child;
                    ctx = sc;
                }
                None => return,
            },
        }
    }
}

/// What `delete` removes once it has reached its level.
enum Target<'a, 's, 'w> {
    /// The whole statement (all entries of a list, all values).
    Statement(&'s SchemaNode),
    /// What the last step names.
    Step(&'a Step<'s, 'w>),
}

fn delete_at(
    node: &mut Node,
    steps: &[(usize, Step<'_, '_>)],
    target: &Target<'_, '_, '_>,
) -> Result<(), ConfigError> {
    let Some(((_, step), rest)) = steps.split_first() else {
        return remove_target(node, target);
    };
    match step {
        Step::Container(sc) => {
            let Some(Item::Container(child)) = node.get_mut(&sc.name) else {
                return Err(ConfigError::NotFound);
            };
            delete_at(child, rest, target)?;
            // Junos drops a container its last statement was deleted from.
            if child.is_empty() {
                node.remove(&sc.name);
            }
            Ok(())
        }
        Step::Entry(sc, key) => {
            let Some(Item::List(entries)) = node.get_mut(&sc.name) else {
                return Err(ConfigError::NotFound);
            };
            let entry = entries
                .iter_mut()
                .find(|e| e.key == *key)
                .ok_or(ConfigError::NotFound)?;
            delete_at(&mut entry.node, rest, target)
        }
        // Checked by `delete`: only the last step may be other than a level.
        Step::Leaf(..) | Step::Flag(_) | Step::Values(..) => Err(ConfigError::NotFound),
    }
}

fn remove_target(node: &mut Node, target: &Target<'_, '_, '_>) -> Result<(), ConfigError> {
    let found = match target {
        Target::Statement(sc) => node.remove(&sc.name),
        Target::Step(Step::Container(sc) | Step::Flag(sc)) => node.remove(&sc.name),
        Target::Step(Step::Leaf(sc, v)) => {
            let matches =
                matches!(node.get(&sc.name), Some(Item::Leaf(cur)) if *cur == input_value(sc, v));
            matches && node.remove(&sc.name)
        }
        Target::Step(Step::Entry(sc, key)) => {
            let mut found = false;
            let mut empty = false;
            if let Some(Item::List(entries)) = node.get_mut(&sc.name) {
                let before = entries.len();
                entries.retain(|e| e.key != *key);
                found = entries.len() != before;
                empty = entries.is_empty();
            }
            if empty {
                node.remove(&sc.name);
            }
            found
        }
        Target::Step(Step::Values(sc, vs)) => {
            let mut found = false;
            let mut empty = false;
            if let Some(Item::LeafList(values)) = node.get_mut(&sc.name) {
                let before = values.len();
                let gone: Vec<Cow<'_, str>> = vs.iter().map(|v| input_value(sc, v)).collect();
                values.retain(|v| !gone.iter().any(|g| g == v));
                found = values.len() != before;
                empty = values.is_empty();
            }
            if empty {
                node.remove(&sc.name);
            }
            found
        }
    };
    if found {
        Ok(())
    } else {
        Err(ConfigError::NotFound)
    }
}

impl Config {
    /// An empty configuration.
    pub fn new() -> Self {
        Config::default()
    }

    /// Whether the configuration holds no statement.
    pub fn is_empty(&self) -> bool {
        self.root.is_empty()
    }

    /// Applies a `set` command's tail, e.g. `system host-name r1` or
    /// `security pki ca-profile Root enrollment url http://ca/scep retry 5`
    /// (after a value, further statements of the same level may follow).
    /// Words are already unquoted. Nothing changes on error.
    pub fn set<S: AsRef<str>>(&mut self, schema: &Schema, words: &[S]) -> Result<(), ConfigError> {
        if words.is_empty() {
            return Err(ConfigError::ExpectingStatement);
        }
        let walk = schema.walk(words)?;
        if let WalkEnd::Value {
            node, open_bracket, ..
        } = walk.end
        {
            return Err(if open_bracket {
                ConfigError::MissingBracket {
                    statement: node.name.clone(),
                    index: words.len(),
                }
            } else {
                ConfigError::MissingValue {
                    statement: node.name.clone(),
                    expected: node.placeholder(),
                    index: words.len(),
                }
            });
        }
        apply_steps(&mut self.root, &schema.root, &walk.steps);
        Ok(())
    }

    /// Applies a `delete` command's tail: a statement path (`system
    /// host-name`, `security pki ca-profile Root`, `security pki
    /// ca-profile` for all entries; a leaf may be followed by its value, a
    /// leaf-list by the values to remove). No words deletes everything.
    /// Deleting what is not there gives [`ConfigError::NotFound`]
    /// (`warning: statement not found`).
    pub fn delete<S: AsRef<str>>(
        &mut self,
        schema: &Schema,
        words: &[S],
    ) -> Result<(), ConfigError> {
        if words.is_empty() {
            if self.root.is_empty() {
                return Err(ConfigError::NotFound);
            }
            self.root = Node::default();
            return Ok(());
        }
        let walk = schema.walk(words)?;
        let last_level = walk.steps.iter().position(|(_, s)| !s.descends());
        if let Some(pos) = last_level
            && let Some((at, _)) = walk.steps.get(pos + 1)
        {
            return Err(ConfigError::unexpected(words, *at));
        }
        let (levels, target) = match walk.end {
            WalkEnd::Value {
                node,
                open_bracket: true,
                ..
            } => {
                return Err(ConfigError::MissingBracket {
                    statement: node.name.clone(),
                    index: words.len(),
                });
            }
            WalkEnd::Value { node, index, .. } => {
                if last_level.is_some() {
                    return Err(ConfigError::unexpected(words, index));
                }
                (&walk.steps[..], Target::Statement(node))
            }
            WalkEnd::Statements { .. } => match walk.steps.split_last() {
                Some(((_, last), levels)) => (levels, Target::Step(last)),
                None => return Err(ConfigError::ExpectingStatement),
            },
        };
        delete_at(&mut self.root, levels, &target)
    }

    /// Read access to the whole configuration.
    pub fn view(&self) -> ConfigNodeView<'_> {
        ConfigNodeView {
            root: &self.root,
            node: &self.root,
            path: Vec::new(),
            key: None,
        }
    }

    /// The container or list entry at `words` (statement names and list
    /// keys: `["security", "pki", "ca-profile", "Root"]`).
    pub fn get<S: AsRef<str>>(&self, words: &[S]) -> Option<ConfigNodeView<'_>> {
        self.view().get(words)
    }

    /// The value of the leaf at `words` (`["system", "host-name"]`).
    pub fn value<S: AsRef<str>>(&self, words: &[S]) -> Option<&str> {
        let (last, parent) = words.split_last()?;
        self.get(parent)?.value(last.as_ref())
    }
}

/// Read-only view of a container, a list entry or the whole configuration,
/// for the crates that own the statements and for commit validators.
#[derive(Debug, Clone)]
pub struct ConfigNodeView<'a> {
    root: &'a Node,
    node: &'a Node,
    path: Vec<String>,
    key: Option<&'a str>,
}

impl<'a> ConfigNodeView<'a> {
    fn at(&self, name: &str, key: Option<&'a str>, node: &'a Node) -> ConfigNodeView<'a> {
        let mut path = self.path.clone();
        path.push(name.to_string());
        if let Some(k) = key {
            path.push(k.to_string());
        }
        ConfigNodeView {
            root: self.root,
            node,
            path,
            key,
        }
    }

    /// The whole configuration this node belongs to (for validators that
    /// check references, e.g. that a `ca-profile-name` is configured).
    pub fn root(&self) -> ConfigNodeView<'a> {
        ConfigNodeView {
            root: self.root,
            node: self.root,
            path: Vec::new(),
            key: None,
        }
    }

    /// The configuration path of this node (list keys included).
    pub fn path(&self) -> &[String] {
        &self.path
    }

    /// The key of this list entry (`None` for a container).
    pub fn key(&self) -> Option<&'a str> {
        self.key
    }

    /// Whether the node holds no statement.
    pub fn is_empty(&self) -> bool {
        self.node.is_empty()
    }

    /// Whether statement `name` is present (of any kind).
    pub fn has(&self, name: &str) -> bool {
        self.node.get(name).is_some()
    }

    /// The names of the statements present, in schema order.
    pub fn statements(&self) -> Vec<&'a str> {
        self.node.children.iter().map(|c| c.name.as_str()).collect()
    }

    /// The value of leaf `name`.
    pub fn value(&self, name: &str) -> Option<&'a str> {
        match self.node.get(name) {
            Some(Item::Leaf(v)) => Some(v),
            _ => None,
        }
    }

    /// The values of leaf-list `name` (empty if absent).
    pub fn values(&self, name: &str) -> &'a [String] {
        match self.node.get(name) {
            Some(Item::LeafList(v)) => v,
            _ => &[],
        }
    }

    /// The container `name`.
    pub fn child(&self, name: &str) -> Option<ConfigNodeView<'a>> {
        match self.node.get(name) {
            Some(Item::Container(n)) => Some(self.at(name, None, n)),
            _ => None,
        }
    }

    /// The entries of list `name`, in order.
    pub fn entries(&self, name: &str) -> Vec<ConfigNodeView<'a>> {
        match self.node.get(name) {
            Some(Item::List(entries)) => entries
                .iter()
                .map(|e| self.at(name, Some(&e.key), &e.node))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Entry `key` of list `name`.
    pub fn entry(&self, name: &str, key: &str) -> Option<ConfigNodeView<'a>> {
        match self.node.get(name) {
            Some(Item::List(entries)) => entries
                .iter()
                .find(|e| e.key == key)
                .map(|e| self.at(name, Some(&e.key), &e.node)),
            _ => None,
        }
    }

    /// The container or entry at `words` below this node (statement names
    /// and list keys).
    pub fn get<S: AsRef<str>>(&self, words: &[S]) -> Option<ConfigNodeView<'a>> {
        let mut view = self.clone();
        let mut i = 0;
        while let Some(w) = words.get(i) {
            let w = w.as_ref();
            view = match view.node.get(w)? {
                Item::Container(_) => {
                    i += 1;
                    view.child(w)?
                }
                Item::List(_) => {
                    let key = words.get(i + 1)?.as_ref();
                    i += 2;
                    view.entry(w, key)?
                }
                Item::Leaf(_) | Item::Flag | Item::LeafList(_) => return None,
            };
        }
        Some(view)
    }
}
