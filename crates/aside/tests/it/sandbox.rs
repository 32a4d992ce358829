//! The OS sandbox the built-in agent's commands run in (bubblewrap from the distribution;
//! `.ci/run` installs it): what a command may write, read and reach, as the model's own
//! requests show it (each command's output is a tool result in the next request).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::Env;
use aside_testkit::Reply;
use serde_json::json;

fn available() -> bool {
    let works = std::process::Command::new("bwrap")
        .args(["--ro-bind", "/", "/", "--unshare-net", "true"])
        .status()
        .is_ok_and(|s| s.success());
    if !works {
        assert!(
            std::env::var_os("ASIDE_REQUIRE_BROWSER").is_none(),
            "bubblewrap is needed for this test: apt-get install bubblewrap (.ci/run does)"
        );
        eprintln!("skipped: bubblewrap does not work here (apt-get install bubblewrap)");
    }
    works
}

fn run(command: &str) -> Reply {
    Reply::tool("run_command", json!({"command": command}))
}

/// The tool results the model was sent in its last request.
fn results(env: &Env) -> String {
    env.model.received().last().unwrap().body.to_string()
}

#[test]
fn commands_write_only_the_worktree_read_no_secrets_and_reach_no_network() {
    if !available() {
        return;
    }
    // (Outside /tmp: the sandbox's /tmp is its own.)
    let env = Env::outside_tmp();
    let home = env.root.join("home");
    std::fs::create_dir_all(home.join(".ssh")).unwrap();
    std::fs::write(home.join(".ssh/id_ed25519"), "PRIVATE-KEY-MATERIAL\n").unwrap();
    std::fs::write(home.join(".bashrc"), "# mine\n").unwrap();
    let other = env.root.join("other-repo");
    std::fs::create_dir_all(&other).unwrap();
    let port = env
        .model
        .openai_base()
        .trim_end_matches("/v1")
        .rsplit(':')
        .next()
        .unwrap()
        .to_string();
    // (Words the commands print are split in their source, so only their output has them whole.)
    let connect = format!("bash -c 'exec 3<>/dev/tcp/127.0.0.1/{port} && echo \"CONN\"ECTED'");
    // The user's runtime directory (session bus, ssh and gpg agents, systemd --user) is not
    // there to connect to, nor named.
    let runtime = env.root.join("runtime");
    std::fs::create_dir_all(&runtime).unwrap();
    std::fs::write(runtime.join("bus-socket-stand-in"), "").unwrap();
    env.model.push_for(
        "sbx-a",
        [
            run("echo pwned >> ~/.bashrc"),
            run(&format!("echo pwned > {}/x.txt", other.display())),
            run("echo pwned > /etc/aside-sbx"),
            run("cat ~/.ssh/id_ed25519"),
            run("echo in > in-tree.txt && git add in-tree.txt && git -c user.name=a -c user.email=a@a commit -qm in && echo \"COMM\"ITTED"),
            run(&connect),
            run("(setsid sleep 31338.5 </dev/null >/dev/null 2>&1 &); sleep 0.3; echo launched"),
            run("ls \"$XDG_RUNTIME_DIR\"; echo \"agent=[$SSH_AUTH_SOCK]\""),
            Reply::text("Tried everything."),
        ],
    );
    let mut env = env;
    env.set("XDG_RUNTIME_DIR", &runtime.display().to_string());
    env.set(
        "SSH_AUTH_SOCK",
        &runtime.join("agent.sock").display().to_string(),
    );
    let id = env.new_session("sbx-a: try things", &[]);
    let s = env.wait_status(&id, "completed");
    let seen = results(&env);
    // Blocked writes fail as read-only, and each failure says what the sandbox allows.
    for blocked in ["home/.bashrc", "other-repo/x.txt", "/etc/aside-sbx"] {
        assert!(
            seen.contains(&format!("{blocked}: Read-only file system")),
            "{blocked}: {seen}"
        );
    }
    assert!(
        seen.contains("[aside: this command ran in a sandbox: only "),
        "{seen}"
    );
    assert!(seen.contains("there is no network"), "{seen}");
    assert_eq!(
        std::fs::read_to_string(home.join(".bashrc")).unwrap(),
        "# mine\n"
    );
    assert!(!other.join("x.txt").exists());
    assert!(!std::path::Path::new("/etc/aside-sbx").exists());
    // The key is not there for it to read.
    assert!(!seen.contains("PRIVATE-KEY-MATERIAL"), "{seen}");
    // Its worktree and its commits work.
    assert!(seen.contains("COMMITTED"), "{seen}");
    let worktree = std::path::PathBuf::from(s["worktree"].as_str().unwrap());
    assert_eq!(
        aside_testkit::repo::git(&worktree, &["log", "-1", "--format=%s"]),
        "in"
    );
    // Nothing it started outlives its command, even what left its session.
    let left = std::process::Command::new("pgrep")
        .args(["-f", "sleep 31338.5"])
        .output()
        .unwrap();
    assert!(!left.status.success(), "a daemon outlived its command");
    assert!(!seen.contains("bus-socket-stand-in"), "{seen}");
    assert!(seen.contains("agent=[]"), "{seen}");
    // No network, not even the model endpoint on loopback.
    assert!(!seen.contains("CONNECTED"), "{seen}");

    // Network allowed by the user's config: the same connection works.
    let config = env.root.join("home/.config/aside/config.toml");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    std::fs::write(&config, "[sandbox]\nnetwork = \"all\"\n").unwrap();
    env.model
        .push_for("sbx-b", [run(&connect), Reply::text("Connected.")]);
    let id = env.new_session("sbx-b: connect", &[]);
    env.wait_status(&id, "completed");
    assert!(results(&env).contains("CONNECTED"));
    // Each session says it, as its agent's commands run now.
    let shown = env.ok(&["show", &id]);
    assert!(
        shown.contains("sandbox:  commands write only the worktree; HOME's credentials hidden; network allowed"),
        "{shown}"
    );
    // `aside sandbox` says what it allows and that it works.
    let said = env.ok(&["sandbox"]);
    assert!(
        said.contains("✓ the sandbox works on this machine")
            && said.contains(".ssh")
            && said.contains("reachable ([sandbox] network = \"all\")"),
        "{said}"
    );
}

