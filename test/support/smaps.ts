/** smaps text for tests: a node daemon's mappings in the kernel's layout. */
/** One smaps entry in the kernel's layout (the figures that matter here; the rest are alike). */
export function smapsEntry(range: string, perms: string, inode: number, path: string, rssKb: number, opts: { lockedKb?: number; flags?: string } = {}): string {
  const dev = inode === 0 ? "00:00" : "fe:00";
  return [
    `${range} ${perms} 00000000 ${dev} ${String(inode).padEnd(26)}${path}`,
    `Size:             ${rssKb * 2} kB`,
    "KernelPageSize:        4 kB",
    `Rss:                ${rssKb} kB`,
    `Pss:                ${Math.floor(rssKb / 4)} kB`,
    "Swap:                  0 kB",
    `Locked:             ${opts.lockedKb ?? 0} kB`,
    "THPeligible:           0",
    `VmFlags: ${opts.flags ?? "rd ex mr mw me"} `,
  ].join("\n");
}

/** Shaped after a node 20 daemon's smaps on Linux 6.18 (x86_64). */
export const NODE_SMAPS = [
  smapsEntry("556aa0000000-556aa0400000", "r--p", 260638, "/usr/bin/node", 4096, { flags: "rd mr mw me" }),
  smapsEntry("556aa0400000-556aa2000000", "r-xp", 260638, "/usr/bin/node", 20856, { lockedKb: 2000, flags: "rd ex mr mw me lo lf" }),
  smapsEntry("556aa2000000-556aa2010000", "rw-p", 260638, "/usr/bin/node", 124, { flags: "rd wr mr mw me ac" }),
  smapsEntry("558a64ece000-558a64f10000", "rw-p", 0, "[heap]", 44, { flags: "rd wr mr mw me ac" }),
  smapsEntry("7f0000000000-7f0000040000", "rwxp", 0, "", 256, { flags: "rd wr ex mr mw me ac" }),
  smapsEntry("7f6380000000-7f6380100000", "r-xp", 1201, "/usr/lib/x86_64-linux-gnu/libc.so.6", 1048, { lockedKb: 300, flags: "rd ex mr mw me lo lf" }),
  smapsEntry("7f6381000000-7f6381010000", "r-xp", 4411, "/work/node_modules/koffi/build/koffi/linux_x64/koffi.node", 428),
  smapsEntry("7f6382000000-7f6382001000", "r-xp", 77, "/tmp/gone.so (deleted)", 4),
  smapsEntry("7f638c027000-7f638c029000", "r-xp", 0, "[vdso]", 8),
  smapsEntry("7f638c100000-7f638c101000", "rwxs", 9000, "/dev/shm/writable-code", 4),
].join("\n");
