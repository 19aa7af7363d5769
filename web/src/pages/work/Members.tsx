// A workspace's members: their roles; admins invite an existing user by name, change roles and remove members;
// anyone may leave.
import { useState, type FormEvent } from "react";
import type { Me } from "../../api/client";
import type { WorkspaceRole } from "../../api/types.gen";
import { Work } from "../../api/work";
import { useWorkspace } from "../../api/data";
import { navigate } from "../../router";
import { ErrorBanner, errText } from "../../util";
import { Avatar, WorkspaceHead, canAdmin } from "./common";

const ROLES: WorkspaceRole[] = ["viewer", "member", "admin", "owner"];

export function MembersPage({ wsKey, me }: { wsKey: string; me: Me }) {
  const wsLive = useWorkspace(wsKey);
  const ws = wsLive.data;
  const [username, setUsername] = useState("");
  const [role, setRole] = useState<WorkspaceRole>("member");
  const [error, setError] = useState<string | null>(null);
  if (!ws) return <section>{wsLive.error ? <ErrorBanner error={wsLive.error} /> : <p className="loading">Loading…</p>}</section>;
  const admin = canAdmin(ws);
  const done = () => {
    setError(null);
    wsLive.reload();
  };
  const invite = (e: FormEvent) => {
    e.preventDefault();
    Work.setMember(ws.id, username.trim(), role).then(() => {
      setUsername("");
      done();
    }, (err) => setError(errText(err)));
  };
  const remove = (u: string) => {
    const self = u === me.username;
    if (!confirm(self ? `Leave ${ws.name}? You will need an invitation to come back.` : `Remove ${u} from ${ws.name}?`)) return;
    Work.removeMember(ws.id, u).then(() => (self ? navigate("/w") : done()), (err) => setError(errText(err)));
  };
  return (
    <section>
      <WorkspaceHead ws={ws} />
      <ErrorBanner error={error} />
      <div className="table-wrap">
        <table data-testid="members">
          <thead>
            <tr>
              <th>Member</th>
              <th>Role</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {ws.members.map((m) => (
              <tr key={m.username}>
                <td>
                  <Avatar user={m.user_id} members={ws.members} /> {m.name ? `${m.name} (@${m.username})` : `@${m.username}`}
                </td>
                <td>
                  {admin ? (
                    <select
                      aria-label={`Role of ${m.username}`}
                      value={m.role}
                      onChange={(e) => Work.setMember(ws.id, m.username, e.target.value as WorkspaceRole).then(done, (err) => setError(errText(err)))}
                    >
                      {ROLES.map((r) => (
                        <option key={r} value={r}>
                          {r}
                        </option>
                      ))}
                    </select>
                  ) : (
                    m.role
                  )}
                </td>
                <td>
                  {m.username === me.username ? (
                    <button type="button" className="small" onClick={() => remove(m.username)}>
                      Leave
                    </button>
                  ) : (
                    admin && (
                      <button type="button" className="small danger" onClick={() => remove(m.username)}>
                        Remove
                      </button>
                    )
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {admin && (
        <form className="card form invite" onSubmit={invite} aria-label="Invite">
          <h2>Invite</h2>
          <div className="grid2">
            <label>
              Username
              <input value={username} onChange={(e) => setUsername(e.target.value)} required placeholder="an existing user" />
            </label>
            <label>
              Role
              <select value={role} onChange={(e) => setRole(e.target.value as WorkspaceRole)}>
                {ROLES.map((r) => (
                  <option key={r} value={r}>
                    {r}
                  </option>
                ))}
              </select>
            </label>
          </div>
          <button type="submit" className="primary" disabled={!username.trim()}>
            Invite
          </button>
        </form>
      )}
    </section>
  );
}
