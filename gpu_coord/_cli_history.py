"""``history`` and ``usage`` of the command line: the lease's log in words or JSON."""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import time

from ._history import LeaseEvent, history
from ._usage import Usage, usage

_DURATION = re.compile(r"^\s*([0-9]+(?:\.[0-9]*)?)\s*(s|m|h|d)?\s*$", re.ASCII)
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


def parse_duration(value: str, *, name: str) -> float:
    """Seconds from ``90``, ``30s``, ``10m``, ``1h`` or ``2d``; ValueError naming ``name``."""
    match = _DURATION.match(value)
    if match is None:
        raise ValueError(f"{name}: not a duration (try 30s, 10m, 1h or 2d), got {value!r}")
    return float(match.group(1)) * _SECONDS[match.group(2)]


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    log = commands.add_parser("history", help="the lease's events (grant, release, freeze, ...)")
    log.add_argument("--since", help="only the last ... (30s, 10m, 1h, 2d)")
    log.add_argument("--json", action="store_true", help="one JSON object per event")
    log.add_argument("--follow", action="store_true", help="keep printing new events")
    log.add_argument("--interval", type=float, default=0.5, help="seconds between --follow reads")
    log.add_argument("--device", type=int, default=0)
    use = commands.add_parser("usage", help="GPU time per owner, idle share, handoff latency")
    use.add_argument("--since", help="over the last ... (default: all the log holds)")
    use.add_argument("--json", action="store_true", help="one JSON object")
    use.add_argument("--device", type=int, default=0)


def _since(args: argparse.Namespace) -> float | None:
    if args.since is None:
        return None
    return time.time() - parse_duration(args.since, name="--since")


def show_history(args: argparse.Namespace) -> int:
    since = _since(args)
    seen: set[tuple[str, str, int | None, int | None]] = set()
    while True:
        for event in history(args.device, path=args.path, since=since):
            key = (event.at, event.event, event.generation, event.pid)
            if key in seen:
                continue
            seen.add(key)
            print(json.dumps(dataclasses.asdict(event)) if args.json else _line(event), flush=True)
            since = event.timestamp
        if not args.follow:
            return 0
        time.sleep(max(0.05, args.interval))


def _line(e: LeaseEvent) -> str:
    who = f"{e.owner or '-'} ({e.priority or '-'}) pid {e.pid or '-'}"
    parts = [
        f"{e.at}  {e.event:<8} gen {e.generation if e.generation is not None else '-':>6}  {who}"
    ]
    if e.wait_seconds is not None:
        parts.append(f"waited {e.wait_seconds * 1e3:.1f} ms")
    if e.held_seconds is not None:
        parts.append(f"held {e.held_seconds:.3f} s")
    if e.freed_bytes:
        parts.append(f"freed {e.freed_bytes / 2**20:.0f} MiB")
    if e.frozen_seconds is not None:
        parts.append(f"frozen {e.frozen_seconds:.3f} s")
    if e.by:
        parts.append(f"taken over by {e.by}")
    return ", ".join(parts)


def show_usage(args: argparse.Namespace) -> int:
    figures = usage(args.device, path=args.path, since=_since(args))
    if args.json:
        print(json.dumps(dataclasses.asdict(figures)))
    else:
        print(usage_table(figures))
    return 0


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1e3:.1f}"


def usage_table(u: Usage) -> str:
    """``usage`` in words: one line per owner, then idle share and handoffs."""
    lines = [
        f"GPU {u.device}: {u.window_seconds:.1f} s window, {u.events} events",
        f"{'OWNER':<24} {'HELD s':>9} {'SHARE':>6} {'GRANTS':>6} {'YIELDS':>6} "
        f"{'FORCED':>6} {'FREEZES':>7} {'WAIT p50/p99 ms':>16}",
    ]
    for o in u.owners:
        lines.append(
            f"{o.owner:<24.24} {o.held_seconds:>9.2f} {o.share:>6.1%} {o.grants:>6} "
            f"{o.yields:>6} {o.forced:>6} {o.freezes:>7} "
            f"{_ms(o.wait_p50_seconds) + ' / ' + _ms(o.wait_p99_seconds):>16}"
        )
    lines.append(f"idle: {u.idle_share:.1%}")
    lines.append(
        f"handoffs to high priority: {u.handoffs}, ask -> grant p50 "
        f"{_ms(u.handoff_p50_seconds)} ms, p99 {_ms(u.handoff_p99_seconds)} ms"
    )
    return "\n".join(lines)
