//! `aside config`, `[defaults]` (and a repository's `.aside.toml`), and per-agent settings.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::Env;
use aside_testkit::Reply;
use serde_json::json;

#[test]
fn config_is_read_and_changed_and_a_bad_change_is_refused() {
    let env = Env::new();
    let file = env.root.join("home/.config/aside/config.toml");
    assert_eq!(env.ok(&["config", "path"]), file.display().to_string());
    env.ok(&["config", "set", "sessions.max_concurrent", "3"]);
    env.ok(&[
        "config",
        "set",
        "agents.goose.command",
        "[\"goose\", \"acp\"]",
    ]);
    env.ok(&["config", "set", "model.base_url", "http://127.0.0.1:1/v1"]);
    assert_eq!(
        env.ok(&["config", "get", "agents.goose.command"]),
        "[\"goose\", \"acp\"]"
    );
    assert_eq!(
        env.ok(&["config", "get", "model.base_url"]),
        "http://127.0.0.1:1/v1"
    );
    assert_eq!(
        env.ok(&["config", "list"]),
        "sessions.max_concurrent = 3\nagents.goose.command = [\"goose\", \"acp\"]\nmodel.base_url = \"http://127.0.0.1:1/v1\""
    );
    let before = std::fs::read_to_string(&file).unwrap();
    let err = env.fails(&["config", "set", "sessions.max_concurent", "3"]);
    assert!(
        err.starts_with("aside: not changed: the config would not read:")
            && err.contains("unknown field `max_concurent`"),
        "{err}"
    );
    let err = env.fails(&["config", "set", "defaults.approve", "sometimes"]);
    assert_eq!(
        err,
        "aside: not changed: defaults.approve is `sometimes`: use all, edits or ask"
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), before);
    env.ok(&["config", "unset", "model.base_url"]);
    let err = env.fails(&["config", "get", "model.base_url"]);
    assert_eq!(
        err,
        format!("aside: model.base_url is not set in {}", file.display())
    );
}

#[test]
fn defaults_and_per_agent_settings_shape_new_sessions() {
    let env = Env::new();
    env.model.push_for(
        "defaults-task",
        [
            Reply::tool(
                "run_command",
                json!({"command": "printf %s \"$ASIDE_TEST_MARK\" > mark.txt"}),
            ),
            Reply::text("Marked."),
        ],
    );
    // The user's defaults: approvals; the agent's own settings: environment and model.
    env.ok(&["config", "set", "defaults.approve", "all"]);
    env.ok(&[
        "config",
        "set",
        "agents.builtin.env.ASIDE_TEST_MARK",
        "from-config",
    ]);
    env.ok(&["config", "set", "agents.builtin.model", "per-agent-model"]);
    // The repository's: work in the checkout itself, which is looser than the user's own
    // (isolated) and so applies only once the user trusts the file.
    std::fs::write(
        env.repo.join(".aside.toml"),
        "[defaults]\nmode = \"workspace\"\n",
    )
    .unwrap();
    env.ok(&["trust"]);
    let id = env.new_session("defaults-task: mark it", &[]);
    let s = env.wait_status(&id, "completed");
    assert_eq!(s["mode"], "workspace");
    assert_eq!(s["approve"], "all");
    assert_eq!(
        std::fs::read_to_string(env.repo.join("mark.txt")).unwrap(),
        "from-config"
    );
    let asked = env
        .model
        .received()
        .into_iter()
        .find(|r| r.body.to_string().contains("defaults-task"))
        .unwrap();
    assert_eq!(asked.body["model"], "per-agent-model");
    // A repository cannot choose what runs: agent commands in .aside.toml are refused.
    std::fs::write(
        env.repo.join(".aside.toml"),
        "[agents.x]\ncommand = [\"rm\"]\n",
    )
    .unwrap();
    let err = env.fails(&["new", "anything"]);
    assert!(
        err.contains(".aside.toml") && err.contains("unknown field `agents`"),
        "{err}"
    );
}

