"""The comparison as Markdown: printed, and appended to ``docs/performance.md``."""

from __future__ import annotations

import subprocess
from pathlib import Path

from perf.contention._cells import mib as _mib
from perf.contention._cells import ms as _ms
from perf.contention._cells import row as _row
from perf.contention._cells import x as _x
from perf.contention._config import AUTO_INTERVAL_FACTOR
from perf.contention._orchestrate import ContentionReport
from perf.contention._poll import HotPaths
from perf.contention._report_probes import blocks_table, flush_table
from perf.contention._stats import SharedComparison

P99_TARGET = 1.10
IDLE_TARGET = 0.90


def _header(report: ContentionReport) -> list[str]:
    c, m = report.config, report.machine
    load = " / ".join(f"{x:.2f}" for x in report.load_average)
    if report.load_average_end is not None:
        load += ", at the end " + " / ".join(f"{x:.2f}" for x in report.load_average_end)
    pin = (
        f"both roles pinned to CPU {c.pin_core} with 1 OpenMP thread each: one core stands "
        'in for the one GPU, so "no coordination" time-slices it as a GPU would'
        if c.pin_core is not None
        else "roles not pinned to a core (1 OpenMP thread each)"
    )
    if c.pin_core is not None and c.keep_warm:
        pin += "; a SCHED_IDLE busy loop keeps that core from idling in every scenario"
    steps = f"{c.steps}" + ("" if c.runner_steps is None else f" (runner {c.runner_steps})")
    size = f"{c.size}x{c.size}" if c.size else "the pipeline's native size"
    b, r = report.roles["backend"], report.roles["runner"]
    auto = (
        f" ({AUTO_INTERVAL_FACTOR:g} x the backend's image time alone)"
        if report.auto_interval
        else ""
    )
    return [
        f"## Contention: backend and runner on one device ({report.started_at})",
        "",
        f"Command: `{report.command}` (code at {code_version()})",
        "",
        f"- Machine: {m['cores']} cores, {m.get('device', c.device)}, torch {m.get('torch')}, "
        f"Python {m['python']}; load average at start {load} (1/5/15 min).",
        f"- Parameters: pipeline `{c.pipeline}` on `{c.device}`, {c.seconds:g} s per "
        f"scenario in {c.rounds} round(s) of {c.seconds / c.rounds:.1f} s that take turns with "
        f"the other scenarios, a backend request every {c.interval or 0:g} s{auto} "
        "(fixed inter-arrival, "
        "open loop), "
        f"{steps} steps per image at {size}, guidance {c.guidance:g}, flush `{c.flush}`, "
        f"backend max_wait {c.max_wait} s; {pin}.",
        f"- One image alone (fastest of 3): backend {_ms(b.get('image_seconds'))} ms, runner "
        f"{_ms(r.get('image_seconds'))} ms. The whole run took "
        f"{report.duration_seconds:.0f} s.",
        "- Latency counts from a request's arrival to its last image; the lease wait is the "
        "handle's `wait_seconds`. Runner images/s counts whole images from the window's start "
        'to the last image finished inside it. "vs idle" divides the runner\'s shared/alone '
        "ratio by the share of time the backend alone leaves the device idle "
        "(1 - its busy fraction). Peak memory: RSS high-water mark on the CPU, "
        "`torch.cuda.max_memory_reserved` on CUDA, in MiB.",
        "",
    ]


