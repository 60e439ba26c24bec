/**
 * What policies see of the tasks the kernel fallback raised (./follow.ts): the values before
 * oomkit's change. The daemon reads the machine through this Host (its snapshots, its warm model,
 * the verifier), so a standing victim that oomkit set to oom_score_adj 1000 still ranks — in the
 * `kernel` badness, in `priority`'s ties, in any policy file — as it did before, and the plan is
 * not made to follow itself.
 *
 * For a raised task — the same process (pid and start time), still at the value oomkit wrote —
 * `/proc/PID/oom_score_adj` reads as the original value, and `/proc/PID/oom_score` as the
 * kernel's score less what the raise added: (1000 − original) × 2⁄3 of its 0–2000 scale, to
 * within one point (the kernel's integer divisions). Once someone else has changed the value, or
 * the pid names another process, the machine's own text is served.
 */
import type { Host } from "../os/host.js";
import { HostDecorator } from "../os/host-decorator.js";
import { parseProcStat } from "../os/parse/proc.js";
import { PidFile, procPid } from "../os/paths.js";

/** The value the kernel fallback writes: the kernel's OOM killer takes such a task before any other. */
export const FOLLOW_ADJ = 1000;

/** A task whose oom_score_adj oomkit raised, and what it was before. */
export interface RaisedTask {
  readonly pid: number;
  readonly startTimeTicks: number;
  readonly original: number;
}

const ADJ_FILE = /^\/proc\/([0-9]+)\/(oom_score_adj|oom_score)$/;

export class OriginalAdjView extends HostDecorator {
  readonly #raised: ReadonlyMap<number, RaisedTask>;

  /** `raised`: pid → the raised task, kept current by the kernel fallback. */
  constructor(inner: Host, raised: ReadonlyMap<number, RaisedTask>) {
    super(inner);
    this.#raised = raised;
  }

  override readFile(p: string): string {
    const text = super.readFile(p);
    if (this.#raised.size === 0) return text;
    const m = ADJ_FILE.exec(p);
    if (!m) return text;
    const r = this.#raised.get(Number(m[1]));
    if (!r || !this.#stillRaised(r, m[2] === "oom_score_adj" ? text : undefined)) return text;
    if (m[2] === "oom_score_adj") return `${r.original}\n`;
    const score = Number(text.trim());
    if (!Number.isFinite(score)) return text;
    return `${Math.max(0, Math.min(2000, score - Math.round(((FOLLOW_ADJ - r.original) * 2) / 3)))}\n`;
  }

  /** Whether the task is the one raised and still holds the raised value (read now, unless given). */
  #stillRaised(r: RaisedTask, adjText: string | undefined): boolean {
    try {
      const adj = adjText ?? super.readFile(procPid(r.pid, PidFile.oomScoreAdj));
      if (Number(adj.trim()) !== FOLLOW_ADJ) return false;
      return parseProcStat(super.readFile(procPid(r.pid, PidFile.stat))).startTimeTicks === r.startTimeTicks;
    } catch {
      return false;
    }
  }
}
