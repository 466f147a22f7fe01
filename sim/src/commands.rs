//! The commands and configuration statements this crate owns: chassis,
//! system, clock, logs, and the configuration-mode verbs.

use std::sync::Arc;
use std::time::Duration;

use cli::command::{
    ArgType, Candidate, CommandError, CommandTree, Display, DuplicateCommand, Handler, Invocation,
    Mode, Param, RestCompleter, Terminal, confirm, parse_date,
};
use cli::config::{Config, Schema, SchemaError, StoreError, ValueType};
use simclock::{DateTime, JunosDuration, JunosTime};

use crate::router::{Session, commit_stamp};

type Result<T> = std::result::Result<T, CommandError>;

fn handler(
    f: impl Fn(&mut Session, &Invocation, &mut dyn Terminal) -> Result<()> + Send + Sync + 'static,
) -> Handler<Session> {
    Arc::new(f)
}

/// Registers the statements this crate owns.
pub fn register_schema(s: &mut Schema) -> std::result::Result<(), SchemaError> {
    s.container(&["system"], "System parameters")?;
    s.leaf(
        &["system", "host-name"],
        ValueType::HostName,
        "Hostname for this router",
    )?;
    s.leaf(
        &["system", "domain-name"],
        ValueType::HostName,
        "Domain name for this router",
    )?;
    s.container(
        &["system", "login"],
        "Names, login classes, and passwords for users",
    )?;
    s.list(&["system", "login", "user"], ValueType::Word, "Username")?;
    s.leaf(
        &["system", "login", "user", "class"],
        ValueType::Enum(&["super-user", "operator", "read-only", "unauthorized"]),
        "Login class",
    )?;
    s.mandatory(&["system", "login", "user", "class"])?;
    s.leaf(
        &["system", "login", "user", "uid"],
        ValueType::Uint {
            min: 100,
            max: 64000,
        },
        "User identifier (uid)",
    )?;
    s.leaf(
        &["system", "login", "user", "full-name"],
        ValueType::Text,
        "Full name",
    )?;
    s.container(&["chassis"], "Chassis configuration")?;
    s.container(&["security"], "Security configuration")?;
    s.leaf(
        &["chassis", "description"],
        ValueType::Text,
        "Chassis description",
    )?;
    Ok(())
}

