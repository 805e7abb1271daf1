"""The event log's rotation: bounded in size, nothing out of order."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gpu_coord import history
from tests.gpu_coord.coord_helpers import Children, child_env, finish


@pytest.mark.timeout(120)
def test_log_past_its_limit_rotates_in_order(children: Children, tmp_path: Path) -> None:
    env = child_env(children.lease_path)
    env["GPU_COORD_HISTORY_BYTES"] = "4096"
    marker = str(tmp_path / "marker")
    workers = [
        children.worker("stress", env=env, n=150, priority="mixed", marker=marker, owner=f"w{i}")
        for i in range(2)
    ]
    for worker in workers:
        assert finish(worker)[0]["overlaps"] == 0
    log = children.lease_path.with_name("events.jsonl")
    older = log.with_name("events.jsonl.1")
    line = max(len(x) for x in log.read_bytes().splitlines()) + 1
    assert log.stat().st_size <= 4096 + line
    assert older.stat().st_size <= 4096 + line
    events = history(path=children.lease_path)
    assert len(events) > 20
    # Kept events are a contiguous run: grant g, release g, grant g + 1, ...
    kinds = [(e.event, e.generation) for e in events]
    if kinds[0][0] == "release":
        kinds = kinds[1:]
    first = kinds[0][1]
    assert first is not None
    expected = [(("grant", "release")[i % 2], first + i // 2) for i in range(len(kinds))]
    assert kinds == expected
    assert events[-1].generation == 300


def test_every_line_is_json(lease_path: Path) -> None:
    from gpu_coord import lease

    with lease('quote " and \\ and ünïcode', path=lease_path):
        pass
    for raw in lease_path.with_name("events.jsonl").read_text().splitlines():
        assert json.loads(raw)["owner"] == 'quote " and \\ and ünïcode'
