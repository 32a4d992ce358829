//! `aside move`: a session goes to another machine, or comes back here, with its branch, its
//! uncommitted work and its history; the agent continues there. (`pack` and `receive`, hidden,
//! are the two ends, run by aside itself over SSH.)

use aside_sessions::{machines, Packed};
use std::io::Read as _;

/// Move a session to another machine (`--to NAME`) or from one back here (`aside move NAME:ID
/// --to local`, in the repository it was started from): its turn must have ended; it stops
/// where it is, its branch and uncommitted work go with it, a worktree is made for it there,
/// and its agent continues with its history. The session it was is archived.
#[derive(clap::Args)]
pub struct Args {
    /// The session: an id here, or NAME:ID on a machine.
    id: String,
    /// Where it goes: a machine's name, or `local`.
    #[arg(long, value_name = "NAME|local")]
    to: String,
    /// A follow-up to send once it is there.
    message: Option<String>,
}

/// Print a session packed to move (JSON), its host stopped and its work pinned.
#[derive(clap::Args)]
pub struct PackArgs {
    id: String,
}

/// Make a session from a packed one read on standard input, in this repository; print it.
#[derive(clap::Args)]
pub struct ReceiveArgs {
    /// `-`: the package on standard input.
    #[arg(default_value = "-")]
    input: String,
}

pub fn pack(args: PackArgs) -> anyhow::Result<()> {
    let ctx = super::common::open()?;
    let record = ctx.resolve(&args.id)?;
    let packed = ctx.pack(&record)?;
    println!("{}", serde_json::to_string(&packed)?);
    Ok(())
}

pub fn receive(args: ReceiveArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.input == "-",
        "aside receive reads the package on standard input (-)"
    );
    let mut text = String::new();
    std::io::stdin().read_to_string(&mut text)?;
    let packed: Packed = serde_json::from_str(&text)
        .map_err(|e| anyhow::anyhow!("the package is not one aside can read ({e})"))?;
    let ctx = super::common::open()?;
    let config = aside_core::Config::load_user()?;
    let dir = std::env::current_dir()?;
    let record = ctx.receive(packed, &dir, &config)?;
    println!("{}", serde_json::to_string_pretty(&ctx.json(&record))?);
    Ok(())
}

