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
    // A sandboxed command cannot take every file descriptor of the host: so many connections
    // at once, each to say where it goes within a few seconds.
    let open = std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    Ok(tokio::spawn(async move {
        loop {
            let conn = match listener.accept().await {
                Ok((conn, _)) => conn,
                // Out of descriptors for now: the proxy stays, and tries again.
                Err(_) => {
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            };
            let Ok(permit) = open.clone().try_acquire_owned() else {
                continue;
            };
            let (allow, blocked, said) = (allow.clone(), blocked.clone(), said.clone());
            tokio::spawn(async move {
                let _permit = permit;
                if let Err(Refused(target)) = carry(conn, &allow).await {
                    if said.lock().is_ok_and(|mut s| s.insert(target.clone())) {
                        blocked(target);
                    }
                }
            });
        }
    }))
}

/// Connections the proxy carries at once.
const MAX_CONNECTIONS: usize = 256;

/// How long a connection may take to say where it goes.
const HEAD_WITHIN: std::time::Duration = std::time::Duration::from_secs(10);

/// A plain request's head as the one request to `host:port`: its target in origin form, its
/// `Host` the host that was checked, no proxy headers, the connection closed after it (a second
/// request on it could name another host).
fn origin_form(head: &str, host: &str, port: u16) -> String {
    let mut lines = head.split("\r\n");
    let first = lines.next().unwrap_or_default();
    let mut words = first.splitn(3, ' ');
    let method = words.next().unwrap_or("GET");
    let target = words.next().unwrap_or("/");
    let version = words.next().unwrap_or("HTTP/1.1");
    let path = match target
        .get(7..)
        .filter(|_| target[..7].eq_ignore_ascii_case("http://"))
    {
        Some(rest) => rest.find(['/', '?']).map_or("/", |i| &rest[i..]),
        None => target,
    };
    let path = if path.starts_with('?') {
        format!("/{path}")
    } else {
        path.to_string()
    };
    let name = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    let mut out = format!("{method} {path} {version}\r\n");
    out.push_str(&if port == 80 {
        format!("Host: {name}\r\n")
    } else {
        format!("Host: {name}:{port}\r\n")
    });
    for line in lines.filter(|l| !l.is_empty()) {
        let field = line
            .split(':')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        if field == "host"
            || field == "connection"
            || field == "keep-alive"
            || field.starts_with("proxy-")
        {
            continue;
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str("Connection: close\r\n\r\n");
    out
}

/// A connection to a host the list does not name.
struct Refused(String);

/// One proxied connection: CONNECT host:port, or a plain HTTP request in absolute form.
async fn carry(mut conn: UnixStream, allow: &[String]) -> Result<(), Refused> {
    let Ok(Some((head, rest))) = tokio::time::timeout(HEAD_WITHIN, read_head(&mut conn)).await
    else {
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
    } else if upstream
        .write_all(origin_form(&head, &host, port).as_bytes())
        .await
        .is_err()
    {
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
        match net::head_in(&mut buf) {
            net::Head::Complete(head, rest) => return Some((head, rest)),
            net::Head::TooLong => return None,
            net::Head::Partial => {}
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
        // Sent on as the one request to the host that was checked.
        let sent = super::origin_form(
            "GET http://allowed.example/x?y HTTP/1.1\r\nHost: attacker.example\r\nProxy-Authorization: z\r\nAccept: */*\r\nConnection: keep-alive\r\n\r\n",
            "allowed.example",
            80,
        );
        assert_eq!(
            sent,
            "GET /x?y HTTP/1.1\r\nHost: allowed.example\r\nAccept: */*\r\nConnection: close\r\n\r\n"
        );
    }
}
