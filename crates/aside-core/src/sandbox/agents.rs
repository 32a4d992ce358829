//! What a third-party agent needs in aside's sandbox: its own state, its model API, its
//! program's files; and the settings of agents that have a sandbox of their own.

use super::AgentNeeds;
use crate::config::AgentConfig;
use std::path::{Path, PathBuf};

/// What agent `name` (its settings `agent`, program `program`) needs in the sandbox; `var`
/// reads its environment (the agent's own `env` over the user's), `home` is HOME.
pub fn needs(
    name: &str,
    agent: &AgentConfig,
    program: &Path,
    home: &Path,
    var: &dyn Fn(&str) -> Option<String>,
) -> AgentNeeds {
    let var = |key: &str| agent.env.get(key).cloned().or_else(|| var(key));
    let dir = |key: &str, default: &str| {
        var(key)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| home.join(default))
    };
    let kind = crate::agents::family(name, program);
    let mut state = match kind {
        // Its native build unpacks itself into the cache first.
        "copilot" => vec![
            dir("COPILOT_HOME", ".copilot"),
            dir("XDG_CACHE_HOME", ".cache").join("copilot"),
        ],
        "codex" => vec![dir("CODEX_HOME", ".codex")],
        "claude" => vec![
            dir("CLAUDE_CONFIG_DIR", ".claude"),
            home.join(".claude.json"),
        ],
        "gemini" => vec![home.join(".gemini")],
        "qwen" => vec![home.join(".qwen")],
        "opencode" => vec![
            home.join(".local/share/opencode"),
            home.join(".config/opencode"),
        ],
        _ => Vec::new(),
    };
    state.extend(agent.writable.iter().map(|p| match p.strip_prefix("~/") {
        Some(rest) => home.join(rest),
        None => PathBuf::from(p),
    }));
    // Its model API: where its settings point, else the vendor's own.
    let mut hosts: Vec<String> = Vec::new();
    let mut pointed = false;
    let mut add_url = |url: &str, hosts: &mut Vec<String>| {
        if let Some(host) = host_of_url(url) {
            pointed = true;
            if !hosts.contains(&host) {
                hosts.push(host);
            }
        }
    };
    for key in [
        "COPILOT_PROVIDER_BASE_URL",
        "ANTHROPIC_BASE_URL",
        "OPENAI_BASE_URL",
        "GOOGLE_GEMINI_BASE_URL",
        "ASIDE_BASE_URL",
    ] {
        if let Some(url) = var(key) {
            add_url(&url, &mut hosts);
        }
    }
    for value in agent.env.values() {
        add_url(value, &mut hosts);
    }
    if kind == "codex" {
        let config = dir("CODEX_HOME", ".codex").join("config.toml");
        if let Some(table) = std::fs::read_to_string(config)
            .ok()
            .and_then(|t| t.parse::<toml::Table>().ok())
        {
            let providers = table.get("model_providers").and_then(|p| p.as_table());
            for provider in providers.into_iter().flat_map(|p| p.values()) {
                if let Some(url) = provider.get("base_url").and_then(|u| u.as_str()) {
                    add_url(url, &mut hosts);
                }
            }
        }
    }
    if !pointed {
        let vendor: &[&str] = match kind {
            "copilot" => &[
                "api.githubcopilot.com",
                "*.githubcopilot.com",
                "api.github.com",
                "github.com",
            ],
            "codex" => &["api.openai.com", "chatgpt.com", "auth.openai.com"],
            "claude" => &[
                "api.anthropic.com",
                "console.anthropic.com",
                "statsig.anthropic.com",
            ],
            "gemini" => &[
                "generativelanguage.googleapis.com",
                "cloudcode-pa.googleapis.com",
                "oauth2.googleapis.com",
            ],
            _ => &[],
        };
        hosts.extend(vendor.iter().map(|h| h.to_string()));
    }
    for host in &agent.hosts {
        if !hosts.contains(host) {
            hosts.push(host.clone());
        }
    }
    // What it reads to start things later, unconfined: its hooks, MCP servers and notify
    // commands stay as the user wrote them.
    let settings = match kind {
        "copilot" => vec![dir("COPILOT_HOME", ".copilot").join("mcp-config.json")],
        "codex" => vec![dir("CODEX_HOME", ".codex").join("config.toml")],
        "claude" => vec![
            dir("CLAUDE_CONFIG_DIR", ".claude").join("settings.json"),
            dir("CLAUDE_CONFIG_DIR", ".claude").join("settings.local.json"),
        ],
        "gemini" => vec![home.join(".gemini/settings.json")],
        _ => Vec::new(),
    };
    AgentNeeds {
        state,
        hosts,
        program: vec![package_of(program)],
        settings,
    }
}

