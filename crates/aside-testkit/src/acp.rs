//! A small ACP client over a real agent process's stdio: raw JSON-RPC lines, so tests can also
//! send what a well-behaved SDK never would.

use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::Child;
use tokio::sync::{mpsc, oneshot, Notify};

/// How the client answers `session/request_permission`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PermissionPolicy {
    /// Pick the option of kind allow_once.
    AllowOnce,
    /// Pick allow_always.
    AllowAlways,
    /// Pick reject_once.
    Reject,
    /// Leave it unanswered; the test answers with [`AcpClient::respond`].
    Hold,
}

/// A terminal the client runs for the agent (`terminal/*`).
struct Terminal {
    output: Arc<Mutex<String>>,
    exit: tokio::sync::watch::Receiver<Option<Option<i32>>>,
    pid: Option<u32>,
}

#[derive(Default)]
struct Shared {
    serve_terminals: bool,
    terminals: HashMap<String, Terminal>,
    /// Commands the agent asked the client to run in a terminal.
    pub terminal_commands: Vec<Value>,
    pending: HashMap<u64, oneshot::Sender<Value>>,
    /// Every message the agent sent, in order.
    log: Vec<Value>,
    stderr: String,
}

/// A connection to an agent process.
pub struct AcpClient {
    /// The agent process.
    pub child: Child,
    out: mpsc::UnboundedSender<Option<String>>,
    shared: Arc<Mutex<Shared>>,
    notify: Arc<Notify>,
    next_id: Mutex<u64>,
    policy: Arc<Mutex<PermissionPolicy>>,
}

fn pick(message: &Value, kind: &str) -> Value {
    let option = message["params"]["options"]
        .as_array()
        .and_then(|o| o.iter().find(|o| o["kind"] == kind))
        .map(|o| o["optionId"].clone())
        .unwrap_or_else(|| {
            panic!("permission request without an option of kind {kind}: {message}")
        });
    json!({"jsonrpc": "2.0", "id": message["id"],
           "result": {"outcome": {"outcome": "selected", "optionId": option}}})
}

