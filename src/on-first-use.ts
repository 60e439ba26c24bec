/**
 * A value built the first time it is asked for, then kept. For zod schemas that the daemon
 * does not need to start on its built-in default (the options of built-in policies the
 * configuration does not attach, the simulator's scenarios, timelines, state files read only
 * when they exist...): a schema built at module load costs every start-up its construction and
 * the heap it holds, whether or not anything is ever validated with it (BENCHMARKS.md,
 * "Footprint (native)"). The schema itself is unchanged, so validation is exactly as strict.
 */
export function onFirstUse<T>(build: () => T): () => T {
  let built = false;
  let value: T | undefined;
  return () => {
    if (!built) {
      value = build();
      built = true;
    }
    return value as T;
  };
}
