"""memory_budget on recorded NVML figures (GPU_COORD_NVML_FILE), and without NVML."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gpu_coord import gpu_snapshot, memory_budget, read_status, resident

GiB = 2**30


def _card(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, used: int, total: int = 80 * GiB
) -> Path:
    figures = tmp_path / "nvml.json"
    figures.write_text(
        json.dumps(
            {"0": {"name": "recorded H100", "memory_total_bytes": total, "memory_used_bytes": used}}
        )
    )
    monkeypatch.setenv("GPU_COORD_NVML_FILE", str(figures))
    return figures


def test_budget_leaves_each_resident_its_peak(
    lease_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _card(tmp_path, monkeypatch, used=30 * GiB)
    with (
        resident("backend", path=lease_path, resident_bytes=20 * GiB, headroom_bytes=6 * GiB),
        resident("runner", path=lease_path, resident_bytes=8 * GiB, headroom_bytes=2 * GiB),
    ):
        budget = memory_budget(0, path=lease_path, margin_bytes="4GiB")
    assert budget.known is True
    assert budget.total_bytes == 80 * GiB
    assert budget.used_bytes == 30 * GiB
    assert budget.unaccounted_bytes == 2 * GiB  # 30 used - 28 claimed as held
    assert budget.margin_bytes == 4 * GiB
    assert budget.claimed_bytes == 36 * GiB
    # 80 - 4 margin - 2 unaccounted - (20 + 6) - (8 + 2)
    assert budget.available_bytes == 38 * GiB
    assert [r.owner for r in budget.residents] == ["backend", "runner"]
    assert "38.00 GiB may be taken" in budget.reason


def test_default_margin_and_a_full_card(
    lease_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _card(tmp_path, monkeypatch, used=79 * GiB)
    budget = memory_budget(path=lease_path)
    assert budget.margin_bytes == 4 * GiB  # 5 % of 80 GiB
    assert budget.unaccounted_bytes == 79 * GiB  # nobody registered
    assert budget.available_bytes == 0  # never negative


def test_status_shows_nvml_figures_and_unaccounted(
    lease_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _card(tmp_path, monkeypatch, used=10 * GiB)
    with resident("model", path=lease_path, resident_bytes=4 * GiB):
        status = read_status(lease_path)
    assert status["gpu_name"] == "recorded H100"
    assert status["memory_free_bytes"] == 70 * GiB
    assert status["unaccounted_bytes"] == 6 * GiB


def test_a_resident_that_did_not_say_is_named(
    lease_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _card(tmp_path, monkeypatch, used=10 * GiB)
    with resident("silent", path=lease_path):
        budget = memory_budget(path=lease_path, margin_bytes=0)
    assert budget.available_bytes == 70 * GiB
    assert "silent did not say" in budget.reason


def test_without_nvml_the_budget_is_unknown(
    lease_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GPU_COORD_NVML_FILE", raising=False)
    if gpu_snapshot(0) is not None:
        pytest.skip("this machine has a GPU NVML can read")
    with resident("model", path=lease_path, resident_bytes=GiB):
        budget = memory_budget(path=lease_path)
    assert budget.known is False
    assert budget.available_bytes is None
    assert budget.total_bytes is None
    assert budget.unaccounted_bytes is None
    assert budget.reason.startswith("budget unknown: ")
    assert len(budget.residents) == 1


def test_recorded_figures_without_the_device_are_unknown(
    lease_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _card(tmp_path, monkeypatch, used=0)
    budget = memory_budget(3, path=lease_path)
    assert budget.known is False
    assert "no figures for GPU 3" in budget.reason
