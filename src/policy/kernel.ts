/**
 * `kernel`: the kernel's own choice. Every task is ranked by oom_badness (rss + swap + page
 * tables, plus oom_score_adj × totalpages / 1000) in the engine's default selection loop, which
 * passes over what the kernel would never pick (pid 1, kernel threads, oom_score_adj -1000,
 * exiting tasks) and what oomkit protects. It is the built-in default at the end of every chain,
 * under default_policy_deadline_ms: cut short, the loop's choice so far is carried out.
 */
import { definePolicy } from "./face.js";

export const kernelPolicy = definePolicy({
  name: "kernel",
  description: "the kernel's badness: the task whose kill frees the most, honouring oom_score_adj",
  evaluateTask: () => "default",
});

export default kernelPolicy;
