//! How readers see sessions: liveness, status, the views `ls`, `show` and the web list
//! serialize, progress, and the sessions started in the agents' own CLIs (listed, adopted).

use super::*;

impl Sessions {
    /// Why a queued session waits, for `ls`.
    pub fn queue_note(&self, record: &SessionRecord, limit: usize) -> Option<String> {
        if !self.host_alive(record) {
            return None;
        }
        let queue = self
            .index
            .queue_state(&record.id, |other| self.host_alive_id(other))
            .ok()?;
        Some(if queue.ahead > 0 {
            format!(
                "waiting for a slot: {} of {limit} running, {} queued ahead ([sessions] max_concurrent)",
                queue.busy, queue.ahead
            )
        } else {
            format!(
                "waiting for a slot: {} of {limit} running ([sessions] max_concurrent)",
                queue.busy
            )
        })
    }

    pub(crate) fn host_alive_id(&self, id: &SessionId) -> bool {
        liveness::host_alive(&self.layout, id)
    }

    /// Whether the session's host runs.
    pub fn host_alive(&self, record: &SessionRecord) -> bool {
        // The lock itself: a host going idle removes its socket first but holds its lock until
        // it is gone, and `send`/`resume` must wait for that. (Listings take the cheaper way in
        // `views`.)
        liveness::host_alive(&self.layout, &record.id)
    }

    /// The status as a reader sees it: an active session whose host is gone is interrupted.
    pub fn status(&self, record: &SessionRecord) -> Status {
        self.status_with(record, || self.host_alive(record))
    }

    pub(crate) fn status_with(
        &self,
        record: &SessionRecord,
        alive: impl FnOnce() -> bool,
    ) -> Status {
        if record.status.is_active() && !alive() {
            Status::Interrupted
        } else if record.status == Status::InTerminal && !self.terminal_alive(record) {
            // The CLI (and the aside that waited for it) died: it is aside's to take back.
            Status::Completed
        } else {
            record.status
        }
    }

    /// The JSON of a session, as `ls --json`, `show --json` and the web view show it.
    pub fn json(&self, r: &SessionRecord) -> Value {
        serde_json::to_value(self.view(r, self.host_alive(r))).unwrap_or(Value::Null)
    }

    /// What session `r` used, read from its events (the kinds that count), priced by `config`.
    pub fn usage(&self, r: &SessionRecord, config: &Config) -> aside_protocol::usage::Usage {
        let events = aside_store::EventLog::open(&self.layout, &r.id)
            .and_then(|log| log.of_kinds(&["prompt", "usage_update", "turn_end"]))
            .unwrap_or_default();
        aside_protocol::usage::Usage::of(
            &events,
            &aside_core::usage::model_of(r, config),
            &aside_core::usage::Prices::with(&config.prices),
        )
    }

    /// The sessions of `r`'s lineage, oldest first, itself included: the one it goes on from
    /// (and that one's), and those that go on from any of them (a plan and the task that
    /// carries it out, forks, chats handed on).
    pub fn lineage(&self, r: &SessionRecord) -> Vec<SessionRecord> {
        let all = self.index.list(true).unwrap_or_default();
        let by_id: std::collections::HashMap<&str, &SessionRecord> =
            all.iter().map(|s| (s.id.as_str(), s)).collect();
        let mut root = r.id.as_str();
        let mut seen = std::collections::HashSet::new();
        while let Some(up) = by_id
            .get(root)
            .and_then(|s| s.settings.from.as_ref())
            .filter(|up| by_id.contains_key(up.as_str()))
        {
            if !seen.insert(root) {
                break;
            }
            root = up.as_str();
        }
        let mut family = vec![root.to_string()];
        let mut i = 0;
        while i < family.len() {
            let parent = family[i].clone();
            for s in &all {
                if s.settings
                    .from
                    .as_ref()
                    .is_some_and(|f| f.as_str() == parent)
                    && !family.contains(&s.id.0)
                {
                    family.push(s.id.0.clone());
                }
            }
            i += 1;
        }
        let mut out: Vec<SessionRecord> = family
            .iter()
            .filter_map(|id| by_id.get(id.as_str()).map(|s| (*s).clone()))
            .collect();
        out.sort_by(|a, b| a.created_at.cmp(&b.created_at));
        out
    }

