"""``python -m perf.gpu_check.step NAME CONTEXT_JSON RESULT_PATH``: run one step, write its outcome.

The process entry point of one step (started by :func:`perf.gpu_check._run.run_step`).
Whatever the step raises becomes a ``fail`` outcome naming the error (the
traceback goes to stderr); :class:`~perf.gpu_check.StepSkipped` becomes ``skip``.
"""

from __future__ import annotations

import signal
import sys
import time
import traceback
from dataclasses import replace
from pathlib import Path

from perf.gpu_check._registry import StepContext, StepOutcome, StepSkipped, find_step


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: python -m perf.gpu_check.step NAME CONTEXT_JSON RESULT_PATH", file=sys.stderr)
        return 2
    name, context, result = argv
    # The parent stops an overrunning step with SIGTERM: leave through the finally
    # blocks so the step reaps what it started.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    ctx = StepContext.from_json(context)
    ctx.work_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    try:
        outcome = find_step(name).run(ctx)
    except StepSkipped as exc:
        outcome = StepOutcome("skip", str(exc))
    except Exception as exc:  # the step's verdict, never a crash of the check
        traceback.print_exc()
        outcome = StepOutcome("fail", f"{type(exc).__name__}: {exc}")
    outcome = replace(outcome, seconds=time.monotonic() - started)
    Path(result).write_text(outcome.to_json(), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
