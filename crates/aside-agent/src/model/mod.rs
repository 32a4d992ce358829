//! Talking to a model endpoint: the provider-neutral conversation, and a streaming client for
//! OpenAI-compatible Chat Completions and Anthropic Messages.

mod anthropic;
mod openai;
mod stream;

use stream::read_reply;
#[cfg(test)]
use stream::read_stream;

use aside_core::{ModelConfig, ProviderKind};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// One message of the conversation the model sees, in a provider-neutral shape.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "role", rename_all = "snake_case")]
pub enum Message {
    /// What the user (or the compactor, for summaries) said.
    User {
        /// Plain text.
        text: String,
    },
    /// What the model answered: text and the tools it asked to run.
    Assistant {
        /// Text of the reply, possibly empty.
        text: String,
        /// Tool calls, in the order the model made them.
        #[serde(default)]
        tool_calls: Vec<ToolUse>,
    },
    /// The result of one tool call.
    ToolResult {
        /// The id of the [`ToolUse`] this answers.
        call_id: String,
        /// What the tool returned, or the error the model should read.
        content: String,
        /// Whether the tool failed.
        #[serde(default)]
        is_error: bool,
    },
}

/// A tool call the model made.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ToolUse {
    /// The provider's id for the call.
    pub id: String,
    /// The tool's name.
    pub name: String,
    /// The arguments as the model wrote them: JSON text, which may be invalid.
    pub arguments: String,
}

/// A piece of a reply as it streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delta<'a> {
    /// Answer text.
    Text(&'a str),
    /// Reasoning text, from models that stream it (`reasoning_content`, `reasoning`, Anthropic
    /// `thinking`).
    Thought(&'a str),
}

/// Where streamed pieces go.
pub type OnDelta<'a> = dyn FnMut(Delta<'_>) + Send + 'a;

/// A tool offered to the model.
#[derive(Debug, Clone)]
pub struct ToolSpec {
    /// Its name.
    pub name: std::borrow::Cow<'static, str>,
    /// What it does, for the model.
    pub description: std::borrow::Cow<'static, str>,
    /// JSON Schema of its arguments.
    pub parameters: serde_json::Value,
}

/// Everything one model call needs.
pub struct ChatRequest<'a> {
    /// System prompt.
    pub system: &'a str,
    /// The conversation so far.
    pub messages: &'a [Message],
    /// Tools the model may call.
    pub tools: &'a [ToolSpec],
}

/// Why the model stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    /// It finished its answer (possibly with tool calls).
    Stop,
    /// It hit the output token limit.
    Length,
    /// It refused.
    Refusal,
}

/// The complete reply of one model call.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatReply {
    /// All text it streamed.
    pub text: String,
    /// Tool calls it made.
    pub tool_calls: Vec<ToolUse>,
    /// Why it stopped.
    pub finish: FinishReason,
    /// Tokens of the prompt, when the endpoint reported them.
    pub input_tokens: Option<u64>,
    /// Tokens of the reply, when the endpoint reported them.
    pub output_tokens: Option<u64>,
    /// Of the prompt's tokens, those read from the provider's cache.
    pub cached_tokens: Option<u64>,
    /// Of the reply's tokens, those spent reasoning.
    pub reasoning_tokens: Option<u64>,
}

