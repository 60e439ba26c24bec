/**
 * Marks: extended attributes people and other OOM handlers leave on cgroups to say how a cgroup
 * should fare in an OOM — omit (never killed), avoid (last), prefer (first). This module is
 * their one reader: the verifier, `oc.protectedReason`, `oc.preference` and every built-in
 * policy get their answer here, with one boolean grammar and one rule for who may set a mark.
 *
 * Who may set a mark (systemd-oomd's rule): a `user.*` attribute can be set by whoever owns the
 * cgroup's folder, so it counts only where that owner is root or the owner of the scope being
 * handled (a user's marks order that user's own cgroups when the user's delegated cgroup is out
 * of memory, and nothing else). Every other namespace (`trusted.*`, `security.*`, `system.*`)
 * needs CAP_SYS_ADMIN to set, so it always counts. Pure functions of the snapshot.
 */
import type { CgroupPath } from "../os/paths.js";
import type { CgroupNode } from "./cgroup.js";

export type MarkKind = "omit" | "avoid" | "prefer";

export interface MarkName {
  readonly xattr: string;
  readonly kind: MarkKind;
  /** Who else uses it. */
  readonly origin: string;
}

/** Every mark oomkit reads (docs/policies.md, "Marks", is this table). */
export const MARK_TABLE: readonly MarkName[] = Object.freeze([
  { xattr: "user.oomd_omit", kind: "omit", origin: "systemd-oomd (ManagedOOMPreference=omit)" },
  { xattr: "trusted.oomd_omit", kind: "omit", origin: "the privileged counterpart of user.oomd_omit" },
  { xattr: "user.oomkit.omit", kind: "omit", origin: "oomkit" },
  { xattr: "trusted.oomkit.omit", kind: "omit", origin: "oomkit" },
  { xattr: "user.oomd_avoid", kind: "avoid", origin: "systemd-oomd (ManagedOOMPreference=avoid)" },
  { xattr: "trusted.oomd_avoid", kind: "avoid", origin: "oomd" },
  { xattr: "user.oomkit.avoid", kind: "avoid", origin: "oomkit" },
  { xattr: "trusted.oomkit.avoid", kind: "avoid", origin: "oomkit" },
  { xattr: "trusted.oomd_prefer", kind: "prefer", origin: "oomd" },
  { xattr: "user.oomkit.prefer", kind: "prefer", origin: "oomkit" },
  { xattr: "trusted.oomkit.prefer", kind: "prefer", origin: "oomkit" },
] satisfies MarkName[]);

const namesOf = (kind: MarkKind): readonly string[] => Object.freeze(MARK_TABLE.filter((m) => m.kind === kind).map((m) => m.xattr));

/** The omit marks; `[protect] xattrs` in configuration may name others (its default is this list). */
export const OMIT_MARKS: readonly string[] = namesOf("omit");
export const AVOID_MARKS: readonly string[] = namesOf("avoid");
export const PREFER_MARKS: readonly string[] = namesOf("prefer");

const SET = new Set(["1", "y", "yes", "true", "t", "on"]);
const UNSET = new Set(["0", "n", "no", "false", "f", "off", ""]);

/**
 * A mark's value as a flag, like systemd's parse_boolean: "1", "y", "yes", "true", "t", "on" set
 * it; "0", "n", "no", "false", "f", "off" and the empty value do not; case and surrounding
 * whitespace are ignored. Anything else is undefined, which sets nothing: a stray value must not
 * change who is killed.
 */
export function markValue(raw: string | undefined): boolean | undefined {
  if (raw === undefined) return undefined;
  const v = raw.trim().toLowerCase();
  if (SET.has(v)) return true;
  if (UNSET.has(v)) return false;
  return undefined;
}

/**
 * Why a mark on a cgroup owned by `cgroupOwner` does not count in an OOM whose scope is owned by
 * `scopeOwner`, or undefined when it counts. An unknown owner counts as nobody's.
 */
export function markIgnoredBecause(xattr: string, cgroupOwner: number | undefined, scopeOwner: number | undefined): string | undefined {
  if (!xattr.startsWith("user.")) return undefined;
  if (cgroupOwner === 0) return undefined;
  if (cgroupOwner !== undefined && cgroupOwner === scopeOwner) return undefined;
  const who = cgroupOwner === undefined ? "an unknown owner" : `uid ${cgroupOwner}`;
  return `${xattr} is set by the cgroup's owner (${who}), who is neither root nor the owner of the scope`;
}

/** A mark that counts: where it is, which attribute, and its value. */
export interface FoundMark {
  readonly kind: MarkKind;
  readonly cgroup: CgroupPath;
  readonly xattr: string;
  readonly value: string;
}

/** The owner of the scope being handled: root for a machine-wide OOM. */
export function scopeOwnerOf(scope: CgroupNode | undefined): number | undefined {
  return scope === undefined || scope.isRoot ? 0 : scope.ownerUid;
}

/** The first of `names` set on this one cgroup that counts for the scope's owner. */
function markOn(cgroup: CgroupNode, names: readonly string[], kind: MarkKind, scopeOwner: number | undefined): FoundMark | undefined {
  const x = cgroup.xattrs;
  if (x.size === 0) return undefined;
  for (const name of names) {
    const value = x.get(name);
    if (markValue(value) !== true) continue;
    if (markIgnoredBecause(name, cgroup.ownerUid, scopeOwner) !== undefined) continue;
    return { kind, cgroup: cgroup.path, xattr: name, value: value ?? "" };
  }
  return undefined;
}

/**
 * The omit mark on a cgroup or an ancestor (a mark on a slice covers everything in it), or
 * undefined. `names` is the configured list (`[protect] xattrs`).
 */
export function omitMark(cgroup: CgroupNode | undefined, scope: CgroupNode | undefined, names: readonly string[] = OMIT_MARKS): FoundMark | undefined {
  const owner = scopeOwnerOf(scope);
  for (let c = cgroup; c; c = c.parent) {
    const m = markOn(c, names, "omit", owner);
    if (m) return m;
  }
  return undefined;
}

export type KillPreference = "prefer" | "normal" | "avoid";

export interface Preference {
  readonly preference: KillPreference;
  /** The mark that decided it, when one did. */
  readonly mark?: FoundMark;
}

const NORMAL: Preference = Object.freeze({ preference: "normal" });

/**
 * The prefer/avoid mark that applies to a cgroup: the nearest one on it or an ancestor. A cgroup
 * marked both ways counts as avoid, the safer reading of a contradiction.
 */
export function preferenceOf(cgroup: CgroupNode | undefined, scope: CgroupNode | undefined): Preference {
  const owner = scopeOwnerOf(scope);
  for (let c = cgroup; c; c = c.parent) {
    const avoid = markOn(c, AVOID_MARKS, "avoid", owner);
    if (avoid) return { preference: "avoid", mark: avoid };
    const prefer = markOn(c, PREFER_MARKS, "prefer", owner);
    if (prefer) return { preference: "prefer", mark: prefer };
  }
  return NORMAL;
}

/** prefer < normal < avoid, for sorting the preferred first. */
export const PREFERENCE_ORDER: Readonly<Record<KillPreference, number>> = Object.freeze({ prefer: 0, normal: 1, avoid: 2 });

/** "PATH has NAME=VALUE", for reasons people read. */
export function describeMark(m: FoundMark): string {
  return `${m.cgroup} has ${m.xattr}=${m.value}`;
}
