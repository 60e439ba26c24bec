/**
 * A wall-clock time in the ISO 8601 form `Date.prototype.toISOString` writes
 * (`2026-11-30T23:59:59.123Z`), from the UTC fields alone. The same text, without what
 * toISOString costs the daemon: on first use it pages ~0.9 MiB of ICU's time-zone data into
 * the process (measured on Node 20: RssFile +960 KiB against +128 for the UTC getters), which
 * the idle daemon paid for every record it drafts ahead (BENCHMARKS.md, "Footprint (native)").
 * Years outside 0000-9999 (written with a sign and six digits) and invalid times are left to
 * toISOString, which writes or throws as always.
 */
export function isoTime(ms: number): string {
  const d = new Date(ms);
  const year = d.getUTCFullYear();
  if (!(year >= 0 && year <= 9999)) return d.toISOString();
  const two = (n: number) => (n < 10 ? `0${n}` : String(n));
  const ms3 = d.getUTCMilliseconds();
  return (
    `${String(year).padStart(4, "0")}-${two(d.getUTCMonth() + 1)}-${two(d.getUTCDate())}` +
    `T${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())}.${ms3 < 10 ? `00${ms3}` : ms3 < 100 ? `0${ms3}` : ms3}Z`
  );
}
