//! A model endpoint on 127.0.0.1 that answers from a script and records every request.
//!
//! Serves `POST /v1/chat/completions` (OpenAI Chat Completions, SSE), `POST /v1/responses`
//! (OpenAI Responses, SSE, as Codex speaks it), `POST /v1/messages` (Anthropic Messages, SSE)
//! and `GET /api/tags` (Ollama's model list). Each model request
//! takes the next [`Reply`] of the script.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One piece of a streamed reply.
#[derive(Debug, Clone)]
pub enum Chunk {
    /// Streamed text.
    Text(String),
    /// A tool call with its arguments as raw JSON text (may be invalid on purpose).
    Tool {
        /// Call id.
        id: String,
        /// Tool name.
        name: String,
        /// Arguments text.
        arguments: String,
    },
    /// Reasoning text (OpenAI-compatible `reasoning_content`, Anthropic `thinking`).
    Thought(String),
    /// A pause in the stream.
    Delay(Duration),
    /// The stream stops here and never finishes (until the client goes away).
    Hang,
}

/// What a reply reports by default: 100 tokens in, 20 out.
const DEFAULT_USAGE: [u64; 4] = [100, 0, 20, 0];

/// One scripted answer to one model request.
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status; non-200 answers with an error body.
    pub status: u16,
    /// What the stream carries.
    pub chunks: Vec<Chunk>,
    /// `finish_reason` / `stop_reason` override.
    pub finish: Option<String>,
    /// The usage the stream reports: input, cached input, output, reasoning tokens; `None`
    /// reports none. Default: 100 in, 20 out.
    pub usage: Option<[u64; 4]>,
}

impl Reply {
    /// A reply of plain text, streamed in a few pieces.
    pub fn text(text: &str) -> Reply {
        let mut chunks = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            let mut cut = rest.len().min(8);
            while !rest.is_char_boundary(cut) {
                cut += 1;
            }
            chunks.push(Chunk::Text(rest[..cut].to_string()));
            rest = &rest[cut..];
        }
        Reply {
            status: 200,
            chunks,
            finish: None,
            usage: Some(DEFAULT_USAGE),
        }
    }

    /// A reply that calls one tool.
    pub fn tool(name: &str, arguments: Value) -> Reply {
        Reply::tools(&[(name, arguments)])
    }

    /// A reply that calls several tools.
    pub fn tools(calls: &[(&str, Value)]) -> Reply {
        let chunks = calls
            .iter()
            .enumerate()
            .map(|(i, (name, args))| Chunk::Tool {
                id: format!("call_{}_{i}", name),
                name: name.to_string(),
                arguments: args.to_string(),
            })
            .collect();
        Reply {
            status: 200,
            chunks,
            finish: None,
            usage: Some(DEFAULT_USAGE),
        }
    }

    /// A reply of chunks as given.
    pub fn stream(chunks: Vec<Chunk>) -> Reply {
        Reply {
            status: 200,
            chunks,
            finish: None,
            usage: Some(DEFAULT_USAGE),
        }
    }

    /// An HTTP error.
    pub fn status(status: u16) -> Reply {
        Reply {
            status,
            chunks: vec![],
            finish: None,
            usage: Some(DEFAULT_USAGE),
        }
    }

    /// This reply's chunks followed by `next`'s.
    pub fn then(mut self, next: Reply) -> Reply {
        self.chunks.extend(next.chunks);
        self
    }

    /// The stream reports this usage: `input` tokens in all (of which `cached` from the
    /// cache), `output` out (of which `reasoning`), in each wire's own shape.
    pub fn with_usage(mut self, input: u64, cached: u64, output: u64, reasoning: u64) -> Reply {
        self.usage = Some([input, cached, output, reasoning]);
        self
    }

    /// The stream reports no usage at all.
    pub fn without_usage(mut self) -> Reply {
        self.usage = None;
        self
    }

    /// Text prefixed to a tool call.
    pub fn with_text_first(mut self, text: &str) -> Reply {
        self.chunks.insert(0, Chunk::Text(text.to_string()));
        self
    }
}

