/**
 * The machine most standing-decision tests start from: half of 1 GB available, /jobs/a (one
 * 400 MiB process, pid 10) and /jobs/b (one 200 MiB process, pid 11) under /jobs, and init.
 */
import type { FixtureSpec } from "./fixture.js";

const MB = 1024 * 1024;

export const TWO_JOBS: FixtureSpec = {
  memTotalKb: 1_000_000,
  memAvailableKb: 500_000,
  cgroups: {
    "/jobs": { current: 600 * MB },
    "/jobs/a": { current: 400 * MB, anon: 400 * MB },
    "/jobs/b": { current: 200 * MB, anon: 200 * MB },
  },
  tasks: [
    { pid: 1, comm: "init", cgroup: "/" },
    { pid: 10, comm: "a", cgroup: "/jobs/a", rssAnonKb: 400 * 1024 },
    { pid: 11, comm: "b", cgroup: "/jobs/b", rssAnonKb: 200 * 1024 },
  ],
};

/** /proc/meminfo of that machine with `availKb` available. */
export const twoJobsMeminfo = (availKb: number) => `MemTotal:       1000000 kB\nMemFree:          10000 kB\nMemAvailable:   ${availKb} kB\nSwapTotal:            0 kB\nSwapFree:             0 kB\n`;
