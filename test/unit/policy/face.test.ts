/**
 * oomkit/policy as a policy author gets it: the packed package installed outside the repository,
 * and a policy type-checked against it with no @types/node and skipLibCheck off, under each module
 * resolution a project may use. Needs the package registry (see test/support/pack.ts).
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { promisify } from "node:util";
import { REPO, type PackedInstall, packAndInstall, typeCheck } from "../../support/pack.js";
import { FACE_RUNTIME } from "../../support/face-names.js";



/** A policy that names most of the face: the contract, what it reads, what it returns. */
const POLICY = `import {
  definePolicy,
  cgroupContains,
  parentCgroup,
  ROOT_CGROUP,
  OOM_SCORE_ADJ_MIN,
  type Badness,
  type CgroupNode,
  type CgroupPath,
  type FileInfo,
  type OomControl,
  type Plan,
  type PressureControl,
  type PressureEvent,
  type Snapshot,
  type TaskNode,
  type TaskVerdict,
} from "oomkit/policy";

interface Options { readonly under: CgroupPath }

const score = (b: Badness): number => (b.killable ? b.badness : -1);
const swapOf = (s: Snapshot): number => s.system.meminfo?.swapTotalBytes ?? 0;
const biggest = (files: readonly FileInfo[]): FileInfo | undefined => files[0];

export default definePolicy<Options>({
  name: "face-check",
  parseOptions: (raw) => ({ under: ((raw as { under?: CgroupPath } | undefined)?.under ?? ROOT_CGROUP) }),
  handleOutOfMemory(oc: OomControl<Options>): Plan {
    const inside = (c: CgroupNode) => cgroupContains(oc.options.under, c.path) && parentCgroup(c.path) !== undefined;
    const leaves = oc.leafCgroups().filter(inside);
    const task: TaskNode | undefined = oc.tasks().find((t) => t.oomScoreAdj > OOM_SCORE_ADJ_MIN && score(oc.badness(t)) > swapOf(oc.snapshot));
    const file = biggest(oc.files("/tmp"));
    if (file) return oc.removeFiles([file.path], "largest file first");
    if (task) return oc.killTask(task, "worst badness");
    return leaves[0] ? oc.killCgroup(leaves[0], "first leaf") : oc.pass("nothing");
  },
  evaluateTask: (task: TaskNode): TaskVerdict => (task.comm === "batch" ? "select" : "default"),
  handlePressure(event: PressureEvent, pc: PressureControl<Options>) {
    if (event.stall === "full") pc.declareOom(event.cgroup, "full stall");
  },
});
`;

/**
 * The control, checked beside the policy: a file that reaches for what acts or for Node's types
 * must fail, so a policy without errors means the face was really resolved and checked, and
 * Node's types really were absent.
 */
const REACHES = `import { LinuxHost } from "oomkit/policy";
export const host: unknown = LinuxHost;
export type Signal = NodeJS.Signals;
`;

/** The worked example in docs/writing-a-policy.md (docs.test.ts runs it; here it is type-checked). */
function docExample(): string {
  const doc = fs.readFileSync(path.join(REPO, "docs/writing-a-policy.md"), "utf8");
  const m = /```ts\n(\/\/ \/etc\/oomkit\/policies\/batch-first\.ts\n[\s\S]*?)```/.exec(doc);
  assert.ok(m?.[1], "the worked example is in the doc");
  return m[1];
}

const RESOLUTIONS: Record<string, Record<string, string>> = {
  NodeNext: { module: "NodeNext", moduleResolution: "NodeNext" },
  Bundler: { module: "ESNext", moduleResolution: "Bundler" },
  node10: { module: "ESNext", moduleResolution: "node10" },
};
const STRICT = { strict: true, target: "ES2022", lib: ["ES2022"], types: [], skipLibCheck: false };

describe("oomkit/policy, packed and installed outside the repository", () => {
  let install: PackedInstall;
  before(async () => {
    install = await packAndInstall();
  });
  after(() => install?.cleanup());

  test("the tarball holds the build and no sources or tests, and needs no TypeScript to run", () => {
    assert.ok(install.files.includes("dist/src/policy/face.d.ts"));
    assert.deepEqual(install.files.filter((f) => /^(src|test|dist\/test|dist\/bench)\//.test(f)), []);
    const pkg = JSON.parse(fs.readFileSync(path.join(install.dir, "node_modules/oomkit/package.json"), "utf8")) as { dependencies?: Record<string, string> };
    assert.equal(pkg.dependencies?.typescript, undefined);
    assert.equal(fs.existsSync(path.join(install.dir, "node_modules/@types/node")), false, "no @types/node beside the policy");
  });

  test("at run time, oomkit/policy is the face, and the packed loader runs a TypeScript policy", async () => {
    const dir = fs.mkdtempSync(path.join(install.dir, "policies-"));
    fs.chmodSync(dir, 0o755);
    fs.writeFileSync(path.join(dir, "p.ts"), `import { definePolicy, type TaskVerdict } from "oomkit/policy";\nconst v: TaskVerdict = "default";\nexport default definePolicy({ name: "packed", evaluateTask: () => v });\n`);
    const script = `
      const face = await import("oomkit/policy");
      const { loadPolicyFile } = await import("oomkit");
      const policy = loadPolicyFile(${JSON.stringify(path.join(dir, "p.ts"))}, { enforceOwnership: false, warn() {} });
      console.log(JSON.stringify({ face: Object.keys(face).sort(), policy: policy.name }));`;
    const { stdout } = await promisify(execFile)(process.execPath, ["--input-type=module", "-e", script], { cwd: install.dir });
    assert.deepEqual(JSON.parse(stdout), { face: FACE_RUNTIME, policy: "packed" });
  });

  for (const [name, resolution] of Object.entries(RESOLUTIONS)) {
    test(`under ${name}, a policy type-checks without @types/node, skipLibCheck off; a Host or Node's types do not`, async () => {
      const r = await typeCheck(install, { files: { "policy.ts": POLICY, "example.ts": docExample(), "reaches.ts": REACHES }, compilerOptions: { ...STRICT, ...resolution } });
      // Every error is the control's: policy.ts, the doc's example and every .d.ts they reach are clean.
      const errors = r.output.split("\n").filter((l) => /error TS\d+/.test(l));
      assert.deepEqual(
        errors.map((l) => /^(\S+?)\(\d+,\d+\): error (TS\d+)/.exec(l)?.slice(1, 3).join(" ")),
        ["reaches.ts TS2305", "reaches.ts TS2503"],
        r.output,
      );
      assert.match(r.output, /has no exported member 'LinuxHost'/);
      assert.match(r.output, /Cannot find namespace 'NodeJS'/);
      assert.notEqual(r.status, 0);
    });
  }
});
