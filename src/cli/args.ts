/** Flag parsing for the subcommands: node:util parseArgs, with its errors turned into usage errors. */
import { parseArgs } from "node:util";
import { OomkitError } from "../errors.js";

type OptionSpec = { type: "string" | "boolean"; multiple?: boolean; short?: string };

export function parseFlags<T extends Record<string, OptionSpec>>(
  command: string,
  args: readonly string[],
  options: T,
  allowPositionals = false,
): { values: { [K in keyof T]?: T[K]["type"] extends "boolean" ? boolean : T[K]["multiple"] extends true ? string[] : string }; positionals: string[] } {
  try {
    const r = parseArgs({ args: [...args], options, allowPositionals, strict: true });
    return r as unknown as ReturnType<typeof parseFlags<T>>;
  } catch (err) {
    throw new OomkitError("E_USAGE", `${(err as Error).message} (see oomkit ${command} --help)`, { cause: err });
  }
}

/** A positive integer flag value, or a usage error that names the flag. */
export function positiveInt(flag: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new OomkitError("E_USAGE", `--${flag} must be a positive integer, got "${value}"`);
  return n;
}
