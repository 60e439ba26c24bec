/** Giving start-up's garbage back (src/os/heap-release.ts): the order of the steps, what is said, and the gc taken without leaving it exposed. */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { releaseFreedMemory } from "../../../src/os/heap-release.js";

const HERE = path.dirname(new URL(import.meta.url).pathname);
const HEAP_RELEASE = path.resolve(HERE, "../../../src/os/heap-release.js");
const LIBC = path.resolve(HERE, "../../../src/os/libc.js");
const MIB = 1024 * 1024;
const status = (anonKiB: number) => `Name:\tnode\nVmRSS:\t   60000 kB\nRssAnon:\t   ${anonKiB} kB\nRssFile:\t   44000 kB\n`;

describe("releaseFreedMemory", () => {
  test("collects first, then trims the C heap, and says what the collection found and what RssAnon was before", () => {
    const calls: string[] = [];
    let used = 10.7 * MIB;
    let now = 0;
    const r = releaseFreedMemory({
      gc: () => {
        calls.push("gc");
        used = 8.1 * MIB;
        now += 25;
      },
      mallocTrim: (pad) => {
        calls.push(`trim ${pad}`);
        now += 2;
        return 1;
      },
      status: () => {
        calls.push("status");
        return status(17_613);
      },
      heapUsedBytes: () => {
        calls.push("heap");
        return used;
      },
      nowMs: () => now,
    });
    assert.deepEqual(calls, ["status", "heap", "gc", "heap", "trim 0"]);
    assert.equal(r.rssAnonBeforeKiB, 17_613);
    assert.equal(r.heapUsedBeforeBytes, 10.7 * MIB);
    assert.equal(r.heapUsedAfterBytes, 8.1 * MIB);
    assert.equal(r.gcMs, 25);
    assert.equal(r.trimMs, 2);
    assert.equal(r.trim, "released");
    assert.equal(r.note, "start-up's garbage released: V8 heap in use 10.7 → 8.1 MiB, RssAnon 17.2 MiB before (a compacting full GC (25 ms), malloc_trim (2 ms))");
  });

  test("a C library without malloc_trim, or nothing to trim, and an unreadable status are said as such", () => {
    const absent = releaseFreedMemory({ gc: () => {}, mallocTrim: () => undefined, status: () => undefined, heapUsedBytes: () => MIB, nowMs: () => 0 });
    assert.equal(absent.trim, "absent");
    assert.equal(absent.rssAnonBeforeKiB, undefined);
    assert.doesNotMatch(absent.note, /RssAnon/);
    assert.match(absent.note, /no malloc_trim in this C library/);
    const nothing = releaseFreedMemory({ gc: () => {}, mallocTrim: () => 0, status: () => status(1024), heapUsedBytes: () => MIB, nowMs: () => 0 });
    assert.equal(nothing.trim, "nothing");
    assert.match(nothing.note, /malloc_trim \(0 ms, nothing to give back\)/);
  });
});

describe("compactingGc and malloc_trim, in a fresh node", () => {
  test("the collection runs (an unreachable object's WeakRef is cleared), and no gc is left to this context or to a context made later", () => {
    const script = `
      const vm = await import("node:vm");
      const { compactingGc } = await import(${JSON.stringify(HEAP_RELEASE)});
      const { libc } = await import(${JSON.stringify(LIBC)});
      const make = () => new WeakRef({ big: new Array(1000).fill(1) });
      const ref = make();
      const before = ref.deref() !== undefined;
      // A WeakRef's target is kept until the job that made or read it ends.
      await new Promise((r) => setImmediate(r));
      const gc = compactingGc();
      gc();
      gc();
      console.log(JSON.stringify({
        before,
        cleared: ref.deref() === undefined,
        here: typeof globalThis.gc,
        later: vm.runInNewContext("typeof gc"),
        trim: libc().malloc_trim(0),
      }));
    `;
    const out = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8", timeout: 60_000 });
    assert.equal(out.status, 0, out.stderr);
    const r = JSON.parse(out.stdout) as { before: boolean; cleared: boolean; here: string; later: string; trim: number };
    assert.equal(r.before, true, "the target was alive before the collection");
    assert.equal(r.cleared, true, "the collection ran");
    assert.equal(r.here, "undefined", "the daemon's own context has no gc");
    assert.equal(r.later, "undefined", "a context made afterwards (a policy realm at a reload) has no gc");
    assert.ok(r.trim === 0 || r.trim === 1, `malloc_trim answered ${r.trim}`);
  });

  test("a process started with --expose-gc keeps its own gc, and it is the one used", () => {
    const script = `
      const { compactingGc } = await import(${JSON.stringify(HEAP_RELEASE)});
      let called = 0;
      const own = globalThis.gc;
      globalThis.gc = () => { called++; own(); };
      compactingGc()();
      console.log(JSON.stringify({ called, here: typeof globalThis.gc }));
    `;
    const out = spawnSync(process.execPath, ["--expose-gc", "--input-type=module", "-e", script], { encoding: "utf8", timeout: 60_000 });
    assert.equal(out.status, 0, out.stderr);
    assert.deepEqual(JSON.parse(out.stdout), { called: 1, here: "function" });
  });
});
