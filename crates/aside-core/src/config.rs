//! The user's configuration: `config.toml` plus the `ASIDE_*` environment overrides.

use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Why the configuration could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file exists but could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The config file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has unknown or mistyped keys.
    #[error("config file {path} is invalid: {message}")]
    Parse {
        /// The config file.
        path: PathBuf,
        /// The TOML parser's message, which names the key and line.
        message: String,
    },
    /// An environment variable has a value aside does not understand.
    #[error("{name}={value} is not valid: {hint}")]
    Env {
        /// The variable.
        name: &'static str,
        /// Its value.
        value: String,
        /// What would be valid.
        hint: &'static str,
    },
}

/// Which wire protocol a model endpoint speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// OpenAI-compatible Chat Completions (OpenAI, Ollama, vLLM, llama.cpp server, LM Studio, OpenRouter).
    Openai,
    /// Anthropic Messages.
    Anthropic,
}

impl ProviderKind {
    /// Parses the value of `ASIDE_PROVIDER`.
    pub fn parse(value: &str) -> Option<Self> {
        match value.trim().to_ascii_lowercase().as_str() {
            "openai" => Some(Self::Openai),
            "anthropic" => Some(Self::Anthropic),
            _ => None,
        }
    }

    /// The name used in config and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Openai => "openai",
            Self::Anthropic => "anthropic",
        }
    }
}

/// The whole user config file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Settings of the model endpoint the built-in agent talks to.
    #[serde(default)]
    pub model: ModelConfig,
    /// How background sessions run (`[sessions]`).
    #[serde(default)]
    pub sessions: SessionsConfig,
    /// Agents declared by the user (`[agents.NAME]`), beside the built-in presets.
    #[serde(default)]
    pub agents: std::collections::BTreeMap<String, AgentConfig>,
    /// The editor `aside open` and the web view's "Open in editor" start (`[editor]`).
    #[serde(default)]
    pub editor: EditorConfig,
    /// What runs when a session needs an answer, completes or fails (`[notify]`).
    #[serde(default)]
    pub notify: NotifyConfig,
    /// Defaults for new sessions (`[defaults]`).
    #[serde(default)]
    pub defaults: DefaultsConfig,
    /// MCP servers every agent gets (`[[mcp_servers]]`).
    #[serde(default)]
    pub mcp_servers: Vec<McpServerConfig>,
    /// How sessions' worktrees are made (`[worktree]`).
    #[serde(default)]
    pub worktree: WorktreeConfig,
    /// Other machines sessions can run on (`[machines.NAME]`), reached over SSH.
    #[serde(default)]
    pub machines: std::collections::BTreeMap<String, MachineConfig>,
    /// The OS sandbox the built-in agent's commands run in (`[sandbox]`).
    #[serde(default)]
    pub sandbox: crate::sandbox::SandboxConfig,
    /// Prices by model (`[prices."MODEL"] input = 3.0, output = 15.0, cached = 0.3`, dollars
    /// per million tokens), over the known ones.
    #[serde(default)]
    pub prices: std::collections::BTreeMap<String, crate::usage::Price>,
    /// An untrusted repository's `[defaults] approve`, applied only where it is no looser than
    /// the user's own ([`Config::approve_for`]).
    #[serde(skip)]
    pub repo_approve: Option<String>,
}

/// `[worktree]` of the user's config.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WorktreeConfig {
    /// Check out a worktree's submodules before its agent starts (default true; `aside new
    /// --no-submodules` for one session).
    pub submodules: Option<bool>,
}

/// One `[[mcp_servers]]`: a stdio server (`command`) or an HTTP one (`url`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct McpServerConfig {
    /// Its name, as agents show it.
    pub name: String,
    /// Program and arguments of a stdio server.
    #[serde(default)]
    pub command: Vec<String>,
    /// Environment of a stdio server.
    #[serde(default)]
    pub env: std::collections::BTreeMap<String, String>,
    /// URL of an HTTP server.
    pub url: Option<String>,
    /// Headers sent to an HTTP server.
    #[serde(default)]
    pub headers: std::collections::BTreeMap<String, String>,
}

