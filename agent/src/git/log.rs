//! History and branches: a page of `git log` from a revision or HEAD, and the local and
//! remote-tracking branches with their targets and upstreams.

use gix::bstr::ByteSlice;
use vibebridge_tunnel::git::{BranchInfo, BranchList, CommitInfo, GitLog, MAX_LOG_PAGE};
use vibebridge_tunnel::reply::ErrorCode;

use super::{GitError, OrGit, Repo};

/// Commits `skip..skip+limit` of the history from `rev` (default HEAD), newest first.
pub(crate) fn page(r: &Repo, rev: Option<&str>, skip: u32, limit: u32) -> Result<GitLog, GitError> {
    if limit == 0 {
        return Err(GitError::bad_request(format!(
            "limit must be between 1 and {MAX_LOG_PAGE}"
        )));
    }
    let limit = (limit as usize).min(MAX_LOG_PAGE);
    let mut repo = r.repo.clone();
    // Each commit is looked up twice by the date-ordered walk; a small cache makes that cheap.
    repo.object_cache_size_if_unset(4 * 1024 * 1024);
    let start = match rev {
        Some(rev) => resolve_commit(&repo, rev)?,
        None => match repo.head().or_git("reading HEAD")?.id() {
            Some(id) => id.detach(),
            // No commits yet: an empty history, not an error.
            None => {
                return Ok(GitLog {
                    commits: Vec::new(),
                    next_skip: None,
                });
            }
        },
    };
    let walk = repo
        .rev_walk([start])
        .sorting(gix::revision::walk::Sorting::ByCommitTime(
            gix::traverse::commit::simple::CommitTimeOrder::NewestFirst,
        ))
        .all()
        .or_git("walking history")?;
    let mut commits = Vec::with_capacity(limit);
    let mut more = false;
    for info in walk.skip(skip as usize) {
        let info = info.or_git("walking history")?;
        if commits.len() == limit {
            more = true;
            break;
        }
        let commit = info.object().or_git("reading a commit")?;
        commits.push(commit_info(&commit)?);
    }
    let next_skip = more.then(|| skip.saturating_add(limit as u32));
    Ok(GitLog { commits, next_skip })
}

/// The commit `rev` names (a branch, tag or id), or `unknown_ref`.
pub(crate) fn resolve_commit(repo: &gix::Repository, rev: &str) -> Result<gix::ObjectId, GitError> {
    if rev.is_empty() || rev.contains('\0') || rev.starts_with('-') || rev.len() > 1024 {
        return Err(GitError::bad_request(format!(
            "revision {rev:?} is not usable; give a branch, tag or commit id"
        )));
    }
    let unknown = || {
        GitError::new(
            ErrorCode::UnknownRef,
            format!("no commit is named {rev:?} in this repository; check the branch, tag or id"),
        )
    };
    let id = repo
        .rev_parse_single(format!("{rev}^{{commit}}").as_str())
        .map_err(|_| unknown())?;
    Ok(id.detach())
}

fn commit_info(commit: &gix::Commit<'_>) -> Result<CommitInfo, GitError> {
    let c = commit.decode().or_git("decoding a commit")?;
    let author = c.author().or_git("decoding a commit's author")?;
    Ok(CommitInfo {
        id: commit.id.to_string(),
        parents: c.parents().map(|p| p.to_string()).collect(),
        author_name: author.name.trim().to_str_lossy().into_owned(),
        author_email: author.email.trim().to_str_lossy().into_owned(),
        time: author.seconds(),
        summary: c.message().summary().to_str_lossy().into_owned(),
        message: c.message.to_str_lossy().into_owned(),
    })
}

/// Local branches, then remote-tracking ones, each sorted by name.
pub(crate) fn branches(r: &Repo) -> Result<BranchList, GitError> {
    let repo = &r.repo;
    let current = repo.head_name().or_git("reading HEAD")?;
    let refs = repo.references().or_git("reading references")?;
    let mut local = Vec::new();
    for reference in refs.local_branches().or_git("listing branches")? {
        let mut reference = reference.or_git("reading a branch")?;
        let Some(target) = target(&mut reference)? else {
            continue;
        };
        let name = reference.name();
        let upstream = match reference.remote_tracking_ref_name(gix::remote::Direction::Fetch) {
            Some(Ok(up)) => Some(up.shorten().to_string()),
            _ => None,
        };
        local.push(BranchInfo {
            name: name.shorten().to_string(),
            remote: false,
            current: current.as_ref().is_some_and(|c| c.as_ref() == name),
            target,
            upstream,
        });
    }
    let mut remote = Vec::new();
    for reference in refs.remote_branches().or_git("listing remote branches")? {
        let mut reference = reference.or_git("reading a remote branch")?;
        // `origin/HEAD` only points at another remote branch; git lists it as an alias.
        if matches!(reference.target(), gix::refs::TargetRef::Symbolic(_)) {
            continue;
        }
        let Some(target) = target(&mut reference)? else {
            continue;
        };
        remote.push(BranchInfo {
            name: reference.name().shorten().to_string(),
            remote: true,
            current: false,
            target,
            upstream: None,
        });
    }
    local.sort_by(|a, b| a.name.cmp(&b.name));
    remote.sort_by(|a, b| a.name.cmp(&b.name));
    local.extend(remote);
    Ok(BranchList { branches: local })
}

/// The commit a branch points at; `None` for a dangling symbolic ref.
fn target(reference: &mut gix::Reference<'_>) -> Result<Option<String>, GitError> {
    match reference.peel_to_id() {
        Ok(id) => Ok(Some(id.to_string())),
        Err(_) if matches!(reference.target(), gix::refs::TargetRef::Symbolic(_)) => Ok(None),
        Err(e) => Err(GitError::internal("resolving a branch", &e)),
    }
}
