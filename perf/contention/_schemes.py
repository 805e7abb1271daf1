"""Each coordination scheme as a small adapter: how a role takes the GPU for one unit of work.

A unit is one backend request or one runner image. Every adapter hands back an
object shaped like :class:`gpu_coord.Lease` for what the measurements read
(``wait_seconds``, ``yields``, ``forced``, ``checkpoint()``), so the loops in
:mod:`perf.contention.role` do not know which scheme they run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gpu_coord import lease
from perf import baselines
from perf.baselines import Held


@dataclass(frozen=True)
class Scheme:
    """A named way for the backend (high priority) and the runner (low) to share the device.

    ``step_yield``: whether the runner's step hook calls ``checkpoint()`` (only
    this project's lease can hand the GPU over between steps; the baselines and
    no coordination get no hook, as in their original form). ``block_yield``:
    whether it also checkpoints before each top-level block (``lease-blocks``).
    """

    name: str
    path: Path
    flush: str = "always"
    max_wait: float | None = 10.0

    @property
    def step_yield(self) -> bool:
        return self.name in ("lease", "lease-blocks")

    @property
    def block_yield(self) -> bool:
        return self.name == "lease-blocks"

    def backend(self) -> Held:
        """A fresh handle for one backend request (as the backend's worker takes one)."""
        return self._handle("backend", "high")

    def runner(self) -> Held:
        """A fresh handle for one runner image (as the benchmark's worker takes one)."""
        return self._handle("benchmark", "low")

    def _handle(self, owner: str, priority: str) -> Held:
        if self.step_yield:
            return lease(
                owner,
                priority=priority,
                path=self.path,
                flush=self.flush,
                max_wait=self.max_wait if priority == "high" else None,
            )
        if self.name in ("original", "filelock", "none"):
            return baselines.make(self.name, owner, priority=priority, path=self.path)
        raise ValueError(f"scheme: unknown scheme {self.name!r}")
