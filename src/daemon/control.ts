/**
 * The control socket: a unix socket that only root can use (the file is created 0600 in a 0700
 * folder). One JSON object per line each way. Requests (./control-ops.ts):
 *   {"op":"status"}                                  → {"ok":true,"status":{...}}
 *   {"op":"oom","scope":"/x","reason":"..."}          → {"ok":true,"record":{...}} | {"ok":true,"skipped":"why"}
 *                                                       (after {"ok":true,"pending":"..."} lines while the episode runs)
 *   {"op":"standing","scope":"/x"}                    → {"ok":true,"standing":[{scope,ageMs,policy,record},...]}
 * The report pipeline adds its own ops (events). Every request is checked against its op's schema
 * before anything runs: an unknown op (Object.prototype's names included), a missing or mistyped
 * field, or an unknown one gets `{"ok":false,"error":...,"code":...}` and nothing else happens.
 * Lines are bounded in length, the server in connections, and each connection in what it holds
 * (requests are answered one at a time, and not read while replies wait for the peer).
 */
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import type { z } from "zod";
import { OomkitError, type ErrorCode, isUserError } from "../errors.js";
import type { Logger } from "../log.js";
import { drainedOrClosed } from "../report/event-bus.js";

/**
 * One op: the schema its requests must pass (built on its first request: src/on-first-use.ts), and
 * what it does with a request that passed.
 */
export interface ControlHandler {
  readonly schema: () => z.ZodType;
  handle(request: unknown, reply: (message: unknown) => void, socket: net.Socket): Promise<void> | void;
}

/** Declares an op whose handler gets the request as its schema's output. */
export function controlOp<S extends z.ZodType>(schema: () => S, handle: (request: z.output<S>, reply: (message: unknown) => void, socket: net.Socket) => Promise<void> | void): ControlHandler {
  return { schema, handle: (request, reply, socket) => handle(request as z.output<S>, reply, socket) };
}

/** Requests larger than this are refused: the socket is local, but still parses untrusted text. */
const MAX_LINE_BYTES = 64 * 1024;
/** Requests read ahead of their answers, per connection: room for a burst, not for a flood. */
const MAX_QUEUED_BYTES = 2 * MAX_LINE_BYTES;
/** Clients at once; more are refused by the kernel's backlog and Node (a stuck `events --follow` each). */
export const MAX_CONNECTIONS = 32;

/** The reply to a request that failed: the error's code travels, so every client maps it the same way. */
export function errorReply(err: unknown): { ok: false; error: string; code: ErrorCode } {
  if (err instanceof OomkitError) return { ok: false, error: err.message, code: err.code };
  return { ok: false, error: err instanceof Error ? err.message : String(err), code: "E_INTERNAL" };
}

export const DEFAULT_SOCKET = "/run/oomkit/oomkit.sock";

export class ControlServer {
  readonly #server: net.Server;
  readonly #path: string;
  readonly #log: Logger;

  private constructor(server: net.Server, socketPath: string, log: Logger) {
    this.#server = server;
    this.#path = socketPath;
    this.#log = log;
  }

  static async listen(socketPath: string, handlers: Readonly<Record<string, ControlHandler>>, log: Logger): Promise<ControlServer> {
    const dir = path.dirname(socketPath);
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    // A socket left by a crashed run: remove it only if nothing answers on it. Anything else at
    // that path (a file given by mistake, a link) is never removed.
    const existing = fs.lstatSync(socketPath, { throwIfNoEntry: false });
    if (existing && !existing.isSocket()) throw new OomkitError("E_USAGE", `${socketPath} exists and is not a socket: refusing to replace it`);
    if (existing) {
      const alive = await new Promise<boolean>((resolve) => {
        const c = net.connect(socketPath);
        c.once("connect", () => {
          c.destroy();
          resolve(true);
        });
        c.once("error", () => resolve(false));
      });
      if (alive) throw new OomkitError("E_USAGE", `another oomkit is running (it answers on ${socketPath})`);
      fs.unlinkSync(socketPath);
    }
    const server = net.createServer((socket) => serve(socket, handlers, log));
    server.maxConnections = MAX_CONNECTIONS;
    const oldMask = process.umask(0o177);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(socketPath, () => resolve());
      });
    } finally {
      process.umask(oldMask);
    }
    fs.chmodSync(socketPath, 0o600);
    return new ControlServer(server, socketPath, log);
  }

  get path(): string {
    return this.#path;
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
    try {
      fs.unlinkSync(this.#path);
    } catch {
      /* already gone */
    }
    this.#log.debug(`control socket ${this.#path} closed`);
  }
}

