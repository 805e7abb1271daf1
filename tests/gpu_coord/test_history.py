"""The lease's history: every grant, release, yield, forced grant and reclaim, in order."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

from gpu_coord import history, lease, read_status
from tests.gpu_coord.coord_helpers import Children, finish, finish_text, wait_event


def _kinds(path: Path) -> list[tuple[str, str | None, str | None]]:
    return [(e.event, e.owner, e.priority) for e in history(path=path)]


def test_grant_and_release_are_logged_with_their_figures(lease_path: Path) -> None:
    with lease("a", path=lease_path) as held:
        time.sleep(0.05)
    grant, release = history(path=lease_path)
    assert (grant.event, grant.owner, grant.priority, grant.generation) == (
        "grant",
        "a",
        "low",
        held.generation,
    )
    assert grant.wait_seconds is not None
    assert grant.waited is False
    assert release.event == "release"
    assert release.held_seconds is not None
    assert release.held_seconds >= 0.05
    assert release.freed_bytes is None  # no CUDA in this process
    assert release.timestamp >= grant.timestamp
    assert read_status(lease_path)["last_release"]["freed_bytes"] is None


@pytest.mark.timeout(60)
def test_yield_forced_and_reclaim(children: Children) -> None:
    path = children.lease_path
    stepper = children.worker("steps", owner="batch", n=200, step_ms=5)
    wait_event(stepper, "granted")
    high = children.cli("hold", "--owner", "backend", "--priority", "high", "--seconds", "0.05")
    wait_event(high, "granted")
    finish(high)
    finish(stepper)

    holder = children.cli("hold", "--owner", "holder", "--seconds", "600")
    wait_event(holder, "granted")
    with lease("impatient", priority="high", path=path, max_wait=0.05) as forced:
        assert forced.forced
        time.sleep(0.05)
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=10)
    with lease("heir", path=path):
        pass

    kinds = _kinds(path)
    assert kinds[:6] == [
        ("grant", "batch", "low"),
        ("yield", "batch", "low"),
        ("grant", "backend", "high"),
        ("release", "backend", "high"),
        ("grant", "batch", "low"),
        ("release", "batch", "low"),
    ]
    assert kinds[6:] == [
        ("grant", "holder", "low"),
        ("forced", "impatient", "high"),
        ("forced_release", "impatient", "high"),
        ("reclaim", "holder", "low"),
        ("grant", "heir", "low"),
        ("release", "heir", "low"),
    ]
    events = history(path=path)
    assert events[2].waited is True  # the high caller had to wait: a handoff
    forced_grant, forced_end = events[7], events[8]
    # The forced run's end is its own event, with its generation and its own clock's figure.
    assert forced_end.generation == forced_grant.generation == forced.generation
    assert forced_end.held_seconds is not None
    assert forced_end.held_seconds >= 0.05
    assert forced_end.freed_bytes is None  # no CUDA here
    assert events[9].by == "heir"
    assert events[9].pid == holder.pid
    generations = [e.generation or 0 for e in events if e.event == "grant"]
    assert generations == sorted(generations)


def test_a_forced_release_leaves_the_holder_holding(children: Children) -> None:
    path = children.lease_path
    holder = children.cli("hold", "--owner", "holder", "--seconds", "600")
    wait_event(holder, "granted")
    with lease("impatient", priority="high", path=path, max_wait=0.05):
        pass
    status = read_status(path)
    # The forced run's end tells the log, not the record: the real holder still holds.
    assert (status["busy"], status["owner"], status["forced"]) == (True, "holder", False)
    assert [e.event for e in history(path=path)] == ["grant", "forced", "forced_release"]
    holder.kill()  # the fixture reaps it


def test_since_filters_and_bad_lines_are_skipped(lease_path: Path) -> None:
    with lease("old", path=lease_path):
        pass
    time.sleep(0.02)
    middle = time.time()
    time.sleep(0.02)  # stamps have milliseconds: keep "new" clearly after the cut
    log = lease_path.with_name("events.jsonl")
    with log.open("ab") as handle:
        handle.write(b'garbage\n{"event": "grant"}\n{"event": "unknown", "at": "x"}\n')
    with lease("new", path=lease_path):
        pass
    assert [e.owner for e in history(path=lease_path)] == ["old", "old", "new", "new"]
    assert [e.owner for e in history(path=lease_path, since=middle)] == ["new", "new"]


def test_old_offset_timestamps_are_read(lease_path: Path) -> None:
    lease_path.parent.mkdir(parents=True)
    line = {
        "at": "2026-01-01T00:00:00.000+00:00",
        "event": "grant",
        "owner": "legacy",
        "priority": "low",
        "pid": 1,
        "host": "h",
        "generation": 1,
    }
    lease_path.with_name("events.jsonl").write_text(json.dumps(line) + "\n")
    [event] = history(path=lease_path)
    assert event.timestamp == 1767225600.0


def test_history_off_writes_nothing(lease_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GPU_COORD_HISTORY", "off")
    with lease("quiet", path=lease_path):
        pass
    assert history(path=lease_path) == []
    assert read_status(lease_path)["generation"] == 1


@pytest.mark.timeout(60)
def test_cli_history_and_follow(children: Children) -> None:
    with lease("cli", path=children.lease_path):
        pass
    events = finish(children.cli("history", "--json", "--since", "10m"))
    assert [(e["event"], e["owner"]) for e in events] == [("grant", "cli"), ("release", "cli")]
    text = finish_text(children.cli("history"))
    assert "grant" in text
    assert "cli (low)" in text
    follow = children.cli("history", "--json", "--follow", "--interval", "0.05")
    assert wait_event(follow, "release")["owner"] == "cli"
    with lease("later", path=children.lease_path):
        pass
    assert wait_event(follow, "grant")["owner"] == "later"
    follow.terminate()


@pytest.mark.timeout(60)
def test_cli_bad_since_exits_1(children: Children) -> None:
    proc = children.cli("history", "--since", "soon")
    proc.wait(timeout=30)
    assert proc.returncode == 1
    assert proc.stderr is not None
    assert "--since" in proc.stderr.read()
