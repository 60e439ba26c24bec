/** The kernel suite's harness, the parts that need no VM: where the systemd guest's root comes from, and how guests are formed. */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const VM = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../test/kernel/vm");

interface Group {
  files: string[];
  guest?: string;
}
const prepare = (await import(pathToFileURL(path.join(VM, "prepare.mjs")).href)) as {
  debianMirror(files: string[]): string | undefined;
  withPidLock<T>(lock: string, fn: () => Promise<T>, log: (m: string) => void, o: { what: string; maxWaitS: number; pollMs?: number }): Promise<T>;
};
const groups = (await import(pathToFileURL(path.join(VM, "groups.mjs")).href)) as {
  groupFiles(files: string[], env: Record<string, string>): Group[];
  guestTimeoutS(group: Group & { budgetS: number }, env: Record<string, string>): number;
};

const write = (name: string, text: string) => {
  const f = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "oomkit-apt-")), name);
  fs.writeFileSync(f, text);
  return f;
};

describe("debianMirror", () => {
  test("deb822 sources: the bookworm stanza's URI, not security's or a disabled one", () => {
    const f = write(
      "debian.sources",
      [
        "Types: deb\nURIs: http://mirror.invalid/disabled\nSuites: bookworm\nEnabled: no\n",
        "Types: deb\nURIs: http://mirror.invalid/debian-security\nSuites: bookworm-security\n",
        "Types: deb-src\nURIs: http://mirror.invalid/src\nSuites: bookworm\n",
        "Types: deb\nURIs: http://mirror.invalid/debian\nSuites: bookworm bookworm-updates\nComponents: main\n",
      ].join("\n"),
    );
    assert.equal(prepare.debianMirror([f]), "http://mirror.invalid/debian");
  });

  test("one-line lists, with options; nothing found is undefined", () => {
    const f = write("sources.list", "# deb http://commented.invalid/debian bookworm main\ndeb [arch=amd64] http://mirror.invalid/debian bookworm main\n");
    assert.equal(prepare.debianMirror([f]), "http://mirror.invalid/debian");
    assert.equal(prepare.debianMirror([write("other.list", "deb http://mirror.invalid/debian trixie main\n"), "/nonexistent/sources.list"]), undefined);
  });
});

describe("groupFiles", () => {
  test("systemd.test gets a guest of its own, marked, with the longer boot allowance", () => {
    const g = groups.groupFiles(["kill.test.js", "systemd.test.js", "vm.test.js"], {});
    const sd = g.find((x) => x.files.includes("systemd.test.js"));
    assert.deepEqual(sd?.files, ["systemd.test.js"]);
    assert.equal(sd?.guest, "systemd");
    assert.ok(g.filter((x) => x !== sd).every((x) => x.guest === undefined && !x.files.includes("systemd.test.js")));
    assert.equal(groups.guestTimeoutS(sd as Group & { budgetS: number }, {}), 120 + 900);
  });
});

describe("withPidLock: one VM run at a time, however the harness was started", () => {
  test("a second run waits for the first, says for whom, and runs after it; a dead owner's lock is taken over", async () => {
    const lock = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "oomkit-lock-")), "vm-run.lock");
    const said: string[] = [];
    const order: string[] = [];
    let release = () => {};
    const first = prepare.withPidLock(lock, async () => {
      order.push("first in");
      await new Promise<void>((r) => (release = r));
      order.push("first out");
    }, () => {}, { what: "running its VMs", maxWaitS: 60, pollMs: 10 });
    const second = prepare.withPidLock(lock, async () => void order.push("second"), (m) => said.push(m), { what: "running its VMs", maxWaitS: 60, pollMs: 10 });
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(order, ["first in"], "the second waits");
    assert.deepEqual(said, [`waiting for pid ${process.pid}, which is running its VMs`]);
    release();
    await Promise.all([first, second]);
    assert.deepEqual(order, ["first in", "first out", "second"]);
    assert.equal(fs.existsSync(lock), false, "released");

    // A harness killed while holding it: its pid names no process now.
    const { spawnSync } = await import("node:child_process");
    const dead = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" }).stdout;
    fs.writeFileSync(lock, dead);
    const took = await prepare.withPidLock(lock, async () => "ran", (m) => said.push(m), { what: "running its VMs", maxWaitS: 60, pollMs: 10 });
    assert.equal(took, "ran");
    assert.equal(said.length, 1, "no wait for a dead owner");
  });

  test("a live owner that never lets go: the wait ends with a clear error, and the lock is left to its owner", async () => {
    const lock = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "oomkit-lock-")), "vm-run.lock");
    fs.writeFileSync(lock, String(process.pid));
    await assert.rejects(prepare.withPidLock(lock, async () => "ran", () => {}, { what: "running its VMs", maxWaitS: 0.05, pollMs: 10 }), /held by pid \d+ .*remove it if that is not a test-kernel run/);
    assert.equal(fs.readFileSync(lock, "utf8"), String(process.pid));
  });
});
