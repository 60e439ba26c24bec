/** The episode record of one kill by the kernel's own OOM killer: pure, from what was seen of it. */
import { type EpisodeRecord, type KernelKill, buildEpisode } from "../engine/episode.js";

export function kernelEpisode(kill: KernelKill, scope: string, wallMs: number, idSuffix: string): EpisodeRecord {
  const who = kill.pid !== undefined ? `pid ${kill.pid} (${kill.comm ?? "?"})` : "a process";
  const where = kill.cgroup ? ` in ${kill.cgroup}` : "";
  const figures: Record<string, number | string> = {};
  for (const [k, v] of Object.entries(kill)) if (typeof v === "number" || typeof v === "string") figures[k] = v;
  return buildEpisode({
    idSuffix,
    mode: "live",
    scope,
    cause: {
      kind: "kernel",
      trigger: "kernel",
      message: `the kernel's OOM killer killed ${who}${where}${kill.oomMemcg ? ` (${kill.oomMemcg} hit its limit)` : ""}`,
      figures,
    },
    source: kill.seenBy.includes("kmsg") ? "kernel log" : "kernel counters",
    // No policy ran: the kernel decided and acted at the instant it declared.
    steps: [],
    timing: { declaredAtWallMs: wallMs, decisionMs: 0, actionMs: 0 },
    kernelKill: kill,
  });
}
