"""The measures run for every scheme and set out as Markdown tables, with their targets."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from perf.lease import _targets
from perf.lease._measures import checkpoint_cost, crash, handoff, uncontended, wakeup
from perf.lease._plan import Plan, percentile

LABELS = {
    "gpu_coord": "gpu_coord",
    "original": "original scheme (JSON + poll + 0.5 s pause)",
    "filelock": "plain filelock.FileLock",
}


def _us(values: list[float]) -> str:
    return f"{percentile(values, 50) * 1e6:,.1f} / {percentile(values, 99) * 1e6:,.1f}"


def _ms(values: list[float]) -> str:
    return f"{percentile(values, 50) * 1e3:,.2f} / {percentile(values, 99) * 1e3:,.2f}"


def fs_type(folder: Path) -> str:
    """The file system type of the mount that holds ``folder`` (from /proc/mounts)."""
    best, kind = "", "?"
    try:
        with open("/proc/mounts") as mounts:
            for line in mounts:
                parts = line.split()
                mount = parts[1] if len(parts) > 2 else ""
                if str(folder).startswith(mount) and len(mount) > len(best):
                    best, kind = mount, parts[2]
    except OSError:
        pass
    return kind


Measure = tuple[int, str, Callable[[], list[float]], Callable[[list[float]], str]]


def _measures(scheme: str, path: Path, p: Plan) -> list[Measure]:
    return [
        (0, "uncontended low", lambda: uncontended(scheme, "low", path, p.cycles[scheme]), _us),
        (1, "uncontended high", lambda: uncontended(scheme, "high", path, p.cycles[scheme]), _us),
        (2, "checkpoint", lambda: checkpoint_cost(scheme, path, p.checkpoints), _us),
        (3, "handoff", lambda: handoff(scheme, path, p, p.handoffs[scheme]), _ms),
        (4, "wake-up", lambda: wakeup(scheme, path, p.wakeups[scheme]), _ms),
        (5, "crash reclaim", lambda: crash(scheme, path, p.crashes[scheme]), _ms),
    ]


def run(
    p: Plan, folder: Path, schemes: tuple[str, ...], progress: Callable[[str], None]
) -> list[tuple[str, str, dict[str, str]]]:
    """All measures for all schemes: rows of (measure, target, {scheme: cell})."""
    t = p.period_ms
    rows: list[tuple[str, str, dict[str, str]]] = [
        ("uncontended acquire+release, low (us, p50 / p99)", "p50 <= 100", {}),
        ("uncontended acquire+release, high (us, p50 / p99)", "p50 <= 100", {}),
        ("checkpoint(), nobody waiting (us, p50 / p99)", "<= 10", {}),
        (f"handoff, low checkpoints every {t:g} ms (ms, p50 / p99)", f"p99 <= {t + 2:g}", {}),
        ("wake-up, release -> waiter granted (ms, p50 / p99)", "p99 <= 2", {}),
        ("crash reclaim, SIGKILL -> waiter granted (ms, p50 / p99)", "<= 100", {}),
    ]
    for scheme in schemes:
        path = folder / scheme / "status.json"
        path.parent.mkdir(parents=True)
        steps = _measures(scheme, path, p)
        for index, name, measure, cell in steps:
            progress(f"{scheme}: {name} ...")
            started = time.monotonic()
            values = measure()
            capped = getattr(values, "capped", 0)
            note = f", {capped} starved > {p.handoff_cap:g} s" if capped else ""
            rows[index][2][scheme] = f"{cell(values)} (n={len(values)}{note})"
            progress(f"{scheme}: {name} done in {time.monotonic() - started:.1f} s")
    return rows


def targets(p: Plan, folder: Path, progress: Callable[[str], None]) -> str:
    """The history and preemption targets (gpu_coord only), as a Markdown table."""
    progress("gpu_coord: event log on / off ...")
    on, off = _targets.history_cost(folder, p.history_cycles)
    cost = (percentile(on, 50) - percentile(off, 50)) * 1e6
    progress("gpu_coord: high caller behind a frozen run child ...")
    waits = _targets.frozen_child_waits(folder, p.frozen_waits)
    progress(f"gpu_coord: {p.kills} SIGKILLs of run ...")
    left = _targets.kills_left(folder, p.kills)
    progress("gpu_coord: waiters cancelled ...")
    cancels = _targets.cancel_exits(folder, p.cancels)
    rows = [
        (
            "acquire+release, low, event log on (us, p50 / p99)",
            "reference",
            f"{_us(on)} (n={len(on)})",
        ),
        (
            "acquire+release, low, event log off (us, p50 / p99)",
            "reference",
            f"{_us(off)} (n={len(off)})",
        ),
        ("event log's cost (us, p50 on - p50 off)", "<= 10", f"{cost:.1f}"),
        (
            "high caller's wait, lease held by a frozen spinning `run` child (ms, p50 / p99)",
            "p99 <= 50",
            f"{_ms(waits)} (n={len(waits)})",
        ),
        (f"processes left after {p.kills} SIGKILLs of `run` (child frozen)", "0", str(left)),
        (
            "a waiter's exit after its `cancel` is set (ms, p50 / p99)",
            "p99 <= 20",
            f"{_ms(cancels)} (n={len(cancels)})",
        ),
    ]
    body = [f"| {m} | {t} | {v} |" for m, t, v in rows]
    return "\n".join(["| measure | target | gpu_coord |", "|---|---|---|", *body])


def table(rows: list[tuple[str, str, dict[str, str]]], schemes: tuple[str, ...]) -> str:
    head = "| measure | target | " + " | ".join(LABELS[s] for s in schemes) + " |"
    rule = "|---|---|" + "---|" * len(schemes)
    body = [
        f"| {m} | {t} | " + " | ".join(c.get(s, "-") for s in schemes) + " |" for m, t, c in rows
    ]
    return "\n".join([head, rule, *body])
