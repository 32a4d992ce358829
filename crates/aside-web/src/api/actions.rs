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

/// The actions `POST /api/sessions/<id>/<action>` takes.
pub(crate) const ACTIONS: &[&str] = &[
    "prompt",
    "cancel",
    "stop",
    "resume",
    "approve",
    "deny",
    "apply",
    "merge",
    "archive",
    "unarchive",
    "remove",
    "start",
    "fork",
    "adopt",
    "open",
];

pub async fn action(
    State(state): State<AppState>,
    Path((id, action)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    if !ACTIONS.contains(&action.as_str()) {
        return Err(bad_request(format!(
            "unknown action `{action}`: use one of {}",
            ACTIONS.join(", ")
        )));
    }
    let body: ActionBody = json_body(&headers, body).await?.unwrap_or_default();
    // Only the actions that may start a host (agent command) or an editor read the config.
    let config = if matches!(
        action.as_str(),
        "prompt" | "resume" | "start" | "fork" | "open" | "adopt"
    ) {
        Config::load_user().map_err(|e| bad_request(e.to_string()))?
    } else {
        Config::default()
    };
    let out = with_sessions(&state, move |s| {
        if action == "adopt" {
            // A session started in an agent's own CLI becomes an aside session.
            let session = find_external(s, &id)?;
            let record = s.adopt(&session, Mode::Workspace, body.force, &config)?;
            return Ok(json!({"id": record.id}));
        }
        let record = s.resolve(&id)?;
        let result = match action.as_str() {
            "prompt" => s.send(&record, &body.text, &config).map(|_| json!({})),
            "cancel" => s
                .cancel(&record)
                .map(|message| json!({"message": message})),
            "stop" => s.stop(&record).map(|stopped| json!({"stopped": stopped})),
            "resume" => s.resume(&record, &config).map(|_| json!({})),
            "approve" => s
                .answer(
                    &record,
                    if body.always {
                        Choice::AllowAlways
                    } else {
                        Choice::Allow
                    },
                )
                .map(|_| json!({})),
            "deny" => s.answer(&record, Choice::Deny).map(|_| json!({})),
            "apply" => s.apply(&record).and_then(|outcome| {
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
            "merge" => s.merge(&record, body.squash).map(|outcome| match outcome {
                Outcome::Done(commit) => json!({"commit": commit}),
                Outcome::Nothing => json!({"message": "Nothing to merge: the session changed no files"}),
                Outcome::Already => json!({"message": "Already merged"}),
            }),
            "archive" => s.archive(&record, true).map(|_| json!({})),
            "unarchive" => s.archive(&record, false).map(|_| json!({})),
            "remove" => s.remove(&record, body.force, false).map(|_| json!({})),
            // A finished plan starts its task; `text` is the plan as the user edited it.
            "start" => s
                .start_plan(&record, Some(body.text.clone()), &config)
                .map(|started| json!({"id": started.id})),
            // A new session continues this one's conversation; `text`: what to do next.
            "fork" => s
                .fork(&record, Some(body.text.as_str()), &config)
                .map(|started| json!({"id": started.id})),
            // The worktree in a GUI editor on this machine: the server has no terminal.
            "open" => open_in_editor(&record, &config),
            other => return Err(bad_request(format!("unknown action `{other}`"))),
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
