"""One sitting of the comparison: start both roles, run every scenario, reap both."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from perf.contention._config import AUTO_INTERVAL_FACTOR, BLOCK_SCHEME, ContentionConfig
from perf.contention._poll import HotPaths, measure_hot_paths
from perf.contention._procs import RoleProcess, role_env, start_spinner, stop_spinner
from perf.contention._stats import (
    BackendFigures,
    RunnerFigures,
    ScenarioResult,
    SharedComparison,
    merge_replies,
)

Progress = Callable[[str], None]

_LOAD_TIMEOUT = 900.0
_START_DELAY = 0.3


@dataclass
class ContentionReport:
    """Everything one sitting measured, ready for :func:`perf.contention.format_report`."""

    config: ContentionConfig
    command: str
    started_at: str
    load_average: tuple[float, float, float]
    machine: dict[str, Any]
    roles: dict[str, dict[str, Any]]
    scenarios: list[ScenarioResult] = field(default_factory=list)
    comparisons: list[SharedComparison] = field(default_factory=list)
    flush_probe: dict[str, Any] = field(default_factory=dict)
    checkpoint_overhead: dict[str, Any] = field(default_factory=dict)
    hot_paths: HotPaths | None = None
    auto_interval: bool = False
    load_average_end: tuple[float, float, float] | None = None
    duration_seconds: float = 0.0


def _spec(config: ContentionConfig, role: str) -> dict[str, Any]:
    return {
        "role": role,
        "pipeline": config.pipeline,
        "device": config.device,
        "models_dir": str(config.models_dir.resolve()),
        "steps": config.steps if role == "backend" else config.runner_steps_or_default,
        "size": config.size,
        "guidance": config.guidance,
    }


def _tiny_is_built(config: ContentionConfig) -> bool:
    return config.pipeline != "tiny" or (config.models_dir / "tiny-models.json").is_file()


def _start_roles(
    config: ContentionConfig, progress: Progress
) -> tuple[RoleProcess, RoleProcess, dict[str, dict[str, Any]]]:
    env = role_env()
    backend = RoleProcess(_spec(config, "backend"), env)
    runner: RoleProcess | None = None
    try:
        if not _tiny_is_built(config):
            # The first process builds the tiny models; the second must not race it.
            ready_backend = backend.receive(_LOAD_TIMEOUT)
            runner = RoleProcess(_spec(config, "runner"), env)
        else:
            runner = RoleProcess(_spec(config, "runner"), env)
            ready_backend = backend.receive(_LOAD_TIMEOUT)
        ready_runner = runner.receive(_LOAD_TIMEOUT)
    except BaseException:
        backend.close()
        if runner is not None:
            runner.close()
        raise
    for ready in (ready_backend, ready_runner):
        progress(
            f"{ready['role']}: pipeline ready in {ready['load_seconds']:.1f} s, "
            f"{ready['step_seconds'] * 1000:.0f} ms a step alone (pid {ready['pid']})"
        )
    return backend, runner, {"backend": ready_backend, "runner": ready_runner}


def _window(
    config: ContentionConfig,
    seconds: float,
    workers: list[RoleProcess],
    scheme: str,
    folder: Path,
) -> list[dict[str, Any]]:
    path = folder / scheme / "status.json"
    start = time.monotonic() + _START_DELAY
    command = {
        "cmd": "run",
        "scheme": scheme,
        "path": str(path),
        "flush": config.flush,
        "max_wait": config.max_wait,
        "start": start,
        "end": start + seconds,
        "interval": config.interval,
    }
    for worker in workers:
        worker.send(command)
    # A window can overrun by a queued request or two; a hang must still end the run.
    patience = seconds * 4 + 300
    return [worker.receive(patience) for worker in workers]


def _default_pin(config: ContentionConfig) -> int | None:
    if config.pin_core is not None:
        return config.pin_core
    if not config.device.startswith("cpu"):
        return None
    return max(os.sched_getaffinity(0))


def run_contention(
    config: ContentionConfig, progress: Progress | None = None, argv: list[str] | None = None
) -> ContentionReport:
    """Run every scenario of ``config`` in one sitting and return the figures.

    Two role processes (backend and runner) load the pipeline once and stay up
    for every scenario, so each scenario measures the schemes, not start-up. On
    the CPU both are confined to one core (``pin_core``), the stand-in for one
    GPU. Each scenario gets a fresh lease folder. Raises ValueError for a bad
    config and :class:`RoleError` when a role fails; the children are always reaped.
    """
    config.check()
    say = progress or (lambda _: None)
    began = time.monotonic()
    pin = _default_pin(config)
    config = ContentionConfig(**{**config.__dict__, "pin_core": pin})
    report = ContentionReport(
        config=config,
        command=shlex.join(["python", "-m", "perf.contention", *(argv or sys.argv[1:])]),
        started_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        load_average=os.getloadavg(),
        machine={"cores": os.cpu_count(), "python": sys.version.split()[0]},
        roles={},
    )
    with tempfile.TemporaryDirectory(prefix="contention-") as tmp:
        folder = Path(tmp)
        backend, runner, report.roles = _start_roles(config, say)
        spinner: subprocess.Popen[bytes] | None = None
        try:
            if pin is not None:
                for worker in (backend, runner):
                    worker.ask({"cmd": "pin", "cores": [pin]}, 30)
            if pin is not None and config.keep_warm:
                spinner = start_spinner(pin)
            say(f"both roles pinned to CPU {pin}" if pin is not None else "roles not pinned")
            # Time one image of each role alone, one after the other, where they will run.
            for worker in (backend, runner):
                timing = worker.ask({"cmd": "calibrate", "images": 3}, _LOAD_TIMEOUT)
                report.roles[worker.name].update(timing)
                say(f"{worker.name}: {timing['image_seconds']:.3f} s an image alone")
            if config.interval is None:
                image = report.roles["backend"]["image_seconds"]
                interval = round(max(0.05, AUTO_INTERVAL_FACTOR * image), 2)
                config = ContentionConfig(**{**config.__dict__, "interval": interval})
                report.config = config
                report.auto_interval = True
                say(
                    f"request interval {interval:g} s ({AUTO_INTERVAL_FACTOR:g} x the backend's "
                    f"{image:.2f} s image alone)"
                )
            config.check()
            plan: list[tuple[str, str, list[RoleProcess]]] = [
                ("backend alone", "none", [backend]),
                ("runner alone", "none", [runner]),
                *[(f"shared: {scheme}", scheme, [backend, runner]) for scheme in config.schemes],
            ]
            # Rounds: every scenario runs once per round, in turn, so a burst of load
            # from elsewhere on the host spreads over all of them instead of skewing one.
            window = config.seconds / config.rounds
            merged: list[dict[str, dict[str, Any]]] = [{} for _ in plan]
            for round_no in range(1, config.rounds + 1):
                for index, (name, scheme, workers) in enumerate(plan):
                    say(
                        f"round {round_no}/{config.rounds}, [{index + 1}/{len(plan)}] {name}: "
                        f"{window:g} s window ..."
                    )
                    replies = _window(config, window, workers, scheme, folder / str(round_no))
                    for worker, reply in zip(workers, replies, strict=True):
                        merged[index][worker.name] = merge_replies(
                            merged[index].get(worker.name), reply
                        )
            for (name, scheme, _), by_role in zip(plan, merged, strict=True):
                result = ScenarioResult(
                    name=name,
                    scheme=scheme,
                    backend=BackendFigures.from_reply(by_role["backend"])
                    if "backend" in by_role
                    else None,
                    runner=RunnerFigures.from_reply(by_role["runner"])
                    if "runner" in by_role
                    else None,
                )
                report.scenarios.append(result)
                say(f"{name}: {_one_line(result)}")
            if BLOCK_SCHEME in config.schemes:
                say(
                    f"checkpoint overhead with nobody waiting: {config.overhead_images} images "
                    "step-only and as many with block checkpoints ..."
                )
                report.checkpoint_overhead = runner.ask(
                    {
                        "cmd": "checkpoint_overhead",
                        "path": str(folder / "overhead" / "status.json"),
                        "flush": config.flush,
                        "images": config.overhead_images,
                    },
                    config.seconds * 10 + 600,
                )
            if config.flush_images:
                say("flush policies (CUDA only) ...")
                report.flush_probe = runner.ask(
                    {
                        "cmd": "flush_probe",
                        "path": str(folder / "flush" / "status.json"),
                        "images": config.flush_images,
                    },
                    config.seconds * 10 + 600,
                )
            else:
                report.flush_probe = {"available": False, "reason": "skipped: --flush-images 0"}
        finally:
            backend.quit()
            runner.quit()
            backend.close()
            runner.close()
            stop_spinner(spinner)
        alone_b = report.scenarios[0].backend
        alone_r = report.scenarios[1].runner
        assert alone_b is not None
        assert alone_r is not None
        report.comparisons = [
            SharedComparison.of(s, alone_b, alone_r) for s in report.scenarios[2:]
        ]
        say(
            f"hot paths: {config.poll_readers} status pollers at {config.poll_rate:g}/s "
            f"while a lease cycles ..."
        )
        report.hot_paths = measure_hot_paths(
            folder / "hot",
            config.poll_readers,
            config.poll_rate,
            config.poll_seconds,
            repeats=500 if config.quick else 2000,
        )
    report.machine.update(
        device=report.roles["runner"]["device_name"], torch=report.roles["runner"]["torch"]
    )
    report.duration_seconds = time.monotonic() - began
    report.load_average_end = os.getloadavg()
    return report


def _one_line(result: ScenarioResult) -> str:
    parts = []
    if result.backend is not None:
        b = result.backend
        parts.append(f"backend p50 {b.p50:.3f} s p99 {b.p99:.3f} s over {b.requests} requests")
    if result.runner is not None:
        r = result.runner
        parts.append(f"runner {r.images_per_second:.3f} images/s ({r.images} images)")
    return "; ".join(parts)
