import { OomkitError } from "../errors.js";
import { takeSnapshot } from "../engine/snapshot.js";
import { type Dump, type DumpPressure, dumpSnapshot } from "../report/dump.js";
import type { CliContext, Command } from "./command.js";
import { parseFlags, positiveInt } from "./args.js";
import { formatBytes, formatPercent, table } from "./format.js";

const USAGE = `usage: oomkit dump [--root DIR] [--cgroup PATH] [--top N] [--json]

Shows the cgroup tree with memory, limits and pressure, and the tasks the kernel would pick
first in an OOM (highest badness first).

  --root DIR     read a fixture folder instead of the live machine
  --cgroup PATH  show only this cgroup's subtree and rank its tasks for an OOM in it
  --top N        how many tasks to list (default 10)
  --json         print the dump as JSON (schema "oomkit.dump/1", docs/dump.md)`;

export const dumpCommand: Command = {
  name: "dump",
  summary: "show the cgroup tree, memory, pressure and the top tasks by badness",
  usage: USAGE,
  run(args, ctx) {
    const { values } = parseFlags("dump", args, {
      root: { type: "string" },
      cgroup: { type: "string" },
      top: { type: "string" },
      json: { type: "boolean" },
    });
    const host = ctx.makeHost(values.root);
    const snapshot = takeSnapshot(host);
    let scope;
    if (values.cgroup !== undefined) {
      if (!snapshot.cgroupMode.perCgroup) {
        throw new OomkitError("E_UNSUPPORTED", `--cgroup needs cgroup v2 with the memory controller; this machine: ${snapshot.cgroupMode.summary}`);
      }
      scope = snapshot.cgroup(values.cgroup);
      if (!scope) throw new OomkitError("E_NO_SUCH_PATH", `no cgroup ${values.cgroup}`);
    }
    const dump = dumpSnapshot(snapshot, { scope, top: positiveInt("top", values.top, 10) });
    ctx.stdout(values.json ? `${JSON.stringify(dump, null, 2)}\n` : renderDump(dump));
    return 0;
  },
};

function psi(p: DumpPressure | null): string {
  if (!p) return "?";
  return `some ${formatPercent(p.some.avg10)}/${formatPercent(p.some.avg60)}/${formatPercent(p.some.avg300)}` +
    (p.full ? `  full ${formatPercent(p.full.avg10)}/${formatPercent(p.full.avg60)}/${formatPercent(p.full.avg300)}` : "");
}

const lim = (v: number | "max" | null) => (v === null ? "?" : v === "max" ? "max" : formatBytes(v));

export function renderDump(d: Dump): string {
  const out: string[] = [];
  const s = d.system;
  out.push(`oomkit dump: ${d.source}, ${d.takenAt}, kernel ${d.kernelRelease ?? "?"}`);
  out.push(`cgroups: ${d.cgroupMode.summary}`);
  out.push(
    `memory: total ${formatBytes(s.memTotalBytes ?? undefined)}, available ${formatBytes(s.memAvailableBytes ?? undefined)}; ` +
      `swap free ${formatBytes(s.swapFreeBytes ?? undefined)} of ${formatBytes(s.swapTotalBytes ?? undefined)}`,
  );
  out.push(`pressure (avg10/60/300 %): memory ${psi(s.pressure.memory)}; cpu ${psi(s.pressure.cpu)}; io ${psi(s.pressure.io)}`);
  if (d.cgroups.length > 0) {
    out.push("");
    const rows: string[][] = [["CGROUP", "CURRENT", "HIGH", "MAX", "SWAP", "PIDS", "OOM_KILL", "MEM PSI some/full avg10"]];
    for (const c of d.cgroups) {
      const m = c.memory;
      const p = c.pressure.memory;
      rows.push([
        `${"  ".repeat(c.depth - (d.cgroups[0]?.depth ?? 0))}${c.depth === 0 ? "/" : c.path.slice(c.path.lastIndexOf("/") + 1)}`,
        formatBytes(m.currentBytes ?? undefined),
        lim(m.highBytes),
        lim(m.maxBytes),
        formatBytes(m.swapCurrentBytes ?? undefined),
        String(c.pids),
        c.events?.oomKill === null || c.events === null ? "-" : String(c.events.oomKill),
        p ? `${formatPercent(p.some.avg10)}/${p.full ? formatPercent(p.full.avg10) : "?"}` : "?",
      ]);
    }
    out.push(table(rows, new Set([1, 2, 3, 4, 5, 6])));
  }
  out.push("");
  out.push(`top tasks by badness for an OOM in ${d.scope} (totalpages ${d.scopeTotalPages ?? "?"}${d.scope !== "/" && d.scopeTotalPages !== s.totalPages ? `, the scope's; the machine's is ${s.totalPages ?? "?"}` : ""}):`);
  const rows: string[][] = [["PID", "BADNESS", "OOM_SCORE", "ADJ", "RSS", "SWAP", "COMM", "CGROUP"]];
  for (const t of d.tasks) {
    rows.push([
      String(t.pid),
      t.badness === null ? `(${t.unkillableReason})` : String(t.badness),
      String(t.oomScore),
      String(t.oomScoreAdj),
      formatBytes(t.rssBytes),
      formatBytes(t.swapBytes),
      t.comm,
      t.cgroup ?? "?",
    ]);
  }
  out.push(table(rows, new Set([0, 1, 2, 3, 4, 5])));
  return `${out.join("\n")}\n`;
}

export type { CliContext };
