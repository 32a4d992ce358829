//! Domain types shared by every part of aside: where state lives, what the user configured.
//!
//! Owns: the config file format and its environment overrides, the state and config paths.
//! Must not: print, spawn processes, or do I/O beyond reading config files.

pub mod agents;
pub mod config;
pub mod paths;
pub mod session;

pub use config::{AgentConfig, Config, ConfigError, ModelConfig, ProviderKind, SessionsConfig};
pub use session::{now, Approve, Event, Mode, SessionId, SessionRecord, Status};
