//! A second "machine" for tests: OpenSSH's `sshd` on a loopback port of the test's own, with
//! host and client keys made here, whose sessions run with a HOME, aside state and PATH of
//! their own (a forced command sets them), and an `ssh` wrapper that reaches it by name
//! (`ssh -F` a config of the test's own: ssh reads `~/.ssh` from the password database, never
//! from `$HOME`, so the user's own is not touched).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where Debian's `sshd` is.
pub const SSHD: &str = "/usr/sbin/sshd";

/// Whether sshd and ssh are installed (`.ci/run` installs openssh-server and openssh-client).
pub fn available() -> bool {
    Path::new(SSHD).exists()
        && Command::new("ssh")
            .arg("-V")
            .stderr(Stdio::null())
            .status()
            .is_ok()
}

/// A running sshd.
pub struct Sshd {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// Its directory: keys, configs, the remote HOME.
    pub dir: PathBuf,
    /// The ssh wrapper that knows the machines (`ASIDE_SSH` for aside).
    pub ssh: PathBuf,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

fn keygen(path: &Path) {
    let _ = std::fs::remove_file(path);
    let ok = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "aside-test", "-f"])
        .arg(path)
        .stdin(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "ssh-keygen failed for {}", path.display());
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

impl Sshd {
    /// Starts sshd in `dir`; a session there runs with `env` (HOME, ASIDE_HOME, PATH, …).
    /// `names` are the machine names the ssh wrapper reaches it as; `dead` names reach a port
    /// nothing listens on.
    pub fn start(dir: &Path, env: &[(String, String)], names: &[&str], dead: &[&str]) -> Sshd {
        std::fs::create_dir_all(dir).expect("sshd dir");
        let host_key = dir.join("host_key");
        let client_key = dir.join("client_key");
        keygen(&host_key);
        keygen(&client_key);
        let authorized = dir.join("authorized_keys");
        std::fs::copy(client_key.with_extension("pub"), &authorized).expect("authorized_keys");
        // Every command over SSH runs with the machine's own environment.
        let forced = dir.join("machine.sh");
        let exports: Vec<String> = env
            .iter()
            .map(|(k, v)| format!("export {k}={}", quote(v)))
            .collect();
        std::fs::write(
            &forced,
            format!(
                "#!/bin/sh\n{}\ncd \"$HOME\" 2>/dev/null\nexec /bin/sh -c \"$SSH_ORIGINAL_COMMAND\"\n",
                exports.join("\n")
            ),
        )
        .expect("machine.sh");
        set_mode(&forced, 0o755);
        // Privilege separation wants this when sshd runs as root.
        let _ = std::fs::create_dir_all("/run/sshd");
        let port = free_port();
        let config = dir.join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nAuthorizedKeysFile {}\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\nUsePAM no\nStrictModes no\nPidFile {}\nForceCommand {}\nAllowTcpForwarding yes\nAllowStreamLocalForwarding yes\nPermitRootLogin yes\nLogLevel ERROR\n",
                host_key.display(),
                authorized.display(),
                dir.join("sshd.pid").display(),
                forced.display()
            ),
        )
        .expect("sshd_config");
        let child = Command::new(SSHD)
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(
                std::fs::File::create(dir.join("sshd.log"))
                    .map(Stdio::from)
                    .unwrap_or_else(|_| Stdio::null()),
            )
            .spawn()
            .expect("sshd starts");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "sshd did not listen: {}",
                std::fs::read_to_string(dir.join("sshd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        // The client side: the host key known, the names mapped, nothing of ~/.ssh read.
        let host_pub = std::fs::read_to_string(host_key.with_extension("pub")).expect("host key");
        let known = dir.join("known_hosts");
        std::fs::write(&known, format!("[127.0.0.1]:{port} {host_pub}")).expect("known_hosts");
        let user = std::env::var("USER")
            .ok()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(whoami);
        let mut client = String::new();
        for name in names {
            client.push_str(&format!(
                "Host {name}\n  HostName 127.0.0.1\n  Port {port}\n  User {user}\n  IdentityFile {}\n  IdentitiesOnly yes\n  UserKnownHostsFile {}\n  StrictHostKeyChecking yes\n  LogLevel ERROR\n",
                client_key.display(),
                known.display()
            ));
        }
        for name in dead {
            client.push_str(&format!(
                "Host {name}\n  HostName 127.0.0.1\n  Port {}\n  User {user}\n  IdentityFile {}\n  IdentitiesOnly yes\n  UserKnownHostsFile {}\n  LogLevel ERROR\n",
                free_port(),
                client_key.display(),
                known.display()
            ));
        }
        let client_config = dir.join("ssh_config");
        std::fs::write(&client_config, client).expect("ssh_config");
        let ssh = dir.join("ssh");
        std::fs::write(
            &ssh,
            format!(
                "#!/bin/sh\nexec ssh -F {} \"$@\"\n",
                quote(&client_config.display().to_string())
            ),
        )
        .expect("ssh wrapper");
        set_mode(&ssh, 0o755);
        Sshd {
            child,
            port,
            dir: dir.to_path_buf(),
            ssh,
        }
    }
}

fn whoami() -> String {
    Command::new("id")
        .arg("-un")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "root".to_string())
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt as _;
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode));
}
