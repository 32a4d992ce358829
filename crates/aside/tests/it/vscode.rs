//! The VS Code extension (`editors/vscode`) in real VS Code: code-server (VS Code 1.139 in the
//! browser) with the packaged extension installed, its workbench in headless Chromium, aside's
//! sessions made by the real binary against the fake model. `.ci/run` installs code-server and
//! packages the extension (`ASIDE_TEST_CODE_SERVER`, `ASIDE_TEST_VSIX`); without them the tests
//! skip, unless `ASIDE_REQUIRE_VSCODE` is set (`aside_testkit::vscode`). Screenshots of each step go to
//! `target/screenshots/vscode/`.

use crate::common::Env;
use aside_testkit::browser::Browser;
use aside_testkit::procs::{command_lines, running_with};
use aside_testkit::vscode::{in_webview as in_editor, installed, CodeServer};
use aside_testkit::Reply;
use serde_json::json;
use std::path::Path;
use std::time::{Duration, Instant};

async fn shot(b: &Browser, name: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots/vscode");
    b.screenshot(&dir.join(format!("{name}.png"))).await;
}

/// The Agents view's rows: (label, description) of each session.
const ROWS: &str = "return [...document.querySelectorAll('.pane-body .monaco-list-row')]
    .map(r => [(r.querySelector('.label-name') || {}).textContent || '',
               (r.querySelector('.label-description') || {}).textContent || ''])";

/// The description of the row whose label is `title`, once it matches `pattern` (a regex).
async fn wait_row(b: &Browser, title: &str, pattern: &str) -> String {
    let script = format!(
        "{}.find(([l, d]) => l === {} && new RegExp({}).test(d));",
        ROWS.trim_start_matches("return "),
        json!(title),
        json!(pattern)
    );
    let found = b
        .wait_within(
            Duration::from_secs(60),
            &format!("the row {title} showing {pattern}"),
            &format!("const row = {script} return row ? row[1] : null;"),
        )
        .await;
    found.as_str().unwrap_or_default().to_string()
}

/// code-server on `env`'s repository in a browser, its Agents view open (the extension
/// activated and read aside's list).
async fn workbench(env: &Env, server: &Path, vsix: &Path) -> (CodeServer, Browser) {
    let code = CodeServer::start(
        server,
        vsix,
        &env.root,
        &env.repo,
        env!("CARGO_BIN_EXE_aside"),
        &crate::common::inherited(),
        &env.vars(),
    );
    let b = Browser::start().await;
    b.resize(1400, 900).await;
    b.goto(&format!("{}/?folder={}", code.url, env.repo.display()))
        .await;
    b.wait_within(
        Duration::from_secs(60),
        "the workbench",
        "return document.querySelector('.monaco-workbench .activitybar')",
    )
    .await;
    let check = code.check();
    assert_eq!(check["activated"], true, "{check}");
    b.wait(
        "aside's activity-bar item",
        "return document.querySelector('.activitybar [aria-label^=\"aside\"]')",
    )
    .await;
    b.click(".activitybar [aria-label^=\"aside\"]").await;
    (code, b)
}

