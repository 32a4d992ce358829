//! What was read from each session file, kept between runs in one JSON file keyed by path: a
//! file whose size and modification time are unchanged is not read again, and one that only
//! grew (these files are append-only) keeps its summary — its id, directory and first message
//! do not change.

use super::Summary;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    size: u64,
    /// Nanoseconds since the epoch.
    modified: u128,
    /// None: read, and not a session (yet).
    summary: Option<Summary>,
}

/// The cache, as loaded; entries of files gone are dropped on save.
pub(super) struct Cache {
    entries: HashMap<PathBuf, Entry>,
    seen: std::collections::HashSet<PathBuf>,
    changed: bool,
}

/// The file format's version: a cache written by another one is started afresh.
const VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct OnDisk {
    version: u32,
    entries: HashMap<PathBuf, Entry>,
}

impl Cache {
    /// The cache in `file`; an empty one when it is missing, unreadable or of another version.
    pub(super) fn load(file: &Path) -> Cache {
        let entries = std::fs::read(file)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<OnDisk>(&bytes).ok())
            .filter(|d| d.version == VERSION)
            .map(|d| d.entries)
            .unwrap_or_default();
        Cache {
            entries,
            seen: Default::default(),
            changed: false,
        }
    }

    /// The summary of `path` (size `size`, modified at `modified`): cached, or `read`.
    pub(super) fn summary(
        &mut self,
        path: &Path,
        size: u64,
        modified: SystemTime,
        read: impl FnOnce() -> Option<Summary>,
    ) -> Option<Summary> {
        let nanos = modified
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        self.seen.insert(path.to_path_buf());
        if let Some(entry) = self.entries.get_mut(path) {
            if entry.size == size && entry.modified == nanos {
                return entry.summary.clone();
            }
            if size > entry.size && entry.summary.is_some() {
                // Appended to: the head, and so the summary, is the same.
                entry.size = size;
                entry.modified = nanos;
                self.changed = true;
                return entry.summary.clone();
            }
        }
        let summary = read();
        self.entries.insert(
            path.to_path_buf(),
            Entry {
                size,
                modified: nanos,
                summary: summary.clone(),
            },
        );
        self.changed = true;
        summary
    }

    /// Writes the cache back (atomically) if anything changed, without the files not seen.
    pub(super) fn save(mut self, file: &Path) {
        let before = self.entries.len();
        let seen = std::mem::take(&mut self.seen);
        self.entries.retain(|path, _| seen.contains(path));
        if !self.changed && self.entries.len() == before {
            return;
        }
        let disk = OnDisk {
            version: VERSION,
            entries: self.entries,
        };
        let Ok(bytes) = serde_json::to_vec(&disk) else {
            return;
        };
        let tmp = file.with_extension(format!("tmp.{}", std::process::id()));
        // A cache that cannot be written only costs a re-read next time.
        if std::fs::write(&tmp, bytes).is_ok() && std::fs::rename(&tmp, file).is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(title: &str) -> Summary {
        Summary {
            id: "s1".into(),
            cwd: "/w".into(),
            title: title.into(),
            branch: None,
            created_at: None,
            client: None,
        }
    }

    #[test]
    fn a_file_is_read_again_only_when_it_changed_other_than_by_growing() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cache.json");
        let t0 = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(100);
        let t1 = t0 + std::time::Duration::from_secs(1);
        let path = Path::new("/s/a.jsonl");
        let mut reads = 0;
        let mut cache = Cache::load(&file);
        assert_eq!(
            cache.summary(path, 10, t0, || {
                reads += 1;
                Some(summary("first"))
            }),
            Some(summary("first"))
        );
        cache.save(&file);
        let mut cache = Cache::load(&file);
        // Unchanged, then grown: cached.
        let mut read = || {
            reads += 1;
            Some(summary("second"))
        };
        assert_eq!(
            cache.summary(path, 10, t0, &mut read),
            Some(summary("first"))
        );
        assert_eq!(
            cache.summary(path, 20, t1, &mut read),
            Some(summary("first"))
        );
        // Rewritten shorter: read again.
        assert_eq!(
            cache.summary(path, 5, t1, &mut read),
            Some(summary("second"))
        );
        assert_eq!(reads, 2);
        cache.save(&file);
        // A file gone is forgotten.
        let cache = Cache::load(&file);
        cache.save(&file);
        assert!(Cache::load(&file).entries.is_empty());
    }
}
