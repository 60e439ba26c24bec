/**
 * The configuration file's format (TOML), as a zod schema. Parsing through it gives the
 * validated plain form: every default filled in, sizes in bytes, cgroup paths normalised. Every
 * table is strict: an unknown key is an error, with the nearest known key suggested.
 *
 * What needs other inputs is checked later: policy names and options need the policy registry
 * (compile.ts), and the cross-entry rules (one attachment per cgroup) and warnings need the
 * file's text to name places (load.ts). Every key, default and reason is in
 * docs/configuration.md; keep the two in step.
 */
import { posix } from "node:path";
import * as z from "zod";
import { DEFAULT_DEFAULT_POLICY_DEADLINE_MS, DEFAULT_POLICY_DEADLINE_MS } from "../engine/engine.js";
import { DEFAULT_OMIT_XATTRS, DEFAULT_TRUSTED_UIDS } from "../engine/verify.js";
import { type CgroupPath, cgroupPath } from "../os/paths.js";
import { parseSize } from "./size.js";
import { didYouMean } from "./suggest.js";
import { onFirstUse } from "../on-first-use.js";

/**
 * Separates the per-key messages of one `unrecognized_keys` issue, so that load.ts can report
 * (and place) each unknown key on its own. zod raises one issue for all of an object's unknown keys.
 */
export const UNKNOWN_KEY_SEPARATOR = "\u0000";

/** A table whose unknown keys are errors ("unknown key "dryrun" (did you mean "dry_run"?)"). */
export function strict<T extends z.ZodRawShape>(shape: T) {
  const known = Object.keys(shape);
  return z.strictObject(shape, {
    error: (iss) =>
      iss.code === "unrecognized_keys"
        ? iss.keys.map((k) => `unknown key "${k}"${didYouMean(k, known)}`).join(UNKNOWN_KEY_SEPARATOR)
        : undefined,
  });
}

// ---- values ---------------------------------------------------------------------------------

const GLOB_CHARS = /[*?]/;

/** Why a string is not a cgroup path ("/" or "/a/b", relative to the cgroup v2 mount), or undefined. */
function cgroupPathProblem(s: string, allowGlob: boolean): string | undefined {
  if (!s.startsWith("/")) return `a cgroup path starts with "/" (the root of the cgroup v2 hierarchy), got "${s}"`;
  if (s.split("/").some((p) => p === "..")) return `a cgroup path may not contain "..": "${s}"`;
  if (/\s$|^\s/.test(s) || s.includes("\n")) return `a cgroup path may not begin or end with spaces: "${s}"`;
  if (!allowGlob && GLOB_CHARS.test(s)) return `"${s}": patterns ("*", "?") are allowed in trigger cgroups only; here name one cgroup`;
  if (allowGlob) {
    const bad = s.split("/").find((p) => p.includes("**") && p !== "**");
    if (bad !== undefined) return `"${s}": "**" must be a whole path component (as in "/a/**/b")`;
  }
  return undefined;
}

export const cgroupPathSchema = z
  .string()
  .check((ctx) => {
    const why = cgroupPathProblem(ctx.value, false);
    if (why) ctx.issues.push({ code: "custom", message: why, input: ctx.value });
  })
  .transform((s): CgroupPath => cgroupPath(s));

/** A number of bytes, or a string like "512M" (powers of 1024). */
export const sizeSchema = z.unknown().transform((v, ctx): number => {
  const r = parseSize(v);
  if (r.ok) return r.bytes;
  ctx.issues.push({ code: "custom", message: r.error, input: v });
  return z.NEVER;
});

/**
 * Trees that are never a tmpfs to clear: the root itself and the system's own folders. A
 * `tmpfs_roots` entry names a tmpfs mount (/dev/shm, /tmp, /run/user/UID) where removing a
 * policy's chosen files frees memory; anywhere else removal frees nothing and destroys data.
 */
const NEVER_TMPFS = ["/etc", "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/boot", "/proc", "/sys", "/root", "/home", "/var", "/opt", "/srv", "/run", "/dev"];

