// HTTP client for main's API: JSON in and out, the access cookie refreshed once on a 401, errors carried as
// ApiError with the server's stable code and message. Each answer tells `reach` whether main could be reached.
import type {
  ApprovalDecision,
  ApprovalView,
  AuthStatus,
  BranchList,
  Committed,
  Credentials,
  Decided,
  Decision,
  Deleted,
  DirListing,
  Entry,
  ErrorCode,
  EventsPage,
  EventsQuery,
  FsCreate,
  FsDelete,
  FsRename,
  GitCheckout,
  GitCommit,
  GitDiff,
  GitLog,
  GitNewBranch,
  GitPaths,
  GitStatus,
  LoggedIn,
  LoggedOut,
  LoginsEnded,
  MessageAccepted,
  NewMessage,
  NewSession,
  NodeRevoked,
  NodeView,
  PasswordChange,
  PasswordChanged,
  Profile,
  Provider,
  Role,
  RoleChange,
  SessionListQuery,
  SessionStatus,
  SessionView,
  StopRequested,
  TokenRequest,
  TokenView,
  UserView,
} from "./types.gen";
import { gatewayDown, reportReach } from "./reach";

export type { Role };

/** The providers main knows, as `Provider` values. */
export const PROVIDERS: Provider[] = ["claude", "codex"];

/** `s` as a provider, if it names one. */
export const asProvider = (s: string | null | undefined): Provider | undefined =>
  PROVIDERS.find((p) => p === s);

/** Every session status, in the order a filter lists them. */
export const STATUSES: SessionStatus[] = [
  "starting",
  "running",
  "waiting_for_approval",
  "idle",
  "completed",
  "failed",
  "stopped",
  "interrupted",
  "unknown",
];

/** `s` as a session status, if it names one. */
export const asStatus = (s: string | null | undefined): SessionStatus | undefined => STATUSES.find((x) => x === s);

// The user as `GET /auth/me` answers.
export type Me = UserView;

/** An error's code: main's or the node's, or `network` when main could not be reached at all. */
export type ApiErrorCode = ErrorCode | "network";

export class ApiError extends Error {
  constructor(
    public status: number,
    /** Main's (or the node's) stable code; `unknown` when the body had none (a proxy's error page). */
    public code: ApiErrorCode,
    message: string,
    /** With 409 `stale`: the record as it is now. */
    public current?: unknown,
  ) {
    super(message);
  }
}

/** Whether `e` says main could not be reached at all: no network, or a proxy answering for main (no code of main's). */
export function unreachable(e: unknown): boolean {
  return e instanceof ApiError && (e.code === "network" || (e.code === "unknown" && gatewayDown(e.status)));
}

let refreshing: Promise<boolean> | null = null;

async function refresh(): Promise<boolean> {
  refreshing ??= fetch("/api/v1/auth/refresh", { method: "POST", credentials: "same-origin" })
    .then((r) => r.ok)
    .catch(() => false)
    .finally(() => setTimeout(() => (refreshing = null), 0));
  return refreshing;
}

/** One request, the access cookie refreshed once on a 401; a non-2xx answer becomes an ApiError. */
export async function send(method: string, path: string, init: RequestInit = {}, retry = true): Promise<Response> {
  let resp: Response;
  try {
    resp = await fetch(`/api/v1${path}`, { ...init, method, credentials: "same-origin" });
  } catch {
    reportReach(false);
    throw new ApiError(0, "network", "cannot reach the server; check your connection");
  }
  if (resp.status === 401 && retry && !path.startsWith("/auth/")) {
    if (await refresh()) return send(method, path, init, false);
  }
  if (!resp.ok) {
    const text = await resp.text().catch(() => "");
    let err: { code?: ErrorCode; message?: string; current?: unknown } | undefined;
    try {
      err = (JSON.parse(text) as { error?: { code?: ErrorCode; message?: string; current?: unknown } } | null)?.error;
    } catch {
      err = undefined;
    }
    const error = new ApiError(resp.status, err?.code ?? "unknown", err?.message ?? `${resp.status} ${resp.statusText}`, err?.current);
    reportReach(!unreachable(error));
    throw error;
  }
  reportReach(true);
  return resp;
}

