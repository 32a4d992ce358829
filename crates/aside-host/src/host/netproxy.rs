//! The network side of a session's sandbox when `[sandbox] network` lists hosts: an HTTP
//! proxy on a Unix socket (bound into the sandbox, where `aside sandbox-net` carries the
//! command's connections to it) that connects only to the listed hosts, and says which
//! others were tried.

use aside_core::sandbox::net;
use std::path::Path;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpStream, UnixListener, UnixStream};

/// Serves the proxy on `socket` for as long as the returned task runs; each host refused is
/// given to `blocked` once (`host:port`).
pub(crate) fn serve(
    socket: &Path,
    allow: Vec<String>,
    blocked: impl Fn(String) + Send + Sync + 'static,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let _ = std::fs::remove_file(socket);
    let listener = UnixListener::bind(socket)?;
    let allow = std::sync::Arc::new(allow);
    let blocked = std::sync::Arc::new(blocked);
    let said = std::sync::Arc::new(std::sync::Mutex::new(std::collections::HashSet::new()));
    Ok(tokio::spawn(async move {
        while let Ok((conn, _)) = listener.accept().await {
            let (allow, blocked, said) = (allow.clone(), blocked.clone(), said.clone());
            tokio::spawn(async move {
                if let Err(Refused(target)) = carry(conn, &allow).await {
                    if said.lock().is_ok_and(|mut s| s.insert(target.clone())) {
                        blocked(target);
                    }
                }
            });
        }
    }))
}

/// A connection to a host the list does not name.
struct Refused(String);

/// One proxied connection: CONNECT host:port, or a plain HTTP request in absolute form.
async fn carry(mut conn: UnixStream, allow: &[String]) -> Result<(), Refused> {
    let Some((head, rest)) = read_head(&mut conn).await else {
        return Ok(());
    };
    let mut words = head.split_whitespace();
    let (Some(method), Some(target)) = (words.next(), words.next()) else {
        let _ = answer(&mut conn, "400 Bad Request", "not an HTTP proxy request\n").await;
        return Ok(());
    };
    let connect = method.eq_ignore_ascii_case("CONNECT");
    let Some((host, port)) = (if connect {
        target
            .rsplit_once(':')
            .and_then(|(h, p)| Some((h.to_string(), p.parse::<u16>().ok()?)))
    } else {
        absolute_target(target)
    }) else {
        let _ = answer(
            &mut conn,
            "400 Bad Request",
            "give a full URL (http://host/…) or CONNECT host:port\n",
        )
        .await;
        return Ok(());
    };
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    if !net::allows(allow, &host, port) {
        let why = format!(
            "aside's sandbox blocked a connection to {host}:{port}: it is not in [sandbox] network (the user's config lists the hosts commands may reach)\n"
        );
        let _ = answer(&mut conn, "403 Forbidden", &why).await;
        return Err(Refused(format!("{host}:{port}")));
    }
    let upstream = tokio::time::timeout(
        std::time::Duration::from_secs(15),
        TcpStream::connect((host.as_str(), port)),
    )
    .await;
    let mut upstream = match upstream {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            let _ = answer(
                &mut conn,
                "502 Bad Gateway",
                &format!("cannot reach {host}:{port}: {e}\n"),
            )
            .await;
            return Ok(());
        }
        Err(_) => {
            let _ = answer(
                &mut conn,
                "504 Gateway Timeout",
                &format!("{host}:{port} did not answer\n"),
            )
            .await;
            return Ok(());
        }
    };
    if connect {
        if conn
            .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
            .await
            .is_err()
        {
            return Ok(());
        }
    } else if upstream.write_all(head.as_bytes()).await.is_err() {
        return Ok(());
    }
    if !rest.is_empty() && upstream.write_all(&rest).await.is_err() {
        return Ok(());
    }
    let _ = tokio::io::copy_bidirectional(&mut conn, &mut upstream).await;
    Ok(())
}

/// `http://host[:port]/…` as host and port.
fn absolute_target(url: &str) -> Option<(String, u16)> {
    let rest = url.strip_prefix("http://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    Some(match authority.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() && !p.contains(']') => (h.to_string(), p.parse().ok()?),
        _ => (authority.to_string(), 80),
    })
}

/// The request's head (through the blank line, 16 KiB at most) and what came after it.
async fn read_head(conn: &mut UnixStream) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buf.split_off(end + 4);
            return Some((String::from_utf8_lossy(&buf).into_owned(), rest));
        }
        if buf.len() > 16 * 1024 {
            return None;
        }
        let n = conn.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

async fn answer(conn: &mut UnixStream, status: &str, body: &str) -> std::io::Result<()> {
    let reply = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    conn.write_all(reply.as_bytes()).await
}

#[cfg(test)]
mod tests {
    #[test]
    fn plain_requests_name_their_host() {
        assert_eq!(
            super::absolute_target("http://example.com:8080/x"),
            Some(("example.com".into(), 8080))
        );
        assert_eq!(
            super::absolute_target("http://example.com/x?y"),
            Some(("example.com".into(), 80))
        );
        assert_eq!(super::absolute_target("/x"), None);
    }
}
