// The git panel's commit box (authored with the user's profile, which it asks for inline when missing) and the
// branch's history, a page at a time, each commit opening to what it changed.
import { useEffect, useState, type FormEvent } from "react";
import { ApiError, Api, Git, type Me } from "../api/client";
import type { CommitInfo, GitDiff } from "../api/types.gen";
import { FileDiffView } from "./DiffView";
import { ErrorBanner, ago, errText } from "../util";

function ProfileForm({ me, onMe, onCancel }: { me: Me; onMe: (m: Me) => void; onCancel?: () => void }) {
  const [name, setName] = useState(me.name ?? "");
  const [email, setEmail] = useState(me.email ?? "");
  const [error, setError] = useState<string | null>(null);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    Api.setProfile(name, email).then(onMe, (err) => setError(errText(err)));
  };
  return (
    <form className="profile-form" onSubmit={submit} data-testid="profile-form">
      <p className="muted">Commits are authored with your name and email.</p>
      <label>
        Name
        <input value={name} onChange={(e) => setName(e.target.value)} required autoComplete="name" />
      </label>
      <label>
        Email
        <input type="email" value={email} onChange={(e) => setEmail(e.target.value)} required autoComplete="email" />
      </label>
      <div className="row">
        <button type="submit" className="primary small">
          Save profile
        </button>
        {onCancel && (
          <button type="button" className="small" onClick={onCancel}>
            Cancel
          </button>
        )}
      </div>
      <ErrorBanner error={error} />
    </form>
  );
}

export function CommitBox({
  node,
  repo,
  me,
  onMe,
  staged,
  onCommitted,
}: {
  node: string;
  repo: string;
  me: Me;
  onMe: (m: Me) => void;
  /** How many paths are staged. */
  staged: number;
  onCommitted: () => void;
}) {
  const [message, setMessage] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [editProfile, setEditProfile] = useState(false);
  const [note, setNote] = useState<string | null>(null);
  const needProfile = !me.name || !me.email;
  const commit = async (e?: FormEvent) => {
    e?.preventDefault();
    if (!message.trim() || busy || needProfile) return;
    setBusy(true);
    setError(null);
    setNote(null);
    try {
      const { id } = await Git.commit(node, repo, message);
      setMessage("");
      setNote(`Committed ${id.slice(0, 8)}.`);
      onCommitted();
    } catch (err) {
      if (err instanceof ApiError && err.code === "profile_required") setEditProfile(true);
      setError(errText(err));
    } finally {
      setBusy(false);
    }
  };
  if (needProfile || editProfile)
    return (
      <div className="commit-box">
        <h3>Commit</h3>
        <ProfileForm
          me={me}
          onMe={(m) => {
            onMe(m);
            setEditProfile(false);
            setError(null);
          }}
          onCancel={needProfile ? undefined : () => setEditProfile(false)}
        />
      </div>
    );
  return (
    <form className="commit-box" onSubmit={commit}>
      <h3>Commit</h3>
      <textarea
        aria-label="Commit message"
        rows={3}
        value={message}
        placeholder={staged ? "What the change does (Ctrl+Enter commits)" : "Stage changes to commit them"}
        onChange={(e) => setMessage(e.target.value)}
        onKeyDown={(e) => {
          if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) void commit();
        }}
      />
      <div className="row spread wrap">
        <span className="muted author" data-testid="commit-author">
          as {me.name} &lt;{me.email}&gt;{" "}
          <button type="button" className="link" onClick={() => setEditProfile(true)}>
            change
          </button>
        </span>
        <button type="submit" className="primary" disabled={busy || !message.trim() || staged === 0}>
          {busy ? "Committing…" : `Commit${staged ? ` ${staged} file${staged > 1 ? "s" : ""}` : ""}`}
        </button>
      </div>
      <ErrorBanner error={error} />
      {note && <p className="muted">{note}</p>}
    </form>
  );
}

/** What a commit changed against its first parent, loaded when its row is opened. */
function CommitChanges({ node, repo, id }: { node: string; repo: string; id: string }) {
  const [diff, setDiff] = useState<GitDiff | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let alive = true;
    Git.commitDiff(node, repo, id).then(
      (d) => alive && setDiff(d),
      (e) => alive && setError(errText(e)),
    );
    return () => {
      alive = false;
    };
  }, [node, repo, id]);
  if (error) return <ErrorBanner error={error} />;
  if (!diff) return <p className="muted">Loading the changes…</p>;
  return (
    <div className="commit-changes" data-testid="commit-changes">
      {diff.files.length === 0 && <p className="muted">This commit changed no files.</p>}
      {diff.files.map((f) => (
        <FileDiffView key={f.path} file={f} split={false} />
      ))}
      {diff.truncated && <p className="muted">Some of the diff was left out (too large).</p>}
    </div>
  );
}

function CommitRow({ node, repo, c }: { node: string; repo: string; c: CommitInfo }) {
  const [open, setOpen] = useState(false);
  const body = c.message.slice(c.message.indexOf("\n") + 1).trim();
  return (
    <li className="commit" data-testid="commit">
      <button type="button" className="commit-head" aria-expanded={open} onClick={() => setOpen(!open)}>
        <span className="commit-summary">{c.summary}</span>
        <span className="meta">
          <code>{c.id.slice(0, 8)}</code>
          <span>{c.author_name}</span>
          <span title={new Date(c.time * 1000).toLocaleString()}>{ago(new Date(c.time * 1000).toISOString())}</span>
        </span>
      </button>
      {open && (
        <div className="commit-body">
          {body && c.message.includes("\n") && <pre>{body}</pre>}
          <p className="muted">
            <code>{c.id}</code> by {c.author_name} &lt;{c.author_email}&gt;, {new Date(c.time * 1000).toLocaleString()}
            {c.parents.length > 1 ? ` · merge of ${c.parents.map((p) => p.slice(0, 8)).join(", ")}` : ""}
          </p>
          <CommitChanges node={node} repo={repo} id={c.id} />
        </div>
      )}
    </li>
  );
}

export function History({ node, repo, head }: { node: string; repo: string; head: string | null }) {
  const [commits, setCommits] = useState<CommitInfo[]>([]);
  const [next, setNext] = useState<number | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(false);
  useEffect(() => {
    let alive = true;
    setError(null);
    if (!head) {
      setCommits([]);
      setNext(null);
      return;
    }
    setLoading(true);
    Git.log(node, repo, 0).then(
      (l) => {
        if (!alive) return;
        setCommits(l.commits);
        setNext(l.next_skip);
        setLoading(false);
      },
      (e) => alive && (setError(errText(e)), setLoading(false)),
    );
    return () => {
      alive = false;
    };
  }, [node, repo, head]);
  const more = () => {
    if (next == null) return;
    setLoading(true);
    Git.log(node, repo, next).then(
      (l) => {
        setCommits((c) => [...c, ...l.commits]);
        setNext(l.next_skip);
        setLoading(false);
      },
      (e) => (setError(errText(e)), setLoading(false)),
    );
  };
  return (
    <div className="history">
      <h3>History</h3>
      <ErrorBanner error={error} />
      {!head && <p className="muted">No commits yet.</p>}
      <ul className="commits" data-testid="history">
        {commits.map((c) => (
          <CommitRow key={c.id} node={node} repo={repo} c={c} />
        ))}
      </ul>
      {next != null && (
        <button type="button" className="small" onClick={more} disabled={loading}>
          {loading ? "Loading…" : "Load more"}
        </button>
      )}
    </div>
  );
}
