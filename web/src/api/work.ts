// The work model's API: workspaces, their members and prompt templates, projects, tasks on the board, comments and activity,
// and task runs with their review and merge.
// A workspace is named by its id or its key prefix (`WEB`), a task by its id or key (`WEB-42`).
import { api, del, get, patch, post, q, send } from "./client";
import type {
  Activity,
  Board,
  BoardQuery,
  Comment,
  ImportReport,
  CommentBody,
  CommentDeleted,
  MemberBody,
  MoveTask,
  NewProject,
  NewTask,
  NewWorkspace,
  Project,
  ProjectDeleted,
  PromptTemplate,
  SettingsPatch,
  TaskDeleted,
  TaskListQuery,
  TaskPage,
  TaskPatch,
  TaskView,
  TemplateBody,
  WorkspaceDeleted,
  WorkspaceRole,
  WorkspaceView,
  GitStatus,
  MergeRun,
  NewReviewComment,
  NewRun,
  ReviewComment,
  ReviewSent,
  Run,
  RunDetail,
  RunReview,
  UsageQuery,
  UsageReport,
  CleanupRun,
  DevServerRequest,
  ProjectWorktree,
  Removal,
} from "./types.gen";

const ws = (id: string) => `/workspaces/${encodeURIComponent(id)}`;
const run = (id: string) => `/runs/${encodeURIComponent(id)}`;
const task = (id: string) => `/tasks/${encodeURIComponent(id)}`;
const query = (params: BoardQuery | TaskListQuery) => {
  const s = q(params as Record<string, string | number | boolean | undefined>);
  return s ? `?${s}` : "";
};

export const Work = {
  workspaces: () => get<WorkspaceView[]>("/workspaces"),
  workspace: (id: string) => get<WorkspaceView>(ws(id)),
  createWorkspace: (body: NewWorkspace) => post<WorkspaceView>("/workspaces", body),
  updateWorkspace: (id: string, body: SettingsPatch) => patch<WorkspaceView>(ws(id), body),
  deleteWorkspace: (id: string, confirm: string) => del<WorkspaceDeleted>(`${ws(id)}?${q({ confirm })}`),
  setMember: (id: string, username: string, role: WorkspaceRole) =>
    post<WorkspaceView>(`${ws(id)}/members`, { username, role } satisfies MemberBody),
  removeMember: (id: string, username: string) => del<WorkspaceView>(`${ws(id)}/members/${encodeURIComponent(username)}`),
  templates: (id: string) => get<PromptTemplate[]>(`${ws(id)}/templates`),
  /** Creates or replaces template `name`; answers the workspace's templates. */
  setTemplate: (id: string, name: string, body: string) =>
    api<PromptTemplate[]>("PUT", `${ws(id)}/templates/${encodeURIComponent(name)}`, { body } satisfies TemplateBody),
  deleteTemplate: (id: string, name: string) => del<PromptTemplate[]>(`${ws(id)}/templates/${encodeURIComponent(name)}`),
  board: (id: string, filters: BoardQuery) => get<Board>(`${ws(id)}/board${query(filters)}`),
  tasks: (id: string, filters: TaskListQuery) => get<TaskPage>(`${ws(id)}/tasks${query(filters)}`),
  createTask: (id: string, body: NewTask) => post<TaskView>(`${ws(id)}/tasks`, body),
  projects: (id: string) => get<Project[]>(`${ws(id)}/projects`),
  createProject: (id: string, body: NewProject) => post<Project>(`${ws(id)}/projects`, body),
  deleteProject: (id: string) => del<ProjectDeleted>(`/projects/${encodeURIComponent(id)}`),
  exportUrl: (id: string) => `/api/v1${ws(id)}/export`,
  /** Sends `file` as it is; main tells the format from its bytes. */
  importFile: async (id: string, file: Blob): Promise<ImportReport> => {
    const resp = await send("POST", `${ws(id)}/import`, { headers: { "Content-Type": "application/octet-stream" }, body: file });
    return (await resp.json()) as ImportReport;
  },
  task: (id: string) => get<TaskView>(task(id)),
  updateTask: (id: string, body: TaskPatch) => patch<TaskView>(task(id), body),
  deleteTask: (id: string) => del<TaskDeleted>(task(id)),
  moveTask: (id: string, body: MoveTask) => post<TaskView>(`${task(id)}/move`, body),
  subtasks: (id: string) => get<TaskView[]>(`${task(id)}/subtasks`),
  comments: (id: string) => get<Comment[]>(`${task(id)}/comments`),
  addComment: (id: string, body: string) => post<Comment>(`${task(id)}/comments`, { body } satisfies CommentBody),
  editComment: (id: string, comment: string, body: string) =>
    patch<Comment>(`${task(id)}/comments/${encodeURIComponent(comment)}`, { body } satisfies CommentBody),
  deleteComment: (id: string, comment: string) => del<CommentDeleted>(`${task(id)}/comments/${encodeURIComponent(comment)}`),
  activity: (id: string) => get<Activity[]>(`${task(id)}/activity`),
  runs: (id: string) => get<Run[]>(`${task(id)}/runs`),
  startRun: (id: string, body: NewRun) => post<Run>(`${task(id)}/runs`, body),
  run: (id: string) => get<RunDetail>(run(id)),
  stopRun: (id: string) => post<Run>(`${run(id)}/stop`, {}),
  devServer: (id: string, start: boolean) => post<Run>(`${run(id)}/dev`, { start } satisfies DevServerRequest),
  runDiff: (id: string, path?: string) => get<RunReview>(`${run(id)}/diff${path ? `?path=${encodeURIComponent(path)}` : ""}`),
  reviewComments: (id: string) => get<ReviewComment[]>(`${run(id)}/comments`),
  addReviewComment: (id: string, body: NewReviewComment) => post<ReviewComment>(`${run(id)}/comments`, body),
  deleteReviewComment: (id: string, comment: string) => del<unknown>(`${run(id)}/comments/${encodeURIComponent(comment)}`),
  sendReview: (id: string) => post<ReviewSent>(`${run(id)}/comments/send`, {}),
  rebaseRun: (id: string) => post<GitStatus>(`${run(id)}/rebase`, {}),
  mergeRun: (id: string, body: MergeRun) => post<Run>(`${run(id)}/merge`, body),
  worktrees: (project: string) => get<ProjectWorktree[]>(`/projects/${encodeURIComponent(project)}/worktrees`),
  cleanupRun: (id: string, force: boolean) => post<Removal>(`${run(id)}/cleanup`, { force } satisfies CleanupRun),
  usage: (query: UsageQuery) => get<UsageReport>(`/usage?${q(query as Record<string, string | undefined>)}`),
};
