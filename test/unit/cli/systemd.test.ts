/**
 * `oomkit run` as systemd drives it, without systemd: a real daemon process told of a
 * notification socket and a watchdog by its environment, and `oomkit reload` (the unit's
 * ExecReload=) answering for a configuration that is taken or refused.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { UnixDgramReceiver } from "../../../src/os/unix-dgram.js";
import { defaultMakeHost, runCli } from "../../../src/cli/cli.js";
import { DEFAULT_CONFIG_TOML } from "../../../src/config/defaults.js";
import { loopHoldBoundMs, watchdogAdvice } from "../../../src/daemon/systemd.js";

const MAIN = fileURLToPath(new URL("../../../src/cli/main.js", import.meta.url));

async function until(what: string, fn: () => boolean, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe("the watchdog's bound", () => {
  test("every attached policy to its deadline, then the default to its own", () => {
    const engine = { attachments: [{}, {}], policyDeadlineMs: 250, defaultPolicyDeadlineMs: 1000 };
    assert.equal(loopHoldBoundMs({ engine } as unknown as Parameters<typeof loopHoldBoundMs>[0]), 1500);
  });

  test("a warning when WatchdogSec= is not twice the bound, none when it is", () => {
    assert.equal(watchdogAdvice(60_000_000, 1250), undefined);
    assert.equal(watchdogAdvice(3_000_000, 1500), undefined);
    assert.match(watchdogAdvice(2_000_000, 1500) ?? "", /WatchdogSec=2s is less than twice .*\(1500 ms\).*systemctl edit oomkit/);
  });
});

test("under a service manager: READY=1 once watching, keep-alives, RELOADING/READY around a reload that is refused or taken, STOPPING=1", { timeout: 90_000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "oomkit-sd-"));
  const config = path.join(dir, "oomkit.toml");
  fs.writeFileSync(config, DEFAULT_CONFIG_TOML, { mode: 0o644 });
  const sock = path.join(dir, "run", "oomkit.sock");
  const rx = new UnixDgramReceiver(path.join(dir, "notify"));
  const got: string[] = [];
  const drain = () => {
    for (let m = rx.receive(); m; m = rx.receive()) got.push(m.toString());
  };
  // A 1 s watchdog is less than twice what the default chain may hold the loop (1.25 s): warned.
  const env = { ...process.env, NOTIFY_SOCKET: path.join(dir, "notify"), WATCHDOG_USEC: "1000000" };
  const child = spawn(process.execPath, [MAIN, "run", "--dry-run", "--config", config, "--socket", sock, "--state-dir", path.join(dir, "state"), "--event-log", "none", "--metrics-listen", "none"], { stdio: ["ignore", "ignore", "pipe"], env });
  let err = "";
  child.stderr?.setEncoding("utf8");
  child.stderr?.on("data", (d: string) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const cli = async (argv: string[]) => {
    let out = "";
    let e = "";
    const code = await runCli({ argv, stdout: (t) => (out += t), stderr: (t) => (e += t), makeHost: defaultMakeHost() });
    return { code, out, e };
  };
  try {
    await until("READY=1", () => (drain(), got.some((m) => m.startsWith("READY=1\n"))));
    // stderr crosses a pipe and READY=1 a datagram socket: the lines may be read a moment later.
    await until("the daemon's lines", () => /WatchdogSec=1s is less than twice the longest a decision may run/.test(err));
    assert.ok(err.indexOf("oomkit: watching\n") >= 0 && err.indexOf("oomkit: watching\n") < err.indexOf("systemd watchdog:"), "the daemon says it watches, then starts its keep-alives");
    assert.match(err, /systemd watchdog: a keep-alive every 500 ms/);
    await until("two keep-alives", () => (drain(), got.filter((m) => m === "WATCHDOG=1\n").length >= 2));

    const ok = await cli(["reload", "--socket", sock]);
    assert.equal(ok.code, 0, ok.e);
    assert.match(ok.out, /^configuration reloaded: \d+ watches, \d+ attachments\n$/);

    fs.writeFileSync(config, "[[attach]\nthis is not toml\n");
    const bad = await cli(["reload", "--socket", sock]);
    assert.equal(bad.code, 4, `a refused configuration is exit 4: ${bad.e}`);
    assert.match(bad.e, /oomkit reload: the daemon refused: /);
    // The reply can arrive before the daemon's own stderr line has crossed the pipe.
    await until("the daemon's refusal line", () => /refused the new configuration, keeping the old one/.test(err));
    const status = await cli(["oom", "/", "--socket", sock, "--json"]);
    assert.equal(status.code, 0, "the daemon still runs on its old configuration");
    drain();
    const reloads = got.filter((m) => m.startsWith("RELOADING=1\n")).length;
    assert.equal(reloads, 2);
    assert.equal(got.filter((m) => m.startsWith("READY=1\n")).length, 3, "READY=1 at start and after each reload, refused or not");

    child.kill("SIGTERM");
    assert.equal(await exited, 0, err);
    drain();
    assert.ok(got.some((m) => m.startsWith("STOPPING=1\n")), got.join("|"));
  } finally {
    child.kill("SIGTERM");
    rx.close();
  }
});

test("oomkit reload with no daemon: one clear line, exit 3", async () => {
  let e = "";
  const code = await runCli({ argv: ["reload", "--socket", "/nonexistent/oomkit.sock"], stdout: () => {}, stderr: (t) => (e += t), makeHost: defaultMakeHost() });
  assert.equal(code, 3);
  assert.match(e, /no oomkit daemon answers on \/nonexistent\/oomkit.sock/);
});
