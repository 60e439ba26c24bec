// What the built daemon has loaded when it says "watching", read from inside it (an --import
// probe): what it may leave out it must not have loaded (a daemon without a metrics endpoint has
// no use for prom-client or node:http, one without a TypeScript policy none for sucrase), and what
// its configuration needs it must have loaded by then, never for the first time in an episode.
// run.test and control.test show each still works when used.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

const MAIN = fileURLToPath(new URL("../../../src/cli/main.js", import.meta.url));

/** Prints, once the daemon says "watching", which of the watched modules it has loaded. */
const PROBE = `
import { createRequire } from "node:module";
const cache = createRequire("/").cache; // one cache for the whole process, whatever the base
const write = process.stderr.write.bind(process.stderr);
let said = false;
process.stderr.write = (chunk, ...rest) => {
  if (!said && String(chunk).includes("oomkit: watching")) {
    said = true;
    const files = Object.keys(cache);
    const builtins = process.moduleLoadList;
    process._rawDebug("LOADED " + JSON.stringify({
      promClient: files.some((f) => f.includes("/prom-client/")),
      sucrase: files.some((f) => f.includes("/sucrase/")),
      http: builtins.includes("NativeModule http"),
    }));
  }
  return write(chunk, ...rest);
};`;

interface Loaded {
  readonly promClient: boolean;
  readonly sucrase: boolean;
  readonly http: boolean;
}

/** Starts `oomkit run --dry-run` on the built-in default with `args`, reads the probe, stops it. */
async function loadedAtWatching(args: readonly string[]): Promise<Loaded> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "oomkit-lazy-"));
  const child = spawn(
    process.execPath,
    ["--import", `data:text/javascript,${encodeURIComponent(PROBE)}`, MAIN, "run", "--dry-run", "--state-dir", path.join(dir, "state"), "--socket", path.join(dir, "oomkit.sock"), "--event-log", "none", ...args],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let err = "";
  child.stderr?.setEncoding("utf8");
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  try {
    const line = await new Promise<string>((resolve, reject) => {
      child.stderr?.on("data", (d: string) => {
        err += d;
        const m = /LOADED (.*)\n/.exec(err);
        if (m && err.includes("oomkit: watching\n")) resolve(m[1] as string);
      });
      child.once("exit", () => reject(new Error(`exited before watching:\n${err}`)));
    });
    return JSON.parse(line) as Loaded;
  } finally {
    child.kill("SIGTERM");
    await exited;
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test("without a metrics endpoint the daemon never loads prom-client or node:http, nor sucrase without a TypeScript policy", async () => {
  assert.deepEqual(await loadedAtWatching(["--metrics-listen", "none"]), { promClient: false, sucrase: false, http: false });
});

test("with a metrics endpoint, prom-client and node:http are loaded by the time it watches (never first in an episode)", async () => {
  assert.deepEqual(await loadedAtWatching(["--metrics-listen", "127.0.0.1:0"]), { promClient: true, sucrase: false, http: true });
});
