"""Placement decisions from recorded budgets (GPU_COORD_NVML_FILE) and sized model files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmark.config import ModelSpec
from benchmark.need import estimate_need
from benchmark.offload import decide
from benchmark.placement import (
    MemoryNeed,
    choose_placement,
    first_guess_working_bytes,
    lower_placement,
)
from gpu_coord import memory_budget, resident
from tests.benchmark.model_files import model_folder

GIB = 2**30


@pytest.fixture
def card(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A recorded 24 GiB card with 1 GiB in use, and a private lease folder."""
    figures = tmp_path / "nvml.json"
    record(figures, total=24 * GIB, used=1 * GIB)
    monkeypatch.setenv("GPU_COORD_NVML_FILE", str(figures))
    monkeypatch.setenv("GPU_COORD_MEMORY_MARGIN", "1GiB")
    coord = tmp_path / "coord" / "status.json"
    coord.parent.mkdir()
    monkeypatch.setenv("GPU_COORD_PATH", str(coord))
    return coord


def record(path: Path, *, total: int, used: int) -> None:
    path.write_text(
        json.dumps({"0": {"name": "recorded", "memory_total_bytes": total,
                          "memory_used_bytes": used}})
    )  # fmt: skip


def flux_like(tmp_path: Path) -> Path:
    """FLUX.1-schnell's shape: a 12 B transformer, a 4.7 B T5, CLIP and the VAE (bf16 files)."""
    return model_folder(
        tmp_path / "flux",
        "FluxPipeline",
        {
            "transformer": {f"b{i}": ("BF16", (3072, 3072 * 4)) for i in range(318)},
            "text_encoder_2": {f"l{i}": ("BF16", (4096, 4096 * 4)) for i in range(70)},
            "text_encoder": {"w": ("BF16", (123_000_000,))},
            "vae": {"w": ("BF16", (84_000_000,))},
        },
    )


def spec(source: Path, **kw: object) -> ModelSpec:
    values: dict[str, object] = {
        "steps": 4,
        "guidance": 0.0,
        "width": 1024,
        "height": 1024,
        "dtype": "bf16",
    }
    values.update(kw)
    return ModelSpec(name="m", source=str(source), **values)  # type: ignore[arg-type]


def test_a_model_that_fits_goes_all_on_the_gpu(card: Path, tmp_path: Path) -> None:
    sd = model_folder(
        tmp_path / "sd",
        "StableDiffusionPipeline",
        {"unet": {"w": ("F16", (860_000_000,))}, "vae": {"w": ("F16", (84_000_000,))}},
    )
    need = estimate_need(spec(sd, width=512, height=512, dtype="fp16"), "cuda:0", None)
    assert need is not None
    assert not need.working_measured
    decision = choose_placement(need, memory_budget(0))
    assert decision.placement == "gpu"
    assert decision.need_bytes == need.weights_bytes + need.working_bytes
    assert "GiB" in decision.reason
    assert "first guess" in decision.reason


