// Minimal VibeBridge page: sign-up/login, node list, join tokens. Replaced by the full UI later.
"use strict";
const $ = (id) => document.getElementById(id);
let registering = false;

async function api(method, path, body) {
  const res = await fetch(`/api/v1${path}`, {
    method,
    credentials: "same-origin",
    headers: body ? { "content-type": "application/json" } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  const data = await res.json().catch(() => null);
  if (!res.ok) throw Object.assign(new Error(data?.error?.message || res.statusText), { status: res.status });
  return data;
}

function show(section) {
  for (const id of ["auth", "pending", "nodes"]) $(id).hidden = id !== section;
}

function setMode(register) {
  registering = register;
  $("auth-title").textContent = register ? "Create an account" : "Log in";
  $("auth-submit").textContent = register ? "Create account" : "Log in";
  $("auth-toggle").textContent = register ? "I have an account" : "Create an account instead";
}

async function refresh() {
  $("error").textContent = "";
  let me;
  try {
    me = await api("GET", "/auth/me");
  } catch {
    try { me = (await api("POST", "/auth/refresh")).user; } catch { me = null; }
  }
  $("logout").hidden = !me;
  $("who").textContent = me ? `${me.username} (${me.role})` : "";
  if (!me) {
    const status = await api("GET", "/auth/status");
    setMode(!status.has_users);
    return show("auth");
  }
  if (me.role === "pending") return show("pending");
  show("nodes");
  const nodes = await api("GET", "/nodes");
  const rows = $("node-rows");
  rows.replaceChildren(...nodes.map((n) => {
    const tr = document.createElement("tr");
    const cells = [
      n.name,
      n.online ? "online" : "offline",
      n.hostname ?? "",
      n.providers.map((p) => `${p.name} ${p.version ?? ""}`).join(", "),
      n.last_heartbeat ?? n.last_seen ?? "",
    ];
    for (const text of cells) {
      const td = document.createElement("td");
      td.textContent = text;
      tr.append(td);
    }
    tr.children[1].className = n.online ? "online" : "offline";
    return tr;
  }));
}

$("auth-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const f = new FormData(e.target);
  try {
    await api("POST", registering ? "/auth/register" : "/auth/login", {
      username: f.get("username"),
      password: f.get("password"),
    });
    await refresh();
  } catch (err) {
    $("error").textContent = err.message;
  }
});
$("auth-toggle").addEventListener("click", () => setMode(!registering));
$("logout").addEventListener("click", async () => { await api("POST", "/auth/logout").catch(() => {}); refresh(); });
$("add-node").addEventListener("click", async () => {
  try {
    const t = await api("POST", "/nodes/tokens", {});
    $("join").hidden = false;
    $("join").textContent = `Run on the new machine (single use, expires ${t.expires_at}):\n\n${t.join_command}`;
  } catch (err) {
    $("error").textContent = err.message;
  }
});
refresh().catch((err) => { $("error").textContent = err.message; });
setInterval(() => { if (!$("nodes").hidden) refresh().catch(() => {}); }, 5000);
