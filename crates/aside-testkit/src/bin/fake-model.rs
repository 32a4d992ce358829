//! A standalone fake model endpoint for trying agents by hand and for benchmarks.
//!
//! `fake-model SCRIPT.json` serves the replies in SCRIPT (a JSON array; each item is
//! `{"text": "..."}` or `{"tool": "name", "args": {...}}`, optionally with `"text"` before the
//! call; `{"text": "...", "hang": true}` streams the text and then never finishes) in order, prints its base URL on stdout, and runs until killed. With `--loop`, the
//! script starts over when it runs out.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aside_testkit::{Chunk, FakeModel, Reply};
use serde_json::Value;

fn replies(script: &[Value]) -> Vec<Reply> {
    script
        .iter()
        .map(|item| match item["tool"].as_str() {
            Some(tool) => {
                let reply = Reply::tool(tool, item["args"].clone());
                match item["text"].as_str() {
                    Some(text) => reply.with_text_first(text),
                    None => reply,
                }
            }
            None if item["hang"] == true => Reply::stream(vec![
                Chunk::Text(item["text"].as_str().unwrap_or_default().to_string()),
                Chunk::Hang,
            ]),
            None => Reply::text(item["text"].as_str().unwrap_or_default()),
        })
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let looping = args.iter().any(|a| a == "--loop");
    let Some(path) = args.iter().find(|a| !a.starts_with("--")) else {
        eprintln!("usage: fake-model [--loop] SCRIPT.json");
        std::process::exit(2);
    };
    let script: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let model = FakeModel::start();
    model.push(replies(&script));
    println!("{}", model.url);
    loop {
        std::thread::sleep(std::time::Duration::from_millis(50));
        if looping && model.remaining() == 0 {
            model.push(replies(&script));
        }
    }
}
