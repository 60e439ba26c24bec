/**
 * A child process for bench/footprint.bench.ts: node + koffi + one way of waiting on fds off the
 * event loop, idle (as the daemon is between episodes). `node threads-probe.js <kind>` prints
 * "ready" once its threads wait in poll(2), then sleeps. Kinds:
 *   none   koffi loaded, no thread (the floor)
 *   one    one Worker looping in poll(2) on an eventfd (what src/os/poller.ts runs)
 *   two    two such Workers (poll + calls: what src/os/poller.ts ran before)
 *   async  koffi `.async` poll(2) on the eventfd, holding one libuv pool thread
 */
import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";

interface KoffiLib {
  func(sig: string): ((...a: unknown[]) => number) & { async(...a: unknown[]): void };
}
const require = createRequire(import.meta.url);
const koffi = require("koffi") as { load(p: string): KoffiLib };
const lib = koffi.load("libc.so.6");
const eventfd = lib.func("int eventfd(unsigned int initval, int flags)");

const LOOP = `
const { workerData } = require("node:worker_threads");
const koffi = require(workerData.koffi);
const poll = koffi.load("libc.so.6").func("int poll(void *fds, unsigned long nfds, int timeout)");
const fds = Buffer.alloc(8);
fds.writeInt32LE(workerData.fd, 0); fds.writeInt16LE(1, 4);
for (;;) poll(fds, 1, 1000);
`;

function worker(): Promise<void> {
  const fd = eventfd(0, 0o2000000);
  const w = new Worker(`${LOOP}`, { eval: true, workerData: { koffi: require.resolve("koffi"), fd } });
  return new Promise((resolve) => w.once("online", () => setTimeout(resolve, 200)));
}

function asyncPoll(): void {
  const poll = lib.func("int poll(void *fds, unsigned long nfds, int timeout)");
  const fds = Buffer.alloc(8);
  fds.writeInt32LE(eventfd(0, 0o2000000), 0);
  fds.writeInt16LE(1, 4);
  const again = () => poll.async(fds, 1, 1000, () => again());
  again();
}

const kind = process.argv[2];
if (kind === "one") await worker();
else if (kind === "two") await Promise.all([worker(), worker()]);
else if (kind === "async") asyncPoll();
else if (kind !== "none") throw new Error(`unknown kind ${kind}`);
process.stdout.write("ready\n");
setInterval(() => {}, 1 << 30);
