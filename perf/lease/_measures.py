"""The lease measures, each over one scheme: uncontended, checkpoint, handoff, wake-up, crash.

Each returns the seconds it measured, one per sample. The other side of a measure (a holder
that steps, releases or dies) is a forked process, timed on ``CLOCK_MONOTONIC`` so that both
processes read one clock.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import signal
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from gpu_coord import LeaseTimeout, lease
from perf import baselines
from perf.lease._plan import Plan

_ctx = mp.get_context("fork")


def now_ns() -> int:
    """CLOCK_MONOTONIC: one clock for every process on the host."""
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)


def make(scheme: str, owner: str, priority: str, path: Path, timeout: float | None = None) -> Any:
    """A lease of ``scheme`` (gpu_coord or a baseline)."""
    if scheme == "gpu_coord":
        return lease(owner, priority=priority, path=path, flush="never", timeout=timeout)
    return baselines.make(scheme, owner, priority=priority, path=path, timeout=timeout)


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