#[tokio::test]
async fn the_agents_view_shows_cli_sessions_live_and_the_editor_streams_and_answers() {
    let Some((server, vsix)) = installed() else {
        return;
    };
    let env = Env::new();
    // A session that asks before it runs a command: it needs the user's answer.
    env.model.push_for(
        "vscode-cli",
        [
            Reply::tool("run_command", json!({"command": "echo from-the-agent"})),
            Reply::text("Ran it: **from-the-agent**. <img src=x onerror=alert(1)>"),
        ],
    );
    let id = env.new_session("vscode-cli: run the <b>check</b>", &["--approve", "ask"]);
    env.wait_status(&id, "needs_input");
    let (code, b) = workbench(&env, &server, &vsix).await;
    let row = wait_row(&b, "vscode-cli: run the <b>check</b>", "^needs input").await;
    assert!(row.contains("builtin") && row.contains("isolated"), "{row}");
    // HTML in a title is text in the view.
    assert_eq!(
        b.eval(
            "return document.querySelectorAll('.pane-body .monaco-list-row b').length",
            json!([])
        )
        .await,
        0
    );
    // Through VS Code's own API (the extension's report): every command registered, the item
    // as VS Code gets it (its context value drives the right-click menu), the status bar.
    let check = code.check();
    for command in [
        "aside.newSession",
        "aside.openSession",
        "aside.openInNewWindow",
        "aside.resumeInTerminal",
        "aside.copyWorktreePath",
        "aside.archive",
        "aside.remove",
        "aside.continueInBackground",
    ] {
        assert!(
            check["commands"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c == command),
            "{command} is not registered: {check}"
        );
    }
    assert_eq!(
        check["items"][0]["context"], "session.active.own",
        "{check}"
    );
    assert!(
        check["status"].as_str().unwrap().ends_with("$(bell) 1"),
        "{check}"
    );
    // The view's badge says a session waits for the user.
    b.wait(
        "the badge",
        "return [...document.querySelectorAll('.activitybar .badge-content')].some(e => e.textContent.trim() === '1')",
    )
    .await;
    shot(&b, "01-agents-view-needs-input").await;

    // The session editor: the whole command asked about, answered from the editor.
    b.eval(
        "[...document.querySelectorAll('.pane-body .monaco-list-row')].find(r => r.textContent.includes('vscode-cli: run the <b>check</b>')).click()",
        json!([]),
    )
    .await;
    b.wait_within(
        Duration::from_secs(30),
        "the session editor",
        "return document.querySelector('iframe.webview')",
    )
    .await;
    // The webview is an iframe (of this origin) holding the page's own iframe.
    let asked = b
        .wait(
            "the permission request",
            &in_editor("return doc.querySelector('.permission') && doc.querySelector('.permission').textContent"),
        )
        .await;
    assert!(
        asked.as_str().unwrap().contains("echo from-the-agent"),
        "{asked}"
    );
    shot(&b, "02-session-editor-asks").await;
    b.eval(
        &in_editor("doc.querySelector('.permission .opts button[data-kind=allow_once]').click()"),
        json!([]),
    )
    .await;
    // The turn finishes: the reply streams in, its HTML shown as text, never run.
    b.wait(
        "the agent's reply",
        &in_editor("return [...doc.querySelectorAll('.msg.agent')].some(m => m.textContent.includes('<img src=x onerror=alert(1)>'))"),
    )
    .await;
    let images = b
        .eval(
            &in_editor("return doc.querySelectorAll('.msg.agent img').length"),
            json!([]),
        )
        .await;
    assert_eq!(images, 0);
    // And the Agents view follows: completed, the badge gone.
    // It says what the session used (its model calls' tokens; no price for the fake model).
    let row = wait_row(
        &b,
        "vscode-cli: run the <b>check</b>",
        "^completed.* · \\d+ tokens",
    )
    .await;
    assert!(row.contains("completed"), "{row}");
    shot(&b, "03-answered-and-completed").await;
    assert_eq!(env.session(&id)["status"], "completed");
}

/// `script` run with `doc`, the document of the open New Background Session form.
fn in_form(script: &str) -> String {
    in_editor(script)
}

/// A file name that would run script if it were ever taken as HTML.
const HOSTILE: &str = "<img src=x onerror=alert(1)>.md";

