//! Property tests of the model-stream parsers: whatever bytes an endpoint sends, reading the
//! reply never panics or hangs, a broken stream is an error that names the endpoint, and a valid
//! stream gives the same reply however it is cut into chunks.
//!
//! No property-testing crate: a small xorshift generator, a fixed list of seeds, and the seed in
//! every assertion message (rerun one with `ASIDE_FUZZ_SEED=<seed>`).

use super::{read_stream, ChatReply, Delta, FinishReason, ModelError, ToolUse};
use aside_core::ProviderKind;
use aside_testkit::Rng;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const URL: &str = "http://model.test/v1/stream";

/// The seeds a property runs: `ASIDE_FUZZ_SEED` alone when set, else `0..count`.
fn seeds(count: u64) -> Vec<u64> {
    match std::env::var("ASIDE_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        Some(seed) => vec![seed],
        None => (0..count).collect(),
    }
}

/// What one read produced: the result and the deltas streamed on the way (empty ones dropped).
#[derive(Debug)]
struct Outcome {
    result: Result<ChatReply, String>,
    is_stream_error: bool,
    deltas: Vec<(bool, String)>,
}

fn read(
    runtime: &tokio::runtime::Runtime,
    provider: ProviderKind,
    chunks: Vec<Result<Vec<u8>, std::io::Error>>,
) -> Outcome {
    let mut deltas = Vec::new();
    let result = runtime.block_on(async {
        let mut on_delta = |d: Delta<'_>| match d {
            Delta::Text(t) if !t.is_empty() => deltas.push((false, t.to_string())),
            Delta::Thought(t) if !t.is_empty() => deltas.push((true, t.to_string())),
            _ => {}
        };
        read_stream(provider, URL, futures::stream::iter(chunks), &mut on_delta).await
    });
    let is_stream_error = matches!(result, Err(ModelError::Stream { .. }));
    Outcome {
        result: result.map_err(|e| e.to_string()),
        is_stream_error,
        deltas,
    }
}

fn runtime() -> tokio::runtime::Runtime {
    match tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => panic!("cannot start a runtime: {e}"),
    }
}

/// Runs `body` on its own thread and fails (naming the case it was on) if it takes longer than
/// `limit`: a parser that loops forever fails the test instead of hanging it.
fn within(limit: Duration, body: impl FnOnce(&Progress) + Send + 'static) {
    let progress = Progress::default();
    let shared = progress.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    let worker = std::thread::spawn(move || {
        body(&shared);
        let _ = tx.send(());
    });
    match rx.recv_timeout(limit) {
        Ok(()) => {
            let _ = worker.join();
        }
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            // The worker panicked: its message (with the seed) is already printed.
            let _ = worker.join();
            panic!("failed on {}", progress.current());
        }
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!("no result within {limit:?}: hung on {}", progress.current())
        }
    }
}

#[derive(Clone, Default)]
struct Progress(Arc<Mutex<String>>);

impl Progress {
    fn at(&self, case: String) {
        if let Ok(mut c) = self.0.lock() {
            *c = case;
        }
    }

    fn current(&self) -> String {
        self.0.lock().map(|c| c.clone()).unwrap_or_default()
    }
}

/// `bytes` cut into random chunks, with empty chunks now and then.
fn split(rng: &mut Rng, bytes: &[u8]) -> Vec<Result<Vec<u8>, std::io::Error>> {
    let max = rng.pick(&[1, 2, 3, 7, 16, 64, 512, usize::MAX]);
    let mut chunks = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        if rng.chance(5) {
            chunks.push(Ok(Vec::new()));
        }
        let n = 1 + rng.below(max.min(rest.len()));
        chunks.push(Ok(rest[..n].to_vec()));
        rest = &rest[n..];
    }
    chunks
}

