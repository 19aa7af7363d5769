// The files workbench of a node (`/nodes/:id/files?path=/abs/dir`): the lazy tree with new file/folder, rename,
// delete, upload and download; editor tabs (CodeMirror) that save with If-Match and offer reload or overwrite
// when the file changed on the node, with unsaved edits guarded on close, navigation and unload; and the git
// panel of the same directory. On phones the tree, the editor and git are tabs.
import { useEffect, useRef, useState, type FormEvent } from "react";
import { ApiError, Api, Fs, type Me } from "../api/client";
import type { Entry, NodeView } from "../api/types.gen";
import { CodeEditor } from "../components/Editor";
import { baseName, under, useEditorTabs } from "../components/editorTabs";
import { FileTree, useDirs } from "../components/FileTree";
import { Icon } from "../components/Icons";
import { GitPanel, useNarrow } from "../components/GitPanel";
import { Link, navigate, useLeaveGuard, useSearch } from "../router";
import { ErrorBanner, errText } from "../util";


const parentOf = (p: string) => p.slice(0, p.lastIndexOf("/")) || "/";
const join = (dir: string, name: string) => (dir.endsWith("/") ? dir + name : `${dir}/${name}`);

type Pending = { kind: "file" | "dir"; dir: string } | { kind: "rename"; entry: Entry };

