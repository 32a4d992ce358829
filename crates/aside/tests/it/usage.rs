//! What sessions use: tokens per model call and turn (as the fake model reports them, in the
//! OpenAI and Anthropic shapes, or estimated when it reports none), costs from prices, `ls`,
//! `show`, `aside usage`, and budgets that stop a runaway session without losing anything.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::Env;
use aside_testkit::Reply;
use serde_json::{json, Value};

fn show_json(env: &Env, id: &str) -> Value {
    serde_json::from_str(&env.ok(&["show", id, "--json"])).unwrap()
}

fn write(path: &str, content: &str) -> Reply {
    Reply::tool("write_file", json!({"path": path, "content": content}))
}

#[test]
fn tokens_and_costs_add_up_as_the_model_reported_them() {
    let env = Env::new();
    env.config("[prices.fake]\ninput = 3.0\noutput = 15.0\ncached = 0.3\n");
    env.model.push_for(
        "use-openai",
        [
            write("a.txt", "a\n").with_usage(1000, 200, 50, 10),
            Reply::text("Wrote a.").with_usage(1200, 1000, 80, 0),
        ],
    );
    let id = env.new_session("use-openai: write a", &[]);
    env.wait_status(&id, "completed");
    let shown = show_json(&env, &id);
    let usage = &shown["usage"];
    // Fresh input, cached input and output, each as the model reported it.
    assert_eq!(usage["tokens"]["input"], 800 + 200, "{usage}");
    assert_eq!(usage["tokens"]["cached"], 200 + 1000, "{usage}");
    assert_eq!(usage["tokens"]["output"], 50 + 80, "{usage}");
    assert_eq!(usage["tokens"]["reasoning"], 10, "{usage}");
    assert_eq!(usage["estimated"], false);
    let cost = (1000.0 * 3.0 + 1200.0 * 0.3 + 130.0 * 15.0) / 1e6;
    assert!(
        (usage["cost"].as_f64().unwrap() - cost).abs() < 1e-12,
        "{usage}"
    );
    assert_eq!(usage["context"], json!([1200 + 80, 128000]), "{usage}");
    // The record's summary, for lists, says the same.
    assert_eq!(shown["session"]["usage"]["tokens"], 2330);
    let text = env.ok(&["show", &id]);
    assert!(
        text.contains(
            "usage:    2,330 tokens (1,000 in · 1,200 cached · 130 out, 10 reasoning) · $0.0053"
        ),
        "{text}"
    );
    let ls = env.ok(&["ls"]);
    assert!(ls.contains("USAGE") && ls.contains("2.3k $0.0053"), "{ls}");

    // Anthropic's shape (fresh input, cache reads apart) counts the same way.
    let mut anthropic = Env::new();
    anthropic.set("ASIDE_PROVIDER", "anthropic");
    anthropic.set("ASIDE_BASE_URL", &anthropic.model.url.clone());
    anthropic.model.push_for(
        "use-anthropic",
        [Reply::text("Hi.").with_usage(500, 300, 40, 0)],
    );
    let id = anthropic.new_session("use-anthropic: say hi", &[]);
    anthropic.wait_status(&id, "completed");
    let usage = show_json(&anthropic, &id)["usage"].clone();
    assert_eq!(
        usage["tokens"],
        json!({"input": 200, "cached": 300, "output": 40, "reasoning": 0}),
        "{usage}"
    );
    // No price for this model: tokens only, never a made-up cost.
    assert_eq!(usage["cost"], Value::Null);
    let text = anthropic.ok(&["show", &id]);
    assert!(
        text.contains("cost unknown (no price for its model)"),
        "{text}"
    );
}

