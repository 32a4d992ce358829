//! `aside sandbox`: the sandbox the built-in agent's commands (and the third-party agents
//! that run whole in it) get, and whether it works here.

/// Show the sandbox the built-in agent's commands run in (`[sandbox]` in config.toml) and the
/// third-party agents that run whole in it (`[agents.NAME] sandbox = true`): what they may
/// write and read, the network, and whether the sandbox works on this machine (with the fix
/// when it does not).
#[derive(clap::Args)]
pub struct Args {
    /// As JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let config = aside_core::Config::load_user()?;
    let home = std::env::var_os("HOME")
        .map(std::path::PathBuf::from)
        .unwrap_or_default();
    let worktree = std::path::PathBuf::from("<the session's worktree>");
    let here = std::env::current_dir()
        .ok()
        .and_then(|d| aside_git::repo_root(&d).ok());
    let git_dir = here.as_ref().map(|r| r.join(".git")).filter(|g| g.is_dir());
    // In a repository, its `.aside.toml` may narrow it.
    let (narrowed, beyond) = match &here {
        Some(repo) => aside_core::sandbox::for_repo(&config, repo),
        None => (config.sandbox.clone(), Vec::new()),
    };
    let sandbox = &narrowed;
    let policy = aside_core::sandbox::Policy::for_session(
        sandbox,
        &worktree,
        git_dir.as_deref(),
        &home,
        &aside_core::paths::aside_home(),
    );
    let works = aside_core::sandbox::probe();
    // The third-party agents that run whole in it, each with what it needs there.
    let exe = std::env::current_exe()?.display().to_string();
    let agents: Vec<(String, aside_core::sandbox::Policy)> = config
        .agents
        .iter()
        .filter(|(name, a)| {
            a.sandbox == Some(true) && !aside_core::agents::uses_builtin(name, &config)
        })
        .filter_map(|(name, a)| {
            let command = aside_core::agents::agent_command(name, &config, &exe).ok()?;
            let program = command
                .first()
                .and_then(|p| aside_core::agents::find_program(p))
                .unwrap_or_else(|| {
                    std::path::PathBuf::from(command.first().cloned().unwrap_or_default())
                });
            let needs = aside_core::sandbox::agents::needs(name, a, &program, &home, &|k| {
                std::env::var(k).ok()
            });
            Some((name.clone(), policy.clone().for_agent(&needs)))
        })
        .collect();
    if args.json {
        let out = serde_json::json!({
            "enabled": sandbox.enabled,
            "works": works.is_ok(),
            "problem": works.as_ref().err(),
            "when_it_cannot_work": sandbox.when_unavailable(),
            "policy": policy,
            "repository_asks_beyond_your_config": beyond,
            "agents": agents.iter().map(|(name, p)| serde_json::json!({"agent": name, "policy": p})).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    if !sandbox.enabled {
        println!("sandbox: off ([sandbox] enabled = false): the built-in agent's commands run as you, unconfined");
        return Ok(());
    }
    let list = |ps: &[std::path::PathBuf]| {
        ps.iter()
            .map(|p| format!("  {}", p.display()))
            .collect::<Vec<_>>()
            .join("\n")
    };
    println!("The built-in agent's commands run in a sandbox (bubblewrap):");
    println!("writable:\n{}\n  a private /tmp", list(&policy.writable));
    if !policy.read_only.is_empty() {
        println!("kept read-only inside those:\n{}", list(&policy.read_only));
    }
    let hidden: Vec<_> = policy
        .hidden
        .iter()
        .filter(|p| p.exists())
        .cloned()
        .collect();
    if hidden.is_empty() {
        println!("not readable: HOME's credentials (~/.ssh, ~/.aws, ~/.config/gh, ~/.netrc, …) and aside's state, when they exist (none here yet)");
    } else {
        println!("not readable:\n{}", list(&hidden));
    }
    println!("everything else: read-only");
    println!("network: {}", network(&policy));
    println!(
        "limits: {} processes at once{}",
        policy.processes.unwrap_or_default(),
        policy
            .memory
            .map(|m| format!(", {} MiB of memory per command", m >> 20))
            .unwrap_or_default()
    );
    for (name, agent) in &agents {
        println!(
            "\nThe agent `{name}` runs whole in the sandbox ([agents.{name}] sandbox = true):"
        );
        let own: Vec<_> = agent
            .writable
            .iter()
            .filter(|w| !policy.writable.contains(w))
            .cloned()
            .collect();
        println!("writable too, its own state:\n{}", list(&own));
        println!("network: {}", network(agent));
    }
    if agents.is_empty() {
        println!("other agents (copilot, codex, claude…) run their commands themselves, not confined by aside: [agents.NAME] sandbox = true (or aside new --sandbox) runs one whole in the sandbox");
    }
    for said in &beyond {
        println!("note: {said}");
    }
    match works {
        Ok(()) => println!("✓ the sandbox works on this machine"),
        Err(why) => {
            println!("✗ {why}");
            println!(
                "  until then, commands {}",
                match sandbox.when_unavailable().as_str() {
                    "run" => "run without a sandbox, said in each command's output ([sandbox] unavailable = \"run\")",
                    "refuse" => "are not run, and the agent is told why ([sandbox] unavailable = \"refuse\")",
                    _ => "wait for your yes each time, whatever the approval policy ([sandbox] unavailable = \"ask\"; \"refuse\" or \"run\" instead)",
                }
            );
            std::process::exit(1);
        }
    }
    Ok(())
}

/// What a policy's network is, in words.
fn network(policy: &aside_core::sandbox::Policy) -> String {
    if policy.network {
        "reachable ([sandbox] network = \"all\")".to_string()
    } else if policy.allow.is_empty() {
        "none ([sandbox] network = \"all\" or a list of hosts allows it)".to_string()
    } else {
        format!(
            "only {} (through aside's proxy; [sandbox] network lists them)",
            policy.allow.join(", ")
        )
    }
}
