/** `oomkit record --timeline` and `oomkit check --root TIMELINE`. */
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { EXIT, defaultMakeHost, runCli } from "../../../src/cli/cli.js";
import type { CheckResult } from "../../../src/cli/check.js";
import { parseDurationMs } from "../../../src/cli/duration.js";
import { Timeline } from "../../../src/timeline/index.js";
import { writeMachine, writeTimeline, type MachineSpec } from "../../../src/testing/index.js";

async function cli(argv: string[]) {
  let stdout = "";
  let stderr = "";
  const code = await runCli({ argv, stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), makeHost: defaultMakeHost() });
  return { code, stdout, stderr };
}

const MiB = 1024 * 1024;
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "oomkit-cli-timeline-"));
after(() => fs.rmSync(scratch, { recursive: true, force: true }));

const jobs = (a: number, extra: Record<string, { current: number }> = {}): MachineSpec => ({
  memory: "1G",
  cgroups: { "/jobs": { pressure: { someTotalUsec: a * 1000 } }, "/jobs/a": { current: a * MiB }, "/jobs/b": { current: 50 * MiB }, ...extra },
  tasks: [
    { pid: 20, comm: "a", cgroup: "/jobs/a", rss: a * MiB },
    { pid: 21, comm: "b", cgroup: "/jobs/b", rss: 50 * MiB },
  ],
});

