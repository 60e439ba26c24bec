/**
 * A container's memory request, read back from what kubelet writes (pure functions of numbers).
 *
 * kubelet sets each container's oom_score_adj (pkg/kubelet/qos/policy.go,
 * GetContainerOOMScoreAdjust): −997 for Guaranteed and node-critical pods, 1000 for BestEffort,
 * −998 for the pod's sandbox ("pause"), and for Burstable
 *
 *     adj = 1000 − ⌊1000 × request / capacity⌋, raised to 3 when below it, 999 when it is 1000,
 *
 * where capacity is the node's memory capacity (cadvisor's MemTotal). So ⌊1000 × request /
 * capacity⌋ = 1000 − adj: the request lies in [(1000 − adj), (1000 − adj + 1)) × capacity / 1000,
 * known to within capacity / 1000; at the clamps only one bound is known (adj 999: below 2 ×
 * capacity / 1000; adj 3: at least 997 × capacity / 1000). The estimate is the lower bound, so a
 * container is never credited with more request than it is known to have: its usage above request
 * is overstated by less than capacity / 1000, never understated.
 *
 * With the MemoryQoS feature gate on (cgroup v2), kubelet also writes the request itself as the
 * container's (and the pod's) memory.min: exact, and preferred when it is set.
 */

/** kubelet's values (pkg/kubelet/qos/policy.go). */
export const KUBELET_ADJ = {
  guaranteed: -997,
  sandbox: -998,
  bestEffort: 1000,
  burstableMin: 3,
  burstableMax: 999,
} as const;

export interface RequestEstimate {
  /** The request as counted: exact, or the lower bound of what kubelet's value allows. */
  readonly bytes: number;
  /** The most it can be (Infinity where unbounded). */
  readonly upToBytes: number;
  readonly exact: boolean;
  /** Where it came from, for the record. */
  readonly source: string;
}

/** The request implied by a Burstable container's oom_score_adj, or undefined for a value kubelet does not write for Burstable. */
export function requestFromOomScoreAdj(adj: number, capacityBytes: number): RequestEstimate | undefined {
  if (!Number.isInteger(adj) || adj < KUBELET_ADJ.burstableMin || adj > KUBELET_ADJ.burstableMax) return undefined;
  if (!(capacityBytes > 0)) return undefined;
  const per = capacityBytes / 1000;
  // 999 stands for ⌊1000 × request / capacity⌋ of 0 or 1; 3 for 997 and anything above.
  const lowK = adj === KUBELET_ADJ.burstableMax ? 0 : 1000 - adj;
  const highK = adj === KUBELET_ADJ.burstableMin ? Number.POSITIVE_INFINITY : 1000 - adj + 1;
  const bytes = Math.floor(lowK * per);
  const upToBytes = highK === Number.POSITIVE_INFINITY ? highK : Math.ceil(highK * per);
  const clamp = adj === KUBELET_ADJ.burstableMax || adj === KUBELET_ADJ.burstableMin ? ", at kubelet's clamp" : "";
  return { bytes, upToBytes, exact: false, source: `oom_score_adj ${adj}${clamp}` };
}

/** The request memory.min states (MemoryQoS), or undefined where it is unset (0) or unknown. */
export function requestFromMemoryMin(minBytes: number | undefined): RequestEstimate | undefined {
  if (minBytes === undefined || !Number.isFinite(minBytes) || minBytes <= 0) return undefined;
  return { bytes: minBytes, upToBytes: minBytes, exact: true, source: "memory.min" };
}

/** The sum of several containers' requests (a pod's, without memory.min of its own); unknown ones count as 0. */
export function sumRequests(parts: readonly (RequestEstimate | undefined)[]): RequestEstimate | undefined {
  const known = parts.filter((p): p is RequestEstimate => p !== undefined);
  if (known.length === 0) return undefined;
  const all = known.length === parts.length;
  return {
    bytes: known.reduce((s, p) => s + p.bytes, 0),
    upToBytes: all ? known.reduce((s, p) => s + p.upToBytes, 0) : Number.POSITIVE_INFINITY,
    exact: all && known.every((p) => p.exact),
    source: all ? `its containers' (${[...new Set(known.map((p) => p.source.replace(/ -?[0-9]+.*$/, "")))].join(", ")})` : `${known.length} of its ${parts.length} containers'`,
  };
}
