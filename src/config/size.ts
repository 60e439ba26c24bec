/**
 * Sizes in the configuration file: an integer number of bytes, or a string with a binary suffix
 * ("512M", "1.5GiB"), the way memory.max itself and systemd read them. Pure.
 */

const UNITS: Readonly<Record<string, number>> = {
  "": 1,
  B: 1,
  K: 1024,
  KIB: 1024,
  M: 1024 ** 2,
  MIB: 1024 ** 2,
  G: 1024 ** 3,
  GIB: 1024 ** 3,
  T: 1024 ** 4,
  TIB: 1024 ** 4,
};

const SIZE = /^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$/;

export type SizeResult = { readonly ok: true; readonly bytes: number } | { readonly ok: false; readonly error: string };

/**
 * Reads a size. Suffixes K, M, G, T (and KiB, MiB, GiB, TiB) are powers of 1024, case-insensitive;
 * "MB" and the like are refused rather than guessed at. Fractions round down to whole bytes.
 */
export function parseSize(value: unknown): SizeResult {
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value) || value < 0) return { ok: false, error: `a size in bytes must be a whole number of 0 or more, got ${value}` };
    return { ok: true, bytes: value };
  }
  if (typeof value !== "string") return { ok: false, error: `expected a size (bytes, or a string like "512M"), got ${describeValue(value)}` };
  const m = SIZE.exec(value);
  if (!m) return { ok: false, error: `"${value}" is not a size: write bytes, or a number with K, M, G or T (powers of 1024), e.g. "512M"` };
  const [, num = "", unit = ""] = m;
  const upper = unit.toUpperCase();
  const factor = UNITS[upper];
  if (factor === undefined) {
    if (/^[KMGT]B$/.test(upper)) return { ok: false, error: `"${value}": write ${upper[0]} or ${upper[0]}iB (powers of 1024); "${unit}" is ambiguous` };
    return { ok: false, error: `"${value}": unknown unit "${unit}" (use K, M, G or T, powers of 1024)` };
  }
  const bytes = Math.floor(Number(num) * factor);
  if (!Number.isSafeInteger(bytes)) return { ok: false, error: `"${value}" is too large` };
  return { ok: true, bytes };
}

/** "a string", "a number (3.5)", "an array": how a wrong value is named in error messages. */
export function describeValue(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "null";
  if (value instanceof Date) return "a date";
  if (Array.isArray(value)) return "an array";
  switch (typeof value) {
    case "string":
      return `a string (${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)})`;
    case "number":
    case "bigint":
      return `a number (${String(value)})`;
    case "boolean":
      return `a boolean (${String(value)})`;
    case "object":
      return "a table";
    default:
      return typeof value;
  }
}