#[tokio::test]
async fn a_session_from_the_palette_streams_takes_follow_ups_diffs_and_applies_safely() {
    let Some((server, vsix)) = installed() else {
        return;
    };
    let env = Env::new();
    env.model.push_for(
        "vscode-new",
        [
            Reply::tool(
                "write_file",
                json!({"path": "NOTES.md", "content": "# Notes\n\nfrom the agent\n"}),
            ),
            Reply::tool(
                "write_file",
                json!({"path": HOSTILE, "content": "named to run\n"}),
            ),
            Reply::text("Wrote **NOTES.md**."),
            Reply::text("Follow-up done."),
        ],
    );
    let (_code, b) = workbench(&env, &server, &vsix).await;
    // The command palette: F1, the command's title, Enter.
    b.wait(
        "the workbench to take keys",
        "return document.querySelector('.monaco-workbench .part.editor')",
    )
    .await;
    palette(&b, "New Background Session").await;
    // The form: installed agents first, Isolated by default.
    let agents = b
        .wait(
            "the form's agents",
            &in_form("const o = [...doc.querySelectorAll('#agent option')].map(o => o.value); return o.length ? o : null"),
        )
        .await;
    assert_eq!(agents[0], "builtin", "{agents}");
    assert_eq!(
        b.eval(
            &in_form("return doc.querySelector('#mode-isolated').checked"),
            json!([])
        )
        .await,
        true
    );
    b.eval(
        &in_form("doc.querySelector('#task').value = 'vscode-new: write the notes\\nin NOTES.md'; doc.querySelector('#start').click()"),
        json!([]),
    )
    .await;
    shot(&b, "11-new-session-started").await;
    // Its editor opens and streams the conversation.
    b.wait(
        "the agent's first reply in the editor",
        &in_editor("return doc.querySelector('.msg.agent strong') && doc.querySelector('.msg.agent strong').textContent === 'NOTES.md'"),
    )
    .await;
    let sid = env
        .session_ids()
        .into_iter()
        .next()
        .expect("the session the form started");
    env.wait_status(&sid, "completed");
    // A follow-up from the editor reaches the model with the earlier turns.
    b.eval(
        &in_editor("doc.querySelector('#follow-text').value = 'and add a title'; doc.querySelector('#follow-up button[type=submit]').click()"),
        json!([]),
    )
    .await;
    b.wait(
        "the follow-up's reply",
        &in_editor("return [...doc.querySelectorAll('.msg.agent')].some(m => m.textContent.includes('Follow-up done.'))"),
    )
    .await;
    let follow = env
        .model
        .received()
        .into_iter()
        .map(|r| r.body.to_string())
        .find(|body| body.contains("and add a title"))
        .expect("the follow-up's request");
    assert!(
        follow.contains("vscode-new: write the notes") && follow.contains("Wrote **NOTES.md**."),
        "the earlier turns are missing from {follow}"
    );
    env.wait_status(&sid, "completed");
    // The changed file opens VS Code's diff editor: the base against the worktree's file.
    b.wait(
        "the changed file",
        &in_editor("return !!doc.querySelector('#files a.file[data-path=\"NOTES.md\"]')"),
    )
    .await;
    // A file named like HTML is listed as its name, never as markup.
    let names = b
        .eval(
            &in_editor("return [[...doc.querySelectorAll('#files a.file')].map(a => a.textContent), doc.querySelectorAll('#files img').length]"),
            json!([]),
        )
        .await;
    assert_eq!(names, json!([[HOSTILE, "NOTES.md"], 0]));
    b.eval(
        &in_editor("doc.querySelector('#files a.file[data-path=\"NOTES.md\"]').click()"),
        json!([]),
    )
    .await;
    b.wait(
        "the diff editor",
        "return [...document.querySelectorAll('.tab .label-name')].some(t => t.textContent.startsWith('NOTES.md (base ↔')) && !!document.querySelector('.monaco-diff-editor')",
    )
    .await;
    shot(&b, "12-diff-editor").await;
    // Back to the session's editor.
    b.click_found(
        "the session's row",
        &row_of("vscode-new: write the notes"),
        0,
    )
    .await;
    b.wait("the session editor shown", &in_editor("return true"))
        .await;
    // The file named like HTML opens its diff too, its name shown as text.
    b.wait(
        "the hostile name in the editor",
        &in_editor(&format!(
            "const a = [...doc.querySelectorAll('#files a.file')].find(a => a.dataset.path === {}); if (!a) return null; a.click(); return true;",
            json!(HOSTILE)
        )),
    )
    .await;
    b.wait(
        "the hostile name's diff",
        &format!(
            "return [...document.querySelectorAll('.tab .label-name')].some(t => t.textContent.startsWith({})) && !document.querySelector('.tab img, .tabs-container img')",
            json!(format!("{HOSTILE} (base ↔"))
        ),
    )
    .await;
    // And back to the session's editor.
    b.click_found(
        "the session's row",
        &row_of("vscode-new: write the notes"),
        0,
    )
    .await;
    b.wait("the session editor shown", &in_editor("return true"))
        .await;
    // A conflicting apply touches nothing and says why.
    let notes = env.repo.join("NOTES.md");
    std::fs::write(&notes, "mine\n").unwrap();
    b.eval(
        &in_editor("doc.querySelector('#act-apply').click()"),
        json!([]),
    )
    .await;
    let refused = b
        .wait(
            "the refusal",
            &in_editor("const r = doc.querySelector('#result'); return r && !r.hidden && r.classList.contains('bad') ? r.textContent : null"),
        )
        .await;
    assert!(refused.as_str().unwrap().contains("NOTES.md"), "{refused}");
    assert_eq!(std::fs::read_to_string(&notes).unwrap(), "mine\n");
    shot(&b, "13-apply-refused").await;
    // Apply Changes with the user's own uncommitted edit beside it: both kept.
    std::fs::remove_file(&notes).unwrap();
    std::fs::write(env.repo.join("README.md"), "# proj\n\nmy own edit\n").unwrap();
    b.eval(
        &in_editor("doc.querySelector('#act-apply').click()"),
        json!([]),
    )
    .await;
    b.wait(
        "the apply",
        &in_editor("const r = doc.querySelector('#result'); return r && r.classList.contains('good') && r.textContent.includes('NOTES.md')"),
    )
    .await;
    assert_eq!(
        std::fs::read_to_string(&notes).unwrap(),
        "# Notes\n\nfrom the agent\n"
    );
    assert_eq!(
        std::fs::read_to_string(env.repo.join(HOSTILE)).unwrap(),
        "named to run\n"
    );
    assert_eq!(
        std::fs::read_to_string(env.repo.join("README.md")).unwrap(),
        "# proj\n\nmy own edit\n"
    );
    shot(&b, "14-applied").await;
    // Open in New Window asks VS Code for the worktree's folder; Resume in Terminal opens a
    // terminal attached to the session.
    let worktree = env.session(&sid)["worktree"].as_str().unwrap().to_string();
    b.eval(
        "window.__opened = []; window.open = (url) => { window.__opened.push(String(url)); return null; };",
        json!([]),
    )
    .await;
    b.eval(
        &in_editor("doc.querySelector('#act-window').click()"),
        json!([]),
    )
    .await;
    let opened = b
        .wait(
            "the new window",
            "return window.__opened.length ? window.__opened : null",
        )
        .await;
    let encoded = worktree.replace('/', "%2F");
    assert!(
        opened.to_string().contains(&worktree) || opened.to_string().contains(&encoded),
        "{opened} does not open {worktree}"
    );
    b.eval(
        &in_editor("doc.querySelector('#act-terminal').click()"),
        json!([]),
    )
    .await;
    // The terminal runs `aside attach ID` (a process on this machine, as VS Code started it).
    let deadline = Instant::now() + Duration::from_secs(30);
    while !running_with(&["attach", &sid]) {
        assert!(
            Instant::now() < deadline,
            "no `aside attach {sid}` ever ran"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    b.wait(
        "the terminal's tab",
        "return [...document.querySelectorAll('.terminal-tabs-entry, .single-terminal-tab, .terminal-tab, [aria-label*=\"aside: vscode-new\"]')].some(t => (t.textContent + (t.getAttribute('aria-label') || '')).includes('aside: vscode-new'))",
    )
    .await;
    shot(&b, "15-terminal").await;
}

/// Runs aside's command `title` from the command palette, as a person would: F1, its name,
/// Enter once the palette lists it.
async fn palette(b: &Browser, title: &str) {
    b.keys("\u{E031}").await;
    b.wait(
        "the palette",
        "return document.querySelector('.quick-input-widget input')",
    )
    .await;
    b.keys(&format!("aside: {title}")).await;
    b.wait(
        &format!("{title} in the palette"),
        &format!(
            "return [...document.querySelectorAll('.quick-input-list .monaco-list-row')].some(r => r.textContent.includes({}))",
            json!(title)
        ),
    )
    .await;
    b.keys("\u{E007}").await;
}

/// The Agents view's row whose label is `title`, as a JavaScript expression.
fn row_of(title: &str) -> String {
    format!(
        "[...document.querySelectorAll('.pane-body .monaco-list-row')].find(r => ((r.querySelector('.label-name') || {{}}).textContent || '') === {})",
        json!(title)
    )
}

/// Right-clicks the row of `title` and picks `item` from its context menu.
async fn context_menu(b: &Browser, title: &str, item: &str) {
    b.click_found(&format!("the row {title}"), &row_of(title), 2)
        .await;
    // VS Code's menu takes no click in its first moments (a release of the button that opened
    // it must not pick an item): a person's click comes later too.
    b.wait(
        "the context menu",
        "return document.querySelectorAll('.monaco-menu .action-label').length > 0",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    b.click_found(
        &format!("the menu item {item}"),
        &format!(
            "[...document.querySelectorAll('.monaco-menu .action-label')].find(a => a.textContent.trim() === {})",
            json!(item)
        ),
        0,
    )
    .await;
}

#[tokio::test]
async fn the_context_menu_archives_and_removes_and_a_saved_chat_continues_in_the_background() {
    let Some((server, vsix)) = installed() else {
        return;
    };
    let env = Env::new();
    let [keep, gone] = ["vscode-keep", "vscode-gone"].map(|key| {
        env.model.push_for(key, [Reply::text("Done.")]);
        let id = env.new_session(&format!("{key}: a finished one"), &[]);
        env.wait_status(&id, "completed");
        id
    });
    // A saved chat in the workspace.
    std::fs::write(
        env.repo.join("chat.md"),
        "# Parser\n\n## User\nvscode-chat: where do I start?\n\n## Assistant\nStart with the parser.\n",
    )
    .unwrap();
    env.model.push_for(
        "vscode-chat",
        [Reply::text("Carried on in the background.")],
    );
    let (_code, b) = workbench(&env, &server, &vsix).await;

    // Archive: the session leaves the view (archived, kept).
    context_menu(&b, "vscode-keep: a finished one", "Archive").await;
    b.wait(
        "the archived row gone",
        "return ![...document.querySelectorAll('.pane-body .monaco-list-row')].some(r => r.textContent.includes('vscode-keep'))",
    )
    .await;
    assert_eq!(env.session(&keep)["archived"], true);
    // Remove, confirmed: the session, its worktree and its branch go.
    let worktree = env.session(&gone)["worktree"].as_str().unwrap().to_string();
    context_menu(&b, "vscode-gone: a finished one", "Remove").await;
    b.wait(
        "the confirmation",
        "return [...document.querySelectorAll('.monaco-dialog-box .monaco-button')].some(x => x.textContent.trim() === 'Remove')",
    )
    .await;
    shot(&b, "21-remove-confirm").await;
    b.click_found(
        "the confirmation's Remove",
        "[...document.querySelectorAll('.monaco-dialog-box .monaco-button')].find(x => x.textContent.trim() === 'Remove')",
        0,
    )
    .await;
    b.wait(
        "the removed row gone",
        "return ![...document.querySelectorAll('.pane-body .monaco-list-row')].some(r => r.textContent.includes('vscode-gone'))",
    )
    .await;
    assert!(!env.session_ids().contains(&gone));
    assert!(!Path::new(&worktree).exists(), "{worktree} is still there");

    // Continue in Background from the open saved chat: it goes on as a conversation.
    b.click(".activitybar [aria-label^=\"Explorer\"]").await;
    b.wait(
        "chat.md in the explorer",
        "return [...document.querySelectorAll('.explorer-folders-view .monaco-list-row')].some(r => r.textContent.trim() === 'chat.md')",
    )
    .await;
    // The explorer settles (it redraws as it reads the folder) before a person clicks.
    tokio::time::sleep(Duration::from_millis(800)).await;
    b.click_found(
        "chat.md in the explorer",
        "[...document.querySelectorAll('.explorer-folders-view .monaco-list-row')].find(r => r.textContent.trim() === 'chat.md')",
        0,
    )
    .await;
    b.wait(
        "chat.md open",
        "return [...document.querySelectorAll('.tab')].some(t => t.textContent.includes('chat.md')) && !!document.querySelector('.monaco-editor .view-lines')",
    )
    .await;
    palette(&b, "Continue in Background").await;
    b.wait(
        "the continued session's reply",
        &in_editor("return [...doc.querySelectorAll('.msg.agent')].some(m => m.textContent.includes('Carried on in the background.'))"),
    )
    .await;
    shot(&b, "22-continued-in-background").await;
    let first = env
        .model
        .received()
        .into_iter()
        .map(|r| r.body.to_string())
        .find(|body| body.contains("Carried on") || body.contains("vscode-chat"))
        .expect("the continued session's request");
    assert!(
        first.contains("User: vscode-chat: where do I start?")
            && first.contains("Assistant: Start with the parser."),
        "{first}"
    );

    // A session in another repository: the view groups by repository, the workspace's first,
    // and Filter by Repository shows one repository's sessions only.
    let other = env.root.join("other");
    aside_testkit::repo::init_repo(&other, &[("README.md", "# other\n")]);
    env.model
        .push_for("vscode-other", [Reply::text("Done there.")]);
    env.ok(&[
        "new",
        "--repo",
        other.to_str().unwrap(),
        "vscode-other: elsewhere",
    ]);
    b.click(".activitybar [aria-label^=\"aside\"]").await;
    let groups = b
        .wait(
            "the repositories as groups",
            "const g = [...document.querySelectorAll('.pane-body .monaco-list-row')].filter(r => r.getAttribute('aria-level') === '1').map(r => r.querySelector('.label-name').textContent); return g.length === 2 ? g : null",
        )
        .await;
    assert_eq!(groups, json!(["proj", "other"]));
    palette(&b, "Filter by Repository").await;
    b.wait(
        "the repositories to pick from",
        "return [...document.querySelectorAll('.quick-input-list .monaco-list-row')].some(r => r.textContent.includes('/other'))",
    )
    .await;
    b.keys("/other\u{E007}").await;
    b.wait(
        "only the other repository's session",
        "const rows = [...document.querySelectorAll('.pane-body .monaco-list-row')].map(r => r.textContent); return rows.length === 1 && rows[0].includes('vscode-other: elsewhere')",
    )
    .await;
    shot(&b, "23-filtered").await;
}

#[tokio::test]
async fn the_editor_stops_resumes_and_merges() {
    let Some((server, vsix)) = installed() else {
        return;
    };
    let env = Env::new();
    // A turn that hangs mid-answer until it is stopped; resumed, it finishes with a file.
    env.model.push_for(
        "vscode-long",
        [
            Reply::stream(vec![
                aside_testkit::Chunk::Text("Working on it…".into()),
                aside_testkit::Chunk::Hang,
            ]),
            Reply::tool(
                "write_file",
                json!({"path": "MERGED.md", "content": "merged from the editor\n"}),
            ),
            Reply::text("Resumed and done."),
        ],
    );
    let id = env.new_session("vscode-long: a long one", &[]);
    env.wait_event(&id, "the answer streaming", |e| {
        e["kind"] == "agent_message_chunk"
    });
    let (_code, b) = workbench(&env, &server, &vsix).await;
    b.click_found("the running session", &row_of("vscode-long: a long one"), 0)
        .await;
    b.wait(
        "the streamed text",
        &in_editor("return [...doc.querySelectorAll('.msg.agent')].some(m => m.textContent.includes('Working on it'))"),
    )
    .await;
    // Stop: the host lets go, nothing lost; the session is interrupted and can be resumed.
    b.eval(
        &in_editor("doc.querySelector('#act-stop').click()"),
        json!([]),
    )
    .await;
    b.wait(
        "interrupted",
        &in_editor("return doc.querySelector('#status').textContent === 'interrupted' && !doc.querySelector('#act-resume').hidden"),
    )
    .await;
    assert_eq!(env.session(&id)["status"], "interrupted");
    shot(&b, "31-stopped").await;
    b.eval(
        &in_editor("doc.querySelector('#act-resume').click()"),
        json!([]),
    )
    .await;
    b.wait_within(
        Duration::from_secs(60),
        "the resumed turn's end",
        &in_editor("return [...doc.querySelectorAll('.msg.agent')].some(m => m.textContent.includes('Resumed and done.')) && doc.querySelector('#status').textContent === 'completed'"),
    )
    .await;
    // Merge: the session's branch into the repository's, as aside merges it.
    b.wait(
        "Merge enabled",
        &in_editor("return !doc.querySelector('#act-merge').disabled"),
    )
    .await;
    b.eval(
        &in_editor("doc.querySelector('#act-merge').click()"),
        json!([]),
    )
    .await;
    let merged = b
        .wait(
            "the merge",
            &in_editor("const r = doc.querySelector('#result'); return r && (r.classList.contains('bad') || r.textContent.startsWith('Merged')) ? [r.className, r.textContent] : null"),
        )
        .await;
    assert!(merged[0].as_str().unwrap().contains("good"), "{merged}");
    shot(&b, "32-merged").await;
    let log = std::process::Command::new("git")
        .args(["log", "--name-only", "--format=%s", "-3"])
        .current_dir(&env.repo)
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&log.stdout);
    assert!(log.contains("MERGED.md"), "{log}");
    assert_eq!(
        std::fs::read_to_string(env.repo.join("MERGED.md")).unwrap(),
        "merged from the editor\n"
    );

    // A session that comes to need the user's answer: a notification, whose Open shows it.
    env.model.push_for(
        "vscode-ask",
        [
            Reply::tool("run_command", json!({"command": "echo asked"})),
            Reply::text("ok"),
        ],
    );
    env.new_session("vscode-ask: ask me", &["--approve", "ask"]);
    let toast = b
        .wait_within(
            Duration::from_secs(60),
            "the notification",
            "const t = [...document.querySelectorAll('.notification-toast')].find(t => t.textContent.includes('needs your answer')); return t ? t.textContent : null",
        )
        .await;
    assert!(
        toast
            .as_str()
            .unwrap()
            .contains("\"vscode-ask: ask me\" needs your answer"),
        "{toast}"
    );
    shot(&b, "33-needs-input-notification").await;
    // Open, clicked again while the toast stays (a toast still sliding in takes no click;
    // clicked, it goes away).
    let open_button = "[...document.querySelectorAll('.notification-toast .monaco-button')].find(x => x.textContent.trim() === 'Open')";
    let shown =
        in_editor("return doc.querySelector('#title').textContent === 'vscode-ask: ask me'");
    let deadline = Instant::now() + Duration::from_secs(30);
    while b.eval(&shown, json!([])).await != true {
        assert!(Instant::now() < deadline, "Open never showed the session");
        let toast = b
            .eval(&format!("return !!({open_button})"), json!([]))
            .await;
        if toast == true {
            b.click_found("the notification's Open", open_button, 0)
                .await;
        }
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    b.wait(
        "the asking session's editor",
        &in_editor("return doc.querySelector('#title').textContent === 'vscode-ask: ask me' && ((doc.querySelector('.permission') || {}).textContent || '').includes('echo asked')"),
    )
    .await;
}

#[tokio::test]
async fn a_session_started_in_codex_s_own_cli_is_listed_shown_and_adopted() {
    use crate::external::{external, listed, run_tool, tools_env, var_path};
    let Some((server, vsix)) = installed() else {
        return;
    };
    let (Some(codex_cli), Some(codex_acp)) = (
        var_path("ASIDE_TEST_CODEX_CLI"),
        std::env::var_os("ASIDE_TEST_CODEX"),
    ) else {
        eprintln!("skipped: set ASIDE_TEST_CODEX_CLI and ASIDE_TEST_CODEX (.ci/run does)");
        return;
    };
    let mut env = tools_env();
    env.prepend_path(&codex_acp);
    // VS Code's server takes PATH from the user's login shell: the user's profile puts the
    // agents' folders on it, as a user's does for the tools they install.
    let dirs = [Path::new(&codex_acp), codex_cli.as_path()]
        .map(|p| p.parent().unwrap().display().to_string());
    std::fs::write(
        env.root.join("home/.profile"),
        format!("export PATH=\"{}:{}:$PATH\"\n", dirs[0], dirs[1]),
    )
    .unwrap();
    env.model.push_for(
        "vscode-codex",
        [
            Reply::text("Begun by codex exec."),
            Reply::text("Carried on by aside."),
        ],
    );
    run_tool(&env, &codex_cli, &["exec", "vscode-codex: begin"]);
    let s = external(&listed(&env, &[]), "codex").unwrap().clone();
    let title = s["title"].as_str().unwrap().to_string();
    let (_code, b) = workbench(&env, &server, &vsix).await;
    // Listed, marked as the agent's own CLI's.
    let row = wait_row(&b, &title, "\\(its own CLI\\)").await;
    assert!(row.starts_with("idle · codex (its own CLI)"), "{row}");
    b.click_found("the codex session", &row_of(&title), 0).await;
    // Its conversation, read from Codex's own files; Adopt, and no actions of aside's.
    b.wait(
        "the codex conversation",
        &in_editor("return [...doc.querySelectorAll('.msg.agent')].some(m => m.textContent.includes('Begun by codex exec.')) && !doc.querySelector('#act-adopt').hidden && doc.querySelector('#follow-up').hidden"),
    )
    .await;
    shot(&b, "41-codex-session").await;
    b.eval(
        &in_editor("doc.querySelector('#act-adopt').click()"),
        json!([]),
    )
    .await;

    // Adopted: a session of aside's own opens, going on with Codex's history.
    b.wait_within(
        Duration::from_secs(60),
        "the adopted session's editor",
        &in_editor("return !doc.querySelector('#follow-up').hidden && doc.querySelector('#act-adopt').hidden"),
    )
    .await;
    let adopted = env
        .session_ids()
        .into_iter()
        .find(|id| *id != s["id"].as_str().unwrap())
        .expect("the adopted session");
    assert_eq!(env.session(&adopted)["external"], false);
    assert_eq!(env.session(&adopted)["agent"], "codex");
    shot(&b, "42-adopted").await;
    // Adopted, the Codex session is aside's (it leaves the list of the CLI's own); its context
    // menu resumes it in Codex's own CLI, in a terminal (`aside attach --native`).
    b.wait(
        "one row left",
        "return document.querySelectorAll('.pane-body .monaco-list-row').length === 1",
    )
    .await;
    let external_id = adopted.clone();
    context_menu(&b, &title, "Resume in the Agent's Own CLI").await;
    // Codex's own CLI runs on the session, under `aside attach --native`.
    let agent_session = env.session(&adopted)["agent_session_id"]
        .as_str()
        .unwrap()
        .to_string();
    let deadline = Instant::now() + Duration::from_secs(30);
    // (Codex's own command line puts its flags between `resume` and the session.)
    let resumed = || {
        command_lines()
            .iter()
            .any(|(_, args)| args.iter().any(|a| a == "resume") && args.contains(&agent_session))
    };
    while !(running_with(&["attach", "--native", &external_id]) && resumed()) {
        assert!(
            Instant::now() < deadline,
            "Codex's own CLI never ran on {agent_session} under `aside attach --native {external_id}`"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    shot(&b, "43-codex-native-terminal").await;
}

/// A session on another machine (over a real sshd) in the Agents view, marked with its
/// machine; its editor follows it, answers its permission request there, and applies its work
/// into the workspace's repository.
#[tokio::test]
async fn a_session_on_another_machine_is_listed_answered_and_applied_from_vs_code() {
    let Some((server, vsix)) = installed() else {
        return;
    };
    let Some((env, sshd)) = crate::machines::with_machine() else {
        return;
    };
    let _stop = crate::machines::StopThere(sshd.ssh.clone());
    env.ok(&["machine", "add", "box1", "--ssh", "box1", "--no-check"]);
    env.model.push_for(
        "vscode-remote",
        [
            Reply::tool(
                "write_file",
                json!({"path": "FROM_BOX1.md", "content": "made on box1\n"}),
            ),
            Reply::text("Wrote it on box1."),
        ],
    );
    // Asking before each edit there ([defaults] approve, as that machine's config has it).
    let config_there = env.root.join("box1/home/.config/aside");
    std::fs::create_dir_all(&config_there).unwrap();
    std::fs::write(
        config_there.join("config.toml"),
        "[defaults]\napprove = \"ask\"\n",
    )
    .unwrap();
    let (code, b) = workbench(&env, &server, &vsix).await;
    // Started from the New Background Session form, on box1.
    b.wait(
        "the workbench to take keys",
        "return document.querySelector('.monaco-workbench .part.editor')",
    )
    .await;
    palette(&b, "New Background Session").await;
    let machines = b
        .wait(
            "the form's machines",
            &in_form("const f = doc.querySelector('#machine-field'); return f && !f.hidden && [...doc.querySelectorAll('#machine option')].map(o => o.value)"),
        )
        .await;
    assert_eq!(machines, json!(["", "box1"]));
    b.eval(
        &in_form("doc.querySelector('#task').value = 'vscode-remote: write a file there'; doc.querySelector('#machine').value = 'box1'; doc.querySelector('#start').click()"),
        json!([]),
    )
    .await;
    let row = wait_row(&b, "vscode-remote: write a file there", "needs input").await;
    assert!(row.contains("on box1"), "{row}");
    // As VS Code gets the item: its context value keeps the worktree-only commands off it.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let check = code.check();
        let item = check["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["label"] == "vscode-remote: write a file there")
            .cloned();
        if let Some(item) = item {
            assert_eq!(item["context"], "session.active.machine", "{check}");
            break;
        }
        assert!(Instant::now() < deadline, "{check}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    shot(&b, "40-machine-session-listed").await;
    b.eval(
        "[...document.querySelectorAll('.pane-body .monaco-list-row')].find(r => r.textContent.includes('vscode-remote: write a file there')).click()",
        json!([]),
    )
    .await;
    let asked = b
        .wait(
            "the permission request from the machine",
            &in_editor("return doc.querySelector('.permission') && doc.querySelector('.permission').textContent"),
        )
        .await;
    assert!(asked.as_str().unwrap().contains("FROM_BOX1.md"), "{asked}");
    let meta = b
        .eval(
            &in_editor("return doc.querySelector('#meta').textContent"),
            json!([]),
        )
        .await;
    assert!(meta.as_str().unwrap().contains("on machine box1"), "{meta}");
    let window = b
        .eval(
            &in_editor("return doc.querySelector('#act-window').hidden"),
            json!([]),
        )
        .await;
    assert_eq!(window, true, "a window here cannot open its worktree");
    b.eval(
        &in_editor("doc.querySelector('.permission .opts button[data-kind=allow_once]').click()"),
        json!([]),
    )
    .await;
    b.wait(
        "the reply from the machine",
        &in_editor("return [...doc.querySelectorAll('.msg.agent')].some(m => m.textContent.includes('Wrote it on box1.'))"),
    )
    .await;
    wait_row(&b, "vscode-remote: write a file there", "^completed").await;
    // Its work comes into the workspace's repository, the user's own edit kept.
    std::fs::write(env.repo.join("README.md"), "# proj\n\nmy own edit\n").unwrap();
    b.eval(
        &in_editor("doc.querySelector('#act-apply').click()"),
        json!([]),
    )
    .await;
    b.wait(
        "the apply",
        &in_editor("const r = doc.querySelector('#result'); return r && r.classList.contains('good') && r.textContent.includes('FROM_BOX1.md')"),
    )
    .await;
    let said = b
        .eval(
            &in_editor("return doc.querySelector('#result').textContent"),
            json!([]),
        )
        .await;
    assert!(said.as_str().unwrap().contains("applied box1:"), "{said}");
    shot(&b, "41-machine-session-applied").await;
    assert_eq!(
        std::fs::read_to_string(env.repo.join("FROM_BOX1.md")).unwrap(),
        "made on box1\n"
    );
    assert_eq!(
        std::fs::read_to_string(env.repo.join("README.md")).unwrap(),
        "# proj\n\nmy own edit\n"
    );
}
