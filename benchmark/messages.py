"""The messages between the runner and its worker process, over a ``multiprocessing`` pipe.

Worker to parent: :class:`Loaded` or :class:`LoadFailed` once, at start; per
task :class:`Pause` before any call that may block on the GPU lease (the parent
does not count that time against the image timeout) and :class:`Resume` after
it, then :class:`Done` or :class:`Failed`; :class:`Warn` for problems that do
not fail the image (the scorers). Parent to worker: a :class:`Task` or
:class:`Stop`. Every message is a frozen dataclass, pickled by the pipe.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from benchmark.records import Measures

if TYPE_CHECKING:
    from imagegen import GenerationRequest

__all__ = [
    "Done",
    "Failed",
    "LoadFailed",
    "Loaded",
    "Pause",
    "Resume",
    "Stop",
    "Task",
    "ToWorker",
    "Warn",
    "WorkerMessage",
]


@dataclass(frozen=True)
class Task:
    """One image: what to generate, and where the PNG goes."""

    request: GenerationRequest
    image_path: str


@dataclass(frozen=True)
class Stop:
    """Finish: the worker exits after this."""


@dataclass(frozen=True)
class Loaded:
    """The model is loaded on ``device`` with ``placement`` (``reason``: the figures).

    ``label`` names where its images are made ("cuda:1", "cpu lease 1");
    ``resident_bytes`` is what it keeps on the device (None off CUDA).
    """

    device: str
    placement: str = "gpu"
    reason: str = ""
    label: str = ""
    resident_bytes: int | None = None


@dataclass(frozen=True)
class LoadFailed:
    """The model could not be loaded; ``reason`` says why."""

    reason: str


@dataclass(frozen=True)
class Pause:
    """The worker may block on the lease now: the image's clock stops."""


@dataclass(frozen=True)
class Resume:
    """The worker holds the GPU again: the image's clock runs."""


@dataclass(frozen=True)
class Done:
    """The image is on disk; its measures, and its scores when it was scored."""

    measures: Measures
    scores: Mapping[str, float] | None = None


@dataclass(frozen=True)
class Failed:
    """The image failed. ``disk_full``: its PNG could not be written for lack of space."""

    reason: str
    disk_full: bool = False


@dataclass(frozen=True)
class Warn:
    """Something went wrong that does not fail the image (the scorers)."""

    text: str


WorkerMessage = Loaded | LoadFailed | Pause | Resume | Done | Failed | Warn
ToWorker = Task | Stop
