"""Running the registered steps, each in its own process under its time budget, and the table."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from perf.gpu_check._registry import Step, StepContext, StepOutcome, registered_steps
from perf.perfdoc import append_section

Progress = Callable[[str], None]

_ROOT = Path(__file__).resolve().parents[2]
# After SIGTERM, the seconds a step gets to reap its own children before SIGKILL.
_GRACE_S = 15.0


@dataclass(frozen=True)
class StepRecord:
    """One row of the table: the step and how it went."""

    name: str
    budget_s: float
    outcome: StepOutcome


def step_env() -> dict[str, str]:
    """A step's environment: offline, this project importable from any working directory."""
    env = dict(os.environ)
    env["HF_HUB_OFFLINE"] = "1"
    env.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_ROOT), env.get("PYTHONPATH", "")) if p)
    return env


def _stop(proc: subprocess.Popen[bytes]) -> None:
    # The step runs in its own session: the signal reaches what it started as well.
    for sig, patience in ((signal.SIGTERM, _GRACE_S), (signal.SIGKILL, 10.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=patience)
            return
        except subprocess.TimeoutExpired:
            continue


class _Running:
    """One step's process, started; :meth:`outcome` waits for it within the step's budget."""

    def __init__(self, step: Step, ctx: StepContext) -> None:
        ctx.work_dir.mkdir(parents=True, exist_ok=True)
        self.result = ctx.work_dir / "outcome.json"
        self.result.unlink(missing_ok=True)
        self.budget = step.budget(ctx.dry_run)
        command = [
            sys.executable,
            "-m",
            "perf.gpu_check.step",
            step.name,
            ctx.to_json(),
            str(self.result),
        ]
        self.started = time.monotonic()
        # The step's own output is progress: to stderr, keeping stdout for the table.
        self.proc = subprocess.Popen(
            command, cwd=_ROOT, env=step_env(), stdout=sys.stderr, start_new_session=True
        )

    def outcome(self) -> StepOutcome:
        left = max(0.0, self.started + self.budget - time.monotonic())
        try:
            code = self.proc.wait(timeout=left)
        except subprocess.TimeoutExpired:
            _stop(self.proc)
            reason = f"over its budget of {self.budget:g} s: stopped"
            return StepOutcome("fail", reason, None, self.budget)
        except BaseException:
            _stop(self.proc)
            raise
        took = time.monotonic() - self.started
        if self.result.is_file():
            # The step's own time: steps run side by side end before they are waited for.
            return StepOutcome.from_json(self.result.read_text(encoding="utf-8"))
        return StepOutcome(
            "fail", f"its process exited with status {code} (see its log)", None, took
        )

    def stop(self) -> None:
        _stop(self.proc)


def run_step(step: Step, ctx: StepContext) -> StepOutcome:
    """Run ``step`` in a child process; a fail outcome if it overruns, dies or answers nothing."""
    return _Running(step, ctx).outcome()


def _with_requirements(steps: list[Step], only: list[str]) -> set[str]:
    wanted = set(only)
    for step in reversed(steps):
        if step.name in wanted:
            wanted.update(step.requires)
    return wanted


def run_steps(
    ctx: StepContext,
    output: Path | None,
    progress: Progress,
    only: list[str] | None = None,
    parallel: bool = False,
) -> list[StepRecord]:
    """Every registered step (or those in ``only`` and what they need), in order.

    Each section is appended as its step ends, in the steps' order. ``parallel``
    starts a step as soon as the steps it needs have ended instead of after the
    one before it: for the dry run, whose figures are not measurements, so
    steps sharing the CPU cost correctness nothing and the run its length.
    """
    steps = registered_steps()
    wanted = _with_requirements(steps, only) if only is not None else {s.name for s in steps}
    outcomes: dict[str, StepOutcome] = {}
    running: dict[str, _Running] = {}

    def finish_through(name: str) -> None:
        # Finish the running steps in their order up to ``name``: sections stay in order.
        for earlier in list(running):
            handle = running.pop(earlier)
            outcome = handle.outcome()
            outcomes[earlier] = outcome
            if outcome.section and output is not None:
                append_section(outcome.section, output)
            progress(f"{earlier}: {outcome.status} ({outcome.reason})")
            if earlier == name:
                return

    try:
        for index, step in enumerate(steps, start=1):
            if step.name not in wanted:
                continue
            for needed in step.requires:
                if needed in running:
                    finish_through(needed)
            if running and not parallel:
                finish_through(next(reversed(running)))
            missing = [r for r in step.requires if outcomes[r].status != "pass"]
            if missing:
                outcomes[step.name] = StepOutcome(
                    "skip", f"needs {', '.join(missing)}, which did not pass"
                )
                progress(f"{step.name}: skip ({outcomes[step.name].reason})")
                continue
            budget = step.budget(ctx.dry_run)
            progress(f"[{index}/{len(steps)}] {step.name}: {step.summary} (budget {budget:g} s)")
            running[step.name] = _Running(step, replace(ctx, work_dir=ctx.work_dir / step.name))
        if running:
            finish_through(next(reversed(running)))
    finally:
        for handle in running.values():
            handle.stop()
    return [
        StepRecord(step.name, step.budget(ctx.dry_run), outcomes[step.name])
        for step in steps
        if step.name in outcomes
    ]


def format_table(records: list[StepRecord]) -> str:
    """The pass/fail table, as Markdown (printed and written alike)."""
    lines = ["| step | result | seconds | budget s | reason |", "| --- | --- | ---: | ---: | --- |"]
    for record in records:
        o = record.outcome
        reason = o.reason.replace("|", "/").replace("\n", " ")
        lines.append(
            f"| {record.name} | {o.status} | {o.seconds:.1f} | {record.budget_s:g} | {reason} |"
        )
    return "\n".join(lines)
