"""Helpers for the runner's tests: tiny-model configs, runner subprocesses, database reads."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest

from benchmark.metrics import metric_names

REPO = Path(__file__).resolve().parents[2]


def report_row(**overrides: Any) -> dict[str, Any]:
    """One generation row as the report reads it from the store: an ok 64x64 image."""
    row: dict[str, Any] = {
        "prompt_set": "set one",
        "prompt_id": "p1",
        "prompt": "a red fox",
        "category": "animals",
        "model": "model-a",
        "seed": 1,
        "status": "ok",
        "error": None,
        "image_path": None,
        "width": 64,
        "height": 64,
        "steps": 2,
        "latency_s": 1.0,
        "steps_per_s": 2.0,
        "peak_mem_bytes": None,
        "lease_wait_s": 0.0,
        "yields": 0,
        "energy_j": None,
        "device": None,
        "placement": None,
        "resident_mem_bytes": None,
        "working_mem_bytes": None,
        "clip_score": 20.0,
        "aesthetic_score": 5.0,
    }
    row.update(overrides)
    return row


def model_table(name: str, source: Path | str, **settings: Any) -> str:
    """A ``[[models]]`` table for the TOML; ``source`` is a local folder or a hub id."""
    values = {"steps": 2, "guidance": 1.0, "width": 64, "height": 64, "dtype": "float32"}
    values.update(settings)
    key = "path" if isinstance(source, Path) else "repo"
    lines = ["[[models]]", f'name = "{name}"', f'{key} = "{source}"']
    for k, v in values.items():
        lines.append(f'{k} = "{v}"' if isinstance(v, str) else f"{k} = {v!r}".lower())
    return "\n".join(lines) + "\n"


def write_config(
    path: Path,
    tiny: Any,
    models: list[str],
    *,
    seeds: tuple[int, ...] = (0,),
    score: bool = True,
    image_timeout_s: float = 120,
) -> Path:
    """Write a benchmark TOML using the tiny scorers and the given model tables."""
    text = (
        "[run]\n"
        f"seeds = {list(seeds)}\n"
        'device = "cpu"\n'
        f"image_timeout_s = {image_timeout_s}\n"
        "load_timeout_s = 240\n"
        f"score = {'true' if score else 'false'}\n\n"
        "[scorers]\n"
        f'clip_model = "{tiny.clip}"\n'
        f'aesthetic_head = "{tiny.aesthetic}"\n\n' + "\n".join(models)
    )
    path.write_text(text)
    return path


@pytest.fixture
def bench_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """data/, results/ and a private lease folder (GPU_COORD_PATH) under tmp_path."""
    dirs = {
        "data": tmp_path / "data",
        "results": tmp_path / "results",
        "coord": tmp_path / "coord" / "status.json",
    }
    dirs["data"].mkdir()
    dirs["coord"].parent.mkdir()
    monkeypatch.setenv("GPU_COORD_PATH", str(dirs["coord"]))
    return dirs


def runner_env(dirs: dict[str, Path], config: Path) -> dict[str, str]:
    """Environment for a ``python -m benchmark`` subprocess working in ``dirs``."""
    env = dict(os.environ)
    env.update(
        BENCHMARK_CONFIG=str(config),
        BENCHMARK_DATA_DIR=str(dirs["data"]),
        BENCHMARK_RESULTS_DIR=str(dirs["results"]),
        GPU_COORD_PATH=str(dirs["coord"]),
        PYTHONPATH=str(REPO),
        OMP_NUM_THREADS="1",
        HF_HUB_OFFLINE="1",
    )
    return env


@contextmanager
def runner_process(
    args: list[str], env: dict[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """Start ``python -m benchmark ARGS`` in its own session; always kill the whole group."""
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "benchmark", *args],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield proc
    finally:
        kill_group(proc)


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the process and every process of its session (its worker), then reap it."""
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


def group_alive(pgid: int) -> bool:
    """Whether any process of the process group still exists."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def wait_for(
    predicate: Callable[[], Any],
    *,
    timeout: float,
    what: str,
    proc: subprocess.Popen[bytes] | None = None,
    log: Path | None = None,
) -> Any:
    """Poll ``predicate`` until it is truthy; fail (with the log) on timeout or process exit."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            tail = log.read_text()[-4000:] if log else ""
            pytest.fail(f"process exited ({proc.returncode}) before {what}\n{tail}")
        time.sleep(0.05)
    tail = log.read_text()[-4000:] if log else ""
    pytest.fail(f"timed out after {timeout} s waiting for {what}\n{tail}")


def db_rows(results: Path) -> list[dict[str, Any]]:
    """Every generation row with its scores ([] before the database exists)."""
    path = results / "benchmark.sqlite3"
    if not path.exists():
        return []
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    db.row_factory = sqlite3.Row
    try:
        # Scores are kept in long form (generation, metric, value): one column each here.
        pivot = ", ".join(
            f"(SELECT value FROM scores s WHERE s.generation_id = g.id AND s.metric = '{m}') AS {m}"
            for m in metric_names()
        )
        return [dict(r) for r in db.execute(f"SELECT g.*, {pivot} FROM generations g")]
    except sqlite3.OperationalError:  # tables not created yet
        return []
    finally:
        db.close()


@contextmanager
def small_tmpfs(where: Path, size: str = "4m") -> Iterator[Path]:
    """Mount a tmpfs of ``size`` on ``where`` (root only; skips otherwise), unmounted after."""
    where.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip() or mounted.returncode}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill_disk(folder: Path) -> Path:
    """Write a filler file into ``folder`` until its filesystem is full; returns the file."""
    filler = folder / "filler.bin"
    chunk = b"\0" * 65536
    with open(filler, "wb", buffering=0) as out:
        with suppress(OSError):
            while True:
                out.write(chunk)
        with suppress(OSError):
            while True:  # the last few bytes too
                out.write(b"\0" * 512)
    return filler


def remount(where: Path, mode: str) -> None:
    """Remount the tmpfs on ``where`` read-only (``"ro"``) or writable (``"rw"``)."""
    subprocess.run(["mount", "-o", f"remount,{mode}", str(where)], check=True)
