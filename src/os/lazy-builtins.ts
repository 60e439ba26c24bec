/**
 * Node modules the daemon loads only when it uses them. A static `import` of a Node module loads
 * it at start-up, in the bundle as in the module graph: node:crypto (the HTML report's hashes)
 * and node:zlib (timelines) cost the idle daemon ~0.6 MiB of anonymous memory, as much
 * file-backed, and 10–40 ms of start-up for work it may never do (BENCHMARKS.md, "Footprint:
 * builds side by side"). Each is required on first use instead. node:http serves only the metrics
 * endpoint: a daemon without one never loads it (~0.7 MiB anonymous, ~10 ms in a fresh node).
 * (node:child_process, for hooks, stays a static import: listening on a socket loads
 * node:cluster, which loads it anyway.)
 */
import { createRequire } from "node:module";

const nodeRequire = createRequire(import.meta.url);

export const zlib = (): typeof import("node:zlib") => nodeRequire("node:zlib") as typeof import("node:zlib");
export const crypto = (): typeof import("node:crypto") => nodeRequire("node:crypto") as typeof import("node:crypto");
export const http = (): typeof import("node:http") => nodeRequire("node:http") as typeof import("node:http");
