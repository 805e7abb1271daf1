"""The lease's hot paths, measured alone: acquire/release, checkpoint, and status reads.

``GET /gpu-status`` lists the devices and calls ``read_status`` for each; a
dashboard or a healthcheck polls it. Here ``readers`` real processes make that
same poll at ``rate`` per second each while another process takes and gives back a high-priority
lease every 10 ms, and we report the cost per read and whether the polling
slows the lease down.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.queues
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gpu_coord import devices, lease, read_status
from perf.contention._stats import percentile

_HOLD = 0.005
_GAP = 0.005


def _us(values: list[float], q: float) -> float:
    return percentile(values, q) * 1e6


def status_poll(path: str | Path) -> list[dict[str, Any]]:
    """One poll as ``GET /gpu-status`` makes it: list the devices, read each record.

    (The route adds NVML memory figures, which need a GPU; the backend is not
    imported here because the benchmark never imports the backend.)
    """
    return [read_status(path, device=index) for index in sorted(set(devices(path)) | {0})]


def _window_of(go: Any, start_at: Any, seconds: float, out: Any) -> tuple[float, float]:
    # Every process reports in, then waits for the common start: spawning and importing
    # cost CPU that must not overlap the measured window.
    out.put(("ready", []))
    go.wait(120)
    start = float(start_at.value)
    return start, start + seconds


def _poller(path: str, rate: float, seconds: float, go: Any, start_at: Any, out: Any) -> None:
    status_poll(path)  # warm: imports, caches
    costs: list[float] = []
    when, end = _window_of(go, start_at, seconds, out)
    while when < end:
        delay = when - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        t0 = time.perf_counter()
        status_poll(path)
        costs.append(time.perf_counter() - t0)
        when += 1.0 / rate
    out.put(("poller", costs))


def _cycler(path: str, seconds: float, go: Any, start_at: Any, out: Any) -> None:
    held = lease("backend", priority="high", path=path, flush="never")
    held.acquire()  # warm: creates the lease files
    held.release()
    cycles: list[float] = []
    start, end = _window_of(go, start_at, seconds, out)
    delay = start - time.monotonic()
    if delay > 0:
        time.sleep(delay)
    while time.monotonic() < end:
        t0 = time.perf_counter()
        held.acquire()
        t1 = time.perf_counter()
        time.sleep(_HOLD)
        t2 = time.perf_counter()
        held.release()
        cycles.append(t1 - t0 + time.perf_counter() - t2)
        time.sleep(_GAP)
    out.put(("cycler", cycles))


def _polled_window(
    path: Path, readers: int, rate: float, seconds: float
) -> tuple[list[float], list[float]]:
    """(poll costs, acquire+release costs) of one window with ``readers`` pollers."""
    ctx = multiprocessing.get_context("spawn")
    out: multiprocessing.queues.Queue[Any] = ctx.Queue()
    go = ctx.Event()
    start_at = ctx.Value("d", 0.0)
    procs = [ctx.Process(target=_cycler, args=(str(path), seconds, go, start_at, out))]
    procs += [
        ctx.Process(target=_poller, args=(str(path), rate, seconds, go, start_at, out))
        for _ in range(readers)
    ]
    reads: list[float] = []
    cycles: list[float] = []
    try:
        for proc in procs:
            proc.start()
        for _ in procs:
            kind, _values = out.get(timeout=120)
            if kind != "ready":
                raise RuntimeError(f"hot paths: a {kind} process reported before the start")
        start_at.value = time.monotonic() + 0.2
        go.set()
        for _ in procs:
            kind, values = out.get(timeout=seconds + 60)
            (cycles if kind == "cycler" else reads).extend(values)
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.kill()
            proc.join()
        out.close()
        out.join_thread()
    return reads, cycles


def _in_process(path: Path, repeats: int) -> dict[str, float]:
    figures: dict[str, float] = {}
    for priority in ("high", "low"):
        held = lease("bench", priority=priority, path=path, flush="never")
        costs = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            held.acquire()
            held.release()
            costs.append(time.perf_counter() - t0)
        figures[f"cycle_{priority}_p50_us"] = _us(costs, 50)
        figures[f"cycle_{priority}_p99_us"] = _us(costs, 99)
    costs = []
    with lease("bench", priority="low", path=path, flush="never") as held:
        for _ in range(repeats):
            t0 = time.perf_counter()
            held.checkpoint()
            costs.append(time.perf_counter() - t0)
    figures["checkpoint_p50_us"] = _us(costs, 50)
    figures["checkpoint_p99_us"] = _us(costs, 99)
    costs = []
    for _ in range(repeats // 4 or 1):
        t0 = time.perf_counter()
        status_poll(path)
        costs.append(time.perf_counter() - t0)
    figures["read_idle_p50_us"] = _us(costs, 50)
    figures["read_idle_p99_us"] = _us(costs, 99)
    return figures


@dataclass(frozen=True)
class HotPaths:
    """Microsecond costs of the lease's hot paths on this machine."""

    figures: dict[str, float]
    readers: int
    rate: float
    seconds: float
    reads: int


def measure_hot_paths(
    folder: Path, readers: int, rate: float, seconds: float, repeats: int = 2000
) -> HotPaths:
    """In-process costs, then the lease cycling alone and under ``readers`` pollers."""
    figures = _in_process(folder / "micro" / "status.json", repeats)
    _, alone = _polled_window(folder / "cycle-alone" / "status.json", 0, rate, seconds)
    reads, polled = _polled_window(folder / "cycle-polled" / "status.json", readers, rate, seconds)
    figures.update(
        cycle_alone_p50_us=_us(alone, 50),
        cycle_alone_p99_us=_us(alone, 99),
        cycle_polled_p50_us=_us(polled, 50),
        cycle_polled_p99_us=_us(polled, 99),
        read_polled_p50_us=_us(reads, 50),
        read_polled_p99_us=_us(reads, 99),
    )
    return HotPaths(figures=figures, readers=readers, rate=rate, seconds=seconds, reads=len(reads))