describe("oomkit record --timeline", () => {
  test("--root FIXTURE: a frame per interval, each the recorded machine", async () => {
    const fixture = writeMachine(jobs(100));
    const dir = path.join(scratch, "rec");
    const r = await cli(["record", "--timeline", dir, "--every", "500ms", "--for", "2s", "--root", fixture, "--cgroup", "/jobs"]);
    assert.equal(r.code, EXIT.ok, r.stderr);
    assert.match(r.stdout, /^recorded 5 frames \(\d+ bytes\) into /);
    const t = Timeline.open(dir);
    assert.deepEqual(t.times, [0, 500, 1000, 1500, 2000]);
    assert.equal(t.manifest.everyMs, 500);
    assert.deepEqual(t.readFrameData(3), {}, "a fixture does not change: later frames are empty deltas");
    const frames = [...t.frames()];
    assert.equal(frames[4]?.host.readFile("/sys/fs/cgroup/jobs/a/memory.current"), `${100 * MiB}\n`);
    fs.rmSync(fixture, { recursive: true, force: true });
  });

  test("refuses what it cannot do, and loses nothing", async () => {
    const full = path.join(scratch, "full");
    fs.mkdirSync(full);
    fs.writeFileSync(path.join(full, "keep"), "mine");
    const fixture = writeMachine(jobs(1));
    const cases: [string[], number, RegExp][] = [
      [["record", "--timeline", full, "--every", "1s", "--for", "1s", "--root", fixture], EXIT.usage, /is not empty/],
      [["record", "--timeline", path.join(scratch, "x"), "--for", "1s"], EXIT.usage, /--timeline needs --every D and --for D/],
      [["record", "--timeline", path.join(scratch, "x"), "--every", "soon", "--for", "1s"], EXIT.usage, /--every must be a duration/],
      [["record", "--timeline", path.join(scratch, "x"), "--every", "1ms", "--for", "1s"], EXIT.usage, /at least 10 ms/],
      [["record", "--timeline", path.join(scratch, "x"), "--fixture", path.join(scratch, "y"), "--every", "1s", "--for", "1s"], EXIT.usage, /one of --fixture DIR or --timeline DIR, not both/],
      [["record"], EXIT.usage, /--fixture DIR is required, or --timeline DIR/],
    ];
    for (const [argv, code, message] of cases) {
      const r = await cli(argv);
      assert.equal(r.code, code, `${argv.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, message);
    }
    assert.deepEqual(fs.readdirSync(full), ["keep"]);
    assert.equal(fs.existsSync(path.join(scratch, "x")), false);
    fs.rmSync(fixture, { recursive: true, force: true });
  });

  test("durations", () => {
    assert.deepEqual(["500ms", "1s", "1.5s", "2m", "1h", "3"].map((d) => parseDurationMs("--every", d, 0)), [500, 1000, 1500, 120_000, 3_600_000, 3000]);
    for (const d of ["", "-1s", "1d", "1 s s", "8d"]) assert.throws(() => parseDurationMs("--for", d, 0), /--for must be a duration/);
  });
});

describe("oomkit check --root TIMELINE", () => {
  const policy = (name: string, body: string): string => {
    const p = path.join(scratch, `${name}.ts`);
    fs.writeFileSync(p, `import { definePolicy } from "oomkit/policy";\nexport default definePolicy({\n  name: "${name}",\n${body}\n});\n`, { mode: 0o644 });
    return p;
  };
  const config = (name: string, policyFile: string, extra = ""): string => {
    const p = path.join(scratch, `${name}.toml`);
    // A generous deadline: a realm's first calls can run past the default 250 ms on a loaded machine.
    fs.writeFileSync(p, `policy_deadline_ms = 5000\n\n[[attach]]\ncgroup = "/jobs"\nfile = "${policyFile}"\n\n[[trigger]]\ncgroup = "/jobs"\npsi = { stall = "some", threshold_ms = 150, window_ms = 2000 }\n${extra}`, { mode: 0o644 });
    return p;
  };
  const timeline = writeTimeline([
    { atMs: 0, machine: jobs(100) },
    { atMs: 1000, machine: jobs(150) },
    { atMs: 2000, machine: jobs(400, { "/jobs/c": { current: MiB } }) },
    { atMs: 3000, machine: jobs(410) },
  ]);
  after(() => fs.rmSync(timeline, { recursive: true, force: true }));

  test("a rate policy over every frame: its decision as it changes, psi events to handlePressure, hooks", async () => {
    const file = policy(
      "fast-growth",
      `  handleOutOfMemory(oc) {
    const a = oc.snapshot.cgroup("/jobs/a");
    const rate = a ? oc.rates(a).growthBytesPerSec : undefined;
    return a && rate !== undefined && rate > 0 ? oc.killCgroup(a, "grows") : oc.pass("no rate yet");
  },
  handlePressure(event, pc) { pc.declareOom(event.cgroup, "stall"); },
  handleCgroupOnline() {},
  handleCgroupOffline() {},`,
    );
    const r = await cli(["check", "--config", config("fast-growth", file), "--root", timeline, "--json"]);
    assert.equal(r.code, EXIT.ok, r.stderr + r.stdout);
    const result = JSON.parse(r.stdout) as CheckResult;
    assert.equal(result.valid, true);
    assert.deepEqual(
      { frames: result.timeline?.frames, durationMs: result.timeline?.durationMs, hookCalls: result.timeline?.hookCalls, pressureEvents: result.timeline?.pressureEvents, declared: result.timeline?.declared },
      // Hooks: /jobs/c online (frame 2) and offline (frame 3), and one handlePressure: /jobs's stall
      // grew 250 ms in the second from frame 1 to 2, over 150 ms per 2 s; 50 and 10 ms do not.
      { frames: 4, durationMs: 3000, hookCalls: 3, pressureEvents: 1, declared: 1 },
    );
    const jobsRun = result.runs?.find((x) => x.scope === "/jobs");
    assert.ok(jobsRun && "changes" in jobsRun);
    assert.deepEqual(jobsRun.changes.map((c) => [c.frame, c.decidedBy]), [[0, "kernel"], [1, "fast-growth"]]);
    const text = await cli(["check", "--config", config("fast-growth", file), "--root", timeline]);
    assert.match(text.stdout, /over the timeline: 4 frames in 3\.0 s \(nothing carried out\); 3 hook calls, 1 psi events, 1 OOMs declared by handlePressure/);
    assert.match(text.stdout, /from frame 1 +\( +1\.0 s\) fast-growth: kill cgroup \/jobs\/a/);
  });

  test("a fault in one frame, or in a hook, fails the check and says which frame", async () => {
    const file = policy(
      "fragile",
      `  handleOutOfMemory(oc) {
    if (oc.snapshot.cgroup("/jobs/c")) throw new Error("did not expect /jobs/c");
    return oc.pass("fine");
  },
  handleCgroupOffline(path) { throw new Error("cannot forget " + path); },`,
    );
    const r = await cli(["check", "--config", config("fragile", file), "--root", timeline]);
    assert.equal(r.code, EXIT.config, r.stdout);
    assert.match(r.stderr, /error: an OOM in \/jobs: frame 2 \(2\.0 s\): policy fragile \(attached to \/jobs\) threw: .*did not expect \/jobs\/c/);
    assert.match(r.stderr, /error: frame 3 \(3\.0 s\): .*handleCgroupOffline.*cannot forget \/jobs\/c/);
    assert.match(r.stderr, /polic(y|ies) faults? on the timeline/);
  });

  test("commands that take one instant refuse a timeline with a pointer to check", async () => {
    for (const argv of [["explain", "--root", timeline], ["dump", "--root", timeline]]) {
      const r = await cli(argv);
      assert.equal(r.code, EXIT.usage, argv.join(" "));
      assert.match(r.stderr, /is a timeline, not a fixture: oomkit check --root plays it/);
    }
  });

  test("a timeline that fails its checks is refused with exit 4; a missing one with 3", async () => {
    const file = policy("plain", `  handleOutOfMemory(oc) { return oc.pass("x"); },`);
    const bad = path.join(scratch, "bad-timeline");
    fs.mkdirSync(path.join(bad, "frames"), { recursive: true });
    fs.writeFileSync(path.join(bad, "oomkit-timeline.json"), JSON.stringify({ format: "oomkit-timeline", version: 9, everyMs: 1, frames: [{ atMs: 0 }] }));
    const r = await cli(["check", "--config", config("plain", file), "--root", bad]);
    assert.equal(r.code, EXIT.config);
    assert.match(r.stderr, /version 9; this oomkit reads version 1/);
    fs.writeFileSync(path.join(bad, "oomkit-timeline.json"), JSON.stringify({ format: "oomkit-timeline", version: 1, everyMs: 1, frames: [{ atMs: 0 }] }));
    fs.rmSync(path.join(bad, "frames"), { recursive: true });
    assert.equal((await cli(["check", "--config", config("plain", file), "--root", bad])).code, EXIT.path);
  });
});
