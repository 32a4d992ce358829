//! VS Code chat: the export ("Chat: Export Chat…") and the session files under
//! `workspaceStorage/<id>/chatSessions/` share one shape, `requests[]`:
//! - `message`: `{text, parts}`, or a plain string in very old files;
//! - `response`: an array of parts, or a plain string in very old files. The assistant's text is
//!   the parts with a string `value` and no `kind` (markdown strings) or of kind
//!   `markdownContent` / `markdownVuln`; an `inlineReference` reads `[name](uri)`, inline with
//!   the text around it. A `toolInvocationSerialized` part is a tool line (a terminal command as
//!   ``ran `cmd` ``, else its past-tense or invocation message); a `textEditGroup` is an
//!   "edited <file>" line. Other parts (thinking, progress, confirmations, …) are skipped and end
//!   a block of text.
//!
//! A session file (`version`, `sessionId`) has its title in `customTitle`. The `.jsonl` session
//! (VS Code 1.109+) is a mutation log, replayed by [`read_log`].

use super::{one_line, ran, text_or_value, Conversation, Format, Turns};
use serde_json::Value;

/// A VS Code export or session object.
pub(super) fn read(value: &Value) -> Conversation {
    let session = value.get("sessionId").is_some()
        || value.get("version").is_some()
        || value.get("creationDate").is_some();
    let mut turns = Turns::default();
    for request in value
        .get("requests")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let removed = request.get("isHidden").and_then(Value::as_bool) == Some(true)
            || request
                .get("shouldBeRemovedOnSend")
                .is_some_and(|v| !v.is_null());
        if removed {
            continue;
        }
        let message = request.get("message").unwrap_or(&Value::Null);
        let text = match message {
            Value::String(s) => s.clone(),
            _ => match message.get("text").and_then(Value::as_str) {
                Some(t) => t.to_string(),
                None => message
                    .get("parts")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|p| p.get("text").and_then(Value::as_str))
                    .collect(),
            },
        };
        turns.user(&text);
        match request.get("response") {
            Some(Value::String(s)) => turns.assistant(s),
            Some(Value::Array(parts)) => response(&mut turns, parts),
            _ => {}
        }
    }
    let title = value
        .get("customTitle")
        .and_then(Value::as_str)
        .map(str::to_string);
    turns.done(
        if session {
            Format::VsCodeSession
        } else {
            Format::VsCodeExport
        },
        title,
    )
}

