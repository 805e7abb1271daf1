"""``python -m perf.lease``: lease latencies, gpu_coord against two baselines.

Measures, for gpu_coord, the original scheme and a plain ``filelock.FileLock``
(see :mod:`perf.baselines`): uncontended acquire+release (both
priorities), ``checkpoint()`` with nobody waiting, handoff (a high caller asks
while a low holder works in steps of T ms and checkpoints after each), wake-up
(holder releases, a blocked waiter is granted) and crash reclaim (holder
SIGKILLed, a blocked waiter is granted). Prints a Markdown table and appends it,
with the command line, date and machine, to ``docs/performance.md`` (or
``--output``). ``--quick`` runs few iterations (a smoke test).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import random
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from gpu_coord import LeaseTimeout, lease
from perf import _lease_targets, baselines
from perf.perfdoc import DEFAULT_OUTPUT, append_section, machine_line

SCHEMES = ("gpu_coord", "original", "filelock")
LABELS = {
    "gpu_coord": "gpu_coord",
    "original": "original scheme (JSON + poll + 0.5 s pause)",
    "filelock": "plain filelock.FileLock",
}
_ctx = mp.get_context("fork")


def now_ns() -> int:
    """CLOCK_MONOTONIC: one clock for every process on the host."""
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)


def make(scheme: str, owner: str, priority: str, path: Path, timeout: float | None = None) -> Any:
    """A lease of ``scheme`` (gpu_coord or a baseline)."""
    if scheme == "gpu_coord":
        return lease(owner, priority=priority, path=path, flush="never", timeout=timeout)
    return baselines.make(scheme, owner, priority=priority, path=path, timeout=timeout)


@dataclass
class Plan:
    """Iterations per measurement (the original scheme sleeps 0.5 s per release)."""

    cycles: dict[str, int]
    checkpoints: int
    handoffs: dict[str, int]
    wakeups: dict[str, int]
    crashes: dict[str, int]
    period_ms: float
    steps_per_image: int
    handoff_cap: float = 5.0
    history_cycles: int = 5000
    frozen_waits: int = 100
    kills: int = 20


def plan(quick: bool, period_ms: float) -> Plan:
    if quick:
        return Plan(
            {"gpu_coord": 200, "original": 3, "filelock": 100},
            2000,
            {"gpu_coord": 10, "original": 2, "filelock": 2},
            {"gpu_coord": 10, "original": 2, "filelock": 5},
            {"gpu_coord": 3, "original": 2, "filelock": 2},
            period_ms,
            20,
            1.0,
            history_cycles=400,
            frozen_waits=5,
            kills=2,
        )
    return Plan(
        {"gpu_coord": 5000, "original": 10, "filelock": 2000},
        50000,
        {"gpu_coord": 200, "original": 10, "filelock": 10},
        {"gpu_coord": 200, "original": 10, "filelock": 50},
        {"gpu_coord": 20, "original": 5, "filelock": 10},
        period_ms,
        20,
    )


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


# ------------------------------------------------------------------ measures


def uncontended(scheme: str, priority: str, path: Path, n: int) -> list[float]:
    """Seconds per ``with lease(...)`` (a new handle each time), nobody else around."""
    times = []
    for _ in range(min(n, 20)):  # warm up
        with make(scheme, "bench", priority, path):
            pass
    for _ in range(n):
        start = time.perf_counter()
        with make(scheme, "bench", priority, path):
            pass
        times.append(time.perf_counter() - start)
    return times


def checkpoint_cost(scheme: str, path: Path, n: int) -> list[float]:
    with make(scheme, "bench", "low", path) as held:
        times = []
        for _ in range(n):
            start = time.perf_counter()
            held.checkpoint()
            times.append(time.perf_counter() - start)
    return times


def _stepping_holder(
    scheme: str, path: Path, period_ms: float, steps: int, stop: Any, holding: Any
) -> None:
    """A low holder: images of ``steps`` steps of ``period_ms``, checkpoint after each."""
    while not stop.is_set():
        with make(scheme, "batch", "low", path) as held:
            holding.set()
            for _ in range(steps):
                end = time.monotonic() + period_ms / 1000
                while time.monotonic() < end:
                    pass  # busy: the GPU is working
                held.checkpoint()
                if stop.is_set():
                    break
            holding.clear()


class Samples(list[float]):
    """Seconds measured, plus how many hit a cap (counted at the cap)."""

    def __init__(self, values: list[float], capped: int = 0) -> None:
        super().__init__(values)
        self.capped = capped


def handoff(scheme: str, path: Path, p: Plan, n: int) -> list[float]:
    """Seconds from a high caller asking to being granted, while a low holder steps."""
    stop, holding = _ctx.Event(), _ctx.Event()
    holder = _ctx.Process(
        target=_stepping_holder, args=(scheme, path, p.period_ms, p.steps_per_image, stop, holding)
    )
    holder.start()
    times: list[float] = []
    starved: list[float] = []
    try:
        image = p.period_ms * p.steps_per_image / 1000
        for _ in range(n):
            # Ask at a random moment while the low holder is inside an image.
            if not holding.wait(60):
                raise RuntimeError(f"{scheme}: the stepping holder never got the lease")
            time.sleep(random.uniform(0.05, 0.5) * image)
            # A scheme without priority can starve the asker: cap the wait, count it.
            asker = make(scheme, "backend", "high", path, timeout=p.handoff_cap)
            start = time.perf_counter()
            try:
                asker.acquire()
            except LeaseTimeout:
                starved.append(p.handoff_cap)
                continue
            times.append(time.perf_counter() - start)
            asker.release()
    finally:
        stop.set()
        holder.join(30)
        if holder.is_alive():
            holder.kill()
            holder.join()
    return Samples(times + starved, len(starved))


def _releasing_holder(scheme: str, path: Path, n: int, conn: Connection) -> None:
    for _ in range(n):
        held = make(scheme, "holder", "low", path).acquire()
        conn.send("held")
        conn.recv()  # the waiter is about to block
        time.sleep(0.02)  # ... and now it has
        conn.send(now_ns())
        held.release()
        conn.recv()  # the waiter has been granted and let go: next round


def wakeup(scheme: str, path: Path, n: int) -> list[float]:
    """Seconds from the holder's release call to the blocked waiter's grant."""
    mine, theirs = _ctx.Pipe()
    holder = _ctx.Process(target=_releasing_holder, args=(scheme, path, n, theirs))
    holder.start()
    times = []
    try:
        for _ in range(n):
            assert mine.recv() == "held"
            waiter = make(scheme, "waiter", "low", path)
            mine.send("go")
            waiter.acquire()
            granted = now_ns()
            times.append((granted - mine.recv()) / 1e9)
            waiter.release()
            mine.send("next")
    finally:
        holder.join(60)
        if holder.is_alive():
            holder.kill()
            holder.join()
    return times


def _hold_forever(scheme: str, path: Path, conn: Connection) -> None:
    held = make(scheme, "doomed", "low", path).acquire()  # keep the handle: dropping releases
    conn.send("held")
    time.sleep(3600)
    held.release()


def _wait_and_report(scheme: str, path: Path, conn: Connection) -> None:
    conn.send("waiting")
    with make(scheme, "next", "low", path):
        conn.send(now_ns())


def crash(scheme: str, path: Path, n: int) -> list[float]:
    """Seconds from SIGKILL of the holder to the blocked waiter's grant."""
    times = []
    for _ in range(n):
        h_mine, h_theirs = _ctx.Pipe()
        w_mine, w_theirs = _ctx.Pipe()
        holder = _ctx.Process(target=_hold_forever, args=(scheme, path, h_theirs))
        waiter = _ctx.Process(target=_wait_and_report, args=(scheme, path, w_theirs))
        try:
            holder.start()
            assert h_mine.recv() == "held"
            waiter.start()
            assert w_mine.recv() == "waiting"
            time.sleep(0.05)  # let it block
            killed = now_ns()
            os.kill(holder.pid or 0, signal.SIGKILL)
            holder.join()  # reap at once, as a container runtime would
            if not w_mine.poll(30):
                raise RuntimeError(f"{scheme}: no grant within 30 s of the holder's death")
            times.append((w_mine.recv() - killed) / 1e9)
        finally:
            for proc in (holder, waiter):
                if proc.is_alive():
                    proc.kill()
                proc.join()
    return times


