/**
 * One suite for the Host contract, run against every implementation: FixtureHost on a built
 * tree and on a committed capture, LinuxHost on this machine (read-only), and SimHost over a
 * small simulated machine.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { OomkitError } from "../../../src/errors.js";
import type { DirEntry, Host, HostCapabilities, ManualClock } from "../../../src/os/host.js";
import { FixtureHost } from "../../../src/os/fixture-host.js";
import { LinuxHost } from "../../../src/os/linux-host.js";
import { buildFixture } from "../../support/fixture.js";
import { SimMachine } from "../../../src/sim/machine.js";
import { SimHost } from "../../../src/sim/sim-host.js";

interface Case {
  readonly name: string;
  readonly make: () => Host;
  /** A folder that exists on this host and holds a file named `knownFile`. */
  readonly knownDir: string;
  readonly knownFile: string;
  /** A file this host may write without harm. */
  readonly writable: () => string;
  readonly capabilities: HostCapabilities;
  /** keepOpen keeps files (rather than reading afresh each time). */
  readonly keepsFiles: boolean;
  /** A symbolic link on this host and its text. */
  readonly knownLink: { readonly path: string; readonly text: string };
}

const fixtureDir = buildFixture({ tasks: [{ pid: 42, comm: "worker", cgroup: "/a", exe: "/usr/bin/worker" }], cgroups: { "/a": { xattrs: { "user.oomd_omit": "1" } } } });
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "oomkit-host-"));

/** A simulated machine with one task that has an executable, in a cgroup with a mark. */
function simHost(): SimHost {
  const m = new SimMachine({ memTotalBytes: 256 * 1024 * 1024 });
  m.addCgroup("/a", { xattrs: { "user.oomd_omit": "1" } });
  m.addTask({ pid: 42, comm: "worker", cgroup: "/a", exe: "/usr/bin/worker", curve: { kind: "steady", bytes: 1 << 20 } });
  return new SimHost(m);
}

const cases: Case[] = [
  {
    name: "FixtureHost (built)",
    make: () => new FixtureHost(fixtureDir),
    knownDir: "/proc",
    knownFile: "meminfo",
    writable: () => "/sys/fs/cgroup/a/cgroup.kill",
    capabilities: { liveProcesses: false, pollableFds: false },
    keepsFiles: false,
    knownLink: { path: "/proc/42/exe", text: "/usr/bin/worker" },
  },
  {
    name: "LinuxHost (this machine, read-only but for a temp file)",
    make: () => new LinuxHost(),
    knownDir: "/proc",
    knownFile: "meminfo",
    writable: () => {
      const f = path.join(tmp, "w");
      fs.writeFileSync(f, "");
      return f;
    },
    capabilities: { liveProcesses: true, pollableFds: true },
    keepsFiles: true,
    // This test process's own executable: a read of /proc/self/exe, nothing else.
    knownLink: { path: "/proc/self/exe", text: fs.realpathSync(process.execPath) },
  },
  {
    name: "SimHost (a simulated machine)",
    make: simHost,
    knownDir: "/proc",
    knownFile: "meminfo",
    // A task's oom_score_adj: written through to the model, read back as the kernel prints it.
    writable: () => "/proc/42/oom_score_adj",
    capabilities: { liveProcesses: false, pollableFds: false },
    keepsFiles: false,
    knownLink: { path: "/proc/42/exe", text: "/usr/bin/worker" },
  },
];

