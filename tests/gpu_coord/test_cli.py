"""The command line: status (text, --json) and hold, over real processes."""

from __future__ import annotations

import json

import pytest

from tests.gpu_coord.coord_helpers import Children, finish, finish_text, wait_event


@pytest.mark.timeout(60)
def test_status_json_on_a_fresh_folder(children: Children) -> None:
    events = finish(children.cli("status", "--json"))
    assert len(events) == 1
    assert events[0]["busy"] is False
    assert {"busy", "owner", "since", "waiters", "generation"} <= set(events[0])


@pytest.mark.timeout(60)
def test_hold_shows_in_status_and_exits_zero(children: Children) -> None:
    hold = children.cli("hold", "--owner", "maintenance", "--priority", "high", "--seconds", "30")
    granted = wait_event(hold, "granted")
    assert granted["owner"] == "maintenance"

    status = finish(children.cli("status", "--json"))[0]
    assert status["busy"] is True
    assert status["owner"] == "maintenance"
    assert status["priority"] == "high"
    assert status["pid"] == hold.pid
    assert status["generation"] == granted["generation"]

    out = finish_text(children.cli("status"))
    assert "maintenance" in out
    assert "busy" in out

    hold.terminate()
    assert hold.wait(timeout=20) == 0
    assert finish(children.cli("status", "--json"))[0]["busy"] is False


@pytest.mark.timeout(60)
def test_short_hold_releases_and_exits_zero(children: Children) -> None:
    events = finish(children.cli("hold", "--owner", "quick", "--seconds", "0.1"))
    assert [e["event"] for e in events] == ["granted", "released"]
    last = finish(children.cli("status", "--json"))[0]["last_release"]
    assert last["owner"] == "quick"
    assert last["held_seconds"] >= 0.1


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["hold", "--owner", "x", "--priority", "urgent", "--seconds", "1"], "priority:"),
        (["hold", "--owner", "", "--seconds", "1"], "owner:"),
        (["hold", "--owner", "x", "--seconds", "-1"], "--seconds"),
        (["hold", "--owner", "x", "--max-wait", "1", "--seconds", "1"], "max_wait:"),
    ],
)
def test_hold_errors_exit_nonzero_with_a_message(
    children: Children, argv: list[str], message: str
) -> None:
    proc = children.cli(*argv)
    proc.wait(timeout=60)
    assert proc.returncode == 1
    assert proc.stderr is not None
    assert message in proc.stderr.read()


@pytest.mark.timeout(60)
def test_hold_timeout_is_reported(children: Children) -> None:
    holder = children.cli("hold", "--owner", "holder", "--seconds", "30")
    wait_event(holder, "granted")
    proc = children.cli("hold", "--owner", "late", "--seconds", "1", "--timeout", "0.2")
    proc.wait(timeout=60)
    assert proc.returncode == 1
    assert proc.stderr is not None
    assert "not granted within 0.2 s" in proc.stderr.read()


def test_status_lists_every_device(children: Children) -> None:
    from gpu_coord import lease

    with lease("zero", path=children.lease_path), lease("one", path=children.lease_path, device=1):
        records = finish(children.cli("status", "--json"))
    assert [(r["gpu"], r["owner"]) for r in records] == [(0, "zero"), (1, "one")]
    json.dumps(records)


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--seconds", "nan"], "--seconds"),
        (["--seconds", "inf"], "--seconds"),
        (["--seconds", "1", "--checkpoint-ms", "-5"], "--checkpoint-ms"),
        (["--seconds", "1", "--checkpoint-ms", "0"], "--checkpoint-ms"),
        (["--seconds", "1", "--timeout", "nan"], "--timeout"),
        (["--seconds", "1", "--priority", "high", "--max-wait", "inf"], "--max-wait"),
        (["--seconds", "1", "--device", "-1"], "device"),
    ],
)
def test_hold_checks_every_argument_before_the_lease(
    children: Children, argv: list[str], message: str
) -> None:
    # Issue 10, item 9: nan was accepted, inf granted then crashed, -5 ms refused after the grant.
    proc = children.cli("hold", "--owner", "x", *argv)
    proc.wait(timeout=60)
    assert proc.returncode == 1
    assert proc.stderr is not None
    err = proc.stderr.read()
    assert message in err
    assert "Traceback" not in err
    assert proc.stdout is not None
    assert finish(children.cli("status", "--json"))[0]["generation"] == 0  # never granted
