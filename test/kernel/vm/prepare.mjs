// Everything the kernel test bed needs before it can boot a guest: host tools, the Debian kernel
// packages (downloaded and unpacked into a cache outside the repo), an ELF vmlinux, a tiny
// busybox initramfs per kernel, and the memory hog. Each step is cached; a failure throws a
// PrepareError whose message is one line saying what happened and what to run.
//
// Cache layout (OOMKIT_VM_CACHE, default /var/tmp/oomkit-vm):
//   debs/<package>.deb           apt-get download
//   kernels/<kver>/root/         dpkg-deb -x (plus depmod), bound into the guest's /lib/modules
//   kernels/<kver>/vmlinux       decompressed from vmlinuz (boots about twice as fast as bzImage)
//   kernels/<kver>/initramfs.cpio
//   hog-<hash>                   test/kernel/hog.c, built with the machine's gcc; named by a hash of
//                                the source, so checkouts with different hogs never share a binary
//   crowd-<hash>                 test/kernel/crowd.c, likewise
//   runs/<stamp>-<kver>-<pid>/   one folder per kernel per run, a folder per guest inside it
//                                shared read-write with that guest

import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(HERE, "../../..");
export const CACHE = process.env.OOMKIT_VM_CACHE ?? "/var/tmp/oomkit-vm";

/** The kernels the suite runs on: a short name and the meta package whose dependency is the image. */
export const KERNELS = [
  { name: "6.1", meta: "linux-image-amd64", pattern: /^linux-image-6\.1\.0-\d+-amd64$/ },
  { name: "6.12", meta: "linux-image-6.12-amd64", pattern: /^linux-image-6\.12\.\d+.*-amd64$/ },
];

/** Modules the initramfs loads to reach the host's root over 9p (dependencies found by modprobe). */
const INITRAMFS_MODULES = ["virtio_pci", "9pnet_virtio", "9p", "overlay"];

const TOOLS = [
  { bin: "qemu-system-x86_64", pkg: "qemu-system-x86" },
  { bin: "busybox", pkg: "busybox-static" },
  { bin: "cpio", pkg: "cpio" },
  { bin: "modprobe", pkg: "kmod" },
  { bin: "depmod", pkg: "kmod" },
];
const SBIN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

export class PrepareError extends Error {}

/**
 * Runs `fn` holding the cache lock, so two harnesses (two engineers, or CI jobs) never unpack
 * into the same folder at once. A lock whose owner died is taken over.
 */
export async function withCacheLock(fn, log) {
  return await withPidLock(path.join(CACHE, "prepare.lock"), fn, log, { what: `preparing ${CACHE}`, maxWaitS: 900 });
}

/**
 * One VM run at a time on this machine: two guests under TCG on two cores make each other's
 * tests time out. The harness waits (it never runs beside another) for the run holding the lock,
 * however it was started; a lock whose owner has died is taken over.
 */
export async function withVmRunLock(fn, log) {
  return await withPidLock(path.join(CACHE, "vm-run.lock"), fn, log, { what: "running its VMs", maxWaitS: 3 * 3600 });
}

/**
 * Runs fn holding `lock`, a file holding the owner's pid, made with O_EXCL: waits while a live
 * process holds it (saying so once), takes it over from a dead one, gives up after maxWaitS.
 */
export async function withPidLock(lock, fn, log, { what, maxWaitS, pollMs = 1000 }) {
  fs.mkdirSync(path.dirname(lock), { recursive: true });
  const started = Date.now();
  for (let waited = 0; ; waited++) {
    try {
      fs.writeFileSync(lock, String(process.pid), { flag: "wx" });
      break;
    } catch (err) {
      if (err.code !== "EEXIST") throw err;
      const owner = Number(fs.readFileSync(lock, "utf8")) || 0;
      let alive = owner > 0;
      try {
        if (alive) process.kill(owner, 0);
      } catch (e) {
        alive = e.code === "EPERM";
      }
      if (!alive) {
        fs.rmSync(lock, { force: true });
        continue;
      }
      if (waited === 0) log(`waiting for pid ${owner}, which is ${what}`);
      if (Date.now() - started > maxWaitS * 1000) throw new PrepareError(`${lock} held by pid ${owner} for ${Math.round(maxWaitS / 60)} minutes: remove it if that is not a test-kernel run`);
      await new Promise((r) => setTimeout(r, pollMs));
    }
  }
  try {
    return await fn();
  } finally {
    fs.rmSync(lock, { force: true });
  }
}

