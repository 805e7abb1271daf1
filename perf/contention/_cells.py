"""The cells of the contention report's Markdown tables: one way to print a figure."""

from __future__ import annotations

import math

_MIB = 1024 * 1024


def ms(seconds: float | None) -> str:
    return "n/a" if seconds is None or math.isnan(seconds) else f"{seconds * 1000:.0f}"


def x(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def mib(value: float | None) -> str:
    return "n/a" if value is None else f"{value / _MIB:.0f}"


def row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"
