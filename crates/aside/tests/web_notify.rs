//! The web view's desktop notifications (the Web Notifications API), in Chromium.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aside_testkit::browser::{self, Browser};
use aside_testkit::Reply;
use common::{Env, Ui};
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
