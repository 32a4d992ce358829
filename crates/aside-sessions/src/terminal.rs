//! A session handed to its agent's own terminal UI and taken back (`aside attach --native`):
//! one writer at a time. Its host stops first; while the CLI runs the session is `in_terminal`
//! (the CLI's pid in `sessions/<id>/terminal.pid`); when the CLI exits, the turns it added are
//! read back from the agent's own session file into the session's events, and the next host
//! loads the agent session as usual.

use crate::external::{self, Tool};
use crate::{OpError, Result, Sessions};
use aside_core::{SessionRecord, Status};
use aside_store::Change;
use std::path::PathBuf;

/// The tool behind agent preset `agent`, for those with a terminal UI of their own.
pub fn tool_of(agent: &str) -> Option<Tool> {
    match agent {
        "copilot" => Some(Tool::Copilot),
        "codex" => Some(Tool::Codex),
        "claude" => Some(Tool::Claude),
        _ => None,
    }
}

impl Sessions {
    fn terminal_pid_file(&self, record: &SessionRecord) -> PathBuf {
        self.layout.session_dir(&record.id).join("terminal.pid")
    }

    fn terminal_offset_file(&self, record: &SessionRecord) -> PathBuf {
        self.layout.session_dir(&record.id).join("terminal.offset")
    }

    /// Whether the agent's own CLI that has the session still runs.
    pub fn terminal_alive(&self, record: &SessionRecord) -> bool {
        std::fs::read_to_string(self.terminal_pid_file(record))
            .ok()
            .and_then(|pid| pid.trim().parse::<i32>().ok())
            .and_then(aside_core::process::process)
            .is_some()
    }

    /// The command that opens agent session `record`'s agent's own CLI on it, and where.
    pub fn native_command(&self, record: &SessionRecord) -> Result<(Vec<String>, PathBuf)> {
        let Some(tool) = tool_of(&record.agent) else {
            return Err(OpError::Refused(format!(
                "agent `{}` has no terminal UI of its own that aside knows; `aside attach {}` shows the session live here",
                record.agent, record.id
            )));
        };
        let Some(agent_session) = record.acp_session_id.as_deref() else {
            return Err(OpError::Refused(format!(
                "session {} has no agent session yet (its agent never started); send it a message first",
                record.id
            )));
        };
        let summary = self.agent_file(record).map(|f| f.summary);
        let command = tool.resume_command(
            agent_session,
            &summary.unwrap_or_else(|| external::Summary {
                id: agent_session.to_string(),
                cwd: record.worktree.clone(),
                title: String::new(),
                branch: None,
                created_at: None,
                client: None,
            }),
        );
        if aside_core::agents::find_program(&command[0]).is_none() {
            return Err(OpError::Refused(format!(
                "`{}` is not on PATH: install {}'s own CLI ({}) to open the session in it",
                command[0],
                record.agent,
                match tool {
                    Tool::Copilot => "npm install -g @github/copilot",
                    Tool::Codex => "npm install -g @openai/codex",
                    Tool::Claude => "npm install -g @anthropic-ai/claude-code",
                }
            )));
        }
        Ok((command, record.worktree.clone()))
    }

    /// The agent's own file of `record`'s agent session, found among the tools' sessions.
    fn agent_file(&self, record: &SessionRecord) -> Option<external::External> {
        let id = record.acp_session_id.as_deref()?;
        external::scan(
            &external::Homes::from_env(),
            &self.layout.home.join("external-sessions.json"),
        )
        .into_iter()
        .find(|s| s.summary.id == id && tool_of(&record.agent) == Some(s.tool))
    }

