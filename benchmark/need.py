"""What one configured model needs on its device: its weights and its working memory.

The weights come from its files (:func:`benchmark.weights.size_weights`), the
working memory from the store when an earlier image measured it at this size
and dtype, else from the family's first guess
(:func:`benchmark.placement.first_guess_working_bytes`).
"""

from __future__ import annotations

from benchmark.config import ModelSpec
from benchmark.placement import MemoryNeed, first_guess_working_bytes
from benchmark.weights import bytes_per_value, size_weights

__all__ = ["estimate_need", "working_key"]


def working_key(model: ModelSpec) -> str:
    """The store's key for a model's working memory: what changes it (source, dtype, size)."""
    source = model.declared or model.source
    return f"{source}|{model.dtype}|{model.variant or ''}|{model.width}x{model.height}"


def estimate_need(model: ModelSpec, device: str, measured: int | None) -> MemoryNeed | None:
    """The model's :class:`MemoryNeed` on ``device``; None when its files are not here."""
    sizes = size_weights(model.source, dtype=model.dtype, variant=model.variant, device=device)
    if sizes is None:
        return None
    if measured is not None:
        working, known = measured, True
    else:
        working = first_guess_working_bytes(
            sizes.pipeline_class,
            width=model.width,
            height=model.height,
            bytes_per_value=bytes_per_value(model.dtype, device),
        )
        known = False
    return MemoryNeed(
        components=sizes.components,
        largest_tensor_bytes=sizes.largest_tensor_bytes,
        working_bytes=working,
        working_measured=known,
        source=str(sizes.folder),
    )
