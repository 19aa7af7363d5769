//! Writing a [`Plan`] into a workspace, and matching the people a file names with its members.

use std::collections::HashMap;

use super::{ExportMember, ImportReport, Plan, SkippedItem};
use crate::ops::workspaces::Access;
use crate::ops::{Actor, OpError};
use crate::state::AppState;
use crate::store::{
    ActivityKind, AuditAction, Member, ProjectId, Task, TaskId, TaskStatus, User, UserId,
    WorkspaceRole, now_ms,
};

/// Matching people named in a file with the workspace's members: by username, full name or email
/// (case-insensitive). Remembers who matched and who did not, for the report.
pub struct People {
    members: Vec<User>,
    matched: Vec<String>,
    unmatched: Vec<String>,
}

impl People {
    /// The workspace's members.
    pub fn new(state: &AppState, access: &Access) -> People {
        let members = access
            .ws
            .members
            .iter()
            .filter_map(|m| state.store.user(m.user_id).ok().flatten())
            .collect();
        People {
            members,
            matched: Vec::new(),
            unmatched: Vec::new(),
        }
    }

    /// Counts the approved users named `usernames` as members too (they are about to join).
    pub fn add<'a>(&mut self, state: &AppState, usernames: impl Iterator<Item = &'a str>) {
        for name in usernames {
            if let Ok(Some(u)) = state.store.user_by_name(name)
                && u.role != crate::store::Role::Pending
                && !u.disabled
                && !self.members.iter().any(|m| m.id == u.id)
            {
                self.members.push(u);
            }
        }
    }

    /// The member named `name`, noting the outcome.
    pub fn find(&mut self, name: &str) -> Option<UserId> {
        self.find_or(name, None)
    }

    /// The member named `name`, or else the one with `email`; the outcome is noted under `name`.
    pub fn find_or(&mut self, name: &str, email: Option<&str>) -> Option<UserId> {
        let name = name.trim();
        if name.is_empty() {
            return None;
        }
        let hit = self
            .lookup(name)
            .or_else(|| email.and_then(|e| self.lookup(e.trim())));
        let list = if hit.is_some() {
            &mut self.matched
        } else {
            &mut self.unmatched
        };
        if !list.iter().any(|n| n == name) {
            list.push(name.to_string());
        }
        hit
    }

    fn lookup(&self, name: &str) -> Option<UserId> {
        let same = |v: Option<&str>| v.is_some_and(|v| v.eq_ignore_ascii_case(name));
        self.members
            .iter()
            .find(|u| {
                u.username.eq_ignore_ascii_case(name)
                    || same(u.name.as_deref())
                    || same(u.email.as_deref())
            })
            .map(|u| u.id)
    }

    /// The members among `names`; the others are reported for `item`.
    pub fn all(&mut self, names: &[String], item: &str, report: &mut ImportReport) -> Vec<UserId> {
        let mut out = Vec::new();
        for n in names {
            match self.find(n) {
                Some(id) if !out.contains(&id) => out.push(id),
                Some(_) => {}
                None => report.skipped.push(SkippedItem {
                    item: format!("{item}: {n}"),
                    reason: "no member of this workspace has that name; left unassigned".into(),
                }),
            }
        }
        out
    }

    /// Puts the matched and unmatched names into the report.
    pub fn finish(self, report: &mut ImportReport) {
        report.matched_people = self.matched;
        report.unmatched_people = self.unmatched;
    }
}

/// Adds the export's members who have an account here (an owner only when the importer is one; else admin).
fn add_members(
    state: &AppState,
    who: &User,
    access: &Access,
    members: &[ExportMember],
    report: &mut ImportReport,
) -> Result<(), OpError> {
    let mut added = Vec::new();
    for m in members {
        let user = state
            .store
            .user_by_name(&m.username)?
            .filter(|u| u.role != crate::store::Role::Pending && !u.disabled);
        let Some(user) = user else {
            report.skipped.push(SkippedItem {
                item: format!("member {}", m.username),
                reason: "no approved account with that username here; invite them later".into(),
            });
            continue;
        };
        if access.ws.role_of(user.id).is_some() || user.id == who.id {
            continue;
        }
        let role = if m.role == WorkspaceRole::Owner && access.role < WorkspaceRole::Owner {
            WorkspaceRole::Admin
        } else {
            m.role
        };
        added.push(Member {
            user_id: user.id,
            role,
            added_at: now_ms(),
        });
    }
    if !added.is_empty() {
        state.store.update_workspace(access.ws.id, |ws| {
            for m in added.clone() {
                if ws.role_of(m.user_id).is_none() {
                    ws.members.push(m);
                }
            }
            Ok::<_, OpError>(())
        })?;
    }
    Ok(())
}

