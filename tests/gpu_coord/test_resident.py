"""Residents: registered in the lease folder, listed by read_status, gone when killed."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from gpu_coord import read_status, resident
from tests.gpu_coord.coord_helpers import Children, wait_event, wait_until


def _residents(path: Path) -> list[dict[str, object]]:
    listed: list[dict[str, object]] = read_status(path)["residents"]
    return listed


def test_resident_listed_while_registered_and_updated(lease_path: Path) -> None:
    with resident(
        "backend-model", path=lease_path, resident_bytes="2GiB", headroom_bytes="1GB"
    ) as r:
        [entry] = _residents(lease_path)
        assert entry["owner"] == "backend-model"
        assert entry["resident_bytes"] == 2 * 2**30
        assert entry["headroom_bytes"] == 10**9
        assert {"pid", "host", "updated"} <= set(entry)
        r.update(resident_bytes="3GiB")
        [entry] = _residents(lease_path)
        assert entry["resident_bytes"] == 3 * 2**30
        assert entry["headroom_bytes"] == 10**9  # kept when not given
        r.update(headroom_bytes=0)
        assert _residents(lease_path)[0]["headroom_bytes"] == 0
    assert _residents(lease_path) == []


def test_without_figures_or_torch_the_size_is_unknown(lease_path: Path) -> None:
    with resident("quiet", path=lease_path) as r:
        assert r.resident_bytes is None  # no torch CUDA in this process
        r.update()  # nothing to read: stays unknown, no error
        assert _residents(lease_path)[0]["resident_bytes"] is None


def test_residents_are_per_device(lease_path: Path) -> None:
    with (
        resident("zero", path=lease_path, resident_bytes=1),
        resident("one", path=lease_path, device=1, resident_bytes=2),
    ):
        assert [r["owner"] for r in read_status(lease_path)["residents"]] == ["zero"]
        assert [r["owner"] for r in read_status(lease_path, 1)["residents"]] == ["one"]


@pytest.mark.timeout(60)
def test_killed_resident_vanishes(children: Children) -> None:
    keeper = children.worker("resident", owner="keeper", resident_bytes=1000)
    doomed = children.worker("resident", owner="doomed", resident_bytes=2000, headroom_bytes=5)
    wait_event(keeper, "resident")
    wait_event(doomed, "resident")
    listed = wait_until(lambda: len(r := _residents(children.lease_path)) == 2 and r, "two")
    assert {(r["owner"], r["pid"]) for r in listed} == {
        ("keeper", keeper.pid),
        ("doomed", doomed.pid),
    }
    doomed.send_signal(signal.SIGKILL)
    doomed.wait(timeout=10)
    assert [r["owner"] for r in _residents(children.lease_path)] == ["keeper"]


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"resident_bytes": "lots"}, "resident_bytes"),
        ({"headroom_bytes": -1}, "headroom_bytes"),
        ({"device": -1}, "device"),
    ],
)
def test_bad_arguments_name_themselves(
    lease_path: Path, kwargs: dict[str, object], name: str
) -> None:
    with pytest.raises(ValueError, match=name):
        resident("x", path=lease_path, **kwargs)  # type: ignore[arg-type]
