"""Who used the GPU: :func:`usage` sums the lease's history over a window.

The record and the log are the only sources. A holder's time runs from its
grant to its release or yield (same generation; the holder's own monotonic
figure when the hold lies wholly inside the window); a grant with no end yet runs
to now while the record still shows it, else to the next grant (its holder
died: the next grant is a reclaim). Forced holders ran beside the real one: their
time is never the GPU held exclusively (not in ``held_seconds``, ``share`` or the idle
share) but is summed apart, from ``forced`` to ``forced_release``, as ``forced_seconds``;
a forced run with no release yet counts to now while its holder is still listed.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from ._history import LeaseEvent, read_events
from ._paths import lease_files
from ._status import read_status


@dataclass(frozen=True)
class OwnerUsage:
    """One owner's part of the window. Wait percentiles are None without a grant.

    ``held_seconds`` and ``share`` are the exclusive hold; ``forced_seconds`` the time its
    forced runs (``forced`` of them) went ahead beside whoever held the lease.
    """

    owner: str
    held_seconds: float
    share: float
    grants: int
    yields: int
    forced: int
    forced_seconds: float
    freezes: int
    wait_p50_seconds: float | None
    wait_p99_seconds: float | None


@dataclass(frozen=True)
class Usage:
    """The lease over ``[start, end]`` (Unix times): per owner, idle share, handoffs.

    A handoff is a high-priority grant that had to wait for a holder to go;
    its latency is the high caller's ask -> grant time.
    """

    device: int
    start: float
    end: float
    window_seconds: float
    owners: tuple[OwnerUsage, ...]
    idle_share: float
    handoffs: int
    handoff_p50_seconds: float | None
    handoff_p99_seconds: float | None
    events: int


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (None for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def usage(
    device: int = 0,
    *,
    path: str | os.PathLike[str] | None = None,
    since: float | None = None,
    now: float | None = None,
) -> Usage:
    """Usage of ``device``'s lease since ``since`` (a Unix time; default: the oldest event)."""
    files = lease_files(path, device)
    events = read_events(files)
    end = time.time() if now is None else now
    start = since if since is not None else (events[0].timestamp if events else end)
    record = read_status(path, files.device)
    current = record["generation"] if record["busy"] else None
    held = _held(events, start, end, current)
    live = {(f.get("pid"), f.get("host")) for f in record.get("forced_holders") or []}
    forced_held = _forced(events, start, end, live)
    window = max(0.0, end - start)
    inside = [e for e in events if start <= e.timestamp <= end]
    owners = sorted(
        {e.owner for e in inside if e.owner and e.event != "reclaim"} | set(held) | set(forced_held)
    )
    rows = []
    for owner in owners:
        mine = [e for e in inside if e.owner == owner]
        waits = [e.wait_seconds for e in mine if e.event in ("grant", "forced")]
        waits_known = [w for w in waits if w is not None]
        seconds = held.get(owner, 0.0)
        rows.append(
            OwnerUsage(
                owner=owner,
                held_seconds=seconds,
                share=seconds / window if window else 0.0,
                grants=sum(e.event == "grant" for e in mine),
                yields=sum(e.event == "yield" for e in mine),
                forced=sum(e.event == "forced" for e in mine),
                forced_seconds=forced_held.get(owner, 0.0),
                freezes=sum(e.event == "freeze" for e in mine),
                wait_p50_seconds=percentile(waits_known, 50),
                wait_p99_seconds=percentile(waits_known, 99),
            )
        )
    busy = sum(held.values())
    handoffs = [
        e.wait_seconds
        for e in inside
        if e.event == "grant" and e.priority == "high" and e.waited and e.wait_seconds is not None
    ]
    return Usage(
        device=files.device,
        start=start,
        end=end,
        window_seconds=window,
        owners=tuple(rows),
        idle_share=max(0.0, 1.0 - busy / window) if window else 1.0,
        handoffs=len(handoffs),
        handoff_p50_seconds=percentile(handoffs, 50),
        handoff_p99_seconds=percentile(handoffs, 99),
        events=len(inside),
    )


def _held(
    events: list[LeaseEvent], start: float, end: float, current: int | None
) -> dict[str, float]:
    """Seconds each owner held the lease inside ``[start, end]``."""
    open_grants: dict[int, LeaseEvent] = {}
    # (owner, from, to, the holder's own monotonic figure when it released)
    intervals: list[tuple[str, float, float, float | None]] = []
    for event in events:
        if event.event == "grant" and event.generation is not None:
            for generation, grant in list(open_grants.items()):
                # A grant still open when another is granted: its holder died.
                intervals.append((grant.owner or "?", grant.timestamp, event.timestamp, None))
                del open_grants[generation]
            open_grants[event.generation] = event
        elif event.event in ("release", "yield") and event.generation in open_grants:
            grant = open_grants.pop(event.generation)
            intervals.append(
                (grant.owner or "?", grant.timestamp, event.timestamp, event.held_seconds)
            )
    for generation, grant in open_grants.items():
        if generation == current:
            intervals.append((grant.owner or "?", grant.timestamp, end, None))
    return _sum(intervals, start, end)


def _forced(
    events: list[LeaseEvent], start: float, end: float, live: set[tuple[object, object]]
) -> dict[str, float]:
    """Seconds each owner ran forced inside ``[start, end]``: ``forced`` to its
    ``forced_release`` (same generation); one with no release to ``end`` while its holder
    is still listed (``live``: pid and host), else not at all (it died; its end is unknown)."""
    open_runs: dict[int, LeaseEvent] = {}
    intervals: list[tuple[str, float, float, float | None]] = []
    for event in events:
        if event.generation is None:
            continue
        if event.event == "forced":
            open_runs[event.generation] = event
        elif event.event == "forced_release" and event.generation in open_runs:
            run = open_runs.pop(event.generation)
            intervals.append((run.owner or "?", run.timestamp, event.timestamp, event.held_seconds))
    for run in open_runs.values():
        if (run.pid, run.host) in live:
            intervals.append((run.owner or "?", run.timestamp, end, None))
    return _sum(intervals, start, end)


def _sum(
    intervals: list[tuple[str, float, float, float | None]], start: float, end: float
) -> dict[str, float]:
    """Per owner, the part of its intervals inside ``[start, end]``."""
    held: dict[str, float] = {}
    for owner, begin, finish, exact in intervals:
        inside = exact is not None and begin >= start and finish <= end
        # Stamps have milliseconds; a hold wholly inside the window counts its own figure.
        overlap = exact if inside and exact is not None else min(finish, end) - max(begin, start)
        if overlap > 0:
            held[owner] = held.get(owner, 0.0) + overlap
    return held
