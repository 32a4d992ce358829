//! The sessions as the pages read and make them: the list, one session, its diff, a new
//! session, trusting a repository's commands.

use super::*;

#[derive(Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    pub(crate) all: bool,
    /// A repository whose sessions from the agents' own CLIs are listed even before aside has a
    /// session of its own there (the VS Code extension's workspace folder).
    #[serde(default)]
    pub(crate) repo: Option<std::path::PathBuf>,
}

/// `list` with each session's progress (plan steps done and in all, the last line of the
/// agent's message), read again only for the sessions that changed since last time.
pub(crate) fn list_with_progress(
    sessions: &Sessions,
    all: bool,
    cache: &std::sync::Mutex<HashMap<String, (String, Value)>>,
) -> Result<Vec<Value>, ApiError> {
    let records = sessions.index.list(all).map_err(OpError::from)?;
    with_progress(sessions, &records, cache)
}

/// These sessions' views, each with its progress (read again only when it changed).
pub(crate) fn with_progress(
    sessions: &Sessions,
    records: &[aside_core::SessionRecord],
    cache: &std::sync::Mutex<HashMap<String, (String, Value)>>,
) -> Result<Vec<Value>, ApiError> {
    let mut cache = cache
        .lock()
        .map_err(|_| internal("the progress cache is poisoned"))?;
    Ok(records
        .iter()
        .zip(sessions.views(records))
        .map(|(r, view)| {
            let mut json = serde_json::to_value(view).unwrap_or(Value::Null);
            let id = r.id.to_string();
            let progress = match cache.get(&id) {
                Some((at, progress)) if *at == r.updated_at => progress.clone(),
                _ => {
                    let (plan, line) = sessions.progress(r);
                    let progress = json!({"plan": plan.map(|(done, total)| json!({"done": done, "total": total})), "last_line": line});
                    cache.insert(id, (r.updated_at.clone(), progress.clone()));
                    progress
                }
            };
            json["plan"] = progress["plan"].clone();
            json["last_line"] = progress["last_line"].clone();
            json
        })
        .collect())
}

/// Sessions started in the agents' own CLIs in the repositories aside knows, as JSON.
pub(crate) fn externals_json(
    sessions: &Sessions,
    also: Option<&std::path::Path>,
) -> Result<Vec<Value>, ApiError> {
    let mut repos = sessions.repos()?;
    // Only a git repository's top (or a folder in one) widens the list.
    if let Some(top) = also.and_then(|dir| sessions.repo_holding(dir)) {
        if !repos.contains(&top) {
            repos.push(top);
        }
    }
    Ok(sessions
        .externals()
        .iter()
        .filter_map(|s| {
            let repo = Sessions::known_repo(&repos, &s.summary.cwd)?;
            Some(sessions.external_json(s, Some(&repo)))
        })
        .collect())
}

/// The session started elsewhere whose agent session id starts with `id`.
pub(crate) fn find_external(
    sessions: &Sessions,
    id: &str,
) -> Result<aside_sessions::external::External, ApiError> {
    aside_sessions::external::find(sessions.externals(), id).map_err(|why| ApiError {
        status: StatusCode::NOT_FOUND,
        message: why.to_string(),
        trust: None,
    })
}

pub async fn list(
    State(state): State<AppState>,
    Query(q): Query<ListQuery>,
) -> Result<Json<Vec<Value>>, ApiError> {
    let all = q.all;
    let mut list = with_sessions(&state.clone(), move |s| {
        let mut list = list_with_progress(s, q.all, &state.progress)?;
        list.extend(externals_json(s, q.repo.as_deref())?);
        Ok(list)
    })
    .await?;
    // Each configured machine's sessions, as it answers (or as last seen, marked unreachable).
    list.extend(state.machines.answered(all).await);
    Ok(Json(list))
}

