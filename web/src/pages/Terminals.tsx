// Web terminals: tabs of shells on nodes (xterm.js). Each tab keeps its terminal id in localStorage, so a
// reload reattaches to the same shell and shows its recent output; closing a tab ends the shell.
import { useEffect, useRef, useState } from "react";
import { Terminal } from "@xterm/xterm";
import { FitAddon } from "@xterm/addon-fit";
import "@xterm/xterm/css/xterm.css";
import type { TerminalClientFrame, TerminalServerFrame } from "../api/types.gen";
import { useNodes } from "../api/data";
import { ErrorBanner } from "../util";

interface Tab {
  id: string;
  node: string;
  title: string;
}

const KEY = "vb-terminals";

function loadTabs(): Tab[] {
  try {
    const v = JSON.parse(localStorage.getItem(KEY) ?? "[]") as Tab[];
    return Array.isArray(v) ? v.filter((t) => t && typeof t.id === "string" && typeof t.node === "string") : [];
  } catch {
    return [];
  }
}

export function TerminalsPage() {
  const nodes = useNodes();
  const [tabs, setTabs] = useState<Tab[]>(loadTabs);
  const [active, setActive] = useState<string | null>(() => loadTabs()[0]?.id ?? null);
  const [node, setNode] = useState("");
  const online = (nodes.data ?? []).filter((n) => n.online);
  useEffect(() => localStorage.setItem(KEY, JSON.stringify(tabs)), [tabs]);
  useEffect(() => {
    if (!node && online.length) setNode(online[0].id);
  }, [node, online]);

  const open = () => {
    if (!node) return;
    const n = tabs.filter((t) => t.node === node).length + 1;
    const tab = { id: crypto.randomUUID(), node, title: `${node} #${n}` };
    setTabs([...tabs, tab]);
    setActive(tab.id);
  };
  const close = (id: string) => {
    closers.get(id)?.close();
    const rest = tabs.filter((t) => t.id !== id);
    setTabs(rest);
    if (active === id) setActive(rest[rest.length - 1]?.id ?? null);
  };

  return (
    <section className="terminals">
      <div className="page-head">
        <h1>Terminals</h1>
        <div className="row">
          <select aria-label="Node" value={node} onChange={(e) => setNode(e.target.value)}>
            {online.length === 0 && <option value="">no node is online</option>}
            {online.map((n) => (
              <option key={n.id} value={n.id}>
                {n.name}
              </option>
            ))}
          </select>
          <button type="button" className="primary" onClick={open} disabled={!node}>
            New terminal
          </button>
        </div>
      </div>
      {tabs.length > 0 && (
        <div className="tabs term-tabs" role="tablist">
          {tabs.map((t) => (
            <span key={t.id} className={`term-tab ${t.id === active ? "active" : ""}`}>
              <button type="button" role="tab" aria-selected={t.id === active} onClick={() => setActive(t.id)}>
                {t.title}
              </button>
              <button type="button" className="x" aria-label={`Close ${t.title}`} onClick={() => close(t.id)}>
                ×
              </button>
            </span>
          ))}
        </div>
      )}
      {tabs.length === 0 && <p className="muted">No terminal open. Pick a node and open one.</p>}
      {tabs.map((t) => (
        <TerminalView key={t.id} tab={t} visible={t.id === active} onExit={() => close(t.id)} />
      ))}
    </section>
  );
}

type Ctl = { close: () => void };
const closers = new Map<string, Ctl>();

