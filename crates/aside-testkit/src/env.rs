//! What a process a test starts takes from the environment the tests run in: where programs
//! are, the language, the temporary directory, the user; nothing else (no HOME, no keys, no
//! ASIDE_* settings of the caller's). Each test adds its own on top.

/// The caller's variables a test's process keeps.
pub fn inherited() -> Vec<(String, String)> {
    ["PATH", "LANG", "LC_ALL", "TMPDIR", "USER", "LOGNAME"]
        .iter()
        .filter_map(|name| Some((name.to_string(), std::env::var(name).ok()?)))
        .collect()
}
