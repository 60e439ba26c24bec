/** `/proc/self/mounts` (same format as `/proc/mounts` and `/etc/mtab`). */
import { splitLines } from "./text.js";

export interface MountEntry {
  /** Device or pseudo source (`/dev/vda`, `cgroup2`, `tmpfs`). */
  readonly source: string;
  /** Mount point, decoded: `\040` is back to a space. */
  readonly target: string;
  readonly fsType: string;
  /** `rw`, `relatime`, `size=12k`, ... in printed order. */
  readonly options: string[];
}

/**
 * The kernel writes space, tab, newline and backslash (and, inside options, `,` and `=`) as
 * `\ooo` octal escapes so that fields split on whitespace. Any other backslash is kept as is.
 */
function decodeOctal(field: string): string {
  return field.replace(/\\([0-3][0-7]{2})/g, (_, oct: string) =>
    String.fromCharCode(parseInt(oct, 8)),
  );
}

/** Splits on commas outside double quotes: SELinux prints `context="u:r:t:s0:c1,c2"`. */
function splitOptions(field: string): string[] {
  const out: string[] = [];
  let current = "";
  let quoted = false;
  for (const ch of field) {
    if (ch === '"') quoted = !quoted;
    if (ch === "," && !quoted) {
      out.push(current);
      current = "";
    } else {
      current += ch;
    }
  }
  out.push(current);
  return out.filter((o) => o !== "").map(decodeOctal);
}

/**
 * Parses a mounts table: `source target fstype options dump pass`. Lines with fewer than four or
 * more than six fields (garbage, a truncated last line) are skipped. Never throws.
 */
export function parseMounts(text: string): MountEntry[] {
  const entries: MountEntry[] = [];
  for (const line of splitLines(text).lines) {
    const fields = line.trim().split(/\s+/);
    const [source, target, fsType, options] = fields;
    if (fields.length > 6 || source === undefined || target === undefined) continue;
    if (fsType === undefined || options === undefined) continue;
    entries.push({
      source: decodeOctal(source),
      target: decodeOctal(target),
      fsType: decodeOctal(fsType),
      options: splitOptions(options),
    });
  }
  return entries;
}
