//! Driving a session through its host: follow-ups, resume, stop, cancel, answers and modes.

use super::*;

impl Sessions {
    /// Sends `request` to the session's running host; Ok with the host's note for the user.
    pub(crate) fn request(
        &self,
        record: &SessionRecord,
        request: Request,
        nothing: &str,
    ) -> Result<Option<String>> {
        self.request_with(record, request, nothing, |reason| reason)
    }

    /// [`Sessions::request`], the host's refusal worded by `refused`.
    pub(crate) fn request_with(
        &self,
        record: &SessionRecord,
        request: Request,
        nothing: &str,
        refused: impl FnOnce(String) -> String,
    ) -> Result<Option<String>> {
        match client::send(&self.layout, &record.id, request) {
            Ok(message) => Ok(message),
            Err(ClientError::NoHost | ClientError::Gone) => {
                let record = self
                    .index
                    .get(&record.id)?
                    .unwrap_or_else(|| record.clone());
                Err(OpError::Refused(format!(
                    "session {} has no running host (it is {}); {nothing}",
                    record.id,
                    self.status(&record)
                )))
            }
            Err(ClientError::Refused(reason)) => Err(OpError::Refused(refused(reason))),
            Err(e @ ClientError::Io(_)) => Err(OpError::Internal(format!(
                "{e}; see {} and try again",
                self.layout.host_log(&record.id).display()
            ))),
        }
    }

