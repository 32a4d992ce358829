//! Keeping the conversation inside the model's context window: estimating its size and
//! summarising older turns.

use super::*;

/// Rough token count: four characters a token.
pub(crate) fn estimate_tokens(system: &str, messages: &[Message]) -> u64 {
    let chars: usize = system.len()
        + messages
            .iter()
            .map(|m| match m {
                Message::User { text } => text.len(),
                Message::Assistant { text, tool_calls } => {
                    text.len()
                        + tool_calls
                            .iter()
                            .map(|c| c.arguments.len() + c.name.len())
                            .sum::<usize>()
                }
                Message::ToolResult { content, .. } => content.len(),
            })
            .sum::<usize>();
    (chars / 4) as u64
}

pub(crate) fn needs_compaction(system: &str, messages: &[Message], model: &ModelClient) -> bool {
    let budget = model
        .context_window
        .saturating_sub(model.max_output_tokens.min(model.context_window / 2));
    estimate_tokens(system, messages) as f64 > budget as f64 * COMPACT_AT && messages.len() > 2
}

/// Makes room in the conversation. Everything before the last user message is replaced by a
/// summary the model writes; if the current turn alone is still too large, the output of its
/// older tool calls is dropped (the model can run them again).
pub(crate) async fn compact(
    model: &ModelClient,
    system: &str,
    messages: &mut Vec<Message>,
    cancel: &CancellationToken,
) -> Result<(), ModelError> {
    let split = messages
        .iter()
        .rposition(|m| matches!(m, Message::User { .. }))
        .unwrap_or(0);
    if split > 0 {
        let summary = summarise(model, &messages[..split], cancel).await?;
        let mut kept = vec![
            Message::User {
                text: format!("[Summary of the earlier conversation]\n{summary}"),
            },
            Message::Assistant {
                text: "Understood; I will continue from this summary.".to_string(),
                tool_calls: vec![],
            },
        ];
        kept.extend(messages.drain(split..));
        *messages = kept;
    }
    if needs_compaction(system, messages, model) {
        let last = messages
            .iter()
            .rposition(|m| matches!(m, Message::ToolResult { .. }))
            .unwrap_or(0);
        for message in messages.iter_mut().take(last) {
            if let Message::ToolResult { content, .. } = message {
                *content = "[output removed to save context; run the tool again if you need it]"
                    .to_string();
            }
        }
    }
    Ok(())
}

pub(crate) async fn summarise(
    model: &ModelClient,
    old: &[Message],
    cancel: &CancellationToken,
) -> Result<String, ModelError> {
    let mut transcript = String::new();
    for m in old {
        match m {
            Message::User { text } => {
                transcript.push_str(&format!("USER: {}\n\n", tools::cap_middle(text, 4000)))
            }
            Message::Assistant { text, tool_calls } => {
                transcript.push_str(&format!("ASSISTANT: {}\n", tools::cap_middle(text, 4000)));
                for c in tool_calls {
                    transcript.push_str(&format!(
                        "  called {}({})\n",
                        c.name,
                        tools::cap_middle(&c.arguments, 500)
                    ));
                }
                transcript.push('\n');
            }
            Message::ToolResult {
                content, is_error, ..
            } => transcript.push_str(&format!(
                "TOOL {}: {}\n\n",
                if *is_error { "ERROR" } else { "RESULT" },
                tools::cap_middle(content, 1500)
            )),
        }
    }
    let request_messages = vec![Message::User {
        text: format!(
            "Summarise this conversation between a user and a coding agent so the agent can \
continue the work without it: the task, decisions made, files changed, commands run and their \
results, and what remains to do. Be concise and specific.\n\n{transcript}"
        ),
    }];
    let request = ChatRequest {
        system: "You write precise summaries of coding sessions.",
        messages: &request_messages,
        tools: &[],
    };
    Ok(model.chat(&request, cancel, &mut |_| {}).await?.text)
}