export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const resp = await send(method, path, {
    headers: body === undefined ? {} : { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await resp.text();
  try {
    return (text ? JSON.parse(text) : null) as T;
  } catch {
    return null as T;
  }
}

export const get = <T>(path: string) => api<T>("GET", path);
export const post = <T>(path: string, body?: unknown) => api<T>("POST", path, body ?? {});
export const del = <T>(path: string) => api<T>("DELETE", path);
export const patch = <T>(path: string, body: unknown) => api<T>("PATCH", path, body);
export const put = <T>(path: string, body: unknown) => api<T>("PUT", path, body);

/** A file's bytes as read, with the etag to write back over exactly them. */
export interface FileContent {
  bytes: Uint8Array;
  etag: string | null;
}

const nodePath = (node: string) => `/nodes/${encodeURIComponent(node)}`;
export const q = (params: Record<string, string | number | boolean | null | undefined>) =>
  new URLSearchParams(Object.entries(params).filter(([, v]) => v != null && v !== "").map(([k, v]) => [k, String(v)])).toString();

/** Files on a node: every path is absolute on the node. */
export const Fs = {
  list: (node: string, path: string | null) => get<DirListing>(`${nodePath(node)}/fs/list?${q({ path })}`),
  stat: (node: string, path: string) => get<Entry>(`${nodePath(node)}/fs/stat?${q({ path })}`),
  read: async (node: string, path: string): Promise<FileContent> => {
    const resp = await send("GET", `${nodePath(node)}/fs/read?${q({ path })}`);
    const etag = resp.headers.get("ETag")?.replace(/^W\//, "").replace(/"/g, "") ?? null;
    return { bytes: new Uint8Array(await resp.arrayBuffer()), etag };
  },
  /** The `<a href>` that downloads a file (the cookie goes along). */
  downloadUrl: (node: string, path: string) => `/api/v1${nodePath(node)}/fs/download?${q({ path })}`,
  /** Writes `content`; with `ifMatch`, only over the version that etag names (else 412 `changed_on_node`). */
  write: async (node: string, path: string, content: string, ifMatch: string | null): Promise<Entry> => {
    const resp = await send("PUT", `${nodePath(node)}/fs/write?${q({ path })}`, {
      headers: ifMatch ? { "If-Match": `"${ifMatch}"` } : {},
      body: new Blob([content]),
    });
    return (await resp.json()) as Entry;
  },
  upload: async (node: string, path: string, file: Blob, overwrite: boolean): Promise<Entry> => {
    const resp = await send("PUT", `${nodePath(node)}/fs/upload?${q({ path, overwrite: overwrite || null })}`, { body: file });
    return (await resp.json()) as Entry;
  },
  create: (node: string, path: string, dir: boolean) => post<Entry>(`${nodePath(node)}/fs/create`, { path, dir } satisfies FsCreate),
  rename: (node: string, from: string, to: string) =>
    post<Entry>(`${nodePath(node)}/fs/rename`, { from, to, overwrite: false } satisfies FsRename),
  delete: (node: string, path: string, recursive: boolean) =>
    post<Deleted>(`${nodePath(node)}/fs/delete`, { path, recursive } satisfies FsDelete),
};

/** Git on a node: `repo` is any directory in the work tree, paths are relative to the work tree. */
export const Git = {
  status: (node: string, repo: string) => get<GitStatus>(`${nodePath(node)}/git/status?${q({ repo })}`),
  diff: (node: string, repo: string, staged: boolean, path?: string) =>
    get<GitDiff>(`${nodePath(node)}/git/diff?${q({ repo, staged, path })}`),
  /** What commit `rev` changed against its first parent. */
  commitDiff: (node: string, repo: string, rev: string) => get<GitDiff>(`${nodePath(node)}/git/diff?${q({ repo, rev })}`),
  log: (node: string, repo: string, skip: number, limit = 30) => get<GitLog>(`${nodePath(node)}/git/log?${q({ repo, skip, limit })}`),
  branches: (node: string, repo: string) => get<BranchList>(`${nodePath(node)}/git/branches?${q({ repo })}`),
  createBranch: (node: string, repo: string, name: string, checkout: boolean) =>
    post<GitStatus>(`${nodePath(node)}/git/branches`, { repo, name, checkout } satisfies GitNewBranch),
  checkout: (node: string, repo: string, branch: string) =>
    post<GitStatus>(`${nodePath(node)}/git/checkout`, { repo, branch } satisfies GitCheckout),
  stage: (node: string, repo: string, paths: string[]) => post<GitStatus>(`${nodePath(node)}/git/stage`, { repo, paths } satisfies GitPaths),
  unstage: (node: string, repo: string, paths: string[]) =>
    post<GitStatus>(`${nodePath(node)}/git/unstage`, { repo, paths } satisfies GitPaths),
  discard: (node: string, repo: string, paths: string[]) =>
    post<GitStatus>(`${nodePath(node)}/git/discard`, { repo, paths } satisfies GitPaths),
  commit: (node: string, repo: string, message: string) =>
    post<Committed>(`${nodePath(node)}/git/commit`, { repo, message } satisfies GitCommit),
};

export const Api = {
  status: () => get<AuthStatus>("/auth/status"),
  me: () => get<Me>("/auth/me"),
  setProfile: (name: string, email: string) => put<Me>("/auth/me/profile", { name, email } satisfies Profile),
  node: (id: string) => get<NodeView>(`/nodes/${encodeURIComponent(id)}`),
  login: (username: string, password: string) => post<LoggedIn>("/auth/login", { username, password } satisfies Credentials),
  register: (username: string, password: string, setup_code?: string) =>
    post<LoggedIn>("/auth/register", (setup_code ? { username, password, setup_code } : { username, password }) satisfies Credentials),
  logout: () => post<LoggedOut>("/auth/logout"),
  logoutAll: () => post<LoginsEnded>("/auth/logout-all"),
  changePassword: (body: PasswordChange) => post<PasswordChanged>("/auth/password", body),
  users: () => get<Me[]>("/users"),
  approve: (user: string) => post<Me>(`/users/${encodeURIComponent(user)}/approve`),
  setRole: (user: string, role: Role) => post<Me>(`/users/${encodeURIComponent(user)}/role`, { role } satisfies RoleChange),
  nodes: () => get<NodeView[]>("/nodes"),
  createToken: (ttl: string) => post<TokenView>("/nodes/tokens", { ttl } satisfies TokenRequest),
  revokeNode: (id: string) => del<NodeRevoked>(`/nodes/${encodeURIComponent(id)}`),
  listDir: (node: string, path: string | null) =>
    get<DirListing>(`/nodes/${encodeURIComponent(node)}/fs/list?dirs_only=true${path ? `&path=${encodeURIComponent(path)}` : ""}`),
  sessions: (filters: SessionListQuery) => {
    const query = q(filters);
    return get<SessionView[]>(`/sessions${query ? `?${query}` : ""}`);
  },
  session: (id: string) => get<SessionView>(`/sessions/${id}`),
  events: (id: string, after: number) =>
    get<EventsPage>(`/sessions/${id}/events?${q({ after, limit: 1000 } satisfies EventsQuery)}`),
  createSession: (body: NewSession) => post<SessionView>("/sessions", body),
  message: (id: string, text: string) => post<MessageAccepted>(`/sessions/${id}/messages`, { text } satisfies NewMessage),
  stop: (id: string) => post<StopRequested>(`/sessions/${id}/stop`),
  decide: (id: string, approval: string, decision: Decision, message?: string) =>
    post<Decided>(`/sessions/${id}/approvals/${encodeURIComponent(approval)}`, { decision, message } satisfies ApprovalDecision),
  approvals: () => get<ApprovalView[]>("/approvals"),
};
