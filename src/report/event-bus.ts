/**
 * The live stream: an in-memory ring of recent episode records, each with a sequence number,
 * replay from any point still in the ring, and subscribers that each read at their own pace.
 *
 * A subscriber is a cursor into the ring, allowed to fall at most `maxQueue` records behind:
 * publishing copies nothing and waits for no one (it stores the record and wakes the readers
 * that are waiting). A reader that falls further behind loses the oldest records it had not
 * read, is told so by a `gap` delivery in their place, and has them counted; the other readers
 * and the publisher never notice. `oomkit events` renders deliveries with `renderDelivery`.
 */
import type { Writable } from "node:stream";
import type { EpisodeRecord } from "../engine/episode.js";
import { summarize } from "./human.js";

/** Enough for an hour of a bad day; the durable log keeps the rest. */
export const DEFAULT_RING_CAPACITY = 1000;
/** How far one reader may fall behind before it loses records. */
export const DEFAULT_SUBSCRIBER_QUEUE = 256;

export interface BusEvent {
  /** Sequence number: 1, 2, … within one daemon run (or from `firstSeq`). */
  readonly seq: number;
  readonly record: EpisodeRecord;
}

export type Delivery =
  | { readonly type: "record"; readonly seq: number; readonly record: EpisodeRecord }
  /** `count` records were not delivered to this reader (too slow, or older than the ring). */
  | { readonly type: "gap"; readonly count: number; readonly reason: "slow-reader" | "not-in-buffer" };

export interface EventBusOptions {
  readonly capacity?: number;
  readonly subscriberQueue?: number;
  /** The first sequence number (the daemon may continue from its log). */
  readonly firstSeq?: number;
}

/** Where a reader starts: after a sequence number, after an episode id, or only new records. */
export type Since = number | string | undefined;

export class EventBus {
  readonly #capacity: number;
  readonly #defaultQueue: number;
  readonly #ring: (BusEvent | undefined)[];
  #nextSeq: number;
  readonly #firstSeq: number;
  #dropped = 0;
  readonly #subs = new Set<Subscription>();

  constructor(options: EventBusOptions = {}) {
    this.#capacity = Math.max(1, options.capacity ?? DEFAULT_RING_CAPACITY);
    this.#defaultQueue = Math.max(1, options.subscriberQueue ?? DEFAULT_SUBSCRIBER_QUEUE);
    this.#ring = new Array<BusEvent | undefined>(this.#capacity);
    this.#nextSeq = options.firstSeq ?? 1;
    this.#firstSeq = this.#nextSeq;
  }

  /** The sequence number the next record will get. */
  get nextSeq(): number {
    return this.#nextSeq;
  }

  /** The oldest sequence number still in the ring. */
  get oldestSeq(): number {
    return this.#nextSeq - this.#count();
  }

  get subscribers(): number {
    return this.#subs.size;
  }