/**
 * One connection. Requests are answered one at a time, in order; the next is not started while
 * the replies already written wait for the peer to read them, and reading stops meanwhile (the
 * kernel's socket buffers then push back on the peer). So what one connection holds in the
 * daemon is bounded whatever the peer does: at most MAX_QUEUED_BYTES of requests read ahead, and
 * one reply or stream line beyond the socket's high-water mark. A peer that never reads costs
 * the daemon those few KiB, never a growing buffer.
 */
function serve(socket: net.Socket, handlers: Readonly<Record<string, ControlHandler>>, log: Logger): void {
  let partial = "";
  const queue: string[] = [];
  let queuedBytes = 0;
  let busy = false;
  const reply = (m: unknown) => {
    if (!socket.destroyed) socket.write(`${JSON.stringify(m)}\n`);
  };
  const refuse = (error: string) => {
    reply({ ok: false, error, code: "E_USAGE" });
    socket.destroy();
    queue.length = 0;
  };
  const pump = async () => {
    if (busy) return;
    busy = true;
    try {
      for (let line = queue.shift(); line !== undefined && !socket.destroyed; line = queue.shift()) {
        queuedBytes -= line.length;
        await answer(line, handlers, reply, socket, log);
        if (socket.writableNeedDrain && !socket.destroyed) {
          socket.pause();
          await drainedOrClosed(socket);
          if (!socket.destroyed) socket.resume();
        }
      }
    } finally {
      busy = false;
    }
  };
  socket.setEncoding("utf8");
  socket.on("error", () => socket.destroy());
  socket.on("data", (chunk: string) => {
    partial += chunk;
    for (let nl = partial.indexOf("\n"); nl >= 0; nl = partial.indexOf("\n")) {
      const line = partial.slice(0, nl);
      partial = partial.slice(nl + 1);
      if (line.length > MAX_LINE_BYTES) return refuse("request too large");
      if (line.trim() === "") continue;
      queue.push(line);
      queuedBytes += line.length;
    }
    if (partial.length > MAX_LINE_BYTES) return refuse("request too large");
    if (queuedBytes > MAX_QUEUED_BYTES) return refuse("too many requests waiting for an answer on one connection");
    void pump();
  });
}

/** Parses, checks and runs one request line; every outcome is one reply (or the op's own stream). */
async function answer(line: string, handlers: Readonly<Record<string, ControlHandler>>, reply: (m: unknown) => void, socket: net.Socket, log: Logger): Promise<void> {
  let req: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(line);
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new Error("not an object");
    req = parsed as Record<string, unknown>;
  } catch {
    return reply({ ok: false, error: "each request is one JSON object on one line", code: "E_USAGE" });
  }
  const op = Object.hasOwn(req, "op") ? req.op : undefined;
  // Own names only: "__proto__", "toString" or "constructor" are not ops.
  const handler = typeof op === "string" && Object.hasOwn(handlers, op) ? handlers[op] : undefined;
  if (!handler) return reply({ ok: false, error: `unknown op ${JSON.stringify(op ?? null)}; known: ${Object.keys(handlers).join(", ")}`, code: "E_USAGE" });
  const checked = handler.schema().safeParse(req);
  if (!checked.success) {
    const i = checked.error.issues[0];
    return reply({ ok: false, error: `bad ${op} request: ${i && i.path.length > 0 ? `${i.path.map(String).join(".")}: ` : ""}${i?.message ?? "invalid"}`, code: "E_USAGE" });
  }
  try {
    await handler.handle(checked.data, reply, socket);
  } catch (err) {
    if (!isUserError(err)) log.warn(`control request ${op} failed: ${(err as Error).message}`);
    reply(errorReply(err));
  }
}

