"""cancel: a wait for the lease ends the moment another thread sets the caller's event."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from gpu_coord import (
    Lease,
    LeaseCancelled,
    LeaseError,
    PreemptibleHold,
    history,
    lease,
    read_status,
)
from tests.gpu_coord.coord_helpers import Children, wait_event, wait_until


def _set_later(event: threading.Event, seconds: float) -> threading.Timer:
    timer = threading.Timer(seconds, event.set)
    timer.start()
    return timer


def _recording_hold(
    calls: list[str], cancel: threading.Event, path: Path, **kwargs: object
) -> PreemptibleHold:
    """A hold on ``path`` whose freeze and thaw only note that they ran."""
    return PreemptibleHold(
        "job",
        freeze=lambda: calls.append("freeze"),
        thaw=lambda: calls.append("thaw"),
        path=path,
        cancel=cancel,
        **kwargs,  # type: ignore[arg-type]
    )


def _cancelled_wait(waiter: Lease, cancel: threading.Event, after: float = 0.3) -> float:
    """Acquire ``waiter`` (which must wait), cancel after ``after`` s; the seconds it took."""
    timer = _set_later(cancel, after)
    start = time.monotonic()
    try:
        with pytest.raises(LeaseCancelled, match=waiter.owner) as caught:
            waiter.acquire()
    finally:
        timer.cancel()
    assert isinstance(caught.value, LeaseError)
    return time.monotonic() - start


@pytest.mark.timeout(60)
@pytest.mark.parametrize("priority", ["low", "high"])
def test_a_waiting_caller_leaves_when_cancelled(
    children: Children, lease_path: Path, priority: str
) -> None:
    holder = children.cli("hold", "--owner", "holder", "--seconds", "600")
    wait_event(holder, "granted")
    cancel = threading.Event()
    waiter = lease("waiter", priority=priority, path=lease_path, cancel=cancel)
    took = _cancelled_wait(waiter, cancel)
    assert 0.3 <= took < 5.0, took
    assert not waiter.held
    status = read_status(lease_path)
    assert status["owner"] == "holder"
    assert status["waiters"] == []
    assert not [e for e in history(path=lease_path) if e.owner == "waiter"]
    holder.kill()
    holder.wait()
    cancel.clear()
    with waiter:  # the handle still works once the GPU is free and the event is clear
        assert waiter.held


@pytest.mark.timeout(60)
def test_a_cancel_set_before_the_acquire_takes_nothing(lease_path: Path) -> None:
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(LeaseCancelled):
        lease("late", path=lease_path, cancel=cancel).acquire()
    assert read_status(lease_path)["owner"] is None
    assert not [e for e in history(path=lease_path) if e.event == "grant"]


@pytest.mark.timeout(60)
def test_a_cancel_ends_the_retake_after_a_checkpoint(children: Children, lease_path: Path) -> None:
    cancel = threading.Event()
    low = lease("batch", path=lease_path, cancel=cancel).acquire()
    high = children.cli("hold", "--owner", "backend", "--priority", "high", "--seconds", "600")
    wait_until(lambda: read_status(lease_path)["waiters"], "the high waiter")
    timer = _set_later(cancel, 0.5)
    try:
        with pytest.raises(LeaseCancelled):
            low.checkpoint()  # hands over, then waits behind the 600 s hold until cancelled
    finally:
        timer.cancel()
    assert not low.held
    low.release()  # a no-op now
    assert read_status(lease_path)["owner"] == "backend"
    high.kill()
    high.wait()


@pytest.mark.timeout(60)
def test_a_cancelled_preemptible_hold_never_freezes_or_stays_resident(
    children: Children, lease_path: Path
) -> None:
    holder = children.cli("hold", "--owner", "holder", "--seconds", "600")
    wait_event(holder, "granted")
    calls: list[str] = []
    cancel = threading.Event()
    hold = _recording_hold(calls, cancel, lease_path, memory_bytes="1GB")
    timer = _set_later(cancel, 0.3)
    try:
        with pytest.raises(LeaseCancelled), hold:
            pytest.fail("the body ran without the lease")
    finally:
        timer.cancel()
    assert calls == []
    status = read_status(lease_path)
    assert [r["owner"] for r in status["residents"]] == []
    assert status["waiters"] == []
    holder.kill()
    holder.wait()


@pytest.mark.timeout(60)
def test_a_hold_cancelled_while_frozen_ends_without_waiting_for_the_high_work(
    children: Children, lease_path: Path
) -> None:
    calls: list[str] = []
    cancel = threading.Event()
    hold = _recording_hold(calls, cancel, lease_path)
    with hold:
        high = children.cli("hold", "--owner", "backend", "--priority", "high", "--seconds", "600")
        wait_event(high, "granted")
        assert hold.frozen
        cancel.set()  # the work is stopped by its owner; leaving must not wait 600 s
        start = time.monotonic()
    assert time.monotonic() - start < 5.0
    assert calls == ["freeze", "thaw"]  # never left frozen
    assert read_status(lease_path)["owner"] == "backend"
    high.kill()
    high.wait()


def test_cancel_must_be_an_event(lease_path: Path) -> None:
    with pytest.raises(ValueError, match=r"cancel: must be a threading\.Event"):
        lease("x", path=lease_path, cancel=True)  # type: ignore[arg-type]
