//! aside as an Agent Host: `aside ui`'s `/ahp` endpoint driven by Microsoft's own AHP client
//! (`ahp` + `ahp-ws`, what VS Code's Agents window speaks), with real hosts and the fake model.
//! Every stream is also reduced with AHP's own reducers and compared with a fresh snapshot.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;
use ahp::reducers::{apply_action_to_chat, apply_action_to_session};
use ahp::{Client, ClientConfig, SubscriptionEvent};
use ahp_types::actions::{ActionEnvelope, StateAction};
use ahp_types::state::{ChatState, SessionState, SnapshotState};
use aside_testkit::{Chunk, Reply};
use serde_json::{json, Value};
use std::io::{Read as _, Write as _};
use std::time::Duration;

/// What VS Code 1.139/1.140 offers (recorded by third-party hosts).
pub(crate) const VSCODE_VERSIONS: [&str; 5] = ["0.9.0", "0.7.0", "0.6.0", "0.5.2", "0.5.1"];

struct Host {
    server: common::Ui,
    env: common::Env,
}

impl std::ops::Deref for Host {
    type Target = common::Env;
    fn deref(&self) -> &common::Env {
        &self.env
    }
}

impl Host {
    fn start() -> Host {
        let mut env = common::Env::with_repo("ahpproj", &[("README.md", "# ahpproj\n")]);
        env.set("ASIDE_HOST_IDLE_SECS", "5");
        let server = common::Ui::start(&env);
        Host { server, env }
    }

    fn port(&self) -> u16 {
        self.server
            .base
            .rsplit(':')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    }

    async fn client(&self) -> Client {
        connect(&self.server.ahp).await
    }

    /// A client that said hello as VS Code does.
    async fn vscode(&self) -> Client {
        let client = self.client().await;
        let init: Value = client
            .request(
                "initialize",
                json!({
                    "channel": "ahp-root://", "protocolVersions": VSCODE_VERSIONS,
                    "clientId": format!("vscode-{}", rand()),
                    "clientInfo": {"name": "vscode-agents-window", "version": "1.140.0"},
                    "initialSubscriptions": ["ahp-root://"], "locale": "en",
                    "_meta": {"vscode.telemetryLevel": "off", "vscode.clientConnectionKind": "direct_websocket"},
                }),
            )
            .await
            .unwrap();
        assert_eq!(init["protocolVersion"], "0.9.0");
        client
    }
}

pub(crate) fn rand() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64
}

pub(crate) async fn connect(url: &str) -> Client {
    let transport = ahp_ws::WebSocketTransport::connect(url).await.unwrap();
    Client::connect(transport, ClientConfig::default())
        .await
        .unwrap()
}