/// Holds an imported task to the limits a created one has (title, description, labels, due date), cutting
/// what is over them and saying so in the report.
fn sanitize(task: &mut Task, report: &mut ImportReport) {
    let item = format!("task {}", task.number);
    let mut note = |what: &str| {
        report.skipped.push(SkippedItem {
            item: item.clone(),
            reason: what.to_string(),
        })
    };
    let title: String = task
        .title
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let title = title.trim();
    if title.chars().count() > 500 {
        note("its title was over 500 characters and was cut");
    }
    task.title = match title.chars().take(500).collect::<String>() {
        t if t.is_empty() => "(untitled)".into(),
        t => t,
    };
    if task.description.len() > MAX_DESCRIPTION {
        let mut cut = MAX_DESCRIPTION;
        while !task.description.is_char_boundary(cut) {
            cut -= 1;
        }
        task.description.truncate(cut);
        note("its description was over 200,000 bytes and was cut");
    }
    let mut labels: Vec<String> = Vec::new();
    for l in task.labels.drain(..) {
        let l: String = l
            .trim()
            .chars()
            .filter(|c| !c.is_control())
            .take(40)
            .collect();
        if !l.is_empty() && !labels.contains(&l) && labels.len() < 20 {
            labels.push(l);
        }
    }
    task.labels = labels;
    if let Some(due) = task.due.take() {
        match crate::ops::tasks::check_due(due.clone()) {
            Ok(d) => task.due = Some(d),
            Err(_) => note(&format!(
                "its due date {due:?} is not a date and was left out"
            )),
        }
    }
}

/// The largest description kept, as for a created task.
const MAX_DESCRIPTION: usize = 200_000;

/// The largest task number taken from a file.
const MAX_TASK_NUMBER: u64 = 1_000_000_000;

/// Positions of an import: a task keeps its key when it is valid, short and free in its column; the others
/// get fresh, evenly spaced keys after the column's last (so ten thousand of them stay short).
#[derive(Default)]
struct Places {
    taken: HashMap<TaskStatus, std::collections::HashSet<String>>,
}

impl Places {
    /// Whether `task` keeps its key (noting it as taken).
    fn keep(&mut self, state: &AppState, access: &Access, task: &Task) -> Result<bool, OpError> {
        let taken = match self.taken.entry(task.status) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                let column = state
                    .store
                    .column(access.ws.id, task.status, None, usize::MAX)?;
                e.insert(column.into_iter().map(|t| t.position).collect())
            }
        };
        let ok = crate::store::rank::validate(&task.position).is_ok()
            && task.position.len() <= crate::store::rank::MAX_KEY_LEN
            && !taken.contains(&task.position);
        if ok {
            taken.insert(task.position.clone());
        }
        Ok(ok)
    }

    /// Gives the tasks without a key (in their order) keys after their column's last.
    fn place(&self, tasks: &mut [Task]) -> Result<(), OpError> {
        let mut by_status: HashMap<TaskStatus, Vec<usize>> = HashMap::new();
        for (i, t) in tasks.iter().enumerate() {
            if t.position.is_empty() {
                by_status.entry(t.status).or_default().push(i);
            }
        }
        for (status, idx) in by_status {
            let last = self
                .taken
                .get(&status)
                .and_then(|keys| keys.iter().max().cloned());
            let base = crate::store::rank::between(last.as_deref(), None)
                .map_err(|e| OpError::Internal(anyhow::anyhow!("position: {e}")))?;
            let keys = crate::store::rank::spaced(idx.len());
            for (i, key) in idx.into_iter().zip(keys) {
                tasks[i].position = format!("{base}{key}");
            }
        }
        Ok(())
    }
}