/// Why a model call failed. Every message names the endpoint and says what to check.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// Nothing is configured and no local Ollama answered.
    #[error(
        "no model endpoint is configured. Set ASIDE_PROVIDER (openai|anthropic), ASIDE_BASE_URL, \
         ASIDE_MODEL and ASIDE_API_KEY, or the [model] table in {config_file}; or start Ollama on \
         127.0.0.1:11434"
    )]
    NotConfigured {
        /// The user config file to edit.
        config_file: String,
    },
    /// Part of the settings is missing.
    #[error("the model endpoint is not fully configured: {missing} is not set (environment variable {env}, or `{key}` under [model] in {config_file})")]
    Incomplete {
        /// What is missing, in words.
        missing: &'static str,
        /// The environment variable that sets it.
        env: &'static str,
        /// The config key that sets it.
        key: &'static str,
        /// The user config file.
        config_file: String,
    },
    /// The endpoint could not be reached at all.
    #[error("cannot reach the model endpoint {url} after {attempts} attempt(s): {reason}. Check that the server is running and ASIDE_BASE_URL is right")]
    Unreachable {
        /// The URL called.
        url: String,
        /// How many times it was tried.
        attempts: u32,
        /// The last transport error.
        reason: String,
    },
    /// The endpoint answered with an error status.
    #[error("the model endpoint {url} answered {status}: {body}")]
    Status {
        /// The URL called.
        url: String,
        /// HTTP status.
        status: u16,
        /// The start of the response body, which usually says why.
        body: String,
    },
    /// The endpoint went silent.
    #[error("the model endpoint {url} sent nothing for {secs} s (request timeout; raise ASIDE_REQUEST_TIMEOUT for slow models)")]
    Timeout {
        /// The URL called.
        url: String,
        /// The timeout.
        secs: u64,
    },
    /// The stream broke or carried something unparseable.
    #[error("the model endpoint {url} sent a broken stream: {reason}")]
    Stream {
        /// The URL called.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The call was cancelled by the client.
    #[error("cancelled")]
    Cancelled,
}

/// A configured, ready model endpoint.
#[derive(Clone)]
pub struct ModelClient {
    http: reqwest::Client,
    provider: ProviderKind,
    base_url: String,
    model: String,
    api_key: Option<String>,
    /// Most tokens one reply may have.
    pub max_output_tokens: u64,
    /// The context window, in tokens.
    pub context_window: u64,
    timeout: Duration,
    max_retries: u32,
}

impl std::fmt::Debug for ModelClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The API key is a secret: never printed.
        f.debug_struct("ModelClient")
            .field("provider", &self.provider)
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .finish()
    }
}

const OLLAMA_DEFAULT: &str = "127.0.0.1:11434";

impl ModelClient {
    /// Builds a client from the user's settings. When nothing is set, uses a local Ollama if one
    /// answers (at `$OLLAMA_HOST` or 127.0.0.1:11434).
    /// The same endpoint with another model.
    pub fn with_model(&self, model: &str) -> ModelClient {
        ModelClient {
            model: model.to_string(),
            ..self.clone()
        }
    }

    /// The endpoint and model this client talks to.
    pub fn base_and_model(&self) -> (&str, &str) {
        (&self.base_url, &self.model)
    }

    /// The models the endpoint lists (`GET …/models`), within 10 s: Err((reachable, why))
    /// when it lists none (`reachable`: it answered, but not with a list).
    pub async fn list_models(&self) -> Result<Vec<String>, (bool, String)> {
        let url = match self.provider {
            ProviderKind::Openai => format!("{}/models", self.base_url.trim_end_matches('/')),
            ProviderKind::Anthropic => format!("{}/v1/models", self.base_url.trim_end_matches('/')),
        };
        let mut request = self.http.get(&url).timeout(Duration::from_secs(10));
        if let Some(key) = &self.api_key {
            request = match self.provider {
                ProviderKind::Openai => request.bearer_auth(key),
                ProviderKind::Anthropic => request
                    .header("x-api-key", key)
                    .header("anthropic-version", "2023-06-01"),
            };
        }
        let response = request
            .send()
            .await
            .map_err(|e| (false, format!("{url}: {}", transport_reason(&e))))?;
        let status = response.status();
        if !status.is_success() {
            return Err((true, format!("{url} answered {status}")));
        }
        let body: serde_json::Value = response
            .json()
            .await
            .map_err(|e| (true, format!("{url} did not answer JSON: {e}")))?;
        Ok(body["data"]
            .as_array()
            .or_else(|| body["models"].as_array())
            .into_iter()
            .flatten()
            .filter_map(|m| m["id"].as_str().or_else(|| m["name"].as_str()))
            .map(str::to_string)
            .collect())
    }

