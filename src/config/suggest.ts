/** "Did you mean" for misspelt keys and names: the nearest candidate by edit distance, if close. */

function distance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0] ?? 0;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j] ?? 0;
      prev[j] = Math.min(up + 1, (prev[j - 1] ?? 0) + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length] ?? 0;
}

/** The closest candidate within a third of the word's length (at least 2 edits), or undefined. */
export function nearest(word: string, candidates: Iterable<string>): string | undefined {
  const w = word.toLowerCase().replace(/-/g, "_");
  let best: string | undefined;
  let bestD = Math.max(2, Math.floor(word.length / 3)) + 1;
  for (const c of candidates) {
    const cc = c.toLowerCase().replace(/-/g, "_");
    // "warning" for "warn", "max_kill" for "max_kills": a prefix either way is as good as one edit
    const d = cc.length >= 3 && w.length >= 3 && (w.startsWith(cc) || cc.startsWith(w)) ? 1 : distance(w, cc);
    if (d < bestD) {
      best = c;
      bestD = d;
    }
  }
  return best;
}

/** ` (did you mean "x"?)` or "". */
export function didYouMean(word: string, candidates: Iterable<string>): string {
  const n = nearest(word, candidates);
  return n === undefined ? "" : ` (did you mean "${n}"?)`;
}
