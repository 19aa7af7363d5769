//! Usage: the tokens and cost of task runs' agent turns, rolled up per day, run, task, project, workspace,
//! user, node or agent over a time range. A person sees the usage of the workspaces they belong to (of the
//! tasks they may see); instance admins see all.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::OpError;
use crate::state::AppState;
use crate::store::{TaskId, UsageRecord, UsageTotals, User, WorkspaceId, now_ms};

const DAY_MS: u64 = 86_400_000;
/// The range when none is given: the last 30 days.
const DEFAULT_DAYS: u64 = 30;
/// The longest range one report covers.
const MAX_DAYS: u64 = 400;

/// What usage rows are grouped by.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum UsageGroup {
    /// Calendar days (UTC): the daily chart.
    #[default]
    Day,
    /// Runs.
    Run,
    /// Tasks.
    Task,
    /// Projects.
    Project,
    /// Workspaces.
    Workspace,
    /// Who started the runs.
    User,
    /// Nodes.
    Node,
    /// Agents (`claude`, `codex`).
    Provider,
}

/// `GET /usage?group_by=&from=&to=&workspace=`.
#[derive(Debug, Default, Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct UsageQuery {
    /// Grouping (default `day`).
    #[ts(optional)]
    pub group_by: Option<UsageGroup>,
    /// First day (`YYYY-MM-DD`, UTC; default 30 days ago).
    #[ts(optional)]
    pub from: Option<String>,
    /// Last day, included (`YYYY-MM-DD`, UTC; default today).
    #[ts(optional)]
    pub to: Option<String>,
    /// Only this workspace (id or key prefix).
    #[ts(optional)]
    pub workspace: Option<String>,
}

/// One group's usage.
#[derive(Debug, Serialize, ts_rs::TS)]
pub struct UsageRow {
    /// The group's id (a day, a run id, a username…).
    pub key: String,
    /// What people call it (a task key and title, a project's name…).
    pub label: String,
    /// Tokens and cost; `turns` counts agent turns.
    pub usage: UsageTotals,
}

/// A usage report.
#[derive(Debug, Serialize, ts_rs::TS)]
pub struct UsageReport {
    /// How rows are grouped.
    pub group_by: UsageGroup,
    /// First day covered.
    pub from: String,
    /// Last day covered.
    pub to: String,
    /// One row per group: days in order, the rest by cost, highest first.
    pub rows: Vec<UsageRow>,
    /// Everything in the range.
    pub total: UsageTotals,
}

fn parse_day(field: &str, s: &str) -> Result<u64, OpError> {
    let bad = || {
        OpError::BadRequest(format!(
            "{field} {s:?} is not a day; write it as YYYY-MM-DD, e.g. 2026-12-01"
        ))
    };
    let date = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| bad())?;
    let ms = date
        .and_hms_opt(0, 0, 0)
        .ok_or_else(bad)?
        .and_utc()
        .timestamp_millis();
    u64::try_from(ms).map_err(|_| bad())
}

fn day_of(ms: u64) -> String {
    chrono::DateTime::from_timestamp_millis(i64::try_from(ms).unwrap_or(i64::MAX))
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

/// The usage `who` may see, grouped as asked.
pub fn report(state: &AppState, who: &User, q: UsageQuery) -> Result<UsageReport, OpError> {
    let today = now_ms() / DAY_MS * DAY_MS;
    let to = match &q.to {
        Some(s) => parse_day("to", s)?,
        None => today,
    } + DAY_MS;
    let from = match &q.from {
        Some(s) => parse_day("from", s)?,
        None => to.saturating_sub(DEFAULT_DAYS * DAY_MS),
    };
    if from >= to || (to - from) / DAY_MS > MAX_DAYS {
        return Err(OpError::BadRequest(format!(
            "from must be on or before to, and a report covers at most {MAX_DAYS} days"
        )));
    }
    let only = match &q.workspace {
        Some(w) => Some(super::workspaces::access(state, who, w)?.ws.id),
        None => None,
    };
    // Who sees what, decided once per workspace and task.
    let mut spaces: HashMap<WorkspaceId, Option<bool>> = HashMap::new();
    let mut tasks: HashMap<TaskId, bool> = HashMap::new();
    let mut visible = |r: &UsageRecord| -> bool {
        if only.is_some_and(|w| w != r.workspace_id) {
            return false;
        }
        let admin = *spaces.entry(r.workspace_id).or_insert_with(|| {
            super::workspaces::access(state, who, &r.workspace_id.to_string())
                .ok()
                .map(|a| a.is_admin())
        });
        let Some(admin) = admin else {
            return false;
        };
        *tasks.entry(r.task_id).or_insert_with(|| {
            state
                .store
                .task(r.task_id)
                .ok()
                .flatten()
                .is_none_or(|t| t.visible_to(who.id, admin))
        })
    };
    let records = state.store.usage_between(from, to, &mut visible)?;
    let group = q.group_by.unwrap_or_default();
    let mut groups: BTreeMap<String, UsageTotals> = BTreeMap::new();
    let mut total = UsageTotals::default();
    let mut sample: HashMap<String, UsageRecord> = HashMap::new();
    for r in records {
        let key = match group {
            UsageGroup::Day => day_of(r.at),
            UsageGroup::Run => r.run_id.to_string(),
            UsageGroup::Task => r.task_id.to_string(),
            UsageGroup::Project => r.project_id.to_string(),
            UsageGroup::Workspace => r.workspace_id.to_string(),
            UsageGroup::User => r.user_id.to_string(),
            UsageGroup::Node => r.node_id.clone(),
            UsageGroup::Provider => r.provider.to_string(),
        };
        groups.entry(key.clone()).or_default().add(&r.usage);
        total.add(&r.usage);
        sample.entry(key).or_insert(r);
    }
    let mut rows: Vec<UsageRow> = groups
        .into_iter()
        .map(|(key, usage)| UsageRow {
            label: sample
                .get(&key)
                .map(|r| label(state, group, r, &key))
                .unwrap_or_else(|| key.clone()),
            key,
            usage,
        })
        .collect();
    if group != UsageGroup::Day {
        rows.sort_by(|a, b| b.usage.cost_usd.total_cmp(&a.usage.cost_usd));
    }
    Ok(UsageReport {
        group_by: group,
        from: day_of(from),
        to: day_of(to - DAY_MS),
        rows,
        total,
    })
}

/// What people call a group.
fn label(state: &AppState, group: UsageGroup, r: &UsageRecord, key: &str) -> String {
    let store = &state.store;
    let task_key = || {
        let ws = store.workspace(r.workspace_id).ok().flatten();
        let task = store.task(r.task_id).ok().flatten();
        match (ws, task) {
            (Some(ws), Some(t)) => format!("{} {}", ws.task_key(t.number), t.title),
            _ => "(deleted task)".into(),
        }
    };
    match group {
        UsageGroup::Day | UsageGroup::Node | UsageGroup::Provider => key.to_string(),
        UsageGroup::Run => format!("{} ({})", task_key(), r.provider),
        UsageGroup::Task => task_key(),
        UsageGroup::Project => store
            .project(r.project_id)
            .ok()
            .flatten()
            .map_or_else(|| "(deleted project)".into(), |p| p.name),
        UsageGroup::Workspace => store
            .workspace(r.workspace_id)
            .ok()
            .flatten()
            .map_or_else(|| "(deleted workspace)".into(), |w| w.name),
        UsageGroup::User => store
            .user(r.user_id)
            .ok()
            .flatten()
            .map_or_else(|| "(deleted user)".into(), |u| u.username),
    }
}
