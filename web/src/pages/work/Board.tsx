// A workspace's board: a column per status, cards dragged within and across columns (pointer or keyboard, via
// dnd-kit), quick add at the top of each column, filters kept in the URL, "load more" per column, and a list
// view. A move shows at once and is reconciled with main's answer and the live frames; other viewers' changes
// arrive on the live channel and are folded in place.
import { useCallback, useEffect, useRef, useState, type FormEvent } from "react";
import {
  DndContext,
  DragOverlay,
  KeyboardSensor,
  PointerSensor,
  closestCorners,
  useDroppable,
  useSensor,
  useSensors,
  type DragEndEvent,
  type DragStartEvent,
} from "@dnd-kit/core";
import { SortableContext, sortableKeyboardCoordinates, useSortable, verticalListSortingStrategy } from "@dnd-kit/sortable";
import { CSS } from "@dnd-kit/utilities";
import type { Me } from "../../api/client";
import type { Board, BoardQuery, Column, MemberView, TaskStatus, TaskView, WorkspaceView } from "../../api/types.gen";
import { Work } from "../../api/work";
import { useBoardFrames, useWorkspace } from "../../api/data";
import { applyPullRequest, applyRun, applyTask, dropIndex, moveCard, neighbours } from "../../board";
import { Link, navigate, useSearch } from "../../router";
import { ErrorBanner, errText } from "../../util";
import { Avatar, CardPr, IssueLinkView, PRIORITIES, PriorityMark, WorkspaceHead, asPriority, canEdit, memberOf, withParam } from "./common";
import { TaskList } from "./TaskList";
import { TaskDrawer } from "./TaskDrawer";

/** The board's filters as the URL holds them. */
function useFilters(): BoardQuery & { key: string } {
  const s = useSearch();
  const f: BoardQuery = {
    q: s.get("q") || undefined,
    assignee: s.get("assignee") || undefined,
    label: s.get("label") || undefined,
    priority: asPriority(s.get("priority")),
  };
  return { ...f, key: JSON.stringify(f) };
}

export function BoardPage({ wsKey, me }: { wsKey: string; me: Me }) {
  const wsLive = useWorkspace(wsKey);
  const ws = wsLive.data;
  const search = useSearch();
  const taskKey = search.get("task");
  const list = search.get("view") === "list";
  if (!ws) return <section>{wsLive.error ? <ErrorBanner error={wsLive.error} /> : <p className="loading">Loading…</p>}</section>;
  return (
    <section className="board-page">
      <WorkspaceHead ws={ws}>
        <div className="row">
          <Link href={withParam("view", list ? null : "list")} className="button small" data-testid="view-toggle">
            {list ? "Board view" : "List view"}
          </Link>
        </div>
      </WorkspaceHead>
      <Filters ws={ws} />
      {list ? <TaskList ws={ws} /> : <BoardColumns ws={ws} />}
      {taskKey && <TaskDrawer key={taskKey} taskKey={taskKey} ws={ws} me={me} onClose={() => navigate(withParam("task", null))} />}
    </section>
  );
}

function Filters({ ws }: { ws: WorkspaceView }) {
  const f = useFilters();
  const [text, setText] = useState(f.q ?? "");
  const timer = useRef<number | undefined>(undefined);
  useEffect(() => setText(f.q ?? ""), [f.q]);
  const typed = (v: string) => {
    setText(v);
    window.clearTimeout(timer.current);
    timer.current = window.setTimeout(() => navigate(withParam("q", v.trim() || null), true), 300);
  };
  return (
    <div className="filters board-filters" role="search">
      <input type="search" aria-label="Filter text" placeholder="Filter…" value={text} onChange={(e) => typed(e.target.value)} />
      <select aria-label="Assignee" value={f.assignee ?? ""} onChange={(e) => navigate(withParam("assignee", e.target.value || null))}>
        <option value="">Anyone</option>
        <option value="none">Unassigned</option>
        {ws.members.map((m) => (
          <option key={m.username} value={m.username}>
            {m.name || m.username}
          </option>
        ))}
      </select>
      <input
        aria-label="Label"
        placeholder="Label"
        defaultValue={f.label ?? ""}
        key={f.label ?? ""}
        onKeyDown={(e) => e.key === "Enter" && navigate(withParam("label", e.currentTarget.value.trim() || null))}
        onBlur={(e) => e.currentTarget.value.trim() !== (f.label ?? "") && navigate(withParam("label", e.currentTarget.value.trim() || null))}
      />
      <select aria-label="Priority" value={f.priority ?? ""} onChange={(e) => navigate(withParam("priority", e.target.value || null))}>
        <option value="">Any priority</option>
        {PRIORITIES.map((p) => (
          <option key={p} value={p}>
            {p}
          </option>
        ))}
      </select>
    </div>
  );
}

