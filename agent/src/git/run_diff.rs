//! A run's diff: its work tree (commits, uncommitted changes, and untracked files that are not ignored)
//! against the merge base of its HEAD and its base branch, as a reviewer sees it.
//!
//! One `git diff <merge base>` call covers the tracked files (renames detected) and is read as it streams,
//! so a huge diff costs one pass and keeps only the patches that fit [`MAX_DIFF_BYTES`]; untracked files
//! are listed by `git ls-files --others --exclude-standard` at the same time and diffed here as new
//! files. The index is never touched (no intent-to-add): the user's staging stays exactly as it was.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::Stdio;

use vibebridge_tunnel::git::{FileDiff, FileState, MAX_DIFF_BYTES, RunDiff};
use vibebridge_tunnel::reply::ErrorCode;

use super::admin::{self, TIMEOUT};
use super::cli::git;
use super::run_diff_parse::Parser;
use super::{GitError, Repo, pathspec};

/// The bytes git looks at to call a file binary.
const BINARY_PROBE: usize = 8000;

/// The diff of the run in `r` against `base`, only of `only` (a checked work-tree-relative path) when
/// given.
pub(crate) fn read(r: &Repo, base: &str, only: Option<&str>) -> Result<RunDiff, GitError> {
    let dir = r.workdir.as_path();
    let head = admin::commit_id(dir, "HEAD", "HEAD")?;
    let base_id = admin::commit_id(dir, "base", base)?;
    let out = admin::exec(
        dir,
        &["merge-base", &head, &base_id],
        &[],
        "find the merge base",
    )?;
    let merge_base = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() || merge_base.is_empty() {
        return Err(GitError::new(
            ErrorCode::UnknownRef,
            format!("HEAD and {base:?} share no history, so the run has no merge base with it"),
        ));
    }
    let hides = |p: &str| r.hides(p.as_bytes());
    let (counts, untracked, tracked) = std::thread::scope(|s| {
        let counts = s.spawn(|| ahead_behind(dir, &base_id, &head));
        let untracked = s.spawn(|| untracked_paths(dir, only));
        let tracked = tracked(dir, &merge_base, only, &hides);
        (join(counts), join(untracked), tracked)
    });
    let (ahead, behind) = counts??;
    let (mut files, mut truncated, mut budget) = tracked?;
    let mut added = Vec::new();
    for rel in untracked?? {
        if !hides(&rel)
            && let Some(file) = untracked_diff(dir, rel, &mut budget, &mut truncated)?
        {
            added.push(file);
        }
    }
    // A path untracked in the index yet in the merge base (`git rm --cached`) shows its work-tree file.
    let untracked: std::collections::HashSet<&str> =
        added.iter().map(|f| f.path.as_str()).collect();
    files.retain(|f| !untracked.contains(f.path.as_str()));
    files.extend(added);
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(RunDiff {
        merge_base,
        head,
        ahead,
        behind,
        files,
        truncated,
    })
}

fn join<T>(handle: std::thread::ScopedJoinHandle<'_, T>) -> Result<T, GitError> {
    handle
        .join()
        .map_err(|_| GitError::new(ErrorCode::Internal, "a diff helper thread panicked"))
}

/// Commits on HEAD and not on the base, and the reverse.
fn ahead_behind(dir: &Path, base: &str, head: &str) -> Result<(u32, u32), GitError> {
    let range = format!("{base}...{head}");
    let counts = admin::text(
        dir,
        &["rev-list", "--left-right", "--count", &range],
        &[],
        "count commits ahead and behind",
    )?;
    let mut n = counts
        .split_whitespace()
        .map(|c| c.parse::<u32>().unwrap_or(0));
    let behind = n.next().unwrap_or(0);
    let ahead = n.next().unwrap_or(0);
    Ok((ahead, behind))
}

/// Tracked changes of the work tree against `merge_base`: the files, whether patches were left out, and
/// the patch bytes still to spend.
fn tracked(
    dir: &Path,
    merge_base: &str,
    only: Option<&str>,
    hides: &dyn Fn(&str) -> bool,
) -> Result<(Vec<FileDiff>, bool, usize), GitError> {
    let spec = only.map(|p| pathspec(p).to_string());
    let mut args = vec![
        "-c",
        "core.quotePath=false",
        "diff",
        "--no-color",
        "--no-ext-diff",
        "--no-textconv",
        "--ignore-submodules=none",
        "--src-prefix=a/",
        "--dst-prefix=b/",
        "-M",
        "-U3",
        merge_base,
        "--",
    ];
    args.extend(spec.as_deref());
    let mut parser = Parser::new(MAX_DIFF_BYTES, hides);
    stream(dir, &args, |line| parser.line(line))?;
    Ok(parser.finish())
}

/// Untracked, not ignored files (under `only` when given), work-tree-relative.
fn untracked_paths(dir: &Path, only: Option<&str>) -> Result<Vec<String>, GitError> {
    let spec = only.map(|p| pathspec(p).to_string());
    let mut args = vec!["ls-files", "--others", "--exclude-standard", "-z", "--"];
    args.extend(spec.as_deref());
    let out = admin::exec(dir, &args, &[], "list untracked files")?;
    if !out.status.success() {
        return Err(admin::failed("list untracked files", &out));
    }
    Ok(out
        .stdout
        .split(|b| *b == 0)
        // A nested repository is listed as its directory (`sub/`): it has no content to show here.
        .filter(|p| !p.is_empty() && !p.ends_with(b"/"))
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect())
}

