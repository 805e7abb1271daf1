"""Priority: a waiting high caller beats every low caller, even ones that queued first."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gpu_coord import read_status
from tests.gpu_coord.coord_helpers import Children, finish, wait_event, wait_until


def _waiting(path: Path, count: int) -> bool:
    return len(read_status(path)["waiters"]) >= count


@pytest.mark.timeout(60)
def test_high_waiter_is_granted_before_earlier_low_waiters(
    children: Children, tmp_path: Path
) -> None:
    log, release = tmp_path / "grants.log", tmp_path / "release-holder"
    holder = children.worker("grant_log", owner="holder", log=str(log), release_file=str(release))
    wait_event(holder, "granted")
    lows = [
        children.worker("grant_log", owner=f"low{i}", log=str(log), hold=0.05) for i in range(3)
    ]
    wait_until(lambda: _waiting(children.lease_path, 3), "three low waiters")
    high = children.worker("grant_log", owner="high", priority="high", log=str(log), hold=0.2)
    wait_until(lambda: _waiting(children.lease_path, 4), "the high waiter")

    release.touch()
    for proc in [holder, high, *lows]:
        finish(proc)

    grants = [json.loads(line) for line in log.read_text().splitlines()]
    assert [g["owner"] for g in grants][:2] == ["holder", "high"]
    assert sorted(g["owner"] for g in grants[2:]) == ["low0", "low1", "low2"]
    # No low caller was granted while the high one waited or held: grants are in
    # time order, and every low grant comes after the high grant.
    assert [g["t"] for g in grants] == sorted(g["t"] for g in grants)
    assert [g["generation"] for g in grants] == sorted(g["generation"] for g in grants)


@pytest.mark.timeout(60)
def test_no_low_grant_while_a_stream_of_high_callers_waits(
    children: Children, tmp_path: Path
) -> None:
    log, release = tmp_path / "grants.log", tmp_path / "release-holder"
    holder = children.worker(
        "grant_log", owner="holder", priority="high", log=str(log), release_file=str(release)
    )
    wait_event(holder, "granted")
    highs = [
        children.worker("grant_log", owner=f"high{i}", priority="high", log=str(log), hold=0.02)
        for i in range(3)
    ]
    wait_until(lambda: _waiting(children.lease_path, 3), "three high waiters")
    lows = [children.worker("grant_log", owner=f"low{i}", log=str(log), hold=0.0) for i in range(3)]
    wait_until(lambda: _waiting(children.lease_path, 6), "three low waiters")

    release.touch()
    for proc in [holder, *highs, *lows]:
        finish(proc)

    order = [json.loads(line)["priority"] for line in log.read_text().splitlines()]
    assert order == ["high"] * 4 + ["low"] * 3
