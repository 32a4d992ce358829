//! What the benchmarks of the `aside` binary share: the environment they run it in.

use std::path::Path;
use std::process::Command;

use crate::FakeModel;

/// `aside` (the binary at `exe`) as a benchmark runs it: HOME and config under `root/home`,
/// state under `root/aside-home`, the built-in agent on `model` where there is one.
pub fn aside_command(exe: &str, root: &Path, model: Option<&FakeModel>) -> Command {
    let home = root.join("home");
    let mut cmd = Command::new(exe);
    cmd.env("HOME", &home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("ASIDE_HOME", root.join("aside-home"));
    if let Some(model) = model {
        cmd.env("ASIDE_PROVIDER", "openai")
            .env("ASIDE_BASE_URL", model.openai_base())
            .env("ASIDE_MODEL", "fake");
    }
    cmd
}

/// Runs `cmd` (an `aside` with `args`); its standard output, trimmed. Panics with aside's own
/// words when it fails.
pub fn stdout_of(mut cmd: Command, args: &[&str]) -> String {
    let out = cmd.args(args).output().unwrap();
    assert!(
        out.status.success(),
        "aside {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}
