//! A randomised property test of [`crate::apply`]: random agent work against a random dirty
//! user tree. Either both sides' changes are all in the user's files (exactly their line-wise
//! union where the two sides kept apart) and the user's index and HEAD are as they were, or
//! it is refused with [`GitError::Conflicts`] and nothing at all changed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::testutil::{empty_repo, git, user_state, write};
use crate::{apply, checkpoint, create_worktree, resolve_commit, worktree_path, GitError};

/// xorshift64: reproducible from the printed seed, no dependency.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }
}

/// Replaces the base's lines `start..end` with `new`.
#[derive(Clone, Debug)]
struct Edit {
    start: usize,
    end: usize,
    new: Vec<String>,
}

/// One or two edits of a file of `n` lines, in order, with an unchanged line between them.
fn random_edits(rng: &mut Rng, n: usize, tag: &str) -> Vec<Edit> {
    let mut edits = vec![];
    let mut from = 0;
    let mut k = 0;
    for _ in 0..1 + rng.below(2) {
        if from > n {
            break;
        }
        let start = from + rng.below(n - from + 1);
        let end = (start + rng.below(3)).min(n);
        let mut added = rng.below(3);
        if added == 0 && end == start {
            added = 1;
        }
        let new = (0..added)
            .map(|_| {
                k += 1;
                format!("{tag} {k}")
            })
            .collect();
        edits.push(Edit { start, end, new });
        from = end + 1;
    }
    edits
}

/// `base` with `edits` (sorted, not overlapping) made.
fn edited(base: &[String], edits: &[Edit]) -> Vec<String> {
    let mut out = vec![];
    let mut at = 0;
    for e in edits {
        out.extend_from_slice(&base[at..e.start]);
        out.extend(e.new.iter().cloned());
        at = e.end;
    }
    out.extend_from_slice(&base[at..]);
    out
}

fn text(lines: &[String]) -> Vec<u8> {
    lines
        .iter()
        .map(|l| format!("{l}\n"))
        .collect::<String>()
        .into_bytes()
}

/// What one side does to one file.
#[derive(Clone, Debug)]
enum Action {
    Keep,
    Edit(Vec<Edit>),
    Delete,
}

/// What the merged result must hold at a path.
#[derive(Debug)]
enum Expect {
    /// Exactly this (None: no file).
    Clean(Option<Vec<u8>>),
    /// Both sides edited near each other: git may merge or refuse; if it merges, these lines
    /// must be there and these gone.
    Maybe {
        present: Vec<String>,
        gone: Vec<String>,
    },
    /// A true conflict: apply must refuse.
    Conflict,
}

/// The expectation for a text file both sides may have acted on.
fn expect_text(base: &[String], agent: &Action, user: &Action) -> Expect {
    use Action::*;
    match (agent, user) {
        (Keep, Keep) => Expect::Clean(Some(text(base))),
        (Edit(e), Keep) | (Keep, Edit(e)) => Expect::Clean(Some(text(&edited(base, e)))),
        (Delete, Keep) | (Keep, Delete) | (Delete, Delete) => Expect::Clean(None),
        (Edit(_), Delete) | (Delete, Edit(_)) => Expect::Conflict,
        (Edit(a), Edit(u)) => {
            let apart = a.iter().all(|x| {
                u.iter()
                    .all(|y| x.end + 2 <= y.start || y.end + 2 <= x.start)
            });
            if apart {
                let mut all: Vec<self::Edit> = a.iter().chain(u).cloned().collect();
                all.sort_by_key(|e| e.start);
                Expect::Clean(Some(text(&edited(base, &all))))
            } else {
                let edits = a.iter().chain(u);
                Expect::Maybe {
                    present: edits.clone().flat_map(|e| e.new.clone()).collect(),
                    gone: edits
                        .flat_map(|e| base[e.start..e.end].iter().cloned())
                        .collect(),
                }
            }
        }
    }
}

fn random_action(rng: &mut Rng, n: usize, tag: &str, keep_in_20: usize) -> Action {
    let r = rng.below(20);
    if r < keep_in_20 {
        Action::Keep
    } else if r < 19 {
        Action::Edit(random_edits(rng, n, tag))
    } else {
        Action::Delete
    }
}

/// Makes the content of `action` at `rel` in `dir`.
fn act(dir: &Path, rel: &str, base: &[String], action: &Action) {
    match action {
        Action::Keep => {}
        Action::Edit(edits) => write(dir, rel, text(&edited(base, edits))),
        Action::Delete => std::fs::remove_file(dir.join(rel)).unwrap(),
    }
}

