// A small client-side router: the URL is the state, links push history entries, back/forward re-render. A page
// with unsaved work registers a leave guard; navigation away from it (links or back/forward) asks first.
import { useEffect, useState, type AnchorHTMLAttributes, type MouseEvent } from "react";

const listeners = new Set<() => void>();
const guards = new Set<(to: string) => string | null>();
let current = location.pathname + location.search;

/** Whether every guard lets the app go to `to` (a guard answers a question to confirm, or null). */
function mayLeave(to: string): boolean {
  for (const g of guards) {
    const question = g(to);
    if (question && !confirm(question)) return false;
  }
  return true;
}

export function navigate(to: string, replace = false) {
  if (to !== current && !mayLeave(to)) return;
  if (replace) history.replaceState(null, "", to);
  else history.pushState(null, "", to);
  current = location.pathname + location.search;
  listeners.forEach((l) => l());
}

window.addEventListener("popstate", () => {
  const to = location.pathname + location.search;
  if (!mayLeave(to)) {
    // The browser has already moved; put the page's own address back.
    history.pushState(null, "", current);
    return;
  }
  current = to;
  listeners.forEach((l) => l());
});

function useUrl<T>(read: () => T): T {
  const [value, setValue] = useState(read);
  useEffect(() => {
    const update = () => setValue(read);
    listeners.add(update);
    return () => {
      listeners.delete(update);
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);
  return value;
}

export function usePath(): string {
  return useUrl(() => location.pathname);
}

/** The query string's parameters; re-renders when they change. */
export function useSearch(): URLSearchParams {
  const search = useUrl(() => location.search);
  return new URLSearchParams(search);
}

/**
 * While `question` is non-null, leaving for a URL that `stays` does not accept asks it first (in-app links,
 * back/forward), and closing or reloading the tab gets the browser's own warning.
 */
export function useLeaveGuard(question: string | null, stays: (to: string) => boolean = () => false) {
  useEffect(() => {
    if (!question) return;
    const guard = (to: string) => (stays(to) ? null : question);
    const unload = (e: BeforeUnloadEvent) => {
      e.preventDefault();
      e.returnValue = "";
    };
    guards.add(guard);
    window.addEventListener("beforeunload", unload);
    return () => {
      guards.delete(guard);
      window.removeEventListener("beforeunload", unload);
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [question]);
}

export function Link({ href, onClick, ...rest }: AnchorHTMLAttributes<HTMLAnchorElement> & { href: string }) {
  const click = (e: MouseEvent<HTMLAnchorElement>) => {
    onClick?.(e);
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(href);
  };
  return <a href={href} onClick={click} {...rest} />;
}
