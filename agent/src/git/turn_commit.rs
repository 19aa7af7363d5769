//! What a task run's turn loop asks of git: a work tree's HEAD, and a commit of everything a turn left
//! (new files too, ignored ones not), by the repository's own identity or VibeBridge's when it has none.

use std::path::Path;

use super::GitError;
use super::admin;

/// A commit made after a turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnCommit {
    /// Its id.
    pub id: String,
    /// Its message's first line.
    pub summary: String,
    /// Files it changed.
    pub files: u32,
}

/// HEAD of the work tree at `dir`, if it has one.
pub fn head(dir: &Path) -> Option<String> {
    admin::text(
        dir,
        &["rev-parse", "--verify", "--quiet", "HEAD"],
        &[],
        "read HEAD",
    )
    .ok()
}

/// Commits everything in the work tree at `dir` with `message`; `None` when nothing changed.
pub fn commit_all(dir: &Path, message: &str) -> Result<Option<TurnCommit>, GitError> {
    admin::text(dir, &["add", "--all"], &[], "stage the turn's changes")?;
    let staged = admin::text(
        dir,
        &["diff", "--cached", "--name-only", "-z"],
        &[],
        "list the turn's changes",
    )?;
    let files = staged.split('\0').filter(|f| !f.is_empty()).count();
    if files == 0 {
        return Ok(None);
    }
    let identity = admin::identity_args(dir);
    let mut args: Vec<&str> = identity.iter().map(String::as_str).collect();
    args.extend(["commit", "--quiet", "-m", message]);
    admin::text(dir, &args, &[], "commit the turn's changes")?;
    Ok(Some(TurnCommit {
        id: admin::text(dir, &["rev-parse", "HEAD"], &[], "read the new commit")?,
        summary: message.lines().next().unwrap_or_default().to_string(),
        files: u32::try_from(files).unwrap_or(u32::MAX),
    }))
}
