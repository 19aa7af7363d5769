//! The work model's part of the RBAC matrix fixture: a workspace laid out like node `n1` (its owner owns
//! it, its member is a member, the revoked node's owner is a viewer, the outsider is not in it), and fresh
//! tasks, comments, attachments, projects and spare workspaces for requests that change or delete them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use vibebridge_main::store::{
    Attachment, AttachmentId, Comment, CommentId, ConnectedRepo, ConnectedRepoId, Member, Place,
    Project, ProjectId, PullRequest, PullRequestId, ReviewComment, ReviewCommentId, Run, RunId,
    RunStatus, Store, Task, TaskStatus, UserId, WorkspaceId, WorkspaceRole,
};
use vibebridge_main::store::{NoticeKind, Webhook, WebhookId, WebhookKind};

/// The workspace every work-model cell uses.
pub struct WorkFx {
    ws: WorkspaceId,
    owner: UserId,
    member: UserId,
    viewer: UserId,
    target: UserId,
}

impl WorkFx {
    /// Creates workspace `WEB` owned by `owner`, with `member` (member), `viewer` (viewer) and `target`.
    pub fn setup(
        store: &Store,
        owner: UserId,
        member: UserId,
        viewer: UserId,
        target: UserId,
    ) -> WorkFx {
        let ws = spare(store, "W", "WEB", owner, member, viewer);
        let fx = WorkFx {
            ws,
            owner,
            member,
            viewer,
            target,
        };
        fx.reset(store);
        fx
    }

    /// Puts back what cells change: `target` a member, template `t1` present.
    pub fn reset(&self, store: &Store) {
        store
            .update_workspace(self.ws, |w| {
                w.members.retain(|m| m.user_id != self.target);
                w.members.push(member(self.target, WorkspaceRole::Member));
                Ok::<_, vibebridge_main::store::StoreError>(())
            })
            .unwrap();
        store
            .set_prompt_template(self.ws, "t1", Some("text".into()))
            .unwrap();
    }

    /// `template` with `{ws}`, `{prefix}`, `{spare_ws}`, `{task}`, `{comment}`, `{attachment}`, `{run}`
    /// (a run of a task of its own) and `{project}` filled in; `caller` authors the comment.
    pub fn fill(
        &self,
        store: &Store,
        template: &str,
        caller: Option<UserId>,
        root: &Path,
    ) -> String {
        let mut out = template.replace("{ws}", &self.ws.to_string());
        if out.contains("{prefix}") {
            let n = uuid::Uuid::now_v7().as_u128();
            let letters: String = (0..8)
                .map(|i| char::from(b'A' + ((n >> (i * 5)) % 26) as u8))
                .collect();
            out = out.replace("{prefix}", &letters);
        }
        if out.contains("{spare_ws}") {
            let prefix: String = format!("S{}", &uuid::Uuid::now_v7().simple().to_string()[20..28])
                .to_uppercase()
                .chars()
                .map(|c| if c.is_ascii_digit() { c } else { 'X' })
                .collect();
            let id = spare(
                store,
                "Spare",
                &prefix,
                self.owner,
                self.member,
                self.viewer,
            );
            out = out.replace("{spare_ws}", &id.to_string());
        }
        if out.contains("{task}") {
            let task = store.create_task(self.draft(), Place::Top).unwrap();
            if out.contains("{comment}") {
                let comment = Comment {
                    id: CommentId::new(),
                    task_id: task.id,
                    author: Some(caller.unwrap_or(self.owner)),
                    author_name: None,
                    body: "hello".into(),
                    mentions: Vec::new(),
                    created_at: 1,
                    edited_at: None,
                };
                store.put_comment(self.ws, &comment, true).unwrap();
                out = out.replace("{comment}", &comment.id.to_string());
            }
            if out.contains("{attachment}") {
                let a = Attachment {
                    id: AttachmentId::new(),
                    task_id: task.id,
                    filename: "a.txt".into(),
                    content_type: "text/plain".into(),
                    size: 2,
                    created_at: 1,
                };
                store.put_attachment(&a, b"hi").unwrap();
                out = out.replace("{attachment}", &a.id.to_string());
            }
            out = out.replace("{task}", &task.id.to_string());
        }
        if out.contains("{run}") {
            let task = store.create_task(self.draft(), Place::Top).unwrap();
            let run = self.run(task.id);
            store.insert_run(&run).unwrap();
            if out.contains("{review_comment}") {
                let c = ReviewComment {
                    id: ReviewCommentId::new(),
                    run_id: run.id,
                    author: caller.unwrap_or(self.owner),
                    path: "a.txt".into(),
                    line: 1,
                    side: Default::default(),
                    code: "a".into(),
                    body: "why?".into(),
                    outdated: false,
                    sent_at: None,
                    created_at: 1,
                    edited_at: None,
                };
                store.put_review_comment(&c, self.ws, task.id).unwrap();
                out = out.replace("{review_comment}", &c.id.to_string());
            }
            out = out.replace("{run}", &run.id.to_string());
        }
        if out.contains("{connected_repo}") {
            let name = format!("r{}", uuid::Uuid::now_v7().simple());
            let repo = ConnectedRepo {
                id: ConnectedRepoId::new(),
                workspace_id: self.ws,
                github_id: 42,
                owner: "acme".into(),
                name: name.clone(),
                full_name: format!("acme/{name}"),
                default_branch: "main".into(),
                private: true,
                html_url: format!("https://github.invalid/acme/{name}"),
                clone_url: format!("https://github.invalid/acme/{name}.git"),
                connected_by: self.owner,
                created_at: 1,
            };
            store.connect_repo(&repo).unwrap();
            out = out.replace("{connected_repo}", &repo.id.to_string());
        }
        if out.contains("{webhook}") {
            // Its URL is not sealed with main's key: a test delivery is refused by the worker, which is not
            // what the matrix looks at.
            let hook = Webhook {
                id: WebhookId::new(),
                workspace_id: self.ws,
                name: "h".into(),
                kind: WebhookKind::Slack,
                url: "v1.unsealed".into(),
                url_hint: "https://hooks.slack.invalid/…".into(),
                secret: None,
                events: NoticeKind::ALL.to_vec(),
                enabled: true,
                created_by: self.owner,
                created_at: 1,
            };
            store.put_webhook(&hook).unwrap();
            out = out.replace("{webhook}", &hook.id.to_string());
        }
        if out.contains("{pull_request}") {
            let task = store.create_task(self.draft(), Place::Top).unwrap();
            let run = self.run(task.id);
            store.insert_run(&run).unwrap();
            let pr = PullRequest {
                id: PullRequestId::new(),
                workspace_id: self.ws,
                task_id: task.id,
                run_id: run.id,
                repo_id: ConnectedRepoId::new(),
                repo_full_name: "acme/web".into(),
                number: 7,
                url: "https://github.invalid/acme/web/pull/7".into(),
                title: "t".into(),
                head_branch: "vb/x".into(),
                base_branch: "main".into(),
                head_sha: "0".repeat(40),
                state: Default::default(),
                checks: Default::default(),
                review: Default::default(),
                review_comments: 0,
                autofix: false,
                rounds: 0,
                sent_comment: 0,
                sent_review: 0,
                sent_checks_sha: None,
                created_by: self.owner,
                note: None,
                polled_at: None,
                merged_at: None,
                created_at: 1,
                updated_at: 1,
            };
            store.create_pull_request(&pr).unwrap();
            out = out.replace("{pull_request}", &pr.id.to_string());
        }
        if out.contains("{project}") {
            let p = Project {
                id: ProjectId::new(),
                workspace_id: self.ws,
                name: "p".into(),
                node_id: "n1".into(),
                repo_path: root.display().to_string(),
                base_branch: "main".into(),
                scripts: Default::default(),
                copy_files: Vec::new(),
                branch_template: "vb/{key}-{slug}".into(),
                github_repo: None,
                created_by: self.owner,
                created_at: 1,
                updated_at: 1,
            };
            store.create_project(&p).unwrap();
            out = out.replace("{project}", &p.id.to_string());
        }
        out
    }