function TerminalView({ tab, visible, onExit }: { tab: Tab; visible: boolean; onExit: () => void }) {
  const host = useRef<HTMLDivElement>(null);
  const fitRef = useRef<FitAddon | null>(null);
  const [state, setState] = useState<string>("connecting…");
  const [error, setError] = useState<string | null>(null);
  const onExitRef = useRef(onExit);
  onExitRef.current = onExit;

  useEffect(() => {
    const el = host.current;
    if (!el) return;
    const term = new Terminal({
      cursorBlink: true,
      fontFamily: "ui-monospace, SFMono-Regular, Menlo, Consolas, monospace",
      fontSize: 14,
      scrollback: 5000,
      theme: matchMedia("(prefers-color-scheme: dark)").matches || document.documentElement.dataset.theme === "dark" ? undefined : { background: "#1e1e1e" },
    });
    const fit = new FitAddon();
    fitRef.current = fit;
    term.loadAddon(fit);
    term.open(el);
    try {
      fit.fit();
    } catch {
      /* not visible yet */
    }
    // Ctrl+Shift+C copies the selection (Ctrl+C stays the shell's interrupt); pasting works as usual.
    term.attachCustomKeyEventHandler((e) => {
      if (e.type === "keydown" && e.ctrlKey && e.shiftKey && e.code === "KeyC") {
        void navigator.clipboard?.writeText(term.getSelection());
        return false;
      }
      return true;
    });
    const enc = new TextEncoder();
    let ws: WebSocket | null = null;
    let done = false;
    let retry = 500;
    let timer: number | undefined;
    const sendCtl = (f: TerminalClientFrame) => ws?.readyState === WebSocket.OPEN && ws.send(JSON.stringify(f));
    const connect = () => {
      const proto = location.protocol === "https:" ? "wss" : "ws";
      const q = new URLSearchParams({ terminal_id: tab.id, cols: String(term.cols), rows: String(term.rows) });
      const sock = new WebSocket(`${proto}://${location.host}/api/v1/nodes/${encodeURIComponent(tab.node)}/terminal?${q}`);
      sock.binaryType = "arraybuffer";
      ws = sock;
      sock.onmessage = (m) => {
        if (typeof m.data !== "string") {
          term.write(new Uint8Array(m.data as ArrayBuffer));
          return;
        }
        const f = JSON.parse(m.data) as TerminalServerFrame;
        if (f.type === "attached") {
          // The node sends the shell's recent output next; start from a clean screen so nothing doubles.
          term.reset();
          retry = 500;
          setError(null);
          setState(f.created ? `started ${f.shell}` : `reattached to ${f.shell}`);
        } else if (f.type === "exit") {
          done = true;
          setState(`exited (${f.code})`);
          term.write(`\r\n[process exited with code ${f.code}]\r\n`);
        } else if (f.type === "error") {
          setError(f.message);
        }
      };
      sock.onclose = () => {
        if (ws !== sock || done) return;
        setState("disconnected; reconnecting…");
        timer = window.setTimeout(connect, retry);
        retry = Math.min(retry * 2, 10_000);
      };
    };
    connect();
    const data = term.onData((d) => ws?.readyState === WebSocket.OPEN && ws.send(enc.encode(d)));
    const resize = term.onResize(({ cols, rows }) => sendCtl({ type: "resize", cols, rows }));
    const ro = new ResizeObserver(() => {
      if (el.offsetParent !== null) {
        try {
          fit.fit();
        } catch {
          /* hidden */
        }
      }
    });
    ro.observe(el);
    closers.set(tab.id, {
      close: () => {
        done = true;
        sendCtl({ type: "close" });
      },
    });
    (el as HTMLDivElement & { vbTerm?: Terminal }).vbTerm = term;
    return () => {
      const c = closers.get(tab.id);
      closers.delete(tab.id);
      ro.disconnect();
      data.dispose();
      resize.dispose();
      window.clearTimeout(timer);
      done = true;
      const sock = ws;
      ws = null;
      sock?.close();
      term.dispose();
      void c;
    };
  }, [tab.id, tab.node]);

  useEffect(() => {
    if (visible) {
      requestAnimationFrame(() => {
        try {
          fitRef.current?.fit();
        } catch {
          /* ignore */
        }
      });
    }
  }, [visible]);

  return (
    <div className="term-wrap" hidden={!visible} data-testid="terminal" data-terminal-id={tab.id}>
      <div className="row spread term-bar">
        <span className="muted" data-testid="terminal-state">
          {state}
        </span>
        <span className="row">
          <button
            type="button"
            className="small"
            onClick={() => {
              const t = (host.current as (HTMLDivElement & { vbTerm?: Terminal }) | null)?.vbTerm;
              if (t) void navigator.clipboard?.writeText(t.getSelection());
            }}
          >
            Copy
          </button>
          <button
            type="button"
            className="small"
            onClick={() => {
              const t = (host.current as (HTMLDivElement & { vbTerm?: Terminal }) | null)?.vbTerm;
              void navigator.clipboard?.readText().then((s) => t?.paste(s));
            }}
          >
            Paste
          </button>
          <button
            type="button"
            className="small danger"
            onClick={() => {
              closers.get(tab.id)?.close();
              onExitRef.current();
            }}
          >
            End
          </button>
        </span>
      </div>
      <ErrorBanner error={error} />
      <div className="term" ref={host} />
    </div>
  );
}