fn one_case(seed: u64) {
    let mut rng = Rng::new(seed);
    let (_d, repo) = empty_repo();
    let mut expect: BTreeMap<String, Expect> = BTreeMap::new();
    // Agent paths whose content the agent changed, and what the agent left there.
    let mut agent_changed: BTreeMap<String, Option<Vec<u8>>> = BTreeMap::new();

    // The base: a few files of numbered lines, maybe a binary file.
    let bases: Vec<(String, Vec<String>)> = (0..3 + rng.below(3))
        .map(|i| {
            let lines = (1..=8 + rng.below(13))
                .map(|j| format!("f{i} line {j}"))
                .collect();
            (format!("f{i}.txt"), lines)
        })
        .collect();
    for (rel, lines) in &bases {
        write(&repo, rel, text(lines));
    }
    let binary = rng.one_in(2).then(|| vec![0u8, 1, 2, 255, seed as u8]);
    if let Some(bytes) = &binary {
        write(&repo, "data.bin", bytes);
    }
    git(&repo, &["add", "-A"]).unwrap();
    git(&repo, &["commit", "-q", "-m", "base"]).unwrap();
    let base = resolve_commit(&repo, "HEAD").unwrap();
    let wt = worktree_path(&repo, "s");
    create_worktree(&repo, &wt, "aside/s", &base).unwrap();

    // The agent's work.
    let mut agent_actions: Vec<Action> = bases
        .iter()
        .enumerate()
        .map(|(i, (_, lines))| random_action(&mut rng, lines.len(), &format!("agent f{i}"), 9))
        .collect();
    let agent_binary = binary.is_some() && rng.one_in(3);
    let agent_new: Vec<String> = (0..rng.below(3))
        .map(|k| format!("new/agent{k}.txt"))
        .collect();
    if agent_actions.iter().all(|a| matches!(a, Action::Keep))
        && !agent_binary
        && agent_new.is_empty()
    {
        agent_actions[0] = Action::Edit(random_edits(&mut rng, bases[0].1.len(), "agent f0"));
    }
    for ((rel, lines), action) in bases.iter().zip(&agent_actions) {
        act(&wt, rel, lines, action);
        if !matches!(action, Action::Keep) {
            let content = std::fs::read(wt.join(rel)).ok();
            agent_changed.insert(rel.clone(), content);
        }
    }
    if agent_binary {
        write(&wt, "data.bin", b"\0agent binary\xff");
        agent_changed.insert("data.bin".into(), Some(b"\0agent binary\xff".to_vec()));
    }
    for rel in &agent_new {
        let content = format!("agent new {rel}\n").into_bytes();
        write(&wt, rel, &content);
        agent_changed.insert(rel.clone(), Some(content));
    }
    if rng.one_in(2) {
        checkpoint(&wt, "turn").unwrap();
    }

    // The user's work: some committed since the base, the rest uncommitted (some staged,
    // some staged and then edited again), and untracked files.
    let user_actions: Vec<Action> = bases
        .iter()
        .enumerate()
        .map(|(i, (_, lines))| random_action(&mut rng, lines.len(), &format!("user f{i}"), 8))
        .collect();
    let committed: Vec<bool> = user_actions
        .iter()
        .map(|a| !matches!(a, Action::Keep) && rng.one_in(4))
        .collect();
    if committed.iter().any(|c| *c) {
        for (((rel, lines), action), _) in bases
            .iter()
            .zip(&user_actions)
            .zip(&committed)
            .filter(|(_, c)| **c)
        {
            act(&repo, rel, lines, action);
        }
        git(&repo, &["commit", "-q", "-a", "-m", "user"]).unwrap();
    }
    for (((rel, lines), action), _) in bases
        .iter()
        .zip(&user_actions)
        .zip(&committed)
        .filter(|(_, c)| !**c)
    {
        let staged_other = rng.one_in(3);
        if staged_other {
            // A staged version that differs from the file.
            write(&repo, rel, format!("staged {rel}\n"));
            git(&repo, &["add", rel]).unwrap();
            write(&repo, rel, text(lines));
        }
        act(&repo, rel, lines, action);
        let stage = match action {
            Action::Keep => false,
            Action::Edit(_) => !staged_other && rng.one_in(3),
            Action::Delete => rng.one_in(2),
        };
        if stage {
            git(&repo, &["add", "-A", "--", rel]).unwrap();
        }
    }
    let user_binary = binary.is_some() && rng.one_in(3);
    if user_binary {
        write(&repo, "data.bin", b"\0user binary\xff");
    }
    let mut user_new: Vec<String> = (0..rng.below(3))
        .map(|k| format!("new/user{k}.txt"))
        .collect();
    if !agent_new.is_empty() && rng.one_in(8) {
        user_new.push(agent_new[0].clone());
    }
    for rel in &user_new {
        write(&repo, rel, format!("user new {rel}\n"));
        if rng.one_in(2) {
            git(&repo, &["add", "--", rel]).unwrap();
        }
    }

    // What must come out.
    for (((rel, lines), agent), user) in bases.iter().zip(&agent_actions).zip(&user_actions) {
        expect.insert(rel.clone(), expect_text(lines, agent, user));
    }
    if let Some(bytes) = &binary {
        let e = match (agent_binary, user_binary) {
            (true, true) => Expect::Conflict,
            (true, false) => Expect::Clean(Some(b"\0agent binary\xff".to_vec())),
            (false, true) => Expect::Clean(Some(b"\0user binary\xff".to_vec())),
            (false, false) => Expect::Clean(Some(bytes.clone())),
        };
        expect.insert("data.bin".into(), e);
    }
    for rel in &agent_new {
        expect.insert(rel.clone(), Expect::Clean(agent_changed[rel].clone()));
    }
    for rel in &user_new {
        let e = if agent_new.contains(rel) {
            Expect::Conflict
        } else {
            Expect::Clean(Some(format!("user new {rel}\n").into_bytes()))
        };
        expect.insert(rel.clone(), e);
    }
    let unclear: BTreeSet<&String> = expect
        .iter()
        .filter(|(_, e)| !matches!(e, Expect::Clean(_)))
        .map(|(p, _)| p)
        .collect();
    let must_conflict = expect.values().any(|e| matches!(e, Expect::Conflict));

    let before = user_state(&repo);
    let already = agent_changed
        .iter()
        .all(|(rel, content)| before.files.get(rel) == content.as_ref());
    let result = apply(&repo, &wt, &base);
    let after = user_state(&repo);
    let ctx = format!("seed {seed}: agent {agent_actions:?} binary {agent_binary} new {agent_new:?}; user {user_actions:?} committed {committed:?} binary {user_binary} new {user_new:?}; result {result:?}");
    match result {
        Ok(files) => {
            assert!(!must_conflict && !already, "{ctx}");
            assert_eq!(after.git, before.git, "index or HEAD changed; {ctx}");
            for (rel, e) in &expect {
                let got = after.files.get(rel);
                match e {
                    Expect::Clean(want) => {
                        assert_eq!(got, want.as_ref(), "{rel}; {ctx}");
                    }
                    Expect::Maybe { present, gone } => {
                        let got = String::from_utf8(got.cloned().unwrap_or_default()).unwrap();
                        let lines: BTreeSet<&str> = got.lines().collect();
                        assert!(
                            present.iter().all(|l| lines.contains(l.as_str())),
                            "{rel}: {got}; {ctx}"
                        );
                        assert!(
                            gone.iter().all(|l| !lines.contains(l.as_str())),
                            "{rel}: {got}; {ctx}"
                        );
                    }
                    Expect::Conflict => unreachable!(),
                }
            }
            let expected_paths: BTreeSet<&String> = expect
                .iter()
                .filter(|(_, e)| !matches!(e, Expect::Clean(None)))
                .map(|(p, _)| p)
                .collect();
            assert_eq!(
                after.files.keys().collect::<BTreeSet<_>>(),
                expected_paths,
                "{ctx}"
            );
            let changed: Vec<String> = before
                .files
                .keys()
                .chain(after.files.keys())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .filter(|p| before.files.get(*p) != after.files.get(*p))
                .cloned()
                .collect();
            assert_eq!(files, changed, "{ctx}");
        }
        Err(GitError::Conflicts(files)) => {
            assert_eq!(after, before, "refused but touched; {ctx}");
            assert!(!unclear.is_empty() && !files.is_empty(), "{ctx}");
            assert!(files.iter().all(|f| unclear.contains(f)), "{ctx}");
        }
        Err(GitError::AlreadyApplied) => {
            assert!(already, "{ctx}");
            assert_eq!(after, before, "{ctx}");
        }
        Err(e) => panic!("{e}; {ctx}"),
    }
    if unclear.is_empty() && !already {
        assert!(after != before, "a clean case must apply; {ctx}");
    }
}

// 40 cases in four tests, so the test runner spreads them over the cores.
#[test]
fn apply_keeps_both_sides_or_touches_nothing_1() {
    (1..=10).for_each(one_case);
}

#[test]
fn apply_keeps_both_sides_or_touches_nothing_2() {
    (11..=20).for_each(one_case);
}

#[test]
fn apply_keeps_both_sides_or_touches_nothing_3() {
    (21..=30).for_each(one_case);
}

#[test]
fn apply_keeps_both_sides_or_touches_nothing_4() {
    (31..=40).for_each(one_case);
}
