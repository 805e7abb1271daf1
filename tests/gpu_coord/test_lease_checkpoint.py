"""Step-level yield: a low holder hands over at its next checkpoint and resumes intact."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from gpu_coord import lease, read_status
from tests.gpu_coord.coord_helpers import Children, finish, wait_event

STEP_MS = 5
STEPS = 120


@pytest.mark.timeout(60)
def test_low_holder_yields_within_one_checkpoint_and_continues(
    children: Children, tmp_path: Path
) -> None:
    low = children.worker("steps", owner="batch", n=STEPS, step_ms=STEP_MS)
    wait_event(low, "granted")
    time.sleep(0.1)  # let it run some steps first
    high = children.worker(
        "grant_log", owner="backend", priority="high", log=str(tmp_path / "grants.log"), hold=0.1
    )
    asked = wait_event(high, "asking")["t"]
    granted = wait_event(high, "granted")
    finish(high)
    done = finish(low)[-1]

    # State intact: every step ran exactly once, in order, and the loop went on.
    assert done["done"] == list(range(STEPS))
    assert done["total"] == sum(range(STEPS))
    assert done["yields"] == 1
    yielded = [c for c in done["checkpoints"] if c["yielded"]]
    assert len(yielded) == 1
    # It yielded at the first checkpoint after the high caller took its place in
    # line (allowing one more for the instant between "asking" and that).
    late = [c for c in done["checkpoints"] if asked < c["t"] < yielded[0]["t"]]
    assert len(late) <= 1, f"checkpoints ignored the waiting high caller: {late}"
    assert granted["t"] > yielded[0]["t"]
    # The holder was re-granted with a new fencing token, after the high caller's.
    assert yielded[0]["generation"] > granted["generation"]
    assert done["wait_seconds"] >= 0.1  # it waited out the high caller's 0.1 s hold


def test_checkpoint_without_waiters_returns_false(lease_path: Path) -> None:
    with lease("batch", path=lease_path) as held:
        generation = held.generation
        assert [held.checkpoint() for _ in range(100)] == [False] * 100
        assert held.generation == generation
        assert held.yields == 0
        assert read_status(lease_path)["owner"] == "batch"


def test_high_holder_and_free_handle_never_yield(lease_path: Path) -> None:
    handle = lease("backend", priority="high", path=lease_path)
    assert handle.checkpoint() is False  # not held
    with handle:
        assert handle.checkpoint() is False
    assert handle.held is False
