/**
 * The engine's side of a policy realm's one channel, for one call into policy code (a session).
 * The realm asks with an operation name and at most three strings or numbers; the session
 * answers with JSON text. Tasks and cgroups cross as handles: the index of a node in this
 * session's table, which holds only nodes already handed out in this call, so a handle can name
 * nothing the policy was not given. Every argument is checked as if hostile; plans are built by
 * the engine's own OomControl builders and kept here, and only their ids cross. Nothing here
 * reads a property of a realm value: nothing but strings and numbers arrives.
 */
import type { StateDraft } from "./policy-state.js";
import { types } from "node:util";
import { OomkitError } from "../errors.js";
import { CgroupNode } from "./cgroup.js";
import { MAX_DESCRIPTION, ownString } from "./describe.js";
import type { OomControlImpl } from "./oom-control.js";
import type { Plan } from "./plan.js";
import type { PressureControl, PressureEvent } from "./policy.js";
import { type PolicyResult, type SelectQuestion, PolicyThrew, invalidVerdict, selectSteps } from "./select.js";
import type { Snapshot } from "./snapshot.js";
import { TaskNode } from "./task.js";
import { isoTime } from "../iso-time.js";

/** A policy's options as a call hands them over: made by its parseOptions in the realm, or plain data. */
export type OptionsWire = { readonly realm: number } | { readonly data: unknown };

/** One call into a realm, as the engine makes it. */
export type Call =
  | { readonly kind: "module" }
  | { readonly kind: "policy"; readonly module: number }
  | { readonly kind: "parseOptions"; readonly raw: unknown }
  | { readonly kind: "decide"; readonly mode: "decide" | "oom" | "evaluate"; readonly oc: OomControlImpl<unknown>; readonly options: OptionsWire; readonly task?: TaskNode; readonly chosen?: TaskNode | undefined }
  | { readonly kind: "pressure"; readonly event: PressureEvent; readonly pc: PressureControl; readonly options: OptionsWire }
  | { readonly kind: "online"; readonly cgroup: CgroupNode; readonly options: OptionsWire; readonly state: StateDraft }
  | { readonly kind: "offline"; readonly path: string; readonly options: OptionsWire; readonly state: StateDraft };

type Node = CgroupNode | TaskNode;

const CGROUP_FIELDS: ReadonlySet<string> = new Set(["parent", "isRoot", "vanished", "children", "isLeaf", "stat", "events", "eventsLocal", "swapEvents", "cgroupEvents", "populated", "pressure", "controllers", "xattrs", "ownerUid", "pids", "tasks", "unreadable"]);
/** CgroupMemory's fields, each read on its own (realm-views.ts's MEMORY is the same list). */
export const MEMORY_FIELDS: ReadonlySet<string> = new Set(["currentBytes", "minBytes", "lowBytes", "highBytes", "maxBytes", "peakBytes", "swapCurrentBytes", "swapHighBytes", "swapMaxBytes", "swapPeakBytes", "oomGroup"]);
const TASK_FIELDS: ReadonlySet<string> = new Set(["exiting", "uid", "memory", "oomScoreAdj", "kernelOomScore", "cmdline", "exe", "cgroupPath", "v1MemoryCgroup", "unreadable"]);
const SNAPSHOT_FIELDS: ReadonlySet<string> = new Set(["ioMs", "system", "vmstat", "root", "tasks", "systemTotalPages"]);

/** A value the engine hands to a kind check (kindOf) standing in for one the realm described. */
function standIn(wire: unknown): unknown {
  const w = JSON.parse(String(wire)) as { value?: string; kind?: string };
  if (typeof w.value === "string") return w.value;
  const byKind: Record<string, unknown> = { null: null, undefined: undefined, "a number": 0, "a boolean": false, "a bigint": 0n, "a symbol": Symbol("x"), "a function": () => undefined };
  return w.kind !== undefined && w.kind in byKind ? byKind[w.kind] : {};
}

export class Session {
  readonly id: number;
  readonly call: Call;
  /** What the realm returned; undefined until it did. */
  result: Record<string, unknown> | undefined;
  /** What the call threw (Session.faultOf), when it threw. */
  fault: unknown;
  /** The selection loop's result, once the realm has driven it to the end. */
  selected: PolicyResult | undefined;
  readonly #nodes: Node[] = [];
  readonly #ids = new Map<Node, number>();
  readonly #plans: Plan[] = [];
  readonly #errors: unknown[] = [];
  #given = false;
  #selection: Generator<SelectQuestion, PolicyResult, unknown> | undefined;

  constructor(id: number, call: Call) {
    this.id = id;
    this.call = call;
  }

