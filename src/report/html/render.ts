/**
 * `oomkit simulate --report`: the input (./input.ts) as one self-contained HTML page. The page
 * fetches nothing: uPlot's script and stylesheet, the page's own script and the data are all
 * inside it. Text from the input reaches the page two ways only: escaped as HTML (the title),
 * or inside a JSON block whose `<`, `>`, `&` and line separators are \u-escaped, so no name or
 * reason can close the block or open a tag; the page's script then sets it as textContent. A
 * Content-Security-Policy allows no network and no script but the page's own two.
 */
import { crypto } from "../../os/lazy-builtins.js";
import { chartAssets } from "./assets.js";
import { checkReportInput } from "./check.js";
import { CLIENT_SCRIPT } from "./client.js";
import type { ReportInput } from "./input.js";

export type { ReportInput, Lane, Marker, Threshold, CgroupSeries, Samples } from "./input.js";

const HTML_ESCAPES: Readonly<Record<string, string>> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

/** Text for an HTML text node or a quoted attribute. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c] as string);
}

/** JSON that is safe inside a <script> element: nothing in it can end the element or open a comment. */
export function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** A trusted script's text for inline use: `</script` inside it (in a string or comment) would end the element. */
function inlineScript(js: string): string {
  return js.replace(/<\/(script)/gi, "<\\/$1");
}

const PAGE_STYLE = `
body{font:14px/1.4 system-ui,sans-serif;margin:16px 24px;color:#222}
h1{font-size:20px;margin:0 0 4px}.sub{color:#666;margin:0 0 12px}
.lane{border-top:2px solid #ccc;padding-top:8px;margin-bottom:24px}.lane h2{font-size:16px;margin:0 0 4px}
.markers{position:relative;height:72px}.markers .none{color:#666;margin:0}
.marker{position:absolute;transform:translateX(-50%);max-width:220px;overflow:hidden;text-overflow:ellipsis;white-space:nowrap;
font-size:12px;border:1px solid;border-radius:4px;background:#fff;cursor:pointer;padding:1px 6px}
.marker.oomkit{border-color:#d62728;color:#d62728}.marker.kernel{border-color:#6a1b9a;color:#6a1b9a;border-style:dashed}
figure.chart{margin:0 0 8px}figcaption{font-weight:600;font-size:13px}
dialog{max-width:min(1100px,95vw);max-height:90vh;overflow:auto}dialog h2{font-size:16px;margin-top:0}
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px}dt{color:#666}dd{margin:0;word-break:break-all}
table{border-collapse:collapse;font-size:12px;margin-bottom:8px}td,th{border:1px solid #ddd;padding:2px 6px;text-align:left;vertical-align:top;word-break:break-word}
pre{font-size:11px;white-space:pre-wrap;word-break:break-all;background:#f6f6f6;padding:6px}
.legend{color:#666;font-size:12px}`;

/** The report page for `input`; throws E_USAGE when the input is inconsistent (./check.ts). */
export function renderReport(input: ReportInput): string {
  checkReportInput(input);
  const assets = chartAssets();
  const scripts = [inlineScript(assets.script), inlineScript(CLIENT_SCRIPT)];
  // Only these two scripts may run (by hash): markup smuggled in past the escaping would stay inert.
  const hashes = scripts.map((s) => `'sha256-${crypto().createHash("sha256").update(s).digest("base64")}'`).join(" ");
  const sub = input.subtitle ? `<p class="sub">${escapeHtml(input.subtitle)}</p>` : "";
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src ${hashes}; style-src 'unsafe-inline'; img-src data:">
<title>${escapeHtml(`oomkit simulate: ${input.title}`)}</title>
<style>${assets.style}${PAGE_STYLE}</style>
</head><body>
<h1>${escapeHtml(input.title)}</h1>${sub}
<p class="legend">Solid red lines and buttons: oomkit's kills; dashed purple: the kernel's OOM killer. Click a button for its episode record.</p>
<main id="lanes"></main>
<dialog id="record"><button type="button" id="record-close">Close</button><div id="record-body"></div></dialog>
<script type="application/json" id="report-data">${scriptJson({ lanes: input.lanes })}</script>
<script>${scripts[0]}</script>
<script>${scripts[1]}</script>
</body></html>
`;
}
