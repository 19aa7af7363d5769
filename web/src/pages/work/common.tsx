// Pieces the workspace pages share: the workspace's tab bar, member avatars, priority and status names.
import type { ReactNode } from "react";
import type { IssueLink, MemberView, PrChip, Priority, TaskStatus, WorkspaceView } from "../../api/types.gen";
import { Link, usePath } from "../../router";
import { renderMarkdown } from "../../markdown";

export const PRIORITIES: Priority[] = ["urgent", "high", "medium", "low", "none"];
export const STATUSES: TaskStatus[] = ["backlog", "todo", "in_progress", "in_review", "done", "cancelled"];

/** `s` as a priority, if it names one. */
export const asPriority = (s: string | null | undefined): Priority | undefined => PRIORITIES.find((p) => p === s);

/** What workspace `ws` calls status `s`. */
export function statusName(ws: WorkspaceView | null | undefined, s: TaskStatus): string {
  return ws?.settings.status_names.find((n) => n.status === s)?.name ?? s.replace(/_/g, " ");
}

/** Whether the caller may edit tasks (member and up). */
export const canEdit = (ws: WorkspaceView) => ws.role !== "viewer";
/** Whether the caller may change settings and members (admin and up). */
export const canAdmin = (ws: WorkspaceView) => ws.role === "admin" || ws.role === "owner";

/** The URL with query parameter `name` set to `value` (removed when empty). */
export function withParam(name: string, value: string | null): string {
  const s = new URLSearchParams(location.search);
  if (value) s.set(name, value);
  else s.delete(name);
  const qs = s.toString();
  return location.pathname + (qs ? `?${qs}` : "");
}

/** Up to two initials of a member's name (or username). */
export function initials(m: MemberView | undefined, username: string): string {
  const words = (m?.name || username).split(/[\s._-]+/).filter(Boolean);
  return ((words[0]?.[0] ?? "?") + (words.length > 1 ? words[words.length - 1][0] : "")).toUpperCase();
}

/** The member a user id (as tasks, comments and activity hold them) or username names. */
export function memberOf(members: MemberView[], user: string): MemberView | undefined {
  return members.find((m) => m.user_id === user) ?? members.find((m) => m.username === user);
}

/** How the UI names a user id: the member's username, or "a former member" when they left. */
export function userName(members: MemberView[], user: string | undefined): string {
  if (!user) return "VibeBridge";
  return memberOf(members, user)?.username ?? "a former member";
}

/** `user`: a user id (or username). */
export function Avatar({ user, members }: { user: string; members: MemberView[] }) {
  const m = memberOf(members, user);
  const username = m?.username ?? "?";
  return (
    <span className="avatar" title={m?.name ? `${m.name} (@${username})` : `@${username}`} aria-label={username}>
      {initials(m, username)}
    </span>
  );
}

export function PriorityMark({ priority }: { priority: Priority }) {
  if (priority === "none") return null;
  return <span className={`prio prio-${priority}`}>{priority}</span>;
}

/** The workspace's name and its pages (board, projects, members, settings). */
export function WorkspaceHead({ ws, children }: { ws: WorkspaceView; children?: ReactNode }) {
  const path = usePath();
  const base = `/w/${encodeURIComponent(ws.settings.key_prefix)}`;
  const tabs: [string, string][] = [
    [base, "Board"],
    [`${base}/projects`, "Projects"],
    [`${base}/members`, "Members"],
    [`${base}/settings`, "Settings"],
    [`${base}/usage`, "Usage"],
  ];
  return (
    <div className="ws-head">
      <h1>
        {ws.name} <span className="muted">{ws.settings.key_prefix}</span>
      </h1>
      <nav className="ws-tabs" aria-label="Workspace">
        {tabs.map(([href, label]) => (
          <Link key={href} href={href} className={path === href ? "active" : ""} aria-current={path === href ? "page" : undefined}>
            {label}
          </Link>
        ))}
      </nav>
      {children}
    </div>
  );
}

/** Markdown rendered safely (see markdown.ts: everything escaped first). */
export function Markdown({ source, mentions, className }: { source: string; mentions?: string[]; className?: string }) {
  return <div className={`markdown ${className ?? ""}`} dangerouslySetInnerHTML={{ __html: renderMarkdown(source, mentions) }} />;
}

/** Keeps a press on a link inside a card from picking the card up (pointer or keyboard) or opening the drawer. */
export const ownClicks = {
  onPointerDown: (e: { stopPropagation: () => void }) => e.stopPropagation(),
  onKeyDown: (e: { stopPropagation: () => void }) => e.stopPropagation(),
  onClick: (e: { stopPropagation: () => void }) => e.stopPropagation(),
};

/** The GitHub issue the task was imported from: "#5", opening GitHub in a new tab. */
export function IssueLinkView({ issue, testid = "card-issue" }: { issue: IssueLink; testid?: string }) {
  return (
    <a className="issue-link" href={issue.url} target="_blank" rel="noreferrer" draggable={false} data-testid={testid} title={`Issue ${issue.repo_full_name}#${issue.number}`} {...ownClicks}>
      #{issue.number}
    </a>
  );
}

const CHECK_MARK: Record<PrChip["checks"], string> = { none: "", pending: "…", success: "✓", failure: "✗" };
const CHECK_WORD: Record<PrChip["checks"], string> = { none: "no checks", pending: "checks running", success: "checks passed", failure: "checks failed" };

/** The pull request of the task's newest run that has one: its number and checks, coloured by its state; opens
 * GitHub in a new tab. */
export function CardPr({ pr }: { pr: PrChip }) {
  const mark = CHECK_MARK[pr.checks];
  return (
    <a
      className={`pr-chip pr-${pr.state}`}
      href={pr.url}
      target="_blank"
      rel="noreferrer"
      draggable={false}
      data-testid="card-pr"
      data-state={pr.state}
      data-checks={pr.checks}
      title={`Pull request #${pr.number}: ${pr.state}, ${CHECK_WORD[pr.checks]}${pr.review !== "none" ? `, ${pr.review.replace(/_/g, " ")}` : ""}`}
      {...ownClicks}
    >
      #{pr.number}
      {mark && <span className={`pr-checks-mark checks-${pr.checks}`}> {mark}</span>}
    </a>
  );
}
