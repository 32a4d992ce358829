//! A session's conversation, built event by event: the one reducer every view renders.
//!
//! Events come in one at a time (a stored log replayed, or live ones as the host sends them) and
//! fold into a list of [`Block`]s: the prompts, the agent's messages and thoughts (streamed
//! chunks joined), each tool call in its latest state (merged with the ACP schema's own
//! `ToolCall::update`), plans, permission requests with their answers, and notes (errors,
//! warnings, interruptions, checkpoints, setup commands, damaged rows). A view renders the
//! blocks; none merges or joins on its own. [`Conversation::take_changed`] says from which block
//! on the list changed, so a view re-renders only that.

use crate::events::acp::{
    ContentBlock, Plan, SessionUpdate, StopReason, ToolCall, ToolCallUpdate, ToolCallUpdateFields,
};
use crate::events::{Body, Checkpoint, PermissionAllowed, PermissionAsked, Prompt, Setup};
use crate::Choice;
use aside_core::Event;
use std::collections::HashMap;

/// One piece of the conversation.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    /// A prompt that started a turn (the user's, or aside's continuation of an interrupted one).
    Prompt(Prompt),
    /// The agent's message, its streamed chunks joined.
    Message(String),
    /// The agent's thinking, its chunks joined.
    Thought(String),
    /// A tool call, as its latest update left it.
    Tool(Box<ToolCall>),
    /// The agent's plan.
    Plan(Plan),
    /// The agent asked the user; `answer` once the user answered.
    Asked {
        /// What it asks to do, and the options.
        asked: Box<PermissionAsked>,
        /// The user's answer.
        answer: Option<Choice>,
    },
    /// The session's policy allowed a request without asking.
    Allowed(Box<PermissionAllowed>),
    /// Something that happened around the conversation.
    Note(Note),
}

/// What a note says.
#[derive(Debug, Clone, PartialEq)]
pub enum Note {
    /// Something failed.
    Error(String),
    /// Something the user should know (a submodule not checked out, a file not copied).
    Warning(String),
    /// The host stopped mid-turn.
    Interrupted(String),
    /// The turn was cancelled.
    Cancelled,
    /// The worktree was committed.
    Checkpoint(Checkpoint),
    /// A `[setup]` command ran: its output and how it exited.
    Setup(Setup),
    /// A stored event could not be read and was skipped.
    Damaged {
        /// Its seq.
        seq: u64,
        /// Why.
        error: String,
    },
}

/// The conversation so far.
#[derive(Debug, Default, Clone)]
pub struct Conversation {
    blocks: Vec<Block>,
    /// Tool call id → its block.
    tools: HashMap<String, usize>,
    /// The newest stored event taken.
    last_seq: u64,
    /// Whether streamed text may still join the last block (a turn's end closes it).
    text_open: bool,
    /// The first block changed since [`Conversation::take_changed`] was last asked.
    changed_from: usize,
}

/// A stored row that could not be read (`aside_store::CORRUPT`).
const CORRUPT: &str = "corrupt";

impl Conversation {
    /// An empty conversation.
    pub fn new() -> Conversation {
        Conversation::default()
    }