for (const c of cases) {
  describe(`Host conformance: ${c.name}`, () => {
    test("reads a file it has", () => {
      const text = c.make().readFile(`${c.knownDir}/${c.knownFile}`);
      assert.match(text, /MemTotal:/);
    });
    test("a missing file is E_VANISHED, with the errno kept as the cause", () => {
      const h = c.make();
      assert.throws(
        () => h.readFile("/proc/oomkit-no-such-file"),
        (e: unknown) => e instanceof OomkitError && e.code === "E_VANISHED" && (e.cause as { code?: string }).code === "ENOENT",
      );
      assert.throws(() => h.readDir("/proc/oomkit-no-such-dir"), (e: unknown) => e instanceof OomkitError && e.code === "E_VANISHED");
    });
    test("lists a folder with file types", () => {
      const entries = c.make().readDir(c.knownDir);
      const known = entries.find((e) => e.name === c.knownFile);
      assert.ok(known, "the known file is listed");
      assert.equal(known.isDirectory, false);
    });
    test("a listing in parts, where the Host offers one, holds readDir's entries; a missing folder fails as readDir does", () => {
      const h = c.make();
      if (h.openDir === undefined) return; // readDir alone (a simulated machine)
      const whole = h.readDir(c.knownDir);
      const cursor = h.openDir(c.knownDir);
      const got: DirEntry[] = [];
      for (let part = cursor.next(3); part.length > 0; part = cursor.next(3)) {
        assert.ok(part.length <= 3);
        got.push(...part);
      }
      const key = (e: DirEntry) => `${e.name}:${e.isDirectory}`;
      assert.deepEqual(got.map(key).sort(), whole.map(key).sort());
      assert.throws(() => h.openDir?.("/proc/oomkit-no-such-dir"), (e: unknown) => e instanceof OomkitError && e.code === "E_VANISHED");
    });
    test("exists() tells files from nothing", () => {
      const h = c.make();
      assert.equal(h.exists(`${c.knownDir}/${c.knownFile}`), true);
      assert.equal(h.exists("/proc/oomkit-no-such-file"), false);
    });
    test("extended attributes: a map (empty where none), E_VANISHED for a missing path", () => {
      const h = c.make();
      assert.ok(h.readXattrs(c.knownDir) instanceof Map);
      assert.throws(() => h.readXattrs("/proc/oomkit-no-such-file"), (e: unknown) => e instanceof OomkitError && e.code === "E_VANISHED");
    });
    test("reads a link's text without following it; E_VANISHED for nothing, E_HOST_IO for a file that is no link", () => {
      const h = c.make();
      assert.equal(h.readLink(c.knownLink.path), c.knownLink.text);
      assert.throws(() => h.readLink("/proc/oomkit-no-such-file"), (e: unknown) => e instanceof OomkitError && e.code === "E_VANISHED");
      assert.throws(() => h.readLink(`${c.knownDir}/${c.knownFile}`), (e: unknown) => e instanceof OomkitError && e.code === "E_HOST_IO");
    });
    test("facts are sane", () => {
      const f = c.make().facts();
      assert.ok(f.pageSizeBytes >= 4096 && (f.pageSizeBytes & (f.pageSizeBytes - 1)) === 0, "page size is a power of two");
      assert.ok(Number.isInteger(f.selfPid) && f.selfPid > 0);
      assert.ok(Number.isInteger(f.euid));
    });
    test("the clock never goes back", () => {
      const h = c.make();
      const a = h.clock.monotonicMs();
      const b = h.clock.monotonicMs();
      assert.ok(b >= a);
      assert.ok(h.clock.wallMs() > Date.UTC(2020, 0, 1));
    });
    test("writes an existing file; refuses to create one", () => {
      const h = c.make();
      const f = c.writable();
      h.writeFile(f, "1");
      // Kernel files print a value with a newline after it; plain files keep what was written.
      assert.equal(h.readFile(f).trim(), "1");
      assert.throws(() => h.writeFile(`${path.posix.dirname(f)}/oomkit-not-there`, "1"), (e: unknown) => e instanceof OomkitError && e.code === "E_VANISHED");
    });
    test("writes off the event loop too (writeFileAsync); refuses to create a file", async () => {
      const h = c.make();
      const f = c.writable();
      await h.writeFileAsync(f, "2");
      assert.equal(h.readFile(f).trim(), "2");
      await assert.rejects(h.writeFileAsync(`${path.posix.dirname(f)}/oomkit-not-there`, "1"), (e: unknown) => e instanceof OomkitError && e.code === "E_VANISHED");
    });
    test("says what it can do beyond files", () => {
      assert.deepEqual(c.make().capabilities, c.capabilities);
    });
    test("a file kept open (where the host keeps files) still reads what it holds", () => {
      const h = c.make();
      const f = `${c.knownDir}/${c.knownFile}`;
      assert.equal(h.keepOpen(f), c.keepsFiles);
      assert.match(h.readFile(f), /MemTotal:/);
      h.closeKept();
      assert.match(h.readFile(f), /MemTotal:/);
    });
  });
}

