// Admins: approve sign-ups and set roles.
import { useState } from "react";
import { Api, type Me, type Role } from "../api/client";
import { useUsers } from "../api/data";
import { ErrorBanner, ago, errText } from "../util";

export function UsersPage({ me }: { me: Me }) {
  const users = useUsers();
  const [error, setError] = useState<string | null>(null);
  const act = (f: () => Promise<unknown>) => {
    setError(null);
    f().then(users.reload, (e) => setError(errText(e)));
  };
  return (
    <section>
      <h1>Users</h1>
      <ErrorBanner error={error ?? users.error} />
      <div className="table-wrap">
        <table>
          <thead>
            <tr>
              <th>User</th>
              <th>Role</th>
              <th>Joined</th>
              <th></th>
            </tr>
          </thead>
          <tbody>
            {(users.data ?? []).map((u) => (
              <tr key={u.id}>
                <td>{u.username}</td>
                <td>
                  {u.role === "creator" || u.id === me.id ? (
                    u.role
                  ) : (
                    <select aria-label={`Role of ${u.username}`} value={u.role} onChange={(e) => act(() => Api.setRole(u.username, e.target.value as Role))}>
                      <option value="pending">pending</option>
                      <option value="user">user</option>
                      <option value="admin">admin</option>
                    </select>
                  )}
                </td>
                <td>{ago(u.created_at)}</td>
                <td>
                  {u.role === "pending" && (
                    <button type="button" className="primary small" onClick={() => act(() => Api.approve(u.username))}>
                      Approve
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}