export function FilesPage({ node, me, onMe }: { node: string; me: Me; onMe: (m: Me) => void }) {
  const search = useSearch();
  const root = search.get("path") || null;
  const narrow = useNarrow();
  const [view, setView] = useState<"tree" | "editor" | "git">(() => (search.get("view") === "git" ? "git" : "tree"));
  const [info, setInfo] = useState<NodeView | null>(null);
  const [selected, setSelected] = useState<Entry | null>(null);
  const [pending, setPending] = useState<Pending | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [note, setNote] = useState<string | null>(null);
  const [tick, setTick] = useState(0);
  const dirs = useDirs(node);
  const editor = useEditorTabs(node, { onOpen: () => setView("editor"), onSaved: () => setTick((x) => x + 1) });
  const { tabs, active, setActive, handles, update, openFile, save, reload, close } = editor;
  const upload = useRef<HTMLInputElement>(null);

  useEffect(() => {
    Api.node(node).then(setInfo, () => setInfo(null));
  }, [node]);
  useEffect(() => {
    setSelected(null);
    setPending(null);
  }, [root]);

  const dirtyTabs = tabs.filter((t) => t.dirty);
  useLeaveGuard(
    dirtyTabs.length ? `You have unsaved changes in ${dirtyTabs.map((t) => baseName(t.path)).join(", ")}. Leave and lose them?` : null,
    (to) => to.startsWith(`/nodes/${node}/files`),
  );

  /** After a checkout or discard: clean tabs show what is on disk now, and the tree is listed again. */
  const reloadClean = () => {
    editor.reloadClean();
    dirs.refresh(root ?? "");
    for (const p of dirs.open) dirs.refresh(p);
  };

  // Where new files, folders and uploads go: the selected folder, the selected file's folder, or the top.
  const targetDir = selected ? (selected.kind === "dir" ? selected.path : parentOf(selected.path)) : root;

  const run = async (what: () => Promise<void>) => {
    setError(null);
    setNote(null);
    try {
      await what();
    } catch (e) {
      setError(errText(e));
    }
  };

  const submitPending = (name: string) =>
    run(async () => {
      if (!pending || !name || name.includes("/")) throw new Error("a name without / is needed");
      if (pending.kind === "rename") {
        const from = pending.entry.path;
        const to = join(parentOf(from), name);
        await Fs.rename(node, from, to);
        editor.moved(from, to);
        setSelected({ ...pending.entry, name, path: to });
        dirs.refresh(parentOf(from));
      } else {
        const path = join(pending.dir, name);
        const entry = await Fs.create(node, path, pending.kind === "dir");
        dirs.refresh(pending.dir);
        if (pending.dir !== root) dirs.expand(pending.dir);
        setSelected(entry);
        if (pending.kind === "file") openFile(entry.path, entry.size);
      }
      setPending(null);
      setTick((x) => x + 1);
    });

  const remove = () =>
    run(async () => {
      const e = selected;
      if (!e) return;
      const open = tabs.filter((t) => under(t.path, e.path));
      const unsaved = open.filter((t) => t.dirty).length;
      const q = `Delete ${e.path}${e.kind === "dir" ? " (a folder)" : ""}?${unsaved ? ` ${unsaved} open file(s) with unsaved changes are lost.` : ""}`;
      if (!confirm(q)) return;
      try {
        await Fs.delete(node, e.path, false);
      } catch (err) {
        if (!(err instanceof ApiError && err.code === "not_empty")) throw err;
        if (!confirm(`${e.path} is not empty. Delete it with everything inside?`)) return;
        await Fs.delete(node, e.path, true);
      }
      editor.dropped(e.path);
      setSelected(null);
      dirs.refresh(parentOf(e.path));
      setTick((x) => x + 1);
    });

  const uploadFiles = (files: FileList) =>
    run(async () => {
      const dir = targetDir;
      if (!dir) throw new Error("pick a folder to upload into");
      for (const f of Array.from(files)) {
        setNote(`Uploading ${f.name}…`);
        const path = join(dir, f.name);
        try {
          await Fs.upload(node, path, f, false);
        } catch (err) {
          if (!(err instanceof ApiError && err.code === "already_exists")) throw err;
          if (!confirm(`${path} exists. Replace it?`)) continue;
          await Fs.upload(node, path, f, true);
        }
      }
      setNote(`Uploaded ${files.length} file${files.length > 1 ? "s" : ""}.`);
      dirs.refresh(dir);
      if (dir !== root) dirs.expand(dir);
      setTick((x) => x + 1);
    });

  const rootListing = dirs.dirs[root ?? ""]?.listing;
  const upHref = root ? (rootListing?.parent ? `/nodes/${node}/files?path=${encodeURIComponent(rootListing.parent)}` : `/nodes/${node}/files`) : null;
  const shown = narrow ? view : view === "git" ? "git" : "files";
  const tabsList: ["tree" | "editor" | "git", string][] = narrow
    ? [
        ["tree", "Files"],
        ["editor", `Editor${dirtyTabs.length ? " ●" : ""}`],
        ["git", "Git"],
      ]
    : [
        ["tree", "Files"],
        ["git", "Git"],
      ];
  const isSelected = (k: string) => (narrow ? view === k : k === "git" ? view === "git" : view !== "git");

  return (
    <section className="files" data-testid="files">
      <div className="files-head">
        <div className="files-title">
          <h1>
            <Link href="/nodes">{info?.name ?? node}</Link>
            {info && !info.online && <span className="pill st-stopped">offline</span>}
          </h1>
          <div className="row files-root">
            {upHref && (
              <Link href={upHref} className="button small" aria-label="Up one folder" title="Up one folder">
                ↑
              </Link>
            )}
            <span className="path path-clip" data-testid="files-root" title={root ?? undefined}>
              <bdi>{root ?? "The node's roots"}</bdi>
            </span>
          </div>
        </div>
        <div className="view-tabs" role="tablist" aria-label="View">
          {tabsList.map(([k, label]) => (
            <button key={k} type="button" role="tab" aria-selected={isSelected(k)} onClick={() => setView(k)}>
              {label}
            </button>
          ))}
        </div>
      </div>
      <ErrorBanner error={error} />
      {note && <p className="muted files-note">{note}</p>}
      <div className={`files-body show-${shown}`}>
        <aside className="pane tree-pane">
          <div className="tree-tools" role="toolbar" aria-label="File actions">
            <button type="button" className="icon" aria-label="New file" title="New file" disabled={!targetDir} onClick={() => targetDir && setPending({ kind: "file", dir: targetDir })}>
              <Icon name="newFile" />
            </button>
            <button type="button" className="icon" aria-label="New folder" title="New folder" disabled={!targetDir} onClick={() => targetDir && setPending({ kind: "dir", dir: targetDir })}>
              <Icon name="newFolder" />
            </button>
            <button type="button" className="icon" aria-label="Upload" title="Upload files" disabled={!targetDir} onClick={() => upload.current?.click()}>
              <Icon name="upload" />
            </button>
            <button type="button" className="icon" aria-label="Rename" title="Rename" disabled={!selected} onClick={() => selected && setPending({ kind: "rename", entry: selected })}>
              <Icon name="rename" />
            </button>
            <button type="button" className="icon danger" aria-label="Delete" title="Delete" disabled={!selected} onClick={() => void remove()}>
              <Icon name="trash" />
            </button>
            {selected && selected.kind === "file" ? (
              <a className="button icon" href={Fs.downloadUrl(node, selected.path)} download={selected.name} aria-label="Download" title="Download">
                <Icon name="download" />
              </a>
            ) : (
              <button type="button" className="icon" aria-label="Download" title="Download (pick a file)" disabled>
                <Icon name="download" />
              </button>
            )}
            <button
              type="button"
              className="icon"
              aria-label="Open folder here"
              title="Make the selected folder the top of the tree (and of the git panel)"
              disabled={!selected || selected.kind !== "dir"}
              onClick={() => selected && navigate(`/nodes/${node}/files?path=${encodeURIComponent(selected.path)}`)}
            >
              <Icon name="openHere" />
            </button>
            <button type="button" className="icon" aria-label="Refresh files" title="Refresh" onClick={() => reloadClean()}>
              <Icon name="refresh" />
            </button>
            <input
              ref={upload}
              type="file"
              multiple
              hidden
              data-testid="upload-input"
              onChange={(e) => {
                if (e.target.files?.length) void uploadFiles(e.target.files);
                e.target.value = "";
              }}
            />
          </div>
          {pending && <NameForm key={pending.kind === "rename" ? pending.entry.path : pending.kind + pending.dir} pending={pending} onSubmit={submitPending} onCancel={() => setPending(null)} />}
          <FileTree
            root={root}
            dirs={dirs}
            selected={selected?.path ?? null}
            dirty={new Set(dirtyTabs.map((t) => t.path))}
            onSelect={setSelected}
            onOpen={(e) => openFile(e.path, e.size)}
          />
        </aside>
        <div className="pane editor-pane">
          {tabs.length > 0 && (
            <div className="ed-tabs" role="tablist" aria-label="Open files">
              {tabs.map((t) => (
                <span key={t.id} className={`ed-tab ${t.id === active ? "active" : ""}`}>
                  <button type="button" role="tab" aria-selected={t.id === active} title={t.path} data-testid="editor-tab" onClick={() => setActive(t.id)}>
                    {baseName(t.path)}
                    {t.dirty && (
                      <span className="dirty-dot" aria-label="unsaved">
                        {" "}
                        ●
                      </span>
                    )}
                  </button>
                  <button type="button" className="x" aria-label={`Close ${baseName(t.path)}`} onClick={() => close(t.id)}>
                    ×
                  </button>
                </span>
              ))}
            </div>
          )}
          {tabs.length === 0 && <p className="muted pad">Open a file from the tree to edit it.</p>}
          {tabs.map((t) => (
            <div key={t.id} className="ed-file" hidden={t.id !== active}>
              <div className="ed-bar row spread">
                <span className="path">{t.path}</span>
                <span className="row">
                  <span className="muted" data-testid="save-state">
                    {t.saving ? "Saving…" : t.dirty ? "Unsaved" : t.state === "ready" ? "Saved" : ""}
                  </span>
                  {t.state === "ready" && (
                    <button type="button" className="small primary" disabled={!t.dirty || t.saving} onClick={() => void save(t.id)} title="Save (Ctrl+S)">
                      Save
                    </button>
                  )}
                </span>
              </div>
              {t.conflict && (
                <div className="conflict" role="alert" data-testid="conflict">
                  <span>{baseName(t.path)} changed on the node since you opened it.</span>
                  <button type="button" className="small" onClick={() => void reload(t.id)}>
                    Reload (lose my edits)
                  </button>
                  <button type="button" className="small danger" onClick={() => void save(t.id, true)}>
                    Overwrite
                  </button>
                  <button type="button" className="small" onClick={() => update(t.id, { conflict: false })}>
                    Cancel
                  </button>
                </div>
              )}
              <ErrorBanner error={t.error && t.state !== "error" ? t.error : null} />
              {t.state === "loading" && <p className="muted pad">Loading…</p>}
              {t.state === "error" && <p className="error pad">{t.error}</p>}
              {(t.state === "binary" || t.state === "large") && (
                <p className="muted pad">
                  {t.state === "binary" ? "This is not a UTF-8 text file" : "This file is too large for the editor"}.{" "}
                  <a href={Fs.downloadUrl(node, t.path)} download={baseName(t.path)}>
                    Download it
                  </a>
                </p>
              )}
              {t.state === "ready" && t.text !== undefined && (
                <CodeEditor
                  path={t.path}
                  initial={t.text}
                  label={`Contents of ${baseName(t.path)}`}
                  onDirty={(dirty) => update(t.id, { dirty })}
                  handle={(h) => {
                    if (h) handles.current.set(t.id, h);
                  }}
                />
              )}
            </div>
          ))}
        </div>
        <div className="pane git-pane">
          {root ? (
            <GitPanel
              node={node}
              repo={root}
              me={me}
              onMe={onMe}
              tick={tick}
              visible={view === "git"}
              onOpenFile={(p) => openFile(p)}
              onWorkTreeChanged={reloadClean}
            />
          ) : (
            <p className="muted pad">Pick a folder in the tree and make it the top (the "Open folder here" button) to see its git status.</p>
          )}
        </div>
      </div>
    </section>
  );
}

function NameForm({ pending, onSubmit, onCancel }: { pending: Pending; onSubmit: (name: string) => Promise<void>; onCancel: () => void }) {
  const [name, setName] = useState(pending.kind === "rename" ? pending.entry.name : "");
  const label = pending.kind === "rename" ? `New name for ${pending.entry.name}` : pending.kind === "dir" ? "New folder name" : "New file name";
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void onSubmit(name.trim());
  };
  return (
    <form className="name-form" onSubmit={submit}>
      <input
        aria-label={label}
        placeholder={label}
        value={name}
        autoFocus
        onChange={(e) => setName(e.target.value)}
        onKeyDown={(e) => e.key === "Escape" && onCancel()}
      />
      <button type="submit" className="small primary" disabled={!name.trim()}>
        {pending.kind === "rename" ? "Rename" : "Create"}
      </button>
      <button type="button" className="small" onClick={onCancel}>
        Cancel
      </button>
      {pending.kind !== "rename" && <span className="muted name-where path">in {pending.dir}</span>}
    </form>
  );
}