  /**
   * Records readers lost, over every reader so far: counted when they are lost, not when the
   * reader next reads and is told (a reader that never reads again still shows in the metrics).
   */
  get droppedTotal(): number {
    let notYetTold = 0;
    for (const sub of this.#subs) notYetTold += sub._notYetTold();
    return this.#dropped + notYetTold;
  }

  /** @internal */
  _countDropped(n: number): void {
    this.#dropped += n;
  }

  /** Stores a record and wakes waiting readers. O(readers waiting); never blocks. */
  publish(record: EpisodeRecord): number {
    const seq = this.#nextSeq++;
    this.#ring[seq % this.#capacity] = { seq, record };
    for (const sub of this.#subs) sub._wake();
    return seq;
  }

  /** The event with this sequence number, if still in the ring. */
  get(seq: number): BusEvent | undefined {
    if (seq < this.oldestSeq || seq >= this.#nextSeq) return undefined;
    return this.#ring[seq % this.#capacity];
  }

  /**
   * Events after `since` still in the ring, oldest first. `since` is a sequence number, an
   * episode id (`ep-…`, `kernel-…`), or undefined (everything in the ring). `missed` counts
   * records after `since` that already left the ring; an episode id no longer in the ring
   * replays the whole ring with `missed` undefined (unknown).
   */
  since(since?: Since): { readonly events: readonly BusEvent[]; readonly missed: number | undefined } {
    const from = this.#startSeq(since);
    const events: BusEvent[] = [];
    for (let s = Math.max(from.seq, this.oldestSeq); s < this.#nextSeq; s++) events.push(this.get(s) as BusEvent);
    return { events, missed: from.missed };
  }

  /** A reader starting after `since` (undefined: only records published from now on). */
  subscribe(options: { readonly since?: Since; readonly replay?: boolean; readonly maxQueue?: number } = {}): Subscription {
    const start = options.since !== undefined || options.replay ? this.#startSeq(options.since) : { seq: this.#nextSeq, missed: 0 };
    const sub = new Subscription(this, Math.max(1, options.maxQueue ?? this.#defaultQueue), Math.max(start.seq, this.oldestSeq), start.missed ?? 0);
    this.#subs.add(sub);
    return sub;
  }

  /** @internal */
  _remove(sub: Subscription): void {
    this.#subs.delete(sub);
  }

  #count(): number {
    return Math.min(this.#capacity, this.#nextSeq - this.#firstSeq);
  }

  #startSeq(since: Since): { seq: number; missed: number | undefined } {
    const oldest = this.oldestSeq;
    if (since === undefined) return { seq: oldest, missed: 0 };
    if (typeof since === "number") {
      const seq = Math.min(Math.max(0, Math.floor(since)) + 1, this.#nextSeq);
      return { seq, missed: Math.max(0, oldest - seq) };
    }
    for (let s = this.#nextSeq - 1; s >= oldest; s--) {
      if (this.get(s)?.record.id === since) return { seq: s + 1, missed: 0 };
    }
    return { seq: oldest, missed: undefined };
  }
}

export class Subscription implements AsyncIterable<Delivery> {
  readonly #bus: EventBus;
  readonly maxQueue: number;
  #next: number;
  #pendingGap: { count: number; reason: "slow-reader" | "not-in-buffer" } | undefined;
  #dropped = 0;
  #closed = false;
  #waiter: ((d: Delivery | undefined) => void) | undefined;

  constructor(bus: EventBus, maxQueue: number, startSeq: number, missed: number) {
    this.#bus = bus;
    this.maxQueue = maxQueue;
    this.#next = startSeq;
    if (missed > 0) this.#pendingGap = { count: missed, reason: "not-in-buffer" };
  }

  /** Records this reader lost so far (including those it will lose when it next reads). */
  get dropped(): number {
    return this.#dropped + this._notYetTold();
  }

  /** Records published but not yet read by this reader, up to maxQueue. */
  get backlog(): number {
    return Math.min(this.maxQueue, this.#bus.nextSeq - this.#next);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** The next delivery if one is ready, without waiting. */
  poll(): Delivery | undefined {
    if (this.#closed) return undefined;
    const over = this.#overflow();
    if (over > 0) {
      this.#next += over;
      this.#addGap(over, "slow-reader");
    }
    if (this.#pendingGap) {
      const gap = this.#pendingGap;
      this.#pendingGap = undefined;
      this.#dropped += gap.count;
      this.#bus._countDropped(gap.count);
      return { type: "gap", count: gap.count, reason: gap.reason };
    }
    const ev = this.#bus.get(this.#next);
    if (!ev) return undefined;
    this.#next += 1;
    return { type: "record", seq: ev.seq, record: ev.record };
  }

  /** The next delivery, waiting for one; undefined once closed. */
  next(): Promise<Delivery | undefined> {
    const ready = this.poll();
    if (ready || this.#closed) return Promise.resolve(ready);
    if (this.#waiter) return Promise.reject(new Error("one read at a time per subscription"));
    return new Promise((resolve) => (this.#waiter = resolve));
  }

  close(): void {
    if (this.#closed) return;
    // What it lost and was never told stays counted (droppedTotal never goes back).
    const untold = this._notYetTold();
    this.#dropped += untold;
    this.#bus._countDropped(untold);
    this.#pendingGap = undefined;
    this.#closed = true;
    this.#bus._remove(this);
    const w = this.#waiter;
    this.#waiter = undefined;
    w?.(undefined);
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Delivery> {
    try {
      for (;;) {
        const d = await this.next();
        if (d === undefined) return;
        yield d;
      }
    } finally {
      this.close();
    }
  }

  /** @internal Called by publish: hands a waiting reader its next delivery. */
  _wake(): void {
    const w = this.#waiter;
    if (!w) return;
    const d = this.poll();
    if (!d) return;
    this.#waiter = undefined;
    w(d);
  }

  /** @internal Records lost that no gap delivery has reported yet. */
  _notYetTold(): number {
    return this.#closed ? 0 : this.#overflow() + (this.#pendingGap?.count ?? 0);
  }

  /** How many unread records exceed what this reader may hold (or left the ring). */
  #overflow(): number {
    const behind = this.#bus.nextSeq - this.#next;
    const limit = Math.min(this.maxQueue, this.#bus.nextSeq - this.#bus.oldestSeq);
    return Math.max(0, behind - limit);
  }

  #addGap(count: number, reason: "slow-reader" | "not-in-buffer"): void {
    if (this.#pendingGap) this.#pendingGap.count += count;
    else this.#pendingGap = { count, reason };
  }
}

/** `oomkit events` output for one record: the JSON line (as in the log) or the human line. */
export function renderEvent(record: EpisodeRecord, json: boolean): string {
  return json ? JSON.stringify(record) : summarize(record);
}

/** `oomkit events` output for one delivery, gaps included. */
export function renderDelivery(d: Delivery, json: boolean): string {
  switch (d.type) {
    case "record":
      return renderEvent(d.record, json);
    case "gap":
      return json
        ? JSON.stringify({ schema: "oomkit.events-gap/1", dropped: d.count, reason: d.reason })
        : `oomkit events: ${d.count} record(s) not shown (${d.reason === "slow-reader" ? "this reader fell behind" : "no longer in the daemon's buffer; see the event log"})`;
    default: {
      const never: never = d;
      return never;
    }
  }
}

/** One line of the `events` op on the control socket (the client renders it). */
export type StreamLine = Delivery | { readonly type: "end" };

/**
 * Serves the control socket's `events` op: `{ op: "events", since?: number | string, follow?:
 * boolean }`. Writes one JSON StreamLine per line: the records after `since` still in the ring
 * (all of them when `since` is absent), then, with `follow`, every new one until the peer goes
 * away; without `follow`, `{"type":"end"}` after the replay. A peer that reads slowly is a slow
 * subscriber like any other: it gets gap lines, and neither the bus nor other peers wait for it.
 */
export async function streamEvents(bus: EventBus, request: Readonly<Record<string, unknown>>, out: Writable): Promise<void> {
  const since = typeof request.since === "number" || typeof request.since === "string" ? request.since : undefined;
  const sub = bus.subscribe({ since, replay: true });
  const done = () => sub.close();
  out.once("close", done);
  out.once("error", done);
  const write = async (line: StreamLine) => {
    if (out.destroyed) return;
    if (!out.write(`${JSON.stringify(line)}\n`)) await drainedOrClosed(out);
  };
  try {
    if (request.follow === true) {
      for await (const d of sub) await write(d);
    } else {
      for (let d = sub.poll(); d && !out.destroyed; d = sub.poll()) await write(d);
      await write({ type: "end" });
    }
  } finally {
    sub.close();
    out.off("close", done);
    out.off("error", done);
  }
}

/**
 * Resolves once `out` has drained, closed or failed, and leaves no listener behind. (Racing
 * `events.once` for "drain" against "close" left the loser's listeners on the socket: one more
 * per wait, for as long as a slow reader stayed connected.)
 */
export function drainedOrClosed(out: Writable): Promise<void> {
  if (out.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      out.off("drain", done);
      out.off("close", done);
      out.off("error", done);
      resolve();
    };
    out.on("drain", done);
    out.on("close", done);
    out.on("error", done);
  });
}