/// Registers the commands this crate owns.
pub fn register(t: &mut CommandTree<Session>) -> std::result::Result<(), DuplicateCommand> {
    use Mode::{Configuration as Cfg, Operational as Op};
    t.help(Op, "show", "Show system information");
    t.help(Op, "show chassis", "Show chassis information");
    t.help(Op, "show system", "Show system information");
    t.help(Op, "set", "Set CLI properties, date/time");
    t.help(Op, "request", "Make system-level requests");
    t.help(Op, "clear", "Clear information in the system");
    t.register(
        Op,
        "show chassis hardware",
        "Show installed hardware components",
        vec![],
        handler(show_hardware),
    )?;
    t.renders_json(Op, "show chassis hardware");
    t.register(
        Op,
        "show system uptime",
        "Show time since system and processes started",
        vec![],
        handler(show_uptime),
    )?;
    t.register(
        Op,
        "show version",
        "Show software process revision levels",
        vec![],
        handler(show_version),
    )?;
    t.register(
        Op,
        "set date",
        "Set the date and time",
        vec![
            Param::positional("date", ArgType::Date, "New date and time (YYYYMMDDhhmm.ss)")
                .required(),
        ],
        handler(set_date),
    )?;
    t.register(
        Op,
        "show log",
        "Show contents of log files",
        vec![Param::positional("filename", ArgType::Filename, "Name of log file").required()],
        handler(show_log),
    )?;
    t.register(
        Op,
        "clear log",
        "Clear contents of log file",
        vec![Param::positional("filename", ArgType::Filename, "Name of log file").required()],
        handler(clear_log),
    )?;
    t.help(Op, "show interfaces", "Show interface information");
    t.register(
        Op,
        "show interfaces terse",
        "Display terse output",
        vec![],
        handler(show_interfaces_terse),
    )?;
    t.help(Op, "request system", "System operations");
    t.register(
        Op,
        "request system reboot",
        "Reboot the router (reloads the committed configuration)",
        vec![],
        handler(reboot),
    )?;
    t.register(
        Op,
        "configure",
        "Manipulate software configuration information",
        vec![],
        handler(configure),
    )?;
    t.register(
        Op,
        "exit",
        "Exit the management session",
        vec![],
        handler(exit_op),
    )?;
    t.register(
        Op,
        "quit",
        "Exit the management session",
        vec![],
        handler(exit_op),
    )?;

    let completer: RestCompleter<Session> =
        Arc::new(|s: &Session, words: &[String]| statement_words(s, words));
    let statement = || {
        Param::rest(
            "statement",
            Some(completer.clone()),
            "Configuration statement",
        )
    };
    t.register(
        Cfg,
        "set",
        "Set a parameter",
        vec![statement().required()],
        handler(cfg_set),
    )?;
    t.register(
        Cfg,
        "delete",
        "Delete a data element",
        vec![statement().required()],
        handler(cfg_delete),
    )?;
    t.register(
        Cfg,
        "show",
        "Show a parameter",
        vec![statement()],
        handler(cfg_show),
    )?;
    t.register(
        Cfg,
        "commit",
        "Commit current set of changes",
        vec![],
        handler(commit),
    )?;
    t.register(
        Cfg,
        "commit check",
        "Check correctness of syntax; do not apply changes",
        vec![],
        handler(commit_check),
    )?;
    t.register(
        Cfg,
        "rollback",
        "Roll back to previous committed configuration",
        vec![Param::positional(
            "number",
            ArgType::Uint { min: 0, max: 49 },
            "Index of rollback configuration",
        )],
        handler(rollback),
    )?;
    t.register(
        Cfg,
        "exit",
        "Exit from this level",
        vec![],
        handler(exit_cfg),
    )?;
    t.register(
        Cfg,
        "quit",
        "Exit from this level",
        vec![],
        handler(exit_cfg),
    )?;
    t.register(
        Cfg,
        "run",
        "Run an operational-mode command",
        vec![Param::rest("command", None, "Operational command").required()],
        handler(run_op),
    )?;
    Ok(())
}

fn statement_words(s: &Session, words: &[String]) -> Vec<Candidate> {
    s.shared
        .schema
        .next_words(words)
        .map(|v| {
            v.into_iter()
                .map(|c| Candidate::new(c.word, c.help))
                .collect()
        })
        .unwrap_or_default()
}

fn show_hardware(s: &mut Session, inv: &Invocation, t: &mut dyn Terminal) -> Result<()> {
    if inv.display == Display::Json {
        let j = serde_json::to_string_pretty(&s.shared.chassis.hardware_json()).unwrap_or_default();
        t.print(&format!("{j}\n"));
    } else {
        t.print(&s.shared.chassis.render_hardware());
    }
    Ok(())
}

fn show_interfaces_terse(s: &mut Session, _: &Invocation, t: &mut dyn Terminal) -> Result<()> {
    let mut out = format!(
        "{:<24}{:<6}{:<5}{}\n",
        "Interface", "Admin", "Link", "Proto"
    );
    for p in &s.shared.chassis.pics {
        let ports = if p.ifd == "es" { 1 } else { 4 };
        for port in 0..ports {
            out.push_str(&format!(
                "{:<24}{:<6}{:<5}\n",
                format!("{}-{}/{port}", p.ifd, p.slot),
                "up",
                "up"
            ));
        }
    }
    t.print(&out);
    Ok(())
}

fn show_uptime(s: &mut Session, _: &Invocation, t: &mut dyn Terminal) -> Result<()> {
    let now = s.shared.clock.now();
    let booted = s.shared.state().booted;
    let ago = |when: Duration| JunosDuration(now.saturating_sub(when));
    let mut out = format!(
        "Current time: {}\nSystem booted: {} ({} ago)\n",
        JunosTime(now),
        JunosTime(booted),
        ago(booted)
    );
    if let Some((when, user)) = s.shared.state().last_commit.clone() {
        out.push_str(&format!(
            "Last configured: {} ({} ago) by {user}\n",
            JunosTime(when),
            ago(when)
        ));
    }
    t.print(&out);
    Ok(())
}

fn show_version(s: &mut Session, _: &Invocation, t: &mut dyn Terminal) -> Result<()> {
    t.print(&format!(
        "Hostname: {}\nModel: m320\nJUNOS Software Release [mtsim {}]\n",
        s.shared.host_name(),
        env!("CARGO_PKG_VERSION")
    ));
    Ok(())
}

