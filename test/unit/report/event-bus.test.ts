/** The live stream: replay, several readers, one stuck, and the `oomkit events` rendering. */
import { test } from "node:test";
import assert from "node:assert/strict";

import { EPISODE_SCHEMA, type EpisodeRecord } from "../../../src/engine/episode.js";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import * as fs from "node:fs";
import { type Delivery, EventBus, renderDelivery, renderEvent, streamEvents } from "../../../src/report/event-bus.js";

const at = "2026-01-01T00:00:00.000Z";
function rec(n: number): EpisodeRecord {
  return {
    schema: EPISODE_SCHEMA, id: `ep-test-${n}`, mode: "live", kind: "manual", scope: "/",
    cause: { kind: "manual", trigger: "manual", message: "m", figures: {} }, source: "test", policy: "p", handled: true,
    chain: [], candidates: [], candidatesTotal: 0, plan: [], actions: [], times: { declaredAt: at, decidedAt: at, finishedAt: at, decisionMs: 0, actionMs: 0 },
  };
}
const show = (d: Delivery | undefined) => (d === undefined ? "none" : d.type === "record" ? d.record.id : `gap ${d.count} ${d.reason}`);

test("publish gives sequence numbers; since() replays by number or episode id", () => {
  const bus = new EventBus({ capacity: 5 });
  for (let i = 1; i <= 8; i++) assert.equal(bus.publish(rec(i)), i);
  assert.equal(bus.oldestSeq, 4);
  assert.deepEqual(bus.since().events.map((e) => e.seq), [4, 5, 6, 7, 8]);
  assert.deepEqual(bus.since(6).events.map((e) => e.record.id), ["ep-test-7", "ep-test-8"]);
  assert.deepEqual(bus.since("ep-test-6").events.map((e) => e.seq), [7, 8]);
  assert.equal(bus.since(1).missed, 2, "records 2 and 3 left the ring");
  assert.equal(bus.since("ep-gone").missed, undefined);
  assert.deepEqual(bus.since(8).events, []);
});

test("several readers, one stuck: the others get everything, the stuck one a gap marker and a count", async () => {
  const bus = new EventBus({ capacity: 1000, subscriberQueue: 4 });
  const fast1 = bus.subscribe();
  const fast2 = bus.subscribe();
  const stuck = bus.subscribe();
  const got1: string[] = [];
  const got2: string[] = [];
  const reader = async (sub: typeof fast1, out: string[]) => {
    for await (const d of sub) {
      out.push(show(d));
      if (out.length === 20) return;
    }
  };
  const r1 = reader(fast1, got1);
  const r2 = reader(fast2, got2);
  for (let i = 1; i <= 20; i++) {
    bus.publish(rec(i)); // never waits, whatever the readers do
    await new Promise((resolve) => setImmediate(resolve)); // the live readers get their turn
  }
  await Promise.all([r1, r2]);
  const all = Array.from({ length: 20 }, (_, i) => `ep-test-${i + 1}`);
  assert.deepEqual(got1, all);
  assert.deepEqual(got2, all);
  assert.equal(fast1.dropped, 0);
  assert.equal(stuck.dropped, 16);
  assert.equal(stuck.backlog, 4);
  // When the stuck reader reads at last: the marker first, then the newest it could hold.
  const late: string[] = [];
  for (let d = stuck.poll(); d; d = stuck.poll()) late.push(show(d));
  assert.deepEqual(late, ["gap 16 slow-reader", "ep-test-17", "ep-test-18", "ep-test-19", "ep-test-20"]);
  assert.equal(stuck.dropped, 16);
  assert.equal(bus.droppedTotal, 16);
  stuck.close();
  assert.equal(bus.subscribers, 0);
});

test("a subscriber from an id replays, then follows; one older than the ring is told so", async () => {
  const bus = new EventBus({ capacity: 3 });
  for (let i = 1; i <= 5; i++) bus.publish(rec(i));
  const fromTwo = bus.subscribe({ since: 1 });
  assert.deepEqual([show(fromTwo.poll()), show(fromTwo.poll()), show(fromTwo.poll()), show(fromTwo.poll()), show(fromTwo.poll())], [
    "gap 1 not-in-buffer", "ep-test-3", "ep-test-4", "ep-test-5", "none",
  ]);
  const waiting = fromTwo.next();
  bus.publish(rec(6));
  assert.equal(show(await waiting), "ep-test-6");
  const byId = bus.subscribe({ since: "ep-test-5" });
  assert.equal(show(byId.poll()), "ep-test-6");
  const closed = byId.next();
  byId.close();
  assert.equal(await closed, undefined);
  const live = bus.subscribe();
  assert.equal(live.poll(), undefined, "no replay without since");
});

test("renderEvent and renderDelivery: the log's JSON line, or the human line", () => {
  const r = rec(1);
  assert.equal(renderEvent(r, true), JSON.stringify(r));
  assert.match(renderEvent(r, false), /^oomkit ep-test-1: oom_policy=p kind=manual scope=\/ cause=manual: /);
  assert.deepEqual(JSON.parse(renderDelivery({ type: "gap", count: 3, reason: "slow-reader" }, true)), { schema: "oomkit.events-gap/1", dropped: 3, reason: "slow-reader" });
  assert.match(renderDelivery({ type: "gap", count: 3, reason: "slow-reader" }, false), /3 record\(s\) not shown/);
});

test("streamEvents over a unix socket: replay then end; follow until the peer leaves", async () => {
  const bus = new EventBus();
  bus.publish(rec(1));
  bus.publish(rec(2));
  const sock = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "oomkit-bus-")), "s");
  const served: Promise<void>[] = [];
  const server = net.createServer((c) => {
    c.once("data", (req) => served.push(streamEvents(bus, JSON.parse(String(req)) as Record<string, unknown>, c)));
  });
  await new Promise<void>((r) => server.listen(sock, r));
  const ask = (req: object, lines: number) =>
    new Promise<unknown[]>((resolve) => {
      const c = net.connect(sock, () => c.write(JSON.stringify(req)));
      let buf = "";
      c.setEncoding("utf8");
      c.on("data", (d: string) => {
        buf += d;
        const got = buf.split("\n").filter((l) => l !== "");
        if (got.length >= lines) {
          c.destroy();
          resolve(got.slice(0, lines).map((l) => JSON.parse(l) as unknown));
        }
      });
    });
  const replay = await ask({ op: "events", since: 1 }, 2);
  assert.deepEqual(replay.map((l) => (l as { type: string; seq?: number }).seq ?? (l as { type: string }).type), [2, "end"]);
  const following = ask({ op: "events", since: "ep-test-2", follow: true }, 1);
  while (bus.subscribers === 0) await new Promise((r) => setImmediate(r));
  bus.publish(rec(3));
  const [line] = await following;
  assert.equal((line as { record: EpisodeRecord }).record.id, "ep-test-3");
  await Promise.all(served);
  assert.equal(bus.subscribers, 0, "a peer that left is unsubscribed");
  await new Promise<void>((r) => server.close(() => r()));
});
