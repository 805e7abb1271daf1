"""The page's inline stylesheet and script (no CDN: report hosts may be offline)."""

from __future__ import annotations

__all__ = ["PAGE_SCRIPT", "PAGE_STYLE"]

PAGE_STYLE = """
:root { --fg: #1d1d1f; --muted: #6e6e73; --line: #d9d9de; --bg: #fff; --soft: #f5f5f7; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg);
       background: var(--bg); margin: 0 auto; padding: 16px 24px 48px; max-width: 1600px; }
h1 { font-size: 22px; margin: 8px 0; display: inline-block; margin-right: 12px; }
h2 { font-size: 18px; margin: 28px 0 10px; border-bottom: 1px solid var(--line);
     padding-bottom: 4px; }
nav { margin: 8px 0 0; color: var(--muted); }
nav a { color: #0072B2; text-decoration: none; }
.state { font-size: 12px; padding: 2px 8px; border-radius: 10px; vertical-align: 4px; }
.state.finished { background: #d8f3e8; color: #00583f; }
.state.running { background: #fff1cc; color: #7a5400; }
dl.facts { display: flex; flex-wrap: wrap; gap: 4px 24px; margin: 6px 0; }
dl.facts div { display: flex; gap: 6px; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { border-bottom: 1px solid var(--line); padding: 5px 9px; text-align: right;
         vertical-align: top; }
thead th { background: var(--soft); position: sticky; top: 0; z-index: 1; white-space: nowrap; }
tbody th { text-align: left; white-space: nowrap; }
caption { text-align: left; font-weight: 600; padding: 6px 0; }
td.best { font-weight: 700; }
td.bad { color: #b00020; font-weight: 700; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 6px; }
.note, .muted { color: var(--muted); }
.note { font-size: 12px; }
.charts { display: flex; flex-wrap: wrap; gap: 8px 24px; }
.charts figure { margin: 0; }
svg.chart { font: 12px system-ui, sans-serif; max-width: 100%; height: auto; }
svg .title { font-weight: 600; font-size: 13px; }
svg .label { text-anchor: end; }
svg .tick { text-anchor: middle; fill: var(--muted); font-size: 11px; }
svg .unit { text-anchor: end; fill: var(--muted); font-size: 11px; }
svg .value { font-size: 11px; }
svg .muted { fill: var(--muted); }
svg .grid { stroke: #e8e8ec; }
table.categories { margin-bottom: 16px; }
table.failures td, table.failures th { text-align: left; }
table.failures td:last-child { font-family: ui-monospace, monospace; font-size: 12px; }
.filters { display: flex; gap: 10px; align-items: center; margin-bottom: 8px; }
.filters input { padding: 4px 8px; width: 320px; }
table.grid td { text-align: left; white-space: nowrap; }
table.grid thead th { text-align: left; }
thead th:first-child { text-align: left; }
table.grid th.prompt { white-space: normal; min-width: 220px; max-width: 320px; font-weight: 400; }
table.grid th.prompt p { margin: 0 0 4px; }
table.grid th.prompt small { color: var(--muted); }
table.grid figure { margin: 0 6px 6px 0; display: inline-block; vertical-align: top;
                    white-space: normal; }
table.grid img { width: 140px; height: auto; image-rendering: auto; display: block;
                 border-radius: 3px; background: var(--soft); }
table.grid figcaption { font-size: 11px; color: var(--muted); max-width: 140px; }
figure.failed div, .missing { width: 140px; height: 90px; display: flex; align-items: center;
       justify-content: center; flex-direction: column; background: #fde8ec; color: #b00020;
       border-radius: 3px; font-weight: 600; }
table.grid td.top { background: #eaf7f1; box-shadow: inset 3px 0 0 #009E73; }
figure.failed figcaption { color: #b00020; word-break: break-word; }
.missing { background: var(--soft); color: var(--muted); }
"""

# Filters the image grid by free text and by category; reads only the data-* attributes.
PAGE_SCRIPT = """
(function () {
  var input = document.getElementById("filter");
  var select = document.getElementById("category");
  var shown = document.getElementById("shown");
  if (!input || !select) { return; }
  var rows = Array.prototype.slice.call(document.querySelectorAll("table.grid tbody tr"));
  function apply() {
    var text = input.value.trim().toLowerCase();
    var category = select.value;
    var count = 0;
    rows.forEach(function (row) {
      var ok = (!text || row.dataset.search.indexOf(text) >= 0) &&
               (!category || row.dataset.category === category);
      row.hidden = !ok;
      if (ok) { count += 1; }
    });
    shown.textContent = count + " of " + rows.length + " prompts";
  }
  input.addEventListener("input", apply);
  select.addEventListener("change", apply);
  apply();
}());
"""
