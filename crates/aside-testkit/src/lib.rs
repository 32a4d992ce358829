//! Test kit: a fake model server that speaks the real OpenAI and Anthropic streaming wire
//! protocols from a per-test script, and an ACP client that drives a real agent process.
//!
//! Never shipped in the binary.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod acp;
pub mod bench;
pub mod browser;
pub mod env;
pub mod fake_model;
pub mod procs;
pub mod repo;
pub mod rng;
pub mod sshd;
pub mod vscode;

pub use acp::AcpClient;
pub use fake_model::{Chunk, FakeModel, Reply};
pub use rng::Rng;
