//! `aside completions`: the scripts, loaded by real bash and zsh, complete commands, session ids
//! (with titles) and agent names.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::Env;
use aside_testkit::Reply;
use std::process::Command;

/// Runs `script` in `shell` with the test's environment; its stdout.
fn in_shell(env: &Env, shell: &str, script: &str) -> Option<String> {
    let out = Command::new(shell)
        .args(["-c", script])
        .current_dir(&env.repo)
        .envs(env.vars())
        .output()
        .ok()?;
    assert!(
        out.status.success(),
        "{shell} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn bash_and_zsh_complete_commands_session_ids_and_agents() {
    let env = Env::new();
    env.model.push_for("complete-me", [Reply::text("ok")]);
    let id = env.new_session("complete-me: a task", &[]);
    env.wait_status(&id, "completed");
    let aside = env!("CARGO_BIN_EXE_aside");
    // bash: the completion function, called as bash calls it.
    let bash = |words: &str, cword: usize, cur: &str, prev: &str| {
        in_shell(
            &env,
            "bash",
            &format!(
                "source <('{aside}' completions bash) && COMP_WORDS=({words}) && COMP_CWORD={cword} && COMP_TYPE=9 && _clap_complete_aside aside '{cur}' '{prev}' && printf '%s\\n' \"${{COMPREPLY[@]}}\""
            ),
        )
        .unwrap()
    };
    let ids = bash(&format!("aside show '{}'", &id[..2]), 2, &id[..2], "show");
    assert!(ids.lines().any(|l| l == id), "{ids}");
    let commands = bash("aside doc", 1, "doc", "aside");
    assert_eq!(commands.trim(), "doctor");
    let agents = bash("aside new --agent cl", 3, "cl", "--agent");
    assert_eq!(agents.trim(), "claude");
    // zsh: the script loads and registers itself; the call it makes lists ids with titles.
    let Some(zsh) = in_shell(
        &env,
        "zsh",
        &format!(
            "autoload -U compinit && compinit -u && source <('{aside}' completions zsh) && print -r -- ${{_comps[aside]}} && _CLAP_IFS=$'\\n' _CLAP_COMPLETE_INDEX=2 COMPLETE=zsh '{aside}' -- aside show ''"
        ),
    ) else {
        assert!(
            std::env::var_os("ASIDE_REQUIRE_BROWSER").is_none(),
            "zsh is needed for this test: apt-get install zsh (.ci/run does)"
        );
        eprintln!("zsh part skipped: zsh is not installed");
        return;
    };
    let mut lines = zsh.lines();
    assert_eq!(lines.next(), Some("_clap_dynamic_completer_aside"), "{zsh}");
    assert!(
        lines.any(|l| l == format!("{id}:complete-me: a task")),
        "{zsh}"
    );
    let err = env.fails(&["completions", "tcsh"]);
    assert_eq!(
        err,
        "aside: aside completes in bash, zsh, fish, elvish and powershell, not `tcsh`"
    );
}
