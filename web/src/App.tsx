// The app shell: who is logged in decides between sign-up/login, the waiting page and the app (or, when main
// cannot be reached, the offline page); the path picks the page. The header carries the navigation (a tab bar on
// phones), the inbox badge, the notifications bell and the theme switch; the offline banner sits under it.
import { Suspense, lazy, useCallback, useEffect, useRef, useState } from "react";
import { Api, unreachable, type Me } from "./api/client";
import { Link, navigate, usePath } from "./router";
import { useApprovals } from "./api/data";
import { AuthPage, PendingPage } from "./pages/Auth";
import { NodesPage } from "./pages/Nodes";
import { AccountPage } from "./pages/Account";
import { GithubSettingsPage } from "./pages/GithubSettings";
import { NotificationsPage } from "./pages/Notifications";
import { UsersPage } from "./pages/Users";
import { SessionsPage } from "./pages/Sessions";
import { NewSessionPage } from "./pages/NewSession";
import { SessionPage } from "./pages/Session";
import { InboxPage } from "./pages/Inbox";
import { TerminalsPage } from "./pages/Terminals";
import { WorkspaceSwitcher, WorkspacesPage } from "./pages/work/Workspaces";
import { BoardPage } from "./pages/work/Board";
import { ProjectsPage } from "./pages/work/Projects";
import { MembersPage } from "./pages/work/Members";
import { SettingsPage } from "./pages/work/Settings";
import { UsagePage } from "./pages/work/Usage";
import { OfflineBanner, OfflinePage } from "./components/Offline";
import { Icon } from "./components/Icons";
import { usePresence } from "./presence";
import { forgetThisDevice } from "./push";

// The files workbench brings CodeMirror along: loaded the first time it is opened.
const FilesPage = lazy(() => import("./pages/Files").then((m) => ({ default: m.FilesPage })));

type Theme = "light" | "dark" | "system";

function useTheme(): [Theme, (t: Theme) => void] {
  const [theme, setTheme] = useState<Theme>(() => (localStorage.getItem("vb-theme") as Theme) || "system");
  useEffect(() => {
    localStorage.setItem("vb-theme", theme);
    if (theme === "system") delete document.documentElement.dataset.theme;
    else document.documentElement.dataset.theme = theme;
  }, [theme]);
  return [theme, setTheme];
}

export function App() {
  // `offline`: main could not be reached to ask (the shell came from the service worker's cache).
  const [me, setMe] = useState<Me | null | undefined | "offline">(undefined);
  const [hasUsers, setHasUsers] = useState(true);
  const checking = useRef(false);
  const check = useCallback(async () => {
    if (checking.current) return;
    checking.current = true;
    try {
      setMe(await Api.me());
    } catch (e) {
      if (unreachable(e)) {
        setMe("offline");
        return;
      }
      const s = await Api.status().catch(() => ({ has_users: true }));
      setHasUsers(s.has_users);
      setMe(null);
    } finally {
      checking.current = false;
    }
  }, []);
  useEffect(() => {
    void check();
  }, [check]);

  if (me === undefined) return <div className="loading">Loading…</div>;
  if (me === "offline") return <OfflinePage retry={check} />;
  if (me === null) return <AuthPage firstUser={!hasUsers} onDone={(u) => setMe(u)} />;
  if (me.role === "pending") return <PendingPage me={me} onCheck={check} onLogout={() => setMe(null)} />;
  return <Shell me={me} onMe={setMe} onLogout={() => setMe(null)} />;
}

