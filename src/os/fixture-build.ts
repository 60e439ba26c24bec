/**
 * Builds a fixture tree inline, in the kernel's own text formats, for tests that need a machine
 * shaped just so. Committed fixtures (test/fixtures/NAME) are for situations captured from real
 * kernels; this is for the rest. Sizes here are the kernel's own units (kB in /proc, bytes in
 * cgroup files); oomkit/testing (src/testing/machine.ts) is the friendlier declaration on top.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

export interface FixtureTask {
  readonly pid: number;
  readonly comm: string;
  readonly cgroup?: string;
  readonly state?: string;
  readonly ppid?: number;
  /** Its process group (its own pid unless given). */
  readonly pgrp?: number;
  readonly rssAnonKb?: number;
  readonly rssFileKb?: number;
  readonly rssShmemKb?: number;
  readonly swapKb?: number;
  readonly pteKb?: number;
  readonly oomScoreAdj?: number;
  readonly uid?: number;
  readonly kthread?: boolean;
  readonly cmdline?: readonly string[];
  /** Its executable: the text of the proc/PID/exe link ("/usr/sbin/sshd", "/usr/bin/x (deleted)"); no link when absent. */
  readonly exe?: string;
  readonly startTime?: number;
  /** Write the kernel's oom_score too. */
  readonly oomScore?: number;
}

export interface FixtureCgroup {
  readonly current?: number;
  readonly max?: number | "max";
  readonly high?: number | "max";
  readonly low?: number;
  readonly min?: number;
  readonly swapCurrent?: number;
  readonly swapMax?: number | "max";
  readonly oomGroup?: boolean;
  readonly anon?: number;
  readonly file?: number;
  readonly pgscan?: number;
  readonly events?: Readonly<Record<string, number>>;
  readonly pressureSome10?: number;
  readonly pressureFull10?: number;
  /** memory.pressure's cumulative stall counters (total=), in µs: what stall rates are measured from. */
  readonly pressureSomeTotalUsec?: number;
  readonly pressureFullTotalUsec?: number;
  /** Further memory.stat fields (or other values for anon, file, pgscan), in memory.stat's units. */
  readonly stat?: Readonly<Record<string, number>>;
  readonly populated?: boolean;
  readonly xattrs?: Readonly<Record<string, string>>;
  /** The folder's owner uid (a delegated cgroup); root when absent. */
  readonly owner?: number;
  /** Leave these files out, as an older kernel would. */
  readonly omit?: readonly string[];
}

export interface FixtureSpec {
  readonly mode?: "v2" | "hybrid";
  readonly memTotalKb?: number;
  readonly memAvailableKb?: number;
  readonly swapTotalKb?: number;
  readonly swapFreeKb?: number;
  readonly memPressureSome10?: number;
  readonly memPressureFull10?: number;
  readonly memPressureSomeTotalUsec?: number;
  readonly memPressureFullTotalUsec?: number;
  readonly cgroups?: Readonly<Record<string, FixtureCgroup>>;
  readonly tasks?: readonly FixtureTask[];
  readonly selfPid?: number;
}

const v = (x: number | "max" | undefined, dflt: string) => (x === undefined ? dflt : String(x));
const psi = (some10 = 0, full10 = 0, someTotal = 0, fullTotal = 0) =>
  `some avg10=${some10.toFixed(2)} avg60=0.00 avg300=0.00 total=${someTotal}\nfull avg10=${full10.toFixed(2)} avg60=0.00 avg300=0.00 total=${fullTotal}\n`;

/** memory.stat's text: anon, file and pgscan always (0 unless given), then any further fields. */
function memoryStat(c: FixtureCgroup): string {
  const fields: Record<string, number> = { anon: c.anon ?? 0, file: c.file ?? 0, pgscan: c.pgscan ?? 0, ...c.stat };
  return Object.entries(fields).map(([k, n]) => `${k} ${n}\n`).join("");
}

export function statLine(t: FixtureTask): string {
  const flags = t.kthread ? 0x00208040 : 0x00400100;
  const rssPages = Math.floor(((t.rssAnonKb ?? 0) + (t.rssFileKb ?? 0) + (t.rssShmemKb ?? 0)) / 4);
  // 52 fields as in proc(5): pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt
  // majflt cmajflt utime stime cutime cstime priority nice threads itrealvalue starttime vsize rss ...
  const rest = [
    t.state ?? "S", t.ppid ?? 1, t.pgrp ?? t.pid, t.pid, 0, -1, flags, 100, 0, 0, 0, 5, 3, 0, 0, 20, 0, 1, 0,
    t.startTime ?? 1000 + t.pid, 10_000_000, rssPages, "18446744073709551615", 1, 1, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 17, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  ];
  return `${t.pid} (${t.comm}) ${rest.join(" ")}\n`;
}