def test_flux_beside_a_resident_backend_falls_to_model_then_sequential_offload(
    card: Path, tmp_path: Path
) -> None:
    need = estimate_need(spec(flux_like(tmp_path)), "cuda:0", None)
    assert need is not None
    assert 22 * GIB < need.components["transformer"] < 23 * GIB
    # Alone on the 24 GiB card (22 GiB may be taken): the transformer and T5 do not
    # fit together, one at a time does not fit either beside the working memory.
    alone = choose_placement(need, memory_budget(0))
    assert alone.placement == "sequential_offload", alone.reason
    # A smaller transformer (schnell at 8 bits, say) fits one component at a time.
    small = MemoryNeed({"transformer": 11 * GIB, "text_encoder_2": 9 * GIB}, GIB // 8, 6 * GIB)
    assert choose_placement(small, memory_budget(0)).placement == "model_offload"
    with resident("backend", resident_bytes=10 * GIB, headroom_bytes=4 * GIB):
        record(Path(str(card.parent.parent / "nvml.json")), total=24 * GIB, used=11 * GIB)
        budget = memory_budget(0)
        assert budget.available_bytes == 24 * GIB - 1 * GIB - 1 * GIB - 14 * GIB
        beside = choose_placement(small, budget)
        assert beside.placement == "sequential_offload", beside.reason
        assert beside.available_bytes == budget.available_bytes


def test_no_placement_fits_skips_with_the_figures(card: Path, tmp_path: Path) -> None:
    with resident("backend", resident_bytes=20 * GIB, headroom_bytes=2 * GIB):
        record(card.parent.parent / "nvml.json", total=24 * GIB, used=21 * GIB)
        need = estimate_need(spec(flux_like(tmp_path)), "cuda:0", None)
        decision = choose_placement(need, memory_budget(0))
    assert decision.placement is None
    assert decision.reason.startswith("skipped: does not fit even with sequential CPU offload")
    # The figures: what it needs, and the budget's breakdown.
    for text in (
        "it needs 8.",
        "weights 31.",
        "largest component 22.",
        "working memory 8.00 GiB (first guess)",
        "0.00 GiB may be taken: 24.00 GiB total, 21.00 GiB used",
        "1 resident(s) claim 22.00 GiB",
    ):
        assert text in decision.reason, (text, decision.reason)


def test_a_configured_placement_overrides_and_says_when_it_does_not_fit(card: Path) -> None:
    need = MemoryNeed({"unet": 30 * GIB}, GIB, 2 * GIB)
    forced = choose_placement(need, memory_budget(0), "gpu")
    assert forced.placement == "gpu"
    assert "as configured although it needs 32.00 GiB" in forced.reason
    lean = choose_placement(MemoryNeed({"unet": GIB}, GIB, GIB), memory_budget(0), "model_offload")
    assert lean.placement == "model_offload"
    assert "although" not in lean.reason
    with pytest.raises(ValueError, match="placement 'cpu' is not one of"):
        choose_placement(need, memory_budget(0), "cpu")


def test_an_unknown_budget_or_need_loads_on_the_device_and_says_why(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GPU_COORD_PATH", str(tmp_path / "status.json"))
    monkeypatch.delenv("GPU_COORD_NVML_FILE", raising=False)
    need = MemoryNeed({"unet": 99 * GIB}, GIB, GIB)
    blind = choose_placement(need, memory_budget(0))  # no NVML on this host
    assert blind.placement == "gpu"
    assert "memory budget unknown" in blind.reason


def test_the_measured_working_memory_replaces_the_first_guess(card: Path, tmp_path: Path) -> None:
    sd = model_folder(tmp_path / "sd", "StableDiffusionXLPipeline", {"unet": {"w": ("F16", (8,))}})
    guessed = estimate_need(spec(sd, dtype="fp16"), "cuda:0", None)
    measured = estimate_need(spec(sd, dtype="fp16"), "cuda:0", 3 * GIB)
    assert guessed is not None
    assert guessed.working_bytes == 5 * GIB
    assert measured is not None
    assert measured.working_bytes == 3 * GIB
    assert measured.working_measured


def test_first_guesses_scale_with_pixels_and_precision() -> None:
    sd15 = first_guess_working_bytes(
        "StableDiffusionPipeline", width=512, height=512, bytes_per_value=2
    )
    big = first_guess_working_bytes(
        "StableDiffusionPipeline", width=1024, height=1024, bytes_per_value=4
    )
    assert big == 8 * sd15
    assert first_guess_working_bytes(None, width=8, height=8, bytes_per_value=2) == 256 * 2**20


def test_lower_placement_order() -> None:
    assert lower_placement("gpu") == "model_offload"
    assert lower_placement("model_offload") == "sequential_offload"
    assert lower_placement("sequential_offload") is None


def test_the_worker_decides_against_its_lease_devices_budget(card: Path) -> None:
    need = MemoryNeed({"unet": 15 * GIB, "text_encoder": 15 * GIB}, GIB, 2 * GIB)
    on_cuda = decide(need, "auto", device="cuda:0", lease_device=0)
    assert on_cuda.placement == "model_offload", on_cuda.reason
    # Lease 1 has no recorded figures: unknown, so everything on the device.
    assert decide(need, "auto", device="cuda:1", lease_device=1).placement == "gpu"
    # The CPU has no device memory to budget.
    on_cpu = decide(need, "auto", device="cpu", lease_device=0)
    assert on_cpu.placement == "gpu"
    assert "cpu has no memory budget" in on_cpu.reason
    assert decide(need, "model_offload", device="cpu", lease_device=0).placement == "model_offload"
