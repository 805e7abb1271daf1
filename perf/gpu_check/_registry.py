"""The steps of the GPU host check: what one is, what it gets, what it answers, where it is listed.

A step is a function from a :class:`StepContext` to a :class:`StepOutcome`,
registered with :func:`register_step` under a name and a time budget. Each step
runs in its own process (see :mod:`perf.gpu_check._run`), so a step that hangs
is killed at its budget, a step that crashes the interpreter fails alone, and
every step starts with a fresh CUDA context (its memory figures are its own).
Step modules import only the standard library at module level: the check
installs the other dependencies from wheels before it imports them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

STATUSES = ("pass", "fail", "skip")
#: The whole check on an H100/H200, wheels included: the step budgets add up to at most this.
TOTAL_BUDGET_S = 480.0


@dataclass(frozen=True)
class StepContext:
    """What a step knows about the run: plain values, passed to the step's process as JSON.

    ``device`` is ``"cuda"`` (or ``"cuda:N"``) on a GPU host and ``"cpu"`` in a
    dry run, which uses small sizes and few images to exercise every code path.
    ``work_dir`` is the step's own scratch folder; ``models_dir`` is where the
    tiny offline models are (built there when missing); ``command`` is the
    check's command line, quoted in each section.
    """

    device: str
    dry_run: bool
    work_dir: Path
    models_dir: Path
    command: str

    @property
    def on_cuda(self) -> bool:
        return self.device.startswith("cuda")

    def heading(self, title: str) -> list[str]:
        """The first lines of a step's section: its title, when, the command, the machine."""
        from datetime import UTC, datetime

        from perf.perfdoc import machine_line

        when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        mode = "dry run on the CPU" if self.dry_run else f"on `{self.device}`"
        return [
            f"## GPU host check: {title} ({when})",
            "",
            f"Command: `{self.command}` ({mode}; {machine_line()})",
            "",
        ]

    def to_json(self) -> str:
        return json.dumps(
            {k: str(v) if isinstance(v, Path) else v for k, v in asdict(self).items()}
        )

    @classmethod
    def from_json(cls, text: str) -> StepContext:
        data: dict[str, Any] = json.loads(text)
        return cls(
            device=str(data["device"]),
            dry_run=bool(data["dry_run"]),
            work_dir=Path(data["work_dir"]),
            models_dir=Path(data["models_dir"]),
            command=str(data["command"]),
        )


@dataclass(frozen=True)
class StepOutcome:
    """A step's verdict (``pass``, ``fail`` or ``skip``), why in one line, its Markdown section."""

    status: str
    reason: str
    section: str | None = None
    seconds: float = 0.0

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status: must be one of {', '.join(STATUSES)}, got {self.status!r}")

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> StepOutcome:
        data = json.loads(text)
        return cls(
            status=str(data["status"]),
            reason=str(data["reason"]),
            section=data.get("section"),
            seconds=float(data.get("seconds", 0.0)),
        )


class StepSkipped(Exception):
    """Raised by a step that cannot apply on this host; the message is the reason."""


StepFunction = Callable[[StepContext], StepOutcome]


@dataclass(frozen=True)
class Step:
    """One registered check. ``budget_s`` bounds it on a GPU host, ``dry_budget_s`` in a dry run.

    ``requires`` names steps that must have passed first (else this one is
    skipped, saying which did not).
    """

    name: str
    run: StepFunction
    budget_s: float
    dry_budget_s: float
    summary: str
    requires: tuple[str, ...] = field(default_factory=tuple)

    def budget(self, dry_run: bool) -> float:
        return self.dry_budget_s if dry_run else self.budget_s


_STEPS: dict[str, Step] = {}


def register_step(
    name: str,
    *,
    budget_s: float,
    dry_budget_s: float,
    summary: str,
    requires: tuple[str, ...] = (),
) -> Callable[[StepFunction], StepFunction]:
    """Decorator: add the function to the check, run in registration order.

    A later issue adds its CUDA check as a new module of step functions
    decorated with this, listed in :data:`perf.gpu_check._catalog.MODULES`.
    The budgets of all steps together must stay within :data:`TOTAL_BUDGET_S`
    (checked by the tests).
    """

    def add(function: StepFunction) -> StepFunction:
        if name in _STEPS:
            raise ValueError(f"step {name!r} is registered twice")
        _STEPS[name] = Step(name, function, budget_s, dry_budget_s, summary, tuple(requires))
        return function

    return add


def registered_steps() -> list[Step]:
    """Every registered step, in the order the check runs them.

    The order is the catalog's module order, then the order of definition within
    a module, whatever order the modules were imported in. Raises ValueError when
    a step requires one that does not run before it.
    """
    from perf.gpu_check import _catalog

    modules = [module.__name__ for module in _catalog.MODULES]

    def position(step: Step) -> tuple[int, int]:
        module = step.run.__module__
        where = modules.index(module) if module in modules else len(modules)
        return where, step.run.__code__.co_firstlineno

    steps = sorted(_STEPS.values(), key=position)
    for index, step in enumerate(steps):
        earlier = {s.name for s in steps[:index]}
        unknown = [r for r in step.requires if r not in earlier]
        if unknown:
            raise ValueError(f"step {step.name!r} requires {', '.join(unknown)}, which runs later")
    return steps


def find_step(name: str) -> Step:
    """The step called ``name``; KeyError naming the known ones if there is none."""
    steps = {step.name: step for step in registered_steps()}
    if name not in steps:
        raise KeyError(f"no step {name!r} (known: {', '.join(steps)})")
    return steps[name]
