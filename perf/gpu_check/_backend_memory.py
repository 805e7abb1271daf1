"""Step ``backend-memory``: the backend's warm-up on CUDA, the headroom it registers, and a check.

The backend's own warm-up (:func:`backend.memory.measure`) on an SD 1.5-shaped
pipeline (the tiny one in a dry run) at the largest request the settings allow:
the weights' memory, the peak working memory on top (what the backend registers
as its resident headroom), and how long it took. A second largest request then
checks that the headroom holds: its peak stays within weights + headroom. The
budget line is what :func:`gpu_coord.memory_budget` says a newcomer may take
with the backend registered.
"""

from __future__ import annotations

from perf.gpu_check._registry import StepContext, StepOutcome, register_step

_MIB = 1024 * 1024
# The allocator rounds blocks; a repeat of the same request may reserve a little more.
_SLACK = 1.05


def _mib(value: int | None) -> str:
    return "n/a" if value is None else f"{value / _MIB:.0f}"


@register_step(
    "backend-memory",
    budget_s=35,
    dry_budget_s=120,
    summary="the backend's warm-up: weights, measured peak working memory (its headroom)",
    requires=("host",),
)
def check_backend_memory(ctx: StepContext) -> StepOutcome:
    import torch

    from backend import Settings
    from backend.memory import measure, register, warmup_request
    from gpu_coord import memory_budget
    from imagegen import cuda_index, generate
    from perf.contention._pipelines import load_for_benchmark

    kind = "tiny" if ctx.dry_run else "sd15-shaped"
    loaded, load_seconds = load_for_benchmark(kind, ctx.device, ctx.models_dir)
    index = cuda_index(ctx.device)
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        model=kind,
        device=ctx.device,
        warmup=True,
        max_size=128 if ctx.dry_run else 512,
        max_n=2 if ctx.dry_run else 4,
        gpu_coord_path=ctx.work_dir / "lease" / "status.json",
        gpu_device=index or 0,
    )
    figures = measure(loaded, settings)
    request = warmup_request(loaded, settings)
    repeat_peak: int | None = None
    if index is not None:
        torch.cuda.reset_peak_memory_stats(index)
        generate(loaded, request)
        torch.cuda.synchronize(index)
        repeat_peak = int(torch.cuda.max_memory_reserved(index))
    me = register(settings, figures)
    try:
        budget = memory_budget(index or 0, path=settings.gpu_coord_path)
    finally:
        me.__exit__(None, None, None)
    claimed = figures.weights_bytes + (figures.peak_working_bytes or 0)
    section = "\n".join(
        [
            *ctx.heading(f"the backend's warm-up and headroom on `{ctx.device}`"),
            f"- Pipeline `{kind}` ({load_seconds:.1f} s to build); the warm-up is the backend's "
            f"own (`backend.memory.measure`) at the largest request allowed: {figures.warmup}. "
            "Weights: `torch.cuda.memory_reserved` after the load; peak working memory: "
            "`torch.cuda.max_memory_reserved` during the warm-up minus the weights.",
            "",
            "| warm-up | s | weights MiB | peak working MiB (headroom) | repeat peak MiB | "
            "weights + headroom MiB | budget left MiB |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
            f"| {figures.warmup} | {figures.warmup_seconds or 0:.2f} | "
            f"{_mib(figures.weights_bytes)} | {_mib(figures.peak_working_bytes)} | "
            f"{_mib(repeat_peak)} | {_mib(claimed)} | {_mib(budget.available_bytes)} |",
            "",
            f"Budget: {budget.reason}.",
            "",
        ]
    )
    if index is None:
        return StepOutcome(
            "pass",
            f"warm-up {figures.warmup} in {figures.warmup_seconds:.2f} s (CPU: no CUDA figures)",
            section,
        )
    if not figures.peak_working_bytes:
        return StepOutcome("fail", "the warm-up measured no working memory", section)
    assert repeat_peak is not None
    verdict = "pass" if repeat_peak <= claimed * _SLACK else "fail"
    return StepOutcome(
        verdict,
        f"weights {_mib(figures.weights_bytes)} MiB + headroom "
        f"{_mib(figures.peak_working_bytes)} MiB ({figures.warmup}, "
        f"{figures.warmup_seconds:.2f} s); a repeat peaked at {_mib(repeat_peak)} MiB",
        section,
    )
