//! Preparing a new worktree for the agent: submodules, the repository's (trusted) setup
//! commands, the session's ports, the MCP servers handed to the agent.

use super::*;

/// How long all of a `[setup]` command may take, and how much of its output is kept.
pub(crate) const SETUP_TIMEOUT: Duration = Duration::from_secs(1800);

pub(crate) const SETUP_OUTPUT_CAP: usize = 64 * 1024;

impl Host {
    /// Checks out the new worktree's submodules (from the user's checkout when it has them),
    /// saying which one it is at in the session's status; one that cannot be checked out is a
    /// warning event, and the session goes on without it.
    pub(crate) async fn populate_submodules(&mut self) {
        let (tx, mut rx) = mpsc::unbounded_channel::<String>();
        let (worktree, repo) = (self.record.worktree.clone(), self.record.repo.clone());
        let mut work = tokio::task::spawn_blocking(move || {
            aside_git::populate_submodules(&worktree, &repo, &mut |path| {
                let _ = tx.send(path.to_string());
            })
        });
        let failures = loop {
            tokio::select! {
                Some(path) = rx.recv() => {
                    self.set_status(Status::Starting, Some(&format!("checking out submodule {path}")));
                }
                done = &mut work => break done.unwrap_or_default(),
            }
        };
        for failure in failures {
            self.emit(Body::Warning(Warning {
                message: format!(
                    "submodule {} could not be checked out; the session goes on without it: {}",
                    failure.path, failure.error
                ),
                submodule: Some(failure.path),
            }));
        }
        self.set_status(Status::Starting, None);
    }

    /// The configured MCP servers as ACP describes them: stdio ones always (every agent must
    /// take them), HTTP ones where the agent says it takes them (`mcpCapabilities.http`).
    pub(crate) fn mcp(&self, caps: &Value) -> Vec<agent_client_protocol::v1::schema::McpServer> {
        use agent_client_protocol::v1::schema::{
            EnvVariable, HttpHeader, McpServer, McpServerHttp, McpServerStdio,
        };
        self.mcp_servers
            .iter()
            .filter(|m| m.check().is_ok())
            .filter_map(|m| match (m.command.split_first(), &m.url) {
                (Some((program, args)), _) => Some(McpServer::Stdio(
                    McpServerStdio::new(&m.name, program)
                        .args(args.to_vec())
                        .env(m.env.iter().map(|(k, v)| EnvVariable::new(k, v)).collect()),
                )),
                (None, Some(url)) if caps["mcpCapabilities"]["http"] == true => {
                    Some(McpServer::Http(
                        McpServerHttp::new(&m.name, url).headers(
                            m.headers
                                .iter()
                                .map(|(k, v)| HttpHeader::new(k, v))
                                .collect(),
                        ),
                    ))
                }
                _ => {
                    tracing::warn!(
                        "the agent does not take HTTP MCP servers; `{}` left out",
                        m.name
                    );
                    None
                }
            })
            .collect()
    }

    /// The repository's `[setup] run` commands, in the worktree, before the agent first starts:
    /// each one's output stored as a `setup` event; the first that fails fails the session.
    pub(crate) async fn setup(&mut self) -> anyhow::Result<()> {
        let repo_config =
            aside_core::config::RepoConfig::load(&self.record.repo).map_err(|e| anyhow!("{e}"))?;
        let setup = repo_config.setup.run.clone();
        // A repository is data: its commands run only as the user trusted them, checked here
        // as well as where the session was made, since `.aside.toml` may have changed since.
        let asks = aside_core::trust::Asks::of(&repo_config);
        if !setup.is_empty()
            && !aside_core::trust::TrustStore::new(&self.layout.home)
                .trusts(&self.record.repo, &asks)
        {
            return Err(anyhow!(
                "the [setup] commands in {}/.aside.toml are not trusted (new, or changed since you trusted them), so none ran: read them, then `aside trust {}` and `aside resume {}`",
                self.record.repo.display(),
                self.record.repo.display(),
                self.record.id
            ));
        }
        for command in setup {
            let mut cmd = tokio::process::Command::new("sh");
            cmd.arg("-c")
                .arg(&command)
                .current_dir(&self.record.worktree)
                .envs(self.record.settings.port_env())
                .stdin(std::process::Stdio::null())
                .kill_on_drop(true);
            let out = tokio::time::timeout(SETUP_TIMEOUT, cmd.output())
                .await
                .map_err(|_| {
                    anyhow!(
                        "setup `{command}` did not finish within {} s ([setup] in .aside.toml)",
                        SETUP_TIMEOUT.as_secs()
                    )
                })?
                .with_context(|| format!("cannot run setup `{command}`"))?;
            let mut output = String::from_utf8_lossy(&out.stdout).into_owned();
            output.push_str(&String::from_utf8_lossy(&out.stderr));
            if output.len() > SETUP_OUTPUT_CAP {
                let cut = output.len() - SETUP_OUTPUT_CAP;
                let cut = (cut..output.len())
                    .find(|i| output.is_char_boundary(*i))
                    .unwrap_or(cut);
                output = format!("…{}", &output[cut..]);
            }
            self.emit(Body::Setup(Setup {
                command: command.clone(),
                output: output.clone(),
                exit_code: out.status.code().map(i64::from),
            }));
            if !out.status.success() {
                let tail: Vec<&str> = output.lines().rev().take(5).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                return Err(anyhow!(
                    "setup `{command}` failed ({}): {}",
                    out.status,
                    tail.join(" / ")
                ));
            }
        }
        Ok(())
    }
}