/** The board's columns, loaded for the URL's filters and kept current by the live channel. */
function useBoard(ws: WorkspaceView, filters: BoardQuery & { key: string }) {
  const [board, setBoard] = useState<Board | null>(null);
  const [error, setError] = useState<string | null>(null);
  // What live frames are matched against: tasks hold assignees' user ids, the URL their usernames.
  const match: BoardQuery =
    filters.assignee && filters.assignee !== "none"
      ? { ...filters, assignee: memberOf(ws.members, filters.assignee)?.user_id ?? filters.assignee }
      : filters;
  const filtersRef = useRef(match);
  filtersRef.current = match;
  const queryRef = useRef(filters);
  queryRef.current = filters;
  const state = useRef({ loading: false, again: false, alive: true });
  const load = useCallback(() => {
    const s = state.current;
    if (s.loading) {
      s.again = true;
      return;
    }
    s.loading = true;
    const { key: _key, ...query } = queryRef.current;
    Work.board(ws.id, query)
      .then(
        (b) => {
          if (!s.alive) return;
          setBoard(b);
          setError(null);
        },
        (e) => s.alive && setError(errText(e)),
      )
      .finally(() => {
        s.loading = false;
        if (s.alive && s.again) {
          s.again = false;
          load();
        }
      });
  }, [ws.id]);
  useEffect(() => {
    state.current.alive = true;
    load();
    return () => {
      state.current.alive = false;
    };
  }, [load, filters.key]);
  useBoardFrames(ws.id, (f) => {
    if (f.type === "resync") load();
    else if (f.type === "task") {
      if (state.current.loading) state.current.again = true;
      setBoard((b) => (b ? applyTask(b, f.task_id, f.task, filtersRef.current) : b));
    } else if (f.type === "run") setBoard((b) => (b ? applyRun(b, f.task_id, f.run) : b));
    else if (f.type === "pull_request") setBoard((b) => (b ? applyPullRequest(b, f.task_id, f.pull_request) : b));
  });
  return { board, setBoard, error, setError, load, match };
}

