//! The web list in Chromium: progress and badges per session, a phone-width layout, and
//! desktop notifications (the Web Notifications API).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::{Env, Ui};
use aside_testkit::browser::{self, Browser};
use aside_testkit::Reply;
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn the_list_page_notifies_when_a_session_ends_while_it_is_open() {
    if !browser::available() {
        assert!(
            std::env::var_os("ASIDE_REQUIRE_BROWSER").is_none(),
            "ASIDE_REQUIRE_BROWSER is set but chromium/chromedriver are missing"
        );
        eprintln!("skipped: Debian's chromium and chromium-driver are not installed (.ci/run installs them)");
        return;
    }
    let env = Env::new();
    env.model.push_for(
        "notify-task",
        [
            Reply::tool("run_command", json!({"command": "echo hi"})),
            Reply::text("Done."),
        ],
    );
    let id = env.new_session("notify-task: ask, then finish", &["--workspace"]);
    env.wait_status(&id, "needs_input");
    let ui = Ui::start(&env);
    let b = Browser::start().await;
    b.goto(&ui.url).await;
    b.wait(
        "the session in the list",
        &format!("return !!document.querySelector('tr[data-id=\"{id}\"]')"),
    )
    .await;
    // The browser's notifications, recorded (a headless browser shows none).
    b.eval(
        "window.__notes = []; window.Notification = function (title, options) { window.__notes.push([title, options.body]); }; window.Notification.permission = 'granted'; window.Notification.requestPermission = () => Promise.resolve('granted'); return true",
        json!([]),
    )
    .await;
    env.ok(&["approve", &id]);
    let notes = b
        .wait(
            "a notification",
            "return window.__notes.length > 0 && window.__notes",
        )
        .await;
    assert_eq!(
        notes,
        json!([["notify-task: ask, then finish", "aside: completed"]])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_list_shows_plan_progress_last_line_and_badges_and_fits_a_phone() {
    if !browser::available() {
        assert!(
            std::env::var_os("ASIDE_REQUIRE_BROWSER").is_none(),
            "ASIDE_REQUIRE_BROWSER is set but chromium/chromedriver are missing"
        );
        return;
    }
    let env = Env::new();
    env.model.push_for(
        "progress-task",
        [
            Reply::tool(
                "update_plan",
                json!({"entries": [
                    {"content": "Read the code", "status": "completed"},
                    {"content": "Write the notes", "status": "completed"},
                    {"content": "Check them", "status": "pending"}]}),
            ),
            Reply::tool(
                "write_file",
                json!({"path": "NOTES.md", "content": "notes\n"}),
            ),
            Reply::text("Wrote the notes.\nTwo of three steps are done."),
        ],
    );
    let id = env.new_session("progress-task: write notes", &[]);
    env.wait_status(&id, "completed");
    env.ok(&["apply", &id]);
    let ui = Ui::start(&env);
    let b = Browser::start().await;
    b.goto(&ui.url).await;
    let row = b
        .wait(
            "the row with its progress",
            &format!("const r = document.querySelector('tr[data-id=\"{id}\"]'); return r && r.textContent.includes('plan 2/3') && r.textContent"),
        )
        .await;
    let row = row.as_str().unwrap();
    assert!(row.contains("Two of three steps are done."), "{row}");
    assert!(row.contains("applied"), "{row}");
    // At a phone's width the session, its status and its activity stay; the rest goes.
    b.resize(390, 844).await;
    let shown = b
        .eval(
            &format!("const r = document.querySelector('tr[data-id=\"{id}\"]'); return [...r.children].map(td => getComputedStyle(td).display !== 'none')"),
            json!([]),
        )
        .await;
    assert_eq!(
        shown,
        json!([true, true, false, false, false, false, false, false, true])
    );
    let width = b
        .eval(
            "return document.documentElement.scrollWidth <= window.innerWidth + 1",
            json!([]),
        )
        .await;
    let wide = b
        .eval("return [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > window.innerWidth + 1).slice(0, 12).map(e => e.tagName + '#' + e.id + '.' + e.className + ':' + Math.round(e.getBoundingClientRect().right))", json!([]))
        .await;
    assert_eq!(
        width,
        json!(true),
        "the page scrolls sideways at 390 px: {wide}"
    );
}
