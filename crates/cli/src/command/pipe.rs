//! Output pipes: `| match RE`, `| except RE`, `| count`, `| display json`,
//! `| display set`, `| compare`, `| no-more`.

use regex::Regex;

use crate::command::Terminal;
use crate::command::parse::SyntaxError;
use crate::command::token::Word;

/// The output format a command is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Display {
    /// Text, as on the terminal.
    Text,
    /// `| display json`.
    Json,
    /// `| display set` (configuration as `set` commands).
    Set,
}

/// One pipe stage.
#[derive(Debug, Clone)]
pub enum Pipe {
    /// Keep lines matching the regular expression.
    Match(Regex),
    /// Drop lines matching the regular expression.
    Except(Regex),
    /// Print only the number of lines.
    Count,
    /// Change the output format.
    Display(Display),
    /// Show differences against the committed configuration.
    Compare,
    /// Do not paginate (accepted; the simulator never paginates).
    NoMore,
}

/// Splits the words into the command and the pipe segments.
pub(crate) fn split_pipes(words: &[Word]) -> (Vec<Word>, Vec<Vec<Word>>) {
    let mut segments: Vec<Vec<Word>> = vec![Vec::new()];
    for w in words {
        if !w.quoted && w.text == "|" {
            segments.push(Vec::new());
        } else if let Some(last) = segments.last_mut() {
            last.push(w.clone());
        }
    }
    let command = segments.remove(0);
    (command, segments)
}

const PIPES: &str = "expecting one of: compare, count, display, except, match, no-more";

/// Parses the pipe segments.
pub(crate) fn parse(segments: &[Vec<Word>]) -> Result<Vec<Pipe>, SyntaxError> {
    let mut pipes = Vec::new();
    for seg in segments {
        let Some(first) = seg.first() else {
            return Err(SyntaxError {
                message: format!("syntax error, {PIPES}."),
                at: 0,
            });
        };
        let arg = seg.get(1);
        let regex = |arg: Option<&Word>| -> Result<Regex, SyntaxError> {
            let w = arg.ok_or_else(|| SyntaxError {
                message: "syntax error, expecting <pattern>.".into(),
                at: first.at,
            })?;
            // Junos patterns are case-insensitive.
            Regex::new(&format!("(?i){}", w.text)).map_err(|e| SyntaxError {
                message: format!("error: invalid pattern '{}': {e}", w.text),
                at: w.at,
            })
        };
        let pipe = match first.text.as_str() {
            "match" => Pipe::Match(regex(arg)?),
            "except" => Pipe::Except(regex(arg)?),
            "count" => Pipe::Count,
            "compare" => Pipe::Compare,
            "no-more" => Pipe::NoMore,
            "display" => match arg.map(|w| w.text.as_str()) {
                Some("json") => Pipe::Display(Display::Json),
                Some("set") => Pipe::Display(Display::Set),
                _ => {
                    return Err(SyntaxError {
                        message: "syntax error, expecting json or set.".into(),
                        at: arg.map_or(first.at, |w| w.at),
                    });
                }
            },
            _ => {
                return Err(SyntaxError {
                    message: format!("syntax error, {PIPES}."),
                    at: first.at,
                });
            }
        };
        let used = match pipe {
            Pipe::Match(_) | Pipe::Except(_) | Pipe::Display(_) => 2,
            _ => 1,
        };
        if let Some(extra) = seg.get(used) {
            return Err(SyntaxError {
                message: "syntax error.".into(),
                at: extra.at,
            });
        }
        pipes.push(pipe);
    }
    Ok(pipes)
}

/// A terminal that collects a command's output and applies the pipes.
pub(crate) struct Buffered<'a> {
    inner: &'a mut dyn Terminal,
    pipes: &'a [Pipe],
    text: String,
    count: usize,
}

impl<'a> Buffered<'a> {
    pub(crate) fn new(inner: &'a mut dyn Terminal, pipes: &'a [Pipe]) -> Self {
        Buffered {
            inner,
            pipes,
            text: String::new(),
            count: 0,
        }
    }

    fn counting(&self) -> bool {
        self.pipes.iter().any(|p| matches!(p, Pipe::Count))
    }

    /// Sends the filtered output collected so far.
    fn flush(&mut self) {
        let text = std::mem::take(&mut self.text);
        let mut out = String::new();
        for line in text.split_inclusive('\n') {
            let bare = line.trim_end_matches('\n');
            let keep = self.pipes.iter().all(|p| match p {
                Pipe::Match(re) => re.is_match(bare),
                Pipe::Except(re) => !re.is_match(bare),
                _ => true,
            });
            if keep {
                self.count += 1;
                out.push_str(line);
            }
        }
        if !self.counting() && !out.is_empty() {
            self.inner.print(&out);
        }
    }

    /// Wraps the text output as JSON for a command without its own JSON form.
    pub(crate) fn wrap_json(&mut self) {
        let v = serde_json::json!({ "output": self.text });
        self.text = serde_json::to_string_pretty(&v).unwrap_or_default();
        self.text.push('\n');
    }

    /// Flushes the rest and, with `| count`, prints the count.
    pub(crate) fn finish(mut self) {
        self.flush();
        if self.counting() {
            let n = self.count;
            self.inner.print(&format!("Count: {n} lines\n"));
        }
    }
}

impl Terminal for Buffered<'_> {
    fn print(&mut self, text: &str) {
        self.text.push_str(text);
    }

    fn ask(&mut self, question: &str) -> Option<String> {
        self.flush();
        self.inner.ask(question)
    }
}