/// `--model`: an agent aside knows gets it as its own variable or flag; any other ACP agent is
/// asked through its session config option of category `model` (here the built-in agent
/// declared under another name, which aside does not know).
#[test]
fn new_takes_a_model_for_any_agent() {
    let env = Env::new();
    env.model.push_for("model-task", [Reply::text("ok")]);
    let id = env.new_session("model-task: which model", &["--model", "chosen-one"]);
    env.wait_status(&id, "completed");
    let asked = |marker: &str| {
        env.model
            .received()
            .into_iter()
            .find(|r| r.body.to_string().contains(marker))
            .unwrap()
    };
    assert_eq!(asked("model-task").body["model"], "chosen-one");
    env.config(&format!(
        "[agents.again]\ncommand = [\"{}\", \"agent\"]\n",
        env!("CARGO_BIN_EXE_aside")
    ));
    env.model
        .push_for("option-task", [Reply::text("ok"), Reply::text("ok")]);
    let id = env.new_session(
        "option-task: which model",
        &["--agent", "again", "--model", "chosen-two"],
    );
    env.wait_status(&id, "completed");
    assert_eq!(asked("option-task").body["model"], "chosen-two");
    // The choice is the session's: a follow-up after its host stopped keeps it.
    env.ok(&["stop", &id]);
    env.ok(&["send", &id, "option-task again"]);
    env.wait_status(&id, "completed");
    let last = env
        .model
        .received()
        .into_iter()
        .rfind(|r| r.body.to_string().contains("option-task again"))
        .unwrap();
    assert_eq!(last.body["model"], "chosen-two");
}

/// `[[mcp_servers]]` reach a real ACP agent in its session/new: codex-acp starts the test's
/// MCP server and offers its tool to the model. (Copilot CLI takes only HTTP MCP servers from
/// an ACP client; it logs that it rejects stdio ones.)
#[test]
fn mcp_servers_in_the_config_are_given_to_the_agent() {
    let Some(codex) = std::env::var_os("ASIDE_TEST_CODEX") else {
        eprintln!("skipped: set ASIDE_TEST_CODEX to the native codex-acp binary (.ci/run does)");
        return;
    };
    let env = crate::common::codex_env(&codex);
    let marks = env.root.join("mcp-marks.txt");
    env.config(&crate::common::mcp_stdio_config("marker", &marks));
    env.model.push_for("mcp-task", [Reply::text("Seen.")]);
    let id = env.new_session("mcp-task: look at your tools", &["--agent", "codex"]);
    env.wait_status(&id, "completed");
    let marked = std::fs::read_to_string(&marks).unwrap_or_default();
    assert!(
        marked.contains("started")
            && marked.contains("initialize")
            && marked.contains("tools/list"),
        "the MCP server was not started and asked for its tools: {marked:?}"
    );
    let asked = env
        .model
        .received()
        .into_iter()
        .find(|r| r.body.to_string().contains("mcp-task"))
        .unwrap();
    assert!(
        asked.body["tools"].to_string().contains("marker_echo"),
        "the model was not offered the MCP tool: {}",
        asked.body["tools"]
    );
    // A server with neither a command nor a url is refused when the config is read.
    env.config("[[mcp_servers]]\nname = \"nothing\"\n");
    let err = env.fails(&["new", "anything"]);
    assert!(
        err.contains("MCP server `nothing` has neither a command (stdio) nor a url (HTTP)"),
        "{err}"
    );
}

/// The built-in agent uses the `[[mcp_servers]]` as tools: a stdio server and an HTTP one (with
/// its headers). Each call is asked for like a command (policy `ask` waits for the user), its
/// result goes back to the model, and a server that cannot start is shown as a failed step
/// while the session goes on with the others.
#[test]
fn the_builtin_agent_calls_the_tools_of_mcp_servers() {
    if !crate::common::node_available() {
        eprintln!("skipped: node is not installed (.ci/run installs it)");
        return;
    }
    let env = Env::new();
    let marks = env.root.join("mcp-marks.txt");
    let http = crate::common::McpHttp::start(&env.root);
    env.config(&format!(
        "{}{}[[mcp_servers]]\nname = \"broken\"\ncommand = [\"/no/such/mcp-server\"]\n",
        crate::common::mcp_stdio_config("marker", &marks),
        http.config("web"),
    ));
    env.model.push_for(
        "mcp-use",
        [
            Reply::tool("mcp__marker__marker_echo", json!({"word": "hello"})),
            Reply::tool("mcp__web__marker_echo", json!({"word": "remote"})),
            Reply::text("Both servers answered."),
        ],
    );
    let id = env.new_session("mcp-use: ask the servers", &["--approve", "ask"]);
    env.wait_status(&id, "needs_input");
    let shown = env.ok(&["show", &id]);
    assert!(
        shown.contains("Start MCP server broken")
            && shown.contains("cannot start `/no/such/mcp-server`"),
        "the server that cannot start is not shown:\n{shown}"
    );
    assert!(
        shown.contains("marker: marker_echo"),
        "the waiting call is not shown:\n{shown}"
    );
    // Nothing ran before the user allowed it.
    let marked = std::fs::read_to_string(&marks).unwrap_or_default();
    assert!(
        marked.contains("tools/list") && !marked.contains("call "),
        "{marked:?}"
    );
    env.ok(&["approve", &id, "--always"]);
    env.wait_status(&id, "completed");

    let marked = std::fs::read_to_string(&marks).unwrap();
    assert!(marked.contains("call {\"word\":\"hello\"}"), "{marked:?}");
    let http_marked = http.marked();
    assert!(
        http_marked.contains("call {\"word\":\"remote\"}")
            && http_marked.contains("header x-test yes"),
        "the HTTP server was not called with its headers: {http_marked:?}"
    );
    let requests: Vec<String> = env
        .model
        .received()
        .into_iter()
        .map(|r| r.body.to_string())
        .filter(|b| b.contains("mcp-use"))
        .collect();
    assert!(
        requests[0].contains("mcp__marker__marker_echo")
            && requests[0].contains("mcp__web__marker_echo")
            && requests[0].contains("Echo a word back."),
        "the model was not offered the MCP tools: {}",
        requests[0]
    );
    assert!(
        requests.last().unwrap().contains("echo: hello")
            && requests.last().unwrap().contains("echo: remote"),
        "the tool results did not reach the model"
    );
    let shown = env.ok(&["show", &id]);
    assert!(shown.contains("Both servers answered."), "{shown}");
    // The stdio server went away with the agent.
    let worktree = env.session(&id)["worktree"].as_str().unwrap().to_string();
    env.ok(&["stop", &id]);
    crate::common::wait_no_process_in(std::path::Path::new(&worktree), "the stdio MCP server");
}