function BoardColumns({ ws }: { ws: WorkspaceView }) {
  const filters = useFilters();
  const { board, setBoard, error, setError, load, match } = useBoard(ws, filters);
  const [dragging, setDragging] = useState<TaskView | null>(null);
  const sensors = useSensors(
    useSensor(PointerSensor, { activationConstraint: { distance: 5 } }),
    useSensor(KeyboardSensor, { coordinateGetter: sortableKeyboardCoordinates }),
  );
  const editable = canEdit(ws);
  const find = (id: string) => board?.columns.flatMap((c) => c.tasks).find((t) => t.id === id) ?? null;

  /** What the screen reader hears for a card (its key) or a column (its name). */
  const name = (id: string | number) => {
    const s = String(id);
    if (s.startsWith("col:")) return board?.columns.find((c) => c.status === s.slice(4))?.name ?? s.slice(4);
    return find(s)?.key ?? s;
  };
  const onDragStart = (e: DragStartEvent) => setDragging(find(String(e.active.id)));
  const onDragEnd = (e: DragEndEvent) => {
    setDragging(null);
    const { active, over } = e;
    if (!board || !over) return;
    const id = String(active.id);
    const task = find(id);
    if (!task) return;
    const overId = String(over.id);
    let to: TaskStatus;
    let index: number;
    if (overId.startsWith("col:")) {
      to = overId.slice(4) as TaskStatus;
      const col = board.columns.find((c) => c.status === to);
      index = col ? col.tasks.filter((t) => t.id !== id).length : 0;
    } else {
      const target = find(overId);
      if (!target) return;
      to = target.status;
      const col = board.columns.find((c) => c.status === to);
      const overIndex = col?.tasks.findIndex((t) => t.id === overId) ?? 0;
      const moving = active.rect.current.translated;
      const below = moving ? moving.top + moving.height / 2 > over.rect.top + over.rect.height / 2 : false;
      index = dropIndex(to === task.status, overIndex, below);
    }
    const fromCol = board.columns.find((c) => c.status === task.status);
    if (to === task.status && fromCol?.tasks.findIndex((t) => t.id === id) === index) return;
    const next = moveCard(board, id, to, index);
    const ids = next.columns.find((c) => c.status === to)?.tasks.map((t) => t.id) ?? [];
    setBoard(next);
    setError(null);
    Work.moveTask(id, { status: to, ...neighbours(ids, id) }).then(
      (t) => setBoard((b) => (b ? applyTask(b, t.id, t, match) : b)),
      (err) => {
        setError(`Could not move ${task.key}: ${errText(err)}`);
        load();
      },
    );
  };

  const more = (col: Column) => {
    if (!col.next) return;
    const { key: _key, ...query } = filters;
    Work.board(ws.id, { ...query, status: col.status, after: col.next }).then(
      (b) =>
        setBoard((cur) =>
          cur
            ? {
                columns: cur.columns.map((c) => {
                  const page = b.columns.find((x) => x.status === c.status);
                  if (!page) return c;
                  const have = new Set(c.tasks.map((t) => t.id));
                  return { ...c, tasks: [...c.tasks, ...page.tasks.filter((t) => !have.has(t.id))], next: page.next };
                }),
              }
            : cur,
        ),
      (err) => setError(errText(err)),
    );
  };

  const added = (t: TaskView) => setBoard((b) => (b ? applyTask(b, t.id, t, match) : b));

  return (
    <>
      <ErrorBanner error={error} />
      {!board && !error && <p className="loading">Loading the board…</p>}
      {board && (
        <DndContext
          sensors={sensors}
          collisionDetection={closestCorners}
          onDragStart={onDragStart}
          onDragEnd={onDragEnd}
          onDragCancel={() => setDragging(null)}
          accessibility={{
            announcements: {
              onDragStart: ({ active }) => `Picked up ${name(active.id)}.`,
              onDragOver: ({ active, over }) => (over ? `${name(active.id)} is over ${name(over.id)}.` : `${name(active.id)} is over no column.`),
              onDragEnd: ({ active, over }) => (over ? `${name(active.id)} was dropped on ${name(over.id)}.` : `${name(active.id)} was dropped.`),
              onDragCancel: ({ active }) => `Moving ${name(active.id)} was cancelled.`,
            },
            screenReaderInstructions: {
              draggable: "To move a task, press space or enter, use the arrow keys to choose its place, then space or enter to drop it, or escape to cancel.",
            },
          }}
        >
          <div className="board" data-testid="board">
            {board.columns.map((col) => (
              <BoardColumn key={col.status} ws={ws} col={col} editable={editable} onMore={() => more(col)} onAdded={added} />
            ))}
          </div>
          <DragOverlay>{dragging ? <CardBody task={dragging} members={ws.members} overlay /> : null}</DragOverlay>
        </DndContext>
      )}
    </>
  );
}

function BoardColumn({
  ws,
  col,
  editable,
  onMore,
  onAdded,
}: {
  ws: WorkspaceView;
  col: Column;
  editable: boolean;
  onMore: () => void;
  onAdded: (t: TaskView) => void;
}) {
  const { setNodeRef, isOver } = useDroppable({ id: `col:${col.status}` });
  return (
    <div className={`column${isOver ? " over" : ""}`} data-testid={`column-${col.status}`} aria-label={col.name} role="region">
      <header className="column-head">
        <h2>{col.name}</h2>
        <span className="muted" title="Tasks in the column">
          {col.total}
        </span>
      </header>
      {editable && <QuickAdd ws={ws} status={col.status} name={col.name} onAdded={onAdded} />}
      <SortableContext id={col.status} items={col.tasks.map((t) => t.id)} strategy={verticalListSortingStrategy}>
        <ol className="cards-col" ref={setNodeRef}>
          {col.tasks.map((t) => (
            <SortableCard key={t.id} task={t} members={ws.members} disabled={!editable} />
          ))}
        </ol>
      </SortableContext>
      {col.next && (
        <button type="button" className="small load-more" onClick={onMore}>
          Load more
        </button>
      )}
    </div>
  );
}

