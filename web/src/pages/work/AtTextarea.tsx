// A textarea that suggests what may follow `@`: the workspace's prompt templates (picking one puts its body in
// place of `@name`) and its members (picking one writes `@username`, a mention). ArrowUp/ArrowDown choose,
// Enter or Tab pick, Escape closes; the logic lives in mention.ts.
import { useId, useLayoutEffect, useRef, useState, type KeyboardEvent, type TextareaHTMLAttributes } from "react";
import type { MemberView, PromptTemplate } from "../../api/types.gen";
import { atWord, replaceAt, suggestions, type AtWord, type Suggestion } from "../../mention";

type Props = Omit<TextareaHTMLAttributes<HTMLTextAreaElement>, "value" | "onChange"> & {
  value: string;
  onValue: (value: string) => void;
  templates?: PromptTemplate[];
  members: MemberView[];
};

export function AtTextarea({ value, onValue, templates = [], members, onKeyDown, onBlur, ...rest }: Props) {
  const ref = useRef<HTMLTextAreaElement>(null);
  const id = useId();
  const [word, setWord] = useState<AtWord | null>(null);
  const [items, setItems] = useState<Suggestion[]>([]);
  const [active, setActive] = useState(0);
  /** The `@` whose list Escape closed: it stays closed until the caret leaves that word. */
  const dismissed = useRef<number | null>(null);
  const caret = useRef<number | null>(null);

  useLayoutEffect(() => {
    const el = ref.current;
    if (el && caret.current !== null) {
      el.setSelectionRange(caret.current, caret.current);
      caret.current = null;
    }
  }, [value]);

  /** Reads the caret and shows the suggestions for the `@word` it is in, if any. */
  const look = (text: string, el: HTMLTextAreaElement) => {
    const w = el.selectionStart === el.selectionEnd ? atWord(text, el.selectionStart) : null;
    if (!w || dismissed.current !== w.start) dismissed.current = null;
    const list = w && dismissed.current === null ? suggestions(w.query, templates, members) : [];
    setWord(list.length ? w : null);
    setItems(list);
    setActive((a) => (w && word && w.start === word.start ? Math.min(a, Math.max(0, list.length - 1)) : 0));
  };
  const close = () => {
    setWord(null);
    setItems([]);
  };
  const pick = (s: Suggestion) => {
    if (!word) return;
    const r = replaceAt(value, word, s);
    caret.current = r.caret;
    close();
    onValue(r.text);
  };
  const keyDown = (e: KeyboardEvent<HTMLTextAreaElement>) => {
    if (word && items.length) {
      if (e.key === "ArrowDown" || e.key === "ArrowUp") {
        e.preventDefault();
        const step = e.key === "ArrowDown" ? 1 : -1;
        setActive((a) => (a + step + items.length) % items.length);
        return;
      }
      if ((e.key === "Enter" && !e.shiftKey) || e.key === "Tab") {
        e.preventDefault();
        pick(items[Math.min(active, items.length - 1)]);
        return;
      }
      if (e.key === "Escape") {
        e.preventDefault();
        e.stopPropagation();
        dismissed.current = word.start;
        close();
        return;
      }
    }
    onKeyDown?.(e);
  };
  const open = word !== null && items.length > 0;
  return (
    <div className="at-field">
      <textarea
        {...rest}
        ref={ref}
        value={value}
        aria-autocomplete="list"
        aria-controls={open ? `${id}-list` : undefined}
        aria-activedescendant={open ? `${id}-${active}` : undefined}
        onChange={(e) => {
          onValue(e.target.value);
          look(e.target.value, e.target);
        }}
        onKeyDown={keyDown}
        onKeyUp={(e) => ["ArrowLeft", "ArrowRight", "Home", "End"].includes(e.key) && look(value, e.currentTarget)}
        onClick={(e) => look(value, e.currentTarget)}
        onBlur={(e) => {
          close();
          onBlur?.(e);
        }}
      />
      {open && (
        <ul className="at-list" role="listbox" id={`${id}-list`} aria-label="Suggestions">
          {items.map((s, i) => (
            <li
              key={`${s.kind}:${s.name}`}
              id={`${id}-${i}`}
              role="option"
              aria-selected={i === active}
              className={i === active ? "active" : ""}
              // Keep the focus in the textarea: the pick happens before it would blur.
              onMouseDown={(e) => {
                e.preventDefault();
                pick(s);
              }}
              onMouseEnter={() => setActive(i)}
            >
              <span className="at-name">{s.kind === "template" ? s.name : `@${s.name}`}</span>
              <span className="muted at-detail">{s.kind === "template" ? `template · ${s.detail}` : s.detail || "member"}</span>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
