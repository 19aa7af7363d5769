//! Console commands for task runs: `runs list TASK`, `runs show RUN`, `runs stop RUN` (`--json` for scripts).
//! They act as the admin's account, like the browser would.

use serde_json::json;

use super::commands::{Ctx, Outcome, Reply};
use super::format::{kv, table};
use super::words::Args;
use crate::ops::runs;
use crate::store::{AuditAction, Run, rfc3339};

fn short(s: Option<&str>) -> String {
    s.map(|s| s.get(..10).unwrap_or(s).to_string())
        .unwrap_or_else(|| "-".into())
}

fn row(r: &Run) -> Vec<String> {
    vec![
        r.id.to_string(),
        r.provider.to_string(),
        r.status.name().to_string(),
        r.prepared
            .as_ref()
            .and_then(|p| p.branch.clone())
            .unwrap_or_else(|| r.mode.name().to_string()),
        r.turns.to_string(),
        r.pending_approvals.to_string(),
        rfc3339(r.created_at),
    ]
}

impl Ctx<'_> {
    pub(super) fn runs_list(&self, args: &Args) -> Result<Outcome, Reply> {
        args.check_flags(&["--json"])
            .map_err(|e| Reply::error(2, e))?;
        let task = args.id(1, "task key").map_err(|e| Reply::error(2, e))?;
        let all = runs::list(self.state, self.person()?, task)?;
        let rows: Vec<Vec<String>> = all.iter().map(row).collect();
        let text = table(
            &[
                "id", "agent", "status", "branch", "turns", "waiting", "created",
            ],
            &rows,
        );
        Ok(Outcome::Done(Reply::ok(
            text,
            serde_json::to_value(&all).unwrap_or_default(),
        )))
    }

    pub(super) fn runs_show(&self, args: &Args) -> Result<Outcome, Reply> {
        let id = args.id(1, "run id").map_err(|e| Reply::error(2, e))?;
        let (access, _, run) = runs::visible(self.state, self.person()?, id)?;
        let d = runs::detail(self.state, &access, run)?;
        let r = &d.run;
        let processes: Vec<String> = d
            .processes
            .iter()
            .map(|p| {
                format!(
                    "#{} {} {:?}{}",
                    p.number,
                    p.kind.name(),
                    p.status,
                    p.exit_code
                        .map(|c| format!(" exit {c}"))
                        .unwrap_or_default()
                )
            })
            .collect();
        let text = kv(&[
            ("id", r.id.to_string()),
            ("task", d.task_key.clone()),
            ("agent", r.provider.to_string()),
            ("status", r.status.name().to_string()),
            ("why", r.status_message.clone().unwrap_or_default()),
            ("node", r.node_id.clone()),
            (
                "work tree",
                r.prepared
                    .as_ref()
                    .map(|p| p.path.clone())
                    .unwrap_or_default(),
            ),
            (
                "branch",
                r.prepared
                    .as_ref()
                    .and_then(|p| p.branch.clone())
                    .unwrap_or_default(),
            ),
            ("base", r.base_branch.clone()),
            ("last commit", short(r.last_commit.as_deref())),
            (
                "session",
                r.session_id.map(|s| s.to_string()).unwrap_or_default(),
            ),
            (
                "usage",
                format!(
                    "{} in / {} out, ${:.4}",
                    r.usage.input_tokens, r.usage.output_tokens, r.usage.cost_usd
                ),
            ),
            ("processes", processes.join(", ")),
        ]);
        Ok(Outcome::Done(Reply::ok(
            text,
            serde_json::to_value(&d).unwrap_or_default(),
        )))
    }

    pub(super) async fn runs_stop(&self, args: &Args) -> Result<Outcome, Reply> {
        let id = args.id(1, "run id").map_err(|e| Reply::error(2, e))?;
        let run = runs::stop(self.state, &self.actor(), self.person()?, id).await?;
        self.audit(AuditAction::ConsoleRunsStop, &run.id.to_string(), None);
        Ok(Outcome::Done(Reply::ok(
            format!("stopping run {}\n", run.id),
            json!({"stopping": run.id, "status": run.status}),
        )))
    }
}
