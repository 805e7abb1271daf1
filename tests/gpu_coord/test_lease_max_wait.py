"""max_wait: a high caller whose low holder never checkpoints goes ahead, visibly."""

from __future__ import annotations

from pathlib import Path

import pytest

from gpu_coord import read_status
from tests.gpu_coord.coord_helpers import Children, finish, wait_event, wait_until


@pytest.mark.timeout(60)
def test_high_caller_goes_ahead_forced_after_max_wait(children: Children, tmp_path: Path) -> None:
    stubborn = children.cli("hold", "--owner", "stubborn", "--seconds", "600")
    wait_event(stubborn, "granted")
    release = tmp_path / "release-high"
    high = children.worker(
        "grant_log",
        owner="backend",
        priority="high",
        max_wait=0.3,
        log=str(tmp_path / "grants.log"),
        release_file=str(release),
    )
    granted = wait_event(high, "granted")
    assert granted["forced"] is True
    assert granted["wait_seconds"] >= 0.3

    status = read_status(children.lease_path)
    assert status["forced"] is True
    assert [f["owner"] for f in status["forced_holders"]] == ["backend"]
    assert status["owner"] == "stubborn"  # the lease itself is still the holder's
    assert status["waiters"] == []

    release.touch()
    finish(high)
    assert read_status(children.lease_path)["forced"] is False
    assert read_status(children.lease_path)["owner"] == "stubborn"


@pytest.mark.timeout(60)
def test_max_wait_is_not_used_when_the_holder_yields(children: Children, tmp_path: Path) -> None:
    low = children.cli("hold", "--owner", "batch", "--seconds", "600", "--checkpoint-ms", "5")
    wait_event(low, "granted")
    high = children.worker(
        "grant_log",
        owner="backend",
        priority="high",
        max_wait=10.0,
        log=str(tmp_path / "grants.log"),
        hold=0.0,
    )
    granted = wait_event(high, "granted")
    assert granted["forced"] is False
    finish(high)
    assert wait_event(low, "yielded")["generation"] > granted["generation"]


@pytest.mark.timeout(60)
def test_forced_holder_killed_vanishes_from_record(children: Children, tmp_path: Path) -> None:
    stubborn = children.cli("hold", "--owner", "stubborn", "--seconds", "600")
    wait_event(stubborn, "granted")
    high = children.worker(
        "grant_log",
        owner="backend",
        priority="high",
        max_wait=0.1,
        log=str(tmp_path / "grants.log"),
        release_file=str(tmp_path / "never"),
    )
    assert wait_event(high, "granted")["forced"] is True
    high.kill()
    high.wait(timeout=10)
    wait_until(lambda: not read_status(children.lease_path)["forced"], "forced flag to clear")
