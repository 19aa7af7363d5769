//! Driving main's admin console with the real OpenSSH client: a main with an admin and a node, key pairs
//! on disk, exec-mode commands (plain or `--json`), and an interactive (`ssh -tt`) session typed into and read
//! until something appears.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use vibebridge_tunnel::keys;

use crate::{Api, TempDir, TestMain, TestNode, WAIT};

/// A key pair on disk for `ssh -i`; returns (private key path, public key line).
pub fn keypair(dir: &Path, name: &str) -> (PathBuf, String) {
    let path = dir.join(name);
    let key = keys::load_or_generate(&path).unwrap();
    (
        path,
        format!("{} {name}@test", keys::public_openssh(key.public_key())),
    )
}

/// Adds the key at `key` (with its public line `public`) to `api`'s user the way a person does: asks
/// for a challenge and signs it with the real `ssh-keygen -Y sign`. The status and body of the add.
pub async fn add_key(api: &Api, key: &Path, public: &str) -> (u16, serde_json::Value) {
    let (status, c) = api
        .post("/api/v1/auth/me/keys/challenge", serde_json::json!({}))
        .await;
    assert_eq!(status, 200, "{c}");
    let challenge = c["challenge"].as_str().unwrap().to_string();
    let mut sign = tokio::process::Command::new("ssh-keygen")
        .args(["-Y", "sign", "-n", c["namespace"].as_str().unwrap(), "-f"])
        .arg(key)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("ssh-keygen (openssh-client) is installed by scripts/test.sh");
    {
        use tokio::io::AsyncWriteExt;
        let mut stdin = sign.stdin.take().unwrap();
        stdin.write_all(challenge.as_bytes()).await.unwrap();
    }
    let out = sign.wait_with_output().await.unwrap();
    assert!(
        out.status.success(),
        "ssh-keygen -Y sign: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let signature = String::from_utf8(out.stdout).unwrap();
    api.post(
        "/api/v1/auth/me/keys",
        serde_json::json!({ "key": public, "challenge": challenge, "signature": signature }),
    )
    .await
}

/// Runs `ssh` against main's SSH port with only `key`, no agent, no config, no host-key prompts.
pub fn ssh(main: &TestMain, key: &Path, user: &str) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new("ssh");
    cmd.args(["-F", "/dev/null", "-p", &main.ssh.port().to_string(), "-i"])
        .arg(key)
        .args([
            "-o",
            "BatchMode=yes",
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "IdentityAgent=none",
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "LogLevel=ERROR",
            "-o",
            "ConnectTimeout=10",
        ])
        .arg(format!("{user}@127.0.0.1"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

/// Runs one console command in exec mode; returns (exit code, stdout, stderr).
pub async fn exec(main: &TestMain, key: &Path, command: &str) -> (i32, String, String) {
    exec_as(main, key, "admin", command).await
}

/// Runs one command in exec mode as SSH user `user`; returns (exit code, stdout, stderr).
pub async fn exec_as(
    main: &TestMain,
    key: &Path,
    user: &str,
    command: &str,
) -> (i32, String, String) {
    let out = tokio::time::timeout(WAIT, ssh(main, key, user).arg(command).output())
        .await
        .expect("ssh did not finish")
        .expect("ssh could not start (is openssh-client installed?)");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs a command with `--json` and parses its output, asserting success.
pub async fn json_of(main: &TestMain, key: &Path, command: &str) -> Value {
    let (code, out, err) = exec(main, key, &format!("{command} --json")).await;
    assert_eq!(code, 0, "`{command}` failed: {out}{err}");
    serde_json::from_str(out.trim())
        .unwrap_or_else(|e| panic!("`{command}` printed non-JSON ({e}): {out}"))
}

/// Reads the interactive session's output until it contains `want`.
pub async fn read_until(out: &mut tokio::process::ChildStdout, seen: &mut String, want: &str) {
    let found = tokio::time::timeout(WAIT, async {
        let mut buf = [0u8; 4096];
        while !seen.contains(want) {
            let n = out.read(&mut buf).await.unwrap();
            if n == 0 {
                return false;
            }
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        true
    })
    .await;
    assert!(
        matches!(found, Ok(true)),
        "never saw {want:?}; output so far:\n{seen}"
    );
}

/// An interactive console session on a PTY (`ssh -tt` as `admin`), opened at its first prompt. Killed on drop.
pub struct Pty {
    child: tokio::process::Child,
    input: tokio::process::ChildStdin,
    out: tokio::process::ChildStdout,
    /// Everything read so far (callers clear it to look only at what follows).
    pub seen: String,
}

impl Pty {
    /// Connects with `key` and waits for `user`'s prompt, `vibebridge(USER)> `.
    pub async fn open(main: &TestMain, key: &Path, user: &str) -> Pty {
        let mut child = ssh(main, key, "admin")
            .arg("-tt")
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        let mut pty = Pty {
            input: child.stdin.take().unwrap(),
            out: child.stdout.take().unwrap(),
            child,
            seen: String::new(),
        };
        pty.expect(&format!("vibebridge({user})> ")).await;
        pty
    }

    /// Types `bytes` (`\r` ends a line, `\x03` is Ctrl-C, `\t` asks for completion).
    pub async fn send(&mut self, bytes: &[u8]) {
        self.input.write_all(bytes).await.unwrap();
    }

    /// Reads until the output so far contains `want` (see [`read_until`]).
    pub async fn expect(&mut self, want: &str) {
        read_until(&mut self.out, &mut self.seen, want).await;
    }

    /// Waits (up to [`WAIT`]) for `ssh` to exit, e.g. after `exit`; returns its status.
    pub async fn wait(mut self) -> std::process::ExitStatus {
        tokio::time::timeout(WAIT, self.child.wait())
            .await
            .expect("the console session did not end")
            .unwrap()
    }
}

/// Main with alice (creator, with a registered console key) and a connected node `n1`.
pub struct Fx {
    /// Its temporary directory.
    pub dir: TempDir,
    /// Main.
    pub main: TestMain,
    /// The node `n1`.
    pub node: Option<TestNode>,
    /// Alice logged in over HTTP.
    pub api: Api,
    /// Alice's console key (private key file).
    pub key: PathBuf,
}

/// Starts the [`Fx`] under a tag, with a tweak of the node's config.
pub async fn fixture(tag: &str, node_cfg: impl FnOnce(&mut vibebridge_agent::NodeConfig)) -> Fx {
    let dir = TempDir::new(&format!("console-{tag}"));
    let main = TestMain::start(dir.path()).await;
    let mut api = Api::new(&main);
    api.auth(true, "alice", "correct horse battery").await;
    let (key, public) = keypair(dir.path(), "alice_key");
    let (status, body) = add_key(&api, &key, &public).await;
    assert_eq!(status, 201, "{body}");
    let mut cfg = TestNode::enrolling(dir.path(), "n1", &main, main.ssh);
    node_cfg(&mut cfg);
    let node = TestNode::start(cfg);
    main.wait_online("n1").await;
    Fx {
        dir,
        main,
        node: Some(node),
        api,
        key,
    }
}