impl McpServerConfig {
    /// Whether it says how to reach it: a command or a URL, not both.
    pub fn check(&self) -> Result<(), String> {
        match (self.command.is_empty(), &self.url) {
            (false, None) | (true, Some(_)) => Ok(()),
            (true, None) => Err(format!(
                "MCP server `{}` has neither a command (stdio) nor a url (HTTP)",
                self.name
            )),
            (false, Some(_)) => Err(format!(
                "MCP server `{}` has both a command and a url: keep one",
                self.name
            )),
        }
    }
}

/// A repository's `.aside.toml`: only what a repository may decide for the people who work in
/// it (no agent commands: a cloned repository must not choose what runs).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepoConfig {
    /// Defaults for new sessions in this repository.
    #[serde(default)]
    pub defaults: DefaultsConfig,
    /// Commands run in a new session's worktree before its agent starts (`[setup] run`).
    #[serde(default)]
    pub setup: Commands,
    /// Commands run in a session's worktree before `aside rm` removes it (`[teardown] run`).
    #[serde(default)]
    pub teardown: Commands,
    /// How this repository's worktrees are made (`[worktree]`).
    #[serde(default)]
    pub worktree: RepoWorktree,
    /// Its sessions' budget (`[sessions] budget_tokens`, `budget_usd`): only ever narrows the
    /// user's own.
    #[serde(default)]
    pub sessions: RepoSessions,
    /// What its builds need of the sandbox (`[sandbox]`): only ever narrows the user's own.
    #[serde(default)]
    pub sandbox: crate::sandbox::RepoSandbox,
}

/// `[sessions]` of a repository's `.aside.toml`: a budget, stricter than the user's or none.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepoSessions {
    /// The most tokens a session in this repository may use.
    pub budget_tokens: Option<u64>,
    /// The most dollars.
    pub budget_usd: Option<f64>,
}

/// `[worktree]` of a repository's `.aside.toml`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepoWorktree {
    /// Spare worktrees kept ready for this repository (at most [`MAX_POOL`]); the user's
    /// `[sessions] worktree_pool` otherwise.
    pub pool: Option<usize>,
    /// Check out this repository's submodules in new worktrees (the user's `[worktree]
    /// submodules` otherwise).
    pub submodules: Option<bool>,
}

/// Most spare worktrees a repository may ask for.
pub const MAX_POOL: usize = 8;

impl RepoConfig {
    /// Spare worktrees to keep for this repository, given the user's default.
    pub fn pool_size(&self, user: Option<usize>) -> usize {
        self.worktree.pool.or(user).unwrap_or(1).min(MAX_POOL)
    }
}

/// `run = ["npm ci", "cp .env.example .env"]`: shell commands, in order.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Commands {
    /// Each run by `sh -c` in the worktree; the first that fails stops the rest.
    #[serde(default)]
    pub run: Vec<String>,
}

impl RepoConfig {
    /// `repo`'s `.aside.toml`; an empty one when there is none.
    pub fn load(repo: &Path) -> Result<RepoConfig, ConfigError> {
        let path = repo.join(".aside.toml");
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(RepoConfig::default()),
            Err(source) => return Err(ConfigError::Read { path, source }),
        };
        let config: RepoConfig = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.clone(),
            message: e.to_string(),
        })?;
        config
            .defaults
            .check()
            .map_err(|message| ConfigError::Parse { path, message })?;
        Ok(config)
    }
}

/// `[notify]` in config.toml: told when a session needs an answer, completes or fails.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyConfig {
    /// A command run (detached, by the session's host) with `ASIDE_SESSION_ID`,
    /// `ASIDE_SESSION_TITLE`, `ASIDE_SESSION_STATUS`, `ASIDE_SESSION_REPO` and
    /// `ASIDE_SESSION_REASON` in its environment.
    pub command: Option<Vec<String>>,
    /// A desktop notification (`notify-send`) where a desktop session bus is present. Default
    /// false.
    pub desktop: Option<bool>,
}

