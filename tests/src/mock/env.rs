//! Where the pinned CLIs are installed, and the isolated environment one CLI run gets (PROVIDERS.md §1.1, §2.1,
//! §3): its own HOME with a git identity, config dirs, TMPDIR, and the variables pointing it at the mocks.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use super::{MockAnthropic, MockOpenAi};
use crate::TempDir;

const INSTALL_HINT: &str =
    "run `bash scripts/test.sh` (or `npm ci --prefix tests`) to install the pinned CLIs";

/// `tests/node_modules`, where `npm ci --prefix tests` installs the CLIs pinned in `tests/package.json`.
pub fn node_modules() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("node_modules")
}

/// The native `claude` binary (2.1.329). The platform package holds it; `bin/claude.exe` is the same file
/// when the postinstall ran, and a 500-byte stub when it did not (§1.7), so the stub is never returned.
pub fn claude_bin() -> PathBuf {
    let nm = node_modules().join("@anthropic-ai");
    let arch = match std::env::consts::ARCH {
        "aarch64" => "arm64",
        _ => "x64",
    };
    let candidates = [
        nm.join(format!("claude-code-linux-{arch}/claude")),
        nm.join(format!("claude-code-linux-{arch}-musl/claude")),
        nm.join("claude-code/bin/claude.exe"),
    ];
    candidates
        .into_iter()
        .find(|p| std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.len() > 1_000_000))
        .unwrap_or_else(|| {
            panic!(
                "the claude CLI is not installed under {}: {INSTALL_HINT}",
                nm.display()
            )
        })
}

/// The native `codex` binary (0.169.0), run directly rather than through `bin/codex.js`: on Node < 22 the
/// wrapper spawns it as a child, and killing the wrapper would orphan it (§2.5).
pub fn codex_bin() -> PathBuf {
    let nm = node_modules().join("@openai");
    let (arch, triple) = match std::env::consts::ARCH {
        "aarch64" => ("arm64", "aarch64-unknown-linux-musl"),
        _ => ("x64", "x86_64-unknown-linux-musl"),
    };
    let candidates = [
        nm.join(format!("codex-linux-{arch}/vendor/{triple}/bin/codex")),
        nm.join(format!("codex/vendor/{triple}/bin/codex")),
    ];
    candidates
        .into_iter()
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "the codex CLI is not installed under {}: {INSTALL_HINT}",
                nm.display()
            )
        })
}

/// An isolated place for CLI runs, removed on drop: `home/` (HOME, with a `.gitconfig` identity),
/// `home/.claude` (CLAUDE_CONFIG_DIR), `codex-home/` (CODEX_HOME, with a `config.toml` once a [`MockOpenAi`]
/// is attached), `tmp/` (TMPDIR and CLAUDE_CODE_TMPDIR) and room for workspaces.
///
/// ```ignore
/// let claude = MockAnthropic::start().await;
/// let env = CliEnv::new("write").with_anthropic(&claude);
/// let repo = env.git_repo("ws");
/// let out = env.claude(&repo).args(["-p", "hi", "--output-format", "stream-json", "--verbose"]).output().await?;
/// // or hand `env.env()` to an agent's provider config.
/// ```
pub struct CliEnv {
    dir: TempDir,
    vars: Vec<(String, String)>,
}