/// A commit id as git prints it.
fn commit_id(text: &str) -> bool {
    text.len() == 40 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let config = aside_core::Config::load_user()?;
    let machine_of = |name: &str| {
        config.machines.get(name).cloned().ok_or_else(|| {
            anyhow::anyhow!("no machine `{name}`: aside machine ls (add one with aside machine add {name} --ssh USER@HOST)")
        })
    };
    match (aside_sessions::remote::split(&args.id), args.to.as_str()) {
        (None, "local") => anyhow::bail!("session {} is here already", args.id),
        // From here to a machine.
        (None, name) => {
            let machine = machine_of(name)?;
            let found = machines::check(&machine);
            if !found.ready() {
                let (detail, fix) = found.describe(name, &machine);
                anyhow::bail!(
                    "{detail}{}",
                    fix.map(|f| format!("\nfix: {f}")).unwrap_or_default()
                );
            }
            let ctx = super::common::open()?;
            let record = ctx.resolve(&args.id)?;
            let packed = ctx.pack(&record)?;
            let checkout = machines::send_base(&machine, &record.repo, &packed.base)
                .map_err(|e| anyhow::anyhow!("{name}: {e}; session {} stays here", record.id))?;
            aside_git::push_over_ssh(
                &packed.repo,
                &format!("{}:{checkout}", machine.ssh.trim()),
                &format!("{}:refs/aside/moved/{}", packed.snapshot, record.id),
                &machines::ssh_command(),
            )
            .map_err(|e| {
                anyhow::anyhow!(
                    "cannot push its work to {name}: {e}; session {} stays here",
                    record.id
                )
            })?;
            let out = machines::run_aside(
                &machine,
                Some(&checkout),
                &["receive", "-"],
                Some(&serde_json::to_string(&packed)?),
            )
            .map_err(|e| {
                anyhow::anyhow!("{name} could not take it: {e}; session {} stays here (aside resume {} goes on with it)", record.id, record.id)
            })?;
            let made: serde_json::Value = serde_json::from_str(&out).map_err(|e| {
                anyhow::anyhow!("{name}: aside there answered something unexpected ({e})")
            })?;
            let there = made["id"].as_str().unwrap_or_default().to_string();
            anyhow::ensure!(
                aside_core::SessionId::is_valid(&there),
                "{name}: aside there answered an id aside cannot use"
            );
            ctx.moved_away(&record)?;
            let id = format!("{name}:{there}");
            if let Some(message) = &args.message {
                machines::run_aside(&machine, None, &["send", &there, "--", message], None)
                    .map_err(|e| {
                        anyhow::anyhow!("moved to {id}, but the follow-up was not sent: {e}")
                    })?;
            }
            println!("{id}");
            eprintln!(
                "moved {} to {name} as {id} (its branch, uncommitted work and history); the session here is archived",
                record.id
            );
            eprintln!("  follow: aside logs -f {id}    follow-up: aside send {id} \"...\"");
            Ok(())
        }
        // From a machine back here.
        (Some((name, there)), "local") => {
            let machine = machine_of(name)?;
            let ctx = super::common::open()?;
            let here = std::env::current_dir()?;
            let repo = aside_git::repo_root(&here)
                .map_err(|_| anyhow::anyhow!("{} is not in a git repository: run aside move in the repository the session was started from", here.display()))?;
            let out = machines::run_aside(&machine, None, &["pack", there], None)
                .map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
            let packed: Packed = serde_json::from_str(&out).map_err(|e| {
                anyhow::anyhow!("{name}: aside there answered something unexpected ({e})")
            })?;
            // What another machine answered is data: commit ids and aside's own ref, nothing else.
            let expected_ref = format!("refs/aside/snapshots/move-{there}");
            anyhow::ensure!(
                [&packed.base, &packed.tip, &packed.snapshot]
                    .iter()
                    .all(|c| commit_id(c))
                    && packed.snapshot_ref == expected_ref
                    && packed.repo.is_absolute(),
                "{name} answered a session aside cannot use: nothing was moved"
            );
            aside_git::resolve_commit(&repo, &packed.base).map_err(|_| {
                anyhow::anyhow!(
                    "this repository ({}) does not have the session's base commit {}: run aside move in the repository it was started from (it stays on {name}; aside resume {name}:{there} goes on with it)",
                    repo.display(),
                    &packed.base[..12]
                )
            })?;
            aside_git::fetch_over_ssh(
                &repo,
                &format!("{}:{}", machine.ssh.trim(), packed.repo.display()),
                &format!("+{expected_ref}:refs/aside/moved/{name}-{there}"),
                &machines::ssh_command(),
            )
            .map_err(|e| anyhow::anyhow!("cannot fetch its work from {name}: {e}"))?;
            let config = aside_core::Config::load_user()?;
            let record = ctx.receive(packed, &repo, &config)?;
            // The session there is archived (its worktree stays, like any archived session's).
            if let Err(e) = machines::run_aside(&machine, None, &["archive", there], None) {
                eprintln!("aside: moved, but {name}:{there} could not be archived there: {e}");
            }
            if let Some(message) = &args.message {
                ctx.send(&record, message, &config)?;
            }
            println!("{}", record.id);
            eprintln!(
                "moved {name}:{there} here as {} (its branch, uncommitted work and history); the session on {name} is archived",
                record.id
            );
            eprintln!("  worktree: {}", record.worktree.display());
            Ok(())
        }
        (Some((name, _)), _) => anyhow::bail!(
            "a session on {name} moves here first (aside move {} --to local), then on from here",
            args.id
        ),
    }
}
