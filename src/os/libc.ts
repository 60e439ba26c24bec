/**
 * libc functions oomkit calls through koffi (no compile step). Loaded lazily, once: a FixtureHost
 * never needs libc, and a machine without koffi's prebuilt binary can still run the fixture tests.
 */
import { createRequire } from "node:module";
import { OomkitError } from "../errors.js";

type KoffiFn = (...args: unknown[]) => number;

interface Koffi {
  load(path: string): { func(signature: string): KoffiFn };
  errno(): number;
  os: { errno: Record<string, number> };
}

export interface Libc {
  readonly koffi: Koffi;
  getxattr(path: string, name: string, buf: Buffer, size: number): number;
  listxattr(path: string, buf: Buffer, size: number): number;
  sysconf(name: number): number;
  geteuid(): number;
  pidfd_open(pid: number, flags: number): number;
  process_mrelease(pidfd: number, flags: number): number;
  close(fd: number): number;
  flock(fd: number, operation: number): number;
  /** mlock2(2); addr is a page-aligned address below 2^53 (every user address on x86-64 and arm64). */
  mlock2(addr: number, len: number, flags: number): number;
  /** glibc's mallopt(3): 1 when the parameter was set, 0 when refused (-1 with ENOSYS where the C library lacks it). */
  mallopt(param: number, value: number): number;
  /** glibc's malloc_trim(3): 1 when memory was given back, 0 when there was none (-1 with ENOSYS where the C library lacks it). */
  malloc_trim(pad: number): number;
  /** errno of the last failed call on this thread. */
  errno(): number;
  /** The symbolic name of an errno value ("ENOENT"), or "errno N". */
  errnoName(errno: number): string;
}

/** sysconf(_SC_PAGESIZE) on Linux/glibc. */
export const SC_PAGESIZE = 30;

let cached: Libc | undefined;

/**
 * koffi's native addon, required straight from its prebuilt folder when it is there and of the
 * package's own version; koffi's index otherwise. The index finds the same file, but first loads
 * its installer's helpers, and with them node:crypto, node:https (so tls, dns...) and node:zlib:
 * 1.4 MiB of anonymous memory, 2 MiB of file pages and ~25 ms of start-up for nothing the daemon
 * runs (BENCHMARKS.md, "Footprint: builds side by side"). What the index adds over the addon
 * (deprecated aliases) oomkit does not use. Musl, 32-bit and other platforms take the index.
 */
function loadKoffi(): Koffi {
  const require = createRequire(import.meta.url);
  if (process.platform === "linux" && (process.arch === "x64" || process.arch === "arm64")) {
    try {
      const native = require(`koffi/build/koffi/linux_${process.arch}/koffi.node`) as Koffi & { version?: string };
      if (native.version === (require("koffi/package.json") as { version: string }).version) return native;
    } catch {
      // A musl libc, or a layout koffi has changed: its index knows.
    }
  }
  return require("koffi") as Koffi;
}

export function libc(): Libc {
  if (cached) return cached;
  let koffi: Koffi;
  try {
    koffi = loadKoffi();
  } catch (err) {
    throw new OomkitError("E_UNSUPPORTED", "koffi (the native call library) could not be loaded", { cause: err });
  }
  const lib = koffi.load("libc.so.6");
  const names = new Map<number, string>();
  for (const [name, value] of Object.entries(koffi.os.errno)) if (!names.has(value)) names.set(value, name);
  const optional = (signature: string): KoffiFn => {
    try {
      return lib.func(signature);
    } catch {
      // Older glibc lacks the wrapper: report ENOSYS, as the kernel would for a missing call.
      return () => {
        enosys = true;
        return -1;
      };
    }
  };
  let enosys = false;
  const pidfdOpen = optional("int pidfd_open(int pid, unsigned int flags)");
  const mrelease = optional("int process_mrelease(int pidfd, unsigned int flags)");
  const mlock2 = optional("int mlock2(uintptr_t addr, size_t len, unsigned int flags)");
  // glibc's; other C libraries (musl) may lack it.
  const mallopt = optional("int mallopt(int param, int value)");
  const mallocTrim = optional("int malloc_trim(size_t pad)");
  const withEnosys = (fn: KoffiFn) => (...args: unknown[]) => {
    enosys = false;
    return fn(...args);
  };
  cached = {
    koffi,
    getxattr: lib.func("intptr_t getxattr(const char *path, const char *name, void *value, size_t size)"),
    listxattr: lib.func("intptr_t listxattr(const char *path, void *list, size_t size)"),
    sysconf: lib.func("long sysconf(int name)"),
    geteuid: lib.func("uint32_t geteuid()"),
    pidfd_open: withEnosys(pidfdOpen),
    process_mrelease: withEnosys(mrelease),
    close: lib.func("int close(int fd)"),
    flock: lib.func("int flock(int fd, int operation)"),
    mlock2: withEnosys(mlock2),
    mallopt: withEnosys(mallopt),
    malloc_trim: withEnosys(mallocTrim),
    errno: () => (enosys ? (koffi.os.errno.ENOSYS ?? 38) : koffi.errno()),
    errnoName: (errno: number) => names.get(errno) ?? `errno ${errno}`,
  };
  return cached;
}