/// `[editor]` in config.toml: what opens a session's worktree. Unset, `$VISUAL`, then
/// `$EDITOR`, then `code --new-window` are tried.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EditorConfig {
    /// Program and arguments, e.g. `["code", "--new-window"]`; the worktree's path is appended.
    pub command: Option<Vec<String>>,
    /// The command runs in the terminal (`vim`, `hx`), in the foreground, rather than opening a
    /// window of its own. Default false.
    pub terminal: Option<bool>,
}

/// `[sessions]` in config.toml.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionsConfig {
    /// How many sessions run at once; the rest wait as `queued`. Default: 2 × cores.
    pub max_concurrent: Option<usize>,
    /// Spare worktrees kept checked out per repository, so a new isolated session starts
    /// without waiting for a checkout. Default 1; 0 turns the pool off.
    pub worktree_pool: Option<usize>,
    /// Seconds a session's host (and its agent) stays after the session has nothing left to
    /// do; a follow-up starts a new one that continues the same agent session. Default 60.
    pub idle_secs: Option<u64>,
    /// The most tokens a session may use before its turn is stopped (`aside new --budget`
    /// sets one per session).
    pub budget_tokens: Option<u64>,
    /// The most dollars a session may cost (known when its models' prices are).
    pub budget_usd: Option<f64>,
}

impl SessionsConfig {
    /// `budget_tokens` and `budget_usd` as one budget.
    pub fn budget(&self) -> crate::usage::Budget {
        crate::usage::Budget {
            tokens: self.budget_tokens,
            usd: self.budget_usd,
        }
    }
}

impl SessionsConfig {
    /// Applies `ASIDE_HOST_IDLE_SECS`, which overrides the file.
    pub fn apply_env(&mut self, env: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        if let Some(value) = env("ASIDE_HOST_IDLE_SECS") {
            self.idle_secs = Some(value.trim().parse().map_err(|_| ConfigError::Env {
                name: "ASIDE_HOST_IDLE_SECS",
                value,
                hint: "use a whole number of seconds",
            })?);
        }
        Ok(())
    }

    /// How many sessions run at once: the configured number, else 2 × cores.
    pub fn max_concurrent(&self) -> usize {
        self.max_concurrent.unwrap_or_else(|| {
            2 * std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        })
    }

    /// How long an idle host stays.
    pub fn idle(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.idle_secs.unwrap_or(60))
    }
}

/// `[machines.NAME]` in config.toml: another machine, reached with OpenSSH (its port, key and
/// jump hosts are `~/.ssh/config`'s business).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MachineConfig {
    /// What `ssh` is given: `user@host`, `host`, or a `~/.ssh/config` alias.
    pub ssh: String,
    /// The aside to run there (default `aside`, found on that machine's PATH).
    pub aside: Option<String>,
    /// Checkouts the user keeps there, by the local repository they are of: local path → path
    /// there (relative to its HOME, or absolute). Sessions of a repository not named here run
    /// in a checkout aside makes and keeps there.
    #[serde(default)]
    pub checkouts: std::collections::BTreeMap<String, String>,
}

impl MachineConfig {
    /// Checks what ssh would be given: a destination, never an option.
    pub fn check(&self, name: &str) -> Result<(), String> {
        if !machine_name_ok(name) {
            return Err(format!(
                "machine name `{name}`: use letters, digits, - and _ (and not `local`)"
            ));
        }
        let dest = self.ssh.trim();
        if dest.is_empty() {
            return Err(format!(
                "machines.{name}.ssh is empty: say how ssh reaches it, e.g. user@build-box"
            ));
        }
        if dest.starts_with('-') || dest.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!(
                "machines.{name}.ssh is `{dest}`: a destination (user@host or a ~/.ssh/config alias), without spaces and not starting with -"
            ));
        }
        if let Some(aside) = &self.aside {
            if aside.trim().is_empty() || aside.chars().any(char::is_control) {
                return Err(format!(
                    "machines.{name}.aside is empty or unreadable: the path of aside on that machine"
                ));
            }
        }
        Ok(())
    }
}

