"""report.html's per-model table: one row per model, the best value of each column in bold."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from html import escape
from typing import Any

from benchmark.metrics import Metric
from benchmark.report._format import (
    PLACEMENT_MARK,
    format_gib,
    format_number,
    format_placement,
    format_seconds,
)
from benchmark.report._summary import ModelSummary

__all__ = ["Column", "summary_columns", "summary_table"]

# (header, summary key, formatter, True when higher is better / False lower / None neither)
Column = tuple[str, str, Callable[[Any], str], bool | None]


def _devices(value: Any) -> str:
    return ", ".join(value) if value else "n/a"


def _metric_columns(m: Metric) -> list[Column]:
    def fmt(value: Any) -> str:
        return format_number(value, m.digits)

    return [(f"{m.column} {kind}", f"{m.short}_{kind}", fmt, m.higher_is_better)
            for kind in ("mean", "median")]  # fmt: skip


_MEASURE_COLUMNS: tuple[Column, ...] = (
    ("latency p50", "latency_p50_s", format_seconds, False),
    ("latency p95", "latency_p95_s", format_seconds, False),
    ("images/s", "images_per_s", lambda v: format_number(v, 3), True),
    ("steps/s", "steps_per_s_mean", format_number, True),
    ("device", "devices", _devices, None),
    ("placement", "placement", str, None),  # drawn by format_placement
    ("resident memory", "resident_mem_bytes_max", format_gib, None),
    ("peak memory", "peak_mem_bytes_max", format_gib, False),
    ("lease wait", "lease_wait_s_total", format_seconds, None),
    ("yields", "yields_total", lambda v: "–" if v is None else str(v), None),
    ("energy/image", "energy_j_mean", lambda v: "–" if v is None else f"{v:.1f} J", False),
)


def summary_columns(shown: Sequence[Metric]) -> tuple[Column, ...]:
    """The table's columns after the model's name: counts, the shown metrics, the measures."""
    return (
        ("ok", "ok", str, None),
        ("failed", "failed", str, None),
        *(column for m in shown for column in _metric_columns(m)),
        *_MEASURE_COLUMNS,
    )


def summary_table(
    summaries: Sequence[ModelSummary], colors: Mapping[str, str], columns: Sequence[Column]
) -> str:
    """The table, and under it a note per model whose placement changed mid-run."""
    best: dict[str, Any] = {}
    table = [s.as_dict() for s in summaries]
    for _, attribute, _, higher in columns:
        values = [row[attribute] for row in table if row[attribute] is not None]
        if higher is not None and len(values) > 1:
            best[attribute] = max(values) if higher else min(values)
    head = "".join(f"<th>{escape(header)}</th>" for header, *_ in columns)
    lines = [f"<div class=scroll><table class=summary><thead><tr><th>model</th>{head}</tr></thead>"]
    lines.append("<tbody>")
    for s, row in zip(summaries, table, strict=True):
        cells = [
            f'<th><span class=swatch style="background:{colors[s.model]}"></span>'
            f"{escape(s.model)}</th>"
        ]
        for _, attribute, fmt, _ in columns:
            value = row[attribute]
            classes = []
            if attribute in best and value == best[attribute]:
                classes.append("best")
            if attribute == "failed" and value:
                classes.append("bad")
            cls = f' class="{" ".join(classes)}"' if classes else ""
            if attribute == "placement":
                title = f' title="{escape(s.placement_note)}"' if s.placement_note else ""
                shown = format_placement(s.placement, bool(s.placement_note))
                cells.append(f"<td{cls}{title}>{escape(shown)}</td>")
            else:
                cells.append(f"<td{cls}>{escape(fmt(value))}</td>")
        lines.append("<tr>" + "".join(cells) + "</tr>")
    lines.append("</tbody></table></div>")
    notes = [
        f"<li>{escape(s.model)}: {escape(s.placement_note)}</li>"
        for s in summaries
        if s.placement_note
    ]
    if notes:
        lines.append(
            f"<p class=note>{escape(PLACEMENT_MARK)} The placement changed mid-run:</p>"
            f"<ul class=placement-notes>{''.join(notes)}</ul>"
        )
    return "".join(lines)
