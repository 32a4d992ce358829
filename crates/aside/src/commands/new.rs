//! `aside new`: start an agent on a task in the background.

use anyhow::Context as _;
use aside_core::{Approve, Config, Mode, SessionKind};
use aside_sessions::NewSession;
use std::path::PathBuf;

/// Start an agent on a task in the background and print the session id.
///
/// Isolated sessions (the default) work in `<repo>.worktrees/<name>` on branch `aside/<name>`,
/// created from the current HEAD (or --base). The agent runs under a detached host: closing the
/// terminal never stops it.
#[derive(clap::Args)]
pub struct Args {
    /// What the agent should do; `-` reads it from standard input. With --from-chat: what to do
    /// next, after the conversation (optional).
    #[arg(required_unless_present_any = ["task_file", "from_chat"])]
    task: Option<String>,
    /// Read the task from a file (for long tasks).
    #[arg(long, value_name = "FILE", conflicts_with = "task")]
    task_file: Option<PathBuf>,
    /// Which agent: builtin (default), copilot, codex, claude, gemini, qwen, opencode, or one
    /// declared under [agents.NAME] in the config file.
    #[arg(long, add = clap_complete::engine::ArgValueCompleter::new(super::completions::agents))]
    agent: Option<String>,
    /// Work in a new git worktree (the default).
    #[arg(long, conflicts_with = "workspace")]
    isolated: bool,
    /// Work in the repository itself, without isolation.
    #[arg(long)]
    workspace: bool,
    /// Commit or branch the worktree starts from (default HEAD).
    #[arg(long, value_name = "REF")]
    base: Option<String>,
    /// Name of the worktree and branch (aside/NAME); default from the task.
    #[arg(long)]
    name: Option<String>,
    /// Which permission requests are allowed without asking: all (default when isolated),
    /// edits, or ask (default in workspace mode).
    #[arg(long, value_parser = ["all", "edits", "ask"])]
    approve: Option<String>,
    /// The repository (default: the current directory).
    #[arg(long, value_name = "DIR")]
    repo: Option<PathBuf>,
    /// Continue a saved conversation in the background: a VS Code chat export or session file,
    /// a Markdown transcript (## User / ## Assistant), a Copilot CLI events.jsonl, a Codex
    /// rollout, a Claude Code session .jsonl, `-` for standard input, or the id of another
    /// aside session (a fork). The first prompt carries the whole conversation.
    #[arg(long, value_name = "SOURCE")]
    from_chat: Option<String>,
    /// The model, for the agents whose model aside can set: builtin, copilot, claude, codex.
    #[arg(long, value_name = "M")]
    model: Option<String>,
    /// Make the worktree without the repository's submodules (they are checked out by default;
    /// `[worktree] submodules = false` in the config turns that off for every session).
    #[arg(long)]
    no_submodules: bool,
    /// Run it in aside's sandbox: the built-in agent's commands (the default, `[sandbox]`), or
    /// a third-party agent's whole process (`[agents.NAME] sandbox = true` makes it the default).
    #[arg(long, conflicts_with = "no_sandbox")]
    sandbox: bool,
    /// Run it without aside's sandbox.
    #[arg(long)]
    no_sandbox: bool,
    /// Stop its turn when it has used this much: tokens (200k, 1.5M), dollars ('$3', when its
    /// model's price is known) or both (200k,$3); `aside resume ID --budget …` goes on past it.
    /// Default: `[sessions] budget_tokens` / `budget_usd`.
    #[arg(long, value_name = "LIMIT", value_parser = parse_budget)]
    budget: Option<aside_core::usage::Budget>,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
    /// Run it on another machine (`aside machine add`): in a worktree of aside's checkout of
    /// this repository there, at the same base commit (pushed over SSH first).
    #[arg(long, value_name = "MACHINE", conflicts_with_all = ["workspace", "from_chat"])]
    on: Option<String>,
}

fn parse_budget(text: &str) -> Result<aside_core::usage::Budget, String> {
    aside_core::usage::Budget::parse(text)
}

impl Args {
    /// `--sandbox` or `--no-sandbox`, if either was given.
    fn sandbox_choice(&self) -> Option<bool> {
        (self.sandbox || self.no_sandbox).then_some(self.sandbox)
    }
}

/// The conversation SOURCE names: a file, `-`, or an aside session.
fn conversation(
    source: &str,
    ctx: &aside_sessions::Sessions,
) -> anyhow::Result<aside_sessions::import::Conversation> {
    use aside_sessions::import;
    if source == "-" {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut bytes)
            .context("while reading the conversation from standard input")?;
        return Ok(import::read(&bytes, Some("standard input"))?);
    }
    let path = std::path::Path::new(source);
    if path.exists() {
        let bytes = std::fs::read(path).with_context(|| format!("cannot read {source}"))?;
        return Ok(import::read(&bytes, Some(source))?);
    }
    match ctx.resolve(source) {
        Ok(record) => {
            let conversation =
                import::from_aside_log(&aside_store::EventLog::open(&ctx.layout, &record.id)?)?;
            anyhow::ensure!(
                !conversation.turns.is_empty(),
                "session {} has no conversation yet to continue",
                record.id
            );
            Ok(conversation)
        }
        Err(_) => anyhow::bail!(
            "--from-chat {source}: no such file, and no aside session matches it. {}",
            import::ACCEPTED
        ),
    }
}