    /// The JSON views of many sessions (a listing): the hosts' sockets are read once, so a list
    /// of thousands is not a file probe per session.
    pub fn views<'a>(&self, records: &'a [SessionRecord]) -> Vec<SessionView<'a>> {
        let sockets: std::collections::HashSet<String> =
            std::fs::read_dir(self.layout.home.join("run"))
                .into_iter()
                .flatten()
                .flatten()
                .filter_map(|e| {
                    e.file_name()
                        .to_string_lossy()
                        .strip_suffix(".sock")
                        .map(str::to_string)
                })
                .collect();
        records
            .iter()
            .map(|r| {
                let maybe = r.status.is_active() || sockets.contains(r.id.as_str());
                self.view(r, maybe && liveness::host_alive(&self.layout, &r.id))
            })
            .collect()
    }

    pub(crate) fn view<'a>(&self, r: &'a SessionRecord, alive: bool) -> SessionView<'a> {
        SessionView {
            id: r.id.as_str(),
            title: &r.title,
            task: &r.task,
            agent: &r.agent,
            mode: r.mode.as_str(),
            approve: r.approve.as_str(),
            status: self.status_with(r, || alive).as_str(),
            host: alive,
            reason: r.reason.as_deref(),
            repo: &r.repo,
            worktree: &r.worktree,
            branch: r.branch.as_deref(),
            base: r.base.as_deref(),
            created_at: &r.created_at,
            updated_at: &r.updated_at,
            changed_files: r.changed_files,
            lines_added: r.lines_added,
            lines_removed: r.lines_removed,
            pending_permission: r.pending_permission,
            archived: r.archived,
            integrated: r.integrated.as_deref(),
            kind: r.kind.as_str(),
            external: false,
            agent_session_id: r.acp_session_id.as_deref(),
            usage: r.usage,
        }
    }

    /// Sessions started outside aside (Copilot CLI, Codex, Claude Code in a terminal), newest
    /// first; aside's own sessions with those agents are left out.
    pub fn externals(&self) -> Vec<external::External> {
        let own = self.index.agent_session_ids().unwrap_or_default();
        external::scan(
            &external::Homes::from_env(),
            &self.layout.home.join("external-sessions.json"),
        )
        .into_iter()
        // Copilot names the ACP client that started a session.
        .filter(|s| !own.contains(&s.summary.id) && s.summary.client.as_deref() != Some("aside"))
        .collect()
    }

    /// Continues a session started in an agent's own CLI as an aside session: its agent loads
    /// the same agent session (so its history is the agent's own) in its directory (`mode`
    /// workspace) or in a new worktree of its repository (isolated); its conversation so far
    /// becomes the new session's first events. A session its CLI is still live on is refused
    /// unless `force` (two writers would corrupt it).
    pub fn adopt(
        &self,
        session: &external::External,
        mode: Mode,
        force: bool,
        config: &Config,
    ) -> Result<SessionRecord> {
        let agent = session.tool.agent();
        if session.live && !force {
            return Err(OpError::Refused(format!(
                "{agent} is still working on session {} (its own CLI is live on it); two writers would corrupt it. Quit it there first, or pass --force to adopt it anyway",
                session.summary.id
            )));
        }
        if !session.summary.cwd.is_dir() {
            return Err(OpError::Refused(format!(
                "session {} worked in {}, which no longer exists",
                session.summary.id,
                session.summary.cwd.display()
            )));
        }
        let (conversation, _) = session.conversation().map_err(|e| {
            OpError::Refused(format!("cannot read {}: {e}", session.file.display()))
        })?;
        self.create_with(
            NewSession {
                task: String::new(),
                agent: agent.to_string(),
                mode,
                base: None,
                name: None,
                approve: None,
                dir: session.summary.cwd.clone(),
                kind: SessionKind::Task,
                model: None,
                title: Some(session.summary.title.clone()),
                no_submodules: false,
                sandbox: None,
                budget: None,
                from: None,
            },
            config,
            Some(TakeOver {
                agent_session: Some(session.summary.id.clone()),
                transcript: None,
                history: conversation
                    .to_events()
                    .into_iter()
                    .map(|(kind, data)| (kind.to_string(), data))
                    .collect(),
                start: None,
            }),
        )
    }

    /// How far a session has come, for lists: its plan's steps done and in all (when it keeps
    /// a plan), and the last line of the agent's newest message.
    pub fn progress(&self, record: &SessionRecord) -> (Option<(usize, usize)>, String) {
        let Ok(log) = aside_store::EventLog::open(&self.layout, &record.id) else {
            return (None, String::new());
        };
        let plan = log.last_of("plan", 1).ok().and_then(|p| {
            let entries = p.first()?.data["entries"].as_array()?.clone();
            let done = entries
                .iter()
                .filter(|e| e["status"] == "completed")
                .count();
            Some((done, entries.len()))
        });
        // The newest message: its chunks since the last prompt.
        let last_prompt = log
            .last_of("prompt", 1)
            .ok()
            .and_then(|p| p.first().map(|e| e.seq))
            .unwrap_or(0);
        let text: String = log
            .last_of("agent_message_chunk", 40)
            .unwrap_or_default()
            .iter()
            .filter(|e| e.seq > last_prompt)
            .filter_map(|e| e.data["content"]["text"].as_str())
            .collect();
        let line = text
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or_default()
            .trim()
            .chars()
            .take(160)
            .collect();
        (plan, line)
    }

    /// The repository aside knows that `dir` works in (a session worktree belongs to its
    /// repository), if any.
    pub fn known_repo(repos: &[PathBuf], dir: &Path) -> Option<PathBuf> {
        repos
            .iter()
            .find(|repo| {
                let worktrees = PathBuf::from(format!("{}.worktrees", repo.display()));
                dir.starts_with(repo) || dir.starts_with(&worktrees)
            })
            .cloned()
    }

    /// An external session as JSON, beside `json`'s sessions.
    pub fn external_json(&self, s: &external::External, repo: Option<&Path>) -> Value {
        json!({
            "id": s.summary.id,
            "external": true,
            "agent": s.tool.agent(),
            "agent_session_id": s.summary.id,
            "status": s.status(),
            "title": s.summary.title,
            "repo": repo,
            "cwd": s.summary.cwd,
            "worktree": s.summary.cwd,
            "branch": s.summary.branch,
            "created_at": s.summary.created_at,
            "updated_at": s.updated_at(),
            "client": s.summary.client,
            "file": s.file,
            "resume_command": s.tool.resume_command(&s.summary.id, &s.summary),
        })
    }

    /// The repositories sessions were started in, most recent first.
    pub fn repos(&self) -> Result<Vec<PathBuf>> {
        Ok(self.index.repos()?)
    }
}
