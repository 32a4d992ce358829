//! The web Agents view: HTTP-level tests of the API and every security rule, and end-to-end
//! tests in real headless Chromium (`.ci/run` installs Debian's chromium and chromium-driver).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aside_testkit::browser::{self, Browser};
use aside_testkit::repo::init_repo;
use aside_testkit::{Chunk, FakeModel, Reply};
use serde_json::{json, Value};
use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Ui {
    _dir: tempfile::TempDir,
    root: PathBuf,
    repo: PathBuf,
    model: FakeModel,
    server: Child,
    url: String,
    base: String,
    token: String,
}

impl Drop for Ui {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

impl Ui {
    fn start() -> Ui {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let repo = root.join("webproj");
        std::fs::create_dir_all(root.join("home")).unwrap();
        init_repo(&repo, &[("README.md", "# webproj\n\nA demo project.\n")]);
        let model = FakeModel::start();
        let mut server = Command::new(env!("CARGO_BIN_EXE_aside"))
            .args(["ui", "--port", "0"])
            .current_dir(&repo)
            .envs(Ui::vars(&root, &model))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(server.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line.trim().to_string();
        assert!(
            url.starts_with("http://127.0.0.1:") && url.contains("/?token="),
            "{url}"
        );
        let base = url.split("/?").next().unwrap().to_string();
        let token = url.split("token=").nth(1).unwrap().to_string();
        Ui {
            _dir: dir,
            root,
            repo,
            model,
            server,
            url,
            base,
            token,
        }
    }

    fn vars(root: &Path, model: &FakeModel) -> Vec<(String, String)> {
        let home = root.join("home");
        [
            ("HOME", home.display().to_string()),
            (
                "XDG_CONFIG_HOME",
                home.join(".config").display().to_string(),
            ),
            ("ASIDE_HOME", root.join("aside-home").display().to_string()),
            ("ASIDE_PROVIDER", "openai".into()),
            ("ASIDE_BASE_URL", model.openai_base()),
            ("ASIDE_MODEL", "fake".into()),
            ("ASIDE_API_KEY", String::new()),
            ("ASIDE_MAX_RETRIES", "0".into()),
            ("ASIDE_HOST_IDLE_SECS", "5".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    fn client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    }

    fn cookie(&self) -> String {
        format!("aside_token={}", self.token)
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.client()
            .get(format!("{}{path}", self.base))
            .header("cookie", self.cookie())
            .send()
            .await
            .unwrap()
    }

    async fn post(&self, path: &str, body: Value) -> reqwest::Response {
        self.client()
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookie())
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

#[tokio::test]
async fn every_request_needs_the_token_and_the_right_host_and_origin() {
    let ui = Ui::start();
    let c = ui.client();
    // No token: refused, with what to do.
    let r = c.get(format!("{}/", ui.base)).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.text().await.unwrap(),
        "unauthorized: open the URL that `aside ui` printed (it carries the access token)"
    );
    let r = c
        .get(format!("{}/api/sessions", ui.base))
        .header("cookie", "aside_token=wrong")
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
    // The token in the URL becomes an HttpOnly, SameSite=Strict cookie and leaves the URL.
    let r = c.get(&ui.url).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/");
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert_eq!(
        cookie,
        format!(
            "aside_token={}; HttpOnly; SameSite=Strict; Path=/",
            ui.token
        )
    );
    // With the cookie: the page, with a strict CSP.
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
        .contains("<script src=\"/assets/app.js\" defer></script>"));
    // DNS rebinding: another Host is refused even with the token.
    let r = c
        .get(format!("{}/api/sessions", ui.base))
        .header("host", "attacker.example:80")
        .header("cookie", ui.cookie())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(r.text().await.unwrap(), "forbidden: unexpected Host header");
    // CSRF: a write from a foreign Origin is refused; from ours it reaches the handler.
    let r = c
        .post(format!("{}/api/sessions/abc/cancel", ui.base))
        .header("cookie", ui.cookie())
        .header("origin", "http://attacker.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = c
        .post(format!("{}/api/sessions/abc/cancel", ui.base))
        .header("cookie", ui.cookie())
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        403,
        "a cookie-authenticated write without an Origin is refused"
    );
    let r = ui.post("/api/sessions/abc/cancel", json!({})).await;
    assert_eq!(r.status(), 404);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"],
        "no session matches `abc`; `aside ls --all` lists them"
    );
    // A non-browser client may use the bearer token.
    let r = c
        .get(format!("{}/api/sessions", ui.base))
        .bearer_auth(&ui.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap(), json!([]));
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
            json!({"task": "api-task: write notes", "repo": ui.repo, "approve": "ask"}),
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
    let out = Command::new(env!("CARGO_BIN_EXE_aside"))
        .args(["ls", "--json"])
        .envs(Ui::vars(&ui.root, &ui.model))
        .output()
        .unwrap();
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
