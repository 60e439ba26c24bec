#!/usr/bin/env node
// `npm run test:kernel`: boots each Debian kernel in QEMU with a pure cgroup v2 hierarchy and runs
// the compiled kernel tests (dist/test/kernel/*.test.js) inside it as root. The guest's root is
// the host's / over 9p (read-only) under a tmpfs overlay, so it runs this very checkout with the
// host's node. The files are split across guests (test/kernel/vm/groups.mjs): each guest runs one
// file, or a few small ones, under a timeout from their budgets, so a slow machine or a hung test
// costs one guest, not the kernel's whole run. Ends with one line per kernel, summed over its
// guests, `kernel <version>: N passed, M failed` (after a `kernel <version>: not run: ...` line
// for each guest that did not finish), and exits non-zero when a test failed or a guest or a
// kernel did not run.
//
// Environment:
//   OOMKIT_KERNELS=6.12        run only these kernels (comma-separated: 6.1, 6.12)
//   OOMKIT_KERNEL_TESTS=kill   only test files whose name contains this (a comma list: any of
//                              them); when no file name matches, it is used as a test name
//                              pattern instead
//   OOMKIT_VM_TIMEOUT=900      seconds before any guest is declared hung and killed (default:
//                              per guest, 60 + the budgets of its files, groups.mjs)
//   OOMKIT_VM_MEMORY=1536      guest memory in MiB
//   OOMKIT_VM_CACHE=/var/tmp/oomkit-vm
//   OOMKIT_RUN_SYSTEMD=0       skip systemd.test (the guest whose PID 1 is systemd; its Debian
//                              root is built once with debootstrap, as root)
//   OOMKIT_BENCH_*             passed on to the guest: the benchmarks run only when asked
//                              (OOMKIT_BENCH_KILL=1 for kill-figures, with OOMKIT_BENCH_REPS;
//                              OOMKIT_BENCH_PEERS=1 for peers)
//   OOMKIT_RECORD_FIXTURES=DIR the kernel tests that record fixtures (cli.test) keep their
//                              captures in the run folder; when every test passed they are
//                              copied to DIR/<name> (an existing DIR/<name> is replaced)
// Extra arguments are passed to `node --test` in the guest.

import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { SYSTEMD_FILES, budgetOf, groupFiles, guestTimeoutS } from "../test/kernel/vm/groups.mjs";
import { CACHE, KERNELS, PrepareError, REPO, accelerator, buildCrowd, buildHog, ensureTools, peerDebs, prepareKernel, prepareSystemdRoot, withCacheLock, withVmRunLock } from "../test/kernel/vm/prepare.mjs";

const MEMORY_MIB = Number(process.env.OOMKIT_VM_MEMORY ?? 1536);
const CPUS = 2;
const CMDLINE = "console=ttyS0 panic=-1 cgroup_no_v1=all psi=1 mitigations=off";
const RUNS_KEPT = 6;
const RECORD_TO = process.env.OOMKIT_RECORD_FIXTURES ? path.resolve(process.env.OOMKIT_RECORD_FIXTURES) : undefined;

const log = (msg) => process.stderr.write(`test-kernel: ${msg}\n`);

/** The systemd guests' root (prepare.mjs), when a test file needs one. */
let systemdRoot;
/** The peer daemons' packages (prepare.mjs peerDebs), when the peers comparison runs: the guest unpacks them. */
let peerDebsFound = [];

/**
 * What the systemd guest binds from the host (init.sh reads "SOURCE TARGET" lines): the host's
 * node as /usr/local/bin/node, this checkout and its node_modules where they really are (a
 * symlinked node_modules too), and the kernel's modules.
 */
function systemdBinds(k) {
  const binds = [[fs.realpathSync(process.execPath), "/usr/local/bin/node"], [REPO, REPO], [k.modules, `/lib/modules/${k.kver}`]];
  const nm = path.join(REPO, "node_modules");
  if (fs.existsSync(nm)) {
    const real = fs.realpathSync(nm);
    if (!real.startsWith(`${REPO}/`)) binds.push([real, real]);
  }
  return binds.map(([src, dst]) => `${src} ${dst}`).join("\n") + "\n";
}

/**
 * Units masked in the systemd guest: they only slow its boot under TCG (53 s of userspace start-up
 * at host load 13-15 with them) or write to its console. Nothing the tests use: the journal,
 * tmpfiles, sysctl and the unit manager itself stay.
 */
