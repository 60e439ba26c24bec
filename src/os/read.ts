/**
 * The one thin step between a Host and the pure parsers: read a machine path and parse it,
 * turning the normal races and gaps into "unknown" instead of errors.
 */
import { OomkitError, isVanished } from "../errors.js";
import type { Logger } from "../log.js";
import type { Host } from "./host.js";

export type { ParsedCache } from "./host.js";

/**
 * Reads and parses one file. Returns undefined when the file is absent (an older kernel, a
 * fixture that lacks it) or its pid/cgroup vanished: that is "unknown", never an error. Text
 * that does not parse is also unknown, with a warning, so hostile /proc text cannot stop a
 * decision. Other I/O errors propagate.
 */
export function readParsed<T>(host: Host, path: string, parse: (text: string) => T, log: Logger): T | undefined {
  const cache = host.parsedCache;
  if (cache) return cache.parsed(path, parse, () => readAndParse(host, path, parse, log));
  return readAndParse(host, path, parse, log);
}


function readAndParse<T>(host: Host, path: string, parse: (text: string) => T, log: Logger): T | undefined {
  let text: string;
  try {
    text = host.readFile(path);
  } catch (err) {
    if (isVanished(err)) {
      log.debug(`ignoring ${path}: ${(err as Error).message}`);
      return undefined;
    }
    if (err instanceof OomkitError && err.code === "E_PERMISSION") {
      log.debug(`ignoring ${path}: ${err.message}`);
      return undefined;
    }
    throw err;
  }
  try {
    return parse(text);
  } catch (err) {
    if (err instanceof OomkitError && err.code === "E_PARSE") {
      log.warn(`ignoring ${path}: ${err.message}`);
      return undefined;
    }
    throw err;
  }
}
