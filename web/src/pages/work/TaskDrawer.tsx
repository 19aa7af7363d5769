// The task drawer (`?task=WEB-3`): title and Markdown description (edit with preview), status, priority,
// assignees, labels, due date, who may see it, subtasks, comments and activity; archive and restore, and delete
// (its creator or an admin). Typing `@` in the description suggests the workspace's prompt templates (their body
// goes in) and members. Every edit names the version it was made on; when someone else changed the task first,
// main refuses it (409 `stale`) and the drawer shows the task as it is now, says so, and keeps the unsaved text.
// Full screen on phones.
import { useCallback, useEffect, useState, type FormEvent } from "react";
import { ApiError, type Me } from "../../api/client";
import type { Activity, Comment, Priority, PromptTemplate, TaskPatch, TaskStatus, TaskView, WorkspaceView } from "../../api/types.gen";
import { Work } from "../../api/work";
import { useBoardFrames } from "../../api/data";
import { Link } from "../../router";
import { ErrorBanner, ago, errText } from "../../util";
import { Avatar, IssueLinkView, Markdown, PRIORITIES, STATUSES, canAdmin, canEdit, memberOf, statusName, userName, withParam } from "./common";
import { AtTextarea } from "./AtTextarea";
import { Comments } from "./Comments";
import { Runs } from "./Runs";

interface Draft {
  title: string;
  description: string;
  version: number;
}

