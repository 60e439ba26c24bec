/**
 * Giving start-up's garbage back to the kernel, once, when the daemon has settled (its first
 * standing decisions made: daemon.ts, DaemonOptions.onSettled). Start-up (the configuration
 * checked, the bundle's top level compiled, the first decision runs) leaves the V8 heap and the
 * C heap holding pages the idle daemon never uses again; V8's memory reducer collects them on
 * its own, but only ~8 s after start, and until then they are oomkit's RssAnon (2–3 MiB of it:
 * BENCHMARKS.md, "Footprint (native)").
 *
 * Two steps, both synchronous, both once:
 * - a full GC that compacts: V8's old-generation pages left part-full by start-up are evacuated
 *   and freed, which a plain full GC (gc()) does not do (it frees only pages left empty: ~0.3 MiB
 *   here against ~1.6). Node exposes no memory-reducing GC to JavaScript (V8's
 *   LowMemoryNotification is C++ only, and calling node's export of it through koffi crashed the
 *   process), so the gc function is taken from a context made
 *   while `--expose-gc` is set, and compaction asked for by `--compact-on-every-full-gc` for
 *   that one collection. Both flags are put back at once, so no later context (a policy realm
 *   made at a reload) sees a gc function, and later collections are V8's own.
 * - glibc's malloc_trim(0): the free pages inside the C heap (not only at its top, which the
 *   pinned trim threshold already returns: ./malloc-tuning.ts) are given back with madvise.
 *
 * What it does not do: shrink V8's young generation (2 MiB with `--max-semi-space-size=1`, ~0.3
 * after V8's own memory reducer has run). Only a memory-reducing GC does that, and none can be
 * asked for from JavaScript; the reducer still runs ~8 s after this collection.
 */
import { createRequire } from "node:module";
import { parseKbFields } from "./parse/smaps.js";

const nodeRequire = createRequire(import.meta.url);

/** What releasing needs; injected, so that a test can watch the order and a fixture run skip it. */
export interface ReleaseDeps {
  /** A full, compacting garbage collection (compactingGc()). */
  readonly gc: () => void;
  /** malloc_trim(3): 1 when memory was given back; undefined where the C library lacks it. */
  readonly mallocTrim: (pad: number) => number | undefined;
  /** This process's /proc/self/status text, or undefined when unreadable. */
  readonly status: () => string | undefined;
  /** Bytes of V8 heap in use (v8.getHeapStatistics().used_heap_size). */
  readonly heapUsedBytes: () => number;
  /** A monotonic clock in ms (performance.now). */
  readonly nowMs: () => number;
}

export interface Released {
  /**
   * RssAnon before, in KiB (undefined when /proc/self/status is unreadable). Not after: the
   * pages a compaction frees go back to the kernel from V8's unmapper over the next moments, and
   * the evacuation's new pages come first, so RssAnon read at once is sometimes higher than
   * before (17.4 → 23.0 MiB, then 15.4 two seconds later).
   */
  readonly rssAnonBeforeKiB: number | undefined;
  /** V8 heap in use before and after the collection: what it found to be garbage. */
  readonly heapUsedBeforeBytes: number;
  readonly heapUsedAfterBytes: number;
  /** How long the collection and the trim held the thread. */
  readonly gcMs: number;
  readonly trimMs: number;
  /** "released" (malloc_trim gave memory back), "nothing" (it had none), "absent" (no malloc_trim). */
  readonly trim: "released" | "nothing" | "absent";
  readonly note: string;
}

const rssAnonKiB = (status: string | undefined) => (status === undefined ? undefined : parseKbFields(status).RssAnon);
const mib = (kib: number) => (kib / 1024).toFixed(1);

/** Collects, then trims the C heap (the collection frees C memory too: V8's external buffers). */
export function releaseFreedMemory(d: ReleaseDeps): Released {
  const before = rssAnonKiB(d.status());
  const usedBefore = d.heapUsedBytes();
  const t0 = d.nowMs();
  d.gc();
  const t1 = d.nowMs();
  const usedAfter = d.heapUsedBytes();
  const trimmed = d.mallocTrim(0);
  const t2 = d.nowMs();
  const trim = trimmed === undefined ? "absent" : trimmed === 1 ? "released" : "nothing";
  const heap = `V8 heap in use ${mib(usedBefore / 1024)} → ${mib(usedAfter / 1024)} MiB`;
  const rss = before === undefined ? "" : `, RssAnon ${mib(before)} MiB before`;
  const how = `a compacting full GC (${Math.round(t1 - t0)} ms)${trim === "absent" ? "; no malloc_trim in this C library" : `, malloc_trim (${Math.round(t2 - t1)} ms${trim === "nothing" ? ", nothing to give back" : ""})`}`;
  return { rssAnonBeforeKiB: before, heapUsedBeforeBytes: usedBefore, heapUsedAfterBytes: usedAfter, gcMs: t1 - t0, trimMs: t2 - t1, trim, note: `start-up's garbage released: ${heap}${rss} (${how})` };
}

/** Bytes of V8 heap in use (node:v8 required here, when releasing, not at start-up). */
export function heapUsedBytes(): number {
  return (nodeRequire("node:v8") as typeof import("node:v8")).getHeapStatistics().used_heap_size;
}

/**
 * A function that runs one full, compacting collection of this isolate's heap. When the process
 * was started with `--expose-gc` its own gc is used and no flag is touched; likewise a
 * `--compact-on-every-full-gc` given at start is left on.
 */
export function compactingGc(): () => void {
  const v8 = nodeRequire("node:v8") as typeof import("node:v8");
  const vm = nodeRequire("node:vm") as typeof import("node:vm");
  const own = (globalThis as { gc?: unknown }).gc;
  let gc: () => void;
  if (typeof own === "function") gc = own as () => void;
  else {
    v8.setFlagsFromString("--expose-gc");
    try {
      gc = vm.runInNewContext("gc") as () => void;
    } finally {
      v8.setFlagsFromString("--no-expose-gc");
    }
  }
  const compactAlways = process.execArgv.includes("--compact-on-every-full-gc");
  return () => {
    if (compactAlways) return gc();
    v8.setFlagsFromString("--compact-on-every-full-gc");
    try {
      gc();
    } finally {
      v8.setFlagsFromString("--no-compact-on-every-full-gc");
    }
  };
}
