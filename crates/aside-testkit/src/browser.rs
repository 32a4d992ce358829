//! A headless Chromium driven through ChromeDriver's WebDriver protocol, for end-to-end tests
//! of the web view. Needs Debian's `chromium` and `chromium-driver` (installed by `.ci/run`).

use serde_json::{json, Value};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where Debian puts them; `CHROMEDRIVER` and `CHROMIUM` override.
fn driver_path() -> PathBuf {
    std::env::var_os("CHROMEDRIVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/usr/bin/chromedriver".into())
}
fn chromium_path() -> PathBuf {
    std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/usr/bin/chromium".into())
}

/// Whether a browser can run here. Where `ASIDE_REQUIRE_BROWSER` is set (CI), a missing
/// browser fails the test instead of skipping it.
pub fn available() -> bool {
    let here = driver_path().exists() && chromium_path().exists();
    if !here && std::env::var_os("ASIDE_REQUIRE_BROWSER").is_some() {
        panic!("ASIDE_REQUIRE_BROWSER is set but chromium or chromedriver is missing: apt-get install chromium chromium-driver");
    }
    here
}

/// One browser session.
pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    http: reqwest::Client,
    _profile: tempfile::TempDir,
}

/// A found element.
#[derive(Debug, Clone)]
pub struct Element(String);

const ELEMENT_KEY: &str = "element-6066-11e4-a94b-4f46-8e1b-0c8ec8a5d2a8";