export function TaskDrawer({ taskKey, ws, me, onClose }: { taskKey: string; ws: WorkspaceView; me: Me; onClose: () => void }) {
  const [task, setTask] = useState<TaskView | null>(null);
  const [gone, setGone] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [lost, setLost] = useState<Draft | null>(null);
  const [draft, setDraft] = useState<Draft | null>(null);
  const [preview, setPreview] = useState(false);
  const [subtasks, setSubtasks] = useState<TaskView[]>([]);
  const [comments, setComments] = useState<Comment[] | null>(null);
  const [activity, setActivity] = useState<Activity[] | null>(null);
  const [templates, setTemplates] = useState<PromptTemplate[]>([]);
  const editable = canEdit(ws);
  // As main allows it: the task's creator (a member at least) or an admin.
  const deletable = !!task && (canAdmin(ws) || (editable && task.created_by === me.id));
  useEffect(() => {
    // Only for the `@` suggestions: without them the description is still edited as text.
    Work.templates(ws.id).then(setTemplates, () => setTemplates([]));
  }, [ws.id]);

  const loadNotes = useCallback((id: string) => {
    Work.comments(id).then(setComments, (e) => setError(errText(e)));
    Work.activity(id).then(setActivity, (e) => setError(errText(e)));
    Work.subtasks(id).then(setSubtasks, (e) => setError(errText(e)));
  }, []);
  const load = useCallback(() => {
    Work.task(taskKey).then(
      (t) => {
        setTask(t);
        loadNotes(t.id);
      },
      (e) => setError(errText(e)),
    );
  }, [taskKey, loadNotes]);
  useEffect(load, [load]);
  useEffect(() => {
    // Not from a text field: Escape there must not throw away what is being typed.
    const esc = (e: KeyboardEvent) => e.key === "Escape" && !(e.target instanceof HTMLElement && e.target.closest("input, textarea, select")) && onClose();
    window.addEventListener("keydown", esc);
    return () => window.removeEventListener("keydown", esc);
  }, [onClose]);
  useBoardFrames(ws.id, (f) => {
    if (!task) return;
    if (f.type === "resync") load();
    else if (f.type === "task" && f.task_id === task.id) {
      if (f.task) setTask((cur) => (cur && cur.version > (f.task?.version ?? 0) ? cur : (f.task ?? cur)));
      else setGone(true);
      Work.activity(task.id).then(setActivity, () => {});
    } else if (f.type === "task" && f.task?.parent === task.id) Work.subtasks(task.id).then(setSubtasks, () => {});
    else if (f.type === "task_notes" && f.task_id === task.id) loadNotes(task.id);
  });

  /** A refused edit: show the task as it is now and say why nothing was saved. */
  const refused = (e: unknown, unsaved: Draft | null) => {
    if (e instanceof ApiError && e.code === "stale" && e.current) {
      setTask(e.current as TaskView);
      setNotice("Someone else changed this task first, so your change was not saved. The current values are shown; check them and edit again.");
      setLost(unsaved);
    } else setError(errText(e));
  };
  const save = (patch: Omit<TaskPatch, "version">) => {
    if (!task) return;
    setError(null);
    setNotice(null);
    Work.updateTask(task.id, { version: task.version, ...patch }).then(setTask, (e) => refused(e, null));
  };
  const saveText = (e: FormEvent) => {
    e.preventDefault();
    if (!task || !draft) return;
    const patch: TaskPatch = { version: draft.version };
    if (draft.title.trim() !== task.title) patch.title = draft.title.trim();
    if (draft.description !== task.description) patch.description = draft.description;
    setError(null);
    setNotice(null);
    const unsaved = draft;
    Work.updateTask(task.id, patch).then(
      (t) => {
        setTask(t);
        setDraft(null);
      },
      (err) => {
        setDraft(null);
        refused(err, unsaved);
      },
    );
  };
  const remove = () => {
    if (!task || !confirm(`Delete ${task.key} "${task.title}"? Its comments and activity go with it.`)) return;
    Work.deleteTask(task.id).then(onClose, (e) => setError(errText(e)));
  };

  return (
    <div className="drawer-backdrop" onClick={(e) => e.target === e.currentTarget && onClose()}>
      <aside className="drawer" role="dialog" aria-modal="true" aria-label={task ? `${task.key} ${task.title}` : taskKey} data-testid="task-drawer">
        <div className="drawer-head">
          <span className="task-key">{task?.key ?? taskKey}</span>
          {task?.issue && (
            <span className="muted small" data-testid="drawer-issue">
              from issue <IssueLinkView issue={task.issue} testid="drawer-issue-link" /> <span className="muted">{task.issue.repo_full_name}</span>
            </span>
          )}
          <span className="grow" />
          {editable && task && (
            <button type="button" className="small" onClick={() => save({ archived: !task.archived })}>
              {task.archived ? "Restore" : "Archive"}
            </button>
          )}
          {deletable && (
            <button type="button" className="small danger" onClick={remove}>
              Delete
            </button>
          )}
          <button type="button" className="small" onClick={onClose} aria-label="Close">
            ✕
          </button>
        </div>
        <ErrorBanner error={error} />
        {task?.archived && (
          <p className="notice" data-testid="archived">
            Archived: off the board, kept and searchable. Restore puts it back.
          </p>
        )}
        {gone && <p className="error">This task was deleted, or you may no longer see it.</p>}
        {notice && (
          <div className="notice" role="alert" data-testid="stale-notice">
            <p>{notice}</p>
            {lost && (
              <details>
                <summary>Your unsaved text</summary>
                <p className="muted">Title: {lost.title}</p>
                <pre>{lost.description}</pre>
              </details>
            )}
          </div>
        )}
        {!task && !error && <p className="loading">Loading…</p>}
        {task && (
          <>
            {draft ? (
              <form className="form" onSubmit={saveText}>
                <input aria-label="Title" value={draft.title} onChange={(e) => setDraft({ ...draft, title: e.target.value })} required maxLength={500} />
                <div className="row">
                  <button type="button" className={`small${preview ? "" : " active"}`} onClick={() => setPreview(false)}>
                    Write
                  </button>
                  <button type="button" className={`small${preview ? " active" : ""}`} onClick={() => setPreview(true)}>
                    Preview
                  </button>
                </div>
                {preview ? (
                  <Markdown source={draft.description || "*Nothing yet.*"} className="preview" />
                ) : (
                  <AtTextarea
                    aria-label="Description"
                    rows={8}
                    value={draft.description}
                    onValue={(description) => setDraft({ ...draft, description })}
                    templates={templates}
                    members={ws.members}
                    placeholder="Markdown; @name inserts a prompt template or mentions a member"
                  />
                )}
                {task.version > draft.version && <p className="warn">Someone changed this task since you started editing; saving will be refused.</p>}
                <div className="row">
                  <button type="submit" className="primary small" disabled={!draft.title.trim()}>
                    Save
                  </button>
                  <button type="button" className="small" onClick={() => setDraft(null)}>
                    Cancel
                  </button>
                </div>
              </form>
            ) : (
              <div className="task-text">
                <h2 data-testid="task-title">{task.title}</h2>
                {task.description ? <Markdown source={task.description} /> : <p className="muted">No description.</p>}
                {editable && (
                  <button
                    type="button"
                    className="small"
                    aria-label="Edit title and description"
                    onClick={() => {
                      setPreview(false);
                      setDraft({ title: task.title, description: task.description, version: task.version });
                    }}
                  >
                    Edit
                  </button>
                )}
              </div>
            )}
            <Fields ws={ws} task={task} editable={editable} save={save} />
            <Runs ws={ws} task={task} />
            <Subtasks ws={ws} task={task} subtasks={subtasks} editable={editable} onAdded={() => Work.subtasks(task.id).then(setSubtasks, () => {})} />
            <Comments task={task} ws={ws} me={me} comments={comments} editable={editable} reload={() => loadNotes(task.id)} />
            <ActivityLog ws={ws} activity={activity} />
          </>
        )}
      </aside>
    </div>
  );
}

