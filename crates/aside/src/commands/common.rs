//! What several commands share: the session operations of `aside-host`.

pub use aside_sessions::Sessions as Ctx;

/// Opens `$ASIDE_HOME`'s sessions.
pub fn open() -> anyhow::Result<Ctx> {
    Ok(Ctx::open()?)
}
