"""``python -m benchmark``: run, watch, report, compare, status, check, prefetch.

Paths default to ``BENCHMARK_CONFIG``, ``BENCHMARK_DATA_DIR`` and
``BENCHMARK_RESULTS_DIR`` (or ``research/benchmark.toml``, ``research/data`` and
``research/benchmark_results``); command-line options win. Exit status: 0 when
the command did its work (a run with failed images included: they are results),
1 when ``check``/``prefetch`` found problems, 2 for bad usage (an unknown
``--model``, ``--set`` or ``--run``, a missing data folder), a bad config or an
unwritable results folder, 3 when the results disk is full (the run stopped
unfinished: free space and run again to resume), 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from benchmark.config import load_config
from benchmark.errors import EXIT_USAGE, BenchmarkError
from benchmark.logs import setup_logging
from benchmark.prompts import load_prompt_sets
from benchmark.results import default_paths
from benchmark.runner import run_benchmark, write_run_report
from benchmark.store import DB_NAME, ResultsStore

log = logging.getLogger("benchmark")


def _parser() -> argparse.ArgumentParser:
    config, data, results = default_paths()
    parser = argparse.ArgumentParser(
        prog="python -m benchmark", description="Text-to-image benchmark runner."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser, *, data_dir: bool = True) -> None:
        p.add_argument("--config", type=Path, default=config, help=f"TOML (default {config})")
        if data_dir:
            p.add_argument("--data-dir", type=Path, default=data, help=f"default {data}")
        p.add_argument("--results-dir", type=Path, default=results, help=f"default {results}")
        p.add_argument("-v", "--verbose", action="store_true", help="debug logging")

    run = sub.add_parser("run", help="run (or resume) the benchmark once")
    common(run)
    run.add_argument("--set", dest="sets", action="append", help="only this prompt set")
    run.add_argument("--model", dest="models", action="append", help="only this model")
    run.add_argument("--no-report", action="store_true", help="skip writing the report")
    watch = sub.add_parser("watch", help="run, then run again whenever research/data changes")
    common(watch)
    watch.add_argument("--poll", type=float, default=5.0, help="seconds between scans")
    watch.add_argument("--model", dest="models", action="append", help="only this model")
    report = sub.add_parser("report", help="write the report of a run again")
    common(report, data_dir=False)
    report.add_argument("--run", dest="run_id", help="run id (default: the latest)")
    report.add_argument(
        "--out", type=Path, help="write the files here (default: RESULTS/reports/<run id>)"
    )
    report.add_argument("--rank-by", metavar="METRIC", help="leaderboard metric (e.g. pickscore)")
    compare = sub.add_parser("compare", help="compare two runs on the prompts they share")
    common(compare, data_dir=False)
    compare.add_argument("run_a", metavar="RUN_A", help="run id")
    compare.add_argument("run_b", metavar="RUN_B", help="run id")
    compare.add_argument(
        "--out", type=Path, help="default: RESULTS/reports/compare-<RUN_A>-vs-<RUN_B>"
    )
    compare.add_argument("--rank-by", metavar="METRIC", help="leaderboard metric (e.g. pickscore)")
    status = sub.add_parser("status", help="runs, their counts, and the GPU lease")
    common(status, data_dir=False)
    status.add_argument("--json", action="store_true", help="machine-readable output")
    check = sub.add_parser("check", help="validate the config and every prompt set")
    common(check)
    prefetch = sub.add_parser("prefetch", help="download the models and scorer weights")
    prefetch.add_argument("--config", type=Path, default=config, help=f"default {config}")
    prefetch.add_argument("--model", dest="models", action="append", help="only this model")
    prefetch.add_argument("--no-scorers", action="store_true", help="skip the scorer weights")
    prefetch.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return parser


def _exit_on_sigterm() -> None:
    # docker stop sends SIGTERM: leave through the normal exit path so the worker is
    # stopped and the database closed (a SIGKILL is survived as well, by resume).
    def handler(signum: int, frame: FrameType | None) -> None:
        log.info("signal %d: stopping", signum)
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


def _status(args: argparse.Namespace) -> int:
    db = args.results_dir / DB_NAME
    info: dict[str, object] = {"results_dir": str(args.results_dir), "runs": []}
    if db.is_file():
        runs: list[dict[str, object]] = []
        with ResultsStore.for_reading(db) as store:
            for run in store.runs():
                counts = store.counts(run)
                ok, failed = counts.get("ok", 0), counts.get("failed", 0)
                runs.append({**run.as_report_run(), "ok": ok, "failed": failed})
        info["runs"] = runs
    try:
        from gpu_coord import read_status

        info["gpu"] = read_status()
    except Exception as exc:  # the lease view is a courtesy here, never a failure
        info["gpu"] = {"error": f"{type(exc).__name__}: {exc}"}
    if args.json:
        print(json.dumps(info, indent=2, default=str))
        return 0
    runs_list = info["runs"]
    assert isinstance(runs_list, list)
    if not runs_list:
        print(f"no runs in {args.results_dir}")
    for run in runs_list:
        state = f"finished {run['finished_at']}" if run["finished_at"] else "unfinished"
        print(
            f"{run['id']}  {run['config']}  started {run['started_at']}  {state}  "
            f"ok {run['ok']}  failed {run['failed']}  sets {', '.join(run['prompt_sets'])}"
        )
    print(f"gpu: {json.dumps(info['gpu'], default=str)}")
    return 0


def _report(args: argparse.Namespace) -> int:
    db = args.results_dir / DB_NAME
    if not db.is_file():
        log.error("no results database in %s", args.results_dir)
        return EXIT_USAGE
    with ResultsStore.for_reading(db) as store:
        run = store.run(args.run_id)
        if run is None:
            log.error("no run %s in %s", args.run_id or "at all", args.results_dir)
            return EXIT_USAGE
        out = args.out or args.results_dir / "reports" / run.id
        try:
            paths = write_run_report(store, run.id, args.results_dir, out, args.rank_by)
        except OSError as exc:
            hint = " (a read-only results folder: give --out DIR)" if store.read_only else ""
            log.error("cannot write the report into %s: %s%s", out, exc.strerror or exc, hint)
            return EXIT_USAGE
    for kind, path in sorted(paths.items()):
        print(f"{kind}: {path}")
    return 0


def _known_metric(name: str | None) -> bool:
    from benchmark.metrics import get_metric

    if name is None:
        return True
    try:
        get_metric(name)
    except KeyError as exc:
        log.error("--rank-by: %s", exc.args[0])
        return False
    return True


def _compare(args: argparse.Namespace) -> int:
    from benchmark.report import combine_runs, write_reports

    db = args.results_dir / DB_NAME
    if not db.is_file():
        log.error("no results database in %s", args.results_dir)
        return EXIT_USAGE
    if not _known_metric(args.rank_by):
        return EXIT_USAGE
    with ResultsStore.for_reading(db) as store:
        runs = [store.run(args.run_a), store.run(args.run_b)]
        for run_id, found in zip((args.run_a, args.run_b), runs, strict=True):
            if found is None:
                known = ", ".join(r.id for r in store.runs()) or "none"
                log.error("no run %s in %s (runs: %s)", run_id, args.results_dir, known)
                return EXIT_USAGE
        a, b = runs
        assert a is not None
        assert b is not None
        try:
            combined, rows = combine_runs(a, store.generations(a), b, store.generations(b))
        except ValueError as exc:
            log.error("%s", exc)
            return EXIT_USAGE
    out = args.out or args.results_dir / "reports" / f"compare-{a.id}-vs-{b.id}"
    log.info("comparing %s and %s on %d shared prompts", a.id, b.id, combined["shared_prompts"])
    try:
        paths = write_reports(
            combined, rows, results_dir=args.results_dir, out_dir=out, rank_by=args.rank_by
        )
    except OSError as exc:
        log.error("cannot write the comparison into %s: %s", out, exc.strerror or exc)
        return EXIT_USAGE
    for kind, path in sorted(paths.items()):
        print(f"{kind}: {path}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = _parser().parse_args(argv)
    setup_logging(logging.DEBUG if args.verbose else logging.INFO)
    try:
        if args.command == "status":
            return _status(args)
        if args.command == "report":
            return _report(args) if _known_metric(args.rank_by) else EXIT_USAGE
        if args.command == "compare":
            return _compare(args)
        config = load_config(args.config)
        if args.command == "check":
            sets, errors = load_prompt_sets(args.data_dir)
            for pset in sets:
                print(
                    f"ok     {pset.path}: {len(pset.prompts)} prompts ({pset.short_hash}), "
                    f"set {pset.name}"
                )
            for error in errors:
                print(f"error  {error}")
            print(f"config {config.path}: {len(config.models)} models, seeds {config.run.seeds}")
            return 1 if errors else 0
        if args.command == "prefetch":
            from benchmark.prefetch import prefetch

            failures = prefetch(config, models=args.models, scorers=not args.no_scorers)
            for failure in failures:
                print(f"failed {failure}")
            return 1 if failures else 0
        if args.command == "watch":
            from benchmark.watch import watch

            _exit_on_sigterm()
            watch(
                args.config,
                data_dir=args.data_dir,
                results_dir=args.results_dir,
                poll_s=args.poll,
                models=args.models,
            )
            return 0
        _exit_on_sigterm()
        run_benchmark(
            config,
            data_dir=args.data_dir,
            results_dir=args.results_dir,
            prompt_sets=args.sets,
            models=args.models,
            report=not args.no_report,
        )
        return 0
    except BenchmarkError as exc:
        log.error("%s", exc)
        return exc.exit_code
    except KeyboardInterrupt:
        log.info("interrupted")
        return 130
