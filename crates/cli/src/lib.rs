//! Junos-style command language: command tree, configuration with commit/rollback, pipes, renderers.

pub mod command;
pub mod config;
