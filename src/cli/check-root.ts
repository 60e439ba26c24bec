/**
 * `oomkit check --root DIR`: the configured policies run on a fixture tree, as the engine would
 * run them for an OOM in each scope that matters — the machine, each attachment's cgroup and each
 * trigger's — and every throw, timeout, invalid plan or refused target is an error. And, with or
 * without --root, the attachments no configured trigger can ever reach.
 */
import type { CompiledConfig, TriggerSpec } from "../config/compile.js";
import { Engine } from "../engine/engine.js";
import { describeAction } from "../engine/plan.js";
import { takeSnapshot } from "../engine/snapshot.js";
import type { Host } from "../os/host.js";
import { type CgroupPath, ROOT_CGROUP, cgroupContains } from "../os/paths.js";
import { type PolicyFault, policyFaults } from "./faults.js";

/** What the chain did for an OOM in one scope of the fixture. */
export interface PolicyRun {
  readonly scope: string;
  /** The policy whose plan would handle it; null when none did (the kernel would decide). */
  readonly decidedBy: string | null;
  readonly plan: readonly string[];
  readonly faults: readonly PolicyFault[];
}

/** The scopes worth asking about: the machine, each attachment's cgroup, each trigger's cgroup, that exist in the fixture. */
export function scopesOf(c: CompiledConfig, exists: (p: CgroupPath) => boolean): CgroupPath[] {
  const out = new Set<CgroupPath>([ROOT_CGROUP]);
  for (const a of c.engine.attachments) out.add(a.cgroup);
  for (const t of c.triggers) if (t.where.kind === "cgroup") out.add(t.where.path);
  return [...out].filter((p) => p === ROOT_CGROUP || exists(p));
}

/** Runs the chain for each scope of scopesOf on the host's machine; nothing is carried out. */
export async function runOnFixture(c: CompiledConfig, host: Host): Promise<PolicyRun[]> {
  const engine = new Engine(c.engine);
  const snapshot = takeSnapshot(host);
  const runs: PolicyRun[] = [];
  for (const scope of scopesOf(c, (p) => snapshot.cgroup(p) !== undefined)) {
    const r = await engine.explain(snapshot, scope, { kind: "manual", trigger: "check", message: `oomkit check: an OOM in ${scope}`, figures: {} });
    runs.push({ scope, decidedBy: r.handled ? r.policy : null, plan: r.plan.map(describeAction), faults: policyFaults(r) });
  }
  return runs;
}

/** Whether a trigger can declare an OOM in a scope at or below `at`: only then is a policy attached at `at` consulted. */
function reaches(t: TriggerSpec, at: CgroupPath): boolean {
  switch (t.where.kind) {
    case "machine":
      return at === ROOT_CGROUP;
    case "cgroup":
      return cgroupContains(at, t.where.path);
    case "glob":
      // A glob follows cgroups as they come: it may reach anything its pattern can match below `at`.
      return true;
    default: {
      const never: never = t.where;
      return never;
    }
  }
}

/** One warning per attachment no configured trigger reaches (only `oomkit oom SCOPE` would consult it). */
export function neverConsulted(c: CompiledConfig): string[] {
  return c.engine.attachments
    .filter((a) => !c.triggers.some((t) => reaches(t, a.cgroup)))
    .map(
      (a) =>
        `policy ${a.policy.name} is attached to ${a.cgroup}, but no configured trigger declares an OOM at or below ${a.cgroup} ` +
        `(an OOM goes to the policies attached at its scope and above): only \`oomkit oom ${a.cgroup}\` would consult it; add a trigger on ${a.cgroup} or attach it higher`,
    );
}