const SYSTEMD_MASK = [
  "getty@.service", "serial-getty@.service", "getty-static.service", "apt-daily.timer", "apt-daily-upgrade.timer",
  "e2scrub_all.timer", "e2scrub_reap.service", "fstrim.timer", "systemd-timesyncd.service", "systemd-networkd-wait-online.service",
  "kmod-static-nodes.service", "modprobe@.service", "systemd-modules-load.service", "systemd-remount-fs.service",
  "systemd-random-seed.service", "systemd-sysusers.service", "systemd-update-utmp.service", "systemd-update-utmp-runlevel.service",
  "systemd-journal-flush.service", "systemd-user-sessions.service", "systemd-tmpfiles-setup-dev.service",
  "systemd-tmpfiles-clean.timer", "dpkg-db-backup.timer", "systemd-pstore.service", "sys-kernel-config.mount", "sys-kernel-debug.mount", "sys-kernel-tracing.mount", "sys-fs-fuse-connections.mount", "dev-hugepages.mount", "dev-mqueue.mount",
];

/** The unit that runs the tests once systemd has started the machine. */
const TEST_UNIT = `[Unit]
Description=oomkit kernel tests
After=multi-user.target
[Service]
Type=simple
ExecStart=/bin/sh /oomkit-run/job.sh
TimeoutStartSec=infinity
StandardOutput=journal+console
`;

/** The qemu child (`timeout` wrapping qemu) and the run folder of the boot in progress. */
let current;

function killCurrent() {
  if (!current) return;
  const { child, runDir } = current;
  // `timeout` forwards the signal to qemu; the pid file covers a qemu that outlived it.
  if (child.exitCode === null && child.pid) {
    try {
      process.kill(child.pid, "SIGTERM");
    } catch {
      /* already gone */
    }
  }
  killQemuFromPidfile(runDir);
}

function killQemuFromPidfile(runDir) {
  try {
    const pid = Number(fs.readFileSync(path.join(runDir, "qemu.pid"), "utf8").trim());
    if (!Number.isInteger(pid) || pid <= 1) return;
    // Only our own qemu: its command line names this run's folder.
    const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8");
    if (cmdline.includes(runDir)) process.kill(pid, "SIGKILL");
  } catch {
    /* no pid file or no such process: nothing left behind */
  }
}

for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(sig, () => {
    log(`${sig}: stopping the guest`);
    killCurrent();
    process.exit(130);
  });
}
process.on("exit", killCurrent);

function selectKernels() {
  const want = process.env.OOMKIT_KERNELS?.split(",").map((s) => s.trim()).filter(Boolean);
  if (!want?.length) return KERNELS;
  const chosen = KERNELS.filter((k) => want.includes(k.name));
  const unknown = want.filter((w) => !KERNELS.some((k) => k.name === w));
  if (unknown.length) {
    log(`unknown kernel ${unknown.join(", ")} in OOMKIT_KERNELS (known: ${KERNELS.map((k) => k.name).join(", ")})`);
    process.exit(2);
  }
  return chosen;
}

/** The compiled test files to run, and extra arguments for `node --test` (a name pattern, argv). */
function selectTests() {
  const dir = path.join(REPO, "dist/test/kernel");
  let files = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith(".test.js")).sort() : [];
  if (files.length === 0) {
    log(`no compiled kernel tests in ${dir}: run \`npm run build\` first`);
    process.exit(2);
  }
  const args = [];
  const filter = process.env.OOMKIT_KERNEL_TESTS;
  if (filter) {
    const parts = filter.split(",").filter((p) => p !== "");
    const byFile = files.filter((f) => parts.some((p) => f.includes(p)));
    if (byFile.length) files = byFile;
    else args.push(`--test-name-pattern=${filter}`);
  }
  // The systemd guest runs unless turned off (a machine where its root cannot be built: not root,
  // no way to Debian's packages).
  if (process.env.OOMKIT_RUN_SYSTEMD === "0" && files.some((f) => SYSTEMD_FILES.has(f))) {
    log(`skipped: ${files.filter((f) => SYSTEMD_FILES.has(f)).join(", ")} (the systemd guest; OOMKIT_RUN_SYSTEMD=0)`);
    files = files.filter((f) => !SYSTEMD_FILES.has(f));
  }
  for (const f of files) if (!budgetOf(f).listed) log(`${f} has no budget in test/kernel/vm/groups.mjs: ${budgetOf(f).seconds} s`);
  return { files, args: [...args, ...process.argv.slice(2)] };
}

