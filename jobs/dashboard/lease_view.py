"""The lease panel's data: the record and memory budget per device, and the timeline's spans.

Everything is read from gpu_coord's record and event log at request time (``read_status``,
``memory_budget``, ``history``); nothing is kept here.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from gpu_coord import LeaseEvent, devices, history, memory_budget, read_status

# The timeline covers the last hour; the page zooms into it.
TIMELINE_SECONDS = 3600.0
# Events the timeline marks (grants, forced grants and their releases are the spans themselves).
MARKED = ("yield", "reclaim", "freeze", "thaw")


def lease_devices(path: Path | None) -> list[int]:
    """The devices with a lease in the folder; device 0 when none has one yet."""
    return devices(path) or [0]


def memory_view(record: dict[str, Any], device: int, path: Path | None) -> dict[str, Any]:
    """The memory bar: one segment per resident, the unaccounted rest, and what is free."""
    budget = memory_budget(device, path=path)
    residents = [
        {
            "owner": r.get("owner"),
            "pid": r.get("pid"),
            "bytes": r.get("resident_bytes"),
            "headroom_bytes": r.get("headroom_bytes"),
        }
        for r in record.get("residents") or []
    ]
    return {
        "known": budget.known,
        "reason": budget.reason,
        "total_bytes": record.get("memory_total_bytes"),
        "used_bytes": record.get("memory_used_bytes"),
        "free_bytes": record.get("memory_free_bytes"),
        "unaccounted_bytes": record.get("unaccounted_bytes"),
        "available_bytes": budget.available_bytes,
        "residents": residents,
    }


def lease_now(path: Path | None) -> list[dict[str, Any]]:
    """Per device: the holder (or none), waiters, frozen holds, forced holders, memory."""
    shown = []
    for device in lease_devices(path):
        record = read_status(path, device=device)
        waiters = record.get("waiters") or []
        shown.append(
            {
                "device": device,
                "busy": bool(record.get("busy")),
                "holder": record.get("owner"),
                "since": record.get("since"),
                "priority": record.get("priority"),
                "pid": record.get("pid"),
                "generation": record.get("generation"),
                "reason": record.get("reason"),
                "stale": bool(record.get("stale")),
                "waiters": [w for w in waiters if w.get("state") != "frozen"],
                "frozen": [w for w in waiters if w.get("state") == "frozen"],
                "forced": bool(record.get("forced")),
                "forced_holders": record.get("forced_holders") or [],
                "last_release": record.get("last_release"),
                "gpu_name": record.get("gpu_name"),
                "memory": memory_view(record, device, path),
            }
        )
    return shown


def spans(
    events: list[LeaseEvent], live_forced: set[tuple[int | None, str | None]] | None = None
) -> list[dict[str, Any]]:
    """Who held the lease when: one span per grant up to its release or yield.

    A grant still open when the next grant comes means its holder died (the log then has a
    ``reclaim``); its span ends there. A span still open has ``end`` None. A forced run (a
    high caller that went ahead without the lease after ``max_wait``) is a span with
    ``forced`` True from its ``forced`` event to its ``forced_release``: it ran beside the
    holder, so no grant ends it. One with no release whose holder is not among
    ``live_forced`` (pid, host of the record's forced holders; None: all count as live) died
    at an unknown time: it ends where it began, ``ended_by`` "died".
    """
    open_spans: dict[int, dict[str, Any]] = {}
    open_forced: dict[int, tuple[LeaseEvent, dict[str, Any]]] = {}
    done: list[dict[str, Any]] = []
    for event in events:
        if event.generation is None:
            continue
        if event.event in ("grant", "forced"):
            span = {
                "generation": event.generation,
                "owner": event.owner,
                "priority": event.priority,
                "start": event.timestamp,
                "end": None,
                "ended_by": None,
                "wait_seconds": event.wait_seconds,
                # A high-priority grant that had to wait: the GPU was handed over to it.
                "handoff": event.event == "grant" and event.priority == "high" and event.waited,
                "forced": event.event == "forced",
            }
            if event.event == "forced":
                open_forced[event.generation] = (event, span)
                continue
            for holder in open_spans.values():
                holder.update(end=event.timestamp, ended_by="died")
                done.append(holder)
            open_spans = {event.generation: span}
        elif event.event in ("release", "yield") and event.generation in open_spans:
            span = open_spans.pop(event.generation)
            span.update(end=event.timestamp, ended_by=event.event)
            done.append(span)
        elif event.event == "forced_release" and event.generation in open_forced:
            _, span = open_forced.pop(event.generation)
            span.update(end=event.timestamp, ended_by="release")
            done.append(span)
    for grant, span in open_forced.values():
        if live_forced is not None and (grant.pid, grant.host) not in live_forced:
            span.update(end=span["start"], ended_by="died")
        done.append(span)
    return sorted(done + list(open_spans.values()), key=lambda s: s["start"])


def marks(events: list[LeaseEvent]) -> list[dict[str, Any]]:
    """The events drawn as marks on the timeline: yields, reclaims, freezes and thaws."""
    return [
        {
            "at": e.timestamp,
            "event": e.event,
            "owner": e.by if e.event == "reclaim" else e.owner,
            "detail": _detail(e),
        }
        for e in events
        if e.event in MARKED
    ]


def _detail(event: LeaseEvent) -> str:
    if event.event == "reclaim":
        return f"{event.owner} died holding the lease; reclaimed by {event.by}"
    if event.event == "thaw" and event.frozen_seconds is not None:
        return f"{event.owner} thawed after {event.frozen_seconds:.2f} s frozen"
    if event.event == "yield" and event.held_seconds is not None:
        return f"{event.owner} yielded after {event.held_seconds:.2f} s"
    return f"{event.owner} {event.event}"


def timeline(path: Path | None, device: int, since: float | None) -> dict[str, Any]:
    """The last hour's spans and marks; with ``since`` only those that changed after it.

    Spans are built from the whole hour (a span that began before ``since`` needs its grant),
    then those that ended before ``since`` are left out, so a page polling with the time of
    its last answer gets only what is new or still open. Forced runs are spans of their own
    (``forced`` True); a forced holder still running is matched by pid and host against the
    record's ``forced_holders``.
    """
    now = time.time()
    start = now - TIMELINE_SECONDS
    events = history(device, path=path, since=start)
    holders = read_status(path, device=device).get("forced_holders") or []
    shown = spans(events, {(f.get("pid"), f.get("host")) for f in holders})
    drawn = marks(events)
    if since is not None:
        # A forced run found dead ends where it began, before ``since``: sent again, so a
        # page that saw it open learns that it is over.
        shown = [
            s
            for s in shown
            if s["end"] is None or s["end"] >= since or (s["forced"] and s["ended_by"] == "died")
        ]
        drawn = [m for m in drawn if m["at"] >= since]
    return {"device": device, "now": now, "start": start, "spans": shown, "marks": drawn}
