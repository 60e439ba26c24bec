/**
 * The first code a policy file's realm runs, before any policy code: it takes what it needs of
 * the realm's globals, removes what could run code outside a call (promises, weak-reference
 * callbacks, Atomics, WebAssembly), keeps the one channel to the engine in its closure (never on
 * an object, never passed to anything), and installs `__oomkit`: `run` (the engine's every call
 * into policy code) and `load` (a module's top-level code). What policy code throws is described
 * here, inside the call's deadline, and only that description crosses; an engine refusal comes
 * back as this realm's OomkitError and, when a policy lets it through, the engine raises its own.
 *
 * Like realm-face.ts and realm-views.ts, this function runs only as source text in the realm.
 */
import type { FaceKit } from "./realm-face.js";
import type { ViewKit, Views, Wire } from "./realm-views.js";

export type Channel = (op: string, a?: Wire, b?: Wire, c?: Wire) => string;

export function realmShim(channel: Channel, makeFace: (kit: FaceKit) => Readonly<Record<string, unknown>>, makeViews: (kit: ViewKit) => Views): void {
  "use strict";
  const g = globalThis as unknown as Record<string, unknown>;
  const { parse, stringify } = JSON;
  const { freeze, defineProperty, getPrototypeOf } = Object;
  const apply = Reflect.apply;
  const toString = Object.prototype.toString;
  const RealmError = Error;

  // No promise can be made, settled or observed: a rejection nobody handles would reach Node's
  // process-wide tracker and end the daemon (measured), and a settled promise's callbacks would
  // run after the call. The loader refuses async functions and import(); these are the rest.
  const promiseProto = getPrototypeOf((async () => undefined)()) as Record<string, unknown>;
  for (const k of ["then", "catch", "finally", "constructor"]) delete promiseProto[k];
  for (const k of ["Promise", "FinalizationRegistry", "WeakRef", "Atomics", "SharedArrayBuffer", "WebAssembly"]) delete g[k];
  delete (Array as unknown as Record<string, unknown>).fromAsync;

  class OomkitError extends Error {
    readonly code: string;
    constructor(code: string, message: string) {
      super(message);
      this.name = "OomkitError";
      this.code = code;
    }
  }
  /** Errors this realm made for the engine's refusals, with the engine's id for each. */
  const fromEngine = new WeakMap<object, number>();

  function ask(op: string, a?: Wire, b?: Wire, c?: Wire): string {
    let r: unknown;
    try {
      r = channel(op, a, b, c);
    } catch {
      // Nothing the engine throws is let in, not even to look at.
      throw new OomkitError("E_INTERNAL", `the engine did not answer ${op}`);
    }
    if (typeof r !== "string") throw new OomkitError("E_INTERNAL", `the engine did not answer ${op}`);
    if (r[0] === "o") return r.slice(1);
    const e = parse(r.slice(1)) as { code: string; message: string; id: number };
    const err = new OomkitError(e.code, e.message);
    fromEngine.set(err, e.id);
    throw err;
  }

  const kindOf = (v: unknown): string => (v === null ? "null" : v === undefined ? "undefined" : typeof v === "object" ? "an object" : `a ${typeof v}`);
  const text = (v: unknown, fallback: string): string => (typeof v === "string" ? v : fallback);
  const isThenable = (v: unknown): boolean => ((typeof v === "object" && v !== null) || typeof v === "function") && typeof (v as { then?: unknown }).then === "function";

  /** The policy's own files, as loaded: the frames of a stack worth showing are in them. */
  const files = new Set<string>();
  const FRAME = /^\s*at (?:(.+?) \()?(.+?):(\d+):\d+\)?$/;

  /**
   * Where in the policy's files an error was thrown: the first few frames of its stack that are
   * in them, as "FILE:LINE in FUNCTION" (the transpiler keeps lines; columns it does not, so none
   * are given). Empty when the stack names none of them.
   */
  function placeOf(e: { stack?: unknown }): string {
    const stack = e.stack;
    if (typeof stack !== "string") return "";
    const out: string[] = [];
    for (const line of stack.split("\n")) {
      const m = FRAME.exec(line);
      if (!m || !files.has(m[2] as string)) continue;
      const name = m[1]?.replace(/^Object\./, "");
      // The module's own wrapper calls its top-level code from line 1, unnamed: not a frame of the policy's.
      if (out.length > 0 && m[3] === "1" && (name === undefined || name === "<anonymous>")) continue;
      out.push(`${m[2]}:${m[3]}${name !== undefined && name !== "<anonymous>" ? ` in ${name}` : ""}`);
      if (out.length === 3) break;
    }
    return out.length === 0 ? "" : ` (at ${out.join(", called from ")})`;
  }

  /** describe.ts's describeThrown, inside the realm: one line with where the policy threw it, and the error's own message. */
  function describe(v: unknown): { text: string; message: string } {
    try {
      if ((typeof v !== "object" || v === null) && typeof v !== "function") return { text: `non-error thrown: ${String(v)}`, message: String(v) };
      if (v instanceof RealmError || apply(toString, v, []) === "[object Error]") {
        const e = v as { name?: unknown; message?: unknown; stack?: unknown };
        const message = text(e.message, "");
        return { text: `${text(e.name, "Error")}: ${message}${placeOf(e)}`, message };
      }
    } catch {
      return { text: `thrown: ${kindOf(v)} that could not be described`, message: `${kindOf(v)} that could not be described` };
    }
    try {
      const s = `non-error thrown: ${String(v)}`;
      return { text: s, message: s };
    } catch {
      const s = `non-error thrown: ${kindOf(v)} without a usable toString`;
      return { text: s, message: s };
    }
  }

  /** Tells the engine what a call or a module threw: its own error back by id, or a description. */
  function fault(op: string, e: unknown, id?: number): void {
    const own = typeof e === "object" && e !== null ? fromEngine.get(e) : undefined;
    ask(op, stringify(own !== undefined ? { engine: own } : describe(e)), id);
  }

  const defined = new WeakSet<object>();
  const face = makeFace({
    OomkitError,
    define: (p) => defined.add(p),
    isDefined: (v) => typeof v === "object" && v !== null && defined.has(v),
  });
  const views = makeViews({ ask, OomkitError, parse, stringify });

  const modules = new Map<number, { exports: unknown }>();
  const options = new Map<number, unknown>();
  let policy: Record<string, (...args: unknown[]) => unknown> | undefined;

  function requireFor(from: number): (spec: unknown) => unknown {
    return function require(spec: unknown): unknown {
      if (spec === "oomkit" || spec === "oomkit/policy") return face;
      const { id } = views.read(ask("require", typeof spec === "string" ? spec : undefined, from)) as { id: number };
      return (modules.get(id) as { exports: unknown }).exports;
    };
  }

  function load(id: number, body: (...args: unknown[]) => void): void {
    const where = views.read(ask("load", id)) as { filename: string; dirname: string };
    files.add(where.filename);
    const module = { exports: {} as unknown };
    modules.set(id, module);
    try {
      apply(body, module.exports, [module.exports, requireFor(id), module, where.filename, where.dirname]);
    } catch (e) {
      fault("loadFailed", e, id);
      return;
    }
    ask("loaded", id);
  }

  function optionsOf(o: { realm?: number; data?: unknown }): unknown {
    return o.realm !== undefined ? options.get(o.realm) : o.data;
  }

  function hook(name: string): (...args: unknown[]) => unknown {
    const fn = policy?.[name];
    if (typeof fn !== "function") throw new OomkitError("E_INTERNAL", `the policy has no ${name}`);
    return (...args) => apply(fn, policy, args);
  }

  function decide(spec: Record<string, unknown>): unknown {
    const oc = views.oomControl({ ...(spec.oc as object), options: optionsOf(spec.options as object) });
    const p = policy as Record<string, unknown>;
    if (spec.mode === "evaluate") {
      const v = hook("evaluateTask")(spec.task, spec.chosen, oc);
      return typeof v === "string" ? { verdict: v } : { bad: shown(v) };
    }
    if (typeof p.handleOutOfMemory === "function") {
      const plan = hook("handleOutOfMemory")(oc);
      const made = views.planOf(plan);
      if (made === undefined) {
        const what = plan === undefined || plan === null ? String(plan) : isThenable(plan) ? "a promise (policies are synchronous)" : typeof plan === "object" ? "an object" : `a ${typeof plan}`;
        return { invalid: `returned ${what}, not a plan made with the oc builders` };
      }
      if (made.kind === "act" || spec.mode === "oom" || typeof p.evaluateTask !== "function") return { plan: made.id };
    }
    const evaluate = typeof p.evaluateTask === "function" ? hook("evaluateTask") : () => "default";
    let q = views.read(ask("select")) as { done?: true; task?: unknown; chosen?: unknown };
    while (q.done !== true) {
      const v = evaluate(q.task, q.chosen, oc);
      q = views.read(typeof v === "string" ? ask("select", v) : ask("select.bad", shown(v))) as typeof q;
    }
    return { selected: true };
  }

  function shown(v: unknown): string | undefined {
    try {
      return stringify(v);
    } catch {
      return undefined;
    }
  }

  function perform(spec: Record<string, unknown>): unknown {
    switch (spec.kind) {
      case "policy": {
        const exported = modules.get(spec.module as number)?.exports as Record<string, unknown> | undefined;
        const p = defined.has(exported as object) ? exported : typeof exported === "object" && exported !== null ? exported.default : undefined;
        if (typeof p !== "object" || p === null || !defined.has(p)) return { none: true };
        policy = p as typeof policy;
        const hooks = ["parseOptions", "handleOutOfMemory", "evaluateTask", "handlePressure", "handleCgroupOnline", "handleCgroupOffline"];
        const d = (p as { description?: unknown }).description;
        return { name: (p as { name: unknown }).name, description: typeof d === "string" ? d : undefined, hooks: hooks.filter((h) => typeof (p as Record<string, unknown>)[h] === "function") };
      }
      case "parseOptions": {
        const id = options.size;
        options.set(id, hook("parseOptions")(spec.raw));
        return { realm: id };
      }
      case "decide":
        return decide(spec);
      case "pressure":
      case "online":
      case "offline": {
        const name = spec.kind === "pressure" ? "handlePressure" : spec.kind === "online" ? "handleCgroupOnline" : "handleCgroupOffline";
        const args = spec.kind === "pressure" ? [spec.event, views.pressureControl({ ...(spec.pc as object), options: optionsOf(spec.options as object) })] : [spec.target, optionsOf(spec.options as object), views.policyState()];
        return isThenable(hook(name)(...args)) ? { invalid: "returned a promise (hooks are synchronous)" } : {};
      }
      default:
        throw new OomkitError("E_INTERNAL", `no such call: ${String(spec.kind)}`);
    }
  }

  function run(): void {
    const spec = views.start(ask("call"));
    let out: unknown;
    try {
      out = perform(spec);
    } catch (e) {
      fault("threw", e);
      return;
    }
    ask("return", stringify(out));
  }

  defineProperty(g, "__oomkit", { value: freeze({ run, load }) });
}
