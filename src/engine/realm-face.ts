/**
 * The policy face as a policy file's realm holds it: `definePolicy`, `isPolicy` and the pure
 * helpers of src/policy/face.ts, written again so that every one of them is a function of the
 * realm. This function is not called here: realm.ts puts its source text into the realm
 * (Function.prototype.toString of the compiled function), so it must stay self-contained — no
 * imports, no names from this module — and use only what it is given and the realm's own
 * globals. test/unit/policy/realm.test.ts checks each helper against the engine's on a table of
 * inputs, and the set of names against the face's.
 */

/** What the shim gives the face: the realm's error class and the record of defined policies. */
export interface FaceKit {
  readonly OomkitError: new (code: string, message: string) => Error;
  /** Records a policy made by definePolicy; `isDefined` tells one apart from a look-alike. */
  readonly define: (policy: object) => void;
  readonly isDefined: (value: unknown) => boolean;
}

export function realmFace(kit: FaceKit): Readonly<Record<string, unknown>> {
  "use strict";
  const { OomkitError, define, isDefined } = kit;
  const freeze = Object.freeze;
  const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
  const HOOKS = ["parseOptions", "handleOutOfMemory", "evaluateTask", "handlePressure", "handleCgroupOnline", "handleCgroupOffline"];
  const BRAND = Symbol.for("oomkit.policy");

  function definePolicy(definition: Record<string, unknown>): object {
    if (typeof definition !== "object" || definition === null) {
      throw new OomkitError("E_CONFIG", "definePolicy() takes an object with a name and handleOutOfMemory or evaluateTask");
    }
    if (typeof definition.name !== "string" || !NAME.test(definition.name)) {
      throw new OomkitError("E_CONFIG", `a policy's name must be 1-64 letters, digits, ".", "_" or "-"; got ${JSON.stringify(definition.name)}`);
    }
    for (const h of HOOKS) {
      const fn = definition[h];
      if (fn !== undefined && typeof fn !== "function") throw new OomkitError("E_CONFIG", `policy ${definition.name}: ${h} must be a function`);
    }
    if (!definition.handleOutOfMemory && !definition.evaluateTask) {
      throw new OomkitError("E_CONFIG", `policy ${definition.name} defines neither handleOutOfMemory nor evaluateTask`);
    }
    const policy = freeze({ ...definition, [BRAND]: true });
    define(policy);
    return policy;
  }

  function isPolicy(value: unknown): boolean {
    return isDefined(value);
  }

  function cgroupPath(path: string): string {
    if (!path.startsWith("/")) path = `/${path}`;
    const parts = path.split("/").filter((p) => p !== "" && p !== ".");
    if (parts.some((p) => p === "..")) throw new OomkitError("E_USAGE", `a cgroup path may not contain "..": ${path}`);
    return `/${parts.join("/")}`;
  }

  function parentCgroup(path: string): string | undefined {
    if (path === "/") return undefined;
    return cgroupPath(path.slice(0, path.lastIndexOf("/")));
  }

  function cgroupContains(outer: string, inner: string): boolean {
    return outer === "/" || inner === outer || inner.startsWith(`${outer}/`);
  }

  const SET = new Set(["1", "y", "yes", "true", "t", "on"]);
  const UNSET = new Set(["0", "n", "no", "false", "f", "off", ""]);

  function markValue(raw: string | undefined): boolean | undefined {
    if (raw === undefined) return undefined;
    const v = raw.trim().toLowerCase();
    if (SET.has(v)) return true;
    if (UNSET.has(v)) return false;
    return undefined;
  }

  function markIgnoredBecause(xattr: string, cgroupOwner: number | undefined, scopeOwner: number | undefined): string | undefined {
    if (!xattr.startsWith("user.")) return undefined;
    if (cgroupOwner === 0) return undefined;
    if (cgroupOwner !== undefined && cgroupOwner === scopeOwner) return undefined;
    const who = cgroupOwner === undefined ? "an unknown owner" : `uid ${cgroupOwner}`;
    return `${xattr} is set by the cgroup's owner (${who}), who is neither root nor the owner of the scope`;
  }

  function scopeOwnerOf(scope: { readonly isRoot: boolean; readonly ownerUid: number | undefined } | undefined): number | undefined {
    return scope === undefined || scope.isRoot ? 0 : scope.ownerUid;
  }

  function describeMark(m: { readonly cgroup: string; readonly xattr: string; readonly value: string }): string {
    return `${m.cgroup} has ${m.xattr}=${m.value}`;
  }

  return freeze({
    definePolicy,
    isPolicy,
    OOM_SCORE_ADJ_MIN: -1000,
    OOM_SCORE_ADJ_MAX: 1000,
    cgroupPath,
    cgroupContains,
    parentCgroup,
    ROOT_CGROUP: cgroupPath("/"),
    PREFERENCE_ORDER: freeze({ prefer: 0, normal: 1, avoid: 2 }),
    describeMark,
    markValue,
    markIgnoredBecause,
    scopeOwnerOf,
  });
}