/// An untracked file as an added one; `None` when it is gone or not a file.
fn untracked_diff(
    dir: &Path,
    rel: String,
    budget: &mut usize,
    truncated: &mut bool,
) -> Result<Option<FileDiff>, GitError> {
    let Ok(path) = super::worktree_file(dir, rel.as_bytes()) else {
        return Ok(None);
    };
    let Ok(meta) = std::fs::symlink_metadata(&path) else {
        return Ok(None);
    };
    let mut file = FileDiff {
        path: rel,
        orig_path: None,
        state: FileState::Added,
        binary: false,
        additions: 0,
        deletions: 0,
        patch: String::new(),
    };
    let content = if meta.file_type().is_symlink() {
        let Ok(target) = std::fs::read_link(&path) else {
            return Ok(None);
        };
        target.into_os_string().into_encoded_bytes()
    } else if !meta.is_file() {
        return Ok(None);
    } else if *truncated || usize::try_from(meta.len()).map_or(true, |n| n > *budget) {
        // Too big for a patch: counted as it streams by, never held whole.
        let Ok(f) = std::fs::File::open(&path) else {
            return Ok(None);
        };
        let (binary, lines) = count_lines(f)
            .map_err(|e| GitError::internal(&format!("reading {}", file.path), &e))?;
        file.binary = binary;
        file.additions = if binary { 0 } else { lines };
        *truncated = true;
        return Ok(Some(file));
    } else {
        match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(_) => return Ok(None),
        }
    };
    if content[..content.len().min(BINARY_PROBE)].contains(&0) {
        file.binary = true;
        return Ok(Some(file));
    }
    let lines: Vec<&[u8]> = content.split_inclusive(|b| *b == b'\n').collect();
    file.additions = u32::try_from(lines.len()).unwrap_or(u32::MAX);
    if lines.is_empty() {
        return Ok(Some(file));
    }
    let mut patch = match lines.len() {
        1 => "@@ -0,0 +1 @@\n".to_string(),
        n => format!("@@ -0,0 +1,{n} @@\n"),
    };
    for line in lines {
        patch.push('+');
        patch.push_str(&String::from_utf8_lossy(line));
        if !line.ends_with(b"\n") {
            patch.push_str("\n\\ No newline at end of file\n");
        }
    }
    if *truncated || patch.len() > *budget {
        *truncated = true;
    } else {
        *budget -= patch.len();
        file.patch = patch;
    }
    Ok(Some(file))
}

/// Whether the content looks binary (a NUL in its first bytes) and how many lines it has.
fn count_lines(mut f: impl Read) -> std::io::Result<(bool, u32)> {
    let mut buf = vec![0u8; 1 << 16];
    let (mut seen, mut lines, mut last) = (0usize, 0u32, b'\n');
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        let chunk = &buf[..n];
        if seen < BINARY_PROBE && chunk[..n.min(BINARY_PROBE - seen)].contains(&0) {
            return Ok((true, 0));
        }
        seen += n;
        let newlines = chunk.iter().filter(|b| **b == b'\n').count();
        lines = lines.saturating_add(u32::try_from(newlines).unwrap_or(u32::MAX));
        last = chunk[n - 1];
    }
    Ok((false, lines + u32::from(last != b'\n')))
}

/// Runs `git ARGS` in `dir`, handing each line of its output to `each` as it arrives; bounded in time
/// like every git run here (git is killed with its process group past the limit).
fn stream(dir: &Path, args: &[&str], mut each: impl FnMut(&[u8])) -> Result<(), GitError> {
    use std::os::unix::process::CommandExt;
    let doing = "diff the run";
    let mut cmd = git(dir, args);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = cmd
        .spawn()
        .map_err(|e| GitError::internal("running git to diff the run (is git on PATH?)", &e))?;
    let pid = child.id();
    let stderr = child.stderr.take().map(|mut pipe| {
        std::thread::spawn(move || {
            let mut kept = Vec::new();
            let _ = (&mut pipe).take(64 * 1024).read_to_end(&mut kept);
            let _ = std::io::copy(&mut pipe, &mut std::io::sink());
            String::from_utf8_lossy(&kept).into_owned()
        })
    });
    let (stop, stopped) = std::sync::mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        let timed_out = matches!(
            stopped.recv_timeout(TIMEOUT),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout)
        );
        if timed_out && let Ok(pgid) = i32::try_from(pid) {
            let pgid = nix::unistd::Pid::from_raw(pgid);
            let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
        }
        timed_out
    });
    let mut read_error = None;
    if let Some(stdout) = child.stdout.take() {
        let mut reader = BufReader::with_capacity(1 << 16, stdout);
        let mut line = Vec::new();
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) => break,
                Ok(_) => each(&line),
                Err(e) => {
                    read_error = Some(e);
                    let _ = child.kill();
                    break;
                }
            }
        }
    }
    let status = child.wait();
    drop(stop);
    let timed_out = watchdog.join().unwrap_or(false);
    let stderr = stderr.and_then(|h| h.join().ok()).unwrap_or_default();
    if timed_out {
        return Err(GitError::new(
            ErrorCode::Internal,
            format!(
                "git did not {doing} within {} s and was stopped",
                TIMEOUT.as_secs()
            ),
        ));
    }
    if let Some(e) = read_error {
        return Err(GitError::internal("reading the diff", &e));
    }
    let status = status.map_err(|e| GitError::internal("waiting for git diff", &e))?;
    if !status.success() {
        return Err(GitError::new(
            ErrorCode::Internal,
            format!("could not {doing}: {}", stderr.trim()),
        ));
    }
    Ok(())
}
