/**
 * A timeline is a file someone handed you: each case docs/operations.md states for reading one
 * ("Timelines and fixtures") has its test here. Every refusal is an OomkitError with a message
 * that names the file, and nothing outside the timeline is read or written.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as zlib from "node:zlib";
import { OomkitError } from "../../../src/errors.js";
import { TIMELINE_MANIFEST, Timeline, type OpenTimelineOptions, frameFile } from "../../../src/timeline/index.js";
import { takeSnapshot } from "../../../src/engine/snapshot.js";

const MEMINFO = "MemTotal:       1048576 kB\nMemFree:         524288 kB\nMemAvailable:    524288 kB\n";

function manifest(frames: number[], more: Record<string, unknown> = {}): Record<string, unknown> {
  return { format: "oomkit-timeline", version: 1, everyMs: 1000, frames: frames.map((atMs) => ({ atMs })), ...more };
}

/** A timeline folder from raw parts: the manifest (an object, or text) and each frame (an object, or raw bytes). */
function make(m: Record<string, unknown> | string, frames: (Record<string, unknown> | Buffer)[]): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "oomkit-hostile-"));
  fs.mkdirSync(path.join(dir, "frames"));
  fs.writeFileSync(path.join(dir, TIMELINE_MANIFEST), typeof m === "string" ? m : JSON.stringify(m));
  frames.forEach((f, i) => fs.writeFileSync(path.join(dir, frameFile(i)), Buffer.isBuffer(f) ? f : zlib.gzipSync(JSON.stringify(f))));
  return dir;
}

