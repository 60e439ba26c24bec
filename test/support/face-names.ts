/** The runtime names of the policy face (src/policy/face.ts), sorted: what a policy file can import. */
export const FACE_RUNTIME: readonly string[] = [
  "OOM_SCORE_ADJ_MAX",
  "OOM_SCORE_ADJ_MIN",
  "PREFERENCE_ORDER",
  "ROOT_CGROUP",
  "cgroupContains",
  "cgroupPath",
  "definePolicy",
  "describeMark",
  "isPolicy",
  "markIgnoredBecause",
  "markValue",
  "parentCgroup",
  "scopeOwnerOf",
];
