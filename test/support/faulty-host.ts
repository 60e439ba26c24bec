/**
 * A Host whose chosen paths fail with a chosen errno, as a failing disk, a kernel short of memory
 * (ENOMEM) or a busy file (EAGAIN) would make them fail, exactly when an OOM is being handled.
 * The errors are the ones LinuxHost raises for such an errno (os/host.ts hostIoError).
 */
import type { DirEntry, FileStat } from "../../src/os/host.js";
import { hostIoError } from "../../src/os/host.js";
import { HostDecorator } from "../../src/os/host-decorator.js";

/** Which Host operation a fault hits. */
export type FaultOp = "read" | "list" | "stat" | "xattr" | "link";

const ALL_OPS: readonly FaultOp[] = ["read", "list", "stat", "xattr", "link"];

interface Rule {
  readonly matches: (path: string) => boolean;
  readonly errno: string;
  readonly ops: ReadonlySet<FaultOp>;
}

export class FaultyHost extends HostDecorator {
  readonly #rules: Rule[] = [];
  /** Every path a fault was raised for, in order. */
  readonly raised: string[] = [];

  /** Makes `path` (exactly, or every path a RegExp matches) fail with `errno` for these operations. */
  fail(path: string | RegExp, errno: string, ops: readonly FaultOp[] = ALL_OPS): this {
    const matches = typeof path === "string" ? (p: string) => p === path : (p: string) => path.test(p);
    this.#rules.push({ matches, errno, ops: new Set(ops) });
    return this;
  }

  #check(op: FaultOp, p: string): void {
    const rule = this.#rules.find((r) => r.ops.has(op) && r.matches(p));
    if (!rule) return;
    this.raised.push(p);
    throw hostIoError(op, p, Object.assign(new Error(`${rule.errno}: ${op} ${p}`), { code: rule.errno }));
  }

  override readFile(p: string): string {
    this.#check("read", p);
    return super.readFile(p);
  }
  override readDir(p: string): DirEntry[] {
    this.#check("list", p);
    return super.readDir(p);
  }
  override stat(p: string): FileStat {
    this.#check("stat", p);
    return super.stat(p);
  }
  override readLink(p: string): string {
    this.#check("link", p);
    return super.readLink(p);
  }
  override readXattrs(p: string): ReadonlyMap<string, string> {
    this.#check("xattr", p);
    return super.readXattrs(p);
  }
}
