/**
 * State files: what the daemon must remember across a crash (the guard bands it set, and later
 * the victims it is waiting for and the values it changed). oomkit runs as root and acts on what
 * it reads back, so a state file is hostile input like any other:
 * - it is read only when it is a regular file (never through a symlink) owned by root or this
 *   process's user and writable by nobody else; anything else is set aside with a warning, and
 *   the daemon starts as if there were no state;
 * - its contents must pass a schema (a key that is not a plain cgroup path never reaches a write);
 * - it is written atomically (a new file beside it, fsynced, renamed over it) in a 0700 folder,
 *   0600, never through a symlink.
 * A dry run reads state but never writes it.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as z from "zod";
import { errnoCode } from "../errors.js";
import type { Logger } from "../log.js";
import { cgroupPath } from "../os/paths.js";

/**
 * A cgroup path as a state file may name it: absolute, already in its plain form (no "..", ".",
 * empty or NUL segments), not the root. Anything else would let the file steer a write or a
 * decision outside the cgroup tree.
 */
export const savedCgroupPath = (): z.ZodString => z.string().refine((p) => p !== "/" && p.startsWith("/") && !p.includes("\0") && p.split("/").slice(1).every((s) => s !== "" && s !== "." && s !== "..") && cgroupPath(p) === p, {
  error: "not a plain cgroup path",
});

export class StateStore<S extends z.ZodType> {
  readonly file: string;
  /** Built on first use (src/on-first-use.ts): most starts find no state file to check. */
  readonly #schema: () => S;
  readonly #log: Logger;
  readonly #readOnly: boolean;

  readonly #durable: boolean;

  /**
   * `durable: false` skips the fsync: for state that only a crash of oomkit (not of the machine)
   * must survive — the page cache keeps it — and that is written on the kill path.
   */
  constructor(opts: { file: string; schema: () => S; log: Logger; readOnly?: boolean; durable?: boolean }) {
    this.file = opts.file;
    this.#schema = opts.schema;
    this.#log = opts.log;
    this.#readOnly = opts.readOnly ?? false;
    this.#durable = opts.durable ?? true;
  }

  /** The saved state, or undefined when there is none or it cannot be trusted (said once, here). */
  read(): z.output<S> | undefined {
    const st = fs.lstatSync(this.file, { throwIfNoEntry: false });
    if (!st) return undefined;
    const refuse = (why: string): undefined => {
      this.#log.warn(`state file ${this.file} ${why}: ignoring it (nothing from it is applied)`);
      return undefined;
    };
    if (!st.isFile()) return refuse(st.isSymbolicLink() ? "is a symlink" : "is not a regular file");
    const euid = typeof process.geteuid === "function" ? process.geteuid() : 0;
    if (st.uid !== 0 && st.uid !== euid) return refuse(`is owned by uid ${st.uid}`);
    if ((st.mode & 0o022) !== 0) return refuse(`is writable by ${st.mode & 0o002 ? "others" : "its group"} (mode ${(st.mode & 0o777).toString(8)})`);
    let value: unknown;
    try {
      const fd = fs.openSync(this.file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
      try {
        value = JSON.parse(fs.readFileSync(fd, "utf8"));
      } finally {
        fs.closeSync(fd);
      }
    } catch (err) {
      return refuse(`cannot be read as JSON (${errnoCode(err) ?? (err as Error).message})`);
    }
    const r = this.#schema().safeParse(value);
    if (!r.success) {
      const i = r.error.issues[0];
      return refuse(`does not hold valid state (${i && i.path.length > 0 ? `${i.path.map(String).join(".")}: ` : ""}${i?.message ?? "invalid"})`);
    }
    return r.data;
  }

  /** Replaces the saved state atomically; a no-op in a dry run. */
  write(value: z.input<S>): void {
    if (this.#readOnly) return;
    const dir = path.dirname(this.file);
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const tmp = `${this.file}.${process.pid}.tmp`;
    fs.rmSync(tmp, { force: true });
    const fd = fs.openSync(tmp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o600);
    try {
      fs.writeSync(fd, `${JSON.stringify(value, null, 2)}\n`);
      if (this.#durable) fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    // rename(2) replaces a symlink or file at the path itself, never what a link points to; a
    // folder there makes it fail, and the error is the caller's to report.
    fs.renameSync(tmp, this.file);
  }
}
