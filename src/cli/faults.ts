/**
 * What `explain --strict` and `check --root` fail on, read from an episode record: a policy that
 * threw, ran past its deadline, returned something that is not a plan, or whose targets the
 * verifier refused. And the attachments an OOM in a scope never consults (those attached below
 * it), which explain and check warn about: an author testing a policy at /jobs with an OOM of the
 * whole machine would otherwise see the default decide and think their policy ran.
 */
import type { Attachment } from "../engine/engine.js";
import type { EpisodeRecord } from "../engine/episode.js";
import { describeAction } from "../engine/plan.js";
import { type CgroupPath, cgroupContains } from "../os/paths.js";

export interface PolicyFault {
  readonly policy: string;
  readonly attachedTo: string | null;
  readonly kind: "threw" | "timeout" | "invalid" | "refused";
  readonly message: string;
}

const where = (attachedTo: string | null) => (attachedTo === null ? "the built-in default" : `attached to ${attachedTo}`);

/** Each fault of each policy the record's chain ran, in chain order. */
export function policyFaults(r: EpisodeRecord): PolicyFault[] {
  const out: PolicyFault[] = [];
  for (const c of r.chain) {
    const at = `policy ${c.policy} (${where(c.attachedTo)})`;
    switch (c.outcome) {
      case "threw":
      case "timeout":
      case "invalid":
        out.push({ policy: c.policy, attachedTo: c.attachedTo, kind: c.outcome, message: `${at} ${c.outcome === "invalid" ? "returned no valid plan" : c.outcome}: ${c.error ?? c.reason ?? "no detail"}` });
        break;
      default:
        break;
    }
    const refused = [...(c.refused ?? []), ...c.verdicts.filter((v) => !v.ok)];
    for (const v of refused) {
      out.push({ policy: c.policy, attachedTo: c.attachedTo, kind: "refused", message: `${at}: the verifier refused ${describeAction(v.action)}: ${v.reason ?? "no reason"}` });
    }
  }
  return out;
}

/** The attachments an OOM in `scope` does not consult: those strictly below it. */
export function attachedBelow(attachments: Iterable<Attachment>, scope: CgroupPath): Attachment[] {
  return [...attachments].filter((a) => a.cgroup !== scope && cgroupContains(scope, a.cgroup));
}

export function unconsultedWarning(a: Attachment, scope: string): string {
  return `policy ${a.policy.name} is attached to ${a.cgroup}, below ${scope}: an OOM in ${scope} goes to the policies attached at ${scope} and above, never to it (ask with --scope ${a.cgroup})`;
}
