//! `aside chat`: talk a task through with an agent in the foreground, then hand it on.

use super::live::LivePrinter;
use anyhow::Context as _;
use aside_core::{Config, Mode, SessionKind, SessionRecord};
use aside_protocol::client::{follow, Flow, Step};
use aside_protocol::Choice;
use aside_sessions::{NewSession, Sessions};
use rustyline::error::ReadlineError;
use rustyline::ExternalPrinter as _;
use std::path::PathBuf;

/// Talk a task through with an agent in the foreground: its text streams as it arrives, tool
/// calls show on a line each, permission requests are answered here. `/delegate [more]` hands
/// the whole conversation to a new background session and ends the chat. The chat is a session
/// like any other (`aside ls` lists it while it lives; it is archived when you leave).
#[derive(clap::Args)]
pub struct Args {
    /// Which agent (as for `aside new`).
    #[arg(long, add = clap_complete::engine::ArgValueCompleter::new(super::completions::agents))]
    agent: Option<String>,
    /// Work in a new git worktree instead of the current directory.
    #[arg(long, conflicts_with = "workspace")]
    isolated: bool,
    /// Work in the current directory (the default).
    #[arg(long)]
    workspace: bool,
    /// The model, for the agents whose model aside can set: builtin (ASIDE_MODEL), copilot
    /// (COPILOT_MODEL), claude (ANTHROPIC_MODEL), codex (-c model=…).
    #[arg(long, value_name = "M")]
    model: Option<String>,
    /// Sessions this chat makes worktrees for (--isolated, /delegate) get them without the
    /// repository's submodules.
    #[arg(long)]
    no_submodules: bool,
}

/// Uses `model` for the agent processes this chat starts from now on (their hosts inherit this
/// process's environment, and give it to the agent as its own variable or flag, or through its
/// ACP model config option).
fn use_model(agent: &str, model: &str) -> anyhow::Result<()> {
    // Only this thread starts processes (hosts, with their agents); the chat's other threads
    // only read the session's events and print, and never read the environment.
    std::env::set_var(aside_core::agents::MODEL_VAR, model);
    if agent == aside_core::agents::BUILTIN {
        // The chat checks the built-in agent's endpoint and model itself.
        std::env::set_var("ASIDE_MODEL", model);
    }
    Ok(())
}

const HELP: &str = "\
  type a message and press Enter; end a line with \\ to go on on the next one
  /delegate [more]   hand the whole conversation to a background session and leave
  /plan, /code       switch the agent to its plan mode (read-only) or back
  /model NAME        use another model from the next message on
  /agent NAME        go on with another agent (it gets the conversation so far)
  /diff              what changed so far
  /approve, /always, /deny   answer the agent's permission request
  /cancel or Ctrl-C  cancel the running turn
  /exit or Ctrl-D    leave (the chat is kept, archived: aside show ID)";

/// What a line typed in the chat asks for.
#[derive(Debug, PartialEq)]
enum Input {
    Message(String),
    Delegate(Option<String>),
    Diff,
    SetMode(&'static str),
    Model(String),
    Agent(String),
    Answer(Choice),
    Cancel,
    Help,
    Exit,
    Unknown(String),
}

fn parse(line: &str) -> Input {
    let text = line.trim();
    let (command, rest) = text.split_once(' ').unwrap_or((text, ""));
    let rest = rest.trim();
    match command {
        "/delegate" => Input::Delegate((!rest.is_empty()).then(|| rest.to_string())),
        "/diff" => Input::Diff,
        "/plan" => Input::SetMode("plan"),
        "/model" => Input::Model(rest.to_string()),
        "/agent" => Input::Agent(rest.to_string()),
        "/code" => Input::SetMode("code"),
        "/approve" => Input::Answer(Choice::Allow),
        "/always" => Input::Answer(Choice::AllowAlways),
        "/deny" => Input::Answer(Choice::Deny),
        "/cancel" => Input::Cancel,
        "/help" => Input::Help,
        "/exit" | "/quit" => Input::Exit,
        _ if text.starts_with("//") => Input::Message(text[1..].to_string()),
        _ if text.starts_with('/') => Input::Unknown(command.to_string()),
        _ => Input::Message(text.to_string()),
    }
}

/// Events as text for the chat: whole lines, so the prompt line is redrawn cleanly below; text
/// still streaming shows once the stream pauses.
struct ChatOutput {
    printer: LivePrinter,
    pending: Vec<u8>,
    last: std::time::Instant,
}

/// How long streamed text may wait for the end of its line before it is shown anyway.
const PAUSE: std::time::Duration = std::time::Duration::from_millis(250);

impl ChatOutput {
    /// Text that waited longer than PAUSE for the end of its line.
    fn paused(&mut self) -> Option<String> {
        if self.pending.is_empty() || self.last.elapsed() < PAUSE {
            return None;
        }
        self.flush()
    }

