"""Choosing where a pipeline runs and in which precision."""

from __future__ import annotations

import torch

_DTYPE_NAMES: dict[str, torch.dtype] = {
    "float16": torch.float16,
    "fp16": torch.float16,
    "half": torch.float16,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float32": torch.float32,
    "fp32": torch.float32,
    "float": torch.float32,
}


def pick_device(device: str | None = None) -> str:
    """Return ``device`` if given (``"auto"`` counts as not given), else the best one here.

    CUDA first, then Apple's MPS, then the CPU. An explicit ``"cuda"`` on a host
    without CUDA raises ``ValueError`` rather than silently running on the CPU.
    """
    if device is None or device == "auto":
        if torch.cuda.is_available():
            return "cuda"
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return "mps"
        return "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device={device!r}: CUDA is not available on this host")
    return device


def pick_dtype(device: str, dtype: str | None = None) -> torch.dtype:
    """Return the torch dtype for ``dtype`` (a name such as ``"fp16"``) on ``device``.

    With no name (or ``"auto"``): float16 on CUDA and MPS, where diffusion
    pipelines are routinely run in half precision; float32 on the CPU, where half
    precision is slow or unsupported.
    """
    if dtype is None or dtype == "auto":
        return torch.float32 if device == "cpu" else torch.float16
    try:
        return _DTYPE_NAMES[dtype.lower()]
    except KeyError:
        known = ", ".join(sorted(_DTYPE_NAMES))
        raise ValueError(f"dtype={dtype!r} is not one of: auto, {known}") from None


def cuda_index(device: str) -> int | None:
    """The CUDA device index of a torch device string (``"cuda"`` is 0); None off CUDA."""
    if not device.startswith("cuda"):
        return None
    _, _, index = device.partition(":")
    try:
        return int(index) if index else 0
    except ValueError:
        raise ValueError(f"device={device!r}: not a CUDA device of the form cuda[:N]") from None


def lease_device(device: str) -> int:
    """The GPU lease (gpu_coord device index) that work on torch ``device`` must hold.

    ``cuda:N`` holds lease N. Work off CUDA (the CPU, MPS) holds lease 0: a host
    without CUDA has one accelerator, or stands in for one in the local run and
    the tests, and every service on it must still take turns.
    """
    index = cuda_index(device)
    return 0 if index is None else index