/// Checks what every read must satisfy, whatever it was fed.
fn check_any(outcome: &Outcome, case: &str) {
    if let Err(message) = &outcome.result {
        assert!(
            message.contains(URL),
            "{case}: the error does not name the endpoint: {message}"
        );
        assert!(
            message.len() < 4000,
            "{case}: the error quotes too much ({} bytes)",
            message.len()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Valid streams, with the reply they must give.

const TEXTS: &[&str] = &[
    "Hello",
    " world",
    "é",
    "日本語のテキスト",
    "😀🚀",
    "\u{feff}BOM inside",
    "line\nbreak",
    "\r\n",
    "data: not an event\n\n",
    "[DONE]",
    "\"quoted\" and \\ backslash",
    "\u{10FFFF}",
    "tab\there",
    "{\"json\": \"in text\"}",
    ": looks like a comment",
];

const ARGS: &[&str] = &[
    r#"{"path": "src/main.rs"}"#,
    r#"{"command": "echo 'hé 😀' && ls -la"}"#,
    r#"{"entries": [{"content": "a", "status": "pending"}]}"#,
    "{not json",
    "",
    r#"{"path": 3}"#,
    r#"{"deep": [[[[[[[[[[]]]]]]]]]]}"#,
];

#[derive(Debug, Clone)]
struct Script {
    thoughts: Vec<String>,
    texts: Vec<String>,
    /// id, name, argument fragments.
    tools: Vec<(String, String, Vec<String>)>,
    finish: FinishReason,
    input_tokens: u64,
    output_tokens: u64,
}

fn fragments(rng: &mut Rng, text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut parts = Vec::new();
    let mut start = 0;
    while start < chars.len() {
        let end = (start + 1 + rng.below(chars.len())).min(chars.len());
        parts.push(chars[start..end].iter().collect());
        start = end;
    }
    parts
}

fn script(rng: &mut Rng) -> Script {
    let thoughts = (0..rng.below(3))
        .map(|_| rng.pick(TEXTS).to_string())
        .collect();
    let texts = (0..rng.below(6))
        .map(|_| rng.pick(TEXTS).to_string())
        .collect();
    let tools = (0..rng.below(4))
        .map(|i| {
            let args = rng.pick(ARGS);
            (
                format!("call_{i}_{}", rng.below(1000)),
                rng.pick(&["read_file", "run_command", "update_plan", "ünïcode_tool"])
                    .to_string(),
                fragments(rng, args),
            )
        })
        .collect();
    let finish = rng.pick(&[
        FinishReason::Stop,
        FinishReason::Length,
        FinishReason::Refusal,
    ]);
    Script {
        thoughts,
        texts,
        tools,
        finish,
        input_tokens: rng.below(100_000) as u64,
        output_tokens: rng.below(10_000) as u64,
    }
}

fn expected(script: &Script, provider: ProviderKind) -> (ChatReply, Vec<(bool, String)>) {
    let tool_calls = script
        .tools
        .iter()
        .map(|(id, name, parts)| {
            let mut arguments = parts.concat();
            if provider == ProviderKind::Anthropic && arguments.trim().is_empty() {
                arguments = "{}".to_string();
            }
            ToolUse {
                id: id.clone(),
                name: name.clone(),
                arguments,
            }
        })
        .collect();
    let reply = ChatReply {
        text: script.texts.concat(),
        tool_calls,
        finish: script.finish,
        input_tokens: Some(script.input_tokens),
        output_tokens: Some(script.output_tokens),
        cached_tokens: None,
        reasoning_tokens: None,
    };
    let deltas = script
        .thoughts
        .iter()
        .map(|t| (true, t.clone()))
        .chain(script.texts.iter().map(|t| (false, t.clone())))
        .collect();
    (reply, deltas)
}

/// Frames `data` as one SSE event, in one of the ways the spec allows.
fn event(rng: &mut Rng, name: Option<&str>, data: &str) -> String {
    let eol = rng.pick(&["\n", "\n", "\r\n", "\r"]);
    let mut out = String::new();
    if rng.chance(10) {
        out.push_str(&format!(": keep-alive{eol}"));
    }
    if let Some(name) = name {
        out.push_str(&format!("event: {name}{eol}"));
    }
    if rng.chance(5) {
        out.push_str(&format!("id: {}{eol}", rng.below(100)));
    }
    let sep = if rng.chance(20) { "data:" } else { "data: " };
    out.push_str(&format!("{sep}{data}{eol}{eol}"));
    out
}

fn openai_stream(rng: &mut Rng, script: &Script) -> Vec<u8> {
    let mut out = String::new();
    let mut chunk = |rng: &mut Rng, delta: Value, finish: Value| {
        let c = json!({"id": "chatcmpl-1", "object": "chat.completion.chunk",
                       "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
        out.push_str(&event(rng, None, &c.to_string()));
    };
    chunk(
        rng,
        json!({"role": "assistant", "content": ""}),
        Value::Null,
    );
    for t in &script.thoughts {
        let key = rng.pick(&["reasoning_content", "reasoning"]);
        chunk(rng, json!({ key: t }), Value::Null);
    }
    for t in &script.texts {
        chunk(rng, json!({ "content": t }), Value::Null);
    }
    for (i, (id, name, parts)) in script.tools.iter().enumerate() {
        let first = parts.first().cloned().unwrap_or_default();
        chunk(
            rng,
            json!({"tool_calls": [{"index": i, "id": id, "type": "function",
                                   "function": {"name": name, "arguments": first}}]}),
            Value::Null,
        );
        for part in parts.iter().skip(1) {
            chunk(
                rng,
                json!({"tool_calls": [{"index": i, "function": {"arguments": part}}]}),
                Value::Null,
            );
        }
    }
    let finish = match script.finish {
        FinishReason::Stop if script.tools.is_empty() => "stop",
        FinishReason::Stop => "tool_calls",
        FinishReason::Length => "length",
        FinishReason::Refusal => "content_filter",
    };
    chunk(rng, json!({}), json!(finish));
    let usage = json!({"id": "chatcmpl-1", "choices": [], "usage": {
        "prompt_tokens": script.input_tokens, "completion_tokens": script.output_tokens}});
    out.push_str(&event(rng, None, &usage.to_string()));
    out.push_str(&event(rng, None, "[DONE]"));
    out.into_bytes()
}

fn anthropic_stream(rng: &mut Rng, script: &Script) -> Vec<u8> {
    let mut out = String::new();
    let mut send = |rng: &mut Rng, value: Value| {
        let name = value["type"].as_str().unwrap_or_default().to_string();
        // The event name is optional for this parser: "type" in the data wins.
        let name = if rng.chance(80) {
            Some(name.as_str())
        } else {
            None
        };
        out.push_str(&event(rng, name, &value.to_string()));
    };
    send(
        rng,
        json!({"type": "message_start", "message": {"id": "msg_1", "usage": {
            "input_tokens": script.input_tokens, "output_tokens": 1}}}),
    );
    let mut index = 0;
    if !script.thoughts.is_empty() {
        send(
            rng,
            json!({"type": "content_block_start", "index": index,
                   "content_block": {"type": "thinking", "thinking": ""}}),
        );
        for t in &script.thoughts {
            send(
                rng,
                json!({"type": "content_block_delta", "index": index,
                       "delta": {"type": "thinking_delta", "thinking": t}}),
            );
        }
        send(rng, json!({"type": "content_block_stop", "index": index}));
        index += 1;
    }
    if rng.chance(10) {
        send(rng, json!({"type": "ping"}));
    }
    if !script.texts.is_empty() {
        send(
            rng,
            json!({"type": "content_block_start", "index": index,
                   "content_block": {"type": "text", "text": ""}}),
        );
        for t in &script.texts {
            send(
                rng,
                json!({"type": "content_block_delta", "index": index,
                       "delta": {"type": "text_delta", "text": t}}),
            );
        }
        send(rng, json!({"type": "content_block_stop", "index": index}));
        index += 1;
    }
    for (id, name, parts) in &script.tools {
        send(
            rng,
            json!({"type": "content_block_start", "index": index,
                   "content_block": {"type": "tool_use", "id": id, "name": name, "input": {}}}),
        );
        for part in parts {
            send(
                rng,
                json!({"type": "content_block_delta", "index": index,
                       "delta": {"type": "input_json_delta", "partial_json": part}}),
            );
        }
        send(rng, json!({"type": "content_block_stop", "index": index}));
        index += 1;
    }
    let stop = match script.finish {
        FinishReason::Stop if script.tools.is_empty() => "end_turn",
        FinishReason::Stop => "tool_use",
        FinishReason::Length => "max_tokens",
        FinishReason::Refusal => "refusal",
    };
    send(
        rng,
        json!({"type": "message_delta", "delta": {"stop_reason": stop},
               "usage": {"output_tokens": script.output_tokens}}),
    );
    send(rng, json!({"type": "message_stop"}));
    out.into_bytes()
}

fn valid_stream(rng: &mut Rng, provider: ProviderKind, script: &Script) -> Vec<u8> {
    let mut bytes = Vec::new();
    if rng.chance(10) {
        // A byte order mark is allowed at the start of an event stream.
        bytes.extend_from_slice(b"\xEF\xBB\xBF");
    }
    bytes.extend(match provider {
        ProviderKind::Openai => openai_stream(rng, script),
        ProviderKind::Anthropic => anthropic_stream(rng, script),
    });
    bytes
}

const PROVIDERS: [ProviderKind; 2] = [ProviderKind::Openai, ProviderKind::Anthropic];

/// A valid stream gives its reply, and the same reply and deltas however it is chunked, with
/// anything after its end ignored.
#[test]
fn valid_streams_give_the_same_reply_under_any_chunking() {
    within(Duration::from_secs(120), |progress| {
        let runtime = runtime();
        for seed in seeds(400) {
            for provider in PROVIDERS {
                let case = format!("seed {seed} ({provider:?})");
                progress.at(case.clone());
                let mut rng = Rng::new(seed);
                let script = script(&mut rng);
                let bytes = valid_stream(&mut rng, provider, &script);
                let (reply, deltas) = expected(&script, provider);
                let whole = read(&runtime, provider, vec![Ok(bytes.clone())]);
                assert_eq!(whole.result, Ok(reply.clone()), "{case}: {script:?}");
                assert_eq!(whole.deltas, deltas, "{case}");
                for round in 0..4 {
                    let chunks = split(&mut rng, &bytes);
                    let n = chunks.len();
                    let split_read = read(&runtime, provider, chunks);
                    assert_eq!(
                        split_read.result, whole.result,
                        "{case}, round {round}: {n} chunks"
                    );
                    assert_eq!(split_read.deltas, whole.deltas, "{case}, round {round}");
                }
                // Whatever follows the end of the reply is never read.
                let mut trailing = bytes.clone();
                trailing.extend(garbage(&mut rng));
                let chunks = split(&mut rng, &trailing);
                let after_end = read(&runtime, provider, chunks);
                assert_eq!(after_end.result, whole.result, "{case}: trailing garbage");
            }
        }
    });
}

/// A valid stream cut anywhere: an error naming the endpoint (or, cut after the reply was
/// complete, the reply), and only a prefix of the deltas was streamed.
#[test]
fn valid_streams_cut_anywhere_fail_cleanly() {
    within(Duration::from_secs(120), |progress| {
        let runtime = runtime();
        for seed in seeds(300) {
            for provider in PROVIDERS {
                let mut rng = Rng::new(seed);
                let script = script(&mut rng);
                let bytes = valid_stream(&mut rng, provider, &script);
                let (reply, deltas) = expected(&script, provider);
                for round in 0..4 {
                    let cut = rng.below(bytes.len());
                    let case = format!("seed {seed} ({provider:?}), cut at {cut} (round {round})");
                    progress.at(case.clone());
                    let mut chunks = split(&mut rng, &bytes[..cut]);
                    let transport_error = rng.chance(30);
                    if transport_error {
                        chunks.push(Err(std::io::Error::other("connection reset by peer")));
                    }
                    let outcome = read(&runtime, provider, chunks);
                    check_any(&outcome, &case);
                    // Deltas are whole events: a cut stream streams a prefix of them.
                    assert!(
                        deltas.starts_with(&outcome.deltas),
                        "{case}: streamed {:?}, the whole stream streams {deltas:?}",
                        outcome.deltas
                    );
                    match &outcome.result {
                        Ok(got) => {
                            // Only possible once the finish reason was in.
                            assert_eq!(got.text, reply.text, "{case}");
                            assert_eq!(got.tool_calls, reply.tool_calls, "{case}");
                            assert_eq!(got.finish, reply.finish, "{case}");
                        }
                        Err(message) if transport_error => assert!(
                            message.contains("stream interrupted")
                                || message.contains("ended before"),
                            "{case}: {message}"
                        ),
                        Err(message) => assert!(
                            message.contains("the stream ended before the model finished")
                                || message.contains("not valid UTF-8"),
                            "{case}: {message}"
                        ),
                    }
                }
            }
        }
    });
}

// ---------------------------------------------------------------------------------------------
// Garbage.

const VOCAB: &[&str] = &[
    "choices",
    "delta",
    "content",
    "tool_calls",
    "index",
    "id",
    "function",
    "name",
    "arguments",
    "finish_reason",
    "usage",
    "prompt_tokens",
    "completion_tokens",
    "reasoning_content",
    "reasoning",
    "error",
    "type",
    "message",
    "content_block",
    "text",
    "partial_json",
    "thinking",
    "stop_reason",
    "input_tokens",
    "output_tokens",
    "message_start",
    "content_block_start",
    "content_block_delta",
    "content_block_stop",
    "message_delta",
    "message_stop",
    "text_delta",
    "input_json_delta",
    "thinking_delta",
    "tool_use",
    "stop",
    "length",
    "max_tokens",
    "",
    "\u{0}",
    "ünï",
];

const NUMBERS: &[&str] = &[
    "0",
    "-1",
    "1.5",
    "18446744073709551615",
    "18446744073709551616",
    "-9223372036854775808",
    "1e308",
    "1e999",
    "4294967296",
    "1024",
    "1023",
    "99999999999999999999999999999999999999",
    "-0",
    "0.000000000000000000000001",
];

/// A random JSON value built from the words the parsers look for.
fn random_json(rng: &mut Rng, depth: usize) -> Value {
    let choice = if depth > 5 {
        rng.below(5)
    } else {
        rng.below(8)
    };
    match choice {
        0 => Value::Null,
        1 => Value::Bool(rng.chance(50)),
        2 => serde_json::from_str(rng.pick(NUMBERS)).unwrap_or(Value::Null),
        3 | 4 => Value::String(if rng.chance(50) {
            rng.pick(VOCAB).to_string()
        } else {
            rng.pick(TEXTS).to_string()
        }),
        5 => Value::Array(
            (0..rng.below(4))
                .map(|_| random_json(rng, depth + 1))
                .collect(),
        ),
        _ => Value::Object(
            (0..rng.below(5))
                .map(|_| (rng.pick(VOCAB).to_string(), random_json(rng, depth + 1)))
                .collect(),
        ),
    }
}

/// Replaces or removes a random part of `value`.
fn mutate(rng: &mut Rng, value: &mut Value) {
    let descend = rng.chance(70);
    match value {
        Value::Object(map) if descend && !map.is_empty() => {
            let key = map.keys().nth(rng.below(map.len())).cloned();
            if let Some(key) = key {
                if rng.chance(15) {
                    map.remove(&key);
                } else if let Some(child) = map.get_mut(&key) {
                    mutate(rng, child);
                }
            }
        }
        Value::Array(items) if descend && !items.is_empty() => {
            let i = rng.below(items.len());
            mutate(rng, &mut items[i]);
        }
        _ => *value = random_json(rng, 0),
    }
}

/// A JSON-ish payload: a mutated valid event, a random value, or text that is not quite JSON.
fn payload(rng: &mut Rng, provider: ProviderKind) -> String {
    let mut text = match rng.below(10) {
        0..=4 => {
            // One event of a valid stream, then damaged.
            let script = script(rng);
            let stream = String::from_utf8(valid_stream(rng, provider, &script))
                .unwrap_or_default()
                .replace('\r', "\n");
            let datas: Vec<&str> = stream
                .lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .collect();
            let data = rng.pick(&datas).trim();
            match serde_json::from_str::<Value>(data) {
                Ok(mut v) => {
                    for _ in 0..1 + rng.below(3) {
                        mutate(rng, &mut v);
                    }
                    v.to_string()
                }
                Err(_) => data.to_string(),
            }
        }
        5 | 6 => random_json(rng, 0).to_string(),
        7 => {
            // Nesting past serde_json's recursion limit.
            let depth = rng.pick(&[100, 127, 128, 129, 500, 5000]);
            let (open, close) = if rng.chance(50) { ("[", "]") } else { ("{\"a\":", "}") };
            let mut s = open.repeat(depth);
            s.push_str("null");
            if rng.chance(70) {
                s.push_str(&close.repeat(depth));
            }
            if rng.chance(50) {
                s = format!("{{\"choices\":[{{\"delta\":{{\"tool_calls\":{s}}}}}]}}");
            }
            s
        }
        8 => format!(
            "{{\"choices\":[{{\"delta\":{{\"tool_calls\":[{{\"index\":{},\"function\":{{\"name\":\"x\"}}}}]}}}}]}}",
            rng.pick(NUMBERS)
        ),
        _ => "x".repeat(rng.below(200_000)),
    };
    if rng.chance(25) {
        // Truncated at a character boundary.
        let cut = rng.below(text.len() + 1);
        let cut = (0..=cut)
            .rev()
            .find(|i| text.is_char_boundary(*i))
            .unwrap_or(0);
        text.truncate(cut);
    }
    if rng.chance(10) {
        let at = rng.below(text.len() + 1);
        let at = (0..=at)
            .rev()
            .find(|i| text.is_char_boundary(*i))
            .unwrap_or(0);
        text.insert_str(
            at,
            rng.pick(&["\n", "\"", "}", "]", ",", "\\", "\u{0}", "😀"]),
        );
    }
    text
}

fn garbage_event(rng: &mut Rng, provider: ProviderKind) -> String {
    let name = if rng.chance(50) {
        Some(rng.pick(VOCAB))
    } else {
        None
    };
    let data = match rng.below(20) {
        0 => "[DONE]".to_string(),
        1 => String::new(),
        _ => payload(rng, provider),
    };
    // Data with line breaks becomes several data lines, which the parser joins.
    let data = data.replace('\r', "\n").replace('\n', "\ndata: ");
    match rng.below(10) {
        0 => format!("{data}\n\n"),
        1 => format!("data: {data}"),
        _ => event(rng, name, &data),
    }
}

/// Random bytes, biased to what SSE and JSON are made of.
fn garbage(rng: &mut Rng) -> Vec<u8> {
    const PIECES: &[&[u8]] = &[
        b"data:",
        b"data: ",
        b"event: ",
        b"id: ",
        b"retry: 9",
        b"\n",
        b"\n\n",
        b"\r\n",
        b"\r",
        b":",
        b"{",
        b"}",
        b"[DONE]",
        b"\xEF\xBB\xBF",
        b"\xEF\xBB",
        b"\xFF",
        b"\xC0\x80",
        b"\xE6\x97",
        b"\xF0\x9F\x98\x80",
        b"\"choices\"",
        b"\0",
    ];
    let mut out = Vec::new();
    for _ in 0..rng.below(300) {
        if rng.chance(50) {
            out.extend_from_slice(rng.pick(PIECES));
        } else {
            out.push(rng.next() as u8);
        }
    }
    out
}

/// Random bytes: no panic, no hang, and an error that names the endpoint.
#[test]
fn random_bytes_never_panic() {
    within(Duration::from_secs(120), |progress| {
        let runtime = runtime();
        for seed in seeds(1000) {
            for provider in PROVIDERS {
                let case = format!("seed {seed} ({provider:?})");
                progress.at(case.clone());
                let mut rng = Rng::new(seed);
                let mut bytes = if rng.chance(20) {
                    (0..rng.below(4096)).map(|_| rng.next() as u8).collect()
                } else {
                    garbage(&mut rng)
                };
                if rng.chance(10) {
                    let mut with_bom = b"\xEF\xBB\xBF".to_vec();
                    with_bom.append(&mut bytes);
                    bytes = with_bom;
                }
                let chunks = split(&mut rng, &bytes);
                let outcome = read(&runtime, provider, chunks);
                check_any(&outcome, &case);
            }
        }
    });
}

/// Well-framed events with damaged, mistyped, huge, deep or truncated JSON: no panic, no hang,
/// and an error that names the endpoint.
#[test]
fn well_framed_garbage_never_panics() {
    within(Duration::from_secs(180), |progress| {
        let runtime = runtime();
        for seed in seeds(600) {
            for provider in PROVIDERS {
                let case = format!("seed {seed} ({provider:?})");
                progress.at(case.clone());
                let mut rng = Rng::new(seed);
                let mut text = String::new();
                for _ in 0..1 + rng.below(12) {
                    text.push_str(&garbage_event(&mut rng, provider));
                }
                let bytes = text.into_bytes();
                let chunks = split(&mut rng, &bytes);
                let outcome = read(&runtime, provider, chunks);
                check_any(&outcome, &case);
                // The same events in one piece behave the same.
                let whole = read(&runtime, provider, vec![Ok(bytes)]);
                assert_eq!(whole.result, outcome.result, "{case}");
                assert_eq!(whole.deltas, outcome.deltas, "{case}");
            }
        }
    });
}

// ---------------------------------------------------------------------------------------------
// Cases found or worth pinning.

fn read_one(provider: ProviderKind, body: &[u8]) -> Outcome {
    read(&runtime(), provider, vec![Ok(body.to_vec())])
}

fn error_of(outcome: &Outcome) -> &str {
    match &outcome.result {
        Ok(reply) => panic!("expected an error, got {reply:?}"),
        Err(message) => message,
    }
}

#[test]
fn a_byte_order_mark_at_the_start_is_skipped() {
    // eventsource-stream 0.2.3 panicked here (it sliced one byte off the three-byte BOM).
    for provider in PROVIDERS {
        let mut rng = Rng::new(7);
        let script = Script {
            thoughts: vec![],
            texts: vec!["hi".into()],
            tools: vec![],
            finish: FinishReason::Stop,
            input_tokens: 1,
            output_tokens: 2,
        };
        let mut body = b"\xEF\xBB\xBF".to_vec();
        body.extend(match provider {
            ProviderKind::Openai => openai_stream(&mut rng, &script),
            ProviderKind::Anthropic => anthropic_stream(&mut rng, &script),
        });
        let runtime = runtime();
        for chunk_size in [1, 2, 3, 4, body.len()] {
            let chunks = body
                .chunks(chunk_size)
                .map(|c| Ok(c.to_vec()))
                .collect::<Vec<_>>();
            let outcome = read(&runtime, provider, chunks);
            assert_eq!(
                outcome.result.as_ref().map(|r| r.text.as_str()),
                Ok("hi"),
                "{provider:?}, chunks of {chunk_size}"
            );
        }
        // Only one mark is a mark: a second is not, and does not panic either.
        let mut twice = b"\xEF\xBB\xBF".to_vec();
        twice.extend_from_slice(&body);
        check_any(&read(&runtime, provider, vec![Ok(twice)]), "two BOMs");
    }
}

#[test]
fn a_huge_tool_call_index_is_an_error_not_an_allocation() {
    // It used to allocate one slot per index up to the number the model sent.
    for index in ["18446744073709551615", "4294967296", "1024"] {
        let body = format!(
            "data: {{\"choices\":[{{\"delta\":{{\"tool_calls\":[{{\"index\":{index},\"id\":\"a\",\"function\":{{\"name\":\"read_file\"}}}}]}}}}]}}\n\n"
        );
        let outcome = read_one(ProviderKind::Openai, body.as_bytes());
        let message = error_of(&outcome);
        assert!(outcome.is_stream_error, "{message}");
        assert!(
            message.starts_with(&format!("the model endpoint {URL} sent a broken stream: tool call index {index} is out of range")),
            "{message}"
        );
    }
    // The largest allowed index is fine.
    let body = "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":1023,\"id\":\"a\",\"function\":{\"name\":\"read_file\",\"arguments\":\"{}\"}}]},\"finish_reason\":\"tool_calls\"}]}\n\ndata: [DONE]\n\n";
    let outcome = read_one(ProviderKind::Openai, body.as_bytes());
    let reply = outcome.result.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(reply.tool_calls.len(), 1);
    assert_eq!(reply.tool_calls[0].id, "a");
}

#[test]
fn invalid_utf8_is_a_stream_error_at_once() {
    for provider in PROVIDERS {
        let mut body = b"data: {\"choices\":[{\"delta\":{\"content\":\"ok\"}}]}\n\n".to_vec();
        let bad_at = body.len() + 6;
        body.extend_from_slice(b"data: \xFF\xFE\n\n");
        // Everything after the bad byte is not even looked at.
        body.extend(std::iter::repeat_n(b'x', 1_000_000));
        let outcome = read_one(provider, &body);
        let message = error_of(&outcome);
        assert!(outcome.is_stream_error, "{message}");
        assert_eq!(
            message,
            format!(
                "the model endpoint {URL} sent a broken stream: the body is not valid UTF-8 (at byte {bad_at})"
            )
        );
        if provider == ProviderKind::Openai {
            // What came before the bad byte was streamed.
            assert_eq!(outcome.deltas, vec![(false, "ok".to_string())]);
        }
        // A character cut by the end of the body.
        let outcome = read_one(provider, b"data: \"\xE6\x97");
        assert!(error_of(&outcome).contains("not valid UTF-8 (at byte 7)"));
    }
}

#[test]
fn malformed_events_say_what_is_wrong() {
    let cases: &[(ProviderKind, &[u8], &str)] = &[
        (ProviderKind::Openai, b"", "the stream ended before the model finished its reply"),
        (ProviderKind::Anthropic, b"", "the stream ended before the model finished its reply"),
        (ProviderKind::Openai, b"data: {not json\n\n", "invalid JSON chunk (key must be a string"),
        (ProviderKind::Anthropic, b"event: message_start\ndata: [1,\n\n", "invalid JSON event ("),
        (
            ProviderKind::Openai,
            b"data: {\"error\":{\"message\":\"overloaded\"}}\n\n",
            "error in stream: {\"message\":\"overloaded\"}",
        ),
        (
            ProviderKind::Anthropic,
            b"event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\"}}\n\n",
            "error in stream: {\"type\":\"overloaded_error\"}",
        ),
        (
            ProviderKind::Openai,
            b"data: {\"choices\":[{\"delta\":{\"content\":\"partial\"}}]}\n\n",
            "the stream ended before the model finished its reply",
        ),
    ];
    for (provider, body, want) in cases {
        let outcome = read_one(*provider, body);
        let message = error_of(&outcome);
        assert!(
            message.starts_with(&format!("the model endpoint {URL} sent a broken stream: ")),
            "{message}"
        );
        assert!(message.contains(want), "{provider:?}: {message}");
    }
    // A transport failure is retried as one (the last attempt's error names it).
    let outcome = read(
        &runtime(),
        ProviderKind::Openai,
        vec![
            Ok(b"data: {\"choices\":[]}\n\n".to_vec()),
            Err(std::io::Error::other("connection reset by peer")),
        ],
    );
    let message = error_of(&outcome);
    assert!(
        message.contains("stream interrupted: Transport error: connection reset by peer"),
        "{message}"
    );
}

#[test]
fn a_huge_event_is_quoted_only_in_part() {
    for provider in PROVIDERS {
        let body = format!("data: {{{}\n\n", "\"é".repeat(2_000_000));
        let started = Instant::now();
        let outcome = read_one(provider, body.as_bytes());
        let message = error_of(&outcome);
        assert!(message.len() < 2000, "{} bytes", message.len());
        assert!(message.contains("bytes in all)"), "{message}");
        assert!(started.elapsed() < Duration::from_secs(20));
    }
}

#[test]
fn a_long_stream_in_one_chunk_is_read_in_linear_time() {
    // Many events in one chunk: eventsource-stream copies the rest of its buffer for every line.
    for provider in PROVIDERS {
        let mut rng = Rng::new(1);
        let script = Script {
            thoughts: vec![],
            texts: (0..20_000).map(|i| format!("word{i} ")).collect(),
            tools: vec![],
            finish: FinishReason::Stop,
            input_tokens: 1,
            output_tokens: 2,
        };
        let body = match provider {
            ProviderKind::Openai => openai_stream(&mut rng, &script),
            ProviderKind::Anthropic => anthropic_stream(&mut rng, &script),
        };
        let started = Instant::now();
        let outcome = read_one(provider, &body);
        let elapsed = started.elapsed();
        assert_eq!(
            outcome.result.map(|r| r.text.len()),
            Ok(script.texts.concat().len())
        );
        assert!(
            elapsed < Duration::from_secs(10),
            "{provider:?}: {} bytes took {elapsed:?}",
            body.len()
        );
        eprintln!(
            "{provider:?}: {} bytes in one chunk: {elapsed:?}",
            body.len()
        );
    }
}

/// Request bodies are built from whatever the conversation holds, including tool-call
/// arguments the model wrote (Anthropic's body parses them): never a panic, always an object.
#[test]
fn request_bodies_take_any_conversation() {
    use super::{anthropic, openai, ChatRequest, Message};
    for seed in seeds(500) {
        let mut rng = Rng::new(seed);
        let mut messages = Vec::new();
        for _ in 0..rng.below(8) {
            let text = rng.pick(TEXTS).to_string();
            messages.push(match rng.below(3) {
                0 => Message::User { text },
                1 => Message::Assistant {
                    text: if rng.chance(30) { String::new() } else { text },
                    tool_calls: (0..rng.below(3))
                        .map(|i| ToolUse {
                            id: format!("c{i}"),
                            name: rng.pick(VOCAB).to_string(),
                            arguments: payload(&mut rng, ProviderKind::Openai),
                        })
                        .collect(),
                },
                _ => Message::ToolResult {
                    call_id: "c0".into(),
                    content: text,
                    is_error: rng.chance(50),
                },
            });
        }
        let request = ChatRequest {
            system: "system",
            messages: &messages,
            tools: &[],
        };
        let bodies = [
            openai::request_body("m", 10, &request),
            anthropic::request_body("m", 10, &request),
        ];
        for body in bodies {
            assert!(body.is_object(), "seed {seed}");
            assert!(body["messages"].is_array(), "seed {seed}");
        }
    }
}
