import { test } from "node:test";
import assert from "node:assert/strict";

import { parseMounts } from "../../../../src/os/parse/mounts.js";
import type { MountEntry } from "../../../../src/os/parse/mounts.js";

/** Captured /proc/self/mounts of a hybrid cgroup v1/v2 host (Linux 6.18), one line dropped. */
const REAL_MOUNTS = [
  "proc /proc proc rw,relatime 0 0",
  "sysfs /sys sysfs rw,relatime 0 0",
  "devtmpfs /dev devtmpfs rw,relatime,size=12334524k,nr_inodes=3083631,mode=755 0 0",
  "tmpfs /dev/shm tmpfs rw,relatime,size=24684096k 0 0",
  "devpts /dev/pts devpts rw,relatime,mode=600,ptmxmode=000 0 0",
  "/dev/vda / ext4 rw,relatime,discard,resv_strict,resuid=65534,resgid=65534 0 0",
  "devpts /dev/pts devpts rw,relatime,mode=600,ptmxmode=000 0 0",
  "tmpfs /dev/shm tmpfs rw,relatime,size=24684096k 0 0",
  "tmpfs /sys/fs/cgroup tmpfs rw,relatime,mode=755 0 0",
  "cgroup /sys/fs/cgroup/cpu cgroup rw,relatime,cpu 0 0",
  "cgroup /sys/fs/cgroup/cpuacct cgroup rw,relatime,cpuacct 0 0",
  "cgroup /sys/fs/cgroup/cpuset cgroup rw,relatime,cpuset 0 0",
  "cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0",
  "cgroup /sys/fs/cgroup/devices cgroup rw,relatime,devices 0 0",
  "cgroup /sys/fs/cgroup/freezer cgroup rw,relatime,freezer 0 0",
  "cgroup /sys/fs/cgroup/blkio cgroup rw,relatime,blkio 0 0",
  "cgroup /sys/fs/cgroup/pids cgroup rw,relatime,pids 0 0",
  "cgroup /sys/fs/cgroup/systemd cgroup rw,relatime,name=systemd 0 0",
  "cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0",
].join("\n");

test("parseMounts: real hybrid host", () => {
  const mounts = parseMounts(`${REAL_MOUNTS}\n`);
  assert.equal(mounts.length, 19);
  assert.deepEqual(mounts[0], { source: "proc", target: "/proc", fsType: "proc", options: ["rw", "relatime"] });
  assert.deepEqual(
    mounts.find((m) => m.fsType === "cgroup2"),
    { source: "cgroup2", target: "/sys/fs/cgroup/unified", fsType: "cgroup2", options: ["rw", "relatime"] },
  );
  assert.deepEqual(
    mounts.filter((m) => m.fsType === "cgroup" && m.options.includes("memory")).map((m) => m.target),
    ["/sys/fs/cgroup/memory"],
  );
  assert.deepEqual(mounts.find((m) => m.target === "/")?.options, [
    "rw",
    "relatime",
    "discard",
    "resv_strict",
    "resuid=65534",
    "resgid=65534",
  ]);
});

const cases: readonly { name: string; text: string; expected: MountEntry[] }[] = [
  {
    name: "pure v2 host",
    text: "cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid,nodev,noexec,relatime,nsdelegate,memory_recursiveprot 0 0\n",
    expected: [
      {
        source: "cgroup2",
        target: "/sys/fs/cgroup",
        fsType: "cgroup2",
        options: ["rw", "nosuid", "nodev", "noexec", "relatime", "nsdelegate", "memory_recursiveprot"],
      },
    ],
  },
  {
    name: "octal escapes: space, tab, newline, backslash",
    text: "/dev/sdb1 /media/My\\040Disk\\011x\\012y\\134z vfat rw 0 0\n",
    expected: [{ source: "/dev/sdb1", target: "/media/My Disk\tx\ny\\z", fsType: "vfat", options: ["rw"] }],
  },
  {
    name: "an escaped backslash followed by digits decodes once",
    text: "a /x\\134040 tmpfs rw 0 0\n",
    expected: [{ source: "a", target: "/x\\040", fsType: "tmpfs", options: ["rw"] }],
  },
  {
    name: "a backslash that is not an escape is kept",
    text: "a /x\\y\\9 tmpfs rw 0 0\n",
    expected: [{ source: "a", target: "/x\\y\\9", fsType: "tmpfs", options: ["rw"] }],
  },
  {
    name: "escaped comma inside an option value",
    text: "none /mnt fuse.x rw,subtype=a\\054b 0 0\n",
    expected: [{ source: "none", target: "/mnt", fsType: "fuse.x", options: ["rw", "subtype=a,b"] }],
  },
  {
    name: "SELinux context with a comma inside quotes",
    text: 'tmpfs /run tmpfs rw,context="system_u:object_r:container_file_t:s0:c1,c2",size=64k 0 0\n',
    expected: [
      {
        source: "tmpfs",
        target: "/run",
        fsType: "tmpfs",
        options: ["rw", 'context="system_u:object_r:container_file_t:s0:c1,c2"', "size=64k"],
      },
    ],
  },
  {
    name: "no dump/pass fields",
    text: "proc /proc proc rw\n",
    expected: [{ source: "proc", target: "/proc", fsType: "proc", options: ["rw"] }],
  },
  {
    name: "malformed lines are skipped; valid ones around them kept",
    text: "garbage\nproc /proc proc rw 0 0\na b c\na b c d 0 0 extra\n\u0000\nsysfs /sys sysfs rw 0 0\n",
    expected: [
      { source: "proc", target: "/proc", fsType: "proc", options: ["rw"] },
      { source: "sysfs", target: "/sys", fsType: "sysfs", options: ["rw"] },
    ],
  },
  {
    name: "truncated last line is skipped",
    text: "proc /proc proc rw 0 0\ncgroup2 /sys/fs/cgr",
    expected: [{ source: "proc", target: "/proc", fsType: "proc", options: ["rw"] }],
  },
  {
    name: "truncated inside the options is skipped too (a cut option list would mislead)",
    text: "proc /proc proc rw 0 0\ncgroup /sys/fs/cgroup/memory cgroup rw,memo",
    expected: [{ source: "proc", target: "/proc", fsType: "proc", options: ["rw"] }],
  },
  {
    name: "CRLF",
    text: "proc /proc proc rw,relatime 0 0\r\n",
    expected: [{ source: "proc", target: "/proc", fsType: "proc", options: ["rw", "relatime"] }],
  },
  { name: "empty", text: "", expected: [] },
];

for (const c of cases) {
  test(`parseMounts: ${c.name}`, () => assert.deepEqual(parseMounts(c.text), c.expected));
}
