//! The configuration text: parsing the curly-brace format (the on-disk
//! format and `load`), and rendering it (`show configuration`) and as
//! `set` lines (`| display set`). Secrets are rendered only in `$9$` form.

use crate::config::error::{ConfigError, ParseError, ParseErrorKind, edit_path};
use crate::config::lexer::{Tok, Token, lex};
use crate::config::schema::{
    Completion, CompletionKind, Schema, SchemaNode, StatementKind, Step, WalkEnd,
};
use crate::config::secret;
use crate::config::tree::{Config, Item, Node, input_value};
use crate::config::value::{ValueType, always_quote, quote};

/// Marks a secret in the curly text, as Junos does.
pub(crate) const SECRET_MARK: &str = " ## SECRET-DATA";

struct Parser<'t> {
    toks: &'t [Token],
    pos: usize,
    /// End of the last token taken (where a missing `;` belongs).
    end: (usize, usize),
}

impl<'t> Parser<'t> {
    fn peek(&self) -> Option<&'t Token> {
        self.toks.get(self.pos)
    }

    fn bump(&mut self) -> Option<&'t Token> {
        let t = self.toks.get(self.pos)?;
        self.pos += 1;
        self.end = (t.end_line, t.end_column);
        Some(t)
    }

    fn error_at(&self, t: Option<&Token>, kind: ParseErrorKind) -> ParseError {
        let (line, column) = t.map_or(self.end, |t| (t.line, t.column));
        ParseError { line, column, kind }
    }

    fn unexpected(&self, t: Option<&Token>, after: Option<&str>) -> ParseError {
        self.error_at(
            t,
            ParseErrorKind::Unexpected {
                found: t.map_or_else(|| "end of file".to_string(), |t| t.tok.describe()),
                after: after.map(str::to_string),
            },
        )
    }

    /// Statements until `}` (when `open` names the block) or the end.
    fn block(
        &mut self,
        ctx: &SchemaNode,
        node: &mut Node,
        path: &mut Vec<String>,
        open: Option<(&str, usize)>,
    ) -> Result<(), ParseError> {
        loop {
            let t = self.peek();
            match t.map(|t| &t.tok) {
                None => {
                    return match open {
                        Some((statement, line)) => Err(self.error_at(
                            None,
                            ParseErrorKind::MissingBrace {
                                statement: statement.to_string(),
                                line,
                            },
                        )),
                        None => Ok(()),
                    };
                }
                Some(Tok::RBrace) if open.is_some() => {
                    self.bump();
                    return Ok(());
                }
                Some(Tok::Word(_) | Tok::Str(_)) => self.statement(ctx, node, path)?,
                Some(_) => return Err(self.unexpected(t, None)),
            }
        }
    }

    /// A value (or list key) of statement `sc`, checked against `ty`.
    fn value(
        &mut self,
        sc: &SchemaNode,
        ty: ValueType,
        path: &[String],
    ) -> Result<String, ParseError> {
        let t = self.peek();
        let Some(text) = t.and_then(|t| t.tok.text()) else {
            return Err(self.error_at(
                t,
                ParseErrorKind::MissingValue {
                    statement: sc.name.clone(),
                    path: edit_path(path),
                    expected: sc.placeholder(),
                },
            ));
        };
        self.bump();
        let v = input_value(sc, text).into_owned();
        ty.check(&v).map_err(|error| {
            self.error_at(
                t,
                ParseErrorKind::BadValue {
                    statement: sc.name.clone(),
                    path: edit_path(path),
                    error,
                },
            )
        })?;
        Ok(v)
    }

    fn semicolon(&mut self, statement: &str) -> Result<(), ParseError> {
        match self.peek().map(|t| &t.tok) {
            Some(Tok::Semi) => {
                self.bump();
                Ok(())
            }
            _ => Err(self.error_at(
                None,
                ParseErrorKind::MissingSemicolon {
                    statement: statement.to_string(),
                },
            )),
        }
    }

    fn statement(
        &mut self,
        ctx: &SchemaNode,
        node: &mut Node,
        path: &mut Vec<String>,
    ) -> Result<(), ParseError> {
        let t = self.bump();
        let name = t.and_then(|t| t.tok.text()).unwrap_or_default();
        let Some(sc) = ctx.child(name) else {
            return Err(self.error_at(
                t,
                ParseErrorKind::UnknownStatement {
                    word: name.to_string(),
                    path: edit_path(path),
                },
            ));
        };
        match sc.kind {
            StatementKind::Flag => {
                self.semicolon(name)?;
                node.set_flag(ctx, name);
            }
            StatementKind::Leaf(ty) => {
                let v = self.value(sc, ty, path)?;
                self.semicolon(name)?;
                node.set_leaf(ctx, name, v);
            }
            StatementKind::LeafList(ty) => {
                let mut values = Vec::new();
                if matches!(self.peek().map(|t| &t.tok), Some(Tok::LBracket)) {
                    self.bump();
                    loop {
                        match self.peek().map(|t| &t.tok) {
                            Some(Tok::RBracket) => {
                                self.bump();
                                break;
                            }
                            Some(Tok::Word(_) | Tok::Str(_)) => {
                                values.push(self.value(sc, ty, path)?)
                            }
                            _ => {
                                return Err(self.error_at(
                                    self.peek(),
                                    ParseErrorKind::MissingBracket {
                                        statement: name.to_string(),
                                    },
                                ));
                            }
                        }
                    }
                } else {
                    values.push(self.value(sc, ty, path)?);
                }
                self.semicolon(name)?;
                node.add_values(ctx, name, values);
            }
            StatementKind::Container => {
                path.push(name.to_string());
                let line = t.map_or(0, |t| t.line);
                let mut scratch = Node::default();
                let child = match node.container_mut(ctx, name) {
                    Some(child) => child,
                    None => &mut scratch,
                };
                self.body(sc, child, path, name, line)?;
                path.pop();
            }
            StatementKind::List(ty) => {
                let key = self.value(sc, ty, path)?;
                let line = t.map_or(0, |t| t.line);
                let label = format!("{name} {}", quote(&key));
                path.push(name.to_string());
                path.push(key.clone());
                let mut scratch = Node::default();
                let child = match node.entry_mut(ctx, name, &key) {
                    Some(child) => child,
                    None => &mut scratch,
                };
                self.body(sc, child, path, &label, line)?;
                path.pop();
                path.pop();
            }
        }
        Ok(())
    }

    /// What follows a container or list entry: `{ ... }`, `;`, or one
    /// statement inside it on the same line (`disable on-download-failure;`).
    fn body(
        &mut self,
        sc: &SchemaNode,
        child: &mut Node,
        path: &mut Vec<String>,
        label: &str,
        line: usize,
    ) -> Result<(), ParseError> {
        let t = self.peek();
        match t.map(|t| &t.tok) {
            Some(Tok::LBrace) => {
                self.bump();
                self.block(sc, child, path, Some((label, line)))
            }
            Some(Tok::Semi) => {
                self.bump();
                Ok(())
            }
            Some(Tok::Word(_) | Tok::Str(_)) => self.statement(sc, child, path),
            None => Err(self.error_at(
                None,
                ParseErrorKind::MissingSemicolon {
                    statement: label.to_string(),
                },
            )),
            Some(_) => Err(self.unexpected(t, Some(label))),
        }
    }
}

