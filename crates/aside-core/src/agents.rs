//! Which agent a session runs: the built-in one, a preset, or one declared in config.

use crate::config::Config;

/// Presets for agents that speak ACP, by name, with their launch command.
pub const PRESETS: &[(&str, &[&str])] = &[
    ("copilot", &["copilot", "--acp", "--stdio"]),
    ("codex", &["codex-acp"]),
    ("claude", &["claude-agent-acp"]),
    ("gemini", &["gemini", "--acp"]),
    ("qwen", &["qwen", "--acp"]),
    ("opencode", &["opencode", "acp"]),
];

/// The name of aside's own agent.
pub const BUILTIN: &str = "builtin";

/// The environment variable through which a session's host is asked to run its agent with
/// another model (set by `aside chat --model` and `/model` for the hosts it starts).
pub const MODEL_VAR: &str = "ASIDE_AGENT_MODEL";

/// Makes agent `agent` use `model` when started with `args` and `env` added: an environment
/// variable it reads, or a flag. False for an agent whose model aside cannot choose.
pub fn use_model(
    agent: &str,
    model: &str,
    args: &mut Vec<String>,
    env: &mut Vec<(String, String)>,
) -> bool {
    let variable = match agent {
        BUILTIN => "ASIDE_MODEL",
        "copilot" => "COPILOT_MODEL",
        "claude" => "ANTHROPIC_MODEL",
        "codex" => {
            // A config override; its value is TOML, so the name is quoted.
            args.extend(["-c".to_string(), format!("model={}", toml_string(model))]);
            return true;
        }
        _ => return false,
    };
    env.push((variable.to_string(), model.to_string()));
    true
}

/// `s` as a TOML basic string.
fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The command of agent `name`: config declarations win over presets; `builtin` is `aside_exe
/// agent`. An unknown name is an error listing the known ones.
pub fn agent_command(name: &str, config: &Config, aside_exe: &str) -> Result<Vec<String>, String> {
    let declared = config.agents.get(name);
    let extra = declared.map(|d| d.args.clone()).unwrap_or_default();
    let base: Vec<String> = match declared {
        Some(d) if !d.command.is_empty() => d.command.clone(),
        _ if name == BUILTIN => vec![aside_exe.to_string(), "agent".to_string()],
        _ => match PRESETS.iter().find(|(n, _)| *n == name) {
            Some((_, command)) => command.iter().map(|s| s.to_string()).collect(),
            None if declared.is_some() => {
                return Err(format!(
                    "agent `{name}` in the config file has no command: set [agents.{name}] command = [\"program\", \"--acp\"]"
                ))
            }
            None => {
                let mut known: Vec<&str> = std::iter::once(BUILTIN)
                    .chain(PRESETS.iter().map(|(n, _)| *n))
                    .chain(config.agents.keys().map(String::as_str))
                    .collect();
                known.dedup();
                return Err(format!(
                    "unknown agent `{name}`; known agents: {}. Declare others under [agents.NAME] in the config file",
                    known.join(", ")
                ));
            }
        },
    };
    Ok(base.into_iter().chain(extra).collect())
}

/// Which agent `name` running `program` is, for what aside knows of agents (its state, its
/// model API, how it counts tokens): `copilot`, `codex`, `claude`, `gemini`, `qwen`,
/// `opencode`, or empty.
pub fn family(name: &str, program: &std::path::Path) -> &'static str {
    let file = program
        .file_name()
        .map(|f| f.to_string_lossy().to_string())
        .unwrap_or_default();
    for (kind, names) in [
        ("copilot", &["copilot"][..]),
        ("codex", &["codex-acp", "codex"][..]),
        (
            "claude",
            &["claude-agent-acp", "claude-code-acp", "claude"][..],
        ),
        ("gemini", &["gemini"][..]),
        ("qwen", &["qwen"][..]),
        ("opencode", &["opencode"][..]),
    ] {
        if name == kind || names.contains(&file.as_str()) {
            return kind;
        }
    }
    ""
}

/// Whether `agent` is aside's own agent (not a command of the user's under that name).
pub fn uses_builtin(agent: &str, config: &Config) -> bool {
    agent == BUILTIN
        && config
            .agents
            .get(agent)
            .is_none_or(|a| a.command.is_empty())
}

/// Where `program` is: a path as given, or the first executable of that name on `PATH`.
pub fn find_program(program: &str) -> Option<std::path::PathBuf> {
    use std::os::unix::fs::PermissionsExt as _;
    let executable = |p: &std::path::Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        let path = std::path::PathBuf::from(program);
        return executable(&path).then_some(path);
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|p| executable(p))
}

/// How to install the program of agent `name`, for the "not found" message.
pub fn install_hint(name: &str) -> &'static str {
    match name {
        "copilot" => "npm install -g @github/copilot",
        "codex" => "npm install -g @zed-industries/codex-acp",
        "claude" => "npm install -g @zed-industries/claude-agent-acp",
        "gemini" => "npm install -g @google/gemini-cli",
        "qwen" => "npm install -g @qwen-code/qwen-code",
        "opencode" => "npm install -g opencode-ai",
        _ => "install it, or fix `command` under [agents.NAME] in the config file",
    }
}