/// Whether `name` may name a machine.
pub fn machine_name_ok(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name != "local"
        && !name.starts_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// `[agents.NAME]` in config.toml: an ACP agent started as `command`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// Program and arguments, e.g. `["gemini", "--acp"]`; empty for a preset (`copilot`,
    /// `codex`, …) or the built-in agent, whose own command is used.
    #[serde(default)]
    pub command: Vec<String>,
    /// Arguments added after the command.
    #[serde(default)]
    pub args: Vec<String>,
    /// Environment variables the agent gets.
    #[serde(default)]
    pub env: std::collections::BTreeMap<String, String>,
    /// The model it uses, where aside can choose it (builtin, copilot, claude, codex).
    pub model: Option<String>,
    /// Whether the whole agent process runs in aside's sandbox (default false; `aside new
    /// --sandbox` / `--no-sandbox` decide per session).
    pub sandbox: Option<bool>,
    /// In its sandbox: more paths it writes (its state beyond what aside knows of it).
    #[serde(default)]
    pub writable: Vec<String>,
    /// In its sandbox: more hosts it reaches (its model API when aside cannot tell it).
    #[serde(default)]
    pub hosts: Vec<String>,
}

/// `[defaults]` in config.toml and in a repository's `.aside.toml` (which wins): what `aside
/// new`, `chat`, `plan`, the terminal view and the web form use when not told.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DefaultsConfig {
    /// The agent (default `builtin`).
    pub agent: Option<String>,
    /// `isolated` (default) or `workspace`.
    pub mode: Option<String>,
    /// `all`, `edits` or `ask` (default: all when isolated, ask in workspace mode).
    pub approve: Option<String>,
}

impl DefaultsConfig {
    /// Whether the mode and approval policy are ones aside has; Err says which is not.
    pub fn check(&self) -> Result<(), String> {
        if let Some(mode) = self
            .mode
            .as_deref()
            .filter(|m| !["isolated", "workspace"].contains(m))
        {
            return Err(format!(
                "defaults.mode is `{mode}`: use isolated or workspace"
            ));
        }
        if let Some(approve) = self
            .approve
            .as_deref()
            .filter(|a| !["all", "edits", "ask"].contains(a))
        {
            return Err(format!(
                "defaults.approve is `{approve}`: use all, edits or ask"
            ));
        }
        Ok(())
    }

    /// The default agent.
    pub fn agent(&self) -> String {
        self.agent
            .clone()
            .unwrap_or_else(|| crate::agents::BUILTIN.to_string())
    }
}

/// Settings of the model endpoint the built-in agent talks to (`[model]` in config.toml).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// `openai` (any OpenAI-compatible server) or `anthropic`.
    pub provider: Option<ProviderKind>,
    /// Base URL as the provider's own SDK takes it: `http://host:port/v1` or `https://api.anthropic.com`.
    pub base_url: Option<String>,
    /// Model name sent to the endpoint.
    pub model: Option<String>,
    /// API key, sent as a bearer token (OpenAI) or `x-api-key` (Anthropic).
    pub api_key: Option<String>,
    /// The model's context window in tokens; older turns are compacted near it.
    pub context_window: Option<u64>,
    /// Most tokens the model may produce in one reply.
    pub max_output_tokens: Option<u64>,
    /// Seconds to wait for the endpoint to answer (and between streamed chunks).
    pub request_timeout_secs: Option<u64>,
    /// How many times a request is retried on 429, 5xx or a dropped connection.
    pub max_retries: Option<u32>,
}

