/** `oomkit run --dry-run` on this machine as a real process, driven through its control socket. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { request } from "../../../src/daemon/control.js";
import { defaultMakeHost, runCli } from "../../../src/cli/cli.js";

const MAIN = fileURLToPath(new URL("../../../src/cli/main.js", import.meta.url));

test("oomkit run --dry-run: says what it watches, answers oomkit oom, stops on SIGTERM", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "oomkit-run-"));
  const sock = path.join(dir, "run", "oomkit.sock");
  const log = path.join(dir, "log", "oomkit.jsonl");
  const child = spawn(process.execPath, [MAIN, "run", "--dry-run", "--socket", sock, "--state-dir", path.join(dir, "state"), "--event-log", log, "--metrics-listen", "127.0.0.1:0"], { stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  child.stderr?.setEncoding("utf8");
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  try {
    await new Promise<void>((resolve, reject) => {
      child.stderr?.on("data", (d: string) => {
        err += d;
        if (err.includes("oomkit: watching\n")) resolve();
      });
      child.once("exit", () => reject(new Error(`exited early:\n${err}`)));
    });
    assert.match(err, /running in dry-run \(nothing will be killed\)/);
    assert.match(err, /policy rules at \/; then the kernel's badness/);
    assert.match(err, /watching memory-low on the machine/);
    assert.match(err, /watching machine-full-stall on \/proc\/pressure\/memory/);
    assert.equal(fs.statSync(sock).mode & 0o777, 0o600, "only root may use the socket");
    const status = await request(sock, { op: "status" });
    assert.equal(status.ok, true);
    // The daemon watches this machine with the default triggers: when the machine is under
    // pressure (a busy CI host), its own dry-run episode holds the scope for the post-action
    // delay, and the manual OOM is skipped with that reason. Asked again after it.
    let out = "";
    const skipped: string[] = [];
    for (let i = 0; i < 20; i++) {
      out = "";
      const code = await runCli({ argv: ["oom", "/", "--socket", sock, "--json", "--reason", "a test"], stdout: (t) => (out += t), stderr: () => {}, makeHost: defaultMakeHost() });
      assert.equal(code, 0);
      const why = (JSON.parse(out) as { skipped?: string }).skipped;
      if (why === undefined) break;
      assert.match(why, /post-action delay|still exiting|pressure window/, "skipped only while the daemon's own episode holds the machine");
      skipped.push(why);
      await new Promise((r) => setTimeout(r, 500));
    }
    const rec = JSON.parse(out) as { mode: string; kind: string; cause: { message: string }; handled: boolean };
    assert.ok(rec.mode !== undefined, `the manual OOM was skipped every time: ${skipped.join("; ")}`);
    assert.equal(rec.mode, "dry-run");
    assert.equal(rec.kind, "manual");
    assert.equal(rec.cause.message, "a test");
    assert.equal(rec.handled, true);
    const bad = await request(sock, { op: "frobnicate" });
    assert.match(String(bad.error), /unknown op/);
    // The same episode on the stream, in the metrics, and (after the stop) in the event log.
    let stream = "";
    assert.equal(await runCli({ argv: ["events", "--socket", sock, "--json"], stdout: (t) => (stream += t), stderr: () => {}, makeHost: defaultMakeHost() }), 0);
    const streamed = stream.trim().split("\n").map((l) => JSON.parse(l) as { id: string; kind: string });
    assert.ok(streamed.some((r) => r.kind === "manual"));
    const port = /reporting to metrics http:\/\/127\.0\.0\.1:(\d+)\/metrics/.exec(err)?.[1];
    assert.ok(port, err);
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    assert.match(metrics, /oomkit_episodes_total\{[^}]*kind="manual"[^}]*\} 1/);
    assert.equal((await fetch(`http://127.0.0.1:${port}/metrics`, { method: "POST" })).status, 405, "read-only");
    child.kill("SIGTERM");
    assert.equal(await exited, 0, err);
    let logged = "";
    assert.equal(await runCli({ argv: ["events", "--log", log, "--json"], stdout: (t) => (logged += t), stderr: () => {}, makeHost: defaultMakeHost() }), 0);
    assert.deepEqual(logged.trim().split("\n").map((l) => (JSON.parse(l) as { id: string }).id), streamed.map((r) => r.id), "the log holds what was streamed");
  } finally {
    child.kill("SIGTERM");
  }
  assert.equal(await exited, 0, err);
  assert.match(err, /SIGTERM: stopping/);
  assert.ok(!fs.existsSync(sock), "the socket is removed");
});

test("oomkit oom with no daemon: one clear line", async () => {
  let e = "";
  const code = await runCli({ argv: ["oom", "--socket", "/nonexistent/oomkit.sock"], stdout: () => {}, stderr: (t) => (e += t), makeHost: defaultMakeHost() });
  assert.equal(code, 3);
  assert.match(e, /no oomkit daemon answers on \/nonexistent\/oomkit.sock/);
});

test("oomkit run runs whole or not at all: a second instance refuses before acting; a fatal start-up error exits with everything closed", { timeout: 60_000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "oomkit-run-"));
  const state = path.join(dir, "state");
  const start = (args: string[]) => {
    const child = spawn(process.execPath, [MAIN, "run", "--dry-run", "--state-dir", state, "--event-log", "none", "--metrics-listen", "127.0.0.1:0", ...args], { stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    child.stderr?.setEncoding("utf8");
    child.stderr?.on("data", (d: string) => (err += d));
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    return { child, exited, err: () => err };
  };
  const first = start(["--socket", path.join(dir, "a.sock")]);
  try {
    await new Promise<void>((resolve, reject) => {
      first.child.stderr?.on("data", () => first.err().includes("oomkit: watching\n") && resolve());
      first.child.once("exit", () => reject(new Error(`exited early:\n${first.err()}`)));
    });
    const second = start(["--socket", path.join(dir, "b.sock")]);
    assert.equal(await second.exited, 2, second.err());
    assert.match(second.err(), new RegExp(`another oomkit is running \\(pid ${first.child.pid}\\)`));
    assert.doesNotMatch(second.err(), /oomkit: watching|reporting to/, "it started nothing");
    assert.equal(fs.existsSync(path.join(dir, "b.sock")), false);
  } finally {
    first.child.kill("SIGTERM");
    assert.equal(await first.exited, 0, first.err());
  }
  // A fatal error late in start-up (the socket path is a regular file): the metrics server and
  // watches already started must not keep the process alive; it exits on its own, non-zero.
  const precious = path.join(dir, "precious");
  fs.writeFileSync(precious, "keep me");
  const third = start(["--socket", precious]);
  assert.equal(await third.exited, 2, third.err());
  assert.match(third.err(), /exists and is not a socket/);
  assert.equal(fs.readFileSync(precious, "utf8"), "keep me");
  const fourth = start(["--socket", path.join(dir, "d.sock")]);
  await new Promise<void>((resolve, reject) => {
    fourth.child.stderr?.on("data", () => fourth.err().includes("oomkit: watching\n") && resolve());
    fourth.child.once("exit", () => reject(new Error(`the lock was not released by the failed start:\n${fourth.err()}`)));
  });
  fourth.child.kill("SIGTERM");
  assert.equal(await fourth.exited, 0, fourth.err());
});