function which(bin) {
  for (const dir of `${process.env.PATH ?? ""}:${SBIN_PATH}`.split(":")) {
    if (!dir) continue;
    const p = path.join(dir, bin);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      /* keep looking */
    }
  }
  return undefined;
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: "utf8", env: { ...process.env, PATH: `${process.env.PATH}:${SBIN_PATH}` }, ...opts });
  return { status: r.status ?? -1, stdout: r.stdout ?? "", stderr: r.stderr ?? "", error: r.error };
}

function firstLine(text) {
  return (text || "").trim().split("\n").filter(Boolean).pop() ?? "";
}

/** Makes sure qemu, busybox (static), cpio and kmod are present, installing them when root. */
export function ensureTools(log) {
  const missing = () => TOOLS.filter((t) => !which(t.bin) || (t.bin === "busybox" && !isStaticBusybox()));
  let todo = missing();
  if (todo.length === 0) return;
  const pkgs = [...new Set(todo.map((t) => t.pkg))];
  const cmd = `apt-get update && apt-get install -y ${pkgs.join(" ")}`;
  if (process.getuid?.() !== 0) {
    throw new PrepareError(`missing ${todo.map((t) => t.bin).join(", ")}: run \`sudo sh -c '${cmd}'\``);
  }
  log(`installing ${pkgs.join(" ")} (apt-get)`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  const upd = run("apt-get", ["update", "-qq"], { env });
  if (upd.status !== 0) throw new PrepareError(`apt-get update failed (${firstLine(upd.stderr)}): run \`${cmd}\` by hand`);
  const inst = run("apt-get", ["install", "-y", "-qq", ...pkgs], { env });
  todo = missing();
  if (inst.status !== 0 || todo.length > 0) {
    throw new PrepareError(`apt-get install failed (${firstLine(inst.stderr)}): run \`${cmd}\` by hand`);
  }
}

function busyboxPath() {
  return fs.existsSync("/bin/busybox") ? "/bin/busybox" : which("busybox");
}

function isStaticBusybox() {
  const p = busyboxPath();
  if (!p) return false;
  // A dynamic binary names its interpreter; a static one has no PT_INTERP.
  const head = fs.readFileSync(p).subarray(0, 1 << 20);
  return !head.includes("/lib64/ld-linux");
}

/**
 * TCG runs both vCPUs on one host thread (`thread=single`). With a thread per vCPU
 * (`thread=multi`) the 6.12 guest now and then died of "Oops: int3" at a static-key site
 * (sched_clock_idle_wakeup_event at boot, get_page_from_freelist in a test: 2 of about 11 boots
 * on 2026-11-29), most likely the kernel's live code patching racing QEMU's translated code on
 * the other vCPU; none in 9 boots of 6.12 (16 in all) with one thread, so far. On a busy 2-CPU
 * host one thread was no slower
 * (daemon-oom on 6.12, alternating: 114 and 85 s multi, 90 and 96 s single).
 */
const TCG = ["-accel", "tcg,thread=single", "-cpu", "max"];

/** Which QEMU accelerator works here: KVM unless /dev/kvm is PVM's (stock kernels hang) or unusable. */
export function accelerator() {
  if (fs.existsSync("/sys/module/kvm_pvm")) return { args: TCG, name: "TCG (kvm is PVM)" };
  try {
    fs.closeSync(fs.openSync("/dev/kvm", "r+"));
    return { args: ["-accel", "kvm", "-cpu", "host"], name: "KVM" };
  } catch {
    return { args: TCG, name: "TCG" };
  }
}

/** Resolves the image package a kernel's meta package depends on, or throws "not in the apt lists". */
function imagePackage(kernel) {
  const r = run("apt-cache", ["depends", kernel.meta]);
  const dep = r.stdout
    .split("\n")
    .map((l) => /^\s*Depends:\s*(\S+)/.exec(l)?.[1])
    .find((p) => p && kernel.pattern.test(p));
  if (r.status !== 0 || !dep) {
    throw new PrepareError(`${kernel.meta} is not in the apt lists: run \`apt-get update\`, then again`);
  }
  return dep;
}

function downloadDeb(pkg, log) {
  const dir = path.join(CACHE, "debs");
  fs.mkdirSync(dir, { recursive: true });
  const have = fs.readdirSync(dir).find((f) => f.startsWith(`${pkg}_`) && f.endsWith(".deb"));
  if (have) return path.join(dir, have);
  log(`downloading ${pkg}`);
  const r = run("apt-get", ["download", "-q", pkg], { cwd: dir });
  const got = fs.readdirSync(dir).find((f) => f.startsWith(`${pkg}_`) && f.endsWith(".deb"));
  if (r.status !== 0 || !got) {
    throw new PrepareError(`download of ${pkg} failed (${firstLine(r.stderr)}): run \`apt-get update\` and retry`);
  }
  return path.join(dir, got);
}

/** Finds the compressed payload inside a bzImage and writes the ELF vmlinux. */
function decompressKernel(vmlinuz, out) {
  const img = fs.readFileSync(vmlinuz);
  const formats = [
    { magic: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], cmd: ["xz", "-dc", "--single-stream"] },
    { magic: [0x28, 0xb5, 0x2f, 0xfd], cmd: ["zstd", "-dcq"] },
    { magic: [0x1f, 0x8b, 0x08], cmd: ["gzip", "-dc"] },
  ];
  for (const f of formats) {
    for (let at = img.indexOf(Buffer.from(f.magic)); at >= 0; at = img.indexOf(Buffer.from(f.magic), at + 1)) {
      // Trailing data after the stream makes some decompressors complain: judge by the output.
      const r = spawnSync(f.cmd[0], f.cmd.slice(1), { input: img.subarray(at), maxBuffer: 1 << 30 });
      const elf = r.stdout;
      if (elf && elf.length > 1 << 20 && elf.subarray(0, 4).equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]))) {
        fs.writeFileSync(out, elf);
        return;
      }
    }
  }
  throw new PrepareError(`could not decompress ${vmlinuz} to vmlinux (need xz, zstd or gzip): run \`apt-get install -y xz-utils zstd\``);
}

