//! OpenAI-compatible Chat Completions: request bodies and the streamed reply.

use super::{excerpt, ChatReply, ChatRequest, Delta, FinishReason, Message, OnDelta, ToolUse};
use serde_json::{json, Value};

pub(super) fn request_body(model: &str, max_tokens: u64, request: &ChatRequest<'_>) -> Value {
    let mut messages = vec![json!({"role": "system", "content": request.system})];
    for message in request.messages {
        messages.push(match message {
            Message::User { text } => json!({"role": "user", "content": text}),
            Message::Assistant { text, tool_calls } => {
                let mut m = json!({"role": "assistant", "content": text});
                if !tool_calls.is_empty() {
                    m["tool_calls"] = tool_calls
                        .iter()
                        .map(|c| {
                            json!({"id": c.id, "type": "function",
                                   "function": {"name": c.name, "arguments": c.arguments}})
                        })
                        .collect();
                }
                m
            }
            Message::ToolResult {
                call_id, content, ..
            } => json!({"role": "tool", "tool_call_id": call_id, "content": content}),
        });
    }
    let mut body = json!({
        "model": model,
        "messages": messages,
        "stream": true,
        "stream_options": {"include_usage": true},
        "max_tokens": max_tokens,
    });
    if !request.tools.is_empty() {
        body["tools"] = request
            .tools
            .iter()
            .map(|t| {
                json!({"type": "function", "function": {
                    "name": t.name, "description": t.description, "parameters": t.parameters}})
            })
            .collect();
    }
    body
}

/// Most tool calls one reply may make.
const MAX_TOOL_CALLS: usize = 1024;

#[derive(Default)]
pub(super) struct StreamState {
    text: String,
    calls: Vec<ToolUse>,
    finish: Option<FinishReason>,
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    cached_tokens: Option<u64>,
    reasoning_tokens: Option<u64>,
}

impl StreamState {
    /// Takes one SSE `data:` payload; answers true at `[DONE]`.
    pub(super) fn feed(&mut self, data: &str, on_delta: &mut OnDelta<'_>) -> Result<bool, String> {
        let data = data.trim();
        if data == "[DONE]" {
            return Ok(true);
        }
        if data.is_empty() {
            return Ok(false);
        }
        let chunk: Value = serde_json::from_str(data)
            .map_err(|e| format!("invalid JSON chunk ({e}): {}", excerpt(data, 300)))?;
        if let Some(error) = chunk.get("error") {
            return Err(format!(
                "error in stream: {}",
                excerpt(&error.to_string(), 1000)
            ));
        }
        if let Some(usage) = chunk.get("usage").filter(|u| !u.is_null()) {
            self.input_tokens = usage["prompt_tokens"].as_u64();
            self.output_tokens = usage["completion_tokens"].as_u64();
            self.cached_tokens = usage["prompt_tokens_details"]["cached_tokens"].as_u64();
            self.reasoning_tokens = usage["completion_tokens_details"]["reasoning_tokens"].as_u64();
        }
        let Some(choice) = chunk["choices"].get(0) else {
            return Ok(false);
        };
        let delta = &choice["delta"];
        // vLLM and llama.cpp call it reasoning_content, Ollama and OpenRouter reasoning.
        for key in ["reasoning_content", "reasoning"] {
            if let Some(thought) = delta[key].as_str().filter(|t| !t.is_empty()) {
                on_delta(Delta::Thought(thought));
            }
        }
        if let Some(text) = delta["content"].as_str() {
            if !text.is_empty() {
                self.text.push_str(text);
                on_delta(Delta::Text(text));
            }
        }
        if let Some(calls) = delta["tool_calls"].as_array() {
            for call in calls {
                let index = call["index"].as_u64().unwrap_or(self.calls.len() as u64);
                // Slots up to the index are made: a huge one must not exhaust memory.
                let index = usize::try_from(index)
                    .ok()
                    .filter(|i| *i < MAX_TOOL_CALLS)
                    .ok_or_else(|| {
                        format!(
                            "tool call index {index} is out of range (at most {MAX_TOOL_CALLS} calls)"
                        )
                    })?;
                while self.calls.len() <= index {
                    self.calls.push(ToolUse {
                        id: String::new(),
                        name: String::new(),
                        arguments: String::new(),
                    });
                }
                let slot = &mut self.calls[index];
                if let Some(id) = call["id"].as_str() {
                    slot.id.push_str(id);
                }
                if let Some(name) = call["function"]["name"].as_str() {
                    slot.name.push_str(name);
                }
                if let Some(args) = call["function"]["arguments"].as_str() {
                    slot.arguments.push_str(args);
                }
            }
        }
        if let Some(reason) = choice["finish_reason"].as_str() {
            self.finish = Some(match reason {
                "length" => FinishReason::Length,
                "content_filter" => FinishReason::Refusal,
                _ => FinishReason::Stop,
            });
        }
        Ok(false)
    }

    pub(super) fn finish(self) -> Result<ChatReply, String> {
        let Some(finish) = self.finish else {
            return Err("the stream ended before the model finished its reply".to_string());
        };
        let tool_calls = self
            .calls
            .into_iter()
            .enumerate()
            .filter(|(_, c)| !c.name.is_empty())
            .map(|(i, mut c)| {
                if c.id.is_empty() {
                    c.id = format!("call_{i}");
                }
                c
            })
            .collect();
        Ok(ChatReply {
            text: self.text,
            tool_calls,
            finish,
            input_tokens: self.input_tokens,
            output_tokens: self.output_tokens,
            cached_tokens: self.cached_tokens,
            reasoning_tokens: self.reasoning_tokens,
        })
    }
}