export function statusText(t: FixtureTask): string {
  const uid = t.uid ?? 0;
  const lines = [
    `Name:\t${t.comm}`,
    `Umask:\t0022`,
    `State:\t${t.state ?? "S"} (sleeping)`,
    `Tgid:\t${t.pid}`,
    `Pid:\t${t.pid}`,
    `PPid:\t${t.ppid ?? 1}`,
    `Uid:\t${uid}\t${uid}\t${uid}\t${uid}`,
    `Gid:\t0\t0\t0\t0`,
  ];
  if (!t.kthread) {
    const rss = (t.rssAnonKb ?? 0) + (t.rssFileKb ?? 0) + (t.rssShmemKb ?? 0);
    lines.push(
      `VmSize:\t${rss * 2 + 10000} kB`,
      `VmRSS:\t${rss} kB`,
      `RssAnon:\t${t.rssAnonKb ?? 0} kB`,
      `RssFile:\t${t.rssFileKb ?? 0} kB`,
      `RssShmem:\t${t.rssShmemKb ?? 0} kB`,
      `VmPTE:\t${t.pteKb ?? 48} kB`,
      `VmSwap:\t${t.swapKb ?? 0} kB`,
    );
  }
  lines.push(`Threads:\t1`, `CapEff:\t000001ffffffffff`);
  return `${lines.join("\n")}\n`;
}

/** Writes a task's /proc files into a fixture. */
function putTask(dir: string, t: FixtureTask, mode: "v2" | "hybrid"): void {
  const put = (p: string, text: string) => {
    const f = path.join(dir, p);
    fs.mkdirSync(path.dirname(f), { recursive: true });
    fs.writeFileSync(f, text);
  };
  const cg = t.cgroup ?? "/";
  put(`proc/${t.pid}/stat`, statLine(t));
  put(`proc/${t.pid}/status`, statusText(t));
  put(`proc/${t.pid}/oom_score_adj`, `${t.oomScoreAdj ?? 0}\n`);
  if (t.oomScore !== undefined) put(`proc/${t.pid}/oom_score`, `${t.oomScore}\n`);
  put(`proc/${t.pid}/cmdline`, t.kthread ? "" : `${(t.cmdline ?? [t.comm]).join("\0")}\0`);
  put(`proc/${t.pid}/cgroup`, mode === "v2" ? `0::${cg}\n` : `4:memory:${cg}\n0::/\n`);
  if (t.exe !== undefined) fs.symlinkSync(t.exe, path.join(dir, `proc/${t.pid}/exe`));
}

/** A task starts on a v2 fixture machine built by buildFixture: its /proc files, and its pid in its cgroup's cgroup.procs. */
export function addTask(dir: string, t: FixtureTask): void {
  putTask(dir, t, "v2");
  const cg = t.cgroup ?? "/";
  fs.appendFileSync(path.join(dir, "sys/fs/cgroup", cg === "/" ? "" : cg, "cgroup.procs"), `${t.pid}\n`);
}

