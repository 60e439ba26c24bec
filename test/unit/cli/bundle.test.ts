// The command line as `npm run build` leaves it: dist/src/cli/main.js is one bundled file
// (scripts/bundle.mjs) that loads nothing of oomkit's from other files, only Node's own modules
// and the dependencies kept out of the bundle on purpose. run.test, cli.test and installed.test
// run that file; this one says it is the bundle, and that the bundle keeps only the parts of zod
// that oomkit uses.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const MAIN = fileURLToPath(new URL("../../../src/cli/main.js", import.meta.url));
/** What the bundle may load at run time besides node:* (scripts/bundle.mjs, EXTERNAL). */
const EXTERNAL = /^(koffi(\/.*)?|sucrase(\/.*)?|prom-client(\/.*)?)$/;

test("dist/src/cli/main.js is one bundled file: it imports only node:* and the dependencies kept out on purpose", () => {
  const text = fs.readFileSync(MAIN, "utf8");
  assert.ok(text.startsWith("#!/usr/bin/env node\n"), "still runnable as a command");
  assert.ok(text.includes("// oomkit: bundled by scripts/bundle.mjs"), "npm run build bundles main.js (is esbuild installed?)");
  // What Node resolves while it starts `oomkit version` from the bundle (an ESM resolve hook).
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "oomkit-bundle-"));
  try {
    const seen = path.join(dir, "seen.txt");
    fs.writeFileSync(path.join(dir, "hook.mjs"), `import fs from "node:fs";\nexport async function resolve(s, c, next) { fs.appendFileSync(${JSON.stringify(seen)}, s + "\\n"); return next(s, c); }\n`);
    fs.writeFileSync(path.join(dir, "register.mjs"), `import { register } from "node:module";\nregister(${JSON.stringify(pathToFileURL(path.join(dir, "hook.mjs")).href)});\n`);
    execFileSync(process.execPath, ["--import", pathToFileURL(path.join(dir, "register.mjs")).href, MAIN, "version"], { encoding: "utf8" });
    const specs = fs.readFileSync(seen, "utf8").split("\n").filter(Boolean);
    assert.ok(specs.some((s) => s.endsWith("cli/main.js")), specs.join(", "));
    const foreign = specs.filter((s) => !s.startsWith("node:") && !s.endsWith("cli/main.js") && !EXTERNAL.test(s));
    assert.deepEqual(foreign, [], "every other module is inside the bundle");
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  // zod's index loads all of its locales; imported as a namespace, the bundle keeps English only.
  assert.ok(!/zod\/v4\/locales\/(fr|de|ja)\.js/.test(text), "zod's other locales are left out");
  assert.ok(/zod\/v4\/locales\/en\.js/.test(text), "zod's English messages are in");
});

test("the bundle is ASCII (V8 holds its source one byte per character), and the daemon's start loads no node:crypto, node:zlib or node:https", () => {
  const text = fs.readFileSync(MAIN, "utf8");
  const wide = [...text.matchAll(/[^\x00-\x7f]/g)].slice(0, 3).map((m) => JSON.stringify(text.slice(Math.max(0, m.index - 30), m.index + 10)));
  assert.deepEqual(wide, [], "no character beyond ASCII (scripts/bundle.mjs escapes them)");
  // Every top-level import of the bundle runs whatever the command: `version` loads what `run` does
  // before it reads its configuration.
  const probe = "process.on('exit', () => process._rawDebug('LOADED ' + JSON.stringify(process.moduleLoadList.filter((m) => /^NativeModule (crypto|zlib|https|tls)$/.test(m)))))";
  const out = spawnSync(process.execPath, ["--import", `data:text/javascript,${encodeURIComponent(probe)}`, MAIN, "version"], { encoding: "utf8" });
  assert.equal(out.status, 0, out.stderr);
  const line = /LOADED (.*)/.exec(out.stderr)?.[1];
  assert.ok(line, out.stderr);
  assert.deepEqual(JSON.parse(line), []);
});

