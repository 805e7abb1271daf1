"""Waiters show up in the record and vanish when a waiter is killed."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from gpu_coord import read_status
from tests.gpu_coord.coord_helpers import Children, wait_event, wait_until


@pytest.mark.timeout(60)
def test_waiters_listed_and_killed_ones_removed(children: Children, tmp_path: Path) -> None:
    holder = children.cli("hold", "--owner", "holder", "--seconds", "600")
    wait_event(holder, "granted")
    log = str(tmp_path / "grants.log")
    first = children.worker("grant_log", owner="first", priority="low", log=log)
    wait_until(lambda: read_status(children.lease_path)["waiters"], "first waiter")
    second = children.worker("grant_log", owner="second", priority="high", log=log)
    waiters = wait_until(
        lambda: len(w := read_status(children.lease_path)["waiters"]) == 2 and w, "two waiters"
    )
    assert [(w["owner"], w["priority"]) for w in waiters] == [("first", "low"), ("second", "high")]
    assert all(w["since"].endswith("Z") for w in waiters)
    assert {w["pid"] for w in waiters} == {first.pid, second.pid}

    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    remaining = read_status(children.lease_path)["waiters"]
    assert [w["owner"] for w in remaining] == ["second"]
    assert len(list((children.lease_path.parent / "waiters").glob("*.json"))) == 1

    holder.terminate()  # SIGTERM: the hold command releases and exits
    holder.wait(timeout=10)
    assert wait_event(second, "granted")["forced"] is False
    wait_until(lambda: read_status(children.lease_path)["waiters"] == [], "no waiters")
