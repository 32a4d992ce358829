//! What a page does to a session: every action takes the path the CLI takes.

use super::*;

#[derive(Deserialize, Default)]
pub struct ActionBody {
    #[serde(default)]
    text: String,
    #[serde(default)]
    always: bool,
    #[serde(default)]
    squash: bool,
    #[serde(default)]
    force: bool,
}

/// What `POST /api/sessions/<id>/<action>` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    Prompt,
    Cancel,
    Stop,
    Resume,
    Approve,
    Deny,
    Apply,
    Merge,
    Archive,
    Unarchive,
    Remove,
    Start,
    Fork,
    Adopt,
    Open,
}

impl Action {
    /// Every action, by the name the path gives it.
    const ALL: [(&'static str, Action); 15] = [
        ("prompt", Action::Prompt),
        ("cancel", Action::Cancel),
        ("stop", Action::Stop),
        ("resume", Action::Resume),
        ("approve", Action::Approve),
        ("deny", Action::Deny),
        ("apply", Action::Apply),
        ("merge", Action::Merge),
        ("archive", Action::Archive),
        ("unarchive", Action::Unarchive),
        ("remove", Action::Remove),
        ("start", Action::Start),
        ("fork", Action::Fork),
        ("adopt", Action::Adopt),
        ("open", Action::Open),
    ];

    fn parse(name: &str) -> Result<Action, ApiError> {
        Action::ALL
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, a)| *a)
            .ok_or_else(|| {
                bad_request(format!(
                    "unknown action `{name}`: use one of {}",
                    Action::ALL
                        .iter()
                        .map(|(n, _)| *n)
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })
    }

    /// Whether it may start a host (an agent command) or an editor: those read the config.
    fn reads_config(self) -> bool {
        matches!(
            self,
            Action::Prompt
                | Action::Resume
                | Action::Start
                | Action::Fork
                | Action::Open
                | Action::Adopt
        )
    }
}

pub async fn action(
    State(state): State<AppState>,
    Path((id, action)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let action = Action::parse(&action)?;
    let body: ActionBody = json_body(&headers, body).await?.unwrap_or_default();
    if let Some((name, machine, there)) = super::machines::machine_of(&id)? {
        return Ok(Json(
            super::machines::act(
                &state,
                name,
                machine,
                there,
                action,
                body.text,
                body.always,
                body.squash,
            )
            .await?,
        ));
    }
    let config = if action.reads_config() {
        Config::load_user().map_err(|e| bad_request(e.to_string()))?
    } else {
        Config::default()
    };
    let out = with_sessions(&state, move |s| {
        if action == Action::Adopt {
            // A session started in an agent's own CLI becomes an aside session.
            let session = find_external(s, &id)?;
            let record = s.adopt(&session, Mode::Workspace, body.force, &config)?;
            return Ok(json!({"id": record.id}));
        }
        let record = s.resolve(&id)?;
        let result = match action {
            Action::Prompt => s.send(&record, &body.text, &config).map(|_| json!({})),
            Action::Cancel => s
                .cancel(&record)
                .map(|message| json!({"message": message})),
            Action::Stop => s.stop(&record).map(|stopped| json!({"stopped": stopped})),
            Action::Resume => s.resume(&record, &config).map(|_| json!({})),
            Action::Approve => s
                .answer(
                    &record,
                    if body.always {
                        Choice::AllowAlways
                    } else {
                        Choice::Allow
                    },
                )
                .map(|_| json!({})),
            Action::Deny => s.answer(&record, Choice::Deny).map(|_| json!({})),
            Action::Apply => s.apply(&record).and_then(|outcome| {
                let mut out = match outcome {
                    Outcome::Done(files) => json!({"files": files}),
                    Outcome::Nothing => json!({"files": [], "message": "Nothing to apply: the session changed no files"}),
                    Outcome::Already => json!({"files": [], "message": "Already applied: your workspace already has these changes"}),
                };
                // Edits inside submodules are said, never silently dropped.
                let (inside, command) = s.left_in_submodules(&record)?;
                if !inside.is_empty() {
                    let applied = out["files"].as_array().map_or(0, Vec::len);
                    out["message"] = json!(format!(
                        "Applied {applied} file(s). Not applied: {} inside submodules ({}); bring them into your checkout with: {command}",
                        inside.len(),
                        inside.join(", ")
                    ));
                }
                Ok(out)
            }),
            Action::Merge => s.merge(&record, body.squash).map(|outcome| match outcome {
                Outcome::Done(commit) => json!({"commit": commit}),
                Outcome::Nothing => json!({"message": "Nothing to merge: the session changed no files"}),
                Outcome::Already => json!({"message": "Already merged"}),
            }),
            Action::Archive => s.archive(&record, true).map(|_| json!({})),
            Action::Unarchive => s.archive(&record, false).map(|_| json!({})),
            Action::Remove => s.remove(&record, body.force, false).map(|_| json!({})),
            // A finished plan starts its task; `text` is the plan as the user edited it.
            Action::Start => s
                .start_plan(&record, Some(body.text.clone()), &config)
                .map(|started| json!({"id": started.id})),
            // A new session continues this one's conversation; `text`: what to do next.
            Action::Fork => s
                .fork(&record, Some(body.text.as_str()), &config)
                .map(|started| json!({"id": started.id})),
            // The worktree in a GUI editor on this machine: the server has no terminal.
            Action::Open => open_in_editor(&record, &config),
            // Answered above, before an aside session is looked up.
            Action::Adopt => Err(OpError::Refused(format!("{} is already an aside session", record.id))),
        };
        Ok(result?)
    })
    .await?;
    Ok(Json(out))
}

/// Starts the configured (or a GUI) editor on the session's worktree, detached.
pub(crate) fn open_in_editor(
    record: &aside_core::SessionRecord,
    config: &Config,
) -> Result<Value, OpError> {
    use aside_sessions::editor::{self, Environment, Terminal};
    let dir = editor::worktree(record)?;
    let editor = editor::choose(&config.editor, &Environment::current(), Terminal::Absent)?;
    editor.spawn_detached(dir)?;
    Ok(json!({
        "message": format!("Opened {} in {editor}", dir.display()),
        "editor": editor.argv,
    }))
}
