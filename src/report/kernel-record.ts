/** The episode record of one kill by the kernel's own OOM killer: pure, from what was seen of it. */
import { EPISODE_SCHEMA, type EpisodeRecord, type KernelKill } from "../engine/episode.js";

export function kernelEpisode(kill: KernelKill, scope: string, wallMs: number, idSuffix: string): EpisodeRecord {
  const at = new Date(wallMs).toISOString();
  const who = kill.pid !== undefined ? `pid ${kill.pid} (${kill.comm ?? "?"})` : "a process";
  const where = kill.cgroup ? ` in ${kill.cgroup}` : "";
  const figures: Record<string, number | string> = {};
  for (const [k, v] of Object.entries(kill)) if (typeof v === "number" || typeof v === "string") figures[k] = v;
  return {
    schema: EPISODE_SCHEMA,
    id: `ep-${wallMs.toString(36)}-${idSuffix}`,
    mode: "live",
    kind: "kernel",
    scope,
    cause: {
      kind: "kernel",
      trigger: "kernel",
      message: `the kernel's OOM killer killed ${who}${where}${kill.oomMemcg ? ` (${kill.oomMemcg} hit its limit)` : ""}`,
      figures,
    },
    source: kill.seenBy.includes("kmsg") ? "kernel log" : "kernel counters",
    policy: null,
    handled: true,
    chain: [],
    candidates: [],
    candidatesTotal: 0,
    plan: [],
    actions: [],
    times: { declaredAt: at, decidedAt: at, finishedAt: at, decisionMs: 0, actionMs: 0 },
    kernelKill: kill,
  };
}