impl AcpClient {
    /// Starts `program args…` in `cwd` with `env` only (and `env::inherited`), its stdio wired to
    /// this client.
    pub async fn spawn(
        program: &Path,
        args: &[&str],
        env: &[(String, String)],
        cwd: &Path,
    ) -> AcpClient {
        let mut cmd = tokio::process::Command::new(program);
        // Only `env` (on top of where programs are, and the language): nothing of the caller's.
        cmd.args(args)
            .current_dir(cwd)
            .env_clear()
            .envs(crate::env::inherited())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn agent");
        let mut stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        let shared = Arc::new(Mutex::new(Shared::default()));
        let notify = Arc::new(Notify::new());
        let policy = Arc::new(Mutex::new(PermissionPolicy::AllowOnce));
        let (out, mut out_rx) = mpsc::unbounded_channel::<Option<String>>();
        tokio::spawn(async move {
            while let Some(line) = out_rx.recv().await {
                let Some(line) = line else { break };
                if stdin
                    .write_all(format!("{line}\n").as_bytes())
                    .await
                    .is_err()
                {
                    break;
                }
                let _ = stdin.flush().await;
            }
            // Dropping stdin closes it: the agent sees EOF.
        });
        {
            let shared = shared.clone();
            let notify = notify.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(stderr).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    shared.lock().unwrap().stderr.push_str(&format!("{line}\n"));
                    notify.notify_waiters();
                }
            });
        }
        {
            let shared = shared.clone();
            let notify = notify.clone();
            let policy = policy.clone();
            let out = out.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(stdout).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    let message: Value = serde_json::from_str(&line)
                        .unwrap_or_else(|_| json!({"non_json_stdout": line}));
                    let mut s = shared.lock().unwrap();
                    s.log.push(message.clone());
                    if message.get("method").is_none() {
                        if let Some(tx) =
                            message["id"].as_u64().and_then(|id| s.pending.remove(&id))
                        {
                            let _ = tx.send(message.clone());
                        }
                    } else if message["method"] == "session/request_permission" {
                        let reply = match *policy.lock().unwrap() {
                            PermissionPolicy::AllowOnce => Some(pick(&message, "allow_once")),
                            PermissionPolicy::AllowAlways => Some(pick(&message, "allow_always")),
                            PermissionPolicy::Reject => Some(pick(&message, "reject_once")),
                            PermissionPolicy::Hold => None,
                        };
                        if let Some(reply) = reply {
                            let _ = out.send(Some(reply.to_string()));
                        }
                    } else if s.serve_terminals
                        && message["method"]
                            .as_str()
                            .is_some_and(|m| m.starts_with("terminal/"))
                    {
                        serve_terminal(&mut s, &message, &out);
                    } else if message.get("id").is_some() {
                        // Requests this client does not serve (fs/*, terminal/*).
                        let reply = json!({"jsonrpc": "2.0", "id": message["id"],
                            "error": {"code": -32601, "message": "method not found"}});
                        let _ = out.send(Some(reply.to_string()));
                    }
                    drop(s);
                    notify.notify_waiters();
                }
                notify.notify_waiters();
            });
        }
        AcpClient {
            child,
            out,
            shared,
            notify,
            next_id: Mutex::new(1),
            policy,
        }
    }

    /// Serves `terminal/*` requests by running the commands for real (advertise
    /// `terminal: true` in `initialize` too).
    pub fn serve_terminals(&self) {
        self.shared.lock().unwrap().serve_terminals = true;
    }

    /// The `terminal/create` params the agent sent.
    pub fn terminal_commands(&self) -> Vec<Value> {
        self.shared.lock().unwrap().terminal_commands.clone()
    }

    /// Sets how permission requests are answered from now on.
    pub fn set_policy(&self, policy: PermissionPolicy) {
        *self.policy.lock().unwrap() = policy;
    }

    /// Writes one raw line to the agent's stdin.
    pub fn send_raw(&self, line: &str) {
        let _ = self.out.send(Some(line.to_string()));
    }

    /// Closes the agent's stdin.
    pub fn close_stdin(&self) {
        let _ = self.out.send(None);
    }

    /// Sends a request; the receiver gets the whole response message.
    pub fn start_request(&self, method: &str, params: Value) -> (u64, oneshot::Receiver<Value>) {
        let id = {
            let mut next = self.next_id.lock().unwrap();
            *next += 1;
            *next
        };
        let (tx, rx) = oneshot::channel();
        self.shared.lock().unwrap().pending.insert(id, tx);
        self.send_raw(
            &json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}).to_string(),
        );
        (id, rx)
    }

    /// Sends a request and waits (at most 30 s) for its response message.
    pub async fn request(&self, method: &str, params: Value) -> Value {
        let (_, rx) = self.start_request(method, params);
        self.response(rx).await
    }

    /// Waits (at most 30 s) for a response started with [`AcpClient::start_request`].
    pub async fn response(&self, rx: oneshot::Receiver<Value>) -> Value {
        match tokio::time::timeout(Duration::from_secs(30), rx).await {
            Ok(Ok(v)) => v,
            _ => panic!("no response within 30 s; agent stderr:\n{}", self.stderr()),
        }
    }

    /// Sends a notification.
    pub fn notify(&self, method: &str, params: Value) {
        self.send_raw(&json!({"jsonrpc": "2.0", "method": method, "params": params}).to_string());
    }

    /// Answers a request the agent sent.
    pub fn respond(&self, id: &Value, result: Value) {
        self.send_raw(&json!({"jsonrpc": "2.0", "id": id, "result": result}).to_string());
    }

    /// `initialize` with the given client capabilities; returns the result.
    pub async fn initialize(&self, capabilities: Value) -> Value {
        let r = self
            .request(
                "initialize",
                json!({"protocolVersion": 1, "clientCapabilities": capabilities,
                "clientInfo": {"name": "aside-testkit", "version": "0"}}),
            )
            .await;
        r["result"].clone()
    }

    /// `session/new` in `cwd`; returns the session id.
    pub async fn new_session(&self, cwd: &Path) -> String {
        let r = self
            .request("session/new", json!({"cwd": cwd, "mcpServers": []}))
            .await;
        r["result"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("session/new failed: {r}"))
            .to_string()
    }

    /// Sends a text prompt and waits for the response message.
    pub async fn prompt(&self, session: &str, text: &str) -> Value {
        self.request(
            "session/prompt",
            json!({"sessionId": session,
            "prompt": [{"type": "text", "text": text}]}),
        )
        .await
    }

    /// Every message the agent sent so far.
    pub fn log(&self) -> Vec<Value> {
        self.shared.lock().unwrap().log.clone()
    }

    /// Everything the agent wrote to stderr.
    pub fn stderr(&self) -> String {
        self.shared.lock().unwrap().stderr.clone()
    }

    /// The `update` objects of every `session/update` for `session`, in order.
    pub fn updates(&self, session: &str) -> Vec<Value> {
        self.log()
            .into_iter()
            .filter(|m| m["method"] == "session/update" && m["params"]["sessionId"] == session)
            .map(|m| m["params"]["update"].clone())
            .collect()
    }

    /// All agent_message_chunk text for `session`, joined.
    pub fn agent_text(&self, session: &str) -> String {
        self.updates(session)
            .iter()
            .filter(|u| u["sessionUpdate"] == "agent_message_chunk")
            .filter_map(|u| u["content"]["text"].as_str().map(str::to_string))
            .collect()
    }

    /// Waits until a message the agent sent matches `pred`, and returns it.
    pub async fn wait_for(&self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let notified = self.notify.notified();
            if let Some(m) = self.shared.lock().unwrap().log.iter().find(|m| pred(m)) {
                return m.clone();
            }
            if tokio::time::timeout_at(deadline.into(), notified)
                .await
                .is_err()
            {
                panic!(
                    "timed out waiting for {what}; agent stderr:\n{}",
                    self.stderr()
                );
            }
        }
    }
}

