"""Steps ``contention`` and ``block-yield``: the contention benchmark on the device.

Both build their configuration from a ``python -m perf.contention`` command
line, so each section's command reproduces it on its own. ``contention`` runs
this project's lease against the original scheme and no coordination with the
SD 1.5-shaped pipeline (the flush policies measured in the same sitting);
``block-yield`` runs the lease with step-only and with block checkpoints side
by side, and the checkpoint overhead with nobody waiting.
"""

from __future__ import annotations

import math
import time
from typing import Any

from perf.gpu_check._registry import StepContext, StepOutcome, register_step

# On a GPU host: 5 scenarios x 15 s for contention, 4 x 12 s for the block yield,
# plus start-up (two roles build SD 1.5's 1.07 B random weights on the GPU) and calibration.
_DRY = [
    "--quick",
    "--seconds",
    "1.5",
    "--interval",
    "0.4",
    "--steps",
    "2",
    "--poll-readers",
    "1",
    "--poll-seconds",
    "0.3",
    "--overhead-images",
    "2",
]


def _argv(ctx: StepContext, on_cuda: list[str], both: list[str]) -> list[str]:
    if ctx.dry_run:
        return ["--device", "cpu", "--pipeline", "tiny", *_DRY, *both]
    return ["--device", ctx.device, "--pipeline", "sd15-shaped", *on_cuda, *both]


def _run(ctx: StepContext, argv: list[str]) -> tuple[Any, str]:
    from perf.contention import format_report, run_contention
    from perf.contention.__main__ import build_parser, config_from_args

    argv = [*argv, "--models-dir", str(ctx.models_dir)]
    config = config_from_args(build_parser().parse_args(argv))
    started = time.monotonic()

    def progress(line: str) -> None:
        print(f"  [{time.monotonic() - started:6.1f} s] {line}", flush=True)

    report = run_contention(config, progress, argv)
    return report, format_report(report)


def _ms(seconds: float) -> str:
    return "n/a" if math.isnan(seconds) else f"{seconds * 1000:.0f} ms"


@register_step(
    "contention",
    budget_s=120,
    dry_budget_s=240,
    summary="backend and runner sharing the device: lease, original scheme, none",
    requires=("host",),
)
def check_contention(ctx: StepContext) -> StepOutcome:
    from perf.contention._report import IDLE_TARGET, P99_TARGET

    argv = _argv(
        ctx,
        ["--seconds", "15", "--rounds", "1", "--flush-images", "4", "--poll-seconds", "3"],
        ["--schemes", "lease,original,none"],
    )
    report, section = _run(ctx, argv)
    lease = next(c for c in report.comparisons if c.scheme == "lease")
    shared = next(s for s in report.scenarios if s.scheme == "lease")
    p99_ok = "met" if lease.p99_ratio <= P99_TARGET else "MISSED"
    idle_ok = "met" if lease.runner_vs_idle >= IDLE_TARGET else "MISSED"
    verdicts = (
        f"lease: backend p99 {lease.p99_ratio:.2f} x alone (target <= {P99_TARGET:.2f}: "
        f"{p99_ok}), runner {lease.runner_vs_idle:.2f} of the idle time "
        f"(target >= {IDLE_TARGET:.2f}: {idle_ok})"
    )
    if shared.backend is not None and shared.backend.forced:
        return StepOutcome(
            "fail",
            f"the backend forced the lease {shared.backend.forced} time(s): the runner "
            f"did not yield within max_wait; {verdicts}",
            section,
        )
    return StepOutcome("pass", verdicts, section)


@register_step(
    "block-yield",
    budget_s=90,
    dry_budget_s=240,
    summary="the backend's lease wait with step-only and with block checkpoints",
    requires=("host",),
)
def check_block_yield(ctx: StepContext) -> StepOutcome:
    from perf.contention import BlockFigures
    from perf.contention._report_probes import OVERHEAD_TARGET

    argv = _argv(
        ctx,
        ["--seconds", "12", "--rounds", "2", "--poll-seconds", "2", "--overhead-images", "4"],
        ["--schemes", "lease,lease-blocks", "--flush-images", "0"],
    )
    report, section = _run(ctx, argv)
    if not report.checkpoint_overhead:
        return StepOutcome("fail", "the run measured no checkpoint overhead", section)
    f = BlockFigures.of(report.checkpoint_overhead, report.scenarios)
    wait_ok = "met" if f.wait_p99_blocks <= f.stretch_blocks else "MISSED"
    share_ok = "met" if f.hook_share < OVERHEAD_TARGET else "MISSED"
    reason = (
        f"backend lease wait p99 {_ms(f.wait_p99_step)} step-only, "
        f"{_ms(f.wait_p99_blocks)} with block checkpoints (longest stretch between "
        f"checkpoints {_ms(f.stretch_blocks)}: {wait_ok}; one step {_ms(f.step_seconds)}); "
        f"checkpoints with nobody waiting {f.hook_share * 100:.2f}% of image time "
        f"(target < {OVERHEAD_TARGET * 100:g}%: {share_ok})"
    )
    return StepOutcome("pass", reason, section)
