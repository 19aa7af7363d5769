// The board's pure logic: where a dropped card lands and which neighbours the move request names, the optimistic
// move, and folding a task the server sent (an answer or a live frame) into the columns shown. No React here, so
// node's unit tests (web/unit/board.test.mjs) run it as it is.
import type { Board, BoardQuery, PrChip, PullRequest, Run, RunChip, TaskStatus, TaskView } from "./api/types.gen";

/** The tasks a move request places a task between: the one above it and the one below it. */
export interface Neighbours {
  after?: string;
  before?: string;
}

/** In the column order `ids` (the moved task already at its new place), the tasks just above and below `id`. */
export function neighbours(ids: string[], id: string): Neighbours {
  const i = ids.indexOf(id);
  if (i < 0) return {};
  const out: Neighbours = {};
  if (i > 0) out.after = ids[i - 1];
  if (i + 1 < ids.length) out.before = ids[i + 1];
  return out;
}

/** `board` with task `id` taken out of its column and put into column `to` at `index` (clamped). */
export function moveCard(board: Board, id: string, to: TaskStatus, index: number): Board {
  const task = board.columns.flatMap((c) => c.tasks).find((t) => t.id === id);
  if (!task) return board;
  const moved: TaskView = { ...task, status: to };
  return {
    columns: board.columns.map((c) => {
      let tasks = c.tasks.filter((t) => t.id !== id);
      if (c.status === to) {
        const at = Math.max(0, Math.min(index, tasks.length));
        tasks = [...tasks.slice(0, at), moved, ...tasks.slice(at)];
      }
      const total = c.total + (c.status === to ? 1 : 0) - (c.status === task.status ? 1 : 0);
      return { ...c, tasks, total };
    }),
  };
}

/**
 * Whether `task` passes the board's filters, as main applies them (all words of `q`, case-insensitive);
 * `assignee` is a user id here (tasks hold ids), or `none`.
 */
export function matches(task: TaskView, f: BoardQuery): boolean {
  if (task.archived) return false;
  if (f.priority && task.priority !== f.priority) return false;
  if (f.label && !task.labels.includes(f.label)) return false;
  if (f.assignee && (f.assignee === "none" ? task.assignees.length > 0 : !task.assignees.includes(f.assignee))) return false;
  if (f.project && task.project_id !== f.project) return false;
  if (f.q) {
    const hay = [task.key, task.title, task.description, ...task.labels].join("\n").toLowerCase();
    if (!f.q.toLowerCase().split(/\s+/).filter(Boolean).every((w) => hay.includes(w))) return false;
  }
  return true;
}

/** Positions order as bytes; their characters are ASCII, so code units order the same way. */
const before = (a: string, b: string) => a < b;

/**
 * `board` with what main says of task `id` now: `task` absent (deleted, or no longer visible) drops it; a task
 * that no longer passes `filters` drops it; otherwise it goes into its column by position, unless it would sit
 * past the last loaded card of a column with more pages (that page brings it). An older version than the one
 * shown changes nothing.
 */
export function applyTask(board: Board, id: string, task: TaskView | undefined, filters: BoardQuery): Board {
  const shown = board.columns.flatMap((c) => c.tasks).find((t) => t.id === id);
  if (task && shown && shown.version > task.version) return board;
  const keep = task && matches(task, filters) ? task : undefined;
  return {
    columns: board.columns.map((c) => {
      const had = c.tasks.some((t) => t.id === id);
      let tasks = c.tasks.filter((t) => t.id !== id);
      let total = c.total - (had ? 1 : 0);
      if (keep && keep.status === c.status) {
        let at = tasks.findIndex((t) => before(keep.position, t.position));
        if (at < 0) at = c.next ? -1 : tasks.length;
        if (at >= 0) tasks = [...tasks.slice(0, at), keep, ...tasks.slice(at)];
        total += 1;
      }
      return had || keep?.status === c.status ? { ...c, tasks, total } : c;
    }),
  };
}

/** Where a card dropped on card `overIndex` of a column lands: below it when the pointer passed its middle. */
export function dropIndex(sameColumn: boolean, overIndex: number, below: boolean): number {
  if (sameColumn) return overIndex; // sortable semantics: the card takes the place of the one it is over
  return below ? overIndex + 1 : overIndex;
}

/** `board` with run `run` of task `id` in that card's run chips (newest first, at most five); a chip keeps its
 * pull request (run frames do not carry it). */
export function applyRun(board: Board, id: string, run: Run): Board {
  const chip = (old?: RunChip): RunChip => {
    const c: RunChip = { id: run.id, provider: run.provider, status: run.status, pending_approvals: run.pending_approvals };
    if (old?.pull_request) c.pull_request = old.pull_request;
    return c;
  };
  return {
    columns: board.columns.map((c) =>
      c.tasks.some((t) => t.id === id)
        ? {
            ...c,
            tasks: c.tasks.map((t) =>
              t.id !== id
                ? t
                : { ...t, runs: t.runs.some((r) => r.id === run.id) ? t.runs.map((r) => (r.id === run.id ? chip(r) : r)) : [chip(), ...t.runs].slice(0, 5) },
            ),
          }
        : c,
    ),
  };
}

/** What a card shows of pull request `pr`. */
export function prChip(pr: PullRequest): PrChip {
  return { number: pr.number, url: pr.url, state: pr.state, checks: pr.checks.state, review: pr.review };
}

/** `board` with pull request `pr` of task `id` on its run's chip (a run no longer among the card's chips: nothing). */
export function applyPullRequest(board: Board, id: string, pr: PullRequest): Board {
  const chip = prChip(pr);
  return {
    columns: board.columns.map((c) =>
      c.tasks.some((t) => t.id === id && t.runs.some((r) => r.id === pr.run_id))
        ? {
            ...c,
            tasks: c.tasks.map((t) => (t.id !== id ? t : { ...t, runs: t.runs.map((r) => (r.id === pr.run_id ? { ...r, pull_request: chip } : r)) })),
          }
        : c,
    ),
  };
}