# ------------------------------------------------------------------- report


def _us(values: list[float]) -> str:
    return f"{percentile(values, 50) * 1e6:,.1f} / {percentile(values, 99) * 1e6:,.1f}"


def _ms(values: list[float]) -> str:
    return f"{percentile(values, 50) * 1e3:,.2f} / {percentile(values, 99) * 1e3:,.2f}"


def _fs_type(folder: Path) -> str:
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
    on, off = _lease_targets.history_cost(folder, p.history_cycles)
    cost = (percentile(on, 50) - percentile(off, 50)) * 1e6
    progress("gpu_coord: high caller behind a frozen run child ...")
    waits = _lease_targets.frozen_child_waits(folder, p.frozen_waits)
    progress(f"gpu_coord: {p.kills} SIGKILLs of run ...")
    left = _lease_targets.kills_left(folder, p.kills)
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m perf.lease", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="few iterations (smoke test)")
    parser.add_argument(
        "--output",
        type=Path,
        default=DEFAULT_OUTPUT,
        help="Markdown file to append to (default docs/performance.md)",
    )
    parser.add_argument(
        "--dir",
        type=Path,
        default=None,
        help="folder for the lease files (default: a new temp folder in "
        "/dev/shm when present, else the system temp folder)",
    )
    parser.add_argument(
        "--period-ms",
        type=float,
        default=10.0,
        help="step length T of the low holder in the handoff measure",
    )
    parser.add_argument(
        "--schemes",
        default=",".join(SCHEMES),
        help="comma-separated subset of " + ",".join(SCHEMES),
    )
    args = parser.parse_args(argv)
    schemes = tuple(s for s in args.schemes.split(",") if s)
    for scheme in schemes:
        if scheme not in SCHEMES:
            parser.error(f"--schemes: unknown scheme {scheme!r}")
    if args.period_ms <= 0:
        parser.error("--period-ms: must be > 0")
    base = args.dir
    if base is None:
        shm = Path("/dev/shm")
        base = shm if shm.is_dir() and os.access(shm, os.W_OK) else None
    folder = Path(tempfile.mkdtemp(prefix="gpu-coord-bench-", dir=base))
    try:
        progress = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731
        chosen = plan(args.quick, args.period_ms)
        rows = run(chosen, folder, schemes, progress)
        extra = targets(chosen, folder, progress) if "gpu_coord" in schemes else ""
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    command = "python -m perf.lease " + " ".join(argv if argv is not None else sys.argv[1:])
    section = (
        f"\n## perf.lease, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n\n"
        f"- command: `{command.strip()}`\n"
        f"- machine: {machine_line()}; lease files on {_fs_type(folder)} "
        f"({folder.parent})\n"
        f"- each cell: p50 / p99 (n = samples); the handoff holder works in images of "
        f"20 steps of {args.period_ms:g} ms\n\n"
        f"{table(rows, schemes)}\n"
        + (f"\nHistory and preemption (gpu_coord, default settings):\n\n{extra}\n" if extra else "")
    )
    print(section)
    append_section(section, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
