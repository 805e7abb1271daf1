"""The lease checkpoints of one image, between steps and between blocks.

``imagegen.generate`` calls ``on_step`` after each denoising step and
``on_block`` before each top-level block of the denoiser and the VAE decoder;
both checkpoint the worker's low-priority lease here, so a handoff to the
backend waits one block instead of one step (docs/benchmark.md, "Sub-step yield").
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from benchmark.messages import Pause, Resume, WorkerMessage

__all__ = ["Checkpoints", "energy_mj"]


def energy_mj(index: int | None) -> int | None:
    """Card energy counter in millijoules from NVML (via gpu_coord), None without a GPU."""
    if index is None:
        return None
    from gpu_coord import gpu_snapshot

    snap = gpu_snapshot(index)
    energy = snap.energy_mj if snap is not None else None
    return int(energy) if energy is not None else None


class Checkpoints:
    """The lease checkpoints of one image: after each step and, optionally, before each block.

    A checkpoint costs one non-blocking flock when nobody waits (``wanted()``);
    only when a high-priority caller waits does it tell the parent (``Pause``:
    the image's clock stops), yield, and count the time and energy that were
    someone else's. ``block_yields`` counts the yields made inside a step.
    """

    def __init__(self, held: Any, send: Callable[[WorkerMessage], None], index: int | None) -> None:
        self.held, self.send, self.index = held, send, index
        self.yielded_s = 0.0
        self.yielded_mj = 0
        self.block_yields = 0
        self.before_step: Callable[[], None] | None = None

    def checkpoint(self) -> bool:
        """Yield to a waiting high-priority caller; True when it did."""
        if not self.held.wanted():
            return False
        self.send(Pause())
        t0, e0 = time.perf_counter(), energy_mj(self.index)
        try:
            yielded = bool(self.held.checkpoint())
            if yielded:
                # The GPU was someone else's meanwhile: neither time nor energy is ours.
                self.yielded_s += time.perf_counter() - t0
                e1 = energy_mj(self.index)
                if e0 is not None and e1 is not None:
                    self.yielded_mj += e1 - e0
        finally:
            self.send(Resume())
        return yielded

    def on_step(self, step: int, total: int) -> None:
        """``imagegen.generate``'s ``on_step``."""
        if self.before_step is not None:
            self.before_step()
        self.checkpoint()

    def on_block(self, name: str) -> None:
        """``imagegen.generate``'s ``on_block``."""
        if self.checkpoint():
            self.block_yields += 1
