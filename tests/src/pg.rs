//! A throwaway PostgreSQL cluster for a test: `initdb` in a temporary directory, `pg_ctl` serving on a free
//! loopback port with its socket in that directory (no network, nothing shared with a system cluster), stopped
//! (`-m immediate`) and removed when dropped. Debian's server binaries (`/usr/lib/postgresql/<version>/bin`, the
//! newest; `VB_PG_BIN` overrides) refuse to run as root, so under root they run as the `postgres` user the
//! package creates, through `runuser`. [`PgCluster::start_with_tls`] also serves TLS with a given certificate.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use anyhow::{Context, bail};

use crate::TempDir;

/// A running cluster; dropping it stops it and removes its files.
pub struct PgCluster {
    dir: TempDir,
    bin: PathBuf,
    port: u16,
    as_postgres: bool,
    /// Whether the server was given `server.crt` and `server.key` (in its directory) and serves TLS.
    tls: bool,
}

/// Debian's newest server binaries, or `VB_PG_BIN`.
pub fn server_bin() -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("VB_PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .context("no /usr/lib/postgresql: install Debian's `postgresql` (scripts/test.sh does)")?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin).context(
        "no PostgreSQL server binaries under /usr/lib/postgresql/*/bin: install `postgresql`",
    )
}

impl PgCluster {
    /// Creates and starts a cluster (user `postgres`, trusted on loopback, durability off: it is a test's).
    pub fn start() -> anyhow::Result<PgCluster> {
        PgCluster::create(None)
    }

    /// As [`start`](Self::start), and also serving TLS (`ssl = on`) with the PEM certificate (chain) `cert` and
    /// its key `key`. Both are copied into the cluster's directory, owned by the user the server runs as, mode
    /// 0600 (the server refuses a key others can read). Clients may still connect without TLS.
    pub fn start_with_tls(cert: &Path, key: &Path) -> anyhow::Result<PgCluster> {
        PgCluster::create(Some((cert, key)))
    }

    fn create(tls: Option<(&Path, &Path)>) -> anyhow::Result<PgCluster> {
        let bin = server_bin()?;
        let dir = TempDir::new("pg");
        let as_postgres = nix::unistd::geteuid().is_root();
        if as_postgres {
            chown_postgres(dir.path())?;
        }
        if let Some((cert, key)) = tls {
            for (from, name) in [(cert, "server.crt"), (key, "server.key")] {
                let to = dir.path().join(name);
                std::fs::copy(from, &to)
                    .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
                std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o600))?;
                if as_postgres {
                    chown_postgres(&to)?;
                }
            }
        }
        let mut cluster = PgCluster {
            dir,
            bin,
            port: 0,
            as_postgres,
            tls: tls.is_some(),
        };
        let data = cluster.data();
        cluster.run(
            "initdb",
            &[
                "-N",
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "-D",
                data.to_str().unwrap(),
            ],
        )?;
        // A free port is picked by binding port 0 and letting it go; another process may take it meanwhile,
        // so a start that cannot bind tries the next pick.
        let mut last = None;
        for _ in 0..5 {
            cluster.port = free_port();
            match cluster.pg_ctl_start() {
                Ok(()) => return Ok(cluster),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| anyhow::anyhow!("the cluster did not start")))
    }

    /// The loopback port it serves on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Stops the server (`-m fast`) and starts it again on the same port.
    pub fn restart(&self) -> anyhow::Result<()> {
        let data = self.data();
        self.run(
            "pg_ctl",
            &["-w", "-m", "fast", "-D", data.to_str().unwrap(), "stop"],
        )?;
        self.pg_ctl_start()
    }

    /// Runs `psql -Atc sql` against the cluster; its output.
    pub fn psql(&self, sql: &str) -> anyhow::Result<String> {
        let out = Command::new("psql")
            .args([
                "-X",
                "-At",
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
            ])
            .args(["-c", sql, "postgres"])
            .output()
            .context("running psql (Debian's postgresql-client)")?;
        checked("psql", out).map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn pg_ctl_start(&self) -> anyhow::Result<()> {
        let data = self.data();
        let mut opts = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {} -c fsync=off -c synchronous_commit=off \
             -c full_page_writes=off",
            self.port,
            self.dir.path().display()
        );
        if self.tls {
            let dir = self.dir.path();
            opts.push_str(&format!(
                " -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
                dir.join("server.crt").display(),
                dir.join("server.key").display()
            ));
        }
        let log = self.dir.path().join("server.log");
        self.run(
            "pg_ctl",
            &[
                "-w",
                "-t",
                "60",
                "-D",
                data.to_str().unwrap(),
                "-l",
                log.to_str().unwrap(),
                "-o",
                &opts,
                "start",
            ],
        )
        .map(drop)
        .with_context(|| {
            format!(
                "starting PostgreSQL on port {}; its log: {}",
                self.port,
                std::fs::read_to_string(&log).unwrap_or_default()
            )
        })
    }

    /// Runs one of the server binaries, as `postgres` when this process is root.
    fn run(&self, program: &str, args: &[&str]) -> anyhow::Result<Output> {
        let exe = self.bin.join(program);
        let out = if self.as_postgres {
            Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(&exe)
                .args(args)
                .current_dir(self.dir.path())
                .output()
        } else {
            Command::new(&exe)
                .args(args)
                .current_dir(self.dir.path())
                .output()
        }
        .with_context(|| format!("running {}", exe.display()))?;
        checked(program, out)
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let data = self.data();
        let _ = self.run(
            "pg_ctl",
            &["-m", "immediate", "-D", data.to_str().unwrap(), "stop"],
        );
    }
}

fn checked(what: &str, out: Output) -> anyhow::Result<Output> {
    if !out.status.success() {
        bail!(
            "{what} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(out)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

/// Gives `dir` (or a file) to the `postgres` user (the server refuses a data directory, or a TLS key, it does not
/// own).
fn chown_postgres(dir: &Path) -> anyhow::Result<()> {
    let user = nix::unistd::User::from_name("postgres")?
        .context("no `postgres` user: install Debian's `postgresql` (scripts/test.sh does)")?;
    std::os::unix::fs::chown(dir, Some(user.uid.as_raw()), Some(user.gid.as_raw()))?;
    Ok(())
}