/** Builds the initramfs: static busybox, our init, and the 9p/overlay modules as plain .ko. */
function buildInitramfs(root, kver, out) {
  const stage = `${out}.d`;
  fs.rmSync(stage, { recursive: true, force: true });
  for (const d of ["bin", "dev", "proc", "sys", "lib/modules", "newroot"]) fs.mkdirSync(path.join(stage, d), { recursive: true });
  fs.copyFileSync(busyboxPath(), path.join(stage, "bin/busybox"));
  fs.chmodSync(path.join(stage, "bin/busybox"), 0o755);
  fs.copyFileSync(path.join(HERE, "init.sh"), path.join(stage, "init"));
  fs.chmodSync(path.join(stage, "init"), 0o755);
  run("mknod", ["-m", "600", path.join(stage, "dev/console"), "c", "5", "1"]);

  const order = [];
  for (const mod of INITRAMFS_MODULES) {
    const r = run("modprobe", ["-d", root, "-S", kver, "--show-depends", mod]);
    if (r.status !== 0) throw new PrepareError(`modprobe cannot resolve ${mod} for ${kver}: ${firstLine(r.stderr)}`);
    for (const line of r.stdout.split("\n")) {
      const ko = /^insmod (\S+)/.exec(line)?.[1];
      if (!ko) continue;
      const name = path.basename(ko).replace(/\.ko(\.(xz|zst|gz))?$/, ".ko");
      if (order.includes(name)) continue;
      order.push(name);
      const dest = path.join(stage, "lib/modules", name);
      if (ko.endsWith(".xz")) fs.writeFileSync(dest, execFileSync("xz", ["-dc", ko], { maxBuffer: 1 << 28 }));
      else if (ko.endsWith(".zst")) fs.writeFileSync(dest, execFileSync("zstd", ["-dcq", ko], { maxBuffer: 1 << 28 }));
      else if (ko.endsWith(".gz")) fs.writeFileSync(dest, execFileSync("gzip", ["-dc", ko], { maxBuffer: 1 << 28 }));
      else fs.copyFileSync(ko, dest);
    }
  }
  fs.writeFileSync(path.join(stage, "modules.order"), order.join("\n") + "\n");
  const r = spawnSync("sh", ["-c", `cd '${stage}' && find . | cpio -o -H newc --quiet > '${out}.tmp'`], { encoding: "utf8" });
  if (r.status !== 0) throw new PrepareError(`cpio failed building the initramfs: ${firstLine(r.stderr)}`);
  fs.renameSync(`${out}.tmp`, out);
  fs.rmSync(stage, { recursive: true, force: true });
}

