//! Randomised no-panic tests of the agent's other parsers of untrusted text: tool-call arguments
//! from the model (and the paths in them), the session store on disk, and AGENTS.md files.
//!
//! A small xorshift generator and fixed seeds; the seed is in every assertion message (rerun one
//! with `ASIDE_FUZZ_SEED=<seed>`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aside_agent::confine::Roots;
use aside_agent::store::Meta;
use aside_agent::tools::{self, Action};
use aside_agent::Store;
use aside_testkit::Rng;
use serde_json::{json, Value};
use std::path::Path;

fn seeds(count: u64) -> Vec<u64> {
    match std::env::var("ASIDE_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        Some(seed) => vec![seed],
        None => (0..count).collect(),
    }
}

const TOOLS: &[&str] = &[
    "read_file",
    "write_file",
    "edit_file",
    "list_files",
    "search",
    "run_command",
    "update_plan",
    "",
    "READ_FILE",
    "read_file\u{0}",
    "ünïcode",
];

const KEYS: &[&str] = &[
    "path",
    "offset",
    "limit",
    "content",
    "old_string",
    "new_string",
    "pattern",
    "command",
    "timeout_secs",
    "entries",
    "status",
    "priority",
    "",
];

const PATHS: &[&str] = &[
    "a.txt",
    "sub/b.txt",
    "sub",
    ".",
    "",
    "..",
    "../outside.txt",
    "sub/../../outside.txt",
    "/etc/passwd",
    "/",
    "link/x",
    "a.txt\u{0}",
    "ünï/cødé.txt",
    "a.txt/",
    "./././a.txt",
    "nested/deeper/new.txt",
];

const NUMBERS: &[&str] = &[
    "0",
    "1",
    "-1",
    "2.5",
    "18446744073709551615",
    "18446744073709551616",
    "9223372036854775807",
    "4294967295",
    "1e308",
    "1e999",
    "-0",
];

const STRINGS: &[&str] = &[
    "pending",
    "in_progress",
    "completed",
    "high",
    "low",
    "x",
    "hello",
    "(",
    "[z-a]",
    "a{1000000}",
    "(?i)ünï",
    "\\",
    "\u{0}",
    "😀",
    "true",
    "",
];

fn value(rng: &mut Rng, depth: usize) -> Value {
    match rng.below(if depth > 3 { 5 } else { 8 }) {
        0 => Value::Null,
        1 => Value::Bool(rng.chance(50)),
        2 => serde_json::from_str(rng.pick(NUMBERS)).unwrap_or(Value::Null),
        3 => Value::String(rng.pick(PATHS).to_string()),
        4 => Value::String(rng.pick(STRINGS).to_string()),
        5 => Value::Array((0..rng.below(4)).map(|_| value(rng, depth + 1)).collect()),
        _ => Value::Object(
            (0..rng.below(5))
                .map(|_| (rng.pick(KEYS).to_string(), value(rng, depth + 1)))
                .collect(),
        ),
    }
}

/// Arguments as a model might write them: plausible objects, damaged JSON, or noise.
fn arguments(rng: &mut Rng) -> String {
    let mut text = match rng.below(10) {
        0..=5 => {
            let mut object = serde_json::Map::new();
            for _ in 0..rng.below(5) {
                let key = rng.pick(KEYS).to_string();
                let v = match rng.below(4) {
                    0 => Value::String(rng.pick(PATHS).to_string()),
                    1 => serde_json::from_str(rng.pick(NUMBERS)).unwrap_or(Value::Null),
                    2 => json!([{"content": rng.pick(STRINGS), "status": rng.pick(STRINGS),
                                 "priority": rng.pick(STRINGS)}]),
                    _ => value(rng, 0),
                };
                object.insert(key, v);
            }
            Value::Object(object).to_string()
        }
        6 => value(rng, 0).to_string(),
        7 => String::from_utf8_lossy(&rng.bytes(200)).into_owned(),
        8 => format!(
            "{}null{}",
            "[".repeat(rng.below(3000)),
            "]".repeat(rng.below(3000))
        ),
        _ => String::new(),
    };
    if rng.chance(20) {
        let cut = rng.below(text.len() + 1);
        let cut = (0..=cut)
            .rev()
            .find(|i| text.is_char_boundary(*i))
            .unwrap_or(0);
        text.truncate(cut);
    }
    text
}

