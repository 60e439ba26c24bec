/**
 * The policy face, published as "oomkit/policy": everything a policy file sees, and nothing that
 * acts. A policy reads a snapshot and returns a plan, so it gets the policy contract, the types
 * of what it reads and returns, and pure helpers; no Host, backend, daemon, CLI or fixture.
 * Inside a policy file the loader hands this module for "oomkit" as well (test/unit/policy/loader.test.ts).
 *
 * Snapshot, CgroupNode and TaskNode are exported as types only: a policy is given them and never
 * makes one. Nothing reachable from this module's declarations may name Node's own types
 * (`NodeJS`, `Buffer`, `node:` modules), so a policy type-checks without @types/node
 * (test/unit/policy/face.test.ts).
 */

// The contract: the userspace counterpart of the kernel's BPF OOM struct_ops.
export {
  definePolicy,
  isPolicy,
  type Policy,
  type PolicyDefinition,
  type OomControl,
  type OomCause,
  type EpisodeKind,
  type PressureEvent,
  type PressureControl,
  type CgroupRates,
  type FileInfo,
  type TaskVerdict,
  type Target,
  type PolicyState,
  type StateValue,
} from "../engine/policy.js";
export type { Action, ActionKind, Plan } from "../engine/plan.js";

// What a policy reads.
export type { Snapshot, SystemState } from "../engine/snapshot.js";
export type { CgroupNode, CgroupMemory, CgroupPressure } from "../engine/cgroup.js";
export type { TaskNode, TaskMemory } from "../engine/task.js";
export type { Pressure, PressureLine } from "../os/parse/psi.js";
export type { MemoryStat, MemoryEvents, CgroupEvents } from "../os/parse/cgroup.js";
export type { Meminfo } from "../os/parse/meminfo.js";

// Pure helpers.
export { OOM_SCORE_ADJ_MIN, OOM_SCORE_ADJ_MAX, type Badness, type UnkillableReason } from "../engine/badness.js";
export { type CgroupPath, cgroupPath, cgroupContains, parentCgroup, ROOT_CGROUP } from "../os/paths.js";

// Marks, read as the verifier reads them (docs/policies.md, "Protection and marks"): a policy asks
// oc.protectedReason and oc.preference; these are for a policy that reads an attribute of its own
// (as priority reads user.oomkit.priority) and must apply the same grammar and owner rule.
export {
  type KillPreference,
  type Preference,
  type FoundMark,
  type MarkKind,
  PREFERENCE_ORDER,
  describeMark,
  markValue,
  markIgnoredBecause,
  scopeOwnerOf,
} from "../engine/marks.js";
