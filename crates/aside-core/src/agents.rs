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

#[cfg(test)]
mod tests {
    use super::*;

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
}
