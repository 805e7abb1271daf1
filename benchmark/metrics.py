"""The one table of image metrics, and the shape every scorer has.

The store keeps scores in long form (generation, metric, value), and the report's
columns, summary, category tables, charts and image captions iterate
:data:`METRICS`, so a new metric is one row here plus the scorer that produces
it (``benchmark.scoring``). Importing this module imports neither torch nor a
model: the config, the store and the report read it freely.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["METRICS", "Metric", "Scorer", "metric_names"]


@dataclass(frozen=True)
class Metric:
    """One score an image can get.

    ``name`` is the row key and the store's metric name (``clip_score``);
    ``short`` prefixes the per-model summary keys (``clip_mean``, ``clip_median``);
    ``column`` heads the report's columns (``CLIP mean``), ``label`` its tables
    and charts (``Mean CLIP score``), ``hint`` says what a better value means;
    ``digits`` is how many decimals the reports show. ``scorer`` names the
    scorer that produces it (``benchmark.scoring``).
    """

    name: str
    short: str
    column: str
    label: str
    digits: int
    higher_is_better: bool
    scorer: str
    hint: str


METRICS: tuple[Metric, ...] = (
    Metric("clip_score", "clip", "CLIP", "CLIP score", 2, True, "clip", "closer to the prompt"),
    Metric("aesthetic_score", "aesthetic", "aesthetic", "aesthetic score", 3, True, "aesthetic",
           "prettier"),
)  # fmt: skip


def metric_names() -> tuple[str, ...]:
    """The names of :data:`METRICS`, in table order (the first is the primary metric)."""
    return tuple(m.name for m in METRICS)


class Scorer(Protocol):
    """What every scorer is: a name, the metrics it produces, and batch scoring.

    ``score(images, prompts)`` returns one ``{metric name: value}`` per image,
    in order, with exactly the names in ``metrics``; it raises ``ValueError``
    for a non-finite score and ``TypeError`` for arguments of the wrong type.
    ``close()`` drops the models (and hands cached GPU memory back).
    """

    @property
    def name(self) -> str: ...

    @property
    def metrics(self) -> tuple[str, ...]: ...

    def score(
        self, images: Sequence[Image.Image], prompts: Sequence[str]
    ) -> list[dict[str, float]]: ...

    def close(self) -> None: ...