/// Writes a plan into the workspace (member; projects need admin, or they are skipped).
pub fn apply(
    state: &AppState,
    actor: &Actor,
    who: &User,
    access: &Access,
    mut plan: Plan,
) -> Result<ImportReport, OpError> {
    access.require(WorkspaceRole::Member, "import into it")?;
    let mut report = std::mem::take(&mut plan.report);
    if access.is_admin() {
        add_members(state, who, access, &plan.members, &mut report)?;
        if let Some(settings) = plan.settings.take() {
            // Through the same checks as a settings change; the key prefix stays the target's.
            let patch = crate::ops::workspaces::SettingsPatch {
                status_names: Some(settings.status_names),
                agent: Some(settings.agent),
                run_concurrency: Some(settings.run_concurrency),
                prompt_prefix: Some(settings.prompt_prefix),
                run_commit_message: Some(settings.run_commit_message),
                ..Default::default()
            };
            if let Err(e) = crate::ops::workspaces::update(state, actor, access, patch) {
                report.skipped.push(SkippedItem {
                    item: "settings".into(),
                    reason: format!("{e}; the workspace keeps its own"),
                });
            }
        }
    } else if !plan.members.is_empty() || plan.settings.is_some() {
        report.skipped.push(SkippedItem {
            item: "members and settings".into(),
            reason: "only a workspace admin can import them".into(),
        });
    }
    // Projects.
    let mut project_ids: Vec<Option<ProjectId>> = Vec::new();
    for mut p in plan.projects {
        if !access.is_admin() {
            report.skipped.push(SkippedItem {
                item: format!("project {}", p.name),
                reason: "only a workspace admin can import projects".into(),
            });
            project_ids.push(None);
            continue;
        }
        // As when creating one: only someone allowed on the node may put a project there.
        let allowed = state
            .store
            .node(&p.node_id)?
            .is_some_and(|n| crate::ops::nodes::user_can_see(who, &n));
        if !allowed {
            report.skipped.push(SkippedItem {
                item: format!("project {}", p.name),
                reason: format!(
                    "you are not allowed on node {:?} (or it is not enrolled here); create the project \
                     on a node you may use, then set it on its tasks",
                    p.node_id
                ),
            });
            project_ids.push(None);
            continue;
        }
        let checked = crate::ops::projects::check_template(Some(&p.branch_template))
            .and_then(|t| {
                crate::ops::projects::check_scripts(&p.scripts)?;
                Ok((t, crate::ops::projects::check_globs(p.copy_files.clone())?))
            })
            .and_then(|(t, g)| {
                Ok((
                    t,
                    g,
                    crate::ops::workspaces::check_name("name", &p.name, 100)?,
                ))
            });
        match checked {
            Ok((template, globs, name)) => {
                p.branch_template = template;
                p.copy_files = globs;
                p.name = name;
            }
            Err(e) => {
                report.skipped.push(SkippedItem {
                    item: format!("project {}", p.name),
                    reason: e.to_string(),
                });
                project_ids.push(None);
                continue;
            }
        }
        p.id = ProjectId::new();
        p.workspace_id = access.ws.id;
        state.store.create_project(&p)?;
        project_ids.push(Some(p.id));
        report.created.projects += 1;
    }
    for t in plan.templates {
        if access.is_admin() {
            if let Err(e) =
                crate::ops::templates::set_template(state, actor, access, &t.name, Some(t.body))
            {
                report.skipped.push(SkippedItem {
                    item: format!("template @{}", t.name),
                    reason: e.to_string(),
                });
            }
        } else {
            report.skipped.push(SkippedItem {
                item: format!("template @{}", t.name),
                reason: "only a workspace admin can import templates".into(),
            });
        }
    }
    // Numbers: the source's, after the workspace's own; or the next free ones. A number that is too large or
    // given twice in the file gets a free one, reported.
    let ws = state
        .store
        .workspace(access.ws.id)?
        .ok_or_else(|| OpError::NotFound(format!("no workspace {}", access.ws.id)))?;
    let offset = ws.next_number - 1;
    let mut seen = std::collections::HashSet::new();
    for planned in plan.tasks.iter_mut() {
        if let Some(n) = planned.number
            && (n == 0 || n > MAX_TASK_NUMBER || !seen.insert(n))
        {
            report.skipped.push(SkippedItem {
                item: format!("task number {n}"),
                reason: "too large, zero or given twice in the file; the task got a new number"
                    .into(),
            });
            planned.number = None;
        }
    }
    let mut next_free = ws.next_number + seen.iter().max().copied().unwrap_or(0);
    let ids: Vec<TaskId> = plan.tasks.iter().map(|_| TaskId::new()).collect();
    let mut tasks = Vec::with_capacity(plan.tasks.len());
    let mut places = Places::default();
    for (i, planned) in plan.tasks.iter_mut().enumerate() {
        let Some(mut task) = planned.task.take() else {
            continue;
        };
        task.id = ids[i];
        task.workspace_id = access.ws.id;
        task.number = match planned.number {
            Some(n) => n + offset,
            None => {
                next_free += 1;
                next_free - 1
            }
        };
        task.parent = planned.parent.map(|p| ids[p]);
        task.project_id = planned
            .project
            .and_then(|p| project_ids.get(p).copied().flatten());
        task.version = 1;
        sanitize(&mut task, &mut report);
        if !places.keep(state, access, &task)? {
            task.position.clear();
        }
        tasks.push(task);
    }
    places.place(&mut tasks)?;
    let max_number = tasks.iter().map(|t| t.number).max().unwrap_or(0);
    state.store.update_workspace(access.ws.id, |ws| {
        ws.next_number = ws.next_number.max(max_number + 1);
        Ok::<_, OpError>(())
    })?;
    state.store.insert_tasks(&tasks)?;
    report.created.tasks = tasks.len();
    for (i, planned) in plan.tasks.into_iter().enumerate() {
        let task_id = ids[i];
        let mut comment_ids = Vec::new();
        for mut c in planned.comments {
            c.task_id = task_id;
            if c.body.len() > crate::ops::comments::MAX_COMMENT_BYTES {
                let mut cut = crate::ops::comments::MAX_COMMENT_BYTES;
                while !c.body.is_char_boundary(cut) {
                    cut -= 1;
                }
                c.body.truncate(cut);
            }
            comment_ids.push(c.id);
            state.store.put_comment(access.ws.id, &c, false)?;
            report.created.comments += 1;
        }
        let actors: Vec<Option<UserId>> = planned.activity.iter().map(|(_, a, _)| *a).collect();
        let entries: Vec<(Option<u64>, ActivityKind)> = planned
            .activity
            .into_iter()
            .map(|(at, _, kind)| {
                let kind = match kind {
                    ActivityKind::Commented { comment_id } => {
                        let index = comment_id.0.as_u128() as usize;
                        match comment_ids.get(index) {
                            Some(id) => ActivityKind::Commented { comment_id: *id },
                            None => ActivityKind::Commented { comment_id },
                        }
                    }
                    other => other,
                };
                (Some(at), kind)
            })
            .collect();
        report.created.activity += entries.len();
        for ((at, kind), actor) in entries.into_iter().zip(actors) {
            state
                .store
                .append_activity(access.ws.id, task_id, actor, vec![(at, kind)], false)?;
        }
        for (mut a, bytes) in planned.attachments {
            a.task_id = task_id;
            state.store.put_attachment(&a, &bytes)?;
            report.created.attachments += 1;
        }
    }
    // One flush for every comment, activity entry and attachment written above.
    state.store.flush()?;
    state.store.audit(
        actor
            .audit(AuditAction::WorkspaceImported)
            .target(access.ws.id.to_string())
            .detail(format!(
                "{}: {} tasks, {} projects, {} skipped, by {}",
                report.format,
                report.created.tasks,
                report.created.projects,
                report.skipped.len(),
                who.username
            )),
    );
    Ok(report)
}
