/**
 * The page's own script, run in the browser after uPlot. It reads the report's data from the
 * page's JSON block and builds every element with textContent and attributes, never with
 * markup, so names and reasons from the input cannot become markup. It is plain ES5-style
 * JavaScript in a string (the build has no DOM types); the browser test runs it.
 *
 * Contract with the page (render.ts): a <script type="application/json" id="report-data">, a
 * <main id="lanes">, and a <dialog id="record"> holding <div id="record-body"> and a close button.
 * When every lane has drawn (its kill markers placed), the body gets data-ready="1".
 */
export const CLIENT_SCRIPT = String.raw`
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("report-data").textContent);
  var MiB = 1048576;
  var PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac", "#86bcb6"];
  var KILL = { oomkit: "#d62728", kernel: "#6a1b9a" };
  var lo = Infinity, hi = -Infinity;
  data.lanes.forEach(function (l) { lo = Math.min(lo, l.timesMs[0]); hi = Math.max(hi, l.timesMs[l.timesMs.length - 1]); });
  var width = Math.max(480, Math.min(1100, document.documentElement.clientWidth - 48));

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function mib(v) { return v === null || v === undefined ? "-" : (v / MiB).toFixed(v < 10 * MiB ? 1 : 0) + " MiB"; }
  function pct(v) { return v === null || v === undefined ? "-" : v.toFixed(1) + " %"; }
  function secs(l) { return l.timesMs.map(function (t) { return t / 1000; }); }
  function flat(n, v) { var a = []; for (var i = 0; i < n; i++) a.push(v); return a; }

  /** Vertical lines at the lane's kills, drawn on each of its charts. */
  function killLines(markers) {
    return { hooks: { draw: [function (u) {
      var ctx = u.ctx;
      ctx.save();
      markers.forEach(function (m) {
        var x = Math.round(u.valToPos(m.atMs / 1000, "x", true));
        ctx.strokeStyle = KILL[m.by];
        ctx.lineWidth = 2 * devicePixelRatio;
        ctx.setLineDash(m.by === "kernel" ? [6 * devicePixelRatio, 4 * devicePixelRatio] : []);
        ctx.beginPath();
        ctx.moveTo(x, u.bbox.top);
        ctx.lineTo(x, u.bbox.top + u.bbox.height);
        ctx.stroke();
      });
      ctx.restore();
    }] } };
  }

  function thresholdSeries(lane, chart, n, fmt) {
    var series = [], values = [];
    lane.thresholds.filter(function (t) { return t.chart === chart; }).forEach(function (t) {
      series.push({ label: "threshold: " + t.label, stroke: "#555", dash: [4, 4], width: 1, value: function () { return fmt(t.value); } });
      values.push(flat(n, t.value));
    });
    return { series: series, values: values };
  }

  var MEM_INCRS = [16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536].map(function (m) { return m * MiB; });

  function chart(host, title, lane, series, values, yFmt, height, y, extra) {
    var box = el("figure", "chart");
    box.appendChild(el("figcaption", null, title));
    host.appendChild(box);
    var opts = {
      width: width, height: height,
      cursor: { sync: { key: "oomkit" } },
      scales: { x: { time: false, range: [lo / 1000, hi / 1000] }, y: { range: y.range } },
      axes: [{ label: "seconds", labelSize: 20 }, { values: function (u, vals) { return vals.map(yFmt); }, size: 70, incrs: y.incrs }],
      series: [{ label: "t (s)" }].concat(series),
      plugins: [killLines(lane.markers)].concat(extra || [])
    };
    return new uPlot(opts, [secs(lane)].concat(values), box);
  }

  /** Memory in use per cgroup, stacked: each band is drawn as the running sum, top of the stack first. */
  function memoryChart(host, lane, markerPlugin) {
    var n = lane.timesMs.length, sums = [], running = flat(n, 0);
    lane.cgroups.forEach(function (c) {
      running = running.map(function (v, i) { return v + c.currentBytes[i]; });
      sums.push(running);
    });
    var series = [], values = [];
    for (var i = lane.cgroups.length - 1; i >= 0; i--) {
      (function (c, k) {
        var color = PALETTE[k % PALETTE.length];
        series.push({ label: c.cgroup, stroke: color, fill: color + "cc", width: 1,
          value: function (u, v, si, idx) { return idx === null ? "-" : mib(c.currentBytes[idx]); } });
        values.push(sums[k]);
      })(lane.cgroups[i], i);
    }
    if (lane.memUnavailableBytes) {
      series.push({ label: "MemTotal - MemAvailable", stroke: "#111", dash: [2, 3], width: 1.5, value: function (u, v) { return mib(v); } });
      values.push(lane.memUnavailableBytes);
    }
    series.push({ label: "MemTotal", stroke: "#000", width: 1, value: function () { return mib(lane.memTotalBytes); } });
    values.push(flat(n, lane.memTotalBytes));
    var th = thresholdSeries(lane, "memory", n, mib);
    return chart(host, "Memory in use per cgroup (stacked)", lane, series.concat(th.series), values.concat(th.values), mib, 240,
      { range: [0, lane.memTotalBytes * 1.05], incrs: MEM_INCRS }, markerPlugin);
  }

  function swapChart(host, lane) {
    var n = lane.timesMs.length;
    var th = thresholdSeries(lane, "swap", n, mib);
    var series = [{ label: "swap used", stroke: "#1f77b4", fill: "#1f77b433", value: function (u, v) { return mib(v); } },
      { label: "SwapTotal", stroke: "#000", width: 1, value: function () { return mib(lane.swapTotalBytes); } }];
    return chart(host, "Swap", lane, series.concat(th.series), [lane.swapUsedBytes, flat(n, lane.swapTotalBytes)].concat(th.values), mib, 160,
      { range: [0, lane.swapTotalBytes * 1.05], incrs: MEM_INCRS });
  }

  /** Stall per sample interval in percent, from the cumulative total= counters. */
  function share(totals, times) {
    return totals.map(function (v, i) {
      if (i === 0) return null;
      return Math.max(0, Math.min(100, ((v - totals[i - 1]) / ((times[i] - times[i - 1]) * 1000)) * 100));
    });
  }

  function psiChart(host, lane) {
    var n = lane.timesMs.length;
    var th = thresholdSeries(lane, "psi", n, pct);
    var series = [{ label: "some", stroke: "#ff7f0e", value: function (u, v) { return pct(v); } },
      { label: "full", stroke: "#d62728", fill: "#d6272833", value: function (u, v) { return pct(v); } }];
    return chart(host, "Memory pressure (PSI, % of each interval)", lane, series.concat(th.series),
      [share(lane.psiSomeTotalUsec, lane.timesMs), share(lane.psiFullTotalUsec, lane.timesMs)].concat(th.values), pct, 180,
      { range: function (u, min, max) { return [0, Math.min(100, Math.max(10, max * 1.1))]; } });
  }

  /**
   * One button per kill above the lane's charts, at its time on the shared axis: a plugin of the
   * lane's first chart, placed again at each of its draws (uPlot lays out after construction).
   */
  function markerStrip(strip, lane) {
    var buttons = lane.markers.map(function (m, i) {
      var b = el("button", "marker " + m.by, (m.by === "kernel" ? "kernel: " : "oomkit: ") + m.label);
      b.type = "button";
      b.title = m.label + " at " + (m.atMs / 1000).toFixed(1) + " s";
      b.style.top = ((i % 3) * 24) + "px";
      b.setAttribute("data-at-ms", String(m.atMs));
      b.addEventListener("click", function () { openRecord(lane, m); });
      strip.appendChild(b);
      return b;
    });
    if (lane.markers.length === 0) strip.appendChild(el("p", "none", "No kill in this run."));
    strip.style.height = (Math.max(1, Math.min(3, lane.markers.length)) * 24) + "px";
    return { hooks: { draw: [function (u) {
      var left = u.over.getBoundingClientRect().left - strip.getBoundingClientRect().left;
      buttons.forEach(function (b, i) { b.style.left = (left + u.valToPos(lane.markers[i].atMs / 1000, "x")) + "px"; });
      drawn.add(lane);
      if (drawn.size === data.lanes.length) document.body.setAttribute("data-ready", "1");
    }] } };
  }
  var drawn = new Set();

  function table(head, rows) {
    var t = el("table"), tr = el("tr");
    head.forEach(function (h) { tr.appendChild(el("th", null, h)); });
    t.appendChild(tr);
    rows.forEach(function (r) {
      var row = el("tr");
      r.forEach(function (c) { row.appendChild(el("td", null, c === undefined || c === null ? "" : c)); });
      t.appendChild(row);
    });
    return t;
  }

  function target(a) {
    if (a.kind === "kill-task") return "pid " + a.pid + " (" + a.comm + ")" + (a.cgroup ? " in " + a.cgroup : "");
    if (a.kind === "remove-files") return (a.paths || []).join(", ");
    return a.cgroup + (a.kind === "reclaim" ? " (" + mib(a.bytes) + ")" : "");
  }

  function facts(dl, pairs) {
    pairs.forEach(function (p) {
      if (p[1] === undefined || p[1] === null || p[1] === "") return;
      dl.appendChild(el("dt", null, p[0]));
      dl.appendChild(el("dd", null, p[1]));
    });
  }

  function openRecord(lane, m) {
    var body = document.getElementById("record-body");
    body.textContent = "";
    body.appendChild(el("h2", null, (m.by === "kernel" ? "Kernel OOM kill: " : "oomkit: ") + m.label));
    body.appendChild(el("p", "where", lane.name + ", at " + (m.atMs / 1000).toFixed(2) + " s"));
    var ep = m.episode;
    if (!ep) {
      body.appendChild(el("p", null, "No episode record was written for this kill."));
    } else {
      var dl = el("dl");
      var kk = ep.kernelKill || {};
      facts(dl, [["episode", ep.id], ["kind", ep.kind + " (" + ep.mode + ")"], ["scope", ep.scope], ["cause", ep.cause.message],
        ["trigger", ep.cause.trigger], ["handled by", ep.policy === null ? "none" : ep.policy], ["decision", ep.decision ? ep.decision.path : ""],
        ["dropped", ep.dropped ? ep.dropped.reason : ""], ["victim", kk.comm !== undefined ? kk.comm + " (pid " + kk.pid + ")" : ""],
        ["victim cgroup", kk.cgroup], ["limit hit in", kk.oomMemcg], ["seen by", (kk.seenBy || []).join(", ")],
        ["decision ms", ep.times.decisionMs], ["action ms", ep.times.actionMs]]);
      body.appendChild(dl);
      body.appendChild(el("h3", null, "Policy chain"));
      body.appendChild(table(["policy", "attached to", "outcome", "reason", "ms", "verdicts"], ep.chain.map(function (c) {
        return [c.policy, c.attachedTo === null ? "(default)" : c.attachedTo, c.outcome, c.reason || c.error || "", c.durationMs,
          c.verdicts.map(function (v) { return (v.ok ? "ok " : "refused ") + v.action.kind + " " + target(v.action) + (v.reason ? ": " + v.reason : ""); }).join("; ")];
      })));
      body.appendChild(el("h3", null, "Candidates (" + ep.candidates.length + " of " + ep.candidatesTotal + ")"));
      body.appendChild(table(["policy", "rank", "kind", "pid", "comm", "cgroup", "score", "note"], ep.candidates.map(function (c) {
        return [c.policy, c.rank, c.kind, c.pid, c.comm, c.cgroup, c.score, c.skipped ? "skipped: " + c.skipped : c.note];
      })));
      body.appendChild(el("h3", null, "Actions"));
      body.appendChild(table(["action", "target", "reason", "ok", "freed", "error"], ep.actions.map(function (a) {
        return [a.action.kind, target(a.action), a.action.reason, String(a.ok), a.freedBytes !== undefined ? mib(a.freedBytes) : String(a.freed), a.error];
      })));
      var raw = el("details"), sum = el("summary", null, "The record as written (JSON)");
      raw.appendChild(sum);
      raw.appendChild(el("pre", null, JSON.stringify(ep, null, 2)));
      body.appendChild(raw);
    }
    var d = document.getElementById("record");
    if (!d.open) d.showModal();
  }

  var main = document.getElementById("lanes");
  data.lanes.forEach(function (lane) {
    var sec = el("section", "lane");
    sec.appendChild(el("h2", null, lane.name));
    if (lane.notes && lane.notes.length) {
      var ul = el("ul", "notes");
      lane.notes.forEach(function (n) { ul.appendChild(el("li", null, n)); });
      sec.appendChild(ul);
    }
    var strip = el("div", "markers");
    sec.appendChild(strip);
    main.appendChild(sec);
    memoryChart(sec, lane, markerStrip(strip, lane));
    if (lane.swapTotalBytes > 0) swapChart(sec, lane);
    psiChart(sec, lane);
  });
  document.getElementById("record-close").addEventListener("click", function () { document.getElementById("record").close(); });
})();
`;
