//! What a client dispatches, carried out as the CLI does it: a follow-up is `aside send`, a
//! cancel is `aside cancel`, a confirmation is `aside approve`/`deny` (of the call that waits,
//! and only that one), archiving is `aside archive`. The action that results, stored and
//! projected, is sent back with the client's origin; an action aside does not take is sent
//! back with the reason.

use super::conn::Conn;
use super::map::REQUEST_PREFIX;
use super::root::ROOT;
use ahp_types::actions::{ActionOrigin, StateAction};
use aside_core::Config;
use aside_protocol::events::acp::PermissionOptionKind;
use aside_protocol::handoff::PLAN_ONLY;
use aside_protocol::Choice;
use serde_json::{json, Value};
use std::sync::Arc;

/// The longest id a client may give a turn or a queued message.
const MAX_ID: usize = 128;

/// Carries out one `dispatchAction`.
pub async fn dispatch(conn: &Arc<Conn>, params: Value) {
    let channel = params["channel"].as_str().unwrap_or_default().to_string();
    let client_seq = params["clientSeq"].as_i64().unwrap_or(0);
    let client_id = conn
        .client_id
        .lock()
        .ok()
        .and_then(|c| c.clone())
        .unwrap_or_default();
    let origin = ActionOrigin {
        client_id,
        client_seq,
    };
    let raw = params["action"].clone();
    let parsed: StateAction =
        serde_json::from_value(raw.clone()).unwrap_or_else(|_| StateAction::Unknown(raw.clone()));
    let result = carry_out(conn, &channel, &parsed, &raw, origin.clone()).await;
    if let Err(reason) = result {
        // Sent back to this client only, and not kept: it is its own write refused.
        tell(conn, &channel, raw, origin, Some(reason)).await;
    }
}

/// An action sent back to the client that dispatched it alone, under a number of its own.
async fn tell(
    conn: &Conn,
    channel: &str,
    action: Value,
    origin: ActionOrigin,
    rejection: Option<String>,
) {
    let mut envelope = json!({
        "channel": channel, "action": action, "serverSeq": conn.hub.reserve(),
        "origin": origin,
    });
    if let Some(reason) = rejection {
        envelope["rejectionReason"] = json!(reason);
    }
    conn.answer(
        json!({"jsonrpc": "2.0", "method": "action", "params": envelope}),
        Vec::new(),
    )
    .await;
}

fn valid_id(id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > MAX_ID || id.chars().any(char::is_control) {
        return Err(format!(
            "an id must be 1 to {MAX_ID} characters without control characters"
        ));
    }
    Ok(())
}

