//! Reviewing and delivering runs end to end, with the real `claude` CLI against the mock Anthropic API and real
//! git: line comments reach the agent exactly as sent, the agent's fix outdates them, a squash merge lands on
//! the base with the expected tree and message and moves the task to done, and a rebase conflict changes
//! nothing and names the file.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use serde_json::{Value, json};
use vibebridge_tests::run_fx::{RunFx, git};

fn idle_after(turns: u64) -> impl Fn(&Value) -> bool {
    move |r: &Value| r["status"] == "idle" && r["turns"].as_u64() >= Some(turns)
}

/// Proves the review loop: a comment on a line of the run's diff is sent to the agent as one follow-up that
/// quotes file, line, code and comment (the mock API receives exactly that text), the agent's fix is committed
/// as the run's second turn and outdates the comment, and a squash merge puts the agent's work on the base as
/// one commit named after the task, moves the task to done and removes the clean work tree.
#[tokio::test]
async fn comment_fix_and_squash_merge() {
    let mut rf = RunFx::new("review-loop", json!({})).await;
    let key = rf.task("Count to three").await;
    let run = rf
        .start(
            &key,
            json!({"provider": "claude", "permission_mode": "bypassPermissions",
                   "prompt": "Write it [[shell:printf 'one\\ntwo\\nthree\\n' > count.txt]]"}),
        )
        .await;
    let id = run["id"].as_str().unwrap().to_string();
    let first = rf.until_run(&id, idle_after(1)).await;
    let wt = PathBuf::from(first["prepared"]["path"].as_str().unwrap());

    let (s, review) = rf.fx.api.get(&format!("/api/v1/runs/{id}/diff")).await;
    assert_eq!(s, 200, "{review}");
    let files = review["diff"]["files"].as_array().unwrap();
    assert_eq!(files.len(), 1, "{review}");
    assert_eq!(files[0]["path"], "count.txt");
    assert_eq!(files[0]["additions"], 3);
    assert_eq!(review["diff"]["ahead"], 1);

    let fix = "Use a digit here [[shell:sed -i 's/^two$/2/' count.txt]]";
    let (s, c) = rf
        .fx
        .api
        .post(
            &format!("/api/v1/runs/{id}/comments"),
            json!({"path": "count.txt", "line": 2, "code": "two", "body": fix}),
        )
        .await;
    assert_eq!(s, 201, "{c}");
    let before = rf.fx.claude.model_requests().len();
    let (s, sent) = rf
        .fx
        .api
        .post(&format!("/api/v1/runs/{id}/comments/send"), json!({}))
        .await;
    assert_eq!(s, 200, "{sent}");
    assert_eq!(sent["sent"], 1);
    let expected = format!(
        "Review comments on your changes:\n\n1. count.txt line 2:\n```\ntwo\n```\n{fix}\n\nAddress each comment in the code, then say briefly what you changed."
    );
    let second = rf.until_run(&id, idle_after(2)).await;
    let quoted = serde_json::to_string(&expected).unwrap();
    let asked: Vec<String> = rf.fx.claude.model_requests()[before..]
        .iter()
        .map(|r| r.body.to_string())
        .collect();
    assert!(
        asked.iter().any(|b| b.contains(quoted.trim_matches('"'))),
        "the model was not sent the review as written: {asked:?}"
    );
    assert_eq!(
        std::fs::read_to_string(wt.join("count.txt")).unwrap(),
        "one\n2\nthree\n"
    );
    assert_eq!(
        git(&wt, &["log", "-1", "--format=%s"]),
        "WEB-1: Count to three (turn 2)"
    );
    assert_ne!(second["last_commit"], first["last_commit"]);

    let (_, review) = rf.fx.api.get(&format!("/api/v1/runs/{id}/diff")).await;
    let comment = &review["comments"][0];
    assert_eq!(
        (comment["outdated"].as_bool(), comment["sent_at"].is_u64()),
        (Some(true), true),
        "{review}"
    );

    let repo = rf.fx.repo.clone();
    let base_before = git(&repo, &["rev-parse", "HEAD"]);
    let (s, merged) = rf
        .fx
        .api
        .post(
            &format!("/api/v1/runs/{id}/merge"),
            json!({"delete_branch": true}),
        )
        .await;
    assert_eq!(s, 200, "{merged}");
    assert_eq!(merged["status"], "merged");
    // One new commit on the base, with the agent's whole work and the task's name.
    assert_eq!(git(&repo, &["rev-parse", "HEAD^"]), base_before);
    assert_eq!(
        git(&repo, &["log", "-1", "--format=%s"]),
        "Count to three (WEB-1)"
    );
    assert_eq!(
        git(&repo, &["show", "--name-only", "--format=", "HEAD"]),
        "count.txt"
    );
    assert_eq!(
        std::fs::read_to_string(repo.join("count.txt")).unwrap(),
        "one\n2\nthree\n"
    );
    assert_eq!(git(&repo, &["status", "--porcelain"]), "");
    assert_eq!(
        merged["merged"]["commit"].as_str().unwrap(),
        git(&repo, &["rev-parse", "HEAD"])
    );
    assert_eq!(merged["worktree"], "removed", "{merged}");
    assert!(!wt.exists(), "the clean, merged work tree was kept");
    let branch = first["prepared"]["branch"].as_str().unwrap();
    assert_eq!(
        git(&repo, &["branch", "--list", branch]),
        "",
        "the merged branch was kept"
    );
    let (_, task) = rf.fx.api.get(&format!("/api/v1/tasks/{key}")).await;
    assert_eq!(task["status"], "done", "{task}");
}