/** Writes a fixture tree into a new temporary folder and returns its path. */
export function buildFixture(spec: FixtureSpec, dir = fs.mkdtempSync(path.join(os.tmpdir(), "oomkit-fx-"))): string {
  const put = (p: string, text: string) => {
    const f = path.join(dir, p);
    fs.mkdirSync(path.dirname(f), { recursive: true });
    fs.writeFileSync(f, text);
  };
  const memTotal = spec.memTotalKb ?? 4_000_000;
  put(
    "proc/meminfo",
    [
      `MemTotal:       ${memTotal} kB`,
      `MemFree:        ${Math.floor(memTotal / 4)} kB`,
      `MemAvailable:   ${spec.memAvailableKb ?? Math.floor(memTotal / 2)} kB`,
      `Buffers:           1000 kB`,
      `Cached:          200000 kB`,
      `SwapCached:           0 kB`,
      `Shmem:            10000 kB`,
      `SwapTotal:      ${spec.swapTotalKb ?? 0} kB`,
      `SwapFree:       ${spec.swapFreeKb ?? spec.swapTotalKb ?? 0} kB`,
      "",
    ].join("\n"),
  );
  put("proc/pressure/memory", psi(spec.memPressureSome10, spec.memPressureFull10, spec.memPressureSomeTotalUsec, spec.memPressureFullTotalUsec));
  put("proc/pressure/cpu", psi());
  put("proc/pressure/io", psi());
  put("proc/self/status", statusText({ pid: spec.selfPid ?? 999999, comm: "oomkit" }));
  put("proc/sys/kernel/osrelease", "6.12.0-test\n");
  put("proc/sys/vm/swappiness", "60\n");
  put("proc/vmstat", "pgscan_kswapd 0\npgscan_direct 0\noom_kill 0\n");
  const mode = spec.mode ?? "v2";
  const mount = mode === "v2" ? "/sys/fs/cgroup" : "/sys/fs/cgroup/unified";
  put(
    "proc/self/mounts",
    mode === "v2"
      ? "sysfs /sys sysfs rw 0 0\ncgroup2 /sys/fs/cgroup cgroup2 rw,nosuid,nodev,noexec,relatime 0 0\n"
      : "cgroup2 /sys/fs/cgroup/unified cgroup2 rw 0 0\ncgroup /sys/fs/cgroup/memory cgroup rw,memory 0 0\n",
  );
  put(`${mount.slice(1)}/cgroup.controllers`, mode === "v2" ? "cpuset cpu io memory pids\n" : "\n");
  const procsByCgroup = new Map<string, number[]>();
  for (const t of spec.tasks ?? []) {
    const cg = t.cgroup ?? "/";
    procsByCgroup.set(cg, [...(procsByCgroup.get(cg) ?? []), t.pid]);
    putTask(dir, t, mode);
  }
  const xattrs: Record<string, Record<string, string>> = {};
  const owners: Record<string, number> = {};
  if (mode === "v2") {
    const cgroups = { "/": {}, ...spec.cgroups };
    for (const [p, c] of Object.entries(cgroups) as [string, FixtureCgroup][]) {
      const base = p === "/" ? mount.slice(1) : `${mount.slice(1)}${p}`;
      const files: Record<string, string> = {
        "cgroup.procs": (procsByCgroup.get(p) ?? []).map((x) => `${x}\n`).join(""),
        "cgroup.events": `populated ${c.populated === false ? 0 : 1}\nfrozen 0\n`,
        "memory.pressure": psi(c.pressureSome10, c.pressureFull10, c.pressureSomeTotalUsec, c.pressureFullTotalUsec),
        "memory.stat": memoryStat(c),
      };
      if (p !== "/") {
        Object.assign(files, {
          "cgroup.controllers": "memory pids\n",
          "cgroup.kill": "",
          "memory.current": `${c.current ?? (c.anon ?? 0) + (c.file ?? 0)}\n`,
          "memory.max": `${v(c.max, "max")}\n`,
          "memory.high": `${v(c.high, "max")}\n`,
          "memory.low": `${c.low ?? 0}\n`,
          "memory.min": `${c.min ?? 0}\n`,
          "memory.peak": `${c.current ?? 0}\n`,
          "memory.swap.current": `${c.swapCurrent ?? 0}\n`,
          "memory.swap.max": `${v(c.swapMax, "max")}\n`,
          "memory.oom.group": `${c.oomGroup ? 1 : 0}\n`,
          "memory.events": Object.entries({ low: 0, high: 0, max: 0, oom: 0, oom_kill: 0, oom_group_kill: 0, ...c.events })
            .map(([k, n]) => `${k} ${n}\n`)
            .join(""),
        });
      } else {
        files["memory.reclaim"] = "";
      }
      for (const [name, text] of Object.entries(files)) if (!c.omit?.includes(name)) put(`${base}/${name}`, text);
      if (c.xattrs) xattrs[p === "/" ? mount : `${mount}${p}`] = { ...c.xattrs };
      if (c.owner !== undefined) owners[p === "/" ? mount : `${mount}${p}`] = c.owner;
    }
  }
  fs.writeFileSync(
    path.join(dir, "oomkit-fixture.json"),
    JSON.stringify({ version: 1, comment: "built by oomkit's fixture builder", facts: { selfPid: spec.selfPid ?? 999999 }, xattrs, owners }, null, 2),
  );
  return dir;
}
