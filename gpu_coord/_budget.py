"""The memory budget: what a newcomer may take on a device and keep.

It may take what leaves every registered resident room for its peak (its
resident bytes plus its headroom), after what no resident claims (processes
that did not register) and a safety margin:

    available = total - margin - unaccounted - sum(resident + headroom)
    unaccounted = max(0, used - sum(resident))

``total`` and ``used`` are NVML's; without NVML the budget is unknown and says
so (never a guess presented as a figure). Nothing here is enforced: the
figures are what processes report and what NVML measures.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ._nvml import gpu_snapshot, nvml_problem
from ._paths import lease_files
from ._resident import ResidentInfo, read_residents
from ._size import parse_size

MARGIN_ENV = "GPU_COORD_MEMORY_MARGIN"
#: Default margin: 5 % of the card, at least 256 MiB (a CUDA context, allocator slack).
MARGIN_SHARE = 0.05
MARGIN_FLOOR = 256 * 2**20


@dataclass(frozen=True)
class MemoryBudget:
    """A device's memory as the lease sees it. Byte figures are None when ``known`` is False."""

    device: int
    known: bool
    available_bytes: int | None
    total_bytes: int | None
    used_bytes: int | None
    unaccounted_bytes: int | None
    margin_bytes: int | None
    claimed_bytes: int
    residents: tuple[ResidentInfo, ...]
    reason: str


def memory_budget(
    device: int = 0,
    *,
    path: str | os.PathLike[str] | None = None,
    margin_bytes: int | str | None = None,
) -> MemoryBudget:
    """What a newcomer on ``device`` may take and keep, with the breakdown and a reason.

    ``margin_bytes`` defaults to ``GPU_COORD_MEMORY_MARGIN``, else 5 % of the
    card (at least 256 MiB).
    """
    files = lease_files(path, device)
    residents = read_residents(files)
    claimed = sum((r.resident_bytes or 0) + r.headroom_bytes for r in residents)
    snapshot = gpu_snapshot(files.device)
    if snapshot is None:
        return MemoryBudget(
            device=files.device,
            known=False,
            available_bytes=None,
            total_bytes=None,
            used_bytes=None,
            unaccounted_bytes=None,
            margin_bytes=None,
            claimed_bytes=claimed,
            residents=residents,
            reason=f"budget unknown: {nvml_problem(files.device)}; "
            f"{len(residents)} resident(s) claim {_gib(claimed)}",
        )
    total, used = snapshot.memory_total_bytes, snapshot.memory_used_bytes
    margin = _margin(total, margin_bytes)
    held = sum(r.resident_bytes or 0 for r in residents)
    unaccounted = max(0, used - held)
    available = max(0, total - margin - unaccounted - claimed)
    silent = [r.owner for r in residents if r.resident_bytes is None]
    reason = (
        f"{_gib(available)} may be taken: {_gib(total)} total, {_gib(used)} used; "
        f"{len(residents)} resident(s) claim {_gib(claimed)} at their peak "
        f"({_gib(held)} held now), {_gib(unaccounted)} used by no resident, "
        f"margin {_gib(margin)}"
    )
    if silent:
        reason += f"; {', '.join(silent)} did not say what it holds (counted as unaccounted)"
    return MemoryBudget(
        device=files.device,
        known=True,
        available_bytes=available,
        total_bytes=total,
        used_bytes=used,
        unaccounted_bytes=unaccounted,
        margin_bytes=margin,
        claimed_bytes=claimed,
        residents=residents,
        reason=reason,
    )


def _margin(total: int, given: int | str | None) -> int:
    if given is not None:
        return parse_size(given, name="margin_bytes")
    env = os.environ.get(MARGIN_ENV, "")
    if env:
        return parse_size(env, name=MARGIN_ENV)
    return max(MARGIN_FLOOR, int(total * MARGIN_SHARE))


def _gib(value: int) -> str:
    return f"{value / 2**30:.2f} GiB"
