"""Crash: a SIGKILLed holder frees the GPU at once; its record reads as stale."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from gpu_coord import lease, read_status
from tests.gpu_coord.coord_helpers import Children, wait_event, wait_until


@pytest.mark.timeout(60)
def test_sigkilled_holder_hands_over_within_100_ms(children: Children, tmp_path: Path) -> None:
    log = tmp_path / "grants.log"
    holder = children.cli("hold", "--owner", "doomed", "--seconds", "600")
    wait_event(holder, "granted")
    waiter = children.worker("grant_log", owner="next", log=str(log), hold=0.0)
    wait_until(lambda: read_status(children.lease_path)["waiters"], "the waiter")

    killed_at = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
    holder.send_signal(signal.SIGKILL)
    granted = wait_event(waiter, "granted")
    holder.wait(timeout=10)

    assert (granted["t"] - killed_at) / 1e9 < 0.1
    assert granted["forced"] is False


@pytest.mark.timeout(60)
def test_record_of_a_killed_holder_reads_stale_and_next_acquire_is_immediate(
    children: Children,
) -> None:
    holder = children.cli("hold", "--owner", "doomed", "--priority", "high", "--seconds", "600")
    wait_event(holder, "granted")
    busy = read_status(children.lease_path)
    assert busy["busy"] is True
    assert busy["owner"] == "doomed"

    holder.kill()
    holder.wait(timeout=10)
    status = read_status(children.lease_path)
    assert status["busy"] is False
    assert status["stale"] is True
    assert status["stale_holder"]["owner"] == "doomed"
    assert status["stale_holder"]["pid"] == holder.pid
    assert "stale" in status["reason"]
    assert "doomed" in status["reason"]

    with lease("next", timeout=5, path=children.lease_path) as held:
        assert held.generation == busy["generation"] + 1
        assert read_status(children.lease_path)["owner"] == "next"
    after = read_status(children.lease_path)
    assert after["stale"] is False
    assert after["busy"] is False
