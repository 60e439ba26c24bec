/**
 * Unix datagram sockets, which Node's `dgram` does not offer, through koffi: the way to systemd's
 * notification socket (sd_notify) and to the journal's native socket. The socket is non-blocking,
 * so a stalled reader (a journal that is not reading) never holds oomkit's event loop: a datagram
 * that does not fit is refused at once with EAGAIN, and the caller decides what to do with it.
 */
import { libc } from "./libc.js";

const AF_UNIX = 1;
const SOCK_DGRAM = 2;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
/** sizeof(sun_path) on Linux. */
const SUN_PATH_MAX = 108;

/**
 * struct sockaddr_un for `address`: a path, or an abstract name written "@name" (systemd's
 * notation, as in NOTIFY_SOCKET). Returns the bytes to pass and their length, or an error text.
 */
export function sockaddrUn(address: string): { ok: true; addr: Buffer; len: number } | { ok: false; error: string } {
  if (address.length < 2 || !(address.startsWith("/") || address.startsWith("@"))) {
    return { ok: false, error: `not a unix socket address (an absolute path or @name): ${JSON.stringify(address)}` };
  }
  const name = Buffer.from(address, "utf8");
  if (name.includes(0)) return { ok: false, error: "a unix socket address may not contain NUL" };
  // A path needs room for its terminating NUL; an abstract name is counted exactly.
  if (name.length > SUN_PATH_MAX - (address.startsWith("/") ? 1 : 0)) return { ok: false, error: `unix socket address longer than ${SUN_PATH_MAX} bytes` };
  const addr = Buffer.alloc(2 + SUN_PATH_MAX);
  addr.writeUInt16LE(AF_UNIX, 0);
  name.copy(addr, 2);
  if (address.startsWith("@")) addr[2] = 0;
  const len = 2 + name.length + (address.startsWith("/") ? 1 : 0);
  return { ok: true, addr, len };
}

export type SendResult = { ok: true } | { ok: false; errno: string };

interface DgramCalls {
  socket(domain: number, type: number, protocol: number): number;
  sendto(fd: number, buf: Buffer, len: number, flags: number, addr: Buffer, addrlen: number): number;
  bind(fd: number, addr: Buffer, addrlen: number): number;
  recv(fd: number, buf: Buffer, len: number, flags: number): number;
}

let calls: DgramCalls | undefined;
function dgramCalls(): DgramCalls {
  if (calls) return calls;
  const c = libc();
  const lib = c.koffi.load("libc.so.6");
  calls = {
    socket: lib.func("int socket(int domain, int type, int protocol)") as DgramCalls["socket"],
    sendto: lib.func("intptr_t sendto(int fd, const void *buf, size_t len, int flags, const void *addr, uint32_t addrlen)") as DgramCalls["sendto"],
    bind: lib.func("int bind(int fd, const void *addr, uint32_t addrlen)") as DgramCalls["bind"],
    recv: lib.func("intptr_t recv(int fd, void *buf, size_t len, int flags)") as DgramCalls["recv"],
  };
  return calls;
}

/** One unbound datagram socket that sends to one address; opened on first use, kept open. */
export class UnixDgramSender {
  readonly address: string;
  readonly #addr: Buffer;
  readonly #len: number;
  #fd = -1;

  /** Throws a TypeError when `address` is not a unix socket address (see sockaddrUn). */
  constructor(address: string) {
    const a = sockaddrUn(address);
    if (!a.ok) throw new TypeError(a.error);
    this.address = address;
    this.#addr = a.addr;
    this.#len = a.len;
  }

  /** Sends one datagram; never blocks, never throws for the peer's sake (ENOENT, ECONNREFUSED, EAGAIN...). */
  send(payload: Buffer): SendResult {
    const c = libc();
    const k = dgramCalls();
    if (this.#fd < 0) {
      this.#fd = k.socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (this.#fd < 0) return { ok: false, errno: c.errnoName(c.errno()) };
    }
    const n = k.sendto(this.#fd, payload, payload.length, 0, this.#addr, this.#len);
    if (n < 0) return { ok: false, errno: c.errnoName(c.errno()) };
    return { ok: true };
  }

  close(): void {
    if (this.#fd >= 0) libc().close(this.#fd);
    this.#fd = -1;
  }
}

/**
 * A bound, non-blocking datagram socket that takes what is sent to it: the reader side of the
 * protocols above, for tests and for `oomkit doctor`-style probes. receive() returns undefined
 * when nothing is queued.
 */
export class UnixDgramReceiver {
  readonly address: string;
  readonly #fd: number;
  readonly #buf = Buffer.alloc(256 * 1024);

  constructor(address: string) {
    const a = sockaddrUn(address);
    if (!a.ok) throw new TypeError(a.error);
    const c = libc();
    const k = dgramCalls();
    const fd = k.socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) throw new Error(`socket: ${c.errnoName(c.errno())}`);
    if (k.bind(fd, a.addr, a.len) < 0) {
      const e = c.errnoName(c.errno());
      c.close(fd);
      throw new Error(`bind ${address}: ${e}`);
    }
    this.address = address;
    this.#fd = fd;
  }

  receive(): Buffer | undefined {
    const c = libc();
    const n = dgramCalls().recv(this.#fd, this.#buf, this.#buf.length, 0);
    if (n < 0) {
      const e = c.errnoName(c.errno());
      if (e === "EAGAIN" || e === "EWOULDBLOCK") return undefined;
      throw new Error(`recv ${this.address}: ${e}`);
    }
    return Buffer.from(this.#buf.subarray(0, n));
  }

  close(): void {
    libc().close(this.#fd);
  }
}
