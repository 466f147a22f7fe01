//! The command parser, completion and pipes on a small tree shaped like the
//! router's.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::sync::Arc;

use cli::command::{
    ArgType, Candidate, CommandError, CommandTree, Invocation, Mode, Param, Terminal, confirm,
    execute,
};

#[derive(Default)]
struct Ctx {
    calls: Vec<Invocation>,
}

#[derive(Default)]
struct Term {
    out: String,
    answers: Vec<String>,
    asked: Vec<String>,
}

impl Terminal for Term {
    fn print(&mut self, text: &str) {
        self.out.push_str(text);
    }
    fn ask(&mut self, q: &str) -> Option<String> {
        self.asked.push(q.to_string());
        if self.answers.is_empty() {
            None
        } else {
            Some(self.answers.remove(0))
        }
    }
}

fn tree() -> CommandTree<Ctx> {
    let mut t = CommandTree::new();
    let record = |text: &'static str| -> cli::command::Handler<Ctx> {
        Arc::new(
            move |c: &mut Ctx, inv: &Invocation, term: &mut dyn Terminal| {
                c.calls.push(inv.clone());
                term.print(text);
                Ok(())
            },
        )
    };
    t.help(Mode::Operational, "show", "Show system information");
    t.help(
        Mode::Operational,
        "show chassis",
        "Show chassis information",
    );
    t.register(
        Mode::Operational,
        "show chassis hardware",
        "Show installed hardware components",
        vec![Param::flag("detail", "Display detailed output")],
        record("Hardware inventory:\nItem  Version\nChassis  M320\nFPC 0\nFPC 1\n"),
    )
    .unwrap();
    t.register(
        Mode::Operational,
        "show log",
        "Show contents of a log file",
        vec![Param::positional("filename", ArgType::Filename, "Name of log file").required()],
        record("log\n"),
    )
    .unwrap();
    t.register(
        Mode::Operational,
        "request security pki generate-key-pair",
        "Generate a key pair",
        vec![
            Param::keyword("certificate-id", ArgType::Word, "Certificate identifier").required(),
            Param::keyword(
                "size",
                ArgType::Uint {
                    min: 512,
                    max: 4096,
                },
                "Key size",
            ),
            Param::keyword("type", ArgType::Choice(&["rsa", "ecdsa"]), "Key type"),
        ],
        record("Generated key pair\n"),
    )
    .unwrap();
    t.register(
        Mode::Operational,
        "request system halt",
        "Halt the router",
        vec![],
        Arc::new(|_c: &mut Ctx, _i: &Invocation, term: &mut dyn Terminal| {
            if confirm(term, "Halt the system ?", false) {
                term.print("halted\n");
            }
            Ok(())
        }),
    )
    .unwrap();
    let completer: cli::command::RestCompleter<Ctx> = Arc::new(|_c: &Ctx, words: &[String]| {
        if words.is_empty() {
            vec![
                Candidate::new("system", "System parameters"),
                Candidate::new("security", "Security"),
            ]
        } else {
            vec![Candidate::new("host-name", "Hostname")]
        }
    });
    t.register(
        Mode::Configuration,
        "set",
        "Set a parameter",
        vec![Param::rest("statement", Some(completer), "Statement").required()],
        record(""),
    )
    .unwrap();
    t
}

fn run(t: &CommandTree<Ctx>, mode: Mode, line: &str) -> (Result<(), CommandError>, Ctx, Term) {
    let mut ctx = Ctx::default();
    let mut term = Term::default();
    let r = execute(t, mode, &mut ctx, line, &mut term);
    (r, ctx, term)
}

#[test]
fn parses_keywords_abbreviations_and_params_in_any_order() {
    let t = tree();
    let (r, ctx, term) = run(&t, Mode::Operational, "sh chas hard detail");
    r.unwrap();
    assert_eq!(ctx.calls[0].path, ["show", "chassis", "hardware"]);
    assert!(ctx.calls[0].flag("detail"));
    assert!(term.out.starts_with("Hardware inventory"));

    let (r, ctx, _) = run(
        &t,
        Mode::Operational,
        "request security pki generate-key-pair size 2048 certificate-id \"my cert\" type ecdsa",
    );
    r.unwrap();
    let inv = &ctx.calls[0];
    assert_eq!(inv.text("certificate-id"), Some("my cert"));
    assert_eq!(inv.uint("size"), Some(2048));
    assert_eq!(inv.text("type"), Some("ecdsa"));
}

