"""The image grid of report.html: one row per prompt, one column per model.

Images are linked by paths relative to the report's folder; every piece of run data
is HTML-escaped.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import quote

from benchmark.metrics import Metric
from benchmark.prompts import category_axes
from benchmark.report._format import format_number, format_seconds, format_text

__all__ = ["category_label", "image_href", "render_grid"]


def image_href(results_dir: Path, out_dir: Path, image_path: str | None) -> str | None:
    """The URL of ``results_dir/image_path`` relative to ``out_dir``; None if no such file."""
    if not image_path:
        return None
    target = Path(results_dir) / image_path
    if not target.is_file():
        return None
    relative = os.path.relpath(target.resolve(), Path(out_dir).resolve())
    return quote(Path(relative).as_posix())


def render_grid(
    rows: Sequence[Mapping[str, Any]],
    names: Sequence[str],
    shown: Sequence[Metric],
    *,
    primary: Metric,
    results_dir: Path,
    out_dir: Path,
) -> str:
    """The grid as HTML: a filter box, then a table with a row per (prompt set, prompt id).

    Each cell holds one figure per seed (image, its ``shown`` scores, or the failure
    reason) for one of ``names``; the model with the best mean ``primary`` score on
    a prompt gets a marked cell when at least two models were scored on it.
    """
    prompts: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for row in rows:
        prompts.setdefault((str(row["prompt_set"]), str(row["prompt_id"])), []).append(row)
    if not prompts:
        return "<p>No images yet.</p>"
    categories = sorted({str(r.get("category")) for r in rows if r.get("category")})
    options = "".join(
        f'<option value="{escape(c)}">{escape(category_label(c))}</option>' for c in categories
    )
    lines = [
        "<div class=filters><input id=filter type=search placeholder='filter prompts…' "
        "aria-label='filter prompts'>"
        f"<select id=category aria-label=category><option value=''>all categories</option>"
        f"{options}</select><span id=shown></span></div>",
        "<div class=scroll><table class=grid><thead><tr><th>prompt</th>",
        "".join(f"<th>{escape(n)}</th>" for n in names),
        "</tr></thead><tbody>",
    ]
    for (prompt_set, prompt_id), group in prompts.items():
        first = group[0]
        category = first.get("category")
        search = " ".join(
            format_text(v) for v in (prompt_set, prompt_id, category, first["prompt"])
        )
        lines.append(
            f'<tr data-search="{escape(search.lower())}" '
            f'data-category="{escape(format_text(category) if category else "")}"><th class=prompt>'
            f"<p>{escape(format_text(first['prompt']))}</p><small>{escape(prompt_set)} · "
            f"{escape(prompt_id)}{' · ' + escape(category_label(category)) if category else ''}"
            "</small></th>"
        )
        best = _best_model(group, primary)
        for name in names:
            cell = sorted(
                (r for r in group if r["model"] == name), key=lambda r: format_text(r.get("seed"))
            )
            figures = "".join(_figure(r, results_dir, out_dir, shown) for r in cell)
            marked = f' class=top title="best mean {escape(primary.label)} on this prompt"'
            lines.append(
                f"<td{marked if name == best else ''}>"
                f"{figures or '<span class=muted>not run yet</span>'}</td>"
            )
        lines.append("</tr>")
    lines.append("</tbody></table></div>")
    return "".join(lines)


def category_label(category: str | None) -> str:
    """A stored category as people read it: ``Animals · Basic`` for one with axes."""
    return " · ".join(category_axes(category).values())


def _best_model(group: Sequence[Mapping[str, Any]], primary: Metric) -> str | None:
    # Ties and single-model prompts mark nothing: a marker must mean "beat the others".
    scores: dict[str, list[float]] = {}
    for row in group:
        value = row.get(primary.name)
        if row["status"] == "ok" and isinstance(value, int | float):
            scores.setdefault(str(row["model"]), []).append(float(value))
    if len(scores) < 2:
        return None
    means = sorted(
        ((sum(v) / len(v), name) for name, v in scores.items()), reverse=primary.higher_is_better
    )
    return None if means[0][0] == means[1][0] else means[0][1]


def _figure(
    row: Mapping[str, Any], results_dir: Path, out_dir: Path, shown: Sequence[Metric]
) -> str:
    seed = f"seed {format_text(row.get('seed'))}"
    if row["status"] == "failed":
        reason = escape(format_text(row.get("error") or "no reason recorded"))
        return (
            f"<figure class=failed><div>failed</div><figcaption>{escape(seed)}<br>{reason}"
            "</figcaption></figure>"
        )
    href = image_href(results_dir, out_dir, row.get("image_path"))
    width, height, steps = (format_text(row.get(k)) for k in ("width", "height", "steps"))
    size = f"{width}×{height}, {steps} steps"
    if href is None:
        missing = escape(format_text(row.get("image_path")))
        picture = f"<div class=missing>image missing<br><small>{missing}</small></div>"
    else:
        picture = (
            f'<a href="{escape(href)}"><img src="{escape(href)}" loading=lazy '
            f'alt="{escape(format_text(row["prompt"]))}" title="{escape(size)}"></a>'
        )
    scores = "".join(
        f"{m.column} {format_number(row.get(m.name), max(m.digits - 1, 0))} · " for m in shown
    )
    caption = f"{escape(seed)} · {escape(scores)}{escape(format_seconds(row.get('latency_s')))}"
    return f"<figure>{picture}<figcaption>{caption}</figcaption></figure>"