fn set_date(s: &mut Session, inv: &Invocation, t: &mut dyn Terminal) -> Result<()> {
    let text = inv.text("date").unwrap_or_default();
    let d =
        parse_date(text).ok_or_else(|| CommandError::failed(format!("invalid date '{text}'")))?;
    let dt = DateTime::new(
        d.year as u16,
        d.month as u8,
        d.day as u8,
        d.hour as u8,
        d.minute as u8,
        d.second as u8,
    )
    .map_err(|_| CommandError::failed(format!("invalid date '{text}'")))?;
    let old = s.shared.clock.now();
    s.shared.clock.set(dt.unix_duration());
    tracing::info!(target: "mgd", user = %s.user, "date changed from {} to {}", JunosTime(old), JunosTime(dt.unix_duration()));
    t.print(&format!("{}\n", JunosTime(dt.unix_duration())));
    Ok(())
}

/// The log file a `show log`/`clear log` names (the file-name type keeps
/// it inside the log directory), if it exists.
fn log_file(s: &Session, inv: &Invocation) -> Result<(String, std::path::PathBuf)> {
    let name = inv.text("filename").unwrap_or_default().to_string();
    let path = s.shared.dir.log().join(&name);
    if path.is_file() {
        Ok((name, path))
    } else {
        Err(CommandError::failed(format!(
            "could not resolve file: {name}"
        )))
    }
}

fn show_log(s: &mut Session, inv: &Invocation, t: &mut dyn Terminal) -> Result<()> {
    let (name, path) = log_file(s, inv)?;
    let bytes = std::fs::read(&path)
        .map_err(|e| CommandError::failed(format!("cannot read {name}: {e}")))?;
    t.print(&String::from_utf8_lossy(&bytes));
    Ok(())
}

fn clear_log(s: &mut Session, inv: &Invocation, _: &mut dyn Terminal) -> Result<()> {
    let (name, path) = log_file(s, inv)?;
    std::fs::write(&path, b"")
        .map_err(|e| CommandError::failed(format!("cannot clear {name}: {e}")))
}

fn reboot(s: &mut Session, _: &Invocation, t: &mut dyn Terminal) -> Result<()> {
    if !confirm(t, "Reboot the system ?", false) {
        return Ok(());
    }
    let shared = Arc::clone(&s.shared);
    let active = {
        let mut st = shared.state();
        // Nothing committed yet reloads as the empty configuration.
        let active = match st.store.rollback(&shared.schema, 0) {
            Ok(c) => c,
            Err(StoreError::NoRollback(_)) => Config::new(),
            Err(e) => {
                return Err(CommandError::failed(format!(
                    "cannot reload the configuration: {e}"
                )));
            }
        };
        st.active = active.clone();
        st.candidate = active.clone();
        st.booted = shared.clock.now();
        active
    };
    shared.apply(&active);
    tracing::warn!(target: "mgd", user = %s.user, "reboot requested, system going down");
    t.print(&format!("\n*** FINAL System shutdown message from {}@{} ***\n\nSystem going down IMMEDIATELY\n\nShutdown NOW!\n", s.user, shared.host_name()));
    Ok(())
}

fn configure(s: &mut Session, _: &Invocation, t: &mut dyn Terminal) -> Result<()> {
    s.mode = Mode::Configuration;
    t.print("Entering configuration mode\n");
    Ok(())
}

fn exit_op(s: &mut Session, _: &Invocation, _: &mut dyn Terminal) -> Result<()> {
    s.ended = true;
    Ok(())
}

fn words(inv: &Invocation) -> Vec<&str> {
    inv.rest.iter().map(String::as_str).collect()
}

/// A configuration error as a command failure: its text is already worded
/// as Junos prints it.
fn config_error(e: impl std::fmt::Display) -> CommandError {
    CommandError::Reported(e.to_string())
}

fn cfg_set(s: &mut Session, inv: &Invocation, _: &mut dyn Terminal) -> Result<()> {
    let shared = Arc::clone(&s.shared);
    let mut st = shared.state();
    st.candidate
        .set(&shared.schema, &words(inv))
        .map_err(config_error)
}