#[test]
fn junos_errors_with_caret_positions() {
    let t = tree();
    let err = |line: &str| match run(&t, Mode::Operational, line).0 {
        Err(CommandError::Syntax(e)) => (e.message, e.at),
        other => panic!("{line}: {other:?}"),
    };
    assert_eq!(err("shw chassis"), ("unknown command.".into(), 0));
    assert_eq!(
        err("show chasis hardware"),
        ("syntax error, expecting <command>.".into(), 5)
    );
    assert_eq!(
        err("show chassis"),
        ("syntax error, expecting <command>.".into(), 12)
    );
    assert_eq!(
        err("show log"),
        ("syntax error, expecting <filename>.".into(), 8)
    );
    assert_eq!(
        err("show log ../x"),
        ("error: invalid file name '../x' for filename".into(), 9)
    );
    assert_eq!(
        err("request security pki generate-key-pair size 2048"),
        ("syntax error, expecting certificate-id.".into(), 48)
    );
    assert_eq!(
        err("request security pki generate-key-pair certificate-id a size 99999"),
        (
            "error: value 99999 is not within range (512..4096) for size".into(),
            61
        )
    );
    assert_eq!(
        err("request security pki generate-key-pair certificate-id a type dsa").0,
        "error: invalid value 'dsa' for type: expecting one of rsa, ecdsa"
    );
    assert_eq!(
        err("show chassis hardware extra"),
        ("syntax error.".into(), 22)
    );
    assert_eq!(
        err("show \"unterminated").0,
        "syntax error, unterminated quoted string."
    );
    assert_eq!(
        err("show chassis hardware | frobnicate").0,
        "syntax error, expecting one of: compare, count, display, except, match, no-more."
    );
    let e = cli::command::SyntaxError {
        message: "unknown command.".into(),
        at: 4,
    };
    assert_eq!(e.render(6), "          ^\nunknown command.");
}

#[test]
fn pipes_filter_count_and_json() {
    let t = tree();
    let (_, _, term) = run(&t, Mode::Operational, "show chassis hardware | match fpc");
    assert_eq!(term.out, "FPC 0\nFPC 1\n");
    let (_, _, term) = run(
        &t,
        Mode::Operational,
        "show chassis hardware | except fpc | except item",
    );
    assert_eq!(term.out, "Hardware inventory:\nChassis  M320\n");
    let (_, _, term) = run(
        &t,
        Mode::Operational,
        "show chassis hardware | match FPC | count",
    );
    assert_eq!(term.out, "Count: 2 lines\n");
    let (_, _, term) = run(
        &t,
        Mode::Operational,
        "show chassis hardware | display json",
    );
    let v: serde_json::Value = serde_json::from_str(&term.out).unwrap();
    assert!(v["output"].as_str().unwrap().contains("Chassis  M320"));
    let (_, _, term) = run(
        &t,
        Mode::Operational,
        "show chassis hardware | match \"fpc 1\"",
    );
    assert_eq!(term.out, "FPC 1\n");
}

#[test]
fn yes_no_questions_read_the_next_line() {
    let t = tree();
    let mut ctx = Ctx::default();
    let mut term = Term {
        answers: vec!["maybe".into(), "yes".into()],
        ..Term::default()
    };
    execute(
        &t,
        Mode::Operational,
        &mut ctx,
        "request system halt",
        &mut term,
    )
    .unwrap();
    assert_eq!(
        term.asked,
        [
            "Halt the system ? [yes,no] (no) ",
            "Halt the system ? [yes,no] (no) "
        ]
    );
    assert_eq!(term.out, "Please answer 'yes' or 'no'.\nhalted\n");
    let mut term = Term::default();
    execute(
        &t,
        Mode::Operational,
        &mut ctx,
        "request system halt",
        &mut term,
    )
    .unwrap();
    assert_eq!(term.out, "", "end of input answers no");
}

#[test]
fn completion_lists_and_completes() {
    let t = tree();
    let ctx = Ctx::default();
    let c = t.complete(Mode::Operational, &ctx, "show ");
    let words: Vec<_> = c.candidates.iter().map(|c| c.word.as_str()).collect();
    assert_eq!(words, ["chassis", "log"]);
    assert!(
        c.render().starts_with(
            "Possible completions:\n  chassis              Show chassis information\n"
        )
    );
    assert_eq!(
        t.complete(Mode::Operational, &ctx, "show ch")
            .tab()
            .as_deref(),
        Some("assis ")
    );
    assert_eq!(
        t.complete(Mode::Operational, &ctx, "sh").tab().as_deref(),
        Some("ow ")
    );
    let c = t.complete(
        Mode::Operational,
        &ctx,
        "request security pki generate-key-pair ",
    );
    let words: Vec<_> = c.candidates.iter().map(|c| c.word.as_str()).collect();
    // No pipe offered while a mandatory parameter is missing.
    assert_eq!(words, ["certificate-id", "size", "type"]);
    let c = t.complete(
        Mode::Operational,
        &ctx,
        "request security pki generate-key-pair size ",
    );
    assert_eq!(c.candidates[0].word, "<size>");
    let c = t.complete(
        Mode::Operational,
        &ctx,
        "request security pki generate-key-pair type ",
    );
    let words: Vec<_> = c.candidates.iter().map(|c| c.word.as_str()).collect();
    assert_eq!(words, ["ecdsa", "rsa"]);
    let c = t.complete(Mode::Operational, &ctx, "show log ");
    assert_eq!(c.candidates[0].word, "<filename>");
    let c = t.complete(Mode::Configuration, &ctx, "set s");
    let words: Vec<_> = c.candidates.iter().map(|c| c.word.as_str()).collect();
    assert_eq!(words, ["security", "system"]);
    let c = t.complete(Mode::Configuration, &ctx, "set system ");
    assert_eq!(c.candidates[0].word, "host-name");
    assert_eq!(
        t.complete(Mode::Operational, &ctx, "nothing ").render(),
        "No valid completions\n"
    );
}
