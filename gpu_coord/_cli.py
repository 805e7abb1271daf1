"""Command line: ``python -m gpu_coord status|hold|run|history|usage``.

``status [--json] [--watch]`` shows every device's lease like nvidia-smi shows
GPUs; ``hold --owner NAME --priority high|low --seconds S`` takes a lease and
holds it (maintenance windows, tests), exiting 0 after release (SIGTERM ends
the hold early and still releases) and 1 with a message on error. ``run
--owner NAME [...] -- CMD ...`` runs any program inside the lease (frozen while
high-priority work runs, when low); its exit status is the program's, 2 for bad
arguments, 127 when the program cannot be started. ``history`` and ``usage``
read the lease's event log.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import signal
import sys
import time
from types import FrameType
from typing import Any

from ._cli_history import add_commands, show_history, show_usage
from ._errors import LeaseError
from ._lease import lease
from ._paths import check_device, devices, record_path
from ._preempt import DRAIN_SECONDS
from ._run import resolve, run
from ._size import parse_size
from ._status import read_status
from ._validate import PRIORITIES, check_choice, check_owner


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m gpu_coord", description=__doc__)
    parser.add_argument("--path", help="lease record (default: $GPU_COORD_PATH or the default)")
    commands = parser.add_subparsers(dest="command", required=True)
    status = commands.add_parser("status", help="show the lease of every device")
    status.add_argument("--json", action="store_true", help="print one JSON object per device")
    status.add_argument("--watch", action="store_true", help="refresh until interrupted")
    status.add_argument("--interval", type=float, default=1.0, help="seconds between refreshes")
    status.add_argument("--device", type=int, help="only this device index")
    hold = commands.add_parser("hold", help="take the lease and hold it")
    hold.add_argument("--owner", required=True)
    hold.add_argument("--priority", default="low", help="high or low (default low)")
    hold.add_argument("--seconds", type=float, required=True, help="how long to hold")
    hold.add_argument("--device", type=int, default=None)
    hold.add_argument("--max-wait", type=float, default=None, help="high only: go ahead after")
    hold.add_argument("--timeout", type=float, default=None, help="give up after (seconds)")
    hold.add_argument(
        "--checkpoint-ms",
        type=float,
        default=None,
        help="low only: call checkpoint() this often while holding (yields to high)",
    )
    run = commands.add_parser(
        "run", help="run a command inside the lease (frozen while high priority works)"
    )
    run.add_argument("--owner", required=True)
    run.add_argument("--priority", default="low", help="high or low (default low)")
    run.add_argument("--device", type=int, default=None)
    run.add_argument("--max-wait", type=float, default=None, help="high only: go ahead after")
    run.add_argument("--timeout", type=float, default=None, help="give up waiting after (s)")
    run.add_argument(
        "--drain-ms",
        type=float,
        default=DRAIN_SECONDS * 1000,
        help="after freezing, wait this long for queued GPU work (without NVML; "
        f"default {DRAIN_SECONDS * 1000:g})",
    )
    run.add_argument("--memory", default=None, help="register the command as resident: 12GB, ...")
    run.add_argument("argv", nargs=argparse.REMAINDER, metavar="-- CMD ...", help="the command")
    add_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "run":
            return _run(args)
        if args.command == "history":
            return show_history(args)
        if args.command == "usage":
            return show_usage(args)
        if args.command == "status":
            return _status(args)
        return _hold(args)
    except _BadArgument as exc:
        print(f"gpu_coord: error: {exc}", file=sys.stderr)
        return 2 if args.command == "run" else 1
    except FileNotFoundError as exc:
        if args.command != "run":
            raise
        print(f"gpu_coord: error: {exc}", file=sys.stderr)
        return 127
    except (LeaseError, ValueError, OSError) as exc:
        print(f"gpu_coord: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except _EndHold:
        print("gpu_coord: terminated before the lease was granted", file=sys.stderr)
        return 143


def _status(args: argparse.Namespace) -> int:
    while True:
        found = [args.device] if args.device is not None else devices(args.path) or [0]
        records = [read_status(args.path, device) for device in found]
        if args.json:
            for record in records:
                print(json.dumps(record), flush=True)
        else:
            if args.watch:
                print("\033[2J\033[H", end="")
            print(_table(records, str(record_path(args.path))), flush=True)
        if not args.watch:
            return 0
        time.sleep(max(0.1, args.interval))


def _table(records: list[dict[str, Any]], path: str) -> str:
    lines = [f"gpu_coord leases ({path})  {time.strftime('%Y-%m-%d %H:%M:%S %Z')}"]
    header = (
        f"{'GPU':>3}  {'STATE':<7} {'OWNER':<20} {'PRIO':<4} {'PID':>7}  {'SINCE':<29} {'GEN':>6}"
    )
    lines += [header, "-" * len(header)]
    for r in records:
        state = "FORCED" if r["forced"] else "busy" if r["busy"] else "free"
        lines.append(
            f"{r['gpu']:>3}  {state:<7} {r['owner'] or '-'!s:<20.20} "
            f"{r['priority'] or '-'!s:<4} {r['pid'] or '-'!s:>7}  "
            f"{r['since'] or '-'!s:<29} {r['generation']:>6}"
        )
        lines.append(f"     {r['reason']}")
        if r["memory_total_bytes"]:
            used, total = r["memory_used_bytes"] / 2**20, r["memory_total_bytes"] / 2**20
            lines.append(f"     {r['gpu_name']}: {used:.0f} MiB / {total:.0f} MiB")
        for w in r["waiters"]:
            lines.append(
                f"     {w.get('state', 'waiting')}: {w.get('owner')} ({w.get('priority')}) since "
                f"{w.get('since')} pid {w.get('pid')}"
            )
        for m in r.get("residents", []):
            size = "?" if m["resident_bytes"] is None else f"{m['resident_bytes'] / 2**20:.0f}"
            lines.append(
                f"     resident: {m['owner']} pid {m['pid']}: {size} MiB "
                f"+ {m['headroom_bytes'] / 2**20:.0f} MiB headroom"
            )
        if r.get("unaccounted_bytes") is not None:
            lines.append(f"     unaccounted: {r['unaccounted_bytes'] / 2**20:.0f} MiB")
        for f in r["forced_holders"]:
            lines.append(f"     forced: {f.get('owner')} since {f.get('since')} pid {f.get('pid')}")
    return "\n".join(lines)


class _EndHold(Exception):
    """SIGTERM arrived during ``hold``."""


class _BadArgument(ValueError):
    """A command-line argument is wrong; nothing was started (``run`` exits 2, ``hold`` 1)."""


def _check(name: str, value: float | None, *, positive: bool = False) -> None:
    if value is None:
        return
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        bound = "> 0" if positive else ">= 0"
        raise _BadArgument(f"{name}: must be a finite number {bound}, got {value}")


def _hold(args: argparse.Namespace) -> int:
    # Every argument is checked before the lease is taken: nothing to undo on bad input.
    _check("--seconds", args.seconds)
    _check("--checkpoint-ms", args.checkpoint_ms, positive=True)
    _check("--max-wait", args.max_wait)
    _check("--timeout", args.timeout)
    held = lease(
        args.owner,
        priority=args.priority,
        path=args.path,
        device=args.device,
        max_wait=args.max_wait,
        timeout=args.timeout,
    )

    def stop(signum: int, frame: FrameType | None) -> None:
        raise _EndHold  # unwinds through the with block: the lease is released

    signal.signal(signal.SIGTERM, stop)
    with held:
        print(
            json.dumps(
                {
                    "event": "granted",
                    "owner": held.owner,
                    "generation": held.generation,
                    "forced": held.forced,
                    "wait_seconds": round(held.wait_seconds, 6),
                }
            ),
            flush=True,
        )
        end = time.monotonic() + args.seconds
        step = None if args.checkpoint_ms is None else args.checkpoint_ms / 1000
        with contextlib.suppress(_EndHold):  # SIGTERM ends the hold early, cleanly
            while (left := end - time.monotonic()) > 0:
                time.sleep(left if step is None else min(step, left))
                if step is not None and held.checkpoint():
                    print(
                        json.dumps({"event": "yielded", "generation": held.generation}), flush=True
                    )
    print(json.dumps({"event": "released", "owner": held.owner}), flush=True)
    return 0


def _run(args: argparse.Namespace) -> int:
    command = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
    if not command:
        raise _BadArgument("run: no command given (put it after --)")
    for name in ("--max-wait", "--timeout", "--drain-ms"):
        _check(name, getattr(args, name[2:].replace("-", "_")))
    try:
        memory = None if args.memory is None else parse_size(args.memory, name="--memory")
        check_owner(args.owner)
        check_choice("--priority", args.priority, PRIORITIES)
        check_device(args.device)
        if args.max_wait is not None and args.priority != "high":
            raise ValueError("--max-wait: only --priority high may go ahead without the lease")
    except ValueError as exc:
        raise _BadArgument(str(exc)) from exc
    resolve(command)
    return run(
        command,
        owner=args.owner,
        priority=args.priority,
        device=args.device,
        path=args.path,
        max_wait=args.max_wait,
        timeout=args.timeout,
        drain_seconds=args.drain_ms / 1000,
        memory_bytes=memory,
    )
