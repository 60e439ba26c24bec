/**
 * Policy state: what a policy keeps between calls (a cgroup's last kill, a count, a moving
 * average), held by the engine rather than in the policy's own variables, so that deciding ahead
 * changes nothing until a plan is carried out.
 *
 * Each attachment (policy name and where it is attached) has one store of JSON values by key.
 * A call works on a draft of it: reads see the store plus the call's own writes; the draft is
 * committed when the call's plan is carried out (live or dry-run; never in explain, nor for a
 * standing plan until the trigger carries it out), and when a hook that has no plan
 * (handlePressure, handleCgroupOnline/Offline) returns without fault. A draft of a call that
 * threw, ran out of time or whose plan was not carried out is dropped.
 *
 * Values are JSON (copied in and out: a policy never holds the store's own objects), and bounded
 * so a policy cannot grow the daemon without end: keys of at most MAX_KEY_LENGTH characters, at
 * most MAX_KEYS of them, each value at most MAX_VALUE_BYTES of JSON.
 */
import { OomkitError } from "../errors.js";

/** A JSON value. */
export type StateValue = null | boolean | number | string | readonly StateValue[] | { readonly [key: string]: StateValue };

/** What a policy's hooks are given as `oc.state`, `pc.state` and the cgroup hooks' third argument. */
export interface PolicyState {
  /** The value kept under `key` (a copy), or undefined. */
  get(key: string): StateValue | undefined;
  /** Keeps a JSON value under `key` (a copy); undefined removes the key. */
  set(key: string, value: StateValue | undefined): void;
  /** The keys kept, sorted. */
  keys(): string[];
}

export const MAX_KEYS = 10_000;
export const MAX_KEY_LENGTH = 256;
export const MAX_VALUE_BYTES = 64 * 1024;

/** Every attachment's kept state, for the life of the daemon (reloads included). */
export class PolicyStateStore {
  readonly #stores = new Map<string, Map<string, string>>();

  /** A draft of one attachment's state for one call. */
  draft(policy: string, attachedTo: string | null): StateDraft {
    const key = `${policy}@${attachedTo ?? "(default)"}`;
    let base = this.#stores.get(key);
    if (!base) this.#stores.set(key, (base = new Map()));
    return new StateDraft(base);
  }
}

/** One call's view of a store: the store's values and the call's own writes, until committed. */
export class StateDraft implements PolicyState {
  readonly #base: Map<string, string>;
  #writes = new Map<string, string | undefined>();

  constructor(base: Map<string, string>) {
    this.#base = base;
  }

  get(key: string): StateValue | undefined {
    const text = this.getJson(key);
    return text === undefined ? undefined : (JSON.parse(text) as StateValue);
  }

  /** The JSON text kept under `key` (how the policy realm takes a value). */
  getJson(key: string): string | undefined {
    const k = checkKey(key);
    return this.#writes.has(k) ? this.#writes.get(k) : this.#base.get(k);
  }

  set(key: string, value: StateValue | undefined): void {
    this.setJson(key, value === undefined ? undefined : toJson(value));
  }

  /** Keeps JSON text under `key` (how the policy realm gives a value); undefined removes it. */
  setJson(key: string, json: string | undefined): void {
    const k = checkKey(key);
    if (json === undefined) {
      this.#writes.set(k, undefined);
      return;
    }
    if (typeof json !== "string") throw new OomkitError("E_CONFIG", "state: a value must be JSON");
    if (json.length > MAX_VALUE_BYTES) throw new OomkitError("E_CONFIG", `state: the value of ${JSON.stringify(k)} is ${json.length} bytes of JSON; at most ${MAX_VALUE_BYTES}`);
    JSON.parse(json); // only JSON is kept
    if (!this.#writes.has(k) && !this.#base.has(k) && this.keys().length >= MAX_KEYS) {
      throw new OomkitError("E_CONFIG", `state: at most ${MAX_KEYS} keys`);
    }
    this.#writes.set(k, json);
  }

  keys(): string[] {
    const all = new Set(this.#base.keys());
    for (const [k, v] of this.#writes) {
      if (v === undefined) all.delete(k);
      else all.add(k);
    }
    return [...all].sort();
  }

  /** Forgets the call's writes (a call run again starts from the store). */
  reset(): void {
    this.#writes = new Map();
  }

  /** Makes the call's writes the store's. */
  commit(): void {
    for (const [k, v] of this.#writes) {
      if (v === undefined) this.#base.delete(k);
      else this.#base.set(k, v);
    }
    this.#writes = new Map();
  }
}

function checkKey(key: unknown): string {
  if (typeof key !== "string" || key.length === 0 || key.length > MAX_KEY_LENGTH) {
    throw new OomkitError("E_CONFIG", `state: a key is a string of 1 to ${MAX_KEY_LENGTH} characters`);
  }
  return key;
}

function toJson(value: StateValue): string {
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch (err) {
    throw new OomkitError("E_CONFIG", `state: the value is not JSON (${(err as Error).message})`);
  }
  if (json === undefined) throw new OomkitError("E_CONFIG", "state: the value is not JSON");
  return json;
}
