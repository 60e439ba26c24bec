import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as v8 from "node:v8";
import * as vm from "node:vm";
import { loadPolicyFile } from "../../../src/policy/loader.js";
import { OomkitError } from "../../../src/errors.js";
import { Engine } from "../../../src/engine/engine.js";
import { takeSnapshot } from "../../../src/engine/snapshot.js";
import { FixtureHost } from "../../../src/os/fixture-host.js";
import { cgroupPath } from "../../../src/os/paths.js";
import { kernelPolicy } from "../../../src/policy/kernel.js";
import { buildFixture } from "../../support/fixture.js";
import * as face from "../../../src/policy/face.js";
import * as publicApi from "../../../src/index.js";
import { FACE_RUNTIME } from "../../support/face-names.js";

function policyDir(files: Record<string, string>, mode = 0o755): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "oomkit-pol-"));
  fs.chmodSync(dir, mode);
  for (const [name, text] of Object.entries(files)) {
    fs.writeFileSync(path.join(dir, name), text);
    fs.chmodSync(path.join(dir, name), 0o644);
  }
  return dir;
}

const strict = { enforceOwnership: true, warn: () => {} };

const BATCH_FIRST = `
import { definePolicy, type OomControl } from "oomkit";
import { largestBy } from "./util";

interface Options { readonly marker: string }

export default definePolicy<Options>({
  name: "batch-first",
  parseOptions: (raw) => ({ marker: (raw as { marker?: string }).marker ?? "/batch/" }),
  handleOutOfMemory(oc: OomControl<Options>) {
    const batch = oc.leafCgroups().filter((c) => c.path.includes(oc.options.marker));
    const victim = largestBy(batch, (c) => c.memory.currentBytes ?? 0);
    return victim ? oc.killCgroup(victim, "batch work goes first") : oc.pass("no batch work here");
  },
});
`;
const UTIL = `export function largestBy<T>(xs: readonly T[], f: (x: T) => number): T | undefined {
  let best: T | undefined; let bestV = -Infinity;
  for (const x of xs) { const v = f(x); if (v > bestV) { best = x; bestV = v; } }
  return best;
}
`;

