import { OomkitError } from "../errors.js";
import { takeSnapshot } from "../engine/snapshot.js";
import type { CgroupNode } from "../engine/cgroup.js";
import { RecordingHost, writeFixture } from "../os/record.js";
import { PROC_SELF_CGROUP, PROC_SELF_STATUS } from "../os/paths.js";
import { readIfPresent } from "../os/host.js";
import type { Command } from "./command.js";
import { parseFlags } from "./args.js";

const USAGE = `usage: oomkit record --fixture DIR [--root DIR] [--cgroup PATH ...] [--pid PID ...] [--no-tasks]

Writes what oomkit reads from this machine (system memory and pressure, the cgroup tree's
files, and /proc/<pid> files) into a new fixture folder, so a real situation becomes a test
fixture (read it back with --root DIR on any command).

  --fixture DIR   the folder to create (must be absent or empty)
  --root DIR      record from a fixture instead of the live machine (to cut a smaller one)
  --cgroup PATH   record only these cgroups' subtrees (repeatable; default: the whole tree)
  --pid PID       record only these processes (repeatable; default: the processes of the
                  recorded cgroups, or every process in system-level mode)
  --no-tasks      record no /proc/<pid> files`;

export const recordCommand: Command = {
  name: "record",
  summary: "capture what oomkit reads from this machine as a test fixture",
  usage: USAGE,
  run(args, ctx) {
    const { values } = parseFlags("record", args, {
      fixture: { type: "string" },
      root: { type: "string" },
      cgroup: { type: "string", multiple: true },
      pid: { type: "string", multiple: true },
      "no-tasks": { type: "boolean" },
    });
    if (!values.fixture) throw new OomkitError("E_USAGE", "--fixture DIR is required (see oomkit record --help)");
    const pids = (values.pid ?? []).map((p) => {
      const n = Number(p);
      if (!Number.isInteger(n) || n <= 0) throw new OomkitError("E_USAGE", `--pid must be a process id, got "${p}"`);
      return n;
    });
    const rec = new RecordingHost(ctx.makeHost(values.root));
    const snap = takeSnapshot(rec);
    void snap.system;
    void snap.vmstat;
    readIfPresent(rec, PROC_SELF_STATUS);
    readIfPresent(rec, PROC_SELF_CGROUP);
    const roots: CgroupNode[] = [];
    for (const p of values.cgroup ?? []) {
      const c = snap.cgroup(p);
      if (!c) throw new OomkitError("E_NO_SUCH_PATH", `no cgroup ${p}${snap.cgroupMode.perCgroup ? "" : ` (${snap.cgroupMode.summary})`}`);
      roots.push(c);
    }
    if (roots.length === 0 && snap.root) roots.push(snap.root);
    const withTasks = !values["no-tasks"] && pids.length === 0;
    let cgroups = 0;
    for (const root of roots) {
      for (const c of [root, ...root.descendants()]) {
        cgroups++;
        c.readAll();
        if (withTasks) for (const t of c.tasks) t.readAll();
      }
    }
    if (withTasks && !snap.root) for (const t of snap.tasks) t.readAll();
    for (const pid of pids) {
      const t = snap.task(pid);
      if (!t) throw new OomkitError("E_NO_SUCH_PATH", `no process ${pid}`);
      t.readAll();
    }
    const comment = `recorded by oomkit record from ${rec.description}, kernel ${snap.system.kernelRelease ?? "?"}, ${new Date(snap.takenAtWallMs).toISOString()}`;
    const result = writeFixture(rec, values.fixture, comment);
    ctx.stdout(`recorded ${result.files} files (${cgroups} cgroups) into ${result.dir}\n`);
    return 0;
  },
};
