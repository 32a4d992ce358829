//! The end-to-end tests of `aside`: the real binary in a temporary HOME, state and repository,
//! against the fake model (and, where `.ci/run` installed them, real agents, Chromium and
//! tmux). One test binary: `common` is compiled once and everything is linked once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

mod agent;
mod agent_host;
mod completions;
mod config;
mod doctor;
mod external;
mod machines;
mod open;
mod pool;
mod sandbox;
mod scripts;
mod security;
mod sessions;
mod setup;
mod submodules;
mod tui;
mod usage;
mod vscode;
mod web;
mod web_list;

/// No test file is forgotten: every `.rs` file beside this one is one of its modules.
#[test]
fn every_test_file_is_a_module() {
    let here = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it");
    let main = std::fs::read_to_string(here.join("main.rs")).unwrap();
    for entry in std::fs::read_dir(&here).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(module) = name.strip_suffix(".rs").filter(|m| *m != "main") {
            assert!(
                main.contains(&format!("\nmod {module};\n")),
                "tests/it/{name} is not a module of tests/it/main.rs, so none of its tests run"
            );
        }
    }
}
