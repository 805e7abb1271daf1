from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from imagegen import ModelLoadError, build_tiny_models, generate, load_pipeline, pick_dtype


@pytest.fixture(scope="module")
def loaded(tiny_models):
    return load_pipeline(str(tiny_models.pipeline), device="cpu")


def test_tiny_build_writes_all_models_and_is_reused(tiny_models):
    assert (tiny_models.pipeline / "model_index.json").is_file()
    assert (tiny_models.clip / "config.json").is_file()
    head = torch.load(tiny_models.aesthetic / "sac+logos+ava1-l14-linearMSE.pth", weights_only=True)
    assert sorted(head) == sorted(
        f"layers.{i}.{kind}" for i in (0, 2, 4, 6, 7) for kind in ("weight", "bias")
    )
    assert head["layers.7.weight"].shape == (1, 16)
    stamp = (tiny_models.root / "tiny-models.json").stat().st_mtime_ns
    again = build_tiny_models(tiny_models.root)
    assert again == tiny_models
    assert (tiny_models.root / "tiny-models.json").stat().st_mtime_ns == stamp


def test_every_file_is_readable_by_others(tiny_models):
    # The containers run as a non-root user and read a tree that root may have built.
    for path in tiny_models.root.rglob("*"):
        assert path.stat().st_mode & 0o004, path


def test_interrupted_build_is_rebuilt(tmp_path):
    built = build_tiny_models(tmp_path)
    (built.clip / "config.json").unlink()
    rebuilt = build_tiny_models(tmp_path)
    assert (rebuilt.clip / "config.json").is_file()


def test_cli_builds_into_folder(tmp_path):
    out = tmp_path / "models"
    result = subprocess.run(
        [sys.executable, "-W", "error::RuntimeWarning", "-m", "imagegen.tiny", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "tiny models ready" in result.stdout
    assert json.loads((out / "tiny-models.json").read_text())["recipe"] >= 1


def test_cli_reports_unwritable_folder(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = subprocess.run(
        [sys.executable, "-m", "imagegen.tiny", "--out", str(blocker / "models")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1
    assert str(blocker / "models") in result.stderr


def test_loaded_defaults_match_the_tiny_pipeline(loaded):
    assert loaded.device == "cpu"
    assert loaded.dtype == torch.float32
    assert (loaded.default_width, loaded.default_height) == (64, 64)


def test_same_seed_same_image_and_batch_matches_single(loaded):
    first = generate(loaded, "a red fox", seed=11, num_inference_steps=3)
    again = generate(loaded, "a red fox", seed=11, num_inference_steps=3)
    batch = generate(loaded, "a red fox", seed=11, num_inference_steps=3, num_images=2)
    other = generate(loaded, "a red fox", seed=12, num_inference_steps=3)
    assert first[0].size == (64, 64)
    assert np.array_equal(np.asarray(first[0]), np.asarray(again[0]))
    # Batched kernels round differently; the same noise gives the same picture.
    drift = np.abs(np.asarray(first[0], dtype=int) - np.asarray(batch[0], dtype=int))
    assert drift.max() <= 3
    assert not np.array_equal(np.asarray(batch[0]), np.asarray(batch[1]))
    assert not np.array_equal(np.asarray(first[0]), np.asarray(other[0]))


def test_step_hook_runs_between_every_step_and_can_block(loaded):
    seen: list[tuple[int, int]] = []
    generate(
        loaded, "steps", seed=1, num_inference_steps=4, on_step=lambda s, n: seen.append((s, n))
    )
    assert seen == [(0, 4), (1, 4), (2, 4), (3, 4)]


def test_hook_that_pauses_does_not_change_the_image(loaded):
    import time

    plain = generate(loaded, "pause", seed=5, num_inference_steps=3)
    paused = generate(
        loaded, "pause", seed=5, num_inference_steps=3, on_step=lambda s, n: time.sleep(0.05)
    )
    assert np.array_equal(np.asarray(plain[0]), np.asarray(paused[0]))


def test_size_and_count_validation(loaded):
    with pytest.raises(ValueError, match="multiples of 8"):
        generate(loaded, "x", width=60, height=64)
    with pytest.raises(ValueError, match="num_images"):
        generate(loaded, "x", num_images=0)
    image = generate(loaded, "x", width=96, height=72, num_inference_steps=2)[0]
    assert image.size == (96, 72)


def test_missing_folder_names_model_and_reason(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(ModelLoadError, match="nope") as info:
        load_pipeline(str(missing))
    assert "model_index.json" in str(info.value)


def test_unknown_repo_offline_names_model(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError, match="no-such-org/no-such-model"):
        load_pipeline("no-such-org/no-such-model", device="cpu")


def test_folder_that_is_not_a_pipeline(tmp_path):
    (tmp_path / "model_index.json").write_text("{not json")
    with pytest.raises(ModelLoadError, match=str(tmp_path)):
        load_pipeline(str(tmp_path), device="cpu")


def test_bad_device_and_dtype_are_load_errors(tiny_models):
    with pytest.raises(ModelLoadError, match="dtype"):
        load_pipeline(str(tiny_models.pipeline), device="cpu", dtype="float8")
    if not torch.cuda.is_available():
        with pytest.raises(ModelLoadError, match="CUDA"):
            load_pipeline(str(tiny_models.pipeline), device="cuda")


def test_dtype_defaults():
    assert pick_dtype("cpu") == torch.float32
    assert pick_dtype("cuda") == torch.float16
    assert pick_dtype("cuda", "bf16") == torch.bfloat16


def test_relative_folder_path(tiny_models, monkeypatch):
    monkeypatch.chdir(tiny_models.root)
    loaded = load_pipeline("./" + Path(tiny_models.pipeline).name, device="cpu")
    assert loaded.default_width == 64
