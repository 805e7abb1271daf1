"""Argument checks: bad input fails early with a ValueError naming the argument."""

from __future__ import annotations

import math

PRIORITIES = ("low", "high")
MAX_OWNER_LENGTH = 128


def check_owner(owner: object) -> str:
    """A non-empty printable name of at most 128 characters."""
    if not isinstance(owner, str):
        raise ValueError(f"owner: must be a str, got {type(owner).__name__}")
    if not owner.strip():
        raise ValueError("owner: must not be empty")
    if len(owner) > MAX_OWNER_LENGTH:
        raise ValueError(f"owner: at most {MAX_OWNER_LENGTH} characters, got {len(owner)}")
    if not owner.isprintable():
        raise ValueError(f"owner: must be printable, got {owner!r}")
    return owner


def check_choice(name: str, value: object, choices: tuple[str, ...]) -> str:
    """One of ``choices``."""
    if not isinstance(value, str) or value not in choices:
        allowed = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name}: must be one of {allowed}, got {value!r}")
    return value


def check_seconds(name: str, value: object, *, optional: bool = False) -> float | None:
    """A finite number of seconds >= 0 (or None when ``optional``)."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name}: must be a number of seconds, got {value!r}")
    seconds = float(value)
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"{name}: must be a finite number >= 0, got {value!r}")
    return seconds
