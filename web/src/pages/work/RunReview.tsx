// A run's changes and their delivery: the diff against the merge base (unified with click-to-comment on line
// numbers, or split), its review comments (outdated once their line changed) sent to the agent as one follow-up,
// Rebase and Merge with their refusals ("ask the agent to resolve" a conflict), and two runs compared file by file.
import { useCallback, useEffect, useState, type FormEvent, type ReactNode } from "react";
import type { FileDiff, MergeStrategy, ReviewComment, Run, RunReview, WorkspaceView } from "../../api/types.gen";
import { Api } from "../../api/client";
import { Work } from "../../api/work";
import { useBoardFrames } from "../../api/data";
import { FileDiffView, parsePatch } from "../../components/DiffView";
import { ErrorBanner, errText } from "../../util";
import { canEdit, userName } from "./common";

export function Changes({ ws, run }: { ws: WorkspaceView; run: Run }) {
  const [review, setReview] = useState<RunReview | null>(null);
  const [split, setSplit] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [note, setNote] = useState<string | null>(null);
  const [strategy, setStrategy] = useState<MergeStrategy>("squash");
  const [deleteBranch, setDeleteBranch] = useState(false);
  const [conflict, setConflict] = useState<string | null>(null);
  const load = useCallback(() => Work.runDiff(run.id).then(setReview, (e) => setError(errText(e))), [run.id]);
  useEffect(() => {
    void load();
  }, [load, run.last_commit, run.turns]);
  useBoardFrames(ws.id, (f) => {
    if (f.type === "review_comments" && f.run_id === run.id) Work.reviewComments(run.id).then((comments) => setReview((r) => (r ? { ...r, comments } : r)), () => {});
  });
  const editable = canEdit(ws);
  const unsent = (review?.comments ?? []).filter((c) => c.sent_at == null);
  const idle = !(run.status === "starting" || run.status === "running" || run.status === "waiting");
  const send = () =>
    Work.sendReview(run.id).then(
      (r) => setNote(`Sent ${r.sent} comment${r.sent === 1 ? "" : "s"} to the agent${r.queued ? " (queued behind its turn)" : ""}.`),
      (e) => setError(errText(e)),
    );
  const rebase = () => {
    setConflict(null);
    Work.rebaseRun(run.id).then(
      () => {
        setNote(`Rebased onto ${run.base_branch}.`);
        void load();
      },
      (e) => setConflict(errText(e)),
    );
  };
  const merge = () => {
    setConflict(null);
    Work.mergeRun(run.id, { strategy, delete_branch: deleteBranch }).then(
      () => setNote(`Merged into ${run.base_branch}.`),
      (e) => setConflict(errText(e)),
    );
  };
  const askAgent = () => {
    if (!run.session_id || !conflict) return;
    Api.message(run.session_id, `Rebasing your branch onto ${run.base_branch} conflicts: ${conflict}\nRebase onto ${run.base_branch} yourself, resolve the conflicts, and commit.`).then(
      () => setNote("Asked the agent to resolve the conflict."),
      (e) => setError(errText(e)),
    );
  };
  return (
    <div className="changes" data-testid="changes">
      <ErrorBanner error={error} />
      {note && <p className="notice">{note}</p>}
      {conflict && (
        <div className="error" role="alert" data-testid="merge-refused">
          <p>{conflict}</p>
          {editable && run.session_id && /conflict/i.test(conflict) && (
            <button type="button" className="small" onClick={askAgent}>
              Ask the agent to resolve it
            </button>
          )}
        </div>
      )}
      {review && (
        <p className="muted" data-testid="diff-summary">
          {review.diff.files.length} files changed against {run.base_branch} ({review.diff.ahead} commits ahead, {review.diff.behind} behind)
          {review.diff.truncated ? "; some patches are too large to show" : ""}
        </p>
      )}
      <div className="row">
        <button type="button" className={`small${split ? "" : " active"}`} onClick={() => setSplit(false)}>
          Unified
        </button>
        <button type="button" className={`small${split ? " active" : ""}`} onClick={() => setSplit(true)}>
          Split
        </button>
        <span className="grow" />
        {editable && unsent.length > 0 && (
          <button type="button" className="primary small" onClick={send} data-testid="send-review">
            Send {unsent.length} comment{unsent.length === 1 ? "" : "s"} to the agent
          </button>
        )}
      </div>
      {editable && run.status !== "merged" && run.prepared && (
        <div className="row deliver">
          <button type="button" className="small" onClick={rebase} disabled={!idle}>
            Rebase onto {run.base_branch}
          </button>
          <select aria-label="Merge strategy" value={strategy} onChange={(e) => setStrategy(e.target.value as MergeStrategy)}>
            <option value="squash">Squash</option>
            <option value="merge_commit">Merge commit</option>
            <option value="fast_forward">Fast-forward</option>
          </select>
          <label className="check">
            <input type="checkbox" checked={deleteBranch} onChange={(e) => setDeleteBranch(e.target.checked)} /> delete the branch
          </label>
          <button type="button" className="primary small" onClick={merge} disabled={!idle} data-testid="merge">
            Merge into {run.base_branch}
          </button>
        </div>
      )}
      {(review?.diff.files ?? []).map((f) =>
        split ? (
          <FileDiffView key={f.path} file={f} split />
        ) : (
          <ReviewFile key={f.path} ws={ws} run={run} file={f} comments={(review?.comments ?? []).filter((c) => c.path === f.path)} editable={editable} />
        ),
      )}
    </div>
  );
}