  get #oc(): OomControlImpl<unknown> {
    if (this.call.kind !== "decide") throw new OomkitError("E_CONFIG", "the OOM control belongs to handleOutOfMemory and evaluateTask");
    return this.call.oc;
  }
  /** The state of the attachment this call is for (the policy's own, through its control or hook). */
  get #state(): StateDraft {
    switch (this.call.kind) {
      case "decide":
        return this.call.oc.state as StateDraft;
      case "pressure":
        return this.call.pc.state as StateDraft;
      case "online":
      case "offline":
        return this.call.state;
      default:
        throw new OomkitError("E_CONFIG", "state belongs to a policy's hooks");
    }
  }
  get #snapshot(): Snapshot {
    if (this.call.kind === "decide") return this.call.oc.snapshot;
    if (this.call.kind === "pressure") return this.call.pc.snapshot;
    throw new OomkitError("E_CONFIG", "this hook is given no snapshot");
  }

  /** A plan the realm's builders made in this call. */
  plan(id: unknown): Plan {
    const p = typeof id === "number" ? this.#plans[id] : undefined;
    if (!p) throw new OomkitError("E_PARSE", "returned a plan the engine did not make in this call");
    return p;
  }

  /** An engine error the realm is told of: its message and code cross, and an id to raise it again by. */
  refuse(err: unknown): string {
    this.#errors.push(err);
    const e = typeof err === "object" && err !== null && !types.isProxy(err) && err instanceof Error ? err : undefined;
    const code = e instanceof OomkitError ? e.code : "E_INTERNAL";
    const message = (e && ownString(e, "message")) ?? "the engine failed";
    return JSON.stringify({ code, message: message.slice(0, MAX_DESCRIPTION), id: this.#errors.length - 1 });
  }

  /**
   * What the realm reports policy code threw: an engine error it let through (by the id the
   * realm was given), raised again as it was; otherwise the realm's description of the value.
   */
  faultOf(wire: unknown): unknown {
    const w = JSON.parse(String(wire)) as { engine?: unknown; text?: unknown; message?: unknown };
    if (typeof w.engine === "number" && w.engine >= 0 && w.engine < this.#errors.length) return this.#errors[w.engine];
    return new PolicyThrew(String(w.text).slice(0, MAX_DESCRIPTION), String(w.message).slice(0, MAX_DESCRIPTION));
  }

  /** What the realm is asked to do: once per session. */
  spec(): string {
    if (this.#given) throw new OomkitError("E_INTERNAL", "no call is waiting");
    this.#given = true;
    const c = this.call;
    const base = { kind: c.kind, session: this.id };
    switch (c.kind) {
      case "module":
        throw new OomkitError("E_INTERNAL", "no call is waiting");
      case "policy":
        return this.encode({ ...base, module: c.module });
      case "parseOptions":
        return this.encode({ ...base, raw: c.raw });
      case "decide": {
        const oc = c.oc;
        const control = { policy: oc.policy, scope: oc.scope, scopePath: oc.scopePath, cause: oc.cause, now: oc.now, snapshot: statics(oc.snapshot) };
        return this.encode({ ...base, mode: c.mode, oc: control, options: c.options, task: c.task, chosen: c.chosen });
      }
      case "pressure":
        return this.encode({ ...base, event: c.event, pc: { policy: c.pc.policy, now: c.pc.now, snapshot: statics(c.pc.snapshot) }, options: c.options });
      case "online":
        return this.encode({ ...base, target: c.cgroup, options: c.options });
      case "offline":
        return this.encode({ ...base, target: c.path, options: c.options });
      default: {
        const never: never = c;
        return never;
      }
    }
  }

  #handle(n: Node): number {
    let h = this.#ids.get(n);
    if (h === undefined) {
      h = this.#nodes.push(n) - 1;
      this.#ids.set(n, h);
    }
    return h;
  }

  #node(h: unknown, what: string, kind?: "task" | "cgroup"): Node {
    const n = typeof h === "number" && Number.isInteger(h) ? this.#nodes[h] : undefined;
    if (n === undefined || (kind === "task" && !(n instanceof TaskNode)) || (kind === "cgroup" && !(n instanceof CgroupNode))) {
      throw new OomkitError("E_CONFIG", `${what} takes a ${kind ?? "task or cgroup"} from the snapshot`);
    }
    return n;
  }

  /** Engine values as JSON the realm revives (realm-views.ts): nodes as handles, and what JSON lacks. */
  encode(value: unknown): string {
    return JSON.stringify(this.#wire(value));
  }

  #wire(v: unknown): unknown {
    if (v === undefined) return { $u: 1 };
    if (typeof v === "number") return Number.isFinite(v) ? v : { $n: String(v) };
    if (typeof v === "bigint") return { $b: String(v) };
    if (typeof v !== "object" || v === null) return typeof v === "function" || typeof v === "symbol" ? { $u: 1 } : v;
    if (v instanceof TaskNode) return { $t: [this.#handle(v), v.pid, v.comm, v.state, v.ppid, v.pgrp, v.startTimeTicks, v.kernelThread] };
    if (v instanceof CgroupNode) return { $c: [this.#handle(v), v.path, v.depth] };
    if (Array.isArray(v)) return v.map((x) => this.#wire(x));
    if (v instanceof Map) return { $m: [...v].map(([k, x]) => [this.#wire(k), this.#wire(x)]) };
    if (v instanceof Date) return { $d: isoTime(v.getTime()) };
    const out = Object.create(null) as Record<string, unknown>;
    for (const k of Object.keys(v)) out[k.startsWith("$") ? `$${k}` : k] = this.#wire((v as Record<string, unknown>)[k]);
    return out;
  }

  #planAnswer(p: Plan): string {
    this.#plans.push(p);
    return `{"id":${this.#plans.length - 1},"plan":${this.encode(p)}}`;
  }

  /** Answers one question about the snapshot, the nodes, the OOM control or the pressure control. */
  answer(op: string, a: unknown, b: unknown, c: unknown): string {
    const str = (v: unknown): string => (typeof v === "string" ? v : "");
    switch (op) {
      case "cg":
      case "cg.mem": {
        const fields = op === "cg" ? CGROUP_FIELDS : MEMORY_FIELDS;
        if (typeof b !== "string" || !fields.has(b)) throw new OomkitError("E_CONFIG", `a cgroup has no ${String(b)}`);
        const node = this.#node(a, "a cgroup view", "cgroup") as CgroupNode;
        return this.encode((op === "cg" ? (node as unknown as Record<string, unknown>) : (node.memory as unknown as Record<string, unknown>))[b]);
      }
      case "cg.all":
        return this.encode((this.#node(a, "allTasks", "cgroup") as CgroupNode).allTasks());
      case "cg.readAll":
        (this.#node(a, "readAll", "cgroup") as CgroupNode).readAll();
        return "null";
      case "cg.file":
        return this.encode((this.#node(a, "filePath", "cgroup") as CgroupNode).filePath(str(b) as Parameters<CgroupNode["filePath"]>[0]));
      case "task": {
        if (typeof b !== "string" || !TASK_FIELDS.has(b)) throw new OomkitError("E_CONFIG", `a task has no ${String(b)}`);
        return this.encode((this.#node(a, "a task view", "task") as unknown as Record<string, unknown>)[b]);
      }
      case "task.readAll":
        (this.#node(a, "readAll", "task") as TaskNode).readAll();
        return "null";
      case "snap":
        if (typeof a !== "string" || !SNAPSHOT_FIELDS.has(a)) throw new OomkitError("E_CONFIG", `a snapshot has no ${String(a)}`);
        return this.encode((this.#snapshot as unknown as Record<string, unknown>)[a]);
      case "snap.cgroup":
        return this.encode(this.#snapshot.cgroup(str(a)));
      case "snap.task":
        return this.encode(typeof a === "number" ? this.#snapshot.task(a) : undefined);
      case "snap.files":
      case "oc.files": {
        // Files only under a configured tmpfs root, wherever a policy asks: a snapshot can list any folder.
        const roots = this.call.kind === "decide" ? this.call.oc.tmpfsRoots : [];
        return this.encode(roots.includes(str(a)) ? this.#snapshot.files(str(a)) : []);
      }
      case "snap.totalPagesFor":
        return this.encode(this.#snapshot.totalPagesFor(a === -2 ? undefined : (this.#node(a, "totalPagesFor", "cgroup") as CgroupNode)));
      case "snap.badness":
        return this.encode(this.#snapshot.badness(this.#node(a, "badness", "task") as TaskNode, b === -2 ? undefined : (this.#node(b, "badness", "cgroup") as CgroupNode)));
      case "oc.tmpfsRoots":
        return this.encode(this.#oc.tmpfsRoots);
      case "oc.trustedUids":
        return this.encode(this.#oc.trustedUids);
      case "oc.cgroups":
        return this.encode(this.#oc.cgroups());
      case "oc.leafCgroups":
        return this.encode(this.#oc.leafCgroups());
      case "oc.tasks":
        return this.encode(this.#oc.tasks());
      case "oc.taskAt":
        return this.encode(typeof a === "number" && Number.isInteger(a) && a >= 0 ? this.#oc.taskAt(a) : undefined);
      case "oc.rates":
        return this.encode(this.#oc.rates({ path: str(a) } as CgroupNode));
      case "oc.badness":
        return this.encode(this.#oc.badness(this.#node(a, "badness", "task") as TaskNode));
      case "oc.isVictim":
        return this.encode(this.#oc.isVictim(this.#node(a, "isVictim")));
      case "oc.protectedReason":
        return this.encode(this.#oc.protectedReason(this.#node(a, "protectedReason")));
      case "oc.preference":
        return this.encode(this.#oc.preference(this.#node(a, "preference")));
      case "oc.consider":
        this.#oc.consider(this.#node(a, "consider"), typeof b === "number" ? b : Number.NaN, typeof c === "string" ? c : undefined);
        return "null";
      case "oc.ranked": {
        const order = JSON.parse(str(a) || "[]") as unknown[];
        this.#oc.ranked((Array.isArray(order) ? order : []).map((h) => this.#nodes[typeof h === "number" ? h : -1]).filter((n): n is Node => n !== undefined));
        return "null";
      }
      case "oc.skip":
        this.#oc.skip(this.#node(a, "skip"), b as string);
        return "null";
      case "oc.killTask":
        return this.#planAnswer(this.#oc.killTask(this.#node(a, "killTask", "task") as TaskNode, b as string));
      case "oc.killCgroup":
        return this.#planAnswer(this.#oc.killCgroup(this.#node(a, "killCgroup", "cgroup") as CgroupNode, b as string));
      case "oc.reclaim":
        return this.#planAnswer(this.#oc.reclaim(this.#node(a, "reclaim", "cgroup") as CgroupNode, Number(b), c as string));
      case "oc.removeFiles": {
        const paths: unknown = typeof a === "string" ? JSON.parse(a) : undefined;
        return this.#planAnswer(this.#oc.removeFiles(paths as string[], b as string));
      }
      case "oc.pass":
        return this.#planAnswer(this.#oc.pass(a as string));
      case "oc.steps": {
        const ids = JSON.parse(str(a) || "[]") as unknown[];
        if (!Array.isArray(ids) || ids.some((id) => typeof id !== "number" || this.#plans[id] === undefined)) throw new OomkitError("E_CONFIG", "steps() takes plans made by the oc builders");
        return this.#planAnswer(this.#oc.steps(...ids.map((id) => this.#plans[id as number] as Plan)));
      }
      case "oc.bestSoFar": {
        const p = typeof a === "number" ? this.#plans[a] : undefined;
        if (!p) throw new OomkitError("E_CONFIG", "bestSoFar takes a plan made by the oc builders in this call");
        this.#oc.bestSoFar(p);
        return "null";
      }
      case "st.get": {
        const json = this.#state.getJson(str(a));
        return json === undefined ? "undefined" : json;
      }
      case "st.set":
        this.#state.setJson(str(a), typeof b === "string" ? b : undefined);
        return "null";
      case "st.keys":
        return JSON.stringify(this.#state.keys());
      case "pc.rates":
      case "pc.declareOom": {
        if (this.call.kind !== "pressure") throw new OomkitError("E_CONFIG", "the pressure control belongs to handlePressure");
        if (op === "pc.rates") return this.encode(this.call.pc.rates({ path: str(a) } as CgroupNode));
        this.call.pc.declareOom(standIn(a) as string, standIn(b) as string);
        return "null";
      }
      case "select":
      case "select.bad": {
        if (this.call.kind !== "decide" || this.call.mode !== "decide") throw new OomkitError("E_INTERNAL", "no selection loop in this call");
        if (op === "select.bad") throw invalidVerdict(typeof a === "string" ? a : undefined);
        const first = this.#selection === undefined;
        this.#selection ??= selectSteps(this.call.oc);
        const step = first ? this.#selection.next() : this.#selection.next(a);
        if (!step.done) return this.encode(step.value);
        this.selected = step.value;
        return '{"done":true}';
      }
      default:
        throw new OomkitError("E_INTERNAL", `no such question: ${op}`);
    }
  }

  /** The call's outcome as the engine takes it: its result, or what it threw raised again. */
  outcome(): Record<string, unknown> {
    if (this.fault !== undefined) throw this.fault;
    const r = this.result;
    if (r === undefined) throw new OomkitError("E_PARSE", "returned nothing the engine could read");
    if (typeof r.invalid === "string") throw new OomkitError("E_PARSE", r.invalid.slice(0, MAX_DESCRIPTION));
    return r;
  }
}

function statics(s: Snapshot): Record<string, unknown> {
  return { takenAtMonoMs: s.takenAtMonoMs, takenAtWallMs: s.takenAtWallMs, cgroupMode: s.cgroupMode, facts: s.facts, source: s.source };
}
