//! Setup and cleanup scripts run for real under bash: output in order to the caller and the log file, exit
//! codes, time limits, the process group killed with the script, the run's environment, and the caps.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use vibebridge_tunnel::run::ProcessStatus;

use super::Fixture;
use crate::runs::script::{CHUNK_MAX, FORWARD_MAX, Lines, Script, ScriptEnd, Stop, run_script};

/// Runs `script` in `dir` with `env`, collecting what it forwards; its log goes under the fixture's base.
async fn run(
    f: &Fixture,
    dir: &Path,
    script: &str,
    env: &[(String, String)],
    timeout: Duration,
) -> (ScriptEnd, Vec<String>, PathBuf) {
    let log_path = f.base.join("logs/setup.log");
    let mut chunks = Vec::new();
    let mut collect = |c: String| chunks.push(c);
    let end = run_script(
        Script {
            script,
            cwd: dir,
            env,
            log_path: log_path.clone(),
            timeout: Some(timeout),
            run_as: None,
            stop: None,
        },
        &mut collect,
    )
    .await;
    (end, chunks, log_path)
}

/// Whether process `pid` is gone (or a zombie nobody has reaped yet).
fn gone(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

/// Waits up to 5 s for process `pid` to be gone.
async fn wait_gone(pid: i32) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(5) {
        if gone(pid) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

fn read_pid(path: &Path) -> i32 {
    std::fs::read_to_string(path)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// Proves stdout and stderr arrive in the order written, whole lines at a time, and all of it is in the
/// log file; exit 0 completes.
#[tokio::test]
async fn output_arrives_in_order_and_in_the_log() {
    let f = Fixture::new();
    let script = "echo one; sleep 0.2; echo two >&2; sleep 0.2; printf 'three\\nfour'";
    let (end, chunks, log) = run(&f, &f.repo, script, &[], Duration::from_secs(20)).await;
    assert_eq!(end.status, ProcessStatus::Completed, "{end:?}");
    assert_eq!(end.exit_code, Some(0));
    assert_eq!(chunks.concat(), "one\ntwo\nthree\nfour");
    assert_eq!(chunks.first().map(String::as_str), Some("one\n"));
    assert_eq!(
        std::fs::read_to_string(log).unwrap(),
        "one\ntwo\nthree\nfour"
    );
}

/// Proves a non-zero exit fails with its code and says so.
#[tokio::test]
async fn non_zero_exit_fails_with_its_code() {
    let f = Fixture::new();
    let (end, _, _) = run(
        &f,
        &f.repo,
        "echo bad >&2; exit 3",
        &[],
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(end.status, ProcessStatus::Failed);
    assert_eq!(end.exit_code, Some(3));
    assert_eq!(
        end.message.as_deref(),
        Some("the script exited with status 3")
    );
}

/// Proves the run's environment and working directory reach the script, and bash runs it.
#[tokio::test]
async fn environment_reaches_the_script() {
    let f = Fixture::new();
    let env = [("VB_PORT".to_string(), "4321".to_string())];
    let (end, chunks, _) = run(
        &f,
        &f.repo,
        "echo \"$VB_PORT\"; pwd; [[ -n $BASH_VERSION ]] && echo bash",
        &env,
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(end.status, ProcessStatus::Completed, "{end:?}");
    assert_eq!(
        chunks.concat(),
        format!("4321\n{}\nbash\n", f.repo.display())
    );
}

/// Proves a script past its time limit is stopped as killed, with its background child.
#[tokio::test]
async fn timeout_kills_the_whole_group() {
    let f = Fixture::new();
    let pidfile = f.base.join("child.pid");
    let script = format!(
        "sleep 1000 & echo $! > {}; echo started; sleep 1000",
        pidfile.display()
    );
    let start = Instant::now();
    let (end, chunks, _) = run(&f, &f.repo, &script, &[], Duration::from_millis(500)).await;
    assert!(
        start.elapsed() < Duration::from_secs(8),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(end.status, ProcessStatus::Killed, "{end:?}");
    assert_eq!(end.exit_code, None);
    assert!(
        end.message
            .as_deref()
            .unwrap()
            .contains("ran longer than 500ms"),
        "{end:?}"
    );
    assert_eq!(chunks.concat(), "started\n");
    assert!(
        wait_gone(read_pid(&pidfile)).await,
        "the background child was killed"
    );
}

/// Proves a script without a time limit runs until stopped, then ends as killed with the stop's reason,
/// its whole group (a background child too) gone.
#[tokio::test]
async fn a_stop_ends_an_unlimited_script_and_its_group() {
    let f = Fixture::new();
    let pidfile = f.base.join("child.pid");
    let script = format!(
        "echo serving; sleep 1000 & echo $! > {}.tmp; mv {0}.tmp {0}; exec sleep 1000",
        pidfile.display()
    );
    let stop = Stop::default();
    let mut chunks = Vec::new();
    let mut collect = |c: String| chunks.push(c);
    let running = run_script(
        Script {
            script: &script,
            cwd: &f.repo,
            env: &[],
            log_path: f.base.join("dev.log"),
            timeout: None,
            run_as: None,
            stop: Some(&stop),
        },
        &mut collect,
    );
    let stopping = async {
        while !pidfile.exists() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        stop.stop("stopped by a user");
        stop.stop("a later reason is ignored");
    };
    let (end, ()) = tokio::time::timeout(Duration::from_secs(30), async {
        tokio::join!(running, stopping)
    })
    .await
    .expect("the stopped script ended");
    assert!(stop.is_stopped());
    assert_eq!(end.status, ProcessStatus::Killed, "{end:?}");
    assert_eq!(end.message.as_deref(), Some("stopped by a user"));
    assert_eq!(chunks.concat(), "serving\n");
    assert!(wait_gone(read_pid(&pidfile)).await);
}

/// Proves a script that exits while a background child holds its output open ends promptly, and the
/// child is killed with it.
#[tokio::test]
async fn leftover_children_end_with_the_script() {
    let f = Fixture::new();
    let pidfile = f.base.join("child.pid");
    let script = format!("sleep 1000 & echo $! > {}; echo done", pidfile.display());
    let start = Instant::now();
    let (end, chunks, _) = run(&f, &f.repo, &script, &[], Duration::from_secs(60)).await;
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(end.status, ProcessStatus::Completed, "{end:?}");
    assert_eq!(chunks.concat(), "done\n");
    assert!(wait_gone(read_pid(&pidfile)).await);
}

/// Proves dropping the running script's future kills its whole process group.
#[tokio::test]
async fn dropping_the_future_kills_the_group() {
    let f = Fixture::new();
    let pidfile = f.base.join("child.pid");
    let script = format!(
        "sleep 1000 & echo $! > {}.tmp; mv {0}.tmp {0}; wait",
        pidfile.display()
    );
    let log_path = f.base.join("drop.log");
    let mut sink = |_: String| {};
    let running = run_script(
        Script {
            script: &script,
            cwd: &f.repo,
            env: &[],
            log_path,
            timeout: Duration::from_secs(600).into(),
            run_as: None,
            stop: None,
        },
        &mut sink,
    );
    let waited = tokio::time::timeout(Duration::from_secs(30), async {
        tokio::pin!(running);
        loop {
            tokio::select! {
                end = &mut running => panic!("the script ended: {end:?}"),
                _ = tokio::time::sleep(Duration::from_millis(50)) => {
                    if pidfile.exists() {
                        break;
                    }
                }
            }
        }
    })
    .await;
    assert!(waited.is_ok(), "the script never started its child");
    assert!(wait_gone(read_pid(&pidfile)).await);
}

/// Proves output past 8 MiB reaches only the log file, with one line saying where it is, and every
/// forwarded chunk is at most 16 KiB.
#[tokio::test]
async fn forwarded_output_is_capped() {
    let f = Fixture::new();
    let script = "head -c 9437184 /dev/zero | tr '\\0' 'a'; echo; echo end";
    let (end, chunks, log) = run(&f, &f.repo, script, &[], Duration::from_secs(60)).await;
    assert_eq!(end.status, ProcessStatus::Completed, "{end:?}");
    assert!(chunks.iter().all(|c| c.len() <= CHUNK_MAX));
    let last = chunks.last().unwrap();
    assert!(
        last.contains("output past 8 MiB") && last.contains("setup.log"),
        "{last}"
    );
    let forwarded: usize = chunks[..chunks.len() - 1].iter().map(String::len).sum();
    assert!(
        forwarded <= FORWARD_MAX && forwarded > FORWARD_MAX - CHUNK_MAX,
        "{forwarded}"
    );
    assert_eq!(std::fs::metadata(log).unwrap().len(), 9 * 1024 * 1024 + 5);
}

/// Proves a script that cannot start (its directory is missing) fails saying why.
#[tokio::test]
async fn a_script_that_cannot_start_fails() {
    let f = Fixture::new();
    let (end, chunks, _) = run(
        &f,
        &f.base.join("missing"),
        "true",
        &[],
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(end.status, ProcessStatus::Failed);
    assert!(
        end.message.as_deref().unwrap().contains("could not start"),
        "{end:?}"
    );
    assert_eq!(chunks.len(), 1);
}

/// Proves chunks end at line ends where they can, and a line over 16 KiB is cut at a character boundary
/// so no character is split.
#[test]
fn chunks_end_at_lines_and_characters() {
    let mut lines = Lines::default();
    assert_eq!(lines.push(b"a\nb"), vec![b"a\n".to_vec()]);
    assert_eq!(lines.push(b"c\nd\n"), vec![b"bc\nd\n".to_vec()]);
    let mut long = vec![b'x'; CHUNK_MAX - 1];
    long.extend("é".as_bytes());
    long.extend(b"yz");
    let chunks = lines.push(&long);
    assert_eq!(chunks.len(), 1);
    assert_eq!(chunks[0].len(), CHUNK_MAX - 1, "é is not split");
    assert_eq!(lines.finish(), vec!["éyz".as_bytes().to_vec()]);
    assert!(lines.finish().is_empty());
}
