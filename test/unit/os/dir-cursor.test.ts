import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { folderCursor } from "../../../src/os/dir-cursor.js";
import { FixtureHost } from "../../../src/os/fixture-host.js";
import { HostDecorator } from "../../../src/os/host-decorator.js";
import type { DirCursor, DirEntry } from "../../../src/os/host.js";
import { OomkitError } from "../../../src/errors.js";
import { buildFixture } from "../../support/fixture.js";

/** Every part of a listing, `max` at a time, until the empty part that ends it. */
function parts(c: DirCursor, max: number): DirEntry[][] {
  const out: DirEntry[][] = [];
  for (let p = c.next(max); p.length > 0; p = c.next(max)) out.push(p);
  return out;
}

/** A listing's entries in one order (a listing in parts comes in the folder's order, readDir's sorted by name). */
const byName = (es: readonly DirEntry[]) => [...es].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

/** A fixture machine whose /proc holds 1,300 process folders and a file. */
function crowded(): string {
  const dir = buildFixture({ tasks: [{ pid: 1, comm: "init", cgroup: "/" }] });
  for (let pid = 100; pid < 1_400; pid++) fs.mkdirSync(path.join(dir, "proc", String(pid)), { recursive: true });
  fs.writeFileSync(path.join(dir, "proc/meminfo"), "MemTotal: 1 kB\n");
  return dir;
}

describe("listings in parts (os/dir-cursor.ts, Host.openDir)", () => {
  test("a folder listed in parts gives readDir's entries, then an empty part, and nothing after", () => {
    const host = new FixtureHost(crowded());
    const whole = host.readDir("/proc");
    const c = host.openDir("/proc");
    const got = parts(c, 512);
    assert.deepEqual(got.map((p) => p.length).slice(0, -1), got.slice(0, -1).map(() => 512), "full parts but the last");
    assert.deepEqual(byName(got.flat()), byName(whole));
    assert.deepEqual(c.next(512), [], "an ended listing stays ended");
    c.close();
  });

  test("a folder that is not there fails as readDir does, named by the machine's path; closing early ends the listing", () => {
    const host = new FixtureHost(crowded());
    assert.throws(
      () => host.openDir("/proc/nothing-here"),
      (e: unknown) => e instanceof OomkitError && e.code === "E_VANISHED" && e.message.includes("/proc/nothing-here") && !e.message.includes("oomkit-fx"),
    );
    assert.throws(() => host.readDir("/proc/nothing-here"), (e: unknown) => e instanceof OomkitError && e.code === "E_VANISHED");
    const c = folderCursor(path.join(crowded(), "proc"));
    assert.equal(c.next(10).length, 10);
    c.close();
    c.close();
    assert.deepEqual(c.next(10), []);
  });

  test("a decorator passes parts through, unless it or one below it watches listings", () => {
    let opened = 0;
    class Spy extends FixtureHost {
      override openDir(p: string): DirCursor {
        opened++;
        return super.openDir(p);
      }
    }
    const inner = new Spy(crowded());
    const whole = inner.readDir("/proc");
    class Plain extends HostDecorator {}
    const open = new Plain(inner).openDir;
    assert.ok(open !== undefined, "a plain decorator over a Host that lists in parts offers them");
    assert.deepEqual(byName(parts(open("/proc"), 512).flat()), byName(whole));
    assert.equal(opened, 1, "the Host below listed it in parts");
    let watched = 0;
    class Watching extends HostDecorator {
      override readDir(p: string): DirEntry[] {
        watched++;
        return super.readDir(p);
      }
    }
    assert.equal(new Watching(inner).openDir, undefined, "a decorator that watches listings offers no parts");
    assert.equal(new Plain(new Watching(inner)).openDir, undefined, "nor does one above it");
    assert.deepEqual(new Plain(new Watching(inner)).readDir("/proc"), whole);
    assert.equal(watched, 1);
    assert.equal(opened, 1);
  });
});