/**
 * Why a string is not an executable's path or pattern, or undefined. It is matched against the
 * path /proc/PID/exe shows, which is absolute and plain: anything else could never match.
 */
function executableProblem(s: string): string | undefined {
  if (!s.startsWith("/")) {
    const hint = s.includes("/") ? "" : "; a command name (comm) goes in commands";
    return `an executable is named by its absolute path, as /proc/PID/exe shows it (e.g. "/usr/sbin/sshd"); got "${s}"${hint}`;
  }
  const norm = posix.normalize(s);
  if (s === "/" || s.endsWith("/")) return `an executable is a file, not a folder: "${s}"`;
  if (norm !== s) return `must be a plain path ("${norm}"), got "${s}": /proc/PID/exe shows no "..", "." or "//"`;
  const bad = s.split("/").find((p) => p.includes("**") && p !== "**");
  if (bad !== undefined) return `"${s}": "**" must be a whole path component (as in "/opt/**/bin/app")`;
  if (s.endsWith(" (deleted)")) return `"${s}" can never match: a deleted executable matches no rule (the path no longer names what runs)`;
  return undefined;
}

const XATTR_NAMESPACES = ["user", "trusted", "security", "system"];

/** Policy files oomkit can load: TypeScript (transpiled on load) and JavaScript modules. */
export const POLICY_FILE_EXTENSIONS = [".ts", ".mts", ".js", ".mjs"] as const;

/** Defaults and their reasons: docs/configuration.md, "[kill]". */
export const KILL_DEFAULTS = {
  max_kills: 5,
  per_seconds: 60,
  post_action_delay_ms: 2_000,
  victim_timeout_ms: 10_000,
  sigterm_grace_ms: 0,
  kill_process_group: false,
} as const;

/** The kernel's bounds on a PSI trigger's window (kernel/sched/psi.c: 500 ms .. 10 s). */
export const PSI_WINDOW_MIN_MS = 500;
export const PSI_WINDOW_MAX_MS = 10_000;

/** Without CAP_SYS_RESOURCE, kernels from 6.5 accept only windows that are multiples of 2 s. */
export const PSI_UNPRIVILEGED_WINDOW_STEP_MS = 2_000;

/** The memory.events counters a trigger may watch. */
export const MEMORY_EVENTS = ["low", "high", "max", "oom", "oom_kill", "oom_group_kill"] as const;
export type MemoryEventName = (typeof MEMORY_EVENTS)[number];

/** The kinds of trigger; an entry has exactly one (mem_available and swap_free together are one). */
const TRIGGER_KINDS = ["psi", "mem_available / swap_free", "memory_events", "guard_band"] as const;

export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;

/** Defaults and their reasons: docs/configuration.md, "[report]". */
export const REPORT_DEFAULTS = {
  event_log: "/var/log/oomkit/oomkit.jsonl",
  event_log_max_bytes: 10 * 1024 * 1024,
  event_log_keep: 5,
  metrics_listen: "127.0.0.1:9464",
  kernel_kills: true,
  max_cgroup_labels: 100,
} as const;

// ---- the configuration's schema, built on first use ------------------------------------------

/**
 * The schema of a configuration file, built when a configuration is first checked and dropped
 * again once the daemon has settled and after each reload (forgetBuilt, ../on-first-use.ts): the
 * running daemon needs it only to check the next configuration, and the next reload builds it
 * again, the same schema. Kept, it is ~0.4 MiB of V8 heap with the policies' options schemas
 * (BENCHMARKS.md, "Footprint (native)").
 */
