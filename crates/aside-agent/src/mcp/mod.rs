//! The MCP servers a client names in `session/new` (or load/resume): started (stdio) or reached
//! (streamable HTTP) with rmcp when the session's first turn needs its tools, their tools offered
//! to the model beside the built-in ones, and a call's result turned into text for the model.
//!
//! A server that cannot be started does not stop the session: the turn reports it (see
//! `turn.rs`) and goes on with the tools it has. Stdio servers are the agent's children in its
//! process group, killed when the session closes or the agent is stopped.

mod http_client;

use crate::model::ToolSpec;
use agent_client_protocol::v1::schema::McpServer;
use rmcp::model::{CallToolRequestParams, ClientConfig, ContentBlock, Implementation, Tool};
use rmcp::service::{RunningService, ServiceExt};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::RoleClient;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::Duration;

/// How long a server may take to start and list its tools.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest tool name model APIs accept.
const MAX_NAME: usize = 64;

/// One tool of a server, as the model sees it.
#[derive(Debug, Clone)]
pub struct McpTool {
    /// Its spec under the model-facing name `mcp__<server>__<tool>`.
    pub spec: ToolSpec,
    /// The server's name (from the client's configuration).
    pub server: String,
    /// Its name on the server.
    pub name: String,
    /// What a call is shown as: `<server>: <title>`.
    pub title: String,
    /// The server marks it as only reading (a hint: calls are still asked for).
    pub read_only: bool,
    index: usize,
}

/// A server that could not be started, and why.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The server's name.
    pub server: String,
    /// The error, for the user.
    pub error: String,
}

struct Connected {
    client: RunningService<RoleClient, ClientConfig>,
    /// The stdio server's process (killed on drop); none for HTTP.
    _child: Option<tokio::process::Child>,
}

/// The started servers of one session and their tools.
#[derive(Default)]
pub struct Servers {
    connected: Vec<Connected>,
    tools: Vec<McpTool>,
    /// Servers that could not be started.
    pub failures: Vec<Failure>,
}

impl Servers {
    /// Starts or reaches every server, at the same time, each within [`START_TIMEOUT`].
    pub async fn connect(configs: &[McpServer], cwd: &Path) -> Servers {
        let started = futures::future::join_all(configs.iter().map(|config| async move {
            match tokio::time::timeout(START_TIMEOUT, connect(config, cwd)).await {
                Ok(result) => result,
                Err(_) => Err(format!(
                    "did not answer within {} s",
                    START_TIMEOUT.as_secs()
                )),
            }
        }))
        .await;
        let mut servers = Servers::default();
        let mut names = HashSet::new();
        for (config, result) in configs.iter().zip(started) {
            let server = server_name(config).to_string();
            match result {
                Ok((connected, tools)) => {
                    let index = servers.connected.len();
                    servers.connected.push(connected);
                    for tool in tools {
                        let model_name = model_name(&server, &tool.name);
                        // Two tools whose names clean up the same: the model sees the first.
                        if names.insert(model_name.clone()) {
                            servers
                                .tools
                                .push(described(&server, index, model_name, tool));
                        }
                    }
                }
                Err(error) => servers.failures.push(Failure { server, error }),
            }
        }
        servers
    }

    /// The tools offered to the model: in plan mode only those the server marks read-only.
    pub fn specs(&self, read_only: bool) -> impl Iterator<Item = ToolSpec> + '_ {
        self.tools
            .iter()
            .filter(move |t| !read_only || t.read_only)
            .map(|t| t.spec.clone())
    }

    /// The tool the model calls `name`.
    pub fn find(&self, name: &str) -> Option<&McpTool> {
        self.tools.iter().find(|t| t.spec.name == name)
    }

    /// Calls `tool` with the model's JSON arguments; the text is for the model either way.
    pub async fn call(&self, tool: &McpTool, arguments: &str) -> Result<String, String> {
        let arguments = match arguments.trim() {
            "" => serde_json::Map::new(),
            text => match serde_json::from_str(text) {
                Ok(serde_json::Value::Object(map)) => map,
                Ok(_) => return Err("arguments must be a JSON object".to_string()),
                Err(e) => return Err(format!("arguments are not valid JSON: {e}")),
            },
        };
        let Some(connected) = self.connected.get(tool.index) else {
            return Err(format!("MCP server `{}` is not running", tool.server));
        };
        let params = CallToolRequestParams::new(tool.name.clone()).with_arguments(arguments);
        let result = connected
            .client
            .call_tool(params)
            .await
            .map_err(|e| format!("MCP server `{}` failed: {e}", tool.server))?;
        let mut parts: Vec<String> = result.content.iter().map(block_text).collect();
        if parts.is_empty() {
            if let Some(structured) = &result.structured_content {
                parts.push(structured.to_string());
            }
        }
        let text = crate::tools::cap_middle(&parts.join("\n"), crate::tools::OUTPUT_CAP);
        if result.is_error == Some(true) {
            Err(text)
        } else {
            Ok(text)
        }
    }
}

fn server_name(config: &McpServer) -> &str {
    match config {
        McpServer::Stdio(s) => &s.name,
        McpServer::Http(s) => &s.name,
        McpServer::Sse(s) => &s.name,
        _ => "unknown",
    }
}

fn client_config() -> ClientConfig {
    ClientConfig::new(
        Default::default(),
        Implementation::new("aside", env!("CARGO_PKG_VERSION")),
    )
}

