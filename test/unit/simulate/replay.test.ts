/** `oomkit replay`: the daemon along the shipped recorded timeline, in the recording's time, acting on nothing. */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { EXIT, defaultMakeHost, runCli } from "../../../src/cli/cli.js";
import { loadEngineSetup } from "../../../src/cli/setup.js";
import { replayTimeline } from "../../../src/simulate/replay.js";
import { Timeline } from "../../../src/timeline/index.js";

const LEAK = fileURLToPath(new URL("../../../../samples/timelines/leak", import.meta.url));
/** The recorded jobs cgroup (its name carries the recording run's pid): the one holding leak/. */
function jobsCgroup(): string {
  let last;
  for (const f of Timeline.open(LEAK).frames()) last = f;
  const leak = [...(last?.host.state.files.keys() ?? [])].find((p) => /\/jobs\/leak\/memory\.events$/.test(p));
  assert.ok(leak, "the sample timeline records a jobs/leak cgroup");
  return leak.slice("/sys/fs/cgroup".length, -"/leak/memory.events".length);
}
const JOBS = jobsCgroup();

function config(text: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "oomkit-replay-"));
  const p = path.join(dir, "c.toml");
  fs.writeFileSync(p, text);
  return p;
}
const MAX_TRIGGER = config(`[[trigger]]\nname = "jobs-max"\ncgroup = "${JOBS}"\nmemory_events = ["max"]\n`);

describe("replayTimeline", () => {
  test("a memory.events trigger on the recorded cgroup fires when its counter rose, and the leak is chosen, in a dry run", async () => {
    const r = await replayTimeline(LEAK, loadEngineSetup(MAX_TRIGGER, { enforceOwnership: false, warn: () => {} }));
    const first = r.episodes[0];
    assert.ok(first, "an episode");
    assert.equal(first.record.mode, "dry-run");
    assert.equal(first.record.cause.trigger, "jobs-max");
    const kill = first.record.plan[0];
    assert.equal(kill?.kind, "kill-task");
    assert.equal(kill?.kind === "kill-task" ? kill.cgroup : undefined, `${JOBS}/leak`);
    // Not before the first frame whose memory.events shows a "max" event.
    const t = Timeline.open(LEAK);
    let rose: number | undefined;
    for (const f of t.frames()) {
      if (rose === undefined && /^max [1-9]/m.test(f.host.readFile(`/sys/fs/cgroup${JOBS}/memory.events`))) rose = f.atMs;
    }
    assert.ok(rose !== undefined && first.atMs >= rose, `episode at ${first.atMs} ms, max rose in the frame at ${rose} ms`);
    assert.equal(r.frames, t.length);
  });

  test("the built-in default's machine-wide triggers see nothing to act on in this recording", async () => {
    const r = await replayTimeline(LEAK, loadEngineSetup(undefined, { enforceOwnership: false, warn: () => {} }));
    assert.equal(r.episodes.length, 0);
  });
});

describe("oomkit replay", () => {
  async function cli(argv: string[]) {
    let stdout = "";
    let stderr = "";
    const code = await runCli({ argv, stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), makeHost: defaultMakeHost() });
    return { code, stdout, stderr };
  }
  test("prints each episode with its time in the recording; --json one object a line", async () => {
    const r = await cli(["replay", LEAK, "--config", MAX_TRIGGER]);
    assert.equal(r.code, EXIT.ok, r.stderr);
    assert.match(r.stdout, /^\+\d+\.\d\d s oomkit ep-\S+: oom_policy=kernel kind=cgroup .*cause=jobs-max mode=dry-run: would kill/m);
    const j = await cli(["replay", LEAK, "--config", MAX_TRIGGER, "--json"]);
    const line = JSON.parse(j.stdout.split("\n")[0] ?? "") as { atMs: number; record: { schema: string } };
    assert.equal(line.record.schema, "oomkit.episode/1");
  });
  test("a folder without a timeline exits 3; no folder is a usage error", async () => {
    assert.equal((await cli(["replay", os.tmpdir()])).code, EXIT.path);
    assert.equal((await cli(["replay"])).code, EXIT.usage);
  });
});
