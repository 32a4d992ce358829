//! Making a session: checked, recorded, its ports chosen, its host started.

use super::*;

impl Sessions {
    /// A block of ports no other session has (`PORT_BLOCK` ports from 20000 up), with the lock
    /// that keeps it so until the new session is in the index (two new sessions never take the
    /// same block).
    pub(crate) fn allocate_ports(&self) -> Result<((u16, u16), std::fs::File)> {
        let lock_path = self.layout.home.join("ports.lock");
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| OpError::Internal(format!("cannot open {}: {e}", lock_path.display())))?;
        let deadline = Instant::now() + Duration::from_secs(5);
        while !aside_core::process::try_flock(&lock, true) {
            if Instant::now() > deadline {
                return Err(OpError::Internal(format!(
                    "{} stays locked",
                    lock_path.display()
                )));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let taken: std::collections::HashSet<u16> = self
            .index
            .list(true)?
            .iter()
            .filter_map(|r| r.settings.ports.map(|(first, _)| first))
            .collect();
        let first = (0..)
            .map(|n: u16| PORT_BASE + n * PORT_BLOCK)
            .take_while(|p| *p < u16::MAX - PORT_BLOCK)
            .find(|p| !taken.contains(p))
            .ok_or_else(|| OpError::Refused("no free port range left for a new session".into()))?;
        Ok(((first, first + PORT_BLOCK - 1), lock))
    }

    /// Starts the session's host, detached, and waits (up to 10 s) until it holds its lock and
    /// answers on its socket, or has already finished (a session that fails at once).
    pub fn start_host(&self, record: &SessionRecord) -> Result<()> {
        let mut child = aside_host::spawn(&self.layout, &record.id, &exe()?)
            .map_err(|e| OpError::Internal(format!("cannot start the session's host: {e}")))?;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if std::os::unix::net::UnixStream::connect(self.layout.socket(&record.id)).is_ok() {
                return Ok(());
            }
            if let Ok(Some(_)) = child.try_wait() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(OpError::Internal(format!(
                    "the host of session {} did not start; see {}",
                    record.id,
                    self.layout.host_log(&record.id).display()
                )));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Records a new session and starts its host.
    pub fn create(&self, new: NewSession, config: &Config) -> Result<SessionRecord> {
        self.create_with(new, config, None)
    }

    /// Creates a session whose agent goes on with an agent session of its own (ACP
    /// session/resume or session/load) instead of a new one.
    pub(crate) fn create_with(
        &self,
        new: NewSession,
        config: &Config,
        takes_over: Option<TakeOver>,
    ) -> Result<SessionRecord> {
        let history = takes_over.as_ref().map_or(&[][..], |t| &t.history[..]);
        if new.task.trim().is_empty() && new.kind != SessionKind::Chat && history.is_empty() {
            return Err(OpError::Refused(
                "the task is empty: say what the agent should do, e.g. aside new \"fix the failing test\"".into(),
            ));
        }
        let exe = exe()?;
        let agent_command =
            aside_core::agents::agent_command(&new.agent, config, &exe.display().to_string())
                .map_err(OpError::Refused)?;
        aside_core::agents::check_installed(&new.agent, &agent_command)
            .map_err(OpError::Refused)?;
        let dir = new
            .dir
            .canonicalize()
            .map_err(|_| OpError::Refused(format!("{} does not exist", new.dir.display())))?;
        aside_git::whole_path(&dir)?;
        // Asked once: for the trust check here and the session's repository below.
        let repo_root = match new.mode {
            Mode::Isolated => aside_git::main_repo_root(&dir),
            Mode::Workspace => aside_git::repo_root(&dir),
        };
        if let Ok(root) = &repo_root {
            self.check_trusted(root, Commands::Setup)?;
        }
        let approve = new
            .approve
            .unwrap_or_else(|| Approve::default_for(new.mode));
        let mut id = SessionId::random();
        while self.index.get(&id)?.is_some() {
            id = SessionId::random();
        }
        // Until the session is in the index, a failure (a full disk) takes what was made for it
        // away again: no half-made session is left behind.
        let mut unmade = Unmade(Some(self.layout.session_dir(&id)));
        let settings = aside_core::Settings {
            // Chosen last, under a lock held until the record is in the index.
            ports: None,
            model: new
                .model
                .as_deref()
                .map(str::trim)
                .filter(|m| !m.is_empty())
                .map(str::to_string),
            no_submodules: new.no_submodules,
            sandbox: new.sandbox,
            budget: new.budget,
            from: new.from,
            start: takes_over.as_ref().and_then(|t| t.start.clone()),
        };
        if let Some(transcript) = takes_over.as_ref().and_then(|t| t.transcript.as_ref()) {
            std::fs::create_dir_all(self.layout.session_dir(&id))
                .and_then(|()| std::fs::write(self.layout.handoff(&id), transcript))
                .map_err(|e| {
                    OpError::Internal(format!(
                        "cannot write {}: {e}",
                        self.layout.handoff(&id).display()
                    ))
                })?;
        }
        let title: String = new
            .title
            .as_deref()
            .unwrap_or(&new.task)
            .lines()
            .next()
            .unwrap_or_default()
            .trim()
            .chars()
            .take(100)
            .collect();
        let (repo, worktree, branch, base) = match new.mode {
            Mode::Isolated => {
                // Inside a session's worktree (or any linked worktree) the session still
                // belongs to the main repository, starting from where the user is.
                let repo = repo_root.as_ref().cloned().map_err(|_| {
                    OpError::Refused(format!(
                        "{} is not inside a git repository; isolated sessions need one. Run aside in a repository, pass --repo DIR, or use --workspace",
                        dir.display()
                    ))
                })?;
                let base_ref = new.base.as_deref().unwrap_or("HEAD");
                let base = aside_git::resolve_commit(&dir, base_ref).map_err(|_| {
                    OpError::Refused(if new.base.is_some() {
                        format!("--base {base_ref} is not a commit in {}", repo.display())
                    } else {
                        format!("{} has no commits yet; make a first commit (the worktree starts from it) or use --workspace", repo.display())
                    })
                })?;
                let name = match &new.name {
                    Some(name) if !valid_name(name) => {
                        return Err(OpError::Refused(format!(
                            "invalid --name `{name}`: use letters, digits, '-', '_' and '.' (it names a branch and a directory)"
                        )))
                    }
                    Some(name) => name.clone(),
                    None => format!(
                        "{}-{}",
                        slug(new.title.as_deref().unwrap_or(&new.task)),
                        &id.as_str()[..4]
                    ),
                };
                let branch = format!("aside/{name}");
                let worktree = aside_git::worktree_path(&repo, &name);
                if aside_git::branch_exists(&repo, &branch) {
                    return Err(OpError::Refused(format!(
                        "branch {branch} already exists in {}; choose another --name",
                        repo.display()
                    )));
                }
                if worktree.exists() {
                    return Err(OpError::Refused(format!(
                        "{} already exists; choose another --name",
                        worktree.display()
                    )));
                }
                (repo, worktree, Some(branch), Some(base))
            }
            Mode::Workspace => {
                let repo = repo_root.as_ref().cloned().unwrap_or_else(|_| dir.clone());
                // The working state as the session found it (the user's own uncommitted work
                // included), so diffs and counts show only what the agent changed.
                let base = aside_git::snapshot_commit(&repo, id.as_str()).ok();
                (repo.clone(), repo, None, base)
            }
        };
        let now = aside_core::now();
        let record = SessionRecord {
            id,
            title,
            task: new.task,
            agent: new.agent,
            agent_command,
            mode: new.mode,
            approve,
            status: Status::Queued,
            reason: None,
            repo,
            worktree,
            branch,
            base,
            created_at: now.clone(),
            updated_at: now,
            archived: false,
            pending_permission: false,
            changed_files: 0,
            lines_added: 0,
            lines_removed: 0,
            acp_session_id: takes_over.as_ref().and_then(|t| t.agent_session.clone()),
            integrated: None,
            kind: new.kind,
            settings,
            usage: Default::default(),
        };
        if let Some(agent_session) = takes_over.as_ref().and_then(|t| t.agent_session.as_ref()) {
            takeover::prepare(&record.agent, agent_session, &record.worktree);
        }
        let mut record = record;
        if !history.is_empty() {
            // The conversation so far, as the session's own first events; with no task of its
            // own the session rests until a follow-up.
            let log = aside_store::EventLog::open(&self.layout, &record.id)?;
            for (kind, data) in history {
                log.append(kind, data)?;
            }
            if record.task.trim().is_empty() {
                record.status = Status::Completed;
            }
        }
        let (ports, ports_lock) = self.allocate_ports()?;
        record.settings.ports = Some(ports);
        self.index.insert(&record)?;
        drop(ports_lock);
        unmade.0 = None;
        // Waits until the host holds its lock, so no reader sees the session without one.
        self.start_host(&record)?;
        Ok(record)
    }
}