async fn carry_out(
    conn: &Arc<Conn>,
    channel: &str,
    parsed: &StateAction,
    raw: &Value,
    origin: ActionOrigin,
) -> Result<(), String> {
    let kind = raw["type"].as_str().unwrap_or_default();
    if let StateAction::Unknown(_) = parsed {
        return Err(format!(
            "`{kind}` is not an AHP 1.0 action aside can read (a field is missing or has the wrong type)"
        ));
    }
    let hub = &conn.hub;
    if channel == ROOT {
        return match parsed {
            // VS Code pushes its own settings on connecting: taken, and ignored (aside's
            // decisions are its own config's).
            StateAction::RootConfigChanged(_) => {
                tell(conn, channel, raw.clone(), origin, None).await;
                Ok(())
            }
            _ => Err(format!("aside does not take `{kind}` from clients")),
        };
    }
    let Some(target) = hub.channel(channel) else {
        return Err(format!("aside serves no channel {channel}"));
    };
    let Some(id) = target.session().map(str::to_string) else {
        return Err(format!("aside serves no channel {channel}"));
    };
    // Only a session a client follows can be steered from it (its state tells it what waits).
    let projector = conn
        .subscriptions
        .lock()
        .ok()
        .and_then(|s| s.get(channel).and_then(|sub| sub.projector.clone()))
        .ok_or_else(|| format!("subscribe to {channel} before dispatching to it"))?;
    // A session on another machine: what aside there does with it.
    let remote = aside_sessions::remote::split(&id).is_some();
    match parsed {
        StateAction::ChatTurnStarted(a) => {
            valid_id(&a.turn_id)?;
            if projector.with(|p| {
                p.chat.turns.iter().any(|t| t.id == a.turn_id)
                    || p.chat.active_turn.as_ref().is_some_and(|t| t.id == a.turn_id)
            }) {
                return Err(format!("turn {} already exists", a.turn_id));
            }
            follow_up(conn, &id, &a.turn_id, &a.message.text, origin).await
        }
        StateAction::ChatPendingMessageSet(a) => {
            // aside has no steering: either kind waits for the running turn to end.
            valid_id(&a.id)?;
            follow_up(conn, &id, &a.id, &a.message.text, origin).await
        }
        StateAction::ChatTurnCancelled(a) => {
            if projector.with(|p| p.mapper.turn() != Some(a.turn_id.as_str())) {
                return Err(format!("turn {} is not running", a.turn_id));
            }
            let key = format!("cancel:{id}");
            hub.expect(key.clone(), origin);
            let done = if remote {
                hub.on_machine(&id, &["cancel", "{id}"]).await.map(|_| ())
            } else {
                conn.hub.on_session(&id, |s, r| s.cancel(r).map(|_| ()).map_err(|e| e.to_string()))
                    .await
            };
            forget_on_error(hub, &key, done)
        }
        StateAction::ChatToolCallConfirmed(a) => {
            let asked = projector.with(|p| p.mapper.asked().map(|(id, o)| (id.to_string(), o.to_vec())));
            let Some((waiting, options)) = asked else {
                return Err("nothing is waiting for a confirmation".to_string());
            };
            if waiting != a.tool_call_id {
                return Err(format!(
                    "tool call {} is not the one waiting for a confirmation",
                    a.tool_call_id
                ));
            }
            let choice = if !a.approved {
                Choice::Deny
            } else {
                let always = a.selected_option_id.as_deref().is_some_and(|chosen| {
                    options
                        .iter()
                        .any(|(id, kind)| id == chosen && *kind == PermissionOptionKind::AllowAlways)
                });
                if always {
                    Choice::AllowAlways
                } else {
                    Choice::Allow
                }
            };
            let key = format!("confirm:{}", a.tool_call_id);
            hub.expect(key.clone(), origin);
            // First answer wins: the host refuses a second one (nothing waits any more).
            let done = if remote {
                // Only the call the client saw waiting: a newer one may be waiting there now.
                let call = a.tool_call_id.as_str();
                let args: &[&str] = match choice {
                    Choice::Deny => &["deny", "{id}", "--call", call],
                    Choice::AllowAlways => &["approve", "{id}", "--always", "--call", call],
                    _ => &["approve", "{id}", "--call", call],
                };
                hub.on_machine(&id, args).await.map(|_| ())
            } else {
                conn.hub.on_session(&id, move |s, r| {
                    s.answer(r, choice).map_err(|e| e.to_string())
                })
                .await
            };
            forget_on_error(hub, &key, done)
        }
        StateAction::ChatTurnResume(_) if remote => {
            hub.on_machine(&id, &["resume", "{id}"]).await.map(|_| ())
        }
        StateAction::SessionIsArchivedChanged(_) if remote => Err(format!(
            "a session on another machine is archived there: aside archive {} on {}",
            remote_id(&id),
            remote_name(&id)
        )),
        StateAction::ChatTurnResume(_) => {
            let config = Config::load_user().map_err(|e| e.to_string())?;
            conn.hub.on_session(&id, move |s, r| s.resume(r, &config).map_err(|e| e.to_string()))
                .await
        }
        StateAction::SessionIsArchivedChanged(a) => {
            let archived = a.is_archived;
            conn.hub.on_session(&id, move |s, r| s.archive(r, archived).map_err(|e| e.to_string()))
                .await?;
            projector.apply(hub, &projector.session_uri, parsed.clone(), origin);
            Ok(())
        }
        StateAction::SessionIsReadChanged(a) => {
            let read = a.is_read;
            let modified = if remote {
                hub.machines
                    .items(true)
                    .iter()
                    .find(|s| s["id"] == id.as_str())
                    .and_then(|s| s["updated_at"].as_str().map(str::to_string))
                    .unwrap_or_default()
            } else {
                conn.hub.on_session(&id, |_, r| Ok(r.updated_at.clone())).await?
            };
            if let Ok(mut marks) = hub.read.lock() {
                if read {
                    marks.insert(id.clone(), modified);
                } else {
                    marks.remove(&id);
                }
            }
            projector.apply(hub, &projector.session_uri, parsed.clone(), origin);
            Ok(())
        }
        _ => Err(format!(
            "aside does not take `{kind}` from clients{}",
            match kind {
                "session/titleChanged" | "chat/titleChanged" =>
                    ": an aside session keeps its task's title",
                "chat/pendingMessageRemoved" =>
                    ": a queued follow-up cannot be taken back alone; cancel the turn to drop them all",
                _ => "",
            }
        )),
    }
}

/// A follow-up, as `aside send` sends it, named by the client's id.
async fn follow_up(
    conn: &Arc<Conn>,
    id: &str,
    turn: &str,
    text: &str,
    origin: ActionOrigin,
) -> Result<(), String> {
    let config = Config::load_user().map_err(|e| e.to_string())?;
    let key = format!("turn:{turn}");
    conn.hub.expect(key.clone(), origin);
    let request = format!("{REQUEST_PREFIX}{turn}");
    let text = text.to_string();
    if aside_sessions::remote::split(id).is_some() {
        let done = conn
            .hub
            .on_machine(id, &["send", "{id}", "--request", &request, "--", &text])
            .await
            .map(|_| ());
        return forget_on_error(&conn.hub, &key, done);
    }
    // A session created to plan first: its first turn in the agent's plan mode (or with the
    // plan-only instruction), the next back in its working mode.
    let stage = conn
        .hub
        .plan_first
        .lock()
        .ok()
        .and_then(|mut p| match p.get(id).copied() {
            Some(false) => {
                p.insert(id.to_string(), true);
                Some(false)
            }
            Some(true) => p.remove(id).map(|_| true),
            None => None,
        });
    let done = conn
        .hub
        .on_session(id, move |s, r| {
            let text = match stage {
                Some(false) => match s.set_mode(r, "plan") {
                    Ok(_) => text,
                    Err(_) => format!("{PLAN_ONLY}\n\n{text}"),
                },
                Some(true) => {
                    let _ = s.set_mode(r, "code");
                    text
                }
                None => text,
            };
            s.send_as(r, &text, &request, &config)
                .map_err(|e| e.to_string())
        })
        .await;
    forget_on_error(&conn.hub, &key, done)
}

/// A dispatch aside could not carry out leaves no origin waiting for an action.
fn forget_on_error(
    hub: &super::hub::Hub,
    key: &str,
    done: Result<(), String>,
) -> Result<(), String> {
    if done.is_err() {
        hub.forget(key);
    }
    done
}

/// The machine of a `NAME:ID` session.
fn remote_name(id: &str) -> &str {
    aside_sessions::remote::split(id).map_or(id, |(name, _)| name)
}

/// The id there of a `NAME:ID` session.
fn remote_id(id: &str) -> &str {
    aside_sessions::remote::split(id).map_or(id, |(_, there)| there)
}
