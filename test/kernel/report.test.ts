// The report pipeline in the guest (issue 6): the kernel's own OOM kills become episode records
// of kind "kernel" on every sink — the stream on the control socket (`oomkit events`), the event
// log (`oomkit events --log`) and the metrics — exactly once, in one stream with oomkit's own
// episodes, and never twice across a restart of the daemon.
//
// The daemon is the unmodified `oomkit run`, started as a child process with a configuration,
// socket, state folder and event log of its own (startDaemon in daemon-helpers.ts; startOomkit
// below adds a metrics endpoint and waits for the kernel log's backlog). It reads /dev/kmsg's
// replayed buffer first; no socket op tells when it has (KernelOomObserver.kmsgCaughtUp is not in
// `status`), but the observer writes its state file (<state-dir>/kmsg.state) when it has caught
// up, so the tests wait for that file to be written by this daemon before causing an OOM.
import assert from "node:assert/strict";
import { existsSync, statSync } from "node:fs";
import * as net from "node:net";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { defaultMakeHost, runCli } from "../../src/cli/cli.js";
import type { EpisodeRecord } from "../../src/engine/episode.js";
import { type DaemonProc, rel, startDaemon, stopAllDaemons, tempDir } from "./daemon-helpers.js";
import { TestTree, readKeyed, vmSkip, waitFor, waitMemoryEvent } from "./helpers.js";
/** The observer's grace for a counter-only kill (DEFAULT_GRACE_MS) plus its 500 ms tick, and some. */
const NO_DUPLICATE_MS = 3500;

// ---------------------------------------------------------------------------------------------
// The daemon, as a child process (daemon-helpers.ts), with a metrics endpoint

type Oomkit = DaemonProc & { readonly metricsUrl: string };

/** Starts `oomkit run` in `dir` (reused: same state folder and event log) and waits until it watches and has read the kernel log's backlog. */
async function startOomkit(dir: string, config: string): Promise<Oomkit> {
  const startedMs = Date.now();
  // The daemon's output, for the record: $RUN_DIR/report-<folder>.log (appended across restarts).
  const d = await startDaemon({ dir, config, metricsListen: "127.0.0.1:0", keepLog: `report-${path.basename(dir)}.log` });
  const all = d.lines();
  const tail = () => `\n${d.lines().slice(-30).join("\n")}`;
  const metrics = all.map((l) => /reporting to metrics (http:\/\/\S+\/metrics)/.exec(l)?.[1]).find((u) => u !== undefined);
  assert.ok(metrics, `a metrics endpoint among the start-up lines:${tail()}`);
  assert.ok(
    all.some((l) => l.includes("reporting to the kernel's OOM kills (/dev/kmsg and counters)")),
    `the daemon reads /dev/kmsg:${tail()}`,
  );
  // The observer saves its state once it has read the replayed buffer (markCaughtUp).
  const stateFile = path.join(d.stateDir, "kmsg.state");
  await waitFor(() => (existsSync(stateFile) && statSync(stateFile).mtimeMs >= startedMs - 5 ? true : undefined), {
    timeoutMs: 15_000,
    what: `${stateFile} written by this daemon (the kernel log's backlog read)`,
    last: tail,
  });
  await sleep(300); // the kmsg reader's next poll is 250 ms away: nothing in flight
  return Object.assign(d, { metricsUrl: metrics });
}

// ---------------------------------------------------------------------------------------------
// Reading the sinks

async function cli(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const code = await runCli({ argv, stdout: (s) => (stdout += s), stderr: (s) => (stderr += s), makeHost: defaultMakeHost() });
  return { code, stdout, stderr };
}

/** `oomkit events --json --socket S`: every record the daemon's stream still holds, in order. */
async function streamRecords(d: Oomkit): Promise<EpisodeRecord[]> {
  const r = await cli(["events", "--json", "--socket", d.socket]);
  assert.equal(r.code, 0, r.stderr);
  return parseJsonLines(r.stdout);
}

/** `oomkit events --log FILE --json`. */
async function logRecords(file: string): Promise<EpisodeRecord[]> {
  const r = await cli(["events", "--log", file, "--json"]);
  assert.equal(r.code, 0, r.stderr);
  return parseJsonLines(r.stdout);
}

function parseJsonLines(text: string): EpisodeRecord[] {
  const out: EpisodeRecord[] = [];
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    const v = JSON.parse(line) as EpisodeRecord | { schema: string };
    assert.equal(v.schema, "oomkit.episode/1", `a record, not a gap: ${line}`);
    out.push(v as EpisodeRecord);
  }
  return out;
}

