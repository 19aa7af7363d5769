//! Rebase and merge on real repositories: all or nothing, conflicts named, dirty working copies refused
//! and left exactly as they were.

use std::path::Path;

use vibebridge_tunnel::git::{Author, GitAnswer, GitRequest, MergeStrategy};
use vibebridge_tunnel::reply::ErrorCode;

use super::Fixture;
use super::run_diff::worktree;

fn rebase(dir: &Path, onto: &str) -> GitRequest {
    GitRequest::Rebase {
        repo: dir.display().to_string(),
        onto: onto.into(),
    }
}

fn merge(f: &Fixture, branch: &str, into: &str, strategy: MergeStrategy) -> GitRequest {
    GitRequest::Merge {
        repo: f.repo_str(),
        branch: branch.into(),
        into: into.into(),
        strategy,
        message: "Fix the login (WEB-1)".into(),
        author: Author {
            name: "Ada Lovelace".into(),
            email: "ada@example.invalid".into(),
        },
    }
}

fn merged(f: &Fixture, req: GitRequest) -> String {
    match f.ok(req) {
        GitAnswer::Merged { commit } => commit,
        other => panic!("not a merge: {other:?}"),
    }
}

fn rev(f: &Fixture, dir: &Path, spec: &str) -> String {
    f.git_ok(dir, &["rev-parse", spec]).trim().to_string()
}

fn commit_file(f: &Fixture, dir: &Path, rel: &str, content: &str) {
    std::fs::write(dir.join(rel), content).unwrap();
    f.git_ok(dir, &["add", rel]);
    f.git_ok(dir, &["commit", "-q", "-m", &format!("edit {rel}")]);
}

/// Proves a clean rebase replays the run's commits on top of the base and answers the new status.
#[test]
fn rebase_onto_a_moved_base_succeeds() {
    let f = Fixture::with_files(&[("a.txt", "a\n"), ("b.txt", "b\n")]);
    let w = worktree(&f, "run");
    commit_file(&f, &w, "a.txt", "run\n");
    commit_file(&f, &f.repo, "b.txt", "base\n");
    let GitAnswer::Status(s) = f.ok(rebase(&w, "main")) else {
        panic!("not a status")
    };
    assert_eq!(s.branch.as_deref(), Some("run"));
    assert_eq!(rev(&f, &w, "HEAD~1"), rev(&f, &f.repo, "main"));
    assert_eq!(std::fs::read_to_string(w.join("b.txt")).unwrap(), "base\n");
    assert_eq!(std::fs::read_to_string(w.join("a.txt")).unwrap(), "run\n");
}

/// Proves a conflicting rebase is aborted with the files named, leaving HEAD, files and state as they were.
#[test]
fn rebase_conflict_names_files_and_changes_nothing() {
    let f = Fixture::with_files(&[("a.txt", "a\n"), ("b.txt", "b\n")]);
    let w = worktree(&f, "run");
    commit_file(&f, &w, "a.txt", "run\n");
    commit_file(&f, &w, "b.txt", "run\n");
    commit_file(&f, &f.repo, "a.txt", "base\n");
    commit_file(&f, &f.repo, "b.txt", "base\n");
    let head = rev(&f, &w, "HEAD");
    let (code, message) = f.err(rebase(&w, "main"));
    assert_eq!(code, ErrorCode::GitConflict);
    assert_eq!(
        message,
        "rebasing onto main conflicts in a.txt; nothing was changed: resolve them (or ask the agent to) \
         and rebase again",
        "git stops at the first conflicting commit"
    );
    assert_eq!(rev(&f, &w, "HEAD"), head);
    assert_eq!(
        f.git_ok(&w, &["symbolic-ref", "HEAD"]).trim(),
        "refs/heads/run"
    );
    assert_eq!(f.git_ok(&w, &["status", "--porcelain"]), "");
    assert_eq!(std::fs::read_to_string(w.join("a.txt")).unwrap(), "run\n");
}

/// Proves a rebase is refused while the work tree has uncommitted or untracked files, naming them.
#[test]
fn rebase_is_refused_when_dirty() {
    let f = Fixture::with_files(&[("a.txt", "a\n")]);
    let w = worktree(&f, "run");
    commit_file(&f, &f.repo, "a.txt", "base\n");
    std::fs::write(w.join("notes.md"), "x").unwrap();
    let head = rev(&f, &w, "HEAD");
    let (code, message) = f.err(rebase(&w, "main"));
    assert_eq!(code, ErrorCode::Conflict);
    assert!(
        message.contains("1 uncommitted changes (notes.md)"),
        "{message}"
    );
    assert!(
        message.contains("commit or discard them first"),
        "{message}"
    );
    assert_eq!(rev(&f, &w, "HEAD"), head);
}

