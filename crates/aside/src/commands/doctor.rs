//! `aside doctor`: what aside needs on this machine, and how to fix what is missing.

use aside_core::Config;
use serde_json::json;
use std::os::unix::fs::PermissionsExt as _;

/// Check this machine: git, the state directory, each agent (installed, version, configured),
/// the built-in agent's model endpoint, running sessions, and worktrees or branches left by
/// removed sessions; with a fix for each problem.
#[derive(clap::Args)]
pub struct Args {
    /// Print the checks as JSON.
    #[arg(long)]
    json: bool,
    /// Put sessions the index lost (a damaged or replaced index.db) back into it, from the
    /// records kept in their own directories.
    #[arg(long)]
    repair: bool,
}

#[derive(Clone, Copy, PartialEq)]
enum Level {
    Ok,
    /// Worth knowing; aside works.
    Note,
    /// Something aside needs, or a mess to clean up.
    Problem,
}

struct Check {
    name: String,
    level: Level,
    detail: String,
    fix: Option<String>,
}

fn check(name: &str, level: Level, detail: impl Into<String>, fix: Option<String>) -> Check {
    Check {
        name: name.to_string(),
        level,
        detail: detail.into(),
        fix,
    }
}

fn git_check() -> Check {
    match std::process::Command::new("git").arg("--version").output() {
        Ok(out) if out.status.success() => {
            let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
            let version: Vec<u32> = text
                .split_whitespace()
                .nth(2)
                .unwrap_or_default()
                .split('.')
                .filter_map(|n| n.parse().ok())
                .collect();
            // `git merge-tree --write-tree` (apply, merge) needs 2.38.
            if version.as_slice() < [2, 38].as_slice() {
                check(
                    "git",
                    Level::Problem,
                    format!("{text}: apply and merge need git 2.38 or newer"),
                    Some("install a newer git (e.g. from your distribution's backports)".into()),
                )
            } else {
                check("git", Level::Ok, text, None)
            }
        }
        _ => check(
            "git",
            Level::Problem,
            "git is not installed (not on PATH)",
            Some("install git (apt-get install git)".into()),
        ),
    }
}

fn state_check(home: &std::path::Path) -> Check {
    match std::fs::metadata(home) {
        Err(_) => check(
            "state",
            Level::Ok,
            format!("{} (created on first use)", home.display()),
            None,
        ),
        Ok(meta) => {
            let mode = meta.permissions().mode() & 0o777;
            let probe = home.join(format!(".doctor-{}", std::process::id()));
            let writable = std::fs::write(&probe, b"").is_ok();
            let _ = std::fs::remove_file(&probe);
            if !writable {
                check(
                    "state",
                    Level::Problem,
                    format!("{} is not writable", home.display()),
                    Some(format!("chown -R $USER {}", home.display())),
                )
            } else if mode & 0o077 != 0 {
                check(
                    "state",
                    Level::Problem,
                    format!(
                        "{} is readable by others (mode {mode:o}); it holds your sessions",
                        home.display()
                    ),
                    Some(format!("chmod 700 {}", home.display())),
                )
            } else {
                check("state", Level::Ok, home.display().to_string(), None)
            }
        }
    }
}

/// The built-in agent's endpoint: configured, reachable, and listing its model.
fn endpoint_check(config: &Config) -> Check {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return check("model", Level::Problem, e.to_string(), None),
    };
    runtime.block_on(async {
        let client = match aside_agent::model::ModelClient::from_config(&config.model).await {
            Ok(client) => client,
            Err(e) => {
                return check(
                    "model",
                    Level::Note,
                    format!("the built-in agent has no model endpoint: {e}"),
                    Some("set ASIDE_PROVIDER, ASIDE_BASE_URL and ASIDE_MODEL (or [model] in config.toml), or start Ollama".into()),
                )
            }
        };
        let (base, model) = client.base_and_model();
        let (base, model) = (base.to_string(), model.to_string());
        match client.list_models().await {
            Err((false, e)) => check(
                "model",
                Level::Problem,
                format!("{base} does not answer: {e}"),
                Some("start the server, or fix ASIDE_BASE_URL / [model] base_url".into()),
            ),
            // Some servers list no models; a turn will tell whether the model is there.
            Err((true, e)) => check(
                "model",
                Level::Note,
                format!("{model} at {base}: reachable, but it lists no models ({e})"),
                None,
            ),
            Ok(models) if models.is_empty() || models.contains(&model) => check(
                "model",
                Level::Ok,
                format!("{model} at {base}"),
                None,
            ),
            Ok(models) => check(
                "model",
                Level::Problem,
                format!(
                    "{base} does not list {model}; it has: {}",
                    models.iter().take(8).cloned().collect::<Vec<_>>().join(", ")
                ),
                Some("set ASIDE_MODEL (or [model] model) to one of those, or pull it (ollama pull …)".into()),
            ),
        }
    })
}

