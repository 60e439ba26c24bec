/**
 * One oomkit per machine: a lock taken at start-up, before anything acts, and held for the
 * process's life. It is flock(2) on a file in the state folder, so the kernel drops it when the
 * process dies, however it dies: a crash leaves no stale lock to clean up. The file holds the
 * holder's pid, for the message a second instance prints.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { OomkitError } from "../errors.js";
import { libc } from "./libc.js";

const LOCK_EX = 2;
const LOCK_NB = 4;

export class InstanceLock {
  readonly file: string;
  #fd: number | undefined;

  private constructor(file: string, fd: number) {
    this.file = file;
    this.#fd = fd;
  }

  /** Takes the lock, or throws E_USAGE naming the instance that holds it. */
  static acquire(file: string): InstanceLock {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    let fd: number;
    try {
      fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_NOFOLLOW, 0o600);
    } catch (err) {
      throw new OomkitError("E_PERMISSION", `cannot open the instance lock ${file}: ${(err as Error).message}`, { cause: err });
    }
    const c = libc();
    if (c.flock(fd, LOCK_EX | LOCK_NB) !== 0) {
      const errno = c.errnoName(c.errno());
      let holder = "";
      try {
        holder = fs.readFileSync(fd, "utf8").trim();
      } catch {
        /* unreadable: no pid to name */
      }
      fs.closeSync(fd);
      if (errno === "EWOULDBLOCK" || errno === "EAGAIN") {
        throw new OomkitError("E_USAGE", `another oomkit is running${/^\d+$/.test(holder) ? ` (pid ${holder})` : ""}: it holds ${file}; one oomkit per machine`);
      }
      throw new OomkitError("E_SYSCALL", `cannot lock ${file}: flock failed with ${errno}`);
    }
    fs.ftruncateSync(fd, 0);
    fs.writeSync(fd, `${process.pid}\n`, 0);
    return new InstanceLock(file, fd);
  }

  /** Lets the lock go (the process's exit does the same). */
  release(): void {
    if (this.#fd === undefined) return;
    fs.closeSync(this.#fd);
    this.#fd = undefined;
  }
}
