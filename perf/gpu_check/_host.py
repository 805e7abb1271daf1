"""Step ``host``: torch sees the device, kernels run on it, NVML reads it, a lease is taken."""

from __future__ import annotations

import importlib.metadata
import time

from perf.gpu_check._registry import StepContext, StepOutcome, register_step

#: What the services and the runner import besides torch; a missing one is named here,
#: not as an ImportError in the middle of a later step.
_PACKAGES = (
    "torch",
    "transformers",
    "accelerate",
    "huggingface-hub",
    "diffusers",
    "safetensors",
    "pillow",
    "numpy",
    "nvidia-ml-py",
    "fastapi",
    "uvicorn",
    "pydantic-settings",
    "prometheus-client",
    "filelock",
)
_MIB = 1024 * 1024


def _versions() -> tuple[list[str], list[str]]:
    found, missing = [], []
    for name in _PACKAGES:
        try:
            found.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            missing.append(name)
    return found, missing


@register_step(
    "host",
    budget_s=15,
    dry_budget_s=120,
    summary="packages, the device, a kernel, NVML, a lease",
)
def check_host(ctx: StepContext) -> StepOutcome:
    import torch

    from gpu_coord import gpu_snapshot, lease
    from imagegen import cuda_index, lease_device

    found, missing = _versions()
    facts = [f"- Packages: {', '.join(found)}."]
    if missing:
        facts.append(f"- Missing: {', '.join(missing)}.")
    problems = [f"missing {', '.join(missing)} (install them with --wheels DIR)"] if missing else []
    index = cuda_index(ctx.device)
    if index is not None:
        if not torch.cuda.is_available():
            return StepOutcome(
                "fail",
                f"torch {torch.__version__} (CUDA {torch.version.cuda}) sees no GPU: "
                "torch.cuda.is_available() is False",
            )
        props = torch.cuda.get_device_properties(index)
        # One matrix product, synchronised: the device runs kernels, not only reports itself.
        a = torch.randn(2048, 2048, device=ctx.device, dtype=torch.float16)
        started = time.perf_counter()
        for _ in range(10):
            a = a @ a / 2048.0
        torch.cuda.synchronize(index)
        tflops = 10 * 2 * 2048**3 / (time.perf_counter() - started) / 1e12
        facts.append(
            f"- Device: {props.name} (cuda:{index}), {props.total_memory / _MIB:.0f} MiB, "
            f"compute capability {props.major}.{props.minor}; torch {torch.__version__} "
            f"with CUDA {torch.version.cuda}; a 2048^2 fp16 matmul ran at {tflops:.1f} TFLOP/s "
            "(first calls, a sanity figure, not a peak)."
        )
        snapshot = gpu_snapshot(index)
        if snapshot is None:
            problems.append("NVML gives no reading (nvidia-ml-py missing or no driver access)")
            facts.append("- NVML: no reading.")
        else:
            energy = (
                "its energy counter reads"
                if snapshot.energy_mj is not None
                else "no energy counter"
            )
            facts.append(
                f"- NVML: {snapshot.name}, {snapshot.memory_used_bytes / _MIB:.0f} of "
                f"{snapshot.memory_total_bytes / _MIB:.0f} MiB used, {energy}."
            )
    else:
        snapshot = gpu_snapshot()
        facts.append(
            f"- Device: the CPU (torch {torch.__version__}); NVML "
            f"{'reads ' + snapshot.name if snapshot else 'absent, as expected without a GPU'}."
        )
    # The lease on this device's record, with the flush the services use.
    path = ctx.work_dir / "lease" / "status.json"
    started = time.perf_counter()
    with lease(
        "gpu-check", priority="high", path=path, flush="always", device=lease_device(ctx.device)
    ) as held:
        held.checkpoint()
    facts.append(
        f"- Lease: acquire, checkpoint and release with flush `always` on device "
        f"{lease_device(ctx.device)} took {(time.perf_counter() - started) * 1000:.1f} ms."
    )
    section = "\n".join([*ctx.heading("host"), *facts, ""])
    if problems:
        return StepOutcome("fail", "; ".join(problems), section)
    return StepOutcome("pass", facts[1].removeprefix("- Device: ").split(";")[0], section)
