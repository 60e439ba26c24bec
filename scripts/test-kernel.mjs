#!/usr/bin/env node
// `npm run test:kernel`: boots each Debian kernel in QEMU with a pure cgroup v2 hierarchy and runs
// the compiled kernel tests (dist/test/kernel/*.test.js) inside it as root. The guest's root is
// the host's / over 9p (read-only) under a tmpfs overlay, so it runs this very checkout with the
// host's node. Ends with one line per kernel, `kernel <version>: N passed, M failed`, and exits
// non-zero when a test failed or a kernel did not run.
//
// Environment:
//   OOMKIT_KERNELS=6.12        run only these kernels (comma-separated: 6.1, 6.12)
//   OOMKIT_KERNEL_TESTS=kill   only test files whose name contains this; when no file name
//                              matches, it is used as a test name pattern instead
//   OOMKIT_VM_TIMEOUT=600      seconds before a guest is declared hung and killed
//   OOMKIT_VM_MEMORY=1536      guest memory in MiB
//   OOMKIT_VM_CACHE=/var/tmp/oomkit-vm
//   OOMKIT_BENCH_*             passed on to the guest (OOMKIT_BENCH_REPS for kill-figures)
//   OOMKIT_RECORD_FIXTURES=DIR the kernel tests that record fixtures (cli.test) keep their
//                              captures in the run folder; when every test passed they are
//                              copied to DIR/<name> (an existing DIR/<name> is replaced)
// Extra arguments are passed to `node --test` in the guest.

import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { CACHE, KERNELS, PrepareError, REPO, accelerator, buildHog, ensureTools, prepareKernel, withCacheLock } from "../test/kernel/vm/prepare.mjs";

const TIMEOUT_S = Number(process.env.OOMKIT_VM_TIMEOUT ?? 600);
const MEMORY_MIB = Number(process.env.OOMKIT_VM_MEMORY ?? 1536);
const CPUS = 2;
const CMDLINE = "console=ttyS0 panic=-1 cgroup_no_v1=all psi=1 mitigations=off";
const RUNS_KEPT = 6;
const RECORD_TO = process.env.OOMKIT_RECORD_FIXTURES ? path.resolve(process.env.OOMKIT_RECORD_FIXTURES) : undefined;

const log = (msg) => process.stderr.write(`test-kernel: ${msg}\n`);

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

function testArgs() {
  const dir = path.join(REPO, "dist/test/kernel");
  let files = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith(".test.js")).sort() : [];
  if (files.length === 0) {
    log(`no compiled kernel tests in ${dir}: run \`npm run build\` first`);
    process.exit(2);
  }
  const args = [];
  const filter = process.env.OOMKIT_KERNEL_TESTS;
  if (filter) {
    const byFile = files.filter((f) => f.includes(filter));
    if (byFile.length) files = byFile;
    else args.push(`--test-name-pattern=${filter}`);
  }
  return [...args, ...process.argv.slice(2), ...files.map((f) => path.join("dist/test/kernel", f))];
}

