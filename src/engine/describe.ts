/**
 * Describing what policy code threw. A policy may throw anything: an Error, a string, an object
 * without a prototype (String() throws on it), one whose toString throws or never returns, a
 * Proxy. Reading a thrown value can run policy code (getters, toString), so it is read under a
 * deadline like any policy call, proxies are not read at all, and no exception ever gets out.
 */
import { types } from "node:util";
import { OomkitError, type ErrorCode } from "../errors.js";
import { callWithDeadline, insideDeadline } from "./deadline.js";

/** A getter or toString of a thrown value is policy code: by default it gets a policy call's deadline. */
const DESCRIBE_DEADLINE_MS = 250;
/** Records and log lines keep this much of a description. */
export const MAX_DESCRIPTION = 500;

/** One line for a thrown value, at most MAX_DESCRIPTION characters; never throws. */
export function describeThrown(value: unknown, deadlineMs: number = DESCRIBE_DEADLINE_MS): string {
  // oomkit's own errors (a read that failed or was stopped, E_PREEMPTED among them) are read
  // from their own data properties, which runs no code: no deadline, so no watchdog thread is
  // started and joined on the way back from a stopped decision run.
  const own = ownErrorText(value);
  if (own !== undefined) return own.slice(0, MAX_DESCRIPTION);
  let text: string;
  try {
    text = insideDeadline() ? describe(value) : callWithDeadline(() => describe(value), deadlineMs);
  } catch {
    text = `thrown: ${kindOf(value)} that could not be described`;
  }
  return text.slice(0, MAX_DESCRIPTION);
}

/** What a value is, from `typeof` alone (which runs no code of the value's). */
export function kindOf(value: unknown): string {
  if (value === null) return "null";
  if (value === undefined) return "undefined";
  const t = typeof value;
  return t === "object" ? "an object" : `a ${t}`;
}

/** True when `err` is an OomkitError with this code; runs no code of what policy code threw (getters, traps). */
export function isOomkitError(err: unknown, code: ErrorCode): err is OomkitError {
  return typeof err === "object" && err !== null && !types.isProxy(err) && err instanceof OomkitError && ownString(err, "code") === code;
}

/** An own data property that is a string, read without running getters; else undefined. */
export function ownString(value: object, key: string): string | undefined {
  const v: unknown = Object.getOwnPropertyDescriptor(value, key)?.value;
  return typeof v === "string" ? v : undefined;
}

/** `name: message` of an OomkitError whose name and message are own strings; else undefined. Runs no code of the value's. */
function ownErrorText(value: unknown): string | undefined {
  if (typeof value !== "object" || value === null || types.isProxy(value) || !(value instanceof OomkitError)) return undefined;
  const name = ownString(value, "name");
  const message = ownString(value, "message");
  return name === undefined || message === undefined ? undefined : `${name}: ${message}`;
}

function describe(value: unknown): string {
  if ((typeof value !== "object" || value === null) && typeof value !== "function") return `non-error thrown: ${String(value)}`;
  if (types.isProxy(value)) return "non-error thrown: a proxy";
  if (types.isNativeError(value) || value instanceof Error) {
    const e = value as { name?: unknown; message?: unknown };
    return `${text(e.name, "Error")}: ${text(e.message, "")}`;
  }
  try {
    return `non-error thrown: ${String(value)}`;
  } catch {
    return `non-error thrown: ${kindOf(value)} without a usable toString`;
  }
}

const text = (v: unknown, fallback: string) => (typeof v === "string" ? v : fallback);
