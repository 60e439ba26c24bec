/**
 * Internal helpers shared by the kernel text parsers. Not re-exported from `index.ts`.
 *
 * Contract for every number read here: only decimal integers are accepted, unsigned unless a
 * field is printed with `%d` (the kernel prints sizes and counters with `%lu`/`%llu`), and an
 * unsigned value above `Number.MAX_SAFE_INTEGER` is clamped to it. Such values only occur as "effectively unlimited" markers (v1 `limit_in_bytes` is
 * 9223372036854771712, `rsslim` is 2^64-1) or as wrapped counters, and a clamped value compares
 * correctly against any real size. A parser therefore never returns NaN or a lossy 20-digit
 * number.
 */
import { OomkitError } from "../../errors.js";

const KIB = 1024;
const MAX_QUOTE_CHARS = 60;

/** Every Linux pid is below this (PID_MAX_LIMIT on 64-bit), so a larger figure is garbage. */
export const PID_MAX_LIMIT = 4_194_304;

export interface Lines {
  /** Complete lines without their terminators; CRLF accepted; blank lines dropped. */
  readonly lines: string[];
  /** 1 when the text ends in an unterminated, non-blank line, else 0. */
  readonly skippedLines: number;
}

/**
 * Splits `text` into complete lines. The kernel ends every line of these files with a newline,
 * so a last line without one is a truncated read, and is skipped rather than trusted: a cut
 * `MemAvailable:   24` would otherwise read as 24 bytes and look like an emergency.
 */
export function splitLines(text: string): Lines {
  // Scanned in place rather than split, trimmed and sliced line by line: every parser of every
  // file read starts here (the same lines, the same blank-line rule as trim(), no copies made).
  const lines: string[] = [];
  let at = 0;
  for (let nl = text.indexOf("\n"); nl >= 0; nl = text.indexOf("\n", at)) {
    const end = nl > at && text.charCodeAt(nl - 1) === 13 ? nl - 1 : nl; // one CR of a CRLF
    if (!isBlank(text, at, end)) lines.push(text.slice(at, end));
    at = nl + 1;
  }
  return { lines, skippedLines: isBlank(text, at, text.length) ? 0 : 1 };
}

/**
 * Whether a code unit is white space as `trim()` and a regex's `\s` see it (ECMAScript's
 * WhiteSpace and LineTerminator): the scanners here must draw the lines the regexes drew.
 */
function isSpace(c: number): boolean {
  return c === 32 || (c >= 9 && c <= 13) || (c >= 0x2000 && c <= 0x200a) || c === 0xa0 || c === 0x1680 || c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000 || c === 0xfeff;
}

/** `text.slice(from, to).trim() === ""`, without the copies. */
function isBlank(text: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (!isSpace(text.charCodeAt(i))) return false;
  return true;
}

/** The first white space in `line` (`line.search(/\s/)`). */
function firstSpace(line: string): number {
  for (let i = 0; i < line.length; i++) if (isSpace(line.charCodeAt(i))) return i;
  return -1;
}

/** `line.slice(from).replace(/^\s+/, "")`. */
function trimmedFrom(line: string, from: number): string {
  let at = from;
  while (at < line.length && isSpace(line.charCodeAt(at))) at++;
  return line.slice(at);
}

/**
 * `line.trim().split(/\s+/)`, scanned: the white-space-separated words of a line ([""] for a
 * blank one), as that regex split gives them.
 */
export function words(line: string): string[] {
  const out: string[] = [];
  const n = line.length;
  for (let i = 0; ; ) {
    while (i < n && isSpace(line.charCodeAt(i))) i++;
    if (i >= n) break;
    const start = i;
    while (i < n && !isSpace(line.charCodeAt(i))) i++;
    out.push(line.slice(start, i));
  }
  return out.length === 0 ? [""] : out;
}

/** A hint for "required line missing" errors when the cause may be a missing final newline. */
export function truncationHint(text: string): string {
  return text.trim() !== "" && !text.endsWith("\n")
    ? " (the last line has no newline, so it was treated as truncated)"
    : "";
}

/** `text` as a short, one-line, quoted string for error messages. */
export function quote(text: string): string {
  const cut = text.length > MAX_QUOTE_CHARS ? `${text.slice(0, MAX_QUOTE_CHARS)}…` : text;
  return JSON.stringify(cut);
}

/** The E_PARSE error every parser throws: says what was expected and quotes what was seen. */
export function parseError(expected: string, seen: string, hint = ""): OomkitError {
  return new OomkitError("E_PARSE", `expected ${expected}, saw ${quote(seen)}${hint}`);
}

