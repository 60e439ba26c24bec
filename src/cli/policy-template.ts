/**
 * The files of a new policy project (`oomkit init-policy`): a policy with options, its test on
 * oomkit/testing, and a package whose `npm test` type-checks the policy without Node's types (the
 * daemon gives a policy no Node) and then builds and runs the tests (which have Node's types).
 */

/** What the project is built and tested with; kept in step with oomkit's own devDependencies. */
export const TEMPLATE_DEV_DEPENDENCIES = { typescript: "~5.9.3", "@types/node": "^20.9.0" } as const;

const COMPILER = { strict: true, target: "ES2022", lib: ["ES2022"], module: "NodeNext", moduleResolution: "NodeNext", skipLibCheck: false };

const json = (v: unknown) => `${JSON.stringify(v, null, 2)}\n`;

/** The project's files by relative path, for a package and policy named `name`. */
export function policyProject(name: string, oomkitVersion: string): Record<string, string> {
  return {
    "package.json": json({
      name,
      version: "0.1.0",
      private: true,
      type: "module",
      description: `oomkit policy ${name}`,
      scripts: {
        typecheck: "tsc -p tsconfig.json",
        test: "tsc -p tsconfig.json && tsc -p tsconfig.test.json && node --test build/test/*.test.js",
      },
      devDependencies: { oomkit: `^${oomkitVersion}`, ...TEMPLATE_DEV_DEPENDENCIES },
    }),
    "tsconfig.json": json({ compilerOptions: { ...COMPILER, types: [], noEmit: true }, include: ["src"] }),
    "tsconfig.test.json": json({ compilerOptions: { ...COMPILER, types: ["node"], outDir: "build", rootDir: "." }, include: ["test"] }),
    ".gitignore": "node_modules/\nbuild/\n",
    "src/policy.ts": policySource(name),
    "test/policy.test.ts": TEST_SOURCE,
    "oomkit.toml": config(),
    "README.md": readme(name),
  };
}

function policySource(name: string): string {
  return `// An oomkit policy (docs/writing-a-policy.md in the oomkit package). The daemon loads this file
// into a realm of its own: it sees "oomkit/policy" and nothing of Node.
import { definePolicy, type OomControl, type TaskNode } from "oomkit/policy";

export interface Options {
  /** Commands never chosen by this policy (the next policy up the chain may still choose them). */
  readonly spare: readonly string[];
  /** Tasks using less than this (resident + swap, in bytes) are not worth a kill. */
  readonly minBytes: number;
}

const KEYS = ["spare", "minBytes"];

function parseOptions(raw: unknown): Options {
  const o = (raw ?? {}) as Record<string, unknown>;
  for (const key of Object.keys(o)) if (!KEYS.includes(key)) throw new Error(\`unknown option "\${key}" (known: \${KEYS.join(", ")})\`);
  const spare = o.spare ?? [];
  if (!Array.isArray(spare) || !spare.every((s) => typeof s === "string")) throw new Error("spare must be a list of command names");
  const minBytes = o.minBytes ?? 0;
  if (typeof minBytes !== "number" || !(minBytes >= 0)) throw new Error("minBytes must be a number of bytes, 0 or more");
  return { spare, minBytes };
}

const freeable = (t: TaskNode) => t.memory.rssBytes + t.memory.swapBytes;

export default definePolicy<Options>({
  name: ${JSON.stringify(name)},
  description: "kill the task that frees the most, sparing the commands named in the options",
  parseOptions,
  handleOutOfMemory(oc: OomControl<Options>) {
    let best: TaskNode | undefined;
    for (const t of oc.tasks()) {
      const why = oc.protectedReason(t) ?? (oc.isVictim(t) ? "already being killed" : undefined);
      if (why !== undefined) continue;
      if (oc.options.spare.includes(t.comm)) {
        oc.skip(t, "spared by the options");
        continue;
      }
      const bytes = freeable(t);
      if (bytes < oc.options.minBytes) {
        oc.skip(t, \`only \${bytes} bytes\`);
        continue;
      }
      oc.consider(t, bytes, "resident + swap");
      // A full tie-break: the same snapshot always gives the same answer.
      if (!best || bytes > freeable(best) || (bytes === freeable(best) && t.pid < best.pid)) best = t;
    }
    return best ? oc.killTask(best, \`frees the most (\${freeable(best)} bytes)\`) : oc.pass("nothing worth killing");
  },
});
`;
}

