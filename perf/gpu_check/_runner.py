"""Step ``runner``: the benchmark runner end to end on the device, through its command line.

Driven as ``python -m benchmark run`` and ``python -m benchmark status --json``
(never through the runner's modules, whose insides change): the tiny model of
``research/benchmark.tiny.toml`` on the check's device, its scorers included,
20 images (10 prompts x 2 seeds; 2 in a dry run), with a lease record of its own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

from perf.gpu_check._registry import StepContext, StepOutcome, register_step

_ROOT = Path(__file__).resolve().parents[2]
TINY_CONFIG = _ROOT / "research" / "benchmark.tiny.toml"
PROMPTS = _ROOT / "research" / "data" / "benchmark_prompts_v2.json"
IMAGES = 20
DRY_IMAGES = 2


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")


def _toml(config: dict[str, Any]) -> str:
    """The runner's config shape (tables of scalars and an array of model tables) as TOML."""
    lines: list[str] = []
    for table, body in config.items():
        entries = body if isinstance(body, list) else [body]
        for entry in entries:
            lines.append(f"[[{table}]]" if isinstance(body, list) else f"[{table}]")
            lines += [f"{key} = {_toml_value(value)}" for key, value in entry.items()]
            lines.append("")
    return "\n".join(lines)


def runner_config(device: str, tiny: Any, seeds: list[int]) -> dict[str, Any]:
    """``research/benchmark.tiny.toml`` with its first model, on ``device``, paths absolute."""
    base = tomllib.loads(TINY_CONFIG.read_text(encoding="utf-8"))
    model = dict(base["models"][0])
    model["path"] = str(Path(tiny.pipeline).resolve())
    scorers = dict(base.get("scorers", {}))
    scorers.update(
        clip_model=str(Path(tiny.clip).resolve()),
        aesthetic_head=str(Path(tiny.aesthetic).resolve()),
    )
    return {
        "run": {**base.get("run", {}), "device": device, "seeds": seeds},
        "scorers": scorers,
        "models": [model],
    }


def _prompts(count: int) -> list[dict[str, str]]:
    entries = json.loads(PROMPTS.read_text(encoding="utf-8"))
    return [{"id": e["id"], "prompt": e["prompt"]} for e in entries[:count]]


def _cli(args: list[str], env: dict[str, str], log: Path, timeout: float) -> int:
    with log.open("a", encoding="utf-8") as out:
        out.write(f"$ python -m benchmark {' '.join(args)}\n")
        out.flush()
        proc = subprocess.run(
            [sys.executable, "-m", "benchmark", *args],
            cwd=_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=timeout,
            check=False,
        )
    return proc.returncode


def _log_summary(log: Path) -> str:
    """The runner's first error lines (why images failed), else its last lines."""
    lines = log.read_text(encoding="utf-8").strip().splitlines()
    errors = [line for line in lines if " ERROR " in line or "Error" in line]
    return " / ".join(errors[:2] if errors else lines[-3:])


def _energy_mj(ctx: StepContext) -> int | None:
    from gpu_coord import gpu_snapshot
    from imagegen import cuda_index

    index = cuda_index(ctx.device)
    snapshot = gpu_snapshot(index) if index is not None else None
    return None if snapshot is None else snapshot.energy_mj


@register_step(
    "runner",
    budget_s=55,
    dry_budget_s=240,
    summary=f"python -m benchmark run: {IMAGES} images of the tiny model",
    requires=("host",),
)
def check_runner(ctx: StepContext) -> StepOutcome:
    from imagegen import build_tiny_models

    images = DRY_IMAGES if ctx.dry_run else IMAGES
    seeds = [0, 1]
    tiny = build_tiny_models(ctx.models_dir)
    config = ctx.work_dir / "benchmark.toml"
    config.write_text(_toml(runner_config(ctx.device, tiny, seeds)), encoding="utf-8")
    data = ctx.work_dir / "data"
    data.mkdir(parents=True, exist_ok=True)
    (data / "gpu-check.json").write_text(
        json.dumps(_prompts(images // len(seeds)), indent=1), encoding="utf-8"
    )
    results = ctx.work_dir / "results"
    log = ctx.work_dir / "benchmark.log"
    env = dict(os.environ, GPU_COORD_PATH=str(ctx.work_dir / "lease" / "status.json"))
    paths = ["--config", str(config), "--results-dir", str(results)]
    energy_before = _energy_mj(ctx)
    started = time.monotonic()
    code = _cli(["run", *paths, "--data-dir", str(data)], env, log, timeout=3600)
    took = time.monotonic() - started
    energy_after = _energy_mj(ctx)
    tail = _log_summary(log)
    if code != 0:
        return StepOutcome("fail", f"benchmark run exited with status {code}: {tail}")
    status_log = ctx.work_dir / "status.json"
    status_log.unlink(missing_ok=True)
    if _cli(["status", "--json", *paths], env, status_log, timeout=120) != 0:
        return StepOutcome("fail", f"benchmark status failed: see {status_log}")
    text = status_log.read_text(encoding="utf-8")
    runs = json.loads(text[text.index("{") :])["runs"]
    if len(runs) != 1:
        return StepOutcome("fail", f"expected one run in {results}, found {len(runs)}")
    ok, failed = int(runs[0]["ok"]), int(runs[0]["failed"])
    energy = (
        f"{(energy_after - energy_before) / 1000 / images:.1f} J per image (NVML, "
        "the whole run: start-up, loads and scoring included)"
        if energy_before is not None and energy_after is not None
        else "n/a (no NVML energy counter)"
    )
    section = "\n".join(
        [
            *ctx.heading(f"benchmark runner, {images} images of the tiny model"),
            f"- `python -m benchmark run` with `{TINY_CONFIG.relative_to(_ROOT)}`'s first model "
            f"on `{ctx.device}`, {images // len(seeds)} prompts x {len(seeds)} seeds, scored: "
            f"{ok} images ok, {failed} failed, {took:.1f} s in all "
            f"({took / images:.2f} s an image, start-up and model loads included).",
            f"- Energy: {energy}.",
            "",
        ]
    )
    if ok != images or failed:
        return StepOutcome("fail", f"{ok} of {images} images ok, {failed} failed: {tail}", section)
    return StepOutcome("pass", f"{ok}/{images} images ok in {took:.0f} s", section)