function Fields({ ws, task, editable, save }: { ws: WorkspaceView; task: TaskView; editable: boolean; save: (p: Omit<TaskPatch, "version">) => void }) {
  const [label, setLabel] = useState("");
  // Tasks hold user ids; edits name usernames.
  const assigned = task.assignees.map((a) => memberOf(ws.members, a)?.username).filter((u): u is string => !!u);
  const toggle = (u: string) => save({ assignees: assigned.includes(u) ? assigned.filter((a) => a !== u) : [...assigned, u] });
  // The same for who may see it; nobody ticked is everyone (`null`).
  const restricted = (task.restricted_to ?? []).map((a) => memberOf(ws.members, a)?.username).filter((u): u is string => !!u);
  const restrict = (u: string) => {
    const next = restricted.includes(u) ? restricted.filter((a) => a !== u) : [...restricted, u];
    save({ restricted_to: next.length ? next : null });
  };
  return (
    <dl className="task-fields">
      <dt>Status</dt>
      <dd>
        <select aria-label="Status" value={task.status} disabled={!editable} onChange={(e) => save({ status: e.target.value as TaskStatus })}>
          {STATUSES.map((s) => (
            <option key={s} value={s}>
              {statusName(ws, s)}
            </option>
          ))}
        </select>
      </dd>
      <dt>Priority</dt>
      <dd>
        <select aria-label="Priority" value={task.priority} disabled={!editable} onChange={(e) => save({ priority: e.target.value as Priority })}>
          {PRIORITIES.map((p) => (
            <option key={p} value={p}>
              {p}
            </option>
          ))}
        </select>
      </dd>
      <dt>Assignees</dt>
      <dd className="chips" aria-label="Assignees">
        {ws.members.map((m) => (
          <button
            key={m.username}
            type="button"
            className={`chip${assigned.includes(m.username) ? " on" : ""}`}
            aria-pressed={assigned.includes(m.username)}
            disabled={!editable}
            onClick={() => toggle(m.username)}
          >
            <Avatar user={m.user_id} members={ws.members} /> {m.name || m.username}
          </button>
        ))}
      </dd>
      <dt>Labels</dt>
      <dd className="chips">
        {task.labels.map((l) => (
          <span key={l} className="tag">
            {l}
            {editable && (
              <button type="button" className="link" aria-label={`Remove label ${l}`} onClick={() => save({ labels: task.labels.filter((x) => x !== l) })}>
                {" "}
                ×
              </button>
            )}
          </span>
        ))}
        {editable && (
          <form
            className="inline-form"
            onSubmit={(e) => {
              e.preventDefault();
              const l = label.trim();
              if (l && !task.labels.includes(l)) save({ labels: [...task.labels, l] });
              setLabel("");
            }}
          >
            <input aria-label="Add a label" placeholder="+ label" value={label} onChange={(e) => setLabel(e.target.value)} size={10} />
          </form>
        )}
      </dd>
      <dt>Due</dt>
      <dd className="row">
        {/* Not held to task.due while the edit is on its way; a new version (saved or refused) shows main's. */}
        <input
          key={task.version}
          type="date"
          aria-label="Due date"
          defaultValue={task.due ?? ""}
          disabled={!editable}
          onChange={(e) => e.target.value !== (task.due ?? "") && save({ due: e.target.value || null })}
        />
        {task.due && editable && (
          <button type="button" className="link" aria-label="Clear the due date" onClick={() => save({ due: null })}>
            ×
          </button>
        )}
      </dd>
      <dt>Only visible to</dt>
      <dd>
        <fieldset className="chips plain-fieldset" aria-label="Only visible to">
          {ws.members.map((m) => (
            <label key={m.username} className="check">
              <input type="checkbox" checked={restricted.includes(m.username)} disabled={!editable} onChange={() => restrict(m.username)} />
              {m.username}
            </label>
          ))}
        </fieldset>
        <span className="muted" data-testid="visibility">
          {task.restricted_to ? "Only these members, the task's creator and the workspace's admins see it." : "Everyone in the workspace."}
        </span>
      </dd>
      <dt>Created</dt>
      <dd>
        {ago(new Date(task.created_at).toISOString())}
        {task.created_by ? ` by ${userName(ws.members, task.created_by)}` : ""}
      </dd>
    </dl>
  );
}