    pub async fn from_config(config: &ModelConfig) -> Result<ModelClient, ModelError> {
        let config_file = aside_core::paths::user_config_file().display().to_string();
        let timeout = Duration::from_secs(config.request_timeout_secs.unwrap_or(300).max(1));
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .tcp_nodelay(true)
            .build()
            .map_err(|e| ModelError::Unreachable {
                url: String::new(),
                attempts: 0,
                reason: e.to_string(),
            })?;
        let (provider, base_url, model) = if config.is_unset() {
            match detect_ollama(&http).await {
                Some(found) => found,
                None => return Err(ModelError::NotConfigured { config_file }),
            }
        } else {
            let provider = config.provider.unwrap_or(ProviderKind::Openai);
            let base_url = match (&config.base_url, provider) {
                (Some(url), _) => url.clone(),
                (None, ProviderKind::Anthropic) => "https://api.anthropic.com".to_string(),
                (None, ProviderKind::Openai) => {
                    return Err(ModelError::Incomplete {
                        missing: "the base URL",
                        env: "ASIDE_BASE_URL",
                        key: "base_url",
                        config_file,
                    })
                }
            };
            let Some(model) = config.model.clone() else {
                return Err(ModelError::Incomplete {
                    missing: "the model name",
                    env: "ASIDE_MODEL",
                    key: "model",
                    config_file,
                });
            };
            (provider, base_url, model)
        };
        Ok(ModelClient {
            http,
            provider,
            base_url: base_url.trim_end_matches('/').to_string(),
            model,
            api_key: config.api_key.clone(),
            max_output_tokens: config.max_output_tokens.unwrap_or(8192),
            context_window: config.context_window.unwrap_or(128_000),
            timeout,
            max_retries: config.max_retries.unwrap_or(3),
        })
    }

    /// The model's name.
    pub fn model(&self) -> &str {
        &self.model
    }

    fn endpoint(&self) -> String {
        match self.provider {
            ProviderKind::Openai => format!("{}/chat/completions", self.base_url),
            ProviderKind::Anthropic => format!("{}/v1/messages", self.base_url),
        }
    }

    /// Streams one reply. `on_delta` gets each piece of text as it arrives. Retries on 429, 5xx
    /// and dropped connections while nothing has been streamed yet.
    pub async fn chat(
        &self,
        request: &ChatRequest<'_>,
        cancel: &CancellationToken,
        on_delta: &mut OnDelta<'_>,
    ) -> Result<ChatReply, ModelError> {
        let url = self.endpoint();
        let body = match self.provider {
            ProviderKind::Openai => {
                openai::request_body(&self.model, self.max_output_tokens, request)
            }
            ProviderKind::Anthropic => {
                anthropic::request_body(&self.model, self.max_output_tokens, request)
            }
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut streamed = false;
            let mut forward = |d: Delta<'_>| {
                streamed = true;
                on_delta(d)
            };
            let result = tokio::select! {
                _ = cancel.cancelled() => return Err(ModelError::Cancelled),
                r = self.attempt(&url, &body, &mut forward) => r,
            };
            let retryable = match &result {
                Err(Attempt::Retry { .. }) => !streamed,
                _ => false,
            };
            match result {
                Ok(reply) => return Ok(reply),
                Err(Attempt::Fatal(e)) => return Err(e),
                Err(Attempt::Retry { error, after }) => {
                    if !retryable || attempt > self.max_retries {
                        return Err(match error {
                            RetryError::Transport(reason) => ModelError::Unreachable {
                                url,
                                attempts: attempt,
                                reason,
                            },
                            RetryError::Model(e) => e,
                        });
                    }
                    let backoff = after.unwrap_or_else(|| {
                        Duration::from_millis(250u64.saturating_mul(1 << attempt.min(6)))
                    });
                    tracing::warn!(attempt, ?backoff, "model request failed, retrying");
                    tokio::select! {
                        _ = cancel.cancelled() => return Err(ModelError::Cancelled),
                        _ = tokio::time::sleep(backoff.min(Duration::from_secs(30))) => {}
                    }
                }
            }
        }
    }

    async fn attempt(
        &self,
        url: &str,
        body: &serde_json::Value,
        on_delta: &mut OnDelta<'_>,
    ) -> Result<ChatReply, Attempt> {
        let mut builder = self.http.post(url).json(body);
        builder = match self.provider {
            ProviderKind::Openai => match &self.api_key {
                Some(key) => builder.bearer_auth(key),
                None => builder,
            },
            ProviderKind::Anthropic => {
                let builder = builder.header("anthropic-version", "2023-06-01");
                match &self.api_key {
                    Some(key) => builder.header("x-api-key", key),
                    None => builder,
                }
            }
        };
        let timeout = |url: &str| ModelError::Timeout {
            url: url.to_string(),
            secs: self.timeout.as_secs(),
        };
        let response = match tokio::time::timeout(self.timeout, builder.send()).await {
            Err(_) => return Err(Attempt::Fatal(timeout(url))),
            Ok(Err(e)) => {
                return Err(Attempt::Retry {
                    error: RetryError::Transport(transport_reason(&e)),
                    after: None,
                })
            }
            Ok(Ok(r)) => r,
        };
        let status = response.status();
        if !status.is_success() {
            let after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let text = error_body(response, self.timeout).await;
            let error = ModelError::Status {
                url: url.to_string(),
                status: status.as_u16(),
                body: text.chars().take(500).collect(),
            };
            return if status.as_u16() == 429 || status.is_server_error() {
                Err(Attempt::Retry {
                    error: RetryError::Model(error),
                    after,
                })
            } else {
                Err(Attempt::Fatal(error))
            };
        }
        read_reply(
            self.provider,
            url,
            response.bytes_stream(),
            self.timeout,
            on_delta,
        )
        .await
    }
}

