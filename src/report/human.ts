/**
 * The one-line summary of an episode, in the spirit of the kernel's OOM report ("oom-kill:
 * constraint=…,oom_memcg=…,task=…,pid=…" and "Killed process N (comm) … anon-rss:…kB"): key=value
 * fields first, so a grep for `oom_policy=` or `scope=` finds every episode, then what was done.
 * Always exactly one line: names from the machine (a comm, a cgroup) are escaped like the
 * kernel escapes them.
 */
import type { ActionResult, EpisodeRecord, KernelKill } from "../engine/episode.js";
import type { Action } from "../engine/plan.js";

/** One line, no trailing newline. */
export function summarize(record: EpisodeRecord): string {
  return record.kind === "kernel" ? kernelLine(record) : oomkitLine(record);
}

function oomkitLine(r: EpisodeRecord): string {
  const head = [
    `oom_policy=${r.policy ?? "none"}`,
    `kind=${r.kind}`,
    `scope=${safe(r.scope)}`,
    `cause=${quoteIfNeeded(r.cause.trigger)}`,
    ...(r.mode === "live" ? [] : [`mode=${r.mode}`]),
    // Files the decision could not read (the record's `unreadable` says which and why).
    ...(r.unreadableTotal ? [`unreadable=${r.unreadableTotal}`] : []),
  ].join(" ");
  if (r.dropped) {
    const step = r.chain.find((c) => c.outcome === "dropped");
    const would = step?.verdicts.filter((v) => v.ok).map((v) => describe(v.action, true, {})).join("; ");
    return `oomkit ${r.id}: ${head}: not acting: ${safe(r.dropped.reason)}${step && would ? `; ${step.policy} ${would}` : ""}`;
  }
  if (!r.handled) {
    const tried = r.chain.map((c) => `${c.policy} ${c.outcome}`).join(", ");
    return `oomkit ${r.id}: ${head}: no policy handled it (${tried || "no policy ran"}); the kernel is the last resort`;
  }
  const results = r.actions.length > 0 ? r.actions : r.plan.map((action) => ({ action }) as Partial<ActionResult> & { action: Action });
  const done = results.map((a) => describe(a.action, r.mode !== "live" || a.dryRun === true, a)).join("; ");
  const freed = r.actions.reduce((sum, a) => sum + (a.freed ? (a.freedBytes ?? 0) : 0), 0);
  const freedText = r.mode === "live" ? `, freed ${kb(freed)}` : "";
  const how = r.decision?.path === "standing" ? `, standing plan ${round(r.decision.ageMs)}ms old` : "";
  return `oomkit ${r.id}: ${head}: ${done || "nothing to do"}${freedText} in ${round(r.times.actionMs)}ms (decision ${round(r.times.decisionMs)}ms${how})`;
}

function describe(a: Action, would: boolean, result: Partial<ActionResult>): string {
  const verb = (live: string, dry: string) => (would ? dry : live);
  const failed = result.ok === false ? ` failed: ${safe(result.error ?? "error")}` : "";
  switch (a.kind) {
    case "kill-task":
      return `${verb("Killed", "would kill")} process ${a.pid} (${safe(a.comm)})${a.cgroup ? ` task_memcg=${safe(a.cgroup)}` : ""}${failed}`;
    case "kill-cgroup":
      return `${verb("Killed", "would kill")} cgroup ${safe(a.cgroup)}${failed}`;
    case "reclaim":
      return `${verb("reclaimed", "would reclaim")} ${kb(a.bytes)} from ${safe(a.cgroup)}${failed}`;
    case "remove-files":
      return `${verb("removed", "would remove")} ${a.paths.length} file(s)${failed}`;
    default: {
      const never: never = a;
      return never;
    }
  }
}

function kernelLine(r: EpisodeRecord): string {
  const k: KernelKill = r.kernelKill ?? { seenBy: [] };
  const head = [
    "oom_policy=kernel",
    "kind=kernel",
    `scope=${safe(r.scope)}`,
    ...(k.constraint ? [`constraint=${k.constraint}`] : []),
    ...(k.oomMemcg ? [`oom_memcg=${safe(k.oomMemcg)}`] : []),
    ...(k.cgroup ? [`task_memcg=${safe(k.cgroup)}`] : []),
    ...(k.oomGroup ? [`oom_group=${safe(k.oomGroup)}`] : []),
    `seen_by=${k.seenBy.join("+") || "?"}`,
  ].join(" ");
  const victim = k.pid !== undefined ? `Killed process ${k.pid} (${safe(k.comm ?? "?")})` : "killed a process (the kernel log was not read)";
  const figures = [
    k.totalVmBytes !== undefined ? `total-vm:${kb(k.totalVmBytes)}` : "",
    k.anonRssBytes !== undefined ? `anon-rss:${kb(k.anonRssBytes)}` : "",
    k.fileRssBytes !== undefined ? `file-rss:${kb(k.fileRssBytes)}` : "",
    k.shmemRssBytes !== undefined ? `shmem-rss:${kb(k.shmemRssBytes)}` : "",
  ].filter((s) => s !== "");
  const adj = k.oomScoreAdj !== undefined ? ` oom_score_adj:${k.oomScoreAdj}` : "";
  return `oomkit ${r.id}: ${head}: ${victim}${figures.length ? ` ${figures.join(", ")}` : ""}${adj}`;
}

const kb = (bytes: number) => `${Math.round(bytes / 1024)}kB`;
const round = (ms: number) => Math.round(ms * 10) / 10;

/** Escapes what would break the line: control bytes, backslash, as the kernel does (\xNN). */
function safe(text: string): string {
  return text.replace(/[\x00-\x1f\x7f\\]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}

function quoteIfNeeded(text: string): string {
  const s = safe(text);
  return /[\s"]/.test(s) ? JSON.stringify(s) : s;
}
