"""report.json, report.csv and report.md: the machine- and diff-friendly reports."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from typing import Any

from benchmark.records import row_columns
from benchmark.report._comparison import Comparison, comparison_markdown
from benchmark.report._format import (
    PLACEMENT_MARK,
    format_gib,
    format_number,
    format_placement,
    format_seconds,
)
from benchmark.report._summary import ModelSummary

__all__ = ["JSON_SCHEMA", "render_csv", "render_json", "render_markdown", "reused_text"]

# 2: categories by axis, the leaderboard, win rates and intervals.
JSON_SCHEMA = 2


def render_json(
    run: Mapping[str, Any],
    rows: Sequence[Mapping[str, Any]],
    summaries: Sequence[ModelSummary],
    categories: Mapping[str, Mapping[str, Mapping[str, Mapping[str, float | None]]]],
    generated_at: str,
    comparison: Comparison,
) -> str:
    """The whole report as one JSON document (strict: no NaN, every key a string)."""
    document = {
        "schema": JSON_SCHEMA,
        "generated_at": generated_at,
        "run": dict(run),
        "metrics": [m.__dict__ for m in comparison.shown],
        "summary": [summary.as_dict() for summary in summaries],
        **comparison.as_dict(),
        "categories": categories,
        "rows": [dict(row) for row in rows],
    }
    return json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False, default=str) + "\n"


def render_csv(rows: Sequence[Mapping[str, Any]]) -> str:
    """One line per generation: the agreed columns in order, then any extra keys sorted.

    None is written as an empty field; floats keep full precision. Text that a
    spreadsheet would run as a formula is defused as OWASP's CSV-injection advice
    says: every text cell is quoted, and one starting with ``=``, ``+``, ``-``,
    ``@``, a tab or a carriage return gets a leading ``'``, so it shows as the
    text it is.
    """
    agreed = row_columns()
    extra = sorted({key for row in rows for key in row} - set(agreed))
    columns = [*agreed, *extra]
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(columns)
    # Every text cell quoted (numbers bare), as OWASP advises: a carriage return or a
    # separator inside a prompt cannot end the cell early either.
    writer = csv.DictWriter(
        buffer, fieldnames=columns, lineterminator="\n", quoting=csv.QUOTE_NONNUMERIC
    )
    for row in rows:
        writer.writerow({key: _csv_cell(row.get(key)) for key in columns})
    return buffer.getvalue()


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    # Only text: a negative number is a number to every spreadsheet, not a formula.
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def render_markdown(
    run: Mapping[str, Any],
    rows: Sequence[Mapping[str, Any]],
    summaries: Sequence[ModelSummary],
    categories: Mapping[str, Mapping[str, Mapping[str, Mapping[str, float | None]]]],
    generated_at: str,
    comparison: Comparison,
) -> str:
    """A readable summary: run facts, the per-model table, the leaderboard, intervals,
    win rates, scores by category, failures."""
    shown = comparison.shown
    lines = [
        f"# Benchmark run {_cell(run['id'])}",
        "",
        f"- config: `{_cell(run.get('config'))}`",
        f"- prompt sets: {_cell(', '.join(run['prompt_sets']) or '–')}",
        f"- models: {_cell(', '.join(run['models']) or '–')}",
        f"- started: {_cell(run.get('started_at'))}",
        f"- finished: {_cell(run.get('finished_at') or 'still running')}",
        f"- report written: {generated_at}",
        f"- images: {sum(s.ok for s in summaries)} ok, {sum(s.failed for s in summaries)} failed",
        *_reused_line(run, len(rows)),
        "",
        "The HTML page (`report.html`) beside this file shows the images and the charts.",
        "",
        "## Per model",
        "",
        "| model | ok | failed | "
        + "".join(f"{m.column} mean | {m.column} median | " for m in shown)
        + "latency p50 | latency p95 | images/s | steps/s | device | placement | resident memory "
        "| peak memory | lease wait | yields | energy/image |",
        "|---|--:|--:|" + "--:|--:|" * len(shown) + "--:|--:|--:|--:|---|---|--:|--:|--:|--:|--:|",
    ]
    for s in summaries:
        cells = [_cell(s.model), str(s.ok), str(s.failed)]
        for m in shown:
            cells.append(format_number(s.score_means.get(m.name), m.digits))
            cells.append(format_number(s.score_medians.get(m.name), m.digits))
        cells += [
            format_seconds(s.latency_p50_s),
            format_seconds(s.latency_p95_s),
            format_number(s.images_per_s, 3),
            format_number(s.steps_per_s_mean),
            _cell(", ".join(s.devices) or "n/a"),
            _cell(format_placement(s.placement, bool(s.placement_note))),
            format_gib(s.resident_mem_bytes_max),
            format_gib(s.peak_mem_bytes_max),
            format_seconds(s.lease_wait_s_total),
            "–" if s.yields_total is None else str(s.yields_total),
            "–" if s.energy_j_mean is None else f"{s.energy_j_mean:.1f} J",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += _placement_notes(summaries)
    lines += comparison_markdown(comparison, summaries, _cell)
    names = [s.model for s in summaries]
    for m in shown:
        for axis, table in categories.get(m.name, {}).items():
            if not table:
                continue
            lines += ["", f"## Mean {m.label} by {axis}", ""]
            lines.append(f"| {axis} | " + " | ".join(_cell(n) for n in names) + " |")
            lines.append("|---|" + "--:|" * len(names))
            for category, means in table.items():
                values = [format_number(means.get(name), m.digits) for name in names]
                lines.append(f"| {_cell(category)} | " + " | ".join(values) + " |")
    failed = [row for row in rows if row["status"] == "failed"]
    lines += ["", f"## Failures ({len(failed)})", ""]
    if failed:
        lines += ["| model | prompt set | prompt id | seed | error |", "|---|---|---|--:|---|"]
        for row in failed:
            keys = ("model", "prompt_set", "prompt_id", "seed", "error")
            lines.append("| " + " | ".join(_cell(row.get(key)) for key in keys) + " |")
    else:
        lines.append("None.")
    return "\n".join(lines) + "\n"


def _placement_notes(summaries: Sequence[ModelSummary]) -> list[str]:
    notes = [
        f"- {_cell(s.model)}: {_cell(s.placement_note)}" for s in summaries if s.placement_note
    ]
    if not notes:
        return []
    return ["", f"{PLACEMENT_MARK} The placement changed mid-run:", "", *notes]


def reused_text(run: Mapping[str, Any], total: int) -> str | None:
    """The report's note on results carried over from earlier runs, or None without data."""
    reused = run.get("reused_results")
    if reused is None:
        return None
    return (
        f"{reused} of {total} made by earlier runs (results are kept per prompt text, "
        "so an edited prompt set remakes only the prompts whose text changed)"
    )


def _reused_line(run: Mapping[str, Any], total: int) -> list[str]:
    note = reused_text(run, total)
    return [] if note is None else [f"- results reused: {_cell(note)}"]


def _cell(value: Any) -> str:
    # Keep a table cell on one line and stop pipes from opening new columns.
    if value is None:
        return "–"
    text = " ".join(str(value).split())
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")
