// The kernel log's reader (src/report/kmsg.ts) reads without libuv's thread pool: the kill path's
// poll(2) holds one of its threads, and file I/O queues on the rest.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { KmsgReader } from "../../../src/report/kmsg.js";

const RECORD = "6,100,5000,-;oomkit test record\n";

test("records are read while every thread of libuv's pool is busy: none waits behind the pool's jobs", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "oomkit-kmsg-"));
  const file = path.join(dir, "kmsg");
  fs.writeFileSync(file, RECORD.repeat(3));
  const order: string[] = [];
  // One long job per pool thread (pbkdf2 runs on the pool): an fs/promises open or read queues behind them.
  const threads = Number(process.env.UV_THREADPOOL_SIZE ?? 4);
  const jobs = Array.from({ length: threads }, () => new Promise<void>((resolve) => crypto.pbkdf2("p", "s", 400_000, 64, "sha512", () => { order.push("pool job"); resolve(); })));
  let records = 0;
  const reader = new KmsgReader({ path: file, intervalMs: 5, onRecord: (t) => { records += t.split("\n").filter(Boolean).length; if (records === 3) order.push("records"); } });
  assert.equal(await reader.start(), true);
  await new Promise<void>((resolve) => setImmediate(resolve));
  await Promise.all(jobs);
  await reader.stop();
  fs.rmSync(dir, { recursive: true, force: true });
  assert.equal(records, 3);
  assert.equal(order[0], "records", `the records came before the pool's jobs were done: ${order.join(", ")}`);
});

test("a backlog larger than one turn's records is read whole, the event loop turning between", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "oomkit-kmsg-"));
  const file = path.join(dir, "kmsg");
  // A regular file reads many records at once: make each read one record's worth by writing records of 16 KiB.
  const big = `6,1,1,-;${"x".repeat(16 * 1024 - 10)}\n`;
  fs.writeFileSync(file, big.repeat(200));
  let lines = 0;
  let turns = 0;
  const turner = setInterval(() => turns++, 0);
  let caughtUp = false;
  const reader = new KmsgReader({ path: file, intervalMs: 5, onRecord: (t) => { lines += t.split("\n").filter(Boolean).length; }, onCaughtUp: () => { caughtUp = true; } });
  await reader.start();
  while (!caughtUp) await new Promise<void>((resolve) => setTimeout(resolve, 1));
  clearInterval(turner);
  await reader.stop();
  fs.rmSync(dir, { recursive: true, force: true });
  assert.equal(lines, 200);
  assert.ok(turns > 0, "the event loop turned while the backlog was read");
});
