/**
 * A policy file's realm: the `node:vm` context its code runs in, and the engine's only way in.
 *
 * The context holds nothing of the engine's. It is made from a null-prototype object (with an
 * ordinary one, `this.constructor.constructor` is the engine's Function), with code generation
 * from strings and WebAssembly off, no `process`, `require`, timers or console of Node's, and
 * its own microtask queue (`microtaskMode: "afterEvaluate"`), drained before each entry returns.
 * Before any policy code, realm-shim.ts removes promises, weak-reference callbacks, Atomics and
 * WebAssembly, keeps the channel to the engine in a closure, and defines the views policy code is
 * handed (realm-views.ts) and the face it imports (realm-face.ts); every object a policy touches
 * is made inside the realm. The channel takes strings and numbers and answers with JSON text
 * (realm-membrane.ts); no engine object, function or error crosses.
 *
 * Every entry is one `runInContext` of a two-word script, run under the engine's deadline:
 * inside a call that already has one (a decision, a hook) the realm runs under that watchdog;
 * otherwise (loading, parseOptions) it gets one of its own. The watchdog stops a busy loop and a
 * self-requeueing microtask loop alike, and the realm's queue is empty afterwards. A second
 * watchdog per entry would cost a thread start (0.1-0.5 ms, measured, against 1.5 µs without).
 *
 * Why this mechanism (measured in BENCHMARKS.md, "Policy realm"): the engine keeps its lazy
 * snapshot and its one watchdog; a file policy's call on a fresh snapshot costs 1.0-1.15× the
 * same policy's in the engine's realm (reads dominate; the crossings make its own work 2-3×),
 * and a file adds a fraction of a MiB. `ses` lockdown inside the context
 * (reported: freezes the realm, cannot stop a busy loop, about 7 MiB) guards intrinsics shared
 * between parties, which a realm per file makes moot; a worker (about 10 MiB of the 50 MiB
 * budget) would add a heap limit — the one thing a context lacks: a policy can still exhaust the
 * shared heap — but copy or redo the snapshot's lazy reads across threads on every decision; a
 * WebAssembly JavaScript engine would interpret policies many times slower, every figure copied.
 */
import type { PolicyState, StateDraft } from "./policy-state.js";
import * as path from "node:path";
import { types } from "node:util";
import * as vm from "node:vm";
import { OomkitError } from "../errors.js";
import type { CgroupNode } from "./cgroup.js";
import { atDeadlineEnd, callWithDeadline, insideDeadline } from "./deadline.js";
import { describeThrown, ownString } from "./describe.js";
import { OomControlImpl } from "./oom-control.js";
import type { Plan } from "./plan.js";
import { type OomControl, type Policy, type PolicyDefinition, type PressureControl, type PressureEvent, type TaskVerdict, definePolicy } from "./policy.js";
import { realmFace } from "./realm-face.js";
import { type Call, type OptionsWire, Session } from "./realm-membrane.js";
import { type Channel, realmShim } from "./realm-shim.js";
import { realmViews } from "./realm-views.js";
import { type PolicyResult, PolicyThrew, invalidVerdict, setDecider } from "./select.js";
import type { TaskNode } from "./task.js";

/** How a realm finds and reads the modules a policy file imports (the loader checks each). */
export interface RealmSources {
  /** The file `spec` names from `from`; throws OomkitError E_CONFIG when it may not be imported. */
  resolve(from: string, spec: string): string;
  /** The file's code, ready to run (JavaScript with `require` calls); throws OomkitError. */
  source(file: string): string;
}

export interface RealmOptions {
  /** Names the context (for debuggers and heap snapshots). */
  readonly name: string;
  /** The deadline of an entry made outside any other: module top-level code, parseOptions. */
  readonly deadlineMs: number;
  readonly sources: RealmSources;
}

/** The longest string the realm may send in one argument. */
const MAX_WIRE = 1 << 20;
const PARAMS = ["exports", "require", "module", "__filename", "__dirname"];

