// The lazy file tree of the files page: a directory is listed the first time it is expanded, and again when the
// page says something in it changed. Arrow keys move through the visible rows, Right/Left open and close.
import { useCallback, useEffect, useRef, useState, type KeyboardEvent } from "react";
import { Fs } from "../api/client";
import type { DirListing, Entry } from "../api/types.gen";
import { errText } from "../util";
import { Icon, type IconName } from "./Icons";

interface DirState {
  listing?: DirListing;
  error?: string;
  loading: boolean;
}

/** The tree's listings and open directories, kept by the page so its actions can refresh a directory. */
export function useDirs(node: string) {
  const [dirs, setDirs] = useState<Record<string, DirState>>({});
  const [open, setOpen] = useState<Set<string>>(new Set());
  const load = useCallback(
    (path: string | null) => {
      const key = path ?? "";
      setDirs((d) => ({ ...d, [key]: { ...d[key], loading: true } }));
      Fs.list(node, path).then(
        (listing) => setDirs((d) => ({ ...d, [key]: { listing, loading: false } })),
        (e) => setDirs((d) => ({ ...d, [key]: { error: errText(e), loading: false } })),
      );
    },
    [node],
  );
  const toggle = (path: string) => {
    const next = new Set(open);
    if (next.has(path)) next.delete(path);
    else {
      next.add(path);
      if (!dirs[path]) load(path);
    }
    setOpen(next);
  };
  const expand = (path: string) => {
    if (open.has(path)) return;
    setOpen(new Set(open).add(path));
    if (!dirs[path]) load(path);
  };
  /** Lists `path` again if the tree has it (root: ""). */
  const refresh = (path: string) => {
    if (dirs[path] || path === "") load(path || null);
  };
  return { dirs, open, load, toggle, expand, refresh };
}

export type Dirs = ReturnType<typeof useDirs>;

function icon(e: Entry, open: boolean): IconName {
  if (e.kind === "dir") return open ? "folderOpen" : "folder";
  if (e.link) return "link";
  return e.kind === "file" ? "file" : "other";
}

export function FileTree({
  root,
  dirs,
  selected,
  dirty,
  onSelect,
  onOpen,
}: {
  /** The directory at the top, or null for the node's roots. */
  root: string | null;
  dirs: Dirs;
  selected: string | null;
  /** Paths with unsaved edits, marked in the tree. */
  dirty: Set<string>;
  onSelect: (e: Entry) => void;
  onOpen: (e: Entry) => void;
}) {
  const box = useRef<HTMLUListElement>(null);
  const rootKey = root ?? "";
  useEffect(() => {
    dirs.load(root);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [root, dirs.load]);

  const onKey = (e: KeyboardEvent<HTMLUListElement>) => {
    const items = Array.from(box.current?.querySelectorAll<HTMLButtonElement>("button.tree-item") ?? []);
    const i = items.indexOf(document.activeElement as HTMLButtonElement);
    if (i < 0) return;
    const item = items[i];
    const path = item.dataset.path ?? "";
    const isDir = item.dataset.kind === "dir";
    if (e.key === "ArrowDown" && i + 1 < items.length) items[i + 1].focus();
    else if (e.key === "ArrowUp" && i > 0) items[i - 1].focus();
    else if (e.key === "Home") items[0]?.focus();
    else if (e.key === "End") items[items.length - 1]?.focus();
    else if (e.key === "ArrowRight" && isDir) dirs.expand(path);
    else if (e.key === "ArrowLeft" && isDir && dirs.open.has(path)) dirs.toggle(path);
    else return;
    e.preventDefault();
  };

  const level = (key: string, depth: number) => {
    const st = dirs.dirs[key];
    if (!st || (!st.listing && st.loading)) return <li className="muted tree-note" style={{ paddingLeft: `${depth * 0.9 + 0.5}rem` }}>Loading…</li>;
    if (st.error) return <li className="error tree-note" style={{ paddingLeft: `${depth * 0.9 + 0.5}rem` }}>{st.error}</li>;
    const entries = st.listing?.entries ?? [];
    return (
      <>
        {entries.length === 0 && <li className="muted tree-note" style={{ paddingLeft: `${depth * 0.9 + 0.5}rem` }}>empty</li>}
        {entries.map((e) => {
          const isDir = e.kind === "dir";
          const isOpen = isDir && dirs.open.has(e.path);
          return (
            <li key={e.path} role="treeitem" aria-expanded={isDir ? isOpen : undefined} aria-selected={selected === e.path}>
              <button
                type="button"
                className={`tree-item ${selected === e.path ? "selected" : ""}`}
                style={{ paddingLeft: `${depth * 0.9 + 0.5}rem` }}
                data-path={e.path}
                data-kind={e.kind}
                title={e.path}
                onClick={() => {
                  onSelect(e);
                  if (isDir) dirs.toggle(e.path);
                  else onOpen(e);
                }}
              >
                <span className={`tree-icon k-${e.kind}`} title={e.link ? "symbolic link" : undefined}>
                  <Icon name={icon(e, isOpen)} />
                </span>
                <span className="tree-name">{e.name}</span>
                {dirty.has(e.path) && (
                  <span className="dirty-dot" aria-label="unsaved">
                    ●
                  </span>
                )}
              </button>
              {isOpen && <ul role="group">{level(e.path, depth + 1)}</ul>}
            </li>
          );
        })}
        {st.listing?.truncated && <li className="muted tree-note" style={{ paddingLeft: `${depth * 0.9 + 0.5}rem` }}>(more entries not shown)</li>}
      </>
    );
  };

  return (
    <ul className="tree" role="tree" aria-label="Files" ref={box} onKeyDown={onKey} data-testid="file-tree">
      {level(rootKey, 0)}
    </ul>
  );
}
