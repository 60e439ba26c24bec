/**
 * What a policy in its own realm is handed: CgroupNode, TaskNode, Snapshot, OomControl and
 * PressureControl as views, plans from the builders, all created inside the realm. A view holds
 * a handle (a number the engine gave out in this call) and asks the engine for each figure when
 * it is first read, so reads stay as lazy as the engine's own snapshot: a policy that looks only
 * at cgroups makes no /proc/<pid> read. Answers come as JSON text and are revived here into
 * realm values; the engine re-checks every handle, reason and plan it is given.
 *
 * Like realm-face.ts, this function runs only as source text inside the realm (realm.ts): it
 * must stay self-contained and use only its kit and the realm's globals.
 */

/** A handle, a string or a number: all that crosses to the engine. */
export type Wire = string | number | undefined;

export interface ViewKit {
  /** Asks the engine; the JSON text of its answer, or throws the realm's error for its refusal. */
  readonly ask: (op: string, a?: Wire, b?: Wire, c?: Wire) => string;
  readonly OomkitError: new (code: string, message: string) => Error;
  readonly parse: (text: string) => unknown;
  readonly stringify: (value: unknown) => string | undefined;
}

export interface Views {
  /** Starts a call from the engine's description of it: views of earlier calls no longer reach the engine. */
  start(text: string): Record<string, unknown>;
  /** The engine's answer as realm values. */
  read(text: string, mutable?: boolean): unknown;
  /** The handle of a view of this call, or -1. */
  handleOf(value: unknown): number;
  /** The id of a plan made by the builders in this call, or -1; and its kind. */
  planOf(value: unknown): { readonly id: number; readonly kind: string } | undefined;
  oomControl(spec: Record<string, unknown>): object;
  pressureControl(spec: Record<string, unknown>): object;
  /** The attachment's state, for the cgroup hooks' third argument. */
  policyState(): object;
}

