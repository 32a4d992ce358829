//! The built-in coding agent, `aside agent`: an ACP agent on stdio for any OpenAI-compatible or
//! Anthropic model endpoint.
//!
//! Owns: the model providers, the tools and their confinement to the session's directories, the
//! agent's own session transcripts (so a new process can load or resume them).
//! Must not: know about hosts, worktrees or aside's session index.
//!
//! Layout: `server` (ACP handlers) → `turn` (one prompt) → `session` (shared state, updates);
//! `mcp` holds a session's MCP servers and their tools, `tools` the built-in ones.

pub mod command;
pub mod confine;
pub mod mcp;
pub mod model;
pub mod prompt;
pub mod server;
pub mod session;
pub mod store;
pub mod tools;
mod turn;

pub use server::serve;
pub use store::Store;