/** A file's unified diff where a click on a line number opens a comment on that line. */
function ReviewFile({ ws, run, file, comments, editable }: { ws: WorkspaceView; run: Run; file: FileDiff; comments: ReviewComment[]; editable: boolean }) {
  const [at, setAt] = useState<{ line: number; side: "new" | "old"; code: string } | null>(null);
  const [text, setText] = useState("");
  const [error, setError] = useState<string | null>(null);
  const lines = parsePatch(file.patch);
  const add = (e: FormEvent) => {
    e.preventDefault();
    if (!at || !text.trim()) return;
    Work.addReviewComment(run.id, { path: file.path, line: at.line, side: at.side, code: at.code, body: text }).then(
      () => {
        setAt(null);
        setText("");
      },
      (err) => setError(errText(err)),
    );
  };
  const here = (line: number | undefined, side: "new" | "old") => comments.filter((c) => c.line === line && c.side === side);
  return (
    <div className="file-diff" data-testid="review-file" data-path={file.path}>
      <div className="file-diff-head">
        <span className="path">{file.path}</span>
        <span className="muted">{file.state.replace(/_/g, " ")}</span>
        <span className="counts">
          <span className="plus">+{file.additions}</span> <span className="minus">−{file.deletions}</span>
        </span>
      </div>
      {file.binary && <p className="muted pad">Binary file: no text diff.</p>}
      <div className="diff-scroll">
        <table className="diff-table unified">
          <tbody>
            {lines.map((l, i) => {
              const side = l.kind === "del" ? "old" : "new";
              const num = side === "old" ? l.old : l.new;
              const notes = l.kind === "hunk" || l.kind === "note" ? [] : here(num, side);
              return l.kind === "hunk" || l.kind === "note" ? (
                <tr key={i} className={l.kind}>
                  <td colSpan={3}>{l.text}</td>
                </tr>
              ) : (
                <ReviewRow key={i} kind={l.kind} old={l.old} now={l.new} text={l.text} notes={notes} ws={ws} onComment={editable && num ? () => setAt({ line: num, side, code: l.text }) : undefined}>
                  {at && at.line === num && at.side === side && (
                    <form className="review-form" onSubmit={add}>
                      <textarea aria-label="Review comment" rows={2} value={text} onChange={(e) => setText(e.target.value)} autoFocus />
                      <button type="submit" className="primary small" disabled={!text.trim()}>
                        Comment
                      </button>
                      <button type="button" className="small" onClick={() => setAt(null)}>
                        Cancel
                      </button>
                      <ErrorBanner error={error} />
                    </form>
                  )}
                </ReviewRow>
              );
            })}
          </tbody>
        </table>
      </div>
      {comments
        .filter((c) => !lines.some((l) => (c.side === "old" ? l.old : l.new) === c.line && l.kind !== "hunk"))
        .map((c) => (
          <ReviewNote key={c.id} ws={ws} c={c} />
        ))}
    </div>
  );
}

