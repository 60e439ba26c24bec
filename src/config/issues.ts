/**
 * Configuration errors with their places in the file. All of a file's errors are collected and
 * thrown as one ConfigError (code E_CONFIG), whose message lists them one a line and whose
 * `issues` keeps them as data for `oomkit check --json`.
 */
import { OomkitError } from "../errors.js";
import { type ConfigPath, type Locator, formatPath } from "./locate.js";

export interface ConfigIssue {
  /** The file's name as given (or "<built-in default>"). */
  readonly file: string;
  /** 1-based; undefined when the text gives no place (a key that is missing altogether at the top). */
  readonly line: number | undefined;
  readonly column: number | undefined;
  /** The key's path as people read it: `attach[1].policy` (indices from 0); "" for the whole file. */
  readonly path: string;
  readonly message: string;
}

/** `oomkit.toml:12:3: attach[1].policy: unknown policy "larget-leaf" (did you mean "largest-leaf"?)` */
export function formatIssue(issue: ConfigIssue): string {
  const place = issue.line === undefined ? issue.file : `${issue.file}:${issue.line}:${issue.column ?? 1}`;
  return issue.path === "" ? `${place}: ${issue.message}` : `${place}: ${issue.path}: ${issue.message}`;
}

export class ConfigError extends OomkitError {
  readonly issues: readonly ConfigIssue[];

  /** `what`: the kind of file ("the configuration", "the scenario"). */
  constructor(file: string, issues: readonly ConfigIssue[], what = "the configuration") {
    const n = issues.length;
    super("E_CONFIG", `${file}: ${n} error${n === 1 ? "" : "s"} in ${what}:\n${issues.map((i) => `  ${formatIssue(i)}`).join("\n")}`);
    this.name = "ConfigError";
    this.issues = issues;
  }
}

/** In the order of the file (stable for issues at one place). */
export function sortByPlace(issues: readonly ConfigIssue[]): ConfigIssue[] {
  return issues
    .map((issue, k) => ({ issue, k }))
    .sort((a, b) => (a.issue.line ?? 0) - (b.issue.line ?? 0) || (a.issue.column ?? 0) - (b.issue.column ?? 0) || a.k - b.k)
    .map((x) => x.issue);
}

/** Where a configuration came from: its name, and the places of its keys. */
export interface ConfigSource {
  readonly fileName: string;
  readonly locator: Locator;
}

/** Makes issues and warning lines placed in one source. */
export function issueAt(source: ConfigSource | undefined, path: ConfigPath, message: string): ConfigIssue {
  const place = source?.locator.locate(path);
  return { file: source?.fileName ?? "<configuration>", line: place?.line, column: place?.column, path: formatPath(path), message };
}

/** A warning is an issue that does not stop anything; it is reported as one placed line. */
export function warningAt(source: ConfigSource | undefined, path: ConfigPath, message: string): string {
  return formatIssue(issueAt(source, path, message));
}

/** The place of a path as "line 3" for messages that name a second place, or "" when unknown. */
export function lineOf(source: ConfigSource | undefined, path: ConfigPath): string {
  const place = source?.locator.locate(path);
  return place ? ` (line ${place.line})` : "";
}
