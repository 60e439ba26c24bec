/**
 * The service manager's notification protocol (sd_notify(3)), spoken without libsystemd: one
 * datagram of "KEY=value" lines to the socket named by NOTIFY_SOCKET. oomkit says READY=1 once it
 * watches (the unit's Type=notify), WATCHDOG=1 from its event loop at half the unit's WatchdogSec=
 * (so a loop held longer than WatchdogSec=, a wedged daemon, is killed and restarted), RELOADING=1
 * and READY=1 around a reload, and STOPPING=1 when it stops.
 */
import { UnixDgramSender } from "./unix-dgram.js";

export interface NotifyEnv {
  /** The socket to notify; undefined when not started by a service manager that listens. */
  readonly socket: string | undefined;
  /** The watchdog period in µs, when the manager asks this process for keep-alives. */
  readonly watchdogUsec: number | undefined;
  /** Why a variable that was set was not used (a malformed value, another process's watchdog). */
  readonly ignored: readonly string[];
}

/**
 * Reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID as sd_notify(3) and sd_watchdog_enabled(3)
 * define them: the watchdog is this process's only when WATCHDOG_PID is unset or names `pid`.
 * Pure: the environment and pid are passed in.
 */
export function parseNotifyEnv(env: Readonly<Record<string, string | undefined>>, pid: number): NotifyEnv {
  const ignored: string[] = [];
  let socket: string | undefined;
  const s = env.NOTIFY_SOCKET;
  if (s !== undefined && s !== "") {
    if ((s.startsWith("/") || s.startsWith("@")) && s.length >= 2) socket = s;
    else ignored.push(`NOTIFY_SOCKET=${JSON.stringify(s)} is not a unix socket address (vsock and others are not spoken)`);
  }
  let watchdogUsec: number | undefined;
  const w = env.WATCHDOG_USEC;
  if (w !== undefined && w !== "") {
    const usec = /^\d{1,15}$/.test(w) ? Number(w) : NaN;
    const forPid = env.WATCHDOG_PID;
    if (!(usec > 0)) ignored.push(`WATCHDOG_USEC=${JSON.stringify(w)} is not a positive number of microseconds`);
    else if (forPid !== undefined && forPid !== "" && forPid !== String(pid)) ignored.push(`WATCHDOG_PID=${forPid} is not this process (${pid})`);
    else watchdogUsec = usec;
  }
  return { socket, watchdogUsec, ignored };
}

/** One notification: "KEY=value" lines. A value may not hold a newline (it would start another key). */
export function notifyMessage(fields: Readonly<Record<string, string | number>>): Buffer {
  const lines: string[] = [];
  for (const [key, raw] of Object.entries(fields)) {
    if (!/^[A-Z_][A-Z0-9_]*$/.test(key)) throw new TypeError(`not a notification key: ${JSON.stringify(key)}`);
    lines.push(`${key}=${String(raw).replace(/\n/g, " ")}`);
  }
  return Buffer.from(`${lines.join("\n")}\n`, "utf8");
}

/** The keep-alive period: half the watchdog's, as sd_watchdog_enabled(3) advises. */
export function keepAliveMs(watchdogUsec: number): number {
  return Math.max(1, Math.floor(watchdogUsec / 2000));
}

export interface Notifier {
  /** Sends one notification; false when there is no manager to tell or it could not be told. */
  notify(fields: Readonly<Record<string, string | number>>): boolean;
  /** Starts the keep-alives (when asked for) on an unref'd timer; returns the period in ms or undefined. */
  startWatchdog(): number | undefined;
  stop(): void;
}

/**
 * The notifier for this process. Removes NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID from
 * `env` (sd_notify's unset_environment), so a pre-kill hook oomkit runs cannot speak for it.
 */
export function systemdNotifier(env: Record<string, string | undefined> = process.env, pid: number = process.pid, onIgnored: (why: string) => void = () => {}): Notifier {
  const parsed = parseNotifyEnv(env, pid);
  for (const why of parsed.ignored) onIgnored(why);
  for (const key of ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"]) delete env[key];
  let sender: UnixDgramSender | undefined;
  if (parsed.socket !== undefined) sender = new UnixDgramSender(parsed.socket);
  let timer: NodeJS.Timeout | undefined;
  const notify = (fields: Readonly<Record<string, string | number>>): boolean => (sender ? sender.send(notifyMessage(fields)).ok : false);
  return {
    notify,
    startWatchdog() {
      if (!sender || parsed.watchdogUsec === undefined || timer) return undefined;
      const ms = keepAliveMs(parsed.watchdogUsec);
      // The keep-alive rides the event loop itself: a loop held past WatchdogSec= sends none.
      timer = setInterval(() => notify({ WATCHDOG: 1 }), ms);
      timer.unref();
      notify({ WATCHDOG: 1 });
      return ms;
    },
    stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
      sender?.close();
      sender = undefined;
    },
  };
}
