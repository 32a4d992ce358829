//! `aside agent` driven as a real ACP client would, against the fake model server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aside_testkit::acp::PermissionPolicy;
use aside_testkit::Rng;
use aside_testkit::{AcpClient, Chunk, FakeModel, Reply};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

struct Env {
    _dir: tempfile::TempDir,
    root: PathBuf,
    repo: PathBuf,
    model: FakeModel,
}

impl Env {
    fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let repo = root.join("repo");
        std::fs::create_dir_all(repo.join(".git")).unwrap();
        std::fs::create_dir_all(root.join("home")).unwrap();
        Env {
            _dir: dir,
            root,
            repo,
            model: FakeModel::start(),
        }
    }

    /// The environment of an agent pointed at the fake model with `provider`.
    fn vars(&self, provider: &str) -> Vec<(String, String)> {
        let base = match provider {
            "anthropic" => self.model.url.clone(),
            _ => self.model.openai_base(),
        };
        let mut vars = self.bare_vars();
        vars.extend([
            ("ASIDE_PROVIDER".into(), provider.into()),
            ("ASIDE_BASE_URL".into(), base),
            ("ASIDE_MODEL".into(), "fake-model".into()),
            ("ASIDE_API_KEY".into(), "sk-test-secret".into()),
        ]);
        vars
    }

    /// A hermetic environment with no model settings at all.
    fn bare_vars(&self) -> Vec<(String, String)> {
        let home = self.root.join("home");
        vec![
            ("HOME".into(), home.display().to_string()),
            (
                "XDG_CONFIG_HOME".into(),
                home.join(".config").display().to_string(),
            ),
            (
                "ASIDE_HOME".into(),
                self.root.join("aside-home").display().to_string(),
            ),
            ("ASIDE_PROVIDER".into(), String::new()),
            ("ASIDE_BASE_URL".into(), String::new()),
            ("ASIDE_MODEL".into(), String::new()),
            ("ASIDE_API_KEY".into(), String::new()),
            ("ASIDE_MAX_RETRIES".into(), "1".into()),
            ("OLLAMA_HOST".into(), "127.0.0.1:1".into()),
        ]
    }

    async fn agent_with(&self, vars: &[(String, String)]) -> AcpClient {
        let client = AcpClient::spawn(
            Path::new(env!("CARGO_BIN_EXE_aside")),
            &["agent"],
            vars,
            &self.repo,
        )
        .await;
        let init = client
            .initialize(
                json!({"fs": {"readTextFile": false, "writeTextFile": false}, "terminal": false}),
            )
            .await;
        assert_eq!(init["protocolVersion"], 1);
        client
    }

    async fn agent(&self) -> AcpClient {
        self.agent_with(&self.vars("openai")).await
    }
}

fn tool_updates(client: &AcpClient, session: &str) -> Vec<Value> {
    client
        .updates(session)
        .into_iter()
        .filter(|u| u["sessionUpdate"] == "tool_call" || u["sessionUpdate"] == "tool_call_update")
        .collect()
}

fn permission_requests(client: &AcpClient) -> Vec<Value> {
    client
        .log()
        .into_iter()
        .filter(|m| m["method"] == "session/request_permission")
        .collect()
}

/// The text of every message the model was sent in request `n`, joined.
fn request_text(model: &FakeModel, n: usize) -> String {
    model.received()[n].body.to_string()
}

fn process_running(pid: i32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.split_whitespace()
        .nth(2)
        .is_some_and(|state| state != "Z")
}

