/**
 * `tmpfs`: free memory by removing files from tmpfs folders (scratch space, /dev/shm caches)
 * before anything is killed.
 *
 * Contract: from the configured tmpfs roots (`roots`, default every root the configuration's
 * protections allow), take regular files of at least `minBytes`, older than `minAgeMs`, in
 * `order` — "largest" first (fewest files for the amount) or "oldest" first (by mtime, least
 * likely to be in use) — until their sizes add up to the target: `targetBytes`, else
 * `targetShare` of the scope's usage (memory.current; MemTotal - MemAvailable for the root).
 * At most `maxFiles` are removed. Ties go to the first path. Passes when no file qualifies.
 *
 * Limits: sizes are apparent sizes (a sparse file frees less); a file's pages are uncharged from
 * whichever cgroup wrote them, so in a cgroup scope this helps only when the scope wrote them; a
 * file still open by a process is freed only when it closes. The engine counts the removal only
 * if usage fell (the bpf_memory_freed rule); otherwise the next policy runs at once.
 */
import * as z from "zod";
import { type FileInfo, definePolicy } from "./face.js";
import { MiB, byText, mib, optionsOf, parseOptionsWith, scopeUsageBytes } from "./builtin-util.js";
import { onFirstUse } from "../on-first-use.js";

const NAME = "tmpfs";

const optionsSchema = onFirstUse(() =>
  z.strictObject({
    roots: z.array(z.string().startsWith("/", "a tmpfs root is an absolute path")).optional(),
    order: z.enum(["largest", "oldest"]).default("largest"),
    targetBytes: z.number().int().positive().optional(),
    /** 10 % of usage: enough to step back from a limit without emptying caches that are in use. */
    targetShare: z.number().gt(0).max(1).default(0.1),
    /** Files smaller than this are not worth a removal (default 1 MiB). */
    minBytes: z.number().int().nonnegative().default(MiB),
    /** Files modified more recently than this are left alone (0: any age). */
    minAgeMs: z.number().int().nonnegative().default(0),
    maxFiles: z.number().int().positive().max(10_000).default(1000),
  }),
);

export type TmpfsOptions = z.output<ReturnType<typeof optionsSchema>>;

/** Files in the order this policy removes them. */
export function orderFiles(files: readonly FileInfo[], order: TmpfsOptions["order"]): FileInfo[] {
  const sorted = [...files];
  if (order === "largest") sorted.sort((a, b) => b.sizeBytes - a.sizeBytes || byText(a.path, b.path));
  else sorted.sort((a, b) => a.mtimeMs - b.mtimeMs || byText(a.path, b.path));
  return sorted;
}

export const tmpfs = definePolicy<TmpfsOptions>({
  name: NAME,
  description: "remove files under configured tmpfs roots (largest or oldest first) up to a target amount, before killing",
  parseOptions: (raw) => parseOptionsWith(NAME, optionsSchema, raw),
  handleOutOfMemory(oc) {
    const opts = optionsOf(NAME, optionsSchema, oc.options);
    const roots = opts.roots ?? oc.tmpfsRoots;
    if (roots.length === 0) return oc.pass("no tmpfs roots are configured (protections.tmpfsRoots)");
    const unconfigured = roots.filter((r) => !oc.tmpfsRoots.includes(r));
    const seen = new Set<string>();
    const files: FileInfo[] = [];
    for (const root of roots) {
      for (const f of oc.files(root)) {
        if (seen.has(f.path) || f.sizeBytes < Math.max(1, opts.minBytes)) continue;
        if (opts.minAgeMs > 0 && oc.now.wallMs - f.mtimeMs < opts.minAgeMs) continue;
        seen.add(f.path);
        files.push(f);
      }
    }
    const note = unconfigured.length > 0 ? `; not configured as tmpfs roots, ignored: ${unconfigured.join(", ")}` : "";
    if (files.length === 0) return oc.pass(`no file to remove under ${roots.join(", ")}${note}`);
    const target = opts.targetBytes ?? Math.max(1, Math.floor((scopeUsageBytes(oc) ?? 0) * opts.targetShare));
    const chosen: string[] = [];
    let total = 0;
    for (const f of orderFiles(files, opts.order)) {
      if (total >= target || chosen.length >= opts.maxFiles) break;
      chosen.push(f.path);
      total += f.sizeBytes;
    }
    return oc.removeFiles(chosen, `remove ${chosen.length} file(s), ${opts.order} first: ${mib(total)} of a ${mib(target)} target${note}`);
  },
});

export default tmpfs;