function Subtasks({ ws, task, subtasks, editable, onAdded }: { ws: WorkspaceView; task: TaskView; subtasks: TaskView[]; editable: boolean; onAdded: () => void }) {
  const [title, setTitle] = useState("");
  const [error, setError] = useState<string | null>(null);
  const add = (e: FormEvent) => {
    e.preventDefault();
    if (!title.trim()) return;
    Work.createTask(ws.id, { title: title.trim(), parent: task.id, status: "todo" }).then(
      () => {
        setTitle("");
        onAdded();
      },
      (err) => setError(errText(err)),
    );
  };
  return (
    <div className="drawer-section">
      <h3>Subtasks</h3>
      <ul className="plain">
        {subtasks.map((s) => (
          <li key={s.id}>
            <Link href={withParam("task", s.key)}>
              <span className="task-key">{s.key}</span> {s.title}
            </Link>{" "}
            <span className="muted">{statusName(ws, s.status)}</span>
          </li>
        ))}
        {subtasks.length === 0 && <li className="muted">None.</li>}
      </ul>
      {editable && (
        <form className="row" onSubmit={add}>
          <input aria-label="New subtask" placeholder="+ Add a subtask" value={title} onChange={(e) => setTitle(e.target.value)} />
        </form>
      )}
      <ErrorBanner error={error} />
    </div>
  );
}

function ActivityLog({ ws, activity }: { ws: WorkspaceView; activity: Activity[] | null }) {
  const who = (u?: string) => userName(ws.members, u);
  const names = (us: string[]) => us.map((u) => who(u)).join(", ");
  const what = (a: Activity): string => {
    const k = a.kind;
    switch (k.type) {
      case "created":
        return "created the task";
      case "moved":
        return `moved it from ${statusName(ws, k.from)} to ${statusName(ws, k.to)}`;
      case "assigned":
        return [k.added.length ? `assigned ${names(k.added)}` : "", k.removed.length ? `unassigned ${names(k.removed)}` : ""].filter(Boolean).join("; ");
      case "edited":
        return `edited ${k.fields.join(", ")}`;
      case "commented":
        return "commented";
      case "archived":
        return k.archived ? "archived it" : "restored it";
      case "imported":
        return `imported it from ${k.source}${k.note ? `: ${k.note}` : ""}`;
    }
  };
  return (
    <div className="drawer-section">
      <h3>Activity</h3>
      <ol className="plain activity" data-testid="activity">
        {(activity ?? [])
          .slice()
          .reverse()
          .map((a) => (
            <li key={a.seq}>
              <strong>{who(a.actor)}</strong> {what(a)} <span className="muted">{ago(new Date(a.at).toISOString())}</span>
            </li>
          ))}
      </ol>
    </div>
  );
}