    fn take(&mut self, event: &aside_core::Event, everything: bool) -> Option<String> {
        self.last = std::time::Instant::now();
        self.printer.print_to(event, &mut self.pending);
        let cut = if everything || event.kind != "agent_message_chunk" {
            self.printer.finish_to(&mut self.pending);
            self.pending.len()
        } else {
            self.pending
                .iter()
                .rposition(|b| *b == b'\n')
                .map_or(0, |n| n + 1)
        };
        if cut == 0 {
            return None;
        }
        let text: Vec<u8> = self.pending.drain(..cut).collect();
        Some(
            String::from_utf8_lossy(&text)
                .trim_end_matches('\n')
                .to_string(),
        )
    }

    fn flush(&mut self) -> Option<String> {
        self.printer.finish_to(&mut self.pending);
        if self.pending.is_empty() {
            return None;
        }
        let text: Vec<u8> = self.pending.drain(..).collect();
        Some(
            String::from_utf8_lossy(&text)
                .trim_end_matches('\n')
                .to_string(),
        )
    }
}

/// A new chat session with `agent`, where `from` works, and `from`'s conversation (None when
/// it has none yet).
fn switch_agent(
    ctx: &Sessions,
    from: &SessionRecord,
    agent: &str,
    config: &Config,
) -> Result<(SessionRecord, Option<aside_sessions::import::Conversation>), aside_sessions::OpError>
{
    // A model chosen for the previous agent is not this one's.
    std::env::remove_var(aside_core::agents::MODEL_VAR);
    if aside_core::agents::uses_builtin(agent, config) {
        super::new::check_model(config)
            .map_err(|e| aside_sessions::OpError::Refused(e.to_string()))?;
    }
    let conversation = aside_sessions::import::from_aside_log(&aside_store::EventLog::open(
        &ctx.layout,
        &from.id,
    )?)?;
    let next = ctx.create(
        NewSession {
            task: String::new(),
            agent: agent.to_string(),
            mode: from.mode,
            base: None,
            name: None,
            approve: Some(from.approve),
            dir: if from.mode == Mode::Workspace {
                from.worktree.clone()
            } else {
                from.repo.clone()
            },
            kind: SessionKind::Chat,
            model: None,
            title: Some(from.title.clone()),
            no_submodules: from.settings.no_submodules,
            sandbox: from.settings.sandbox,
            budget: from.settings.budget,
            from: Some(from.id.clone()),
        },
        config,
    )?;
    Ok((
        next,
        (!conversation.turns.is_empty()).then_some(conversation),
    ))
}

fn leave(ctx: &Sessions, record: &SessionRecord) {
    let _ = ctx.stop(record);
    let _ = ctx.archive(record, true);
}

pub fn run(args: Args) -> anyhow::Result<()> {
    use std::io::IsTerminal as _;
    if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
        anyhow::bail!(
            "aside chat talks with you in a terminal, and its input or output is not one. For a task from a pipe or a file use `aside new -` or `aside new --task-file FILE`; for a saved conversation `aside new --from-chat FILE`"
        );
    }
    let dir = std::env::current_dir().context("while reading the current directory")?;
    let config = super::new::repo_config(&dir)?;
    let agent = args
        .agent
        .clone()
        .unwrap_or_else(|| config.defaults.agent());
    if aside_core::agents::uses_builtin(&agent, &config) {
        super::new::check_model(&config)?;
    }
    if let Some(model) = &args.model {
        use_model(&agent, model)?;
    }
    let ctx = super::common::open()?;
    let place = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut record = ctx.create(
        NewSession {
            task: String::new(),
            agent,
            mode: if args.isolated {
                Mode::Isolated
            } else {
                Mode::Workspace
            },
            base: None,
            name: None,
            approve: None,
            dir,
            kind: SessionKind::Chat,
            model: None,
            title: Some(format!("Chat in {place}")),
            no_submodules: args.no_submodules,
            sandbox: None,
            budget: None,
            from: None,
        },
        &config,
    )?;
    eprintln!(
        "chat {} with {} in {} — /help for commands, /delegate hands it to the background, Ctrl-D leaves",
        record.id,
        record.agent,
        record.worktree.display()
    );
    let mut editor = rustyline::DefaultEditor::new().context("cannot start the line editor")?;
    let history: PathBuf = ctx.layout.home.join("chat_history");
    let _ = editor.load_history(&history);
    let mut printer = editor
        .create_external_printer()
        .context("cannot print beside the line editor")?;
    let (layout, id) = (ctx.layout.clone(), record.id.clone());
    let shared = std::sync::Arc::new(std::sync::Mutex::new(ChatOutput {
        printer: LivePrinter::new("/approve, /always or /deny"),
        pending: Vec::new(),
        last: std::time::Instant::now(),
    }));
    let (to_print, printed) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for text in printed {
            let _ = printer.print(text);
        }
    });
    let current = std::sync::Arc::new(std::sync::Mutex::new(id.clone()));
    let watch = {
        let (shared, to_print, current) = (shared.clone(), to_print.clone(), current.clone());
        move |layout: aside_store::Layout, id: aside_core::SessionId| {
            let (output, print, current) = (shared.clone(), to_print.clone(), current.clone());
            std::thread::spawn(move || {
                // Only what follows a message rings (not the session's start).
                let mut asked = false;
                let _ = follow(&layout, &id, 0, |step| {
                    // A chat that moved on to another agent stops following the old session.
                    if current.lock().map(|c| *c != id).unwrap_or(true) {
                        return Flow::Stop;
                    }
                    if let Step::Event(event) = step {
                        // The terminal rings when the agent asks or a turn ends (the chat may be
                        // in a tab the user left).
                        if event.kind == "prompt" {
                            asked = true;
                        }
                        if event.kind == "status" && asked {
                            let status = event.data["status"].as_str().unwrap_or_default();
                            if status == "needs_input" {
                                aside_tui::run::notify(
                                    "aside chat: the agent asks for your answer",
                                );
                            } else if status == "completed" || status == "failed" {
                                aside_tui::run::notify(&format!("aside chat: the turn {status}"));
                            }
                        }
                        let text = output.lock().ok().and_then(|mut o| o.take(&event, false));
                        if let Some(text) = text {
                            let _ = print.send(text);
                        }
                    }
                    Flow::Continue
                });
            });
        }
    };
    watch(layout.clone(), id);
    std::thread::spawn(move || loop {
        std::thread::sleep(PAUSE / 2);
        let text = shared.lock().ok().and_then(|mut o| o.paused());
        if let Some(text) = text {
            if to_print.send(text).is_err() {
                return;
            }
        }
    });
    let mut message = String::new();
    // After /agent: the conversation so far, carried into the new agent's first message.
    let mut carry: Option<aside_sessions::import::Conversation> = None;
    loop {
        let prompt = if message.is_empty() { "you> " } else { "...> " };
        let line = match editor.readline(prompt) {
            Ok(line) => line,
            Err(ReadlineError::Interrupted) => {
                message.clear();
                match ctx.cancel(&ctx.resolve(record.id.as_str())?) {
                    Ok(_) => eprintln!("cancelling the turn"),
                    Err(_) => eprintln!("(nothing to cancel; /exit or Ctrl-D leaves)"),
                }
                continue;
            }
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(e.into()),
        };
        // A line ending in \ goes on on the next one.
        if let Some(part) = line.strip_suffix('\\') {
            message.push_str(part);
            message.push('\n');
            continue;
        }
        message.push_str(&line);
        let text = std::mem::take(&mut message);
        if text.trim().is_empty() {
            continue;
        }
        let _ = editor.add_history_entry(text.as_str());
        let now = ctx.resolve(record.id.as_str())?;
        let result = match parse(&text) {
            Input::Message(text) => {
                let text = match carry.take() {
                    Some(conversation) => {
                        conversation.handoff_prompt(Some(&text), aside_sessions::HANDOFF_CHARS)
                    }
                    None => text,
                };
                ctx.send(&now, &text, &config).map(|_| ())
            }
            Input::Agent(agent) if agent.is_empty() => {
                eprintln!("say which agent: /agent NAME");
                Ok(())
            }
            Input::Agent(agent) => match switch_agent(&ctx, &now, &agent, &config) {
                Ok((next, conversation)) => {
                    eprintln!(
                        "going on with {agent} in {} (the old chat is kept as {}); your next message takes the conversation along",
                        next.id, now.id
                    );
                    leave(&ctx, &now);
                    carry = conversation.or(carry.take());
                    if let Ok(mut c) = current.lock() {
                        *c = next.id.clone();
                    }
                    watch(ctx.layout.clone(), next.id.clone());
                    record = next;
                    Ok(())
                }
                Err(e) => Err(e),
            },
            Input::Answer(choice) => ctx.answer(&now, choice),
            Input::Model(model) if model.is_empty() => {
                eprintln!("say which model: /model NAME");
                Ok(())
            }
            Input::Model(model) => match use_model(&now.agent, &model) {
                // The agent reads its model when it starts: a new one takes the conversation on.
                Ok(()) => ctx.stop(&now).map(|_| {
                    eprintln!("the next message goes to {model}");
                }),
                Err(e) => {
                    eprintln!("aside: {e}");
                    Ok(())
                }
            },
            Input::SetMode(mode) => {
                // A chat whose host went idle gets it back first.
                if !ctx.host_alive(&now) {
                    let _ = ctx.resume(&now, &config);
                }
                ctx.set_mode(&now, mode).map(|note| {
                    if let Some(note) = note {
                        eprintln!("{note}");
                    }
                })
            }
            Input::Cancel => ctx.cancel(&now).map(|_| ()),
            Input::Help => {
                eprintln!("{HELP}");
                Ok(())
            }
            Input::Diff => match ctx.diff(&now, false) {
                Ok(diff) if diff.is_empty() => {
                    eprintln!("no changes yet");
                    Ok(())
                }
                Ok(diff) => {
                    println!("{diff}");
                    Ok(())
                }
                Err(e) => Err(e),
            },
            Input::Unknown(command) => {
                eprintln!("aside: unknown command {command}; /help lists them (start with // to send a message beginning with /)");
                Ok(())
            }
            Input::Exit => break,
            Input::Delegate(more) => {
                // Refused (nothing said yet, say): the chat goes on.
                let started = match ctx.hand_off(&now, more.as_deref(), &config) {
                    Ok(started) => started,
                    Err(e) => {
                        eprintln!("aside: {e}");
                        continue;
                    }
                };
                eprintln!(
                    "handed the conversation to {} in the background; follow: aside logs -f {}",
                    started.id, started.id
                );
                println!("{}", started.id);
                let _ = editor.save_history(&history);
                leave(&ctx, &now);
                return Ok(());
            }
        };
        if let Err(e) = result {
            eprintln!("aside: {e}");
        }
    }
    let _ = editor.save_history(&history);
    leave(&ctx, &ctx.resolve(record.id.as_str())?);
    eprintln!(
        "left the chat; it is kept as {} (aside show {})",
        record.id, record.id
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slash_commands_are_told_from_messages() {
        assert_eq!(parse("hello"), Input::Message("hello".into()));
        assert_eq!(parse("/delegate"), Input::Delegate(None));
        assert_eq!(
            parse("/delegate  and add tests "),
            Input::Delegate(Some("and add tests".into()))
        );
        assert_eq!(parse("/deny"), Input::Answer(Choice::Deny));
        assert_eq!(parse("/frob x"), Input::Unknown("/frob".into()));
        assert_eq!(parse("//etc is odd"), Input::Message("/etc is odd".into()));
        assert_eq!(parse("/exit"), Input::Exit);
        assert_eq!(parse("/plan"), Input::SetMode("plan"));
    }
}
