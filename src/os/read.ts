/**
 * The one thin step between a Host and the pure parsers: read a machine path and parse it,
 * turning the normal races and gaps into "unknown" and every other failure into a fault that
 * says which file and why, instead of an exception. A decision must survive one bad file: an
 * EIO, ENOMEM or EAGAIN is plausible exactly during an OOM.
 */
import { OomkitError, errnoCode, isVanished } from "../errors.js";
import type { Logger } from "../log.js";
import type { Host } from "./host.js";

/** A file that could not be read, or whose text did not parse, for a reason other than vanishing. */
export interface ReadFault {
  readonly path: string;
  /** The errno ("EIO", "ENOMEM", "EACCES", ...), or "did not parse: <why>". */
  readonly error: string;
}

/** Hears every fault a read meets (a snapshot collects them for the episode record). */
export type FaultSink = (fault: ReadFault) => void;

/** What reading and parsing one file gave. */
export type ReadResult<T> =
  | { readonly kind: "ok"; readonly value: T }
  /** Absent (an older kernel, a fixture without it) or its pid/cgroup vanished: unknown, a normal race. */
  | { readonly kind: "gone" }
  /** Could not be read or parsed for another reason. */
  | { readonly kind: "fault"; readonly fault: ReadFault };

const GONE: ReadResult<never> = Object.freeze({ kind: "gone" });

export type { ParsedCache } from "./host.js";

/**
 * Why a failed read is a fault, or undefined when what was thrown is no I/O error at all (a bug,
 * which propagates). Host errors (E_HOST_IO, E_PERMISSION) and raw errno errors are faults.
 */
export function faultReason(err: unknown): string | undefined {
  if (err instanceof OomkitError) {
    if (err.code !== "E_HOST_IO" && err.code !== "E_PERMISSION") return undefined;
    // The errno is the cause's code (the OomkitError's own code is E_HOST_IO or E_PERMISSION).
    return (err.cause !== undefined ? errnoCode(err.cause) : undefined) ?? err.message;
  }
  const code = errnoCode(err);
  return code !== undefined && /^E[A-Z0-9]+$/.test(code) ? code : undefined;
}

/**
 * Reads and parses one file: its value; "gone" when the file is absent or its pid/cgroup
 * vanished; a fault (logged as a warning, a permission problem at debug) when it could not be
 * read for another reason or its text did not parse. Hostile /proc text never stops a decision.
 * Only what is no I/O error at all (a bug) propagates.
 */
export function readResult<T>(host: Host, path: string, parse: (text: string) => T, log: Logger): ReadResult<T> {
  const cache = host.parsedCache;
  if (cache === undefined) return readAndParse(host, path, parse, log);
  // A host that keeps parsed files (the warm model) answers a kept value itself; anything else
  // (a miss, a kept read error, text that did not parse) is read here, so a fault is still a
  // fault each time it is met and is never kept as a value.
  const fresh: { result?: ReadResult<T> } = {};
  const value = cache.parsed(path, parse, () => {
    const r = readAndParse(host, path, parse, log);
    fresh.result = r;
    return r.kind === "ok" ? r.value : undefined;
  });
  if (fresh.result !== undefined) return fresh.result;
  return value !== undefined ? { kind: "ok", value } : GONE;
}

function readAndParse<T>(host: Host, path: string, parse: (text: string) => T, log: Logger): ReadResult<T> {
  let text: string;
  try {
    text = host.readFile(path);
  } catch (err) {
    if (isVanished(err)) {
      log.debug(`ignoring ${path}: ${(err as Error).message}`);
      return GONE;
    }
    const error = faultReason(err);
    if (error === undefined) throw err;
    if (err instanceof OomkitError && err.code === "E_PERMISSION") log.debug(`ignoring ${path}: ${err.message}`);
    else log.warn(`ignoring ${path}: cannot read it (${error})`);
    return { kind: "fault", fault: { path, error } };
  }
  try {
    return { kind: "ok", value: parse(text) };
  } catch (err) {
    if (err instanceof OomkitError && err.code === "E_PARSE") {
      log.warn(`ignoring ${path}: ${err.message}`);
      return { kind: "fault", fault: { path, error: `did not parse: ${err.message}` } };
    }
    throw err;
  }
}

/**
 * readResult for a figure that is simply unknown when it cannot be had: its value, or undefined.
 * A fault goes to `faults` (and the log); nothing but a bug is thrown.
 */
export function readParsed<T>(host: Host, path: string, parse: (text: string) => T, log: Logger, faults?: FaultSink): T | undefined {
  const r = readResult(host, path, parse, log);
  if (r.kind === "ok") return r.value;
  if (r.kind === "fault") faults?.(r.fault);
  return undefined;
}

/** "EIO" from a fault, as a task's or cgroup's record says it: "<file> unreadable: EIO". */
export function describeFault(file: string, fault: ReadFault): string {
  return `${file} unreadable: ${fault.error}`;
}
