"""usage(): GPU time per owner, shares, counts, waits, idle share and handoffs from the log."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import pytest

from gpu_coord import history, lease, usage
from tests.gpu_coord.coord_helpers import Children, finish, finish_text, wait_event


def _hold(owner: str, path: Path, seconds: float, priority: str = "low") -> None:
    with lease(owner, priority=priority, path=path):
        time.sleep(seconds)


def test_scripted_holds_add_up(lease_path: Path) -> None:
    start = time.time()
    time.sleep(0.005)  # stamps have milliseconds: the first grant must fall inside the window
    _hold("a", lease_path, 0.2)
    time.sleep(0.1)
    _hold("b", lease_path, 0.1, "high")
    _hold("a", lease_path, 0.1)
    time.sleep(0.05)
    end = time.time()
    figures = usage(path=lease_path, since=start, now=end)
    owners = {o.owner: o for o in figures.owners}
    assert set(owners) == {"a", "b"}
    released = {"a": 0.0, "b": 0.0}
    for event in history(path=lease_path):
        if event.event == "release" and event.owner and event.held_seconds:
            released[event.owner] += event.held_seconds
    for name, expected in (("a", 0.3), ("b", 0.1)):
        # Wall-clock spans between the stamps (ms resolution) against the holders' own clocks.
        assert owners[name].held_seconds == pytest.approx(released[name], abs=0.01)
        assert owners[name].held_seconds >= expected - 0.01
        assert owners[name].share == pytest.approx(owners[name].held_seconds / (end - start))
    assert (owners["a"].grants, owners["b"].grants) == (2, 1)
    assert owners["a"].yields == owners["a"].forced == owners["a"].freezes == 0
    assert owners["a"].forced_seconds == 0.0
    assert owners["a"].wait_p50_seconds is not None
    busy = owners["a"].held_seconds + owners["b"].held_seconds
    assert figures.idle_share == pytest.approx(1 - busy / (end - start))
    assert figures.idle_share > 0.2  # 0.15 s idle at least, of about 0.55 s
    assert figures.handoffs == 0  # b never waited
    assert figures.events == 6


def test_window_clips_a_hold_that_started_before(lease_path: Path) -> None:
    with lease("long", path=lease_path):
        time.sleep(0.2)
        middle = time.time()
        time.sleep(0.2)
        figures = usage(path=lease_path, since=middle)
    [owner] = figures.owners
    # Still held at the read: counted up to now, from the window's start.
    assert owner.held_seconds == pytest.approx(figures.window_seconds, abs=0.01)
    assert figures.idle_share == pytest.approx(0.0, abs=0.05)


@pytest.mark.timeout(60)
def test_handoffs_and_yields(children: Children) -> None:
    path = children.lease_path
    stepper = children.worker("steps", owner="batch", n=150, step_ms=5)
    wait_event(stepper, "granted")
    for _ in range(3):
        high = children.cli("hold", "--owner", "backend", "--priority", "high", "--seconds", "0.02")
        wait_event(high, "granted")
        finish(high)
    finish(stepper)
    figures = usage(path=path)
    owners = {o.owner: o for o in figures.owners}
    assert owners["batch"].yields == 3
    assert owners["backend"].grants == 3
    assert figures.handoffs == 3
    assert figures.handoff_p50_seconds is not None
    assert figures.handoff_p99_seconds is not None
    assert 0 < figures.handoff_p50_seconds <= figures.handoff_p99_seconds


@pytest.mark.timeout(60)
def test_forced_time_is_apart_from_the_exclusive_hold(children: Children) -> None:
    path = children.lease_path
    holder = children.cli("hold", "--owner", "holder", "--seconds", "600")
    wait_event(holder, "granted")
    start = time.time()  # the hold began before: the window clips it
    time.sleep(0.005)  # stamps have milliseconds: the forced grant must fall inside
    with lease("impatient", priority="high", path=path, max_wait=0.05) as forced:
        assert forced.forced
        time.sleep(0.2)
        running = usage(path=path, since=start)  # the forced run, still going, counts to now
    time.sleep(0.05)
    figures = usage(path=path, since=start)
    owners = {o.owner: o for o in figures.owners}
    [end] = [e for e in history(path=path) if e.event == "forced_release"]
    assert end.held_seconds is not None
    impatient = owners["impatient"]
    assert impatient.forced == 1
    assert impatient.forced_seconds == pytest.approx(end.held_seconds)
    assert impatient.forced_seconds >= 0.2
    # Never the GPU held exclusively: the holder held it all along, nobody else did.
    assert (impatient.held_seconds, impatient.share, impatient.grants) == (0.0, 0.0, 0)
    assert owners["holder"].held_seconds == pytest.approx(figures.window_seconds, abs=0.05)
    assert owners["holder"].forced_seconds == 0.0
    assert figures.idle_share == pytest.approx(0.0, abs=0.1)
    during = {o.owner: o for o in running.owners}["impatient"]
    assert 0.2 <= during.forced_seconds <= impatient.forced_seconds + 0.01
    holder.kill()  # the fixture reaps it


def test_a_dead_forced_run_with_no_release_is_not_counted(lease_path: Path) -> None:
    lease_path.parent.mkdir(parents=True)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(time.time() - 10))
    line = {"at": stamp, "event": "forced", "owner": "gone", "priority": "high",
            "pid": 999_999_999, "host": "elsewhere", "generation": 1, "wait_seconds": 0.05,
            "waited": True}  # fmt: skip
    lease_path.with_name("events.jsonl").write_text(json.dumps(line) + "\n")
    [owner] = usage(path=lease_path).owners
    assert (owner.owner, owner.forced, owner.forced_seconds) == ("gone", 1, 0.0)


def test_empty_log(lease_path: Path) -> None:
    figures = usage(path=lease_path)
    assert figures.owners == ()
    assert figures.idle_share == 1.0
    assert figures.handoff_p99_seconds is None


@pytest.mark.timeout(60)
def test_cli_usage(children: Children) -> None:
    _hold("cli", children.lease_path, 0.05)
    [figures] = finish(children.cli("usage", "--json", "--since", "1h"))
    assert [o["owner"] for o in figures["owners"]] == ["cli"]
    assert set(figures) == {f.name for f in dataclasses.fields(usage(path=children.lease_path))}
    text = finish_text(children.cli("usage", "--since", "1h"))
    assert "cli" in text
    assert "idle:" in text
