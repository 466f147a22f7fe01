//! The router process: its state, the commands this crate owns, and the
//! CLI socket server.
//!
//! `mtsim router --data-dir D` holds the data directory's lock, listens on
//! `D/run/cli.sock` and serves any number of CLI sessions at once, each on
//! its own thread. Sessions share one candidate configuration, as Junos's
//! plain `configure` does.

use std::io::{self, BufReader};
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::Duration;

use cli::command::{CommandError, CommandTree, Mode, Terminal, execute};
use cli::config::{Config, ConfigStore, Schema};
use simclock::{Clock, JunosTime};

use crate::chassis::{Chassis, Slot};
use crate::commands;
use crate::datadir::DataDir;
use crate::pki_commands;
use crate::protocol::{ToClient, ToRouter, recv, send};
use pki::manager::Pki;

/// Why the router could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Files or socket.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// Another router holds the data directory.
    #[error("another router is running on {0}")]
    Locked(String),
    /// The configuration store could not be opened.
    #[error("configuration: {0}")]
    Config(String),
    /// The certificate store could not be opened.
    #[error("certificate store: {0}")]
    Pki(String),
    /// A crate registered a command or statement twice (a bug).
    #[error("command registration: {0}")]
    Registration(String),
}

/// What every session shares.
pub struct Shared {
    /// The data directory.
    pub dir: DataDir,
    /// The simulated clock.
    pub clock: Clock,
    /// The chassis inventory.
    pub chassis: Chassis,
    /// The host name (shared with the log files).
    pub host: Arc<RwLock<String>>,
    /// The configuration schema, registered by the owning crates.
    pub schema: Schema,
    /// Mutable state.
    pub state: Mutex<State>,
    /// The PKI manager (its own lock: key generation must not block the configuration).
    pub pki: Mutex<Pki>,
    /// Automatic re-enrollment: the configured entries, and the last
    /// outcome per certificate.
    pub autorenew: Mutex<crate::autorenew::Autorenew>,
    /// The latest IKE peer authentication verdicts (`show security ike`).
    pub ike_verdicts: Mutex<std::collections::VecDeque<crate::ike_auth::Verdict>>,
    /// The IKE daemon, once started.
    pub kmd: std::sync::OnceLock<crate::iked::Control>,
}

/// The router's mutable state.
pub struct State {
    /// Committed configuration files.
    pub store: ConfigStore,
    /// The active (committed) configuration.
    pub active: Config,
    /// The shared candidate configuration.
    pub candidate: Config,
    /// Time and user of the last commit.
    pub last_commit: Option<(Duration, String)>,
    /// When the router (re)started, on the simulated clock.
    pub booted: Duration,
}

impl Shared {
    /// Locks the mutable state.
    pub fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Locks the PKI manager.
    pub fn pki(&self) -> MutexGuard<'_, Pki> {
        self.pki.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The host name.
    pub fn host_name(&self) -> String {
        self.host
            .read()
            .map(|h| h.clone())
            .unwrap_or_else(|e| e.into_inner().clone())
    }

    /// Applies a newly committed configuration to the running router.
    pub fn apply(&self, config: &Config) {
        let name = config
            .value(&["system", "host-name"])
            .unwrap_or("router")
            .to_string();
        if let Ok(mut h) = self.host.write() {
            *h = name;
        }
        self.pki().set_profiles(pki_commands::profiles(config));
        self.autorenew
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entries = pki_commands::auto_reenrollment(config);
        if let Some(kmd) = self.kmd.get() {
            kmd.send(crate::iked::Command::Reconfigure);
        }
    }
}

/// One CLI session: the context command handlers run in.
pub struct Session {
    /// The router.
    pub shared: Arc<Shared>,
    /// Login name.
    pub user: String,
    /// Operational or configuration mode.
    pub mode: Mode,
    /// Set by `exit` in operational mode.
    pub ended: bool,
    /// The command tree (for `run` in configuration mode).
    pub tree: Arc<CommandTree<Session>>,
}

impl Session {
    /// The prompt and the line above it.
    pub fn prompt(&self) -> (String, Option<String>) {
        let host = self.shared.host_name();
        match self.mode {
            Mode::Operational => (format!("{}@{host}> ", self.user), None),
            Mode::Configuration => (format!("{}@{host}# ", self.user), Some("[edit]".into())),
        }
    }
}

/// A running router.
pub struct Router {
    shared: Arc<Shared>,
    kmd: Mutex<Option<crate::iked::Handle>>,
    tree: Arc<CommandTree<Session>>,
    _lock: std::fs::File,
}

