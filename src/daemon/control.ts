/**
 * The control socket: a unix socket that only root can use (the file is created 0600 in a 0700
 * folder). One JSON object per line each way. Requests:
 *   {"op":"status"}                                  → {"ok":true,"status":{...}}
 *   {"op":"oom","scope":"/x","reason":"..."}          → {"ok":true,"record":{...}} | {"ok":true,"skipped":"why"}
 * The report pipeline adds its own ops (events) through `handlers`.
 */
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import { OomkitError } from "../errors.js";
import type { Logger } from "../log.js";

export type ControlHandler = (request: Record<string, unknown>, reply: (message: unknown) => void, socket: net.Socket) => Promise<void> | void;

/** Requests larger than this are refused: the socket is local, but still parses untrusted text. */
const MAX_LINE_BYTES = 64 * 1024;

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
    // A socket left by a crashed run: remove it only if nothing answers on it.
    if (fs.existsSync(socketPath)) {
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

function serve(socket: net.Socket, handlers: Readonly<Record<string, ControlHandler>>, log: Logger): void {
  let buf = "";
  const reply = (m: unknown) => {
    if (!socket.destroyed) socket.write(`${JSON.stringify(m)}\n`);
  };
  socket.setEncoding("utf8");
  socket.on("error", () => socket.destroy());
  socket.on("data", (chunk: string) => {
    buf += chunk;
    if (buf.length > MAX_LINE_BYTES) {
      reply({ ok: false, error: "request too large" });
      socket.destroy();
      return;
    }
    let nl: number;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (line.trim() === "") continue;
      let req: Record<string, unknown>;
      try {
        const parsed: unknown = JSON.parse(line);
        if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new Error("not an object");
        req = parsed as Record<string, unknown>;
      } catch {
        reply({ ok: false, error: "each request is one JSON object on one line" });
        continue;
      }
      const handler = typeof req.op === "string" ? handlers[req.op] : undefined;
      if (!handler) {
        reply({ ok: false, error: `unknown op ${JSON.stringify(req.op)}; known: ${Object.keys(handlers).join(", ")}` });
        continue;
      }
      Promise.resolve(handler(req, reply, socket)).catch((err: unknown) => {
        log.warn(`control request ${String(req.op)} failed: ${(err as Error).message}`);
        reply({ ok: false, error: (err as Error).message });
      });
    }
  });
}

/** A client: sends one request and resolves with the first reply line. */
export async function request(socketPath: string, req: Record<string, unknown>, timeoutMs = 30_000): Promise<Record<string, unknown>> {
  return await new Promise((resolve, reject) => {
    const c = net.connect(socketPath);
    let buf = "";
    const timer = setTimeout(() => {
      c.destroy();
      reject(new OomkitError("E_TIMEOUT", `no answer from ${socketPath} in ${timeoutMs} ms`));
    }, timeoutMs);
    c.setEncoding("utf8");
    c.once("connect", () => c.write(`${JSON.stringify(req)}\n`));
    c.on("data", (chunk: string) => {
      buf += chunk;
      const nl = buf.indexOf("\n");
      if (nl < 0) return;
      clearTimeout(timer);
      c.end();
      try {
        resolve(JSON.parse(buf.slice(0, nl)) as Record<string, unknown>);
      } catch (err) {
        reject(new OomkitError("E_INTERNAL", `a reply that is not JSON from ${socketPath}`, { cause: err }));
      }
    });
    c.once("error", (err) => {
      clearTimeout(timer);
      reject(connectError(socketPath, err));
    });
  });
}

/** Why a client could not talk to the daemon: one message and one error code for every command. */
export function connectError(socketPath: string, err: Error, hint = ""): OomkitError {
  const code = (err as Error & { code?: string }).code;
  if (code === "ENOENT" || code === "ECONNREFUSED") return new OomkitError("E_NO_SUCH_PATH", `no oomkit daemon answers on ${socketPath} (is \`oomkit run\` running?${hint})`, { cause: err });
  if (code === "EACCES" || code === "EPERM") return new OomkitError("E_PERMISSION", `${socketPath}: permission denied (only root may talk to the daemon)`, { cause: err });
  return new OomkitError("E_HOST_IO", `${socketPath}: ${err.message}`, { cause: err });
}
