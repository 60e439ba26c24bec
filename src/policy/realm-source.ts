/**
 * What a policy file's code may not contain, checked on the JavaScript the realm will run (after
 * transpiling), token by token with sucrase's own tokenizer — the one that produced that code.
 *
 * - No async functions, async methods or async arrows. A policy realm has no promises
 *   (src/engine/realm-shim.ts): a rejection nobody handles reaches Node's process-wide tracker
 *   and ends the daemon (measured: `Promise.reject()` in a vm context exits the process with
 *   status 1), and hooks are synchronous anyway.
 * - No `import()` or `import.meta`. Node answers a dynamic import in a vm context with an error
 *   made in the engine's own realm, whose constructor's constructor is the engine's Function.
 *   Sucrase already turns `import()` into `require()`; this is the second lock.
 *
 * A false alarm (`async(x)` calling a function named async) is refused too: rename it.
 */
import { createRequire } from "node:module";
import { OomkitError } from "../errors.js";

interface Token {
  readonly start: number;
  readonly end: number;
}
type Parse = (code: string, jsx: boolean, typescript: boolean, flow: boolean) => { tokens: readonly Token[] };

let parse: Parse | undefined;

/** After `async`, what still leaves it a plain name (a key, a variable, a parameter), not a function. */
const NAME_AFTER: ReadonlySet<string> = new Set([":", ",", ")", "]", "}", ";", "=", "=>", ".", "?.", ""]);
const MEMBER: ReadonlySet<string> = new Set([".", "?."]);

/** Throws OomkitError E_CONFIG naming the first async function or dynamic import in `code`. */
export function refuseUnsafeSyntax(file: string, code: string): void {
  parse ??= (createRequire(import.meta.url)("sucrase/dist/parser") as { parse: Parse }).parse;
  let tokens: readonly Token[];
  try {
    tokens = parse(code, false, false, false).tokens;
  } catch (err) {
    throw new OomkitError("E_CONFIG", `${file}: ${(err as Error).message}`);
  }
  const text = (i: number): string => {
    const t = tokens[i];
    return t === undefined ? "" : code.slice(t.start, t.end);
  };
  for (let i = 0; i < tokens.length; i++) {
    const word = text(i);
    if (word !== "async" && word !== "import") continue;
    if (i > 0 && MEMBER.has(text(i - 1))) continue;
    const next = text(i + 1);
    const line = code.slice(0, tokens[i]?.start ?? 0).split("\n").length;
    if (word === "import" && (next === "(" || next === ".")) {
      throw new OomkitError("E_CONFIG", `${file}: import() and import.meta are not available to policies (line ${line} of the transpiled code); import other policy files statically`);
    }
    if (word === "async" && !NAME_AFTER.has(next)) {
      throw new OomkitError("E_CONFIG", `${file}: policies may not use async functions (line ${line} of the transpiled code): hooks are synchronous and a policy has no promises`);
    }
  }
}