impl Router {
    /// Opens the data directory, takes its lock, loads the configuration
    /// (warning about a corrupted file and falling back to the last good
    /// one) and registers every command and statement.
    pub fn start(dir: DataDir, clock: Clock, es_pic: Slot) -> Result<Self, StartError> {
        dir.create()?;
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.lock_file())?;
        if lock.try_lock().is_err() {
            return Err(StartError::Locked(dir.root().display().to_string()));
        }
        let chassis = Chassis::load_or_create(&dir, es_pic)?;
        let mut schema = Schema::new();
        commands::register_schema(&mut schema)
            .and_then(|()| pki_commands::register_schema(&mut schema))
            .and_then(|()| crate::ike_config::register_schema(&mut schema))
            .and_then(|()| crate::vpn_config::register_schema(&mut schema))
            .map_err(|e| StartError::Registration(e.to_string()))?;
        let (store, active, warnings) = ConfigStore::open(&dir.config(), &schema)
            .map_err(|e| StartError::Config(e.to_string()))?;
        for w in &warnings {
            tracing::warn!(target: "mgd", "{w}");
            eprintln!("warning: {w}");
        }
        let mut tree = CommandTree::new();
        commands::register(&mut tree)
            .and_then(|()| pki_commands::register(&mut tree))
            .and_then(|()| crate::ike_commands::register(&mut tree))
            .map_err(|e| StartError::Registration(e.to_string()))?;
        let (mut pki, problems) = Pki::open(dir.ikecert(), &chassis.serial)
            .map_err(|e| StartError::Pki(e.to_string()))?;
        for p in &problems {
            eprintln!("error: certificate store: {p}");
        }
        if let Err(e) = pki.ensure_system_generated(clock.now()) {
            tracing::error!(target: "pki", "system-generated certificate: {e}");
            eprintln!("error: system-generated certificate: {e}");
        }
        let booted = clock.now();
        let shared = Arc::new(Shared {
            dir,
            clock,
            chassis,
            host: Arc::new(RwLock::new("router".into())),
            schema,
            state: Mutex::new(State {
                store,
                candidate: active.clone(),
                active,
                last_commit: None,
                booted,
            }),
            pki: Mutex::new(pki),
            autorenew: Mutex::new(crate::autorenew::Autorenew::default()),
            ike_verdicts: Mutex::new(std::collections::VecDeque::new()),
            kmd: std::sync::OnceLock::new(),
        });
        let active = shared.state().active.clone();
        shared.apply(&active);
        tracing::info!(target: "mgd", "router started, ES PIC in slot {}", shared.chassis.es_pic);
        Ok(Router {
            shared,
            kmd: Mutex::new(None),
            tree: Arc::new(tree),
            _lock: lock,
        })
    }

    /// Starts kmd, the IKE daemon, with `inside` as the router's clear
    /// side (once; later calls do nothing).
    pub fn start_kmd(&self, inside: crate::iked::Inside) -> Result<(), String> {
        self.start_kmd_on(inside, crate::iked::Ports::default())
    }

    /// [`Router::start_kmd`] with other UDP ports than 500 and 4500.
    pub fn start_kmd_on(
        &self,
        inside: crate::iked::Inside,
        ports: crate::iked::Ports,
    ) -> Result<(), String> {
        let mut slot = self.kmd.lock().unwrap_or_else(PoisonError::into_inner);
        if slot.is_some() {
            return Ok(());
        }
        let handle = crate::iked::start(Arc::clone(&self.shared), inside, ports)?;
        let _ = self.shared.kmd.set(handle.control().clone());
        *slot = Some(handle);
        Ok(())
    }

    /// Stops kmd: its IKE SAs are deleted (the peers are told) and its
    /// CHILD_SAs leave the card.
    pub fn stop_kmd(&self) {
        let handle = self
            .kmd
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        drop(handle);
    }

    /// The shared state (for log files and tests).
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Serves CLI sessions on the data directory's socket until the
    /// process ends.
    pub fn serve(&self) -> Result<(), StartError> {
        let path = self.shared.dir.socket();
        // We hold the lock, so a socket file left behind is stale.
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        }
        tracing::info!(target: "mgd", "CLI socket {}", path.display());
        crate::enroll::spawn_worker(Arc::clone(&self.shared));
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let shared = Arc::clone(&self.shared);
            let tree = Arc::clone(&self.tree);
            let spawned = std::thread::Builder::new()
                .name("cli-session".into())
                .spawn(move || {
                    if let Err(e) = serve_session(shared, &tree, stream) {
                        tracing::debug!(target: "mgd", "CLI session ended: {e}");
                    }
                });
            if let Err(e) = spawned {
                tracing::warn!(target: "mgd", "cannot start a CLI session: {e}");
            }
        }
        Ok(())
    }

    /// Runs one line in a session without a socket (for tests and the lab).
    pub fn run_line(
        &self,
        session: &mut Session,
        line: &str,
        term: &mut dyn Terminal,
    ) -> Result<(), CommandError> {
        execute(&self.tree, session.mode, session, line, term)
    }

    /// The possible next words at the end of `line` in `session`'s mode.
    pub fn complete(&self, session: &Session, line: &str) -> cli::command::Completions {
        self.tree.complete(session.mode, session, line)
    }

    /// A new session for `user`.
    pub fn session(&self, user: &str) -> Session {
        Session {
            shared: Arc::clone(&self.shared),
            user: user.to_string(),
            mode: Mode::Operational,
            ended: false,
            tree: Arc::clone(&self.tree),
        }
    }
}

