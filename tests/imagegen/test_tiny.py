"""The tiny offline models: built from configs, reused, rebuilt when broken, readable by all."""

from __future__ import annotations

import json
import subprocess
import sys

import torch

from imagegen import build_tiny_models


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
