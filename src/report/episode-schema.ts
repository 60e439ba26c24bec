/**
 * The episode record as a reader must find it: a schema for records that come back from disk
 * or a socket, where anything may have been written. It checks what readers rely on (the fields
 * `oomkit events` prints and consumers key on) and lets fields added within the schema version
 * through, as docs/episode.md promises.
 */
import * as z from "zod";
import { EPISODE_SCHEMA, type EpisodeRecord } from "../engine/episode.js";
import { onFirstUse } from "../on-first-use.js";

const action = () => z.looseObject({ kind: z.enum(["kill-task", "kill-cgroup", "reclaim", "remove-files"]), reason: z.string() });

const episodeRecordSchema = onFirstUse(() =>
  z.looseObject({
    schema: z.literal(EPISODE_SCHEMA),
    id: z.string().min(1),
    mode: z.enum(["explain", "dry-run", "live"]),
    kind: z.enum(["system", "cgroup", "pressure", "manual", "kernel"]),
    scope: z.string(),
    cause: z.looseObject({ kind: z.string(), trigger: z.string(), message: z.string(), figures: z.record(z.string(), z.union([z.number(), z.string()])) }),
    source: z.string(),
    policy: z.string().nullable(),
    handled: z.boolean(),
    chain: z.array(
      z.looseObject({
        policy: z.string(),
        outcome: z.string(),
        durationMs: z.number(),
        verdicts: z.array(z.looseObject({ ok: z.boolean() })),
        asks: z.number().optional(),
        refused: z.array(z.looseObject({ action: action(), ok: z.boolean(), reason: z.string() })).optional(),
      }),
    ),
    candidates: z.array(z.looseObject({ policy: z.string(), kind: z.enum(["task", "cgroup"]) })),
    candidatesTotal: z.number(),
    plan: z.array(action()),
    actions: z.array(z.looseObject({ action: action(), ok: z.boolean(), freed: z.boolean(), dryRun: z.boolean() })),
    times: z.looseObject({ declaredAt: z.string(), decidedAt: z.string(), finishedAt: z.string(), decisionMs: z.number(), actionMs: z.number() }),
    kernelKill: z.looseObject({ seenBy: z.array(z.string()) }).optional(),
    unreadable: z.array(z.looseObject({ path: z.string(), error: z.string() })).optional(),
    unreadableTotal: z.number().optional(),
    decision: z.looseObject({ path: z.enum(["standing", "fresh"]) }).optional(),
  }),
);

export type RecordCheck = { readonly ok: true; readonly record: EpisodeRecord } | { readonly ok: false; readonly error: string };

/** Checks a value read back as an episode record; says what is wrong with it when it is not one. */
export function checkEpisodeRecord(value: unknown): RecordCheck {
  const r = episodeRecordSchema().safeParse(value);
  if (r.success) return { ok: true, record: r.data as unknown as EpisodeRecord };
  const i = r.error.issues[0];
  return { ok: false, error: `${i && i.path.length > 0 ? i.path.map(String).join(".") : "record"}: ${i?.message ?? "invalid"}` };
}
