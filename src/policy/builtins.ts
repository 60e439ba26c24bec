/**
 * The built-in policies by name, as configuration and the CLI refer to them. Each is a small
 * module of its own with its contract in its doc comment; docs/policies.md describes them for
 * operators.
 */
import { OomkitError } from "../errors.js";
import type { Policy } from "../engine/policy.js";
import { growth } from "./growth.js";
import { kernelPolicy } from "./kernel.js";
import { kubernetes } from "./kubernetes.js";
import { largestLeaf } from "./largest-leaf.js";
import { pressure } from "./pressure.js";
import { priority } from "./priority.js";
import { reclaimFirst } from "./reclaim-first.js";
import { rules } from "./rules.js";
import { swap } from "./swap.js";
import { tmpfs } from "./tmpfs.js";

const ALL: readonly Policy[] = [kernelPolicy, priority, largestLeaf, pressure, swap, growth, rules, reclaimFirst, tmpfs, kubernetes] as Policy[];

export const BUILTIN_POLICIES: ReadonlyMap<string, Policy> = new Map(ALL.map((p) => [p.name, p]));

/** The built-in policy with this name; a configuration error naming the known ones otherwise. */
export function builtinPolicy(name: string): Policy {
  const p = BUILTIN_POLICIES.get(name);
  if (!p) throw new OomkitError("E_CONFIG", `no built-in policy named ${JSON.stringify(name)}; the built-ins are ${[...BUILTIN_POLICIES.keys()].join(", ")}`);
  return p;
}
