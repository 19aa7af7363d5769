// The editor tabs of the files workbench: which files are open, what each is on the node (loading, text, binary,
// too large; its etag), unsaved edits, saving with If-Match and the conflict when the file changed on the node,
// reload, close with a guard, and Ctrl/Cmd-S. `FilesPage` renders them; this hook keeps them.
import { useEffect, useRef, useState } from "react";
import { ApiError, Fs } from "../api/client";
import type { EditorHandle } from "./Editor";
import { errText } from "../util";

/** Larger files are offered for download instead of opened (the editor holds the whole text). */
const MAX_EDIT_BYTES = 5 * 1024 * 1024;

export interface Tab {
  id: number;
  path: string;
  state: "loading" | "ready" | "binary" | "large" | "error";
  text?: string;
  etag: string | null;
  dirty: boolean;
  saving: boolean;
  conflict: boolean;
  error?: string;
}

/** The last part of a path. */
export const baseName = (p: string) => p.slice(p.lastIndexOf("/") + 1) || p;
/** Whether `p` is `dir` or lies inside it. */
export const under = (p: string, dir: string) => p === dir || p.startsWith(dir.endsWith("/") ? dir : dir + "/");

/** Decodes file bytes for the editor, or says why it cannot be edited as text. */
function decode(bytes: Uint8Array): { text: string } | { why: "binary" } {
  if (bytes.subarray(0, 8192).includes(0)) return { why: "binary" };
  try {
    return { text: new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes) };
  } catch {
    return { why: "binary" };
  }
}

let nextTabId = 1;

/** The open tabs of `node`'s files; `onOpen` runs when a file is opened (the page shows the editor) and
 * `onSaved` after a save (the git panel refreshes). */
export function useEditorTabs(node: string, hooks: { onOpen: () => void; onSaved: () => void }) {
  const [tabs, setTabs] = useState<Tab[]>([]);
  const [active, setActive] = useState<number | null>(null);
  const handles = useRef(new Map<number, EditorHandle>());
  const tabsRef = useRef(tabs);
  tabsRef.current = tabs;
  const activeRef = useRef(active);
  activeRef.current = active;

  const update = (id: number, patch: Partial<Tab>) => setTabs((ts) => ts.map((t) => (t.id === id ? { ...t, ...patch } : t)));

  const read = async (id: number, path: string, size?: number) => {
    try {
      if (size === undefined) {
        const st = await Fs.stat(node, path);
        if (st.kind === "dir") return update(id, { state: "error", error: "This is a directory." });
        size = st.size;
      }
      if (size > MAX_EDIT_BYTES) return update(id, { state: "large" });
      const { bytes, etag } = await Fs.read(node, path);
      const d = decode(bytes);
      if ("why" in d) return update(id, { state: "binary", etag });
      update(id, { state: "ready", text: d.text, etag });
    } catch (e) {
      if (e instanceof ApiError && e.code === "too_large") update(id, { state: "large" });
      else update(id, { state: "error", error: errText(e) });
    }
  };

  const openFile = (path: string, size?: number) => {
    hooks.onOpen();
    const open = tabsRef.current.find((t) => t.path === path);
    if (open) {
      setActive(open.id);
      return;
    }
    const id = nextTabId++;
    setTabs((ts) => [...ts, { id, path, state: "loading", etag: null, dirty: false, saving: false, conflict: false }]);
    setActive(id);
    void read(id, path, size);
  };

  const save = async (id: number, overwrite = false) => {
    const t = tabsRef.current.find((x) => x.id === id);
    const h = handles.current.get(id);
    if (!t || !h || t.state !== "ready" || t.saving) return;
    if (!t.dirty && !overwrite) return;
    const { text, doc } = h.snapshot();
    update(id, { saving: true, error: undefined });
    try {
      const entry = await Fs.write(node, t.path, text, overwrite ? null : t.etag);
      h.markSaved(doc);
      update(id, { saving: false, conflict: false, etag: entry.etag });
      hooks.onSaved();
    } catch (e) {
      if (e instanceof ApiError && e.code === "changed_on_node") update(id, { saving: false, conflict: true });
      else update(id, { saving: false, error: errText(e) });
    }
  };

  const reload = async (id: number) => {
    const t = tabsRef.current.find((x) => x.id === id);
    const h = handles.current.get(id);
    if (!t || !h) return;
    try {
      const { bytes, etag } = await Fs.read(node, t.path);
      const d = decode(bytes);
      if ("why" in d) return update(id, { state: "binary", etag, dirty: false });
      h.reset(d.text);
      update(id, { etag, conflict: false, error: undefined });
    } catch (e) {
      update(id, { error: errText(e) });
    }
  };

  /** After a checkout or discard: clean tabs whose file changed on disk show the new content. */
  const reloadClean = () => {
    for (const t of tabsRef.current) {
      if (t.state !== "ready" || t.dirty) continue;
      Fs.stat(node, t.path).then(
        (st) => st.etag !== t.etag && void reload(t.id),
        () => update(t.id, { state: "error", error: "The file is gone from the node." }),
      );
    }
  };

  const close = (id: number) => {
    const t = tabsRef.current.find((x) => x.id === id);
    if (!t) return;
    if (t.dirty && !confirm(`Discard your unsaved changes to ${baseName(t.path)}?`)) return;
    const i = tabsRef.current.indexOf(t);
    const rest = tabsRef.current.filter((x) => x.id !== id);
    setTabs(rest);
    handles.current.delete(id);
    if (activeRef.current === id) setActive(rest[Math.min(i, rest.length - 1)]?.id ?? null);
  };

  // Ctrl/Cmd-S saves the tab in front wherever the focus is on this page (and never opens the browser's dialog).
  useEffect(() => {
    const key = (e: KeyboardEvent) => {
      if ((e.ctrlKey || e.metaKey) && !e.altKey && e.key.toLowerCase() === "s") {
        e.preventDefault();
        if (activeRef.current != null) void save(activeRef.current);
      }
    };
    window.addEventListener("keydown", key);
    return () => window.removeEventListener("keydown", key);
  });

  /** Open files under `from` now live under `to` (a rename). */
  const moved = (from: string, to: string) =>
    setTabs((ts) => ts.map((t) => (under(t.path, from) ? { ...t, path: to + t.path.slice(from.length) } : t)));

  /** Open files under `path` are gone (a delete): their tabs close without asking. */
  const dropped = (path: string) => {
    const gone = tabsRef.current.filter((t) => under(t.path, path));
    setTabs((ts) => ts.filter((t) => !under(t.path, path)));
    if (gone.some((t) => t.id === activeRef.current)) setActive(null);
  };

  return { tabs, active, setActive, handles, update, openFile, save, reload, reloadClean, close, moved, dropped };
}
