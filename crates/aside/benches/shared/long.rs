//! A long session's events, as the benchmarks build it: turns of 100 events (a prompt, 60
//! streamed chunks, 12 tool calls with their results, a plan, usage, the turn's end).

use aside_store::EventLog;
use serde_json::json;

/// Appends `total` events (a multiple of 100) to `log`.
pub fn fill(log: &EventLog, total: u64) {
    let mut n = 0;
    while n < total {
        let turn = n / 100;
        log.append(
            "prompt",
            &json!({"text": format!("Step {turn}: do the next thing"), "resumed": false}),
        )
        .unwrap();
        for c in 0..60 {
            log.append("agent_message_chunk", &json!({"sessionUpdate": "agent_message_chunk", "content": {"type": "text", "text": format!("Some **markdown** text {c} with `code`. ")}})).unwrap();
        }
        for t in 0..12 {
            let id = format!("call_{turn}_{t}");
            log.append("tool_call", &json!({"sessionUpdate": "tool_call", "toolCallId": id, "title": format!("Read src/file{t}.rs"), "kind": "read", "status": "pending", "rawInput": {"path": format!("src/file{t}.rs")}})).unwrap();
            log.append("tool_call_update", &json!({"sessionUpdate": "tool_call_update", "toolCallId": id, "status": "completed", "content": [{"type": "content", "content": {"type": "text", "text": "fn main() {}\n".repeat(20)}}]})).unwrap();
        }
        log.append("plan", &json!({"sessionUpdate": "plan", "entries": [{"content": "a", "status": "completed", "priority": "high"}, {"content": "b", "status": "pending", "priority": "low"}]})).unwrap();
        for _ in 0..13 {
            log.append(
                "usage_update",
                &json!({"sessionUpdate": "usage_update", "used": 1000, "size": 128000}),
            )
            .unwrap();
        }
        log.append("turn_end", &json!({"stopReason": "end_turn"}))
            .unwrap();
        n += 100;
    }
}