/** An unsigned decimal integer, clamped to MAX_SAFE_INTEGER; undefined if not one. */
export function parseUnsigned(token: string): number | undefined {
  // `/^\d+$/` checked a character at a time: a stat alone is thirteen of these.
  if (token.length === 0) return undefined;
  for (let i = 0; i < token.length; i++) if (!isDigit(token.charCodeAt(i))) return undefined;
  return Math.min(Number(token), Number.MAX_SAFE_INTEGER);
}

/** A signed decimal integer (for the few fields the kernel prints with `%d`); not clamped. */
export function parseSigned(token: string): number | undefined {
  if (!/^-?\d+$/.test(token)) return undefined;
  const n = Number(token) + 0; // "-0" is 0
  return Number.isSafeInteger(n) ? n : undefined;
}

export interface SizeToken {
  /** The number, × 1024 when it carried `kB` (clamped to MAX_SAFE_INTEGER). */
  readonly value: number;
  readonly kB: boolean;
}

/** `"N"` or `"N kB"`; undefined for anything else. */
export function parseSizeToken(value: string): SizeToken | undefined {
  const token = value.trim();
  // The kernel's own spellings, read without a regex (meminfo alone is ~50 of these per read):
  // digits, then nothing or spaces and "kB". Anything else takes the pattern below.
  let digits = 0;
  while (digits < token.length && isDigit(token.charCodeAt(digits))) digits++;
  if (digits > 0) {
    if (digits === token.length) return { value: Math.min(Number(token), Number.MAX_SAFE_INTEGER), kB: false };
    let unit = digits;
    while (token.charCodeAt(unit) === 32) unit++;
    if (unit > digits && unit === token.length - 2 && token.endsWith("kB")) {
      const n = Math.min(Number(token.slice(0, digits)), Number.MAX_SAFE_INTEGER);
      return { value: Math.min(n * KIB, Number.MAX_SAFE_INTEGER), kB: true };
    }
  }
  const m = /^(\d+)(?:\s+(kB))?$/.exec(token);
  // m[1] is digits already: parseUnsigned's own check would test it a second time.
  const n = m?.[1] === undefined ? undefined : Math.min(Number(m[1]), Number.MAX_SAFE_INTEGER);
  if (m === null || n === undefined) return undefined;
  const kB = m[2] !== undefined;
  return { value: kB ? Math.min(n * KIB, Number.MAX_SAFE_INTEGER) : n, kB };
}

/** 0-9, as `\d` matches them. */
function isDigit(code: number): boolean {
  return code >= 48 && code <= 57;
}

/**
 * The single token of a one-value file (`"123\n"`); throws E_PARSE on empty text or on more than
 * one token, quoting what was seen.
 */
export function singleToken(text: string, expected: string): string {
  const token = text.trim();
  if (token === "" || /\s/.test(token)) throw parseError(expected, text);
  return token;
}

/**
 * Keys as the kernel prints them: `MemTotal`, `Active(anon)`, `oom_group_kill`, `DirectMap4k`
 * (`/^[A-Za-z0-9_()]+$/`, checked a character at a time: it runs for every line of every file).
 */
export function isKey(key: string): boolean {
  if (key.length === 0) return false;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    const ok = (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c === 40 || c === 41;
    if (!ok) return false;
  }
  return true;
}

export interface Pairs {
  /** Key → rest of the line, in file order; the first occurrence of a key wins. */
  readonly pairs: Map<string, string>;
  /**
   * Lines that are not `key<sep>value`, a truncated last line, and repeated keys (the kernel never
   * prints one twice, so a repeat is appended garbage).
   */
  readonly skippedLines: number;
}

/**
 * Splits `Key: value` (`sep` ":") or `key value` (`sep` " ") lines. For ":" the value is the text
 * after the first colon with one leading tab or run of spaces removed and nothing else, so a
 * `Name:` value keeps the kernel's spelling exactly. An empty value is kept: a task may name
 * itself "" or " ", and must not become unparseable (and so unkillable) by doing so.
 */
export function splitPairs(text: string, sep: ":" | " "): Pairs {
  const pairs = new Map<string, string>();
  const split = splitLines(text);
  let skippedLines = split.skippedLines;
  for (const line of split.lines) {
    const at = sep === ":" ? line.indexOf(":") : firstSpace(line);
    const key = at < 0 ? "" : line.slice(0, at);
    const value = at < 0 ? "" : sep === ":" ? afterColon(line, at + 1) : trimmedFrom(line, at + 1);
    if (!isKey(key) || pairs.has(key)) {
      skippedLines++;
      continue;
    }
    pairs.set(key, value);
  }
  return { pairs, skippedLines };
}