impl Browser {
    /// Starts ChromeDriver and a headless Chromium window of 1280×900.
    pub async fn start() -> Browser {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        // Its own process group, so that dropping the browser ends Chromium too.
        let driver = Command::new(driver_path())
            .process_group(0)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        while http.get(format!("{base}/status")).send().await.is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let profile = tempfile::tempdir().unwrap();
        let caps = json!({"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "binary": chromium_path(),
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--disable-quic", "--no-first-run", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", "--window-size=1280,900",
                     format!("--user-data-dir={}", profile.path().display())]}}}});
        let r: Value = http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let session = r["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {r}"))
            .to_string();
        Browser {
            driver,
            base,
            session,
            http,
            _profile: profile,
        }
    }

    async fn cmd(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let request = if method == reqwest::Method::GET {
            self.http.get(url)
        } else {
            self.http.request(method, url).json(&body)
        };
        let r: Value = request.send().await.unwrap().json().await.unwrap();
        if let Some(error) = r["value"]["error"].as_str() {
            panic!("WebDriver {path}: {error}: {}", r["value"]["message"]);
        }
        r["value"].clone()
    }

    /// Opens a URL.
    /// Resizes the window (CSS pixels), e.g. to a phone's width.
    pub async fn resize(&self, width: u32, height: u32) {
        self.cmd(
            reqwest::Method::POST,
            "/window/rect",
            json!({"width": width, "height": height}),
        )
        .await;
    }

    pub async fn goto(&self, url: &str) {
        self.cmd(reqwest::Method::POST, "/url", json!({"url": url}))
            .await;
    }

    /// Runs a script in the page and returns its value.
    pub async fn eval(&self, script: &str, args: Value) -> Value {
        self.cmd(
            reqwest::Method::POST,
            "/execute/sync",
            json!({"script": script, "args": args}),
        )
        .await
    }

    /// Waits (up to 30 s) until `script` returns something truthy; returns it.
    pub async fn wait(&self, what: &str, script: &str) -> Value {
        self.wait_within(Duration::from_secs(30), what, script)
            .await
    }

    /// Waits up to `limit` until `script` returns something truthy (polling every 50 ms);
    /// returns it. Fails the test, with the page's text, when it never does.
    pub async fn wait_within(&self, limit: Duration, what: &str, script: &str) -> Value {
        let started = Instant::now();
        let deadline = started + limit;
        if std::env::var_os("BROWSER_TRACE").is_some() {
            eprintln!("waiting for {what}");
        }
        loop {
            let v = self.eval(script, json!([])).await;
            let truthy = !(v.is_null() || v == false || v == "" || v == 0);
            if truthy {
                if std::env::var_os("BROWSER_TRACE").is_some() {
                    eprintln!("  {what}: {:?}", started.elapsed());
                }
                return v;
            }
            if Instant::now() > deadline {
                let text = self
                    .eval(
                        "return document.body ? document.body.innerText : ''",
                        json!([]),
                    )
                    .await;
                panic!(
                    "timed out after {limit:?} waiting for {what}; page text:\n{}",
                    text.as_str().unwrap_or_default()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The first element matching a CSS selector.
    pub async fn find(&self, css: &str) -> Element {
        let v = self
            .cmd(
                reqwest::Method::POST,
                "/element",
                json!({"using": "css selector", "value": css}),
            )
            .await;
        // The W3C element reference is the object's one value.
        let reference = v
            .get(ELEMENT_KEY)
            .or_else(|| v.as_object().and_then(|o| o.values().next()));
        Element(
            reference
                .and_then(Value::as_str)
                .unwrap_or_else(|| panic!("no element {css}: {v}"))
                .to_string(),
        )
    }

    /// Clicks an element.
    pub async fn click(&self, css: &str) {
        let e = self.find(css).await;
        self.cmd(
            reqwest::Method::POST,
            &format!("/element/{}/click", e.0),
            json!({}),
        )
        .await;
    }

    /// Types into an element.
    pub async fn type_into(&self, css: &str, text: &str) {
        let e = self.find(css).await;
        self.cmd(
            reqwest::Method::POST,
            &format!("/element/{}/clear", e.0),
            json!({}),
        )
        .await;
        self.cmd(
            reqwest::Method::POST,
            &format!("/element/{}/value", e.0),
            json!({"text": text}),
        )
        .await;
    }

    /// Saves a PNG of the viewport.
    pub async fn screenshot(&self, path: &Path) {
        let v = self
            .cmd(reqwest::Method::GET, "/screenshot", Value::Null)
            .await;
        let png = base64_decode(v.as_str().unwrap_or_default());
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(path, png).unwrap();
    }

    /// Types keys into whatever has the focus, as a person would (WebDriver key codes:
    /// `\u{E031}` is F1, `\u{E007}` Enter).
    pub async fn keys(&self, text: &str) {
        let actions: Vec<Value> = text
            .chars()
            .flat_map(|c| {
                let key = c.to_string();
                [
                    json!({"type": "keyDown", "value": key}),
                    json!({"type": "keyUp", "value": key}),
                ]
            })
            .collect();
        self.cmd(
            reqwest::Method::POST,
            "/actions",
            json!({"actions": [{"type": "key", "id": "keyboard", "actions": actions}]}),
        )
        .await;
    }

    /// Waits until `find` (a JavaScript expression: an element, or null) finds an element,
    /// then clicks its centre with the mouse (`button` 0: left, 2: right, which opens a context
    /// menu), as a person would. For pages that redraw their elements (VS Code's lists), where a
    /// reference found first may be gone by the time it is clicked.
    pub async fn click_found(&self, what: &str, find: &str, button: u8) {
        let at = self
            .wait(
                what,
                &format!(
                    "const e = ({find}); if (!e) return null; const r = e.getBoundingClientRect(); \
                     return [Math.round(r.x + r.width / 2), Math.round(r.y + r.height / 2)];"
                ),
            )
            .await;
        self.cmd(
            reqwest::Method::POST,
            "/actions",
            json!({"actions": [{"type": "pointer", "id": "mouse", "parameters": {"pointerType": "mouse"},
                "actions": [
                    {"type": "pointerMove", "origin": "viewport", "x": at[0], "y": at[1]},
                    {"type": "pointerDown", "button": button},
                    {"type": "pointerUp", "button": button}
                ]}]}),
        )
        .await;
        self.cmd(reqwest::Method::DELETE, "/actions", json!({}))
            .await;
    }

    /// Accepts a window.confirm dialog.
    pub async fn accept_alert(&self) {
        self.cmd(reqwest::Method::POST, "/alert/accept", json!({}))
            .await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // ChromeDriver and every Chromium process it started share its process group.
        if let Ok(pgid) = i32::try_from(self.driver.id()) {
            if pgid > 1 {
                // SAFETY: kill(2) on the process group this browser started.
                unsafe { libc::kill(-pgid, libc::SIGKILL) };
            }
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn base64_decode(s: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut buf = 0u32;
    let mut bits = 0;
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => continue,
        };
        buf = (buf << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
        }
    }
    out
}
