import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { MemoryLogger } from "../../../src/log.js";
import { OomkitError } from "../../../src/errors.js";
import { FixtureHost } from "../../../src/os/fixture-host.js";
import { type ReadFault, readParsed, readResult } from "../../../src/os/read.js";
import { FaultyHost } from "../../support/faulty-host.js";

function host(): FaultyHost {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "oomkit-read-"));
  fs.mkdirSync(path.join(dir, "proc"));
  fs.writeFileSync(path.join(dir, "proc/n"), "42\n");
  fs.writeFileSync(path.join(dir, "proc/bad"), "forty-two\n");
  return new FaultyHost(new FixtureHost(dir));
}

const num = (t: string): number => {
  const n = Number(t.trim());
  if (!Number.isInteger(n)) throw new OomkitError("E_PARSE", `not a number: ${t.trim()}`);
  return n;
};

test("readResult: a value, gone (absent or vanished), or a fault naming the file and the errno", () => {
  const log = new MemoryLogger();
  const h = host().fail("/proc/eio", "EIO").fail("/proc/n2", "ENOMEM");
  assert.deepEqual(readResult(h, "/proc/n", num, log), { kind: "ok", value: 42 });
  assert.deepEqual(readResult(h, "/proc/absent", num, log), { kind: "gone" });
  assert.deepEqual(readResult(h, "/proc/eio", num, log), { kind: "fault", fault: { path: "/proc/eio", error: "EIO" } });
  assert.deepEqual(readResult(h, "/proc/n2", num, log), { kind: "fault", fault: { path: "/proc/n2", error: "ENOMEM" } });
  const parse = readResult(h, "/proc/bad", num, log);
  assert.equal(parse.kind, "fault");
  assert.match(parse.kind === "fault" ? parse.fault.error : "", /^did not parse: not a number: forty-two$/);
  assert.ok(log.lines.some((l) => l === "warn: ignoring /proc/eio: cannot read it (EIO)"), log.lines.join("\n"));
});

test("readParsed: every errno an OOM can bring is unknown, reported to the sink, never thrown", () => {
  for (const errno of ["EIO", "ENOMEM", "EAGAIN", "EINVAL", "EACCES"]) {
    const faults: ReadFault[] = [];
    const h = host().fail("/proc/n", errno);
    assert.equal(readParsed(h, "/proc/n", num, new MemoryLogger(), (f) => faults.push(f)), undefined, errno);
    assert.deepEqual(faults, [{ path: "/proc/n", error: errno }]);
  }
});

test("what is no I/O error at all (a bug) still propagates", () => {
  const h = host();
  assert.throws(() => readResult(h, "/proc/n", () => { throw new TypeError("a bug"); }, new MemoryLogger()), TypeError);
});
