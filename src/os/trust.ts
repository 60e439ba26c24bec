/**
 * Whether a file oomkit runs or obeys as root (a policy file, the configuration, the pre-kill
 * hook program) can be trusted: it and every folder above it, up to "/", must be owned by root
 * (or the user oomkit runs as) and writable by no one else — otherwise whoever can write any of
 * them can replace what root runs. A sticky folder (/tmp) writable by all is allowed above a
 * path: others may add names there but cannot replace or rename ours. Symlinks are followed to
 * the file they name, and that file's own path is checked too.
 */
import * as fs from "node:fs";
import * as path from "node:path";

/** What is wrong with trusting `file`, one sentence each; [] when it can be trusted. */
export function trustProblems(file: string, euid: number = typeof process.geteuid === "function" ? process.geteuid() : 0): string[] {
  const problems: string[] = [];
  const chains = new Set<string>([path.resolve(file)]);
  try {
    chains.add(fs.realpathSync(file));
  } catch {
    /* a missing file is the caller's error to report */
  }
  const seen = new Set<string>();
  for (const start of chains) {
    for (let p = start, first = true; ; first = false) {
      if (!seen.has(p)) {
        seen.add(p);
        const what = first ? "file" : "folder";
        let st: fs.Stats | undefined;
        try {
          st = fs.lstatSync(p);
        } catch {
          st = undefined;
        }
        if (st && !st.isSymbolicLink()) {
          if (st.uid !== 0 && st.uid !== euid) problems.push(`the ${what} ${p} is owned by uid ${st.uid}, not root`);
          const writable = st.mode & 0o022;
          const sticky = !first && (st.mode & 0o1000) !== 0;
          if (writable && !sticky) problems.push(`the ${what} ${p} is writable by ${writable & 0o002 ? "others" : "its group"} (mode ${(st.mode & 0o7777).toString(8)})`);
        }
      }
      const up = path.dirname(p);
      if (up === p) break;
      p = up;
    }
  }
  return problems;
}
