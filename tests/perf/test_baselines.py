"""The baselines: the lease's shape, and exclusion between real processes."""

from __future__ import annotations

from pathlib import Path

import pytest

from perf.baselines import FileLockLease, OriginalLease, Uncoordinated, make
from tests.gpu_coord.coord_helpers import Children, finish


@pytest.mark.parametrize("scheme", ["original", "filelock"])
def test_baselines_have_the_lease_shape(scheme: str, lease_path: Path) -> None:
    handle = make(scheme, "bench", priority="high", path=lease_path)
    assert isinstance(handle, OriginalLease | FileLockLease)
    assert (handle.owner, handle.priority, handle.held) == ("bench", "high", False)
    with handle as held:
        assert held is handle
        assert held.held
        assert held.checkpoint() is False
        assert held.generation is None
        assert held.forced is False
    assert not handle.held
    assert handle.yields == 0
    with pytest.raises(ValueError, match="scheme"):
        make("nope", "x", path=lease_path)


def test_uncoordinated_grants_everyone_at_once(lease_path: Path) -> None:
    first = make("none", "a", path=lease_path)
    second = make("none", "b", path=lease_path)
    assert isinstance(first, Uncoordinated)
    with first, second:
        assert first.held
        assert second.held
    assert not lease_path.parent.exists()  # no files at all


@pytest.mark.timeout(120)
@pytest.mark.parametrize("scheme", ["original", "filelock"])
def test_baselines_exclude_each_other(scheme: str, children: Children, tmp_path: Path) -> None:
    # The original scheme sleeps 0.5 s per release: keep the counts small.
    n = 3 if scheme == "original" else 50
    marker = tmp_path / "inside"
    procs = [
        children.worker(
            "stress", n=n, marker=str(marker), owner=f"p{i}", priority="low", scheme=scheme
        )
        for i in range(3)
    ]
    results = [finish(p, timeout=100)[-1] for p in procs]
    assert sum(r["overlaps"] for r in results) == 0
