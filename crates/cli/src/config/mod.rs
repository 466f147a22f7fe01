//! The configuration engine of the Junos-style CLI.
//!
//! - [`Schema`]: the statement tree, registered at start-up by the crates
//!   that own the statements (containers, leaves with typed values, flags,
//!   lists, leaf-lists; mandatory statements, secrets, choices, validators),
//!   with completion for `?`.
//! - [`Config`]: a configuration tree with `set`/`delete`, the curly text
//!   (parse and render), `| display set`, `| display json`, and the commit
//!   check ([`Config::validate`]).
//! - [`compare`]: `show | compare`.
//! - [`ConfigStore`]: `juniper.conf` and its 49 rollbacks on disk.
//!
//! ```
//! use cli::config::{Config, Schema, ValueType};
//!
//! let mut schema = Schema::new();
//! schema.container(&["system"], "System parameters").unwrap();
//! schema.leaf(&["system", "host-name"], ValueType::HostName, "Hostname for this router").unwrap();
//! let mut config = Config::new();
//! config.set(&schema, &["system", "host-name", "r1"]).unwrap();
//! assert_eq!(config.render_curly::<&str>(&schema, &[]), "system {\n    host-name r1;\n}\n");
//! assert_eq!(config.render_set(&schema, &["system"]), "set system host-name r1\n");
//! ```

mod compare;
mod error;
mod json;
mod lexer;
mod schema;
pub mod secret;
mod store;
mod text;
mod tree;
mod validate;
mod value;

pub use compare::compare;
pub use error::{CHECKOUT_FAILED, CommitError, ConfigError, ParseError, ParseErrorKind};
pub use lexer::split_words;
pub use schema::{Completion, CompletionKind, Schema, SchemaError, StatementKind, Validator};
pub use store::{ACTIVE_FILE, ConfigStore, MAX_ROLLBACKS, StoreError};
pub use tree::{Config, ConfigNodeView};
pub use value::{ValueError, ValueType, quote};
