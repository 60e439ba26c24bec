/**
 * The simulator models the machine and nothing of oomkit: no trigger, gate, verifier, policy or
 * engine logic lives in src/sim/ (the rule), so what a simulation shows is the real
 * code's doing. Today src/sim/ imports only the OS layer's contracts and the error type.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";

const SIM = path.join(import.meta.dirname ?? path.dirname(new URL(import.meta.url).pathname), "../../../../src/sim");
const ALLOWED = [/^\.\/[a-z-]+\.js$/, /^\.\.\/os\/[a-z-]+\.js$/, /^\.\.\/errors\.js$/, /^\.\.\/log\.js$/, /^node:/];

test("src/sim/ imports nothing of the engine, policies, config, report or daemon", () => {
  const wrong: string[] = [];
  for (const name of fs.readdirSync(SIM).filter((n) => n.endsWith(".ts"))) {
    const text = fs.readFileSync(path.join(SIM, name), "utf8");
    for (const m of text.matchAll(/\bfrom\s*"([^"]+)"|\bimport\(\s*"([^"]+)"\s*\)/g)) {
      const spec = (m[1] ?? m[2]) as string;
      if (!ALLOWED.some((re) => re.test(spec))) wrong.push(`src/sim/${name} → ${spec}`);
    }
  }
  assert.deepEqual(wrong, []);
});

/**
 * src/simulate/ wires the daemon to the model and records what happened: it may reach the
 * daemon only through the Daemon class, the engine only for the episode record's types, and
 * holds no trigger, gate, verifier, policy or engine logic of its own.
 */
const SIMULATE = path.join(SIM, "../simulate");
const SIMULATE_ALLOWED = [
  /^\.\/[a-z-]+\.js$/,
  /^\.\.\/sim\/[a-z-]+\.js$/,
  /^\.\.\/os\/[a-z-]+\.js$/,
  // errors, log and on-first-use sit beneath every layer and hold no oomkit logic.
  /^\.\.\/(errors|log|on-first-use)\.js$/,
  /^\.\.\/daemon\/daemon\.js$/,
  /^\.\.\/engine\/(episode|hooks)\.js$/,
  /^\.\.\/config\/(index|schema)\.js$/,
  /^\.\.\/report\/kernel-record\.js$/,
  /^\.\.\/timeline\/index\.js$/,
  /^zod$/,
  /^node:/,
];

test("src/simulate/ imports the daemon whole and no trigger, gate, verifier, policy or engine logic", () => {
  const wrong: string[] = [];
  for (const name of fs.readdirSync(SIMULATE).filter((n) => n.endsWith(".ts"))) {
    const text = fs.readFileSync(path.join(SIMULATE, name), "utf8");
    for (const m of text.matchAll(/\bfrom\s*"([^"]+)"|\bimport\(\s*"([^"]+)"\s*\)/g)) {
      const spec = (m[1] ?? m[2]) as string;
      if (!SIMULATE_ALLOWED.some((re) => re.test(spec))) wrong.push(`src/simulate/${name} → ${spec}`);
    }
  }
  assert.deepEqual(wrong, []);
});