/** One folder per kernel per run (the last RUNS_KEPT kept), with a folder per guest inside. */
function newKernelDir(kver) {
  const runs = path.join(CACHE, "runs");
  fs.mkdirSync(runs, { recursive: true });
  const old = fs.readdirSync(runs).sort();
  for (const d of old.slice(0, Math.max(0, old.length - RUNS_KEPT))) {
    // A folder whose harness still runs (another checkout's, say) is left to it.
    const owner = Number(/-(\d+)$/.exec(d)?.[1]);
    if (owner && owner !== process.pid && alive(owner)) continue;
    fs.rmSync(path.join(runs, d), { recursive: true, force: true });
  }
  const stamp = new Date().toISOString().replace(/[-:]/g, "").replace(/\..*/, "");
  const dir = path.join(runs, `${stamp}-${kver}-${process.pid}`);
  fs.mkdirSync(dir);
  return dir;
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === "EPERM";
  }
}

/** Parses the spec reporter's closing summary (`ℹ pass 12`, `ℹ fail 0`, ...). */
function summary(text) {
  const count = (name) => {
    const all = [...text.matchAll(new RegExp(`^\\S*\\s*${name} (\\d+)\\s*$`, "gm"))];
    const last = all.at(-1);
    return last ? Number(last[1]) : undefined;
  };
  return { tests: count("tests"), pass: count("pass"), fail: count("fail"), skipped: count("skipped") ?? 0, cancelled: count("cancelled") ?? 0 };
}

