/**
 * Where each key of a TOML document is: a map from a key path (as zod reports it, e.g.
 * ["attach", 1, "policy"]) to its line and column. Arrays of tables count in order, so the
 * second `[[attach]]` is ["attach", 1]; inline tables and arrays are followed into.
 *
 * It runs only on text that smol-toml has already accepted, so it reads the structure without
 * re-checking it: a scanner of headers, keys, strings, arrays and inline tables, not a parser.
 * Pure.
 */

export type ConfigPath = readonly (string | number)[];

/** 1-based, like editors and compilers print them. */
export interface Place {
  readonly line: number;
  readonly column: number;
}

export interface Locator {
  /** The place of the path, or of its nearest ancestor that appears in the text. */
  locate(path: ConfigPath): Place | undefined;
}

const BARE_KEY = /[A-Za-z0-9_-]/;

const keyOf = (path: ConfigPath): string => JSON.stringify(path);

export function locateKeys(text: string): Locator {
  const places = new Map<string, Place>();
  const lineStarts = [0];
  for (let k = 0; k < text.length; k++) if (text[k] === "\n") lineStarts.push(k + 1);
  const placeAt = (at: number): Place => {
    let lo = 0;
    let hi = lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((lineStarts[mid] ?? 0) <= at) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, column: at - (lineStarts[lo] ?? 0) + 1 };
  };
  const record = (path: ConfigPath, at: number): void => {
    const k = keyOf(path);
    if (!places.has(k)) places.set(k, placeAt(at));
  };

  let i = 0;
  const n = text.length;
  const skipSpaces = (): void => {
    while (i < n && (text[i] === " " || text[i] === "\t")) i++;
  };
  /** Spaces, newlines and comments: what may sit between elements of an array. */
  const skipBlank = (): void => {
    for (;;) {
      while (i < n && /\s/.test(text[i] ?? "")) i++;
      if (text[i] !== "#") return;
      while (i < n && text[i] !== "\n") i++;
    }
  };
  const skipString = (): string => {
    const start = i;
    const q = text[i] ?? "";
    const triple = text.startsWith(q.repeat(3), i);
    i += triple ? 3 : 1;
    while (i < n) {
      if (q === '"' && text[i] === "\\") {
        i += 2;
        continue;
      }
      if (triple ? text.startsWith(q.repeat(3), i) : text[i] === q) {
        i += triple ? 3 : 1;
        while (triple && text[i] === q) i++; // up to two quotes may end a multi-line string's content
        break;
      }
      i++;
    }
    return text.slice(start, i);
  };
  const readKeyPart = (): string => {
    skipSpaces();
    const c = text[i];
    if (c === '"' || c === "'") {
      const raw = skipString();
      if (c === "'") return raw.slice(1, -1);
      try {
        return JSON.parse(raw) as string;
      } catch {
        return raw.slice(1, -1);
      }
    }
    const start = i;
    while (i < n && BARE_KEY.test(text[i] ?? "")) i++;
    return text.slice(start, i);
  };
  /** A dotted key, with where each part starts. */
  const readKey = (): { parts: string[]; at: number[] } => {
    const parts: string[] = [];
    const at: number[] = [];
    for (;;) {
      skipSpaces();
      at.push(i);
      parts.push(readKeyPart());
      skipSpaces();
      if (text[i] !== ".") return { parts, at };
      i++;
    }
  };
  const readValue = (path: ConfigPath): void => {
    skipSpaces();
    const c = text[i];
    if (c === "{") {
      i++;
      for (;;) {
        skipBlank();
        if (i >= n || text[i] === "}") {
          i++;
          return;
        }
        if (text[i] === ",") {
          i++;
          continue;
        }
        const before = i;
        readKeyValue(path);
        if (i === before) i++;
      }
    }
    if (c === "[") {
      i++;
      let index = 0;
      for (;;) {
        skipBlank();
        if (i >= n || text[i] === "]") {
          i++;
          return;
        }
        if (text[i] === ",") {
          i++;
          index++;
          continue;
        }
        const el = [...path, index];
        record(el, i);
        const before = i;
        readValue(el);
        if (i === before) i++;
      }
    }
    if (c === '"' || c === "'") {
      skipString();
      return;
    }
    while (i < n && !",]}\n\r#".includes(text[i] ?? "")) i++;
  };
  const readKeyValue = (table: ConfigPath): void => {
    const { parts, at } = readKey();
    parts.forEach((_, j) => record([...table, ...parts.slice(0, j + 1)], at[j] ?? i));
    skipSpaces();
    if (text[i] === "=") i++;
    readValue([...table, ...parts]);
  };

  const arrayIndex = new Map<string, number>();
  let table: ConfigPath = [];
  for (;;) {
    skipBlank();
    if (i >= n) break;
    const before = i;
    if (text[i] === "[") {
      const at = i;
      const isArray = text[i + 1] === "[";
      i += isArray ? 2 : 1;
      const { parts } = readKey();
      i += isArray ? 2 : 1;
      const resolved: (string | number)[] = [];
      parts.forEach((part, j) => {
        resolved.push(part);
        const k = keyOf(resolved);
        if (isArray && j === parts.length - 1) {
          const next = (arrayIndex.get(k) ?? -1) + 1;
          arrayIndex.set(k, next);
          record(resolved, at);
          resolved.push(next);
        } else {
          const current = arrayIndex.get(k);
          if (current !== undefined) {
            record(resolved, at);
            resolved.push(current);
          }
        }
        record(resolved, at);
      });
      table = resolved;
    } else {
      readKeyValue(table);
    }
    skipSpaces();
    if (text[i] === "#") while (i < n && text[i] !== "\n") i++;
    if (i === before) i++; // never stall on text smol-toml would not have accepted
  }

  return {
    locate(path) {
      for (let len = path.length; len >= 0; len--) {
        const p = places.get(keyOf(path.slice(0, len)));
        if (p) return p;
      }
      return undefined;
    },
  };
}

/** `attach[1].options."a.b"`: a path as people read it (indices from 0, as in --json output). */
export function formatPath(path: ConfigPath): string {
  let out = "";
  for (const part of path) {
    if (typeof part === "number") out += `[${part}]`;
    else {
      const name = /^[A-Za-z0-9_-]+$/.test(part) ? part : JSON.stringify(part);
      out += out === "" ? name : `.${name}`;
    }
  }
  return out;
}
