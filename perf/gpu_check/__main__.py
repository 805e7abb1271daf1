"""``python -m perf.gpu_check [--dry-run] [--wheels DIR] [--output FILE]``: the GPU host check.

Only the standard library is imported here: ``--wheels`` installs the rest
before any step imports it. Exit status: 0 when no step failed, 1 when one did,
2 for bad usage.
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from perf.gpu_check._registry import TOTAL_BUDGET_S, StepContext, StepOutcome, registered_steps
from perf.gpu_check._run import StepRecord, format_table, run_steps
from perf.gpu_check._wheels import WHEELS_BUDGET_S, install_wheels, requirements
from perf.perfdoc import DEFAULT_OUTPUT, append_section


def _cuda_present() -> bool:
    # The driver's proc entry, not torch: this module imports nothing outside the
    # standard library until the wheels are in.
    return Path("/proc/driver/nvidia/version").exists()


def build_parser() -> argparse.ArgumentParser:
    names = ", ".join(step.name for step in registered_steps())
    p = argparse.ArgumentParser(
        prog="python -m perf.gpu_check",
        description="Verify the whole system on a CUDA host and record its figures "
        f"(steps: {names}).",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="run every step on the CPU at small sizes (no GPU needed, well under a minute)",
    )
    p.add_argument(
        "--device", default="cuda", help="the CUDA device to check (cuda or cuda:N; default cuda)"
    )
    p.add_argument(
        "--wheels",
        type=Path,
        default=None,
        help="install the missing pure-Python dependencies from this folder of wheels first "
        "(pip --no-index --find-links; see docs/gpu_check.md)",
    )
    p.add_argument(
        "--print-requirements",
        action="store_true",
        help="print the requirements --wheels installs (for pip download) and exit",
    )
    p.add_argument("--step", dest="steps", action="append", help="only this step (repeatable)")
    p.add_argument(
        "--models-dir",
        type=Path,
        default=None,
        help="where the tiny models are or are built (default: a temporary folder)",
    )
    p.add_argument(
        "--output",
        type=Path,
        default=DEFAULT_OUTPUT,
        help=f"Markdown file (default {DEFAULT_OUTPUT})",
    )
    p.add_argument("--no-append", action="store_true", help="print only, write nothing")
    return p


def _summary(records: list[StepRecord], ctx: StepContext, took: float) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    verdict = "FAILED" if any(r.outcome.status == "fail" for r in records) else "passed"
    return "\n".join(
        [
            f"## GPU host check: summary ({when})",
            "",
            f"Command: `{ctx.command}`; {verdict} in {took:.0f} s "
            f"(budget {TOTAL_BUDGET_S:g} s on a GPU host).",
            "",
            format_table(records),
            "",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.print_requirements:
        print("\n".join(requirements()))
        return 0
    device = "cpu" if args.dry_run else args.device
    if not args.dry_run and not device.startswith("cuda"):
        print(f"perf.gpu_check: --device {device}: must be cuda or cuda:N", file=sys.stderr)
        return 2
    only = args.steps
    known = [step.name for step in registered_steps()]
    if only and any(name not in known for name in only):
        bad = next(name for name in only if name not in known)
        print(f"perf.gpu_check: --step {bad}: no such step ({', '.join(known)})", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    started = time.monotonic()

    def progress(line: str) -> None:
        print(f"[{time.monotonic() - started:6.1f} s] {line}", file=sys.stderr, flush=True)

    if not args.dry_run and not _cuda_present():
        progress("no NVIDIA driver here (/proc/driver/nvidia/version): the steps will say so")
    output = None if args.no_append else args.output
    records: list[StepRecord] = []
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as tmp:
        ctx = StepContext(
            device=device,
            dry_run=args.dry_run,
            work_dir=Path(tmp),
            models_dir=(args.models_dir or Path(tmp) / "tiny-models").resolve(),
            command=shlex.join(["python", "-m", "perf.gpu_check", *(argv or sys.argv[1:])]),
        )
        if args.wheels is not None:
            progress(f"wheels: installing the dependencies from {args.wheels} ...")
            try:
                outcome = StepOutcome("pass", install_wheels(args.wheels, WHEELS_BUDGET_S))
            except RuntimeError as exc:
                outcome = StepOutcome("fail", str(exc))
            outcome = StepOutcome(outcome.status, outcome.reason, None, time.monotonic() - started)
            records.append(StepRecord("wheels", WHEELS_BUDGET_S, outcome))
            progress(f"wheels: {outcome.status} ({outcome.reason})")
        if records and records[0].outcome.status == "fail":
            for name in only or known:
                records.append(
                    StepRecord(name, 0, StepOutcome("skip", "the wheels did not install"))
                )
        else:
            records += run_steps(ctx, output, progress, only, parallel=args.dry_run)
        summary = _summary(records, ctx, time.monotonic() - started)
    if output is not None:
        append_section(summary, output)
        progress(f"appended to {output}")
    print(format_table(records))
    return 1 if any(r.outcome.status == "fail" for r in records) else 0


if __name__ == "__main__":
    sys.exit(main())
