// This browser's side of Web Push: whether it can receive notifications at all (and if not, why, in words the
// user can act on), turning them on (permission, main's key, a subscription from the browser's push service,
// registered with main as a named device) and off, and a short name for the device.
import { ApiError } from "./api/client";
import { Notify } from "./api/notify";
import type { PushDevice } from "./api/types.gen";
import { pushDevice, setPushDevice } from "./presence";
import { errText } from "./util";

/** How long the service worker may take to become active, and the push service to subscribe, before giving up. */
const READY_TIMEOUT_MS = 10_000;
const SUBSCRIBE_TIMEOUT_MS = 20_000;

export const BLOCKED =
  "Notifications are blocked for this site. Allow them in the browser's site settings (the icon left of the address), then try again.";

const isIos = () => /iPad|iPhone|iPod/.test(navigator.userAgent) || (/Macintosh/.test(navigator.userAgent) && navigator.maxTouchPoints > 1);
const standalone = () => matchMedia("(display-mode: standalone)").matches || (navigator as { standalone?: boolean }).standalone === true;

/** Why this browser cannot have push notifications, or null when it can. */
export function pushUnsupported(): string | null {
  if (!window.isSecureContext) return "Notifications need a secure connection: open VibeBridge over HTTPS (or on localhost).";
  if (isIos() && !standalone())
    return "On iPhone and iPad, notifications work only in the installed app: tap Share, then Add to Home Screen, open VibeBridge from the Home Screen and turn them on there.";
  if (!("serviceWorker" in navigator) || !("PushManager" in window) || !("Notification" in window))
    return "This browser cannot receive push notifications.";
  return null;
}

/** A short name for this device, from the browser's user agent: "Chrome on Android", "Safari on iPhone". */
export function deviceName(ua = navigator.userAgent): string {
  const browser = /Edg(e|A|iOS)?\//.test(ua)
    ? "Edge"
    : /OPR\/|Opera/.test(ua)
      ? "Opera"
      : /SamsungBrowser/.test(ua)
        ? "Samsung Internet"
        : /Firefox|FxiOS/.test(ua)
          ? "Firefox"
          : /Chrome|CriOS|Chromium/.test(ua)
            ? "Chrome"
            : /Safari/.test(ua)
              ? "Safari"
              : "A browser";
  const os = /Android/.test(ua)
    ? "Android"
    : /iPhone|iPod/.test(ua)
      ? "iPhone"
      : /iPad/.test(ua) || (/Macintosh/.test(ua) && typeof navigator !== "undefined" && navigator.maxTouchPoints > 1)
        ? "iPad"
        : /Windows/.test(ua)
          ? "Windows"
          : /CrOS/.test(ua)
            ? "ChromeOS"
            : /Mac OS X|Macintosh/.test(ua)
              ? "macOS"
              : /Linux/.test(ua)
                ? "Linux"
                : null;
  return os ? `${browser} on ${os}` : browser;
}

/** A base64url string (main's VAPID key) as bytes. */
function fromBase64Url(text: string): Uint8Array<ArrayBuffer> {
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(text.length / 4) * 4, "=");
  const raw = atob(b64);
  const bytes = new Uint8Array(new ArrayBuffer(raw.length));
  for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
  return bytes;
}

const sameBytes = (a: ArrayBuffer | null, b: Uint8Array) => !!a && a.byteLength === b.length && new Uint8Array(a).every((x, i) => x === b[i]);

/** This browser's push subscription, if it has one. */
async function subscription(): Promise<PushSubscription | null> {
  const registration = await navigator.serviceWorker.getRegistration("/");
  return (await registration?.pushManager.getSubscription()) ?? null;
}

/** `promise`, or an Error saying `late` once `ms` have passed. */
async function within<T>(promise: Promise<T>, ms: number, late: string): Promise<T> {
  let timer: number | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = window.setTimeout(() => reject(new Error(late)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    window.clearTimeout(timer);
  }
}

/** The service worker, registered if it was not yet (main.tsx does that after load), once it is active. */
async function activeRegistration(): Promise<ServiceWorkerRegistration> {
  if (!(await navigator.serviceWorker.getRegistration("/"))) await navigator.serviceWorker.register("/sw.js");
  return within(navigator.serviceWorker.ready, READY_TIMEOUT_MS, "the service worker did not start; reload the page and try again");
}

/** This browser's push device at main, if it has one that still has its subscription (else forgotten). */
export async function currentDevice(): Promise<string | null> {
  const id = pushDevice();
  if (!id) return null;
  if (await subscription().catch(() => null)) return id;
  setPushDevice(null);
  return null;
}

/** Turns notifications on for this browser; throws an Error saying what went wrong. */
export async function subscribe(): Promise<PushDevice> {
  const permission = await Notification.requestPermission();
  if (permission === "denied") throw new Error(BLOCKED);
  if (permission !== "granted") throw new Error("Notifications were not allowed: answer the browser's question with Allow.");
  const { public_key } = await Notify.key();
  const key = fromBase64Url(public_key);
  const registration = await activeRegistration();
  let sub = await registration.pushManager.getSubscription();
  if (sub && !sameBytes(sub.options.applicationServerKey, key)) {
    // Subscribed for another key (main's keys were replaced): the old subscription is useless.
    await sub.unsubscribe();
    sub = null;
  }
  try {
    sub ??= await within(
      registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key }),
      SUBSCRIBE_TIMEOUT_MS,
      "it did not answer in time (is the browser's push service blocked on this network?)",
    );
  } catch (e) {
    throw new Error(`The browser's push service did not subscribe this device: ${errText(e)}`);
  }
  const keys = sub.toJSON().keys ?? {};
  const device = await Notify.addDevice({
    endpoint: sub.endpoint,
    keys: { p256dh: keys.p256dh ?? "", auth: keys.auth ?? "" },
    name: deviceName(),
    expirationTime: sub.expirationTime,
  });
  setPushDevice(device.id);
  return device;
}

/** Removes device `id` from main (gone already is fine); when it is this browser's, unsubscribes here too. */
export async function removeDevice(id: string): Promise<void> {
  await Notify.removeDevice(id).catch((e: unknown) => {
    if (!(e instanceof ApiError && e.status === 404)) throw e;
  });
  if (id !== pushDevice()) return;
  setPushDevice(null);
  await (await subscription().catch(() => null))?.unsubscribe().catch(() => false);
}

/** Before logging out: this browser's device is removed, so the next person here gets none of these pushes.
 * Never throws (logging out must not fail over it). */
export async function forgetThisDevice(): Promise<void> {
  const id = pushDevice();
  if (id) await removeDevice(id).catch(() => undefined);
}
