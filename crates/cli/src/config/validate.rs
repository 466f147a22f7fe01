//! Commit checks: values against their types (again: the schema may have
//! changed since they were set), mandatory statements, and the validators
//! the owning crates registered.

use crate::config::error::CommitError;
use crate::config::schema::{Schema, SchemaNode, StatementKind};
use crate::config::text::shown_value;
use crate::config::tree::{Config, ConfigNodeView, Item, Node};
use crate::config::value::quote;

struct Checker {
    errors: Vec<CommitError>,
}

impl Checker {
    fn error(&mut self, path: &[String], statement: String, message: impl Into<String>) {
        self.errors.push(CommitError {
            path: path.to_vec(),
            statement,
            message: message.into(),
        });
    }

    fn value(&mut self, sc: &SchemaNode, path: &[String], value: &str) {
        let ty = match sc.kind {
            StatementKind::Leaf(t) | StatementKind::LeafList(t) | StatementKind::List(t) => t,
            StatementKind::Container | StatementKind::Flag => return,
        };
        if let Err(e) = ty.check(value) {
            let statement = format!("{} {}", sc.name, shown_value(sc, value));
            self.error(path, statement, e.to_string());
        }
    }

    /// Runs the validators of `ctx` on `view`; errors are reported at the
    /// parent level (`path`) on `statement`.
    fn validators(
        &mut self,
        ctx: &SchemaNode,
        view: &ConfigNodeView<'_>,
        path: &[String],
        statement: &str,
    ) {
        for v in &ctx.validators {
            if let Err(message) = v(view) {
                self.error(path, statement.to_string(), message);
            }
        }
    }

    /// Checks the statements of a level (the top, a container or an entry).
    fn level(&mut self, ctx: &SchemaNode, node: &Node, view: &ConfigNodeView<'_>) {
        let path = view.path().to_vec();
        for sc in ctx.children.iter().filter(|c| c.mandatory) {
            if node.get(&sc.name).is_none() {
                self.error(
                    &path,
                    sc.name.clone(),
                    format!("Missing mandatory statement: '{}'", sc.name),
                );
            }
        }
        for child in &node.children {
            let Some(sc) = ctx.child(&child.name) else {
                self.error(&path, child.name.clone(), "unknown statement");
                continue;
            };
            match (&child.item, sc.kind) {
                (Item::Leaf(v), StatementKind::Leaf(_)) => self.value(sc, &path, v),
                (Item::LeafList(vs), StatementKind::LeafList(_)) => {
                    for v in vs {
                        self.value(sc, &path, v);
                    }
                }
                (Item::Flag, StatementKind::Flag) => {}
                (Item::Container(n), StatementKind::Container) => {
                    if let Some(child_view) = view.child(&sc.name) {
                        self.validators(sc, &child_view, &path, &sc.name);
                        self.level(sc, n, &child_view);
                    }
                }
                (Item::List(entries), StatementKind::List(_)) => {
                    for (e, entry_view) in entries.iter().zip(view.entries(&sc.name)) {
                        self.value(sc, &path, &e.key);
                        let statement = format!("{} {}", sc.name, quote(&e.key));
                        self.validators(sc, &entry_view, &path, &statement);
                        self.level(sc, &e.node, &entry_view);
                    }
                }
                _ => self.error(&path, sc.name.clone(), "statement has the wrong form"),
            }
        }
    }
}

impl Config {
    /// The commit check: every value against its type, mandatory
    /// statements, and the registered validators. On failure, print each
    /// error, then [`CHECKOUT_FAILED`](crate::config::CHECKOUT_FAILED).
    pub fn validate(&self, schema: &Schema) -> Result<(), Vec<CommitError>> {
        let mut checker = Checker { errors: Vec::new() };
        let root = self.view();
        checker.validators(&schema.root, &root, &[], "");
        checker.level(&schema.root, &self.root, &root);
        if checker.errors.is_empty() {
            Ok(())
        } else {
            Err(checker.errors)
        }
    }
}
