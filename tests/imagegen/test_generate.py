"""Generation: seeded, batch equals single, the step hook, the request's own checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from imagegen import GenerationRequest, generate, load_pipeline


@pytest.fixture(scope="module")
def loaded(tiny_models):
    return load_pipeline(str(tiny_models.pipeline), device="cpu")


def test_loaded_defaults_match_the_tiny_pipeline(loaded):
    assert loaded.device == "cpu"
    assert loaded.dtype == torch.float32
    assert (loaded.default_width, loaded.default_height) == (64, 64)


def test_same_seed_same_image_and_batch_matches_single(loaded):
    first = generate(loaded, GenerationRequest("a red fox", seed=11, steps=3))
    again = generate(loaded, GenerationRequest("a red fox", seed=11, steps=3))
    batch = generate(loaded, GenerationRequest("a red fox", seed=11, steps=3, n=2))
    other = generate(loaded, GenerationRequest("a red fox", seed=12, steps=3))
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
        loaded,
        GenerationRequest("steps", seed=1, steps=4),
        on_step=lambda s, n: seen.append((s, n)),
    )
    assert seen == [(0, 4), (1, 4), (2, 4), (3, 4)]


def test_hook_that_pauses_does_not_change_the_image(loaded):
    import time

    request = GenerationRequest("pause", seed=5, steps=3)
    plain = generate(loaded, request)
    paused = generate(loaded, request, on_step=lambda s, n: time.sleep(0.05))
    assert np.array_equal(np.asarray(plain[0]), np.asarray(paused[0]))


def test_size_and_count_validation(loaded):
    with pytest.raises(ValueError, match="multiple of 8"):
        GenerationRequest("x", width=60, height=64)
    with pytest.raises(ValueError, match="n=0"):
        GenerationRequest("x", n=0)
    with pytest.raises(ValueError, match="prompt"):
        GenerationRequest("  ")
    image = generate(loaded, GenerationRequest("x", width=96, height=72, steps=2))[0]
    assert image.size == (96, 72)


def test_request_is_frozen_and_spells_its_size():
    request = GenerationRequest("x", width=96, height=72)
    assert request.size == "96x72"
    assert GenerationRequest("x").size is None
    with pytest.raises(AttributeError):
        request.prompt = "y"  # type: ignore[misc]