fn cfg_delete(s: &mut Session, inv: &Invocation, t: &mut dyn Terminal) -> Result<()> {
    let shared = Arc::clone(&s.shared);
    let mut st = shared.state();
    match st.candidate.delete(&shared.schema, &words(inv)) {
        Ok(()) => Ok(()),
        Err(e) if e.is_warning() => {
            t.print(&format!("{e}\n"));
            Ok(())
        }
        Err(e) => Err(config_error(e)),
    }
}

fn cfg_show(s: &mut Session, inv: &Invocation, t: &mut dyn Terminal) -> Result<()> {
    let shared = Arc::clone(&s.shared);
    let st = shared.state();
    let path = words(inv);
    let out = if inv.compare {
        cli::config::compare(&st.active, &st.candidate, &shared.schema)
    } else {
        match inv.display {
            Display::Set => st.candidate.render_set(&shared.schema, &path),
            Display::Json => {
                let v = st.candidate.to_json(&shared.schema, &path);
                let mut j = serde_json::to_string_pretty(&v).unwrap_or_default();
                j.push('\n');
                j
            }
            Display::Text => st.candidate.render_curly(&shared.schema, &path),
        }
    };
    t.print(&out);
    Ok(())
}

/// Prints commit-check errors as Junos does and fails the command.
fn check_failed(errors: Vec<cli::config::CommitError>, t: &mut dyn Terminal) -> CommandError {
    for e in errors {
        t.print(&format!("{e}\n"));
    }
    CommandError::failed("configuration check-out failed")
}

fn commit_check(s: &mut Session, _: &Invocation, t: &mut dyn Terminal) -> Result<()> {
    let result = s.shared.state().candidate.validate(&s.shared.schema);
    result.map_err(|errors| check_failed(errors, t))?;
    t.print("configuration check succeeds\n");
    Ok(())
}

fn commit(s: &mut Session, _: &Invocation, t: &mut dyn Terminal) -> Result<()> {
    let shared = Arc::clone(&s.shared);
    let stamp = commit_stamp(&shared.clock);
    let committed = {
        let mut st = shared.state();
        let candidate = st.candidate.clone();
        // The store checks the candidate and writes nothing if it fails.
        match st.store.commit(&shared.schema, &candidate, &stamp, &s.user) {
            Ok(()) => {
                st.active = candidate.clone();
                st.last_commit = Some((shared.clock.now(), s.user.clone()));
                Ok(candidate)
            }
            Err(StoreError::Invalid(errors)) => Err(errors),
            Err(e) => return Err(CommandError::failed(format!("commit failed: {e}"))),
        }
    };
    let candidate = committed.map_err(|errors| check_failed(errors, t))?;
    shared.apply(&candidate);
    tracing::info!(target: "mgd", user = %s.user, "commit complete");
    t.print("commit complete\n");
    Ok(())
}

fn rollback(s: &mut Session, inv: &Invocation, t: &mut dyn Terminal) -> Result<()> {
    let n = inv.uint("number").unwrap_or(0) as u32;
    let shared = Arc::clone(&s.shared);
    let mut st = shared.state();
    let config = st
        .store
        .rollback(&shared.schema, n)
        .map_err(|e| CommandError::failed(e.to_string()))?;
    st.candidate = config;
    t.print("load complete\n");
    Ok(())
}

fn exit_cfg(s: &mut Session, _: &Invocation, t: &mut dyn Terminal) -> Result<()> {
    let changed = {
        let st = s.shared.state();
        st.candidate != st.active
    };
    if changed {
        t.print("The configuration has been changed but not committed\n");
        if !confirm(t, "Exit with uncommitted changes?", true) {
            return Ok(());
        }
    }
    s.mode = Mode::Operational;
    t.print("Exiting configuration mode\n");
    Ok(())
}

fn run_op(s: &mut Session, inv: &Invocation, t: &mut dyn Terminal) -> Result<()> {
    let tree = Arc::clone(&s.tree);
    let line = inv
        .rest
        .iter()
        .map(|w| cli::command::token::quote(w))
        .collect::<Vec<_>>()
        .join(" ");
    s.mode = Mode::Operational;
    let r = cli::command::execute(&tree, Mode::Operational, s, &line, t);
    if !s.ended {
        s.mode = Mode::Configuration;
    }
    r
}