pub async fn meta(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let repos = with_sessions(&state, |s| Ok(s.repos()?)).await?;
    let config = Config::load_user().unwrap_or_default();
    let exe = std::env::current_exe()
        .map(|e| e.display().to_string())
        .unwrap_or_default();
    // Installed agents first, each with how to install it when it is not.
    let found = aside_core::agents::detect_installed_first(&config, &exe);
    let agents: Vec<Value> = found
        .iter()
        .map(|a| {
            json!({"name": a.name, "installed": a.program.is_some(),
                "install": (a.program.is_none()).then(|| aside_core::agents::install_hint(&a.name))})
        })
        .collect();
    let cwd = std::env::current_dir().ok();
    let machines: Vec<&String> = config.machines.keys().collect();
    Ok(Json(
        json!({"repos": repos, "agents": agents, "default_agent": config.defaults.agent(), "cwd": cwd, "machines": machines}),
    ))
}

#[derive(Deserialize)]
pub struct CreateBody {
    task: String,
    repo: String,
    #[serde(default)]
    agent: Option<String>,
    #[serde(default)]
    mode: Option<String>,
    #[serde(default)]
    approve: Option<String>,
    /// Plan first: the agent plans in plan mode; the session page then offers Start.
    #[serde(default)]
    plan: bool,
    /// The model the agent is to use (as `aside new --model`); empty: the agent's default.
    #[serde(default)]
    model: Option<String>,
    /// Another machine to run it on (`aside new --on`); empty: this one.
    #[serde(default)]
    machine: Option<String>,
    /// Its budget, as `aside new --budget` takes it (`200k`, `$3`); empty: the config's.
    #[serde(default)]
    budget: Option<String>,
}

pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let body: CreateBody = json_body(&headers, body).await?.ok_or_else(|| {
        bad_request(
            "the request body is empty: send the new session as JSON, {\"task\": …, \"repo\": …}",
        )
    })?;
    let budget = match body.budget.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(text) => Some(aside_core::usage::Budget::parse(text).map_err(bad_request)?),
    };
    let mode_name = body.mode.as_deref().unwrap_or("isolated");
    let mode = Mode::parse(mode_name).ok_or_else(|| {
        bad_request(format!(
            "unknown mode `{mode_name}`: use isolated or workspace"
        ))
    })?;
    let approve = match body.approve.as_deref() {
        None | Some("") => None,
        Some(a) => Some(Approve::parse(a).ok_or_else(|| {
            bad_request(format!(
                "unknown approval policy `{a}`: use all, edits or ask"
            ))
        })?),
    };
    if body.repo.trim().is_empty() {
        return Err(bad_request("choose the repository the agent works in"));
    }
    let config = Config::load_user().map_err(|e| bad_request(e.to_string()))?;
    if let Some(name) = body.machine.clone().filter(|m| !m.is_empty()) {
        if mode != Mode::Isolated || body.plan {
            return Err(bad_request(
                "a session on another machine works in its own worktree there: plan first and workspace sessions run on this machine",
            ));
        }
        let what = aside_sessions::remote::StartThere {
            task: body.task,
            agent: body.agent.filter(|a| !a.is_empty()),
            approve: approve.map(|a| a.as_str().to_string()),
            model: body.model.filter(|m| !m.trim().is_empty()),
            budget: budget.map(|_| body.budget.clone().unwrap_or_default().trim().to_string()),
            ..Default::default()
        };
        return Ok(Json(
            machines::start(&config, name, body.repo.into(), what).await?,
        ));
    }
    let new = NewSession {
        task: body.task.clone(),
        agent: body
            .agent
            .filter(|a| !a.is_empty())
            .unwrap_or_else(|| config.defaults.agent()),
        mode,
        base: None,
        name: None,
        approve,
        dir: body.repo.into(),
        model: body.model.filter(|m| !m.trim().is_empty()),
        kind: if body.plan {
            aside_core::SessionKind::Plan
        } else {
            aside_core::SessionKind::Task
        },
        title: body.plan.then(|| {
            format!(
                "Plan: {}",
                body.task.lines().next().unwrap_or_default().trim()
            )
        }),
        no_submodules: false,
        sandbox: None,
        budget,
        from: None,
    };
    let record = with_sessions(&state, move |s| {
        let r = s.create(new, &config)?;
        Ok(s.json(&r))
    })
    .await?;
    Ok(Json(record))
}

