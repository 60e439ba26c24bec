/**
 * The machine at one instant of a timeline, as plain maps, and the one function that moves it to
 * the next instant (applyFrame) and the one that says what changed (diffStates): the reader and
 * the writer agree by construction.
 */
import { OomkitError } from "../errors.js";
import type { TimelineFrameData, TimelineLimits } from "./format.js";

export interface MachineState {
  /** Machine path → text. */
  readonly files: ReadonlyMap<string, string>;
  /** Machine path → link text (never followed). */
  readonly links: ReadonlyMap<string, string>;
  readonly xattrs: ReadonlyMap<string, ReadonlyMap<string, string>>;
  readonly owners: ReadonlyMap<string, number>;
}

export const EMPTY_STATE: MachineState = { files: new Map(), links: new Map(), xattrs: new Map(), owners: new Map() };

const bad = (where: string, message: string): OomkitError => new OomkitError("E_CONFIG", `${where}: ${message}`);

/** The state after `frame`; throws E_CONFIG naming `where` when the frame does not fit the state or the limits. */
export function applyFrame(before: MachineState, frame: TimelineFrameData, limits: TimelineLimits, where: string): MachineState {
  const files = new Map(before.files);
  const links = new Map(before.links);
  for (const p of frame.removed ?? []) {
    if (!files.delete(p) && !links.delete(p)) throw bad(where, `removes ${p}, which the frame before did not have`);
  }
  for (const [p, text] of Object.entries(frame.files ?? {})) {
    links.delete(p);
    files.set(p, text);
  }
  for (const [p, text] of Object.entries(frame.links ?? {})) {
    files.delete(p);
    links.set(p, text);
  }
  const xattrs = frame.xattrs ? new Map(Object.entries(frame.xattrs).map(([p, x]) => [p, new Map(Object.entries(x))] as const)) : before.xattrs;
  const owners = frame.owners ? new Map(Object.entries(frame.owners)) : before.owners;
  const state: MachineState = { files, links, xattrs, owners };
  checkLimits(state, limits, where);
  return state;
}

function checkLimits(s: MachineState, limits: TimelineLimits, where: string): void {
  const entries = s.files.size + s.links.size + s.xattrs.size + s.owners.size;
  if (entries > limits.stateEntries) throw bad(where, `the machine holds ${entries} entries, over the limit of ${limits.stateEntries}`);
  let bytes = 0;
  for (const [p, t] of s.files) bytes += p.length + t.length;
  for (const [p, t] of s.links) bytes += p.length + t.length;
  if (bytes > limits.stateBytes) throw bad(where, `the machine holds ${bytes} characters of text, over the limit of ${limits.stateBytes}`);
}

const sameMap = <V>(a: ReadonlyMap<string, V>, b: ReadonlyMap<string, V>, eq: (x: V, y: V) => boolean): boolean =>
  a.size === b.size && [...a].every(([k, v]) => b.has(k) && eq(v, b.get(k) as V));

/** The frame that takes `before` to `after` (the whole of `after` when `before` is EMPTY_STATE). */
export function diffStates(before: MachineState, after: MachineState): TimelineFrameData {
  const files: Record<string, string> = {};
  const links: Record<string, string> = {};
  const removed: string[] = [];
  for (const [p, t] of after.files) if (before.files.get(p) !== t) files[p] = t;
  for (const [p, t] of after.links) if (before.links.get(p) !== t) links[p] = t;
  for (const p of before.files.keys()) if (!after.files.has(p) && !after.links.has(p)) removed.push(p);
  for (const p of before.links.keys()) if (!after.links.has(p) && !after.files.has(p)) removed.push(p);
  const sameXattrs = sameMap(before.xattrs, after.xattrs, (x, y) => sameMap(x, y, (u, v) => u === v));
  const sameOwners = sameMap(before.owners, after.owners, (x, y) => x === y);
  return {
    ...(Object.keys(files).length > 0 ? { files } : {}),
    ...(Object.keys(links).length > 0 ? { links } : {}),
    ...(removed.length > 0 ? { removed } : {}),
    ...(sameXattrs ? {} : { xattrs: Object.fromEntries([...after.xattrs].map(([p, x]) => [p, Object.fromEntries(x)])) }),
    ...(sameOwners ? {} : { owners: Object.fromEntries(after.owners) }),
  };
}