/// Proves a rebase that conflicts changes nothing (the branch, its work tree and the base are as they were)
/// and names the conflicting file; and a merge is refused while the base's working copy is dirty.
#[tokio::test]
async fn rebase_conflict_and_dirty_base_change_nothing() {
    let mut rf = RunFx::new("review-conflict", json!({})).await;
    let repo = rf.fx.repo.clone();
    std::fs::write(repo.join("shared.txt"), "base\n").unwrap();
    git(&repo, &["add", "shared.txt"]);
    git(
        &repo,
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-qm",
            "shared",
        ],
    );
    let key = rf.task("Edit the shared file").await;
    let (done, wt) = rf
        .claude_turn(&key, "Edit [[shell:echo agent > shared.txt]]", json!({}))
        .await;
    let id = done["id"].as_str().unwrap().to_string();
    let run_head = git(&wt, &["rev-parse", "HEAD"]);
    std::fs::write(repo.join("shared.txt"), "someone else\n").unwrap();
    git(
        &repo,
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-qam",
            "theirs",
        ],
    );
    let base_head = git(&repo, &["rev-parse", "HEAD"]);

    let (s, e) = rf
        .fx
        .api
        .post(&format!("/api/v1/runs/{id}/rebase"), json!({}))
        .await;
    assert_eq!(s, 409, "{e}");
    assert_eq!(e["error"]["code"], "git_conflict", "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("shared.txt"),
        "{e}"
    );
    assert_eq!(git(&wt, &["rev-parse", "HEAD"]), run_head);
    assert_eq!(git(&wt, &["status", "--porcelain"]), "");
    assert_eq!(
        std::fs::read_to_string(wt.join("shared.txt")).unwrap(),
        "agent\n"
    );

    std::fs::write(repo.join("wip.txt"), "unsaved\n").unwrap();
    let (s, e) = rf
        .fx
        .api
        .post(&format!("/api/v1/runs/{id}/merge"), json!({}))
        .await;
    assert_eq!(s, 409, "{e}");
    assert_eq!(git(&repo, &["rev-parse", "HEAD"]), base_head);
    assert_eq!(
        std::fs::read_to_string(repo.join("wip.txt")).unwrap(),
        "unsaved\n"
    );
    let (_, r) = rf.fx.api.get(&format!("/api/v1/runs/{id}")).await;
    assert_eq!(r["run"]["status"], "idle", "{r}");
}

