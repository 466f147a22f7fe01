//! `| display json`: the configuration in Junos's JSON shape,
//! `{"configuration": {"system": {"host-name": "r1"}}}`; list entries are
//! arrays of objects with a `"name"` key, valueless statements `[null]`,
//! secrets in `$9$` form.

use serde_json::{Map, Value, json};

use crate::config::schema::{Schema, SchemaNode, StatementKind};
use crate::config::secret;
use crate::config::text::Resolved;
use crate::config::tree::{Config, Item, Node};

fn node_json(ctx: &SchemaNode, node: &Node) -> Map<String, Value> {
    let mut map = Map::new();
    for child in &node.children {
        if let Some(sc) = ctx.child(&child.name) {
            map.insert(child.name.clone(), item_json(sc, &child.item));
        }
    }
    map
}

fn leaf_json(sc: &SchemaNode, v: &str) -> Value {
    if sc.secret {
        Value::String(secret::encode(v))
    } else {
        Value::String(v.to_string())
    }
}

fn entry_json(sc: &SchemaNode, key: &str, node: &Node) -> Value {
    let mut obj = Map::new();
    obj.insert("name".into(), Value::String(key.to_string()));
    obj.extend(node_json(sc, node));
    Value::Object(obj)
}

fn item_json(sc: &SchemaNode, item: &Item) -> Value {
    match item {
        Item::Flag => json!([null]),
        Item::Leaf(v) => leaf_json(sc, v),
        Item::LeafList(vs) => Value::Array(vs.iter().map(|v| leaf_json(sc, v)).collect()),
        Item::Container(node) => Value::Object(node_json(sc, node)),
        Item::List(entries) => Value::Array(
            entries
                .iter()
                .map(|e| entry_json(sc, &e.key, &e.node))
                .collect(),
        ),
    }
}

impl Config {
    /// `show configuration PATH | display json`: the statements at `path`
    /// (`[]` for everything) inside their hierarchy, under
    /// `"configuration"`. Empty hierarchy if `path` names nothing present.
    pub fn to_json<S: AsRef<str>>(&self, schema: &Schema, path: &[S]) -> Value {
        let (mut inner, prefix) = match self.resolve(schema, path) {
            Some(Resolved::Level { ctx, node, prefix }) => (node_json(ctx, node), prefix),
            Some(Resolved::Statement { sc, item, prefix }) => {
                let mut m = Map::new();
                m.insert(sc.name.clone(), item_json(sc, item));
                (m, prefix)
            }
            None => return json!({ "configuration": {} }),
        };
        // Wrap the content in its hierarchy, innermost level first.
        let mut levels = Vec::new();
        let mut ctx = &schema.root;
        let mut i = 0;
        while let Some(name) = prefix.get(i) {
            let Some(sc) = ctx.child(name) else { break };
            let key = if matches!(sc.kind, StatementKind::List(_)) {
                i += 1;
                prefix.get(i).cloned()
            } else {
                None
            };
            levels.push((name.clone(), key));
            ctx = sc;
            i += 1;
        }
        for (name, key) in levels.into_iter().rev() {
            let mut outer = Map::new();
            match key {
                Some(key) => {
                    let mut obj = Map::new();
                    obj.insert("name".into(), Value::String(key));
                    obj.extend(inner);
                    outer.insert(name, Value::Array(vec![Value::Object(obj)]));
                }
                None => {
                    outer.insert(name, Value::Object(inner));
                }
            }
            inner = outer;
        }
        json!({ "configuration": inner })
    }
}