/// Proves a squash into the base checked out clean in the working copy makes one commit with the run's
/// tree, the message and author asked for, and updates that working copy's files.
#[test]
fn squash_into_a_clean_checked_out_base() {
    let f = Fixture::with_files(&[("a.txt", "a\n")]);
    let w = worktree(&f, "run");
    commit_file(&f, &w, "a.txt", "one\n");
    commit_file(&f, &w, "c.txt", "new\n");
    let old = rev(&f, &f.repo, "main");
    let commit = merged(&f, merge(&f, "run", "main", MergeStrategy::Squash));
    assert_eq!(rev(&f, &f.repo, "main"), commit);
    assert_eq!(rev(&f, &f.repo, &format!("{commit}^@")), old, "one parent");
    assert_eq!(
        rev(&f, &f.repo, "main^{tree}"),
        rev(&f, &f.repo, "run^{tree}")
    );
    let show = f.git(&["show", "-s", "--format=%an <%ae>|%cn|%B", &commit]);
    assert_eq!(
        show.trim(),
        "Ada Lovelace <ada@example.invalid>|Ada Lovelace|Fix the login (WEB-1)"
    );
    assert_eq!(f.read("a.txt"), "one\n");
    assert_eq!(f.read("c.txt"), "new\n");
    assert_eq!(f.git(&["status", "--porcelain"]), "");
    let (code, _) = f.err(merge(&f, "run", "main", MergeStrategy::Squash));
    assert_eq!(
        code,
        ErrorCode::NothingToCommit,
        "its changes are in already"
    );
}

/// Proves a merge into a base checked out in a dirty working copy is refused with the reason, changing
/// neither the branch nor the files.
#[test]
fn merge_is_refused_when_the_checked_out_base_is_dirty() {
    let f = Fixture::with_files(&[("a.txt", "a\n")]);
    let w = worktree(&f, "run");
    commit_file(&f, &w, "a.txt", "run\n");
    f.write("a.txt", "mine\n");
    let old = rev(&f, &f.repo, "main");
    let (code, message) = f.err(merge(&f, "run", "main", MergeStrategy::Squash));
    assert_eq!(code, ErrorCode::Conflict);
    assert_eq!(
        message,
        format!(
            "main is checked out in {}, which has 1 uncommitted changes (a.txt); commit or stash them \
             there, then merge again",
            f.repo.display()
        )
    );
    assert_eq!(rev(&f, &f.repo, "main"), old);
    assert_eq!(f.read("a.txt"), "mine\n");
}

/// Proves every strategy works on a base checked out nowhere: squash (one parent), merge commit (two
/// parents), fast-forward (the branch's own commit), and fast-forward refused once the base diverged.
#[test]
fn merges_into_a_base_checked_out_nowhere() {
    let f = Fixture::with_files(&[("a.txt", "a\n"), ("b.txt", "b\n")]);
    f.git(&["branch", "release"]);
    let w = worktree(&f, "run");
    commit_file(&f, &w, "a.txt", "run\n");
    let base = rev(&f, &f.repo, "release");
    let squash = merged(&f, merge(&f, "run", "release", MergeStrategy::Squash));
    assert_eq!(rev(&f, &f.repo, "release"), squash);
    assert_eq!(rev(&f, &f.repo, &format!("{squash}^@")), base);
    assert_eq!(
        rev(&f, &f.repo, "release^{tree}"),
        rev(&f, &f.repo, "run^{tree}")
    );
    assert_eq!(
        f.read("a.txt"),
        "a\n",
        "the working copy (on main) is untouched"
    );

    f.git(&["branch", "-f", "release", &base]);
    commit_file(&f, &f.repo, "b.txt", "main\n");
    f.git(&["branch", "-f", "release", "main"]);
    f.git(&["checkout", "-q", "--detach"]);
    let two = merged(&f, merge(&f, "run", "release", MergeStrategy::MergeCommit));
    let parents = f.git(&["rev-list", "--parents", "-n1", &two]);
    assert_eq!(
        parents.split_whitespace().count(),
        3,
        "a merge commit has two parents"
    );
    assert!(parents.contains(&rev(&f, &f.repo, "run")));

    let (code, message) = f.err(merge(&f, "run", "main", MergeStrategy::FastForward));
    assert_eq!(code, ErrorCode::Conflict);
    assert_eq!(
        message,
        "cannot fast-forward: main has commits that run does not; rebase first"
    );
    f.git(&["branch", "-f", "release", &base]);
    let ff = merged(&f, merge(&f, "run", "release", MergeStrategy::FastForward));
    assert_eq!(ff, rev(&f, &f.repo, "run"));
    assert_eq!(rev(&f, &f.repo, "release"), ff);
}

/// Proves a conflicting merge changes nothing, whether the base is checked out (files and ref intact) or
/// not (ref intact), and names the files.
#[test]
fn merge_conflict_changes_nothing() {
    let f = Fixture::with_files(&[("a.txt", "a\n")]);
    let w = worktree(&f, "run");
    commit_file(&f, &w, "a.txt", "run\n");
    commit_file(&f, &f.repo, "a.txt", "base\n");
    f.git(&["branch", "release"]);
    for into in ["main", "release"] {
        let old = rev(&f, &f.repo, into);
        let (code, message) = f.err(merge(&f, "run", into, MergeStrategy::Squash));
        assert_eq!(code, ErrorCode::GitConflict);
        assert_eq!(
            message,
            format!(
                "merging run into {into} conflicts in a.txt; nothing was changed: rebase run onto {into} \
                 and resolve them (or ask the agent to), then merge again"
            )
        );
        assert_eq!(rev(&f, &f.repo, into), old);
    }
    assert_eq!(f.read("a.txt"), "base\n");
    assert_eq!(f.git(&["status", "--porcelain"]), "");
}
