/** Parser for /proc/<pid>/limits (a pure function of text). */

/** A resource limit's soft and hard values; "unlimited" where the kernel prints it. */
export interface ResourceLimit {
  readonly soft: number | "unlimited";
  readonly hard: number | "unlimited";
}

const VALUE = /^(?:unlimited|\d+)$/;

/**
 * The limit named `name` ("Max locked memory"), or undefined when the text has no well-formed
 * line for it. Lines are the name, then the soft and hard values, then the unit, in columns.
 */
export function parseLimit(text: string, name: string): ResourceLimit | undefined {
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name} `)) continue;
    const [soft, hard] = line.slice(name.length).trim().split(/\s+/);
    if (soft === undefined || hard === undefined || !VALUE.test(soft) || !VALUE.test(hard)) return undefined;
    const value = (v: string) => (v === "unlimited" ? "unlimited" : Number(v));
    return { soft: value(soft), hard: value(hard) };
  }
  return undefined;
}
