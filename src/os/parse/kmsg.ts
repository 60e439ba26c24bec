/**
 * `/dev/kmsg` records and the OOM killer's lines in them. Pure functions of text.
 *
 * A read() of /dev/kmsg returns one record (Documentation/ABI/testing/dev-kmsg):
 *
 *     6,1234,5078901,-[,caller=T42];message with \x0a-style escapes
 *      SUBSYSTEM=...          (optional dictionary lines, each starting with a space)
 *
 * The header is prio (facility << 3 | level), sequence number, timestamp (µs since boot) and
 * flags ('-', or 'c' for a fragment a later record continues); newer kernels may append more
 * comma fields, which are ignored. The kernel escapes non-printable bytes and '\' as \xNN, so a
 * message is always one line.
 *
 * The OOM lines recognised (mm/oom_kill.c and mm/memcontrol.c, unchanged from 5.x through 6.12):
 *
 *     <comm> invoked oom-killer: gfp_mask=0x..(...), order=N, oom_score_adj=N
 *     oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,
 *         oom_memcg=/x,task_memcg=/x/y,task=comm,pid=N,uid=N        (global_oom instead of oom_memcg=)
 *     Memory cgroup out of memory: Killed process N (comm) total-vm:NkB, anon-rss:NkB,
 *         file-rss:NkB, shmem-rss:NkB, UID:N pgtables:NkB oom_score_adj:N
 *     Out of memory: Killed process ...   /   Out of memory (oom_kill_allocating_task): Killed ...
 *     Tasks in /x are going to be killed due to memory.oom.group set
 *     oom_reaper: reaped process N (comm), now anon-rss:NkB, file-rss:NkB, shmem-rss:NkB
 *     <message>: OOM victim N (comm) is already exiting. Skip killing the task
 *
 * Only what is certain is returned: a figure cut short is left out, never guessed.
 */
import { parseSigned, parseUnsigned } from "./text.js";

export interface KmsgRecord {
  readonly facility: number;
  readonly level: number;
  readonly seq: number;
  readonly tsUsec: number;
  /** '-' or 'c' (continued by the next record); '' when the header had none. */
  readonly flags: string;
  /** The message as the kernel escaped it (one line). */
  readonly message: string;
  /** Dictionary lines (" KEY=value"). */
  readonly dict: ReadonlyMap<string, string>;
}

export type KmsgParse =
  | { readonly ok: true; readonly record: KmsgRecord }
  | { readonly ok: false; readonly reason: string };

const HEADER = /^(\d{1,10}),(\d{1,19}),(\d{1,19})(?:,([^,;]*))?(?:,[^;]*)?;/;

/** Parses one record as a read() of /dev/kmsg returns it. Never throws. */
export function parseKmsgRecord(text: string): KmsgParse {
  const lines = text.split("\n");
  const head = lines[0] ?? "";
  const m = HEADER.exec(head);
  if (!m) return { ok: false, reason: head === "" ? "empty record" : "no kmsg header" };
  const prio = Number(m[1]);
  const seq = Number(m[2]);
  const tsUsec = Number(m[3]);
  if (!Number.isSafeInteger(seq) || !Number.isSafeInteger(tsUsec)) return { ok: false, reason: "header number out of range" };
  const dict = new Map<string, string>();
  for (const line of lines.slice(1)) {
    if (!line.startsWith(" ")) continue;
    const eq = line.indexOf("=");
    if (eq > 1) dict.set(line.slice(1, eq), line.slice(eq + 1));
  }
  return {
    ok: true,
    record: { facility: prio >> 3, level: prio & 7, seq, tsUsec, flags: m[4] ?? "", message: head.slice(m[0].length), dict },
  };
}

export interface KmsgText {
  readonly records: readonly KmsgRecord[];
  /** Lines that were neither a record header nor a dictionary line after one. */
  readonly skippedLines: number;
}

/**
 * Splits text holding many records (a recorded /dev/kmsg, or several reads joined) into records.
 * A line that is not a header and not a dictionary line of the record before is skipped and
 * counted. Never throws.
 */
export function parseKmsgText(text: string): KmsgText {
  const records: KmsgRecord[] = [];
  let skippedLines = 0;
  let current: string[] | undefined;
  const flush = () => {
    if (!current) return;
    const r = parseKmsgRecord(current.join("\n"));
    if (r.ok) records.push(r.record);
    else skippedLines += 1;
    current = undefined;
  };
  for (const line of text.split("\n")) {
    if (line === "") continue;
    if (line.startsWith(" ") && current) {
      current.push(line);
    } else if (HEADER.test(line)) {
      flush();
      current = [line];
    } else {
      flush();
      skippedLines += 1;
    }
  }
  flush();
  return { records, skippedLines };
}

