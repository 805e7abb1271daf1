"""One timestamp format: ISO 8601 UTC with milliseconds and ``Z``.

``utc_now()`` is on the lease's hot path (every grant and release stamps the
record), so it formats by hand: ``datetime.isoformat`` plus a replace cost more.
Readers accept the ``+00:00`` form that records written before used.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime


def utc_now() -> str:
    """Now as ISO 8601 UTC with milliseconds and ``Z``, e.g. ``2026-12-01T09:05:00.123Z``."""
    return utc_text(time.time_ns())


def utc_text(ns: int) -> str:
    """``ns`` (nanoseconds since the epoch) in the format of :func:`utc_now`."""
    seconds, rest = divmod(ns, 1_000_000_000)
    return f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(seconds))}.{rest // 1_000_000:03d}Z"


def parse_utc(text: str) -> float:
    """Seconds since the epoch of a timestamp in this format or the older ``+00:00`` one.

    Raises ValueError naming the text when it is neither; a time without an
    offset is taken as UTC.
    """
    try:
        moment = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        raise ValueError(f"timestamp: not ISO 8601, got {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()