/// Tool calls with random names and arguments: `prepare` answers Ok or an error for the model,
/// never panics, and everything it would touch is inside the session's directory; the read-only
/// work is then done for real.
#[test]
fn tool_calls_with_random_arguments_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let cwd = root.join("repo");
    std::fs::create_dir_all(cwd.join("sub")).unwrap();
    std::fs::write(cwd.join("a.txt"), "one\ntwo\nthree\n").unwrap();
    std::fs::write(cwd.join("sub/b.txt"), "héllo\n").unwrap();
    std::fs::write(cwd.join("binary.bin"), b"\xFF\xFE\x00").unwrap();
    std::fs::write(root.join("outside.txt"), "secret").unwrap();
    std::os::unix::fs::symlink(&root, cwd.join("link")).unwrap();
    let roots = Roots::new(&cwd, &[]);
    for seed in seeds(3000) {
        let mut rng = Rng::new(seed);
        let name = rng.pick(TOOLS);
        let args = arguments(&mut rng);
        let read_only = rng.chance(30);
        let case = format!("seed {seed}: {name}({args:.200})");
        let prepared = match tools::prepare(&roots, name, &args, read_only) {
            Ok(p) => p,
            Err(message) => {
                assert!(!message.is_empty(), "{case}");
                continue;
            }
        };
        for location in &prepared.locations {
            assert!(
                location.starts_with(&cwd),
                "{case}: {} is outside the session",
                location.display()
            );
        }
        match &prepared.action {
            Action::Write { .. } | Action::Run { .. } => {
                assert!(!read_only, "{case}: a change in plan mode");
            }
            action => {
                let _ = tools::execute_file_action(&roots, action);
            }
        }
    }
    assert_eq!(
        std::fs::read_to_string(root.join("outside.txt")).unwrap(),
        "secret"
    );
}

#[test]
fn a_huge_read_offset_does_not_overflow() {
    // `offset - 1 + limit` overflowed (a panic in debug builds) for an offset near usize::MAX.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.txt"), "one\ntwo\n").unwrap();
    let roots = Roots::new(dir.path(), &[]);
    for offset in ["18446744073709551615", "18446744073709551614", "3", "0"] {
        let prepared = tools::prepare(
            &roots,
            "read_file",
            &format!(r#"{{"path": "a.txt", "offset": {offset}, "limit": 5}}"#),
            true,
        )
        .unwrap();
        let out = tools::execute_file_action(&roots, &prepared.action)
            .unwrap()
            .text;
        if offset == "0" {
            assert!(out.starts_with("     1\tone"), "{out}");
        } else {
            assert_eq!(out, "[a.txt has 2 lines]\n", "offset {offset}");
        }
    }
}

/// Random paths: resolved inside the roots or refused with a reason; never a panic.
#[test]
fn random_paths_resolve_inside_or_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let cwd = root.join("repo");
    std::fs::create_dir_all(cwd.join("sub")).unwrap();
    std::os::unix::fs::symlink(&root, cwd.join("link")).unwrap();
    let roots = Roots::new(&cwd, &[]);
    for seed in seeds(3000) {
        let mut rng = Rng::new(seed);
        let mut path = String::new();
        for _ in 0..rng.below(6) {
            if !path.is_empty() || rng.chance(20) {
                path.push('/');
            }
            match rng.below(4) {
                0 => path.push_str(rng.pick(&["..", ".", "sub", "link", "", "a.txt"])),
                1 => path.push_str(rng.pick(PATHS)),
                2 => path.push_str(&String::from_utf8_lossy(&rng.bytes(20)).replace('\0', "")),
                _ => path.push_str(&"x".repeat(rng.below(300))),
            }
        }
        match roots.resolve(&path) {
            Ok(resolved) => assert!(
                resolved.starts_with(&cwd),
                "seed {seed}: {path:?} resolved to {}",
                resolved.display()
            ),
            Err(message) => assert!(!message.is_empty(), "seed {seed}"),
        }
        let _ = roots.display(Path::new(&path));
        let _ = tools::cap_middle(&path, rng.below(50));
    }
}

fn meta(id: &str, cwd: &Path) -> Meta {
    Meta {
        model: None,
        id: id.to_string(),
        cwd: cwd.to_path_buf(),
        additional_directories: vec![],
        title: Some("t".into()),
        mode: "code".into(),
        created_at: "2024-01-01T00:00:00Z".into(),
        updated_at: "2024-01-01T00:00:00Z".into(),
    }
}

/// Damages `bytes`: truncated, bytes flipped, garbage spliced in, or replaced outright.
fn damage(rng: &mut Rng, bytes: &[u8]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    match rng.below(5) {
        0 => out.truncate(rng.below(out.len() + 1)),
        1 => {
            for _ in 0..1 + rng.below(5) {
                if !out.is_empty() {
                    let i = rng.below(out.len());
                    out[i] = rng.next() as u8;
                }
            }
        }
        2 => {
            let at = rng.below(out.len() + 1);
            let junk = rng.bytes(50);
            out.splice(at..at, junk);
        }
        3 => {
            out = value(rng, 0).to_string().into_bytes();
        }
        _ => out = rng.bytes(500),
    }
    out
}