#[test]
fn an_endpoint_that_reports_nothing_is_estimated_and_said() {
    let env = Env::new();
    env.model.push_for(
        "use-none",
        [Reply::text("A reply of some length to count.").without_usage()],
    );
    let id = env.new_session("use-none: count it", &[]);
    env.wait_status(&id, "completed");
    let usage = show_json(&env, &id)["usage"].clone();
    assert_eq!(usage["estimated"], true, "{usage}");
    assert!(usage["tokens"]["input"].as_u64().unwrap() > 10, "{usage}");
    assert!(usage["tokens"]["output"].as_u64().unwrap() >= 8, "{usage}");
    let text = env.ok(&["show", &id]);
    assert!(
        text.contains("estimated: the endpoint reported none"),
        "{text}"
    );
    assert!(
        env.ok(&["ls"]).contains("~"),
        "the column marks an estimate"
    );
}

#[test]
fn a_budget_stops_a_runaway_session_and_a_larger_one_finishes_it() {
    let env = Env::new();
    // Each model call reports 1,000 tokens; the session may use 2,500.
    let step =
        |n: usize| write(&format!("step{n}.txt"), &format!("{n}\n")).with_usage(900, 0, 100, 0);
    env.model.push_for(
        "runaway",
        [
            step(1),
            step(2),
            step(3),
            step(4),
            step(5),
            Reply::text("All steps written.").with_usage(900, 0, 100, 0),
        ],
    );
    let id = env.new_session("runaway: write the steps", &["--budget", "2500"]);
    let s = env.wait_status(&id, "interrupted");
    let reason = s["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("budget reached: 3,000 tokens of 2,500;")
            && reason.contains(&format!("aside resume {id} --budget")),
        "{reason}"
    );
    // Stopped within one model call of its limit: three calls, no fourth.
    let asked = |env: &Env| {
        env.model
            .received()
            .iter()
            .filter(|r| r.body.to_string().contains("runaway: write the steps"))
            .count()
    };
    assert_eq!(asked(&env), 3);
    let shown = env.ok(&["show", &id]);
    assert!(
        shown.contains("80% of the budget used: 2,000 tokens of 2,500"),
        "{shown}"
    );
    // Nothing lost: what it wrote is there and checkpointed.
    let worktree = std::path::PathBuf::from(s["worktree"].as_str().unwrap());
    for n in 1..=2 {
        assert!(worktree.join(format!("step{n}.txt")).exists(), "step{n}");
    }
    assert!(
        shown.contains("budget:   2,500 tokens — reached; `aside resume"),
        "{shown}"
    );
    // A follow-up is refused with the way on (nothing is taken and lost).
    let out = env.run(&["send", &id, "keep going"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&format!(
            "stopped at its budget (budget reached: 3,000 tokens of 2,500): `aside resume {id} --budget …` gives it more"
        )),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Resuming without more budget stops again at once, saying why.
    env.ok(&["resume", &id]);
    let s = env.wait_status(&id, "interrupted");
    assert!(
        s["reason"].as_str().unwrap().starts_with("budget reached"),
        "{s}"
    );
    assert_eq!(asked(&env), 3);
    // A larger budget finishes it.
    env.ok(&["resume", &id, "--budget", "100k"]);
    env.wait_status(&id, "completed");
    // The call that crossed the limit had its tool call cancelled, not run; the model went on
    // from there.
    for n in [1, 2, 4, 5] {
        assert!(worktree.join(format!("step{n}.txt")).exists(), "step{n}");
    }
    assert!(!worktree.join("step3.txt").exists());
    let usage = show_json(&env, &id)["usage"].clone();
    assert_eq!(usage["tokens"]["input"], 900 * 6, "{usage}");
    // A bad budget says how to write one.
    let out = env.run(&["new", "--budget", "lots", "x"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("give tokens (200k, 1.5M, 120000), dollars ($3, $0.50), or both"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn aside_usage_totals_match_the_sessions() {
    let env = Env::new();
    env.config("[prices.fake]\ninput = 1.0\noutput = 2.0\n");
    env.model
        .push_for("tally-a", [Reply::text("A.").with_usage(1000, 0, 100, 0)]);
    env.model
        .push_for("tally-b", [Reply::text("B.").with_usage(2000, 500, 200, 0)]);
    let a = env.new_session("tally-a: one", &[]);
    let b = env.new_session("tally-b: two", &[]);
    env.wait_status(&a, "completed");
    env.wait_status(&b, "completed");
    let report: Value =
        serde_json::from_str(&env.ok(&["usage", "--json", "--since", "7d"])).unwrap();
    let sum: u64 = [&a, &b]
        .iter()
        .map(|id| {
            show_json(&env, id)["usage"]["tokens"]
                .as_object()
                .map(|t| {
                    t["input"].as_u64().unwrap()
                        + t["cached"].as_u64().unwrap()
                        + t["output"].as_u64().unwrap()
                })
                .unwrap()
        })
        .sum();
    assert_eq!(report["total"]["total"], sum, "{report}");
    assert_eq!(report["total"]["total"], 1100 + 2200);
    assert_eq!(report["sessions"].as_array().unwrap().len(), 2);
    assert_eq!(report["agents"][0]["agent"], "builtin");
    assert_eq!(report["models"][0]["model"], "fake");
    let cost = report["total"]["cost"].as_f64().unwrap();
    assert!(
        (cost - (1000.0 + 1500.0 + 500.0 + 300.0 * 2.0) / 1e6).abs() < 1e-12,
        "{report}"
    );
    let text = env.ok(&["usage", "--repo"]);
    assert!(
        text.starts_with("used: 3,300 tokens") && text.contains("by day:"),
        "{text}"
    );
    assert_eq!(Env::new().ok(&["usage"]), "nothing used");
    let out = env.run(&["usage", "--since", "yesterday"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("give a stretch (24h, 7d, 2w) or a date"));
}

/// What each real agent reports of its usage over ACP, offline on the fake model (which
/// reports 1,234 tokens in, 200 of them cached, and 56 out), reaches `show`.
#[test]
fn real_agents_usage_reaches_show() {
    let mut ran = 0;
    let mut check = |env: Env, agent: &str, expect: &dyn Fn(&Value)| {
        let marker = format!("use-{agent}");
        env.model.push_for(
            &marker,
            [Reply::text("Counted.").with_usage(1234, 200, 56, 0)],
        );
        // Each under a budget it does not reach.
        let id = env.new_session(
            &format!("{marker}: count"),
            &["--agent", agent, "--budget", "100k"],
        );
        env.wait_status(&id, "completed");
        let usage = show_json(&env, &id)["usage"].clone();
        expect(&usage);
        // An agent that gives no token counts leaves its budget unkept, and it is said.
        let said = env.ok(&["show", &id]).contains(&format!(
            "the budget cannot be kept: {agent} reports no token counts"
        ));
        assert_eq!(said, usage["tokens"]["input"] == 0, "{agent}: {usage}");
        ran += 1;
    };
    if let Some(codex) = std::env::var_os("ASIDE_TEST_CODEX") {
        // codex-acp reports the context's fill only: no tokens per turn, no cost.
        check(crate::common::codex_env(&codex), "codex", &|u| {
            assert_eq!(u["context"][0], 1234 + 56, "{u}");
            assert_eq!(u["tokens"]["input"], 0, "{u}");
        });
    }
    if let Some(copilot) = std::env::var_os("ASIDE_TEST_COPILOT") {
        // Copilot CLI reports the turn's tokens (its input counting the cache reads in) and
        // its own estimate of the context.
        check(crate::common::copilot_env(&copilot), "copilot", &|u| {
            assert_eq!(
                u["tokens"],
                json!({"input": 1034, "cached": 200, "output": 56, "reasoning": 0}),
                "{u}"
            );
            assert!(u["context"][0].as_u64().unwrap() > 0, "{u}");
        });
    }
    if let Some(claude) = std::env::var_os("ASIDE_TEST_CLAUDE") {
        // claude-agent-acp reports the turn's tokens, the context and its own cost.
        check(crate::common::claude_env(&claude), "claude", &|u| {
            assert_eq!(
                u["tokens"],
                json!({"input": 1034, "cached": 200, "output": 56, "reasoning": 0}),
                "{u}"
            );
            assert_eq!(u["context"][0], 1234 + 1, "{u}");
            assert!(u["cost"].as_f64().unwrap() > 0.0, "{u}");
        });
    }
    if ran == 0 {
        eprintln!(
            "skipped: set ASIDE_TEST_CODEX / ASIDE_TEST_COPILOT / ASIDE_TEST_CLAUDE (.ci/run does)"
        );
    }
}

#[test]
fn a_plan_and_the_session_that_carries_it_out_add_up() {
    let env = Env::new();
    env.config("[prices.fake]\ninput = 1.0\noutput = 1.0\n");
    env.model.push_for(
        "lineage-task",
        [
            Reply::text("1. Do it").with_usage(1000, 0, 100, 0),
            Reply::text("Done.").with_usage(2000, 0, 200, 0),
        ],
    );
    let out = env.run(&["plan", "--yes", "lineage-task: plan then do"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    env.wait_status(&id, "completed");
    let shown = show_json(&env, &id);
    let lineage = &shown["lineage"];
    assert_eq!(
        lineage["sessions"].as_array().unwrap().len(),
        2,
        "{lineage}"
    );
    assert_eq!(lineage["sessions"][1], id.as_str());
    assert_eq!(lineage["tokens"], 1100 + 2200, "{lineage}");
    assert!((lineage["cost"].as_f64().unwrap() - 3300.0 / 1e6).abs() < 1e-12);
    // Its own usage is its own.
    assert_eq!(shown["usage"]["tokens"]["input"], 2000);
    let text = env.ok(&["show", &id]);
    assert!(
        text.contains("lineage:  2 sessions (") && text.contains("together 3,300 tokens · $0.0033"),
        "{text}"
    );
    // `aside usage` rolls the lineage up too.
    let report: Value = serde_json::from_str(&env.ok(&["usage", "--json"])).unwrap();
    assert_eq!(report["lineages"][0]["total"], 3300, "{report}");
    assert_eq!(report["lineages"][0]["sessions"][1], id.as_str());
}

#[test]
fn a_repository_budget_only_narrows_and_a_dollar_budget_without_a_price_is_said() {
    let env = Env::new();
    // The user allows 100k tokens and $1; the repository 1,500 tokens. The user is told when
    // a session stops (`[notify] command`).
    let (hook, told) =
        crate::common::notify_hook(&env, "$ASIDE_SESSION_STATUS: $ASIDE_SESSION_REASON");
    env.config(&format!(
        "[sessions]\nbudget_tokens = 100000\nbudget_usd = 1.0\n\n[notify]\ncommand = [\"{}\"]\n",
        hook.display()
    ));
    std::fs::write(
        env.repo.join(".aside.toml"),
        "[sessions]\nbudget_tokens = 1500\n",
    )
    .unwrap();
    env.model.push_for(
        "repo-budget",
        [
            write("one.txt", "1\n").with_usage(900, 0, 100, 0),
            write("two.txt", "2\n").with_usage(900, 0, 100, 0),
            Reply::text("Never reached.").with_usage(900, 0, 100, 0),
        ],
    );
    let id = env.new_session("repo-budget: write", &[]);
    let s = env.wait_status(&id, "interrupted");
    assert!(
        s["reason"]
            .as_str()
            .unwrap()
            .starts_with("budget reached: 2,000 tokens of 1,500"),
        "{s}"
    );
    crate::common::wait_line(&told, "interrupted: budget reached: 2,000 tokens of 1,500");
    let shown = env.ok(&["show", &id]);
    // No price is known for the fake model: the dollar limit cannot be kept, and it says so.
    assert!(
        shown.contains("the budget in dollars cannot be kept: no price is known for fake"),
        "{shown}"
    );
}
