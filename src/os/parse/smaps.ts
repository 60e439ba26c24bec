/**
 * Parsers for /proc/<pid>/smaps, smaps_rollup and status figures (pure functions of text).
 * smaps is a run of entries, each a maps(5) header line
 *   "7f..-7f.. r-xp 00000000 08:01 1234   /usr/bin/node"
 * followed by "Key:   N kB" lines and a "VmFlags:" line.
 */

/** One mapping of smaps: its range, permissions, backing file (if any) and its kB figures. */
export interface SmapsEntry {
  readonly start: bigint;
  readonly end: bigint;
  /** maps(5) permissions, e.g. "r-xp". */
  readonly perms: string;
  /** inode of the backing file; 0 for anonymous memory. */
  readonly inode: number;
  /** The pathname column: a file, "[heap]", "[stack]", or "" for anonymous memory. */
  readonly path: string;
  /** Every "Key: N kB" line, in kB. */
  readonly kb: Readonly<Record<string, number>>;
  /** The two-letter VmFlags ("lo": locked, "lf": locked on fault); empty in maps text. */
  readonly flags: readonly string[];
}

const HEADER = /^([0-9a-f]+)-([0-9a-f]+)\s+([rwxsp-]{4})\s+[0-9a-f]+\s+[0-9a-f]+:[0-9a-f]+\s+(\d+)\s*(.*)$/;
const KB_LINE = /^([A-Za-z_][A-Za-z0-9_]*):\s+(\d+) kB$/;

/**
 * The "Key: N kB" lines of a text (smaps_rollup, status), in kB; other lines are ignored.
 * A key seen twice keeps its first value.
 */
export function parseKbFields(text: string): Record<string, number> {
  const out: Record<string, number> = Object.create(null) as Record<string, number>;
  for (const line of text.split("\n")) {
    const m = KB_LINE.exec(line.trim());
    if (m && !(m[1]! in out)) out[m[1]!] = Number(m[2]);
  }
  return out;
}

/**
 * Parses smaps text, or maps text (headers only: every entry's `kb` is then empty). Lines before the first header, and any line that is neither a header nor a
 * "Key: N kB" line (VmFlags, THPeligible, ProtectionKey, a truncated tail), are skipped.
 */
export function parseSmaps(text: string): SmapsEntry[] {
  const entries: SmapsEntry[] = [];
  let current: { start: bigint; end: bigint; perms: string; inode: number; path: string; kb: Record<string, number>; flags: string[] } | undefined;
  for (const raw of text.split("\n")) {
    const h = HEADER.exec(raw);
    if (h) {
      current = { start: BigInt(`0x${h[1]}`), end: BigInt(`0x${h[2]}`), perms: h[3]!, inode: Number(h[4]), path: h[5]!.trim(), kb: Object.create(null) as Record<string, number>, flags: [] };
      if (current.end <= current.start) {
        current = undefined;
        continue;
      }
      entries.push(current);
      continue;
    }
    if (current && raw.startsWith("VmFlags:")) {
      current.flags = raw.slice("VmFlags:".length).trim().split(/\s+/).filter((f) => /^[a-z0-9]{2}$/.test(f));
      continue;
    }
    const m = KB_LINE.exec(raw.trim());
    if (m && current && !(m[1]! in current.kb)) current.kb[m[1]!] = Number(m[2]);
  }
  return entries;
}

/** The sum of one kB field over entries (e.g. "Locked"), in bytes. */
export function sumKbBytes(entries: readonly SmapsEntry[], key: string): number {
  let kb = 0;
  for (const e of entries) kb += e.kb[key] ?? 0;
  return kb * 1024;
}

/**
 * Resident bytes of the mappings the kernel keeps locked (VmFlags "lo"), from smaps text: the
 * whole pages, shared or not. Scans the text without splitting it (smaps is ~250 KB for a Node
 * process; a split would leave ~1 MiB of garbage in a daemon that reads it once).
 */
export function lockedResidentBytes(smaps: string): number {
  let kb = 0;
  let rss = 0;
  for (let at = 0; at < smaps.length; ) {
    let end = smaps.indexOf("\n", at);
    if (end < 0) end = smaps.length;
    if (smaps.startsWith("Rss:", at)) rss = Number(/^Rss:\s+(\d+) kB/.exec(smaps.slice(at, end))?.[1] ?? 0);
    else if (smaps.startsWith("VmFlags:", at)) {
      if (/ lo( |$)/.test(smaps.slice(at + 8, end).trimEnd())) kb += rss;
      rss = 0;
    }
    at = end + 1;
  }
  return kb * 1024;
}

/** A range's length in bytes. */
export function entryBytes(e: SmapsEntry): number {
  return Number(e.end - e.start);
}

/**
 * The mappings worth keeping resident: executable, file-backed, not writable (the code of the
 * Node binary and of the shared objects it loaded, koffi's included). Left out: anonymous memory
 * (V8's heap and code space: V8 changes their permissions and aborts when a locked range refuses),
 * writable file mappings (copy-on-write data, anonymous once written), and pseudo-files
 * ("[vdso]": no file behind it).
 */
export function isExecutableFileMapping(e: SmapsEntry): boolean {
  return e.inode !== 0 && e.path.startsWith("/") && e.perms[2] === "x" && e.perms[1] !== "w" && !e.path.endsWith(" (deleted)");
}