def _scenario_table(report: ContentionReport) -> list[str]:
    comparisons: dict[str, SharedComparison] = {c.scheme: c for c in report.comparisons}
    lines = [
        _row(
            [
                "scenario",
                "requests",
                "p50 ms",
                "p95 ms",
                "p99 ms",
                "p99 vs alone",
                "lease wait p50 ms",
                "wait p99 ms",
                "busy",
                "runner img/s",
                "vs alone",
                "vs idle",
                "yields/img",
                "peak MiB backend",
                "peak MiB runner",
            ]
        ),
        _row(["---"] + ["---:"] * 14),
    ]
    for s in report.scenarios:
        b, r = s.backend, s.runner
        comp = comparisons.get(s.scheme) if b is not None and r is not None else None
        lines.append(
            _row(
                [
                    s.name,
                    str(b.requests) if b else "",
                    _ms(b.p50) if b else "",
                    _ms(b.p95) if b else "",
                    _ms(b.p99) if b else "",
                    _x(comp.p99_ratio) if comp else "",
                    _ms(b.wait_p50) if b else "",
                    _ms(b.wait_p99) if b else "",
                    _x(b.busy_fraction) if b else "",
                    _x(r.images_per_second, 3) if r else "",
                    _x(comp.runner_ratio) if comp else "",
                    _x(comp.runner_vs_idle) if comp else "",
                    _x(r.yields_per_image) if r else "",
                    _mib(b.peak_bytes) if b else "",
                    _mib(r.peak_bytes) if r else "",
                ]
            )
        )
    lines.append("")
    for comp in report.comparisons:
        if comp.scheme != "lease":
            continue
        p99_ok = "met" if comp.p99_ratio <= P99_TARGET else "MISSED"
        idle_ok = "met" if comp.runner_vs_idle >= IDLE_TARGET else "MISSED"
        lines += [
            f"Targets with this project's lease: backend p99 shared/alone "
            f"{_x(comp.p99_ratio)} (target <= {P99_TARGET:.2f}: {p99_ok}); runner throughput "
            f"{_x(comp.runner_vs_idle)} of the idle time the backend leaves "
            f"(target >= {IDLE_TARGET:.2f}: {idle_ok}).",
            "",
        ]
    return lines


def _hot_table(hot: HotPaths | None) -> list[str]:
    if hot is None:
        return []
    f = hot.figures

    def pair(key: str) -> list[str]:
        return [_x(f[f"{key}_p50_us"], 1), _x(f[f"{key}_p99_us"], 1)]

    return [
        f"Hot paths (microseconds). A status poll is what `GET /gpu-status` does without "
        f"NVML: `devices()` then `read_status()` per device. Polled: {hot.readers} processes "
        f"at {hot.rate:g} polls/s each for {hot.seconds:g} s ({hot.reads} polls) while another "
        "process takes and gives back a high-priority lease every 10 ms (5 ms held):",
        "",
        _row(["path", "p50 us", "p99 us"]),
        _row(["---", "---:", "---:"]),
        _row(["acquire + release, high, uncontended", *pair("cycle_high")]),
        _row(["acquire + release, low, uncontended", *pair("cycle_low")]),
        _row(["checkpoint, nobody waiting", *pair("checkpoint")]),
        _row(["status poll, idle lease", *pair("read_idle")]),
        _row(["status poll, while the lease cycles", *pair("read_polled")]),
        _row(["acquire + release, cycling, no pollers", *pair("cycle_alone")]),
        _row(["acquire + release, cycling, under the pollers", *pair("cycle_polled")]),
        "",
    ]


def code_version() -> str:
    """The project's commit, marked ``+local changes`` when gpu_coord or benchmark differ."""
    root = Path(__file__).resolve().parents[2]
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "gpu_coord", "benchmark"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return "an unknown commit"
    local = " +local changes" if dirty.stdout.strip() else ""
    return f"commit {head.stdout.strip()}{local}"


def format_hot_paths(
    hot: HotPaths,
    command: str,
    started_at: str,
    load: tuple[float, float, float],
    cores: int | None,
) -> str:
    """A section with only the hot-path table (``--hot-paths-only``)."""
    loads = " / ".join(f"{x:.2f}" for x in load)
    lines = [
        f"## Lease hot paths ({started_at})",
        "",
        f"Command: `{command}` (code at {code_version()})",
        "",
        f"- Machine: {cores} cores; load average at start {loads} (1/5/15 min).",
        "",
        *_hot_table(hot),
    ]
    return "\n".join(lines)


def format_report(report: ContentionReport) -> str:
    """The Markdown section for one sitting: header, scenario table, flush, hot paths."""
    lines = [
        *_header(report),
        *_scenario_table(report),
        *blocks_table(report),
        *flush_table(report.flush_probe),
        *_hot_table(report.hot_paths),
    ]
    return "\n".join(lines)