#[test]
fn where_the_sandbox_cannot_work_commands_are_refused_unless_the_user_allows_them() {
    let mut env = Env::outside_tmp();
    // A machine without bubblewrap (or whose user namespaces are off) looks the same.
    env.set("ASIDE_BWRAP", "/nonexistent/bwrap");
    env.set("ASIDE_SANDBOX_UNAVAILABLE", "refuse");
    env.model.push_for(
        "sbx-c",
        [run("echo RAN > ran.txt"), Reply::text("Refused, then.")],
    );
    let id = env.new_session("sbx-c: run it", &[]);
    let s = env.wait_status(&id, "completed");
    let seen = results(&env);
    assert!(
        seen.contains("[aside: not run: commands run in a sandbox and bubblewrap (/nonexistent/bwrap) is not installed: apt-get install bubblewrap"),
        "{seen}"
    );
    let worktree = std::path::PathBuf::from(s["worktree"].as_str().unwrap());
    assert!(!worktree.join("ran.txt").exists());
    // Doctor says it too, with the fix.
    let out = env.run(&["doctor", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let line = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "sandbox")
        .cloned()
        .unwrap();
    assert_eq!(line["level"], "problem", "{line}");
    assert!(
        line["fix"]
            .as_str()
            .unwrap()
            .contains("apt-get install bubblewrap"),
        "{line}"
    );
    let out = env.run(&["sandbox"]);
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("✗ bubblewrap (/nonexistent/bwrap) is not installed")
            && said.contains("are not run, and the agent is told why"),
        "{said}"
    );
    // By default, each such command waits for the user's yes, even under "allow everything".
    env.set("ASIDE_SANDBOX_UNAVAILABLE", "");
    env.model.push_for(
        "sbx-e",
        [run("echo ASKED > asked.txt"), Reply::text("Asked first.")],
    );
    let id = env.new_session("sbx-e: ask first", &[]);
    let s = env.wait_status(&id, "needs_input");
    assert_eq!(s["approve"], "all");
    let shown = env.ok(&["show", &id]);
    assert!(
        shown.contains("Without a sandbox (bubblewrap (/nonexistent/bwrap) is not installed"),
        "{shown}"
    );
    env.ok(&["approve", &id]);
    let s = env.wait_status(&id, "completed");
    let worktree = std::path::PathBuf::from(s["worktree"].as_str().unwrap());
    assert!(worktree.join("asked.txt").exists());
    assert!(results(&env).contains("[aside: ran without a sandbox: bubblewrap"));
    // Allowed by the user's config: run unsandboxed, unasked, and said so.
    let config = env.root.join("home/.config/aside/config.toml");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    std::fs::write(&config, "[sandbox]\nunavailable = \"run\"\n").unwrap();
    env.model.push_for(
        "sbx-d",
        [
            run("echo RAN > ran.txt && echo \"DO\"NE"),
            Reply::text("Ran."),
        ],
    );
    let id = env.new_session("sbx-d: run it anyway", &[]);
    let s = env.wait_status(&id, "completed");
    let seen = results(&env);
    assert!(
        seen.contains("DONE") && seen.contains("[aside: ran without a sandbox: bubblewrap"),
        "{seen}"
    );
    let worktree = std::path::PathBuf::from(s["worktree"].as_str().unwrap());
    assert!(worktree.join("ran.txt").exists());
}