/// Copilot CLI takes HTTP MCP servers from an ACP client (it rejects stdio ones): the test's
/// HTTP server is started by it, with the configured header, and its tool offered to the model.
#[test]
fn copilot_is_given_http_mcp_servers() {
    let Some(copilot) = std::env::var_os("ASIDE_TEST_COPILOT") else {
        eprintln!("skipped: set ASIDE_TEST_COPILOT to the native copilot binary (.ci/run does)");
        return;
    };
    if !crate::common::node_available() {
        eprintln!("skipped: node is not installed (.ci/run installs it)");
        return;
    }
    let env = crate::common::copilot_env(&copilot);
    let http = crate::common::McpHttp::start(&env.root);
    env.config(&http.config("web"));
    env.model.push_for("copilot-mcp", [Reply::text("Seen.")]);
    let id = env.new_session("copilot-mcp: look at your tools", &["--agent", "copilot"]);
    env.wait_status(&id, "completed");
    let marked = http.marked();
    assert!(
        marked.contains("initialize")
            && marked.contains("tools/list")
            && marked.contains("header x-test yes"),
        "Copilot did not reach the HTTP MCP server with its header: {marked:?}"
    );
    let asked = env
        .model
        .received()
        .into_iter()
        .find(|r| r.body.to_string().contains("copilot-mcp"))
        .unwrap();
    assert!(
        asked.body["tools"].to_string().contains("marker_echo"),
        "the model was not offered the MCP tool: {}",
        asked.body["tools"]
    );
}

/// A real ACP agent that aside does not know by name (claude-agent-acp declared as `myclaude`)
/// gets `--model` through its `model` config option: a name matching one of its choices is
/// taken, an unknown one fails the session with the agent's refusal and its choices.
#[test]
fn a_model_is_chosen_through_a_real_agents_config_option() {
    let Some(claude) = std::env::var_os("ASIDE_TEST_CLAUDE") else {
        eprintln!("skipped: set ASIDE_TEST_CLAUDE to the claude-agent-acp launcher (.ci/run does)");
        return;
    };
    let env = crate::common::claude_env(&claude);
    env.config("[agents.myclaude]\ncommand = [\"claude-agent-acp\"]\n");
    env.model.push_for("claude-model", [Reply::text("ok")]);
    let id = env.new_session(
        "claude-model: which model",
        &["--agent", "myclaude", "--model", "haiku"],
    );
    env.wait_status(&id, "completed");
    let asked = env
        .model
        .received()
        .into_iter()
        .find(|r| r.body.to_string().contains("claude-model"))
        .unwrap();
    assert!(
        asked.body["model"].as_str().unwrap().contains("haiku"),
        "{}",
        asked.body["model"]
    );
    let id = env.new_session(
        "no such model",
        &["--agent", "myclaude", "--model", "nope-1"],
    );
    let failed = env.wait_status(&id, "failed");
    let reason = failed["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("the agent `myclaude` refused model `nope-1`")
            && reason.contains("It offers: ")
            && reason.contains("haiku"),
        "{reason}"
    );
}