/// A raw HTTP request to the endpoint: the status line it answers.
fn raw_status(port: u16, path: &str, headers: &[(&str, &str)]) -> String {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let host = headers
        .iter()
        .find(|(k, _)| *k == "Host")
        .map_or(format!("127.0.0.1:{port}"), |(_, v)| v.to_string());
    let mut request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    );
    for (k, v) in headers.iter().filter(|(k, _)| *k != "Host") {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut answer = vec![0u8; 512];
    let n = stream.read(&mut answer).unwrap();
    String::from_utf8_lossy(&answer[..n])
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// The next action on a subscription that `pred` accepts (others are given to `seen`).
pub(crate) async fn until(
    sub: &mut ahp::SessionSubscription,
    what: &str,
    mut seen: impl FnMut(&ActionEnvelope),
    pred: impl Fn(&ActionEnvelope) -> bool,
) -> ActionEnvelope {
    let wait = async {
        loop {
            match sub.recv().await {
                Some(SubscriptionEvent::Action(env)) => {
                    seen(&env);
                    if pred(&env) {
                        return env;
                    }
                }
                Some(_) => {}
                None => panic!("the connection closed while waiting for {what}"),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), wait)
        .await
        .unwrap_or_else(|_| panic!("no {what} within 60 s"))
}

pub(crate) fn kind(env: &ActionEnvelope) -> String {
    serde_json::to_value(&env.action).unwrap()["type"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

pub(crate) async fn subscribe_chat(
    client: &Client,
    uri: &str,
) -> (ChatState, ahp::SessionSubscription) {
    let (result, sub) = client.subscribe(uri.to_string()).await.unwrap();
    match result.snapshot.unwrap().state {
        SnapshotState::Chat(chat) => (*chat, sub),
        other => panic!("not a chat: {other:?}"),
    }
}

pub(crate) async fn subscribe_session(
    client: &Client,
    uri: &str,
) -> (SessionState, ahp::SessionSubscription) {
    let (result, sub) = client.subscribe(uri.to_string()).await.unwrap();
    match result.snapshot.unwrap().state {
        SnapshotState::Session(s) => (*s, sub),
        other => panic!("not a session: {other:?}"),
    }
}

pub(crate) async fn list(client: &Client) -> Vec<Value> {
    let list: Value = client
        .request("listSessions", json!({"channel": "ahp-root://"}))
        .await
        .unwrap();
    list["items"].as_array().unwrap().clone()
}

fn error_of<T>(result: Result<T, ahp::ClientError>) -> String {
    match result {
        Ok(_) => panic!("it should have failed"),
        Err(e) => format!("{e:?} {e}"),
    }
}

pub(crate) fn parts(chat: &ChatState, turn: usize) -> Value {
    serde_json::to_value(&chat.turns[turn].response_parts).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_endpoint_refuses_strangers_and_bad_input_and_stays_up() {
    let host = Host::start();
    let url = &host.server.ahp;
    assert!(
        url.starts_with(&format!("ws://127.0.0.1:{}/ahp?tkn=", host.port())),
        "{url}"
    );
    // The token is checked at the upgrade: 403, before any JSON-RPC.
    let wrong = url.split("tkn=").next().unwrap().to_string() + "tkn=0000";
    let err = ahp_ws::WebSocketTransport::connect(&wrong)
        .await
        .err()
        .unwrap();
    assert!(err.to_string().contains("403"), "{err}");
    assert!(raw_status(host.port(), "/ahp", &[]).contains("403"));
    // The web page's token is not this one.
    let page_token = format!("/ahp?tkn={}", host.server.token);
    assert!(raw_status(host.port(), &page_token, &[]).contains("403"));
    // A page of another site (a browser sends its Origin) is refused, VS Code's own is not.
    let path = format!("/ahp?{}", url.split('?').nth(1).unwrap());
    assert!(raw_status(host.port(), &path, &[("Origin", "https://evil.example")]).contains("403"));
    assert!(raw_status(
        host.port(),
        &path,
        &[("Origin", "vscode-file://vscode-app")]
    )
    .contains("101"));
    // DNS rebinding: a foreign Host is refused before the token is looked at.
    let host_header = raw_status(host.port(), &path, &[("Host", "evil.example:80")]);
    assert!(host_header.contains("403"), "{host_header}");

    let client = host.client().await;
    // ping answers before initialize; nothing else does.
    client.ping().await.unwrap();
    let early = error_of(
        client
            .request::<_, Value>("listSessions", json!({"channel": "ahp-root://"}))
            .await,
    );
    assert!(early.contains("initialize first"), "{early}");
    // Versions: 0.9.0 for VS Code 1.139/1.140, 1.0.0 when offered, a clear refusal otherwise.
    let old = error_of(
        client
            .initialize("t".into(), vec!["0.7.0".into()], vec![])
            .await,
    );
    assert!(
        old.contains("-32005") || old.contains("1.0.0 and 0.9.0"),
        "{old}"
    );
    let init = client
        .initialize(
            "t".into(),
            vec!["1.0.0".into(), "0.9.0".into()],
            vec!["ahp-root://".into()],
        )
        .await
        .unwrap();
    assert_eq!(init.protocol_version, "1.0.0");
    let SnapshotState::Root(root) = &init.snapshots[0].state else {
        panic!("{:?}", init.snapshots)
    };
    let providers: Vec<&str> = root.agents.iter().map(|a| a.provider.as_str()).collect();
    assert!(providers.contains(&"builtin"), "{providers:?}");
    assert!(providers.iter().all(|p| !p.contains('-')), "{providers:?}");
    // No protected resources: VS Code never sends its GitHub tokens.
    assert!(root.agents.iter().all(|a| a.protected_resources.is_none()));
    // Unknown methods, wrong channels, actions a client may not dispatch.
    let missing = error_of(
        client
            .request::<_, Value>("createTerminal", json!({"channel": "ahp-root://"}))
            .await,
    );
    assert!(
        missing.contains("-32601") && missing.contains("createTerminal"),
        "{missing}"
    );
    let nowhere = error_of(client.subscribe("copilot:/nosuchsession".into()).await);
    assert!(nowhere.contains("no session nosuchsession"), "{nowhere}");
    let escape = error_of(client.subscribe("ahp-chat:/../../etc".into()).await);
    assert!(escape.contains("serves no channel"), "{escape}");
    // VS Code's burst of its own settings after connecting: taken and ignored.
    let (_, mut root_sub) = client.subscribe("ahp-root://".into()).await.unwrap();
    let mut last = 0;
    for n in 0..35 {
        let h = client
            .dispatch(
                "ahp-root://".into(),
                serde_json::from_value(json!({"type": "root/configChanged", "config": {format!("chat.setting{n}"): n}})).unwrap(),
            )
            .await
            .unwrap();
        last = h.client_seq;
    }
    let echo = until(
        &mut root_sub,
        "the last setting's echo",
        |_| {},
        |e| e.origin.as_ref().is_some_and(|o| o.client_seq == last),
    )
    .await;
    assert!(echo.rejection_reason.is_none());
    let refused = client
        .dispatch(
            "ahp-root://".into(),
            serde_json::from_value(json!({"type": "root/agentsChanged", "agents": []})).unwrap(),
        )
        .await
        .unwrap();
    let echo = until(
        &mut root_sub,
        "the refusal",
        |_| {},
        |e| {
            e.origin
                .as_ref()
                .is_some_and(|o| o.client_seq == refused.client_seq)
        },
    )
    .await;
    assert!(
        echo.rejection_reason
            .as_deref()
            .unwrap()
            .contains("does not take `root/agentsChanged`"),
        "{echo:?}"
    );

    // Garbage and oversized frames: an error or a closed connection, the host unharmed.
    use futures::{SinkExt as _, StreamExt as _};
    let (mut raw, _) = tokio_tungstenite_connect(url).await;
    raw.send(tungstenite_text("{not json")).await.unwrap();
    let answer = raw.next().await.unwrap().unwrap().into_text().unwrap();
    assert!(
        answer.contains("-32700") && answer.contains("not JSON"),
        "{answer}"
    );
    raw.send(tungstenite_text(&format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"params\":{{\"x\":\"{}\"}}}}",
        "y".repeat(2 * 1024 * 1024)
    )))
    .await
    .ok();
    let closed = tokio::time::timeout(Duration::from_secs(10), raw.next())
        .await
        .unwrap();
    assert!(
        !matches!(closed, Some(Ok(ref m)) if m.is_text()),
        "{closed:?}"
    );
    let again = host.client().await;
    again.ping().await.unwrap();
    client.ping().await.unwrap();
}

type Raw =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn tokio_tungstenite_connect(url: &str) -> (Raw, ()) {
    let (ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    (ws, ())
}

fn tungstenite_text(text: &str) -> tokio_tungstenite::tungstenite::Message {
    tokio_tungstenite::tungstenite::Message::Text(text.to_string().into())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_opens_whole_streams_live_takes_a_follow_up_and_ends_as_a_fresh_snapshot() {
    let host = Host::start();
    host.model.push_for(
        "ahp-one",
        [
            Reply::tool(
                "write_file",
                json!({"path": "NOTES.md", "content": "notes\n"}),
            ),
            Reply::text("Wrote **NOTES.md**."),
        ],
    );
    host.model.push_for(
        "ahp-follow",
        [
            Reply::tool(
                "write_file",
                json!({"path": "MORE.md", "content": "more\n"}),
            ),
            Reply::stream(vec![
                Chunk::Text("Streaming ".into()),
                Chunk::Delay(Duration::from_millis(200)),
                Chunk::Text("the answer.".into()),
            ]),
        ],
    );
    let id = host.new_session("ahp-one: write notes", &["--approve", "all"]);
    host.wait_status(&id, "completed");

    let client = host.vscode().await;
    let items = list(&client).await;
    let item = items
        .iter()
        .find(|s| s["_meta"]["aside.id"] == id.as_str())
        .unwrap_or_else(|| panic!("{items:?}"));
    assert_eq!(item["title"], "ahp-one: write notes");
    assert_eq!(item["provider"], "builtin");
    assert_eq!(item["resource"], format!("builtin:/{id}"));
    assert_eq!(item["status"].as_u64().unwrap() & 1, 1, "{item}");
    assert_eq!(item["changes"]["files"], 1);
    assert!(item["workingDirectories"][0]
        .as_str()
        .unwrap()
        .starts_with("file:///"));
    assert_eq!(item["activity"], "Wrote **NOTES.md**.");

    let (session, _session_sub) =
        subscribe_session(&client, item["resource"].as_str().unwrap()).await;
    assert_eq!(session.chats.len(), 1);
    let chat_uri = session.default_chat.clone().unwrap();
    let (mut chat, mut sub) = subscribe_chat(&client, &chat_uri).await;
    assert_eq!(chat.turns.len(), 1);
    assert_eq!(chat.turns[0].message.text, "ahp-one: write notes");
    let first = parts(&chat, 0);
    let tool = first
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["kind"] == "toolCall")
        .unwrap();
    assert_eq!(tool["toolCall"]["status"], "completed", "{first}");
    assert!(tool["toolCall"]["toolInput"]
        .as_str()
        .unwrap()
        .contains("NOTES.md"));
    assert!(first.to_string().contains("Wrote **NOTES.md**."), "{first}");
    // What the turn used: its model calls' tokens (two of 100 in, 20 out), as chat/usage.
    let usage = serde_json::to_value(&chat.turns[0].usage).unwrap();
    assert_eq!(usage["inputTokens"], 200, "{usage}");
    assert_eq!(usage["outputTokens"], 40, "{usage}");
    assert_eq!(usage["model"], "fake", "{usage}");

    // The Changes panel follows the session's changes.
    let all_changes = serde_json::to_value(&session.changesets).unwrap()[0]["uriTemplate"]
        .as_str()
        .unwrap()
        .to_string();
    let (changes, mut changes_sub) = client.subscribe(all_changes).await.unwrap();
    let changes = serde_json::to_value(changes.snapshot.unwrap().state).unwrap();
    assert_eq!(changes["files"].as_array().unwrap().len(), 1, "{changes}");
    // A follow-up, as VS Code sends one: the host takes it as `aside send`, and the stream
    // carries the client's own turn id and origin.
    let (_, mut root) = client.subscribe("ahp-root://".into()).await.unwrap();
    let handle = client
        .dispatch(
            chat_uri.clone(),
            serde_json::from_value(json!({
                "type": "chat/turnStarted", "turnId": "vscode-turn-1",
                "startedAt": "2026-12-06T10:00:00.000Z",
                "message": {"text": "ahp-follow: and stream", "origin": {"kind": "user"}},
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    let mut reduce = |e: &ActionEnvelope| {
        apply_action_to_chat(&mut chat, &e.action);
    };
    let started = until(&mut sub, "the follow-up's turn", &mut reduce, |e| {
        kind(e) == "chat/turnStarted"
    })
    .await;
    assert_eq!(
        started.origin.as_ref().unwrap().client_seq,
        handle.client_seq
    );
    let StateAction::ChatTurnStarted(a) = &started.action else {
        panic!()
    };
    assert_eq!(a.turn_id, "vscode-turn-1");
    let deltas = std::sync::atomic::AtomicUsize::new(0);
    until(
        &mut sub,
        "the follow-up's end",
        |e| {
            if kind(e) == "chat/delta" || kind(e) == "chat/responsePart" {
                deltas.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            reduce(e)
        },
        |e| kind(e) == "chat/turnComplete",
    )
    .await;
    assert!(deltas.into_inner() >= 1);
    assert_eq!(chat.turns.len(), 2);
    let second = parts(&chat, 1);
    let text = second
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["kind"] == "markdown")
        .unwrap();
    assert_eq!(text["content"], "Streaming the answer.", "{second}");
    // The turn's checkpoint reaches the followed changeset.
    let changed = until(
        &mut changes_sub,
        "the changeset's new content",
        |_| {},
        |e| kind(e) == "changeset/contentChanged",
    )
    .await;
    let files = serde_json::to_value(&changed.action).unwrap()["files"].clone();
    assert_eq!(files.as_array().unwrap().len(), 2, "{files}");
    assert!(files.to_string().contains("MORE.md"), "{files}");
    // The list learned of it too.
    let changed = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            if let Some(SubscriptionEvent::SessionSummaryChanged(c)) = root.recv().await {
                if c.session == format!("builtin:/{id}") {
                    return c;
                }
            }
        }
    })
    .await
    .unwrap();
    assert!(changed.changes.modified_at.is_some() || changed.changes.status.is_some());

    // What the client made of the stream is what a new client is given.
    let other = host.client().await;
    other
        .initialize("other".into(), vec!["1.0.0".into()], vec![])
        .await
        .unwrap();
    let (fresh, _) = subscribe_chat(&other, &chat_uri).await;
    assert_eq!(chat.turns, fresh.turns);
    assert_eq!(chat.active_turn, fresh.active_turn);
    assert_eq!(
        host.events(&id)
            .iter()
            .filter(|e| e["kind"] == "prompt")
            .count(),
        2
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_permission_is_confirmed_once_and_a_running_turn_is_cancelled() {
    let host = Host::start();
    host.model.push_for(
        "ahp-ask",
        [
            Reply::tool("run_command", json!({"command": "echo asked > asked.txt"})),
            Reply::text("Ran it."),
        ],
    );
    let id = host.new_session("ahp-ask: run something", &["--approve", "ask"]);
    host.wait_status(&id, "needs_input");
    let client = host.vscode().await;
    let item = list(&client)
        .await
        .into_iter()
        .find(|s| s["_meta"]["aside.id"] == id.as_str())
        .unwrap();
    assert_eq!(item["status"].as_u64().unwrap() & 24, 24, "{item}");
    let (session, mut session_sub) =
        subscribe_session(&client, item["resource"].as_str().unwrap()).await;
    let waiting = serde_json::to_value(&session.input_needed).unwrap();
    assert_eq!(waiting[0]["kind"], "toolConfirmation", "{waiting}");
    let chat_uri = session.default_chat.clone().unwrap();
    let (mut chat, mut sub) = subscribe_chat(&client, &chat_uri).await;
    let turn = chat.active_turn.clone().unwrap();
    let call = serde_json::to_value(&turn.response_parts).unwrap()[0]["toolCall"].clone();
    assert_eq!(call["status"], "pending-confirmation", "{call}");
    assert!(call["toolInput"].as_str().unwrap().contains("echo asked"));
    let call_id = call["toolCallId"].as_str().unwrap().to_string();
    let allow = call["options"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["kind"] == "approve")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let confirm = |tool: &str| -> StateAction {
        serde_json::from_value(json!({
            "type": "chat/toolCallConfirmed", "turnId": turn.id, "toolCallId": tool,
            "approved": true, "selectedOptionId": allow,
        }))
        .unwrap()
    };
    // A confirmation of another call is refused, and nothing runs.
    let stale = client
        .dispatch(chat_uri.clone(), confirm("not-the-call"))
        .await
        .unwrap();
    let echo = until(
        &mut sub,
        "the refusal",
        |_| {},
        |e| {
            e.origin
                .as_ref()
                .is_some_and(|o| o.client_seq == stale.client_seq)
        },
    )
    .await;
    assert!(echo
        .rejection_reason
        .unwrap()
        .contains("not the one waiting"));
    assert_eq!(host.session(&id)["status"], "needs_input");
    // The real one: it runs, once.
    let ok = client
        .dispatch(chat_uri.clone(), confirm(&call_id))
        .await
        .unwrap();
    let confirmed = until(
        &mut sub,
        "the confirmation",
        |e| {
            apply_action_to_chat(&mut chat, &e.action);
        },
        |e| kind(e) == "chat/toolCallConfirmed",
    )
    .await;
    assert_eq!(confirmed.origin.unwrap().client_seq, ok.client_seq);
    apply_action_to_chat(&mut chat, &confirmed.action);
    let second = client
        .dispatch(chat_uri.clone(), confirm(&call_id))
        .await
        .unwrap();
    let echo = until(
        &mut sub,
        "the second confirmation's refusal",
        |e| {
            apply_action_to_chat(&mut chat, &e.action);
        },
        |e| {
            e.origin
                .as_ref()
                .is_some_and(|o| o.client_seq == second.client_seq)
        },
    )
    .await;
    assert!(echo.rejection_reason.is_some(), "{echo:?}");
    until(
        &mut sub,
        "the turn's end",
        |e| {
            apply_action_to_chat(&mut chat, &e.action);
        },
        |e| kind(e) == "chat/turnComplete",
    )
    .await;
    let removed = until(
        &mut session_sub,
        "the input no longer needed",
        |_| {},
        |e| kind(e) == "session/inputNeededRemoved",
    )
    .await;
    let mut session = session;
    apply_action_to_session(&mut session, &removed.action);
    assert!(session.input_needed.unwrap_or_default().is_empty());
    let worktree = std::path::PathBuf::from(host.session(&id)["worktree"].as_str().unwrap());
    assert_eq!(
        std::fs::read_to_string(worktree.join("asked.txt")).unwrap(),
        "asked\n"
    );
    let done = serde_json::to_value(&chat.turns[0].response_parts).unwrap();
    assert_eq!(done[0]["toolCall"]["status"], "completed", "{done}");
    assert_eq!(done[0]["toolCall"]["confirmed"], "user-action");

    // Cancel a turn that hangs.
    host.model.push_for(
        "ahp-hang",
        [Reply::stream(vec![
            Chunk::Text("Working".into()),
            Chunk::Hang,
        ])],
    );
    let start = client
        .dispatch(
            chat_uri.clone(),
            serde_json::from_value(json!({
                "type": "chat/turnStarted", "turnId": "hang-1", "startedAt": "2026-12-06T10:00:00.000Z",
                "message": {"text": "ahp-hang: wait forever", "origin": {"kind": "user"}},
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    until(
        &mut sub,
        "the hanging turn's text",
        |e| {
            apply_action_to_chat(&mut chat, &e.action);
        },
        |e| kind(e) == "chat/responsePart",
    )
    .await;
    let _ = start;
    let cancel = client
        .dispatch(
            chat_uri.clone(),
            serde_json::from_value(
                json!({"type": "chat/turnCancelled", "turnId": "hang-1", "duration": 0}),
            )
            .unwrap(),
        )
        .await
        .unwrap();
    let cancelled = until(
        &mut sub,
        "the cancellation",
        |e| {
            apply_action_to_chat(&mut chat, &e.action);
        },
        |e| kind(e) == "chat/turnCancelled",
    )
    .await;
    assert_eq!(cancelled.origin.unwrap().client_seq, cancel.client_seq);
    host.wait_status(&id, "cancelled");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_creates_a_session_in_a_known_repository_and_reads_only_what_aside_knows() {
    let host = Host::start();
    // aside knows the repository from an earlier session.
    host.model.push_for("ahp-known", [Reply::text("ok")]);
    let known = host.new_session("ahp-known: hello", &[]);
    host.wait_status(&known, "completed");
    host.model.push_for(
        "ahp-made",
        [
            Reply::tool(
                "write_file",
                json!({"path": "made.txt", "content": "made by ahp\n"}),
            ),
            Reply::text("Made it."),
        ],
    );
    let client = host.vscode().await;
    let repo_uri = format!("file://{}", host.repo.display());
    let config: Value = client
        .request(
            "resolveSessionConfig",
            json!({"channel": "ahp-root://", "provider": "builtin", "workingDirectory": repo_uri, "config": {}}),
        )
        .await
        .unwrap();
    assert_eq!(config["values"]["isolation"], "worktree");
    assert!(
        config["schema"]["properties"]["plan"].is_object(),
        "{config}"
    );
    // The folder picker sees the way to the repository and nothing beside it.
    std::fs::write(host.root.join("secret.txt"), "no").unwrap();
    let listing: Value = client
        .request(
            "resourceList",
            json!({"channel": "ahp-root://", "uri": format!("file://{}", host.root.display())}),
        )
        .await
        .unwrap();
    let names: Vec<&str> = listing["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"ahpproj") && !names.contains(&"secret.txt"),
        "{names:?}"
    );
    let outside = error_of(client.request::<_, Value>("resourceRead", json!({"channel": "ahp-root://", "uri": format!("file://{}/secret.txt", host.root.display())})).await);
    assert!(
        outside.contains("outside the repositories aside knows"),
        "{outside}"
    );
    let etc = error_of(
        client
            .request::<_, Value>(
                "resourceRead",
                json!({"channel": "ahp-root://", "uri": "file:///etc/passwd"}),
            )
            .await,
    );
    assert!(
        etc.contains("outside the repositories aside knows"),
        "{etc}"
    );

    // A new session cannot take over a channel aside or another session names.
    for taken in [
        "ahp-root://",
        &format!("builtin:/{known}"),
        &format!("ahp-chat:/{known}"),
    ] {
        let refused = error_of(
            client
                .request::<_, Value>(
                    "createSession",
                    json!({"channel": taken, "provider": "builtin", "workingDirectories": [repo_uri]}),
                )
                .await,
        );
        assert!(
            refused.contains("is a session already") || refused.contains("not a new session's URI"),
            "{taken}: {refused}"
        );
    }
    client.ping().await.unwrap();
    let uri = "builtin:/6f1c2a9e-0b7d-4c1e-9a55-2f0d3c4b5a61";
    // A budget it cannot read is refused with what to write; a good one is the session's.
    let refused = error_of(
        client
            .request::<_, Value>(
                "createSession",
                json!({"channel": uri, "provider": "builtin", "workingDirectories": [repo_uri], "config": {"budget": "lots"}}),
            )
            .await,
    );
    assert!(
        refused.contains("budget `lots`: give tokens (200k"),
        "{refused}"
    );
    let created: Value = client
        .request(
            "createSession",
            json!({"channel": uri, "provider": "builtin", "workingDirectories": [repo_uri], "config": {"isolation": "worktree", "budget": "150k"}}),
        )
        .await
        .unwrap();
    assert_eq!(created, json!({}));
    let items = list(&client).await;
    let item = items
        .iter()
        .find(|s| s["resource"] == uri)
        .unwrap_or_else(|| panic!("{items:?}"));
    let id = item["_meta"]["aside.id"].as_str().unwrap().to_string();
    assert!(host.ok(&["show", &id]).contains("budget:   150,000 tokens"));
    let (session, _) = subscribe_session(&client, uri).await;
    let chat_uri = session.default_chat.clone().unwrap();
    let (mut chat, mut sub) = subscribe_chat(&client, &chat_uri).await;
    assert!(chat.turns.is_empty());
    client
        .dispatch(
            chat_uri.clone(),
            serde_json::from_value(json!({
                "type": "chat/turnStarted", "turnId": "first", "startedAt": "2026-12-06T10:00:00.000Z",
                "message": {"text": "ahp-made: make a file", "origin": {"kind": "user"}},
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    until(
        &mut sub,
        "the first turn's end",
        |e| {
            apply_action_to_chat(&mut chat, &e.action);
        },
        |e| kind(e) == "chat/turnComplete",
    )
    .await;
    assert_eq!(chat.turns[0].id, "first");
    // The Changes panel: the session's changes, and the turn's, with both sides readable.
    let changesets = serde_json::to_value(&session.changesets).unwrap();
    let all = changesets[0]["uriTemplate"].as_str().unwrap().to_string();
    assert_eq!(changesets[0]["changeKind"], "session");
    let (changed, _) = client.subscribe(all.clone()).await.unwrap();
    let changed = serde_json::to_value(changed.snapshot.unwrap().state).unwrap();
    let file = &changed["files"][0];
    assert!(
        file["id"].as_str().unwrap().ends_with("/made.txt"),
        "{changed}"
    );
    assert!(
        file["edit"]["before"].is_null(),
        "a new file has no before: {changed}"
    );
    assert_eq!(file["edit"]["diff"]["added"], 1);
    let after: Value = client
        .request(
            "resourceRead",
            json!({"channel": "ahp-root://", "uri": file["edit"]["after"]["content"]["uri"]}),
        )
        .await
        .unwrap();
    assert_eq!(after["data"], "made by ahp\n");
    let turn_uri = changesets[1]["uriTemplate"]
        .as_str()
        .unwrap()
        .replace("{turnId}", "first");
    let (turn_changes, mut turn_sub) = client.subscribe(turn_uri).await.unwrap();
    let mut turn_changes = serde_json::to_value(turn_changes.snapshot.unwrap().state).unwrap();
    if turn_changes["files"].as_array().unwrap().is_empty() {
        // The turn's checkpoint is stored just after the turn ends: it comes as new content.
        let changed = until(
            &mut turn_sub,
            "the turn's changes",
            |_| {},
            |e| kind(e) == "changeset/contentChanged",
        )
        .await;
        turn_changes = serde_json::to_value(&changed.action).unwrap();
    }
    let at_commit = turn_changes["files"][0]["edit"]["after"]["content"]["uri"]
        .as_str()
        .unwrap();
    assert!(at_commit.starts_with("aside-git:/"), "{turn_changes}");
    let blob: Value = client
        .request(
            "resourceRead",
            json!({"channel": "ahp-root://", "uri": at_commit}),
        )
        .await
        .unwrap();
    assert_eq!(blob["data"], "made by ahp\n");
    let sneaky = at_commit.rsplit_once('/').unwrap().0.to_string() + "/..%2F..%2Fetc%2Fpasswd";
    let sneaky = error_of(
        client
            .request::<_, Value>(
                "resourceRead",
                json!({"channel": "ahp-root://", "uri": sneaky}),
            )
            .await,
    );
    assert!(
        sneaky.contains("not a path inside the repository"),
        "{sneaky}"
    );
    let worktree = std::path::PathBuf::from(host.session(&id)["worktree"].as_str().unwrap());
    assert_ne!(
        worktree, host.repo,
        "an isolated session works in its own worktree"
    );
    let read: Value = client
        .request("resourceRead", json!({"channel": "ahp-root://", "uri": format!("file://{}/made.txt", worktree.display())}))
        .await
        .unwrap();
    assert_eq!(read["data"], "made by ahp\n");
    // The channel the client chose stays the session's after aside ui restarts.
    let (port, env_ahp) = (host.port(), host.server.ahp.clone());
    let Host { server, env } = host;
    drop(server);
    let again = common::Ui::start_on(&env, port);
    assert_eq!(again.ahp, env_ahp);
    let client = connect(&again.ahp).await;
    client
        .initialize("after".into(), vec!["0.9.0".into()], vec![])
        .await
        .unwrap();
    assert!(list(&client).await.iter().any(|s| s["resource"] == uri));
    let (_, _) = subscribe_session(&client, uri).await;
    let host = Host { server: again, env };
    // Disposing archives; the worktree and its work stay.
    let _: Value = client
        .request("disposeSession", json!({"channel": uri}))
        .await
        .unwrap();
    assert_eq!(host.session(&id)["archived"], true);
    assert!(worktree.join("made.txt").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dropped_client_is_replayed_what_it_missed_and_long_histories_come_a_page_at_a_time() {
    let host = Host::start();
    host.model
        .push_for("ahp-long", [Reply::text("first answer")]);
    host.model
        .push_for("ahp-later", [Reply::text("later answer")]);
    let id = host.new_session("ahp-long: begin", &[]);
    host.wait_status(&id, "completed");
    let last = common::append_old_turns(&host.root.join("aside-home"), &id, 1500);
    assert!(last > 4000);
    let client = host.client().await;
    let init = client
        .initialize("dropper".into(), vec!["1.0.0".into()], vec![])
        .await
        .unwrap();
    let chat_uri = format!("ahp-chat:/{id}");
    let (mut chat, mut sub) = subscribe_chat(&client, &chat_uri).await;
    let shown = chat.turns.len();
    assert!(shown > 0 && shown < 1500, "{shown}");
    let cursor = chat
        .turns_next_cursor
        .clone()
        .expect("older turns to fetch");
    // fetchTurns: the turns come as chat/turnsLoaded before its answer.
    let _: Value = client
        .request("fetchTurns", json!({"channel": chat_uri, "cursor": cursor}))
        .await
        .unwrap();
    let loaded = until(
        &mut sub,
        "turnsLoaded",
        |_| {},
        |e| kind(e) == "chat/turnsLoaded",
    )
    .await;
    apply_action_to_chat(&mut chat, &loaded.action);
    assert!(chat.turns.len() > shown, "{} > {shown}", chat.turns.len());
    let seen = loaded.server_seq;
    assert!(seen as i64 > init.server_seq);
    client.shutdown().await;
    drop(client);

    // Meanwhile the session goes on.
    host.ok(&["send", &id, "ahp-later: more"]);
    host.wait_event(&id, "the later turn", |e| {
        e["kind"] == "turn_end" && e["seq"].as_u64().unwrap() > last + 2
    });

    let back = host.client().await;
    let result = back
        .reconnect("dropper".into(), seen as i64, vec![chat_uri.clone()])
        .await
        .unwrap();
    let actions = match result {
        ahp_types::commands::ReconnectResult::Replay(r) => r.actions,
        other => panic!("expected a replay: {other:?}"),
    };
    assert!(
        actions.iter().any(|e| kind(e) == "chat/turnStarted"),
        "{actions:?}"
    );
    let mut seqs: Vec<u64> = actions.iter().map(|e| e.server_seq).collect();
    seqs.dedup();
    assert_eq!(seqs.len(), actions.len(), "nothing doubled");
    for e in &actions {
        assert_eq!(e.channel, chat_uri);
        apply_action_to_chat(&mut chat, &e.action);
    }
    let other = host.client().await;
    other
        .initialize("fresh".into(), vec!["1.0.0".into()], vec![])
        .await
        .unwrap();
    let (fresh, _) = subscribe_chat(&other, &chat_uri).await;
    assert_eq!(chat.turns.last(), fresh.turns.last());
    assert_eq!(chat.turns.last().unwrap().message.text, "ahp-later: more");
    // A client that saw nothing of a session aside follows now gets snapshots.
    let unknown = host.client().await;
    let result = unknown
        .reconnect("stranger".into(), 0, vec![chat_uri.clone()])
        .await
        .unwrap();
    assert!(
        matches!(result, ahp_types::commands::ReconnectResult::Snapshot(_)),
        "{result:?}"
    );

    // `aside ui` killed and started again on its port: the same URL works (the token is kept),
    // and a client that saw the old server's actions gets snapshots, never the new server's
    // actions under numbers it saw.
    let (port, url) = (host.port(), host.server.ahp.clone());
    let Host { server, env } = host;
    drop(server);
    let again = common::Ui::start_on(&env, port);
    assert_eq!(again.ahp, url);
    let back = connect(&again.ahp).await;
    let result = back
        .reconnect("dropper".into(), seen as i64, vec![chat_uri.clone()])
        .await
        .unwrap();
    let ahp_types::commands::ReconnectResult::Snapshot(s) = result else {
        panic!("expected snapshots after a restart: {result:?}")
    };
    let SnapshotState::Chat(chat) = &s.snapshots[0].state else {
        panic!("{s:?}")
    };
    assert_eq!(chat.turns.last().unwrap().message.text, "ahp-later: more");
    assert!(s.snapshots[0].from_seq as u64 > seen);
}

#[test]
fn aside_ui_listens_beyond_loopback_only_when_told_and_says_how_to_use_ssh_instead() {
    use std::io::BufRead as _;
    let env = common::Env::new();
    let refused = env.fails(&["ui", "--listen", "0.0.0.0", "--port", "0"]);
    assert!(refused.contains("not listening on 0.0.0.0"), "{refused}");
    assert!(
        refused.contains("ssh -N -L 8765:127.0.0.1:8765 HOST"),
        "{refused}"
    );
    let mut ui = env
        .cmd(&[
            "ui",
            "--listen",
            "0.0.0.0",
            "--port",
            "0",
            "--unencrypted-network",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(ui.stdout.take().unwrap());
    let (mut page, mut ahp) = (String::new(), String::new());
    out.read_line(&mut page).unwrap();
    out.read_line(&mut ahp).unwrap();
    let mut err = std::io::BufReader::new(ui.stderr.take().unwrap());
    let mut warning = String::new();
    err.read_line(&mut warning).unwrap();
    let _ = ui.kill();
    let _ = ui.wait();
    assert!(
        warning.contains("WARNING: listening on 0.0.0.0 without encryption"),
        "{warning}"
    );
    assert!(page.starts_with("http://127.0.0.1:"), "{page}");
    assert!(
        ahp.starts_with("ws://127.0.0.1:") && ahp.contains("/ahp?tkn="),
        "{ahp}"
    );
}

/// A real agent's session (Copilot CLI, codex-acp: `.ci/run` installs them) through the
/// endpoint: listed under its own provider, opened whole, a follow-up streamed.
async fn real_agent_through_ahp(env: common::Env, agent: &str, first: Vec<Reply>) {
    let server = common::Ui::start(&env);
    env.model.push_for(&format!("{agent}-ahp-one"), first);
    env.model.push_for(
        &format!("{agent}-ahp-two"),
        [Reply::text(&format!("Second answer from {agent}."))],
    );
    let id = env.new_session(&format!("{agent}-ahp-one: say hello"), &["--agent", agent]);
    env.wait_status(&id, "completed");
    let client = connect(&server.ahp).await;
    client
        .initialize("real".into(), vec!["0.9.0".into()], vec![])
        .await
        .unwrap();
    let items = list(&client).await;
    let item = items
        .iter()
        .find(|s| s["_meta"]["aside.id"] == id.as_str())
        .unwrap();
    assert_eq!(item["provider"], agent);
    let chat_uri = item["defaultChat"].as_str().unwrap().to_string();
    let (mut chat, mut sub) = subscribe_chat(&client, &chat_uri).await;
    let first_turn = parts(&chat, 0).to_string();
    assert!(
        first_turn.contains(&format!("Hello from {agent}.")),
        "{first_turn}"
    );
    assert!(
        first_turn.contains("\"status\":\"completed\""),
        "a tool call ran: {first_turn}"
    );
    client
        .dispatch(
            chat_uri.clone(),
            serde_json::from_value(json!({
                "type": "chat/turnStarted", "turnId": "real-2", "startedAt": "2026-12-06T10:00:00.000Z",
                "message": {"text": format!("{agent}-ahp-two: again"), "origin": {"kind": "user"}},
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    until(
        &mut sub,
        "the second turn's end",
        |e| {
            apply_action_to_chat(&mut chat, &e.action);
        },
        |e| kind(e) == "chat/turnComplete",
    )
    .await;
    let second = parts(&chat, 1).to_string();
    assert!(
        second.contains(&format!("Second answer from {agent}.")),
        "{second}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_real_copilot_cli_and_codex_acp_sessions_appear_and_stream() {
    let mut ran = 0;
    if let Some(copilot) = std::env::var_os("ASIDE_TEST_COPILOT") {
        let env = common::copilot_env(&copilot);
        real_agent_through_ahp(
            env,
            "copilot",
            vec![
                Reply::tool("bash", json!({"command": "echo hi > hi.txt", "description": "Write hi.txt", "mode": "sync"})),
                Reply::text("Hello from copilot."),
            ],
        )
        .await;
        ran += 1;
    }
    if let Some(codex) = std::env::var_os("ASIDE_TEST_CODEX") {
        let env = common::codex_env(&codex);
        real_agent_through_ahp(
            env,
            "codex",
            vec![
                Reply::tool(
                    "exec_command",
                    json!({"cmd": "echo hi > hi.txt", "login": false}),
                ),
                Reply::text("Hello from codex."),
            ],
        )
        .await;
        ran += 1;
    }
    if ran == 0 {
        eprintln!("skipped: set ASIDE_TEST_COPILOT / ASIDE_TEST_CODEX (.ci/run does)");
    }
}

/// "Plan first": the first turn in the agent's plan mode (the built-in agent then offers the
/// model only read-only tools), the next one back in its working mode.
#[tokio::test(flavor = "multi_thread")]
async fn a_plan_first_session_plans_in_its_first_turn_and_works_in_the_next() {
    let host = Host::start();
    host.model.push_for("ahp-known", [Reply::text("ok")]);
    let known = host.new_session("ahp-known: hello", &[]);
    host.wait_status(&known, "completed");
    host.model.push_for(
        "plan-one",
        [Reply::text("1. Read README.md\n2. Add a line")],
    );
    host.model.push_for("plan-two", [Reply::text("Done.")]);
    let client = host.vscode().await;
    let uri = "builtin:/plan-first-1";
    let _: Value = client
        .request(
            "createSession",
            json!({"channel": uri, "provider": "builtin",
                "workingDirectories": [format!("file://{}", host.repo.display())],
                "config": {"isolation": "worktree", "plan": true}}),
        )
        .await
        .unwrap();
    let (session, _) = subscribe_session(&client, uri).await;
    let chat_uri = session.default_chat.clone().unwrap();
    let (_, mut sub) = subscribe_chat(&client, &chat_uri).await;
    for (turn, text) in [("p1", "plan-one: add a line"), ("p2", "plan-two: go ahead")] {
        client
            .dispatch(
                chat_uri.clone(),
                serde_json::from_value(json!({
                    "type": "chat/turnStarted", "turnId": turn, "startedAt": "2026-12-06T10:00:00.000Z",
                    "message": {"text": text, "origin": {"kind": "user"}},
                }))
                .unwrap(),
            )
            .await
            .unwrap();
        until(
            &mut sub,
            "the turn's end",
            |_| {},
            |e| kind(e) == "chat/turnComplete",
        )
        .await;
    }
    let tools_for = |marker: &str| -> Vec<String> {
        let request = host
            .model
            .received()
            .into_iter()
            .find(|r| r.body.to_string().contains(marker))
            .unwrap();
        request.body["tools"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|t| {
                t["function"]["name"]
                    .as_str()
                    .or(t["name"].as_str())
                    .map(str::to_string)
            })
            .collect()
    };
    let planning = tools_for("plan-one");
    let working = tools_for("plan-two");
    assert!(
        !planning.contains(&"write_file".to_string()),
        "{planning:?}"
    );
    assert!(working.contains(&"write_file".to_string()), "{working:?}");
}