function quote(s) {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Copies the fixtures a guest recorded into its run folder to `to`, each replacing its namesake; returns how many. */
function copyFixtures(from, to) {
  const names = fs.existsSync(from) ? fs.readdirSync(from).sort() : [];
  for (const name of names) {
    const dest = path.join(to, name);
    fs.rmSync(dest, { recursive: true, force: true });
    fs.mkdirSync(to, { recursive: true });
    fs.cpSync(path.join(from, name), dest, { recursive: true });
    log(`fixture ${name} -> ${dest}`);
  }
  return names.length;
}

/** Boots one kernel and runs the tests; resolves to { ok, line }. */

/**
 * Boots one guest for one group of test files. Resolves to
 * { ran: true, pass, fail, skipped, cancelled, rc, secs } when node --test finished in the guest, or
 * { ran: false, why, fatal, secs } when it did not: `fatal` when the cause is the kernel or QEMU,
 * not the tests (the kernel's other groups would fail the same way).
 */
async function runGroup(k, tools, group, args, accel, runDir, timeoutS) {
  // The cached tools are named by a hash of their source; the guest runs copies named `hog` and
  // `crowd`, the comms the tests expect in /proc, in the kernel's log and in oomkit's records.
  for (const [name, file] of Object.entries(tools)) {
    fs.copyFileSync(file, path.join(runDir, name));
    fs.chmodSync(path.join(runDir, name), 0o755);
  }
  const job = [
    `export OOMKIT_REPO=${quote(REPO)}`,
    `export OOMKIT_MODULES=${quote(k.modules)}`,
    `export OOMKIT_HOG=/oomkit-run/hog`,
    `export OOMKIT_CROWD=/oomkit-run/crowd`,
    ...(peerDebsFound.length ? [`export OOMKIT_PEER_DEBS=${quote(peerDebsFound.join(":"))}`] : []),
    `export OOMKIT_RUN_DIR=/oomkit-run`,
    // A big file on the read-only 9p root that nothing else in the guest reads: page cache for
    // the reclaim tests.
    `export OOMKIT_PAGE_CACHE_FILE=${quote(k.vmlinux)}`,
    ...(RECORD_TO ? ["export OOMKIT_RECORD_FIXTURES=/oomkit-run/fixtures"] : []),
    ...Object.entries(process.env)
      .filter(([name]) => name.startsWith("OOMKIT_BENCH_"))
      .map(([name, value]) => `export ${name}=${quote(value ?? "")}`),
    group.guest === "systemd" ? `exec /bin/sh ${quote(path.join(REPO, "test/kernel/vm/guest-systemd.sh"))}` : `exec /bin/busybox sh ${quote(path.join(REPO, "test/kernel/vm/guest.sh"))}`,
  ];
  const systemd = group.guest === "systemd";
  if (systemd) {
    fs.writeFileSync(path.join(runDir, "binds"), systemdBinds(k));
    fs.writeFileSync(path.join(runDir, "oomkit-test.service"), TEST_UNIT);
    fs.writeFileSync(path.join(runDir, "mask"), SYSTEMD_MASK.join("\n") + "\n");
  }
  fs.writeFileSync(path.join(runDir, "job.sh"), job.join("\n") + "\n");
  const testArgs = [...args, ...group.files.map((f) => path.join("dist/test/kernel", f))];
  fs.writeFileSync(path.join(runDir, "test-args"), testArgs.join("\n") + "\n");
  if (RECORD_TO) fs.mkdirSync(path.join(runDir, "fixtures"));
  const qemu = [
    ...["-nodefaults", "-no-reboot", "-display", "none", "-machine", "pc"],
    ...accel.args,
    ...["-smp", String(CPUS), "-m", String(MEMORY_MIB)],
    ...["-bios", "/usr/share/qemu/qboot.rom", "-kernel", k.vmlinux, "-initrd", k.initramfs, "-append", systemd ? `${CMDLINE} oomkit.systemd systemd.show_status=0` : CMDLINE],
    ...["-virtfs", "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap"],
    ...(systemd ? ["-virtfs", `local,path=${systemdRoot},mount_tag=sysroot,security_model=none,readonly=on,multidevs=remap`] : []),
    ...["-virtfs", `local,path=${runDir},mount_tag=oomkitrun,security_model=none,multidevs=remap`],
    ...["-serial", `file:${path.join(runDir, "console.log")}`, "-serial", "stdio"],
    ...["-pidfile", path.join(runDir, "qemu.pid")],
  ];
  log(`kernel ${k.version} [${group.label}]: booting (timeout ${timeoutS} s); run folder ${runDir}`);
  const started = Date.now();
  // The guest's tests wait on real time (a daemon's start-up, a policy's deadline) while TCG
  // emulates every instruction: on a 2-core machine shared with builds and other guests (load 11
  // measured), daemon-oom ran out of its 540 s at nice 0. As root the guest runs at a higher
  // priority (OOMKIT_VM_NICE, default -10; 0 turns it off); elsewhere `nice` only warns.
  const niceness = Number(process.env.OOMKIT_VM_NICE ?? "-10");
  const prefix = Number.isInteger(niceness) && niceness !== 0 && process.getuid?.() === 0 ? ["nice", "-n", String(niceness)] : [];
  const load = hostLoad(runDir);
  const argv = [...prefix, "timeout", "-k", "10", String(timeoutS), "qemu-system-x86_64", ...qemu];
  const child = spawn(argv[0], argv.slice(1), {
    stdio: ["ignore", "pipe", "pipe"],
  });
  current = { child, runDir };
  let output = "";
  let stderr = "";
  let partial = "";
  child.stdout.setEncoding("utf8");
  child.stdout.on("data", (chunk) => {
    const text = chunk.replace(/\r/g, "");
    output += text;
    partial += text;
    const nl = partial.lastIndexOf("\n");
    if (nl >= 0) {
      process.stdout.write(partial.slice(0, nl + 1));
      partial = partial.slice(nl + 1);
    }
  });
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (chunk) => (stderr += chunk));
  const status = await new Promise((resolve) => child.on("close", (code, signal) => resolve(code ?? (signal ? 128 : 1))));
  if (partial) process.stdout.write(`${partial}\n`);
  killQemuFromPidfile(runDir);
  current = undefined;
  fs.writeFileSync(path.join(runDir, "output.log"), output);
  const secs = (Date.now() - started) / 1000;
  const hostLoadRange = load.stop();

  const rcFile = path.join(runDir, "rc");
  const console = fs.existsSync(path.join(runDir, "console.log")) ? fs.readFileSync(path.join(runDir, "console.log"), "utf8") : "";
  const consoleRef = `see ${path.join(runDir, "console.log")}`;
  if (!fs.existsSync(rcFile)) {
    if (status === 124 || status === 137) {
      const rerun = `OOMKIT_KERNELS=${k.name} OOMKIT_KERNEL_TESTS=${group.files[0].replace(/\.js$/, "")}`;
      return { ran: false, secs, hostLoadRange, why: `the guest timed out after ${timeoutS} s (${consoleRef}; raise OOMKIT_VM_TIMEOUT or the file's budget, or rerun with ${rerun})` };
    }
    const panic = /Kernel panic[^\n]*/.exec(console)?.[0];
    if (panic) return { ran: false, secs, hostLoadRange, why: `guest panic: ${panic.trim()} (${consoleRef})` };
    const initFail = /oomkit-vm: init: [^\n]*/.exec(console)?.[0];
    if (initFail) return { ran: false, secs, hostLoadRange, fatal: true, why: `${initFail} (${consoleRef})` };
    const qemuSaid = stderr.trim().split("\n").pop();
    if (qemuSaid || status !== 0) return { ran: false, secs, hostLoadRange, fatal: true, why: `${qemuSaid || `qemu exited with status ${status}`} (${consoleRef})` };
    return { ran: false, secs, hostLoadRange, why: `the guest stopped before the tests finished (${consoleRef})` };
  }
  const rc = Number(fs.readFileSync(rcFile, "utf8").trim());
  const s = summary(output);
  if (s.pass === undefined || s.fail === undefined) {
    return { ran: false, secs, hostLoadRange, why: `no test summary from the guest (exit ${rc}; see ${path.join(runDir, "output.log")})` };
  }
  return { ran: true, secs, hostLoadRange, rc, pass: s.pass, fail: s.fail, skipped: s.skipped, cancelled: s.cancelled };
}

