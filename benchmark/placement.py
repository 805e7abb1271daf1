"""Where a model runs: all on the GPU, model CPU offload, sequential CPU offload, or not at all.

Before a model loads the runner estimates what it needs (:class:`MemoryNeed`:
its weights at the configured dtype, read from the safetensors headers of the
files in its folder or the Hugging Face cache, plus its working memory at the
configured size) and compares that with what the lease says may be taken
(``gpu_coord.memory_budget``). :func:`choose_placement` picks, in order, the
first placement that fits: ``gpu`` (everything on the device), ``model_offload``
(diffusers' ``enable_model_cpu_offload``: one component on the device at a
time) and ``sequential_offload`` (``enable_sequential_cpu_offload``: one layer
at a time); when none fits the model is skipped with a reason naming the
figures. Torch-free: the runner decides without importing torch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from gpu_coord import MemoryBudget

__all__ = [
    "PLACEMENTS",
    "PLACEMENT_CHOICES",
    "MemoryNeed",
    "Placement",
    "PlacementDecision",
    "choose_placement",
    "first_guess_working_bytes",
    "gib",
    "lower_placement",
]

Placement = Literal["gpu", "model_offload", "sequential_offload"]
#: From the fastest (and hungriest) to the slowest (and leanest).
PLACEMENTS: tuple[Placement, ...] = ("gpu", "model_offload", "sequential_offload")
PLACEMENT_CHOICES: tuple[str, ...] = ("auto", *PLACEMENTS)

# First guesses of the working memory (activations, attention, the VAE decode) of one
# image in half precision at each family's native size, until a measured figure is in
# the store. They are deliberately on the generous side: a guess too low loads a model
# that then runs out of memory mid-image (which is handled, but costs a retry).
_FAMILY_WORKING: tuple[tuple[str, int, int], ...] = (
    # (model_index _class_name prefix, bytes at the reference size, reference side in px)
    ("StableDiffusionXL", 5 * 2**30, 1024),
    ("StableDiffusion3", 6 * 2**30, 1024),
    ("Flux", 8 * 2**30, 1024),
    ("PixArt", 5 * 2**30, 1024),
    ("Sana", 5 * 2**30, 1024),
    ("StableDiffusion", 2 * 2**30, 512),
)
_DEFAULT_WORKING = (6 * 2**30, 1024)
_WORKING_FLOOR = 256 * 2**20


def gib(value: int | None) -> str:
    """``value`` bytes as GiB with two decimals (``?`` for None), for reasons and logs."""
    return "?" if value is None else f"{value / 2**30:.2f} GiB"


def lower_placement(placement: Placement) -> Placement | None:
    """The next leaner placement, or None below ``sequential_offload``."""
    index = PLACEMENTS.index(placement)
    return PLACEMENTS[index + 1] if index + 1 < len(PLACEMENTS) else None


def first_guess_working_bytes(
    pipeline_class: str | None, *, width: int, height: int, bytes_per_value: int
) -> int:
    """The working memory of one image before any was measured: a per-family guess.

    Scaled linearly with the pixel count (memory-efficient attention keeps it
    linear) and with the element size (float32 doubles it).
    """
    ref_bytes, ref_side = _DEFAULT_WORKING
    for prefix, family_bytes, side in _FAMILY_WORKING:
        if pipeline_class and pipeline_class.startswith(prefix):
            ref_bytes, ref_side = family_bytes, side
            break
    scale = (width * height) / (ref_side * ref_side) * (bytes_per_value / 2)
    return max(_WORKING_FLOOR, int(ref_bytes * scale))


@dataclass(frozen=True)
class MemoryNeed:
    """What one model needs on the device, by placement.

    ``components`` are the weights of each component (unet, text_encoder, vae...)
    at the configured dtype; ``largest_tensor_bytes`` bounds what sequential
    offload brings onto the device at once; ``working_measured`` says whether
    ``working_bytes`` was measured on an earlier image (else it is the family's
    first guess).
    """

    components: Mapping[str, int]
    largest_tensor_bytes: int
    working_bytes: int
    working_measured: bool = False
    source: str = field(default="", compare=False)  # where the weights were read

    @property
    def weights_bytes(self) -> int:
        """All weights together: what ``gpu`` keeps on the device."""
        return sum(self.components.values())

    @property
    def largest_component_bytes(self) -> int:
        """The biggest component: what ``model_offload`` has on the device at its peak."""
        return max(self.components.values(), default=0)

    def weights_on_device(self, placement: Placement) -> int:
        """The weights ``placement`` keeps on the device at its peak."""
        if placement == "gpu":
            return self.weights_bytes
        if placement == "model_offload":
            return self.largest_component_bytes
        return self.largest_tensor_bytes

    def need(self, placement: Placement) -> int:
        """Peak device memory of one image under ``placement``."""
        return self.weights_on_device(placement) + self.working_bytes

    def describe(self) -> str:
        """The figures in words: weights, largest component, working memory."""
        working = "measured" if self.working_measured else "first guess"
        return (
            f"weights {gib(self.weights_bytes)} (largest component "
            f"{gib(self.largest_component_bytes)}), working memory {gib(self.working_bytes)} "
            f"({working})"
        )


@dataclass(frozen=True)
class PlacementDecision:
    """The placement to load with, or None to skip the model; ``reason`` names the figures."""

    placement: Placement | None
    reason: str
    need_bytes: int | None = None  # the chosen placement's peak (None when unknown)
    available_bytes: int | None = None


def choose_placement(
    need: MemoryNeed | None, budget: MemoryBudget | None, requested: str = "auto"
) -> PlacementDecision:
    """Pick the placement for a model from its ``need`` and the device's ``budget``.

    ``requested`` other than ``"auto"`` is taken as given (the reason says when
    it does not fit). With ``"auto"``: the first of :data:`PLACEMENTS` whose
    need fits the budget's ``available_bytes``; None (skip) when none does. An
    unknown need or budget (no weights found, no NVML, not a CUDA device) loads
    everything on the device and says why.
    """
    if requested not in PLACEMENT_CHOICES:
        raise ValueError(f"placement {requested!r} is not one of {', '.join(PLACEMENT_CHOICES)}")
    available = budget.available_bytes if budget is not None and budget.known else None
    if requested != "auto":
        chosen: Placement = requested  # type: ignore[assignment]
        need_bytes = need.need(chosen) if need is not None else None
        reason = f"placement {chosen} as configured"
        if need_bytes is not None and available is not None and need_bytes > available:
            reason += f" although it needs {gib(need_bytes)} and {gib(available)} may be taken"
        return PlacementDecision(chosen, reason, need_bytes, available)
    if budget is None or available is None:
        why = budget.reason if budget is not None else "not a CUDA device"
        return PlacementDecision(
            "gpu", f"all on the device: memory budget unknown ({why})",
            need.need("gpu") if need is not None else None, None,
        )  # fmt: skip
    if need is None:
        return PlacementDecision(
            "gpu", f"all on the device: no weight files to size the model by; {budget.reason}",
            None, available,
        )  # fmt: skip
    for placement in PLACEMENTS:
        need_bytes = need.need(placement)
        if need_bytes <= available:
            return PlacementDecision(
                placement,
                f"{placement}: needs {gib(need_bytes)}, {gib(available)} may be taken "
                f"({need.describe()})",
                need_bytes,
                available,
            )
    leanest = need.need(PLACEMENTS[-1])
    return PlacementDecision(
        None,
        f"skipped: does not fit even with sequential CPU offload: it needs {gib(leanest)} "
        f"({need.describe()}; all on the GPU {gib(need.need('gpu'))}, model offload "
        f"{gib(need.need('model_offload'))}) and {budget.reason}",
        leanest,
        available,
    )
