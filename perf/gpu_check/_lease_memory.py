"""Step ``lease-memory``: the lease's memory figures and its freeze, on the device.

Two parts, one after the other, each on its own lease record:

* a real model resident: a child (:mod:`perf.gpu_check._lease_resident`) keeps
  the SD 1.5-shaped pipeline (the tiny one in a dry run) on the device,
  registered as a ``gpu_coord.resident`` with torch's figures, after one image
  in a lease released with flush ``always``; the step reads
  ``gpu_coord.memory_budget`` beside NVML and the record's
  ``last_release.freed_bytes``;
* a process frozen mid-kernel-stream (:mod:`perf.gpu_check._lease_freeze`):
  high-priority leases taken while ``python -m gpu_coord run`` holds the lease
  for a loop of large matrix products.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from perf.gpu_check._registry import StepContext, StepOutcome, register_step

_MIB = 1024 * 1024
ASKS, DRY_ASKS = 5, 3
HOLD_S, DRY_HOLD_S = 0.25, 0.15


def _mib(value: int | None) -> str:
    return "n/a" if value is None else f"{value / _MIB:.0f}"


def _ms(values: list[float], q: float) -> str:
    if not values:
        return "n/a"
    ordered = sorted(values)
    return f"{ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000:.1f}"


def _resident(ctx: StepContext, path: Path) -> tuple[dict[str, Any], Any, Any, int]:
    """The resident's figures, the budget and NVML while it is resident, and what is left
    after it was told to leave (a resident still listed, or its process killed to end it)."""
    from gpu_coord import gpu_snapshot, memory_budget
    from imagegen import lease_device

    where = lease_device(ctx.device)
    spec = {
        "device": ctx.device,
        "kind": "tiny" if ctx.dry_run else "sd15-shaped",
        "models_dir": str(ctx.models_dir),
        "path": str(path),
        "steps": 2 if ctx.dry_run else 10,
    }
    result = ctx.work_dir / "resident.json"
    result.unlink(missing_ok=True)
    child = subprocess.Popen(
        [sys.executable, "-m", "perf.gpu_check._lease_resident", json.dumps(spec), str(result)],
        stdin=subprocess.PIPE,
    )
    try:
        while not result.is_file():
            if child.poll() is not None:
                raise RuntimeError(f"the resident exited with status {child.returncode} (its log)")
            time.sleep(0.05)
        figures = json.loads(result.read_text(encoding="utf-8"))
        budget = memory_budget(where, path=path)
        snapshot = gpu_snapshot(where)
    finally:
        assert child.stdin is not None
        child.stdin.close()  # the resident leaves
        stuck = 0
        try:
            child.wait(30)
        except subprocess.TimeoutExpired:
            stuck = 1
            child.kill()
            child.wait(30)
    # A resident that exited is gone from the next read, whatever it left in the folder.
    after = len(memory_budget(where, path=path).residents)
    return figures, budget, snapshot, after + stuck


def _budget_table(figures: dict[str, Any], budget: Any, snapshot: Any) -> list[str]:
    mine = [r for r in budget.residents if r.pid == figures["pid"]]
    share = mine[0].resident_bytes if mine else None
    nvml = (
        "no reading"
        if snapshot is None
        else f"{snapshot.name}, {_mib(snapshot.memory_used_bytes)} MiB used"
    )
    return [
        "| total MiB | used MiB | resident's share MiB | its headroom MiB | unaccounted MiB | "
        "margin MiB | available MiB | NVML now |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
        f"| {_mib(budget.total_bytes)} | {_mib(budget.used_bytes)} | {_mib(share)} | "
        f"{_mib(figures['headroom_bytes'])} | {_mib(budget.unaccounted_bytes)} | "
        f"{_mib(budget.margin_bytes)} | {_mib(budget.available_bytes)} | {nvml} |",
    ]


@register_step(
    "lease-memory",
    budget_s=30,
    dry_budget_s=120,
    summary="memory budget with a model resident, freed bytes, freezing a CUDA loop",
    requires=("host",),
)
def check_lease_memory(ctx: StepContext) -> StepOutcome:
    from perf.gpu_check._lease_freeze import freeze_mid_stream

    figures, budget, snapshot, residents_after = _resident(
        ctx, ctx.work_dir / "resident" / "status.json"
    )
    asks = DRY_ASKS if ctx.dry_run else ASKS
    hold = DRY_HOLD_S if ctx.dry_run else HOLD_S
    frozen = freeze_mid_stream(
        ctx.device, ctx.work_dir / "freeze" / "status.json", ctx.work_dir, asks=asks, hold_s=hold
    )
    freed = figures["last_release_freed_bytes"]
    loop = "fp32 192^2 products on the CPU"
    if ctx.on_cuda:
        loop = "fp16 8192^2 products, 16 a batch, one batch queued ahead"
    section = "\n".join(
        [
            *ctx.heading(f"the lease's memory figures and freeze on `{ctx.device}`"),
            f"- Resident: pipeline `{'tiny' if ctx.dry_run else 'sd15-shaped'}` in a child "
            f"registered with `gpu_coord.resident` ({figures['load_seconds']:.1f} s to build), "
            f"one image in a lease with flush `always` ({figures['image_seconds']:.2f} s); then "
            "`update()` with torch's figures (`memory_reserved`) and its peak over the image as "
            "headroom. The budget is `gpu_coord.memory_budget` beside NVML "
            "(`gpu_coord.gpu_snapshot`).",
            "",
            *_budget_table(figures, budget, snapshot),
            "",
            f"Budget: {budget.reason}.",
            "",
            f"- Release with flush `always` after the image: `last_release.freed_bytes` "
            f"{_mib(freed)} MiB (the handle: {_mib(figures['handle_freed_bytes'])} MiB); "
            f"reserved before the flush {_mib(figures['peak_reserved_bytes'])} MiB at its peak, "
            f"{_mib(figures['resident_bytes'])} MiB after (the weights: "
            f"{_mib(figures['weights_bytes'])} MiB). Residents left after it was told to leave: "
            f"{residents_after}.",
            f"- Freeze mid-kernel-stream: `python -m gpu_coord run --owner cuda-loop` around a "
            f"loop of {loop}, writing a heartbeat per batch; {asks} high-priority leases taken "
            f"at random moments, each held {hold * 1000:.0f} ms. Drain: the history's `freeze` "
            "to the run's `yield` (the queued kernels finishing; NVML utilisation at zero "
            "where NVML reads the card).",
            "",
            "| asks | high wait p50 / p99 ms | drain p50 / max ms | resumed after ms (p50) | "
            "heartbeats while frozen | heartbeats in all (a second, running) | processes left |",
            "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
            f"| {len(frozen.waits)} | {_ms(frozen.waits, 0.5)} / {_ms(frozen.waits, 0.99)} | "
            f"{_ms(frozen.drains, 0.5)} / {_ms(frozen.drains, 1.0)} | "
            f"{_ms(frozen.resumes, 0.5)} | {frozen.beats_while_frozen} | {frozen.beats_total} "
            f"({frozen.beat_rate:.0f}/s) | "
            f"{frozen.left_behind} |",
            "",
        ]
    )
    problems = []
    if ctx.on_cuda and not budget.known:
        problems.append(f"the budget is unknown on CUDA ({budget.reason})")
    if frozen.beats_while_frozen:
        problems.append(
            f"the frozen loop wrote {frozen.beats_while_frozen} heartbeat(s) while frozen"
        )
    if frozen.left_behind or residents_after:
        problems.append(
            f"{frozen.left_behind} process(es) and {residents_after} resident(s) left behind"
        )
    if len(frozen.drains) != asks:
        problems.append(
            f"the history shows {len(frozen.drains)} freeze/yield pairs for {asks} asks"
        )
    reason = (
        f"high wait p50 {_ms(frozen.waits, 0.5)} / p99 {_ms(frozen.waits, 0.99)} ms, drain p50 "
        f"{_ms(frozen.drains, 0.5)} ms, no heartbeat while frozen ({frozen.beat_rate:.0f}/s "
        "running), resumed in "
        f"{_ms(frozen.resumes, 0.5)} ms; freed {_mib(freed)} MiB; "
        f"available {_mib(budget.available_bytes)} MiB"
    )
    if problems:
        return StepOutcome("fail", "; ".join(problems), section)
    return StepOutcome("pass", reason, section)
