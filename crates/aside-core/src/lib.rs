//! Domain types shared by every part of aside: where state lives, what the user configured.
//!
//! Owns: the config file format and its environment overrides, the state and config paths.
//! Also: the process-group, signal and lock helpers (every `unsafe` call is in `process`).
//! Must not: print, or do I/O beyond reading config files.

pub mod agents;
pub mod config;
pub mod paths;
pub mod process;
pub mod sandbox;
pub mod session;
pub mod text;
pub mod time;
pub mod trust;
pub mod usage;

pub use config::{AgentConfig, Config, ConfigError, ModelConfig, ProviderKind, SessionsConfig};
pub use session::{
    now, Approve, Event, Mode, SessionId, SessionKind, SessionRecord, Settings, Status,
};
