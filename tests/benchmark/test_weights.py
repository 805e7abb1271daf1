"""Weights sized from the files: safetensors headers at the configured dtype, variants."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from benchmark.weights import bytes_per_value, model_folder, size_weights
from tests.benchmark.model_files import model_folder as make_folder
from tests.benchmark.model_files import write_safetensors

GIB = 2**30


def test_float_tensors_count_at_the_configured_dtype(tmp_path: Path) -> None:
    folder = make_folder(
        tmp_path / "m",
        "StableDiffusionPipeline",
        {
            "unet": {"w": ("F32", (GIB // 4,)), "steps": ("I64", (8,))},
            "vae": {"w": ("F32", (1024, 1024))},
        },
    )
    half = size_weights(str(folder), dtype="float16", variant=None, device="cuda")
    assert half is not None
    assert half.components == {"unet": GIB // 2 + 64, "vae": 2 * 2**20}
    assert half.largest_tensor_bytes == GIB // 2
    assert half.pipeline_class == "StableDiffusionPipeline"
    full = size_weights(str(folder), dtype="auto", variant=None, device="cpu")
    assert full is not None
    assert full.components["unet"] == GIB + 64


def test_the_configured_variant_is_sized_and_the_plain_files_otherwise(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "m", "X", {"unet": {"w": ("F16", (100,))}}, variant="fp16")
    write_safetensors(folder / "unet" / "diffusion_pytorch_model.safetensors", {"w": ("F32", (7,))})
    fp16 = size_weights(str(folder), dtype="float32", variant="fp16", device="cuda")
    plain = size_weights(str(folder), dtype="float32", variant=None, device="cuda")
    missing = size_weights(str(folder), dtype="float32", variant="bf16", device="cuda")
    assert fp16 is not None
    assert fp16.components == {"unet": 400}
    assert plain is not None
    assert plain.components == {"unet": 28}
    assert missing is not None
    assert missing.components == {"unet": 28}


def test_sharded_files_add_up_and_bin_files_count_by_size(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "m", "X", {"vae": {"w": ("F16", (10,))}})
    unet = folder / "unet"
    for n in (1, 2):
        write_safetensors(unet / f"m-0000{n}-of-00002.safetensors", {f"w{n}": ("F16", (50,))})
    (folder / "text_encoder").mkdir()
    (folder / "text_encoder" / "pytorch_model.bin").write_bytes(b"\0" * 1000)
    index = (folder / "model_index.json").read_text()
    (folder / "model_index.json").write_text(
        index[:-1] + ', "unet": ["d", "U"], "text_encoder": ["t", "T"]}'
    )
    sizes = size_weights(str(folder), dtype="float16", variant=None, device="cuda")
    assert sizes is not None
    assert sizes.components == {"text_encoder": 1000, "unet": 200, "vae": 20}


def test_the_tiny_pipeline_is_sized_from_its_real_files(tiny_models: Any) -> None:
    sizes = size_weights(str(tiny_models.pipeline), dtype="float32", variant=None, device="cpu")
    assert sizes is not None
    assert set(sizes.components) == {"text_encoder", "unet", "vae"}
    for name, size in sizes.components.items():
        files = list((Path(tiny_models.pipeline) / name).glob("*.safetensors"))
        # The header-derived figure is the file minus its header.
        assert 0 < size <= sum(f.stat().st_size for f in files)


def test_unknown_models_are_not_guessed(tmp_path: Path) -> None:
    assert size_weights(str(tmp_path / "absent"), dtype="auto", variant=None, device="cuda") is None
    assert (
        size_weights("nobody/not-in-the-cache", dtype="auto", variant=None, device="cuda") is None
    )
    assert model_folder("nobody/not-in-the-cache") is None
    (tmp_path / "empty").mkdir()
    assert size_weights(str(tmp_path / "empty"), dtype="auto", variant=None, device="cuda") is None


def test_a_corrupt_header_is_skipped_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = make_folder(tmp_path / "m", "X", {"vae": {"w": ("F16", (10,))}, "unet": {}})
    (folder / "unet" / "diffusion_pytorch_model.safetensors").write_bytes(b"\xff" * 16)
    sizes = size_weights(str(folder), dtype="float16", variant=None, device="cuda")
    assert sizes is not None
    assert sizes.components == {"vae": 20}
    assert "cannot size" in caplog.text


def test_bytes_per_value() -> None:
    assert bytes_per_value("auto", "cuda:1") == 2
    assert bytes_per_value("auto", "cpu") == 4
    assert bytes_per_value("bf16", "cpu") == 2
    assert bytes_per_value("float32", "cuda") == 4
