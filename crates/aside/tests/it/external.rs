//! Sessions started in the agents' own CLIs (Copilot CLI, Codex, Claude Code), run for real,
//! offline against the fake model: aside lists, shows and adopts them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::{Env, Tmux};
use aside_testkit::{Chunk, Reply};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The test's environment with the tools pointed at the fake model: Copilot through its
/// offline provider variables, Codex through a custom provider in `$CODEX_HOME/config.toml`,
/// Claude Code through ANTHROPIC_BASE_URL.
pub(crate) fn tools_env() -> Env {
    let mut env = Env::new();
    if let Some(copilot) = std::env::var_os("ASIDE_TEST_COPILOT") {
        env.prepend_path(&copilot);
    }
    crate::common::codex_config(&env);
    let url = env.model.url.clone();
    let base = env.model.openai_base();
    env.extra.extend([
        ("COPILOT_OFFLINE".to_string(), "true".to_string()),
        ("COPILOT_PROVIDER_BASE_URL".to_string(), base),
        ("COPILOT_PROVIDER_API_KEY".to_string(), "k".to_string()),
        ("COPILOT_MODEL".to_string(), "fake-model".to_string()),
        ("ANTHROPIC_BASE_URL".to_string(), url),
        ("ANTHROPIC_API_KEY".to_string(), "sk-ant-test".to_string()),
        ("IS_SANDBOX".to_string(), "1".to_string()),
    ]);
    env
}

/// A tool's own CLI run in the test's repository, with the test's HOME.
fn tool(env: &Env, program: &Path, args: &[&str]) -> Command {
    let (program, mut all) = if program.extension().is_some_and(|e| e == "js") {
        (PathBuf::from("node"), vec![program.display().to_string()])
    } else {
        (program.to_path_buf(), vec![])
    };
    all.extend(args.iter().map(|a| a.to_string()));
    let mut cmd = Command::new(program);
    cmd.args(all)
        .current_dir(&env.repo)
        .envs(env.vars())
        .stdin(Stdio::null());
    cmd
}

