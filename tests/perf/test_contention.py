"""The contention benchmark: a real quick run end to end, plus its pieces.

The quick run starts the real role processes (two interpreters with the tiny
pipeline sharing one lease folder) and checks the report's shape and sanity,
never its speed: timing targets belong to ``python -m perf.contention``
itself, not to a unit test on a shared CI machine.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from perf.contention import (
    DEFAULT_SCHEMES,
    ContentionConfig,
    RoleError,
)
from perf.contention.__main__ import main
from perf.contention._procs import RoleProcess, role_env
from perf.contention._schemes import Scheme
from perf.contention._stats import percentile
from perf.perfdoc import append_section

ROOT = Path(__file__).resolve().parents[2]


def _table_rows(text: str) -> dict[str, list[str]]:
    rows: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line.startswith("| ") and not line.startswith(("| ---", "| scenario", "| path")):
            cells = [c.strip() for c in line.strip("|").split("|")]
            rows[cells[0]] = cells[1:]
    return rows


def _num(cell: str) -> float:
    assert re.fullmatch(r"-?\d+(\.\d+)?", cell), f"not a number: {cell!r}"
    return float(cell)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_quick_run_reports_every_scheme(tmp_path: Path, tiny_models) -> None:  # type: ignore[no-untyped-def]
    output = tmp_path / "performance.md"
    output.write_text("# Performance\n\n## Another benchmark\n\nkept as it was\n")
    env = role_env()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "perf.contention",
            "--quick",
            "--output",
            str(output),
            "--models-dir",
            str(tiny_models.root),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=540,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    text = output.read_text()
    # Append only: the other sections survive, the new one follows them.
    assert text.startswith("# Performance\n\n## Another benchmark\n\nkept as it was\n")
    section = text.split("## Contention: backend and runner on one device", 1)[1]
    assert section in proc.stdout
    assert "load average at start" in section
    assert "--quick" in section
    rows = _table_rows(section)
    expected = ["backend alone", "runner alone", *[f"shared: {s}" for s in DEFAULT_SCHEMES]]
    assert [name for name in rows if name in expected] == expected

    alone = rows["backend alone"]
    assert _num(alone[0]) >= 1  # requests
    for name in expected:
        cells = rows[name]
        if name != "runner alone":
            p50, p95, p99 = (_num(c) for c in cells[1:4])
            assert 0 < p50 <= p95 <= p99
            assert _num(cells[5]) <= _num(cells[6])  # lease wait p50 <= p99
            assert _num(cells[12]) > 0  # backend peak memory
        if name != "backend alone":
            assert _num(cells[8]) > 0  # runner images/s
            assert _num(cells[11]) >= 0  # yields per image
            assert _num(cells[13]) > 0  # runner peak memory
        if name.startswith("shared"):
            assert _num(cells[4]) > 0  # p99 ratio
            assert _num(cells[9]) > 0  # runner ratio
    # Without a lease nobody waits; under a lease the wait is measured, not assumed.
    assert _num(rows["shared: none"][5]) == 0
    # Only this project's lease yields between steps; the baselines never do.
    assert _num(rows["shared: original"][11]) == 0
    assert _num(rows["shared: none"][11]) == 0
    assert "Targets with this project's lease" in section
    assert "Flush policies and memory returned on release: n/a" in section
    for path in (
        "checkpoint, nobody waiting",
        "status poll, while the lease cycles",
        "acquire + release, cycling, under the pollers",
    ):
        p50, p99 = (_num(c) for c in rows[path])
        assert 0 < p50 <= p99


@pytest.mark.parametrize(
    ("argv", "field"),
    [
        (["--seconds", "0"], "seconds"),
        (["--interval", "-1"], "interval"),
        (["--steps", "0"], "steps"),
        (["--schemes", "lease,telepathy"], "schemes"),
        (["--device", "tpu"], "device"),
        (["--seconds", "2", "--interval", "5"], "interval"),
        (["--size", "30"], "size"),
    ],
)
def test_bad_arguments_name_the_field(
    argv: list[str], field: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--device", "cpu", *argv] if "--device" not in argv else argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"perf.contention: {field}:")


def test_percentile_matches_numpy() -> None:
    rng = np.random.default_rng(3)
    for size in (1, 2, 7, 100):
        values = rng.exponential(size=size).tolist()
        for q in (0, 50, 95, 99, 100):
            assert percentile(values, q) == pytest.approx(np.percentile(values, q))
    assert math.isnan(percentile([], 50))


def test_append_section_starts_a_file_and_keeps_others(tmp_path: Path) -> None:
    out = tmp_path / "docs" / "performance.md"
    append_section("## First\n\nbody one\n", out)
    append_section("## Second\n\nbody two", out)
    text = out.read_text()
    assert text == "# Performance\n\n## First\n\nbody one\n\n## Second\n\nbody two\n"


def test_schemes_hand_out_the_right_handles(tmp_path: Path) -> None:
    from gpu_coord import Lease
    from perf.baselines import FileLockLease, OriginalLease

    path = tmp_path / "status.json"
    lease_scheme = Scheme("lease", path, "never", 5.0)
    backend = lease_scheme.backend()
    assert isinstance(backend, Lease)
    assert backend.priority == "high"
    assert backend.max_wait == 5.0
    runner = lease_scheme.runner()
    assert isinstance(runner, Lease)
    assert runner.priority == "low"
    assert runner.max_wait is None
    assert lease_scheme.step_yield
    assert isinstance(Scheme("original", path).runner(), OriginalLease)
    assert isinstance(Scheme("filelock", path).runner(), FileLockLease)
    assert not Scheme("original", path).step_yield
    with Scheme("none", path).runner() as held:
        assert held.checkpoint() is False
    assert not path.exists()  # no coordination touches no lease file
    with pytest.raises(ValueError, match="scheme"):
        Scheme("telepathy", path).backend()


def test_config_defaults_are_valid() -> None:
    config = ContentionConfig().check()
    assert config.runner_steps_or_default == config.steps
    with pytest.raises(ValueError, match=r"^poll_readers:"):
        ContentionConfig(poll_readers=-1).check()


@pytest.mark.timeout(300)
def test_a_failing_role_is_reported_with_its_log_and_reaped(tmp_path: Path) -> None:
    spec = {
        "role": "runner",
        "pipeline": "nope",
        "device": "cpu",
        "models_dir": str(tmp_path),
        "steps": 2,
        "size": None,
        "guidance": 0.0,
    }
    role = RoleProcess(spec, role_env())
    try:
        with pytest.raises(RoleError, match=r"runner process exited[\s\S]*pipeline"):
            role.receive(240)
    finally:
        role.close()
    with pytest.raises(ProcessLookupError):
        os.kill(role.pid, 0)


def test_sd15_shaped_components_have_the_sd15_sizes() -> None:
    # Built on the meta device: shapes without memory or init time. The reference
    # sizes are Stable Diffusion 1.5's published parameter counts.
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from perf.contention._pipelines import SD15_TEXT, SD15_UNET, SD15_VAE

    def millions(module: torch.nn.Module) -> float:
        return sum(p.numel() for p in module.parameters()) / 1e6

    with torch.device("meta"):
        unet = UNet2DConditionModel(**SD15_UNET)
        vae = AutoencoderKL(**SD15_VAE)
        text = CLIPTextModel(CLIPTextConfig(**SD15_TEXT))
    assert millions(unet) == pytest.approx(859.52, rel=1e-3)
    assert millions(vae) == pytest.approx(83.65, rel=1e-3)
    assert millions(text) == pytest.approx(123.06, rel=1e-3)
    assert unet.config.sample_size * 8 == 512


def test_rounds_merge_into_the_figures_of_one_long_window() -> None:
    from perf.contention._stats import BackendFigures, RunnerFigures, merge_replies

    rng = np.random.default_rng(5)
    rounds = []
    for _ in range(3):
        latency = rng.uniform(0.5, 2.0, size=7).tolist()
        rounds.append(
            {
                "latency": latency,
                "wait": rng.uniform(0, 0.1, size=7).tolist(),
                "service": [x * 0.9 for x in latency],
                "forced": int(rng.integers(0, 2)),
                "window": 10.0,
                "peak_bytes": int(rng.integers(1, 100)),
            }
        )
    merged = None
    for reply in rounds:
        merged = merge_replies(merged, reply)
    assert merged is not None
    figures = BackendFigures.from_reply(merged)
    every = [x for r in rounds for x in r["latency"]]
    assert figures.requests == len(every)
    assert figures.p99 == pytest.approx(np.percentile(every, 99))
    service = sum(x for r in rounds for x in r["service"])
    assert figures.busy_fraction == pytest.approx(service / 30.0)
    assert figures.forced == sum(r["forced"] for r in rounds)
    assert figures.peak_bytes == max(r["peak_bytes"] for r in rounds)

    runner = [
        {"images": 4, "span": 8.0, "yields": 2, "wait": [0.1] * 4, "window": 10.0},
        {"images": 6, "span": 9.0, "yields": 1, "wait": [0.2] * 6, "window": 10.0},
    ]
    merged = merge_replies(merge_replies(None, runner[0]), runner[1])
    figures_r = RunnerFigures.from_reply(merged)
    assert figures_r.images_per_second == pytest.approx(10 / 17.0)
    assert figures_r.yields_per_image == pytest.approx(3 / 10)


def test_lease_blocks_is_the_lease_with_block_checkpoints(tmp_path: Path) -> None:
    from gpu_coord import Lease

    path = tmp_path / "status.json"
    blocks = Scheme("lease-blocks", path, "never", 5.0)
    assert isinstance(blocks.runner(), Lease)
    assert isinstance(blocks.backend(), Lease)
    assert blocks.step_yield
    assert blocks.block_yield
    assert not Scheme("lease", path).block_yield
    assert not Scheme("original", path).block_yield


def test_flush_probe_can_be_skipped_and_overhead_images_are_checked() -> None:
    assert ContentionConfig(flush_images=0).check().flush_images == 0
    with pytest.raises(ValueError, match=r"^flush_images:"):
        ContentionConfig(flush_images=-1).check()
    with pytest.raises(ValueError, match=r"^overhead_images:"):
        ContentionConfig(overhead_images=0).check()


def test_block_figures_from_the_scenarios_and_the_probe() -> None:
    from perf.contention import BlockFigures
    from perf.contention._stats import BackendFigures, ScenarioResult

    def scenario(scheme: str, wait: float) -> ScenarioResult:
        backend = BackendFigures(3, 0.1, 0.1, 0.1, wait / 2, wait, 0.3, 0, None)
        return ScenarioResult(f"shared: {scheme}", scheme, backend, None)

    overhead = {
        "step_seconds": 0.030,
        "step": {
            "image": [0.10, 0.12, 0.11],
            "inside": [0.0, 0.0, 0.0],
            "gap": [0.03] * 3,
            "count": [4, 4, 4],
        },
        "blocks": {
            "image": [0.11, 0.11, 0.12],
            "inside": [0.0011, 0.0022, 0.0012],
            "gap": [0.012, 0.010, 0.011],
            "count": [27, 27, 27],
        },
    }
    f = BlockFigures.of(overhead, [scenario("lease", 0.025), scenario("lease-blocks", 0.009)])
    assert (f.wait_p99_step, f.wait_p99_blocks) == (0.025, 0.009)
    assert (f.checkpoints_step, f.checkpoints_blocks) == (4, 27)
    assert f.stretch_step == pytest.approx(0.03)
    assert f.stretch_blocks == pytest.approx(0.011)
    assert f.hook_share == pytest.approx(0.0011 / 0.11)
    assert f.image_change == pytest.approx(0.11 / 0.11 - 1)
    assert f.spread == pytest.approx(0.02 / 0.11)
    assert f.images == 3
    assert f.stretch_clock == "wall clock"
    # On CUDA the probe also times the stretches on the GPU, and those are the ones reported.
    overhead["step"]["gpu_gap"] = [0.031, 0.032, 0.033]
    overhead["blocks"]["gpu_gap"] = [0.004, 0.005, 0.006]
    on_gpu = BlockFigures.of(overhead, [])
    assert (on_gpu.stretch_step, on_gpu.stretch_blocks) == (0.032, 0.005)
    assert on_gpu.stretch_clock == "GPU (CUDA events)"
    assert math.isnan(on_gpu.wait_p99_blocks)


def test_the_sd15_shaped_pipeline_has_fourteen_blocks_to_checkpoint_at() -> None:
    from types import SimpleNamespace

    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel

    from imagegen import pipeline_blocks
    from perf.contention._pipelines import SD15_UNET, SD15_VAE

    with torch.device("meta"):
        pipe = SimpleNamespace(
            unet=UNet2DConditionModel(**SD15_UNET), vae=AutoencoderKL(**SD15_VAE)
        )
    names = [name for name, _ in pipeline_blocks(pipe)]
    assert sum(n.startswith("unet.") for n in names) == 9  # 4 down, mid, 4 up
    assert sum(n.startswith("vae.decoder.") for n in names) == 5  # mid, 4 up