async fn connect(config: &McpServer, cwd: &Path) -> Result<(Connected, Vec<Tool>), String> {
    let (client, child) = match config {
        McpServer::Stdio(s) => {
            let mut command = tokio::process::Command::new(&s.command);
            command
                .args(&s.args)
                .envs(s.env.iter().map(|v| (&v.name, &v.value)))
                .current_dir(cwd)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                // Its log goes where the agent's goes.
                .stderr(std::process::Stdio::inherit())
                .kill_on_drop(true);
            let mut child = command
                .spawn()
                .map_err(|e| format!("cannot start `{}`: {e}", s.command.display()))?;
            let (Some(stdout), Some(stdin)) = (child.stdout.take(), child.stdin.take()) else {
                return Err("its pipes were not opened".to_string());
            };
            let client = client_config().serve((stdout, stdin)).await.map_err(|e| {
                match child.try_wait() {
                    Ok(Some(status)) => format!("exited during startup ({status})"),
                    _ => format!("did not start an MCP session: {e}"),
                }
            })?;
            (client, Some(child))
        }
        McpServer::Http(s) => {
            let mut headers = HashMap::new();
            for header in &s.headers {
                let name = http::HeaderName::try_from(header.name.as_str())
                    .map_err(|e| format!("header `{}`: {e}", header.name))?;
                let value = http::HeaderValue::try_from(header.value.as_str())
                    .map_err(|e| format!("header `{}`: {e}", header.name))?;
                headers.insert(name, value);
            }
            let transport = StreamableHttpClientTransport::with_client(
                http_client::Http::default(),
                StreamableHttpClientTransportConfig::with_uri(s.url.as_str())
                    .custom_headers(headers),
            );
            let client = client_config()
                .serve(transport)
                .await
                .map_err(|e| format!("cannot reach {}: {e}", s.url))?;
            (client, None)
        }
        _ => return Err("only stdio and HTTP MCP servers are supported".to_string()),
    };
    let tools = client
        .list_all_tools()
        .await
        .map_err(|e| format!("cannot list its tools: {e}"))?;
    Ok((
        Connected {
            client,
            _child: child,
        },
        tools,
    ))
}

/// `mcp__<server>__<tool>`, with what model APIs refuse in a tool name replaced by `_`.
fn model_name(server: &str, tool: &str) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    };
    let mut name = format!("mcp__{}__{}", clean(server), clean(tool));
    name.truncate(MAX_NAME);
    name
}

fn described(server: &str, index: usize, model_name: String, tool: Tool) -> McpTool {
    let read_only = tool
        .annotations
        .as_ref()
        .and_then(|a| a.read_only_hint)
        .unwrap_or(false);
    let shown = tool
        .title
        .clone()
        .or_else(|| tool.annotations.as_ref().and_then(|a| a.title.clone()))
        .unwrap_or_else(|| tool.name.to_string());
    let description = format!(
        "{} (from the MCP server `{server}`)",
        tool.description.as_deref().unwrap_or(&shown)
    );
    McpTool {
        spec: ToolSpec {
            name: model_name.into(),
            description: description.into(),
            parameters: serde_json::Value::Object((*tool.input_schema).clone()),
        },
        server: server.to_string(),
        name: tool.name.to_string(),
        title: format!("{server}: {shown}"),
        read_only,
        index,
    }
}

fn block_text(block: &ContentBlock) -> String {
    match block {
        ContentBlock::Text(t) => t.text.clone(),
        ContentBlock::Image(i) => format!("[image, {}]", i.mime_type),
        ContentBlock::Audio(a) => format!("[audio, {}]", a.mime_type),
        ContentBlock::Resource(r) => match &r.resource {
            rmcp::model::ResourceContents::TextResourceContents { uri, text, .. } => {
                format!("{uri}:\n{text}")
            }
            rmcp::model::ResourceContents::BlobResourceContents { uri, .. } => {
                format!("[binary resource {uri}]")
            }
            _ => "[resource]".to_string(),
        },
        ContentBlock::ResourceLink(link) => format!("[resource {}]", link.uri),
        _ => "[content]".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_names_are_clean_and_short() {
        assert_eq!(model_name("notes", "read"), "mcp__notes__read");
        assert_eq!(
            model_name("my server", "get.item/v2"),
            "mcp__my_server__get_item_v2"
        );
        assert_eq!(model_name("s", &"x".repeat(100)).len(), MAX_NAME);
    }

    fn tool(name: &str, read_only: Option<bool>) -> Tool {
        let mut tool: Tool = serde_json::from_value(serde_json::json!({
            "name": name, "inputSchema": {"type": "object"}
        }))
        .unwrap();
        if let Some(hint) = read_only {
            tool.annotations =
                Some(serde_json::from_value(serde_json::json!({"readOnlyHint": hint})).unwrap());
        }
        tool
    }

    #[test]
    fn plan_mode_offers_only_tools_marked_read_only() {
        let servers = Servers {
            tools: vec![
                described(
                    "docs",
                    0,
                    "mcp__docs__search".into(),
                    tool("search", Some(true)),
                ),
                described(
                    "docs",
                    0,
                    "mcp__docs__write".into(),
                    tool("write", Some(false)),
                ),
                described("docs", 0, "mcp__docs__other".into(), tool("other", None)),
            ],
            ..Servers::default()
        };
        let names = |read_only| -> Vec<String> {
            servers
                .specs(read_only)
                .map(|s| s.name.to_string())
                .collect()
        };
        assert_eq!(names(true), ["mcp__docs__search"]);
        assert_eq!(names(false).len(), 3);
        let found = servers.find("mcp__docs__write").unwrap();
        assert_eq!(
            (found.title.as_str(), found.name.as_str()),
            ("docs: write", "write")
        );
        assert!(found
            .spec
            .description
            .ends_with("(from the MCP server `docs`)"));
    }
}
