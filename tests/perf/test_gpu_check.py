"""The GPU host check: the dry run end to end, the step registry, budgets, the wheels.

The dry run is the real check on the CPU: every step in its own process, the
contention roles, the runner's command line. What needs CUDA (the device's
memory, NVML's energy) is exercised on a GPU host by the check itself.
"""

from __future__ import annotations

import subprocess
import sys
import time
import tomllib
from dataclasses import replace
from pathlib import Path

import pytest

from benchmark.config import load_config
from perf.gpu_check import TOTAL_BUDGET_S, StepContext, StepOutcome, registered_steps
from perf.gpu_check.__main__ import main
from perf.gpu_check._lease_freeze import LOOP, _beats, freeze_mid_stream
from perf.gpu_check._registry import find_step, register_step
from perf.gpu_check._run import _with_requirements, format_table, run_step, run_steps, step_env
from perf.gpu_check._runner import _toml, runner_config
from perf.gpu_check._wheels import PREINSTALLED, WHEELS_BUDGET_S, install_wheels, requirements

ROOT = Path(__file__).resolve().parents[2]
STEPS = [
    "host",
    "contention",
    "block-yield",
    "flush",
    "backend-memory",
    "lease-memory",
    "scoring",
    "runner",
]


def _table(stdout: str) -> dict[str, list[str]]:
    rows: dict[str, list[str]] = {}
    for line in stdout.splitlines():
        if line.startswith("| ") and not line.startswith(("| step ", "| --- ")):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            rows[cells[0]] = cells[1:]
    return rows


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_dry_run_passes_every_step_and_writes_each_section(tmp_path: Path, tiny_models) -> None:  # type: ignore[no-untyped-def]
    output = tmp_path / "performance.md"
    output.write_text("# Performance\n\n## Another benchmark\n\nkept as it was\n")
    started = time.monotonic()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "perf.gpu_check",
            "--dry-run",
            "--output",
            str(output),
            "--models-dir",
            str(tiny_models.root),
        ],
        cwd=ROOT,
        env=step_env(),
        capture_output=True,
        text=True,
        timeout=840,
    )
    took = time.monotonic() - started
    print(f"dry run: {took:.0f} s")
    assert proc.returncode == 0, proc.stdout + proc.stderr[-6000:]
    rows = _table(proc.stdout)
    assert list(rows) == STEPS
    for name, (status, seconds, budget, reason) in rows.items():
        assert status == "pass", f"{name}: {reason}"
        assert 0 < float(seconds) <= float(budget)
        assert reason
    text = output.read_text()
    assert text.startswith("# Performance\n\n## Another benchmark\n\nkept as it was\n")
    for heading in (
        "## GPU host check: host",
        "## Contention: backend and runner on one device",
        "## GPU host check: flush policies on `cpu`",
        "## GPU host check: the lease's memory figures and freeze on `cpu`",
        "## GPU host check: scoring cost per image, tiny models on `cpu`",
        "## GPU host check: benchmark runner, 2 images of the tiny model",
        "## GPU host check: summary",
    ):
        assert heading in text, heading
    # The summary comes last and carries the same table as the one printed.
    summary = text.split("## GPU host check: summary", 1)[1]
    assert _table(summary) == rows
    assert "--dry-run" in summary
    # The block-yield run put step-only and block checkpoints side by side.
    assert "| shared: lease-blocks |" in text
    assert "Block checkpoints" in text
    assert "2 images ok, 0 failed" in text
    # The frozen loop wrote nothing while frozen and nothing was left behind.
    freeze = text.split("| asks |", 1)[1].splitlines()[2]
    assert freeze.split("|")[5].strip() == "0"
    assert freeze.split("|")[7].strip() == "0"


def test_steps_are_registered_in_order_and_fit_eight_minutes() -> None:
    steps = registered_steps()
    assert [s.name for s in steps] == STEPS
    assert sum(s.budget_s for s in steps) + WHEELS_BUDGET_S <= TOTAL_BUDGET_S
    for step in steps:
        assert step.summary
        assert all(r in [s.name for s in steps[: steps.index(step)]] for r in step.requires)


def test_registering_a_name_twice_or_a_bad_status_is_refused() -> None:
    def noop(ctx: StepContext) -> StepOutcome:
        return StepOutcome("pass", "nothing")

    with pytest.raises(ValueError, match="registered twice"):
        register_step("host", budget_s=1, dry_budget_s=1, summary="again")(noop)
    with pytest.raises(ValueError, match="status"):
        StepOutcome("maybe", "no")


def _ctx(tmp_path: Path, device: str = "cpu") -> StepContext:
    return StepContext(
        device=device,
        dry_run=device == "cpu",
        work_dir=tmp_path / "work",
        models_dir=tmp_path / "models",
        command="python -m perf.gpu_check --test",
    )


def test_a_step_that_raises_fails_naming_the_error(tmp_path: Path) -> None:
    outcome = run_step(find_step("host"), _ctx(tmp_path, device="cuda:x"))
    assert outcome.status == "fail"
    assert "ValueError" in outcome.reason
    assert "cuda:x" in outcome.reason
    assert outcome.seconds > 0


