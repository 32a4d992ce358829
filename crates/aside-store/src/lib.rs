//! aside's store: the index of sessions (one SQLite database) and one event log per session
//! (its own SQLite database, written only by that session's host).
//!
//! Owns: schemas, migrations, queries. WAL mode and a busy timeout everywhere.
//! Must not: know about ACP transport, processes or git.

mod events;
mod index;
mod layout;

pub use events::{EventLog, CORRUPT};
pub use index::{Change, Index, QueueState, Rebuilt};
pub use layout::Layout;

use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite said no.
    #[error("store error in {path}: {source}")]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// A directory could not be made.
    #[error("cannot create {path}: {source}")]
    Io {
        /// The directory.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// No session has this id or prefix.
    #[error("no session matches `{prefix}`; `aside ls --all` lists them")]
    NotFound {
        /// What the user typed.
        prefix: String,
    },
    /// Several sessions share the prefix.
    #[error("`{prefix}` is ambiguous: it matches {}; type more of the id", .matches.join(", "))]
    Ambiguous {
        /// What the user typed.
        prefix: String,
        /// The ids it matches.
        matches: Vec<String>,
    },
}

pub(crate) type Result<T> = std::result::Result<T, StoreError>;

pub(crate) fn open_db(path: &Path) -> Result<Connection> {
    let sql = |source| StoreError::Sqlite {
        path: path.to_owned(),
        source,
    };
    let conn = Connection::open(path).map_err(sql)?;
    conn.busy_timeout(Duration::from_secs(10)).map_err(sql)?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(sql)?;
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(sql)?;
    // Small databases, many processes: a 512 KiB page cache each instead of 2 MiB; reads come
    // through a shared memory map instead (one system call per page otherwise: a list of
    // 10,000 sessions was 18,000 of them).
    conn.pragma_update(None, "cache_size", -512).map_err(sql)?;
    conn.pragma_update(None, "mmap_size", 256i64 * 1024 * 1024)
        .map_err(sql)?;
    Ok(conn)
}

pub(crate) fn mkdir_private(path: &Path) -> Result<()> {
    aside_core::paths::create_private_dir(path).map_err(|source| StoreError::Io {
        path: path.to_owned(),
        source,
    })
}

/// Runs `open` again while SQLite answers "busy": creating a database and switching it to WAL
/// take locks its busy handler does not wait for, so processes opening one at the same moment
/// retry for a while instead of failing.
pub(crate) fn retry_busy<T>(mut open: impl FnMut() -> Result<T>) -> Result<T> {
    let mut tries = 0;
    loop {
        match open() {
            Err(StoreError::Sqlite { source, .. })
                if tries < 300
                    && source.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy) =>
            {
                tries += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
            other => return other,
        }
    }
}