/**
 * Prepares one kernel: package, unpacked tree with modules.dep, vmlinux, initramfs.
 * Returns { kver (uname -r), version (6.12.117), vmlinux, initramfs, modules } (modules: the tree to bind at /lib/modules/<kver>).
 */
export function prepareKernel(kernel, log) {
  const pkg = imagePackage(kernel);
  const kdir = path.join(CACHE, "kernels", pkg);
  const done = path.join(kdir, "ready");
  if (!fs.existsSync(done)) {
    const deb = downloadDeb(pkg, log);
    log(`unpacking ${path.basename(deb)}`);
    fs.rmSync(kdir, { recursive: true, force: true });
    fs.mkdirSync(kdir, { recursive: true });
    const x = run("dpkg-deb", ["-x", deb, path.join(kdir, "root")]);
    if (x.status !== 0) {
      fs.rmSync(deb, { force: true });
      throw new PrepareError(`dpkg-deb -x ${deb} failed (${firstLine(x.stderr)}): the download was removed, run again`);
    }
    const kver = fs.readdirSync(path.join(kdir, "root/lib/modules"))[0];
    if (!kver) throw new PrepareError(`${deb} holds no /lib/modules tree`);
    const d = run("depmod", ["-b", path.join(kdir, "root"), kver]);
    if (d.status !== 0) throw new PrepareError(`depmod failed for ${kver}: ${firstLine(d.stderr)}`);
    decompressKernel(path.join(kdir, "root/boot", `vmlinuz-${kver}`), path.join(kdir, "vmlinux"));
    buildInitramfs(path.join(kdir, "root"), kver, path.join(kdir, "initramfs.cpio"));
    // The upstream version (6.12.117) is in the package version (6.12.117-1~deb12u1), not in uname.
    const version = /_(\d+\.\d+\.\d+)[-+~]/.exec(path.basename(deb))?.[1] ?? kver;
    fs.writeFileSync(done, `${kver} ${version}\n`);
  }
  const [kver, version = kver] = fs.readFileSync(done, "utf8").trim().split(" ");
  // The initramfs depends on init.sh: rebuild it when the script changed.
  const initramfs = path.join(kdir, "initramfs.cpio");
  if (fs.statSync(path.join(HERE, "init.sh")).mtimeMs > fs.statSync(initramfs).mtimeMs) {
    buildInitramfs(path.join(kdir, "root"), kver, initramfs);
  }
  return { name: kernel.name, pkg, kver, version, vmlinux: path.join(kdir, "vmlinux"), initramfs, modules: path.join(kdir, "root/lib/modules", kver) };
}

