//! `aside attach`: the session live in the terminal, with a prompt for follow-ups.

use super::render::LogPrinter;
use aside_protocol::client::{follow, Flow, Step};
use aside_protocol::{Choice, Request};
use aside_store::EventLog;
use std::io::BufRead as _;

/// Watch a session live and talk to it. Lines you type are sent as follow-ups; /approve,
/// /approve-always, /deny and /cancel answer the agent (start a line with // to send a message
/// that begins with /). Ctrl-C (or Ctrl-D) detaches: the session goes on.
///
/// With --native, open the session in its agent's own terminal UI instead (`copilot --resume`,
/// `codex resume`, `claude --resume`) in its worktree; aside takes it back when you quit it.
#[derive(clap::Args)]
pub struct Args {
    /// Session id (or a unique prefix; an agent's session id for a session started elsewhere).
    #[arg(add = clap_complete::engine::ArgValueCompleter::new(super::completions::any_session_ids))]
    id: String,
    /// Open the agent's own CLI on the same agent session.
    #[arg(long)]
    native: bool,
}

/// `aside attach --native`: the agent's own CLI on the session, then the session back.
fn native(ctx: &aside_sessions::Sessions, id: &str) -> anyhow::Result<()> {
    let record = match ctx.locate(id)? {
        aside_sessions::Located::Own(record) => *record,
        // A session started elsewhere is the CLI's own already: open it there.
        aside_sessions::Located::External(session) => {
            if session.live {
                anyhow::bail!(
                    "{} is still working on session {}; open it where it runs",
                    session.tool.agent(),
                    session.summary.id
                );
            }
            let command = session
                .tool
                .resume_command(&session.summary.id, &session.summary);
            return run_cli(&command, &session.summary.cwd).map(|_| ());
        }
    };
    let (command, dir) = ctx.native_command(&record)?;
    ctx.hand_to_terminal(&record, std::process::id(), &command.join(" "))?;
    eprintln!(
        "opening session {} in {}'s own CLI ({}); aside takes it back when you quit",
        record.id,
        record.agent,
        command.join(" ")
    );
    let status = run_cli_tracked(ctx, &record, &command, &dir);
    let added = ctx.back_from_terminal(&record)?;
    eprintln!(
        "session {} is back in aside ({} from the terminal); aside diff {} shows its work",
        record.id,
        super::render::plural(added, "message", "messages"),
        record.id
    );
    match status? {
        status if status.success() => Ok(()),
        status => anyhow::bail!("`{}` ended with {status}", command.join(" ")),
    }
}

/// Runs `command` in `dir` on this terminal, Ctrl-C going to it alone; its exit status.
fn run_cli(command: &[String], dir: &std::path::Path) -> anyhow::Result<std::process::ExitStatus> {
    run_cli_with(command, dir, |_| {})
}

fn run_cli_tracked(
    ctx: &aside_sessions::Sessions,
    record: &aside_core::SessionRecord,
    command: &[String],
    dir: &std::path::Path,
) -> anyhow::Result<std::process::ExitStatus> {
    run_cli_with(command, dir, |pid| {
        let _ = ctx.set_terminal_pid(record, pid);
    })
}

fn run_cli_with(
    command: &[String],
    dir: &std::path::Path,
    started: impl FnOnce(u32),
) -> anyhow::Result<std::process::ExitStatus> {
    let (program, args) = command
        .split_first()
        .ok_or_else(|| anyhow::anyhow!("no command"))?;
    aside_core::process::interruptible(false);
    let child = std::process::Command::new(program)
        .args(args)
        .current_dir(dir)
        .spawn();
    let result = match child {
        Ok(mut child) => {
            started(child.id());
            child.wait().map_err(anyhow::Error::from)
        }
        Err(e) => Err(anyhow::anyhow!("cannot start `{program}`: {e}")),
    };
    aside_core::process::interruptible(true);
    result
}

/// What a line typed at the attach prompt asks for.
#[derive(Debug, PartialEq)]
enum Line {
    Nothing,
    Send(Request),
    Prompt(String),
    Unknown(String),
}

