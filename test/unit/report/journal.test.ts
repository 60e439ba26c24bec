/** The journal's native protocol: the field encoding, the priorities, the fallback to stderr. */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { JournalWriter, encodeJournalEntry, episodeFields, isJournalFieldName, stderrIsJournal } from "../../../src/report/journal.js";
import { UnixDgramReceiver, UnixDgramSender } from "../../../src/os/unix-dgram.js";
import type { EpisodeRecord } from "../../../src/engine/episode.js";

/** Decodes one entry as journald does: simple fields, and binary-safe ones by their length. */
function decode(buf: Buffer): [string, string][] {
  const out: [string, string][] = [];
  let at = 0;
  while (at < buf.length) {
    const nl = buf.indexOf(0x0a, at);
    const eq = buf.indexOf(0x3d, at);
    if (eq >= 0 && eq < nl) {
      out.push([buf.subarray(at, eq).toString(), buf.subarray(eq + 1, nl).toString()]);
      at = nl + 1;
      continue;
    }
    const name = buf.subarray(at, nl).toString();
    const len = Number(buf.readBigUInt64LE(nl + 1));
    out.push([name, buf.subarray(nl + 9, nl + 9 + len).toString()]);
    assert.equal(buf[nl + 9 + len], 0x0a, "a binary field ends with a newline");
    at = nl + 10 + len;
  }
  return out;
}

describe("encodeJournalEntry", () => {
  test("simple fields as NAME=value lines", () => {
    assert.equal(encodeJournalEntry([["MESSAGE", "hello = world"], ["PRIORITY", "6"]]).toString(), "MESSAGE=hello = world\nPRIORITY=6\n");
  });

  test("a value with a newline in the binary-safe form: NAME, newline, 64-bit little-endian length, value, newline", () => {
    const e = encodeJournalEntry([["MESSAGE", "two\nlines"], ["PRIORITY", "3"]]);
    const expected = Buffer.concat([Buffer.from("MESSAGE\n"), Buffer.from([9, 0, 0, 0, 0, 0, 0, 0]), Buffer.from("two\nlines\n"), Buffer.from("PRIORITY=3\n")]);
    assert.deepEqual(e, expected);
    assert.deepEqual(decode(e), [["MESSAGE", "two\nlines"], ["PRIORITY", "3"]]);
  });

  test("hostile values survive whole: a forged field after a newline stays inside the value; multi-byte text is counted in bytes", () => {
    const forged = "x\nPRIORITY=0\n_PID=1";
    const comm = "naïve\n(évil) ✓";
    const fields: [string, string][] = [["MESSAGE", forged], ["OOMKIT_VICTIM_COMM", comm], ["EMPTY", ""]];
    assert.deepEqual(decode(encodeJournalEntry(fields)), fields);
  });

  test("field names journald accepts, and no others", () => {
    for (const ok of ["MESSAGE", "OOMKIT_EPISODE", "A1_B"]) assert.ok(isJournalFieldName(ok), ok);
    for (const bad of ["_PID", "1X", "lower", "WITH-DASH", "", "A".repeat(65), "MESSAGE=x"]) assert.ok(!isJournalFieldName(bad), bad);
    assert.throws(() => encodeJournalEntry([["_PID", "1"]]), /not a journal field name/);
  });
});

const record = (over: Partial<EpisodeRecord>): EpisodeRecord =>
  ({
    id: "ep-1",
    scope: "/work.slice",
    kind: "oom",
    policy: "pressure",
    handled: true,
    actions: [],
    ...over,
  }) as unknown as EpisodeRecord;

