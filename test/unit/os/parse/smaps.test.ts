import { test } from "node:test";
import assert from "node:assert/strict";

import { NODE_SMAPS } from "../../../support/smaps.js";
import { entryBytes, isExecutableFileMapping, lockedResidentBytes, parseKbFields, parseSmaps, sumKbBytes } from "../../../../src/os/parse/smaps.js";

test("parseSmaps: ranges, permissions, inode, path, kB figures and VmFlags of each entry", () => {
  const e = parseSmaps(`${NODE_SMAPS}\n`);
  assert.equal(e.length, 10);
  const text = e[1]!;
  assert.equal(text.start, 0x556aa0400000n);
  assert.equal(text.perms, "r-xp");
  assert.equal(text.inode, 260638);
  assert.equal(text.path, "/usr/bin/node");
  assert.equal(text.kb.Rss, 20856);
  assert.equal(text.kb.Locked, 2000);
  assert.deepEqual(text.flags, ["rd", "ex", "mr", "mw", "me", "lo", "lf"]);
  assert.equal(entryBytes(text), 0x1c00000);
  assert.equal(e[4]!.path, "", "an anonymous mapping has no path");
  assert.equal(e[3]!.path, "[heap]");
});

test("parseSmaps: maps text (headers only), a path with spaces, a truncated tail and garbage are taken in stride", () => {
  const maps = "7f00-8f00 r-xp 00000000 fe:00 12 /opt/my app/lib x.so\nnot a header\n9000-a000 rw-p 00000000 00:00 0 \n";
  const e = parseSmaps(maps);
  assert.deepEqual(e.map((x) => [x.path, x.flags.length, Object.keys(x.kb).length]), [["/opt/my app/lib x.so", 0, 0], ["", 0, 0]]);
  const truncated = parseSmaps(`${NODE_SMAPS.slice(0, NODE_SMAPS.indexOf("Locked:", NODE_SMAPS.indexOf("Locked:") + 1))}Lock`);
  assert.equal(truncated.length, 2, "the half-read second entry is kept with what was read");
  assert.equal(truncated[1]!.kb.Rss, 20856);
  assert.equal(truncated[1]!.kb.Locked, undefined);
  assert.deepEqual(parseSmaps("ffff-0000 r-xp 00000000 fe:00 1 /backwards\nRss: 4 kB\n"), [], "an empty or backwards range is no mapping");
  assert.deepEqual(parseSmaps(""), []);
});

test("parseKbFields: the kB lines of smaps_rollup and status, first value kept, others ignored", () => {
  const rollup = "00400000-7ffe092aa000 ---p 00000000 00:00 0   [rollup]\nRss:  94520 kB\nLocked:  2609 kB\nLocked: 1 kB\nName:\tnode\nThreads:\t11\nVmLck:\t   32384 kB\n";
  const f = parseKbFields(rollup);
  assert.equal(f.Rss, 94520);
  assert.equal(f.Locked, 2609);
  assert.equal(f.VmLck, 32384);
  assert.equal(f.Threads, undefined);
  assert.equal(Object.getPrototypeOf(f), null, "no inherited keys (toString is not a figure)");
  assert.equal(f.toString, undefined);
});

test("isExecutableFileMapping: executable, file-backed, not writable, not deleted; never anonymous memory or [vdso]", () => {
  const picked = parseSmaps(NODE_SMAPS).filter(isExecutableFileMapping).map((e) => e.path);
  assert.deepEqual(picked, ["/usr/bin/node", "/usr/lib/x86_64-linux-gnu/libc.so.6", "/work/node_modules/koffi/build/koffi/linux_x64/koffi.node"]);
});

test("lockedResidentBytes sums Rss of the locked (lo) mappings; sumKbBytes sums smaps' proportional Locked", () => {
  const e = parseSmaps(NODE_SMAPS);
  assert.equal(lockedResidentBytes(NODE_SMAPS), (20856 + 1048) * 1024);
  assert.equal(lockedResidentBytes(NODE_SMAPS.replace(/ lo lf/g, " lf")), 0, "lf alone (a lock undone) is not locked");
  assert.equal(lockedResidentBytes("Rss: 8 kB\nVmFlags: rd lo\nRss: 4 kB\nVmFlags: rd ex lock\n"), 8 * 1024, "a flag is two letters; the last on its line counts");
  assert.equal(sumKbBytes(e, "Locked"), (2000 + 300) * 1024);
});
