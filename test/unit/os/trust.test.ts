/** trustProblems: a file root runs or obeys, and every folder above it up to "/". */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { trustProblems } from "../../../src/os/trust.js";

const tmp = () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "oomkit-trust-"));
  fs.chmodSync(d, 0o755);
  return d;
};
const euid = typeof process.geteuid === "function" ? process.geteuid() : 0;

test("a file and folders owned by this user and writable by no one else are trusted (a sticky /tmp above is fine)", () => {
  const dir = tmp();
  const f = path.join(dir, "oomkit.toml");
  fs.writeFileSync(f, "", { mode: 0o644 });
  assert.deepEqual(trustProblems(f, euid), []);
});

test("a file others may write, or whose folder (at any height) others may write, is not", () => {
  const dir = tmp();
  const sub = path.join(dir, "a", "b");
  fs.mkdirSync(sub, { recursive: true, mode: 0o755 });
  const f = path.join(sub, "hook");
  fs.writeFileSync(f, "", { mode: 0o755 });
  fs.chmodSync(f, 0o757);
  assert.match(trustProblems(f, euid).join("\n"), /the file .*hook is writable by others/);
  fs.chmodSync(f, 0o755);
  fs.chmodSync(path.join(dir, "a"), 0o777);
  assert.match(trustProblems(f, euid).join("\n"), /the folder .*\/a is writable by others \(mode 777\)/, "two levels up counts");
  fs.chmodSync(path.join(dir, "a"), 0o775);
  assert.match(trustProblems(f, euid).join("\n"), /writable by its group/);
  fs.chmodSync(path.join(dir, "a"), 0o1777);
  assert.deepEqual(trustProblems(f, euid), [], "a sticky folder above is allowed");
});

test("a file owned by another user is not trusted; a symlink is judged by what it points at too", () => {
  const dir = tmp();
  const f = path.join(dir, "policy.ts");
  fs.writeFileSync(f, "", { mode: 0o644 });
  assert.match(trustProblems(f, euid + 4242).join("\n"), euid === 0 ? /^$/ : /owned by uid/, "root-owned files are trusted by anyone");
  if (euid === 0) {
    fs.chownSync(f, 4242, 4242);
    assert.match(trustProblems(f, 0).join("\n"), /the file .*policy.ts is owned by uid 4242, not root/);
  }
  const other = tmp();
  fs.chmodSync(other, 0o777);
  const target = path.join(other, "real.ts");
  fs.writeFileSync(target, "", { mode: 0o644 });
  const link = path.join(dir, "link.ts");
  fs.symlinkSync(target, link);
  assert.match(trustProblems(link, euid).join("\n"), /folder .* is writable by others/, "the link's target lives in a folder others may write");
});
