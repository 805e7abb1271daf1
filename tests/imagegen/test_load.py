"""Loading: hub ids and folders, and every failure named with the model and the reason."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from imagegen import ModelLoadError, load_pipeline


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


def test_relative_folder_path(tiny_models, monkeypatch):
    monkeypatch.chdir(tiny_models.root)
    loaded = load_pipeline("./" + Path(tiny_models.pipeline).name, device="cpu")
    assert loaded.default_width == 64