/// Session directories the index does not know (with `repair`: put back first).
/// The Agent Host Protocol endpoint (VS Code's Agents window): where it is served, and whether
/// its token is kept as it must be.
/// Whether the built-in agent's commands get their sandbox here.
fn sandbox_check(config: &Config) -> Check {
    if !config.sandbox.enabled {
        return check(
            "sandbox",
            Level::Note,
            "off: the built-in agent's commands run unconfined ([sandbox] enabled = false)",
            None,
        );
    }
    match aside_core::sandbox::probe() {
        Ok(()) => check(
            "sandbox",
            Level::Ok,
            "the built-in agent's commands run in bubblewrap (aside sandbox shows what it allows)",
            None,
        ),
        // Commands still run where the user says yes (or unasked by their choice): a note;
        // refused, they do not: a problem.
        Err(why) => check(
            "sandbox",
            if config.sandbox.when_unavailable() == "refuse" {
                Level::Problem
            } else {
                Level::Note
            },
            format!(
                "the built-in agent's commands cannot be sandboxed here, so each {}",
                match config.sandbox.when_unavailable().as_str() {
                    "run" => "runs unconfined (unavailable = \"run\")",
                    "refuse" => "is refused (unavailable = \"refuse\")",
                    _ => "waits for your yes (unavailable = \"ask\")",
                }
            ),
            Some(why),
        ),
    }
}

fn agent_host_check(home: &std::path::Path) -> Check {
    use std::os::unix::fs::PermissionsExt as _;
    let token = home.join("ahp-token");
    let detail = format!(
        "AHP 1.0.0 and 0.9.0 on `aside ui`'s port: ws://127.0.0.1:PORT/ahp?tkn=… (it prints the line; token in {})",
        token.display()
    );
    match std::fs::metadata(&token) {
        Ok(meta) if meta.permissions().mode() & 0o077 != 0 => check(
            "ahp",
            Level::Problem,
            format!(
                "{} can be read by other users ({:o})",
                token.display(),
                meta.permissions().mode() & 0o777
            ),
            Some(format!(
                "rm {} (aside ui makes a new one, readable by you only; update VS Code's setting)",
                token.display()
            )),
        ),
        _ => check("ahp", Level::Ok, detail, None),
    }
}

fn lost_sessions(ctx: &aside_sessions::Sessions, repair: bool) -> anyhow::Result<Vec<Check>> {
    let mut out = Vec::new();
    if repair {
        let rebuilt = ctx.repair()?;
        for id in rebuilt.restored {
            out.push(check(
                "repair",
                Level::Note,
                format!("session {id} was missing from the index and is back"),
                None,
            ));
        }
    }
    for dir in ctx.index.unknown_dirs()? {
        let id = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let rebuildable = ctx
            .layout
            .record(&aside_core::SessionId(id.clone()))
            .exists();
        out.push(check(
            "session data",
            Level::Problem,
            format!(
                "{} holds session {id}, which the index does not know",
                dir.display()
            ),
            Some(if rebuildable {
                "aside doctor --repair puts it back".to_string()
            } else {
                format!(
                    "it has no record.json to rebuild from (made by an older aside): its events are in {}/events.db",
                    dir.display()
                )
            }),
        ));
    }
    Ok(out)
}