function ReviewRow(props: {
  kind: string;
  old?: number;
  now?: number;
  text: string;
  notes: ReviewComment[];
  ws: WorkspaceView;
  onComment?: () => void;
  children?: ReactNode;
}) {
  const sign = props.kind === "add" ? "+" : props.kind === "del" ? "-" : " ";
  return (
    <>
      <tr className={props.kind}>
        <td className="num">{props.old ?? ""}</td>
        <td className="num">
          {props.onComment ? (
            <button type="button" className="link line-comment" aria-label={`Comment on line ${props.now ?? props.old}`} onClick={props.onComment}>
              {props.now ?? "+"}
            </button>
          ) : (
            (props.now ?? "")
          )}
        </td>
        <td className="code">
          {sign}
          {props.text}
        </td>
      </tr>
      {(props.notes.length > 0 || props.children) && (
        <tr className="review-notes">
          <td colSpan={3}>
            {props.notes.map((c) => (
              <ReviewNote key={c.id} ws={props.ws} c={c} />
            ))}
            {props.children}
          </td>
        </tr>
      )}
    </>
  );
}

function ReviewNote({ ws, c }: { ws: WorkspaceView; c: ReviewComment }) {
  return (
    <div className={`review-note${c.outdated ? " outdated" : ""}`} data-testid="review-comment">
      <strong>{userName(ws.members, c.author)}</strong> <span className="muted">line {c.line}</span>
      {c.outdated && <span className="tag">outdated</span>}
      {c.sent_at != null ? <span className="tag">sent</span> : <span className="tag">not sent</span>}
      <p>{c.body}</p>
    </div>
  );
}

export function Compare({ run, others }: { run: Run; others: Run[] }) {
  const [other, setOther] = useState(others[0]?.id ?? "");
  const [a, setA] = useState<RunReview | null>(null);
  const [b, setB] = useState<RunReview | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    Work.runDiff(run.id).then(setA, (e) => setError(errText(e)));
  }, [run.id]);
  useEffect(() => {
    if (other) Work.runDiff(other).then(setB, (e) => setError(errText(e)));
  }, [other]);
  const paths = Array.from(new Set([...(a?.diff.files ?? []), ...(b?.diff.files ?? [])].map((f) => f.path))).sort();
  const counts = (r: RunReview | null, p: string) => {
    const f = r?.diff.files.find((x) => x.path === p);
    return f ? `+${f.additions} −${f.deletions}` : "–";
  };
  const label = (r: Run | undefined) => (r ? `${r.provider} ${r.prepared?.branch ?? ""}` : "");
  return (
    <div data-testid="compare">
      <ErrorBanner error={error} />
      <select aria-label="Compare with" value={other} onChange={(e) => setOther(e.target.value)}>
        {others.map((o) => (
          <option key={o.id} value={o.id}>
            {label(o)}
          </option>
        ))}
      </select>
      <table className="processes">
        <thead>
          <tr>
            <th>File</th>
            <th>{label(run)}</th>
            <th>{label(others.find((o) => o.id === other))}</th>
          </tr>
        </thead>
        <tbody>
          {paths.map((p) => (
            <tr key={p}>
              <td>{p}</td>
              <td>{counts(a, p)}</td>
              <td>{counts(b, p)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <p className="muted">Open a run's Changes to read its diff, and merge the one you pick.</p>
    </div>
  );
}

