// The board as a list: every task matching the URL's filters in one table, a page at a time, reloaded when a
// task of the workspace changes.
import { useCallback, useEffect, useRef, useState } from "react";
import type { TaskView, WorkspaceView } from "../../api/types.gen";
import { Work } from "../../api/work";
import { useBoardFrames } from "../../api/data";
import { Link, useSearch } from "../../router";
import { ErrorBanner, errText } from "../../util";
import { Avatar, CardPr, IssueLinkView, PriorityMark, asPriority, statusName, withParam } from "./common";

const PAGE = 50;

export function TaskList({ ws }: { ws: WorkspaceView }) {
  const s = useSearch();
  const filters = {
    q: s.get("q") || undefined,
    assignee: s.get("assignee") || undefined,
    label: s.get("label") || undefined,
    priority: asPriority(s.get("priority")),
  };
  const fkey = JSON.stringify(filters);
  const [tasks, setTasks] = useState<TaskView[] | null>(null);
  const [total, setTotal] = useState(0);
  const [shown, setShown] = useState(PAGE);
  const [error, setError] = useState<string | null>(null);
  const frame = useRef(0);
  const load = useCallback(() => {
    Work.tasks(ws.id, { ...filters, offset: 0, limit: shown }).then(
      (p) => {
        setTasks(p.tasks);
        setTotal(p.total);
        setError(null);
      },
      (e) => setError(errText(e)),
    );
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [ws.id, fkey, shown]);
  useEffect(load, [load]);
  useBoardFrames(ws.id, (f) => {
    // Pull request frames change the cards' PR chips (rare; run frames come many times a turn and are left out).
    if ((f.type === "task" || f.type === "resync" || f.type === "pull_request") && !frame.current)
      frame.current = requestAnimationFrame(() => {
        frame.current = 0;
        load();
      });
  });
  return (
    <>
      <ErrorBanner error={error} />
      {tasks && tasks.length === 0 && <p className="muted">No task matches.</p>}
      {tasks && tasks.length > 0 && (
        <div className="table-wrap">
          <table className="task-table" data-testid="task-list">
            <thead>
              <tr>
                <th>Key</th>
                <th>Title</th>
                <th>Status</th>
                <th>Priority</th>
                <th>Assignees</th>
                <th>Labels</th>
                <th>GitHub</th>
              </tr>
            </thead>
            <tbody>
              {tasks.map((t) => (
                <tr key={t.id}>
                  <td className="task-key">{t.key}</td>
                  <td>
                    <Link href={withParam("task", t.key)}>{t.title}</Link>
                  </td>
                  <td>{statusName(ws, t.status)}</td>
                  <td>
                    <PriorityMark priority={t.priority} />
                  </td>
                  <td>
                    {t.assignees.map((a) => (
                      <Avatar key={a} user={a} members={ws.members} />
                    ))}
                  </td>
                  <td>
                    {t.labels.map((l) => (
                      <span key={l} className="tag">
                        {l}
                      </span>
                    ))}
                  </td>
                  <td>
                    {t.issue && <IssueLinkView issue={t.issue} testid="list-issue" />}{" "}
                    {(() => {
                      const pr = t.runs.find((r) => r.pull_request)?.pull_request;
                      return pr ? <CardPr pr={pr} /> : null;
                    })()}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {tasks && tasks.length < total && (
        <button type="button" className="small load-more" onClick={() => setShown((n) => n + PAGE)}>
          Load more ({total - tasks.length} left)
        </button>
      )}
    </>
  );
}
