//! `show | compare`: the differences between two configurations, grouped
//! by hierarchy level as Junos prints them:
//!
//! ```text
//! [edit system]
//! -  host-name old;
//! +  host-name new;
//! [edit security pki]
//! +  ca-profile Root {
//! +      ca-identity Root;
//! +  }
//! ```

use crate::config::error::edit_path;
use crate::config::schema::{Schema, SchemaNode};
use crate::config::text::{render_entry, render_item};
use crate::config::tree::{Config, Item, Node};

struct Diff {
    out: String,
    /// The level whose `[edit ...]` header was printed last.
    header: Option<Vec<String>>,
}

impl Diff {
    fn emit(&mut self, path: &[String], sign: char, text: &str) {
        if self.header.as_deref() != Some(path) {
            self.out.push_str(&edit_path(path));
            self.out.push('\n');
            self.header = Some(path.to_vec());
        }
        for line in text.lines() {
            self.out.push(sign);
            self.out.push_str("  ");
            self.out.push_str(line);
            self.out.push('\n');
        }
    }

    fn item(&mut self, path: &[String], sign: char, sc: &SchemaNode, item: &Item) {
        let mut text = String::new();
        render_item(sc, item, 0, &mut text);
        self.emit(path, sign, &text);
    }

    fn entry(&mut self, path: &[String], sign: char, sc: &SchemaNode, key: &str, node: &Node) {
        let mut text = String::new();
        render_entry(sc, key, node, 0, &mut text);
        self.emit(path, sign, &text);
    }

    fn level(&mut self, ctx: &SchemaNode, old: &Node, new: &Node, path: &mut Vec<String>) {
        for sc in &ctx.children {
            let name = &sc.name;
            match (old.get(name), new.get(name)) {
                (None, None) => {}
                (Some(o), None) => self.item(path, '-', sc, o),
                (None, Some(n)) => self.item(path, '+', sc, n),
                (Some(o), Some(n)) if o == n => {}
                (Some(Item::Container(a)), Some(Item::Container(b))) => {
                    path.push(name.clone());
                    self.level(sc, a, b, path);
                    path.pop();
                }
                (Some(Item::List(a)), Some(Item::List(b))) => {
                    // Changed entries, then removed ones, then added ones.
                    for eb in b {
                        if let Some(ea) = a.iter().find(|ea| ea.key == eb.key)
                            && ea.node != eb.node
                        {
                            path.push(name.clone());
                            path.push(eb.key.clone());
                            self.level(sc, &ea.node, &eb.node, path);
                            path.pop();
                            path.pop();
                        }
                    }
                    for ea in a.iter().filter(|ea| !b.iter().any(|eb| eb.key == ea.key)) {
                        self.entry(path, '-', sc, &ea.key, &ea.node);
                    }
                    for eb in b.iter().filter(|eb| !a.iter().any(|ea| ea.key == eb.key)) {
                        self.entry(path, '+', sc, &eb.key, &eb.node);
                    }
                }
                (Some(o), Some(n)) => {
                    self.item(path, '-', sc, o);
                    self.item(path, '+', sc, n);
                }
            }
        }
    }
}

/// `show | compare` of `new` (the candidate) against `old` (the active or
/// a rollback); empty when they are equal. Secrets appear in `$9$` form.
pub fn compare(old: &Config, new: &Config, schema: &Schema) -> String {
    let mut diff = Diff {
        out: String::new(),
        header: None,
    };
    diff.level(&schema.root, &old.root, &new.root, &mut Vec::new());
    diff.out
}
