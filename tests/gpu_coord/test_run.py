"""``python -m gpu_coord run``: a non-cooperative child, frozen for high priority, never left."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gpu_coord import history, lease, read_status
from tests.gpu_coord.coord_helpers import Children, finish, read_event, wait_event, wait_until

BUSY = str(Path(__file__).with_name("_busy.py"))


def _run(children: Children, *argv: str) -> subprocess.Popen[str]:
    return children.cli("run", "--owner", "job", *argv)


def _alive(pid: int) -> bool:
    """True while ``pid`` is a process that is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


@pytest.mark.timeout(120)
def test_child_is_frozen_while_high_holds_and_continues(children: Children, tmp_path: Path) -> None:
    stamps = tmp_path / "stamps"
    job = _run(children, "--", sys.executable, BUSY, str(stamps), "2.5")
    wait_event(job, "started")
    wait_until(lambda: stamps.exists() and stamps.stat().st_size > 1000, "the child working")
    asked = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
    high = children.cli("hold", "--owner", "backend", "--priority", "high", "--seconds", "0.5")
    wait_event(high, "granted")
    finish(high)
    done = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
    assert job.wait(timeout=60) == 0
    times = [int(line) for line in stamps.read_text().split()]
    gaps = [(b - a, a, b) for a, b in itertools.pairwise(times)]
    gap, before, after = max(gaps)
    assert gap >= 0.45e9  # stopped for the whole high hold ...
    assert asked <= before  # ... and only then
    assert after <= done + 0.2e9
    assert times[-1] > after  # then it went on working
    kinds = [e.event for e in history(path=children.lease_path)]
    assert kinds.count("freeze") == 1
    assert kinds.count("thaw") == 1
    assert kinds.index("freeze") < kinds.index("thaw")


@pytest.mark.timeout(60)
def test_exit_status_is_the_childs(children: Children) -> None:
    job = _run(children, "--", sys.executable, "-c", "import sys; sys.exit(7)")
    assert job.wait(timeout=30) == 7
    assert read_status(children.lease_path)["busy"] is False
    killed = _run(children, "--", sys.executable, "-c", "import os; os.kill(os.getpid(), 9)")
    assert killed.wait(timeout=30) == 128 + 9


@pytest.mark.timeout(60)
def test_sigterm_is_forwarded_to_the_child(children: Children, tmp_path: Path) -> None:
    job = _run(children, "--", sys.executable, BUSY, str(tmp_path / "s"), "60")
    wait_event(job, "started")
    job.send_signal(signal.SIGTERM)
    assert job.wait(timeout=30) == 5  # the child's own SIGTERM exit status


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        ([], 2, "no command given"),
        (["--"], 2, "no command given"),
        (["--", "/nonexistent/tool"], 127, "'/nonexistent/tool'"),
        (["--", "no-such-program-here"], 127, "'no-such-program-here'"),
        (["--memory", "lots", "--", "true"], 2, "--memory"),
        (["--drain-ms", "nan", "--", "true"], 2, "--drain-ms"),
        (["--timeout", "-1", "--", "true"], 2, "--timeout"),
        (["--priority", "urgent", "--", "true"], 2, "--priority"),
        (["--bogus", "--", "true"], 2, "--bogus"),
        (["--max-wait", "1", "--", "true"], 2, "--max-wait"),
    ],
)
def test_bad_runs_exit_nonzero_naming_the_fault(
    children: Children, argv: list[str], code: int, message: str
) -> None:
    proc = _run(children, *argv)
    proc.wait(timeout=30)
    assert proc.returncode == code
    assert proc.stderr is not None
    assert message in proc.stderr.read()
    assert read_status(children.lease_path)["generation"] == 0  # no lease was taken


@pytest.mark.timeout(60)
def test_memory_registers_the_child_as_resident(children: Children, tmp_path: Path) -> None:
    job = _run(children, "--memory", "3GiB", "--", sys.executable, BUSY, str(tmp_path / "s"), "60")
    wait_event(job, "started")
    [entry] = read_status(children.lease_path)["residents"]
    assert (entry["owner"], entry["resident_bytes"], entry["pid"]) == ("job", 3 * 2**30, job.pid)
    job.send_signal(signal.SIGTERM)
    job.wait(timeout=30)
    assert read_status(children.lease_path)["residents"] == []


@pytest.mark.timeout(180)
def test_sigkill_of_run_with_its_child_frozen_leaves_no_process(
    children: Children, tmp_path: Path
) -> None:
    for trial in range(20):
        job = _run(children, "--", sys.executable, BUSY, str(tmp_path / f"s{trial}"), "600")
        child = read_event(job)["pid"]
        with lease("backend", priority="high", path=children.lease_path, timeout=30):
            wait_until(lambda: _state(child) == "T", "the child stopped")  # noqa: B023
            job.send_signal(signal.SIGKILL)
            job.wait(timeout=10)
            wait_until(lambda: not _alive(child), f"child {child} gone (trial {trial})")  # noqa: B023


def _parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


@pytest.mark.timeout(120)
def test_a_descendant_that_left_the_group_is_frozen_and_killed_too(
    children: Children, tmp_path: Path
) -> None:
    stamps, started = tmp_path / "stamps", tmp_path / "started"
    # The child's own child starts the busy process in a new session, then exits: the busy
    # one is out of the child's group and orphaned, the case a group signal never reaches.
    spawn = (
        "import subprocess, sys; "
        f"subprocess.Popen([sys.executable, {BUSY!r}, {str(stamps)!r}, '60'], "
        f"start_new_session=True, stdout=open({str(started)!r}, 'w'))"
    )
    job = _run(children, "--", "sh", "-c", f'"{sys.executable}" -c "{spawn}"; sleep 60')
    wait_until(lambda: started.exists() and started.read_text().strip(), "the busy descendant")
    escaped = int(json.loads(started.read_text())["pid"])
    try:
        wait_until(lambda: _parent(escaped) == job.pid, "the orphan re-parented to run")
        wait_until(lambda: stamps.exists() and stamps.stat().st_size > 1000, "it working")
        with lease("backend", priority="high", path=children.lease_path, timeout=30):
            wait_until(lambda: _state(escaped) == "T", "the escaped descendant stopped")
            size = stamps.stat().st_size
            time.sleep(0.3)
            assert stamps.stat().st_size == size  # no work while the backend holds
        wait_until(lambda: _state(escaped) != "T", "the escaped descendant thawed")
        job.send_signal(signal.SIGTERM)
        job.wait(timeout=30)
        wait_until(lambda: not _alive(escaped), "the escaped descendant killed with the run")
    finally:
        if _alive(escaped):
            os.kill(escaped, signal.SIGKILL)
