"""The results folder: where it is, proving it writable, one runner at a time, file names."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from benchmark.config import ModelSpec
from benchmark.errors import ResultsDirError, RunnerBusyError
from benchmark.prompts import Prompt, PromptSet


@contextmanager
def exclusive(results_dir: Path) -> Iterator[None]:
    """Hold the results folder's runner lock; :class:`RunnerBusyError` if another runner has it."""
    # Two runners on one results folder would make the same images twice and race
    # on their files; the lock is a kernel flock, so a killed runner never leaves it held.
    lock = FileLock(results_dir / ".runner.lock")
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise RunnerBusyError(
            f"another benchmark runner is using {results_dir} (lock {lock.lock_file})"
        ) from None
    try:
        yield
    finally:
        lock.release()


def remove_stale_temp_files(results_dir: Path) -> None:
    """Delete the hidden temporary image files a killed worker may have left."""
    # A worker killed while writing leaves its hidden temp file; the image itself is
    # made again because it has no row.
    for stale in (results_dir / "images").glob("**/.*.tmp.png"):
        stale.unlink(missing_ok=True)


def ensure_results_dir(results_dir: Path) -> Path:
    """Create ``results_dir`` (and its ``images``/``reports`` folders) and prove it writable.

    Raises :class:`ResultsDirError` naming the path at fault, before any work starts.
    """
    results_dir = Path(results_dir)
    for folder in (results_dir, results_dir / "images", results_dir / "reports"):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test-"):
                pass
        except OSError as exc:
            raise ResultsDirError(
                f"results folder {folder} is not writable: {exc.strerror or exc}"
            ) from exc
    return results_dir


def image_relpath(pset: PromptSet, model: ModelSpec, prompt: Prompt, seed: int) -> str:
    """Where an image goes, relative to the results folder.

    ``images/<prompt set>/<model>/<prompt id>-seed<seed>-<prompt hash>-<model hash>.png``:
    the hashes keep an edited prompt or a re-tuned model from overwriting the
    images of the earlier version. A stored result keeps the path it was made
    under, so a prompt renumbered by an edit of its set keeps its image.
    """
    name = f"{prompt.id}-seed{seed}-{prompt.content_hash[:8]}-{model.fingerprint[:8]}.png"
    return f"images/{pset.name}/{model.name}/{name}"


def default_paths() -> tuple[Path, Path, Path]:
    """(config, data folder, results folder) from the environment or their defaults."""
    return (
        Path(os.environ.get("BENCHMARK_CONFIG") or "research/benchmark.toml"),
        Path(os.environ.get("BENCHMARK_DATA_DIR") or "research/data"),
        Path(os.environ.get("BENCHMARK_RESULTS_DIR") or "research/benchmark_results"),
    )
