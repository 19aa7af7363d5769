// One session, live: the transcript (virtualised, following the bottom while you are there), status, usage and
// cost, stop, and the follow-up composer (queued while a turn runs). Events come over the shared live socket
// from the last seq held, so a reload or a lost network loses nothing.
import { useEffect, useLayoutEffect, useRef, useState, type FormEvent } from "react";
import { useVirtualizer } from "@tanstack/react-virtual";
import { Api } from "../api/client";
import { Link } from "../router";
import { live, type LiveState } from "../api/live";
import type { SessionView } from "../api/types.gen";
import { ItemView } from "../components/Cards";
import { apply, emptyTranscript, type Transcript } from "../transcript";
import { ErrorBanner, StatusPill, errText } from "../util";

function useTranscript(id: string): Transcript {
  const [t, setT] = useState<Transcript>(emptyTranscript);
  useEffect(() => {
    setT(emptyTranscript());
    // Events arrive one by one; batch them per animation frame so a long replay renders once.
    let queue: Parameters<typeof apply>[1] = [];
    let frame = 0;
    const flush = () => {
      frame = 0;
      const batch = queue;
      queue = [];
      setT((cur) => apply(cur, batch));
    };
    const off = live.subscribe(id, 0, (ev) => {
      queue.push(ev);
      if (!frame) frame = requestAnimationFrame(flush);
    });
    return () => {
      off();
      if (frame) cancelAnimationFrame(frame);
    };
  }, [id]);
  return t;
}

function useLiveState(): LiveState {
  const [s, setS] = useState(live.state);
  useEffect(() => live.onState(setS), []);
  return s;
}

export function SessionPage({ id }: { id: string }) {
  const t = useTranscript(id);
  const link = useLiveState();
  const [info, setInfo] = useState<SessionView | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [tab, setTab] = useState<"transcript" | "details">("transcript");
  useEffect(() => {
    Api.session(id).then(setInfo, (e) => setError(errText(e)));
  }, [id, t.status, t.pending]);

  const status = t.status ?? info?.status ?? null;
  const running = status === "running" || status === "starting" || status === "waiting_for_approval";
  const stop = () => Api.stop(id).catch((e) => setError(errText(e)));

  return (
    <section className="session">
      <div className="session-head">
        <div className="session-title">
          <h1 title={info?.title}>{info?.title ?? "Session"}</h1>
          <div className="meta">
            <StatusPill status={status} />
            {t.pending > 0 && <span className="pill st-waiting_for_approval">{t.pending} waiting</span>}
            <span>{info?.provider}</span>
            <span>{info?.node_id}</span>
            <span className="path">{info?.path}</span>
            {link !== "open" && <span className="pill st-stopped">{link === "connecting" ? "connecting…" : "reconnecting…"}</span>}
          </div>
        </div>
        <div className="row">
          <span className="usage" title="tokens in / out, cost">
            {t.usage.input + t.usage.output > 0 && `${t.usage.input} in · ${t.usage.output} out`}
            {t.usage.cost > 0 && ` · $${t.usage.cost.toFixed(4)}`}
          </span>
          {info && (
            <Link
              href={`/nodes/${encodeURIComponent(info.node_id)}/files?path=${encodeURIComponent(info.path)}`}
              className="button small"
              title="The session's directory: files, editor and git"
            >
              Files
            </Link>
          )}
          {running && (
            <button type="button" className="danger small" onClick={stop}>
              Stop
            </button>
          )}
        </div>
      </div>
      <div className="tabs" role="tablist">
        <button type="button" role="tab" aria-selected={tab === "transcript"} onClick={() => setTab("transcript")}>
          Transcript
        </button>
        <button type="button" role="tab" aria-selected={tab === "details"} onClick={() => setTab("details")}>
          Details
        </button>
      </div>
      <ErrorBanner error={error} />
      <div className={`session-body show-${tab}`}>
        <div className="pane transcript-pane">
          <TranscriptList t={t} sessionId={id} />
          <Composer id={id} running={running} />
        </div>
        <aside className="pane details-pane">
          <dl>
            <dt>Status</dt>
            <dd>
              <StatusPill status={status} /> {t.statusMessage ?? info?.status_message ?? ""}
            </dd>
            <dt>Node</dt>
            <dd>
              {info?.node_id} {info && !info.node_online && "(offline)"}
            </dd>
            <dt>Directory</dt>
            <dd className="path">{info?.path}</dd>
            <dt>Provider</dt>
            <dd>
              {info?.provider} {t.model ?? info?.reported_model ?? info?.model ?? ""}
            </dd>
            <dt>Permission mode</dt>
            <dd>{info?.permission_mode ?? "default"}</dd>
            <dt>Usage</dt>
            <dd>
              {t.usage.input} tokens in, {t.usage.output} out{t.usage.cost ? `, $${t.usage.cost.toFixed(4)}` : ""}
            </dd>
            <dt>Events</dt>
            <dd data-testid="last-seq">{t.lastSeq}</dd>
            <dt>Provider session</dt>
            <dd>
              <code>{info?.provider_session_id ?? "—"}</code>
            </dd>
          </dl>
        </aside>
      </div>
    </section>
  );
}

function TranscriptList({ t, sessionId }: { t: Transcript; sessionId: string }) {
  const scroller = useRef<HTMLDivElement>(null);
  const atBottom = useRef(true);
  const v = useVirtualizer({
    count: t.items.length,
    getScrollElement: () => scroller.current,
    estimateSize: () => 72,
    overscan: 8,
    getItemKey: (i) => t.items[i].key,
  });
  useLayoutEffect(() => {
    if (atBottom.current && t.items.length) v.scrollToIndex(t.items.length - 1, { align: "end" });
  }, [t, v]);
  return (
    <div
      className="transcript"
      ref={scroller}
      data-testid="transcript"
      onScroll={(e) => {
        const el = e.currentTarget;
        atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < 80;
      }}
    >
      {t.items.length === 0 && <p className="muted pad">Waiting for the agent…</p>}
      <div style={{ height: v.getTotalSize(), position: "relative", width: "100%" }}>
        {v.getVirtualItems().map((row) => (
          <div key={row.key} data-index={row.index} ref={v.measureElement} className="row-item" style={{ transform: `translateY(${row.start}px)` }}>
            <ItemView item={t.items[row.index]} sessionId={sessionId} />
          </div>
        ))}
      </div>
    </div>
  );
}

function Composer({ id, running }: { id: string; running: boolean }) {
  const [text, setText] = useState("");
  const [note, setNote] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const send = async (e?: FormEvent) => {
    e?.preventDefault();
    if (!text.trim()) return;
    setError(null);
    try {
      const r = await Api.message(id, text);
      setText("");
      setNote(r.queued ? "Queued: it is sent when the current turn ends." : null);
    } catch (err) {
      setError(errText(err));
    }
  };
  return (
    <form className="composer" onSubmit={send}>
      <textarea
        aria-label="Message"
        rows={2}
        value={text}
        placeholder={running ? "Follow-up (queued while the agent works); Ctrl+Enter sends" : "Message the agent; Ctrl+Enter sends"}
        onChange={(e) => setText(e.target.value)}
        onKeyDown={(e) => {
          if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) void send();
        }}
      />
      <button type="submit" className="primary" disabled={!text.trim()}>
        Send
      </button>
      {(note || error) && <p className={error ? "error" : "muted"}>{error ?? note}</p>}
    </form>
  );
}
