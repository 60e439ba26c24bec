/** Fixture machines more than one suite uses. */
import type { FixtureSpec } from "./fixture.js";

export const MB = 1024 * 1024;

/**
 * The kernel's BPF OOM selftest tree (tools/testing/selftests/bpf/prog_tests/test_oom.c):
 * `/oom_test` limited to 80 MB; cg1 10 MB with oom_score_adj +1000, cg2 40 MB with -1000,
 * cg3/cg4 30 MB, cg3/cg5 20 MB.
 */
export const OOM_TEST: FixtureSpec = {
  cgroups: {
    "/oom_test": { max: 80 * MB, current: 80 * MB },
    "/oom_test/cg1": { current: 10 * MB, anon: 10 * MB },
    "/oom_test/cg2": { current: 40 * MB, anon: 40 * MB },
    "/oom_test/cg3": { current: 50 * MB },
    "/oom_test/cg3/cg4": { current: 30 * MB, anon: 30 * MB },
    "/oom_test/cg3/cg5": { current: 20 * MB, anon: 20 * MB },
  },
  tasks: [
    { pid: 1, comm: "init", cgroup: "/" },
    { pid: 101, comm: "cg1", cgroup: "/oom_test/cg1", rssAnonKb: 10 * 1024, oomScoreAdj: 1000 },
    { pid: 102, comm: "cg2", cgroup: "/oom_test/cg2", rssAnonKb: 40 * 1024, oomScoreAdj: -1000 },
    { pid: 104, comm: "cg4", cgroup: "/oom_test/cg3/cg4", rssAnonKb: 30 * 1024 },
    { pid: 105, comm: "cg5", cgroup: "/oom_test/cg3/cg5", rssAnonKb: 20 * 1024 },
  ],
};
