//! `aside plan`: a plan first, then the task in the background.

use super::live::LivePrinter;
use anyhow::Context as _;
use aside_core::{Mode, SessionKind, Status};
use aside_protocol::client::{follow, Flow, Step};
use aside_protocol::events::Body;
use aside_sessions::NewSession;
use std::io::{BufRead as _, Write as _};
use std::path::PathBuf;

/// Plan first: the agent explores in plan mode (read-only, in its own worktree) while you
/// watch and answers with a plan; then start the task in the background with that plan, edit
/// the plan in $EDITOR first, or stop.
#[derive(clap::Args)]
pub struct Args {
    /// What the agent should do; `-` reads it from standard input.
    #[arg(required_unless_present = "task_file")]
    task: Option<String>,
    /// Read the task from a file.
    #[arg(long, value_name = "FILE", conflicts_with = "task")]
    task_file: Option<PathBuf>,
    /// Which agent (as for `aside new`).
    #[arg(long, add = clap_complete::engine::ArgValueCompleter::new(super::completions::agents))]
    agent: Option<String>,
    /// Start the task with the plan without asking.
    #[arg(long, short)]
    yes: bool,
    /// The repository (default: the current directory).
    #[arg(long, value_name = "DIR")]
    repo: Option<PathBuf>,
    /// Make the worktree without the repository's submodules (they are checked out by default;
    /// `[worktree] submodules = false` in the config turns that off for every session).
    #[arg(long)]
    no_submodules: bool,
}

/// The plan after the user's edit in $VISUAL / $EDITOR (vi when neither is set).
fn edit(plan: &str) -> anyhow::Result<String> {
    let file = std::env::temp_dir().join(format!("aside-plan-{}.md", std::process::id()));
    std::fs::write(&file, plan)?;
    let editor = std::env::var("VISUAL")
        .or_else(|_| std::env::var("EDITOR"))
        .unwrap_or_else(|_| "vi".to_string());
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("sh")
        .arg(&file)
        .status()
        .with_context(|| format!("cannot start the editor `{editor}`"))?;
    let edited = std::fs::read_to_string(&file)?;
    let _ = std::fs::remove_file(&file);
    anyhow::ensure!(
        status.success(),
        "the editor `{editor}` failed ({status}); nothing was started"
    );
    Ok(edited)
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let task = super::new::task_text(args.task, args.task_file.as_ref())?;
    let dir = match args.repo {
        Some(dir) => dir,
        None => std::env::current_dir().context("while reading the current directory")?,
    };
    let config = super::new::repo_config(&dir)?;
    let agent = args
        .agent
        .clone()
        .unwrap_or_else(|| config.defaults.agent());
    if aside_core::agents::uses_builtin(&agent, &config) {
        super::new::check_model(&config)?;
    }
    let ctx = super::common::open()?;
    let title = task.lines().next().unwrap_or_default().trim().to_string();
    let planning = ctx.create(
        NewSession {
            task: task.clone(),
            agent: agent.clone(),
            mode: Mode::Isolated,
            base: None,
            name: None,
            approve: None,
            dir: dir.clone(),
            kind: SessionKind::Plan,
            model: None,
            title: Some(format!("Plan: {title}")),
            no_submodules: args.no_submodules,
            sandbox: None,
            budget: None,
            from: None,
        },
        &config,
    )?;
    eprintln!(
        "planning in {} (plan mode: the agent explores and changes nothing)…",
        planning.id
    );
    let mut printer = LivePrinter::new("answer with `aside approve ID` or `aside deny ID`");
    let mut ended = None;
    follow(&ctx.layout, &planning.id, 0, |step| match step {
        Step::Event(event) => {
            printer.eprint(&event);
            if let Body::Status(change) = Body::of(&event) {
                if matches!(
                    change.status,
                    Status::Completed | Status::Failed | Status::Cancelled | Status::Interrupted
                ) {
                    ended = Some((change.status, change.reason));
                    return Flow::Stop;
                }
            }
            Flow::Continue
        }
        Step::NoHost => Flow::Stop,
    })?;
    printer.finish_to(&mut std::io::stderr());
    match ended {
        Some((Status::Completed, _)) => {}
        Some((status, reason)) => anyhow::bail!(
            "planning {status}{}; see aside show {}",
            reason.map(|r| format!(": {r}")).unwrap_or_default(),
            planning.id
        ),
        None => anyhow::bail!(
            "planning stopped before the plan was ready; see aside show {}",
            planning.id
        ),
    }
    let mut plan = ctx.plan_of(&planning)?;
    anyhow::ensure!(
        !plan.trim().is_empty(),
        "the agent answered without a plan; see aside show {}",
        planning.id
    );
    if !args.yes {
        loop {
            eprint!("\nStart this plan in the background? [Y]es, [e]dit it first, [n]o: ");
            let _ = std::io::stderr().flush();
            let mut answer = String::new();
            if std::io::stdin().lock().read_line(&mut answer)? == 0 {
                answer = "n".into();
            }
            match answer.trim().to_ascii_lowercase().as_str() {
                "" | "y" | "yes" => break,
                "e" | "edit" => plan = edit(&plan)?,
                "n" | "no" | "q" => {
                    // Released, and kept (archived) for the record.
                    let _ = ctx.stop(&planning);
                    let _ = ctx.archive(&planning, true);
                    eprintln!("not started; the plan stays in aside show {}", planning.id);
                    return Ok(());
                }
                _ => eprintln!("answer y, e or n"),
            }
        }
    }
    let planning = ctx.resolve(planning.id.as_str())?;
    let record = ctx.start_plan(&planning, Some(plan), &config)?;
    println!("{}", record.id);
    eprintln!(
        "started {} with the plan; follow: aside logs -f {}",
        record.id, record.id
    );
    Ok(())
}
