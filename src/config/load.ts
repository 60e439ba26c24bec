/**
 * Text → validated plain configuration. Every error in the file is reported with its place
 * (`oomkit.toml:12:3: attach[1].cgroup: ...`), all at once, in one ConfigError; warnings are
 * returned as placed lines. Pure: reading the file is the caller's thin step.
 */
import { TomlError, parse as parseToml } from "smol-toml";
import type { z } from "zod";
import { CGROUP_FS, cgroupPath } from "../os/paths.js";
import { type ConfigIssue, ConfigError, type ConfigSource, issueAt, lineOf, sortByPlace, warningAt } from "./issues.js";
import { type ConfigPath, locateKeys } from "./locate.js";
import { type OomkitConfig, PSI_UNPRIVILEGED_WINDOW_STEP_MS, UNKNOWN_KEY_SEPARATOR, configSchema } from "./schema.js";
import { describeValue } from "./size.js";
import { didYouMean } from "./suggest.js";

export interface ParsedConfig {
  readonly config: OomkitConfig;
  /** Placed warning lines: valid, but probably not what was meant or not what every kernel allows. */
  readonly warnings: string[];
  /** Hand this to compileConfig so its errors are placed too. */
  readonly source: ConfigSource;
}

/** Parses and validates a configuration file's text; throws ConfigError listing every error. */
export function parseConfig(text: string, fileName: string): ParsedConfig {
  let raw: Record<string, unknown>;
  try {
    raw = plainObjects(parseToml(text)) as Record<string, unknown>;
  } catch (err) {
    if (!(err instanceof TomlError)) throw err;
    const message = (err.message.split("\n")[0] ?? err.message).replace(/^Invalid TOML document: /, "");
    throw new ConfigError(fileName, [{ file: fileName, line: err.line, column: err.column, path: "", message: `TOML syntax: ${message}` }]);
  }
  const source: ConfigSource = { fileName, locator: locateKeys(text) };
  const forbidden = forbiddenKeys(raw, [], source);
  const issues: ConfigIssue[] = [...forbidden, ...duplicateAttachments(raw, source)];
  const result = configSchema().safeParse(raw, { reportInput: true });
  if (!result.success) {
    // A forbidden key is said once, not again as "unknown key".
    const said = new Set(forbidden.map((i) => i.path));
    issues.push(...withoutEchoes(result.error.issues).flatMap((i) => fromZod(i, source)).filter((i) => !said.has(i.path)));
  }
  if (issues.length > 0 || !result.success) throw new ConfigError(fileName, sortByPlace(issues));
  return { config: result.data, warnings: configWarnings(result.data, source), source };
}

/**
 * Parses a TOML file of another of oomkit's formats (a simulation scenario) through its own zod
 * schema, with the configuration's rules: every error placed at its key's line, all at once, in
 * one ConfigError naming `what` the file is.
 */
export function parseTomlChecked<S extends z.ZodType>(text: string, fileName: string, schema: S, what: string): { readonly data: z.output<S>; readonly source: ConfigSource } {
  let raw: unknown;
  try {
    raw = plainObjects(parseToml(text));
  } catch (err) {
    if (!(err instanceof TomlError)) throw err;
    const message = (err.message.split("\n")[0] ?? err.message).replace(/^Invalid TOML document: /, "");
    throw new ConfigError(fileName, [{ file: fileName, line: err.line, column: err.column, path: "", message: `TOML syntax: ${message}` }], what);
  }
  const source: ConfigSource = { fileName, locator: locateKeys(text) };
  const forbidden = forbiddenKeys(raw, [], source);
  const result = schema.safeParse(raw, { reportInput: true });
  const said = new Set(forbidden.map((i) => i.path));
  const issues = [...forbidden, ...(result.success ? [] : withoutEchoes(result.error.issues).flatMap((i) => fromZod(i, source)).filter((i) => !said.has(i.path)))];
  if (issues.length > 0 || !result.success) throw new ConfigError(fileName, sortByPlace(issues), what);
  return { data: result.data, source };
}

/**
 * smol-toml makes tables with a null prototype; policies get their options as ordinary objects
 * (with hasOwnProperty and the rest). Dates (TomlDate) are kept as they are.
 */
