// How `npm run test:kernel` splits the kernel tests across guests, and how long each guest may run.
//
// One long guest per kernel made a slow machine into a timeout of everything: on a busy 2-CPU
// machine under TCG the whole suite outgrew any single limit, and the tests that had finished
// were lost with it. So every test file has a budget, the guest that runs it is given the sum of
// its files' budgets plus a boot allowance as its timeout, and a file that overruns takes only its
// own guest down. Files with small budgets share a guest (a boot costs 7–15 s under TCG), up to
// GROUP_BUDGET_S of budgets in all; a file whose budget is larger has a guest of its own.

/**
 * Seconds a test file may take in the guest, about three times what it took on a busy 2-CPU
 * machine under TCG (run of 2026-11-29, the slower kernel), so that a machine twice as slow still
 * passes and a hung test is still caught within minutes. A file not listed gets DEFAULT_BUDGET_S.
 * A benchmark counts its full budget only when its switch is on; off, it only reports its skip.
 */
export const BUDGETS_S = {
  "cli.test.js": 60,
  // 81-99 s of guest time at load 2-5 (both kernels, 2026-11-30); 246 s at load 13-17 (6.12).
  "daemon-crowd.test.js": 480,
  "daemon-kill.test.js": 540,
  "daemon-follow.test.js": 450,
  // On the standing path: 272 s on 6.12 at load 7.6-9.8 (a decision run ahead under a 2 s
  // deadline takes up to 8 s, and a trigger waits for the call running then).
  "daemon-oom.test.js": 720,
  // Measured 22 s (load 3-4) to 48-66 s (load 7-10), both kernels, on this 2-CPU machine; 8 s of it the policy thinks.
  "daemon-stale.test.js": 180,
  // Guest time 141 s (6.1) and 205–220 s (6.12) at load 7–9, 76 s and 91 s at load 3–6: four
  // cold starts of the daemon, up to a minute each on a busy machine.
  "daemon-restart.test.js": 600,
  // The one leak took 51-125 s; with the own-pages comparison (three more thrashes,
  // resident-run.ts) the guest took 341 s on 6.12 at load 11-15.
  "daemon-zram.test.js": 720,
  "kill-figures.test.js": { bench: "OOMKIT_BENCH_KILL", on: 300, off: 10 },
  "kill.test.js": 60,
  // Guest 31 s on 6.1, 33 s on 6.12 (load 6-8, 00:16-00:26); each policy call 0.2-0.8 s under TCG.
  "kubernetes.test.js": 120,
  "oom.test.js": 30,
  "peers.test.js": { bench: "OOMKIT_BENCH_PEERS", on: 2400, off: 10 },
  "psi.test.js": 45,
  "report.test.js": 300,
  "snapshot.test.js": 90,
  // Guest 111 s on 6.1 and 117 s on 6.12 at host load 1-3 (05:37), 143-258 s on 6.1 at load
  // 3-8.4, 150 s on 6.12 at load 3-4.5, of which the watchdog's restart is 28-37 s (a 30 s
  // WatchdogSec= by design); boot to multi-user 10-30 s more in SYSTEMD_BOOT_BUDGET_S. So its guest's timeout is 600 s, the harness's single-guest limit
  // before the split. At host load 13.6-17.9 (02:56) the first eight tests took 660 s (each cold
  // start of node up to 160 s): that machine needs OOMKIT_VM_TIMEOUT.
  "systemd.test.js": 480,
  // Guest 46 s on 6.12 (load 14-15), 61 s on 6.1 (load 7-9): a 16 s recording under TCG and node's cold start over 9p.
  "timeline.test.js": 90,
  "vm.test.js": 15,
};
export const DEFAULT_BUDGET_S = 120;
/** Boot, the first cold start of node over 9p, and power-off: 7–15 s measured; the rest is margin. */
export const BOOT_BUDGET_S = 60;
/**
 * Files that run in a guest whose PID 1 is systemd (a Debian root made with debootstrap:
 * prepare.mjs, init.sh), each in a guest of its own. Their boot takes longer: systemd reaches
 * multi-user in about 10-25 s under TCG before the tests start.
 */
export const SYSTEMD_FILES = new Set(["systemd.test.js"]);
export const SYSTEMD_BOOT_BUDGET_S = 120;

/** Files share a guest while the sum of their budgets stays within this. */
export const GROUP_BUDGET_S = 120;

/** A file's budget in seconds, and whether it came from the table. */
export function budgetOf(file, env = process.env) {
  const b = BUDGETS_S[file];
  if (b === undefined) return { seconds: DEFAULT_BUDGET_S, listed: false };
  if (typeof b === "number") return { seconds: b, listed: true };
  return { seconds: env[b.bench] === "1" ? b.on : b.off, listed: true };
}

/**
 * Splits `files` (in the order given) into guests: each file goes into the first group it fits
 * in (GROUP_BUDGET_S), else into a new one. Returns [{ files, budgetS, label }] in the order of
 * each group's first file.
 */
export function groupFiles(files, env = process.env) {
  const groups = [];
  for (const file of files) {
    const { seconds } = budgetOf(file, env);
    if (SYSTEMD_FILES.has(file)) {
      groups.push({ files: [file], budgetS: seconds, guest: "systemd" });
      continue;
    }
    const fits = groups.find((g) => g.guest === undefined && g.budgetS + seconds <= GROUP_BUDGET_S);
    if (fits) {
      fits.files.push(file);
      fits.budgetS += seconds;
    } else {
      groups.push({ files: [file], budgetS: seconds });
    }
  }
  return groups.map((g) => ({ ...g, label: g.files.map((f) => f.replace(/\.test\.js$/, "")).join("+") }));
}

/** The timeout of one guest: OOMKIT_VM_TIMEOUT when set, else the boot allowance plus the budgets. */
export function guestTimeoutS(group, env = process.env) {
  const fixed = Number(env.OOMKIT_VM_TIMEOUT);
  return env.OOMKIT_VM_TIMEOUT && fixed > 0 ? fixed : (group.guest === "systemd" ? SYSTEMD_BOOT_BUDGET_S : BOOT_BUDGET_S) + group.budgetS;
}