    /// Stops the session's host and marks it `in_terminal`, held by process `pid` (the CLI,
    /// or the aside process waiting for it). A session at work is refused.
    pub fn hand_to_terminal(&self, record: &SessionRecord, pid: u32, command: &str) -> Result<()> {
        let status = self.status(record);
        if matches!(
            status,
            Status::Running | Status::NeedsInput | Status::Starting | Status::Queued
        ) {
            return Err(OpError::Refused(format!(
                "session {} is {status}; wait for its turn to end (or aside cancel {}) before opening it in {}",
                record.id, record.id, record.agent
            )));
        }
        if status == Status::InTerminal {
            return Err(OpError::Refused(format!(
                "session {} is open in {}'s own CLI already; quit it there first",
                record.id, record.agent
            )));
        }
        self.stop(record)?;
        // Where the agent's file ends now: what the CLI adds comes after.
        let offset = self
            .agent_file(record)
            .and_then(|f| std::fs::metadata(&f.file).ok())
            .map(|m| m.len());
        std::fs::write(
            self.terminal_offset_file(record),
            offset.map(|o| o.to_string()).unwrap_or_default(),
        )
        .ok();
        let pid_file = self.terminal_pid_file(record);
        std::fs::create_dir_all(self.layout.session_dir(&record.id))
            .and_then(|()| std::fs::write(&pid_file, pid.to_string()))
            .map_err(|e| OpError::Internal(format!("cannot write {}: {e}", pid_file.display())))?;
        self.index.set_status(
            &record.id,
            Status::InTerminal,
            Some(&format!("open in {}'s own CLI: {command}", record.agent)),
        )?;
        Ok(())
    }

    /// Records that process `pid` (the CLI itself, once started) has the session.
    pub fn set_terminal_pid(&self, record: &SessionRecord, pid: u32) -> Result<()> {
        let pid_file = self.terminal_pid_file(record);
        std::fs::write(&pid_file, pid.to_string())
            .map_err(|e| OpError::Internal(format!("cannot write {}: {e}", pid_file.display())))
    }

    /// Takes a session back from its agent's own CLI: the turns the CLI added are read from
    /// the agent's file into the session's events; the session rests, `completed`. Ok with
    /// how many messages the user sent there.
    pub fn back_from_terminal(&self, record: &SessionRecord) -> Result<usize> {
        let log = aside_store::EventLog::open(&self.layout, &record.id)?;
        let offset: Option<u64> = std::fs::read_to_string(self.terminal_offset_file(record))
            .ok()
            .and_then(|o| o.trim().parse().ok());
        let mut added = 0;
        if let Some(file) = self.agent_file(record) {
            let bytes = std::fs::read(&file.file).unwrap_or_default();
            // What the CLI appended (the whole file when aside did not see where it ended; then
            // the turns aside has already are skipped by count).
            let (from, skip) = match offset {
                Some(o) if o <= bytes.len() as u64 => (o as usize, 0),
                _ => (0, crate::import::from_aside_log(&log)?.turns.len()),
            };
            let format = match file.tool {
                Tool::Copilot => crate::import::Format::CopilotCli,
                Tool::Codex => crate::import::Format::Codex,
                Tool::Claude => crate::import::Format::ClaudeCode,
            };
            let (conversation, _) = crate::import::read_tool_lines(&bytes[from..], format);
            let newer = crate::import::Conversation {
                source: conversation.source,
                title: None,
                turns: conversation
                    .turns
                    .into_iter()
                    .skip(skip)
                    // The CLI's own commands (`/exit`, `/model …`) are not the conversation.
                    .filter(|t| !(t.role == crate::import::Role::User && t.text.starts_with('/')))
                    .collect(),
            };
            added = newer
                .turns
                .iter()
                .filter(|t| t.role == crate::import::Role::User)
                .count();
            for (kind, data) in newer.to_events() {
                log.append(kind, &data)?;
            }
        }
        let _ = std::fs::remove_file(self.terminal_offset_file(record));
        let _ = std::fs::remove_file(self.terminal_pid_file(record));
        let files = self.changed_files(record);
        self.index.update(
            &record.id,
            Change::Changes {
                files: files.len() as u64,
                added: files.iter().map(|f| f.added).sum(),
                removed: files.iter().map(|f| f.removed).sum(),
            },
        )?;
        self.index.set_status(&record.id, Status::Completed, None)?;
        Ok(added)
    }
}