/// A store whose files were damaged (a crash, a disk error, a hand edit): loading, listing and
/// replaying answer Ok or an error, never panic; a torn last line of the update log loses only
/// that line.
#[test]
fn damaged_session_files_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("sessions")).unwrap();
    let cwd = dir.path().to_path_buf();
    let messages = vec![
        aside_agent::model::Message::User {
            text: "héllo 😀".into(),
        },
        aside_agent::model::Message::Assistant {
            text: "ok".into(),
            tool_calls: vec![aside_agent::model::ToolUse {
                id: "c1".into(),
                name: "read_file".into(),
                arguments: "{\"path\":\"a\"}".into(),
            }],
        },
        aside_agent::model::Message::ToolResult {
            call_id: "c1".into(),
            content: "x".into(),
            is_error: false,
        },
    ];
    let updates = vec![
        json!({"sessionUpdate": "user_message_chunk", "content": {"type": "text", "text": "héllo"}}),
        json!({"sessionUpdate": "agent_message_chunk", "content": {"type": "text", "text": "日本語"}}),
    ];
    for seed in seeds(500) {
        let mut rng = Rng::new(seed);
        let id = format!("s{seed}");
        store.create(&meta(&id, &cwd)).unwrap();
        store.save_messages(&id, &messages).unwrap();
        store.append_updates(&id, &updates).unwrap();
        let session = store.root().join(&id);
        let file = rng.pick(&["meta.json", "messages.json", "updates.jsonl"]);
        let original = std::fs::read(session.join(file)).unwrap();
        std::fs::write(session.join(file), damage(&mut rng, &original)).unwrap();
        let _ = store.load(&id);
        let _ = store.updates(&id);
        let _ = store.list();
    }
    // Ids come from clients.
    for seed in seeds(500) {
        let mut rng = Rng::new(seed);
        let id = String::from_utf8_lossy(&rng.bytes(80)).into_owned();
        let id = if rng.chance(30) {
            rng.pick(&["..", ".", "../..", "/", "a/../..", "", "s1/../s2"])
                .to_string()
        } else {
            id
        };
        let loaded = store.load(&id);
        let updates = store.updates(&id);
        if id.contains(['/', '.']) || id.is_empty() {
            // Never a path: nothing outside the store is read.
            assert!(matches!(loaded, Ok(None)), "seed {seed}: {id:?}");
            assert!(updates.is_ok_and(|u| u.is_empty()), "seed {seed}: {id:?}");
        }
    }
}

#[test]
fn an_update_log_torn_inside_a_character_keeps_the_lines_before() {
    // A crash mid-append can cut a multi-byte character: the log used to become unreadable as a
    // whole (not UTF-8), so session/load failed.
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.create(&meta("s", dir.path())).unwrap();
    store
        .append_updates("s", &[json!({"text": "first"}), json!({"text": "日本語"})])
        .unwrap();
    let log = dir.path().join("s/updates.jsonl");
    let bytes = std::fs::read(&log).unwrap();
    let torn = bytes.len() - "本語\"}\n".len() + 1;
    std::fs::write(&log, &bytes[..torn]).unwrap();
    assert_eq!(store.updates("s").unwrap(), vec![json!({"text": "first"})]);
}

/// AGENTS.md files of any content (not UTF-8, NULs, huge lines) end up in the system prompt
/// without a panic.
#[test]
fn any_agents_md_is_read_without_panic() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(repo.join(".git")).unwrap();
    std::fs::create_dir_all(repo.join("pkg")).unwrap();
    for seed in seeds(200) {
        let mut rng = Rng::new(seed);
        let bytes = match rng.below(4) {
            0 => rng.bytes(2000),
            1 => "x".repeat(rng.below(100_000)).into_bytes(),
            2 => b"rules \xFF\xFE in Latin-1: caf\xE9\n".to_vec(),
            _ => damage(&mut rng, "Always say please. 😀\n".as_bytes()),
        };
        std::fs::write(repo.join("AGENTS.md"), &bytes).unwrap();
        if rng.chance(50) {
            std::fs::write(repo.join("pkg/AGENTS.md"), rng.bytes(100)).unwrap();
        }
        let prompt = aside_agent::prompt::system_prompt(&repo.join("pkg"), rng.chance(50));
        assert!(
            prompt.contains("Instructions from"),
            "seed {seed}: the AGENTS.md was dropped"
        );
    }
}