impl CliEnv {
    /// Creates the directories and the variables every run needs; attach the mocks with
    /// [`with_anthropic`](Self::with_anthropic) and [`with_openai`](Self::with_openai).
    pub fn new(tag: &str) -> CliEnv {
        let dir = TempDir::new(&format!("cli-{tag}"));
        let root = dir.path();
        let (home, claude, codex, tmp) = (
            root.join("home"),
            root.join("home/.claude"),
            root.join("codex-home"),
            root.join("tmp"),
        );
        for d in [&home, &claude, &codex, &tmp] {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::write(
            home.join(".gitconfig"),
            "[user]\n\tname = VibeBridge Test\n\temail = test@vibebridge.invalid\n\
             [init]\n\tdefaultBranch = main\n[commit]\n\tgpgsign = false\n",
        )
        .unwrap();
        let path = |p: &Path| p.display().to_string();
        let mut vars: Vec<(String, String)> = [
            ("HOME", path(&home)),
            ("CLAUDE_CONFIG_DIR", path(&claude)),
            ("CODEX_HOME", path(&codex)),
            ("TMPDIR", path(&tmp)),
            ("CLAUDE_CODE_TMPDIR", path(&tmp)),
            ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1".into()),
            ("DISABLE_AUTOUPDATER", "1".into()),
            ("DISABLE_TELEMETRY", "1".into()),
            ("DISABLE_ERROR_REPORTING", "1".into()),
            ("CLAUDE_CODE_MAX_RETRIES", "0".into()),
            ("ANTHROPIC_API_KEY", "sk-ant-mock".into()),
            (MockOpenAi::KEY_VAR, "sk-mock-openai".into()),
            ("GIT_CONFIG_NOSYSTEM", "1".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        // As root, claude refuses bypassPermissions unless told it is sandboxed (§1.7).
        if std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0) {
            vars.push(("IS_SANDBOX".into(), "1".into()));
        }
        CliEnv { dir, vars }
    }

    /// Points `claude` at `mock` (ANTHROPIC_BASE_URL).
    pub fn with_anthropic(mut self, mock: &MockAnthropic) -> CliEnv {
        self.set("ANTHROPIC_BASE_URL", &mock.base_url());
        self
    }

    /// Points `codex` at `mock`: writes `$CODEX_HOME/config.toml` with a custom provider (§2.1; the built-in
    /// provider ignores OPENAI_BASE_URL), no retries, no analytics or plugin sync, `/tmp` kept out of the sandbox.
    pub fn with_openai(self, mock: &MockOpenAi) -> CliEnv {
        let config = format!(
            r#"model = "gpt-5.5"
model_provider = "mock"
check_for_update_on_startup = false

[model_providers.mock]
name = "Mock OpenAI"
base_url = "{base}"
env_key = "{key}"
wire_api = "responses"
request_max_retries = 0
stream_max_retries = 0

[analytics]
enabled = false

[features]
plugins = false

[sandbox_workspace_write]
exclude_slash_tmp = true
"#,
            base = mock.base_url(),
            key = MockOpenAi::KEY_VAR,
        );
        std::fs::write(self.codex_home().join("config.toml"), config).unwrap();
        self
    }

    /// Sets (or replaces) one variable.
    pub fn set(&mut self, key: &str, value: &str) {
        self.vars.retain(|(k, _)| k != key);
        self.vars.push((key.to_string(), value.to_string()));
    }

    /// The variables for a CLI run (not including PATH): hand them to a provider config or a `Command`.
    pub fn env(&self) -> Vec<(String, String)> {
        self.vars.clone()
    }

    /// The root directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The isolated HOME.
    pub fn home(&self) -> PathBuf {
        self.path().join("home")
    }

    /// CLAUDE_CONFIG_DIR (sessions under `projects/<cwd-slug>/`).
    pub fn claude_config_dir(&self) -> PathBuf {
        self.path().join("home/.claude")
    }

    /// CODEX_HOME (config.toml, sessions).
    pub fn codex_home(&self) -> PathBuf {
        self.path().join("codex-home")
    }

    /// Creates `<root>/<name>`, a git repository with one empty commit (both CLIs want a repo), and returns it.
    pub fn git_repo(&self, name: &str) -> PathBuf {
        let repo = self.path().join(name);
        std::fs::create_dir_all(&repo).unwrap();
        for args in [
            &["init", "-q"][..],
            &["commit", "-q", "--allow-empty", "-m", "initial"][..],
        ] {
            let status = std::process::Command::new("git")
                .args(args)
                .current_dir(&repo)
                .env_clear()
                .env("PATH", std::env::var_os("PATH").unwrap_or_default())
                .envs(self.vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                .stdin(Stdio::null())
                .status()
                .expect("git is installed");
            assert!(
                status.success(),
                "git {args:?} failed in {}",
                repo.display()
            );
        }
        repo
    }

    /// A command for `program` in `cwd` with only this environment (plus PATH and LANG): stdin null (both CLIs
    /// block on an open stdin), stdout and stderr piped, its own process group, killed on drop.
    pub fn command(&self, program: &Path, cwd: &Path) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(program);
        cmd.current_dir(cwd)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("LANG", "C.UTF-8")
            .envs(self.vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        cmd
    }

    /// [`command`](Self::command) for the pinned `claude`.
    pub fn claude(&self, cwd: &Path) -> tokio::process::Command {
        self.command(&claude_bin(), cwd)
    }

    /// [`command`](Self::command) for the pinned `codex`.
    pub fn codex(&self, cwd: &Path) -> tokio::process::Command {
        self.command(&codex_bin(), cwd)
    }
}
