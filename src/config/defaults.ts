/**
 * The built-in default configuration, used when no file is given. It is TOML parsed through the
 * same path as a file, so the default can never drift from what the schema accepts, and
 * `oomkit check` with no --config shows it. docs/configuration.md explains each value.
 */
import { type ParsedConfig, parseConfig } from "./load.js";

export const DEFAULT_CONFIG_NAME = "<built-in default>";

export const DEFAULT_CONFIG_TOML = `# oomkit's built-in default configuration (docs/configuration.md, "The default configuration").

# The rules policy with no options honours the extended attributes systemd-oomd and oomd already
# use (user.oomd_omit, user.oomd_avoid, trusted.oomd_prefer, ...); behind it, at the end of every
# chain, the kernel's own badness chooses.
[[attach]]
cgroup = "/"
policy = "rules"

# earlyoom's defaults: act when MemAvailable and SwapFree are both at or below 10 %.
# Without swap, only MemAvailable counts.
[[trigger]]
name = "memory-low"
cgroup = "/"
mem_available = { below_percent = 10 }
swap_free = { below_percent = 10 }

# A kernel PSI trigger on the whole machine: 200 ms of full stall within 2 s. Rules on the
# averages (avg10) never fired before the kernel's OOM killer in a fast leak (PEERS.md, 1):
# a trigger measures stall within its own short window and fires within it. A 2 s window is
# accepted without CAP_SYS_RESOURCE on kernels from 6.5, which take only multiples of 2 s.
[[trigger]]
name = "machine-full-stall"
cgroup = "/"
psi = { stall = "full", threshold_ms = 200, window_ms = 2000 }
`;

/** The default configuration in its validated plain form (with its source, for placed errors). */
export function defaultConfig(): ParsedConfig {
  return parseConfig(DEFAULT_CONFIG_TOML, DEFAULT_CONFIG_NAME);
}