def test_a_step_runs_with_what_it_needs_and_is_skipped_when_that_failed(tmp_path: Path) -> None:
    assert _with_requirements(registered_steps(), ["runner"]) == {"runner", "host"}
    lines: list[str] = []
    output = tmp_path / "performance.md"
    records = run_steps(_ctx(tmp_path, device="cuda:x"), output, lines.append, only=["flush"])
    assert [(r.name, r.outcome.status) for r in records] == [("host", "fail"), ("flush", "skip")]
    assert records[1].outcome.reason == "needs host, which did not pass"
    assert not output.exists()  # nothing measured, nothing written
    assert any(line.startswith(f"[1/{len(STEPS)}] host:") for line in lines)


def test_a_step_over_its_budget_is_stopped(tmp_path: Path) -> None:
    slow = replace(find_step("runner"), dry_budget_s=2.0)
    started = time.monotonic()
    outcome = run_step(slow, _ctx(tmp_path))
    assert outcome.status == "fail"
    assert "over its budget of 2 s" in outcome.reason
    assert time.monotonic() - started < 60


def test_context_and_outcome_travel_as_json(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    assert StepContext.from_json(ctx.to_json()) == ctx
    outcome = StepOutcome("skip", "why", "## section\n", 1.5)
    assert StepOutcome.from_json(outcome.to_json()) == outcome


def test_bad_usage_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--step", "telepathy", "--dry-run"]) == 2
    assert "--step telepathy: no such step" in capsys.readouterr().err
    assert main(["--device", "cpu"]) == 2


def test_print_requirements_lists_what_the_wheels_must_hold(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--print-requirements"]) == 0
    printed = capsys.readouterr().out.split()
    assert printed == requirements()
    names = {r.split(">")[0].split("[")[0].split("=")[0].lower() for r in printed}
    for needed in ("diffusers", "fastapi", "pydantic-settings", "nvidia-ml-py", "filelock"):
        assert needed in names
    for present in (*PREINSTALLED, "gpu-share", "huggingface-hub"):
        assert present not in names


def test_wheels_install_nothing_when_everything_is_there(tmp_path: Path) -> None:
    empty = tmp_path / "wheels"
    empty.mkdir()
    summary = install_wheels(empty, 120)
    assert f"{len(requirements())} requirements satisfied, 0 packages installed" in summary


def test_a_wheel_missing_from_the_folder_is_named(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="no such folder"):
        install_wheels(tmp_path / "absent", 60)
    (tmp_path / "wheels").mkdir()
    with pytest.raises(RuntimeError, match="gpu-share-no-such-package"):
        install_wheels(tmp_path / "wheels", 120, ["gpu-share-no-such-package==1.0"])


def test_the_runner_config_is_the_tiny_one_on_the_device(tmp_path: Path, tiny_models) -> None:  # type: ignore[no-untyped-def]
    text = _toml(runner_config("cuda", tiny_models, [0, 1]))
    assert tomllib.loads(text)["run"]["device"] == "cuda"
    path = tmp_path / "benchmark.toml"
    path.write_text(text)
    config = load_config(path)
    assert config.run.device == "cuda"
    assert config.run.seeds == (0, 1)
    assert [m.name for m in config.models] == ["tiny-sd"]
    assert config.models[0].source == str(tiny_models.pipeline)
    assert config.scorers.clip_model == str(tiny_models.clip)


def test_the_table_escapes_pipes() -> None:
    from perf.gpu_check._run import StepRecord

    table = format_table([StepRecord("x", 5, StepOutcome("fail", "a | b\nc", None, 1.0))])
    assert table.splitlines()[-1] == "| x | fail | 1.0 | 5 | a / b c |"


def test_a_loop_under_run_is_frozen_while_high_priority_holds_and_nothing_is_left(
    tmp_path: Path,
) -> None:
    figures = freeze_mid_stream(
        "cpu", tmp_path / "lease" / "status.json", tmp_path, asks=2, hold_s=0.2
    )
    assert figures.beats_while_frozen == 0
    assert figures.beat_rate * 0.2 > 5  # running, a hold would have seen several heartbeats
    assert len(figures.waits) == len(figures.drains) == len(figures.resumes) == 2
    assert all(0 < d < 1 for d in figures.drains)
    assert figures.left_behind == 0
    assert figures.run_exit == 128 + 15  # stopped by SIGTERM, forwarded to the loop


def test_the_heartbeat_shows_a_loop_that_nobody_freezes(tmp_path: Path) -> None:
    beat = tmp_path / "heartbeat.txt"
    loop = subprocess.Popen(
        [sys.executable, "-c", LOOP, "cpu", "64", "1", str(beat)], stdout=subprocess.PIPE
    )
    try:
        assert loop.stdout is not None
        loop.stdout.readline()
        start = time.time()
        time.sleep(0.3)
        end = time.time()
        assert sum(1 for s in _beats(beat) if start < s < end) > 5
    finally:
        loop.kill()
        loop.wait(30)
        assert loop.stdout is not None
        loop.stdout.close()
