// Main's GitHub integration: the user's connection (OAuth web flow, device code, or a pasted token), the
// repositories a workspace connected, projects cloned from them, issues imported as tasks, and a run's push and
// pull request (its checks and reviews followed, review comments and failed checks sent back to the agent).
import { ApiError, del, get, patch, post, q } from "./client";
import type {
  ConnectRepo,
  ConnectStart,
  ConnectedRepo,
  DeviceFlow,
  Disconnected,
  GithubAccount,
  GithubStatus,
  ImportIssues,
  IssuesImported,
  NewPullRequest,
  PastedToken,
  Project,
  PullRequest,
  PullRequestPatch,
  RepoPage,
  RepoProject,
  RepoQuery,
  ReviewAddressed,
  Run,
} from "./types.gen";

const enc = encodeURIComponent;

export const Github = {
  status: () => get<GithubStatus>("/github/connection"),
  disconnect: () => del<Disconnected>("/github/connection"),
  /** Where to send the browser for the web flow; GitHub brings it back to `/settings/github`. */
  connect: () => post<ConnectStart>("/github/connect"),
  startDevice: () => post<DeviceFlow>("/github/device"),
  cancelDevice: () => del<unknown>("/github/device"),
  pasteToken: (token: string) => post<GithubAccount>("/github/token", { token } satisfies PastedToken),
  repos: (query: RepoQuery) => get<RepoPage>(`/github/repos?${q(query as Record<string, string | number | undefined>)}`),
  connectRepo: (githubId: number, workspaceId: string) =>
    post<ConnectedRepo>(`/github/repos/${githubId}/connect`, { workspace_id: workspaceId } satisfies ConnectRepo),
  connected: (workspaceId: string) => get<ConnectedRepo[]>(`/workspaces/${enc(workspaceId)}/github/repos`),
  disconnectRepo: (id: string) => del<unknown>(`/github/connected/${enc(id)}`),
  createProject: (id: string, body: RepoProject) => post<Project>(`/github/connected/${enc(id)}/project`, body),
  importIssues: (id: string, body: ImportIssues) => post<IssuesImported>(`/github/connected/${enc(id)}/import-issues`, body),
  push: (runId: string) => post<Run>(`/runs/${enc(runId)}/push`),
  /** The run's pull request, or null when it has none (404). */
  pullRequest: (runId: string) =>
    get<PullRequest>(`/runs/${enc(runId)}/pull-request`).catch((e: unknown) => {
      if (e instanceof ApiError && e.status === 404) return null;
      throw e;
    }),
  openPullRequest: (runId: string, body: NewPullRequest) => post<PullRequest>(`/runs/${enc(runId)}/pull-request`, body),
  setAutofix: (id: string, autofix: boolean) => patch<PullRequest>(`/pull-requests/${enc(id)}`, { autofix } satisfies PullRequestPatch),
  address: (id: string) => post<ReviewAddressed>(`/pull-requests/${enc(id)}/address`),
  refresh: (id: string) => post<PullRequest>(`/pull-requests/${enc(id)}/refresh`),
};
