"""report.html: summary table, charts, scores by category, failures, and the image grid.

Every piece of run data goes through ``html.escape``: prompts are user text and must
never become markup. Images are linked by paths relative to the report's folder, so
the page keeps working when the whole results folder is copied elsewhere.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any

from benchmark.metrics import Metric
from benchmark.report._assets import PAGE_SCRIPT, PAGE_STYLE
from benchmark.report._comparison import Comparison
from benchmark.report._comparison_html import comparison_html
from benchmark.report._format import format_number, format_text
from benchmark.report._grid import render_grid
from benchmark.report._summary import ModelSummary
from benchmark.report._summary_html import summary_columns, summary_table
from benchmark.report._svg import PALETTE, Series, bar_chart, strip_chart
from benchmark.report._tabular import reused_text

__all__ = ["render_html"]


def render_html(
    run: Mapping[str, Any],
    rows: Sequence[Mapping[str, Any]],
    summaries: Sequence[ModelSummary],
    categories: Mapping[str, Mapping[str, Mapping[str, Mapping[str, float | None]]]],
    generated_at: str,
    *,
    comparison: Comparison,
    results_dir: Path,
    out_dir: Path,
) -> str:
    """The whole page as one self-contained string (inline CSS, JS and SVG).

    ``categories`` is ``{metric: {axis: {category: {model: mean}}}}``.
    """
    shown = comparison.shown
    colors = {s.model: PALETTE[i % len(PALETTE)] for i, s in enumerate(summaries)}
    title = f"Benchmark run {run['id']}"
    body = [
        f"<header><h1>{escape(title)}</h1>{_facts(run, summaries, generated_at)}</header>",
        _nav(),
        '<section id="summary"><h2>Per model</h2>',
        summary_table(summaries, colors, summary_columns(shown)),
        "<p class=note>Scores, latency and throughput count successful images only. "
        "images/s = ok images ÷ summed generation latency (lease waits excluded). "
        "The best value of each column is in bold.</p></section>",
        comparison_html(comparison, summaries, colors),
        f'<section id="charts"><h2>Charts</h2>{_charts(rows, summaries, colors, shown)}</section>',
        '<section id="categories"><h2>Scores by category</h2>',
        *(
            _category_table(table, summaries, f"Mean {m.label} by {axis}", m.digits)
            for m in shown
            for axis, table in categories.get(m.name, {}).items()
        ),
        "</section>",
        f'<section id="failures">{_failures(rows)}</section>',
        '<section id="grid"><h2>Images by prompt</h2>',
        render_grid(
            rows,
            [s.model for s in summaries],
            shown,
            primary=comparison.rank_by,
            results_dir=results_dir,
            out_dir=out_dir,
        ),
        "</section>",
    ]
    return (
        "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{PAGE_STYLE}</style></head>\n<body>\n"
        + "\n".join(body)
        + f"\n<script>{PAGE_SCRIPT}</script>\n</body></html>\n"
    )


def _facts(run: Mapping[str, Any], summaries: Sequence[ModelSummary], generated_at: str) -> str:
    finished = run.get("finished_at")
    state = "finished" if finished else "running"
    facts = [
        ("config", run.get("config")),
        ("prompt sets", ", ".join(run["prompt_sets"])),
        ("models", ", ".join(run["models"])),
        ("started", run.get("started_at")),
        ("finished", finished or "still running (this page is a snapshot)"),
        ("images", f"{sum(s.ok for s in summaries)} ok, {sum(s.failed for s in summaries)} failed"),
        ("results reused", reused_text(run, sum(s.images for s in summaries))),
        ("report written", generated_at),
    ]
    items = "".join(
        f"<div><dt>{escape(k)}</dt><dd>{escape(str(v) if v is not None else '–')}</dd></div>"
        for k, v in facts
    )
    return f'<span class="state {state}">{state}</span><dl class=facts>{items}</dl>'


def _nav() -> str:
    links = [
        ("summary", "Per model"),
        ("leaderboard", "Leaderboard"),
        ("intervals", "Intervals"),
        ("wins", "Win rates"),
        ("pareto", "Quality against cost"),
        ("charts", "Charts"),
        ("categories", "By category"),
        ("failures", "Failures"),
        ("grid", "Images"),
    ]
    return "<nav>" + " · ".join(f'<a href="#{a}">{escape(t)}</a>' for a, t in links) + "</nav>"


def _charts(
    rows: Sequence[Mapping[str, Any]],
    summaries: Sequence[ModelSummary],
    colors: Mapping[str, str],
    shown: Sequence[Metric],
) -> str:
    def series(metric: str) -> list[Series]:
        return [
            Series(
                s.model,
                colors[s.model],
                [
                    float(r[metric])
                    for r in rows
                    if r["model"] == s.model
                    and r["status"] == "ok"
                    and isinstance(r.get(metric), int | float)
                ],
            )
            for s in summaries
        ]

    def score_chart(m: Metric) -> str:
        better = "higher" if m.higher_is_better else "lower"
        return strip_chart(
            f"{m.label[:1].upper()}{m.label[1:]} per image ({better}: {m.hint})",
            series(m.name),
            fmt=lambda v: f"{v:.{m.digits}f}",
        )

    charts = [
        *(score_chart(m) for m in shown),
        strip_chart(
            "Latency per image (lower is better)",
            series("latency_s"),
            unit=" s",
            fmt=lambda v: f"{v:.3g}",
        ),
        bar_chart(
            "Throughput, images/s (higher is better)",
            [(s.model, colors[s.model], s.images_per_s) for s in summaries],
            fmt=lambda v: f"{v:.3g}",
        ),
        _memory_chart(summaries, colors),
        bar_chart(
            "GPU energy per image, J (lower is better)",
            [(s.model, colors[s.model], s.energy_j_mean) for s in summaries],
            fmt=lambda v: f"{v:.3g}",
        ),
    ]
    legend = (
        "<p class=note>Dots: one image each. Bar: median (value at right). "
        "Diamond: mean. Hover for values.</p>"
    )
    return (
        legend + "<div class=charts>" + "".join(f"<figure>{c}</figure>" for c in charts) + "</div>"
    )


def _memory_chart(summaries: Sequence[ModelSummary], colors: Mapping[str, str]) -> str:
    # Plot in GiB (or MiB for small models) so the axis gets round ticks.
    known = [s.peak_mem_bytes_max for s in summaries if s.peak_mem_bytes_max is not None]
    unit, scale = ("GiB", 2**30) if known and max(known) >= 2**30 else ("MiB", 2**20)
    return bar_chart(
        f"Peak GPU memory, {unit} (lower is better)",
        [
            (
                s.model,
                colors[s.model],
                None if s.peak_mem_bytes_max is None else s.peak_mem_bytes_max / scale,
            )
            for s in summaries
        ],
        fmt=lambda v: f"{v:.3g}",
    )


def _category_table(
    table: Mapping[str, Mapping[str, float | None]],
    summaries: Sequence[ModelSummary],
    caption: str,
    digits: int,
) -> str:
    if not table:
        return ""
    names = [s.model for s in summaries]
    head = "".join(f"<th>{escape(n)}</th>" for n in names)
    lines = [
        f"<div class=scroll><table class=categories><caption>{escape(caption)}</caption>"
        f"<thead><tr><th>category</th>{head}</tr></thead><tbody>"
    ]
    for category, means in table.items():
        known = [v for v in means.values() if v is not None]
        low, high = (min(known), max(known)) if known else (0.0, 0.0)
        cells = []
        for name in names:
            value = means.get(name)
            # Shade each cell by its rank within the row: which model wins this category.
            share = 0.0 if value is None or high == low else (value - low) / (high - low)
            style = (
                f' style="background:rgba(0,158,115,{0.08 + 0.42 * share:.2f})"' if value else ""
            )
            cells.append(f"<td{style}>{escape(format_number(value, digits))}</td>")
        lines.append(f"<tr><th>{escape(category)}</th>{''.join(cells)}</tr>")
    lines.append("</tbody></table></div>")
    return "".join(lines)


def _failures(rows: Sequence[Mapping[str, Any]]) -> str:
    failed = [row for row in rows if row["status"] == "failed"]
    if not failed:
        return "<h2>Failures (0)</h2><p>None.</p>"
    lines = [
        f"<h2>Failures ({len(failed)})</h2><div class=scroll><table class=failures>",
        "<thead><tr><th>model</th><th>prompt set</th><th>prompt id</th><th>seed</th>"
        "<th>error</th></tr></thead><tbody>",
    ]
    for row in failed:
        cells = [
            row["model"],
            row["prompt_set"],
            row["prompt_id"],
            row.get("seed"),
            row.get("error") or "(no reason recorded)",
        ]
        lines.append(
            "<tr>" + "".join(f"<td>{escape(format_text(c))}</td>" for c in cells) + "</tr>"
        )
    lines.append("</tbody></table></div>")
    return "".join(lines)