/// The parts of one response: inline text joined as it streamed, tool lines between.
fn response(turns: &mut Turns, parts: &[Value]) {
    let mut block = String::new();
    let mut edited: Vec<String> = Vec::new();
    for part in parts {
        if let Some(s) = part.as_str() {
            block.push_str(s);
            continue;
        }
        if part.get("inlineReference").is_some() {
            block.push_str(&inline_reference(part));
            continue;
        }
        match part.get("kind").and_then(Value::as_str) {
            None | Some("markdownContent") | Some("markdownVuln") => {
                let text = part
                    .get("value")
                    .and_then(Value::as_str)
                    .or_else(|| part.get("content").and_then(text_or_value));
                if let Some(text) = text {
                    block.push_str(text);
                }
            }
            Some(kind) => {
                turns.assistant(&std::mem::take(&mut block));
                match kind {
                    "toolInvocationSerialized" | "toolInvocation" => {
                        turns.tool(tool_invocation(part))
                    }
                    "textEditGroup" | "notebookEditGroup" => {
                        let file = part.get("uri").map(uri_path).unwrap_or_default();
                        if !file.is_empty() && !edited.contains(&file) {
                            turns.tool(format!("edited {file}"));
                            edited.push(file);
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    turns.assistant(&block);
}

/// `[name](uri)` for an inline reference to a file, a location or a symbol.
fn inline_reference(part: &Value) -> String {
    let reference = part.get("inlineReference").unwrap_or(&Value::Null);
    // A URI, a location `{uri, range}`, or a symbol `{name, location: {uri, range}}`.
    let uri = reference
        .get("uri")
        .or_else(|| reference.pointer("/location/uri"))
        .unwrap_or(reference);
    let link = uri_string(uri);
    let name = part
        .get("name")
        .and_then(Value::as_str)
        .or_else(|| reference.get("name").and_then(Value::as_str))
        .map(str::to_string)
        .unwrap_or_else(|| basename(&uri_path(uri)).to_string());
    format!("[{name}]({link})")
}

/// A serialised URI (`{scheme, authority, path, external, …}`, or a string) as text.
fn uri_string(uri: &Value) -> String {
    if let Some(s) = uri.as_str() {
        return s.to_string();
    }
    if let Some(external) = uri.get("external").and_then(Value::as_str) {
        return external.to_string();
    }
    let part = |k: &str| uri.get(k).and_then(Value::as_str).unwrap_or_default();
    let scheme = if part("scheme").is_empty() {
        "file"
    } else {
        part("scheme")
    };
    format!("{scheme}://{}{}", part("authority"), part("path"))
}

/// The path of a serialised URI.
fn uri_path(uri: &Value) -> String {
    if let Some(s) = uri.as_str() {
        return s
            .split_once("://")
            .map(|(_, rest)| rest)
            .unwrap_or(s)
            .to_string();
    }
    uri.get("fsPath")
        .or_else(|| uri.get("path"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn basename(path: &str) -> &str {
    path.trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or(path)
}

/// A tool invocation's line: the terminal command it ran, else what VS Code showed for it.
fn tool_invocation(part: &Value) -> String {
    let data = part.get("toolSpecificData").unwrap_or(&Value::Null);
    if data.get("kind").and_then(Value::as_str) == Some("terminal") {
        let command = ["userEdited", "toolEdited", "original"]
            .iter()
            .find_map(|k| {
                data.get("commandLine")
                    .and_then(|c| c.get(*k))
                    .and_then(Value::as_str)
            })
            .or_else(|| data.get("command").and_then(Value::as_str));
        if let Some(command) = command {
            return ran(command);
        }
    }
    let message = ["pastTenseMessage", "invocationMessage", "generatedTitle"]
        .iter()
        .find_map(|k| {
            part.get(*k)
                .and_then(text_or_value)
                .filter(|m| !m.trim().is_empty())
        });
    match message {
        Some(m) => one_line(&file_pills(m)),
        None => one_line(part.get("toolId").and_then(Value::as_str).unwrap_or("tool")),
    }
}

/// VS Code writes a file as an empty link, `[](file:///…/a.ts)`, shown as a pill: its name.
fn file_pills(message: &str) -> String {
    let mut out = String::new();
    let mut rest = message;
    while let Some(start) = rest.find("[](") {
        let Some(len) = rest[start + 3..].find(')') else {
            break;
        };
        out.push_str(&rest[..start]);
        let target = &rest[start + 3..start + 3 + len];
        let path = target.split('#').next().unwrap_or(target);
        out.push_str(basename(path));
        rest = &rest[start + 3 + len + 1..];
    }
    out.push_str(rest);
    out
}

/// Replays a `.jsonl` mutation log: `{"kind":0,"v":…}` is the whole state, `{"kind":1,"k":path,
/// "v":…}` sets a value, `{"kind":2,"k":path,"v":[…],"i":n}` pushes onto an array (cut to `n`
/// items first when `i` is there), `{"kind":3,"k":path}` deletes. Entries whose path does not
/// lead anywhere are skipped.
pub(super) fn read_log(lines: &[Value]) -> Result<Value, String> {
    let mut state: Option<Value> = None;
    for entry in lines {
        let kind = entry.get("kind").and_then(Value::as_u64);
        if kind == Some(0) {
            state = Some(entry.get("v").cloned().unwrap_or(Value::Null));
            continue;
        }
        let Some(root) = state.as_mut() else { continue };
        let path: &[Value] = entry
            .get("k")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        match kind {
            Some(1) => set(
                root,
                path,
                Some(entry.get("v").cloned().unwrap_or(Value::Null)),
            ),
            Some(3) => set(root, path, None),
            Some(2) => {
                // A push onto a missing array makes it.
                if !matches!(at(root, path), Some(Value::Array(_))) {
                    set(root, path, Some(Value::Array(Vec::new())));
                }
                if let Some(Value::Array(items)) = at(root, path) {
                    push(items, entry);
                }
            }
            _ => {}
        }
    }
    state.ok_or_else(|| "it is a VS Code chat session log without its first full entry".to_string())
}

fn push(items: &mut Vec<Value>, entry: &Value) {
    if let Some(i) = entry.get("i").and_then(Value::as_u64) {
        items.truncate(usize::try_from(i).unwrap_or(usize::MAX));
    }
    if let Some(Value::Array(new)) = entry.get("v") {
        items.extend(new.iter().cloned());
    }
}

/// The value at a path of keys and indexes.
fn at<'a>(root: &'a mut Value, path: &[Value]) -> Option<&'a mut Value> {
    let mut current = root;
    for key in path {
        current = match (current, key) {
            (Value::Object(map), Value::String(k)) => map.get_mut(k)?,
            (Value::Array(items), Value::Number(n)) => {
                items.get_mut(usize::try_from(n.as_u64()?).ok()?)?
            }
            _ => return None,
        };
    }
    Some(current)
}

/// Sets (or, with `None`, deletes) the value at a path; the root itself is replaced.
fn set(root: &mut Value, path: &[Value], value: Option<Value>) {
    let Some((last, parent)) = path.split_last() else {
        if let Some(value) = value {
            *root = value;
        }
        return;
    };
    let Some(parent) = at(root, parent) else {
        return;
    };
    match (parent, last) {
        (Value::Object(map), Value::String(k)) => match value {
            Some(v) => {
                map.insert(k.clone(), v);
            }
            None => {
                map.remove(k);
            }
        },
        (Value::Array(items), Value::Number(n)) => {
            let Some(i) = n.as_u64().and_then(|i| usize::try_from(i).ok()) else {
                return;
            };
            let value = value.unwrap_or(Value::Null);
            if i < items.len() {
                items[i] = value;
            } else if i == items.len() {
                items.push(value);
            }
        }
        _ => {}
    }
}