impl Config {
    /// Parses the curly-brace configuration text (`/* */` and `#` comments
    /// allowed), checking every statement and value against `schema`.
    pub fn parse(text: &str, schema: &Schema) -> Result<Config, ParseError> {
        let toks = lex(text)?;
        let mut parser = Parser {
            toks: &toks,
            pos: 0,
            end: (1, 1),
        };
        let mut config = Config::default();
        parser.block(&schema.root, &mut config.root, &mut Vec::new(), None)?;
        Ok(config)
    }

    /// Finds what `path` (statement names and list keys, abbreviations
    /// allowed) names in this configuration.
    pub(crate) fn resolve<'c, 's, S: AsRef<str>>(
        &'c self,
        schema: &'s Schema,
        path: &[S],
    ) -> Option<Resolved<'c, 's>> {
        let walk = schema.walk(path).ok()?;
        let mut ctx = &schema.root;
        let mut node = &self.root;
        let mut prefix = Vec::new();
        let count = walk.steps.len();
        for (n, (_, step)) in walk.steps.iter().enumerate() {
            match step {
                Step::Container(sc) => {
                    let Some(Item::Container(child)) = node.get(&sc.name) else {
                        return None;
                    };
                    prefix.push(sc.name.clone());
                    ctx = sc;
                    node = child;
                }
                Step::Entry(sc, key) => {
                    let Some(Item::List(entries)) = node.get(&sc.name) else {
                        return None;
                    };
                    let entry = entries.iter().find(|e| e.key == *key)?;
                    prefix.push(sc.name.clone());
                    prefix.push(key.to_string());
                    ctx = sc;
                    node = &entry.node;
                }
                Step::Leaf(sc, _) | Step::Flag(sc) | Step::Values(sc, _) => {
                    // Only as the last word(s): show that statement.
                    if n + 1 != count || !matches!(walk.end, WalkEnd::Statements { .. }) {
                        return None;
                    }
                    let item = node.get(&sc.name)?;
                    return Some(Resolved::Statement { sc, item, prefix });
                }
            }
        }
        match walk.end {
            WalkEnd::Statements { .. } => Some(Resolved::Level { ctx, node, prefix }),
            WalkEnd::Value {
                node: sc,
                open_bracket: false,
                ..
            } => Some(Resolved::Statement {
                sc,
                item: node.get(&sc.name)?,
                prefix,
            }),
            WalkEnd::Value { .. } => None,
        }
    }