/**
 * A client: sends one request and resolves with the first reply line. With `heartbeats`, lines
 * that say `"pending"` are the daemon saying it is still at work: each restarts the timeout,
 * which then bounds the silence between lines rather than the whole wait.
 */
export async function request(socketPath: string, req: Record<string, unknown>, timeoutMs = 30_000, opts: { heartbeats?: boolean } = {}): Promise<Record<string, unknown>> {
  return await new Promise((resolve, reject) => {
    const c = net.connect(socketPath);
    let buf = "";
    let answered = false;
    const expire = () => {
      c.destroy();
      reject(new OomkitError("E_TIMEOUT", `no answer from ${socketPath} in ${timeoutMs} ms`));
    };
    let timer = setTimeout(expire, timeoutMs);
    c.setEncoding("utf8");
    c.once("connect", () => c.write(`${JSON.stringify(req)}\n`));
    c.on("data", (chunk: string) => {
      buf += chunk;
      for (let nl = buf.indexOf("\n"); nl >= 0 && !answered; nl = buf.indexOf("\n")) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        let reply: Record<string, unknown>;
        try {
          reply = JSON.parse(line) as Record<string, unknown>;
        } catch (err) {
          answered = true;
          clearTimeout(timer);
          c.end();
          reject(new OomkitError("E_INTERNAL", `a reply that is not JSON from ${socketPath}`, { cause: err }));
          return;
        }
        if (opts.heartbeats && reply.ok === true && typeof reply.pending === "string") {
          clearTimeout(timer);
          timer = setTimeout(expire, timeoutMs);
          continue;
        }
        answered = true;
        clearTimeout(timer);
        c.end();
        resolve(reply);
      }
    });
    c.once("error", (err) => {
      clearTimeout(timer);
      reject(connectError(socketPath, err));
    });
    c.once("close", () => {
      clearTimeout(timer);
      if (!answered) reject(closedError(socketPath));
    });
  });
}

/**
 * Why a client could not talk to the daemon: one message and one error code for every command
 * (`oom`, `events`), so the same problem reads the same whichever command met it. `hint`, a
 * command's own next step, goes on a line of its own after that message.
 */
export function connectError(socketPath: string, err: Error, hint?: string): OomkitError {
  const code = (err as Error & { code?: string }).code;
  const next = hint === undefined ? "" : `\n${hint}`;
  if (code === "ENOENT" || code === "ECONNREFUSED" || code === "ENOTDIR") {
    return new OomkitError("E_NO_SUCH_PATH", `no oomkit daemon answers on ${socketPath} (is \`oomkit run\` running?)${next}`, { cause: err });
  }
  if (code === "EACCES" || code === "EPERM") return new OomkitError("E_PERMISSION", `${socketPath}: permission denied (only root may talk to the daemon)`, { cause: err });
  if (code === "EPIPE" || code === "ECONNRESET") return closedError(socketPath, err);
  return new OomkitError("E_HOST_IO", `${socketPath}: ${err.message}`, { cause: err });
}

/** The daemon accepted the connection and closed it before answering: it was full, or stopping. */
export function closedError(socketPath: string, cause?: Error): OomkitError {
  return new OomkitError("E_HOST_IO", `${socketPath}: the daemon closed the connection without answering (it serves at most ${MAX_CONNECTIONS} clients at once, or it is stopping)`, { cause });
}

const CLIENT_CODES: ReadonlySet<string> = new Set<ErrorCode>(["E_USAGE", "E_NO_SUCH_PATH", "E_CONFIG", "E_UNSUPPORTED", "E_PERMISSION", "E_TIMEOUT", "E_INTERNAL"]);

/** The error a client raises for a refusal from the daemon, keeping the daemon's error code. */
export function refusal(reply: Readonly<Record<string, unknown>>): OomkitError {
  const code = typeof reply.code === "string" && CLIENT_CODES.has(reply.code) ? (reply.code as ErrorCode) : "E_USAGE";
  return new OomkitError(code, `the daemon refused: ${String(reply.error)}`);
}
