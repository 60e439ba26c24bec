import { runDoctor, type DoctorReport } from "../os/doctor.js";
import type { Command } from "./command.js";
import { parseFlags } from "./args.js";

const USAGE = `usage: oomkit doctor [--root DIR] [--json]

Says what this machine gives oomkit (cgroup mode, memory controller, PSI, capabilities, pidfd,
process_mrelease, cgroup.kill, memory.reclaim, root, kernel) and what each missing piece means.
Exits 0 when oomkit can protect the machine at least in system-level mode, 5 when it cannot.

  --root DIR   examine a fixture folder instead of the live machine
  --json       print the report as JSON (schema "oomkit.doctor/1")`;

const MARK = { ok: "ok  ", warn: "warn", missing: "MISS", unknown: "??  " } as const;

export function renderDoctor(r: DoctorReport): string {
  const lines = [`oomkit doctor: ${r.source}`];
  for (const c of r.checks) {
    lines.push(`[${MARK[c.status]}] ${c.title}: ${c.detail}`);
    if (c.status !== "ok") lines.push(`       ${c.meaning}`);
  }
  lines.push(r.usable ? "oomkit can protect this machine." : "oomkit cannot protect this machine: it has neither PSI nor a readable meminfo.");
  return `${lines.join("\n")}\n`;
}

export const doctorCommand: Command = {
  name: "doctor",
  summary: "say what this machine gives oomkit and what each missing piece means",
  usage: USAGE,
  run(args, ctx) {
    const { values } = parseFlags("doctor", args, { root: { type: "string" }, json: { type: "boolean" } });
    const report = runDoctor(ctx.makeHost(values.root));
    ctx.stdout(values.json ? `${JSON.stringify(report, null, 2)}\n` : renderDoctor(report));
    return report.usable ? 0 : 5;
  },
};