    /// The conversation of these events, in order.
    pub fn of<'a>(events: impl IntoIterator<Item = &'a Event>) -> Conversation {
        let mut conversation = Conversation::new();
        for event in events {
            conversation.push(event);
        }
        conversation
    }

    /// The blocks, in order.
    pub fn blocks(&self) -> &[Block] {
        &self.blocks
    }

    /// The newest stored event taken.
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// Where the blocks changed since the last call (`blocks().len()` when nothing did).
    pub fn take_changed(&mut self) -> usize {
        let from = self.changed_from;
        self.changed_from = self.blocks.len();
        from
    }

    /// Starts after `seq` (the events before it are not taken): a long session opens at its end.
    pub fn start_after(&mut self, seq: u64) {
        self.last_seq = self.last_seq.max(seq);
    }

    fn touch(&mut self, block: usize) {
        self.changed_from = self.changed_from.min(block);
    }

    fn add(&mut self, block: Block) {
        self.text_open = matches!(block, Block::Message(_) | Block::Thought(_));
        self.blocks.push(block);
        self.touch(self.blocks.len() - 1);
    }

    /// Takes one event. A stored event already taken (its seq not past the newest) is skipped;
    /// a streamed piece (seq kept, `piece: Some`) joins the text of its message.
    pub fn push(&mut self, e: &Event) {
        if e.piece.is_none() {
            if e.seq != 0 && e.seq <= self.last_seq {
                return;
            }
            self.last_seq = self.last_seq.max(e.seq);
        }
        if e.kind == CORRUPT {
            self.add(Block::Note(Note::Damaged {
                seq: e.seq,
                error: e.data["error"].as_str().unwrap_or_default().to_string(),
            }));
            return;
        }
        self.take(Body::of(e));
    }

    /// Takes one typed event body.
    pub fn take(&mut self, body: Body) {
        match body {
            Body::Update(update) => match *update {
                SessionUpdate::AgentMessageChunk(chunk) => self.text(&chunk.content, false),
                SessionUpdate::AgentThoughtChunk(chunk) => self.text(&chunk.content, true),
                SessionUpdate::ToolCall(call) => self.tool(call),
                SessionUpdate::ToolCallUpdate(update) => self.tool_update(update),
                SessionUpdate::Plan(plan) => self.add(Block::Plan(plan)),
                _ => {}
            },
            Body::Prompt(prompt) => self.add(Block::Prompt(prompt)),
            Body::PermissionRequest(asked) => self.add(Block::Asked {
                asked,
                answer: None,
            }),
            Body::Permission(allowed) => self.add(Block::Allowed(allowed)),
            Body::PermissionAnswer(answer) => {
                let open = self
                    .blocks
                    .iter()
                    .rposition(|b| matches!(b, Block::Asked { answer: None, .. }));
                if let Some(n) = open {
                    if let Block::Asked { answer: slot, .. } = &mut self.blocks[n] {
                        *slot = Some(answer.choice);
                    }
                    self.touch(n);
                }
            }
            Body::Interrupted { reason, .. } => self.add(Block::Note(Note::Interrupted(reason))),
            Body::Error { message } => self.add(Block::Note(Note::Error(message))),
            Body::TurnEnd(end) => {
                self.text_open = false;
                if end.stop_reason == Some(StopReason::Cancelled) {
                    self.add(Block::Note(Note::Cancelled));
                    self.text_open = false;
                }
            }
            Body::Checkpoint(c) => self.add(Block::Note(Note::Checkpoint(c))),
            Body::Warning(w) => self.add(Block::Note(Note::Warning(w.message))),
            Body::Setup(setup) => self.add(Block::Note(Note::Setup(setup))),
            _ => {}
        }
    }

    fn text(&mut self, content: &ContentBlock, thought: bool) {
        let ContentBlock::Text(text) = content else {
            return;
        };
        let last = self.blocks.len().wrapping_sub(1);
        let joined = match self.blocks.last_mut() {
            Some(Block::Message(t)) if !thought && self.text_open => {
                t.push_str(&text.text);
                true
            }
            Some(Block::Thought(t)) if thought && self.text_open => {
                t.push_str(&text.text);
                true
            }
            _ => false,
        };
        if joined {
            self.touch(last);
        } else {
            self.add(if thought {
                Block::Thought(text.text.clone())
            } else {
                Block::Message(text.text.clone())
            });
        }
    }

    fn tool(&mut self, call: ToolCall) {
        let id = call.tool_call_id.0.to_string();
        match self.tools.get(&id).copied() {
            // Announced again: the newer announcement wins, field by field.
            Some(n) => {
                if let Block::Tool(known) = &mut self.blocks[n] {
                    announce_again(known, call);
                }
                self.touch(n);
            }
            None => {
                self.tools.insert(id, self.blocks.len());
                self.add(Block::Tool(Box::new(call)));
            }
        }
    }

    fn tool_update(&mut self, update: ToolCallUpdate) {
        let id = update.tool_call_id.0.to_string();
        match self.tools.get(&id).copied() {
            Some(n) => {
                if let Block::Tool(known) = &mut self.blocks[n] {
                    known.update(update.fields);
                }
                self.touch(n);
            }
            // An update of a call never announced: shown from what the update says.
            None => {
                self.tools.insert(id, self.blocks.len());
                self.add(Block::Tool(Box::new(from_update(update))));
            }
        }
    }

    /// The agent's newest message, if any.
    pub fn last_message(&self) -> Option<&str> {
        self.blocks.iter().rev().find_map(|b| match b {
            Block::Message(text) if !text.trim().is_empty() => Some(text.as_str()),
            _ => None,
        })
    }

    /// The newest plan, if any.
    pub fn plan(&self) -> Option<&Plan> {
        self.blocks.iter().rev().find_map(|b| match b {
            Block::Plan(plan) => Some(plan),
            _ => None,
        })
    }
}

