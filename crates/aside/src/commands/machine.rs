//! `aside machine`: the other machines sessions can run on, reached over SSH.

use aside_core::config::{machine_name_ok, MachineConfig};
use aside_sessions::machines::{self, Found};
use serde_json::json;

/// Other machines sessions can run on (`[machines.NAME]` in config.toml), reached with your own
/// OpenSSH: `add`, `ls`, `rm`, `check`.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(clap::Subcommand)]
enum Action {
    /// Add (or change) a machine, then check it.
    Add {
        /// Its name in aside (letters, digits, - and _).
        name: String,
        /// How ssh reaches it: user@host, host, or a ~/.ssh/config alias.
        #[arg(long, value_name = "DEST")]
        ssh: String,
        /// The aside to run there, when it is not on the PATH a command over SSH gets.
        #[arg(long, value_name = "PATH")]
        aside: Option<String>,
        /// A checkout of yours there for a repository here, as LOCAL=THERE (THERE relative to
        /// its HOME, or absolute); repeatable. Other repositories' sessions run in a checkout
        /// aside makes there.
        #[arg(long, value_name = "LOCAL=THERE")]
        checkout: Vec<String>,
        /// Do not connect to check it.
        #[arg(long)]
        no_check: bool,
    },
    /// List the machines.
    Ls {
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove a machine (nothing on it is touched).
    Rm { name: String },
    /// Check that SSH gets in, that aside is there and can work with this one (all machines
    /// without a NAME).
    Check {
        name: Option<String>,
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
}

fn configured() -> anyhow::Result<std::collections::BTreeMap<String, MachineConfig>> {
    Ok(aside_core::Config::load_user()
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .machines)
}

fn one(name: &str) -> anyhow::Result<MachineConfig> {
    let all = configured()?;
    all.get(name).cloned().ok_or_else(|| {
        anyhow::anyhow!(
            "no machine `{name}`{}: add it with aside machine add {name} --ssh USER@HOST",
            if all.is_empty() {
                String::new()
            } else {
                format!(
                    " (machines: {})",
                    all.keys().cloned().collect::<Vec<_>>().join(", ")
                )
            }
        )
    })
}

/// Prints a check's result; whether the machine is ready.
fn report(name: &str, machine: &MachineConfig, found: &Found) -> bool {
    let (detail, fix) = found.describe(name, machine);
    let mark = if found.ready() { "✓" } else { "✗" };
    println!(
        "{mark} {name:<16} {}",
        aside_core::text::terminal_safe(&detail)
    );
    if let Some(fix) = fix {
        println!("  {:<16} fix: {fix}", "");
    }
    found.ready()
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let path = aside_core::paths::user_config_file();
    match args.action {
        Action::Add {
            name,
            ssh,
            aside,
            checkout,
            no_check,
        } => {
            if !machine_name_ok(&name) {
                anyhow::bail!(
                    "`{name}` cannot name a machine: use letters, digits, - and _ (and not `local`)"
                );
            }
            let mut checkouts = std::collections::BTreeMap::new();
            for pair in &checkout {
                let Some((local, there)) = pair
                    .split_once('=')
                    .filter(|(l, t)| !l.is_empty() && !t.is_empty())
                else {
                    anyhow::bail!("--checkout {pair}: give it as LOCAL=THERE, a repository here and its checkout there");
                };
                let repo = aside_git::repo_root(std::path::Path::new(local)).map_err(|_| {
                    anyhow::anyhow!("--checkout {pair}: {local} is not in a git repository here")
                })?;
                checkouts.insert(repo.display().to_string(), there.to_string());
            }
            let machine = MachineConfig {
                ssh: ssh.trim().to_string(),
                aside,
                checkouts,
            };
            machine.check(&name).map_err(|e| anyhow::anyhow!(e))?;
            let mut doc = super::config::load(&path)?;
            let machines = doc
                .entry("machines")
                .or_insert(toml_edit::Item::Table({
                    let mut t = toml_edit::Table::new();
                    t.set_implicit(true);
                    t
                }))
                .as_table_mut()
                .ok_or_else(|| anyhow::anyhow!("machines in {} is not a table", path.display()))?;
            let mut entry = toml_edit::Table::new();
            entry.insert("ssh", toml_edit::value(machine.ssh.clone()));
            if let Some(aside) = &machine.aside {
                entry.insert("aside", toml_edit::value(aside.clone()));
            }
            if !machine.checkouts.is_empty() {
                let mut table = toml_edit::InlineTable::new();
                for (local, there) in &machine.checkouts {
                    table.insert(local, there.as_str().into());
                }
                entry.insert("checkouts", toml_edit::value(table));
            }
            machines.insert(&name, toml_edit::Item::Table(entry));
            super::config::save(&path, &doc)?;
            eprintln!(
                "added machine {name} ({}) to {}",
                machine.ssh,
                path.display()
            );
            if !no_check && !report(&name, &machine, &machines::check(&machine)) {
                eprintln!(
                    "aside machine add: {name} is added, but sessions cannot run there until the above is fixed"
                );
            }
        }
        Action::Ls { json } => {
            let all = configured()?;
            if json {
                let list: Vec<_> = all
                    .iter()
                    .map(|(name, m)| json!({"name": name, "ssh": m.ssh, "aside": machines::program(m), "checkouts": m.checkouts}))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else if all.is_empty() {
                eprintln!("no machines: add one with aside machine add NAME --ssh USER@HOST");
            } else {
                for (name, m) in &all {
                    println!("{name:<16} {:<32} {}", m.ssh, machines::program(m));
                }
            }
        }
        Action::Rm { name } => {
            one(&name)?;
            let mut doc = super::config::load(&path)?;
            if let Some(machines) = doc.get_mut("machines").and_then(|m| m.as_table_mut()) {
                machines.remove(&name);
            }
            super::config::save(&path, &doc)?;
            eprintln!("removed machine {name} from {}", path.display());
        }
        Action::Check { name, json } => {
            let list: Vec<(String, MachineConfig)> = match name {
                Some(name) => vec![(name.clone(), one(&name)?)],
                None => configured()?.into_iter().collect(),
            };
            if list.is_empty() {
                eprintln!("no machines: add one with aside machine add NAME --ssh USER@HOST");
                return Ok(());
            }
            let mut ready = true;
            let mut out = Vec::new();
            for (name, machine) in &list {
                let found = machines::check(machine);
                if json {
                    let (detail, fix) = found.describe(name, machine);
                    out.push(
                        json!({"name": name, "ssh": machine.ssh, "ready": found.ready(),
                        "detail": detail, "fix": fix}),
                    );
                    ready &= found.ready();
                } else {
                    ready &= report(name, machine, &found);
                }
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&out)?);
            }
            if !ready {
                std::process::exit(1);
            }
        }
    }
    Ok(())
}

/// The commands that act on a session by its id, which a `MACHINE:ID` sends to that machine's
/// aside (over SSH, its output streamed back as it comes: `logs -f` follows it live).
const FORWARDED: [&str; 11] = [
    "show", "logs", "attach", "send", "cancel", "stop", "approve", "deny", "resume", "wait", "diff",
];

/// Runs `aside ARGS` on a machine when they name one of its sessions (`MACHINE:ID`); None when
/// they do not (they run here). `apply` and `merge` of such a session bring its work here.
pub fn forwarded(args: &[String]) -> Option<std::process::ExitCode> {
    let command = args.get(1)?;
    let home = matches!(command.as_str(), "apply" | "merge");
    if !FORWARDED.contains(&command.as_str()) && !home {
        return None;
    }
    let named = args.iter().skip(2).position(|a| {
        a.split_once(':')
            .is_some_and(|(m, id)| machine_name_ok(m) && aside_core::SessionId::is_valid(id))
    })? + 2;
    let (name, id) = args[named].split_once(':')?;
    let config = aside_core::Config::load_user().ok()?;
    let Some(machine) = config.machines.get(name) else {
        eprintln!(
            "aside: no machine `{name}` (in {}): aside machine ls",
            args[named]
        );
        return Some(std::process::ExitCode::from(2));
    };
    if home {
        let squash = args.iter().any(|a| a == "--squash");
        return Some(
            match bring_home(name, machine, id, command == "merge", squash) {
                Ok(said) => {
                    println!("{said}");
                    std::process::ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("aside: {e:#}");
                    std::process::ExitCode::from(1)
                }
            },
        );
    }
    let mut line = aside_sessions::shell_word(&machines::program(machine));
    for (n, arg) in args.iter().enumerate().skip(1) {
        line.push(' ');
        line.push_str(&aside_sessions::shell_word(if n == named {
            id
        } else {
            arg
        }));
    }
    let status = machines::ssh(machine, &line)
        .stdin(std::process::Stdio::inherit())
        .status();
    Some(match status {
        Ok(s) if s.code() == Some(255) => {
            eprintln!(
                "aside: cannot reach {name} over SSH ({}): aside machine check {name}",
                machine.ssh
            );
            std::process::ExitCode::from(255)
        }
        Ok(s) => std::process::ExitCode::from(s.code().unwrap_or(1).clamp(0, 255) as u8),
        Err(e) => {
            eprintln!("aside: cannot run ssh: {e}");
            std::process::ExitCode::from(1)
        }
    })
}

/// `apply` / `merge` of a session on a machine, in the repository the command runs in.
fn bring_home(
    name: &str,
    machine: &MachineConfig,
    id: &str,
    merge: bool,
    squash: bool,
) -> anyhow::Result<String> {
    let here = std::env::current_dir()?;
    let repo = aside_git::repo_root(&here)
        .map_err(|_| anyhow::anyhow!("{} is not in a git repository", here.display()))?;
    aside_sessions::remote::bring_home(name, machine, id, &repo, merge, squash)
        .map_err(|e| anyhow::anyhow!(e))
}