/// A request the server received.
#[derive(Debug, Clone)]
pub struct Received {
    /// `/v1/chat/completions` or `/v1/messages`.
    pub path: String,
    /// Headers (lower-case names).
    pub headers: Vec<(String, String)>,
    /// JSON body.
    pub body: Value,
    /// When it arrived.
    pub at: std::time::Instant,
}

#[derive(Default)]
struct Inner {
    script: VecDeque<Reply>,
    /// Scripts for requests whose body contains a marker (concurrent sessions).
    routed: Vec<(String, VecDeque<Reply>)>,
    received: Vec<Received>,
    ollama_models: Option<Vec<String>>,
}

/// The running fake server; it stops when dropped with its runtime.
pub struct FakeModel {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    inner: Arc<Mutex<Inner>>,
    _runtime: Option<tokio::runtime::Runtime>,
}

impl FakeModel {
    /// Starts a server on its own runtime thread, so it works from sync and async tests alike.
    pub fn start() -> FakeModel {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let inner = Arc::new(Mutex::new(Inner::default()));
        // Bound here, served on the runtime: no block_on, so async tests can start one too.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = Router::new()
            .route("/v1/chat/completions", post(openai))
            .route("/v1/messages", post(anthropic))
            .route("/v1/responses", post(responses))
            .route("/api/tags", get(tags))
            .route("/v1/models", get(models))
            .with_state(inner.clone());
        runtime.spawn(async move {
            use axum::serve::ListenerExt as _;
            // Small SSE frames must leave at once, as from a real server, not wait on Nagle.
            let listener = tokio::net::TcpListener::from_std(listener)
                .unwrap()
                .tap_io(|tcp| {
                    let _ = tcp.set_nodelay(true);
                });
            axum::serve(listener, app).await.unwrap();
        });
        FakeModel {
            url,
            inner,
            _runtime: Some(runtime),
        }
    }

    /// The OpenAI-style base URL (`…/v1`).
    pub fn openai_base(&self) -> String {
        format!("{}/v1", self.url)
    }

    /// Adds replies to the script.
    pub fn push(&self, replies: impl IntoIterator<Item = Reply>) {
        self.inner.lock().unwrap().script.extend(replies);
    }

    /// Adds replies for requests whose body contains `marker` (e.g. a word of the session's
    /// task), so concurrent sessions each get their own script.
    pub fn push_for(&self, marker: &str, replies: impl IntoIterator<Item = Reply>) {
        let mut inner = self.inner.lock().unwrap();
        match inner.routed.iter_mut().find(|(m, _)| m == marker) {
            Some((_, queue)) => queue.extend(replies),
            None => inner
                .routed
                .push((marker.to_string(), replies.into_iter().collect())),
        }
    }

    /// Makes `/api/tags` answer like an Ollama with these models.
    pub fn serve_ollama_tags(&self, models: &[&str]) {
        self.inner.lock().unwrap().ollama_models =
            Some(models.iter().map(|m| m.to_string()).collect());
    }

    /// Every model request received so far.
    pub fn received(&self) -> Vec<Received> {
        self.inner.lock().unwrap().received.clone()
    }

    /// How many scripted replies are left.
    pub fn remaining(&self) -> usize {
        let inner = self.inner.lock().unwrap();
        inner.script.len() + inner.routed.iter().map(|(_, q)| q.len()).sum::<usize>()
    }
}

impl Drop for FakeModel {
    fn drop(&mut self) {
        if let Some(rt) = self._runtime.take() {
            rt.shutdown_background();
        }
    }
}

fn take(inner: &Arc<Mutex<Inner>>, path: &str, headers: &HeaderMap, body: Value) -> Option<Reply> {
    let mut inner = inner.lock().unwrap();
    let text = body.to_string();
    let routed = inner
        .routed
        .iter_mut()
        .find(|(marker, queue)| !queue.is_empty() && text.contains(marker.as_str()))
        .and_then(|(_, queue)| queue.pop_front());
    inner.received.push(Received {
        path: path.to_string(),
        headers: headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    v.to_str().unwrap_or_default().to_string(),
                )
            })
            .collect(),
        body,
        at: std::time::Instant::now(),
    });
    routed.or_else(|| inner.script.pop_front())
}

