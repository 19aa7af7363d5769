// Choosing a place on a node: an online node, then a directory browsed inside its roots (or typed). Used where a
// session starts and where a project is created. The parent keeps the node id and the path; browsing is here.
import { useEffect, useState } from "react";
import { Api } from "../api/client";
import type { DirListing, NodeView } from "../api/types.gen";
import { errText } from "../util";

/** The online nodes as a select; picks the first one when none is chosen yet. */
export function NodeSelect({ online, nodeId, setNodeId }: { online: NodeView[]; nodeId: string; setNodeId: (id: string) => void }) {
  useEffect(() => {
    if (!nodeId && online.length) setNodeId(online[0].id);
  }, [nodeId, online, setNodeId]);
  return (
    <label>
      Node
      <select value={nodeId} onChange={(e) => setNodeId(e.target.value)} required>
        {online.length === 0 && <option value="">no node is online</option>}
        {online.map((n) => (
          <option key={n.id} value={n.id}>
            {n.name} ({n.hostname ?? n.id})
          </option>
        ))}
      </select>
    </label>
  );
}

/**
 * A directory on `nodeId`: a path field and the sub-directories of the one shown, starting at the node's roots
 * whenever the node changes. `legend` names it ("Directory", "Repository"), `label` its path field; errors go to
 * `onError`.
 */
export function DirPicker({
  nodeId,
  path,
  setPath,
  legend,
  label = legend,
  onError,
}: {
  nodeId: string;
  path: string;
  setPath: (p: string) => void;
  legend: string;
  label?: string;
  onError: (message: string | null) => void;
}) {
  const [listing, setListing] = useState<DirListing | null>(null);
  const browse = (p: string | null) => {
    if (!nodeId) return;
    onError(null);
    Api.listDir(nodeId, p).then(
      (l) => {
        setListing(l);
        if (l.path) setPath(l.path);
      },
      (e) => onError(errText(e)),
    );
  };
  useEffect(() => {
    setListing(null);
    setPath("");
    if (nodeId) browse(null);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [nodeId]);
  return (
    <fieldset className="picker">
      <legend>{legend}</legend>
      <div className="picker-path">
        <input aria-label={label} value={path} onChange={(e) => setPath(e.target.value)} placeholder="pick below or type an absolute path" required />
        <button type="button" className="small" onClick={() => browse(path || null)}>
          Open
        </button>
      </div>
      {listing && (
        <ul className="dirs" aria-label="Sub-directories">
          {listing.path && (
            <li>
              <button type="button" className="dir up" onClick={() => browse(listing.parent)}>
                ↑ {listing.parent ? "up" : "all roots"}
              </button>
            </li>
          )}
          {listing.entries.map((d) => (
            <li key={d.path}>
              <button type="button" className="dir" onClick={() => browse(d.path)}>
                📁 {d.name}
              </button>
            </li>
          ))}
          {listing.entries.length === 0 && <li className="muted">no sub-directories</li>}
          {listing.truncated && <li className="muted">(more not shown)</li>}
        </ul>
      )}
    </fieldset>
  );
}