/// Runs a tool's CLI to the end; its output when it failed.
pub(crate) fn run_tool(env: &Env, program: &Path, args: &[&str]) {
    let out = tool(env, program, args).output().unwrap();
    assert!(
        out.status.success(),
        "{} {args:?} failed:\n{}\n{}",
        program.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

pub(crate) fn var_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

pub(crate) fn listed(env: &Env, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["ls", "--json"];
    all.extend_from_slice(args);
    serde_json::from_str::<Value>(&env.ok(&all))
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

pub(crate) fn external<'a>(list: &'a [Value], agent: &str) -> Option<&'a Value> {
    list.iter()
        .find(|s| s["external"] == true && s["agent"] == agent)
}

/// Waits (up to 30 s) until `ls` shows `agent`'s external session with `status`.
fn wait_external(env: &Env, agent: &str, status: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let list = listed(env, &[]);
        if let Some(s) = external(&list, agent).filter(|s| s["status"] == status) {
            return s.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no {status} {agent} session in {list:#?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn sessions_started_in_the_tools_own_clis_are_listed_and_shown() {
    let Some(copilot) = var_path("ASIDE_TEST_COPILOT") else {
        eprintln!("skipped: set ASIDE_TEST_COPILOT to the native copilot binary (.ci/run does)");
        return;
    };
    let env = tools_env();
    env.model
        .push_for("copilot-ext", [Reply::text("Copilot answers.")]);
    env.model
        .push_for("codex-ext", [Reply::text("Codex answers.")]);
    env.model
        .push_for("claude-ext", [Reply::text("Claude answers.")]);
    run_tool(
        &env,
        &copilot,
        &["-p", "copilot-ext: what is here?", "--allow-all-tools"],
    );
    let mut agents = vec!["copilot"];
    if let Some(codex) = var_path("ASIDE_TEST_CODEX_CLI") {
        run_tool(&env, &codex, &["exec", "codex-ext: and here?"]);
        agents.push("codex");
    } else {
        eprintln!("codex part skipped: set ASIDE_TEST_CODEX_CLI (.ci/run does)");
    }
    if let Some(claude) = var_path("ASIDE_TEST_CLAUDE_CODE") {
        run_tool(&env, &claude, &["-p", "claude-ext: and there?"]);
        agents.push("claude");
    } else {
        eprintln!("claude part skipped: set ASIDE_TEST_CLAUDE_CODE (.ci/run does)");
    }
    // The repository holds no aside session, but it is where `ls` runs.
    let list = listed(&env, &[]);
    for agent in &agents {
        let s = external(&list, agent).unwrap_or_else(|| panic!("no {agent} session in {list:#?}"));
        assert_eq!(s["status"], "idle", "{s}");
        assert_eq!(s["branch"], "main", "{s}");
        assert_eq!(s["cwd"], env.repo.display().to_string());
        assert!(
            s["title"]
                .as_str()
                .unwrap()
                .starts_with(&format!("{agent}-ext: ")),
            "{s}"
        );
        assert_eq!(s["agent_session_id"], s["id"]);
    }
    let table = env.ok(&["ls"]);
    assert!(
        table.contains("idle (external)  copilot") && table.contains("copilot-ext: what is here?"),
        "{table}"
    );
    // Elsewhere, only with --all-repos.
    let elsewhere = env.root.join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let out = env
        .cmd(&["ls", "--json"])
        .current_dir(&elsewhere)
        .output()
        .unwrap();
    let shown: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown, Value::Array(vec![]), "{shown}");
    let out = env
        .cmd(&["ls", "--json", "--all-repos"])
        .current_dir(&elsewhere)
        .output()
        .unwrap();
    let shown: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown.as_array().unwrap().len(), agents.len(), "{shown}");

    // show: the conversation, read-only, rendered like aside's own sessions.
    let copilot_id = external(&list, "copilot").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let shown = env.ok(&["show", &copilot_id[..8]]);
    assert!(
        shown.contains("> copilot-ext: what is here?") && shown.contains("agent: Copilot answers."),
        "{shown}"
    );
    assert!(
        shown.contains(&format!("agent session: {copilot_id}")),
        "{shown}"
    );
    assert!(
        shown.contains(&format!("copilot --resume={copilot_id}")),
        "{shown}"
    );
    for agent in &agents[1..] {
        let id = external(&list, agent).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
        let shown: Value = serde_json::from_str(&env.ok(&["show", &id, "--json"])).unwrap();
        let text = shown["events"].to_string();
        assert!(
            text.contains(&format!("{agent}-ext: ")) && text.contains("answers."),
            "{agent}: {shown:#}"
        );
        assert_eq!(shown["skipped_lines"], 0);
    }
    // A line being written (torn) is skipped and said so; the rest still reads.
    let file = external(&list, "copilot").unwrap()["file"]
        .as_str()
        .unwrap()
        .to_string();
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&file)
        .unwrap();
    std::io::Write::write_all(&mut f, b"{\"type\":\"assistant.message\",\"data\":{\"cont").unwrap();
    let shown = env.ok(&["show", &copilot_id]);
    assert!(shown.contains("agent: Copilot answers."), "{shown}");
    assert!(
        shown.contains(&format!(
            "(1 line of {file} is not JSON and was skipped: a line being written, or a damaged file)"
        )),
        "{shown}"
    );
    // A file that is no session at all is passed over.
    let junk = env.root.join("home/.copilot/session-state/junk");
    std::fs::create_dir_all(&junk).unwrap();
    std::fs::write(junk.join("events.jsonl"), b"\x00\xffnot json\n").unwrap();
    assert_eq!(listed(&env, &[]).len(), agents.len());
    let err = env.fails(&["show", "nosuchid"]);
    assert_eq!(
        err,
        "aside: no session matches `nosuchid`; `aside ls --all` lists them"
    );
}

