"""The lease's history and preemption targets, measured for ``python -m perf.lease``.

* the event log's cost: uncontended acquire+release with the history on and
  off, side by side (alternating rounds, so drift hits both alike);
* a high caller's wait for the lease held by a ``python -m gpu_coord run`` child
  that never cooperates (a busy loop), with default settings: freeze, drain,
  handoff;
* processes left after SIGKILL of ``run`` while its child is frozen;
* how soon a waiter leaves once its ``cancel`` event is set.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from gpu_coord import LeaseCancelled, lease, read_status

_HISTORY_ENV = "GPU_COORD_HISTORY"
_SPIN = "import os; print(os.getpid(), flush=True)\nwhile True: pass"


def history_cost(folder: Path, n: int, rounds: int = 10) -> tuple[list[float], list[float]]:
    """Seconds per uncontended low acquire+release: (history on, history off)."""
    on: list[float] = []
    off: list[float] = []
    saved = os.environ.get(_HISTORY_ENV)
    try:
        for _ in range(rounds):
            for flag, out in (("on", on), ("off", off)):
                os.environ[_HISTORY_ENV] = flag
                path = folder / f"history-{flag}" / "status.json"
                for _ in range(10):  # warm the descriptor pool
                    with lease("bench", path=path, flush="never"):
                        pass
                for _ in range(max(1, n // rounds)):
                    start = time.perf_counter()
                    with lease("bench", path=path, flush="never"):
                        pass
                    out.append(time.perf_counter() - start)
    finally:
        if saved is None:
            os.environ.pop(_HISTORY_ENV, None)
        else:
            os.environ[_HISTORY_ENV] = saved
    return on, off


def _run(path: Path) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "gpu_coord", "--path", str(path), "run", "--owner", "batch"]
    return subprocess.Popen(
        [*argv, "--", sys.executable, "-c", _SPIN],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def _wait_for(check: Callable[[], object], what: str, limit: float = 30.0) -> None:
    give_up = time.monotonic() + limit
    while not check():
        if time.monotonic() > give_up:
            raise RuntimeError(f"perf.lease: timed out waiting for {what}")
        time.sleep(0.002)


def _stopper(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait(30)
    if proc.stdout is not None:
        proc.stdout.close()


def frozen_child_waits(folder: Path, n: int) -> list[float]:
    """Seconds from a high caller asking to its grant, the lease held by a spinning child."""
    path = folder / "frozen" / "status.json"
    job = _run(path)
    times: list[float] = []
    try:
        assert job.stdout is not None
        job.stdout.readline()  # the child runs: the lease is held
        for _ in range(n):
            _wait_for(lambda: read_status(path)["owner"] == "batch", "the run to hold the lease")
            time.sleep(random.uniform(0.02, 0.1))  # ask at a random moment of its work
            start = time.perf_counter()
            with lease("backend", priority="high", path=path, flush="never"):
                times.append(time.perf_counter() - start)
                time.sleep(0.005)
    finally:
        if job.poll() is None:
            job.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                job.wait(30)
        _stopper(job)
    return times


def _state(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def kills_left(folder: Path, n: int) -> int:
    """Processes left (not zombies) after ``n`` SIGKILLs of ``run`` with its child frozen."""
    path = folder / "kills" / "status.json"
    left = 0
    for _ in range(n):
        job = _run(path)
        try:
            assert job.stdout is not None
            child = int(job.stdout.readline())
            with lease("backend", priority="high", path=path, timeout=30):
                _wait_for(lambda: _state(child) == "T", "the child to be frozen")  # noqa: B023
                job.send_signal(signal.SIGKILL)
                job.wait(30)
                give_up = time.monotonic() + 5
                while _state(child) not in (None, "Z", "X") and time.monotonic() < give_up:
                    time.sleep(0.005)
                if _state(child) not in (None, "Z", "X"):
                    left += 1
                    os.kill(child, signal.SIGKILL)
        finally:
            _stopper(job)
    return left


def cancel_exits(folder: Path, n: int) -> list[float]:
    """Seconds from setting a waiting caller's ``cancel`` event to its ``LeaseCancelled``."""
    path = folder / "cancel" / "status.json"
    times: list[float] = []
    with lease("holder", path=path, flush="never"):  # another handle: its own flock
        for _ in range(n):
            cancel = threading.Event()
            waiter = lease("waiter", path=path, flush="never", cancel=cancel)
            asked: list[float] = []

            def ask(event: threading.Event = cancel, at: list[float] = asked) -> None:
                time.sleep(random.uniform(0.005, 0.03))  # at a random moment of the wait
                at.append(time.perf_counter())
                event.set()

            asker = threading.Thread(target=ask)
            asker.start()
            try:
                waiter.acquire()
            except LeaseCancelled:
                times.append(time.perf_counter() - asked[0])
            finally:
                asker.join()
    return times