/// A killed process takes a moment to die: true if it is gone within two seconds.
async fn process_ends(pid: i32) -> bool {
    let deadline = Instant::now() + Duration::from_secs(2);
    while process_running(pid) {
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    true
}

#[tokio::test]
async fn multi_step_task_reads_edits_and_runs_a_command() {
    let env = Env::new();
    std::fs::write(env.repo.join("greet.txt"), "hello world\n").unwrap();
    std::fs::write(env.repo.join("AGENTS.md"), "Always say please.\n").unwrap();
    env.model.push([
        Reply::tool("read_file", json!({"path": "greet.txt"})).with_text_first("Let me look. "),
        Reply::tool(
            "edit_file",
            json!({"path": "greet.txt", "old_string": "world", "new_string": "aside"}),
        ),
        Reply::tool("run_command", json!({"command": "cat greet.txt"})),
        Reply::text("Done: greet.txt now says hello aside."),
    ]);
    let client = env.agent().await;
    let session = client.new_session(&env.repo).await;
    let response = client
        .prompt(&session, "Change world to aside in greet.txt")
        .await;
    assert_eq!(response["result"]["stopReason"], "end_turn", "{response}");

    assert_eq!(
        std::fs::read_to_string(env.repo.join("greet.txt")).unwrap(),
        "hello aside\n"
    );
    assert_eq!(
        client.agent_text(&session),
        "Let me look. Done: greet.txt now says hello aside."
    );

    let tools = tool_updates(&client, &session);
    let starts: Vec<&Value> = tools
        .iter()
        .filter(|u| u["sessionUpdate"] == "tool_call")
        .collect();
    let kinds: Vec<&str> = starts.iter().map(|u| u["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["read", "edit", "execute"]);
    assert_eq!(starts[0]["title"], "Read greet.txt");
    assert_eq!(
        starts[0]["locations"][0]["path"],
        env.repo.join("greet.txt").display().to_string()
    );
    let diff = &starts[1]["content"][0];
    assert_eq!(diff["type"], "diff");
    assert_eq!(diff["oldText"], "hello world\n");
    assert_eq!(diff["newText"], "hello aside\n");
    let command_done = tools
        .iter()
        .find(|u| {
            u["sessionUpdate"] == "tool_call_update"
                && u["toolCallId"] == starts[2]["toolCallId"]
                && u["status"] == "completed"
        })
        .expect("command completed");
    assert!(command_done["content"][0]["content"]["text"]
        .as_str()
        .unwrap()
        .contains("hello aside"));

    // Reads need no permission; the edit and the command each asked once, with all three kinds.
    let asks = permission_requests(&client);
    assert_eq!(asks.len(), 2);
    let kinds: Vec<&str> = asks[0]["params"]["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["allow_once", "allow_always", "reject_once"]);

    // The model saw the tool results, the AGENTS.md rules and the API key as a bearer token.
    let received = env.model.received();
    assert_eq!(received.len(), 4);
    assert!(request_text(&env.model, 0).contains("Always say please."));
    assert!(
        request_text(&env.model, 1).contains("hello world"),
        "the read result reaches the model"
    );
    assert!(request_text(&env.model, 3).contains("hello aside\\n[exit code 0]"));
    assert!(received[0]
        .headers
        .iter()
        .any(|(k, v)| k == "authorization" && v == "Bearer sk-test-secret"));
}

#[tokio::test]
async fn anthropic_provider_streams_and_uses_tools() {
    let env = Env::new();
    env.model.push([
        Reply::tool(
            "write_file",
            json!({"path": "src/new.rs", "content": "fn main() {}\n"}),
        )
        .with_text_first("Writing. "),
        Reply::text("Created src/new.rs."),
    ]);
    let client = env.agent_with(&env.vars("anthropic")).await;
    let session = client.new_session(&env.repo).await;
    let response = client.prompt(&session, "create a main").await;
    assert_eq!(response["result"]["stopReason"], "end_turn", "{response}");
    assert_eq!(
        std::fs::read_to_string(env.repo.join("src/new.rs")).unwrap(),
        "fn main() {}\n"
    );
    assert_eq!(client.agent_text(&session), "Writing. Created src/new.rs.");
    let received = env.model.received();
    assert_eq!(received[0].path, "/v1/messages");
    assert!(received[0]
        .headers
        .iter()
        .any(|(k, v)| k == "x-api-key" && v == "sk-test-secret"));
    assert!(received[0]
        .headers
        .iter()
        .any(|(k, _)| k == "anthropic-version"));
    let second = &received[1].body["messages"];
    assert_eq!(second[1]["content"][1]["type"], "tool_use");
    assert_eq!(second[2]["content"][0]["type"], "tool_result");
    assert_eq!(second[2]["content"][0]["content"], "Created src/new.rs");
}

#[tokio::test]
async fn rejected_permission_changes_nothing_and_tells_the_model() {
    let env = Env::new();
    std::fs::write(env.repo.join("a.txt"), "keep\n").unwrap();
    env.model.push([
        Reply::tool("write_file", json!({"path": "a.txt", "content": "gone\n"})),
        Reply::text("OK, I left it."),
    ]);
    let client = env.agent().await;
    client.set_policy(PermissionPolicy::Reject);
    let session = client.new_session(&env.repo).await;
    let response = client.prompt(&session, "overwrite a.txt").await;
    assert_eq!(response["result"]["stopReason"], "end_turn");
    assert_eq!(
        std::fs::read_to_string(env.repo.join("a.txt")).unwrap(),
        "keep\n"
    );
    let failed = tool_updates(&client, &session)
        .into_iter()
        .find(|u| u["status"] == "failed")
        .unwrap();
    assert_eq!(
        failed["content"][0]["content"]["text"],
        "Rejected by the user"
    );
    assert!(request_text(&env.model, 1).contains("The user rejected this action"));
}

#[tokio::test]
async fn allow_always_is_remembered_for_the_session() {
    let env = Env::new();
    env.model.push([
        Reply::tool("write_file", json!({"path": "one.txt", "content": "1"})),
        Reply::tool("write_file", json!({"path": "two.txt", "content": "2"})),
        Reply::tool("run_command", json!({"command": "true"})),
        Reply::text("done"),
    ]);
    let client = env.agent().await;
    client.set_policy(PermissionPolicy::AllowAlways);
    let session = client.new_session(&env.repo).await;
    client.prompt(&session, "write two files").await;
    assert!(env.repo.join("two.txt").exists());
    // One for edits (then remembered), one for commands: a different kind of action.
    let asks = permission_requests(&client);
    assert_eq!(asks.len(), 2, "{asks:?}");
    assert_eq!(asks[1]["params"]["toolCall"]["kind"], "execute");
}

#[tokio::test]
async fn cancel_during_a_stream_stops_within_a_second() {
    let env = Env::new();
    env.model.push([Reply::stream(vec![
        Chunk::Text("Thinking about it".into()),
        Chunk::Hang,
    ])]);
    let client = env.agent().await;
    let session = client.new_session(&env.repo).await;
    let (_, rx) = client.start_request(
        "session/prompt",
        json!({"sessionId": session, "prompt": [{"type": "text", "text": "go"}]}),
    );
    client
        .wait_for("the first chunk", |m| {
            m["params"]["update"]["sessionUpdate"] == "agent_message_chunk"
        })
        .await;
    let started = Instant::now();
    client.notify("session/cancel", json!({"sessionId": session}));
    let response = client.response(rx).await;
    assert_eq!(response["result"]["stopReason"], "cancelled", "{response}");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "took {:?}",
        started.elapsed()
    );

    // The partial answer is kept: a follow-up sees it.
    env.model.push([Reply::text("ok")]);
    client.prompt(&session, "again").await;
    assert!(request_text(&env.model, 1).contains("Thinking about it"));
}

#[tokio::test]
async fn cancel_during_a_long_command_kills_it_within_a_second() {
    let env = Env::new();
    env.model.push([Reply::tool(
        "run_command",
        json!({"command": "sleep 60 & echo $! > sleeper.pid; wait"}),
    )]);
    let client = env.agent().await;
    let session = client.new_session(&env.repo).await;
    let (_, rx) = client.start_request(
        "session/prompt",
        json!({"sessionId": session, "prompt": [{"type": "text", "text": "sleep"}]}),
    );
    let pid_file = env.repo.join("sleeper.pid");
    client
        .wait_for("the command to start", |m| {
            m["params"]["update"]["status"] == "in_progress"
        })
        .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_to_string(&pid_file)
        .map(|s| s.trim().is_empty())
        .unwrap_or(true)
    {
        assert!(Instant::now() < deadline, "the command never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(process_running(pid));
    let started = Instant::now();
    client.notify("session/cancel", json!({"sessionId": session}));
    let response = client.response(rx).await;
    assert_eq!(response["result"]["stopReason"], "cancelled", "{response}");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "took {:?}",
        started.elapsed()
    );
    assert!(
        process_ends(pid).await,
        "the command's child survived the cancel"
    );
}

#[tokio::test]
async fn load_and_resume_in_a_fresh_agent_process() {
    let env = Env::new();
    std::fs::write(env.repo.join("notes.txt"), "remember the milk\n").unwrap();
    env.model.push([
        Reply::tool("read_file", json!({"path": "notes.txt"})),
        Reply::text("It says to remember the milk."),
    ]);
    let first = env.agent().await;
    let session = first.new_session(&env.repo).await;
    first.prompt(&session, "What do my notes say?").await;
    first.close_stdin();
    drop(first);

    // A new process lists the session and replays its history before answering session/load.
    let second = env.agent().await;
    let list = second
        .request("session/list", json!({"cwd": env.repo}))
        .await;
    let listed = &list["result"]["sessions"][0];
    assert_eq!(listed["sessionId"], session.as_str());
    assert_eq!(listed["title"], "What do my notes say?");
    let load = second
        .request(
            "session/load",
            json!({"sessionId": session, "cwd": env.repo, "mcpServers": []}),
        )
        .await;
    assert!(load.get("result").is_some(), "{load}");
    let log = second.log();
    let load_at = log
        .iter()
        .position(|m| m["id"] == load["id"] && m.get("result").is_some())
        .unwrap();
    let replayed: Vec<&Value> = log[..load_at]
        .iter()
        .filter(|m| m["method"] == "session/update")
        .map(|m| &m["params"]["update"])
        .collect();
    let kinds: Vec<&str> = replayed
        .iter()
        .map(|u| u["sessionUpdate"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.first(), Some(&"user_message_chunk"));
    assert!(kinds.contains(&"tool_call"));
    assert_eq!(replayed[0]["content"]["text"], "What do my notes say?");
    assert_eq!(second.agent_text(&session), "It says to remember the milk.");

    env.model.push([Reply::text("Milk, as I said.")]);
    let r = second.prompt(&session, "and again?").await;
    assert_eq!(r["result"]["stopReason"], "end_turn");
    // The model got the whole earlier conversation.
    let third_request = request_text(&env.model, 2);
    assert!(
        third_request.contains("remember the milk")
            && third_request.contains("What do my notes say?")
    );
    second.close_stdin();
    drop(second);

    // session/resume restores without replaying.
    let third = env.agent().await;
    let resume = third
        .request(
            "session/resume",
            json!({"sessionId": session, "cwd": env.repo, "mcpServers": []}),
        )
        .await;
    assert!(resume.get("result").is_some(), "{resume}");
    assert!(third.updates(&session).is_empty(), "resume must not replay");
    env.model.push([Reply::text("Still milk.")]);
    third.prompt(&session, "once more").await;
    assert!(request_text(&env.model, 3).contains("Milk, as I said."));

    // An unknown session is a clear error.
    let missing = third
        .request(
            "session/load",
            json!({"sessionId": "nope", "cwd": env.repo, "mcpServers": []}),
        )
        .await;
    assert_eq!(missing["error"]["code"], -32002);
    assert!(missing["error"]["message"]
        .as_str()
        .unwrap()
        .contains("no stored session nope"));
}

#[tokio::test]
async fn path_escapes_are_refused_and_reported_to_the_model() {
    let env = Env::new();
    std::fs::write(env.root.join("secret.txt"), "top secret\n").unwrap();
    std::os::unix::fs::symlink(&env.root, env.repo.join("escape")).unwrap();
    env.model.push([
        Reply::tools(&[
            ("read_file", json!({"path": "../secret.txt"})),
            (
                "write_file",
                json!({"path": env.root.join("owned.txt"), "content": "x"}),
            ),
            ("read_file", json!({"path": "escape/secret.txt"})),
        ]),
        Reply::text("I cannot."),
    ]);
    let client = env.agent().await;
    let session = client.new_session(&env.repo).await;
    client.prompt(&session, "read the secret").await;
    assert!(!env.root.join("owned.txt").exists());
    let failed: Vec<Value> = tool_updates(&client, &session)
        .into_iter()
        .filter(|u| u["status"] == "failed")
        .collect();
    assert_eq!(failed.len(), 3);
    let second = request_text(&env.model, 1);
    assert!(!second.contains("top secret"));
    assert_eq!(
        second
            .matches("outside the session's working directory")
            .count(),
        3,
        "{second}"
    );
    assert!(
        permission_requests(&client).is_empty(),
        "a refused call asks nothing"
    );
}

#[tokio::test]
async fn invalid_arguments_and_unknown_tools_go_back_to_the_model() {
    let env = Env::new();
    env.model.push([
        Reply::stream(vec![
            Chunk::Tool {
                id: "c1".into(),
                name: "read_file".into(),
                arguments: "{not json".into(),
            },
            Chunk::Tool {
                id: "c2".into(),
                name: "fly_to_moon".into(),
                arguments: "{}".into(),
            },
            Chunk::Tool {
                id: "c3".into(),
                name: "edit_file".into(),
                arguments: "{\"path\": 3}".into(),
            },
        ]),
        Reply::text("Sorry."),
    ]);
    let client = env.agent().await;
    let session = client.new_session(&env.repo).await;
    let r = client.prompt(&session, "do things").await;
    assert_eq!(r["result"]["stopReason"], "end_turn");
    let second = request_text(&env.model, 1);
    assert!(
        second.contains("invalid arguments for read_file"),
        "{second}"
    );
    assert!(
        second.contains("unknown tool `fly_to_moon`. Available tools: read_file"),
        "{second}"
    );
    assert!(
        second.contains("invalid arguments for edit_file"),
        "{second}"
    );
}

#[tokio::test]
async fn endpoint_down_ends_the_turn_with_a_clear_message() {
    let env = Env::new();
    let mut vars = env.vars("openai");
    vars.retain(|(k, _)| k != "ASIDE_BASE_URL");
    vars.push(("ASIDE_BASE_URL".into(), "http://127.0.0.1:1/v1".into()));
    let client = env.agent_with(&vars).await;
    let session = client.new_session(&env.repo).await;
    let started = Instant::now();
    let r = client.prompt(&session, "hello").await;
    let message = r["error"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("{r}"));
    assert!(message.starts_with("cannot reach the model endpoint http://127.0.0.1:1/v1/chat/completions after 2 attempt(s)"), "{message}");
    assert!(
        message.contains("Check that the server is running"),
        "{message}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    // The agent is still alive and answers.
    let list = client.request("session/list", json!({})).await;
    assert!(list.get("result").is_some());
}

#[tokio::test]
async fn server_errors_are_retried() {
    let env = Env::new();
    env.model
        .push([Reply::status(503), Reply::text("recovered")]);
    let client = env.agent().await;
    let session = client.new_session(&env.repo).await;
    let r = client.prompt(&session, "hi").await;
    assert_eq!(r["result"]["stopReason"], "end_turn", "{r}");
    assert_eq!(client.agent_text(&session), "recovered");
    assert_eq!(env.model.received().len(), 2);
}

#[tokio::test]
async fn nothing_configured_names_the_settings() {
    let env = Env::new();
    let client = env.agent_with(&env.bare_vars()).await;
    let session = client.new_session(&env.repo).await;
    let r = client.prompt(&session, "hi").await;
    let message = r["error"]["message"].as_str().unwrap();
    assert!(message.starts_with("no model endpoint is configured. Set ASIDE_PROVIDER (openai|anthropic), ASIDE_BASE_URL, ASIDE_MODEL and ASIDE_API_KEY"), "{message}");
    assert!(message.contains("config.toml"), "{message}");
}

#[tokio::test]
async fn a_local_ollama_is_used_when_nothing_is_configured() {
    let env = Env::new();
    env.model.serve_ollama_tags(&["qwen3:8b"]);
    env.model.push([Reply::text("hi from ollama")]);
    let mut vars = env.bare_vars();
    vars.retain(|(k, _)| k != "OLLAMA_HOST");
    vars.push(("OLLAMA_HOST".into(), env.model.url.clone()));
    let client = env.agent_with(&vars).await;
    let session = client.new_session(&env.repo).await;
    client.prompt(&session, "hi").await;
    assert_eq!(client.agent_text(&session), "hi from ollama");
    let received = env.model.received();
    assert_eq!(received[0].path, "/v1/chat/completions");
    assert_eq!(received[0].body["model"], "qwen3:8b");
}

#[tokio::test]
async fn config_file_settings_are_used() {
    let env = Env::new();
    let config_dir = env.root.join("home/.config/aside");
    std::fs::create_dir_all(&config_dir).unwrap();
    std::fs::write(
        config_dir.join("config.toml"),
        format!(
            "[model]\nprovider = \"openai\"\nbase_url = \"{}\"\nmodel = \"from-file\"\n",
            env.model.openai_base()
        ),
    )
    .unwrap();
    env.model.push([Reply::text("configured")]);
    let client = env.agent_with(&env.bare_vars()).await;
    let session = client.new_session(&env.repo).await;
    client.prompt(&session, "hi").await;
    assert_eq!(env.model.received()[0].body["model"], "from-file");
}

#[tokio::test]
async fn malformed_json_rpc_gets_an_error_and_the_agent_goes_on() {
    let env = Env::new();
    let client = env.agent().await;
    client.send_raw("{this is not json");
    let error = client
        .wait_for("a parse error", |m| m["error"]["code"] == -32700)
        .await;
    assert_eq!(error["id"], Value::Null);
    let r = client.request("no/such_method", json!({})).await;
    assert_eq!(r["error"]["code"], -32601, "{r}");
    let r = client
        .request("session/prompt", json!({"sessionId": 5}))
        .await;
    assert_eq!(r["error"]["code"], -32602, "{r}");
    let r = client
        .request(
            "session/new",
            json!({"cwd": "relative/dir", "mcpServers": []}),
        )
        .await;
    assert_eq!(
        r["error"]["message"],
        "cwd must be an absolute path, got relative/dir"
    );
    let r = client
        .request(
            "session/prompt",
            json!({"sessionId": "unknown", "prompt": []}),
        )
        .await;
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("no active session unknown"),
        "{r}"
    );
    // Still serving.
    client.new_session(&env.repo).await;
}

#[tokio::test]
async fn plan_mode_is_read_only_and_sends_a_plan() {
    let env = Env::new();
    std::fs::write(env.repo.join("lib.rs"), "pub fn f() {}\n").unwrap();
    env.model.push([
        Reply::tools(&[
            (
                "write_file",
                json!({"path": "lib.rs", "content": "changed"}),
            ),
            (
                "update_plan",
                json!({"entries": [
                {"content": "Add a test for f", "status": "pending", "priority": "high"},
                {"content": "Document f", "status": "pending"}]}),
            ),
        ]),
        Reply::text("Plan: 1. add a test 2. document f"),
    ]);
    let client = env.agent().await;
    let session = client.new_session(&env.repo).await;
    let r = client
        .request(
            "session/set_config_option",
            json!({"sessionId": session, "configId": "mode", "value": "plan"}),
        )
        .await;
    assert_eq!(
        r["result"]["configOptions"][0]["currentValue"], "plan",
        "{r}"
    );
    client
        .prompt(&session, "how would you improve lib.rs?")
        .await;
    assert_eq!(
        std::fs::read_to_string(env.repo.join("lib.rs")).unwrap(),
        "pub fn f() {}\n"
    );
    let first = &env.model.received()[0].body;
    let tools: Vec<&str> = first["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    assert!(
        !tools.contains(&"write_file")
            && !tools.contains(&"run_command")
            && tools.contains(&"read_file"),
        "{tools:?}"
    );
    assert!(first.to_string().contains("PLAN mode"));
    let plan = client
        .updates(&session)
        .into_iter()
        .find(|u| u["sessionUpdate"] == "plan")
        .expect("a plan update");
    assert_eq!(plan["entries"][0]["content"], "Add a test for f");
    assert_eq!(plan["entries"][1]["priority"], "medium");
    assert!(request_text(&env.model, 1).contains("not available in plan mode"));
    // Back to code mode through the legacy modes API.
    let r = client
        .request(
            "session/set_mode",
            json!({"sessionId": session, "modeId": "code"}),
        )
        .await;
    assert!(r.get("result").is_some(), "{r}");
    let r = client
        .request(
            "session/set_mode",
            json!({"sessionId": session, "modeId": "yolo"}),
        )
        .await;
    assert_eq!(
        r["error"]["message"],
        "unknown mode `yolo`: use code or plan"
    );
}

#[tokio::test]
async fn long_conversations_are_compacted_and_go_on() {
    let env = Env::new();
    std::fs::write(
        env.repo.join("big.txt"),
        "line of text that takes room\n".repeat(400),
    )
    .unwrap();
    env.model.push([
        Reply::tool("read_file", json!({"path": "big.txt"})),
        Reply::text("It is a big file."),
        Reply::tool("read_file", json!({"path": "big.txt"})),
        // Two copies of the file no longer fit: first the summary, then the answer.
        Reply::text("SUMMARY: user asked about big.txt, it repeats one line."),
        Reply::text("Yes, still big."),
    ]);
    let mut vars = env.vars("openai");
    vars.push(("ASIDE_CONTEXT_WINDOW".into(), "8000".into()));
    vars.push(("ASIDE_MAX_OUTPUT_TOKENS".into(), "500".into()));
    let client = env.agent_with(&vars).await;
    let session = client.new_session(&env.repo).await;
    client.prompt(&session, "What is in big.txt?").await;
    let r = client.prompt(&session, "Is it still big?").await;
    assert_eq!(r["result"]["stopReason"], "end_turn", "{r}");
    let received = env.model.received();
    assert_eq!(received.len(), 5);
    assert!(
        received[3].body.get("tools").is_none(),
        "the summary request offers no tools"
    );
    assert!(received[3].body.to_string().contains("What is in big.txt?"));
    let last = received[4].body.to_string();
    assert!(
        last.contains("[Summary of the earlier conversation]\\nSUMMARY: user asked about big.txt"),
        "{last}"
    );
    assert_eq!(
        last.matches("line of text that takes room").count(),
        400,
        "only the current turn's copy is left"
    );
    assert!(last.contains("Is it still big?"));
    assert_eq!(
        client.agent_text(&session),
        "It is a big file.Yes, still big."
    );
}

#[tokio::test]
async fn commands_run_in_the_clients_terminal_when_it_offers_one() {
    let env = Env::new();
    env.model.push([
        Reply::tool(
            "run_command",
            json!({"command": "echo from-terminal; exit 4"}),
        ),
        Reply::text("ran it"),
    ]);
    let client = AcpClient::spawn(
        Path::new(env!("CARGO_BIN_EXE_aside")),
        &["agent"],
        &env.vars("openai"),
        &env.repo,
    )
    .await;
    client.serve_terminals();
    client.initialize(json!({"terminal": true})).await;
    let session = client.new_session(&env.repo).await;
    let r = client.prompt(&session, "run it").await;
    assert_eq!(r["result"]["stopReason"], "end_turn", "{r}");
    let created = client.terminal_commands();
    assert_eq!(created.len(), 1);
    assert_eq!(created[0]["command"], "sh");
    assert_eq!(
        created[0]["args"],
        json!(["-c", "echo from-terminal; exit 4"])
    );
    assert_eq!(created[0]["cwd"], env.repo.display().to_string());
    let updates = tool_updates(&client, &session);
    assert!(
        updates
            .iter()
            .any(|u| u["content"][0]["type"] == "terminal"),
        "the terminal is shown in the tool call"
    );
    assert!(
        request_text(&env.model, 1).contains("from-terminal\\n[exit code 4]"),
        "{}",
        request_text(&env.model, 1)
    );
    // The agent released its terminal.
    assert!(client
        .log()
        .iter()
        .any(|m| m["method"] == "terminal/release"));
}

#[tokio::test]
async fn reasoning_streams_as_thought_chunks_for_both_providers() {
    for provider in ["openai", "anthropic"] {
        let env = Env::new();
        env.model.push([Reply::stream(vec![
            Chunk::Thought("The user wants a greeting.".into()),
            Chunk::Text("Hello!".into()),
        ])]);
        let client = env.agent_with(&env.vars(provider)).await;
        let session = client.new_session(&env.repo).await;
        client.prompt(&session, "hi").await;
        let thoughts: String = client
            .updates(&session)
            .iter()
            .filter(|u| u["sessionUpdate"] == "agent_thought_chunk")
            .map(|u| u["content"]["text"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(thoughts, "The user wants a greeting.", "{provider}");
        assert_eq!(client.agent_text(&session), "Hello!", "{provider}");
    }
}

#[tokio::test]
async fn a_silent_endpoint_times_out_with_a_hint() {
    let env = Env::new();
    env.model.push([Reply::stream(vec![Chunk::Hang])]);
    let mut vars = env.vars("openai");
    vars.push(("ASIDE_REQUEST_TIMEOUT".into(), "1".into()));
    let client = env.agent_with(&vars).await;
    let session = client.new_session(&env.repo).await;
    let r = client.prompt(&session, "hi").await;
    let message = r["error"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("{r}"));
    assert!(
        message.ends_with(
            "sent nothing for 1 s (request timeout; raise ASIDE_REQUEST_TIMEOUT for slow models)"
        ),
        "{message}"
    );
}

/// A third-party ACP client, acpx from npm, drives `aside agent` through a whole task (with its
/// own terminal for the command). `.ci/run` installs acpx and sets ASIDE_TEST_ACPX.
#[tokio::test]
async fn acpx_drives_aside_agent() {
    let Some(acpx) = std::env::var_os("ASIDE_TEST_ACPX") else {
        eprintln!("skipped: set ASIDE_TEST_ACPX to an acpx binary (.ci/run does)");
        return;
    };
    let env = Env::new();
    std::fs::write(env.repo.join("greet.txt"), "hello world\n").unwrap();
    env.model.push([
        Reply::tool(
            "edit_file",
            json!({"path": "greet.txt", "old_string": "world", "new_string": "acpx"}),
        ),
        Reply::tool("run_command", json!({"command": "cat greet.txt"})),
        Reply::text("Done: greet.txt now greets acpx."),
    ]);
    let agent = format!("{} agent", env!("CARGO_BIN_EXE_aside"));
    let output = tokio::process::Command::new(acpx)
        .args([
            "--approve-all",
            "--format",
            "json",
            "--agent",
            &agent,
            "exec",
            "Change world to acpx",
        ])
        .current_dir(&env.repo)
        .envs(env.vars("openai"))
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "acpx failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(env.repo.join("greet.txt")).unwrap(),
        "hello acpx\n"
    );
    assert!(stdout.contains("\"stopReason\":\"end_turn\""), "{stdout}");
    assert!(request_text(&env.model, 2).contains("hello acpx\\n[exit code 0]"));
}

/// `aside agent` on raw pipes: any bytes go in, every line that comes out is kept.
struct RawAgent {
    child: tokio::process::Child,
    stdin: Option<tokio::process::ChildStdin>,
    stdout: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

impl RawAgent {
    fn spawn(env: &Env) -> RawAgent {
        use tokio::io::{AsyncBufReadExt, AsyncReadExt};
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_aside"))
            .arg("agent")
            .current_dir(&env.repo)
            .envs(env.vars("openai"))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let stdout = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let mut out = tokio::io::BufReader::new(child.stdout.take().unwrap());
        let lines = stdout.clone();
        tokio::spawn(async move {
            let mut line = Vec::new();
            while out.read_until(b'\n', &mut line).await.is_ok_and(|n| n > 0) {
                let text = String::from_utf8_lossy(&line).trim_end().to_string();
                lines.lock().unwrap().push(text);
                line.clear();
            }
        });
        let mut err = child.stderr.take().unwrap();
        let text = stderr.clone();
        tokio::spawn(async move {
            let mut buf = vec![0; 4096];
            while let Ok(n) = err.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                text.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        RawAgent {
            stdin: child.stdin.take(),
            child,
            stdout,
            stderr,
        }
    }

    /// Writes `bytes`; false once the agent no longer reads.
    async fn write(&mut self, bytes: &[u8]) -> bool {
        use tokio::io::AsyncWriteExt;
        match self.stdin.as_mut() {
            Some(stdin) => stdin.write_all(bytes).await.is_ok() && stdin.flush().await.is_ok(),
            None => false,
        }
    }

    fn close_stdin(&mut self) {
        self.stdin = None;
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// The first line the agent wrote whose JSON matches `pred`, waiting up to `limit`.
    async fn wait_for(&self, limit: Duration, pred: impl Fn(&Value) -> bool) -> Option<Value> {
        let deadline = Instant::now() + limit;
        loop {
            let found = self
                .stdout
                .lock()
                .unwrap()
                .iter()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .find(|v| pred(v));
            if found.is_some() || Instant::now() > deadline {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits up to `limit` for the agent to exit and checks it did not panic.
    async fn exit(&mut self, limit: Duration, case: &str) -> std::process::ExitStatus {
        let status = match tokio::time::timeout(limit, self.child.wait()).await {
            Ok(status) => status.unwrap(),
            Err(_) => panic!(
                "{case}: the agent did not exit within {limit:?}; stderr:\n{}",
                self.stderr()
            ),
        };
        // Let the readers drain what is left.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let stderr = self.stderr();
        assert!(
            !stderr.contains("panicked at") && status.code() != Some(101),
            "{case}: the agent panicked ({status}):\n{stderr}"
        );
        status
    }
}

/// Lines a confused or hostile client might send: not JSON, JSON of the wrong shape, JSON-RPC
/// with wrong types, and requests with odd parameters. All valid UTF-8.
fn garbage_lines(rng: &mut Rng, repo: &Path) -> Vec<String> {
    let fixed: Vec<String> = vec![
        "{this is not json".into(),
        "".into(),
        "   ".into(),
        "\r".into(),
        "null".into(),
        "42".into(),
        "\"a string\"".into(),
        "[]".into(),
        "[1, 2, 3]".into(),
        "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\"}]".into(),
        "{}".into(),
        "{\"jsonrpc\":\"2.0\"}".into(),
        "{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"initialize\",\"params\":{}}".into(),
        "{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"initialize\"}".into(),
        "{\"jsonrpc\":\"2.0\",\"id\":[1],\"method\":\"initialize\"}".into(),
        "{\"jsonrpc\":\"2.0\",\"id\":1e999,\"method\":\"initialize\"}".into(),
        "{\"jsonrpc\":\"2.0\",\"id\":18446744073709551616,\"method\":\"x\"}".into(),
        "{\"jsonrpc\":\"2.0\",\"id\":-1,\"method\":5}".into(),
        "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"initialize\",\"params\":\"x\"}".into(),
        "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"initialize\",\"params\":{\"protocolVersion\":\"abc\"}}".into(),
        "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"initialize\",\"params\":{\"protocolVersion\":99999999999}}".into(),
        "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"session/prompt\",\"params\":{\"sessionId\":[],\"prompt\":\"x\"}}".into(),
        "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"session/prompt\",\"params\":{\"sessionId\":\"nope\",\"prompt\":[{\"type\":\"image\"}]}}".into(),
        "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"session/load\",\"params\":{\"sessionId\":\"../../etc\",\"cwd\":\"/\",\"mcpServers\":[]}}".into(),
        "{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"session/new\",\"params\":{\"cwd\":\"/no/such/dir\",\"mcpServers\":[]}}".into(),
        json!({"jsonrpc": "2.0", "id": 9, "method": "session/new",
               "params": {"cwd": repo, "mcpServers": [], "additionalDirectories": ["relative", "/"]}})
        .to_string(),
        "{\"jsonrpc\":\"2.0\",\"id\":10,\"method\":\"session/set_mode\",\"params\":{\"sessionId\":\"x\",\"modeId\":null}}".into(),
        "{\"jsonrpc\":\"2.0\",\"id\":11,\"method\":\"session/set_config_option\",\"params\":{\"sessionId\":\"x\",\"configId\":\"mode\",\"value\":{\"deep\":[[[]]]}}}".into(),
        "{\"jsonrpc\":\"2.0\",\"id\":12,\"method\":\"session/list\",\"params\":{\"cwd\":7}}".into(),
        "{\"jsonrpc\":\"2.0\",\"id\":13,\"result\":{}}".into(),
        "{\"jsonrpc\":\"2.0\",\"id\":14,\"error\":{\"code\":\"x\"}}".into(),
        "{\"jsonrpc\":\"2.0\",\"method\":\"session/cancel\",\"params\":{\"sessionId\":5}}".into(),
        "{\"jsonrpc\":\"2.0\",\"method\":\"session/cancel\"}".into(),
        "{\"jsonrpc\":\"2.0\",\"method\":\"no/such_notification\",\"params\":[]}".into(),
        "{\"jsonrpc\":\"2.0\",\"id\":15,\"method\":\"\",\"params\":null}".into(),
        "{\"jsonrpc\":\"2.0\",\"id\":\"\u{0}\u{feff}😀\",\"method\":\"initialize\",\"params\":{\"protocolVersion\":1}}".into(),
        format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000)),
        format!("{{\"a\":{}", "{\"a\":".repeat(5_000)),
    ];
    let mut lines = Vec::new();
    for _ in 0..40 {
        let line = match rng.below(4) {
            0 => {
                // Random characters, some of them multi-byte.
                let alphabet = [
                    '{', '}', '"', ':', ',', '[', ']', 'a', '1', ' ', 'é', '😀', '\u{0}', '\\',
                    '\r',
                ];
                (0..rng.below(200)).map(|_| rng.pick(&alphabet)).collect()
            }
            1 => {
                // A valid request cut short.
                let full = json!({"jsonrpc": "2.0", "id": 100, "method": "initialize",
                                  "params": {"protocolVersion": 1}})
                .to_string();
                let cut = rng.below(full.len());
                full[..cut].to_string()
            }
            _ => fixed[rng.below(fixed.len())].clone(),
        };
        lines.push(line);
    }
    lines
}

fn probe(id: &str) -> String {
    json!({"jsonrpc": "2.0", "id": id, "method": "initialize",
           "params": {"protocolVersion": 1, "clientCapabilities": {}}})
    .to_string()
}

/// Garbage on stdin (UTF-8, but not JSON, the wrong JSON, wrong types, a line of 8 MiB): the
/// agent answers what it can, never panics, writes only JSON lines, still answers a valid
/// `initialize` afterwards, and exits 0 when stdin closes.
#[tokio::test]
async fn garbage_on_stdin_never_panics_and_the_agent_still_answers() {
    let env = Env::new();
    for seed in 0..6u64 {
        let case = format!("seed {seed}");
        let mut rng = Rng::new(seed);
        let mut agent = RawAgent::spawn(&env);
        let mut input = String::new();
        for line in garbage_lines(&mut rng, &env.repo) {
            input.push_str(&line);
            input.push('\n');
        }
        if seed % 2 == 0 {
            // An over-long line: it is a parse error like any other.
            input.push_str(&"x".repeat(8 << 20));
            input.push('\n');
        }
        let id = format!("probe-{seed}");
        input.push_str(&probe(&id));
        input.push('\n');
        assert!(
            agent.write(input.as_bytes()).await,
            "{case}: stdin closed early"
        );
        let answer = agent
            .wait_for(Duration::from_secs(30), |m| m["id"] == id.as_str())
            .await
            .unwrap_or_else(|| {
                panic!(
                    "{case}: no answer to initialize; stderr:\n{}",
                    agent.stderr()
                )
            });
        assert_eq!(answer["result"]["protocolVersion"], 1, "{case}: {answer}");
        agent.close_stdin();
        let status = agent.exit(Duration::from_secs(10), &case).await;
        assert_eq!(status.code(), Some(0), "{case}: {}", agent.stderr());
        let lines = agent.stdout.lock().unwrap().clone();
        for line in &lines {
            assert!(
                serde_json::from_str::<Value>(line).is_ok(),
                "{case}: the agent wrote a line that is not JSON: {line:.200}"
            );
        }
        // Malformed input got JSON-RPC errors (parse error or invalid request) with id null.
        assert!(
            lines.iter().any(|l| {
                let v: Value = serde_json::from_str(l).unwrap_or_default();
                v["id"].is_null() && matches!(v["error"]["code"].as_i64(), Some(-32700 | -32600))
            }),
            "{case}"
        );
    }
}

/// Bytes that are not UTF-8 on stdin: the SDK's line reader fails, which ends the connection
/// (requests still in flight go unanswered). The agent says so and exits 1, at once, with stdin
/// still open, and without a panic.
#[tokio::test]
async fn bytes_that_are_not_utf8_end_the_connection_cleanly() {
    let env = Env::new();
    for seed in 0..4u64 {
        let case = format!("seed {seed}");
        let mut rng = Rng::new(seed);
        let mut agent = RawAgent::spawn(&env);
        agent
            .write(format!("{}\n", probe("before")).as_bytes())
            .await;
        let before = agent
            .wait_for(Duration::from_secs(30), |m| m["id"] == "before")
            .await;
        assert!(before.is_some(), "{case}: {}", agent.stderr());
        let mut input: Vec<u8> = (0..rng.below(2000)).map(|_| rng.next() as u8).collect();
        let at = rng.below(input.len() + 1);
        input.insert(at, 0xFF);
        input.push(b'\n');
        input.extend_from_slice(probe("after").as_bytes());
        input.push(b'\n');
        agent.write(&input).await;
        let status = agent.exit(Duration::from_secs(10), &case).await;
        assert_eq!(status.code(), Some(1), "{case}: {}", agent.stderr());
        assert!(
            agent
                .stderr()
                .contains("aside: ACP connection failed: Internal error: \"stream did not contain valid UTF-8\""),
            "{case}: {}",
            agent.stderr()
        );
    }
}

/// stdin closed in the middle of a request line, or while a prompt is streaming: the agent
/// exits at once, with status 0, without a panic.
#[tokio::test]
async fn closing_stdin_mid_request_exits_quickly() {
    let env = Env::new();
    let full = probe("cut");
    for cut in [1, full.len() / 2, full.len() - 1] {
        let case = format!("request cut at byte {cut}");
        let mut agent = RawAgent::spawn(&env);
        agent.write(&full.as_bytes()[..cut]).await;
        agent.close_stdin();
        let started = Instant::now();
        let status = agent.exit(Duration::from_secs(10), &case).await;
        assert_eq!(status.code(), Some(0), "{case}: {}", agent.stderr());
        assert!(started.elapsed() < Duration::from_secs(5), "{case}");
    }

    env.model.push([Reply::stream(vec![
        Chunk::Text("streaming".into()),
        Chunk::Hang,
    ])]);
    let mut client = env.agent().await;
    let session = client.new_session(&env.repo).await;
    let (_, _rx) = client.start_request(
        "session/prompt",
        json!({"sessionId": session, "prompt": [{"type": "text", "text": "go"}]}),
    );
    client
        .wait_for("the first chunk", |m| {
            m["params"]["update"]["sessionUpdate"] == "agent_message_chunk"
        })
        .await;
    client.close_stdin();
    let started = Instant::now();
    let status = tokio::time::timeout(Duration::from_secs(10), client.child.wait())
        .await
        .unwrap_or_else(|_| {
            panic!(
                "no exit after stdin closed mid-prompt; stderr:\n{}",
                client.stderr()
            )
        })
        .unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let stderr = client.stderr();
    assert!(!stderr.contains("panicked at"), "{stderr}");
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
}
