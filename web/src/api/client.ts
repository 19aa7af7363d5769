// HTTP client for main's API: JSON in and out, the access cookie refreshed once on a 401, errors carried as
// ApiError with the server's stable code and message.
import type {
  ApprovalView,
  DirListing,
  NodeView,
  Role,
  SessionEvent,
  SessionView,
  TokenView,
  UserView,
} from "./types.gen";

export type { Role };

// The user as `GET /auth/me` answers.
export type Me = UserView;

export class ApiError extends Error {
  constructor(
    public status: number,
    public code: string,
    message: string,
  ) {
    super(message);
  }
}

let refreshing: Promise<boolean> | null = null;

async function refresh(): Promise<boolean> {
  refreshing ??= fetch("/api/v1/auth/refresh", { method: "POST", credentials: "same-origin" })
    .then((r) => r.ok)
    .catch(() => false)
    .finally(() => setTimeout(() => (refreshing = null), 0));
  return refreshing;
}

export async function api<T>(method: string, path: string, body?: unknown, retry = true): Promise<T> {
  let resp: Response;
  try {
    resp = await fetch(`/api/v1${path}`, {
      method,
      credentials: "same-origin",
      headers: body === undefined ? {} : { "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, "network", "cannot reach the server; check your connection");
  }
  if (resp.status === 401 && retry && !path.startsWith("/auth/")) {
    if (await refresh()) return api<T>(method, path, body, false);
  }
  const text = await resp.text();
  let json: unknown = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (!resp.ok) {
    const err = (json as { error?: { code?: string; message?: string } } | null)?.error;
    throw new ApiError(resp.status, err?.code ?? "http_" + resp.status, err?.message ?? `${resp.status} ${resp.statusText}`);
  }
  return json as T;
}

export const get = <T>(path: string) => api<T>("GET", path);
export const post = <T>(path: string, body?: unknown) => api<T>("POST", path, body ?? {});
export const del = <T>(path: string) => api<T>("DELETE", path);

export const Api = {
  status: () => get<{ has_users: boolean }>("/auth/status"),
  me: () => get<Me>("/auth/me"),
  login: (username: string, password: string) => post<{ user: Me }>("/auth/login", { username, password }),
  register: (username: string, password: string) => post<{ user: Me }>("/auth/register", { username, password }),
  logout: () => post<unknown>("/auth/logout"),
  users: () => get<Me[]>("/users"),
  approve: (user: string) => post<Me>(`/users/${encodeURIComponent(user)}/approve`),
  setRole: (user: string, role: Role) => post<Me>(`/users/${encodeURIComponent(user)}/role`, { role }),
  nodes: () => get<NodeView[]>("/nodes"),
  createToken: (ttl: string) => post<TokenView>("/nodes/tokens", { ttl }),
  revokeNode: (id: string) => del<unknown>(`/nodes/${encodeURIComponent(id)}`),
  listDir: (node: string, path: string | null) =>
    get<DirListing>(`/nodes/${encodeURIComponent(node)}/fs/list${path ? `?path=${encodeURIComponent(path)}` : ""}`),
  sessions: (filters: { node?: string; provider?: string; status?: string }) => {
    const q = new URLSearchParams(Object.entries(filters).filter(([, v]) => v) as [string, string][]);
    return get<SessionView[]>(`/sessions${q.size ? `?${q}` : ""}`);
  },
  session: (id: string) => get<SessionView>(`/sessions/${id}`),
  events: (id: string, after: number) =>
    get<{ events: SessionEvent[]; next_after: number; last_seq: number; more: boolean }>(
      `/sessions/${id}/events?after=${after}&limit=1000`,
    ),
  createSession: (body: {
    node_id: string;
    path: string;
    provider: string;
    model?: string;
    permission_mode?: string;
    prompt: string;
  }) => post<SessionView>("/sessions", body),
  message: (id: string, text: string) => post<{ queued: boolean }>(`/sessions/${id}/messages`, { text }),
  stop: (id: string) => post<unknown>(`/sessions/${id}/stop`),
  decide: (id: string, approval: string, decision: "allow" | "deny", message?: string) =>
    post<unknown>(`/sessions/${id}/approvals/${encodeURIComponent(approval)}`, { decision, message }),
  approvals: () => get<ApprovalView[]>("/approvals"),
};
