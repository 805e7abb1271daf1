"""``python -m perf.lease``: lease latencies, gpu_coord against two baselines.

Measures, for gpu_coord, the original scheme and a plain ``filelock.FileLock``
(see :mod:`perf.baselines`): uncontended acquire+release (both
priorities), ``checkpoint()`` with nobody waiting, handoff (a high caller asks
while a low holder works in steps of T ms and checkpoints after each), wake-up
(holder releases, a blocked waiter is granted) and crash reclaim (holder
SIGKILLed, a blocked waiter is granted). Prints a Markdown table and appends it,
with the command line, date and machine, to ``docs/performance.md`` (or
``--output``). ``--quick`` runs few iterations (a smoke test).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from perf.lease._plan import SCHEMES, plan
from perf.lease._report import fs_type, run, table, targets
from perf.perfdoc import DEFAULT_OUTPUT, append_section, machine_line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m perf.lease", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="few iterations (smoke test)")
    parser.add_argument(
        "--output",
        type=Path,
        default=DEFAULT_OUTPUT,
        help="Markdown file to append to (default docs/performance.md)",
    )
    parser.add_argument(
        "--dir",
        type=Path,
        default=None,
        help="folder for the lease files (default: a new temp folder in "
        "/dev/shm when present, else the system temp folder)",
    )
    parser.add_argument(
        "--period-ms",
        type=float,
        default=10.0,
        help="step length T of the low holder in the handoff measure",
    )
    parser.add_argument(
        "--schemes",
        default=",".join(SCHEMES),
        help="comma-separated subset of " + ",".join(SCHEMES),
    )
    args = parser.parse_args(argv)
    schemes = tuple(s for s in args.schemes.split(",") if s)
    for scheme in schemes:
        if scheme not in SCHEMES:
            parser.error(f"--schemes: unknown scheme {scheme!r}")
    if args.period_ms <= 0:
        parser.error("--period-ms: must be > 0")
    base = args.dir
    if base is None:
        shm = Path("/dev/shm")
        base = shm if shm.is_dir() and os.access(shm, os.W_OK) else None
    folder = Path(tempfile.mkdtemp(prefix="gpu-coord-bench-", dir=base))
    try:
        progress = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731
        chosen = plan(args.quick, args.period_ms)
        rows = run(chosen, folder, schemes, progress)
        extra = targets(chosen, folder, progress) if "gpu_coord" in schemes else ""
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    command = "python -m perf.lease " + " ".join(argv if argv is not None else sys.argv[1:])
    section = (
        f"\n## perf.lease, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n\n"
        f"- command: `{command.strip()}`\n"
        f"- machine: {machine_line()}; lease files on {fs_type(folder)} "
        f"({folder.parent})\n"
        f"- each cell: p50 / p99 (n = samples); the handoff holder works in images of "
        f"20 steps of {args.period_ms:g} ms\n\n"
        f"{table(rows, schemes)}\n"
        + (f"\nHistory and preemption (gpu_coord, default settings):\n\n{extra}\n" if extra else "")
    )
    print(section)
    append_section(section, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
