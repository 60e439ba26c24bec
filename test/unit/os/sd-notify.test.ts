/** sd_notify spoken over a real Unix datagram socket (koffi), and the environment it is read from. */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { keepAliveMs, notifyMessage, parseNotifyEnv, systemdNotifier } from "../../../src/os/sd-notify.js";
import { UnixDgramReceiver, UnixDgramSender, sockaddrUn } from "../../../src/os/unix-dgram.js";

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), "oomkit-notify-"));

describe("parseNotifyEnv", () => {
  test("a path, an abstract name, or nothing", () => {
    assert.equal(parseNotifyEnv({ NOTIFY_SOCKET: "/run/systemd/notify" }, 1).socket, "/run/systemd/notify");
    assert.equal(parseNotifyEnv({ NOTIFY_SOCKET: "@/org/freedesktop/systemd1/notify/1" }, 1).socket, "@/org/freedesktop/systemd1/notify/1");
    assert.deepEqual(parseNotifyEnv({}, 1), { socket: undefined, watchdogUsec: undefined, ignored: [] });
    assert.equal(parseNotifyEnv({ NOTIFY_SOCKET: "" }, 1).socket, undefined);
  });

  test("hostile or foreign values are ignored, each with its reason", () => {
    const r = parseNotifyEnv({ NOTIFY_SOCKET: "vsock:2:1234", WATCHDOG_USEC: "1e9" }, 7);
    assert.equal(r.socket, undefined);
    assert.equal(r.watchdogUsec, undefined);
    assert.match(r.ignored.join("\n"), /NOTIFY_SOCKET="vsock:2:1234" is not a unix socket address/);
    assert.match(r.ignored.join("\n"), /WATCHDOG_USEC="1e9" is not a positive number/);
    for (const w of ["0", "-5", " 10", "10s", "9999999999999999"]) assert.equal(parseNotifyEnv({ WATCHDOG_USEC: w }, 7).watchdogUsec, undefined, w);
  });

  test("the watchdog is ours only when WATCHDOG_PID is unset or names us", () => {
    assert.equal(parseNotifyEnv({ WATCHDOG_USEC: "30000000" }, 7).watchdogUsec, 30_000_000);
    assert.equal(parseNotifyEnv({ WATCHDOG_USEC: "30000000", WATCHDOG_PID: "7" }, 7).watchdogUsec, 30_000_000);
    const other = parseNotifyEnv({ WATCHDOG_USEC: "30000000", WATCHDOG_PID: "8" }, 7);
    assert.equal(other.watchdogUsec, undefined);
    assert.match(other.ignored[0] ?? "", /WATCHDOG_PID=8 is not this process \(7\)/);
  });

  test("keep-alives at half the period", () => {
    assert.equal(keepAliveMs(60_000_000), 30_000);
    assert.equal(keepAliveMs(1), 1);
  });
});

describe("notifyMessage", () => {
  test("KEY=value lines; a newline in a value cannot start another key", () => {
    assert.equal(notifyMessage({ READY: 1, STATUS: "watching" }).toString(), "READY=1\nSTATUS=watching\n");
    assert.equal(notifyMessage({ STATUS: "a\nWATCHDOG=trigger" }).toString(), "STATUS=a WATCHDOG=trigger\n");
    assert.throws(() => notifyMessage({ "bad key": 1 }), /not a notification key/);
  });
});

describe("sockaddrUn", () => {
  test("paths carry their NUL, abstract names start with one", () => {
    const p = sockaddrUn("/run/x");
    assert.ok(p.ok);
    assert.equal(p.len, 2 + 6 + 1);
    const a = sockaddrUn("@name");
    assert.ok(a.ok);
    assert.equal(a.len, 2 + 5);
    assert.equal(a.addr[2], 0);
    assert.equal(a.addr.subarray(3, 7).toString(), "name");
  });

  test("refuses what is not an address", () => {
    for (const bad of ["", "/", "relative", `/${"x".repeat(108)}`, "/a\0b"]) assert.equal(sockaddrUn(bad).ok, false, JSON.stringify(bad));
  });
});

describe("over a real socket", () => {
  test("READY, then keep-alives at half WATCHDOG_USEC; the variables are taken out of the environment", async () => {
    const address = path.join(tmp(), "notify");
    const rx = new UnixDgramReceiver(address);
    const env: Record<string, string | undefined> = { NOTIFY_SOCKET: address, WATCHDOG_USEC: "100000", WATCHDOG_PID: String(process.pid), OTHER: "kept" };
    const n = systemdNotifier(env, process.pid);
    try {
      assert.deepEqual(env, { OTHER: "kept" }, "a hook started later cannot speak for oomkit");
      assert.equal(n.notify({ READY: 1, STATUS: "watching" }), true);
      assert.equal(rx.receive()?.toString(), "READY=1\nSTATUS=watching\n");
      assert.equal(n.startWatchdog(), 50);
      const got: string[] = [];
      for (let i = 0; i < 200 && got.length < 3; i++) {
        await new Promise((r) => setTimeout(r, 20));
        for (let m = rx.receive(); m; m = rx.receive()) got.push(m.toString());
      }
      assert.deepEqual(got.slice(0, 3), ["WATCHDOG=1\n", "WATCHDOG=1\n", "WATCHDOG=1\n"]);
    } finally {
      n.stop();
      rx.close();
    }
  });

  test("an abstract address works; a socket nobody listens on is a false, not a throw", () => {
    const name = `@oomkit-test-${process.pid}-${Date.now()}`;
    const rx = new UnixDgramReceiver(name);
    try {
      const tx = new UnixDgramSender(name);
      assert.deepEqual(tx.send(Buffer.from("READY=1\n")), { ok: true });
      assert.equal(rx.receive()?.toString(), "READY=1\n");
      assert.equal(rx.receive(), undefined);
      tx.close();
    } finally {
      rx.close();
    }
    const gone = new UnixDgramSender(path.join(tmp(), "nobody"));
    assert.deepEqual(gone.send(Buffer.from("READY=1\n")), { ok: false, errno: "ENOENT" });
    gone.close();
    const n = systemdNotifier({}, process.pid);
    assert.equal(n.notify({ READY: 1 }), false, "no manager: nothing to tell");
    assert.equal(n.startWatchdog(), undefined);
    n.stop();
  });
});