fn serve_terminal(s: &mut Shared, message: &Value, out: &mpsc::UnboundedSender<Option<String>>) {
    let params = &message["params"];
    let reply = |result: Value| {
        let _ = out.send(Some(
            json!({"jsonrpc": "2.0", "id": message["id"], "result": result}).to_string(),
        ));
    };
    let id = params["terminalId"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    match message["method"].as_str().unwrap_or_default() {
        "terminal/create" => {
            s.terminal_commands.push(params.clone());
            let mut cmd = tokio::process::Command::new(params["command"].as_str().unwrap());
            if let Some(args) = params["args"].as_array() {
                cmd.args(args.iter().map(|a| a.as_str().unwrap().to_string()));
            }
            if let Some(cwd) = params["cwd"].as_str() {
                cmd.current_dir(cwd);
            }
            cmd.stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .stdin(Stdio::null())
                .process_group(0);
            let mut child = cmd.spawn().unwrap();
            let output = Arc::new(Mutex::new(String::new()));
            let (tx, rx) = tokio::sync::watch::channel(None);
            let pid = child.id();
            let mut stdout = child.stdout.take().unwrap();
            let out_buf = output.clone();
            tokio::spawn(async move {
                use tokio::io::AsyncReadExt;
                let mut buf = String::new();
                let _ = stdout.read_to_string(&mut buf).await;
                out_buf.lock().unwrap().push_str(&buf);
                let status = child.wait().await.ok().and_then(|s| s.code());
                let _ = tx.send(Some(status));
            });
            let terminal_id = format!("term-{}", s.terminals.len() + 1);
            s.terminals.insert(
                terminal_id.clone(),
                Terminal {
                    output,
                    exit: rx,
                    pid,
                },
            );
            reply(json!({"terminalId": terminal_id}));
        }
        "terminal/wait_for_exit" => {
            let mut exit = s.terminals[&id].exit.clone();
            let out = out.clone();
            let msg_id = message["id"].clone();
            tokio::spawn(async move {
                let code = loop {
                    if let Some(code) = *exit.borrow() {
                        break code;
                    }
                    if exit.changed().await.is_err() {
                        break None;
                    }
                };
                let _ = out.send(Some(
                    json!({"jsonrpc": "2.0", "id": msg_id,
                    "result": {"exitCode": code, "signal": null}})
                    .to_string(),
                ));
            });
        }
        "terminal/output" => {
            let t = &s.terminals[&id];
            let code = *t.exit.borrow();
            let output = t.output.lock().unwrap().clone();
            let mut result = json!({"output": output, "truncated": false});
            if let Some(code) = code {
                result["exitStatus"] = json!({"exitCode": code, "signal": null});
            }
            reply(result);
        }
        "terminal/kill" | "terminal/release" => {
            let pid = s
                .terminals
                .get(&id)
                .and_then(|t| t.pid)
                .and_then(|p| i32::try_from(p).ok());
            if let Some(pid) = pid.filter(|p| *p > 1) {
                // SAFETY: kill(2) on the terminal's own process group.
                unsafe { libc::kill(-pid, libc::SIGKILL) };
            }
            if message["method"] == "terminal/release" {
                s.terminals.remove(&id);
            }
            reply(Value::Null);
        }
        _ => {}
    }
}
