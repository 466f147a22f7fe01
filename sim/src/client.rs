//! `mtsim cli`: attaches to the router of a data directory over its Unix
//! socket (starting one for the session if none runs) and runs commands
//! one-shot (`-c`), from a script (stdin not a terminal: one command a
//! line, stop at the first failure), or interactively (line editing,
//! history, Tab completion, `?` listing).

use std::cell::RefCell;
use std::io::{self, BufRead, BufReader, IsTerminal, Write};
use std::os::unix::net::UnixStream;
use std::process::{Child, Command, Stdio};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::Validator;
use rustyline::{
    Cmd, ConditionalEventHandler, Context, Editor, Event, EventContext, EventHandler, Helper,
    KeyEvent, RepeatCount,
};

use crate::datadir::DataDir;
use crate::protocol::{ToClient, ToRouter, recv, send};

/// A connection to a router.
pub struct Conn {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    /// The prompt the router asked for.
    pub prompt: String,
    /// The line above the prompt (`[edit]`).
    pub banner: Option<String>,
    child: Option<Child>,
}

/// Why the CLI could not talk to a router.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Socket or process error.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The router broke the protocol or went away.
    #[error("router: {0}")]
    Protocol(String),
}

impl Conn {
    /// Connects to the router of `dir`, starting `mtsim router` for the
    /// length of this session if none is running.
    pub fn open(dir: &DataDir, user: &str) -> Result<Self, ClientError> {
        let (stream, child) = match UnixStream::connect(dir.socket()) {
            Ok(s) => (s, None),
            Err(_) => {
                let exe = std::env::current_exe()?;
                let mut child = Command::new(exe)
                    .arg("router")
                    .arg("--data-dir")
                    .arg(dir.root())
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::inherit())
                    .spawn()?;
                let mut stream = None;
                // Wait for the router to come up (process start, not a lifetime).
                for _ in 0..500 {
                    if let Ok(s) = UnixStream::connect(dir.socket()) {
                        stream = Some(s);
                        break;
                    }
                    if let Some(status) = child.try_wait()? {
                        return Err(ClientError::Protocol(format!(
                            "the router exited at start ({status})"
                        )));
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                let Some(s) = stream else {
                    let _ = child.kill();
                    return Err(ClientError::Protocol("the router did not start".into()));
                };
                (s, Some(child))
            }
        };
        let writer = stream.try_clone()?;
        let mut conn = Conn {
            reader: BufReader::new(stream),
            writer,
            prompt: String::new(),
            banner: None,
            child,
        };
        conn.send(&ToRouter::Hello {
            user: user.to_string(),
        })?;
        match conn.recv()? {
            ToClient::Prompt { prompt, banner } => {
                conn.prompt = prompt;
                conn.banner = banner;
                Ok(conn)
            }
            other => Err(ClientError::Protocol(format!("unexpected {other:?}"))),
        }
    }

    fn send(&mut self, m: &ToRouter) -> Result<(), ClientError> {
        Ok(send(&mut self.writer, m)?)
    }

    fn recv(&mut self) -> Result<ToClient, ClientError> {
        recv(&mut self.reader)?.ok_or_else(|| ClientError::Protocol("connection closed".into()))
    }

    /// Completion at the end of `line`: the `?` listing, what Tab inserts,
    /// and the candidate words.
    pub fn complete(
        &mut self,
        line: &str,
    ) -> Result<(String, Option<String>, Vec<String>), ClientError> {
        self.send(&ToRouter::Complete {
            text: line.to_string(),
        })?;
        match self.recv()? {
            ToClient::Completions {
                listing,
                tab,
                words,
            } => Ok((listing, tab, words)),
            other => Err(ClientError::Protocol(format!("unexpected {other:?}"))),
        }
    }

    /// Runs one line. `out` gets the output; `answer` reads the answer to
    /// a question (given the question); `echo` says whether a syntax
    /// error should repeat the prompt and line above the caret. Returns
    /// `Some(ok)`, or `None` when the session ended.
    pub fn run(
        &mut self,
        line: &str,
        out: &mut dyn Write,
        answer: &mut dyn FnMut(&str) -> Option<String>,
        echo: bool,
    ) -> Result<Option<bool>, ClientError> {
        self.send(&ToRouter::Line {
            text: line.to_string(),
        })?;
        let prompt_len = self.prompt.chars().count();
        loop {
            match self.recv()? {
                ToClient::Out { text } => {
                    out.write_all(text.as_bytes())?;
                    out.flush()?;
                }
                ToClient::Ask { text } => {
                    let a = answer(&text);
                    self.send(&ToRouter::Answer { text: a })?;
                }
                ToClient::Syntax { message, at } => {
                    if echo {
                        writeln!(out, "{}{}", self.prompt, line)?;
                    }
                    writeln!(out, "{}^\n{message}", " ".repeat(prompt_len + at))?;
                }
                ToClient::Done { ok, prompt, banner } => {
                    self.prompt = prompt;
                    self.banner = banner;
                    return Ok(Some(ok));
                }
                ToClient::Bye => return Ok(None),
                other => return Err(ClientError::Protocol(format!("unexpected {other:?}"))),
            }
        }
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        let _ = self.writer.shutdown(std::net::Shutdown::Both);
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Runs one command; the exit status says whether it succeeded. Questions
/// are answered from stdin.
pub fn one_shot(conn: &mut Conn, line: &str) -> Result<bool, ClientError> {
    let stdin = io::stdin();
    let mut lines = stdin.lock().lines();
    let mut answer = |q: &str| {
        print!("{q}");
        let _ = io::stdout().flush();
        lines.next().and_then(Result::ok)
    };
    Ok(conn
        .run(line, &mut io::stdout(), &mut answer, true)?
        .unwrap_or(true))
}

/// Runs the commands of `input`, one a line (blank lines and `#` comments
/// skipped); a question reads its answer from the next line. Stops at the
/// first failing command and returns false.
pub fn script(
    conn: &mut Conn,
    input: impl BufRead,
    out: &mut dyn Write,
) -> Result<bool, ClientError> {
    let lines = Rc::new(RefCell::new(input.lines()));
    loop {
        let next = lines.borrow_mut().next();
        let Some(line) = next else {
            return Ok(true);
        };
        let line = line?;
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let src = Rc::clone(&lines);
        let mut answer = move |q: &str| {
            let a = src.borrow_mut().next().and_then(Result::ok);
            // Show the question and the answer as a terminal would.
            println!("{q}{}", a.as_deref().unwrap_or(""));
            a
        };
        match conn.run(trimmed, out, &mut answer, true)? {
            Some(true) => {}
            Some(false) => return Ok(false),
            None => return Ok(true),
        }
    }
}

struct CliHelper {
    conn: Rc<RefCell<Conn>>,
}

impl Completer for CliHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let head = line.get(..pos).unwrap_or(line);
        let Ok(mut conn) = self.conn.try_borrow_mut() else {
            return Ok((pos, Vec::new()));
        };
        let Ok((_, tab, words)) = conn.complete(head) else {
            return Ok((pos, Vec::new()));
        };
        match tab {
            Some(ext) => Ok((
                pos,
                vec![Pair {
                    display: ext.clone(),
                    replacement: ext,
                }],
            )),
            None => {
                let start = head.rfind(char::is_whitespace).map_or(0, |i| i + 1);
                Ok((
                    start,
                    words
                        .into_iter()
                        .filter(|w| !w.starts_with('<'))
                        .map(|w| Pair {
                            display: w.clone(),
                            replacement: w,
                        })
                        .collect(),
                ))
            }
        }
    }
}

impl Hinter for CliHelper {
    type Hint = String;
}
impl Highlighter for CliHelper {}
impl Validator for CliHelper {}
impl Helper for CliHelper {}

/// `?` ends the edit and asks for the listing; the line is kept for editing.
struct QuestionMark(Arc<AtomicBool>);

impl ConditionalEventHandler for QuestionMark {
    fn handle(&self, _: &Event, _: RepeatCount, _: bool, _: &EventContext<'_>) -> Option<Cmd> {
        self.0.store(true, Ordering::SeqCst);
        Some(Cmd::AcceptLine)
    }
}

/// The interactive CLI on a terminal.
pub fn interactive(conn: Conn) -> Result<bool, ClientError> {
    let conn = Rc::new(RefCell::new(conn));
    let mut rl: Editor<CliHelper, rustyline::history::DefaultHistory> =
        Editor::new().map_err(|e| ClientError::Protocol(e.to_string()))?;
    rl.set_helper(Some(CliHelper {
        conn: Rc::clone(&conn),
    }));
    let asked = Arc::new(AtomicBool::new(false));
    rl.bind_sequence(
        KeyEvent::from('?'),
        EventHandler::Conditional(Box::new(QuestionMark(Arc::clone(&asked)))),
    );
    let mut initial = String::new();
    loop {
        let (prompt, banner) = {
            let c = conn.borrow();
            (c.prompt.clone(), c.banner.clone())
        };
        if initial.is_empty()
            && let Some(b) = banner
        {
            println!("\n{b}");
        }
        let read = rl.readline_with_initial(&prompt, (&initial, ""));
        initial.clear();
        let line = match read {
            Ok(l) => l,
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => return Ok(true),
            Err(e) => return Err(ClientError::Protocol(e.to_string())),
        };
        if asked.swap(false, Ordering::SeqCst) {
            println!("{prompt}{line}?");
            let listing = conn.borrow_mut().complete(&line)?.0;
            print!("{listing}");
            initial = line;
            continue;
        }
        if line.trim().is_empty() {
            continue;
        }
        let _ = rl.add_history_entry(line.as_str());
        let mut answer = |q: &str| rl.readline(q).ok();
        let r = conn
            .borrow_mut()
            .run(&line, &mut io::stdout(), &mut answer, false)?;
        if r.is_none() {
            return Ok(true);
        }
    }
}

/// Whether stdin is a terminal (interactive mode).
pub fn stdin_is_terminal() -> bool {
    io::stdin().is_terminal()
}
