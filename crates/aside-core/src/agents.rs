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
    if let Some(declared) = config.agents.get(name) {
        if declared.command.is_empty() {
            return Err(format!(
                "agent `{name}` in the config file has an empty command"
            ));
        }
        return Ok(declared.command.clone());
    }
    if name == BUILTIN {
        return Ok(vec![aside_exe.to_string(), "agent".to_string()]);
    }
    if let Some((_, command)) = PRESETS.iter().find(|(n, _)| *n == name) {
        return Ok(command.iter().map(|s| s.to_string()).collect());
    }
    let mut known: Vec<&str> = std::iter::once(BUILTIN)
        .chain(PRESETS.iter().map(|(n, _)| *n))
        .chain(config.agents.keys().map(String::as_str))
        .collect();
    known.dedup();
    Err(format!(
        "unknown agent `{name}`; known agents: {}. Declare others under [agents.NAME] in the config file",
        known.join(", ")
    ))
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