function newRunDir(kver) {
  const runs = path.join(CACHE, "runs");
  fs.mkdirSync(runs, { recursive: true });
  const old = fs.readdirSync(runs).sort();
  for (const d of old.slice(0, Math.max(0, old.length - RUNS_KEPT))) fs.rmSync(path.join(runs, d), { recursive: true, force: true });
  const stamp = new Date().toISOString().replace(/[-:]/g, "").replace(/\..*/, "");
  const dir = path.join(runs, `${stamp}-${kver}-${process.pid}`);
  fs.mkdirSync(dir);
  return dir;
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

/** Copies the fixtures the guest recorded into the run folder to `to`, each replacing its namesake. */
function copyFixtures(from, to) {
  const names = fs.existsSync(from) ? fs.readdirSync(from).sort() : [];
  if (names.length === 0) log(`no fixtures recorded in ${from} (OOMKIT_RECORD_FIXTURES needs cli.test among the tests)`);
  for (const name of names) {
    const dest = path.join(to, name);
    fs.rmSync(dest, { recursive: true, force: true });
    fs.mkdirSync(to, { recursive: true });
    fs.cpSync(path.join(from, name), dest, { recursive: true });
    log(`fixture ${name} -> ${dest}`);
  }
}

/** Boots one kernel and runs the tests; resolves to { ok, line }. */
async function runKernel(k, hog, args, accel) {
  const runDir = newRunDir(k.kver);
  const job = [
    `export OOMKIT_REPO=${quote(REPO)}`,
    `export OOMKIT_MODULES=${quote(k.modules)}`,
    `export OOMKIT_HOG=${quote(hog)}`,
    `export OOMKIT_RUN_DIR=/oomkit-run`,
    // A big file on the read-only 9p root that nothing else in the guest reads: page cache for
    // the reclaim tests.
    `export OOMKIT_PAGE_CACHE_FILE=${quote(k.vmlinux)}`,
    ...(RECORD_TO ? ["export OOMKIT_RECORD_FIXTURES=/oomkit-run/fixtures"] : []),
    ...Object.entries(process.env)
      .filter(([name]) => name.startsWith("OOMKIT_BENCH_"))
      .map(([name, value]) => `export ${name}=${quote(value ?? "")}`),
    `exec /bin/busybox sh ${quote(path.join(REPO, "test/kernel/vm/guest.sh"))}`,
  ];
  fs.writeFileSync(path.join(runDir, "job.sh"), job.join("\n") + "\n");
  fs.writeFileSync(path.join(runDir, "test-args"), args.join("\n") + "\n");
  if (RECORD_TO) fs.mkdirSync(path.join(runDir, "fixtures"));
  const qemu = [
    ...["-nodefaults", "-no-reboot", "-display", "none", "-machine", "pc"],
    ...accel.args,
    ...["-smp", String(CPUS), "-m", String(MEMORY_MIB)],
    ...["-bios", "/usr/share/qemu/qboot.rom", "-kernel", k.vmlinux, "-initrd", k.initramfs, "-append", CMDLINE],
    ...["-virtfs", "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap"],
    ...["-virtfs", `local,path=${runDir},mount_tag=oomkitrun,security_model=none,multidevs=remap`],
    ...["-serial", `file:${path.join(runDir, "console.log")}`, "-serial", "stdio"],
    ...["-pidfile", path.join(runDir, "qemu.pid")],
  ];
  log(`booting ${k.version} (${k.kver}, ${accel.name}, ${CPUS} vCPUs, ${MEMORY_MIB} MiB); run folder ${runDir}`);
  const started = Date.now();
  const child = spawn("timeout", ["-k", "10", String(TIMEOUT_S), "qemu-system-x86_64", ...qemu], {
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
  const secs = ((Date.now() - started) / 1000).toFixed(1);

  const rcFile = path.join(runDir, "rc");
  const console = fs.existsSync(path.join(runDir, "console.log")) ? fs.readFileSync(path.join(runDir, "console.log"), "utf8") : "";
  const consoleRef = `see ${path.join(runDir, "console.log")}`;
  if (!fs.existsSync(rcFile)) {
    if (status === 124 || status === 137) {
      return { ok: false, line: `kernel ${k.version}: not run: the guest timed out after ${TIMEOUT_S} s (${consoleRef}; raise OOMKIT_VM_TIMEOUT or rerun with OOMKIT_KERNELS=${k.name})` };
    }
    const panic = /Kernel panic[^\n]*/.exec(console)?.[0];
    if (panic) return { ok: false, line: `kernel ${k.version}: not run: guest panic: ${panic.trim()} (${consoleRef})` };
    const initFail = /oomkit-vm: init: [^\n]*/.exec(console)?.[0];
    if (initFail) return { ok: false, line: `kernel ${k.version}: not run: ${initFail} (${consoleRef})` };
    const why = stderr.trim().split("\n").pop() || (status === 0 ? "the guest stopped before the tests finished" : `qemu exited with status ${status}`);
    return { ok: false, line: `kernel ${k.version}: not run: ${why} (${consoleRef})` };
  }
  const rc = Number(fs.readFileSync(rcFile, "utf8").trim());
  if (RECORD_TO && rc === 0) copyFixtures(path.join(runDir, "fixtures"), RECORD_TO);
  else if (RECORD_TO) log(`kernel ${k.version}: tests failed, fixtures not copied (they stay in ${path.join(runDir, "fixtures")})`);
  const s = summary(output);
  if (s.pass === undefined || s.fail === undefined) {
    return { ok: false, line: `kernel ${k.version}: not run: no test summary from the guest (exit ${rc}; see ${path.join(runDir, "output.log")})` };
  }
  if (s.skipped) log(`kernel ${k.version}: ${s.skipped} skipped`);
  if (s.cancelled) log(`kernel ${k.version}: ${s.cancelled} cancelled`);
  log(`kernel ${k.version}: guest ran ${secs} s, node --test exit ${rc}`);
  const failed = s.fail + s.cancelled;
  return { ok: rc === 0 && failed === 0, line: `kernel ${k.version}: ${s.pass} passed, ${s.fail} failed` };
}

async function main() {
  const kernels = selectKernels();
  const args = testArgs();
  let hog;
  let accel;
  const prepared = [];
  const lines = [];
  let ok = true;
  try {
    await withCacheLock(() => {
      ensureTools(log);
      hog = buildHog();
      accel = accelerator();
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
  for (const k of prepared) {
    const r = await runKernel(k, hog, args, accel);
    lines.push(r.line);
    ok &&= r.ok;
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