/** Undoes the kernel's \xNN escaping (comm and cgroup names may hold any byte). */
export function unescapeKmsg(text: string): string {
  if (!text.includes("\\x")) return text;
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const hex = text[i] === "\\" && text[i + 1] === "x" ? text.slice(i + 2, i + 4) : "";
    if (/^[0-9a-fA-F]{2}$/.test(hex)) {
      bytes.push(parseInt(hex, 16));
      i += 3;
    } else {
      bytes.push(...Buffer.from(text[i] as string, "utf8"));
    }
  }
  return Buffer.from(bytes).toString("utf8");
}

/** "Killed process": the kernel's kill of one process. Figures in kB as printed. */
export interface OomKilledLine {
  readonly kind: "killed";
  /** "Out of memory", "Memory cgroup out of memory", "Out of memory (oom_kill_allocating_task)". */
  readonly message: string;
  readonly memcg: boolean;
  readonly pid: number;
  /** Undefined when the line was cut inside it. */
  readonly comm: string | undefined;
  readonly totalVmKb?: number;
  readonly anonRssKb?: number;
  readonly fileRssKb?: number;
  readonly shmemRssKb?: number;
  readonly uid?: number;
  readonly pgtablesKb?: number;
  readonly oomScoreAdj?: number;
}

/** The one-line summary of the OOM report. Fields absent from the line are undefined. */
export interface OomSummaryLine {
  readonly kind: "summary";
  readonly constraint: string;
  readonly nodemask?: string;
  readonly cpuset?: string;
  readonly memsAllowed?: string;
  /** The cgroup whose limit was hit; undefined for a global OOM (`global` true) or a cut line. */
  readonly oomMemcg?: string;
  readonly global: boolean;
  readonly taskMemcg?: string;
  readonly comm?: string;
  readonly pid?: number;
  readonly uid?: number;
  /** True when the line ends with the victim (task, pid, uid): nothing was cut. */
  readonly complete: boolean;
}

export type OomLine =
  | OomKilledLine
  | OomSummaryLine
  | { readonly kind: "invoked"; readonly comm: string; readonly oomScoreAdj?: number; readonly order?: number }
  | { readonly kind: "group"; readonly cgroup: string }
  | { readonly kind: "reaped"; readonly pid: number; readonly comm: string; readonly anonRssKb?: number; readonly fileRssKb?: number; readonly shmemRssKb?: number }
  | { readonly kind: "exiting"; readonly message: string; readonly pid: number; readonly comm: string };