function plainObjects(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(plainObjects);
  if (typeof value === "object" && value !== null && Object.getPrototypeOf(value) === null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plainObjects(v)]));
  }
  return value;
}

/**
 * `__proto__` as a key would be dropped on the way to a policy (or, copied carelessly, change an
 * object's prototype): refused wherever it appears, at its own line.
 */
function forbiddenKeys(value: unknown, at: ConfigPath, source: ConfigSource): ConfigIssue[] {
  if (Array.isArray(value)) return value.flatMap((v, k) => forbiddenKeys(v, [...at, k], source));
  if (typeof value !== "object" || value === null || Object.getPrototypeOf(value) !== Object.prototype) return [];
  return Object.keys(value).flatMap((k) =>
    k === "__proto__"
      ? [issueAt(source, [...at, k], 'the key "__proto__" is not allowed: it would be dropped or change what the table is')]
      : forbiddenKeys((value as Record<string, unknown>)[k], [...at, k], source),
  );
}

/** At most one policy per cgroup; checked on the raw table so that it is reported alongside type errors. */
function duplicateAttachments(raw: Record<string, unknown>, source: ConfigSource): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  if (!Array.isArray(raw.attach)) return issues;
  const seen = new Map<string, number>();
  raw.attach.forEach((a: unknown, k) => {
    const cg = typeof a === "object" && a !== null ? (a as Record<string, unknown>).cgroup : undefined;
    if (typeof cg !== "string" || !cg.startsWith("/")) return;
    let at: string;
    try {
      at = cgroupPath(cg);
    } catch {
      return; // the schema reports the path itself
    }
    const first = seen.get(at);
    if (first === undefined) seen.set(at, k);
    else {
      issues.push(
        issueAt(source, ["attach", k, "cgroup"], `cgroup ${at} already has a policy attached by attach[${first}]${lineOf(source, ["attach", first])}; at most one policy may be attached to a cgroup`),
      );
    }
  });
  return issues;
}

/**
 * A misspelt key ("windw_ms") also leaves the key it meant missing; report the misspelling only,
 * since fixing it fixes both.
 */
function withoutEchoes(issues: readonly z.core.$ZodIssue[]): z.core.$ZodIssue[] {
  const meant = new Set<string>();
  for (const i of issues) {
    if (i.code !== "unrecognized_keys") continue;
    for (const m of i.message.matchAll(/did you mean "([^"]+)"/g)) meant.add(JSON.stringify([...i.path, m[1]]));
  }
  return issues.filter((i) => !(i.code === "invalid_type" && i.input === undefined && meant.has(JSON.stringify(i.path))));
}

const article = (word: string): string => (/^[aeiou]/.test(word) ? `an ${word}` : `a ${word}`);

const TYPE_NAMES: Readonly<Record<string, string>> = { int: "integer", object: "table", record: "table", array: "array" };

/** One zod issue as placed ConfigIssues (an unrecognized_keys issue becomes one per key). */
function fromZod(issue: z.core.$ZodIssue, source: ConfigSource): ConfigIssue[] {
  const path = issue.path.filter((p): p is string | number => typeof p !== "symbol");
  switch (issue.code) {
    case "unrecognized_keys": {
      const parts = issue.message.split(UNKNOWN_KEY_SEPARATOR);
      return issue.keys.map((key, k) => issueAt(source, [...path, key], parts.length === issue.keys.length ? (parts[k] ?? "") : `unknown key "${key}"`));
    }
    case "invalid_type": {
      const expected = TYPE_NAMES[issue.expected] ?? issue.expected;
      if (issue.input === undefined) return [issueAt(source, path, `missing: ${article(expected)} is required here`)];
      if (typeof issue.input === "number" && !Number.isFinite(issue.input)) return [issueAt(source, path, `must be a finite number; got ${issue.input} (out of range)`)];
      return [issueAt(source, path, `expected ${article(expected)}, got ${describeValue(issue.input)}`)];
    }
    case "invalid_value": {
      const values = issue.values.map((v) => JSON.stringify(v));
      const got = issue.input;
      const hint = typeof got === "string" ? didYouMean(got, issue.values.map(String)) : "";
      return [issueAt(source, path, `must be one of ${values.join(", ")}; got ${describeValue(got)}${hint}`)];
    }
    case "too_small":
    case "too_big": {
      const small = issue.code === "too_small";
      const bound = Number(small ? issue.minimum : issue.maximum);
      let message: string;
      if (issue.origin === "array") message = small ? `needs at least ${bound} entr${bound === 1 ? "y" : "ies"}` : `may have at most ${bound} entries`;
      else if (issue.origin === "string") message = small ? "may not be empty" : `may be at most ${bound} characters`;
      else message = `must be ${small ? (issue.inclusive ? "at least" : "more than") : issue.inclusive ? "at most" : "less than"} ${bound}; got ${describeValue(issue.input)}`;
      return [issueAt(source, path, message)];
    }
    default:
      return [issueAt(source, path, issue.message)];
  }
}

