//! The guard in front of every request: Host, token and Origin checks, and security headers.

use crate::AppState;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The Content-Security-Policy of every response: only our own scripts, styles and connections.
pub const CSP: &str =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

pub(crate) fn same(a: &str, b: &str) -> bool {
    // Constant time in the length of the secret.
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn ours(state: &AppState, host: &str) -> bool {
    let port = state.port;
    host == format!("127.0.0.1:{port}")
        || host == format!("localhost:{port}")
        || host == format!("[::1]:{port}")
        || state
            .listen
            .is_some_and(|ip| host == std::net::SocketAddr::new(ip, port).to_string())
}

fn deny(status: StatusCode, message: &str) -> Response {
    let mut response = (status, message.to_string()).into_response();
    secure_headers(response.headers_mut());
    response
}

fn secure_headers(headers: &mut HeaderMap) {
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
}

/// Checks every request before it reaches a handler.
pub async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    // DNS rebinding: a page of another site resolving to 127.0.0.1 still sends its own Host.
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    if !ours(&state, host) {
        return deny(StatusCode::FORBIDDEN, "forbidden: unexpected Host header");
    }
    // The token in the URL, once: the page takes it from the fragment (which no request
    // carries) into its own origin's storage and sends it as a bearer token. No cookie: a
    // browser sends cookies to every server on 127.0.0.1 whatever its port (an agent's dev
    // server among them), and a second `aside ui` would overwrite the first's.
    let query_token = request
        .uri()
        .query()
        .unwrap_or_default()
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == "token")
        .map(|(_, v)| v.to_string());
    if let Some(token) = query_token {
        if !same(&token, &state.token) {
            return deny(
                StatusCode::UNAUTHORIZED,
                "unauthorized: wrong token; open the URL that `aside ui` printed",
            );
        }
        let path = request.uri().path().to_string();
        let mut response = Response::builder()
            .status(StatusCode::SEE_OTHER)
            .header(header::LOCATION, format!("{path}#token={}", state.token))
            .body(Body::empty())
            .unwrap_or_default();
        secure_headers(response.headers_mut());
        return response;
    }
    // The pages and their scripts hold no data: everything comes through the API.
    let path = request.uri().path();
    if !path.starts_with("/api/") {
        let mut response = next.run(request).await;
        secure_headers(response.headers_mut());
        return response;
    }
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string);
    let by_bearer = bearer.as_deref().is_some_and(|t| same(t, &state.token));
    if !by_bearer {
        return deny(
            StatusCode::UNAUTHORIZED,
            "unauthorized: open the URL that `aside ui` printed (it carries the access token), or send it as `Authorization: Bearer TOKEN`",
        );
    }
    // CSRF: a mutating request from a browser names its Origin; only ours may write.
    if !matches!(*request.method(), Method::GET | Method::HEAD) {
        let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
        let allowed = match origin {
            Some(origin) => origin
                .strip_prefix("http://")
                .is_some_and(|host| ours(&state, host)),
            // Without an Origin: a non-browser client, which has the token.
            None => true,
        };
        if !allowed {
            return deny(StatusCode::FORBIDDEN, "forbidden: cross-origin request");
        }
    }
    let mut response = next.run(request).await;
    secure_headers(response.headers_mut());
    response
}
