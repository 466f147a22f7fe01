//! The CLI socket protocol between `mtsim cli` and the router: one JSON
//! object per line in each direction.
//!
//! | client -> router | router -> client |
//! |---|---|
//! | `hello {user}` | `prompt {prompt, banner}` |
//! | `line {text}` | `out {text}`*, `ask {text}` (client answers `answer`), then `done {ok, prompt, banner}` or `bye` |
//! | `complete {text}` | `completions {listing, tab}` |
//! | `answer {text}` (`null` at end of input) | |

use std::io::{self, BufRead, Read, Write};

use serde::{Deserialize, Serialize};

/// Longest protocol line accepted (a command line is far shorter).
pub const MAX_LINE: u64 = 1 << 20;

/// From the client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "kebab-case")]
pub enum ToRouter {
    /// Opens a session.
    Hello {
        /// Login name shown in the prompt.
        user: String,
    },
    /// A command line.
    Line {
        /// The line as typed.
        text: String,
    },
    /// Completion for `?` or Tab at the end of `text`.
    Complete {
        /// The line so far.
        text: String,
    },
    /// The answer to an `ask`.
    Answer {
        /// The line read, or `None` at end of input.
        text: Option<String>,
    },
}

/// From the router.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "kebab-case")]
pub enum ToClient {
    /// The prompt to show next.
    Prompt {
        /// `user@host> ` or `user@host# `.
        prompt: String,
        /// A line shown above the prompt (`[edit]` in configuration mode).
        banner: Option<String>,
    },
    /// Command output.
    Out {
        /// Text.
        text: String,
    },
    /// A question; the client replies with `answer`.
    Ask {
        /// The question, ending where the answer is typed.
        text: String,
    },
    /// A syntax error: the client draws the caret under column `at` of the line.
    Syntax {
        /// Junos's message.
        message: String,
        /// Byte offset in the line.
        at: usize,
    },
    /// The command finished.
    Done {
        /// Whether it succeeded.
        ok: bool,
        /// The prompt to show next.
        prompt: String,
        /// A line shown above the prompt.
        banner: Option<String>,
    },
    /// Completion results.
    Completions {
        /// The `?` listing.
        listing: String,
        /// What Tab inserts, if anything.
        tab: Option<String>,
        /// Candidate words (for a completion menu).
        words: Vec<String>,
    },
    /// The session ended (`exit` in operational mode).
    Bye,
}

/// Writes one message.
pub fn send<T: Serialize>(w: &mut impl Write, msg: &T) -> io::Result<()> {
    let mut line = serde_json::to_string(msg).map_err(io::Error::other)?;
    line.push('\n');
    w.write_all(line.as_bytes())?;
    w.flush()
}

/// Reads one message; `Ok(None)` at end of stream.
pub fn recv<T: for<'de> Deserialize<'de>, R: BufRead>(r: &mut R) -> io::Result<Option<T>> {
    let mut line = String::new();
    let n = Read::take(&mut *r, MAX_LINE).read_line(&mut line)?;
    if n == 0 {
        return Ok(None);
    }
    if !line.ends_with('\n') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "protocol line too long or truncated",
        ));
    }
    serde_json::from_str(&line)
        .map(Some)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("bad message: {e}")))
}