/// A loopback HTTP server answering every request with `body`; its port.
fn http_server(body: &'static str) -> u16 {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let _ = conn.read(&mut buf);
            let _ = write!(
                conn,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

#[test]
fn listed_hosts_are_reached_and_any_other_is_blocked_and_said() {
    if !available() {
        return;
    }
    let env = Env::outside_tmp();
    let listed = http_server("LISTED-SERVER-ANSWERED");
    let other = http_server("OTHER-SERVER-ANSWERED");
    env.config(&format!(
        "[sandbox]\nnetwork = [\"127.0.0.1:{listed}\", \"example.invalid\"]\nmemory = \"1G\"\n"
    ));
    env.model.push_for(
        "sbx-net",
        [
            // A listed loopback port is reached as itself…
            run(&format!("curl -sS http://127.0.0.1:{listed}/")),
            // …and through the proxy the sandbox is given (HTTP_PROXY is set).
            run(&format!(
                "curl -sS --noproxy '' http://127.0.0.1:{listed}/via-proxy"
            )),
            // Another loopback port is not there at all, nor through the proxy.
            run(&format!("curl -sS http://127.0.0.1:{other}/")),
            run(&format!("curl -sS --noproxy '' http://127.0.0.1:{other}/")),
            // A host not listed is refused by the proxy.
            run("curl -sS https://blocked.example/"),
            // A command past its memory limit fails (a line of 2 GB held whole).
            // (Its stdout elsewhere: only tail's words are printed, not interleaved.)
            run("head -c 2000000000 /dev/zero | tail -n 1 > /dev/null"),
            Reply::text("Tried the network."),
        ],
    );
    let id = env.new_session("sbx-net: reach things", &[]);
    env.wait_status(&id, "completed");
    // The last request carries every command's output.
    let seen = results(&env);
    // The listed port answered twice: as itself and through the proxy.
    assert_eq!(seen.matches("LISTED-SERVER-ANSWERED").count(), 2, "{seen}");
    // The other port never did.
    assert!(!seen.contains("OTHER-SERVER-ANSWERED"), "{seen}");
    assert!(
        seen.contains(&format!(
            "aside's sandbox blocked a connection to 127.0.0.1:{other}"
        )),
        "{seen}"
    );
    assert!(
        seen.contains("CONNECT tunnel failed, response 403"),
        "{seen}"
    );
    // A failed command says what the network reaches.
    assert!(
        seen.contains(&format!(
            "the network reaches only 127.0.0.1:{listed}, example.invalid"
        )),
        "{seen}"
    );
    assert!(seen.contains("tail: memory exhausted"), "{seen}");
    // The conversation says what was blocked, once per host.
    let shown = env.ok(&["show", &id]);
    for host in [
        format!("127.0.0.1:{other}"),
        "blocked.example:443".to_string(),
    ] {
        assert_eq!(
            shown
                .matches(&format!("aside's sandbox blocked a connection to {host}"))
                .count(),
            1,
            "{shown}"
        );
    }
    assert!(
        shown.contains(&format!(
            "sandbox:  commands write only the worktree; HOME's credentials hidden; network: 127.0.0.1:{listed}, example.invalid only"
        )),
        "{shown}"
    );
}

#[test]
fn real_agents_run_whole_in_the_sandbox_offline() {
    if !available() {
        return;
    }
    let mut ran = 0;
    if let Some(codex) = std::env::var_os("ASIDE_TEST_CODEX") {
        let mut env = Env::outside_tmp();
        env.prepend_path(&codex);
        let codex_home = crate::common::codex_config(&env);
        env.extra
            .push(("CODEX_HOME".to_string(), codex_home.display().to_string()));
        whole_agent_confined(&env, "codex", |cmd| {
            Reply::tool("exec_command", json!({"cmd": cmd, "login": false}))
        });
        ran += 1;
    }
    if let Some(copilot) = std::env::var_os("ASIDE_TEST_COPILOT") {
        let mut env = Env::outside_tmp();
        env.prepend_path(&copilot);
        env.extra.extend([
            ("COPILOT_OFFLINE".to_string(), "true".to_string()),
            (
                "COPILOT_PROVIDER_BASE_URL".to_string(),
                env.model.openai_base(),
            ),
            (
                "COPILOT_PROVIDER_API_KEY".to_string(),
                "test-key".to_string(),
            ),
            ("COPILOT_MODEL".to_string(), "fake-model".to_string()),
        ]);
        whole_agent_confined(&env, "copilot", |cmd| {
            Reply::tool(
                "bash",
                json!({"command": cmd, "description": "Write things", "mode": "sync"}),
            )
        });
        ran += 1;
    }
    if let Some(claude) = std::env::var_os("ASIDE_TEST_CLAUDE") {
        let mut env = Env::outside_tmp();
        env.prepend_path(&claude);
        env.extra.extend([
            ("ANTHROPIC_BASE_URL".to_string(), env.model.url.clone()),
            ("ANTHROPIC_API_KEY".to_string(), "sk-ant-test".to_string()),
            ("IS_SANDBOX".to_string(), "1".to_string()),
        ]);
        whole_agent_confined(&env, "claude", |cmd| {
            Reply::tool(
                "Bash",
                json!({"command": cmd, "description": "Write things"}),
            )
        });
        ran += 1;
    }
    if ran == 0 {
        eprintln!(
            "skipped: set ASIDE_TEST_CODEX / ASIDE_TEST_COPILOT / ASIDE_TEST_CLAUDE (.ci/run does)"
        );
    }
}

/// Agent `agent` (set up in `env`, offline on the fake model), run whole in the sandbox,
/// writes its worktree and cannot write HOME or read its secrets; `tool` is its way to run a
/// command.
fn whole_agent_confined(env: &Env, agent: &str, tool: impl Fn(&str) -> Reply) {
    env.config(&format!("[agents.{agent}]\nsandbox = true\n"));
    let home = env.root.join("home");
    std::fs::create_dir_all(home.join(".ssh")).unwrap();
    std::fs::write(home.join(".ssh/id_ed25519"), "PRIVATE-KEY-MATERIAL\n").unwrap();
    std::fs::write(home.join(".bashrc"), "# mine\n").unwrap();
    let marker = format!("sbx-{agent}");
    env.model.push_for(
        &marker,
        [
            tool("echo in > in-tree.txt; echo pwned >> ~/.bashrc; cat ~/.ssh/id_ed25519; echo \"DO\"NE"),
            Reply::text("Done in the sandbox."),
        ],
    );
    let id = env.new_session(&format!("{marker}: write things"), &["--agent", agent]);
    let s = env.wait_status(&id, "completed");
    let seen = results(env);
    assert!(seen.contains("DONE"), "{agent}: {seen}");
    // Its worktree is written; HOME is not, and its secrets are not there to read.
    let worktree = std::path::PathBuf::from(s["worktree"].as_str().unwrap());
    assert_eq!(
        std::fs::read_to_string(worktree.join("in-tree.txt")).unwrap(),
        "in\n",
        "{agent}"
    );
    assert_eq!(
        std::fs::read_to_string(home.join(".bashrc")).unwrap(),
        "# mine\n",
        "{agent}"
    );
    assert!(!seen.contains("PRIVATE-KEY-MATERIAL"), "{agent}: {seen}");
    let shown = env.ok(&["show", &id]);
    assert!(
        shown.contains("sandbox:  the whole agent: writes only the worktree and its own state; HOME's credentials hidden; network: its model API only"),
        "{shown}"
    );
    // Stopped, nothing of it is left running.
    env.ok(&["stop", &id]);
    crate::common::wait_no_process_in(&worktree, agent);
}

#[test]
fn an_agent_that_is_to_run_whole_in_a_sandbox_that_cannot_work_is_refused_with_the_fix() {
    let mut env = Env::outside_tmp();
    env.set("ASIDE_BWRAP", "/nonexistent/bwrap");
    env.set("ASIDE_SANDBOX_UNAVAILABLE", "");
    // aside's own agent, declared as a third-party one.
    env.config(&format!(
        "[agents.mine]\ncommand = [\"{}\", \"agent\"]\nsandbox = true\n",
        env!("CARGO_BIN_EXE_aside")
    ));
    let id = env.new_session("sbx-whole: never starts", &["--agent", "mine"]);
    let s = env.wait_status(&id, "failed");
    let shown = env.ok(&["show", &id]);
    assert!(
        shown.contains("the agent `mine` is to run in aside's sandbox, and bubblewrap (/nonexistent/bwrap) is not installed: apt-get install bubblewrap")
            && shown.contains("Start the session with --no-sandbox to run it unconfined"),
        "{shown}\n{s}"
    );
    // Said per session, it runs unconfined, as asked.
    env.model
        .push_for("sbx-whole-b", [Reply::text("Ran unconfined.")]);
    let id = env.new_session("sbx-whole-b: run it", &["--agent", "mine", "--no-sandbox"]);
    env.wait_status(&id, "completed");
    let shown = env.ok(&["show", &id]);
    assert!(
        shown.contains("sandbox:  mine runs its commands itself (not confined by aside"),
        "{shown}"
    );
    // Allowed by the user's config, it runs unconfined and the conversation says so.
    env.set("ASIDE_SANDBOX_UNAVAILABLE", "run");
    env.model
        .push_for("sbx-whole-c", [Reply::text("Ran anyway.")]);
    let id = env.new_session("sbx-whole-c: run it", &["--agent", "mine"]);
    env.wait_status(&id, "completed");
    let shown = env.ok(&["show", &id]);
    assert!(
        shown.contains(
            "mine runs without aside's sandbox: bubblewrap (/nonexistent/bwrap) is not installed"
        ),
        "{shown}"
    );
}

#[test]
fn a_repository_narrows_the_sandbox_and_cannot_widen_it() {
    if !available() {
        return;
    }
    let env = Env::outside_tmp();
    let listed = http_server("LISTED-SERVER-ANSWERED");
    let other = http_server("OTHER-SERVER-ANSWERED");
    // The user allows the whole network; the project says it needs one host, and asks to
    // write a cache the user never listed.
    env.config("[sandbox]\nnetwork = \"all\"\n");
    std::fs::write(
        env.repo.join(".aside.toml"),
        format!("[sandbox]\nnetwork = [\"127.0.0.1:{listed}\"]\nwritable = [\"~/.cache/proj\"]\n"),
    )
    .unwrap();
    std::fs::create_dir_all(env.root.join("home/.cache/proj")).unwrap();
    env.model.push_for(
        "sbx-repo",
        [
            run(&format!("curl -sS http://127.0.0.1:{listed}/")),
            run(&format!("curl -sS http://127.0.0.1:{other}/")),
            run("echo x > ~/.cache/proj/built && echo \"WRO\"TE"),
            Reply::text("Narrowed."),
        ],
    );
    let id = env.new_session("sbx-repo: reach things", &[]);
    env.wait_status(&id, "completed");
    let seen = results(&env);
    assert!(seen.contains("LISTED-SERVER-ANSWERED"), "{seen}");
    assert!(!seen.contains("OTHER-SERVER-ANSWERED"), "{seen}");
    assert!(!seen.contains("WROTE"), "{seen}");
    assert!(!env.root.join("home/.cache/proj/built").exists());
    let shown = env.ok(&["show", &id]);
    assert!(
        shown.contains("the repository's .aside.toml asks to write ~/.cache/proj: not among [sandbox] writable in your config"),
        "{shown}"
    );
    assert!(
        shown.contains(&format!("network: 127.0.0.1:{listed} only")),
        "{shown}"
    );
}

#[test]
fn where_user_namespaces_do_not_work_the_fix_is_said_and_commands_wait_for_a_yes() {
    let mut env = Env::outside_tmp();
    // bubblewrap as it answers where unprivileged user namespaces are off.
    let bwrap = env.root.join("bwrap");
    std::fs::write(
        &bwrap,
        "#!/bin/sh\necho 'bwrap: No permissions to create a new namespace, likely because the kernel does not allow non-privileged user namespaces.' >&2\nexit 1\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&bwrap, std::fs::Permissions::from_mode(0o755)).unwrap();
    env.set("ASIDE_BWRAP", &bwrap.display().to_string());
    env.set("ASIDE_SANDBOX_UNAVAILABLE", "");
    let out = env.run(&["sandbox"]);
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("✗ bubblewrap cannot make a sandbox here (bwrap: No permissions to create a new namespace")
            && (said.contains("sysctl") || said.contains("user namespaces do not work here")),
        "{said}"
    );
    assert!(said.contains("wait for your yes each time"), "{said}");
    env.model.push_for(
        "sbx-userns",
        [run("echo ASKED > asked.txt"), Reply::text("Asked first.")],
    );
    let id = env.new_session("sbx-userns: ask first", &[]);
    env.wait_status(&id, "needs_input");
    let shown = env.ok(&["show", &id]);
    assert!(
        shown.contains("Without a sandbox (bubblewrap cannot make a sandbox here"),
        "{shown}"
    );
    env.ok(&["deny", &id]);
    let s = env.wait_status(&id, "completed");
    let worktree = std::path::PathBuf::from(s["worktree"].as_str().unwrap());
    assert!(!worktree.join("asked.txt").exists());
}

#[test]
fn a_node_project_builds_and_tests_with_its_cache_listed() {
    if !available() || !crate::common::node_available() {
        return;
    }
    let env = Env::outside_tmp();
    std::fs::write(
        env.repo.join("package.json"),
        "{\"name\":\"proj\",\"version\":\"1.0.0\",\"scripts\":{\"build\":\"node -e \\\"require('fs').writeFileSync('built.txt','built')\\\"\",\"test\":\"node -e \\\"console.log('TESTS-' + 'PASSED:' + require('fs').readFileSync('built.txt'))\\\"\"}}\n",
    )
    .unwrap();
    aside_testkit::repo::git(&env.repo, &["add", "package.json"]);
    aside_testkit::repo::git(&env.repo, &["commit", "-qm", "package"]);
    env.config("[sandbox]\nwritable = [\"~/.npm\"]\n");
    std::fs::create_dir_all(env.root.join("home/.npm")).unwrap();
    env.model.push_for(
        "sbx-node",
        [
            run("npm run build && npm test"),
            Reply::text("Built and tested."),
        ],
    );
    let id = env.new_session("sbx-node: build and test", &[]);
    env.wait_status(&id, "completed");
    let seen = results(&env);
    assert!(seen.contains("TESTS-PASSED:built"), "{seen}");
    assert!(seen.contains("[exit code 0]"), "{seen}");
    // npm wrote its cache (its logs) where the user allowed it.
    assert!(env.root.join("home/.npm/_logs").is_dir(), "{seen}");
}