/// A tool call announced again: the newer announcement wins, field by field; what it leaves
/// out (no content, no locations, no input) keeps its value.
fn announce_again(known: &mut ToolCall, call: ToolCall) {
    let content = (!call.content.is_empty()).then_some(call.content);
    let locations = (!call.locations.is_empty()).then_some(call.locations);
    known.update(
        ToolCallUpdateFields::new()
            .title(call.title)
            .name(call.name)
            .kind(call.kind)
            .status(call.status)
            .content(content)
            .locations(locations)
            .raw_input(call.raw_input)
            .raw_output(call.raw_output),
    );
}

/// A tool call known only from an update (its announcement never came).
fn from_update(update: ToolCallUpdate) -> ToolCall {
    let mut call = ToolCall::new(update.tool_call_id, "");
    call.update(update.fields);
    call
}

/// Tool calls by id, each in its latest state: for a reader that needs the whole of a call
/// (a permission request names only what changed) without the rest of the conversation.
#[derive(Debug, Default, Clone)]
pub struct ToolCalls {
    calls: HashMap<String, ToolCall>,
}

impl ToolCalls {
    /// Takes an agent's update: tool calls and their updates are kept, the rest ignored.
    pub fn take(&mut self, update: &SessionUpdate) {
        match update {
            SessionUpdate::ToolCall(call) => {
                match self.calls.get_mut(&call.tool_call_id.0.to_string()) {
                    Some(known) => announce_again(known, call.clone()),
                    None => {
                        self.calls
                            .insert(call.tool_call_id.0.to_string(), call.clone());
                    }
                }
            }
            SessionUpdate::ToolCallUpdate(update) => {
                match self.calls.get_mut(&update.tool_call_id.0.to_string()) {
                    Some(known) => known.update(update.fields.clone()),
                    None => {
                        self.calls.insert(
                            update.tool_call_id.0.to_string(),
                            from_update(update.clone()),
                        );
                    }
                }
            }
            _ => {}
        }
    }

    /// The call `id` as its updates left it.
    pub fn get(&self, id: &str) -> Option<&ToolCall> {
        self.calls.get(id)
    }

    /// Forgets the call `id` (done with it), returning it.
    pub fn remove(&mut self, id: &str) -> Option<ToolCall> {
        self.calls.remove(id)
    }

    /// `asked` filled in with what is known of its call: the fields it carries win.
    pub fn whole(&self, asked: &ToolCallUpdate) -> ToolCallUpdate {
        match self.calls.get(&asked.tool_call_id.0.to_string()) {
            Some(known) => {
                let mut call = known.clone();
                call.update(asked.fields.clone());
                as_update(&call)
            }
            None => asked.clone(),
        }
    }
}

/// A tool call's fields as an update carries them: every one set.
pub fn fields_of(call: ToolCall) -> ToolCallUpdateFields {
    ToolCallUpdateFields::new()
        .title(call.title)
        .name(call.name)
        .kind(call.kind)
        .status(call.status)
        .content(call.content)
        .locations(call.locations)
        .raw_input(call.raw_input)
        .raw_output(call.raw_output)
}