export function realmViews(kit: ViewKit): Views {
  "use strict";
  const { ask, OomkitError, parse, stringify } = kit;
  const { freeze, defineProperty, keys } = Object;
  const isArray = Array.isArray;
  const MEMORY = ["currentBytes", "minBytes", "lowBytes", "highBytes", "maxBytes", "peakBytes", "swapCurrentBytes", "swapHighBytes", "swapMaxBytes", "swapPeakBytes", "oomGroup"];

  let session = -1;
  const cgroups = new Map<number, object>();
  const tasks = new Map<number, object>();
  /** view → [handle, session] */
  const handles = new WeakMap<object, readonly [number, number]>();
  const plans = new WeakMap<object, { readonly id: number; readonly kind: string; readonly session: number }>();

  const current = (view: object): number => {
    const h = handles.get(view);
    if (h === undefined || h[1] !== session) throw new OomkitError("E_CONFIG", "this task or cgroup is from an earlier call; use the ones this call was given");
    return h[0];
  };
  const handleOf = (value: unknown): number => {
    const h = typeof value === "object" && value !== null ? handles.get(value) : undefined;
    return h !== undefined && h[1] === session ? h[0] : -1;
  };
  const memo = (cache: Map<string, unknown>, key: string, get: () => unknown): unknown => {
    if (cache.has(key)) return cache.get(key);
    const v = get();
    cache.set(key, v);
    return v;
  };

  function read(text: string, mutable = false): unknown {
    return revive(parse(text), mutable);
  }

  /** Wire trees (realm.ts's encode) back to values: refs to views, tagged numbers, maps, dates. */
  function revive(v: unknown, mutable = false): unknown {
    if (typeof v !== "object" || v === null) return v;
    if (isArray(v)) {
      for (let i = 0; i < v.length; i++) v[i] = revive(v[i]);
      return mutable ? v : freeze(v);
    }
    const o = v as Record<string, unknown>;
    const ks = keys(o);
    // A tag is the one key of its object, and starts with "$" (keys of data that do are "$$"-escaped).
    const tag = ks.length === 1 && (ks[0] as string).charCodeAt(0) === 36 ? ks[0] : undefined;
    if (tag !== undefined && (ks[0] as string).charCodeAt(1) !== 36) {
      const x = o[tag];
      if (tag === "$t") return taskView(x as unknown[]);
      if (tag === "$c") return cgroupView(x as unknown[]);
      if (tag === "$u") return undefined;
      if (tag === "$n") return Number(x);
      if (tag === "$b") return BigInt(x as string);
      if (tag === "$d") return new Date(x as string);
      if (tag === "$m") return new Map((x as unknown[]).map((e) => revive(e) as [unknown, unknown]));
    }
    for (const k of ks) {
      const val = revive(o[k]);
      if (k.startsWith("$$")) {
        delete o[k];
        defineProperty(o, k.slice(1), { value: val, enumerable: true, writable: true, configurable: true });
      } else o[k] = val;
    }
    return freeze(o);
  }

  class CgroupNode {
    readonly path: string;
    readonly name: string;
    readonly depth: number;
    readonly #memo = new Map<string, unknown>();
    constructor(path: string, depth: number) {
      this.path = path;
      this.name = path === "/" ? "/" : path.slice(path.lastIndexOf("/") + 1);
      this.depth = depth;
    }
    #get(field: string, op = "cg", mutable = false): unknown {
      return memo(this.#memo, `${op}:${field}`, () => read(ask(op, current(this), field), mutable));
    }
    static {
      // Each figure a getter on the prototype, as on the engine's CgroupNode.
      for (const f of ["parent", "isRoot", "vanished", "children", "isLeaf", "stat", "events", "eventsLocal", "swapEvents", "cgroupEvents", "populated", "pressure", "controllers", "xattrs", "ownerUid", "pids", "tasks"]) {
        defineProperty(CgroupNode.prototype, f, { configurable: true, get(this: CgroupNode) { return this.#get(f); } });
      }
      // What could not be read grows as figures are read: asked each time, like a task's exiting.
      defineProperty(CgroupNode.prototype, "unreadable", { configurable: true, get(this: CgroupNode) { return read(ask("cg", current(this), "unreadable")); } });
    }
    declare readonly children: readonly CgroupNode[];
    declare readonly vanished: boolean;
    get memory(): unknown {
      return memo(this.#memo, "memory", () => {
        const m = {};
        for (const f of MEMORY) defineProperty(m, f, { enumerable: true, get: () => this.#get(f, "cg.mem") });
        return freeze(m);
      });
    }
    *descendants(): Generator<CgroupNode, void, undefined> {
      for (const child of this.children) {
        if (child.vanished) continue;
        yield child;
        yield* child.descendants();
      }
    }
    allTasks(): unknown { return read(ask("cg.all", current(this)), true); }
    readAll(): this {
      ask("cg.readAll", current(this));
      return this;
    }
    filePath(file: string): unknown { return read(ask("cg.file", current(this), typeof file === "string" ? file : undefined)); }
  }

  class TaskNode {
    readonly pid: number;
    readonly #s: readonly unknown[];
    readonly #memo = new Map<string, unknown>();
    constructor(ref: readonly unknown[]) {
      this.pid = ref[1] as number;
      this.#s = ref;
    }
    #get(field: string, cache = true): unknown {
      const get = () => read(ask("task", current(this), field));
      return cache ? memo(this.#memo, field, get) : get();
    }
    get comm(): unknown { return this.#s[2]; }
    get state(): unknown { return this.#s[3]; }
    get ppid(): unknown { return this.#s[4]; }
    get pgrp(): unknown { return this.#s[5]; }
    get startTimeTicks(): unknown { return this.#s[6]; }
    get kernelThread(): unknown { return this.#s[7]; }
    static {
      for (const f of ["exiting", "uid", "memory", "oomScoreAdj", "kernelOomScore", "cmdline", "exe", "cgroupPath", "v1MemoryCgroup", "unreadable"]) {
        // exiting can turn true as later reads find the task gone, unreadable grows as figures are read: asked each time.
        defineProperty(TaskNode.prototype, f, { configurable: true, get(this: TaskNode) { return this.#get(f, f !== "exiting" && f !== "unreadable"); } });
      }
    }
    readAll(): this {
      ask("task.readAll", current(this));
      return this;
    }
  }

  function cgroupView(ref: unknown[]): object {
    const h = ref[0] as number;
    let v = cgroups.get(h);
    if (v === undefined) {
      v = freeze(new CgroupNode(ref[1] as string, ref[2] as number));
      handles.set(v, [h, session]);
      cgroups.set(h, v);
    }
    return v;
  }

  function taskView(ref: unknown[]): object {
    const h = ref[0] as number;
    let v = tasks.get(h);
    if (v === undefined) {
      v = freeze(new TaskNode(freeze(ref)));
      handles.set(v, [h, session]);
      tasks.set(h, v);
    }
    return v;
  }

  const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);
  const pathOf = (v: unknown): string | undefined => str(typeof v === "object" && v !== null ? (v as { path?: unknown }).path : v);

  class Snapshot {
    readonly takenAtMonoMs: unknown;
    readonly takenAtWallMs: unknown;
    readonly cgroupMode: unknown;
    readonly facts: { readonly pageSizeBytes: number };
    readonly source: unknown;
    readonly #memo = new Map<string, unknown>();
    constructor(s: Record<string, unknown>) {
      this.takenAtMonoMs = s.takenAtMonoMs;
      this.takenAtWallMs = s.takenAtWallMs;
      this.cgroupMode = s.cgroupMode;
      this.facts = s.facts as { pageSizeBytes: number };
      this.source = s.source;
    }
    #get(field: string): unknown { return memo(this.#memo, field, () => read(ask("snap", field))); }
    get ioMs(): unknown { return read(ask("snap", "ioMs")); }
    get pageSizeBytes(): number { return this.facts.pageSizeBytes; }
    get system(): unknown { return this.#get("system"); }
    get vmstat(): unknown { return this.#get("vmstat"); }
    get root(): CgroupNode | undefined { return this.#get("root") as CgroupNode | undefined; }
    get tasks(): unknown { return this.#get("tasks"); }
    get systemTotalPages(): unknown { return read(ask("snap", "systemTotalPages")); }
    *cgroups(): Generator<CgroupNode, void, undefined> {
      const root = this.root;
      if (!root) return;
      yield root;
      yield* root.descendants();
    }
    cgroup(path: unknown): unknown { return read(ask("snap.cgroup", str(path))); }
    task(pid: unknown): unknown { return read(ask("snap.task", typeof pid === "number" ? pid : undefined)); }
    files(root: unknown): unknown { return read(ask("snap.files", str(root))); }
    totalPagesFor(scope: unknown): unknown { return read(ask("snap.totalPagesFor", scope === undefined ? -2 : handleOf(scope))); }
    badness(task: unknown, scope?: unknown): unknown { return read(ask("snap.badness", handleOf(task), scope === undefined ? -2 : handleOf(scope))); }
  }

  function plan(text: string): object {
    const { id, plan: p } = parse(text) as { id: number; plan: { kind: string } };
    const made = revive(p) as { kind: string };
    plans.set(made, { id, kind: made.kind, session });
    return made;
  }
  const planOf = (value: unknown): { id: number; kind: string } | undefined => {
    const p = typeof value === "object" && value !== null ? plans.get(value) : undefined;
    return p !== undefined && p.session === session ? p : undefined;
  };

  /** The attachment's state: JSON crosses as text both ways, so no value is shared with the engine. */
  class PolicyState {
    get(key: unknown): unknown {
      const text = ask("st.get", str(key));
      return text === "undefined" ? undefined : parse(text);
    }
    set(key: unknown, value: unknown): void {
      ask("st.set", str(key), value === undefined ? undefined : stringify(value));
    }
    keys(): unknown {
      return parse(ask("st.keys"));
    }
  }

  class OomControl {
    readonly #memo = new Map<string, unknown>();
    constructor(spec: Record<string, unknown>) {
      for (const k of ["policy", "scope", "scopePath", "cause", "now", "snapshot", "options"]) defineProperty(this, k, { value: spec[k], enumerable: true });
      defineProperty(this, "state", { value: freeze(new PolicyState()), enumerable: true });
    }
    get tmpfsRoots(): unknown { return memo(this.#memo, "tmpfsRoots", () => read(ask("oc.tmpfsRoots"))); }
    get trustedUids(): unknown { return memo(this.#memo, "trustedUids", () => read(ask("oc.trustedUids"))); }
    cgroups(): unknown { return memo(this.#memo, "cgroups", () => read(ask("oc.cgroups"))); }
    leafCgroups(): unknown { return read(ask("oc.leafCgroups"), true); }
    tasks(): unknown { return memo(this.#memo, "tasks", () => read(ask("oc.tasks"))); }
    *visitTasks(): Generator<unknown, void, undefined> {
      for (let i = 0; ; i++) {
        const t = read(ask("oc.taskAt", i));
        if (t === undefined) return;
        yield t;
      }
    }
    rates(cgroup: unknown): unknown { return read(ask("oc.rates", pathOf(cgroup))); }
    badness(task: unknown): unknown { return read(ask("oc.badness", handleOf(task))); }
    isVictim(target: unknown): unknown { return read(ask("oc.isVictim", handleOf(target))); }
    protectedReason(target: unknown): unknown { return read(ask("oc.protectedReason", handleOf(target))); }
    preference(target: unknown): unknown { return read(ask("oc.preference", handleOf(target))); }
    consider(target: unknown, score: unknown, note?: unknown): void {
      ask("oc.consider", handleOf(target), typeof score === "number" && score === score && score !== 1 / 0 && score !== -1 / 0 ? score : undefined, note === undefined ? undefined : String(note));
    }
    ranked(order: readonly unknown[]): void { ask("oc.ranked", stringify(Array.from(order, handleOf))); }
    skip(target: unknown, reason: unknown): void { ask("oc.skip", handleOf(target), str(reason)); }
    files(root: unknown): unknown { return read(ask("oc.files", str(root))); }
    killTask(task: unknown, reason: unknown): object { return plan(ask("oc.killTask", handleOf(task), str(reason))); }
    killCgroup(cgroup: unknown, reason: unknown): object { return plan(ask("oc.killCgroup", handleOf(cgroup), str(reason))); }
    reclaim(cgroup: unknown, bytes: unknown, reason: unknown): object {
      const n = Number(bytes);
      return plan(ask("oc.reclaim", handleOf(cgroup), n === n && n !== 1 / 0 && n !== -1 / 0 ? n : String(n), str(reason)));
    }
    removeFiles(paths: unknown, reason: unknown): object {
      const ok = isArray(paths) && paths.every((p) => typeof p === "string");
      return plan(ask("oc.removeFiles", ok ? stringify(paths) : undefined, str(reason)));
    }
    pass(reason: unknown): object { return plan(ask("oc.pass", str(reason))); }
    steps(...given: unknown[]): object { return plan(ask("oc.steps", stringify(given.map((p) => planOf(p)?.id ?? -1)))); }
    bestSoFar(given: unknown): void { ask("oc.bestSoFar", planOf(given)?.id ?? -1); }
  }

  /** What declareOom was given, as the engine can take it: a path, or only what kind of value it was. */
  function kindOrValue(v: unknown): string | undefined {
    const kind = v === null ? "null" : v === undefined ? "undefined" : typeof v === "object" ? "an object" : `a ${typeof v}`;
    return stringify(typeof v === "string" ? { value: v } : { kind });
  }

  class PressureControl {
    constructor(spec: Record<string, unknown>) {
      for (const k of ["policy", "snapshot", "options", "now"]) defineProperty(this, k, { value: spec[k], enumerable: true });
      defineProperty(this, "state", { value: freeze(new PolicyState()), enumerable: true });
    }
    rates(cgroup: unknown): unknown { return read(ask("pc.rates", pathOf(cgroup))); }
    declareOom(cgroup: unknown, reason?: unknown): void {
      const path = typeof cgroup === "object" && cgroup !== null ? (cgroup as { path?: unknown }).path : cgroup;
      ask("pc.declareOom", typeof path === "string" ? stringify({ value: path }) : kindOrValue(cgroup), kindOrValue(reason));
    }
  }

  function withSnapshot(spec: Record<string, unknown>): Record<string, unknown> {
    return { ...spec, snapshot: freeze(new Snapshot(spec.snapshot as Record<string, unknown>)) };
  }

  return freeze({
    start(text: string): Record<string, unknown> {
      const spec = parse(text) as Record<string, unknown>;
      if (spec.session !== session) {
        session = spec.session as number;
        cgroups.clear();
        tasks.clear();
      }
      return revive(spec) as Record<string, unknown>;
    },
    read,
    handleOf,
    planOf,
    oomControl: (spec: Record<string, unknown>) => freeze(new OomControl(withSnapshot(spec))),
    pressureControl: (spec: Record<string, unknown>) => freeze(new PressureControl(withSnapshot(spec))),
    policyState: () => freeze(new PolicyState()),
  });
}