/**
 * Compiles the hog (static when the toolchain allows) into the cache; returns its path. The
 * binary is named by a hash of its source: several checkouts share the cache, and one built
 * from another checkout's hog.c (newer by date, older in flags) once failed every test of a
 * checkout that needed a new flag.
 */
export function buildHog() {
  return buildTool("hog");
}

/** Debian's packages of the peer daemons the peers comparison runs (test/kernel/peers.test.ts). */
export const PEER_PACKAGES = ["earlyoom", "nohang"];

/**
 * Downloads the peer daemons' packages into the cache (`apt-get download`: nothing is installed
 * or started on this machine) and returns their paths. The guest unpacks them into its own
 * tmpfs overlay (peers.test.ts), so the host never runs a second OOM killer.
 */
export function peerDebs(log) {
  return PEER_PACKAGES.map((pkg) => downloadDeb(pkg, log));
}

/** Compiles the crowd (test/kernel/crowd.c: thousands of waiting tasks) into the cache; returns its path. */
export function buildCrowd() {
  return buildTool("crowd");
}

/** Compiles test/kernel/<name>.c into the cache as <name>-<hash of the source>; returns its path. */
function buildTool(name) {
  const src = path.join(REPO, `test/kernel/${name}.c`);
  const hash = createHash("sha256").update(fs.readFileSync(src)).digest("hex").slice(0, 12);
  const out = path.join(CACHE, `${name}-${hash}`);
  if (fs.existsSync(out)) return out;
  const gcc = which("gcc") ?? which("cc");
  if (!gcc) throw new PrepareError(`no C compiler for the ${name}: run \`apt-get install -y gcc libc6-dev\``);
  fs.mkdirSync(CACHE, { recursive: true });
  const base = ["-O2", "-Wall", "-Wextra", "-o", `${out}.${process.pid}.tmp`, src];
  let r = run(gcc, ["-static", ...base]);
  if (r.status !== 0) r = run(gcc, base);
  if (r.status !== 0) throw new PrepareError(`gcc could not build ${src}: ${firstLine(r.stderr)}`);
  fs.renameSync(`${out}.${process.pid}.tmp`, out);
  return out;
}

/**
 * The systemd guest's root: Debian 12 (bookworm) made with `debootstrap --variant=minbase` from
 * the mirror apt is configured with, with systemd as /sbin/init and little else. Cached under
 * roots/<name>/ (named by a hash of the recipe below, so a change of packages builds a new one);
 * shared read-only with the guest over 9p, under a tmpfs overlay as the busybox guests' root is.
 * Node and the checkout are not in it: the guest binds the host's node binary and this checkout
 * (init.sh, "systemd" mode). Built once, about 7 minutes on a busy 2-CPU machine; 240 MiB.
 */
const SYSTEMD_ROOT = {
  suite: "bookworm",
  // attr: setfattr/getfattr for the xattr marks; procps: ps, pgrep; the rest is minbase (apt pulls in libstdc++6,
  // which the host's node needs).
  include: ["systemd", "systemd-sysv", "attr", "procps"],
};

/** A stalled read ends a download after this many seconds, and a download is tried this often (wget). */
const WGET_TIMEOUT_S = 60;
const WGET_TRIES = 3;
/** debootstrap as a whole: 7 minutes measured on a busy 2-core machine, with room for a slow mirror. */
const DEBOOTSTRAP_TIMEOUT_S = 40 * 60;

/**
 * Fails fast, with one line, when the mirror cannot be reached: fetches its Release file for the
 * suite with wget (the tool debootstrap downloads with, so the same proxy settings apply), at
 * most `tries` times of `timeoutS` seconds each.
 */
