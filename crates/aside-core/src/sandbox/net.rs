//! The network a sandbox is given when `[sandbox] network` lists hosts: inside, a bridge
//! (`aside sandbox-net`, run by bubblewrap before the command) listens on the sandbox's own
//! loopback — an HTTP proxy for the listed hosts (`HTTPS_PROXY` and the like point at it) and
//! each listed loopback port as itself — and carries every connection over a Unix socket bound
//! into the sandbox to the session's host, which checks the host against the same list before
//! it connects anywhere. The check outside is the one that counts: a command that kills the
//! bridge is left with no way out at all.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::Path;

/// Where the host's proxy socket is inside the sandbox (its private /tmp).
pub const SOCKET_INSIDE: &str = "/tmp/.aside-net.sock";

/// The hidden subcommand of `aside` and `aside-host` that runs the bridge.
pub const SUBCOMMAND: &str = "sandbox-net";

/// An entry of `[sandbox] network`: `host`, `*.domain` (its subdomains) or either with
/// `:port`. Err says what is wrong with it.
pub fn check_entry(entry: &str) -> Result<(), String> {
    let (host, port) = split(entry);
    let name = host.strip_prefix("*.").unwrap_or(host);
    let fine = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_');
    if !fine || port == Some(None) {
        return Err(format!(
            "sandbox.network has `{entry}`: give host names (github.com), *.domain for its subdomains, or host:port"
        ));
    }
    if is_loopback(name) && port.is_none() {
        return Err(format!(
            "sandbox.network has `{entry}`: a loopback address needs its port ({entry}:8080)"
        ));
    }
    Ok(())
}

/// `host[:port]` split; the port is `Some(None)` when it is not a number.
fn split(entry: &str) -> (&str, Option<Option<u16>>) {
    match entry.rsplit_once(':') {
        Some((host, port)) => (host, Some(port.parse().ok())),
        None => (entry, None),
    }
}

/// Whether `host` names this machine's loopback.
pub fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
        || host == "::1"
}

/// Whether a connection to `host`:`port` is allowed by `allow` (entries as [`check_entry`]
/// takes them; names are compared without case, loopback names as one).
pub fn allows(allow: &[String], host: &str, port: u16) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    allow.iter().any(|entry| {
        let (pattern, want_port) = split(entry);
        if let Some(want) = want_port {
            if want != Some(port) {
                return false;
            }
        }
        match pattern.strip_prefix("*.") {
            Some(domain) => is_subdomain(host, domain),
            None => {
                pattern.eq_ignore_ascii_case(host) || (is_loopback(pattern) && is_loopback(host))
            }
        }
    })
}

/// Whether allow-list entry `allowed` covers entry `asked` (a repository's): the same hosts or
/// fewer, on the same port or any the entry allows.
pub fn covers(allowed: &str, asked: &str) -> bool {
    let ((a_host, a_port), (b_host, b_port)) = (split(allowed), split(asked));
    if a_port.is_some() && a_port != b_port {
        return false;
    }
    let b_name = b_host.strip_prefix("*.").unwrap_or(b_host);
    match a_host.strip_prefix("*.") {
        // `*.x` covers its subdomains, and `*.x` itself.
        Some(domain) => is_subdomain(b_name, domain) || a_host.eq_ignore_ascii_case(b_host),
        None => !b_host.starts_with("*.") && a_host.eq_ignore_ascii_case(b_host),
    }
}

/// Whether `host` is a subdomain of `domain` (`a.b.x.org` of `x.org`; not `x.org` itself),
/// without case.
fn is_subdomain(host: &str, domain: &str) -> bool {
    let (host, domain) = (host.to_ascii_lowercase(), domain.to_ascii_lowercase());
    host.strip_suffix(&domain)
        .is_some_and(|head| head.len() > 1 && head.ends_with('.'))
}

/// The loopback ports `allow` lists: forwarded into the sandbox as themselves.
pub fn forwarded_ports(allow: &[String]) -> Vec<u16> {
    let mut ports: Vec<u16> = allow
        .iter()
        .filter_map(|entry| match split(entry) {
            (host, Some(Some(port))) if is_loopback(host) => Some(port),
            _ => None,
        })
        .collect();
    ports.sort_unstable();
    ports.dedup();
    ports
}

/// Whether `allow` names hosts beyond the loopback (reached through the proxy).
pub fn needs_proxy(allow: &[String]) -> bool {
    allow.iter().any(|entry| !is_loopback(split(entry).0))
}

/// The bridge: `sandbox-net --socket PATH [--forward PORT]… [--proxy] -- PROGRAM ARGS…`, run
/// inside the sandbox. Starts the listeners, runs the program with the proxy variables set and
/// exits with its status.
pub fn bridge_main(args: &[String]) -> i32 {
    let mut socket = None;
    let mut forwards = Vec::new();
    let mut proxy = false;
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--socket" => socket = rest.next().cloned(),
            "--forward" => match rest.next().and_then(|p| p.parse::<u16>().ok()) {
                Some(port) => forwards.push(port),
                None => return usage(),
            },
            "--proxy" => proxy = true,
            "--" => break,
            _ => return usage(),
        }
    }
    let argv: Vec<&String> = rest.collect();
    let (Some(socket), Some((program, args))) = (socket, argv.split_first()) else {
        return usage();
    };
    let socket = std::path::PathBuf::from(socket);
    for port in forwards {
        // A port the command's own server already took stays the command's.
        if let Ok(listener) = TcpListener::bind(("127.0.0.1", port)) {
            let socket = socket.clone();
            std::thread::spawn(move || serve(listener, &socket, Some(port)));
        }
    }
    let mut command = std::process::Command::new(program);
    command.args(args);
    if proxy {
        match TcpListener::bind(("127.0.0.1", 0)).and_then(|l| Ok((l.local_addr()?, l))) {
            Ok((addr, listener)) => {
                let socket = socket.clone();
                std::thread::spawn(move || serve(listener, &socket, None));
                let url = format!("http://{addr}");
                for var in [
                    "HTTP_PROXY",
                    "HTTPS_PROXY",
                    "ALL_PROXY",
                    "http_proxy",
                    "https_proxy",
                    "all_proxy",
                ] {
                    command.env(var, &url);
                }
                // Loopback is reached as itself (the listed ports); Node 24 honours the
                // variables only when told to.
                command
                    .env("NO_PROXY", "localhost,127.0.0.1,::1")
                    .env("no_proxy", "localhost,127.0.0.1,::1")
                    .env("NODE_USE_ENV_PROXY", "1");
            }
            Err(e) => eprintln!("aside sandbox: no proxy for this command ({e}); only the listed loopback ports are reachable"),
        }
    }
    match command.status() {
        Ok(status) => {
            use std::os::unix::process::ExitStatusExt as _;
            status
                .code()
                .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
        }
        Err(e) => {
            eprintln!("aside sandbox: cannot run {program}: {e}");
            127
        }
    }
}