describe("episodeFields", () => {
  test("the episode id, the policy, the scope and each victim", () => {
    const f = episodeFields(
      record({
        actions: [
          { action: { kind: "kill-task", pid: 42, startTimeTicks: 1, comm: "hog", cgroup: "/work.slice/hog.service", reason: "r" } },
          { action: { kind: "kill-cgroup", cgroup: "/work.slice/b.service", reason: "r" } },
        ] as unknown as EpisodeRecord["actions"],
      }),
    );
    assert.deepEqual(f, [
      ["OOMKIT_EPISODE", "ep-1"],
      ["OOMKIT_SCOPE", "/work.slice"],
      ["OOMKIT_KIND", "oom"],
      ["OOMKIT_HANDLED", "1"],
      ["OOMKIT_POLICY", "pressure"],
      ["OOMKIT_VICTIM_PID", "42"],
      ["OOMKIT_VICTIM_COMM", "hog"],
      ["OOMKIT_VICTIM_CGROUP", "/work.slice/hog.service"],
      ["OOMKIT_VICTIM_CGROUP", "/work.slice/b.service"],
    ]);
    assert.ok(!episodeFields(record({ policy: null, handled: false })).some(([n]) => n === "OOMKIT_POLICY"), "no policy handled it: no field");
  });

  test("a kernel kill names its victim", () => {
    const f = episodeFields(record({ kind: "kernel", policy: null, kernelKill: { pid: 9, cgroup: "/a" } as EpisodeRecord["kernelKill"] }));
    assert.deepEqual(f.slice(-2), [["OOMKIT_VICTIM_PID", "9"], ["OOMKIT_VICTIM_CGROUP", "/a"]]);
  });
});

describe("JournalWriter", () => {
  test("each level's priority, over a real datagram socket; lines below the level are dropped", () => {
    const address = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "oomkit-journal-")), "socket");
    const rx = new UnixDgramReceiver(address);
    const tx = new UnixDgramSender(address);
    const stderr: string[] = [];
    try {
      const w = new JournalWriter({ send: (e) => tx.send(e), fallback: (l) => stderr.push(l) });
      const log = w.logger("info");
      log.debug("not sent");
      log.info("started");
      log.warn("careful");
      log.error("broken\nbadly");
      w.write(5, "oom: scope=/", [["OOMKIT_EPISODE", "ep-7"]]);
      const got = [];
      for (let m = rx.receive(); m; m = rx.receive()) got.push(new Map(decode(m)));
      assert.deepEqual(got.map((m) => [m.get("PRIORITY"), m.get("MESSAGE")]), [
        ["6", "oomkit info: started"],
        ["4", "oomkit warn: careful"],
        ["3", "oomkit error: broken\nbadly"],
        ["5", "oom: scope=/"],
      ]);
      assert.ok(got.every((m) => m.get("SYSLOG_IDENTIFIER") === "oomkit"));
      assert.equal(got[3]?.get("OOMKIT_EPISODE"), "ep-7");
      assert.deepEqual(stderr, []);
      assert.equal(w.fellBack, 0);
    } finally {
      tx.close();
      rx.close();
    }
  });

  test("no journal there: the line goes to stderr, counted", () => {
    const tx = new UnixDgramSender(path.join(fs.mkdtempSync(path.join(os.tmpdir(), "oomkit-journal-")), "none"));
    const stderr: string[] = [];
    const w = new JournalWriter({ send: (e) => tx.send(e), fallback: (l) => stderr.push(l) });
    w.logger("debug").warn("still said");
    assert.deepEqual(stderr, ["oomkit warn: still said\n"]);
    assert.equal(w.fellBack, 1);
    tx.close();
  });
});

describe("stderrIsJournal", () => {
  const st = () => ({ dev: 2049, ino: 77 });
  test("only when JOURNAL_STREAM names fd 2's device and inode", () => {
    assert.equal(stderrIsJournal({ JOURNAL_STREAM: "2049:77" }, st), true);
    assert.equal(stderrIsJournal({ JOURNAL_STREAM: "2049:78" }, st), false, "stderr was redirected: keep to it");
    assert.equal(stderrIsJournal({}, st), false);
    assert.equal(stderrIsJournal({ JOURNAL_STREAM: "garbage" }, st), false);
    assert.equal(
      stderrIsJournal({ JOURNAL_STREAM: "1:1" }, () => {
        throw new Error("EBADF");
      }),
      false,
    );
  });
});