/// A tool call as an update carrying all of it (what `describe` reads).
pub fn as_update(call: &ToolCall) -> ToolCallUpdate {
    ToolCallUpdate::new(call.tool_call_id.clone(), fields_of(call.clone()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::events::acp::{ToolCallStatus, ToolKind};
    use serde_json::{json, Value};

    fn event(seq: u64, kind: &str, data: Value) -> Event {
        Event {
            seq,
            ts: String::new(),
            kind: kind.to_string(),
            data,
            piece: None,
        }
    }

    fn chunk(seq: u64, text: &str) -> Event {
        event(
            seq,
            "agent_message_chunk",
            json!({"sessionUpdate": "agent_message_chunk", "content": {"type": "text", "text": text}}),
        )
    }

    #[test]
    fn a_turn_folds_into_prompt_message_tool_and_answered_permission() {
        let events = vec![
            event(1, "prompt", json!({"text": "fix it"})),
            chunk(2, "Let me "),
            chunk(3, "look."),
            event(
                4,
                "tool_call",
                json!({"sessionUpdate": "tool_call", "toolCallId": "t1",
                "title": "Run tests", "kind": "execute", "status": "pending",
                "rawInput": {"command": "cargo test"}}),
            ),
            event(5, "status", json!({"status": "running"})),
            event(
                6,
                "tool_call_update",
                json!({"sessionUpdate": "tool_call_update",
                "toolCallId": "t1", "status": "completed",
                "content": [{"type": "content", "content": {"type": "text", "text": "ok"}}]}),
            ),
            event(
                7,
                "permission_request",
                json!({"toolCall": {"toolCallId": "t2", "title": "rm"},
                "options": [{"optionId": "y", "name": "Yes", "kind": "allow_once"}]}),
            ),
            event(
                8,
                "permission_answer",
                json!({"optionId": "y", "choice": "allow"}),
            ),
            chunk(9, "Done."),
            event(10, "turn_end", json!({"stopReason": "end_turn"})),
            chunk(11, "Next turn."),
        ];
        let mut conversation = Conversation::of(&events);
        let blocks = conversation.blocks();
        assert_eq!(blocks.len(), 6, "{blocks:#?}");
        assert!(matches!(&blocks[0], Block::Prompt(p) if p.text == "fix it"));
        assert_eq!(blocks[1], Block::Message("Let me look.".into()));
        let Block::Tool(call) = &blocks[2] else {
            panic!("{:?}", blocks[2])
        };
        // Merged: the announcement's title, kind and input, the update's status and output.
        assert_eq!(
            (call.title.as_str(), call.kind, call.status),
            ("Run tests", ToolKind::Execute, ToolCallStatus::Completed)
        );
        assert_eq!(call.raw_input, Some(json!({"command": "cargo test"})));
        assert_eq!(call.content.len(), 1);
        assert!(matches!(
            &blocks[3],
            Block::Asked {
                answer: Some(Choice::Allow),
                ..
            }
        ));
        assert_eq!(blocks[4], Block::Message("Done.".into()));
        // A new turn's text is a new message, not the last one continued.
        assert_eq!(blocks[5], Block::Message("Next turn.".into()));
        assert_eq!(conversation.last_message(), Some("Next turn."));
        assert_eq!(conversation.take_changed(), 0);
        // Taken again: nothing changes; a later update re-renders only its block.
        for e in &events {
            conversation.push(e);
        }
        assert_eq!(conversation.take_changed(), 6);
        conversation.push(&event(
            12,
            "tool_call_update",
            json!({"sessionUpdate": "tool_call_update", "toolCallId": "t1", "status": "failed"}),
        ));
        assert_eq!(conversation.take_changed(), 2);
    }

    #[test]
    fn a_permission_request_is_filled_in_from_its_tool_call() {
        let update = |v: Value| -> SessionUpdate { serde_json::from_value(v).unwrap() };
        let mut calls = ToolCalls::default();
        calls.take(&update(
            json!({"sessionUpdate": "tool_call", "toolCallId": "t1",
            "title": "bash", "kind": "execute", "rawInput": {"command": "rm -rf build"}}),
        ));
        calls.take(&update(
            json!({"sessionUpdate": "tool_call_update", "toolCallId": "t1",
            "status": "pending"}),
        ));
        let asked: ToolCallUpdate =
            serde_json::from_value(json!({"toolCallId": "t1", "title": "create file"})).unwrap();
        let whole = calls.whole(&asked);
        assert_eq!(whole.fields.title.as_deref(), Some("create file"));
        assert_eq!(whole.fields.kind, Some(ToolKind::Execute));
        assert_eq!(whole.fields.status, Some(ToolCallStatus::Pending));
        assert_eq!(
            whole.fields.raw_input,
            Some(json!({"command": "rm -rf build"}))
        );
        let unknown: ToolCallUpdate =
            serde_json::from_value(json!({"toolCallId": "t2", "title": "x"})).unwrap();
        assert_eq!(calls.whole(&unknown), unknown);
    }

    #[test]
    fn streamed_pieces_join_their_message_and_damaged_rows_are_noted() {
        let mut conversation = Conversation::new();
        let mut piece = chunk(1, "Hel");
        piece.piece = Some(0);
        conversation.push(&piece);
        let mut piece = chunk(1, "lo");
        piece.piece = Some(1);
        conversation.push(&piece);
        // The stored row after its pieces carries only what they did not cover (nothing).
        conversation.push(&chunk(1, ""));
        conversation.push(&event(2, "corrupt", json!({"error": "not JSON"})));
        conversation.push(&event(
            3,
            "warning",
            json!({"message": "submodule x skipped"}),
        ));
        conversation.push(&event(4, "turn_end", json!({"stopReason": "cancelled"})));
        assert_eq!(
            conversation.blocks(),
            [
                Block::Message("Hello".into()),
                Block::Note(Note::Damaged {
                    seq: 2,
                    error: "not JSON".into()
                }),
                Block::Note(Note::Warning("submodule x skipped".into())),
                Block::Note(Note::Cancelled),
            ]
        );
    }
}
