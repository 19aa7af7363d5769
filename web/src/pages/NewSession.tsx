// Start a session: node → directory (browsed on the node, inside its roots) → provider, model, permission mode →
// first prompt.
import { useEffect, useState, type FormEvent } from "react";
import { Api, asProvider } from "../api/client";
import { DirPicker, NodeSelect } from "../components/NodeDirPicker";
import { navigate } from "../router";
import { useNodes } from "../api/data";
import { ErrorBanner, errText } from "../util";

const MODES: Record<string, [string, string][]> = {
  claude: [
    ["default", "Ask before edits and commands"],
    ["acceptEdits", "Accept file edits, ask for commands"],
    ["plan", "Plan only"],
    ["bypassPermissions", "Never ask"],
  ],
  codex: [
    ["on-request", "Ask when the agent requests it"],
    ["untrusted", "Ask for anything not trusted"],
    ["never", "Never ask"],
  ],
};

export function NewSessionPage() {
  const nodes = useNodes();
  const [nodeId, setNodeId] = useState(new URLSearchParams(location.search).get("node") ?? "");
  const [path, setPath] = useState("");
  const [provider, setProvider] = useState("claude");
  const [model, setModel] = useState("");
  const [mode, setMode] = useState("default");
  const [prompt, setPrompt] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const online = (nodes.data ?? []).filter((n) => n.online);
  const node = online.find((n) => n.id === nodeId);

  useEffect(() => {
    if (node && node.providers.length && !node.providers.some((p) => p.name === provider)) setProvider(node.providers[0].name);
  }, [node, provider]);
  useEffect(() => {
    setMode(MODES[provider]?.[0][0] ?? "");
  }, [provider]);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const chosen = asProvider(provider);
      if (!chosen) throw new Error(`${provider} is not a provider this main knows`);
      const s = await Api.createSession({
        node_id: nodeId,
        path,
        provider: chosen,
        model: model.trim() || undefined,
        permission_mode: mode || undefined,
        prompt,
      });
      navigate(`/sessions/${s.id}`);
    } catch (err) {
      setError(errText(err));
      setBusy(false);
    }
  };

  return (
    <section>
      <h1>New session</h1>
      <form className="card form" onSubmit={submit}>
        <NodeSelect online={online} nodeId={nodeId} setNodeId={setNodeId} />
        <DirPicker nodeId={nodeId} path={path} setPath={setPath} legend="Directory" onError={setError} />
        <div className="grid2">
          <label>
            Provider
            <select value={provider} onChange={(e) => setProvider(e.target.value)}>
              {(node?.providers.length ? node.providers.map((p) => p.name) : ["claude", "codex"]).map((p) => (
                <option key={p} value={p}>
                  {p}
                  {node?.providers.find((x) => x.name === p)?.version ? ` ${node.providers.find((x) => x.name === p)?.version}` : ""}
                </option>
              ))}
            </select>
          </label>
          <label>
            Model (optional)
            <input value={model} onChange={(e) => setModel(e.target.value)} placeholder="CLI default" />
          </label>
        </div>
        <label>
          Permission mode
          <select value={mode} onChange={(e) => setMode(e.target.value)}>
            {(MODES[provider] ?? []).map(([v, label]) => (
              <option key={v} value={v}>
                {v}: {label}
              </option>
            ))}
          </select>
        </label>
        <label>
          First prompt
          <textarea
            rows={5}
            value={prompt}
            onChange={(e) => setPrompt(e.target.value)}
            required
            placeholder="What should the agent do?"
            onKeyDown={(e) => {
              if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) (e.currentTarget.form as HTMLFormElement).requestSubmit();
            }}
          />
        </label>
        <ErrorBanner error={error} />
        <button type="submit" className="primary" disabled={busy || !nodeId || !path || !prompt.trim()}>
          Start session
        </button>
      </form>
    </section>
  );
}