describe("FixtureHost specifics", () => {
  test("keeps extended attributes in its sidecar", () => {
    const h = new FixtureHost(fixtureDir);
    assert.equal(h.readXattrs("/sys/fs/cgroup/a").get("user.oomd_omit"), "1");
  });
  test("paths cannot escape the fixture", () => {
    const h = new FixtureHost(fixtureDir);
    // ".." is resolved inside the fixture: this names DIR/etc/passwd, which the fixture lacks.
    assert.ok(fs.existsSync("/etc/passwd"));
    assert.throws(() => h.readFile("/proc/../../etc/passwd"), (e: unknown) => e instanceof OomkitError && e.code === "E_VANISHED");
    assert.throws(() => h.readFile("relative/path"), (e: unknown) => e instanceof OomkitError && e.code === "E_INTERNAL");
    assert.throws(() => h.openDir("/proc/../../etc"), (e: unknown) => e instanceof OomkitError && e.code === "E_VANISHED", "a listing in parts stays inside too");
  });
  test("remembers writes for assertions", async () => {
    const h = new FixtureHost(fixtureDir);
    h.writeFile("/sys/fs/cgroup/a/cgroup.kill", "1");
    await h.writeFileAsync("/sys/fs/cgroup/memory.reclaim", "4096");
    assert.deepEqual(h.writes, [
      { path: "/sys/fs/cgroup/a/cgroup.kill", data: "1" },
      { path: "/sys/fs/cgroup/memory.reclaim", data: "4096" },
    ]);
  });
  test("a missing root is a user error", () => {
    assert.throws(() => new FixtureHost("/nonexistent/oomkit"), (e: unknown) => e instanceof OomkitError && e.code === "E_NO_SUCH_PATH");
  });
  test("a malformed manifest is a clear config error", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "oomkit-bad-"));
    fs.writeFileSync(path.join(dir, "oomkit-fixture.json"), JSON.stringify({ version: 1, facts: { pageSizeBytes: "big" } }));
    assert.throws(() => new FixtureHost(dir), (e: unknown) => e instanceof OomkitError && e.code === "E_CONFIG" && /facts\.pageSizeBytes/.test(e.message));
    fs.writeFileSync(path.join(dir, "oomkit-fixture.json"), "{not json");
    assert.throws(() => new FixtureHost(dir), (e: unknown) => e instanceof OomkitError && e.code === "E_CONFIG");
  });
});

describe("LinuxHost specifics", () => {
  test("a file kept open reads fresh content each time, and a vanished one is E_VANISHED", () => {
    const h = new LinuxHost();
    const f = path.join(tmp, "kept");
    fs.writeFileSync(f, "one\n");
    h.keepOpen(f);
    assert.equal(h.readFile(f), "one\n");
    fs.writeFileSync(f, "two, longer\n");
    assert.equal(h.readFile(f), "two, longer\n");
    h.keepOpen("/proc/meminfo");
    assert.match(h.readFile("/proc/meminfo"), /^MemTotal:/);
    assert.match(h.readFile("/proc/meminfo"), /^MemTotal:/);
    h.closeKept();
    assert.equal(h.readFile(f), "two, longer\n", "reads still work after closing");
  });
});

describe("SimHost specifics", () => {
  test("marks are the cgroup's extended attributes; the folder's owner is the cgroup's", () => {
    const h = simHost();
    assert.equal(h.readXattrs("/sys/fs/cgroup/a").get("user.oomd_omit"), "1");
    assert.equal(h.readXattrs("/sys/fs/cgroup").size, 0);
    assert.equal(h.stat("/sys/fs/cgroup/a").isDirectory, true);
  });
  test("its clock drives the machine: a read after the clock moved sees the machine then", () => {
    const h = simHost();
    (h.clock as ManualClock).advance(2000);
    assert.equal(h.machine.nowMs, 0, "nothing read yet");
    h.readFile("/proc/meminfo");
    assert.equal(h.machine.nowMs, 2000);
  });
  test("writes act on the model; bad values are EINVAL and change nothing", () => {
    const h = simHost();
    h.writeFile("/sys/fs/cgroup/a/memory.high", "1048576\n");
    assert.equal(h.readFile("/sys/fs/cgroup/a/memory.high"), "1048576\n");
    assert.throws(() => h.writeFile("/sys/fs/cgroup/a/memory.high", "lots"), (e: unknown) => e instanceof OomkitError && e.code === "E_HOST_IO" && (e.cause as { code?: string }).code === "EINVAL");
    assert.equal(h.readFile("/sys/fs/cgroup/a/memory.high"), "1048576\n");
    assert.throws(() => h.writeFile("/proc/meminfo", "1"), (e: unknown) => e instanceof OomkitError && e.code === "E_PERMISSION");
    assert.throws(() => h.writeFile("/sys/fs/cgroup/a/memory.reclaim", String(1 << 30)), (e: unknown) => e instanceof OomkitError && (e.cause as { code?: string }).code === "EAGAIN", "reclaimed less than asked");
    h.machine.addCgroup("/b");
    h.writeFile("/sys/fs/cgroup/b/cgroup.procs", "42\n");
    assert.equal(h.readFile("/proc/42/cgroup"), "0::/b\n");
    assert.equal(h.readFile("/sys/fs/cgroup/a/cgroup.procs"), "");
    h.writeFile("/sys/fs/cgroup/b/cgroup.procs", "42\n");
    h.writeFile("/sys/fs/cgroup/a/cgroup.procs", "42\n");
    h.writeFile("/sys/fs/cgroup/a/cgroup.kill", "1");
    h.advance(1000);
    assert.equal(h.exists("/proc/42"), false, "the killed task left once its memory came back");
    assert.equal(h.readFile("/sys/fs/cgroup/a/cgroup.events"), "populated 0\nfrozen 0\n");
  });
});
