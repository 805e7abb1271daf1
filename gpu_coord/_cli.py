"""Command line: ``python -m gpu_coord status|hold``.

``status [--json] [--watch]`` shows every device's lease like nvidia-smi shows
GPUs; ``hold --owner NAME --priority high|low --seconds S`` takes a lease and
holds it (maintenance windows, tests), exiting 0 after release (SIGTERM ends
the hold early and still releases) and 1 with a message on error.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import time
from types import FrameType
from typing import Any

from ._errors import LeaseError
from ._lease import lease
from ._paths import record_path
from ._status import devices, read_status


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
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "status":
            return _status(args)
        return _hold(args)
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
                f"     waiting: {w.get('owner')} ({w.get('priority')}) since "
                f"{w.get('since')} pid {w.get('pid')}"
            )
        for f in r["forced_holders"]:
            lines.append(f"     forced: {f.get('owner')} since {f.get('since')} pid {f.get('pid')}")
    return "\n".join(lines)


class _EndHold(Exception):
    """SIGTERM arrived during ``hold``."""


def _hold(args: argparse.Namespace) -> int:
    if args.seconds < 0:
        raise ValueError(f"--seconds: must be >= 0, got {args.seconds}")

    def stop(signum: int, frame: FrameType | None) -> None:
        raise _EndHold  # unwinds through the with block: the lease is released

    signal.signal(signal.SIGTERM, stop)
    held = lease(
        args.owner,
        priority=args.priority,
        path=args.path,
        device=args.device,
        max_wait=args.max_wait,
        timeout=args.timeout,
    )
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
