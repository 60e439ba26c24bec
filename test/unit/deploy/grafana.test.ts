/**
 * deploy/grafana/oomkit.json: every query names metrics oomkit exports — read from the metrics
 * registry the daemon serves, not from a list kept by hand — and only labels those metrics carry;
 * and the dashboard shows what docs/operations.md promises (episodes and kills by policy and
 * cause, kernel kills, decision latency, the daemon's footprint).
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { fileURLToPath } from "node:url";
import { Metrics } from "../../../src/report/metrics.js";

const FILE = fileURLToPath(new URL("../../../../deploy/grafana/oomkit.json", import.meta.url));

/** Labels Prometheus adds to every scraped series (the target's), and a histogram bucket's bound. */
const TARGET_LABELS = ["instance", "job"];

interface Exported {
  /** Series name → the labels its metric carries. */
  readonly series: ReadonlyMap<string, readonly string[]>;
}

async function exported(): Promise<Exported> {
  const m = new Metrics();
  const series = new Map<string, readonly string[]>();
  for (const { name, type } of await m.registry.getMetricsAsJSON()) {
    const labels = (m.registry.getSingleMetric(name) as unknown as { labelNames?: readonly string[] }).labelNames ?? [];
    series.set(name, labels);
    if (String(type) === "histogram") {
      series.set(`${name}_bucket`, [...labels, "le"]);
      series.set(`${name}_sum`, labels);
      series.set(`${name}_count`, labels);
    }
  }
  return { series };
}

type Json = unknown;

/** Every PromQL text in the dashboard, with where it is: panel targets, variables, annotations. */
function queries(dash: Json): { where: string; expr: string }[] {
  const out: { where: string; expr: string }[] = [];
  const d = dash as { panels?: Json[]; templating?: { list?: Json[] }; annotations?: { list?: Json[] } };
  const walk = (p: Json): void => {
    const panel = p as { title?: string; targets?: { expr?: string }[]; panels?: Json[] };
    for (const t of panel.targets ?? []) out.push({ where: `panel "${panel.title}"`, expr: String(t.expr) });
    for (const c of panel.panels ?? []) walk(c);
  };
  for (const p of d.panels ?? []) walk(p);
  for (const v of d.templating?.list ?? []) {
    const t = v as { name?: string; type?: string; query?: string | { query?: string }; definition?: string };
    if (t.type !== "query") continue;
    const q = typeof t.query === "string" ? t.query : t.query?.query;
    for (const e of [q, t.definition]) if (e) out.push({ where: `variable ${t.name}`, expr: e });
  }
  for (const a of d.annotations?.list ?? []) {
    const t = a as { name?: string; expr?: string };
    if (t.expr) out.push({ where: `annotation ${t.name}`, expr: t.expr });
  }
  return out;
}

/** Label names a PromQL text uses: in matchers `{a="x", b=~"y"}`, in `by (...)`/`without (...)`, in label_values(). */
function labelsUsed(expr: string): string[] {
  const out: string[] = [];
  for (const m of expr.matchAll(/\{([^}]*)\}/g)) for (const l of (m[1] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)/g)) out.push(l[1] as string);
  for (const m of expr.matchAll(/\b(?:by|without)\s*\(([^)]*)\)/g)) out.push(...(m[1] ?? "").split(",").map((s) => s.trim()).filter(Boolean));
  for (const m of expr.matchAll(/label_values\([^,]+,\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)/g)) out.push(m[1] as string);
  return out;
}

describe("deploy/grafana/oomkit.json", () => {
  const dash = JSON.parse(fs.readFileSync(FILE, "utf8")) as Json;
  const all = queries(dash);

  test("every query names only metrics oomkit exports, and labels those metrics carry", async () => {
    const { series } = await exported();
    assert.ok(all.length >= 15, `${all.length} queries`);
    for (const { where, expr } of all) {
      const names = [...expr.matchAll(/\b(oomkit_[a-z0-9_]+)\b/g)].map((m) => m[1] as string);
      assert.ok(names.length > 0, `${where}: ${expr} names no oomkit metric`);
      for (const n of names) assert.ok(series.has(n), `${where}: ${n} is not a series oomkit exports`);
      const carried = new Set([...TARGET_LABELS, ...names.flatMap((n) => series.get(n) ?? [])]);
      for (const l of labelsUsed(expr)) assert.ok(carried.has(l), `${where}: label ${l} is on none of ${names.join(", ")}`);
    }
  });

  test("the check itself catches a metric that is not exported and a label a metric lacks", async () => {
    const { series } = await exported();
    assert.equal(series.has("oomkit_kills"), false);
    assert.ok(series.has("oomkit_signal_to_decision_seconds_bucket"));
    assert.deepEqual(labelsUsed('sum by (le, kind) (rate(x{instance=~"$i", mode!="x"}[5m]))').sort(), ["instance", "kind", "le", "mode"]);
    assert.equal((series.get("oomkit_kills_total") ?? []).includes("cause"), false, "kills carry no cause: episodes do");
  });

  test("it shows what the issue asks: episodes and kills by policy and cause, kernel kills, decision latency, footprint", () => {
    const text = all.map((q) => q.expr).join("\n");
    assert.match(text, /sum by \(policy\) \(increase\(oomkit_episodes_total/);
    assert.match(text, /sum by \(cause\) \(increase\(oomkit_episodes_total/);
    assert.match(text, /sum by \(policy, target\) \(increase\(oomkit_kills_total\{[^}]*kind!="kernel"/);
    assert.match(text, /oomkit_kills_total\{[^}]*kind="kernel"/);
    for (const h of ["signal_to_decision", "decision_to_kill", "kill_to_freed", "policy_duration"]) assert.match(text, new RegExp(`histogram_quantile\\(0\\.99, sum by \\(le, [a-z]+\\) \\(rate\\(oomkit_${h}_seconds_bucket`));
    for (const f of ["oomkit_process_resident_memory_bytes", "oomkit_process_heap_used_bytes", "oomkit_process_cpu_seconds_total"]) assert.ok(text.includes(f), f);
  });

  test("panels name a title and the dashboard's Prometheus variable", () => {
    const d = dash as { panels: { type: string; title?: string; datasource?: { uid?: string } }[] };
    for (const p of d.panels.filter((x) => x.type !== "row")) {
      assert.ok(p.title, "a title");
      assert.equal(p.datasource?.uid, "${datasource}", `${p.title}: the datasource variable`);
    }
  });
});
