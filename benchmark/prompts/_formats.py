"""The per-format readers: a prompt-set file's text in, its raw entries out.

``raw_entries`` picks the reader by the file's extension (``.txt``, ``.csv``/``.tsv``,
``.jsonl``, ``.json``) and returns ``(where, id, prompt, category, extra)`` per entry, the
entry's place in the file first so that validation errors can name it. Nothing is checked
here beyond the format itself; the package's ``load_prompt_set`` validates the entries.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from benchmark.errors import PromptSetError
from benchmark.prompts._categories import encode_categories

_PROMPT_COLUMNS = ("prompt", "prompts", "text", "caption")
_CATEGORY_COLUMNS = ("category", "categories")
# Further category axes a set may carry beside its category (PartiPrompts' Challenge).
_AXIS_COLUMNS = ("challenge",)


def _entry_from_object(path: Path, where: str, item: dict[str, Any]) -> tuple[Any, Any, Any]:
    lowered = {str(k).lower(): v for k, v in item.items()}
    text = next((lowered[c] for c in _PROMPT_COLUMNS if c in lowered), None)
    if text is None:
        raise PromptSetError(path, "no 'prompt' field", where)
    category = next((lowered[c] for c in _CATEGORY_COLUMNS if c in lowered), None)
    axes = {a: lowered[a] for a in _AXIS_COLUMNS if a in lowered}
    if axes and isinstance(category, str | None):
        category = encode_categories({"category": category, **axes})
    return lowered.get("id"), text, category


def raw_entries(path: Path, text: str) -> list[tuple[str, Any, Any, Any, dict[str, Any]]]:
    """(where, id, prompt, category, extra) per entry, before validation."""
    suffix = path.suffix.lower()
    out: list[tuple[str, Any, Any, Any, dict[str, Any]]] = []
    if suffix == ".txt":
        for number, line in enumerate(text.splitlines(), start=1):
            stripped = line.strip()
            if stripped and not stripped.startswith("#"):
                out.append((f"line {number}", None, stripped, None, {}))
        return out
    if suffix in (".csv", ".tsv"):
        return _csv_entries(path, text, "\t" if suffix == ".tsv" else ",")
    if suffix == ".jsonl":
        items: list[tuple[str, Any]] = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                items.append((f"line {number}", json.loads(line)))
            except json.JSONDecodeError as exc:
                raise PromptSetError(path, f"bad JSON: {exc.msg}", f"line {number}") from exc
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise PromptSetError(
                path, f"bad JSON: {exc.msg}", f"line {exc.lineno} column {exc.colno}"
            ) from exc
        if isinstance(data, dict):
            if "prompts" not in data:
                raise PromptSetError(path, "a JSON object needs a 'prompts' list")
            data = data["prompts"]
        if not isinstance(data, list):
            raise PromptSetError(path, f"expected a list of prompts, got {type(data).__name__}")
        items = [(f"entry {i}", item) for i, item in enumerate(data)]
    for where, item in items:
        if isinstance(item, str):
            out.append((where, None, item, None, {}))
        elif isinstance(item, dict):
            pid, prompt, category = _entry_from_object(path, where, item)
            skip = {"id", *_PROMPT_COLUMNS, *_CATEGORY_COLUMNS, *_AXIS_COLUMNS}
            extra = {k: v for k, v in item.items() if str(k).lower() not in skip}
            out.append((where, pid, prompt, category, extra))
        else:
            raise PromptSetError(
                path, f"expected a string or an object, got {type(item).__name__}", where
            )
    return out


def _csv_entries(
    path: Path, text: str, delimiter: str
) -> list[tuple[str, Any, Any, Any, dict[str, Any]]]:
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = [h.strip() for h in reader.fieldnames or []]
    lowered = {h.lower(): h for h in header}
    prompt_col = next((lowered[c] for c in _PROMPT_COLUMNS if c in lowered), None)
    if prompt_col is None:
        raise PromptSetError(
            path, f"no prompt column in header {header} (expected Prompt or Prompts)", "line 1"
        )
    category_col = next((lowered[c] for c in _CATEGORY_COLUMNS if c in lowered), None)
    axis_cols = {a: lowered[a] for a in _AXIS_COLUMNS if a in lowered}
    id_col = lowered.get("id")
    reader.fieldnames = header
    out: list[tuple[str, Any, Any, Any, dict[str, Any]]] = []
    try:
        for row in reader:
            where = f"line {reader.line_num}"
            if None in row:
                raise PromptSetError(path, "more fields than the header has", where)
            used = {prompt_col, category_col, id_col, *axis_cols.values()}
            extra = {k: v for k, v in row.items() if k not in used and v not in (None, "")}
            category = row.get(category_col) if category_col else None
            if axis_cols:
                axes = {a: row.get(col) for a, col in axis_cols.items()}
                category = encode_categories({"category": category, **axes})
            out.append(
                (where, row.get(id_col) if id_col else None, row[prompt_col], category, extra)
            )
    except csv.Error as exc:
        raise PromptSetError(path, f"bad CSV: {exc}", f"line {reader.line_num}") from exc
    return out
