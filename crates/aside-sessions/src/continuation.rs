//! Sessions that go on from others: plans started as tasks, forks, hand-offs of a chat.

use super::*;

impl Sessions {
    /// The plan a plan session answered with (its last message, else its plan entries).
    pub fn plan_of(&self, record: &SessionRecord) -> Result<String> {
        let events = aside_store::EventLog::open(&self.layout, &record.id)?.since(0)?;
        Ok(plan_of(&events))
    }

    /// Starts the task of a finished plan session in the background with the accepted plan
    /// (`plan`, or the one the agent answered with), in code mode; the plan session is released
    /// and archived, kept for the record.
    pub fn start_plan(
        &self,
        record: &SessionRecord,
        plan: Option<String>,
        config: &Config,
    ) -> Result<SessionRecord> {
        if record.kind != SessionKind::Plan {
            return Err(OpError::Refused(format!(
                "session {} is not a plan; start a plan with aside plan \"<task>\" or \"Plan first\"",
                record.id
            )));
        }
        let status = self.status(record);
        if status != Status::Completed {
            return Err(OpError::Refused(format!(
                "the plan of {} is not ready (the session is {status})",
                record.id
            )));
        }
        let plan = match plan.filter(|p| !p.trim().is_empty()) {
            Some(plan) => plan,
            None => self.plan_of(record)?,
        };
        if plan.trim().is_empty() {
            return Err(OpError::Refused(format!(
                "the agent answered without a plan; see aside show {}",
                record.id
            )));
        }
        let started = self.create(
            NewSession {
                task: format!(
                    "{}\n\n(aside: the user accepted this plan for the task; carry it out.)\n\n{}\n",
                    record.task,
                    plan.trim()
                ),
                agent: record.agent.clone(),
                mode: Mode::Isolated,
                base: None,
                name: None,
                approve: None,
                dir: record.repo.clone(),
                kind: SessionKind::Task,
                model: None,
                title: Some(record.task.lines().next().unwrap_or_default().to_string()),
                no_submodules: record.settings.no_submodules,
                sandbox: record.settings.sandbox,
                budget: record.settings.budget,
                from: Some(record.id.clone()),
            },
            config,
        )?;
        let _ = self.stop(record);
        self.archive(record, true)?;
        Ok(started)
    }

    /// Forks a session: a new isolated task session that goes on from its conversation (`extra`
    /// added); the session itself stays as it is.
    pub fn fork(
        &self,
        record: &SessionRecord,
        extra: Option<&str>,
        config: &Config,
    ) -> Result<SessionRecord> {
        self.continue_in_background(record, extra, config, false)
    }

    /// Hands a chat on to a new isolated task session and stops the chat: the background agent
    /// goes on with the chat's own agent session where the agent can load it (the chat no
    /// longer writes to it), else with a transcript.
    pub fn hand_off(
        &self,
        record: &SessionRecord,
        extra: Option<&str>,
        config: &Config,
    ) -> Result<SessionRecord> {
        self.stop(record)?;
        self.continue_in_background(record, extra, config, true)
    }

    pub(crate) fn continue_in_background(
        &self,
        record: &SessionRecord,
        extra: Option<&str>,
        config: &Config,
        take_over: bool,
    ) -> Result<SessionRecord> {
        let conversation =
            import::from_aside_log(&aside_store::EventLog::open(&self.layout, &record.id)?)?;
        if conversation.turns.is_empty() {
            return Err(OpError::Refused(format!(
                "session {} has no conversation yet to continue",
                record.id
            )));
        }
        let extra = extra.filter(|e| !e.trim().is_empty());
        let title = match extra {
            Some(extra) => extra.lines().next().unwrap_or_default().to_string(),
            None => format!("Continue: {}", record.title),
        };
        let transcript = conversation.handoff_prompt(extra, HANDOFF_CHARS);
        let new = |task: String| NewSession {
            task,
            agent: record.agent.clone(),
            mode: Mode::Isolated,
            base: None,
            name: None,
            approve: None,
            dir: record.repo.clone(),
            kind: SessionKind::Task,
            model: None,
            title: Some(title.clone()),
            no_submodules: record.settings.no_submodules,
            sandbox: record.settings.sandbox,
            budget: record.settings.budget,
            from: Some(record.id.clone()),
        };
        // The agent takes the conversation as its own where it can: the built-in agent a copy of
        // its stored session, other agents (once the chat has stopped) the chat's own session,
        // loaded in the new worktree. The model sees the same messages (tool calls and results
        // included), not a transcript of them; the transcript is kept for an agent that then
        // fails to load it.
        let copy = self.copy_builtin_session(record);
        let own = match &copy {
            Some(copy) => Some(copy.clone()),
            None if take_over => record.acp_session_id.clone(),
            None => None,
        };
        let Some(own) = own else {
            return self.create(new(transcript), config);
        };
        let task = match extra {
            Some(extra) => format!("{FORK_NOTE}\n\n{extra}"),
            None => FORK_NOTE.to_string(),
        };
        let created = self.create_with(
            new(task),
            config,
            Some(TakeOver {
                agent_session: Some(own),
                transcript: Some(transcript),
                history: Vec::new(),
                start: None,
            }),
        );
        if let (Err(_), Some(copy)) = (&created, copy) {
            let _ = std::fs::remove_dir_all(
                aside_core::paths::agent_store(&self.layout.home).join(copy),
            );
        }
        created
    }

    /// A copy, under a new id, of the built-in agent's stored session behind `record`, in code
    /// mode; None when `record` is not a built-in agent session with a stored conversation.
    pub(crate) fn copy_builtin_session(&self, record: &SessionRecord) -> Option<String> {
        if record.agent != aside_core::agents::BUILTIN {
            return None;
        }
        let store = aside_core::paths::agent_store(&self.layout.home);
        let from = store.join(record.acp_session_id.as_deref()?);
        let mut meta: serde_json::Value =
            serde_json::from_slice(&std::fs::read(from.join("meta.json")).ok()?).ok()?;
        let messages = std::fs::read(from.join("messages.json")).ok()?;
        // The agent's ids are its own (32 characters of [0-9a-z]); four random aside ids make one.
        let id = format!(
            "{}{}{}{}",
            SessionId::random(),
            SessionId::random(),
            SessionId::random(),
            SessionId::random()
        );
        let to = store.join(&id);
        std::fs::create_dir(&to).ok()?;
        meta["id"] = id.clone().into();
        meta["mode"] = "code".into();
        let copied = std::fs::write(to.join("meta.json"), serde_json::to_vec_pretty(&meta).ok()?)
            .and_then(|()| std::fs::write(to.join("messages.json"), &messages))
            .and_then(|()| {
                match std::fs::copy(from.join("updates.jsonl"), to.join("updates.jsonl")) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                    _ => Ok(()),
                }
            });
        if copied.is_err() {
            let _ = std::fs::remove_dir_all(&to);
            return None;
        }
        Some(id)
    }
}