/// Proves cleanup removes only on evidence: a merged run's work tree with an uncommitted file survives the
/// sweep (and is removed once the file is gone, audited), an archived task's unmerged run keeps its work
/// tree; a work tree that vanished is marked missing and its branch starts a new run; a hand-made worktree is
/// listed without a run and adopted by one.
#[tokio::test]
async fn cleanup_keeps_work_and_worktrees_are_adopted() {
    let mut rf = RunFx::new("review-cleanup", json!({})).await;
    let repo = rf.fx.repo.clone();
    let state = rf.fx.main.state.clone();
    let sweep = || vibebridge_main::ops::runs::cleanup::sweep(&state, std::time::Duration::ZERO);

    // A merged run whose work tree holds a file nobody committed.
    let key = rf.task("Merged with a leftover").await;
    let (done, merged_wt) = rf
        .claude_turn(&key, "Go [[shell:echo merged > merged.txt]]", json!({}))
        .await;
    let merged_id = done["id"].as_str().unwrap().to_string();
    std::fs::write(merged_wt.join("notes.txt"), "mine\n").unwrap();
    let (s, m) = rf
        .fx
        .api
        .post(&format!("/api/v1/runs/{merged_id}/merge"), json!({}))
        .await;
    assert_eq!((s, m["worktree"].as_str()), (200, Some("present")), "{m}");
    assert_eq!(sweep().await, 0);
    assert_eq!(
        std::fs::read_to_string(merged_wt.join("notes.txt")).unwrap(),
        "mine\n"
    );
    std::fs::remove_file(merged_wt.join("notes.txt")).unwrap();
    assert_eq!(sweep().await, 1);
    assert!(!merged_wt.exists());
    let (_, r) = rf.fx.api.get(&format!("/api/v1/runs/{merged_id}")).await;
    assert_eq!(r["run"]["worktree"], "removed", "{r}");
    assert!(
        rf.fx
            .main
            .audit_actions(&merged_id)
            .contains(&"run.cleaned_up".to_string()),
        "the sweep's removal is not audited"
    );

    // An archived task's run that was never merged: its commits are on its branch alone, so it stays.
    let key = rf.task("Abandoned").await;
    let (kept, kept_wt) = rf
        .claude_turn(&key, "Go [[shell:echo draft > draft.txt]]", json!({}))
        .await;
    let kept_id = kept["id"].as_str().unwrap().to_string();
    let (_, t) = rf.fx.api.get(&format!("/api/v1/tasks/{key}")).await;
    let (s, _) = vibebridge_tests::work_fx::patch(
        &rf.fx.api,
        &format!("/api/v1/tasks/{key}"),
        json!({"version": t["version"], "archived": true}),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(sweep().await, 0);
    assert!(kept_wt.join("draft.txt").exists());

    // It vanishes by hand: listing the project's worktrees marks it missing; restored, the task's branch
    // starts a new run.
    std::fs::remove_dir_all(&kept_wt).unwrap();
    let worktrees = format!("/api/v1/projects/{}/worktrees", rf.project);
    let (s, list) = rf.fx.api.get(&worktrees).await;
    assert_eq!(s, 200, "{list}");
    let (_, r) = rf.fx.api.get(&format!("/api/v1/runs/{kept_id}")).await;
    assert_eq!(r["run"]["worktree"], "missing", "{r}");
    let branch = kept["prepared"]["branch"].as_str().unwrap();
    let (_, t) = rf.fx.api.get(&format!("/api/v1/tasks/{key}")).await;
    let (s, _) = vibebridge_tests::work_fx::patch(
        &rf.fx.api,
        &format!("/api/v1/tasks/{key}"),
        json!({"version": t["version"], "archived": false}),
    )
    .await;
    assert_eq!(s, 200);
    let (_, again_wt) = rf
        .claude_turn(
            &key,
            "Carry on [[text:back]]",
            json!({"mode": "existing", "branch": branch}),
        )
        .await;
    assert_eq!(
        std::fs::read_to_string(again_wt.join("draft.txt")).unwrap(),
        "draft\n"
    );

    // A worktree made by hand is listed without a run, and a run adopts it.
    let hand = rf.fx.env.path().join("hand-made");
    git(
        &repo,
        &[
            "worktree",
            "add",
            "-q",
            "-b",
            "hand",
            hand.to_str().unwrap(),
        ],
    );
    let hand = std::fs::canonicalize(&hand).unwrap();
    let (_, list) = rf.fx.api.get(&worktrees).await;
    let entry = list
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["path"] == hand.to_str().unwrap())
        .unwrap_or_else(|| panic!("the hand-made worktree is not listed: {list}"));
    assert!(
        entry["run_id"].is_null() && entry["main"] == false,
        "{entry}"
    );
    let key = rf.task("Adopted").await;
    let (adopted, _) = rf
        .claude_turn(
            &key,
            "Here [[shell:echo adopted > adopted.txt]]",
            json!({"mode": "existing", "path": hand.to_str().unwrap()}),
        )
        .await;
    assert_eq!(adopted["prepared"]["path"], hand.to_str().unwrap());
    assert_eq!(adopted["prepared"]["branch"], "hand");
    assert_eq!(
        git(&hand, &["log", "-1", "--format=%s"]),
        "WEB-3: Adopted (turn 1)"
    );
}
