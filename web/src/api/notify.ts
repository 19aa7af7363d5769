// Main's notifications: this user's push devices (Web Push subscriptions), what they want to hear about (events,
// workspaces, quiet hours), and a workspace's webhooks (generic JSON, Slack, ntfy) with their delivery log.
import { del, get, patch, post, put } from "./client";
import type {
  NewPushSubscription,
  NewWebhook,
  NoticeKind,
  NotifyPrefs,
  PushDevice,
  PushKey,
  PushTested,
  Webhook,
  WebhookCreated,
  WebhookDelivery,
  WebhookPatch,
} from "./types.gen";

/** Every notice kind, in the order the settings list them, with what the UI calls it. */
export const NOTICE_KINDS: [NoticeKind, string][] = [
  ["approval", "A tool call waits for approval"],
  ["question", "An agent asks a question"],
  ["run_finished", "A run finished its turn"],
  ["run_failed", "A run failed"],
  ["task_in_review", "A task moved to review"],
  ["mention", "Someone mentions you"],
  ["node_offline", "A node of yours went offline"],
];

const enc = encodeURIComponent;

export const Notify = {
  /** Main's VAPID public key (base64url), the `applicationServerKey` of every subscription. */
  key: () => get<PushKey>("/push/key"),
  devices: () => get<PushDevice[]>("/push/subscriptions"),
  addDevice: (body: NewPushSubscription) => post<PushDevice>("/push/subscriptions", body),
  removeDevice: (id: string) => del<null>(`/push/subscriptions/${enc(id)}`),
  testDevice: (id: string) => post<PushTested>(`/push/subscriptions/${enc(id)}/test`),
  prefs: () => get<NotifyPrefs>("/notifications/prefs"),
  setPrefs: (prefs: NotifyPrefs) => put<NotifyPrefs>("/notifications/prefs", prefs),
  webhooks: (workspaceId: string) => get<Webhook[]>(`/workspaces/${enc(workspaceId)}/webhooks`),
  /** The secret in the answer is shown once: main keeps only what it needs to sign (or authenticate) with. */
  createWebhook: (workspaceId: string, body: NewWebhook) => post<WebhookCreated>(`/workspaces/${enc(workspaceId)}/webhooks`, body),
  updateWebhook: (id: string, body: WebhookPatch) => patch<Webhook>(`/webhooks/${enc(id)}`, body),
  deleteWebhook: (id: string) => del<null>(`/webhooks/${enc(id)}`),
  testWebhook: (id: string) => post<WebhookDelivery>(`/webhooks/${enc(id)}/test`),
  /** Newest first. */
  deliveries: (id: string) => get<WebhookDelivery[]>(`/webhooks/${enc(id)}/deliveries`),
  retry: (id: string, delivery: string) => post<WebhookDelivery>(`/webhooks/${enc(id)}/deliveries/${enc(delivery)}/retry`),
};
