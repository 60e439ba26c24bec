/**
 * Fixture machines shared by the policy tests: each one built on disk by buildFixture, plus the
 * engine helpers those tests use.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { Engine, type EngineOptions } from "../../../src/engine/engine.js";
import type { EpisodeRecord } from "../../../src/engine/episode.js";
import { takeSnapshot, type Snapshot } from "../../../src/engine/snapshot.js";
import { FixtureHost } from "../../../src/os/fixture-host.js";
import { cgroupPath } from "../../../src/os/paths.js";
import type { OomCause, Policy } from "../../../src/engine/policy.js";
import { kernelPolicy } from "../../../src/policy/kernel.js";
import { buildFixture, type FixtureCgroup, type FixtureSpec } from "../../support/fixture.js";

export const MB = 1024 * 1024;
export const KB_PER_MB = 1024;
export const cause: OomCause = { kind: "cgroup", trigger: "test", message: "test", figures: {} };

export { OOM_TEST } from "../../support/machines.js";

const U = "/user.slice/user-1000.slice";

/** A desktop: systemd slices, oomkit in its own service, marks from systemd-oomd and oomd, swap in use. */
export const DESKTOP: FixtureSpec = {
  memTotalKb: 8_000_000,
  swapTotalKb: 2_000_000,
  swapFreeKb: 1_500_000,
  selfPid: 50,
  cgroups: {
    "/": { anon: 3600 * MB, file: 400 * MB, pgscan: 6050 },
    "/init.scope": { anon: 5 * MB },
    "/system.slice": {},
    "/system.slice/oomkit.service": { anon: 40 * MB },
    "/system.slice/sshd.service": { anon: 5 * MB, xattrs: { "user.oomd_omit": "1" } },
    "/system.slice/db.service": { anon: 900 * MB, file: 300 * MB, swapCurrent: 100 * MB, pgscan: 1000, xattrs: { "user.oomd_avoid": "1" } },
    "/user.slice": {},
    "/user.slice/user-1000.slice": {},
    [`${U}/session-1.scope`]: { anon: 200 * MB, file: 100 * MB, pgscan: 50 },
    [`${U}/app-browser.scope`]: { anon: 1500 * MB, swapCurrent: 300 * MB, pgscan: 5000, xattrs: { "trusted.oomd_prefer": "1" } },
    [`${U}/app-build.scope`]: { anon: 800 * MB, oomGroup: true },
    [`${U}/app-build.scope/make`]: { anon: 100 * MB },
    [`${U}/app-build.scope/cc1`]: { anon: 700 * MB },
    [`${U}/empty.scope`]: {},
  },
  tasks: [
    { pid: 1, comm: "systemd", cgroup: "/init.scope", rssAnonKb: 5 * KB_PER_MB },
    { pid: 2, comm: "kthreadd", kthread: true, cgroup: "/" },
    { pid: 3, comm: "kworker/0:0", kthread: true, cgroup: "/" },
    { pid: 50, comm: "oomkit", cgroup: "/system.slice/oomkit.service", rssAnonKb: 40 * KB_PER_MB },
    { pid: 60, comm: "sshd", cgroup: "/system.slice/sshd.service", rssAnonKb: 5 * KB_PER_MB },
    { pid: 70, comm: "postgres", cgroup: "/system.slice/db.service", rssAnonKb: 900 * KB_PER_MB, swapKb: 100 * KB_PER_MB },
    { pid: 71, comm: "postgres", cgroup: "/system.slice/db.service", rssAnonKb: 10 * KB_PER_MB, oomScoreAdj: -1000 },
    { pid: 100, comm: "bash", cgroup: `${U}/session-1.scope`, uid: 1000, rssAnonKb: 5 * KB_PER_MB },
    { pid: 101, comm: "gnome-shell", cgroup: `${U}/session-1.scope`, uid: 1000, rssAnonKb: 195 * KB_PER_MB },
    { pid: 200, comm: "firefox", cgroup: `${U}/app-browser.scope`, uid: 1000, rssAnonKb: 1200 * KB_PER_MB, swapKb: 250 * KB_PER_MB, cmdline: ["/usr/lib/firefox/firefox", "--no-remote"] },
    { pid: 201, comm: "Web Content (1)", cgroup: `${U}/app-browser.scope`, uid: 1000, rssAnonKb: 300 * KB_PER_MB, swapKb: 50 * KB_PER_MB },
    { pid: 300, comm: "make", cgroup: `${U}/app-build.scope/make`, uid: 1000, rssAnonKb: 100 * KB_PER_MB },
    { pid: 301, comm: "cc1", cgroup: `${U}/app-build.scope/cc1`, uid: 1000, rssAnonKb: 700 * KB_PER_MB, oomScoreAdj: 200 },
    { pid: 400, comm: "defunct", cgroup: `${U}/session-1.scope`, uid: 1000, state: "Z" },
  ],
};

