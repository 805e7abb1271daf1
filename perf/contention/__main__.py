"""``python -m perf.contention``: run the comparison, print it, append it to the docs."""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from perf.contention._config import (
    DEFAULT_SCHEMES,
    FLUSH_POLICIES,
    PIPELINES,
    SHARED_SCHEMES,
    ContentionConfig,
)
from perf.contention._orchestrate import run_contention
from perf.contention._poll import measure_hot_paths
from perf.contention._procs import RoleError
from perf.contention._report import format_hot_paths, format_report
from perf.perfdoc import DEFAULT_OUTPUT, append_section

#: ``--quick``: every scenario and every code path, in well under a minute on 2 CPU cores.
QUICK = {
    "rounds": 1,
    "seconds": 3.0,
    "interval": 1.0,
    "steps": 4,
    "poll_seconds": 1.0,
    "poll_readers": 2,
    "flush_images": 2,
    "overhead_images": 3,
}


def _optional_float(text: str) -> float | None:
    return None if text.lower() == "none" else float(text)


def _optional_int(text: str) -> int | None:
    return None if text.lower() == "none" else int(text)


def _cuda_available() -> bool:
    # The NVIDIA driver's proc entry, not torch: importing torch here would cost the
    # parent seconds and memory for one yes/no. A wrong guess fails in the role
    # process with "CUDA is not available on this host".
    return Path("/proc/driver/nvidia/version").exists()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m perf.contention",
        description="Backend latency and runner throughput, alone and sharing one device, "
        "under this project's lease, the original scheme and no coordination.",
    )
    p.add_argument(
        "--device", default=None, help="cpu or cuda[:N] (default: cuda when available, else cpu)"
    )
    p.add_argument(
        "--pipeline",
        choices=PIPELINES,
        default=None,
        help="tiny (CPU default) or sd15-shaped (CUDA default: SD 1.5 configs, random weights)",
    )
    p.add_argument(
        "--seconds", type=float, default=None, help="measured window per scenario (default 50)"
    )
    p.add_argument(
        "--rounds",
        type=int,
        default=None,
        help="scenarios take turns in this many rounds of seconds/rounds each (3)",
    )
    p.add_argument(
        "--interval",
        type=float,
        default=None,
        help="seconds between backend requests (default: 2.5 x the backend's "
        "image time alone, measured at start-up)",
    )
    p.add_argument("--steps", type=int, default=None, help="denoising steps per image (20)")
    p.add_argument(
        "--runner-steps",
        type=int,
        default=None,
        help="the runner's steps per image (default: --steps)",
    )
    p.add_argument(
        "--size",
        type=int,
        default=None,
        help="image width and height (default: the pipeline's native size)",
    )
    p.add_argument("--guidance", type=float, default=7.5, help="guidance scale (7.5)")
    p.add_argument(
        "--schemes",
        default=",".join(DEFAULT_SCHEMES),
        help=f"shared scenarios, comma-separated, from {', '.join(SHARED_SCHEMES)}",
    )
    p.add_argument(
        "--flush",
        choices=FLUSH_POLICIES,
        default="always",
        help="the lease's CUDA flush policy (always, as the services default)",
    )
    p.add_argument(
        "--max-wait",
        type=_optional_float,
        default=10.0,
        help="backend max_wait in seconds, or none (10, as the backend default)",
    )
    p.add_argument(
        "--pin-core",
        type=_optional_int,
        default=None,
        help="CPU core both roles are confined to (default on cpu: the last core; on cuda: none)",
    )
    p.add_argument(
        "--keep-warm",
        action="store_true",
        help="run a SCHED_IDLE busy loop on the pinned core so it never idles",
    )
    p.add_argument(
        "--models-dir",
        type=Path,
        default=Path("research/models/tiny"),
        help="where the tiny models are (built there when missing)",
    )
    p.add_argument(
        "--poll-readers",
        type=int,
        default=None,
        help="processes polling read_status in the hot-path measurement (4)",
    )
    p.add_argument("--poll-rate", type=float, default=20.0, help="reads per second per poller")
    p.add_argument(
        "--poll-seconds", type=float, default=None, help="hot-path measurement window (5)"
    )
    p.add_argument(
        "--flush-images",
        type=int,
        default=None,
        help="images per flush policy in the CUDA flush measurement (8; 0 skips it)",
    )
    p.add_argument(
        "--overhead-images",
        type=int,
        default=None,
        help="images per mode in the checkpoint-overhead measurement of lease-blocks (8)",
    )
    p.add_argument(
        "--hot-paths-only",
        action="store_true",
        help="measure only the lease's hot paths and the status poll (seconds)",
    )
    p.add_argument(
        "--quick", action="store_true", help="a short smoke run of every scenario (~1 minute)"
    )
    p.add_argument(
        "--output",
        type=Path,
        default=DEFAULT_OUTPUT,
        help="Markdown file the report is appended to",
    )
    p.add_argument("--no-append", action="store_true", help="print only")
    return p


