// One file in CodeMirror 6: highlighting by file name (grammars load on demand), light or dark with the app,
// CRLF files kept CRLF, and a dirty flag that compares against the last saved text (so undoing back to it
// clears the flag). The parent drives saving through the handle.
import { useEffect, useRef, useState, type Ref } from "react";
import { basicSetup } from "codemirror";
import { indentWithTab } from "@codemirror/commands";
import { Compartment, EditorState, type Extension, type Text } from "@codemirror/state";
import { EditorView, keymap } from "@codemirror/view";
import { oneDark } from "@codemirror/theme-one-dark";
import { languageFor } from "./languages";

/** What the files page does with an open editor. */
export interface EditorHandle {
  /** The text to save (with the file's own line breaks) and the document it came from. */
  snapshot(): { text: string; doc: Text };
  /** The file now holds `doc` on the node. */
  markSaved(doc: Text): void;
  /** Replaces the whole text (a reload from the node); the result counts as saved. */
  reset(text: string): void;
  focus(): void;
}

/** Whether the app shows its dark theme (the header's switch, or the system's preference on Auto). */
export function useDark(): boolean {
  const read = () => {
    const t = document.documentElement.dataset.theme;
    return t ? t === "dark" : matchMedia("(prefers-color-scheme: dark)").matches;
  };
  const [dark, setDark] = useState(read);
  useEffect(() => {
    const update = () => setDark(read());
    const mq = matchMedia("(prefers-color-scheme: dark)");
    mq.addEventListener("change", update);
    const mo = new MutationObserver(update);
    mo.observe(document.documentElement, { attributes: true, attributeFilter: ["data-theme"] });
    return () => {
      mq.removeEventListener("change", update);
      mo.disconnect();
    };
  }, []);
  return dark;
}

const lightTheme = EditorView.theme({
  "&": { backgroundColor: "var(--panel)", color: "var(--text)" },
  ".cm-gutters": { backgroundColor: "var(--code-bg)", color: "var(--muted)", borderRight: "1px solid var(--border)" },
});

const base = EditorView.theme({
  "&": { height: "100%", fontSize: "13px" },
  ".cm-scroller": { fontFamily: 'ui-monospace, SFMono-Regular, Menlo, Consolas, monospace', lineHeight: "1.5" },
});

export function CodeEditor({
  path,
  initial,
  onDirty,
  handle,
  label,
}: {
  path: string;
  initial: string;
  onDirty: (dirty: boolean) => void;
  handle: Ref<EditorHandle | null>;
  label: string;
}) {
  const host = useRef<HTMLDivElement>(null);
  const viewRef = useRef<EditorView | null>(null);
  const theme = useRef(new Compartment());
  const dark = useDark();
  const onDirtyRef = useRef(onDirty);
  onDirtyRef.current = onDirty;

  useEffect(() => {
    const el = host.current;
    if (!el) return;
    const language = new Compartment();
    let saved: Text;
    let dirty = false;
    const setDirty = (d: boolean) => {
      if (d !== dirty) {
        dirty = d;
        onDirtyRef.current(d);
      }
    };
    const crlf = initial.includes("\r\n");
    const extensions: Extension[] = [
      basicSetup,
      keymap.of([indentWithTab]),
      base,
      theme.current.of(dark ? oneDark : lightTheme),
      language.of([]),
      EditorView.contentAttributes.of({ "aria-label": label }),
      EditorView.updateListener.of((u) => {
        if (u.docChanged) setDirty(!(u.state.doc.length === saved.length && u.state.doc.eq(saved)));
      }),
    ];
    if (crlf) extensions.push(EditorState.lineSeparator.of("\r\n"));
    const view = new EditorView({ parent: el, state: EditorState.create({ doc: initial, extensions }) });
    saved = view.state.doc;
    viewRef.current = view;
    (el as HTMLDivElement & { cmView?: EditorView }).cmView = view;
    let alive = true;
    const load = languageFor(path);
    if (load) {
      load().then(
        (ext) => alive && view.dispatch({ effects: language.reconfigure(ext) }),
        () => {
          /* plain text then */
        },
      );
    }
    const h: EditorHandle = {
      snapshot: () => ({ text: view.state.sliceDoc(), doc: view.state.doc }),
      markSaved: (doc) => {
        saved = doc;
        setDirty(!view.state.doc.eq(saved));
      },
      reset: (text) => {
        view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } });
        saved = view.state.doc;
        setDirty(false);
      },
      focus: () => view.focus(),
    };
    if (typeof handle === "function") handle(h);
    else if (handle) handle.current = h;
    return () => {
      alive = false;
      if (typeof handle === "function") handle(null);
      else if (handle) handle.current = null;
      view.destroy();
      viewRef.current = null;
    };
    // The view lives as long as the tab: `initial` and `path` only seed it.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  useEffect(() => {
    viewRef.current?.dispatch({ effects: theme.current.reconfigure(dark ? oneDark : lightTheme) });
  }, [dark]);

  return <div className="cm-host" ref={host} data-testid="editor" data-path={path} />;
}