fn usage() -> i32 {
    eprintln!(
        "usage (internal): {SUBCOMMAND} --socket PATH [--forward PORT]… [--proxy] -- PROGRAM ARGS…"
    );
    2
}

/// Accepts connections on `listener` and carries each to the host's socket: as it is for the
/// proxy, or as a CONNECT to 127.0.0.1:`port` for a forwarded port.
fn serve(listener: TcpListener, socket: &Path, port: Option<u16>) {
    for conn in listener.incoming().flatten() {
        let socket = socket.to_path_buf();
        std::thread::spawn(move || {
            let Ok(mut outside) = UnixStream::connect(&socket) else {
                return;
            };
            if let Some(port) = port {
                let ask =
                    format!("CONNECT 127.0.0.1:{port} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n");
                if outside.write_all(ask.as_bytes()).is_err() {
                    return;
                }
                match read_head(&mut outside) {
                    Some((head, _)) if head.starts_with("HTTP/1.1 200") => {}
                    _ => {
                        eprintln!("aside sandbox: 127.0.0.1:{port} could not be reached");
                        return;
                    }
                }
            }
            splice(conn, outside);
        });
    }
}

/// What the bytes read so far hold of an HTTP head.
pub enum Head {
    /// The head (through the blank line) and the bytes after it.
    Complete(String, Vec<u8>),
    /// Over 16 KiB without its end: not a head this side reads.
    TooLong,
    /// Not all of it yet.
    Partial,
}

/// The HTTP head in `buf`, if it has come whole (the one framing rule both sides of the
/// sandbox's network use).
pub fn head_in(buf: &mut Vec<u8>) -> Head {
    if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
        let rest = buf.split_off(end + 4);
        return Head::Complete(String::from_utf8_lossy(buf).into_owned(), rest);
    }
    if buf.len() > 16 * 1024 {
        Head::TooLong
    } else {
        Head::Partial
    }
}

/// Reads an HTTP head (up to the blank line, 16 KiB at most): the head as text and the bytes
/// read past it.
pub fn read_head(from: &mut impl Read) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    loop {
        match head_in(&mut buf) {
            Head::Complete(head, rest) => return Some((head, rest)),
            Head::TooLong => return None,
            Head::Partial => {}
        }
        let n = from.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Copies both ways until each side has said all it will.
fn splice(tcp: TcpStream, unix: UnixStream) {
    let (Ok(mut tcp_in), Ok(mut unix_out)) = (tcp.try_clone(), unix.try_clone()) else {
        return;
    };
    let up = std::thread::spawn(move || {
        let _ = std::io::copy(&mut tcp_in, &mut unix_out);
        let _ = unix_out.shutdown(std::net::Shutdown::Write);
    });
    let (mut unix_in, mut tcp_out) = (unix, tcp);
    let _ = std::io::copy(&mut unix_in, &mut tcp_out);
    let _ = tcp_out.shutdown(std::net::Shutdown::Write);
    let _ = up.join();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_match_exactly_or_as_subdomains_and_ports_when_given() {
        let allow: Vec<String> = ["github.com", "*.example.internal", "127.0.0.1:8080"]
            .map(String::from)
            .to_vec();
        assert!(allows(&allow, "github.com", 443));
        assert!(allows(&allow, "GitHub.com", 80));
        assert!(!allows(&allow, "api.github.com", 443));
        assert!(allows(&allow, "a.b.example.internal", 443));
        assert!(!allows(&allow, "example.internal", 443));
        assert!(!allows(&allow, "badexample.internal", 443));
        assert!(allows(&allow, "localhost", 8080));
        assert!(!allows(&allow, "127.0.0.1", 8081));
        assert_eq!(forwarded_ports(&allow), [8080]);
        assert!(needs_proxy(&allow));
        assert!(!needs_proxy(&["localhost:1".to_string()]));
        // Names that are not ASCII are compared, not cut.
        assert!(!allows(&allow, "a.€xample.internal", 443));
        assert!(covers("*.npmjs.org", "*.npmjs.org"));
        assert!(covers("*.npmjs.org", "registry.npmjs.org"));
        assert!(!covers("*.npmjs.org", "npmjs.org"));
    }

    #[test]
    fn bad_entries_say_what_to_write() {
        assert!(check_entry("github.com").is_ok());
        assert!(check_entry("*.github.com:443").is_ok());
        assert!(check_entry("localhost")
            .unwrap_err()
            .contains("needs its port"));
        assert!(check_entry("http://github.com").is_err());
        assert!(check_entry("github.com:https").is_err());
    }
}
