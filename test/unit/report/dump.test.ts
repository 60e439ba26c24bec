import { test } from "node:test";
import assert from "node:assert/strict";
import { takeSnapshot } from "../../../src/engine/snapshot.js";
import { FixtureHost } from "../../../src/os/fixture-host.js";
import { dumpSnapshot } from "../../../src/report/dump.js";
import { buildFixture } from "../../support/fixture.js";
import { FaultyHost } from "../../support/faulty-host.js";

test("a task whose files could not be read says so: its -1000 is not the kernel's", () => {
  const dir = buildFixture({
    tasks: [
      { pid: 10, comm: "a", rssAnonKb: 400_000 },
      { pid: 11, comm: "b", rssAnonKb: 200_000 },
    ],
  });
  const d = dumpSnapshot(takeSnapshot(new FaultyHost(new FixtureHost(dir)).fail("/proc/10/oom_score_adj", "EIO")));
  const a = d.tasks.find((t) => t.pid === 10);
  assert.equal(a?.oomScoreAdj, -1000);
  assert.equal(a?.unreadable, "oom_score_adj unreadable: EIO");
  assert.equal("unreadable" in (d.tasks.find((t) => t.pid === 11) ?? {}), false);
});
