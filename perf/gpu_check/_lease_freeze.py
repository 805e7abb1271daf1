"""Freezing a process mid-kernel-stream, for step ``lease-memory``.

A child that never calls ``checkpoint()`` runs inside ``python -m gpu_coord run``:
a loop of large matrix products on the device (fp16 8192^2 on CUDA, kept one
batch ahead of the host as a real job runs ahead of its kernels; small fp32
ones on the CPU in a dry run), writing a heartbeat line after each batch. High
callers then take the lease meanwhile. Measured from the outside only: the
high caller's wait, the drain (the history's ``freeze`` to the run's ``yield``:
the queued kernels finishing), heartbeats written while the high lease was
held (must be none), how soon the loop resumed, and processes left after the
run is stopped.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

OWNER = "cuda-loop"
# The child: argv is device, matrix size, products per batch, heartbeat file.
LOOP = """\
import os, sys, time, torch
device, size, per, beat = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
cuda = device.startswith("cuda")
dtype = torch.float16 if cuda else torch.float32
if not cuda:
    torch.set_num_threads(1)  # a dry run shares two cores with other steps
a = torch.randn(size, size, device=device, dtype=dtype) / size**0.5
c = torch.empty_like(a)
fd = os.open(beat, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
print(os.getpid(), flush=True)
ahead, n = None, 0
while True:
    for _ in range(per):
        torch.mm(a, a, out=c)
    if cuda:
        done = torch.cuda.Event()
        done.record()
        if ahead is not None:
            ahead.synchronize()
        ahead = done
    else:
        time.sleep(0.002)
    n += 1
    os.write(fd, f"{n} {time.time():.6f}\\n".encode())
"""


@dataclass
class FreezeFigures:
    """What the asks measured; seconds throughout."""

    waits: list[float] = field(default_factory=list)
    drains: list[float] = field(default_factory=list)
    resumes: list[float] = field(default_factory=list)
    held: list[float] = field(default_factory=list)
    beats_while_frozen: int = 0
    beats_total: int = 0
    #: Heartbeats a second while not frozen: what a hold would have seen without the freeze.
    beat_rate: float = 0.0
    left_behind: int = 0
    run_exit: int | None = None


def _beats(path: Path) -> list[float]:
    try:
        lines = path.read_bytes().splitlines()
    except FileNotFoundError:
        return []
    stamps = []
    for line in lines:
        parts = line.split()
        if len(parts) == 2:  # a line cut by the freeze is finished after the thaw
            stamps.append(float(parts[1]))
    return stamps


def _state(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def _gone(pid: int, patience: float) -> bool:
    give_up = time.monotonic() + patience
    while _state(pid) not in (None, "Z", "X"):
        if time.monotonic() > give_up:
            return False
        time.sleep(0.01)
    return True


def _until(check: Callable[[], bool], what: str, limit: float) -> float:
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > limit:
            raise RuntimeError(f"lease-memory: timed out after {limit:g} s waiting for {what}")
        time.sleep(0.002)
    return time.monotonic() - started


def _beat_after(
    beat: Path, after: float, path: Path | None = None, where: int = 0
) -> Callable[[], bool]:
    """A check: a heartbeat stamped after ``after`` (and, given ``path``, the loop holds it)."""
    from gpu_coord import read_status

    def check() -> bool:
        stamps = _beats(beat)
        if not stamps or stamps[-1] <= after:
            return False
        return path is None or read_status(path, device=where).get("owner") == OWNER

    return check


def freeze_mid_stream(
    device: str, path: Path, work: Path, *, asks: int, hold_s: float
) -> FreezeFigures:
    """Run the loop under ``gpu_coord run`` and take the lease at high priority ``asks`` times."""
    from gpu_coord import history, lease
    from imagegen import lease_device

    where = lease_device(device)
    cuda = device.startswith("cuda")
    size, per = (8192, 16) if cuda else (192, 2)
    beat = work / "heartbeat.txt"
    beat.unlink(missing_ok=True)
    run = [sys.executable, "-m", "gpu_coord", "--path", str(path), "run", "--owner", OWNER]
    run += ["--device", str(where), "--", sys.executable, "-c", LOOP]
    job = subprocess.Popen(
        [*run, device, str(size), str(per), str(beat)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    figures = FreezeFigures()
    child: int | None = None
    since = time.time()
    try:
        assert job.stdout is not None
        line = job.stdout.readline()  # the loop has started: the run holds the lease
        if not line.strip():
            raise RuntimeError(f"lease-memory: the run exited ({job.wait(30)}) before its loop ran")
        child = int(line)
        last_release = 0.0
        for _ in range(asks):
            in_lease = _beat_after(beat, last_release, path, where)
            _until(in_lease, "the loop to run in its lease", 60.0)
            time.sleep(random.uniform(0.02, 0.1))  # ask at a random moment of its stream
            asked = time.perf_counter()
            with lease("gpu-check-high", priority="high", path=path, device=where, flush="never"):
                figures.waits.append(time.perf_counter() - asked)
                granted = time.time()
                time.sleep(hold_s)
                released = time.time()
            figures.held.append(released - granted)
            # The loop writes its stamp after its batch: any stamp inside the hold is progress.
            figures.beats_while_frozen += sum(1 for s in _beats(beat) if granted < s < released)
            last_release = released
            figures.resumes.append(_until(_beat_after(beat, released), "the thaw", 30.0))
        events = history(where, path=path, since=since)
        freeze_at: float | None = None
        for event in events:
            if event.owner != OWNER:
                continue
            if event.event == "freeze":
                freeze_at = event.timestamp
            elif event.event == "yield" and freeze_at is not None:
                figures.drains.append(event.timestamp - freeze_at)
                freeze_at = None
    finally:
        if job.poll() is None:
            job.send_signal(signal.SIGTERM)  # forwarded to the loop's group by the run
            with contextlib.suppress(subprocess.TimeoutExpired):
                job.wait(30)
        if job.poll() is None:
            job.kill()
            job.wait(30)
            figures.left_behind += 1
        figures.run_exit = job.returncode
        if job.stdout is not None:
            job.stdout.close()
        if child is not None and not _gone(child, 5.0):
            figures.left_behind += 1
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)
    stamps = _beats(beat)
    figures.beats_total = len(stamps)
    running = (stamps[-1] - stamps[0] - sum(figures.held)) if len(stamps) > 1 else 0.0
    figures.beat_rate = (len(stamps) - 1) / running if running > 0 else 0.0
    return figures