/** `line` from `from` on, less one leading tab or run of spaces (not both): the value of a `Key:` line. */
function afterColon(line: string, from: number): string {
  if (line.charCodeAt(from) === 9) return line.slice(from + 1); // one tab
  let at = from;
  while (line.charCodeAt(at) === 32) at++;
  return line.slice(at);
}

export interface NumericPairs {
  /** Key → value; bytes where the line carried `kB`, else the number as printed. */
  readonly values: Map<string, number>;
  /** Keys whose line carried `kB`. */
  readonly kBKeys: ReadonlySet<string>;
  readonly skippedLines: number;
}

export interface Numbers {
  readonly values: Map<string, number>;
  readonly kBKeys: ReadonlySet<string>;
  /** Keys whose value is not `N` or `N kB`. */
  readonly notNumeric: string[];
}

/** The `N` / `N kB` values among `pairs`. */
export function toNumbers(pairs: ReadonlyMap<string, string>): Numbers {
  const values = new Map<string, number>();
  const kBKeys = new Set<string>();
  const notNumeric: string[] = [];
  for (const [key, value] of pairs) {
    const size = parseSizeToken(value);
    if (size === undefined) {
      notNumeric.push(key);
      continue;
    }
    values.set(key, size.value);
    if (size.kB) kBKeys.add(key);
  }
  return { values, kBKeys, notNumeric };
}

/** `key value [kB]` lines with numeric values; lines whose value is not a number are skipped. */
export function parseNumericPairs(text: string, sep: ":" | " "): NumericPairs {
  // splitPairs then toNumbers, in one pass: no Map of the values as text in between (meminfo,
  // memory.stat and vmstat are read every few seconds, each of tens of lines). A key is taken by
  // its first line whether or not its value is a number, as splitPairs takes it.
  const split = splitLines(text);
  const values = new Map<string, number>();
  const kBKeys = new Set<string>();
  let notNumeric: Set<string> | undefined;
  let skippedLines = split.skippedLines;
  for (const line of split.lines) {
    const at = sep === ":" ? line.indexOf(":") : firstSpace(line);
    const key = at < 0 ? "" : line.slice(0, at);
    if (!isKey(key) || values.has(key) || notNumeric?.has(key) === true) {
      skippedLines++;
      continue;
    }
    const size = parseSizeToken(at < 0 ? "" : sep === ":" ? afterColon(line, at + 1) : trimmedFrom(line, at + 1));
    if (size === undefined) {
      (notNumeric ??= new Set()).add(key);
      skippedLines++;
      continue;
    }
    values.set(key, size.value);
    if (size.kB) kBKeys.add(key);
  }
  return { values, kBKeys, skippedLines };
}

export interface Picked<T> {
  readonly fields: { [K in keyof T]: number | undefined };
  /** Typed fields left undefined because their unit was wrong. */
  readonly unitMismatches: number;
}

interface TableRow {
  readonly field: string;
  readonly key: string;
  /** The field is a `…Bytes` one. */
  readonly bytes: boolean;
}

/** Each table's rows, made once: the tables are constants, and pickFields runs at every parse. */
const TABLE_ROWS = new WeakMap<Record<string, string>, readonly TableRow[]>();

function tableRows(table: Record<string, string>): readonly TableRow[] {
  let rows = TABLE_ROWS.get(table);
  if (rows === undefined) {
    rows = Object.entries(table).map(([field, key]) => ({ field, key, bytes: field.endsWith("Bytes") }));
    TABLE_ROWS.set(table, rows);
  }
  return rows;
}

/**
 * Typed fields picked from a key map by a `{ fieldName: "kernel_key" }` table, written into
 * `into` when given: a parser adds its other fields to that one object rather than spreading
 * the picked ones into another (a spread of them was most of a memory.stat parse: 26 -> 5 µs). With `kBKeys`
 * given, a `…Bytes` field is taken only from a line printed in kB and any other field only from a
 * unitless line: a `MemTotal:` without its unit is garbage, not a byte count.
 */
export function pickFields<T extends Record<string, string>>(
  values: ReadonlyMap<string, number>,
  table: T,
  kBKeys?: ReadonlySet<string>,
  into: Record<string, unknown> = {},
): Picked<T> {
  const out = into;
  let unitMismatches = 0;
  for (const { field, key, bytes } of tableRows(table)) {
    const value = values.get(key);
    const unitOk = kBKeys === undefined || bytes === kBKeys.has(key);
    if (value !== undefined && !unitOk) unitMismatches++;
    out[field] = unitOk ? value : undefined;
  }
  return { fields: out as { [K in keyof T]: number | undefined }, unitMismatches };
}
