"""Mutual exclusion under stress: real processes, an O_EXCL marker as the independent witness."""

from __future__ import annotations

from pathlib import Path

import pytest

from gpu_coord import read_status
from tests.gpu_coord.coord_helpers import Children, finish

PROCESSES = 8
ACQUISITIONS = 200


@pytest.mark.timeout(180)
def test_no_overlap_and_unique_generations_under_stress(children: Children, tmp_path: Path) -> None:
    marker = tmp_path / "inside"
    procs = [
        children.worker(
            "stress",
            n=ACQUISITIONS,
            marker=str(marker),
            owner=f"p{i}",
            priority=("low", "high", "mixed")[i % 3],
            spin=200,
        )
        for i in range(PROCESSES)
    ]
    results = [finish(proc, timeout=170)[-1] for proc in procs]

    assert sum(r["overlaps"] for r in results) == 0
    generations = [g for r in results for g in r["generations"]]
    assert len(generations) == PROCESSES * ACQUISITIONS
    assert len(set(generations)) == len(generations), "a fencing token was granted twice"
    for r in results:  # each process sees its own tokens strictly increase
        assert r["generations"] == sorted(r["generations"])
    status = read_status(children.lease_path)
    assert status["busy"] is False
    assert status["generation"] == max(generations)
    assert status["waiters"] == []
    assert not marker.exists()