/// `scheme://host[:port]/…` as an allow-list entry: `host:port` (the scheme's port when none
/// is given), or None when it is no http(s) URL.
fn host_of_url(url: &str) -> Option<String> {
    let (scheme, rest) = url.trim().split_once("://")?;
    let default = match scheme.to_ascii_lowercase().as_str() {
        "http" | "ws" => 80,
        "https" | "wss" => 443,
        _ => return None,
    };
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit('@').next()?;
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => (h, p.parse().ok()?),
        _ => (authority, default),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    (!host.is_empty()).then(|| format!("{host}:{port}"))
}

/// The files a program needs: the `node_modules` it is in (its package and those it requires),
/// else the nearest directory above it with a package.json (three levels at most), else its
/// own directory.
fn package_of(program: &Path) -> PathBuf {
    let program = std::fs::canonicalize(program).unwrap_or_else(|_| program.to_path_buf());
    let parent = program.parent().unwrap_or(Path::new("/"));
    if let Some(modules) = parent
        .ancestors()
        .filter(|d| d.file_name().is_some_and(|n| n == "node_modules"))
        .last()
    {
        return modules.to_path_buf();
    }
    parent
        .ancestors()
        .take(3)
        .find(|d| d.join("package.json").is_file())
        .unwrap_or(parent)
        .to_path_buf()
}

/// Arguments that set an agent's own sandbox from aside's policy, for agents that have one
/// aside can set: Codex writes only its workspace, reaching the network only if `network`.
pub fn own_sandbox_args(name: &str, program: &Path, network: bool) -> Vec<String> {
    match crate::agents::family(name, program) {
        "codex" => vec![
            "-c".into(),
            "sandbox_mode=\"workspace-write\"".into(),
            "-c".into(),
            format!("sandbox_workspace_write.network_access={network}"),
        ],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_agent_pointed_at_a_local_endpoint_reaches_only_it_and_writes_its_own_state() {
        let home = Path::new("/home/me");
        let mut agent = AgentConfig::default();
        agent.env.insert(
            "COPILOT_PROVIDER_BASE_URL".into(),
            "http://127.0.0.1:4141/v1".into(),
        );
        let needs = needs(
            "copilot",
            &agent,
            Path::new("/usr/bin/copilot"),
            home,
            &|_| None,
        );
        assert_eq!(needs.hosts, ["127.0.0.1:4141"]);
        assert_eq!(
            needs.state,
            [
                PathBuf::from("/home/me/.copilot"),
                PathBuf::from("/home/me/.cache/copilot")
            ]
        );
        let vendor = super::needs(
            "claude",
            &AgentConfig::default(),
            Path::new("/usr/bin/claude-agent-acp"),
            home,
            &|k| (k == "CLAUDE_CONFIG_DIR").then(|| "/cfg/claude".to_string()),
        );
        assert!(vendor.hosts.contains(&"api.anthropic.com".to_string()));
        assert_eq!(vendor.state[0], PathBuf::from("/cfg/claude"));
        assert_eq!(
            host_of_url("https://user@api.x.com/v1"),
            Some("api.x.com:443".into())
        );
        assert_eq!(host_of_url("ftp://x"), None);
    }
}