/// The terminal of a socket session: output and questions go to the client.
struct SocketTerminal<'a> {
    reader: &'a mut BufReader<UnixStream>,
    writer: &'a mut UnixStream,
    broken: bool,
}

impl Terminal for SocketTerminal<'_> {
    fn print(&mut self, text: &str) {
        if send(
            self.writer,
            &ToClient::Out {
                text: text.to_string(),
            },
        )
        .is_err()
        {
            self.broken = true;
        }
    }

    fn ask(&mut self, question: &str) -> Option<String> {
        if send(
            self.writer,
            &ToClient::Ask {
                text: question.to_string(),
            },
        )
        .is_err()
        {
            self.broken = true;
            return None;
        }
        match recv::<ToRouter, _>(self.reader) {
            Ok(Some(ToRouter::Answer { text })) => text,
            _ => {
                self.broken = true;
                None
            }
        }
    }
}

fn serve_session(
    shared: Arc<Shared>,
    tree: &Arc<CommandTree<Session>>,
    stream: UnixStream,
) -> io::Result<()> {
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    let user = match recv::<ToRouter, _>(&mut reader)? {
        Some(ToRouter::Hello { user }) if valid_user(&user) => user,
        _ => return Err(io::Error::new(io::ErrorKind::InvalidData, "expected hello")),
    };
    let mut session = Session {
        shared,
        user,
        mode: Mode::Operational,
        ended: false,
        tree: Arc::clone(tree),
    };
    let (prompt, banner) = session.prompt();
    send(&mut writer, &ToClient::Prompt { prompt, banner })?;
    while let Some(msg) = recv::<ToRouter, _>(&mut reader)? {
        match msg {
            ToRouter::Line { text } => {
                let mut term = SocketTerminal {
                    reader: &mut reader,
                    writer: &mut writer,
                    broken: false,
                };
                let result = execute(tree, session.mode, &mut session, &text, &mut term);
                if term.broken {
                    return Ok(());
                }
                let ok = match result {
                    Ok(()) => true,
                    Err(CommandError::Syntax(e)) => {
                        send(
                            &mut writer,
                            &ToClient::Syntax {
                                message: e.message,
                                at: e.at,
                            },
                        )?;
                        false
                    }
                    Err(e @ (CommandError::Failed(_) | CommandError::Reported(_))) => {
                        send(
                            &mut writer,
                            &ToClient::Out {
                                text: format!("{e}\n"),
                            },
                        )?;
                        false
                    }
                };
                if session.ended {
                    send(&mut writer, &ToClient::Bye)?;
                    return Ok(());
                }
                let (prompt, banner) = session.prompt();
                send(&mut writer, &ToClient::Done { ok, prompt, banner })?;
            }
            ToRouter::Complete { text } => {
                let c = tree.complete(session.mode, &session, &text);
                send(
                    &mut writer,
                    &ToClient::Completions {
                        listing: c.render(),
                        tab: c.tab(),
                        words: c.candidates.iter().map(|c| c.word.clone()).collect(),
                    },
                )?;
            }
            ToRouter::Hello { .. } | ToRouter::Answer { .. } => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "unexpected message",
                ));
            }
        }
    }
    Ok(())
}

fn valid_user(u: &str) -> bool {
    !u.is_empty()
        && u.len() <= 32
        && u.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
}

/// `Last commit` header text for the configuration files.
pub fn commit_stamp(clock: &Clock) -> String {
    JunosTime(clock.now()).to_string()
}
