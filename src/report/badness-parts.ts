/**
 * The kernel's badness of each task candidate, in parts, for `oomkit explain --json`: what a
 * policy author needs to see why the kernel (and the built-in default) ranks a task where it
 * does. The figures come from the snapshot the decision was taken on and the engine's own
 * oom_badness (Snapshot.badness, src/engine/badness.ts); nothing here re-derives the formula.
 */
import type { Badness } from "../engine/badness.js";
import type { CandidateRecord, EpisodeRecord } from "../engine/episode.js";
import type { Snapshot } from "../engine/snapshot.js";

/** One task's badness for an OOM in the record's scope. Sizes are bytes; `points` are pages. */
export type BadnessParts =
  | {
      readonly killable: true;
      readonly rssBytes: number;
      readonly swapBytes: number;
      readonly pageTablesBytes: number;
      readonly oomScoreAdj: number;
      /** totalpages of an OOM in the scope (the machine's, or the memcg's limit). */
      readonly totalPages: number;
      readonly pageSizeBytes: number;
      /** rss + swap + page-table pages. */
      readonly points: number;
      /** oom_score_adj * (totalPages / 1000). */
      readonly adj: number;
      /** points + adj: the kernel chooses the highest. */
      readonly badness: number;
    }
  | { readonly killable: false; readonly reason: Extract<Badness, { killable: false }>["reason"] };

export type ExplainedCandidate = CandidateRecord & { readonly badness?: BadnessParts };

/** The record with `badness` on every task candidate whose figures the snapshot could read. */
export function withBadnessParts(record: EpisodeRecord, snapshot: Snapshot): EpisodeRecord & { readonly candidates: readonly ExplainedCandidate[] } {
  const scope = snapshot.cgroup(record.scope);
  const candidates = record.candidates.map((c): ExplainedCandidate => {
    if (c.kind !== "task" || c.pid === undefined || c.unreadable !== undefined) return c;
    const parts = partsOf(snapshot, c.pid, scope);
    return parts === undefined ? c : { ...c, badness: parts };
  });
  return { ...record, candidates };
}

function partsOf(snapshot: Snapshot, pid: number, scope: ReturnType<Snapshot["cgroup"]>): BadnessParts | undefined {
  const task = snapshot.task(pid);
  if (task === undefined) return undefined;
  let b: Badness;
  let m: (typeof task)["memory"];
  try {
    b = snapshot.badness(task, scope);
    m = task.memory;
  } catch {
    // A task that vanished or whose status could not be read since the decision: no parts, not a failure.
    return undefined;
  }
  if (!b.killable) return { killable: false, reason: b.reason };
  return {
    killable: true,
    rssBytes: m.rssBytes,
    swapBytes: m.swapBytes,
    pageTablesBytes: m.pageTablesBytes,
    oomScoreAdj: task.oomScoreAdj,
    totalPages: snapshot.totalPagesFor(scope),
    pageSizeBytes: snapshot.pageSizeBytes,
    points: b.points,
    adj: b.adj,
    badness: b.badness,
  };
}