/** Comm (the name the verifier matches) is at most 15 characters: TASK_COMM_LEN - 1. */
const COMM_MAX = 15;
const ANCHORED_LITERAL = /^\^([A-Za-z0-9_. -]+)\$$/;

function configWarnings(config: OomkitConfig, source: ConfigSource): string[] {
  const warnings: string[] = [];
  const warn = (path: ConfigPath, message: string) => warnings.push(warningAt(source, path, message));

  const listen = config.report.metrics_listen;
  if (listen !== "" && !/^(127\.\d+\.\d+\.\d+|localhost|\[::1\]):\d+$/.test(listen)) {
    warn(["report", "metrics_listen"], `metrics served on ${listen}, beyond this machine: the endpoint is read-only but shows cgroup names and memory figures to anyone who can reach it`);
  }
  if (config.trigger.length === 0) {
    warn([], "no [[trigger]]: oomkit will act only on manual OOMs and on the kernel's own OOM kills (the built-in default's triggers apply only when no file is given)");
  }
  config.trigger.forEach((t, k) => {
    if (t.psi && t.psi.window_ms % PSI_UNPRIVILEGED_WINDOW_STEP_MS !== 0) {
      warn(
        ["trigger", k, "psi", "window_ms"],
        `window ${t.psi.window_ms} ms: without CAP_SYS_RESOURCE, kernels from 6.5 accept only windows that are multiples of ${PSI_UNPRIVILEGED_WINDOW_STEP_MS} ms ` +
          "(and earlier kernels refuse unprivileged triggers altogether); where the kernel refuses, oomkit falls back to polling the averages, which is slower",
      );
    }
  });
  config.protect.commands.forEach((re, k) => {
    const literal = ANCHORED_LITERAL.exec(re)?.[1];
    if (literal !== undefined && literal.length > COMM_MAX) {
      warn(["protect", "commands", k], `"${re}" can never match: a task's command (comm) is at most ${COMM_MAX} characters; the kernel shows "${literal.slice(0, COMM_MAX)}"`);
    }
  });
  const byName = config.protect.commands.length > 0 ? "commands" : config.protect.executables.length > 0 ? "executables" : undefined;
  if (byName !== undefined && config.protect.trusted_uids.length === 0) {
    warn(["protect", "trusted_uids"], `no trusted uids: [protect] ${byName} spare no task (a name spares only tasks whose real uid is trusted)`);
  }
  // A path written with the usual v2 mount in front: a user who read it off the filesystem.
  const mountPrefixed = (p: string) => p === CGROUP_FS || p.startsWith(`${CGROUP_FS}/`);
  const mountHint = (p: string) => `cgroup paths are relative to the cgroup v2 mount: did you mean "${p.slice(CGROUP_FS.length) || "/"}"?`;
  config.attach.forEach((a, k) => mountPrefixed(a.cgroup) && warn(["attach", k, "cgroup"], mountHint(a.cgroup)));
  config.trigger.forEach((t, k) => mountPrefixed(t.cgroup) && warn(["trigger", k, "cgroup"], mountHint(t.cgroup)));
  config.protect.cgroups.forEach((c, k) => mountPrefixed(c) && warn(["protect", "cgroups", k], mountHint(c)));
  return warnings;
}
