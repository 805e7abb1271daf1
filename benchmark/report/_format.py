"""Value formatting shared by the Markdown and HTML reports."""

from __future__ import annotations

import math
from typing import Any

__all__ = [
    "PLACEMENT_MARK",
    "format_bytes",
    "format_gib",
    "format_number",
    "format_placement",
    "format_seconds",
    "format_text",
]

_DASH = "–"


def format_text(value: Any) -> str:
    """Any value as text, or an en dash for missing data."""
    return _DASH if value is None else str(value)


def format_number(value: float | None, digits: int = 2) -> str:
    """``value`` with ``digits`` decimals, or an en dash for missing data."""
    return _DASH if value is None else f"{value:.{digits}f}"


def format_seconds(value: float | None) -> str:
    """Seconds with a unit: ``0.214 s``, ``12.3 s``, ``4 min 05 s``."""
    if value is None:
        return _DASH
    if value < 10:
        return f"{value:.3f} s"
    if value < 600:
        return f"{value:.1f} s"
    minutes, seconds = divmod(round(value), 60)
    return f"{minutes} min {seconds:02d} s"


def format_bytes(value: float | None) -> str:
    """Binary units: ``512 B``, ``3.4 MiB``, ``9.87 GiB``."""
    if value is None:
        return _DASH
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(size) < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.2f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def format_gib(value: float | None) -> str:
    """Device memory in GiB to three significant digits (``0.512 GiB``, ``9.87 GiB``,
    ``21.4 GiB``), ``< 0.001 GiB`` for a tiny model's few bytes, ``n/a`` when not measured
    (the CPU has no such figure)."""
    if value is None:
        return "n/a"
    gib = float(value) / 2**30
    if gib < 0.001:
        return "< 0.001 GiB" if gib > 0 else "0 GiB"
    if gib < 1:
        return f"{gib:.3f} GiB"
    return f"{gib:.{max(0, 2 - int(math.log10(gib)))}f} GiB"


#: Marks a placement that changed mid-run; the note under the per-model table says how.
PLACEMENT_MARK = "†"  # not "*": Markdown would read it as emphasis or a list


def format_placement(placement: str | None, changed: bool) -> str:
    """The placement most images used, marked when it changed mid-run; "n/a" without one."""
    if placement is None:
        return "n/a"
    return f"{placement} {PLACEMENT_MARK}" if changed else placement
