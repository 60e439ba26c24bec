/** Guard bands and their state file, read back as the hostile input it may be. */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { GuardBands } from "../../../src/daemon/guard-band.js";
import { MemoryLogger } from "../../../src/log.js";
import { FixtureHost } from "../../../src/os/fixture-host.js";
import { cgroupPath } from "../../../src/os/paths.js";
import { buildFixture } from "../../support/fixture.js";

const MB = 1024 * 1024;

function setup(state: unknown, opts: { dryRun?: boolean; raw?: string } = {}) {
  const dir = buildFixture({ cgroups: { "/jobs": { max: 200 * MB, high: "max" } } });
  const host = new FixtureHost(dir);
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), "oomkit-gb-"));
  const stateFile = path.join(stateDir, "guard-bands.json");
  fs.writeFileSync(stateFile, opts.raw ?? JSON.stringify(state), { mode: 0o600 });
  const log = new MemoryLogger();
  const bands = new GuardBands({ host, mount: "/sys/fs/cgroup", stateFile, log, dryRun: opts.dryRun ?? false });
  return { dir, host, stateFile, log, bands };
}

test("a state file naming paths outside the cgroup tree is refused whole: nothing is written", async () => {
  for (const key of ["/../../../etc", "/jobs/../../etc", "../x", "/jobs/./x", "//jobs", "/", "/jobs\u0000"]) {
    const t = setup({ version: 1, memoryHigh: { [key]: "max", "/jobs": "max" } });
    fs.mkdirSync(path.join(t.dir, "etc"), { recursive: true });
    assert.deepEqual(await t.bands.recover(), [], key);
    assert.deepEqual(t.host.writes, [], `${key}: no write at all`);
    assert.match(t.log.lines.join("\n"), /does not hold valid state \(memoryHigh\./, key);
  }
});

test("a value that is not memory.high text is refused", async () => {
  const t = setup({ version: 1, memoryHigh: { "/jobs": "1 2>/etc/x" } });
  assert.deepEqual(await t.bands.recover(), []);
  assert.deepEqual(t.host.writes, []);
});

test("a valid state file is restored", async () => {
  const t = setup({ version: 1, memoryHigh: { "/jobs": "max" } });
  assert.deepEqual(await t.bands.recover(), [cgroupPath("/jobs")]);
  assert.deepEqual(t.host.writes, [{ path: "/sys/fs/cgroup/jobs/memory.high", data: "max" }]);
  assert.deepEqual(JSON.parse(fs.readFileSync(t.stateFile, "utf8")), { version: 1, memoryHigh: {} });
});

test("dry-run restores nothing and writes no state, it says what it would do", async () => {
  const t = setup({ version: 1, memoryHigh: { "/jobs": "max" } }, { dryRun: true });
  const before = fs.readFileSync(t.stateFile, "utf8");
  assert.deepEqual(await t.bands.recover(), []);
  assert.deepEqual(t.host.writes, []);
  assert.equal(fs.readFileSync(t.stateFile, "utf8"), before, "the state file is left for the real run");
  assert.match(t.log.lines.join("\n"), /dry-run, not restored/);
  await t.bands.apply(cgroupPath("/jobs"), { bytes: 10 * MB });
  assert.deepEqual(t.host.writes, []);
  assert.equal(fs.readFileSync(t.stateFile, "utf8"), before);
});

test("a state file that is a folder, a symlink, not JSON, or writable by others is ignored with a warning, never fatal", async () => {
  const folder = setup({});
  fs.rmSync(folder.stateFile);
  fs.mkdirSync(folder.stateFile);
  assert.deepEqual(await folder.bands.recover(), []);
  assert.match(folder.log.lines.join("\n"), /is not a regular file/);

  const link = setup({});
  const elsewhere = path.join(path.dirname(link.stateFile), "elsewhere.json");
  fs.writeFileSync(elsewhere, JSON.stringify({ version: 1, memoryHigh: { "/jobs": "max" } }));
  fs.rmSync(link.stateFile);
  fs.symlinkSync(elsewhere, link.stateFile);
  assert.deepEqual(await link.bands.recover(), []);
  assert.match(link.log.lines.join("\n"), /is a symlink/);
  assert.deepEqual(link.host.writes, []);

  const garbage = setup(undefined, { raw: "{not json" });
  assert.deepEqual(await garbage.bands.recover(), []);
  assert.match(garbage.log.lines.join("\n"), /cannot be read as JSON/);

  const open = setup({ version: 1, memoryHigh: { "/jobs": "max" } });
  fs.chmodSync(open.stateFile, 0o666);
  assert.deepEqual(await open.bands.recover(), []);
  assert.match(open.log.lines.join("\n"), /writable by others/);
});

test("a guard band raised by someone else (systemd's daemon-reload writes MemoryHigh=) is set again, and their value is the one restored", async () => {
  const t = setup({ version: 1, memoryHigh: {} });
  const jobs = cgroupPath("/jobs");
  const high = t.host.local("/sys/fs/cgroup/jobs/memory.high");
  const margin = { bytes: 10 * MB };
  await t.bands.apply(jobs, margin);
  assert.equal(fs.readFileSync(high, "utf8"), String(190 * MB));
  assert.equal(await t.bands.reassert(jobs, margin), false, "in place: nothing to do");

  fs.writeFileSync(high, "max\n");
  assert.equal(await t.bands.reassert(jobs, margin), true);
  assert.equal(fs.readFileSync(high, "utf8"), String(190 * MB));
  assert.match(t.log.lines.join("\n"), /memory\.high on \/jobs was raised to max by someone else.*set to 199229440 again/);

  // An admin's own higher value (still above the band) is what the cgroup has without oomkit now.
  fs.writeFileSync(high, String(195 * MB));
  assert.equal(await t.bands.reassert(jobs, margin), true);
  assert.deepEqual(JSON.parse(fs.readFileSync(t.stateFile, "utf8")), { version: 1, memoryHigh: { "/jobs": String(195 * MB) } });
  // A value at or below the band is theirs to keep.
  fs.writeFileSync(high, String(100 * MB));
  assert.equal(await t.bands.reassert(jobs, margin), false);
  assert.equal(fs.readFileSync(high, "utf8"), String(100 * MB));

  await t.bands.restoreAll();
  assert.equal(fs.readFileSync(high, "utf8"), String(195 * MB));
});

test("dry-run never sets a raised guard band again", async () => {
  const t = setup({ version: 1, memoryHigh: {} }, { dryRun: true });
  assert.equal(await t.bands.reassert(cgroupPath("/jobs"), { bytes: 10 * MB }), false);
  assert.deepEqual(t.host.writes, []);
});
