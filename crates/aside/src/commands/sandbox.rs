//! `aside sandbox`: the sandbox the built-in agent's commands run in, and whether it works here.

/// Show the sandbox the built-in agent's commands run in (`[sandbox]` in config.toml): what
/// they may write and read, the network, and whether the sandbox works on this machine (with
/// the fix when it does not).
#[derive(clap::Args)]
pub struct Args {
    /// As JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let config = aside_core::Config::load_user()?;
    let sandbox = &config.sandbox;
    let home = std::env::var_os("HOME")
        .map(std::path::PathBuf::from)
        .unwrap_or_default();
    let worktree = std::path::PathBuf::from("<the session's worktree>");
    let here = std::env::current_dir()
        .ok()
        .and_then(|d| aside_git::repo_root(&d).ok());
    let git_dir = here.as_ref().map(|r| r.join(".git")).filter(|g| g.is_dir());
    let policy = aside_core::sandbox::Policy::for_session(
        sandbox,
        &worktree,
        git_dir.as_deref(),
        &home,
        &aside_core::paths::aside_home(),
    );
    let works = aside_core::sandbox::probe();
    if args.json {
        let out = serde_json::json!({
            "enabled": sandbox.enabled,
            "works": works.is_ok(),
            "problem": works.as_ref().err(),
            "when_it_cannot_work": sandbox.when_unavailable(),
            "policy": policy,
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
    println!(
        "network: {}",
        if policy.network {
            "reachable ([sandbox] network = \"all\")"
        } else {
            "none ([sandbox] network = \"all\" allows it)"
        }
    );
    println!("other agents (copilot, codex, claude…) run their commands themselves: not confined by aside");
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
