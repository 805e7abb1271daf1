"""Step ``flush``: per flush policy, an image's cost, memory returned on release, energy per image.

One process, one SD 1.5-shaped pipeline (the tiny one in a dry run), images one
after another each in its own lease, as the runner takes them; the figures come
from ``perf.contention._probes.measure_flush_policies``, the contention benchmark's
own probe, with the peak memory and NVML's energy counter beside them.
"""

from __future__ import annotations

import math
from typing import Any

from perf.gpu_check._registry import StepContext, StepOutcome, register_step

IMAGES = 6
DRY_IMAGES = 2
_MIB = 1024 * 1024


def _cell(value: float | None, scale: float = 1.0, digits: int = 0) -> str:
    if value is None or math.isnan(value):
        return "n/a"
    return f"{value / scale:.{digits}f}"


def _table(figures: dict[str, dict[str, Any]]) -> list[str]:
    lines = [
        "| flush | s/image | vs never | release ms | returned on release MiB | "
        "reserved - allocated after MiB | peak allocated MiB | energy J/image |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    never = figures["never"]["image_seconds"]
    for policy, f in figures.items():
        lines.append(
            f"| {policy} | {f['image_seconds']:.3f} | {f['image_seconds'] / never:.3f} | "
            f"{f['release_seconds'] * 1000:.2f} | {_cell(f['returned_bytes'], _MIB)} | "
            f"{_cell(f['cached_after_bytes'], _MIB)} | {_cell(f['peak_allocated_bytes'], _MIB)} | "
            f"{_cell(f['energy_joules_per_image'], 1.0, 1)} |"
        )
    return lines


@register_step(
    "flush",
    budget_s=45,
    dry_budget_s=120,
    summary="each flush policy: image cost, memory returned on release, NVML energy per image",
    requires=("host",),
)
def check_flush(ctx: StepContext) -> StepOutcome:
    import torch

    from imagegen import GenerationRequest, generate

    # The contention benchmark's own pipeline builder and flush probe: one way to measure.
    from perf.contention._pipelines import load_for_benchmark
    from perf.contention._probes import measure_flush_policies

    kind = "tiny" if ctx.dry_run else "sd15-shaped"
    loaded, load_seconds = load_for_benchmark(kind, ctx.device, ctx.models_dir)
    steps = 2 if ctx.dry_run else 20
    seed = [0]

    def image() -> None:
        seed[0] += 1
        generate(loaded, GenerationRequest("a lighthouse at dusk", steps=steps, seed=seed[0]))
        if ctx.on_cuda:
            torch.cuda.synchronize(ctx.device)

    image()  # warm-up: kernels chosen, allocator primed
    # Policy after policy, not interleaved: a policy's cost shows in the next image's
    # allocations, so each policy is measured in its own steady state.
    images = DRY_IMAGES if ctx.dry_run else IMAGES
    figures = measure_flush_policies(
        image, ctx.device, ctx.work_dir / "lease" / "status.json", images
    )
    section = "\n".join(
        [
            *ctx.heading(f"flush policies on `{ctx.device}`"),
            f"- Pipeline `{kind}` ({load_seconds:.1f} s to build), {steps} steps at its native "
            f"size, {images} images per policy after a warm-up, each in its own low-priority "
            "lease. Returned on release: `torch.cuda.memory_reserved` before minus after the "
            "release; peak: `torch.cuda.max_memory_allocated` over the policy's images; energy: "
            "NVML's total energy counter over the policy's images.",
            "",
            *_table(figures),
            "",
        ]
    )
    always = figures["always"]
    per_image = ", ".join(f"{p} {f['image_seconds']:.3f} s" for p, f in figures.items())
    if not ctx.on_cuda:
        return StepOutcome("pass", f"{per_image} (CPU: no CUDA memory or energy)", section)
    if not always["returned_bytes"] or always["cached_after_bytes"] is None:
        return StepOutcome(
            "fail", f"flush=always returned no memory on release ({per_image})", section
        )
    energy = always["energy_joules_per_image"]
    joules = "no energy counter" if energy is None else f"{energy:.1f} J/image"
    returned = always["returned_bytes"] / _MIB
    return StepOutcome(
        "pass", f"{per_image}; always returns {returned:.0f} MiB on release; {joules}", section
    )