    /// Waits (up to 15 s) until the session's host has exited.
    pub(crate) fn wait_host_gone(&self, record: &SessionRecord) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(15);
        while self.host_alive(record) {
            if Instant::now() > deadline {
                return Err(OpError::Internal(format!(
                    "the host of session {} did not stop within 15 s; see {}",
                    record.id,
                    self.layout.host_log(&record.id).display()
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// Starts a new host for an existing session, with the agent command as the current config
    /// names it (a user who fixed their config gets the fixed agent).
    pub(crate) fn restart_host(&self, record: &SessionRecord, config: &Config) -> Result<()> {
        if self.index.get(&record.id)?.map(|r| r.status) == Some(Status::InTerminal) {
            if self.terminal_alive(record) {
                return Err(OpError::Refused(format!(
                    "session {} is open in {}'s own CLI; quit it there first (two writers would corrupt it)",
                    record.id, record.agent
                )));
            }
            // Its CLI ended without aside seeing it: take back what it did.
            self.back_from_terminal(record)?;
        }
        let exe = exe()?;
        if let Ok(command) =
            aside_core::agents::agent_command(&record.agent, config, &exe.display().to_string())
        {
            if command != record.agent_command {
                self.index
                    .update(&record.id, Change::AgentCommand(&command))?;
            }
        }
        self.start_host(record)
    }

    /// A follow-up. A session without a running host (finished and idle, failed, interrupted)
    /// gets a new one, which continues the agent session and then takes the follow-up; a host
    /// that was just going idle is waited for and replaced. The follow-up is never lost.
    pub fn send(&self, record: &SessionRecord, text: &str, config: &Config) -> Result<()> {
        // One id for every try, so the host takes the follow-up once even when a host died
        // after storing it but before answering.
        let request = format!("{}-{}", SessionId::random(), std::process::id());
        self.send_as(record, text, &request, config)
    }

    /// [`Sessions::send`] with the client's own id for the follow-up (kept in its stored
    /// prompt): an AHP client names the turn it already shows.
    pub fn send_as(
        &self,
        record: &SessionRecord,
        text: &str,
        request: &str,
        config: &Config,
    ) -> Result<()> {
        if text.trim().is_empty() {
            return Err(OpError::Refused(
                "the message is empty: say what the agent should do next".into(),
            ));
        }
        let request = Request::Prompt {
            text: text.to_string(),
            request: Some(request.to_string()),
        };
        let stored = self.index.get(&record.id)?;
        // A session stopped at its budget takes no more until it is given more: said now, not
        // after a host that would stop at once.
        if let Some(reason) = stored
            .as_ref()
            .and_then(|r| aside_core::usage::budget_for(r, config).reached(&r.usage))
        {
            return Err(OpError::Refused(format!(
                "session {} stopped at its budget ({reason}): `aside resume {} --budget …` gives it more, then send the message again",
                record.id, record.id
            )));
        }
        match stored.map(|r| r.status) {
            // A failed session is resumed with the current settings, then takes the message.
            Some(Status::Failed) if self.host_alive(record) => {
                self.stop(record)?;
            }
            // An interrupted one's host is on its way out.
            Some(Status::Interrupted) => self.wait_host_gone(record)?,
            _ => {}
        }
        for _ in 0..3 {
            if !self.host_alive(record) {
                self.restart_host(record, config)?;
            }
            match client::send(&self.layout, &record.id, request.clone()) {
                Ok(_) => return Ok(()),
                // The host stopped or died under the request: a new one takes it (once).
                Err(ClientError::NoHost | ClientError::Gone | ClientError::Io(_)) => {
                    self.wait_host_gone(record)?
                }
                Err(ClientError::Refused(reason)) => return Err(OpError::Refused(reason)),
            }
        }
        Err(OpError::Internal(format!(
            "the host of session {} kept stopping before it took the follow-up; see {}",
            record.id,
            self.layout.host_log(&record.id).display()
        )))
    }

    /// Keeps `record`'s settings (a new budget, before `resume`).
    pub fn set_settings(&self, record: &SessionRecord) -> Result<()> {
        self.index
            .update(&record.id, Change::Settings(&record.settings))?;
        Ok(())
    }

    /// Starts a new host for a session that has none: an interrupted or failed session
    /// continues its unfinished turn, a finished one waits for follow-ups. Re-reads the config
    /// (agent command) and uses this process's environment (model settings, keys).
    pub fn resume(&self, record: &SessionRecord, config: &Config) -> Result<()> {
        if self.host_alive(record) {
            let stored = self.index.get(&record.id)?.map(|r| r.status);
            match stored {
                // The agent that failed runs with the old settings: replace it.
                Some(Status::Failed) => {
                    self.stop(record)?;
                }
                // Its host recorded the interruption and is on its way out.
                Some(Status::Interrupted) => self.wait_host_gone(record)?,
                _ => {}
            }
        }
        if self.host_alive(record) {
            let status = self.status(record);
            return Err(OpError::Refused(if status.is_active() {
                format!("session {} is {status}; nothing to resume", record.id)
            } else {
                format!(
                    "session {} is {status} and its agent is still running, waiting for a follow-up (aside send {} \"...\"); nothing to resume",
                    record.id, record.id
                )
            }));
        }
        self.restart_host(record, config)
    }

    /// Stops the session's host and agent now, losing nothing: the session keeps its status, or
    /// becomes `interrupted` (resumable) mid-turn. Ok(false) when no host was running.
    pub fn stop(&self, record: &SessionRecord) -> Result<bool> {
        if !self.host_alive(record) {
            return Ok(false);
        }
        match client::send(&self.layout, &record.id, Request::Stop) {
            Ok(_) | Err(ClientError::Gone | ClientError::NoHost) => {}
            Err(ClientError::Refused(reason)) => return Err(OpError::Refused(reason)),
            Err(e @ ClientError::Io(_)) => return Err(OpError::Internal(e.to_string())),
        }
        self.wait_host_gone(record)?;
        Ok(true)
    }

    /// Switches the agent's session mode (`plan`, `code`, or a mode id it offers); Ok with what
    /// the host says.
    pub fn set_mode(&self, record: &SessionRecord, mode: &str) -> Result<Option<String>> {
        self.request(
            record,
            Request::SetMode {
                mode: mode.to_string(),
            },
            "send a message first, then switch",
        )
    }

    /// Cancels the current turn; Ok with a note when queued follow-ups were dropped.
    pub fn cancel(&self, record: &SessionRecord) -> Result<Option<String>> {
        self.request(record, Request::Cancel, "nothing to cancel")
    }

    /// Answers the pending permission request.
    pub fn answer(&self, record: &SessionRecord, choice: Choice) -> Result<()> {
        // The host's refusal is said of this session (an answer names no session otherwise).
        self.request_with(
            record,
            Request::Answer { choice },
            "nothing is waiting for an answer",
            |reason| format!("session {}: {reason}", record.id),
        )
        .map(|_| ())
    }

    pub(crate) fn refuse_while_working(&self, record: &SessionRecord) -> Result<()> {
        let status = self.status(record);
        if matches!(
            status,
            Status::Running | Status::NeedsInput | Status::Starting
        ) {
            return Err(OpError::Refused(format!(
                "session {} is still working ({status}); wait for the turn to end, or `aside cancel {}`",
                record.id, record.id
            )));
        }
        Ok(())
    }
}