#[test]
fn a_copilot_run_shows_as_running_while_it_works() {
    let Some(copilot) = var_path("ASIDE_TEST_COPILOT") else {
        eprintln!("skipped: set ASIDE_TEST_COPILOT to the native copilot binary (.ci/run does)");
        return;
    };
    let env = tools_env();
    env.model.push_for(
        "copilot-busy",
        [Reply::stream(vec![
            Chunk::Text("Working".into()),
            Chunk::Hang,
        ])],
    );
    let mut run = tool(
        &env,
        &copilot,
        &["-p", "copilot-busy: take your time", "--allow-all-tools"],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    // `copilot -p` leaves no marker: the process working in the directory shows it.
    let s = wait_external(&env, "copilot", "running");
    let table = env.ok(&["ls"]);
    assert!(table.contains("running (external)"), "{table}");
    // Adopting it now would make two writers.
    let err = env.fails(&["adopt", s["id"].as_str().unwrap()]);
    assert!(
        err.starts_with(&format!(
            "aside: copilot is still working on session {} (its own CLI is live on it); two writers would corrupt it.",
            s["id"].as_str().unwrap()
        )),
        "{err}"
    );
    run.kill().unwrap();
    run.wait().unwrap();
    wait_external(&env, "copilot", "idle");
    // Another run in the same directory is that run's, not this session's.
    env.model.push_for(
        "copilot-other",
        [Reply::stream(vec![Chunk::Text("Busy".into()), Chunk::Hang])],
    );
    let mut other = tool(
        &env,
        &copilot,
        &["-p", "copilot-other: something else", "--allow-all-tools"],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let list = listed(&env, &[]);
        let status_of = |id: &str| {
            list.iter()
                .find(|x| x["id"] == id)
                .map(|x| x["status"].clone())
        };
        if list
            .iter()
            .any(|x| x["id"] != s["id"] && x["status"] == "running")
        {
            assert_eq!(
                status_of(s["id"].as_str().unwrap()),
                Some("idle".into()),
                "{list:#?}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the other run never showed: {list:#?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    other.kill().unwrap();
    other.wait().unwrap();
    // A lock left behind by a crashed interactive CLI (its pid gone) does not make it live.
    let dir = Path::new(s["file"].as_str().unwrap())
        .parent()
        .unwrap()
        .to_path_buf();
    std::fs::write(dir.join("inuse.999999.lock"), "999999").unwrap();
    assert_eq!(
        external(&listed(&env, &[]), "copilot").unwrap()["status"],
        "idle"
    );
}

#[test]
fn a_copilot_session_from_the_terminal_is_adopted_with_its_history() {
    let Some(copilot) = var_path("ASIDE_TEST_COPILOT") else {
        eprintln!("skipped: set ASIDE_TEST_COPILOT to the native copilot binary (.ci/run does)");
        return;
    };
    let env = tools_env();
    env.model.push_for(
        "copilot-adopt",
        [
            Reply::text("First answer, in the terminal."),
            Reply::text("Second answer, in aside."),
        ],
    );
    run_tool(
        &env,
        &copilot,
        &["-p", "copilot-adopt: start here", "--allow-all-tools"],
    );
    let list = listed(&env, &[]);
    let external_id = external(&list, "copilot").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let id = env.ok(&["adopt", &external_id[..8], "now", "go", "on"]);
    let s = env.wait_status(&id, "completed");
    assert_eq!(s["agent"], "copilot");
    assert_eq!(s["mode"], "workspace");
    assert_eq!(s["agent_session_id"], external_id.as_str());
    // Copilot loaded its own session: the next request holds the earlier turn.
    let asked = env
        .model
        .received()
        .into_iter()
        .find(|r| r.body.to_string().contains("now go on"))
        .expect("the adopted session's request")
        .body;
    let messages = asked["messages"].as_array().unwrap();
    assert!(
        messages.iter().any(|m| m["role"] == "assistant"
            && m["content"]
                .to_string()
                .contains("First answer, in the terminal.")),
        "{asked}"
    );
    // It is an aside session now, listed once, its history shown.
    let list = listed(&env, &[]);
    assert!(external(&list, "copilot").is_none(), "{list:#?}");
    let shown = env.ok(&["show", &id]);
    assert!(
        shown.contains("> copilot-adopt: start here")
            && shown.contains("agent: First answer, in the terminal.")
            && shown.contains("> now go on")
            && shown.contains("agent: Second answer, in aside."),
        "{shown}"
    );
    let err = env.fails(&["adopt", &external_id]);
    assert_eq!(
        err,
        format!("aside: agent session {external_id} is aside session {id} already: aside send {id} \"…\" continues it")
    );
}

#[test]
fn attach_native_opens_copilots_own_ui_on_the_session_and_takes_it_back() {
    let Some(copilot) = var_path("ASIDE_TEST_COPILOT") else {
        eprintln!("skipped: set ASIDE_TEST_COPILOT to the native copilot binary (.ci/run does)");
        return;
    };
    if !crate::common::tmux_available() {
        return;
    }
    let _ = copilot;
    let env = tools_env();
    env.model.push_for(
        "copilot-native",
        [
            Reply::text("Started by aside."),
            Reply::text("Answered in the terminal."),
        ],
    );
    let id = env.new_session("copilot-native: begin", &["--agent", "copilot"]);
    let s = env.wait_status(&id, "completed");
    let agent_session = s["agent_session_id"].as_str().unwrap().to_string();
    let tmux = Tmux::start(
        &env.vars(),
        &format!("'{}' attach --native {id}", env!("CARGO_BIN_EXE_aside")),
    );
    // Copilot's own UI, on the same session: its history is there.
    let screen = tmux.wait_for("copilot-native: begin");
    assert!(screen.contains("Started by aside."), "{screen}");
    assert_eq!(env.session(&id)["status"], "in_terminal");
    // Two writers are refused while it is open there.
    let err = env.fails(&["send", &id, "meanwhile"]);
    assert_eq!(
        err,
        format!("aside: session {id} is open in copilot's own CLI; quit it there first (two writers would corrupt it)")
    );
    if screen.contains("Do you trust the files in this folder?") {
        tmux.keys(&["Enter"]);
    }
    tmux.keys(&["native-second question", "Enter"]);
    tmux.wait_for("Answered in the terminal.");
    // Copilot queues what is typed while its status line says "Working", and a queued /exit
    // may never run.
    tmux.wait_quiet("Working");
    tmux.keys(&["/exit", "Enter"]);
    let screen = tmux.wait_for("EXITED=");
    assert!(
        screen.contains(&format!(
            "session {id} is back in aside (1 message from the terminal)"
        )),
        "{screen}"
    );
    let s = env.wait_status(&id, "completed");
    assert_eq!(s["agent_session_id"], agent_session.as_str());
    let shown = env.ok(&["show", &id]);
    assert!(
        shown.contains("> native-second question")
            && shown.contains("agent: Answered in the terminal."),
        "{shown}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_web_view_lists_shows_and_adopts_a_session_started_in_copilot() {
    use aside_testkit::browser::{self, Browser};
    let Some(copilot) = var_path("ASIDE_TEST_COPILOT") else {
        eprintln!("skipped: set ASIDE_TEST_COPILOT to the native copilot binary (.ci/run does)");
        return;
    };
    if !browser::available() {
        assert!(
            std::env::var_os("ASIDE_REQUIRE_BROWSER").is_none(),
            "ASIDE_REQUIRE_BROWSER is set but chromium/chromedriver are missing"
        );
        eprintln!("skipped: Debian's chromium and chromium-driver are not installed (.ci/run installs them)");
        return;
    }
    let env = tools_env();
    env.model.push_for(
        "copilot-web",
        [
            Reply::text("Seen from the web."),
            Reply::text("Adopted from the web."),
        ],
    );
    run_tool(
        &env,
        &copilot,
        &["-p", "copilot-web: look <b>here</b>", "--allow-all-tools"],
    );
    // The web lists the sessions of the repositories aside knows: this one has one of aside's.
    env.model.push_for("known-repo", [Reply::text("ok")]);
    let own = env.new_session("known-repo: a task", &[]);
    env.wait_status(&own, "completed");
    let external_id = external(&listed(&env, &[]), "copilot").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let ui = crate::common::Ui::start(&env);
    let b = Browser::start().await;
    b.goto(&ui.url).await;
    let row = b
        .wait(
            "the external session's row",
            &format!("const r = document.querySelector('tr[data-id=\"{external_id}\"]'); return r && r.textContent"),
        )
        .await;
    let row = row.as_str().unwrap();
    assert!(
        row.contains("copilot-web: look <b>here</b>")
            && row.contains("external")
            && row.contains("idle"),
        "{row}"
    );
    b.goto(&format!("{}/s/{external_id}", ui.base)).await;
    let page = b
        .wait(
            "the conversation",
            // The conversation (its event stream) and the header (the session, asked
            // separately: under load it may come second).
            "const c = document.querySelector('#conversation'); return c.textContent.includes('Seen from the web.') && !document.body.innerText.includes('Loading…') && document.body.innerText",
        )
        .await;
    let page = page.as_str().unwrap();
    assert!(page.contains("copilot-web: look <b>here</b>"), "{page}");
    assert!(
        page.contains(&format!("copilot --resume={external_id}")),
        "{page}"
    );
    // Agent text is text: the tag in the title is not an element.
    assert_eq!(
        b.eval(
            "return document.querySelectorAll('#conversation b').length",
            serde_json::json!([])
        )
        .await,
        0
    );
    assert_eq!(
        b.eval("return [document.querySelector('#actions').hidden, document.querySelector('#follow-up').hidden]", serde_json::json!([])).await,
        serde_json::json!([true, true])
    );
    b.click("#act-adopt").await;
    let adopted = b
        .wait(
            "the adopted session's page",
            &format!("return !location.pathname.endsWith('{external_id}') && location.pathname.split('/').pop()"),
        )
        .await;
    let id = adopted.as_str().unwrap().to_string();
    env.wait_status(&id, "completed");
    let s = env.session(&id);
    assert_eq!(s["agent_session_id"], external_id.as_str());
    assert_eq!(s["external"], false);
    let shown = env.ok(&["show", &id]);
    assert!(
        shown.contains("> copilot-web: look <b>here</b>")
            && shown.contains("agent: Seen from the web."),
        "{shown}"
    );
}

#[test]
fn a_codex_exec_session_is_adopted_into_a_new_worktree() {
    let Some(codex_cli) = var_path("ASIDE_TEST_CODEX_CLI") else {
        eprintln!("skipped: set ASIDE_TEST_CODEX_CLI to the codex binary (.ci/run does)");
        return;
    };
    let Some(codex_acp) = std::env::var_os("ASIDE_TEST_CODEX") else {
        eprintln!("skipped: set ASIDE_TEST_CODEX to the native codex-acp binary (.ci/run does)");
        return;
    };
    let mut env = tools_env();
    env.prepend_path(&codex_acp);
    env.model.push_for(
        "codex-adopt",
        [
            Reply::text("Begun by codex exec."),
            Reply::text("Carried on in a worktree."),
        ],
    );
    run_tool(&env, &codex_cli, &["exec", "codex-adopt: begin"]);
    let s = external(&listed(&env, &[]), "codex").unwrap().clone();
    let external_id = s["id"].as_str().unwrap();
    assert_eq!(s["client"], "codex_exec");
    assert_eq!(
        s["resume_command"],
        serde_json::json!(["codex", "resume", "--include-non-interactive", external_id])
    );
    let id = env.ok(&["adopt", external_id, "--isolated", "continue", "please"]);
    let adopted = env.wait_status(&id, "completed");
    assert_eq!(adopted["mode"], "isolated");
    assert_ne!(adopted["worktree"], s["cwd"]);
    let asked = env
        .model
        .received()
        .into_iter()
        .map(|r| r.body.to_string())
        .find(|b| b.contains("continue please"))
        .expect("the adopted session's request");
    assert!(asked.contains("Begun by codex exec."), "{asked}");
    assert!(
        !asked.contains("User: codex-adopt"),
        "loaded as Codex's own: {asked}"
    );
}