describe("policy files", () => {
  test("a TypeScript policy importing oomkit and a file beside it loads and decides", async () => {
    const dir = policyDir({ "batch-first.ts": BATCH_FIRST, "util.ts": UTIL });
    const policy = loadPolicyFile(path.join(dir, "batch-first.ts"), strict);
    assert.equal(policy.name, "batch-first");
    const snap = takeSnapshot(
      new FixtureHost(
        buildFixture({
          cgroups: { "/batch": {}, "/batch/a": { current: 10 }, "/batch/b": { current: 20 }, "/web": { current: 99 } },
          tasks: [{ pid: 7, comm: "a", cgroup: "/batch/a" }, { pid: 8, comm: "b", cgroup: "/batch/b" }, { pid: 9, comm: "w", cgroup: "/web" }],
        }),
      ),
    );
    const engine = new Engine({ attachments: [{ cgroup: cgroupPath("/"), policy, options: policy.parseOptions?.({}) }], defaultPolicy: { policy: kernelPolicy, options: {} }, policyDeadlineMs: 10_000 });
    const r = await engine.explain(snap, "/", { kind: "system", trigger: "test", message: "t", figures: {} });
    assert.equal(r.policy, "batch-first", "a generous deadline: the first call into a fresh realm ran past 250 ms on a loaded machine");
    assert.deepEqual(r.plan, [{ kind: "kill-cgroup", cgroup: "/batch/b", reason: "batch work goes first" }]);
  });

  test("plain JavaScript (ESM syntax) works too", () => {
    const dir = policyDir({ "p.js": `import { definePolicy } from "oomkit";\nexport default definePolicy({ name: "js", evaluateTask: () => "default" });\n` });
    assert.equal(loadPolicyFile(path.join(dir, "p.js"), strict).name, "js");
  });

  const bad: [string, Record<string, string>, RegExp][] = [
    ["imports a Node module", { "p.ts": `import * as fs from "node:fs";\nexport default fs;` }, /may import only "oomkit\/policy".*"node:fs" is not allowed/],
    ["imports the package past its face", { "p.ts": `import { LinuxHost } from "oomkit/dist/src/index.js";\nexport default LinuxHost;` }, /"oomkit\/dist\/src\/index\.js" is not allowed/],
    ["exports no policy", { "p.ts": `export default { name: "x" };` }, /default export is not a policy made with definePolicy/],
    ["has a syntax error", { "p.ts": `export default definePolicy({ name: "x", ;` }, /p\.ts/],
    ["throws at top level", { "p.ts": `throw new Error("boom");` }, /top-level code threw Error: boom/],
    ["loops at top level", { "p.ts": `while (true) {}` }, /top-level code ran past its deadline/],
    ["defines a nameless policy", { "p.ts": `import { definePolicy } from "oomkit";\nexport default definePolicy({ name: "", evaluateTask: () => "default" });` }, /name must be/],
    ["defines no hook", { "p.ts": `import { definePolicy } from "oomkit";\nexport default definePolicy({ name: "lazy" });` }, /neither handleOutOfMemory nor evaluateTask/],
    ["has the wrong extension", { "p.py": `x = 1` }, /must end in \.ts/],
  ];
  for (const [what, files, message] of bad) {
    test(`a file that ${what} is a clear config error`, () => {
      const dir = policyDir(files);
      assert.throws(
        // A short deadline only where running past it is the case: on a loaded machine, loading
        // a file that merely throws took longer than 100 ms and was reported as a timeout.
        () => loadPolicyFile(path.join(dir, Object.keys(files)[0] as string), { ...strict, deadlineMs: what.startsWith("loops") ? 100 : 10_000 }),
        (e: unknown) => e instanceof OomkitError && e.code === "E_CONFIG" && message.test(e.message),
      );
    });
  }

  test("a missing file", () => {
    assert.throws(() => loadPolicyFile("/nonexistent/p.ts", strict), (e: unknown) => e instanceof OomkitError && e.code === "E_NO_SUCH_PATH");
  });
});

describe("the face: a policy file sees oomkit/policy and nothing that acts", () => {
  // The face's runtime exports: the contract and pure helpers. A name added here is a decision.
  const FACE = FACE_RUNTIME;
  // Things that act (touch the OS, run the daemon, build hosts): the package exports them, a policy never sees them.
  const ACTING = ["LinuxHost", "LinuxBackend", "protectSelf", "Daemon", "runCli", "FixtureHost", "RecordingHost", "LiveExecutor", "Engine", "takeSnapshot", "loadPolicyFile"];

  test("the package's own API has every acting name (so the checks below mean something)", () => {
    for (const name of ACTING) assert.equal(typeof (publicApi as Record<string, unknown>)[name], "function", name);
    assert.deepEqual(Object.keys(face).sort(), FACE);
  });

  test('"oomkit/policy" and its alias "oomkit" give the face and only the face', () => {
    const dir = policyDir({
      "p.ts": `import * as viaFace from "oomkit/policy";
import * as viaAlias from "oomkit";
import oomkit from "oomkit";
const keys = (ns: object) => Object.keys(ns).filter((k) => k !== "default").sort();
const seen = { face: keys(viaFace), alias: keys(viaAlias), acting: ${JSON.stringify(ACTING)}.filter((n) => (oomkit as Record<string, unknown>)[n] !== undefined) };
export default viaAlias.definePolicy({ name: "ns", description: JSON.stringify(seen), evaluateTask: () => "default" });
`,
    });
    const seen = JSON.parse(loadPolicyFile(path.join(dir, "p.ts"), strict).description ?? "") as Record<string, unknown>;
    assert.deepEqual(seen, { face: FACE, alias: FACE, acting: [] });
  });

  for (const spec of ["oomkit", "oomkit/policy"]) {
    for (const name of ACTING) {
      test(`import { ${name} } from "${spec}" fails to load with a clear error`, () => {
        // Used only inside a hook: the load fails, not the OOM.
        const dir = policyDir({
          "p.ts": `import { definePolicy, ${name} } from "${spec}";\nexport default definePolicy({ name: "x", evaluateTask: () => (${name} ? "default" : "skip") });\n`,
        });
        assert.throws(
          () => loadPolicyFile(path.join(dir, "p.ts"), strict),
          (e: unknown) =>
            e instanceof OomkitError && e.code === "E_CONFIG" && e.message.includes(`"${spec}" has no export ${name}: a policy file sees only the policy face, "oomkit/policy" (`),
        );
      });
    }
  }

  test("re-exporting an acting name is refused too, and a face name re-exported works", () => {
    const bad = policyDir({ "p.ts": `export { FixtureHost } from "oomkit";\n` });
    assert.throws(() => loadPolicyFile(path.join(bad, "p.ts"), strict), /"oomkit" has no export FixtureHost/);
    const good = policyDir({
      "util.ts": `export { cgroupContains, ROOT_CGROUP } from "oomkit/policy";\n`,
      "p.ts": `import { definePolicy } from "oomkit/policy";\nimport { cgroupContains, ROOT_CGROUP } from "./util";\nexport default definePolicy({ name: String(cgroupContains(ROOT_CGROUP, ROOT_CGROUP)), evaluateTask: () => "default" });\n`,
    });
    assert.equal(loadPolicyFile(path.join(good, "p.ts"), strict).name, "true");
  });
});