def config_from_args(args: argparse.Namespace) -> ContentionConfig:
    device = args.device or ("cuda" if _cuda_available() else "cpu")
    on_cuda = device.startswith("cuda")
    quick = QUICK if args.quick else {}

    def pick(name: str, default: float) -> float:
        value = getattr(args, name)
        return value if value is not None else quick.get(name, default)

    return ContentionConfig(
        device=device,
        pipeline=args.pipeline or ("sd15-shaped" if on_cuda else "tiny"),
        seconds=float(pick("seconds", 50.0)),
        rounds=int(pick("rounds", 3)),
        interval=args.interval if args.interval is not None else quick.get("interval"),
        steps=int(pick("steps", 20)),
        runner_steps=args.runner_steps,
        size=args.size,
        guidance=args.guidance,
        schemes=tuple(s.strip() for s in args.schemes.split(",") if s.strip()),
        flush=args.flush,
        max_wait=args.max_wait,
        pin_core=args.pin_core,
        keep_warm=args.keep_warm,
        models_dir=args.models_dir,
        poll_readers=int(pick("poll_readers", 4)),
        poll_rate=args.poll_rate,
        poll_seconds=float(pick("poll_seconds", 5.0)),
        flush_images=int(pick("flush_images", 8)),
        overhead_images=int(pick("overhead_images", 8)),
        quick=args.quick,
    ).check()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = config_from_args(args)
    except ValueError as exc:
        print(f"perf.contention: {exc}", file=sys.stderr)
        return 2
    started = time.monotonic()
    # A plain `kill` must still reap the role processes (the finally blocks run).
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))

    def progress(line: str) -> None:
        print(f"[{time.monotonic() - started:6.1f} s] {line}", file=sys.stderr, flush=True)

    if args.hot_paths_only:
        return _hot_paths_only(config, args, progress)
    try:
        report = run_contention(config, progress, argv if argv is not None else sys.argv[1:])
    except RoleError as exc:
        print(f"perf.contention: {exc}", file=sys.stderr)
        return 1
    text = format_report(report)
    print(text)
    if not args.no_append:
        append_section(text, args.output)
        progress(f"appended to {args.output}")
    return 0


def _hot_paths_only(
    config: ContentionConfig, args: argparse.Namespace, progress: Callable[[str], None]
) -> int:
    load = os.getloadavg()
    started_at = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    progress(
        f"hot paths: {config.poll_readers} status pollers at {config.poll_rate:g}/s "
        "while a lease cycles ..."
    )
    with tempfile.TemporaryDirectory(prefix="contention-hot-") as tmp:
        hot = measure_hot_paths(
            Path(tmp),
            config.poll_readers,
            config.poll_rate,
            config.poll_seconds,
            repeats=500 if config.quick else 2000,
        )
    command = shlex.join(["python", "-m", "perf.contention", *sys.argv[1:]])
    text = format_hot_paths(hot, command, started_at, load, os.cpu_count())
    print(text)
    if not args.no_append:
        append_section(text, args.output)
        progress(f"appended to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