const MISSING: readonly string[] = [
  "memory.stat",
  "memory.current",
  "memory.swap.current",
  "memory.swap.max",
  "memory.oom.group",
  "memory.pressure",
  "memory.events",
  "memory.min",
  "memory.low",
  "memory.max",
  "cgroup.events",
];
const sparse = (c: FixtureCgroup = {}): FixtureCgroup => ({ ...c, omit: MISSING });

/** An old or locked-down kernel: most memory files are missing, and a listed pid has no /proc entry. */
export const MISSING_FILES: FixtureSpec = {
  cgroups: {
    "/": sparse(),
    "/work": sparse(),
    "/work/a": sparse({ anon: 300 * MB }),
    "/work/b": sparse({ anon: 100 * MB, oomGroup: true }),
    "/work/b/inner": sparse(),
  },
  tasks: [
    { pid: 1, comm: "init", cgroup: "/" },
    { pid: 10, comm: "a", cgroup: "/work/a", rssAnonKb: 300 * KB_PER_MB, swapKb: 5 * KB_PER_MB },
    { pid: 11, comm: "b", cgroup: "/work/b/inner", rssAnonKb: 100 * KB_PER_MB },
  ],
};

/** Hybrid cgroups (v1 memory controller): system-level mode, no per-cgroup figures. */
export const HYBRID: FixtureSpec = {
  mode: "hybrid",
  swapTotalKb: 1_000_000,
  swapFreeKb: 800_000,
  selfPid: 5,
  tasks: [
    { pid: 1, comm: "init", cgroup: "/" },
    { pid: 2, comm: "kthreadd", kthread: true },
    { pid: 5, comm: "oomkit", cgroup: "/system.slice/oomkit.service", rssAnonKb: 40 * KB_PER_MB },
    { pid: 20, comm: "leak", cgroup: "/user.slice/leak", rssAnonKb: 500 * KB_PER_MB, swapKb: 150 * KB_PER_MB },
    { pid: 21, comm: "editor", cgroup: "/user.slice/editor", rssAnonKb: 600 * KB_PER_MB, swapKb: 10 * KB_PER_MB },
    { pid: 22, comm: "guard", cgroup: "/system.slice/guard", rssAnonKb: 900 * KB_PER_MB, oomScoreAdj: -1000 },
  ],
};

/** Builds a machine on disk; `files` are written under the fixture (machine path → size in bytes). */
export function machine(spec: FixtureSpec, files: Readonly<Record<string, number>> = {}): string {
  const dir = buildFixture(spec);
  for (const [p, size] of Object.entries(files)) {
    const local = path.join(dir, p);
    fs.mkdirSync(path.dirname(local), { recursive: true });
    fs.writeFileSync(local, Buffer.alloc(size));
  }
  return dir;
}

export function snapshotOf(dir: string): Snapshot {
  return takeSnapshot(new FixtureHost(dir));
}

/**
 * An engine with `policy` attached at `scope` (parsed options), and the kernel as the default.
 * The deadline is generous: these tests are about what a policy decides, and a loaded test
 * machine must not turn a decision into a timeout (deadlines have tests of their own).
 */
export function engineWith(policy: Policy | undefined, scope: string, rawOptions: unknown = {}, extra: Partial<EngineOptions> = {}): Engine {
  const attachments = policy ? [{ cgroup: cgroupPath(scope), policy, options: policy.parseOptions ? policy.parseOptions(rawOptions) : rawOptions }] : [];
  return new Engine({ attachments, defaultPolicy: { policy: kernelPolicy, options: {} }, policyDeadlineMs: 10_000, ...extra });
}

/** The chain as "policy:outcome" strings, for compact assertions. */
export function chainOf(r: EpisodeRecord): string[] {
  return r.chain.map((c) => `${c.policy}:${c.outcome}`);
}