describe("trust: policy files run as root", () => {
  const SRC = `import { definePolicy } from "oomkit";\nexport default definePolicy({ name: "t", evaluateTask: () => "default" });\n`;
  test("a file writable by others is refused by the daemon, and only warned about offline", () => {
    const dir = policyDir({ "p.ts": SRC });
    fs.chmodSync(path.join(dir, "p.ts"), 0o666);
    assert.throws(() => loadPolicyFile(path.join(dir, "p.ts"), strict), (e: unknown) => e instanceof OomkitError && e.code === "E_PERMISSION" && /writable by others/.test(e.message));
    const warnings: string[] = [];
    assert.equal(loadPolicyFile(path.join(dir, "p.ts"), { enforceOwnership: false, warn: (m) => warnings.push(m) }).name, "t");
    assert.match(warnings[0] ?? "", /writable by others.*the daemon would refuse it/);
  });
  test("a group-writable folder is refused; a sticky one is not", () => {
    const dir = policyDir({ "p.ts": SRC }, 0o775);
    assert.throws(() => loadPolicyFile(path.join(dir, "p.ts"), strict), (e: unknown) => e instanceof OomkitError && /folder .* writable by its group/.test(e.message));
    fs.chmodSync(dir, 0o1777);
    assert.equal(loadPolicyFile(path.join(dir, "p.ts"), strict).name, "t");
  });
  test("a file owned by another user is refused", (t) => {
    if (process.geteuid?.() !== 0) return t.skip("needs root to give the file to another user");
    const dir = policyDir({ "p.ts": SRC });
    fs.chownSync(path.join(dir, "p.ts"), 65534, 65534);
    assert.throws(() => loadPolicyFile(path.join(dir, "p.ts"), strict), (e: unknown) => e instanceof OomkitError && /owned by uid 65534, not root/.test(e.message));
  });
});

test("reloading does not keep the old code alive", async () => {
  v8.setFlagsFromString("--expose-gc");
  const gc = vm.runInNewContext("gc") as () => void;
  const dir = policyDir({ "p.ts": `import { definePolicy } from "oomkit";\nconst big = new Array(1e5).fill(1);\nexport default definePolicy({ name: "r", evaluateTask: () => (big.length ? "default" : "skip") });\n` });
  const refs: WeakRef<object>[] = [];
  for (let i = 0; i < 5; i++) refs.push(new WeakRef(loadPolicyFile(path.join(dir, "p.ts"), strict)));
  for (let i = 0; i < 10 && refs.some((r) => r.deref() !== undefined); i++) {
    await new Promise((r) => setImmediate(r));
    gc();
  }
  assert.deepEqual(refs.map((r) => r.deref() === undefined), [true, true, true, true, true]);
});
