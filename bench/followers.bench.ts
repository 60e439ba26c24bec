/**
 * What readers that never read cost the daemon: `oomkit run --dry-run` on a fixture (200 tasks
 * in 20 cgroups), its event ring filled first (1,200 manual OOMs over the control socket), then
 * 30 `events --follow` connections that never read, then rounds of manual OOMs (each a record
 * of about 3 KiB on the stream), then one client that sends 50,000 `status` requests and never
 * reads a reply. VmRSS of the daemon after each step (2 s after, to let V8 settle); the same
 * steps without followers for comparison (FOLLOWERS=0). The daemon serves 32 clients: 30
 * followers, the client that drives the OOMs and the flooder.
 *
 *   node dist/bench/followers.bench.js [--write]      (FOLLOWERS, EPISODES, ROUNDS to change them)
 *   OOMKIT_MAIN=/other/dist/src/cli/main.js node dist/bench/followers.bench.js    another build
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { buildFixture, type FixtureCgroup, type FixtureTask } from "../test/support/fixture.js";
import { replaceSection } from "./markdown.js";

const HERE = path.dirname(fileURLToPath(import.meta.url)); // dist/bench
const MAIN = process.env.OOMKIT_MAIN ?? path.resolve(HERE, "../src/cli/main.js");
const EPISODES = Number(process.env.EPISODES ?? 4000);
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const FLOOD = 50_000;
const MB = 1024 * 1024;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Row {
  readonly step: string;
  readonly rssMiB: number;
}

async function run(followerCount: number): Promise<Row[]> {
  const cgroups: Record<string, FixtureCgroup> = { "/jobs": { current: 2000 * MB } };
  const tasks: FixtureTask[] = [{ pid: 1, comm: "init", cgroup: "/" }];
  for (let c = 0; c < 20; c++) {
    cgroups[`/jobs/j${c}`] = { current: 100 * MB, anon: 100 * MB };
    for (let t = 0; t < 10; t++) tasks.push({ pid: 1000 + c * 100 + t, comm: `worker-${c}-${t}`, cgroup: `/jobs/j${c}`, rssAnonKb: 1024 * (1 + ((c * 50 + t) % 97)) });
  }
  const fixture = buildFixture({ memTotalKb: 4_000_000, memAvailableKb: 1_000_000, cgroups, tasks });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "oomkit-followers-"));
  fs.chmodSync(dir, 0o700);
  const conf = path.join(dir, "oomkit.toml");
  fs.writeFileSync(conf, "[kill]\npost_action_delay_ms = 0\n", { mode: 0o600 });
  const sock = path.join(dir, "oomkit.sock");
  const args = [MAIN, "run", "--dry-run", "--root", fixture, "--config", conf, "--socket", sock, "--state-dir", path.join(dir, "state"), "--event-log", "none", "--metrics-listen", "none", "--log-level", "warn"];
  const daemon = spawn(process.execPath, args, { stdio: ["ignore", "ignore", "ignore"] });
  const pid = daemon.pid as number;
  while (!fs.existsSync(sock)) await sleep(100);
  const rssMiB = () => Math.round((Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"))?.[1]) / 1024) * 10) / 10;
  const rows: Row[] = [];
  const note = async (step: string) => {
    await sleep(2000);
    rows.push({ step, rssMiB: rssMiB() });
  };

  const ctl = net.connect(sock);
  ctl.setEncoding("utf8");
  let buf = "";
  const waiting: ((reply: { ok: boolean; record?: unknown }) => void)[] = [];
  ctl.on("data", (chunk: string) => {
    buf += chunk;
    for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      waiting.shift()?.(JSON.parse(line) as { ok: boolean });
    }
  });
  await new Promise((r) => ctl.once("connect", r));
  const ooms = async (n: number) => {
    for (let i = 0; i < n; i++) {
      const reply = await new Promise<{ ok: boolean; record?: unknown }>((r) => {
        waiting.push(r);
        ctl.write(`${JSON.stringify({ op: "oom", scope: `/jobs/j${i % 20}`, reason: "r".repeat(500) })}\n`);
      });
      if (!reply.ok || reply.record === undefined) throw new Error(`no record: ${JSON.stringify(reply).slice(0, 300)}`);
    }
  };

  await ooms(1200);
  await note("the ring full (1,200 records)");
  const followers: net.Socket[] = [];
  for (let i = 0; i < followerCount; i++) {
    const c = net.connect(sock);
    await new Promise((r) => c.once("connect", r));
    c.write(`${JSON.stringify({ op: "events", follow: true })}\n`); // the ring replayed, then every new record
    c.pause(); // and never read
    followers.push(c);
  }
  await note(`${followerCount} followers connected`);
  for (let round = 1; round <= ROUNDS; round++) {
    await ooms(EPISODES);
    await note(`${round * EPISODES} more records`);
  }
  const flooder = net.connect(sock);
  flooder.on("error", () => {});
  await new Promise((r) => flooder.once("connect", r));
  flooder.pause();
  flooder.write(`${JSON.stringify({ op: "status" })}\n`.repeat(FLOOD));
  await note(`a client sent ${FLOOD.toLocaleString("en")} status requests and reads no reply`);
  for (const c of [...followers, flooder, ctl]) c.destroy();
  daemon.kill("SIGTERM");
  await new Promise((r) => daemon.once("exit", r));
  return rows;
}

const counts = process.env.FOLLOWERS !== undefined ? [Number(process.env.FOLLOWERS)] : [30, 0];
const results = new Map<number, Row[]>();
for (const n of counts) results.set(n, await run(n));
const steps = (results.get(counts[0] as number) ?? []).map((r) => r.step.replace(/^\d+ followers/, "followers"));
const lines = [
  `| step | ${counts.map((n) => `${n} followers: VmRSS`).join(" | ")} |`,
  `|---|${counts.map(() => "---:").join("|")}|`,
  ...steps.map((step, i) => `| ${step} | ${counts.map((n) => `${results.get(n)?.[i]?.rssMiB ?? "-"} MiB`).join(" | ")} |`),
];
const table = lines.join("\n");
console.log(table);
if (process.argv.includes("--write")) {
  const body = `## Followers that never read

Generated by \`node dist/bench/followers.bench.js --write\` (bench/followers.bench.ts) on ${new Date().toISOString().slice(0, 10)}, Node ${process.version}, ${os.cpus().length} CPUs, kernel ${os.release()}. \`oomkit run --dry-run\` on a fixture of 200 tasks in 20 cgroups; its 1,000-record ring filled first with manual OOMs over the control socket; then ${counts[0]} \`events --follow\` connections that never read; then ${ROUNDS} rounds of ${EPISODES.toLocaleString("en")} manual OOMs (records of about 3 KiB with a 500-character reason); then one client that writes ${FLOOD.toLocaleString("en")} \`status\` requests at once and reads no reply. VmRSS of the daemon 2 s after each step; the other column is the same run without followers. A follower costs a cursor into the shared ring and at most one line plus the socket's high-water mark (16 KiB) in its connection; it falls 256 records behind, then loses the oldest (counted in \`oomkit_dropped_records{sink="stream"}\` as they are lost, told by a gap line when it reads). A client that does not read its replies is not read from either: its connection holds at most 128 KiB of requests and one reply beyond the high-water mark. RSS moves by a few MiB with V8's collections: read the rows as "no growth", not to the MiB.

${table}
`;
  replaceSection(path.resolve(HERE, "../../BENCHMARKS.md"), "## Followers that never read", body);
}