function Shell({ me, onMe, onLogout }: { me: Me; onMe: (m: Me) => void; onLogout: () => void }) {
  const path = usePath();
  const [theme, setTheme] = useTheme();
  const inbox = useApprovals();
  const pending = inbox.data?.length ?? 0;
  const isAdmin = me.role === "admin" || me.role === "creator";
  usePresence();
  useEffect(() => {
    if (path === "/" || path === "") navigate("/sessions", true);
  }, [path]);
  useEffect(() => {
    document.title = pending ? `(${pending}) VibeBridge` : "VibeBridge";
  }, [pending]);

  const nav: [string, string, number?][] = [
    ["/sessions", "Sessions"],
    ["/sessions/new", "New session"],
    ["/w", "Boards"],
    ["/inbox", "Inbox", pending],
    ["/nodes", "Nodes"],
    ["/terminals", "Terminals"],
  ];
  if (isAdmin) nav.push(["/users", "Users"]);
  const active = (href: string) =>
    href === "/sessions"
      ? path === "/sessions" || (path.startsWith("/sessions/") && path !== "/sessions/new")
      : href === "/w"
        ? path === "/w" || path.startsWith("/w/")
        : path.startsWith(href);

  let page;
  const m = path.match(/^\/sessions\/([0-9a-f-]{36})$/);
  const files = path.match(/^\/nodes\/([^/]+)\/files$/);
  const work = path.match(/^\/w\/([^/]+)(?:\/(projects|members|settings|usage))?\/?$/);
  if (m) page = <SessionPage id={m[1]} />;
  else if (work) {
    const key = decodeURIComponent(work[1]);
    if (work[2] === "projects") page = <ProjectsPage key={key} wsKey={key} />;
    else if (work[2] === "members") page = <MembersPage key={key} wsKey={key} me={me} />;
    else if (work[2] === "settings") page = <SettingsPage key={key} wsKey={key} />;
    else if (work[2] === "usage") page = <UsagePage key={key} wsKey={key} />;
    else page = <BoardPage key={key} wsKey={key} me={me} />;
  } else if (path === "/w" || path === "/w/") page = <WorkspacesPage />;
  else if (files)
    page = (
      <Suspense fallback={<p className="loading">Loading the editor…</p>}>
        <FilesPage key={files[1]} node={decodeURIComponent(files[1])} me={me} onMe={onMe} />
      </Suspense>
    );
  else if (path === "/sessions/new") page = <NewSessionPage />;
  else if (path.startsWith("/inbox")) page = <InboxPage items={inbox.data} error={inbox.error} reload={inbox.reload} />;
  else if (path.startsWith("/nodes")) page = <NodesPage me={me} />;
  else if (path.startsWith("/terminals")) page = <TerminalsPage />;
  else if (path.startsWith("/users") && isAdmin) page = <UsersPage me={me} />;
  else if (path.startsWith("/account")) page = <AccountPage me={me} onLogout={onLogout} />;
  else if (path === "/settings/github" || path === "/settings/github/") page = <GithubSettingsPage />;
  else if (path === "/settings/notifications" || path === "/settings/notifications/") page = <NotificationsPage />;
  else page = <SessionsPage />;

  return (
    <div className="shell">
      <header className="top">
        <Link href="/sessions" className="brand">
          VibeBridge
        </Link>
        <nav aria-label="Main">
          {nav.map(([href, label, badge]) => (
            <Link key={href} href={href} className={active(href) ? "active" : ""} aria-current={active(href) ? "page" : undefined}>
              {label}
              {badge ? (
                <span className="badge" aria-label={`${badge} waiting`} data-testid="inbox-badge">
                  {badge}
                </span>
              ) : null}
            </Link>
          ))}
        </nav>
        <div className="who">
          <WorkspaceSwitcher />
          <select aria-label="Theme" value={theme} onChange={(e) => setTheme(e.target.value as Theme)}>
            <option value="system">Auto</option>
            <option value="light">Light</option>
            <option value="dark">Dark</option>
          </select>
          <Link
            href="/settings/notifications"
            className="bell"
            title="Notifications"
            aria-label="Notifications"
            aria-current={path.startsWith("/settings/notifications") ? "page" : undefined}
            data-testid="notifications-link"
          >
            <Icon name="bell" />
          </Link>
          <Link href="/account" className="user" title={`${me.role}: account settings`}>
            {me.username}
          </Link>
          <Link href="/settings/github" className="user" title="Your GitHub connection" aria-current={path.startsWith("/settings/github") ? "page" : undefined}>
            GitHub
          </Link>
          <button
            type="button"
            className="small"
            onClick={() => {
              void forgetThisDevice()
                .then(() => Api.logout())
                .finally(onLogout);
            }}
          >
            Log out
          </button>
        </div>
      </header>
      <OfflineBanner />
      <main>{page}</main>
    </div>
  );
}
