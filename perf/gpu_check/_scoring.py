"""Step ``scoring``: what scoring one image costs on the device, per scorer of the panel.

``python -m perf.scoring``'s own models and measurement: the real architectures
with random weights (OpenAI CLIP ViT-L/14 for CLIP and the aesthetic head,
ViT-H-14 for PickScore and HPS v2.1; the tiny test models in a dry run), saved
and loaded through ``benchmark.scoring``'s loaders, in float32, one image a
call as the runner's worker scores (``Scorers.score(image, prompt)``). Each
call ends on the CPU (the scores are copied back), so its time is the device's.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from perf.gpu_check._registry import StepContext, StepOutcome, register_step

#: The runner's worker scores each image as it is generated: one image a call.
RUNNER_BATCH = 1
IMAGES, DRY_IMAGES = 16, 2
_ARCH = {"clip": "ViT-L/14", "aesthetic": "ViT-L/14 + MLP", "pickscore": "ViT-H-14",
         "hps": "ViT-H-14 (open_clip)"}  # fmt: skip
# The full-size stand-ins take about 8 GB on disk: in memory where there is room for them.
_SHM, _SHM_ROOM = Path("/dev/shm"), 16 * 2**30
_MIB = 1024 * 1024


@contextlib.contextmanager
def _scratch(ctx: StepContext) -> Iterator[Path]:
    fast = _SHM.is_dir() and shutil.disk_usage(_SHM).free > _SHM_ROOM
    where = _SHM if fast else ctx.work_dir
    with tempfile.TemporaryDirectory(prefix="gpu-check-scoring-", dir=where) as folder:
        yield Path(folder)


@register_step(
    "scoring",
    budget_s=50,
    dry_budget_s=120,
    summary="scoring cost per image per scorer (clip, aesthetic, pickscore, hps)",
    requires=("host",),
)
def check_scoring(ctx: StepContext) -> StepOutcome:
    import gc
    import time

    import torch

    from imagegen import cuda_index
    from perf.scoring import build_full_size, build_tiny, measure

    index = cuda_index(ctx.device)
    images = DRY_IMAGES if ctx.dry_run else IMAGES
    size = "tiny" if ctx.dry_run else "full"
    peak: int | None = None
    with _scratch(ctx) as folder:
        started = time.perf_counter()
        if ctx.dry_run:
            fields = build_tiny(ctx.models_dir)
        else:
            # Random weights drawn on the device: 2.4 B parameters initialised on the
            # host's CPU would take most of the budget; the files are the same.
            with torch.device(ctx.device):
                fields = build_full_size(folder)
            gc.collect()
            if index is not None:
                torch.cuda.synchronize(index)
                torch.cuda.empty_cache()
        built = time.perf_counter() - started
        if index is not None:
            torch.cuda.reset_peak_memory_stats(index)
        results = measure(fields, images=images, batch=RUNNER_BATCH, device=ctx.device)
        if index is not None:
            torch.cuda.synchronize(index)
            peak = int(torch.cuda.max_memory_allocated(index))
    arch = {name: "tiny" if ctx.dry_run else model for name, model in _ARCH.items()}
    rows = [
        f"| {r['scorer']} | {arch[r['scorer']]} | {r['load_s']:.1f} | "
        f"{r['per_image_s'] * 1000:.1f} |"
        for r in results
    ]
    peak_line = "" if peak is None else f" Peak allocated over the panel: {peak / _MIB:.0f} MiB."
    section = "\n".join(
        [
            *ctx.heading(f"scoring cost per image, {size} models on `{ctx.device}`"),
            f"- `perf.scoring`'s {size} models ({built:.1f} s to build"
            f"{', random weights drawn on the device' if not ctx.dry_run else ''}), loaded "
            f"through `benchmark.scoring.load_scorers`, float32; {images} random 512x512 images "
            f"{RUNNER_BATCH} a call as the runner scores, the median over calls after a warm-up "
            "call. Each scorer alone (its own image embedding: in the panel the aesthetic head "
            f"reuses CLIP's).{peak_line}",
            "",
            "| scorer | model | load, s | ms per image |",
            "| --- | --- | ---: | ---: |",
            *rows,
            "",
        ]
    )
    costs = ", ".join(f"{r['scorer']} {r['per_image_s'] * 1000:.1f} ms" for r in results)
    bad = [r["scorer"] for r in results if not r["per_image_s"] > 0]
    if bad:
        return StepOutcome("fail", f"no time measured for {', '.join(bad)}", section)
    return StepOutcome("pass", f"per image: {costs}", section)