impl Config {
    /// Reads a config file; a missing file is an empty config.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
            Err(source) => {
                return Err(ConfigError::Read {
                    path: path.to_owned(),
                    source,
                })
            }
        };
        let config: Config = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        config.check().map_err(|message| ConfigError::Parse {
            path: path.to_owned(),
            message,
        })?;
        Ok(config)
    }

    /// What deserializing cannot tell: a mode or policy aside has, MCP servers it can reach.
    pub fn check(&self) -> Result<(), String> {
        self.defaults.check()?;
        for server in &self.mcp_servers {
            server.check()?;
        }
        for (name, machine) in &self.machines {
            machine.check(name)?;
        }
        self.sandbox.check()?;
        if self.sessions.budget_tokens == Some(0)
            || self
                .sessions
                .budget_usd
                .is_some_and(|usd| !(usd > 0.0 && usd.is_finite()))
        {
            return Err(
                "sessions.budget_tokens and budget_usd must be more than 0 (leave them out for no budget)"
                    .to_string(),
            );
        }
        for (name, agent) in &self.agents {
            for host in &agent.hosts {
                crate::sandbox::net::check_entry(host)
                    .map_err(|e| format!("agents.{name}.hosts: {e}"))?;
            }
            for path in &agent.writable {
                if !(path.starts_with('/') || path.starts_with("~/")) {
                    return Err(format!(
                        "agents.{name}.writable has `{path}`: give absolute paths (or ~/…)"
                    ));
                }
            }
        }
        Ok(())
    }

    /// This config with the `[defaults]` of a repository's `.aside.toml` over its own: those
    /// that are as strict or stricter always, a looser mode or approval policy only when the
    /// user trusted the file (`trusted`, `crate::trust`).
    pub fn with_repo_defaults(mut self, repo: &RepoConfig, trusted: bool) -> Config {
        let asks = crate::trust::Asks::of(repo);
        let d = &repo.defaults;
        if trusted || !asks.loosens_mode(&self.defaults) {
            self.defaults.mode = d.mode.clone().or(self.defaults.mode);
        }
        if trusted {
            self.defaults.approve = d.approve.clone().or(self.defaults.approve);
        } else {
            // Whether it loosens depends on the mode the session ends up in, which the
            // command line may still choose: decided by `approve_for`.
            self.repo_approve = d.approve.clone();
        }
        self.defaults.agent = d.agent.clone().or(self.defaults.agent);
        self
    }

    /// The approval policy a new session in `mode` gets when the command line names none: the
    /// user's own (default: all when isolated, ask in workspace mode), or an untrusted
    /// repository's when that is as strict or stricter.
    pub fn approve_for(&self, mode: crate::Mode) -> crate::Approve {
        let own = self
            .defaults
            .approve
            .as_deref()
            .and_then(crate::Approve::parse)
            .unwrap_or_else(|| crate::Approve::default_for(mode));
        match self.repo_approve.as_deref().and_then(crate::Approve::parse) {
            Some(theirs) if theirs.strictness() >= own.strictness() => theirs,
            _ => own,
        }
    }

    /// Reads the user's config file and applies the process environment.
    pub fn load_user() -> Result<Config, ConfigError> {
        let mut config = Config::load(&crate::paths::user_config_file())?;
        let env = |name: &str| {
            // The key is taken out of the environment as the process starts.
            if name == crate::process::MODEL_KEY_VAR {
                if let Some(key) = crate::process::model_key() {
                    return Some(key.to_string());
                }
            }
            std::env::var(name).ok().filter(|v| !v.is_empty())
        };
        config.model.apply_env(env)?;
        config.sessions.apply_env(env)?;
        Ok(config)
    }
}