/** Opens and reads every frame; returns what was thrown. */
function refusal(dir: string, opts: OpenTimelineOptions = {}): OomkitError {
  try {
    const t = Timeline.open(dir, opts);
    for (const f of t.frames()) void f;
  } catch (err) {
    assert.ok(err instanceof OomkitError, String(err));
    return err;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  assert.fail("the timeline was accepted");
}

const good = { files: { "/proc/meminfo": MEMINFO } };

describe("reading a timeline refuses", () => {
  test("a manifest that is a symbolic link", () => {
    const dir = make(manifest([0]), [good]);
    const elsewhere = path.join(dir, "elsewhere.json");
    fs.renameSync(path.join(dir, TIMELINE_MANIFEST), elsewhere);
    fs.symlinkSync(elsewhere, path.join(dir, TIMELINE_MANIFEST));
    const e = refusal(dir);
    assert.equal(e.code, "E_CONFIG");
    assert.match(e.message, /oomkit-timeline\.json is a symbolic link/);
  });

  test("a frame that is a symbolic link, even to a valid frame", () => {
    const dir = make(manifest([0, 1000]), [good, good]);
    const real = path.join(dir, "real.json.gz");
    fs.renameSync(path.join(dir, frameFile(1)), real);
    fs.symlinkSync(real, path.join(dir, frameFile(1)));
    assert.match(refusal(dir).message, /frame 1 .*000001\.json\.gz is a symbolic link/);
  });

  test("a frames folder that is a symbolic link", () => {
    const dir = make(manifest([0]), [good]);
    fs.renameSync(path.join(dir, "frames"), path.join(dir, "other"));
    fs.symlinkSync(path.join(dir, "other"), path.join(dir, "frames"));
    assert.match(refusal(dir).message, /frames is a symbolic link/);
  });

  test("a frame that is not a regular file (a FIFO would block a reader)", () => {
    const dir = make(manifest([0]), []);
    fs.mkdirSync(path.join(dir, frameFile(0)));
    assert.match(refusal(dir).message, /is not a regular file/);
  });

  test("a manifest, a stored frame or an unpacked frame over its size limit (a decompression bomb)", () => {
    assert.match(refusal(make(manifest([0], { comment: "x".repeat(2000) }), [good]), { limits: { manifestBytes: 1000 } }).message, /has \d+ bytes, over the limit of 1000/);
    assert.match(refusal(make(manifest([0]), [{ files: { "/proc/meminfo": "y".repeat(100_000) } }]), { limits: { frameBytes: 50 } }).message, /frame 0 .* over the limit of 50/);
    const bomb = zlib.gzipSync(JSON.stringify({ files: { "/proc/meminfo": "0".repeat(10_000_000) } }));
    assert.ok(bomb.length < 20_000, "ten million characters pack small");
    assert.match(refusal(make(manifest([0]), [bomb]), { limits: { frameJsonBytes: 1_000_000 } }).message, /unpacks to over 1000000 bytes/);
  });

  test("a machine over the state limits, in characters or in entries", () => {
    const frames = [{ files: { "/proc/a": "x".repeat(600) } }, { files: { "/proc/b": "x".repeat(600) } }];
    assert.match(refusal(make(manifest([0, 1000]), frames), { limits: { stateBytes: 1000 } }).message, /frame 1 |000001.*over the limit of 1000/);
    assert.match(refusal(make(manifest([0]), [{ files: { "/proc/a": "", "/proc/b": "", "/proc/c": "" } }]), { limits: { stateEntries: 2 } }).message, /3 entries, over the limit of 2/);
  });

  test("more frames than the limit", () => {
    assert.match(refusal(make(manifest([0, 1, 2, 3]), [good]), { limits: { frames: 3 } }).message, /lists 4 frames, over the limit of 3/);
  });

  test("paths outside /proc and /sys, relative, with .., with NUL, or not normal", () => {
    for (const p of ["/etc/shadow", "proc/meminfo", "/proc/../etc/passwd", "/proc/x\0y", "/proc//meminfo", "/proc/meminfo/", "/sys/./fs"]) {
      const e = refusal(make(manifest([0]), [{ files: { [p]: "x" } }]));
      assert.equal(e.code, "E_CONFIG", p);
      assert.match(e.message, /a machine path|a timeline holds only/, p);
    }
    assert.match(refusal(make(manifest([0]), [{ links: { "/proc/1/exe": "x", "/root/.ssh/id": "y" } }])).message, /only \/proc and \/sys/);
    assert.match(refusal(make(manifest([0]), [{ xattrs: { "/home": { "user.x": "1" } } }])).message, /only \/proc and \/sys/);
  });

  test("a __proto__ key in place of a path", () => {
    const raw = `{"files":{"__proto__":{"polluted":"yes"}}}`;
    const e = refusal(make(manifest([0]), [zlib.gzipSync(raw)]));
    assert.match(e.message, /a machine path/);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  test("times that do not start at 0 or that go back", () => {
    assert.match(refusal(make(manifest([5]), [good])).message, /the first frame is at 0 ms/);
    assert.match(refusal(make(manifest([0, 2000, 1000]), [good, {}, {}])).message, /frame 2 at 1000 ms is before frame 1 at 2000 ms/);
  });

  test("a frame that removes what was not there, and frame 0 removing anything", () => {
    assert.match(refusal(make(manifest([0, 1000]), [good, { removed: ["/proc/vmstat"] }])).message, /removes \/proc\/vmstat, which the frame before did not have/);
    assert.match(refusal(make(manifest([0]), [{ removed: ["/proc/meminfo"] }])).message, /frame 0 removes nothing/);
  });

  test("a newer format version, another format, unknown keys, bad JSON and bad gzip", () => {
    assert.match(refusal(make(manifest([0], { version: 2 }), [good])).message, /format version 2; this oomkit reads version 1: use a newer oomkit/);
    assert.match(refusal(make(manifest([0], { format: "other" }), [good])).message, /at format/);
    assert.match(refusal(make(manifest([0], { extra: 1 }), [good])).message, /oomkit-timeline\.json/);
    assert.match(refusal(make(manifest([0]), [{ ...good, script: "x" }])).message, /000000\.json\.gz/);
    assert.match(refusal(make("{not json", [good])).message, /is not valid JSON/);
    assert.match(refusal(make(manifest([0]), [Buffer.from("plain text")])).message, /is not gzip data/);
    assert.match(refusal(make(manifest([0]), [zlib.gzipSync("[1,")])).message, /is not valid JSON once unpacked/);
  });

  test("a missing frame is a missing path (exit 3), not a crash", () => {
    const e = refusal(make(manifest([0, 1000]), [good]));
    assert.equal(e.code, "E_NO_SUCH_PATH");
    assert.match(e.message, /frame 1 .* does not exist/);
  });
});

describe("a timeline's contents never become local paths", () => {
  test("a recorded link is text: readLink gives it, readFile through it finds nothing", () => {
    const dir = make(manifest([0]), [{ files: { "/proc/meminfo": MEMINFO, "/proc/7/comm": "sh\n" }, links: { "/proc/7/exe": "/etc/passwd" } }]);
    try {
      const [frame] = [...Timeline.open(dir).frames()];
      assert.ok(frame);
      assert.equal(frame.host.readLink("/proc/7/exe"), "/etc/passwd");
      assert.throws(() => frame.host.readFile("/proc/7/exe"), (e: unknown) => e instanceof OomkitError && e.code === "E_VANISHED");
      assert.throws(() => frame.host.readFile("/etc/passwd"), (e: unknown) => e instanceof OomkitError && e.code === "E_VANISHED");
      assert.deepEqual(frame.host.readDir("/proc").map((d) => d.name).sort(), ["7", "meminfo"]);
      assert.equal(takeSnapshot(frame.host).system.meminfo?.memTotalBytes, 1024 * 1024 * 1024);
      frame.host.writeFile("/proc/meminfo", "changed");
      assert.equal(frame.host.readFile("/proc/meminfo"), MEMINFO, "a write is kept in writes and changes no frame");
      assert.deepEqual(frame.host.writes, [{ path: "/proc/meminfo", data: "changed" }]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
