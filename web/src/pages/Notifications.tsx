// Settings → Notifications (`/settings/notifications`): push notifications on this device (turned on and off,
// with a test), every device of the user's that receives them (each removable), and what they are about (events,
// workspaces, quiet hours: NotifyPrefs.tsx). Each browser or installed app turns notifications on for itself.
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { Notify } from "../api/notify";
import type { PushDevice } from "../api/types.gen";
import { setPushDevice } from "../presence";
import { BLOCKED, currentDevice, pushUnsupported, removeDevice, subscribe } from "../push";
import { Link } from "../router";
import { ErrorBanner, ago, errText } from "../util";
import { NotifyPrefsCard } from "./NotifyPrefs";

/** The user's push devices, reloaded on demand. */
function useDevices() {
  const [list, setList] = useState<PushDevice[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const reload = useCallback(() => {
    Notify.devices().then(
      (l) => {
        setList(l);
        setError(null);
      },
      (e) => setError(errText(e)),
    );
  }, []);
  useEffect(reload, [reload]);
  return { list, error, reload };
}

export function NotificationsPage() {
  const devices = useDevices();
  // This browser's device at main: undefined while checking, null when notifications are off here.
  const [current, setCurrent] = useState<string | null | undefined>(undefined);
  const currentRef = useRef(current);
  currentRef.current = current;
  useEffect(() => {
    if (pushUnsupported()) setCurrent(null);
    else currentDevice().then(setCurrent, () => setCurrent(null));
  }, []);
  // Main no longer knows this browser's device (removed elsewhere, or its push service said it is gone): off here.
  useEffect(() => {
    const id = currentRef.current;
    if (id && devices.list && !devices.list.some((d) => d.id === id)) {
      setPushDevice(null);
      setCurrent(null);
    }
  }, [devices.list]);
  return (
    <section className="page narrow account notify-settings">
      <div className="page-head">
        <h1>Notifications</h1>
        <Link href="/account">← Account</Link>
      </div>
      <p className="muted">
        Main tells your devices when something needs you — a tool call to allow, a question, a run that finished or failed — even when
        VibeBridge is closed. A device that shows the session already gets nothing.
      </p>
      <ThisDevice
        current={current}
        onChange={(id) => {
          setCurrent(id);
          devices.reload();
        }}
        onTested={devices.reload}
      />
      <Devices
        devices={devices}
        current={current}
        onRemoved={(id) => {
          if (id === current) setCurrent(null);
          devices.reload();
        }}
      />
      <NotifyPrefsCard />
    </section>
  );
}

/** The switch for this browser, why it cannot be turned on (when it cannot), and a test notification. */
function ThisDevice({ current, onChange, onTested }: { current: string | null | undefined; onChange: (id: string | null) => void; onTested: () => void }) {
  const unsupported = useMemo(pushUnsupported, []);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [note, setNote] = useState<string | null>(null);
  const [permission, setPermission] = useState(() => (unsupported ? "default" : Notification.permission));
  const turn = (on: boolean) => {
    setBusy(true);
    setError(null);
    setNote(null);
    const done = on ? subscribe().then((d) => d.id) : current ? removeDevice(current).then(() => null) : Promise.resolve(null);
    done
      .then(onChange, (e: unknown) => setError(`Could not turn notifications ${on ? "on" : "off"}: ${errText(e)}`))
      .finally(() => {
        setBusy(false);
        setPermission(Notification.permission);
      });
  };
  const test = () => {
    if (!current) return;
    setBusy(true);
    setError(null);
    setNote(null);
    Notify.testDevice(current)
      .then(
        (r) => setNote(r.sent ? "Sent: it should arrive in a moment." : "Main could not deliver it: see the last error under Your devices."),
        (e) => setError(errText(e)),
      )
      .finally(() => {
        setBusy(false);
        onTested();
      });
  };
  return (
    <div className="card form" role="region" aria-label="This device">
      <h2>This device</h2>
      {unsupported ? (
        <p className="notice" data-testid="push-unsupported">
          {unsupported}
        </p>
      ) : (
        <>
          <label className="switch">
            <input
              type="checkbox"
              role="switch"
              checked={!!current}
              disabled={busy || current === undefined}
              onChange={(e) => turn(e.target.checked)}
              data-testid="push-switch"
            />
            Notifications on this device
          </label>
          {permission === "denied" && !current && !error && <p className="warn">{BLOCKED}</p>}
          <ErrorBanner error={error} />
          {current && (
            <div className="row">
              <button type="button" className="small" onClick={test} disabled={busy} data-testid="push-test">
                Send a test notification
              </button>
            </div>
          )}
          {note && (
            <p className="notice ok-notice" role="status" data-testid="push-note">
              {note}
            </p>
          )}
        </>
      )}
    </div>
  );
}

/** Every device of the user's that gets notifications: where they go, when one last arrived, the last error. */
function Devices({
  devices,
  current,
  onRemoved,
}: {
  devices: ReturnType<typeof useDevices>;
  current: string | null | undefined;
  onRemoved: (id: string) => void;
}) {
  const [error, setError] = useState<string | null>(null);
  const remove = (d: PushDevice) => {
    if (!confirm(`Remove ${d.name}${d.id === current ? " (this device)" : ""}? It gets no more notifications.`)) return;
    setError(null);
    removeDevice(d.id).then(
      () => onRemoved(d.id),
      (e) => setError(errText(e)),
    );
  };
  const list = devices.list;
  return (
    <div className="card form" role="region" aria-label="Your devices">
      <h2>Your devices</h2>
      <ErrorBanner error={devices.error ?? error} />
      {!list && !devices.error && <p className="loading">Loading…</p>}
      {list && list.length === 0 && <p className="muted">No device gets notifications yet.</p>}
      {list && list.length > 0 && (
        <div className="table-wrap">
          <table className="devices" data-testid="push-devices">
            <thead>
              <tr>
                <th>Device</th>
                <th>Push service</th>
                <th>Added</th>
                <th>Last delivered</th>
                <th>Last error</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {list.map((d) => (
                <tr key={d.id} data-testid="push-device">
                  <td>
                    {d.name} {d.id === current && <span className="tag">this device</span>}
                  </td>
                  <td className="path">{d.endpoint_host}</td>
                  <td title={new Date(d.created_at).toLocaleString()}>{ago(d.created_at)}</td>
                  <td title={d.last_ok_at ? new Date(d.last_ok_at).toLocaleString() : undefined}>{ago(d.last_ok_at)}</td>
                  <td className={d.last_error ? "error-text" : "muted"}>{d.last_error ?? "none"}</td>
                  <td>
                    <button type="button" className="small danger" onClick={() => remove(d)} aria-label={`Remove ${d.name}`}>
                      Remove
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}