export function probeMirror(mirror, { timeoutS = 20, tries = 2 } = {}) {
  const url = `${mirror.replace(/\/+$/, "")}/dists/${SYSTEMD_ROOT.suite}/Release`;
  if (!which("wget")) throw new PrepareError(`no wget to reach Debian's packages with (debootstrap needs it): run \`apt-get install -y wget\``);
  const r = run("wget", ["-q", `--timeout=${timeoutS}`, `--tries=${tries}`, "-O", "/dev/null", url], { timeout: (timeoutS * tries + 10) * 1000, killSignal: "SIGKILL" });
  if (r.status === 0) return;
  const why = r.error?.code === "ETIMEDOUT" ? "no answer" : (WGET_STATUS[r.status] ?? `wget exit ${r.status}`);
  throw new PrepareError(`cannot reach Debian's packages to build the systemd guest's root: ${url}: ${why} (the mirror is apt's, from /etc/apt/sources.list*; the root is built once, then cached)`);
}

/** wget's exit statuses, as its manual gives them. */
const WGET_STATUS = { 1: "wget failed", 3: "file I/O error", 4: "network failure (unreachable, refused or timed out)", 5: "TLS verification failure", 6: "authentication failure", 7: "protocol error", 8: "the server answered with an error" };

/** The Debian mirror apt uses for bookworm (deb822 .sources or one-line lists); undefined when none is configured. */
export function debianMirror(files = aptSourceFiles()) {
  for (const file of files) {
    let text;
    try {
      text = fs.readFileSync(file, "utf8");
    } catch {
      continue;
    }
    if (file.endsWith(".sources")) {
      for (const stanza of text.split(/\n\s*\n/)) {
        const field = (name) => new RegExp(`^${name}:\\s*(.+)$`, "mi").exec(stanza)?.[1].trim().split(/\s+/) ?? [];
        if (/^Enabled:\s*no/im.test(stanza) || !field("Types").includes("deb")) continue;
        if (!field("Suites").includes(SYSTEMD_ROOT.suite)) continue;
        const uri = field("URIs").find((u) => /^https?:\/\//.test(u));
        if (uri) return uri;
      }
    } else {
      for (const line of text.split("\n")) {
        const m = /^\s*deb\s+(?:\[[^\]]*\]\s+)?(https?:\/\/\S+)\s+(\S+)/.exec(line);
        if (m && m[2] === SYSTEMD_ROOT.suite) return m[1];
      }
    }
  }
  return undefined;
}

function aptSourceFiles() {
  const dir = "/etc/apt/sources.list.d";
  const inDir = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith(".list") || f.endsWith(".sources")).sort().map((f) => path.join(dir, f)) : [];
  return ["/etc/apt/sources.list", ...inDir];
}

