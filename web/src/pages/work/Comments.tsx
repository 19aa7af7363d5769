// A task's comments in the drawer: Markdown with `@name` mentions (typing `@` suggests members), add; edit and
// delete one's own.
import { useState, type FormEvent } from "react";
import type { Me } from "../../api/client";
import type { Comment, TaskView, WorkspaceView } from "../../api/types.gen";
import { Work } from "../../api/work";
import { ErrorBanner, ago, errText } from "../../util";
import { Avatar, Markdown, userName } from "./common";
import { AtTextarea } from "./AtTextarea";

export function Comments({
  task,
  ws,
  me,
  comments,
  editable,
  reload,
}: {
  task: TaskView;
  ws: WorkspaceView;
  me: Me;
  comments: Comment[] | null;
  editable: boolean;
  reload: () => void;
}) {
  const [body, setBody] = useState("");
  const [editing, setEditing] = useState<{ id: string; body: string } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const add = (e: FormEvent) => {
    e.preventDefault();
    if (!body.trim()) return;
    setBusy(true);
    setError(null);
    Work.addComment(task.id, body)
      .then(
        () => {
          setBody("");
          reload();
        },
        (err) => setError(errText(err)),
      )
      .finally(() => setBusy(false));
  };
  const saveEdit = (e: FormEvent) => {
    e.preventDefault();
    if (!editing) return;
    Work.editComment(task.id, editing.id, editing.body).then(
      () => {
        setEditing(null);
        reload();
      },
      (err) => setError(errText(err)),
    );
  };
  const remove = (c: Comment) => {
    if (!confirm("Delete this comment?")) return;
    Work.deleteComment(task.id, c.id).then(reload, (err) => setError(errText(err)));
  };
  const isAdmin = ws.role === "admin" || ws.role === "owner";
  return (
    <div className="drawer-section">
      <h3>Comments</h3>
      <ol className="plain comments" data-testid="comments">
        {(comments ?? []).map((c) => (
          <li key={c.id} className="comment" data-testid="comment">
            <div className="meta">
              {c.author ? <Avatar user={c.author} members={ws.members} /> : null}
              <strong>{c.author ? userName(ws.members, c.author) : (c.author_name ?? "someone")}</strong>
              <span>{ago(new Date(c.created_at).toISOString())}</span>
              {c.edited_at && <span>(edited)</span>}
              {c.author === me.id && editable && editing?.id !== c.id && (
                <button type="button" className="link" onClick={() => setEditing({ id: c.id, body: c.body })}>
                  Edit
                </button>
              )}
              {(c.author === me.id || isAdmin) && editable && (
                <button type="button" className="link" onClick={() => remove(c)}>
                  Delete
                </button>
              )}
            </div>
            {editing?.id === c.id ? (
              <form onSubmit={saveEdit} className="form">
                <AtTextarea aria-label="Edit comment" rows={3} value={editing.body} onValue={(body) => setEditing({ ...editing, body })} members={ws.members} />
                <div className="row">
                  <button type="submit" className="small primary" disabled={!editing.body.trim()}>
                    Save
                  </button>
                  <button type="button" className="small" onClick={() => setEditing(null)}>
                    Cancel
                  </button>
                </div>
              </form>
            ) : (
              <Markdown source={c.body} mentions={c.mentions.map((u) => userName(ws.members, u))} />
            )}
          </li>
        ))}
        {comments && comments.length === 0 && <li className="muted">No comments yet.</li>}
      </ol>
      {editable && (
        <form className="form" onSubmit={add}>
          <AtTextarea
            aria-label="New comment"
            rows={3}
            value={body}
            onValue={setBody}
            members={ws.members}
            placeholder="Comment (Markdown; @name mentions a member)"
            onKeyDown={(e) => {
              if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) (e.currentTarget.form as HTMLFormElement).requestSubmit();
            }}
          />
          <button type="submit" className="small primary" disabled={busy || !body.trim()}>
            Comment
          </button>
        </form>
      )}
      <ErrorBanner error={error} />
    </div>
  );
}
