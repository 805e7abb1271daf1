"""PreemptibleHold: freeze, hand over to high priority, take back, thaw; never left frozen."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from gpu_coord import LeaseError, PreemptibleHold, history, read_status
from tests.gpu_coord.coord_helpers import Children, finish, wait_event, wait_until


class Calls:
    """freeze/thaw callables that note when they ran."""

    def __init__(self) -> None:
        self.log: list[tuple[str, float]] = []

    def freeze(self) -> None:
        self.log.append(("freeze", time.time()))

    def thaw(self) -> None:
        self.log.append(("thaw", time.time()))

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.log]


def _hold(calls: Calls, path: Path, **kwargs: object) -> PreemptibleHold:
    return PreemptibleHold("job", freeze=calls.freeze, thaw=calls.thaw, path=path, **kwargs)  # type: ignore[arg-type]


@pytest.mark.timeout(60)
def test_high_caller_freezes_then_thaws(children: Children) -> None:
    calls = Calls()
    with _hold(calls, children.lease_path) as hold:
        generation = hold.lease.generation
        high = children.cli("hold", "--owner", "backend", "--priority", "high", "--seconds", "0.3")
        granted = wait_event(high, "granted")
        assert calls.names == ["freeze"]
        assert hold.frozen is True
        frozen = wait_until(
            lambda: [
                w for w in read_status(children.lease_path)["waiters"] if w["state"] == "frozen"
            ],
            "the frozen hold listed as a waiter",
        )
        assert [w["owner"] for w in frozen] == ["job"]
        finish(high)
        wait_until(lambda: not hold.frozen, "thaw after the high hold")
        assert granted["wait_seconds"] < 5  # a safety bound; the latency target is in perf.lease
    assert calls.names == ["freeze", "thaw"]
    assert hold.freezes == 1
    assert 0.25 < hold.frozen_seconds < 30
    events = [(e.event, e.owner) for e in history(path=children.lease_path)]
    assert events == [
        ("grant", "job"),
        ("freeze", "job"),
        ("yield", "job"),
        ("grant", "backend"),
        ("release", "backend"),
        ("grant", "job"),
        ("thaw", "job"),
        ("release", "job"),
    ]
    assert history(path=children.lease_path)[1].generation == generation


@pytest.mark.timeout(60)
def test_leaving_while_frozen_thaws_first(children: Children) -> None:
    calls = Calls()
    high = None
    with _hold(calls, children.lease_path) as hold:
        high = children.cli("hold", "--owner", "backend", "--priority", "high", "--seconds", "1")
        wait_event(high, "granted")
        assert hold.frozen
    # The body ended while frozen: thawed at once, then the lease came back and went.
    assert calls.names == ["freeze", "thaw"]
    released = [e for e in history(path=children.lease_path) if e.event == "release"]
    assert released[0].owner == "backend"
    assert calls.log[1][1] < released[0].timestamp
    finish(high)


@pytest.mark.timeout(60)
def test_high_priority_hold_is_never_frozen(children: Children) -> None:
    calls = Calls()
    with _hold(calls, children.lease_path, priority="high") as hold:
        other = children.cli("hold", "--owner", "other", "--priority", "high", "--seconds", "0")
        time.sleep(0.2)
        assert hold.freezes == 0
    finish(other)
    assert calls.names == []


@pytest.mark.timeout(60)
def test_freeze_failure_stops_preempting_and_is_reported(children: Children) -> None:
    def broken() -> None:
        raise RuntimeError("container is gone")

    hold = PreemptibleHold("job", freeze=broken, thaw=lambda: None, path=children.lease_path)
    hold.__enter__()
    high = children.cli("hold", "--owner", "backend", "--priority", "high", "--seconds", "0")
    wait_until(lambda: hold._error is not None, "the failed freeze")
    with pytest.raises(LeaseError, match="preemptible hold") as raised:
        hold.__exit__(None, None, None)
    assert isinstance(raised.value.__cause__, RuntimeError)
    finish(high)  # granted once the hold ended


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"drain_seconds": math.nan}, "drain_seconds"),
        ({"drain_seconds": -1}, "drain_seconds"),
        ({"timeout": math.inf}, "timeout"),
        ({"memory_bytes": "much"}, "memory_bytes"),
        ({"priority": "urgent"}, "priority"),
    ],
)
def test_bad_arguments_before_the_lease(
    lease_path: Path, kwargs: dict[str, object], name: str
) -> None:
    with pytest.raises(ValueError, match=name):
        _hold(Calls(), lease_path, **kwargs)
    assert read_status(lease_path)["generation"] == 0


def test_freeze_must_be_callable(lease_path: Path) -> None:
    not_callable: Callable[[], None] = None  # type: ignore[assignment]
    with pytest.raises(ValueError, match="freeze"):
        PreemptibleHold("job", freeze=not_callable, thaw=lambda: None, path=lease_path)


@pytest.mark.timeout(60)
def test_memory_bytes_registers_a_resident_for_the_hold(lease_path: Path) -> None:
    with _hold(Calls(), lease_path, memory_bytes="2GB"):
        [entry] = read_status(lease_path)["residents"]
        assert (entry["owner"], entry["resident_bytes"]) == ("job", 2 * 10**9)
    assert read_status(lease_path)["residents"] == []