pub async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    if let Some((name, machine, there)) = machines::machine_of(&id)? {
        return Ok(Json(machines::show(name, machine, there).await?));
    }
    let out = with_sessions(&state, move |s| {
        let record = match s.locate(&id)? {
            aside_sessions::Located::Own(record) => *record,
            // A session started in an agent's own CLI, read-only.
            aside_sessions::Located::External(session) => {
                let repo = Sessions::known_repo(&s.repos()?, &session.summary.cwd);
                return Ok(
                    json!({"session": s.external_json(&session, repo.as_deref()),
                    "changed_files": [], "plan": null}),
                );
            }
        };
        let files: Vec<Value> = s
            .changed_files(&record)
            .iter()
            .map(|f| json!({"path": f.path, "added": f.added, "removed": f.removed}))
            .collect();
        // A plan session carries its plan, for the page to show and start.
        let plan = if record.kind == aside_core::SessionKind::Plan {
            Some(s.plan_of(&record)?)
        } else {
            None
        };
        let config = Config::load_user().unwrap_or_default();
        let sandbox = aside_core::sandbox::describe(&config, &record.agent, record.settings.sandbox, &record.repo);
        let usage = s.usage(&record, &config);
        Ok(json!({"session": s.json(&record), "changed_files": files, "plan": plan, "sandbox": sandbox, "usage": usage}))
    })
    .await?;
    Ok(Json(out))
}

/// Splits a unified diff into one entry per file.
pub(crate) fn split_diff(diff: &str) -> Vec<Value> {
    let mut files = Vec::new();
    let mut current: Option<(String, String)> = None;
    for line in diff.lines() {
        if let Some(rest) = line.strip_prefix("diff --git ") {
            if let Some((path, patch)) = current.take() {
                files.push((path, patch));
            }
            let path = rest.split(" b/").last().unwrap_or(rest).to_string();
            current = Some((path, String::new()));
        }
        if let Some((_, patch)) = current.as_mut() {
            patch.push_str(line);
            patch.push('\n');
        }
    }
    if let Some(last) = current {
        files.push(last);
    }
    files
        .into_iter()
        .map(|(path, patch)| {
            let added = patch
                .lines()
                .filter(|l| l.starts_with('+') && !l.starts_with("+++"))
                .count();
            let removed = patch
                .lines()
                .filter(|l| l.starts_with('-') && !l.starts_with("---"))
                .count();
            json!({"path": path, "added": added, "removed": removed, "patch": patch})
        })
        .collect()
}

pub async fn diff(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    if let Some((name, machine, there)) = machines::machine_of(&id)? {
        return Ok(Json(machines::diff(name, machine, there).await?));
    }
    let files = with_sessions(&state, move |s| {
        let record = s.resolve(&id)?;
        Ok(split_diff(&s.diff(&record, false)?))
    })
    .await?;
    Ok(Json(json!({"files": files})))
}

/// `POST /api/trust`: the user trusts what a repository's `.aside.toml` asks, exactly as the
/// page showed it (`asks`, from the error that offered it); a file changed since is refused, so
/// nothing is trusted unseen.
#[derive(serde::Deserialize)]
pub struct TrustBody {
    repo: String,
    asks: aside_core::trust::Asks,
}

pub async fn trust(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let body: TrustBody = json_body(&headers, body)
        .await?
        .ok_or_else(|| bad_request("send {\"repo\": …, \"asks\": …} as shown"))?;
    let out = with_sessions(&state, move |s| {
        let repo = std::path::PathBuf::from(&body.repo)
            .canonicalize()
            .map_err(|_| bad_request(format!("{} does not exist", body.repo)))?;
        let config = aside_core::config::RepoConfig::load(&repo)
            .map_err(|e| bad_request(e.to_string()))?;
        if aside_core::trust::Asks::of(&config) != body.asks {
            return Err(OpError::Refused(format!(
                "{}/.aside.toml changed since it was shown; nothing was trusted: try again to see it as it is now",
                repo.display()
            ))
            .into());
        }
        s.trust()
            .trust(&repo, &body.asks)
            .map_err(|e| internal(format!("cannot record the trust: {e}")))?;
        Ok(json!({"trusted": repo}))
    })
    .await?;
    Ok(Json(out))
}