/// The model list of the OpenAI and Anthropic APIs: `fake`, `fake-model`, and any Ollama
/// models set.
async fn models(State(inner): State<Arc<Mutex<Inner>>>) -> Response {
    let mut models = vec!["fake".to_string(), "fake-model".to_string()];
    models.extend(
        inner
            .lock()
            .unwrap()
            .ollama_models
            .clone()
            .unwrap_or_default(),
    );
    axum::Json(json!({"object": "list", "data": models.iter().map(|m| json!({"id": m, "type": "model"})).collect::<Vec<_>>()}))
        .into_response()
}

async fn tags(State(inner): State<Arc<Mutex<Inner>>>) -> Response {
    let models = inner.lock().unwrap().ollama_models.clone();
    match models {
        Some(models) => axum::Json(
            json!({"models": models.iter().map(|m| json!({"name": m})).collect::<Vec<_>>()}),
        )
        .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

fn error_response(reply: Option<&Reply>) -> Option<Response> {
    match reply {
        None => Some(
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "fake model: the test script has no reply left",
            )
                .into_response(),
        ),
        Some(r) if r.status != 200 => Some(
            (
                StatusCode::from_u16(r.status).unwrap(),
                format!(
                    "{{\"error\":{{\"message\":\"scripted status {}\"}}}}",
                    r.status
                ),
            )
                .into_response(),
        ),
        Some(_) => None,
    }
}

/// Streams SSE frames produced by `frames`, honouring delays and hangs.
fn sse(events: Vec<Result<String, Duration>>, hang: bool) -> Response {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<String, std::io::Error>>(16);
    tokio::spawn(async move {
        for event in events {
            match event {
                Ok(frame) => {
                    if tx.send(Ok(frame)).await.is_err() {
                        return;
                    }
                }
                Err(delay) => tokio::time::sleep(delay).await,
            }
        }
        if hang {
            tx.closed().await;
        }
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    Response::builder()
        .header("content-type", "text/event-stream")
        .body(Body::from_stream(stream))
        .unwrap()
}

async fn openai(
    State(inner): State<Arc<Mutex<Inner>>>,
    headers: HeaderMap,
    body: axum::Json<Value>,
) -> Response {
    let reply = take(&inner, "/v1/chat/completions", &headers, body.0);
    if let Some(error) = error_response(reply.as_ref()) {
        return error;
    }
    let reply = reply.unwrap();
    let mut events = Vec::new();
    let chunk = |delta: Value, finish: Value| {
        Ok(format!(
            "data: {}\n\n",
            json!({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "model": "fake",
                   "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
        ))
    };
    events.push(chunk(
        json!({"role": "assistant", "content": ""}),
        Value::Null,
    ));
    let mut tool_index = 0;
    let mut hang = false;
    for c in &reply.chunks {
        match c {
            Chunk::Text(t) => events.push(chunk(json!({"content": t}), Value::Null)),
            Chunk::Thought(t) => events.push(chunk(json!({"reasoning_content": t}), Value::Null)),
            Chunk::Tool {
                id,
                name,
                arguments,
            } => {
                events.push(chunk(
                    json!({"tool_calls": [{"index": tool_index, "id": id, "type": "function",
                    "function": {"name": name, "arguments": ""}}]}),
                    Value::Null,
                ));
                // Arguments arrive in two pieces, as real servers split them.
                let mid = (0..=arguments.len() / 2)
                    .rev()
                    .find(|i| arguments.is_char_boundary(*i))
                    .unwrap_or(0);
                for part in [&arguments[..mid], &arguments[mid..]] {
                    events.push(chunk(json!({"tool_calls": [{"index": tool_index, "function": {"arguments": part}}]}), Value::Null));
                }
                tool_index += 1;
            }
            Chunk::Delay(d) => events.push(Err(*d)),
            Chunk::Hang => {
                hang = true;
                break;
            }
        }
    }
    if !hang {
        let finish = reply.finish.clone().unwrap_or_else(|| {
            if tool_index > 0 {
                "tool_calls".into()
            } else {
                "stop".into()
            }
        });
        events.push(chunk(json!({}), json!(finish)));
        if let Some([input, cached, output, reasoning]) = reply.usage {
            events.push(Ok(format!("data: {}\n\n", json!({"id": "chatcmpl-fake", "object": "chat.completion.chunk",
                "choices": [], "usage": {"prompt_tokens": input, "completion_tokens": output, "total_tokens": input + output,
                    "prompt_tokens_details": {"cached_tokens": cached},
                    "completion_tokens_details": {"reasoning_tokens": reasoning}}}))));
        }
        events.push(Ok("data: [DONE]\n\n".to_string()));
    }
    sse(events, hang)
}

async fn anthropic(
    State(inner): State<Arc<Mutex<Inner>>>,
    headers: HeaderMap,
    body: axum::Json<Value>,
) -> Response {
    let reply = take(&inner, "/v1/messages", &headers, body.0);
    if let Some(error) = error_response(reply.as_ref()) {
        return error;
    }
    let reply = reply.unwrap();
    let ev = |name: &str, data: Value| Ok(format!("event: {name}\ndata: {data}\n\n"));
    // Anthropic counts fresh input, cache reads and cache writes apart.
    let start_usage = match reply.usage {
        Some([input, cached, _, _]) => json!({"input_tokens": input - cached,
            "cache_read_input_tokens": cached, "cache_creation_input_tokens": 0, "output_tokens": 1}),
        None => json!(null),
    };
    let mut message = json!({"id": "msg_fake",
        "type": "message", "role": "assistant", "content": [], "model": "fake"});
    if !start_usage.is_null() {
        message["usage"] = start_usage;
    }
    let mut events = vec![ev(
        "message_start",
        json!({"type": "message_start", "message": message}),
    )];
    let mut index = 0;
    let mut open_text = false;
    let mut has_tools = false;
    let mut hang = false;
    // Ends the text block being streamed, if any, so the next block gets the next index.
    let close_text =
        |events: &mut Vec<Result<String, Duration>>, index: &mut u64, open: &mut bool| {
            if *open {
                events.push(ev(
                    "content_block_stop",
                    json!({"type": "content_block_stop", "index": *index}),
                ));
                *open = false;
                *index += 1;
            }
        };
    // A block sent whole: start, one delta, stop.
    let whole_block = |events: &mut Vec<Result<String, Duration>>,
                       index: &mut u64,
                       block: Value,
                       delta: Value| {
        events.push(ev(
            "content_block_start",
            json!({"type": "content_block_start", "index": *index, "content_block": block}),
        ));
        events.push(ev(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": *index, "delta": delta}),
        ));
        events.push(ev(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": *index}),
        ));
        *index += 1;
    };
    for c in &reply.chunks {
        match c {
            Chunk::Thought(t) => {
                close_text(&mut events, &mut index, &mut open_text);
                whole_block(
                    &mut events,
                    &mut index,
                    json!({"type": "thinking", "thinking": ""}),
                    json!({"type": "thinking_delta", "thinking": t}),
                );
            }
            Chunk::Text(t) => {
                if !open_text {
                    events.push(ev(
                        "content_block_start",
                        json!({"type": "content_block_start", "index": index,
                        "content_block": {"type": "text", "text": ""}}),
                    ));
                    open_text = true;
                }
                events.push(ev(
                    "content_block_delta",
                    json!({"type": "content_block_delta", "index": index,
                    "delta": {"type": "text_delta", "text": t}}),
                ));
            }
            Chunk::Tool {
                id,
                name,
                arguments,
            } => {
                close_text(&mut events, &mut index, &mut open_text);
                has_tools = true;
                whole_block(
                    &mut events,
                    &mut index,
                    json!({"type": "tool_use", "id": id, "name": name, "input": {}}),
                    json!({"type": "input_json_delta", "partial_json": arguments}),
                );
            }
            Chunk::Delay(d) => events.push(Err(*d)),
            Chunk::Hang => {
                hang = true;
                break;
            }
        }
    }
    if !hang {
        close_text(&mut events, &mut index, &mut open_text);
        let stop = reply.finish.clone().unwrap_or_else(|| {
            if has_tools {
                "tool_use".into()
            } else {
                "end_turn".into()
            }
        });
        let mut delta = json!({"type": "message_delta", "delta": {"stop_reason": stop}});
        if let Some([_, _, output, _]) = reply.usage {
            delta["usage"] = json!({"output_tokens": output});
        }
        events.push(ev("message_delta", delta));
        events.push(ev("message_stop", json!({"type": "message_stop"})));
    }
    sse(events, hang)
}

async fn responses(
    State(inner): State<Arc<Mutex<Inner>>>,
    headers: HeaderMap,
    body: axum::Json<Value>,
) -> Response {
    let reply = take(&inner, "/v1/responses", &headers, body.0);
    if let Some(error) = error_response(reply.as_ref()) {
        return error;
    }
    let reply = reply.unwrap();
    let ev = |data: Value| {
        Ok(format!(
            "event: {}\ndata: {data}\n\n",
            data["type"].as_str().unwrap_or_default()
        ))
    };
    let mut events = vec![ev(json!({"type": "response.created", "sequence_number": 0,
        "response": {"id": "resp_fake", "object": "response", "status": "in_progress", "output": []}}))];
    let mut output: Vec<Value> = Vec::new();
    let mut text = String::new();
    let mut hang = false;
    let close_text = |text: &mut String,
                      output: &mut Vec<Value>,
                      events: &mut Vec<Result<String, Duration>>| {
        if text.is_empty() {
            return;
        }
        let item = json!({"type": "message", "id": format!("msg_{}", output.len()), "role": "assistant", "status": "completed",
            "content": [{"type": "output_text", "text": text.clone(), "annotations": []}]});
        events.push(ev(json!({"type": "response.output_item.done", "output_index": output.len(), "item": item})));
        output.push(item);
        text.clear();
    };
    for c in &reply.chunks {
        match c {
            Chunk::Text(t) => {
                if text.is_empty() {
                    events.push(ev(json!({"type": "response.output_item.added", "output_index": output.len(),
                        "item": {"type": "message", "id": format!("msg_{}", output.len()), "role": "assistant", "status": "in_progress", "content": []}})));
                }
                text.push_str(t);
                events.push(ev(json!({"type": "response.output_text.delta", "item_id": format!("msg_{}", output.len()),
                    "output_index": output.len(), "content_index": 0, "delta": t})));
            }
            Chunk::Thought(_) => {}
            Chunk::Tool {
                id,
                name,
                arguments,
            } => {
                close_text(&mut text, &mut output, &mut events);
                let item = json!({"type": "function_call", "id": format!("fc_{id}"), "call_id": id, "name": name,
                    "arguments": arguments, "status": "completed"});
                events.push(ev(json!({"type": "response.output_item.added", "output_index": output.len(),
                    "item": {"type": "function_call", "id": format!("fc_{id}"), "call_id": id, "name": name, "arguments": ""}})));
                events.push(ev(json!({"type": "response.function_call_arguments.delta", "item_id": format!("fc_{id}"),
                    "output_index": output.len(), "delta": arguments})));
                events.push(ev(json!({"type": "response.output_item.done", "output_index": output.len(), "item": item})));
                output.push(item);
            }
            Chunk::Delay(d) => events.push(Err(*d)),
            Chunk::Hang => {
                hang = true;
                break;
            }
        }
    }
    if !hang {
        close_text(&mut text, &mut output, &mut events);
        let mut response = json!({"id": "resp_fake", "object": "response",
            "status": "completed", "output": output});
        if let Some([input, cached, out, reasoning]) = reply.usage {
            response["usage"] = json!({"input_tokens": input, "input_tokens_details": {"cached_tokens": cached},
                "output_tokens": out, "output_tokens_details": {"reasoning_tokens": reasoning},
                "total_tokens": input + out});
        }
        events.push(ev(
            json!({"type": "response.completed", "response": response}),
        ));
    }
    sse(events, hang)
}