    /// A run of `task` that waits to start (its project is gone, so it never will).
    fn run(&self, task: vibebridge_main::store::TaskId) -> Run {
        Run {
            id: RunId::new(),
            workspace_id: self.ws,
            task_id: task,
            project_id: ProjectId::new(),
            node_id: "n1".into(),
            session_id: None,
            created_by: self.owner,
            provider: vibebridge_tunnel::session::Provider::Claude,
            model: None,
            permission_mode: None,
            mode: vibebridge_tunnel::run::RunMode::InPlace,
            base_branch: "main".into(),
            start_point: None,
            prompt: "p".into(),
            prepared: None,
            status: RunStatus::Queued,
            status_message: None,
            pending_approvals: 0,
            turns: 0,
            last_commit: None,
            commit_error: None,
            usage: Default::default(),
            turn_usage: Default::default(),
            merged: None,
            worktree: Default::default(),
            dev_server: None,
            pushed: None,
            applied_seq: 0,
            created_at: 1,
            started_at: None,
            updated_at: 1,
        }
    }

    fn draft(&self) -> Task {
        Task {
            created_by: Some(self.owner),
            ..Task::draft(self.ws, "a task", TaskStatus::Todo)
        }
    }
}

fn member(user_id: UserId, role: WorkspaceRole) -> Member {
    Member {
        user_id,
        role,
        added_at: 1,
    }
}

/// A workspace named `name` with the matrix's layout.
fn spare(
    store: &Store,
    name: &str,
    prefix: &str,
    owner: UserId,
    member_id: UserId,
    viewer: UserId,
) -> WorkspaceId {
    let ws = store
        .create_workspace(name.into(), prefix.into(), owner)
        .unwrap();
    store
        .update_workspace(ws.id, |w| {
            w.members.push(member(member_id, WorkspaceRole::Member));
            w.members.push(member(viewer, WorkspaceRole::Viewer));
            Ok::<_, vibebridge_main::store::StoreError>(())
        })
        .unwrap();
    ws.id
}