/// Worktrees under `<repo>.worktrees/` and `aside/…` branches that no session owns.
fn leftovers(ctx: &aside_sessions::Sessions) -> anyhow::Result<Vec<Check>> {
    let records = ctx.index.list(true)?;
    let mut out = Vec::new();
    for repo in ctx.repos()? {
        let root = std::path::PathBuf::from(format!("{}.worktrees", repo.display()));
        for worktree in aside_git::worktrees(&repo).unwrap_or_default() {
            let owned = records.iter().any(|r| r.worktree == worktree);
            let spare = worktree.starts_with(root.join(".pool"));
            if worktree.starts_with(&root) && !owned && !spare {
                out.push(check(
                    "worktree",
                    Level::Problem,
                    format!(
                        "{} belongs to no session (left by a removed one)",
                        worktree.display()
                    ),
                    Some(format!(
                        "look inside, then: git -C {} worktree remove --force {}",
                        repo.display(),
                        worktree.display()
                    )),
                ));
            }
        }
        for branch in aside_git::branches(&repo, "aside/").unwrap_or_default() {
            if !records
                .iter()
                .any(|r| r.branch.as_deref() == Some(branch.as_str()))
            {
                out.push(check(
                    "branch",
                    Level::Note,
                    format!("{branch} in {} belongs to no session", repo.display()),
                    Some(format!(
                        "if its work is merged or unwanted: git -C {} branch -D {branch}",
                        repo.display()
                    )),
                ));
            }
        }
    }
    Ok(out)
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let mut checks = vec![git_check()];
    let config = match Config::load_user() {
        Ok(config) => {
            checks.push(check(
                "config",
                Level::Ok,
                aside_core::paths::user_config_file().display().to_string(),
                None,
            ));
            config
        }
        Err(e) => {
            checks.push(check(
                "config",
                Level::Problem,
                e.to_string(),
                Some(format!(
                    "fix {}",
                    aside_core::paths::user_config_file().display()
                )),
            ));
            Config::default()
        }
    };
    checks.push(state_check(&aside_core::paths::aside_home()));
    let exe = std::env::current_exe()?.display().to_string();
    let home = std::path::PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| "/".into()));
    for agent in aside_core::agents::detect(&config, &exe, |v| std::env::var(v).ok(), &home) {
        let name = format!("agent {}", agent.name);
        let Some(program) = &agent.program else {
            let preset = aside_core::agents::PRESETS
                .iter()
                .any(|(n, _)| *n == agent.name);
            checks.push(check(
                &name,
                // A preset one does not use is no problem; one declared in config is.
                if preset { Level::Note } else { Level::Problem },
                format!("not installed (`{}` is not on PATH)", agent.command[0]),
                Some(aside_core::agents::install_hint(&agent.name).to_string()),
            ));
            continue;
        };
        if agent.name == aside_core::agents::BUILTIN {
            checks.push(check(
                &name,
                Level::Ok,
                format!("aside agent ({})", env!("CARGO_PKG_VERSION")),
                None,
            ));
            continue;
        }
        let version =
            aside_core::agents::version_of(program).unwrap_or_else(|| "version unknown".into());
        let detail = format!("{} ({version})", program.display());
        checks.push(match agent.configured {
            Some(false) => check(
                &name,
                Level::Note,
                format!("{detail}; no key, login or endpoint found"),
                Some(match agent.name.as_str() {
                    "copilot" => "log in with `copilot` (or set COPILOT_PROVIDER_BASE_URL for your own endpoint)".to_string(),
                    "codex" => "log in with `codex login`, set OPENAI_API_KEY, or add a provider to $CODEX_HOME/config.toml".to_string(),
                    "claude" => "log in with `claude`, or set ANTHROPIC_API_KEY".to_string(),
                    "gemini" => "set GEMINI_API_KEY, or log in with `gemini`".to_string(),
                    other => format!("see {other}'s own documentation"),
                }),
            ),
            _ => check(&name, Level::Ok, detail, None),
        });
    }
    checks.push(endpoint_check(&config));
    checks.push(agent_host_check(&aside_core::paths::aside_home()));
    checks.push(sandbox_check(&config));
    // Each machine sessions can run on: reachable, with an aside that can work with this one.
    for (name, machine) in &config.machines {
        let found = aside_sessions::machines::check(machine);
        let (detail, fix) = found.describe(name, machine);
        let level = if found.ready() {
            Level::Ok
        } else {
            Level::Problem
        };
        checks.push(check(&format!("machine {name}"), level, detail, fix));
    }
    match super::common::open() {
        Ok(ctx) => {
            let records = ctx.index.list(true)?;
            let running = records.iter().filter(|r| ctx.host_alive(r)).count();
            checks.push(check(
                "sessions",
                Level::Ok,
                format!(
                    "{} ({} with a running host)",
                    super::render::plural(records.len(), "session", "sessions"),
                    running
                ),
                None,
            ));
            checks.extend(lost_sessions(&ctx, args.repair)?);
            checks.extend(leftovers(&ctx)?);
        }
        Err(e) => checks.push(check(
            "sessions",
            Level::Problem,
            format!("cannot open the sessions index: {e}"),
            None,
        )),
    }
    let problems = checks.iter().filter(|c| c.level == Level::Problem).count();
    // What to do next: a session with an agent that is ready, or how to get one.
    let ready: Vec<&str> = checks
        .iter()
        .filter(|c| c.level == Level::Ok)
        .filter_map(|c| c.name.strip_prefix("agent "))
        .filter(|a| {
            *a != aside_core::agents::BUILTIN
                || checks
                    .iter()
                    .any(|c| c.name == "model" && c.level == Level::Ok)
        })
        .collect();
    let next = match ready.first() {
        Some(agent) => format!(
            "start a session: aside new --agent {agent} \"<task>\"   (ready: {})",
            ready.join(", ")
        ),
        None => "no agent is ready: install one (fixes above), or point the built-in agent at a model: ollama serve & ollama pull qwen2.5-coder, then aside new \"<task>\"".to_string(),
    };
    if args.json {
        let list: Vec<_> = checks
            .iter()
            .map(|c| {
                json!({"check": c.name, "ok": c.level != Level::Problem,
                    "level": match c.level { Level::Ok => "ok", Level::Note => "note", Level::Problem => "problem" },
                    "detail": c.detail, "fix": c.fix})
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({"problems": problems, "checks": list}))?
        );
    } else {
        for c in &checks {
            let mark = match c.level {
                Level::Ok => "✓",
                Level::Note => "·",
                Level::Problem => "✗",
            };
            println!("{mark} {:<16} {}", c.name, c.detail);
            if let Some(fix) = &c.fix {
                println!("  {:<16} fix: {fix}", "");
            }
        }
        println!(
            "\n{}\n{next}",
            match problems {
                0 => "no problems found".to_string(),
                n => super::render::plural(n, "problem", "problems") + " found",
            }
        );
    }
    if problems > 0 {
        std::process::exit(1);
    }
    Ok(())
}