#[cfg(test)]
mod stream_tests;

enum RetryError {
    Transport(String),
    Model(ModelError),
}

enum Attempt {
    Retry {
        error: RetryError,
        after: Option<Duration>,
    },
    Fatal(ModelError),
}

/// The start of an error response's body, which usually says why. Bounded in time and size: an
/// endpoint that stalls or sends without end after its status cannot hold the turn.
async fn error_body(response: reqwest::Response, timeout: Duration) -> String {
    const CAP: usize = 16 * 1024;
    let mut bytes = Vec::new();
    let mut body = response.bytes_stream();
    let read = async {
        while let Some(Ok(chunk)) = body.next().await {
            bytes.extend_from_slice(&chunk);
            if bytes.len() >= CAP {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(timeout, read).await;
    String::from_utf8_lossy(&bytes).into_owned()
}

/// At most `cap` characters of `text`, for error messages that quote what an endpoint sent.
fn excerpt(text: &str, cap: usize) -> String {
    match text.char_indices().nth(cap) {
        None => text.to_string(),
        Some((end, _)) => format!("{}… ({} bytes in all)", &text[..end], text.len()),
    }
}

/// The innermost cause of a transport error: "connection refused" says more than "error sending request".
fn transport_reason(error: &reqwest::Error) -> String {
    let mut reason = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(s) = source {
        reason = s.to_string();
        source = s.source();
    }
    reason
}

/// Looks for a local Ollama; answers with the OpenAI-compatible endpoint and its first model.
async fn detect_ollama(http: &reqwest::Client) -> Option<(ProviderKind, String, String)> {
    let host = std::env::var("OLLAMA_HOST")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| OLLAMA_DEFAULT.to_string());
    let base = if host.starts_with("http://") || host.starts_with("https://") {
        host.trim_end_matches('/').to_string()
    } else {
        format!("http://{}", host.trim_end_matches('/'))
    };
    let response = http
        .get(format!("{base}/api/tags"))
        .timeout(Duration::from_millis(500))
        .send()
        .await
        .ok()?;
    let tags: serde_json::Value = response.json().await.ok()?;
    let model = tags["models"].as_array()?.first()?["name"]
        .as_str()?
        .to_string();
    Some((ProviderKind::Openai, format!("{base}/v1"), model))
}