/**
 * Samples the host's 1-minute load average every 5 s while a guest runs: guest times on a shared
 * machine mean little without it. stop() writes host-load.json into the run folder (read by
 * bench/vm-figures.ts) and returns the range, "min–max".
 */
function hostLoad(runDir) {
  const samples = [os.loadavg()[0]];
  const timer = setInterval(() => samples.push(os.loadavg()[0]), 5000).unref();
  return {
    stop() {
      clearInterval(timer);
      samples.push(os.loadavg()[0]);
      const min = Math.min(...samples);
      const max = Math.max(...samples);
      const mean = samples.reduce((a, b) => a + b, 0) / samples.length;
      fs.writeFileSync(path.join(runDir, "host-load.json"), `${JSON.stringify({ cpus: os.cpus().length, load1: { min, max, mean }, samples: samples.length })}\n`);
      return `${min.toFixed(1)}–${max.toFixed(1)}`;
    },
  };
}

/** Runs every group on one kernel; resolves to { ok, lines }. */
async function runKernel(k, tools, tests, accel) {
  const kernelDir = newKernelDir(k.kver);
  const groups = groupFiles(tests.files);
  const started = Date.now();
  const lines = [];
  const total = { pass: 0, fail: 0, skipped: 0, cancelled: 0 };
  let ran = 0;
  let ok = true;
  log(`kernel ${k.version} (${k.kver}, ${accel.name}, ${CPUS} vCPUs, ${MEMORY_MIB} MiB): ${groups.length} guest(s); run folder ${kernelDir}`);
  for (const [i, group] of groups.entries()) {
    const runDir = path.join(kernelDir, `${String(i + 1).padStart(2, "0")}-${group.label}`);
    fs.mkdirSync(runDir);
    const timeoutS = guestTimeoutS(group);
    const r = await runGroup(k, tools, group, tests.args, accel, runDir, timeoutS);
    const share = `${r.secs.toFixed(1)} s of ${timeoutS} s (host load ${r.hostLoadRange})`;
    if (!r.ran) {
      ok = false;
      log(`kernel ${k.version} [${group.label}]: ${share}, not run`);
      if (r.fatal) {
        // The kernel or QEMU, not these tests: the other groups would fail alike.
        const rest = groups.slice(i).map((g) => g.label).join(", ");
        lines.push(ran === 0 ? `kernel ${k.version}: not run: ${r.why}` : `kernel ${k.version}: not run: ${rest}: ${r.why}`);
        break;
      }
      lines.push(`kernel ${k.version}: not run: ${group.label}: ${r.why}`);
      continue;
    }
    ran++;
    for (const key of Object.keys(total)) total[key] += r[key];
    ok &&= r.rc === 0 && r.fail === 0 && r.cancelled === 0;
    const extra = [r.skipped ? `${r.skipped} skipped` : "", r.cancelled ? `${r.cancelled} cancelled` : "", r.rc ? `node --test exit ${r.rc}` : ""].filter(Boolean);
    log(`kernel ${k.version} [${group.label}]: ${share}, ${r.pass} passed, ${r.fail} failed${extra.map((x) => `, ${x}`).join("")}`);
    // A guest that used most of its timeout is the next to time out on a slower machine.
    if (r.secs > timeoutS / 2) log(`kernel ${k.version} [${group.label}]: used more than half its timeout: raise its budget in test/kernel/vm/groups.mjs`);
  }
  if (RECORD_TO && ok) {
    let copied = 0;
    for (const d of fs.readdirSync(kernelDir).sort()) copied += copyFixtures(path.join(kernelDir, d, "fixtures"), RECORD_TO);
    if (copied === 0) log(`no fixtures recorded in ${kernelDir}/*/fixtures (OOMKIT_RECORD_FIXTURES needs cli.test among the tests)`);
  } else if (RECORD_TO) {
    log(`kernel ${k.version}: not every test passed, fixtures not copied (they stay in ${kernelDir}/*/fixtures)`);
  }
  if (total.skipped) log(`kernel ${k.version}: ${total.skipped} skipped`);
  if (total.cancelled) log(`kernel ${k.version}: ${total.cancelled} cancelled`);
  log(`kernel ${k.version}: ${groups.length} guest(s), ${((Date.now() - started) / 1000).toFixed(1)} s in all`);
  if (ran > 0) lines.push(`kernel ${k.version}: ${total.pass} passed, ${total.fail} failed`);
  return { ok, lines };
}

