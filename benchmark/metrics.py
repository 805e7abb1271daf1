"""The registry of image metrics, and the shape every scorer has.

The store keeps scores in long form (generation, metric, value), and the report's
columns, summary, intervals, win rates, category tables, charts and image captions
iterate :func:`metrics`, so a new metric is one :func:`register_metric` (which
``benchmark.scoring.register_scorer`` does for the metrics a scorer declares).
The panel's own metrics are registered here, so importing this module imports
neither torch nor a model: the config, the store and the report read it freely.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from PIL import Image

__all__ = [
    "Metric",
    "Scorer",
    "get_metric",
    "metric_names",
    "metrics",
    "register_metric",
    "scorer_names",
    "unregister_metric",
]


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


_REGISTRY: dict[str, Metric] = {}


def register_metric(metric: Metric) -> None:
    """Add ``metric`` to the registry (replacing one of the same name, keeping its place)."""
    if not isinstance(metric, Metric):
        raise TypeError(f"register_metric: expected a Metric, got {type(metric).__name__}")
    for other in _REGISTRY.values():
        if other.short == metric.short and other.name != metric.name:
            raise ValueError(
                f"register_metric: short name {metric.short!r} of {metric.name!r} is "
                f"already used by {other.name!r}"
            )
    _REGISTRY[metric.name] = metric


def unregister_metric(name: str) -> None:
    """Remove the metric ``name`` (a test that registered one cleans up with this)."""
    _REGISTRY.pop(name, None)


def metrics() -> tuple[Metric, ...]:
    """Every registered metric, in registration order (the panel's own come first)."""
    return tuple(_REGISTRY.values())


def metric_names() -> tuple[str, ...]:
    """The names of :func:`metrics`, in the same order."""
    return tuple(_REGISTRY)


def get_metric(name: str) -> Metric:
    """The metric called ``name``; ``KeyError`` naming the known ones otherwise."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"no metric {name!r} (known: {', '.join(_REGISTRY)})") from None


def scorer_names() -> tuple[str, ...]:
    """The scorers the registered metrics name, in order, each once."""
    return tuple(dict.fromkeys(m.scorer for m in _REGISTRY.values()))


for _metric in (
    Metric("clip_score", "clip", "CLIP", "CLIP score", 2, True, "clip", "closer to the prompt"),
    Metric("aesthetic_score", "aesthetic", "aesthetic", "aesthetic score", 3, True, "aesthetic",
           "prettier"),
    Metric("pickscore", "pick", "PickScore", "PickScore", 2, True, "pickscore",
           "preferred by people"),
    Metric("hps_v21", "hps", "HPS v2.1", "HPS v2.1 score", 2, True, "hps",
           "preferred by people"),
):  # fmt: skip
    register_metric(_metric)


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