/** The socket op itself: `{"op":"events"}` → deliveries with their stream sequence numbers. */
async function streamDeliveries(d: Oomkit): Promise<{ seq: number; record: EpisodeRecord }[]> {
  return await new Promise((resolve, reject) => {
    const c = net.connect(d.socket);
    const got: { seq: number; record: EpisodeRecord }[] = [];
    let buf = "";
    c.setEncoding("utf8");
    c.once("connect", () => c.write(`${JSON.stringify({ op: "events" })}\n`));
    c.on("data", (chunk: string) => {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const msg = JSON.parse(buf.slice(0, nl)) as { type?: string; seq?: number; record?: EpisodeRecord; ok?: boolean };
        buf = buf.slice(nl + 1);
        if (msg.ok === false) return reject(new Error(`events refused: ${JSON.stringify(msg)}`));
        if (msg.type === "end") {
          c.end();
          return resolve(got);
        }
        if (msg.type === "record") got.push({ seq: msg.seq as number, record: msg.record as EpisodeRecord });
        else reject(new Error(`unexpected delivery ${JSON.stringify(msg)}`));
      }
    });
    c.once("error", reject);
  });
}

/** Sum of a metric's samples whose labels include every given label. */
async function scrape(url: string, name: string, labels: Record<string, string>): Promise<number> {
  const res = await fetch(url);
  assert.equal(res.status, 200);
  const text = await res.text();
  let sum = 0;
  for (const line of text.split("\n")) {
    const m = /^([a-z_]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = m[2] ?? "";
    if (Object.entries(labels).every(([k, v]) => have.includes(`${k}="${v}"`))) sum += Number(m[3]);
  }
  return sum;
}

const kernelRecords = (rs: readonly EpisodeRecord[]) => rs.filter((r) => r.kind === "kernel");
const brief = (rs: readonly EpisodeRecord[]) => JSON.stringify(rs.map((r) => ({ id: r.id, kind: r.kind, scope: r.scope, kernelKill: r.kernelKill })));

async function waitStream(d: Oomkit, what: string, ok: (rs: EpisodeRecord[]) => boolean, timeoutMs = 20_000): Promise<EpisodeRecord[]> {
  let last: EpisodeRecord[] = [];
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    last = await streamRecords(d);
    if (ok(last)) return last;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; stream: ${brief(last)}; daemon:\n${d.lines().slice(-30).join("\n")}`);
    await sleep(100);
  }
}

/** Runs a hog of `mib` in `cg` (memory.max below it) and waits for the kernel's kill. */
async function kernelKill(t: TestTree, cg: string, mib = 60): Promise<number> {
  const hog = t.hog({ cgroup: cg, mib });
  const { signal } = await hog.exited;
  assert.equal(signal, "SIGKILL", `the kernel killed the hog: ${hog.output()}`);
  await waitMemoryEvent(cg, "oom_kill", 1, 5_000);
  return hog.pid;
}

// ---------------------------------------------------------------------------------------------

describe("the report pipeline in the guest", { skip: vmSkip() }, () => {
  let t: TestTree;
  /** The restart test's kill made while no daemon ran, and when the test saw its victim die. */
  let downtime: { record: EpisodeRecord; killedAtMs: number } | undefined;
  before(async () => {
    t = await TestTree.create("report");
  });
  after(async () => {
    await stopAllDaemons();
    await t?.teardown();
  });

  test("kernel_kill_record: a memcg OOM kill is one kernel record on the stream, in the event log and in the metrics", async () => {
    const idle = t.mk("k1/idle");
    const cg = t.mk("k1/victim", { "memory.max": "20M", "memory.swap.max": "0" });
    // A trigger elsewhere, none on the victim's cgroup: the kill is the kernel's alone.
    const d = await startOomkit(tempDir("report-k1"), `[[trigger]]\nname = "idle-oom"\ncgroup = "${rel(idle)}"\nmemory_events = ["oom"]\n`);
    assert.deepEqual(await streamRecords(d), [], "a fresh daemon reports no kill from the replayed kernel log");

    const pid = await kernelKill(t, cg);
    const where = rel(cg);
    await waitStream(d, `a kernel record for pid ${pid}`, (rs) => rs.some((r) => r.kind === "kernel" && r.kernelKill?.pid === pid));
    await sleep(NO_DUPLICATE_MS); // a counter-only twin would come after the grace
    const stream = await streamRecords(d);
    const kernel = kernelRecords(stream);
    assert.equal(kernel.length, 1, `exactly one kernel record: ${brief(stream)}`);
    assert.equal(stream.length, 1, `nothing else: ${brief(stream)}`);
    const r = kernel[0]!;
    const k = r.kernelKill!;
    assert.equal(k.pid, pid);
    assert.equal(k.comm, "hog");
    assert.equal(k.cgroup, where);
    assert.equal(k.oomMemcg, where);
    assert.equal(k.constraint, "CONSTRAINT_MEMCG");
    assert.ok(k.seenBy.includes("kmsg"), `seen in the kernel log: ${k.seenBy.join(",")}`);
    assert.equal(r.scope, where);
    assert.equal(r.policy, null);
    assert.equal(r.handled, true);
    assert.equal(r.cause.trigger, "kernel");
    assert.equal(r.source, "kernel log");
    assert.ok((k.anonRssBytes ?? 0) > 10 * 1024 * 1024, `the victim's anon rss as the kernel printed it: ${k.anonRssBytes}`);
    // The socket op gives the same one record.
    const raw = await streamDeliveries(d);
    assert.deepEqual(raw.map((x) => x.record.id), [r.id]);
    // The human line on stderr.
    const human = d.lines().filter((l) => l.includes("kind=kernel"));
    assert.equal(human.length, 1, `one human line: ${human.join("\n")}`);
    assert.match(human[0]!, new RegExp(`oom_policy=kernel .*constraint=CONSTRAINT_MEMCG .*Killed process ${pid} \\(hog\\)`));

    // Metrics: one kernel episode, one kernel kill.
    assert.equal(await scrape(d.metricsUrl, "oomkit_episodes_total", { kind: "kernel" }), 1);
    assert.equal(await scrape(d.metricsUrl, "oomkit_episodes_total", { kind: "kernel", scope: where, policy: "kernel", mode: "live" }), 1);
    assert.equal(await scrape(d.metricsUrl, "oomkit_kills_total", { kind: "kernel", target: "task" }), 1);
    assert.equal(await scrape(d.metricsUrl, "oomkit_episodes_total", {}), 1, "no other episode");

    // The event log, read after the daemon stopped.
    const stopped = await d.stop();
    assert.equal(stopped.code, 0, d.lines().slice(-20).join("\n"));
    const logged = await logRecords(d.eventLog);
    assert.equal(logged.length, 1, `one record in the log: ${brief(logged)}`);
    assert.deepEqual(logged[0], r, "the logged record is the streamed one");
  });

  test("kernel_kill_record: an oomkit kill and a kernel kill in the same run appear in one stream, in order", async () => {
    const a = t.mk("k2/a", { "memory.high": "16M", "memory.max": "256M", "memory.swap.max": "0" });
    const b = t.mk("k2/b", { "memory.max": "20M", "memory.swap.max": "0" });
    const d = await startOomkit(tempDir("report-k2"), `[[trigger]]\nname = "a-high"\ncgroup = "${rel(a)}"\nmemory_events = ["high"]\n`);

    // oomkit's kill: A's hog crosses memory.high, the trigger fires, the default chain kills it.
    const hogA = t.hog({ cgroup: a, mib: 64, rateMibPerS: 32 });
    assert.equal((await hogA.exited).signal, "SIGKILL", hogA.output());
    const first = await waitStream(d, "oomkit's record for A", (rs) => rs.some((r) => r.kind === "cgroup"));
    const ours = first.find((r) => r.kind === "cgroup")!;
    assert.equal(ours.scope, rel(a));
    assert.equal(ours.mode, "live");
    assert.ok(ours.policy, "a policy handled it");
    assert.ok(
      ours.actions.some((x) => x.ok && x.action.kind === "kill-task" && x.action.pid === hogA.pid),
      `oomkit killed A's hog ${hogA.pid}: ${JSON.stringify(ours.actions)}`,
    );
    assert.equal(readOomKill(a), 0, "the kernel killed nothing in A");

    // The kernel's kill in B, which no trigger watches.
    const pidB = await kernelKill(t, b);
    await waitStream(d, `a kernel record for pid ${pidB}`, (rs) => rs.some((r) => r.kind === "kernel" && r.kernelKill?.pid === pidB));
    await sleep(NO_DUPLICATE_MS);

    const raw = await streamDeliveries(d);
    const records = raw.map((x) => x.record);
    assert.deepEqual(
      records.map((r) => r.kind),
      ["cgroup", "kernel"],
      `oomkit's record, then the kernel's: ${brief(records)}`,
    );
    assert.equal(records[0]!.id, ours.id);
    assert.ok(raw[0]!.seq < raw[1]!.seq, `stream numbers in order: ${raw.map((x) => x.seq).join(", ")}`);
    assert.ok(records[0]!.id < records[1]!.id, `ids in order: ${records.map((r) => r.id).join(", ")}`);
    assert.ok(Date.parse(records[0]!.times.finishedAt) <= Date.parse(records[1]!.times.finishedAt));
    const kb = records[1]!.kernelKill!;
    assert.equal(kb.pid, pidB);
    assert.equal(kb.cgroup, rel(b));
    assert.equal(kb.oomMemcg, rel(b));
    assert.equal(kb.constraint, "CONSTRAINT_MEMCG");
    // `oomkit events --json` prints the same two, in the same order.
    assert.deepEqual((await streamRecords(d)).map((r) => r.id), records.map((r) => r.id));
    const human = d.lines().filter((l) => /^oomkit ep-\S+: oom_policy=/.test(l));
    assert.deepEqual(
      human.map((l) => /kind=(\w+)/.exec(l)?.[1]),
      ["cgroup", "kernel"],
      `human lines in order:\n${human.join("\n")}`,
    );
    assert.match(human[0]!, new RegExp(`oom_policy=${ours.policy} kind=cgroup scope=${rel(a)} .*Killed process ${hogA.pid}`));

    assert.equal((await d.stop()).code, 0);
    assert.deepEqual(
      (await logRecords(d.eventLog)).map((r) => r.id),
      records.map((r) => r.id),
      "the event log holds the same records in the same order",
    );
  });

  test("a restart reports a kill made while oomkit was down, and none made before again", async () => {
    const c1 = t.mk("k3/before", { "memory.max": "20M", "memory.swap.max": "0" });
    const c2 = t.mk("k3/down", { "memory.max": "20M", "memory.swap.max": "0" });
    const c3 = t.mk("k3/after", { "memory.max": "20M", "memory.swap.max": "0" });
    const dir = tempDir("report-k3");
    const config = "# no triggers: only the kernel's kills are reported\n";

    const d1 = await startOomkit(dir, config);
    const pid1 = await kernelKill(t, c1);
    const seen = await waitStream(d1, `a kernel record for pid ${pid1}`, (rs) => rs.some((r) => r.kernelKill?.pid === pid1));
    const rec1 = seen.find((r) => r.kernelKill?.pid === pid1)!;
    assert.equal((await d1.stop()).code, 0);

    // A kill while no daemon runs: the next one finds it in the replayed buffer after its state.
    const pid2 = await kernelKill(t, c2);
    const killed2AtMs = Date.now();
    await sleep(2000); // so that "when it happened" and "when the new daemon read it" differ plainly

    const d2 = await startOomkit(dir, config);
    const pid3 = await kernelKill(t, c3); // a live kill too: the new daemon reports at all
    await waitStream(d2, `a kernel record for pid ${pid3}`, (rs) => rs.some((r) => r.kernelKill?.pid === pid3));
    await sleep(NO_DUPLICATE_MS);
    const stream = await streamRecords(d2);
    const kernel = kernelRecords(stream);
    assert.ok(!kernel.some((r) => r.kernelKill?.pid === pid1 || r.id === rec1.id), `the earlier kill is not reported again: ${brief(stream)}`);
    assert.deepEqual(
      kernel.map((r) => [r.kernelKill?.pid, r.kernelKill?.cgroup]),
      [
        [pid2, rel(c2)],
        [pid3, rel(c3)],
      ],
      `the kill made while oomkit was down, then the live one, each once: ${brief(stream)}`,
    );
    assert.ok((kernel[0]!.kernelKill!.kmsgSeq ?? -1) > (rec1.kernelKill!.kmsgSeq ?? Infinity), "after the saved sequence number");
    downtime = { record: kernel[0]!, killedAtMs: killed2AtMs };
    assert.equal((await d2.stop()).code, 0);

    // The one event log across both runs: each kill once.
    const logged = kernelRecords(await logRecords(d2.eventLog));
    assert.deepEqual(
      logged.map((r) => r.kernelKill?.pid),
      [pid1, pid2, pid3],
      `each kill once in the event log across the restart: ${brief(logged)}`,
    );
  });

  // A record from the kernel log's backlog is dated by the kill's own kmsg timestamp.
  test(
    "a kill made while oomkit was down is dated when the kernel made it, not when the restarted daemon read it",
    () => {
      assert.ok(downtime, "the restart test ran");
      const at = Date.parse(downtime.record.times.declaredAt);
      const tsMs = (downtime.record.kernelKill?.kmsgTsUsec ?? NaN) / 1000;
      assert.ok(
        at <= downtime.killedAtMs + 1000,
        `declaredAt ${downtime.record.times.declaredAt} is ${at - downtime.killedAtMs} ms after the test saw the victim die (${new Date(downtime.killedAtMs).toISOString()}); kmsg timestamp ${tsMs.toFixed(0)} ms after boot`,
      );
    },
  );
});

function readOomKill(cg: string): number {
  return readKeyed(path.join(cg, "memory.events")).oom_kill ?? NaN;
}
