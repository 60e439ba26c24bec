/**
 * A daemon on a fixture machine with a manual clock, for the daemon's unit tests: the
 * configuration compiled from TOML with extra policies beside the built-ins, dry-run unless a
 * kill backend is given, episodes collected, and `step` to move the clock and run one tick.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { compileConfig, parseConfig } from "../../src/config/index.js";
import { Daemon } from "../../src/daemon/daemon.js";
import type { EpisodeRecord } from "../../src/engine/episode.js";
import type { Policy } from "../../src/engine/policy.js";
import { MemoryLogger } from "../../src/log.js";
import { detectCgroupMode } from "../../src/os/cgroup-mode.js";
import { FixtureHost } from "../../src/os/fixture-host.js";
import { type Host, ManualClock } from "../../src/os/host.js";
import type { KillBackend } from "../../src/os/kill-port.js";
import { BUILTIN_POLICIES } from "../../src/policy/builtins.js";
import { loadPolicyFile } from "../../src/policy/loader.js";
import { buildFixture, type FixtureSpec } from "./fixture.js";

export interface FixtureDaemonOptions {
  readonly extra?: readonly Policy[];
  /** Live with this backend; dry-run without one. */
  readonly backend?: KillBackend;
  /** Wraps the fixture host (a slow or faulty machine). */
  readonly wrap?: (host: FixtureHost) => Host;
  /** DaemonOptions.onSettled. */
  readonly onSettled?: () => void;
}

export function fixtureDaemon(machine: FixtureSpec, toml: string, o: FixtureDaemonOptions = {}) {
  const dir = buildFixture(machine);
  const clock = new ManualClock(10_000);
  const fixture = new FixtureHost(dir, { clock });
  const host = o.wrap ? o.wrap(fixture) : fixture;
  const parsed = parseConfig(toml, "test.toml");
  const builtins = new Map(BUILTIN_POLICIES);
  for (const p of o.extra ?? []) builtins.set(p.name, p);
  const config = compileConfig(parsed.config, { builtins, loadPolicyFile, enforceOwnership: false, source: parsed.source });
  const episodes: EpisodeRecord[] = [];
  const log = new MemoryLogger();
  const daemon = new Daemon({ host, mode: detectCgroupMode(host), config, log, autoTick: false, dryRun: o.backend === undefined, ...(o.backend ? { backend: o.backend } : {}), onEpisode: (r) => episodes.push(r), ...(o.onSettled ? { onSettled: o.onSettled } : {}) });
  const step = async (ms: number) => {
    clock.advance(ms);
    await daemon.tick();
    await daemon.settled();
  };
  const write = (p: string, text: string) => fs.writeFileSync(path.join(dir, p), text);
  return { dir, clock, daemon, episodes, log, step, write };
}