function QuickAdd({ ws, status, name, onAdded }: { ws: WorkspaceView; status: TaskStatus; name: string; onAdded: (t: TaskView) => void }) {
  const [title, setTitle] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (!title.trim()) return;
    setBusy(true);
    setError(null);
    Work.createTask(ws.id, { title: title.trim(), status, place: "top" })
      .then(
        (t) => {
          setTitle("");
          onAdded(t);
        },
        (err) => setError(errText(err)),
      )
      .finally(() => setBusy(false));
  };
  return (
    <form className="quick-add" onSubmit={submit}>
      <input aria-label={`New task in ${name}`} placeholder="+ Add a task" value={title} onChange={(e) => setTitle(e.target.value)} disabled={busy} />
      <ErrorBanner error={error} />
    </form>
  );
}

function SortableCard({ task, members, disabled }: { task: TaskView; members: MemberView[]; disabled: boolean }) {
  const { attributes, listeners, setNodeRef, transform, transition, isDragging } = useSortable({ id: task.id, disabled });
  const style = { transform: CSS.Translate.toString(transform), transition };
  return (
    <li
      ref={setNodeRef}
      style={style}
      className={`task-card${isDragging ? " dragging" : ""}`}
      data-testid="task-card"
      data-key={task.key}
      {...attributes}
      {...listeners}
      aria-label={`${task.key} ${task.title}`}
    >
      <CardBody task={task} members={members} />
    </li>
  );
}

/** The card's run state: the latest run's status, "needs attention" while any run waits for a person, and a
 * flag when the latest run failed. */
function RunChips({ task }: { task: TaskView }) {
  const latest = task.runs[0];
  if (!latest) return null;
  const pr = task.runs.find((r) => r.pull_request)?.pull_request;
  const waiting = task.runs.some((r) => r.pending_approvals > 0);
  return (
    <span className="run-chips" data-testid="run-chips">
      {waiting && (
        <span className="attention" data-testid="attention" title="An agent waits for a person">
          needs attention
        </span>
      )}
      {pr && <CardPr pr={pr} />}
      <span className={`run-chip ${latest.status}`} data-testid="run-chip" title={`${latest.provider} run: ${latest.status}${task.runs.length > 1 ? ` (${task.runs.length} runs)` : ""}`}>
        {latest.provider === "claude" ? "C" : "X"} {latest.status}
      </span>
    </span>
  );
}

function CardBody({ task, members, overlay }: { task: TaskView; members: MemberView[]; overlay?: boolean }) {
  return (
    <div className={`card-body${overlay ? " overlay" : ""}`}>
      <div className="card-top">
        <span className="task-key">{task.key}</span>
        {task.issue && <IssueLinkView issue={task.issue} />}
        <PriorityMark priority={task.priority} />
        <RunChips task={task} />
      </div>
      <Link href={withParam("task", task.key)} className="task-title" draggable={false}>
        {task.title}
      </Link>
      {(task.labels.length > 0 || task.assignees.length > 0 || task.subtasks > 0 || task.due) && (
        <div className="card-foot">
          {task.due && (
            <span className="due" data-testid="due" title="Due date">
              Due {task.due}
            </span>
          )}
          {task.labels.map((l) => (
            <span key={l} className="tag">
              {l}
            </span>
          ))}
          {task.subtasks > 0 && (
            <span className="muted subtasks" title="Subtasks">
              ☰ {task.subtasks}
            </span>
          )}
          <span className="avatars">
            {task.assignees.map((a) => (
              <Avatar key={a} user={a} members={members} />
            ))}
          </span>
        </div>
      )}
    </div>
  );
}
