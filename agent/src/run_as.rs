//! `execution.run_as`: web terminals and agent CLIs run as another, unprivileged OS user.
//!
//! Without it, a shell or an agent CLI runs as the agent's own user and can read the agent's state
//! directory (node key, session logs) like the agent itself. With it, they run as a user to whom that
//! directory (0700, the agent's) is closed. The agent keeps only what it needs to switch: root, or the
//! `CAP_SETUID`, `CAP_SETGID` and `CAP_KILL` capabilities (systemd:
//! `AmbientCapabilities=CAP_SETUID CAP_SETGID CAP_KILL`).
//!
//! The switch is made by util-linux's `setpriv`, which also sets the user's own supplementary groups and
//! clears the inheritable and ambient capabilities: a switch between two non-root users would otherwise
//! hand the child the agent's `CAP_SETUID`, and with it root.

use std::path::PathBuf;

use anyhow::{Context, bail};

/// The user processes are started as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunAs {
    /// Login name.
    pub name: String,
    /// Numeric user id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Home directory (`HOME` of the started processes).
    pub home: PathBuf,
    /// Login shell (the web terminal's shell unless `terminal.default_shell` is set).
    pub shell: PathBuf,
    /// `setpriv`, found on `PATH` at start.
    pub setpriv: PathBuf,
}

/// `CAP_KILL`, `CAP_SETGID` and `CAP_SETUID` (capability numbers 5, 6 and 7): switch to the user, and
/// signal its processes (stop a turn, close a terminal).
const SWITCH_CAPS: u64 = (1 << 5) | (1 << 6) | (1 << 7);

impl RunAs {
    /// Looks `user` (a name or a numeric uid) up and checks this process may switch to it.
    pub fn resolve(user: &str) -> anyhow::Result<RunAs> {
        let found = match user.parse::<u32>() {
            Ok(uid) => nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid)),
            Err(_) => nix::unistd::User::from_name(user),
        }
        .with_context(|| format!("looking up execution.run_as user {user:?}"))?;
        let Some(u) = found else {
            bail!(
                "execution.run_as: no user {user:?} on this machine; create it (useradd --system …) or fix the name"
            );
        };
        let setpriv = std::env::var_os("PATH")
            .into_iter()
            .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
            .chain([PathBuf::from("/usr/bin"), PathBuf::from("/bin")])
            .map(|d| d.join("setpriv"))
            .find(|p| p.is_file())
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "execution.run_as needs `setpriv` (util-linux) to switch users safely; install util-linux"
                )
            })?;
        let run_as = RunAs {
            name: u.name,
            uid: u.uid.as_raw(),
            gid: u.gid.as_raw(),
            home: u.dir,
            shell: u.shell,
            setpriv,
        };
        if run_as.uid == 0 {
            bail!(
                "execution.run_as names root; choose an unprivileged user, or leave run_as unset"
            );
        }
        let me = nix::unistd::geteuid().as_raw();
        if run_as.uid == me {
            bail!(
                "execution.run_as names {:?}, the agent's own user: shells would still read the agent's state; \
                 choose another user",
                run_as.name
            );
        }
        if me != 0 && effective_caps().unwrap_or(0) & SWITCH_CAPS != SWITCH_CAPS {
            bail!(
                "execution.run_as = {:?} needs the agent to run as root or with CAP_SETUID, CAP_SETGID and \
                 CAP_KILL (systemd: AmbientCapabilities=CAP_SETUID CAP_SETGID CAP_KILL)",
                run_as.name
            );
        }
        Ok(run_as)
    }

    /// `program` run as this user: `setpriv` and its arguments, then the program (its own arguments
    /// follow). The child gets the user's uid, gid and groups, and no capabilities.
    pub fn command(&self, program: &std::path::Path) -> (PathBuf, Vec<std::ffi::OsString>) {
        let mut args: Vec<std::ffi::OsString> = vec![
            format!("--reuid={}", self.uid).into(),
            format!("--regid={}", self.gid).into(),
            "--init-groups".into(),
            "--inh-caps=-all".into(),
            "--ambient-caps=-all".into(),
            "--".into(),
        ];
        args.push(program.as_os_str().to_owned());
        (self.setpriv.clone(), args)
    }

    /// The environment a login as this user would have (added over the agent's own).
    pub fn env(&self) -> [(&'static str, String); 4] {
        [
            ("HOME", self.home.display().to_string()),
            ("USER", self.name.clone()),
            ("LOGNAME", self.name.clone()),
            ("SHELL", self.shell.display().to_string()),
        ]
    }
}

/// This process's effective capability set, from `/proc/self/status` (`CapEff`).
fn effective_caps() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let hex = status.lines().find_map(|l| l.strip_prefix("CapEff:"))?;
    u64::from_str_radix(hex.trim(), 16).ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Proves unknown users, root and the agent's own user are refused with what to do.
    #[test]
    fn bad_users_are_refused() {
        let err = RunAs::resolve("no-such-user-vb").unwrap_err().to_string();
        assert!(err.contains("no user"), "{err}");
        let err = RunAs::resolve("0").unwrap_err().to_string();
        assert!(err.contains("root"), "{err}");
        let me = nix::unistd::geteuid().as_raw().to_string();
        if me != "0" {
            let err = RunAs::resolve(&me).unwrap_err().to_string();
            assert!(err.contains("own user"), "{err}");
        }
    }

    /// Proves a real unprivileged user resolves to its passwd entry when this process may switch.
    #[test]
    fn nobody_resolves_when_root() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("not root: switching users cannot be tested here");
            return;
        }
        let nobody = RunAs::resolve("nobody").unwrap();
        assert_eq!(nobody.uid, 65534);
        assert_eq!(RunAs::resolve("65534").unwrap(), nobody);
    }
}