let shimScript: vm.Script | undefined;
let runScript: vm.Script | undefined;

/** Options a realm's parseOptions made: they stay in the realm, and the engine holds this token. */
class ParsedOptions {
  readonly realm: PolicyRealm;
  readonly id: number;
  constructor(realm: PolicyRealm, id: number) {
    this.realm = realm;
    this.id = id;
    Object.freeze(this);
  }
}

interface ModuleRecord {
  readonly id: number;
  readonly file: string;
  readonly script: vm.Script;
  state: "new" | "loading" | "loaded" | "failed";
  failure?: unknown;
}

const NO_CALL = `e${JSON.stringify({ code: "E_INTERNAL", message: "no call into the policy is in progress", id: -1 })}`;

const isWire = (v: unknown): boolean => v === undefined || typeof v === "number" || (typeof v === "string" && v.length <= MAX_WIRE);

export class PolicyRealm {
  readonly #context: vm.Context;
  readonly #options: RealmOptions;
  readonly #modules = new Map<string, ModuleRecord>();
  readonly #byId: ModuleRecord[] = [];
  #session: Session | undefined;
  #seq = 0;
  #loading: number | undefined;

  constructor(options: RealmOptions) {
    this.#options = options;
    this.#context = vm.createContext(Object.create(null) as object, {
      name: `oomkit policy ${options.name}`,
      codeGeneration: { strings: false, wasm: false },
      microtaskMode: "afterEvaluate",
    });
    shimScript ??= new vm.Script(`(function (channel) { "use strict"; return (${realmShim})(channel, ${realmFace}, ${realmViews}); })`, { filename: "oomkit:realm-shim" });
    const install = shimScript.runInContext(this.#context) as (channel: Channel) => void;
    // The one call from the engine straight into the realm, before any policy code exists there.
    install((op, a, b, c) => this.#channel(op, a, b, c));
  }

  /** Loads `file` (and what it imports) and returns its default export as an engine policy. */
  load(file: string): Policy {
    const main = this.#module(file);
    this.#enter({ kind: "module" }, () => this.#evaluate(main));
    return this.#policy(main);
  }

  #channel(op: unknown, a: unknown, b: unknown, c: unknown): string {
    const s = this.#session;
    try {
      if (typeof op !== "string" || !isWire(a) || !isWire(b) || !isWire(c)) throw new OomkitError("E_INTERNAL", "a policy realm may send only strings and numbers");
      if (!s) throw new OomkitError("E_INTERNAL", "no call into the policy is in progress");
      return `o${this.#answer(s, op, a, b, c)}`;
    } catch (err) {
      try {
        return s ? `e${s.refuse(err)}` : NO_CALL;
      } catch {
        return NO_CALL; // the channel never throws: nothing of the engine's may reach the realm
      }
    }
  }

  #answer(s: Session, op: string, a: unknown, b: unknown, c: unknown): string {
    switch (op) {
      case "call":
        return s.spec();
      case "return": {
        const r: unknown = JSON.parse(String(a));
        if (typeof r !== "object" || r === null || Array.isArray(r)) throw new OomkitError("E_INTERNAL", "a call returned no record");
        s.result = r as Record<string, unknown>;
        return "null";
      }
      case "threw":
        s.fault = s.faultOf(a);
        return "null";
      case "load": {
        if (typeof a !== "number" || a !== this.#loading) throw new OomkitError("E_INTERNAL", "no module is waiting to load");
        this.#loading = undefined;
        const m = this.#byId[a] as ModuleRecord;
        return JSON.stringify({ filename: m.file, dirname: path.dirname(m.file) });
      }
      case "loaded":
      case "loadFailed": {
        const m = typeof (op === "loaded" ? a : b) === "number" ? this.#byId[(op === "loaded" ? a : b) as number] : undefined;
        if (m?.state !== "loading") throw new OomkitError("E_INTERNAL", "no such module is loading");
        if (op === "loaded") m.state = "loaded";
        else this.#failed(m, s.faultOf(a));
        return "null";
      }
      case "require":
        return this.#require(a, b);
      default:
        return s.answer(op, a, b, c);
    }
  }

  /** A module whose top-level code threw: an engine error as it was, the policy's own described. */
  #failed(m: ModuleRecord, fault: unknown): void {
    m.state = "failed";
    m.failure = fault instanceof PolicyThrew ? new OomkitError("E_CONFIG", `${m.file}: its top-level code threw ${fault.description}`) : fault;
  }

  #require(spec: unknown, from: unknown): string {
    const importer = typeof from === "number" ? this.#byId[from] : undefined;
    if (typeof spec !== "string" || !importer) throw new OomkitError("E_CONFIG", "require takes a module name");
    const m = this.#module(this.#options.sources.resolve(importer.file, spec));
    if (m.state === "new") this.#evaluate(m);
    if (m.state === "failed") throw m.failure;
    return JSON.stringify({ id: m.id });
  }

  /** A module's record, compiled on first sight: its code as one function body, run by the shim's `load`. */
  #module(file: string): ModuleRecord {
    const known = this.#modules.get(file);
    if (known) return known;
    const code = this.#options.sources.source(file);
    try {
      // Parsed alone first: code that closes the wrapper's function early is a syntax error here.
      vm.compileFunction(code, PARAMS, { parsingContext: this.#context, filename: file });
    } catch (err) {
      throw new OomkitError("E_CONFIG", `${file}: ${this.#message(err)}`);
    }
    const id = this.#byId.length;
    const script = new vm.Script(`__oomkit.load(${id}, function (${PARAMS.join(", ")}) {${code}\n})`, { filename: file });
    const m: ModuleRecord = { id, file, script, state: "new" };
    this.#byId.push(m);
    this.#modules.set(file, m);
    return m;
  }

  #evaluate(m: ModuleRecord): void {
    const prior = this.#loading;
    this.#loading = m.id;
    m.state = "loading";
    try {
      m.script.runInContext(this.#context);
    } catch (err) {
      this.#failed(m, this.#escaped(err));
    } finally {
      this.#loading = prior;
    }
    const state = m.state as ModuleRecord["state"]; // the realm's answers changed it
    if (state === "failed") throw m.failure;
    if (state !== "loaded") {
      m.state = "failed";
      m.failure = new OomkitError("E_CONFIG", `${m.file}: its top-level code did not finish`);
      throw m.failure;
    }
  }

  /** A syntax error's message, read without running anything (it may come from the realm). */
  #message(err: unknown): string {
    return typeof err === "object" && err !== null && !types.isProxy(err) ? (ownString(err, "message") ?? "does not compile") : "does not compile";
  }

  /** What escaped an entry: an engine error as it is; anything else is the policy's, described. */
  #escaped(err: unknown): unknown {
    if (typeof err === "object" && err !== null && !types.isProxy(err) && err instanceof Error) return err;
    return new PolicyThrew(describeThrown(err), "threw a value the realm could not handle");
  }

  /** One entry into the realm, under the current deadline or one of its own. */
  #enter(call: Call, body: () => void): Session {
    const session = new Session(++this.#seq, call);
    this.#session = session;
    const end = () => {
      if (this.#session === session) this.#session = undefined;
    };
    if (insideDeadline()) atDeadlineEnd(end);
    try {
      if (insideDeadline()) body();
      else callWithDeadline(body, this.#options.deadlineMs);
    } catch (err) {
      throw this.#escaped(err);
    } finally {
      end();
    }
    return session;
  }

  #call(call: Call): { session: Session; result: Record<string, unknown> } {
    runScript ??= new vm.Script("__oomkit.run()", { filename: "oomkit:realm-call" });
    const script = runScript;
    const session = this.#enter(call, () => void script.runInContext(this.#context));
    return { session, result: session.outcome() };
  }

  #optionsWire(o: unknown): OptionsWire {
    return o instanceof ParsedOptions && o.realm === this ? { realm: o.id } : { data: o };
  }

  #control(oc: OomControl): OomControlImpl<unknown> {
    if (!(oc instanceof OomControlImpl)) throw new OomkitError("E_INTERNAL", "a policy file's realm takes the engine's own OOM control");
    return oc as OomControlImpl<unknown>;
  }

  #decide(oc: OomControlImpl<unknown>): PolicyResult {
    const { session, result } = this.#call({ kind: "decide", mode: "decide", oc, options: this.#optionsWire(oc.options) });
    if (result.selected !== true) return { plan: session.plan(result.plan) };
    if (!session.selected) throw new OomkitError("E_PARSE", "the selection loop was left before its end");
    return session.selected;
  }

  /** The engine's policy for the module's default export: its hooks enter the realm. */
  #policy(main: ModuleRecord): Policy {
    const info = this.#call({ kind: "policy", module: main.id }).result;
    if (info.none === true) throw new OomkitError("E_CONFIG", `${main.file}: its default export is not a policy made with definePolicy() from "oomkit/policy"`);
    const hooks = Array.isArray(info.hooks) ? (info.hooks as unknown[]) : [];
    const has = (h: string) => hooks.includes(h);
    const def: PolicyDefinition = {
      name: String(info.name),
      ...(typeof info.description === "string" ? { description: info.description } : {}),
      ...(has("parseOptions") ? { parseOptions: (raw: unknown) => new ParsedOptions(this, Number(this.#call({ kind: "parseOptions", raw }).result.realm)) } : {}),
      ...(has("handleOutOfMemory") ? { handleOutOfMemory: (oc: OomControl) => this.#oomOnly(this.#control(oc)) } : {}),
      ...(has("evaluateTask") ? { evaluateTask: (task: TaskNode, chosen: TaskNode | undefined, oc: OomControl) => this.#evaluateOne(task, chosen, this.#control(oc)) } : {}),
      ...(has("handlePressure")
        ? { handlePressure: (event: PressureEvent, pc: PressureControl) => void this.#call({ kind: "pressure", event, pc, options: this.#optionsWire(pc.options) }) }
        : {}),
      ...(has("handleCgroupOnline") ? { handleCgroupOnline: (cgroup: CgroupNode, o: unknown, state: PolicyState) => void this.#call({ kind: "online", cgroup, options: this.#optionsWire(o), state: state as StateDraft }) } : {}),
      ...(has("handleCgroupOffline") ? { handleCgroupOffline: (p: string, o: unknown, state: PolicyState) => void this.#call({ kind: "offline", path: p, options: this.#optionsWire(o), state: state as StateDraft }) } : {}),
    };
    const policy = definePolicy(def);
    setDecider(policy, (oc) => this.#decide(oc));
    return policy;
  }

  /** handleOutOfMemory alone, for a caller that does not go through runPolicy. */
  #oomOnly(oc: OomControlImpl<unknown>): Plan {
    const { session, result } = this.#call({ kind: "decide", mode: "oom", oc, options: this.#optionsWire(oc.options) });
    return session.plan(result.plan);
  }

  /** evaluateTask for one task, for a caller that runs its own loop (runPolicy asks the realm once for all). */
  #evaluateOne(task: TaskNode, chosen: TaskNode | undefined, oc: OomControlImpl<unknown>): TaskVerdict {
    const { result } = this.#call({ kind: "decide", mode: "evaluate", oc, options: this.#optionsWire(oc.options), task, chosen });
    if (typeof result.verdict !== "string") throw invalidVerdict(typeof result.bad === "string" ? result.bad : undefined);
    return result.verdict as TaskVerdict;
  }
}