/// The task as given: an argument, `-` for standard input, or a file.
pub(crate) fn task_text(task: Option<String>, file: Option<&PathBuf>) -> anyhow::Result<String> {
    if let Some(file) = file {
        return std::fs::read_to_string(file)
            .with_context(|| format!("cannot read the task file {}", file.display()));
    }
    match task.as_deref() {
        Some("-") => {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
                .context("while reading the task from standard input")?;
            Ok(text)
        }
        Some(task) => Ok(task.to_string()),
        None => anyhow::bail!("say what the agent should do: aside new \"<task>\", aside new - (from standard input) or --task-file FILE"),
    }
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let (task, title) = match &args.from_chat {
        Some(source) => {
            let ctx = super::common::open()?;
            let conversation = conversation(source, &ctx)?;
            let extra = match (&args.task, &args.task_file) {
                (None, None) => None,
                _ => Some(task_text(args.task.clone(), args.task_file.as_ref())?),
            };
            let title = extra
                .as_deref()
                .and_then(|e| e.lines().next())
                .map(str::to_string)
                .or(conversation.title.clone())
                .or_else(|| {
                    conversation
                        .turns
                        .first()
                        .map(|t| format!("Continue: {}", t.text.lines().next().unwrap_or_default()))
                });
            (
                conversation.handoff_prompt(extra.as_deref(), aside_sessions::HANDOFF_CHARS),
                title,
            )
        }
        None => (task_text(args.task.clone(), args.task_file.as_ref())?, None),
    };
    let dir = match args.repo.clone() {
        Some(dir) => dir,
        None => std::env::current_dir().context("while reading the current directory")?,
    };
    if let Some(machine) = args.on.clone() {
        return on_machine(&machine, &task, &dir, &args);
    }
    let config = repo_config(&dir)?;
    let sandbox = args.sandbox_choice();
    let agent = args.agent.unwrap_or_else(|| config.defaults.agent());
    if aside_core::agents::uses_builtin(&agent, &config) {
        check_model(&config)?;
    }
    let workspace =
        args.workspace || (!args.isolated && config.defaults.mode.as_deref() == Some("workspace"));
    let mode = if workspace {
        Mode::Workspace
    } else {
        Mode::Isolated
    };
    let approve = args
        .approve
        .as_deref()
        .and_then(Approve::parse)
        .unwrap_or_else(|| config.approve_for(mode));
    let ctx = super::common::open()?;
    let record = ctx.create(
        NewSession {
            task,
            agent,
            mode,
            base: args.base,
            name: args.name,
            approve: Some(approve),
            dir,
            kind: SessionKind::Task,
            model: args.model,
            title,
            no_submodules: args.no_submodules,
            sandbox,
            budget: args.budget,
            from: None,
        },
        &config,
    )?;
    let id = &record.id;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&ctx.json(&record))?);
        return Ok(());
    }
    println!("{id}");
    eprintln!(
        "started {id}: {}",
        super::render::terminal_safe(&record.title)
    );
    eprintln!(
        "  mode:     {} (approve: {})",
        record.mode.as_str(),
        record.approve.as_str()
    );
    eprintln!(
        "  agent:    {} ({})",
        record.agent,
        record.agent_command.join(" ")
    );
    eprintln!("  worktree: {}", record.worktree.display());
    if let Some(branch) = &record.branch {
        eprintln!("  branch:   {branch}");
    }
    eprintln!("  follow:   aside logs -f {id}    attach: aside attach {id}");
    Ok(())
}

/// `aside new --on MACHINE`: the base commit pushed to aside's checkout there, then the
/// session made by the aside there; printed as `MACHINE:ID`.
fn on_machine(name: &str, task: &str, dir: &std::path::Path, args: &Args) -> anyhow::Result<()> {
    let config = Config::load_user()?;
    let machine = config.machines.get(name).ok_or_else(|| {
        anyhow::anyhow!("no machine `{name}`: add it with aside machine add {name} --ssh USER@HOST")
    })?;
    let what = aside_sessions::remote::StartThere {
        task: task.to_string(),
        agent: args.agent.clone(),
        approve: args.approve.clone(),
        name: args.name.clone(),
        model: args.model.clone(),
        base: args.base.clone(),
        no_submodules: args.no_submodules,
        budget: args.budget.map(|b| b.as_arg()),
        sandbox: args.sandbox_choice(),
    };
    let session =
        aside_sessions::remote::start(name, machine, dir, &what).map_err(|e| anyhow::anyhow!(e))?;
    let id = session["id"].as_str().unwrap_or_default().to_string();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&session)?);
        return Ok(());
    }
    println!("{id}");
    eprintln!(
        "started {id} on {name}: {}",
        super::render::terminal_safe(session["title"].as_str().unwrap_or_default())
    );
    eprintln!(
        "  worktree: {name}:{}",
        session["worktree"].as_str().unwrap_or_default()
    );
    eprintln!("  follow:   aside logs -f {id}    follow-up: aside send {id} \"...\"");
    Ok(())
}

/// The user's config with the `.aside.toml` defaults of the repository `dir` is in, once what
/// that file asks has been settled with the user (`trust::settle`).
pub(crate) fn repo_config(dir: &std::path::Path) -> anyhow::Result<Config> {
    let root = super::trust::repository(Some(dir.to_path_buf()))?;
    let repo = aside_core::config::RepoConfig::load(&root)?;
    let user = Config::load_user()?;
    let trusted = super::trust::settle(&root, &repo, &user.defaults, false)?;
    Ok(user.with_repo_defaults(&repo, trusted))
}

/// The built-in agent needs a model endpoint: checked before the session starts, so a missing
/// setting is an error here rather than a failed session later.
pub(crate) fn check_model(config: &Config) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime
        .block_on(aside_agent::model::ModelClient::from_config(&config.model))
        .map(|_| ())
        .map_err(|e| anyhow::anyhow!("the built-in agent cannot start: {e}"))
}
