//! Anthropic Messages: request bodies and the streamed reply.

use super::{excerpt, ChatReply, ChatRequest, Delta, FinishReason, Message, OnDelta, ToolUse};
use serde_json::{json, Value};

pub(super) fn request_body(model: &str, max_tokens: u64, request: &ChatRequest<'_>) -> Value {
    // Anthropic wants strictly alternating roles: tool results and a following user text share
    // one user message.
    let mut messages: Vec<Value> = Vec::new();
    let mut push = |role: &str, block: Value| match messages.last_mut() {
        Some(last) if last["role"] == role => {
            if let Some(blocks) = last["content"].as_array_mut() {
                blocks.push(block);
            }
        }
        _ => messages.push(json!({"role": role, "content": [block]})),
    };
    for message in request.messages {
        match message {
            Message::User { text } => push("user", json!({"type": "text", "text": text})),
            Message::Assistant { text, tool_calls } => {
                if !text.is_empty() {
                    push("assistant", json!({"type": "text", "text": text}));
                }
                for call in tool_calls {
                    // Invalid arguments were already answered with a tool error; the model
                    // only needs to see that it called the tool.
                    let input: Value = serde_json::from_str(&call.arguments)
                        .ok()
                        .filter(Value::is_object)
                        .unwrap_or_else(|| json!({}));
                    push(
                        "assistant",
                        json!({"type": "tool_use", "id": call.id, "name": call.name, "input": input}),
                    );
                }
                if text.is_empty() && tool_calls.is_empty() {
                    push("assistant", json!({"type": "text", "text": "(no reply)"}));
                }
            }
            Message::ToolResult {
                call_id,
                content,
                is_error,
            } => push(
                "user",
                json!({"type": "tool_result", "tool_use_id": call_id, "content": content,
                       "is_error": is_error}),
            ),
        }
    }
    let mut body = json!({
        "model": model,
        "system": request.system,
        "messages": messages,
        "max_tokens": max_tokens,
        "stream": true,
    });
    if !request.tools.is_empty() {
        body["tools"] = request
            .tools
            .iter()
            .map(|t| json!({"name": t.name, "description": t.description, "input_schema": t.parameters}))
            .collect();
    }
    body
}

enum Block {
    Text,
    Tool(ToolUse),
    Other,
}

#[derive(Default)]
pub(super) struct StreamState {
    text: String,
    blocks: Vec<(u64, Block)>,
    calls: Vec<ToolUse>,
    finish: Option<FinishReason>,
    stopped: bool,
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    cached_tokens: Option<u64>,
}

impl StreamState {
    /// Takes one SSE event; answers true at `message_stop`.
    pub(super) fn feed(
        &mut self,
        event: &str,
        data: &str,
        on_delta: &mut OnDelta<'_>,
    ) -> Result<bool, String> {
        if data.trim().is_empty() {
            return Ok(false);
        }
        let value: Value = serde_json::from_str(data)
            .map_err(|e| format!("invalid JSON event ({e}): {}", excerpt(data, 300)))?;
        let kind = value["type"].as_str().unwrap_or(event);
        match kind {
            "message_start" => {
                // The prompt's tokens are fresh input, cache writes and cache reads together.
                let usage = &value["message"]["usage"];
                let n = |k: &str| usage[k].as_u64().unwrap_or(0);
                self.input_tokens = usage["input_tokens"].as_u64().map(|fresh| {
                    fresh
                        .saturating_add(n("cache_creation_input_tokens"))
                        .saturating_add(n("cache_read_input_tokens"))
                });
                self.cached_tokens = usage["cache_read_input_tokens"].as_u64();
            }
            "content_block_start" => {
                let index = value["index"].as_u64().unwrap_or(0);
                let block = &value["content_block"];
                let block = match block["type"].as_str() {
                    Some("text") => {
                        if let Some(text) = block["text"].as_str().filter(|t| !t.is_empty()) {
                            self.text.push_str(text);
                            on_delta(Delta::Text(text));
                        }
                        Block::Text
                    }
                    Some("tool_use") => Block::Tool(ToolUse {
                        id: block["id"].as_str().unwrap_or_default().to_string(),
                        name: block["name"].as_str().unwrap_or_default().to_string(),
                        arguments: String::new(),
                    }),
                    _ => Block::Other,
                };
                self.blocks.push((index, block));
            }
            "content_block_delta" => {
                let index = value["index"].as_u64().unwrap_or(0);
                let delta = &value["delta"];
                let block = self.blocks.iter_mut().rev().find(|(i, _)| *i == index);
                match (delta["type"].as_str(), block) {
                    (Some("text_delta"), _) => {
                        if let Some(text) = delta["text"].as_str() {
                            self.text.push_str(text);
                            on_delta(Delta::Text(text));
                        }
                    }
                    (Some("thinking_delta"), _) => {
                        if let Some(thought) = delta["thinking"].as_str() {
                            on_delta(Delta::Thought(thought));
                        }
                    }
                    (Some("input_json_delta"), Some((_, Block::Tool(call)))) => {
                        call.arguments
                            .push_str(delta["partial_json"].as_str().unwrap_or_default());
                    }
                    _ => {}
                }
            }
            "content_block_stop" => {
                let index = value["index"].as_u64().unwrap_or(0);
                if let Some(pos) = self.blocks.iter().position(|(i, _)| *i == index) {
                    if let (_, Block::Tool(mut call)) = self.blocks.remove(pos) {
                        if call.arguments.trim().is_empty() {
                            call.arguments = "{}".to_string();
                        }
                        self.calls.push(call);
                    }
                }
            }
            "message_delta" => {
                if let Some(reason) = value["delta"]["stop_reason"].as_str() {
                    self.finish = Some(match reason {
                        "max_tokens" => FinishReason::Length,
                        "refusal" => FinishReason::Refusal,
                        _ => FinishReason::Stop,
                    });
                }
                if let Some(n) = value["usage"]["output_tokens"].as_u64() {
                    self.output_tokens = Some(n);
                }
            }
            "message_stop" => {
                self.stopped = true;
                return Ok(true);
            }
            "error" => {
                return Err(format!(
                    "error in stream: {}",
                    excerpt(&value["error"].to_string(), 1000)
                ))
            }
            _ => {}
        }
        Ok(false)
    }

    pub(super) fn finish(self) -> Result<ChatReply, String> {
        if !self.stopped {
            return Err("the stream ended before the model finished its reply".to_string());
        }
        Ok(ChatReply {
            text: self.text,
            tool_calls: self.calls,
            finish: self.finish.unwrap_or(FinishReason::Stop),
            input_tokens: self.input_tokens,
            output_tokens: self.output_tokens,
            cached_tokens: self.cached_tokens,
            reasoning_tokens: None,
        })
    }
}
