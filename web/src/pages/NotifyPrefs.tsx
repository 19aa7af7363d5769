// What the user's notifications are about (Settings → Notifications): which events, from which workspaces, and
// quiet hours (start and end in a time zone, this browser's by default). One form, saved as a whole.
import { useEffect, useState, type FormEvent } from "react";
import { useWorkspaces } from "../api/data";
import { NOTICE_KINDS, Notify } from "../api/notify";
import type { NoticeKind, NotifyPrefs } from "../api/types.gen";
import { ErrorBanner, errText } from "../util";

const localZone = () => Intl.DateTimeFormat().resolvedOptions().timeZone;

/** Whether the browser knows time zone `zone` (main checks it too). */
function knownZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat("en", { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/** The time zones the browser knows, for the field's suggestions. */
const ZONES: string[] = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [];

export function NotifyPrefsCard() {
  const [prefs, setPrefs] = useState<NotifyPrefs | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    Notify.prefs().then(setPrefs, (e) => setError(errText(e)));
  }, []);
  if (!prefs)
    return (
      <div className="card form">
        <h2>What to notify about</h2>
        {error ? <ErrorBanner error={error} /> : <p className="loading">Loading…</p>}
      </div>
    );
  return <PrefsForm initial={prefs} />;
}

function PrefsForm({ initial }: { initial: NotifyPrefs }) {
  const workspaces = useWorkspaces();
  const [events, setEvents] = useState(() => new Set<NoticeKind>(initial.events));
  const [everywhere, setEverywhere] = useState(initial.workspaces === null);
  const [chosen, setChosen] = useState(() => new Set(initial.workspaces ?? []));
  const [quiet, setQuiet] = useState(initial.quiet_hours !== null);
  const [start, setStart] = useState(initial.quiet_hours?.start ?? "22:00");
  const [end, setEnd] = useState(initial.quiet_hours?.end ?? "07:00");
  const [zone, setZone] = useState(initial.quiet_hours?.time_zone ?? localZone());
  const [error, setError] = useState<string | null>(null);
  const [saved, setSaved] = useState(false);
  const [busy, setBusy] = useState(false);
  useEffect(() => setSaved(false), [events, everywhere, chosen, quiet, start, end, zone]);
  const toggle = <T,>(set: Set<T>, item: T, on: boolean) => {
    const next = new Set(set);
    if (on) next.add(item);
    else next.delete(item);
    return next;
  };
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const list = workspaces.data;
    const picked = list ? list.filter((w) => chosen.has(w.id)).map((w) => w.id) : [...chosen];
    if (!everywhere && picked.length === 0) return setError("Pick at least one workspace, or choose All workspaces.");
    if (quiet && start === end) return setError("Quiet hours start and end at the same time: pick two different times.");
    if (quiet && !knownZone(zone.trim())) return setError(`“${zone}” is not a time zone this browser knows; pick one such as ${localZone()}.`);
    const body: NotifyPrefs = {
      events: NOTICE_KINDS.map(([k]) => k).filter((k) => events.has(k)),
      workspaces: everywhere ? null : picked,
      quiet_hours: quiet ? { start, end, time_zone: zone.trim() } : null,
    };
    setError(null);
    setBusy(true);
    Notify.setPrefs(body)
      .then(
        () => setSaved(true),
        (err) => setError(errText(err)),
      )
      .finally(() => setBusy(false));
  };
  return (
    <form className="card form" onSubmit={submit} aria-label="What to notify about">
      <h2>What to notify about</h2>
      <fieldset className="picker" data-testid="notify-events">
        <legend>Events</legend>
        <div className="check-list">
          {NOTICE_KINDS.map(([kind, label]) => (
            <label key={kind} className="inline">
              <input type="checkbox" checked={events.has(kind)} onChange={(e) => setEvents(toggle(events, kind, e.target.checked))} />
              {label}
            </label>
          ))}
        </div>
        {events.size === 0 && <p className="warn">No event chosen: your devices get nothing but test notifications.</p>}
      </fieldset>
      <fieldset className="picker" data-testid="notify-workspaces">
        <legend>Workspaces</legend>
        <div className="check-list">
          <label className="inline">
            <input type="radio" name="notify-scope" checked={everywhere} onChange={() => setEverywhere(true)} />
            All workspaces
          </label>
          <label className="inline">
            <input type="radio" name="notify-scope" checked={!everywhere} onChange={() => setEverywhere(false)} />
            Only these:
          </label>
          {!everywhere && (
            <div className="check-list nested">
              {workspaces.error && <ErrorBanner error={workspaces.error} />}
              {workspaces.data?.length === 0 && <span className="muted">You belong to no workspace.</span>}
              {(workspaces.data ?? []).map((w) => (
                <label key={w.id} className="inline">
                  <input type="checkbox" checked={chosen.has(w.id)} onChange={(e) => setChosen(toggle(chosen, w.id, e.target.checked))} />
                  {w.name} <span className="muted">{w.settings.key_prefix}</span>
                </label>
              ))}
            </div>
          )}
        </div>
        <p className="muted">Events that belong to no workspace, such as a node going offline, come either way.</p>
      </fieldset>
      <fieldset className="picker" data-testid="notify-quiet">
        <legend>Quiet hours</legend>
        <label className="inline">
          <input type="checkbox" checked={quiet} onChange={(e) => setQuiet(e.target.checked)} />
          No push notifications between these times
        </label>
        {quiet && (
          <div className="quiet-hours">
            <label>
              From
              <input type="time" value={start} onChange={(e) => setStart(e.target.value)} required aria-label="Quiet hours start" />
            </label>
            <label>
              Until
              <input type="time" value={end} onChange={(e) => setEnd(e.target.value)} required aria-label="Quiet hours end" />
            </label>
            <label>
              Time zone
              <input list="notify-time-zones" value={zone} onChange={(e) => setZone(e.target.value)} required aria-label="Time zone" />
              <datalist id="notify-time-zones">
                {ZONES.map((z) => (
                  <option key={z} value={z} />
                ))}
              </datalist>
            </label>
          </div>
        )}
      </fieldset>
      <ErrorBanner error={error} />
      <div className="row">
        <button type="submit" className="primary" disabled={busy} data-testid="notify-save">
          Save
        </button>
        {saved && (
          <span className="muted" role="status">
            Saved.
          </span>
        )}
      </div>
    </form>
  );
}
