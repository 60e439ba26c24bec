/**
 * Log lines to the systemd journal through its native protocol (systemd.journal-fields(7),
 * "Native Journal Protocol"): one datagram per entry to /run/systemd/journal/socket, each field
 * either `NAME=value\n` or, for a value holding a newline (or any byte the simple form cannot
 * carry), the binary-safe form `NAME\n` + the value's length as a little-endian 64-bit integer +
 * the value + `\n`. Each line gets its PRIORITY (debug 7, info 6, warn 4, error 3), and episode
 * lines oomkit's own fields (OOMKIT_EPISODE, OOMKIT_POLICY, OOMKIT_VICTIM_*), so
 * `journalctl -u oomkit OOMKIT_POLICY=...` finds them.
 *
 * Used only where stderr is the journal already (JOURNAL_STREAM names it): anywhere else the
 * lines stay on stderr. A datagram the journal does not take (too large, its socket full, the
 * journal gone) is written to stderr instead, so a line is never lost for the journal's sake.
 */
import * as fs from "node:fs";
import type { EpisodeRecord } from "../engine/episode.js";
import type { LogLevel, Logger } from "../log.js";
import type { SendResult } from "../os/unix-dgram.js";

export const JOURNAL_SOCKET = "/run/systemd/journal/socket";

/** syslog(3) priorities of oomkit's levels. */
export const PRIORITY: Record<LogLevel, number> = { debug: 7, info: 6, warn: 4, error: 3 };

const LEVEL_ORDER: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/** A journal field name: upper-case letters, digits and underscores, not starting with `_` or a digit, at most 64 bytes. */
export function isJournalFieldName(name: string): boolean {
  return name.length <= 64 && /^[A-Z][A-Z0-9_]*$/.test(name);
}

/**
 * One journal entry in the native protocol's wire form. Throws a TypeError on a field name the
 * journal would drop (the caller's bug, not the data's): values are never the cause of an error.
 */
export function encodeJournalEntry(fields: readonly (readonly [string, string])[]): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of fields) {
    if (!isJournalFieldName(name)) throw new TypeError(`not a journal field name: ${JSON.stringify(name)}`);
    const v = Buffer.from(value, "utf8");
    if (!v.includes(0x0a)) {
      parts.push(Buffer.from(`${name}=`, "utf8"), v, Buffer.from("\n"));
      continue;
    }
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(v.length));
    parts.push(Buffer.from(`${name}\n`, "utf8"), len, v, Buffer.from("\n"));
  }
  return Buffer.concat(parts);
}

/** The journal fields of an episode: its id, the policy that handled it, the victims it acted on. */
export function episodeFields(record: EpisodeRecord): [string, string][] {
  const f: [string, string][] = [
    ["OOMKIT_EPISODE", record.id],
    ["OOMKIT_SCOPE", record.scope],
    ["OOMKIT_KIND", record.kind],
    ["OOMKIT_HANDLED", record.handled ? "1" : "0"],
  ];
  if (record.policy !== null) f.push(["OOMKIT_POLICY", record.policy]);
  for (const r of record.actions) {
    const a = r.action;
    if (a.kind === "kill-task") f.push(["OOMKIT_VICTIM_PID", String(a.pid)], ["OOMKIT_VICTIM_COMM", a.comm]);
    if (a.kind === "kill-task" && a.cgroup !== null) f.push(["OOMKIT_VICTIM_CGROUP", a.cgroup]);
    if (a.kind === "kill-cgroup") f.push(["OOMKIT_VICTIM_CGROUP", a.cgroup]);
  }
  const k = record.kernelKill;
  if (k?.pid !== undefined) f.push(["OOMKIT_VICTIM_PID", String(k.pid)]);
  if (k?.cgroup !== undefined) f.push(["OOMKIT_VICTIM_CGROUP", k.cgroup]);
  return f;
}

/**
 * Whether stderr is the journal's stream for this process: JOURNAL_STREAM ("device:inode") names
 * the file descriptor 2 has (systemd.exec(5)), so a redirect by the operator is respected.
 */
export function stderrIsJournal(env: Readonly<Record<string, string | undefined>> = process.env, fstat: () => { dev: number; ino: number } = () => fs.fstatSync(2)): boolean {
  const m = /^(\d+):(\d+)$/.exec(env.JOURNAL_STREAM ?? "");
  if (!m) return false;
  try {
    const st = fstat();
    return String(st.dev) === m[1] && String(st.ino) === m[2];
  } catch {
    return false;
  }
}

/** Where entries go: the journal's socket (through a sender) with stderr behind it. */
export interface JournalSink {
  readonly send: (entry: Buffer) => SendResult;
  readonly fallback: (line: string) => void;
  readonly identifier?: string;
}

/** The journal writer behind the logger and the episode lines. */
export class JournalWriter {
  readonly #sink: JournalSink;
  /** Entries the journal did not take, written to stderr instead. */
  fellBack = 0;

  constructor(sink: JournalSink) {
    this.#sink = sink;
  }

  write(priority: number, message: string, extra: readonly (readonly [string, string])[] = []): void {
    const fields: [string, string][] = [
      ["MESSAGE", message],
      ["PRIORITY", String(priority)],
      ["SYSLOG_IDENTIFIER", this.#sink.identifier ?? "oomkit"],
      ...extra.map(([n, v]) => [n, v] as [string, string]),
    ];
    const r = this.#sink.send(encodeJournalEntry(fields));
    if (!r.ok) {
      this.fellBack++;
      this.#sink.fallback(`${message}\n`);
    }
  }

  /** A Logger whose lines are entries at their level's priority (below `level`: dropped). */
  logger(level: LogLevel): Logger {
    const at = (lvl: LogLevel) => (message: string) => {
      if (LEVEL_ORDER[lvl] >= LEVEL_ORDER[level]) this.write(PRIORITY[lvl], `oomkit ${lvl}: ${message}`);
    };
    return { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
  }
}
