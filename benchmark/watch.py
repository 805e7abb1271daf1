"""Watching the data folder: run whenever the prompt sets change, sleep otherwise.

A file is taken only once its size and modification time have stayed the same
over two polls, so a prompt set still being copied in is not read half-written
(copying to a hidden or temporary name and renaming it is safer still). Each
change starts :func:`benchmark.runner.run_benchmark`, which works out from the
results store what is new: an edited prompt set has a new content hash, so it is
run as a new set; an unchanged one costs nothing.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from benchmark.config import load_config
from benchmark.errors import (
    ConfigError,
    DataDirError,
    DiskFullError,
    ResultsDirError,
    RunnerBusyError,
    UnknownNameError,
)
from benchmark.prompts import candidate_files
from benchmark.results import ensure_results_dir
from benchmark.runner import run_benchmark

log = logging.getLogger("benchmark.watch")

_Snapshot = frozenset[tuple[str, int, int]]


def _snapshot(data_dir: Path, config_path: Path) -> _Snapshot:
    entries: set[tuple[str, int, int]] = set()
    for path in [*candidate_files(data_dir), config_path]:
        try:
            stat = path.stat()
        except OSError:
            continue
        entries.add((str(path), stat.st_size, stat.st_mtime_ns))
    return frozenset(entries)


def watch(
    config_path: Path,
    *,
    data_dir: Path,
    results_dir: Path,
    poll_s: float = 5.0,
    stop: threading.Event | None = None,
    models: list[str] | None = None,
) -> None:
    """Run the benchmark now and again whenever the prompt sets or the config change.

    Returns when ``stop`` is set (checked every ``poll_s`` seconds and between
    runs). A bad config is logged and waited out (fix the file and it is read
    again); an unwritable results folder raises :class:`ResultsDirError` and a
    missing data folder :class:`DataDirError` at once, and a full disk ends the
    watch with :class:`DiskFullError` (the run it stopped resumes on the next start).
    """
    stop = stop or threading.Event()
    ensure_results_dir(results_dir)
    if not Path(data_dir).is_dir():
        raise DataDirError(f"prompt-set folder {data_dir} does not exist (or is not a folder)")
    log.info("watching %s every %g s (config %s)", data_dir, poll_s, config_path)
    processed: _Snapshot | None = None
    previous = _snapshot(data_dir, config_path)
    first = True
    while not stop.is_set():
        current = _snapshot(data_dir, config_path)
        stable = current == previous
        previous = current
        if (first or stable) and current != processed:
            first = False
            processed = current
            try:
                config = load_config(config_path)
            except ConfigError as exc:
                log.error("%s (waiting for the file to change)", exc)
            else:
                try:
                    run_benchmark(config, data_dir=data_dir, results_dir=results_dir, models=models)
                except (ResultsDirError, RunnerBusyError, DiskFullError):
                    raise
                except UnknownNameError as exc:
                    log.error("%s (waiting for the config to change)", exc)
                except DataDirError as exc:
                    log.error("%s (waiting for it to come back)", exc)
            log.info("idle: watching %s for new or changed prompt sets", data_dir)
        stop.wait(poll_s)