function buildConfigSchema() {
  /** A cgroup path, or a pattern of them: "*" and "?" within a component, "**" for any depth. */
  const cgroupPatternSchema = z
    .string()
    .check((ctx) => {
      const why = cgroupPathProblem(ctx.value, true);
      if (why) ctx.issues.push({ code: "custom", message: why, input: ctx.value });
    })
    .transform((s) => (GLOB_CHARS.test(s) ? `/${s.split("/").filter((p) => p !== "").join("/")}` : cgroupPath(s)));

  const percentSchema = z.number().min(0).max(100);
  const msSchema = z.number().int().nonnegative();
  const positiveMsSchema = z.number().int().positive();

  /** A JavaScript regular expression's source, checked by compiling it. */
  const regexSchema = z.string().check((ctx) => {
    try {
      new RegExp(ctx.value);
    } catch (err) {
      ctx.issues.push({ code: "custom", message: `not a valid regular expression: ${(err as Error).message}`, input: ctx.value });
    }
  });

  const absolutePathSchema = z.string().check((ctx) => {
    if (!ctx.value.startsWith("/")) ctx.issues.push({ code: "custom", message: `must be an absolute path, got "${ctx.value}"`, input: ctx.value });
  });

  const tmpfsRootSchema = absolutePathSchema.check((ctx) => {
    const p = ctx.value;
    if (!p.startsWith("/")) return;
    const norm = posix.normalize(p).replace(/(.)\/$/, "$1");
    if (norm !== p) ctx.issues.push({ code: "custom", message: `must be a plain path ("${norm}"), got "${p}"`, input: p });
    else if (p === "/" || NEVER_TMPFS.includes(p) || ["/etc/", "/usr/", "/boot/", "/proc/", "/sys/", "/bin/", "/sbin/", "/lib/", "/lib64/"].some((t) => p.startsWith(t))) {
      ctx.issues.push({ code: "custom", message: `"${p}" is not a tmpfs to clear: name a tmpfs mount such as /dev/shm, /tmp or /run/user/1000`, input: p });
    }
  });

  const executableSchema = z.string().check((ctx) => {
    const why = executableProblem(ctx.value);
    if (why) ctx.issues.push({ code: "custom", message: why, input: ctx.value });
  });

  /** A uid: what the kernel's uid_t holds, less (uid_t)-1, which means "no uid". */
  const uidSchema = z.number().int().min(0).max(0xffff_fffe);

  const xattrSchema = z.string().check((ctx) => {
    const ns = ctx.value.split(".")[0] ?? "";
    if (!XATTR_NAMESPACES.includes(ns) || ctx.value.length <= ns.length + 1) {
      ctx.issues.push({ code: "custom", message: `an extended attribute name is "<namespace>.<name>" with namespace ${XATTR_NAMESPACES.join(", ")}; got "${ctx.value}"`, input: ctx.value });
    }
  });

  const policyFileSchema = z.string().check((ctx) => {
    if (!POLICY_FILE_EXTENSIONS.some((e) => ctx.value.endsWith(e))) {
      ctx.issues.push({ code: "custom", message: `a policy file ends in ${POLICY_FILE_EXTENSIONS.join(", ")}; got "${ctx.value}"`, input: ctx.value });
    }
  });

  // ---- tables ---------------------------------------------------------------------------------

  const attachSchema = strict({
    cgroup: cgroupPathSchema,
    policy: z.string().min(1).optional(),
    file: policyFileSchema.optional(),
    /** Passed as it is to the policy's parseOptions. */
    options: z.record(z.string(), z.unknown()).optional(),
  }).superRefine(
    (a, ctx) => {
      if ((a.policy === undefined) === (a.file === undefined)) {
        ctx.addIssue({ code: "custom", message: 'give exactly one of policy = "<built-in name>" or file = "<path to a .ts/.js policy>"' });
      }
    },
    { when: () => true },
  );

  /**
   * Protections: what the verifier never lets a policy kill, and where files may be removed.
   * commands and executables spare only tasks of the trusted uids (engine/verify.ts, Protections).
   */
  const protectSchema = strict({
    cgroups: z.array(cgroupPathSchema).default([]),
    commands: z.array(regexSchema).default([]),
    executables: z.array(executableSchema).default([]),
    trusted_uids: z.array(uidSchema).default([...DEFAULT_TRUSTED_UIDS]),
    xattrs: z.array(xattrSchema).default([...DEFAULT_OMIT_XATTRS]),
    tmpfs_roots: z.array(tmpfsRootSchema).default([]),
  });

  const preKillHookSchema = strict({
    command: z
      .array(z.string().min(1))
      .min(1)
      .check((ctx) => {
        const prog = ctx.value[0];
        if (prog !== undefined && !prog.startsWith("/")) {
          ctx.issues.push({ code: "custom", message: `the hook's program must be an absolute path (no $PATH search as root), got "${prog}"`, input: ctx.value, path: [0] });
        }
      }),
    timeout_ms: z.number().int().min(1).max(60_000).default(1_000),
  });

  const killSchema = strict({
    max_kills: z.number().int().positive().default(KILL_DEFAULTS.max_kills),
    per_seconds: z.number().int().positive().default(KILL_DEFAULTS.per_seconds),
    post_action_delay_ms: msSchema.default(KILL_DEFAULTS.post_action_delay_ms),
    victim_timeout_ms: z.number().int().min(100).default(KILL_DEFAULTS.victim_timeout_ms),
    sigterm_grace_ms: msSchema.default(KILL_DEFAULTS.sigterm_grace_ms),
    kill_process_group: z.boolean().default(KILL_DEFAULTS.kill_process_group),
    pre_kill_hook: preKillHookSchema.optional(),
  });

  const psiSchema = strict({
    stall: z.enum(["some", "full"]),
    threshold_ms: positiveMsSchema,
    window_ms: z.number().int().min(PSI_WINDOW_MIN_MS).max(PSI_WINDOW_MAX_MS),
  }).superRefine((p, ctx) => {
    if (p.threshold_ms >= p.window_ms) {
      ctx.addIssue({ code: "custom", path: ["threshold_ms"], message: `the stall threshold (${p.threshold_ms} ms) must be less than the window (${p.window_ms} ms)` });
    }
  });

  const thresholdSchema = strict({
    below_percent: percentSchema.optional(),
    below_bytes: sizeSchema.optional(),
  }).superRefine(
    (t, ctx) => {
      if (t.below_percent === undefined && t.below_bytes === undefined) ctx.addIssue({ code: "custom", message: "give below_percent, below_bytes or both (the lower applies)" });
    },
    { when: () => true },
  );

  const guardBandSchema = strict({
    margin_bytes: sizeSchema.optional(),
    margin_percent: z.number().gt(0).lt(100).optional(),
  }).superRefine(
    (g, ctx) => {
      if ((g.margin_bytes === undefined) === (g.margin_percent === undefined)) ctx.addIssue({ code: "custom", message: "give exactly one of margin_bytes or margin_percent (of memory.max)" });
    },
    { when: () => true },
  );

  const triggerSchema = strict({
    /** Shown in logs and episode records; a name is made up from the trigger when absent. */
    name: z.string().min(1).optional(),
    cgroup: cgroupPatternSchema,
    psi: psiSchema.optional(),
    mem_available: thresholdSchema.optional(),
    swap_free: thresholdSchema.optional(),
    memory_events: z
      .array(z.enum(MEMORY_EVENTS))
      .min(1)
      .check((ctx) => {
        const dup = ctx.value.find((e, j) => ctx.value.indexOf(e) !== j);
        if (dup) ctx.issues.push({ code: "custom", message: `"${dup}" is listed twice`, input: ctx.value });
      })
      .optional(),
    guard_band: guardBandSchema.optional(),
    /** "Above the threshold for this long": the condition must hold this long before oomkit acts. */
    sustained_ms: positiveMsSchema.optional(),
  }).superRefine(
    (t, ctx) => {
      const has = {
        psi: t.psi !== undefined,
        "mem_available / swap_free": t.mem_available !== undefined || t.swap_free !== undefined,
        memory_events: t.memory_events !== undefined,
        guard_band: t.guard_band !== undefined,
      };
      const kinds = TRIGGER_KINDS.filter((k) => has[k]);
      if (kinds.length !== 1) {
        ctx.addIssue({ code: "custom", message: kinds.length === 0 ? `a trigger needs one of: ${TRIGGER_KINDS.join(", ")}` : `a trigger has one kind; this one has ${kinds.join(" and ")}: split it into several [[trigger]] entries` });
        return;
      }
      const cg = typeof t.cgroup === "string" ? t.cgroup : undefined;
      if (has["mem_available / swap_free"] && cg !== undefined && cg !== "/") {
        ctx.addIssue({ code: "custom", path: ["cgroup"], message: `mem_available and swap_free are figures of the whole machine: use cgroup = "/" (got "${cg}"); for a cgroup, use psi, memory_events or guard_band` });
      }
      if ((has.memory_events || has.guard_band) && cg === "/") {
        ctx.addIssue({ code: "custom", path: ["cgroup"], message: `the root cgroup has no memory.events or memory.max: ${has.guard_band ? "guard_band" : "memory_events"} needs a cgroup below "/"` });
      }
      if (t.sustained_ms !== undefined && (has.memory_events || has.guard_band)) {
        ctx.addIssue({ code: "custom", path: ["sustained_ms"], message: "sustained_ms applies to psi and mem_available / swap_free triggers; memory_events and guard_band fire on events" });
      }
    },
    { when: () => true },
  );

  /** "host:port" for the metrics endpoint, or "" for none. A host other than loopback is allowed but must be said. */
  const listenSchema = z.string().check((ctx) => {
    if (ctx.value === "") return;
    const m = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(ctx.value);
    if (!m || Number(m[2]) > 65535) ctx.issues.push({ code: "custom", message: `expected "host:port" (e.g. "127.0.0.1:9464") or "" for no metrics endpoint; got "${ctx.value}"`, input: ctx.value });
  });

  const reportSchema = strict({
    /** The durable JSON-lines episode log; "" for none. */
    event_log: z.union([z.literal(""), absolutePathSchema]).default(REPORT_DEFAULTS.event_log),
    event_log_max_bytes: sizeSchema.default(REPORT_DEFAULTS.event_log_max_bytes),
    event_log_keep: z.number().int().min(0).max(100).default(REPORT_DEFAULTS.event_log_keep),
    /** Prometheus metrics on this address; loopback by default; "" for none. */
    metrics_listen: listenSchema.default(REPORT_DEFAULTS.metrics_listen),
    /** Turn the kernel's own OOM kills (/dev/kmsg, memory.events.local, /proc/vmstat) into episode records. */
    kernel_kills: z.boolean().default(REPORT_DEFAULTS.kernel_kills),
    /** At most this many distinct cgroup paths as metric labels; the rest are "other". */
    max_cgroup_labels: z.number().int().min(1).max(10_000).default(REPORT_DEFAULTS.max_cgroup_labels),
  });

  return strict({
    /** Decide and log, but carry out nothing. */
    dry_run: z.boolean().default(false),
    /** How long one policy call may run before it is abandoned and the next policy runs. */
    policy_deadline_ms: z.number().int().min(1).max(10_000).default(DEFAULT_POLICY_DEADLINE_MS),
    /** How long the built-in default at the end of every chain may run, reading included, before it acts on its best so far. */
    default_policy_deadline_ms: z.number().int().min(1).max(60_000).default(DEFAULT_DEFAULT_POLICY_DEADLINE_MS),
    // On by default: the kernel suite's daemon scenarios run on the standing path (docs/operations.md).
    standing_decisions: z.boolean().default(true),
    /** "follow": shape the kernel's own OOM killer by the standing decisions (daemon/follow.ts). */
    kernel_fallback: z.enum(["off", "follow"]).default("off"),
    log_level: z.enum(LOG_LEVELS).default("info"),
    attach: z.array(attachSchema).default([]),
    protect: protectSchema.prefault({}),
    kill: killSchema.prefault({}),
    trigger: z.array(triggerSchema).default([]),
    report: reportSchema.prefault({}),
  });
}

export const configSchema = onFirstUse(buildConfigSchema);

/** The validated plain form of a configuration file. */
export type OomkitConfig = z.output<ReturnType<typeof configSchema>>;
export type AttachConfig = OomkitConfig["attach"][number];
export type TriggerConfig = OomkitConfig["trigger"][number];
export type ProtectConfig = OomkitConfig["protect"];
export type ReportConfig = OomkitConfig["report"];
export type KillConfig = OomkitConfig["kill"];