    /// [`Schema::next_words`] plus the names of the entries present when a
    /// list's key is expected (for `delete`, `show` and `edit` completion).
    pub fn next_words<S: AsRef<str>>(
        &self,
        schema: &Schema,
        words: &[S],
    ) -> Result<Vec<Completion>, ConfigError> {
        let mut out = schema.next_words(words)?;
        if let Ok(walk) = schema.walk(words)
            && let WalkEnd::Value {
                open_bracket: false,
                ..
            } = walk.end
            && let Some(Resolved::Statement {
                item: Item::List(entries),
                ..
            }) = self.resolve(schema, words)
        {
            out.extend(entries.iter().map(|e| Completion {
                word: e.key.clone(),
                help: String::new(),
                kind: CompletionKind::Existing,
            }));
        }
        Ok(out)
    }

    /// `show configuration PATH`: the statements at `path` (statement names
    /// and list keys; `[]` for everything) in Junos's curly format, 4-space
    /// indented, secrets as `"$9$..."; ## SECRET-DATA`. Empty if `path`
    /// names nothing present (check a path with [`Schema::check_path`]).
    pub fn render_curly<S: AsRef<str>>(&self, schema: &Schema, path: &[S]) -> String {
        let mut out = String::new();
        match self.resolve(schema, path) {
            Some(Resolved::Level { ctx, node, .. }) => render_node(ctx, node, 0, &mut out),
            Some(Resolved::Statement { sc, item, .. }) => render_item(sc, item, 0, &mut out),
            None => {}
        }
        out
    }

    /// `show configuration PATH | display set`: one `set` line per value,
    /// with the full path.
    pub fn render_set<S: AsRef<str>>(&self, schema: &Schema, path: &[S]) -> String {
        let mut out = String::new();
        match self.resolve(schema, path) {
            Some(Resolved::Level { ctx, node, prefix }) => {
                let mut prefix = prefix.iter().map(|p| quote(p).into_owned()).collect();
                set_node(ctx, node, &mut prefix, &mut out);
            }
            Some(Resolved::Statement { sc, item, prefix }) => {
                let mut prefix = prefix.iter().map(|p| quote(p).into_owned()).collect();
                set_item(sc, item, &mut prefix, &mut out);
            }
            None => {}
        }
        out
    }
}

/// What a path names in a configuration.
pub(crate) enum Resolved<'c, 's> {
    /// A level (the top, a container or a list entry) and its statements.
    Level {
        ctx: &'s SchemaNode,
        node: &'c Node,
        /// The level's path (names and keys, unquoted).
        prefix: Vec<String>,
    },
    /// One statement (a leaf, flag, leaf-list or a whole list).
    Statement {
        sc: &'s SchemaNode,
        item: &'c Item,
        /// The path of the level holding it.
        prefix: Vec<String>,
    },
}

