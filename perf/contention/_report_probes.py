"""The report's sections for the runner's probes: block checkpoints and flush policies."""

from __future__ import annotations

from typing import Any

from perf.contention._cells import mib, ms, row, x
from perf.contention._config import BLOCK_SCHEME
from perf.contention._orchestrate import ContentionReport
from perf.contention._stats import BlockFigures

OVERHEAD_TARGET = 0.01


def blocks_table(report: ContentionReport) -> list[str]:
    """Step-only against block checkpoints: the backend's lease wait, the cost when nobody waits."""
    if not report.checkpoint_overhead:
        return []
    f = BlockFigures.of(report.checkpoint_overhead, report.scenarios)
    by_scheme = {s.scheme: s for s in report.scenarios}
    lines = [
        "Block checkpoints (`lease-blocks`: the runner also calls `checkpoint()` before each "
        "top-level block of the denoiser and of the VAE decoder). Longest stretch: the longest "
        "time between two checkpoints of an image, its start and end included (median over "
        f"{f.images} images per mode with nobody waiting; {f.stretch_clock}), the most a "
        "request arriving mid-image waits for the runner:",
        "",
        row(
            [
                "checkpoints",
                "per image",
                "backend lease wait p50 ms",
                "wait p99 ms",
                "backend p99 ms",
                "longest stretch ms",
                "runner img/s",
                "yields/img",
            ]
        ),
        row(["---", "---:", "---:", "---:", "---:", "---:", "---:", "---:"]),
    ]
    for label, scheme, count, stretch in (
        ("between steps (`lease`)", "lease", f.checkpoints_step, f.stretch_step),
        (
            "steps and blocks (`lease-blocks`)",
            BLOCK_SCHEME,
            f.checkpoints_blocks,
            f.stretch_blocks,
        ),
    ):
        s = by_scheme.get(scheme)
        b = s.backend if s is not None else None
        r = s.runner if s is not None else None
        lines.append(
            row(
                [
                    label,
                    f"{count:.0f}",
                    ms(b.wait_p50) if b else "",
                    ms(b.wait_p99) if b else "",
                    ms(b.p99) if b else "",
                    ms(stretch),
                    x(r.images_per_second, 3) if r else "",
                    x(r.yields_per_image) if r else "",
                ]
            )
        )
    wait_ok = "met" if f.wait_p99_blocks <= f.stretch_blocks else "MISSED"
    share_ok = "met" if f.hook_share < OVERHEAD_TARGET else "MISSED"
    lines += [
        "",
        f"With nobody waiting (the runner alone under an uncontended lease, {f.images} images "
        f"per mode, interleaved): time inside `checkpoint()` {f.hook_share * 100:.3f}% of image "
        f"time with block checkpoints (target < {OVERHEAD_TARGET * 100:g}%: {share_ok}); the "
        f"median image {f.image_change * 100:+.1f}% against step-only, where the step-only "
        f"images alone spread over {f.spread * 100:.1f}% of their median. One step alone: "
        f"{ms(f.step_seconds)} ms. Backend lease wait p99 with block checkpoints "
        f"{ms(f.wait_p99_blocks)} ms against the longest stretch {ms(f.stretch_blocks)} ms "
        f"(target: at most one stretch, {wait_ok}); step-only {ms(f.wait_p99_step)} ms "
        f"against {ms(f.stretch_step)} ms.",
        "",
    ]
    return lines


def flush_table(probe: dict[str, Any]) -> list[str]:
    if not probe.get("available"):
        return [
            f"Flush policies and memory returned on release: n/a "
            f"({probe.get('reason', 'no CUDA')}).",
            "",
        ]
    lines = [
        "Flush policies (runner alone under the lease, one lease per image):",
        "",
        row(
            [
                "flush",
                "img/s",
                "release ms/img",
                "returned on release MiB",
                "reserved - allocated after release MiB",
                "energy J/img",
            ]
        ),
        row(["---", "---:", "---:", "---:", "---:", "---:"]),
    ]
    for policy in ("always", "on_handoff", "never"):
        p = probe[policy]
        lines.append(
            row(
                [
                    policy,
                    x(p["images_per_second"], 3),
                    x(p["release_seconds"] * 1000),
                    mib(p["returned_bytes"]),
                    mib(p["cached_after_bytes"]),
                    x(p.get("energy_joules_per_image"), 1),
                ]
            )
        )
    return [*lines, ""]