async function main() {
  const kernels = selectKernels();
  const tests = selectTests();
  if (process.env.OOMKIT_VM_TIMEOUT && !(Number(process.env.OOMKIT_VM_TIMEOUT) > 0)) {
    log(`OOMKIT_VM_TIMEOUT must be a number of seconds, not ${JSON.stringify(process.env.OOMKIT_VM_TIMEOUT)}`);
    process.exit(2);
  }
  let tools;
  let accel;
  const prepared = [];
  const lines = [];
  let ok = true;
  try {
    await withCacheLock(() => {
      ensureTools(log);
      tools = { hog: buildHog(), crowd: buildCrowd() };
      accel = accelerator();
      // The peers comparison's daemons: downloaded here, unpacked in the guest (peers.test.ts).
      if (process.env.OOMKIT_BENCH_PEERS === "1" && tests.files.some((f) => f.startsWith("peers."))) {
        try {
          peerDebsFound = peerDebs(log);
        } catch (err) {
          if (!(err instanceof PrepareError)) throw err;
          lines.push(`peers: earlyoom and nohang will not run: ${err.message}`);
        }
      }
      if (tests.files.some((f) => SYSTEMD_FILES.has(f))) {
        try {
          systemdRoot = prepareSystemdRoot(log);
        } catch (err) {
          if (!(err instanceof PrepareError)) throw err;
          // The other files still run; these are reported as not run.
          const skipped = tests.files.filter((f) => SYSTEMD_FILES.has(f));
          tests.files = tests.files.filter((f) => !SYSTEMD_FILES.has(f));
          lines.push(`systemd guest: not run: ${skipped.join(", ")}: ${err.message} (OOMKIT_RUN_SYSTEMD=0 skips it)`);
          ok = false;
        }
      }
      for (const kernel of kernels) {
        try {
          prepared.push(prepareKernel(kernel, log));
        } catch (err) {
          if (!(err instanceof PrepareError)) throw err;
          lines.push(`kernel ${kernel.name}: not run: ${err.message}`);
          ok = false;
        }
      }
    }, log);
  } catch (err) {
    if (!(err instanceof PrepareError)) throw err;
    console.log(`test-kernel: ${err.message}`);
    for (const k of kernels) console.log(`kernel ${k.name}: not run`);
    return 1;
  }
  try {
    await withVmRunLock(async () => {
      for (const k of prepared) {
        const r = await runKernel(k, tools, tests, accel);
        lines.push(...r.lines);
        ok &&= r.ok;
      }
    }, log);
  } catch (err) {
    if (!(err instanceof PrepareError)) throw err;
    for (const k of prepared) lines.push(`kernel ${k.version}: not run: ${err.message}`);
    ok = false;
  }
  console.log("");
  for (const line of lines) console.log(line);
  return ok ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    log(`internal error: ${err?.stack ?? err}`);
    killCurrent();
    process.exit(1);
  },
);