/// Checks that agent `name`'s program exists; the error names what to install.
/// What is known of an agent on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detected {
    /// Its name (`builtin`, a preset, or one declared in config).
    pub name: String,
    /// Its launch command.
    pub command: Vec<String>,
    /// Where its program is, when installed.
    pub program: Option<std::path::PathBuf>,
    /// Whether it has what it needs to reach a model (keys, login, endpoint), as far as its
    /// files and environment tell; None when aside cannot tell.
    pub configured: Option<bool>,
}

/// Every agent aside knows of (the built-in one, the presets, those in config), and whether
/// each is installed and configured. `env` reads the environment; `home` is the user's home.
pub fn detect(
    config: &Config,
    aside_exe: &str,
    env: impl Fn(&str) -> Option<String>,
    home: &std::path::Path,
) -> Vec<Detected> {
    let set = |name: &str| env(name).is_some_and(|v| !v.is_empty());
    let dir = |var: &str, default: &str| {
        env(var)
            .filter(|v| !v.is_empty())
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| home.join(default))
    };
    let mut names: Vec<String> = std::iter::once(BUILTIN.to_string())
        .chain(PRESETS.iter().map(|(n, _)| n.to_string()))
        .chain(config.agents.keys().cloned())
        .collect();
    names.dedup();
    names
        .into_iter()
        .filter_map(|name| {
            let command = agent_command(&name, config, aside_exe).ok()?;
            let program = command.first().and_then(|p| find_program(p));
            let configured = match name.as_str() {
                BUILTIN => Some(!config.model.is_unset()),
                "copilot" => Some(
                    [
                        "COPILOT_PROVIDER_BASE_URL",
                        "COPILOT_GITHUB_TOKEN",
                        "GH_TOKEN",
                        "GITHUB_TOKEN",
                    ]
                    .iter()
                    .any(|v| set(v))
                        || dir("COPILOT_HOME", ".copilot")
                            .join("config.json")
                            .is_file(),
                ),
                "codex" => Some(
                    set("OPENAI_API_KEY")
                        || dir("CODEX_HOME", ".codex").join("config.toml").is_file()
                        || dir("CODEX_HOME", ".codex").join("auth.json").is_file(),
                ),
                "claude" => Some(
                    [
                        "ANTHROPIC_API_KEY",
                        "ANTHROPIC_BASE_URL",
                        "CLAUDE_CODE_OAUTH_TOKEN",
                    ]
                    .iter()
                    .any(|v| set(v))
                        || dir("CLAUDE_CONFIG_DIR", ".claude")
                            .join(".credentials.json")
                            .is_file(),
                ),
                "gemini" => Some(
                    set("GEMINI_API_KEY")
                        || set("GOOGLE_API_KEY")
                        || home.join(".gemini").join("settings.json").is_file(),
                ),
                _ => None,
            };
            Some(Detected {
                name,
                command,
                program,
                configured,
            })
        })
        .collect()
}

/// [`detect`] with this process's environment and `$HOME`, installed agents first (in their
/// order otherwise), as the views offer them.
pub fn detect_installed_first(config: &Config, aside_exe: &str) -> Vec<Detected> {
    let home = std::path::PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| "/".into()));
    let mut found = detect(config, aside_exe, |v| std::env::var(v).ok(), &home);
    found.sort_by_key(|a| a.program.is_none());
    found
}

/// The first line `program --version` prints, within 5 s.
pub fn version_of(program: &std::path::Path) -> Option<String> {
    let mut child = std::process::Command::new(program)
        .arg("--version")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20))
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
    let mut out = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take()?, &mut out).ok()?;
    out.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(|l| l.chars().take(80).collect())
}

pub fn check_installed(name: &str, command: &[String]) -> Result<(), String> {
    let Some(program) = command.first() else {
        return Err(format!("agent `{name}` has an empty command"));
    };
    if find_program(program).is_some() {
        return Ok(());
    }
    Err(format!(
        "agent `{name}` needs `{program}`, which is not installed (not found on PATH): {}, or choose another agent with --agent",
        install_hint(name)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_model_is_chosen_the_way_each_agent_reads_it() {
        let (mut args, mut env) = (Vec::new(), Vec::new());
        assert!(use_model("codex", "gpt-5 \"x\"", &mut args, &mut env));
        assert_eq!(args, ["-c", r#"model="gpt-5 \"x\"""#]);
        assert!(use_model("copilot", "m1", &mut args, &mut env));
        assert_eq!(env, [("COPILOT_MODEL".to_string(), "m1".to_string())]);
        assert!(!use_model("opencode", "m", &mut args, &mut env));
    }

    #[test]
    fn unknown_agent_lists_the_known_ones() {
        let err = agent_command("nope", &Config::default(), "/bin/aside").unwrap_err();
        assert_eq!(err, "unknown agent `nope`; known agents: builtin, copilot, codex, claude, gemini, qwen, opencode. Declare others under [agents.NAME] in the config file");
        assert_eq!(
            agent_command("builtin", &Config::default(), "/bin/aside").unwrap(),
            ["/bin/aside", "agent"]
        );
        assert_eq!(
            agent_command("copilot", &Config::default(), "x").unwrap(),
            ["copilot", "--acp", "--stdio"]
        );
    }

    #[test]
    fn a_missing_program_names_its_package() {
        assert!(check_installed("sh", &["sh".into()]).is_ok());
        assert_eq!(
            check_installed("copilot", &["aside-no-such-copilot".into()]).unwrap_err(),
            "agent `copilot` needs `aside-no-such-copilot`, which is not installed (not found on PATH): npm install -g @github/copilot, or choose another agent with --agent"
        );
    }
}