/// A leaf value as shown: quoted if needed, `$9$` form for secrets.
pub(crate) fn shown_value(sc: &SchemaNode, value: &str) -> String {
    if sc.secret {
        always_quote(&secret::encode(value))
    } else {
        quote(value).into_owned()
    }
}

pub(crate) fn render_node(ctx: &SchemaNode, node: &Node, depth: usize, out: &mut String) {
    for child in &node.children {
        if let Some(sc) = ctx.child(&child.name) {
            render_item(sc, &child.item, depth, out);
        }
    }
}

/// Renders one statement (every entry of a list) at `depth`.
pub(crate) fn render_item(sc: &SchemaNode, item: &Item, depth: usize, out: &mut String) {
    let pad = "    ".repeat(depth);
    let name = &sc.name;
    match item {
        Item::Flag => out.push_str(&format!("{pad}{name};\n")),
        Item::Leaf(v) => {
            let mark = if sc.secret { SECRET_MARK } else { "" };
            out.push_str(&format!("{pad}{name} {};{mark}\n", shown_value(sc, v)));
        }
        Item::LeafList(vs) => {
            let shown: Vec<String> = vs.iter().map(|v| shown_value(sc, v)).collect();
            match shown.as_slice() {
                [one] => out.push_str(&format!("{pad}{name} {one};\n")),
                many => out.push_str(&format!("{pad}{name} [ {} ];\n", many.join(" "))),
            }
        }
        Item::Container(node) => render_block(sc, name, node, depth, out),
        Item::List(entries) => {
            for e in entries {
                let label = format!("{name} {}", quote(&e.key));
                render_block(sc, &label, &e.node, depth, out);
            }
        }
    }
}

/// Renders one list entry at `depth`.
pub(crate) fn render_entry(
    sc: &SchemaNode,
    key: &str,
    node: &Node,
    depth: usize,
    out: &mut String,
) {
    render_block(sc, &format!("{} {}", sc.name, quote(key)), node, depth, out);
}

fn render_block(sc: &SchemaNode, label: &str, node: &Node, depth: usize, out: &mut String) {
    let pad = "    ".repeat(depth);
    if node.is_empty() {
        out.push_str(&format!("{pad}{label};\n"));
    } else {
        out.push_str(&format!("{pad}{label} {{\n"));
        render_node(sc, node, depth + 1, out);
        out.push_str(&format!("{pad}}}\n"));
    }
}

fn set_line(prefix: &[String], rest: &[&str], out: &mut String) {
    out.push_str("set");
    for w in prefix
        .iter()
        .map(String::as_str)
        .chain(rest.iter().copied())
    {
        out.push(' ');
        out.push_str(w);
    }
    out.push('\n');
}

fn set_node(ctx: &SchemaNode, node: &Node, prefix: &mut Vec<String>, out: &mut String) {
    for child in &node.children {
        if let Some(sc) = ctx.child(&child.name) {
            set_item(sc, &child.item, prefix, out);
        }
    }
}

fn set_item(sc: &SchemaNode, item: &Item, prefix: &mut Vec<String>, out: &mut String) {
    let name = sc.name.as_str();
    match item {
        Item::Flag => set_line(prefix, &[name], out),
        Item::Leaf(v) => set_line(prefix, &[name, &shown_value(sc, v)], out),
        Item::LeafList(vs) => {
            for v in vs {
                set_line(prefix, &[name, &shown_value(sc, v)], out);
            }
        }
        Item::Container(node) => {
            if node.is_empty() {
                set_line(prefix, &[name], out);
            } else {
                prefix.push(name.to_string());
                set_node(sc, node, prefix, out);
                prefix.pop();
            }
        }
        Item::List(entries) => {
            for e in entries {
                let key = quote(&e.key);
                if e.node.is_empty() {
                    set_line(prefix, &[name, &key], out);
                } else {
                    prefix.push(name.to_string());
                    prefix.push(key.into_owned());
                    set_node(sc, &e.node, prefix, out);
                    prefix.pop();
                    prefix.pop();
                }
            }
        }
    }
}
