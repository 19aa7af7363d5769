// A file's diff as git reports it (`@@` hunks of ` `/`+`/`-` lines), with old and new line numbers, unified or
// side by side (removed lines paired with the added lines that replace them).
import type { FileDiff } from "../api/types.gen";

interface Line {
  kind: "ctx" | "add" | "del" | "hunk" | "note";
  text: string;
  old?: number;
  new?: number;
}

export function parsePatch(patch: string): Line[] {
  const out: Line[] = [];
  let o = 0;
  let n = 0;
  for (const raw of patch.split("\n")) {
    if (raw === "") continue;
    if (raw.startsWith("@@")) {
      const m = /^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@/.exec(raw);
      o = m ? Number(m[1]) : o;
      n = m ? Number(m[2]) : n;
      out.push({ kind: "hunk", text: raw });
    } else if (raw[0] === "+") out.push({ kind: "add", text: raw.slice(1), new: n++ });
    else if (raw[0] === "-") out.push({ kind: "del", text: raw.slice(1), old: o++ });
    else if (raw[0] === "\\") out.push({ kind: "note", text: raw });
    else out.push({ kind: "ctx", text: raw.slice(1), old: o++, new: n++ });
  }
  return out;
}

const SIGN: Record<Line["kind"], string> = { ctx: " ", add: "+", del: "-", hunk: "", note: "" };

function Unified({ lines }: { lines: Line[] }) {
  return (
    <table className="diff-table unified">
      <tbody>
        {lines.map((l, i) =>
          l.kind === "hunk" || l.kind === "note" ? (
            <tr key={i} className={l.kind}>
              <td colSpan={3}>{l.text}</td>
            </tr>
          ) : (
            <tr key={i} className={l.kind}>
              <td className="ln">{l.old ?? ""}</td>
              <td className="ln">{l.new ?? ""}</td>
              <td className="code">
                <span className="sign" aria-hidden="true">
                  {SIGN[l.kind]}
                </span>
                {l.text}
              </td>
            </tr>
          ),
        )}
      </tbody>
    </table>
  );
}

type Row = { left?: Line; right?: Line; full?: Line };

function pairRows(lines: Line[]): Row[] {
  const rows: Row[] = [];
  let dels: Line[] = [];
  let adds: Line[] = [];
  const flush = () => {
    for (let i = 0; i < Math.max(dels.length, adds.length); i++) rows.push({ left: dels[i], right: adds[i] });
    dels = [];
    adds = [];
  };
  for (const l of lines) {
    if (l.kind === "del") {
      if (adds.length) flush();
      dels.push(l);
    } else if (l.kind === "add") adds.push(l);
    else {
      flush();
      if (l.kind === "ctx") rows.push({ left: l, right: l });
      else rows.push({ full: l });
    }
  }
  flush();
  return rows;
}

function Split({ lines }: { lines: Line[] }) {
  return (
    <table className="diff-table split">
      <tbody>
        {pairRows(lines).map((r, i) =>
          r.full ? (
            <tr key={i} className={r.full.kind}>
              <td colSpan={4}>{r.full.text}</td>
            </tr>
          ) : (
            <tr key={i}>
              <td className={`ln ${r.left?.kind ?? "empty"}`}>{r.left?.old ?? ""}</td>
              <td className={`code ${r.left?.kind ?? "empty"}`}>{r.left?.text ?? ""}</td>
              <td className={`ln ${r.right?.kind ?? "empty"}`}>{r.right?.new ?? ""}</td>
              <td className={`code ${r.right?.kind ?? "empty"}`}>{r.right?.text ?? ""}</td>
            </tr>
          ),
        )}
      </tbody>
    </table>
  );
}

export function FileDiffView({ file, split }: { file: FileDiff; split: boolean }) {
  const lines = file.patch ? parsePatch(file.patch) : [];
  return (
    <div className="file-diff" data-testid="file-diff" data-path={file.path}>
      <div className="file-diff-head">
        <span className="path">
          {file.orig_path ? `${file.orig_path} → ` : ""}
          {file.path}
        </span>
        <span className="muted">{file.state.replace(/_/g, " ")}</span>
        {!file.binary && (
          <span className="counts">
            <span className="plus">+{file.additions}</span> <span className="minus">−{file.deletions}</span>
          </span>
        )}
      </div>
      {file.binary ? (
        <p className="muted pad">Binary file: no text diff.</p>
      ) : lines.length === 0 ? (
        <p className="muted pad">No text changes to show (a mode change, or too large to show).</p>
      ) : (
        <div className="diff-scroll">{split ? <Split lines={lines} /> : <Unified lines={lines} />}</div>
      )}
    </div>
  );
}
