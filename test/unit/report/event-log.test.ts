/** The durable JSONL event log: order, fsync, rotation, torn lines after a crash, full disks. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import { EPISODE_SCHEMA, type EpisodeRecord } from "../../../src/engine/episode.js";
import { MemoryLogger } from "../../../src/log.js";
import { EventLog, eventLogFiles, readEventLog } from "../../../src/report/event-log.js";

const at = "2026-01-01T00:00:00.000Z";
function rec(n: number): EpisodeRecord {
  return {
    schema: EPISODE_SCHEMA, id: `ep-test-${n}`, mode: "live", kind: "cgroup", scope: "/oom_test",
    cause: { kind: "cgroup", trigger: "manual", message: "line one\nline two", figures: { n } }, source: "test", policy: "p", handled: true,
    chain: [], candidates: [], candidatesTotal: 0, plan: [], actions: [], times: { declaredAt: at, decidedAt: at, finishedAt: at, decisionMs: 1, actionMs: 2 },
  };
}
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), "oomkit-log-"));
const ids = (rs: readonly EpisodeRecord[]) => rs.map((r) => r.id);

test("append, flush, read back in order; one record per line", async () => {
  const file = path.join(tmp(), "sub", "oomkit.jsonl");
  const log = EventLog.open(file);
  for (let i = 0; i < 50; i++) log.append(rec(i));
  await log.flush();
  assert.equal(log.stats.written, 50);
  const text = fs.readFileSync(file, "utf8");
  assert.equal(text.split("\n").length, 51);
  const back = readEventLog(file);
  assert.deepEqual(ids(back.records), Array.from({ length: 50 }, (_, i) => `ep-test-${i}`));
  assert.deepEqual(back.records[3], JSON.parse(JSON.stringify(rec(3))));
  assert.equal(back.tornLines, 0);
  await log.close();
});

test("rotation by size: oomkit.jsonl, .1, .2; reading gives every kept record oldest first", async () => {
  const file = path.join(tmp(), "oomkit.jsonl");
  const one = JSON.stringify(rec(0)).length + 1;
  const log = EventLog.open(file, { maxBytes: one * 3, keep: 2 });
  for (let i = 0; i < 10; i++) {
    log.append(rec(i));
    await log.flush();
  }
  await log.close();
  assert.deepEqual(eventLogFiles(file).map((f) => path.basename(f)), ["oomkit.jsonl.2", "oomkit.jsonl.1", "oomkit.jsonl"]);
  // Three records a file: .2 holds 3-5, .1 holds 6-8, the current file 9; 0-2 rotated away.
  assert.deepEqual(ids(readEventLog(file).records), ["ep-test-3", "ep-test-4", "ep-test-5", "ep-test-6", "ep-test-7", "ep-test-8", "ep-test-9"]);
  assert.ok(log.stats.rotations >= 2);
  for (const f of eventLogFiles(file)) assert.ok(fs.statSync(f).size <= one * 3);
});

test("a crash mid-write: every flushed record survives, the torn last line is skipped and counted", async () => {
  const dir = tmp();
  const file = path.join(dir, "oomkit.jsonl");
  const moduleUrl = new URL("../../../src/report/event-log.js", import.meta.url).href;
  // A child appends and flushes 20 records, then dies by SIGKILL in the middle of writing one.
  const child = `
    import * as fs from "node:fs";
    const { EventLog } = await import(${JSON.stringify(moduleUrl)});
    const log = EventLog.open(${JSON.stringify(file)});
    const rec = ${JSON.stringify(rec(0))};
    for (let i = 0; i < 20; i++) log.append({ ...rec, id: "ep-test-" + i });
    await log.flush();
    const line = JSON.stringify({ ...rec, id: "ep-test-20" }) + "\\n";
    fs.appendFileSync(${JSON.stringify(file)}, line.slice(0, line.length >> 1));
    process.kill(process.pid, "SIGKILL");
  `;
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", child], { encoding: "utf8" });
  assert.equal(r.signal, "SIGKILL", r.stderr);
  const back = readEventLog(file);
  assert.equal(back.records.length, 20);
  assert.equal(back.tornLines, 1);
  assert.equal(back.badLines, 0);

  // The restarted daemon cuts the torn tail off, so its next record starts a line of its own.
  const logger = new MemoryLogger();
  const log = EventLog.open(file, { logger });
  log.append(rec(21));
  await log.close();
  const after = readEventLog(file);
  assert.deepEqual(ids(after.records).slice(-2), ["ep-test-19", "ep-test-21"]);
  assert.equal(after.tornLines, 0);
  assert.equal(after.badLines, 0);
  assert.match(logger.lines.join("\n"), /removed a torn last line/);
});

test("a full disk (/dev/full): append returns at once, records are dropped and counted, said once", async (t) => {
  if (!fs.existsSync("/dev/full")) return t.skip("no /dev/full on this system");
  const logger = new MemoryLogger();
  const log = EventLog.open("/dev/full", { logger });
  for (let i = 0; i < 100; i++) {
    const ret: unknown = log.append(rec(i));
    assert.equal(ret, undefined, "append returns nothing to wait on");
    await Promise.resolve();
  }
  assert.equal(log.stats.appended, 100, "every append was taken synchronously");
  await log.flush();
  assert.equal(log.stats.written, 0);
  assert.equal(log.stats.droppedWriteError, 100);
  assert.equal(log.stats.lastError, "ENOSPC");
  assert.equal(logger.lines.filter((l) => l.includes("ENOSPC")).length, 1, logger.lines.join("\n"));
  await log.close();
});

test("a disk that does not keep up: the queue is bounded, the excess dropped and counted", async () => {
  const logger = new MemoryLogger();
  const log = EventLog.open(path.join(tmp(), "oomkit.jsonl"), { maxQueue: 10, logger });
  for (let i = 0; i < 100; i++) log.append(rec(i)); // no await: the writer has not run yet
  assert.equal(log.stats.droppedQueueFull, 90);
  await log.close();
  assert.equal(log.stats.written, 10);
  assert.equal(logger.lines.filter((l) => l.includes("not keeping up")).length, 1);
  assert.equal(readEventLog(log.path).records.length, 10);
});

test("reading: bad lines and other schemas are skipped and counted; a missing log is empty", () => {
  const file = path.join(tmp(), "oomkit.jsonl");
  fs.writeFileSync(file, `${JSON.stringify(rec(1))}\nnot json\n[1]\n${JSON.stringify({ schema: "oomkit.episode/2" })}\n${JSON.stringify(rec(2))}\n`);
  const r = readEventLog(file);
  assert.deepEqual(ids(r.records), ["ep-test-1", "ep-test-2"]);
  assert.equal(r.badLines, 2);
  assert.equal(r.otherSchema, 1);
  assert.deepEqual(readEventLog(path.join(tmp(), "none.jsonl")).records, []);
});

test("hostile log contents: a schema-valid record missing fields, stray files beside the log, lines that are not records — skipped and counted, never fatal", () => {
  const dir = tmp();
  const file = path.join(dir, "oomkit.jsonl");
  const { times: _t, ...noTimes } = rec(1);
  const lines = [JSON.stringify(rec(0)), JSON.stringify(noTimes), JSON.stringify({ schema: EPISODE_SCHEMA }), "[1,2]", "not json", JSON.stringify({ ...rec(2), schema: "oomkit.episode/2" }), JSON.stringify(rec(3))];
  fs.writeFileSync(file, `${lines.join("\n")}\n`);
  fs.writeFileSync(path.join(dir, "oomkit.jsonl.0x10"), "stray");
  fs.writeFileSync(path.join(dir, "oomkit.jsonl.bak"), "stray");
  fs.writeFileSync(path.join(dir, "oomkit.jsonl.01"), "stray");
  fs.writeFileSync(path.join(dir, "oomkit.jsonl.1"), `${JSON.stringify(rec(-1))}\n`);
  assert.deepEqual(eventLogFiles(file).map((f) => path.basename(f)), ["oomkit.jsonl.1", "oomkit.jsonl"]);
  const back = readEventLog(file);
  assert.deepEqual(ids(back.records), ["ep-test--1", "ep-test-0", "ep-test-3"]);
  assert.equal(back.invalidRecords, 2);
  assert.match(back.firstInvalid ?? "", /times/);
  assert.equal(back.badLines, 2);
  assert.equal(back.otherSchema, 1);
  assert.equal(back.files, 2);
  assert.equal(readEventLog(path.join(dir, "none.jsonl")).files, 0);
});

test("the daemon never appends through a symlink planted at the log's path, nor to what is not a file", async () => {
  const dir = tmp();
  const target = path.join(dir, "precious");
  fs.writeFileSync(target, "keep me\n");
  const file = path.join(dir, "oomkit.jsonl");
  fs.symlinkSync(target, file);
  assert.throws(() => EventLog.open(file), (err: Error & { code?: string }) => err.code === "E_HOST_IO" && /ELOOP/.test(err.message));
  assert.equal(fs.readFileSync(target, "utf8"), "keep me\n");
  const asDir = path.join(dir, "dir.jsonl");
  fs.mkdirSync(asDir);
  assert.throws(() => EventLog.open(asDir), (err: Error & { code?: string }) => err.code === "E_HOST_IO");
  // A link planted after start-up is moved aside by the next rotation and never followed.
  const ok = path.join(dir, "real.jsonl");
  const log = EventLog.open(ok, { maxBytes: 10 });
  log.append(rec(0));
  await log.flush();
  fs.rmSync(ok);
  fs.rmSync(`${ok}.1`, { force: true });
  fs.symlinkSync(target, ok);
  log.append(rec(1));
  await log.flush();
  await log.close();
  assert.equal(fs.readFileSync(target, "utf8"), "keep me\n");
  assert.ok(fs.lstatSync(ok).isFile(), "the log is a file of its own again");
});
