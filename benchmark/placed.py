"""A loaded pipeline at its placement: it generates, and steps one placement down on OOM.

A ``torch.cuda.OutOfMemoryError`` during an image flushes what the failed
attempt left, moves the pipeline one placement lower
(:func:`benchmark.offload.place`), updates the worker's resident entry and
retries once; a second error (or no lower placement) fails the image with
:class:`ImageOutOfMemory`, whose message names the figures. The pipeline stays
at the lower placement for the model's next images.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from benchmark.checkpoints import Checkpoints
from benchmark.offload import (
    describe_oom,
    device_memory,
    flush,
    injected_oom,
    oom_budget,
    place,
)
from benchmark.placement import Placement, lower_placement

if TYPE_CHECKING:
    from imagegen import GenerationRequest, LoadedPipeline

__all__ = ["ImageOutOfMemory", "PlacedPipeline"]


class ImageOutOfMemory(RuntimeError):
    """An image ran out of device memory at its placement and one lower; names the figures."""


def _line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class PlacedPipeline:
    """``loaded`` at ``placement``; ``resident`` is the worker's gpu_coord entry (or None)."""

    def __init__(
        self,
        loaded: LoadedPipeline,
        placement: Placement,
        *,
        block_checkpoints: bool,
        warn: Callable[[str], None],
    ) -> None:
        from imagegen import cuda_index, pipeline_blocks

        self.loaded, self.placement = loaded, placement
        # A pipeline without blocks to hook (neither UNet, transformer nor VAE decoder)
        # still checkpoints between its steps.
        self.block_checkpoints = block_checkpoints and bool(pipeline_blocks(loaded.pipe))
        self.warn = warn
        self.index = cuda_index(loaded.device)
        self.resident_bytes = device_memory(self.index)
        self.resident: Any = None
        self._inject = oom_budget()

    def peak(self) -> int | None:
        """``torch.cuda.max_memory_allocated`` since the last reset; None off CUDA."""
        if self.index is None:
            return None
        import torch

        return int(torch.cuda.max_memory_allocated(self.index))

    def reset_peak(self) -> None:
        """Start a new peak (CUDA only)."""
        if self.index is not None:
            import torch

            torch.cuda.reset_peak_memory_stats(self.index)

    def _once(self, request: GenerationRequest, marks: Checkpoints) -> list[Any]:
        from imagegen import generate

        marks.before_step = lambda: injected_oom(self._inject)
        on_block = marks.on_block if self.block_checkpoints else None
        return generate(self.loaded, request, on_step=marks.on_step, on_block=on_block)

    def _step_down(self, first: str, exc: BaseException) -> None:
        lower = lower_placement(self.placement)
        if lower is None:
            raise ImageOutOfMemory(f"{first}; no placement lower: {_line(exc)}") from exc
        self.warn(f"{first}; retrying with {lower}")
        try:
            place(self.loaded, lower)
        except Exception as move:
            raise ImageOutOfMemory(f"{first}; cannot move to {lower}: {move}") from exc
        self.placement = lower
        self.resident_bytes = device_memory(self.index)
        if self.resident is not None:
            self.resident.update(resident_bytes=self.resident_bytes or 0)
        self.reset_peak()

    def generate(self, request: GenerationRequest, marks: Checkpoints) -> list[Any]:
        """Make ``request``'s images; out of memory: flush, retry once lower, else fail."""
        import torch

        try:
            return self._once(request, marks)
        except torch.cuda.OutOfMemoryError as exc:
            first = (
                f"out of memory ({describe_oom(self.placement, self.peak(), self.resident_bytes)})"
            )
            flush(self.loaded.device)
            self._step_down(first, exc)
        try:
            return self._once(request, marks)
        except torch.cuda.OutOfMemoryError as exc:
            flush(self.loaded.device)
            figures = describe_oom(self.placement, self.peak(), self.resident_bytes)
            raise ImageOutOfMemory(
                f"{first}; out of memory again ({figures}): {_line(exc)}"
            ) from exc