impl ModelConfig {
    /// Applies `ASIDE_PROVIDER`, `ASIDE_BASE_URL`, `ASIDE_MODEL`, `ASIDE_API_KEY`,
    /// `ASIDE_CONTEXT_WINDOW`, `ASIDE_MAX_OUTPUT_TOKENS`, `ASIDE_REQUEST_TIMEOUT` and
    /// `ASIDE_MAX_RETRIES`, which override the file.
    pub fn apply_env(&mut self, env: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        if let Some(value) = env("ASIDE_PROVIDER") {
            self.provider = Some(ProviderKind::parse(&value).ok_or(ConfigError::Env {
                name: "ASIDE_PROVIDER",
                value,
                hint: "use openai (any OpenAI-compatible server) or anthropic",
            })?);
        }
        if let Some(value) = env("ASIDE_BASE_URL") {
            self.base_url = Some(value);
        }
        if let Some(value) = env("ASIDE_MODEL") {
            self.model = Some(value);
        }
        if let Some(value) = env("ASIDE_API_KEY") {
            self.api_key = Some(value);
        }
        let number = |name: &'static str| -> Result<Option<u64>, ConfigError> {
            match env(name) {
                None => Ok(None),
                Some(value) => value
                    .trim()
                    .parse()
                    .map(Some)
                    .map_err(|_| ConfigError::Env {
                        name,
                        value,
                        hint: "use a whole number",
                    }),
            }
        };
        if let Some(n) = number("ASIDE_CONTEXT_WINDOW")? {
            self.context_window = Some(n);
        }
        if let Some(n) = number("ASIDE_MAX_OUTPUT_TOKENS")? {
            self.max_output_tokens = Some(n);
        }
        if let Some(n) = number("ASIDE_REQUEST_TIMEOUT")? {
            self.request_timeout_secs = Some(n);
        }
        if let Some(n) = number("ASIDE_MAX_RETRIES")? {
            self.max_retries = Some(u32::try_from(n).unwrap_or(u32::MAX));
        }
        Ok(())
    }

    /// True when the user set nothing that names an endpoint.
    pub fn is_unset(&self) -> bool {
        self.provider.is_none() && self.base_url.is_none() && self.model.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_overrides_file() {
        let mut config: Config = toml::from_str(
            "[model]\nprovider = \"anthropic\"\nmodel = \"a\"\nbase_url = \"https://api.anthropic.com\"\n",
        )
        .unwrap();
        config
            .model
            .apply_env(|name| match name {
                "ASIDE_PROVIDER" => Some("openai".into()),
                "ASIDE_MODEL" => Some("b".into()),
                _ => None,
            })
            .unwrap();
        assert_eq!(config.model.provider, Some(ProviderKind::Openai));
        assert_eq!(config.model.model.as_deref(), Some("b"));
        assert_eq!(
            config.model.base_url.as_deref(),
            Some("https://api.anthropic.com")
        );
    }

    #[test]
    fn bad_provider_names_the_choices() {
        let err = ModelConfig::default()
            .apply_env(|name| (name == "ASIDE_PROVIDER").then(|| "gpt".to_string()))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "ASIDE_PROVIDER=gpt is not valid: use openai (any OpenAI-compatible server) or anthropic"
        );
    }

    #[test]
    fn the_editor_section_reads_a_command_and_refuses_unknown_keys() {
        let config: Config =
            toml::from_str("[editor]\ncommand = [\"zed\", \"--new\"]\nterminal = false\n").unwrap();
        assert_eq!(
            config.editor,
            EditorConfig {
                command: Some(vec!["zed".into(), "--new".into()]),
                terminal: Some(false),
            }
        );
        assert_eq!(
            toml::from_str::<Config>("").unwrap().editor,
            EditorConfig::default()
        );
        let err = toml::from_str::<Config>("[editor]\ncmd = [\"vim\"]\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `cmd`"), "{err}");
    }

    #[test]
    fn unknown_key_is_named() {
        let dir = std::env::temp_dir().join(format!("aside-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("config.toml");
        std::fs::write(&path, "[model]\nmodle = \"x\"\n").unwrap();
        let err = Config::load(&path).unwrap_err().to_string();
        assert!(err.contains("modle"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
