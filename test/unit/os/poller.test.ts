/** The pool poller (src/os/poller.ts): koffi `.async` poll(2) on a libuv pool thread, no Worker. */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { execFileSync, spawnSync } from "node:child_process";
import { POLLIN, POLLNVAL, defaultPoller } from "../../../src/os/poller.js";

const poller = path.resolve(path.dirname(new URL(import.meta.url).pathname), "../../../src/os/poller.js");

test("an fd that is not open reports POLLNVAL whatever was asked, a new wait wakes the poll in flight, an aborted wait is a timeout", async () => {
  assert.deepEqual(await defaultPoller().wait(0x7fff_0000 - 1, POLLIN, 5_000), { kind: "ready", revents: POLLNVAL });
  assert.deepEqual(await defaultPoller().wait(0x7fff_0000 - 2, 0, 5_000), { kind: "ready", revents: POLLNVAL });
  // A wait that starts while a poll is in flight wakes it: it is answered before the first one's timeout.
  const stopFirst = new AbortController();
  const first = defaultPoller().wait(1, POLLIN, 10_000, stopFirst.signal).then(() => "first");
  const second = defaultPoller().wait(0x7fff_0000 - 3, POLLIN, 10_000).then(() => "second");
  assert.equal(await Promise.race([first, second]), "second");
  stopFirst.abort();
  await first;
  const aborter = new AbortController();
  aborter.abort();
  assert.deepEqual(await defaultPoller().wait(0, POLLIN, 10_000, aborter.signal), { kind: "timeout" });
});

test("the poller holds the process only while something is waited on, and a normal exit is not held up", () => {
  const script = `
    const { defaultPoller, POLLIN, startOsThreads } = await import(${JSON.stringify(poller)});
    await startOsThreads();
    // fd 1 is the write end of a pipe: never readable, so the wait times out.
    const r = await defaultPoller().wait(1, POLLIN, 20);
    console.log(JSON.stringify(r));
  `;
  const out = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8", timeout: 60_000 });
  assert.equal(out.signal, null, `the child was still running (ended by ${out.signal}): it was held after its last wait`);
  assert.equal(out.status, 0, out.stderr);
  assert.deepEqual(JSON.parse(out.stdout), { kind: "timeout" });
});

test("pending(): a ready fd is seen while the thread is busy, before its wait settles; not once it has", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "oomkit-poller-"));
  const fifo = path.join(dir, "fifo");
  execFileSync("mkfifo", [fifo]);
  const rd = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  const wr = fs.openSync(fifo, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
  try {
    const p = defaultPoller();
    let settled = false;
    const waited = p.wait(rd, POLLIN, 30_000).then((r) => {
      settled = true;
      return r;
    });
    // Let the poll start on its pool thread; nothing is ready yet.
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(p.pending?.(), false);
    fs.writeSync(wr, "x");
    // Busy, as a decision made ahead is: the loop does not turn, so the wait cannot settle.
    const until = Date.now() + 20_000;
    let seen = false;
    while (!seen && Date.now() < until) seen = p.pending?.() === true;
    assert.equal(seen, true, "the ready fd was seen from the busy thread");
    assert.equal(settled, false);
    assert.deepEqual(await waited, { kind: "ready", revents: POLLIN });
    assert.equal(p.pending?.(), false, "settled: nothing pending");
  } finally {
    fs.closeSync(rd);
    fs.closeSync(wr);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
