/**
 * A value built the first time it is asked for, then kept until forgetBuilt() drops it. For zod
 * schemas that the daemon does not need to start on its built-in default (the options of
 * built-in policies the configuration does not attach, the simulator's scenarios, timelines,
 * state files read only when they exist...): a schema built at module load costs every start-up
 * its construction and the heap it holds, whether or not anything is ever validated with it
 * (BENCHMARKS.md, "Footprint (native)"). The schema itself is unchanged, so validation is exactly
 * as strict.
 *
 * The build must give an equivalent value every time it runs (a schema made afresh, a module
 * from require's cache), with no other effect: a value dropped by forgetBuilt() is built again
 * at its next use, and whoever asks cannot tell.
 */
const cells = new Set<() => boolean>();

export function onFirstUse<T>(build: () => T): () => T {
  let built = false;
  let value: T | undefined;
  cells.add(() => {
    const had = built;
    built = false;
    value = undefined;
    return had;
  });
  return () => {
    if (!built) {
      value = build();
      built = true;
    }
    return value as T;
  };
}

/**
 * Drops every value onFirstUse has built; each is built again the next time it is asked for.
 * The daemon calls this once it has settled and after each reload (cli/run.ts): the
 * configuration's schema and each policy's options schema are needed again only at the next
 * reload, which rebuilds them (a few tens of ms of CPU then), and until then they are V8 heap the
 * idle daemon would keep for nothing (~0.4 MiB, BENCHMARKS.md "Footprint (native)"). Returns how
 * many values were dropped. Values still referenced elsewhere stay alive, of course: only the
 * cells' own hold goes.
 */
export function forgetBuilt(): number {
  let dropped = 0;
  for (const forget of cells) if (forget()) dropped++;
  return dropped;
}
