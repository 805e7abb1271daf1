"""A yield inside a block (the worker's on_block checkpoint) leaves the image bit-identical."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from benchmark.checkpoints import Checkpoints
from benchmark.messages import Pause, Resume, WorkerMessage
from gpu_coord import lease, read_status
from imagegen import GenerationRequest, generate, load_pipeline
from tests.gpu_coord.coord_helpers import REPO, child_env


@pytest.mark.timeout(300)
def test_a_yield_inside_a_block_gives_the_same_image(tiny_models: Any, tmp_path: Path) -> None:
    coord = tmp_path / "coord" / "status.json"
    coord.parent.mkdir()
    loaded = load_pipeline(str(tiny_models.pipeline), device="cpu", dtype="float32")
    request = GenerationRequest("a red fox", width=64, height=64, steps=3, guidance=1.0, seed=5)
    reference = np.asarray(generate(loaded, request)[0])

    held = lease("benchmark", priority="low", path=coord).acquire()
    # A high-priority caller queues before the image starts: the first checkpoint
    # the image reaches is the pre-hook of its first block, inside step 0.
    backend = subprocess.Popen(
        [sys.executable, "-m", "gpu_coord", "hold", "--owner", "test-backend",
         "--priority", "high", "--seconds", "0.3"],
        cwd=REPO, env=child_env(coord), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not held.wanted():
            assert time.monotonic() < deadline, "the high-priority caller never queued"
            assert backend.poll() is None, "the high-priority caller exited early"
            time.sleep(0.02)
        sent: list[WorkerMessage] = []
        marks = Checkpoints(held, sent.append, None)
        blocks: list[str] = []

        def on_block(name: str) -> None:
            blocks.append(name)
            marks.on_block(name)

        image = np.asarray(generate(loaded, request, on_step=marks.on_step, on_block=on_block)[0])
    finally:
        held.release()
        _, err = backend.communicate(timeout=60)
    assert backend.returncode == 0, err
    assert held.yields == 1
    assert marks.block_yields == 1  # the yield happened in a block, not between steps
    assert marks.yielded_s >= 0.25  # the backend's hold is not the image's time
    assert sent == [Pause(), Resume()]  # only a checkpoint that yields tells the parent
    assert blocks[0] == "unet.down_blocks.0"
    assert any(name.startswith("vae.decoder") for name in blocks)
    assert np.array_equal(image, reference)
    assert read_status(path=coord)["owner"] is None


def test_nobody_waiting_costs_no_message(tiny_models: Any, tmp_path: Path) -> None:
    coord = tmp_path / "status.json"
    loaded = load_pipeline(str(tiny_models.pipeline), device="cpu", dtype="float32")
    request = GenerationRequest("a cat", width=64, height=64, steps=2, guidance=1.0, seed=1)
    sent: list[WorkerMessage] = []
    with lease("benchmark", priority="low", path=coord) as held:
        marks = Checkpoints(held, sent.append, None)
        generate(loaded, request, on_step=marks.on_step, on_block=marks.on_block)
    assert sent == []
    assert (held.yields, marks.block_yields, marks.yielded_s) == (0, 0, 0.0)