fn parse_line(line: &str) -> Line {
    let text = line.trim();
    let answer = |choice| Line::Send(Request::Answer { choice });
    match text {
        "" => Line::Nothing,
        "/approve" => answer(Choice::Allow),
        "/approve-always" => answer(Choice::AllowAlways),
        "/deny" => answer(Choice::Deny),
        "/cancel" => Line::Send(Request::Cancel),
        // "//text" sends "/text" as a message.
        _ if text.starts_with("//") => Line::Prompt(text[1..].to_string()),
        _ if text.starts_with('/') => Line::Unknown(text.to_string()),
        _ => Line::Prompt(text.to_string()),
    }
}

fn detached(id: &str) -> String {
    format!("detached from {id}; the session keeps running (aside attach {id} to come back, aside stop {id} to release it)")
}

/// About how many of the newest stored events attach prints before the live ones.
const ATTACH_TAIL: usize = 200;

pub fn run(args: Args) -> anyhow::Result<()> {
    let config = aside_core::Config::load_user()?;
    let ctx = super::common::open()?;
    if args.native {
        return native(&ctx, &args.id);
    }
    let record = ctx.resolve(&args.id)?;
    if !ctx.host_alive(&record) {
        ctx.resume(&record, &config)?;
    }
    let layout = ctx.layout.clone();
    let id = record.id.clone();
    // The end of what happened (from the start of its turn), then live.
    let log = EventLog::open(&ctx.layout, &record.id)?;
    let start = log.tail_start(ATTACH_TAIL)?;
    if start > 0 {
        println!(
            "({start} earlier events; `aside show {} --all` prints them)",
            record.id
        );
    }
    let mut last = start;
    let mut printer = LogPrinter::default();
    log.each_since(start, |event| {
        printer.print(&event);
        last = event.seq;
        true
    })?;
    // Live events, across host restarts: a follow-up typed here starts a new host, whose
    // events show up too.
    std::thread::spawn(move || {
        let mut told = false;
        let _ = follow(&layout, &id, last, |step| {
            match step {
                Step::Event(event) => {
                    printer.print(&event);
                    told = false;
                    // Live changes only (the stored ones were printed above): the terminal
                    // rings when the session asks or ends.
                    if event.kind == "status" {
                        let status = event.data["status"].as_str().unwrap_or_default();
                        if matches!(status, "needs_input" | "completed" | "failed") {
                            aside_tui::run::notify(&format!("aside: session {id} {status}"));
                        }
                    }
                }
                Step::NoHost if !told => {
                    printer.finish();
                    eprintln!("[the session's host stopped; anything you type starts it again]");
                    told = true;
                }
                Step::NoHost => {}
            }
            Flow::Continue
        });
    });
    // Ctrl-C detaches: say so, so nobody thinks the agent was stopped.
    let message = detached(record.id.as_str());
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build();
        if let Ok(runtime) = runtime {
            if runtime.block_on(tokio::signal::ctrl_c()).is_ok() {
                eprintln!("\n{message}");
                std::process::exit(0);
            }
        }
    });
    eprintln!("attached to {} — type a follow-up and press Enter; /approve, /approve-always, /deny, /cancel; Ctrl-C detaches", record.id);
    for line in std::io::stdin().lock().lines() {
        let result = match parse_line(&line?) {
            Line::Nothing => continue,
            Line::Unknown(command) => {
                eprintln!("aside: unknown command {command}: use /approve, /approve-always, /deny or /cancel (start a message with // to send it as text)");
                continue;
            }
            Line::Prompt(text) => ctx.send(&record, &text, &config).map(|_| None),
            Line::Send(Request::Cancel) => ctx.cancel(&record),
            Line::Send(Request::Answer { choice }) => ctx.answer(&record, choice).map(|_| None),
            Line::Send(_) => continue,
        };
        match result {
            Ok(Some(note)) => eprintln!("{note}"),
            Ok(None) => {}
            Err(e) => eprintln!("aside: {e}"),
        }
    }
    eprintln!("{}", detached(record.id.as_str()));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slash_commands_answer_and_unknown_ones_are_not_sent() {
        assert_eq!(parse_line("  "), Line::Nothing);
        assert_eq!(parse_line("/cancel"), Line::Send(Request::Cancel));
        assert_eq!(
            parse_line("/deny"),
            Line::Send(Request::Answer {
                choice: Choice::Deny
            })
        );
        assert_eq!(parse_line("/aprove"), Line::Unknown("/aprove".into()));
        assert_eq!(
            parse_line("//etc/hosts is wrong"),
            Line::Prompt("/etc/hosts is wrong".into())
        );
        assert_eq!(parse_line("fix it"), Line::Prompt("fix it".into()));
    }
}