/** Builds (once) and returns the systemd guest's root folder. Throws a PrepareError with one line on failure. */
export function prepareSystemdRoot(log) {
  const recipe = JSON.stringify(SYSTEMD_ROOT);
  const dir = systemdRootDir();
  if (fs.existsSync(path.join(dir, "etc/oomkit-vm-root"))) return dir;
  if (process.getuid?.() !== 0) throw new PrepareError(`the systemd guest's root (${dir}) is not built, and building it (debootstrap) needs root: run the suite as root once`);
  if (!which("debootstrap")) {
    log("installing debootstrap (apt-get)");
    const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
    let inst = run("apt-get", ["install", "-y", "-qq", "debootstrap"], { env });
    if (inst.status !== 0) {
      // A fresh machine may have no package lists yet.
      run("apt-get", ["update", "-qq"], { env });
      inst = run("apt-get", ["install", "-y", "-qq", "debootstrap"], { env });
    }
    if (inst.status !== 0 || !which("debootstrap")) {
      throw new PrepareError(`cannot install debootstrap (${firstLine(inst.stderr)}): run \`apt-get update && apt-get install -y debootstrap\``);
    }
  }
  const mirror = debianMirror();
  if (!mirror) throw new PrepareError(`no Debian ${SYSTEMD_ROOT.suite} mirror in apt's sources (/etc/apt/sources.list, /etc/apt/sources.list.d): the systemd guest's root is made from it`);
  probeMirror(mirror);
  const tmp = `${dir}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(path.dirname(dir), { recursive: true });
  log(`building the systemd guest's root with debootstrap (${SYSTEMD_ROOT.include.join(", ")}; once, about 7 minutes on a busy 2-core machine) in ${tmp}`);
  const args = ["--variant=minbase", `--include=${SYSTEMD_ROOT.include.join(",")}`, SYSTEMD_ROOT.suite, tmp, mirror];
  // debootstrap downloads with wget, whose defaults wait 15 minutes on a stalled read and try 20
  // times: a download that stops must end the build with a message, not hang the suite.
  const wgetrc = path.join(path.dirname(dir), `wgetrc-${process.pid}`);
  fs.writeFileSync(wgetrc, `timeout = ${WGET_TIMEOUT_S}\ntries = ${WGET_TRIES}\n`);
  const r = run("debootstrap", args, { maxBuffer: 1 << 26, timeout: DEBOOTSTRAP_TIMEOUT_S * 1000, killSignal: "SIGKILL", env: { ...process.env, PATH: `${process.env.PATH}:${SBIN_PATH}`, WGETRC: wgetrc } });
  fs.rmSync(wgetrc, { force: true });
  if (r.error?.code === "ETIMEDOUT") {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw new PrepareError(`debootstrap did not finish within ${DEBOOTSTRAP_TIMEOUT_S / 60} minutes (downloads from ${mirror} too slow or stalled): rerun when Debian's packages can be reached`);
  }
  if (r.status !== 0) {
    const why = firstLine(fs.existsSync(path.join(tmp, "debootstrap/debootstrap.log")) ? fs.readFileSync(path.join(tmp, "debootstrap/debootstrap.log"), "utf8") : r.stderr || r.stdout);
    fs.rmSync(tmp, { recursive: true, force: true });
    throw new PrepareError(`debootstrap could not build the systemd guest's root (${why}): it needs root with CAP_SYS_ADMIN and CAP_MKNOD (chroot, mount) and apt's mirror; see test/kernel/README.md`);
  }
  finishRoot(tmp, recipe);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.renameSync(tmp, dir);
  return dir;
}

/**
 * The touches debootstrap's root gets: a fixed machine id (the guest is the same machine every
 * boot), no fstab entries. (The units masked for a fast boot are masked at boot by init.sh, from
 * the run folder's list: changing that list does not rebuild the root.)
 */
export function finishRoot(tmp, recipe = JSON.stringify(SYSTEMD_ROOT)) {
  fs.writeFileSync(path.join(tmp, "etc/machine-id"), "0f0f0f0f0f0f4f0f8f0f0f0f0f0f0f0f\n");
  fs.writeFileSync(path.join(tmp, "etc/fstab"), "# the guest's root is mounted by the initramfs\n");
  fs.writeFileSync(path.join(tmp, "etc/hostname"), "oomkit-vm\n");
  fs.rmSync(path.join(tmp, "var/cache/apt/archives"), { recursive: true, force: true });
  fs.mkdirSync(path.join(tmp, "var/cache/apt/archives/partial"), { recursive: true });
  fs.writeFileSync(path.join(tmp, "etc/oomkit-vm-root"), `${recipe}\n`);
}

/** The folder prepareSystemdRoot builds, for this recipe. */
export function systemdRootDir() {
  const recipe = JSON.stringify(SYSTEMD_ROOT);
  return path.join(CACHE, "roots", `${SYSTEMD_ROOT.suite}-systemd-${createHash("sha256").update(recipe).digest("hex").slice(0, 12)}`);
}