const TEST_SOURCE = `import { test } from "node:test";
import assert from "node:assert/strict";
import * as path from "node:path";
import { Bench, explainOn, sampleTimeline, type MachineSpec } from "oomkit/testing";

// npm test runs in the project's folder; the policy is loaded as the daemon loads it.
const POLICY = path.resolve("src/policy.ts");

const machine: MachineSpec = {
  memory: "4G",
  cgroups: { "/app": {}, "/batch": {} },
  tasks: [
    { pid: 100, comm: "database", cgroup: "/app", rss: "1500M" },
    { pid: 200, comm: "report", cgroup: "/batch", rss: "600M", swap: "400M" },
    { pid: 201, comm: "cron", cgroup: "/batch", rss: "2M" },
  ],
};

test("the task that frees the most goes", async () => {
  const r = await explainOn(machine, { policy: POLICY });
  assert.deepEqual(r.plan.map((a) => a.kind === "kill-task" && a.pid), [100]);
});

test("spared commands are passed over with a reason, and swap counts", async () => {
  const r = await explainOn(machine, { policy: POLICY, options: { spare: ["database"], minBytes: 16 * 1024 * 1024 } });
  assert.deepEqual(r.plan.map((a) => a.kind === "kill-task" && a.pid), [200]);
  assert.equal(r.candidates.find((c) => c.pid === 100)?.skipped, "spared by the options");
  assert.match(r.candidates.find((c) => c.pid === 201)?.skipped ?? "", /^only \\d+ bytes$/);
});

test("with nothing worth killing it passes, and the kernel's ranking decides", async () => {
  const r = await explainOn(machine, { policy: POLICY, options: { minBytes: 8 * 1024 ** 3 } });
  assert.deepEqual(r.chain.map((c) => [c.policy, c.outcome]), [[r.chain[0]?.policy, "passed"], ["kernel", "handled"]]);
});

test("a misspelt option is refused", async () => {
  await assert.rejects(explainOn(machine, { policy: POLICY, options: { spares: [] } }), /unknown option "spares"/);
});

// A timeline recorded on a real kernel (oomkit record --timeline; this one ships with oomkit):
// a leak grows beside a steady job until the kernel kills it. Record your own machines' and
// play them the same way.
test("over a recorded timeline it decides at every frame, for the task that frees the most", async () => {
  // 2 s per call, not the daemon's 250 ms: a busy CI runner can slow a fresh realm's first calls.
  const bench = new Bench({ policy: POLICY, policyDeadlineMs: 2000 });
  try {
    let frames = 0;
    for (const step of bench.play(sampleTimeline("leak"))) {
      const r = await bench.explain();
      assert.equal(r.chain[0]?.outcome, "handled", \`frame \${step.index}: \${r.chain[0]?.error ?? r.chain[0]?.reason}\`);
      const frees = bench.snapshot.tasks.map((t) => [t.pid, t.memory.rssBytes + t.memory.swapBytes] as const);
      const most = Math.max(...frees.map(([, bytes]) => bytes));
      const victim = r.plan[0]?.kind === "kill-task" ? r.plan[0].pid : undefined;
      assert.equal(frees.find(([pid]) => pid === victim)?.[1], most, \`frame \${step.index}\`);
      frames++;
    }
    assert.ok(frames > 1);
  } finally {
    bench.close();
  }
});
`;

/** A configuration attaching the policy: `oomkit check --config oomkit.toml --root TIMELINE` runs it over a timeline. */
function config(): string {
  return `# Attach the policy to the whole machine; OOMs are declared by the psi trigger below.
# On a real machine, copy the policy to a root-owned place and point file at it.

# The daemon's default is 250 ms. A policy's first calls in a fresh realm can take longer on a
# busy machine (a CI runner); the daemon makes its decisions ahead, so a longer deadline costs
# little there.
policy_deadline_ms = 2000

[[attach]]
cgroup = "/"
file = "src/policy.ts"
[attach.options]
spare = ["sshd"]

[[trigger]]
cgroup = "/"
psi = { stall = "full", threshold_ms = 200, window_ms = 2000 }
`;
}

function readme(name: string): string {
  return `# ${name}

An oomkit policy. \`npm install\`, then \`npm test\`: type-checks src/policy.ts (without Node's
types, as the daemon runs it), builds the tests and runs them (node:test and oomkit/testing,
docs/testing-a-policy.md in the oomkit package).

Try it on this machine or a fixture (nothing is killed), over a recorded timeline (the one
oomkit ships, or your own: \`oomkit record --timeline DIR --every 1s --for 60s\` as root), then
attach it in the configuration:

    oomkit explain --policy src/policy.ts --options '{"spare":["sshd"]}'
    oomkit check --config oomkit.toml --root node_modules/oomkit/samples/timelines/leak
    oomkit check --config /etc/oomkit/oomkit.toml

    [[attach]]
    cgroup = "/"
    file = "/etc/oomkit/policies/${name}.ts"
    [attach.options]
    spare = ["sshd"]
`;
}
