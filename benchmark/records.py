"""The records a result is carried in, from the worker to the report.

A prompt becomes a :class:`~benchmark.worker.Task` (an ``imagegen.GenerationRequest``
and where the PNG goes), the worker measures it into :class:`Measures`, the
supervisor hands those on in its ``Outcome``, the runner wraps them with the
item's identity into a :class:`Generation`, the store writes that and reads it
back, and the report gets :meth:`Generation.as_row`. The store's columns and
the report's columns both derive from these dataclasses, so a new measure is
one new field here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

from benchmark.metrics import metric_names

__all__ = [
    "MEASURE_COLUMNS",
    "Generation",
    "ItemKey",
    "Measures",
    "RunRecord",
    "Status",
    "prompt_hash",
    "row_columns",
    "score_columns",
]

Status = Literal["ok", "failed"]


@dataclass(frozen=True)
class Measures:
    """What the worker measured of one image (None: not measurable on this device)."""

    width: int
    height: int
    steps: int
    latency_s: float  # generation time, lease waits and yielded time excluded
    steps_per_s: float | None
    peak_mem_bytes: int | None  # CUDA only
    lease_wait_s: float  # generation and scoring waits, first grant and re-grants
    yields: int
    energy_j: float | None  # NVML only, the yielded part excluded
    # Where the image was made (benchmark.placement; docs/benchmark.md):
    device: str | None = None  # torch device, and its lease when not the same ("cpu lease 1")
    placement: str | None = None  # gpu, model_offload or sequential_offload
    resident_mem_bytes: int | None = None  # what the model kept on the device (CUDA only)
    working_mem_bytes: int | None = None  # peak minus resident: the image's own (CUDA only)


MEASURE_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(Measures))


def score_columns() -> tuple[str, ...]:
    """The scores a row shows: one column per registered metric (``benchmark.metrics``)."""
    return metric_names()


def prompt_hash(text: str) -> str:
    """The identity of a prompt's content: an edited set remakes only what changed."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ItemKey:
    """What makes a result unique: prompt set, prompt content, model version, seed.

    The set is its name (the file's), not its content hash, and the prompt is its
    text's hash, not its id: editing one line of a set, or inserting one (which
    renumbers a ``.txt`` set), remakes only the prompts whose text changed.
    """

    prompt_set: str
    prompt_hash: str
    model: str
    model_fingerprint: str
    seed: int


@dataclass(frozen=True)
class Generation:
    """One image attempt, as the store keeps it and the report shows it."""

    run_id: str
    key: ItemKey
    prompt_id: str
    prompt: str
    category: str | None
    model_source: str
    status: Status
    error: str | None = None
    image_path: str | None = None  # relative to the results folder; None when failed
    measures: Measures | None = None
    scores: Mapping[str, float] | None = None
    created_at: str | None = field(default=None, compare=False)

    def as_row(self) -> dict[str, Any]:
        """The flat row of :func:`row_columns` that ``benchmark.report.write_reports`` takes."""
        measures = asdict(self.measures) if self.measures is not None else {}
        scores = self.scores or {}
        row: dict[str, Any] = {
            "prompt_set": self.key.prompt_set,
            "prompt_id": self.prompt_id,
            "prompt": self.prompt,
            "category": self.category,
            "model": self.key.model,
            "seed": self.key.seed,
            "status": self.status,
            "error": self.error,
            "image_path": self.image_path,
        }
        row.update({name: measures.get(name) for name in MEASURE_COLUMNS})
        row.update({name: scores.get(name) for name in score_columns()})
        return row


_IDENTITY_COLUMNS = (
    "prompt_set", "prompt_id", "prompt", "category", "model", "seed", "status", "error",
    "image_path",
)  # fmt: skip


def row_columns() -> tuple[str, ...]:
    """The columns of a report row (and of report.csv), in this order; scores follow the
    metric registry, so a registered metric is a column everywhere at once."""
    return (*_IDENTITY_COLUMNS, *MEASURE_COLUMNS, *score_columns())


@dataclass(frozen=True)
class RunRecord:
    """One run as the store keeps it: what ``status`` lists and a report heads with.

    ``prompt_sets`` and ``models`` hold ``{"name", "hash"}`` and
    ``{"name", "fingerprint"}``: the versions the run covers.
    """

    id: str
    started_at: str
    finished_at: str | None
    config: str
    prompt_sets: tuple[Mapping[str, str], ...]
    models: tuple[Mapping[str, str], ...]

    @property
    def prompt_set_names(self) -> list[str]:
        """The names of the run's prompt sets, in order."""
        return [s["name"] for s in self.prompt_sets]

    @property
    def model_names(self) -> list[str]:
        """The names of the run's models, in order."""
        return [m["name"] for m in self.models]

    def as_report_run(self) -> dict[str, Any]:
        """The run as ``benchmark.report.write_reports`` takes it (names, not versions)."""
        return {
            "id": self.id,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "config": self.config,
            "prompt_sets": self.prompt_set_names,
            "models": self.model_names,
        }
