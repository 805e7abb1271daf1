"""The shape of a run and its rows, as the runner hands them to ``write_reports``."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from benchmark.records import Generation, RunRecord, row_columns

__all__ = [
    "RUN_KEYS",
    "model_order",
    "normalise_rows",
    "normalise_run",
    "reused_count",
]

RUN_KEYS = ("id", "started_at", "finished_at", "config", "prompt_sets", "models")

# The columns of report.csv, in this order (benchmark.records, where the store's
# columns come from too); keys a row has beyond these follow, sorted.
# A row without these cannot be placed in the report at all.
_REQUIRED_ROW_KEYS = ("prompt_set", "prompt_id", "prompt", "model", "status")
_STATUSES = ("ok", "failed")


def normalise_run(run: RunRecord | Mapping[str, Any]) -> dict[str, Any]:
    """Check ``run`` has the agreed keys and return a plain copy.

    Raises ``ValueError`` naming the missing key. ``prompt_sets`` and ``models`` must be
    lists of strings; ``finished_at`` may be None (the run is still going).
    """
    if isinstance(run, RunRecord):
        run = run.as_report_run()
    if not isinstance(run, Mapping):
        raise ValueError(f"write_reports: run must be a dict, got {type(run).__name__}")
    missing = [key for key in RUN_KEYS if key not in run]
    if missing:
        raise ValueError(f"write_reports: run lacks the key(s) {missing}")
    if not isinstance(run["id"], str | int) or str(run["id"]) == "":
        raise ValueError(f"write_reports: run['id'] must be a non-empty string, got {run['id']!r}")
    for key in ("prompt_sets", "models"):
        value = run[key]
        if isinstance(value, str) or not isinstance(value, Sequence):
            raise ValueError(f"write_reports: run[{key!r}] must be a list of names, got {value!r}")
    copy = {key: _clean(value) for key, value in run.items()}
    copy["prompt_sets"] = [str(name) for name in run["prompt_sets"]]
    copy["models"] = [str(name) for name in run["models"]]
    return copy


def normalise_rows(rows: Sequence[Generation | Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Check each row and return copies with every agreed column present.

    Absent optional columns become None, as do non-finite floats (NaN has no place in
    JSON or in a mean). Raises ``ValueError`` naming the row index and the field at fault.
    """
    result: list[dict[str, Any]] = []
    columns = row_columns()
    for index, given in enumerate(rows):
        row = given.as_row() if isinstance(given, Generation) else given
        if not isinstance(row, Mapping):
            raise ValueError(f"write_reports: rows[{index}] must be a dict, got {type(row)}")
        missing = [key for key in _REQUIRED_ROW_KEYS if key not in row]
        if missing:
            raise ValueError(f"write_reports: rows[{index}] lacks the field(s) {missing}")
        if row["status"] not in _STATUSES:
            raise ValueError(
                f"write_reports: rows[{index}]['status'] is {row['status']!r}, "
                f"expected one of {_STATUSES}"
            )
        clean: dict[str, Any] = dict.fromkeys(columns)
        clean.update({str(key): _clean(value) for key, value in row.items()})
        result.append(clean)
    return result


def model_order(run: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The run's models in configured order, then any model seen only in the rows."""
    order = [str(name) for name in run.get("models", [])]
    for row in rows:
        name = str(row["model"])
        if name not in order:
            order.append(name)
    return order


def reused_count(run_id: str, rows: Sequence[Generation | Mapping[str, Any]]) -> int | None:
    """How many of the rows an earlier run made (None when the rows do not say)."""
    made_by = [r.run_id if isinstance(r, Generation) else r.get("run_id") for r in rows]
    if any(who is None for who in made_by):
        return None
    return sum(1 for who in made_by if who != run_id)


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