const KILLED = /^(Out of memory(?: \(oom_kill_allocating_task\))?|Memory cgroup out of memory): Killed process (\d+) \((.*)$/;
type FigureKey = "totalVmKb" | "anonRssKb" | "fileRssKb" | "shmemRssKb" | "uid" | "pgtablesKb" | "oomScoreAdj";
const FIGURES: ReadonlyArray<readonly [FigureKey, RegExp]> = [
  ["totalVmKb", /(?:^|[ ,])total-vm:(\d+)kB(?=,|$| )/],
  ["anonRssKb", /(?:^|[ ,])anon-rss:(\d+)kB(?=,|$| )/],
  ["fileRssKb", /(?:^|[ ,])file-rss:(\d+)kB(?=,|$| )/],
  ["shmemRssKb", /(?:^|[ ,])shmem-rss:(\d+)kB(?=,|$| )/],
  ["uid", /(?:^|[ ,])UID:(\d+)(?= )/],
  ["pgtablesKb", /(?:^|[ ,])pgtables:(\d+)kB(?=,|$| )/],
];
const SCORE_ADJ = / oom_score_adj:(-?\d{1,4})$/;

/** Recognises an OOM line in a kmsg message (escaped, as read). Undefined for any other line. */
export function parseOomLine(message: string): OomLine | undefined {
  const text = message.replace(/\s+$/, "");
  if (text.startsWith("oom-kill:")) return parseSummary(text);
  let m = KILLED.exec(text);
  if (m) return parseKilled(m[1] as string, m[2] as string, m[3] as string);
  m = /^(.{1,64}) invoked oom-killer: (.*)$/.exec(text);
  if (m) {
    const rest = m[2] as string;
    const adj = /oom_score_adj=(-?\d+)$/.exec(rest);
    const order = /order=(-?\d+),/.exec(rest);
    return {
      kind: "invoked",
      comm: unescapeKmsg(m[1] as string),
      ...(adj ? { oomScoreAdj: Number(adj[1]) } : {}),
      ...(order ? { order: Number(order[1]) } : {}),
    };
  }
  m = /^Tasks in (.+) are going to be killed due to memory\.oom\.group set$/.exec(text);
  if (m) return { kind: "group", cgroup: unescapeKmsg(m[1] as string) };
  m = /^oom_reaper: reaped process (\d+) \((.*)\), now (.*)$/.exec(text);
  if (m) {
    const pid = parseUnsigned(m[1] as string);
    if (pid === undefined) return undefined;
    const figures = figuresOf(m[3] as string);
    return { kind: "reaped", pid, comm: unescapeKmsg(m[2] as string), ...pick(figures, ["anonRssKb", "fileRssKb", "shmemRssKb"]) };
  }
  m = /^(.*): OOM victim (\d+) \((.*)\) is already exiting\. Skip killing the task$/.exec(text);
  if (m) {
    const pid = parseUnsigned(m[2] as string);
    if (pid === undefined) return undefined;
    return { kind: "exiting", message: m[1] as string, pid, comm: unescapeKmsg(m[3] as string) };
  }
  return undefined;
}

function parseKilled(message: string, pidText: string, rest: string): OomKilledLine | undefined {
  const pid = parseUnsigned(pidText);
  if (pid === undefined || pid === 0) return undefined;
  // comm may hold spaces and ')': it ends at the last ") total-vm:", or at a final ')' when the
  // line was cut before the figures. Anything else is a line cut inside the comm.
  let comm: string | undefined;
  let figures = "";
  const end = rest.lastIndexOf(") total-vm:");
  if (end >= 0) {
    comm = rest.slice(0, end);
    figures = rest.slice(end + 2);
  } else if (rest.endsWith(")")) {
    comm = rest.slice(0, -1);
  }
  return {
    kind: "killed",
    message,
    memcg: message.startsWith("Memory cgroup"),
    pid,
    comm: comm === undefined ? undefined : unescapeKmsg(comm),
    ...figuresOf(figures),
  };
}

function figuresOf(text: string): Partial<Record<FigureKey, number>> {
  const out: Partial<Record<FigureKey, number>> = {};
  for (const [key, re] of FIGURES) {
    const m = re.exec(text);
    const n = m ? parseUnsigned(m[1] as string) : undefined;
    if (n !== undefined) out[key] = n;
  }
  const adj = SCORE_ADJ.exec(text);
  const n = adj ? parseSigned(adj[1] as string) : undefined;
  if (n !== undefined && n >= -1000 && n <= 1000) out.oomScoreAdj = n;
  return out;
}

function pick<K extends string>(from: Partial<Record<string, number>>, keys: readonly K[]): Partial<Record<K, number>> {
  const out: Partial<Record<K, number>> = {};
  for (const k of keys) if (from[k] !== undefined) out[k] = from[k];
  return out;
}

/**
 * The summary is printed in pieces (pr_cont): constraint and nodemask, then cpuset and
 * mems_allowed (CONFIG_CPUSETS only), then oom_memcg=… or global_oom, task_memcg=…, then
 * task, pid and uid. Values run to the next known key; the comm (which any process can set to
 * anything) is taken from the end: between ",task=" and the last ",pid=".
 */
function parseSummary(text: string): OomSummaryLine | undefined {
  const head = /^oom-kill:constraint=([A-Z_]+)(?=,|$)/.exec(text);
  if (!head) return undefined;
  let body = text.slice(head[0].length);
  let tail: { comm: string; pid: number; uid: number } | undefined;
  const taskAt = body.indexOf(",task=", body.indexOf(",task_memcg=") + 1);
  if (taskAt >= 0) {
    const m = /^,task=(.*),pid=(\d+),uid=(\d+)$/.exec(body.slice(taskAt));
    const pid = m ? parseUnsigned(m[2] as string) : undefined;
    const uid = m ? parseUnsigned(m[3] as string) : undefined;
    if (m && pid !== undefined && uid !== undefined) tail = { comm: unescapeKmsg(m[1] as string), pid, uid };
    body = body.slice(0, taskAt);
  }
  const keys = [",nodemask=", ",cpuset=", ",mems_allowed=", ",oom_memcg=", ",global_oom", ",task_memcg="] as const;
  const found = new Map<string, string>();
  let pos = 0;
  const starts = keys.map((k) => {
    const i = body.indexOf(k, pos);
    if (i >= 0) pos = i + k.length;
    return i;
  });
  keys.forEach((k, i) => {
    const at = starts[i] as number;
    if (at < 0) return;
    const next = starts.slice(i + 1).find((s) => s >= 0) ?? body.length;
    found.set(k, body.slice(at + k.length, next));
  });
  const val = (k: (typeof keys)[number]) => {
    const v = found.get(k);
    return v === undefined ? undefined : unescapeKmsg(v);
  };
  return {
    kind: "summary",
    constraint: head[1] as string,
    ...opt("nodemask", val(",nodemask=")),
    ...opt("cpuset", val(",cpuset=")),
    ...opt("memsAllowed", val(",mems_allowed=")),
    ...opt("oomMemcg", val(",oom_memcg=")),
    global: found.has(",global_oom"),
    ...opt("taskMemcg", val(",task_memcg=")),
    ...(tail ? { comm: tail.comm, pid: tail.pid, uid: tail.uid } : {}),
    complete: tail !== undefined,
  };
}

function opt<K extends string>(key: K, value: string | undefined): { [P in K]?: string } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: string };
}
