"""Block checkpoints: which blocks are hooked, a pause inside a block, a raise inside the decode."""

from __future__ import annotations

import time
from types import SimpleNamespace

import numpy as np
import pytest
from torch import nn

from imagegen import GenerationRequest, generate, load_pipeline, pipeline_blocks
from imagegen._blocks import block_hooks


@pytest.fixture(scope="module")
def loaded(tiny_models):
    return load_pipeline(str(tiny_models.pipeline), device="cpu")


class Cancelled(Exception):
    """What a cancellation raised from a hook looks like to the caller."""


def _hook_count(loaded) -> int:
    return sum(len(module._forward_pre_hooks) for _, module in pipeline_blocks(loaded.pipe))


def test_the_tiny_pipelines_blocks_in_call_order(loaded):
    names = [name for name, _ in pipeline_blocks(loaded.pipe)]
    assert names == [
        "unet.down_blocks.0",
        "unet.down_blocks.1",
        "unet.mid_block",
        "unet.up_blocks.0",
        "unet.up_blocks.1",
        "vae.decoder.mid_block",
        "vae.decoder.up_blocks.0",
        "vae.decoder.up_blocks.1",
    ]


def test_transformer_stacks_are_found_in_order():
    transformer = nn.Module()
    transformer.transformer_blocks = nn.ModuleList([nn.Linear(2, 2), nn.Linear(2, 2)])
    transformer.single_transformer_blocks = nn.ModuleList([nn.Linear(2, 2)])
    pipe = SimpleNamespace(transformer=transformer, vae=None)
    assert [name for name, _ in pipeline_blocks(pipe)] == [
        "transformer.transformer_blocks.0",
        "transformer.transformer_blocks.1",
        "transformer.single_transformer_blocks.0",
    ]


def test_a_pipeline_without_blocks_is_refused():
    with (
        pytest.raises(TypeError, match="cannot yield inside a step"),
        block_hooks(SimpleNamespace(), lambda name: None),
    ):
        pass


def test_block_hook_runs_before_every_block_of_every_step_and_the_decode(loaded):
    seen: list[str] = []
    generate(loaded, GenerationRequest("blocks", seed=3, steps=2), on_block=seen.append)
    unet = [n for n, _ in pipeline_blocks(loaded.pipe) if n.startswith("unet.")]
    vae = [n for n, _ in pipeline_blocks(loaded.pipe) if n.startswith("vae.")]
    # Guidance runs the conditional and unconditional halves as one batch: one UNet call a step.
    assert seen == unet * 2 + vae
    assert _hook_count(loaded) == 0


def test_a_pause_inside_blocks_leaves_the_image_bit_identical(loaded):
    request = GenerationRequest("a pause inside a block", seed=21, steps=3)
    plain = generate(loaded, request)
    paused: list[str] = []

    def sleep_inside(name: str) -> None:
        if name in ("unet.mid_block", "unet.up_blocks.1", "vae.decoder.up_blocks.0"):
            paused.append(name)
            time.sleep(0.02)

    interrupted = generate(loaded, request, on_block=sleep_inside)
    assert len(paused) == 3 * 2 + 1
    assert np.array_equal(np.asarray(plain[0]), np.asarray(interrupted[0]))


def test_a_raise_inside_the_decode_stops_the_generation_and_removes_the_hooks(loaded):
    steps_done: list[int] = []
    reached: list[str] = []

    def cancel_in_decode(name: str) -> None:
        reached.append(name)
        if name == "vae.decoder.up_blocks.1":
            raise Cancelled(name)

    with pytest.raises(Cancelled, match=r"vae\.decoder\.up_blocks\.1"):
        generate(
            loaded,
            GenerationRequest("cancelled", seed=4, steps=2),
            on_step=lambda step, total: steps_done.append(step),
            on_block=cancel_in_decode,
        )
    # Every step ran; the decode started and stopped before its last block.
    assert steps_done == [0, 1]
    assert reached[-3:] == ["vae.decoder.mid_block", "vae.decoder.up_blocks.0", reached[-1]]
    assert _hook_count(loaded) == 0
    # The pipeline is unharmed: the next call makes the same image as ever.
    request = GenerationRequest("after a cancel", seed=9, steps=2)
    assert np.array_equal(
        np.asarray(generate(loaded, request)[0]),
        np.asarray(generate(loaded, request, on_block=lambda name: None)[0]),
    )
