"""A full filesystem (issue 10, item 7): waiting and granting still work, and say so."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from gpu_coord import history, lease, read_status
from tests.gpu_coord.coord_helpers import Children, finish, wait_event, wait_until


@pytest.fixture
def full_folder(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs, filled up; unmounted afterwards."""
    folder = tmp_path / "full"
    folder.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"mount not permitted here: {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def _fill(folder: Path) -> None:
    with contextlib.suppress(OSError), (folder / "filler").open("wb") as filler:
        while True:
            filler.write(b"x" * 4096)
            filler.flush()
    with pytest.raises(OSError, match="No space left"):
        (folder / "probe").write_bytes(b"x" * 4096)


def test_grants_on_a_full_disk_with_no_record_yet(full_folder: Path) -> None:
    path = full_folder / "coord" / "status.json"
    _fill(full_folder)
    for priority in ("low", "high"):
        with lease("full", priority=priority, path=path) as held:
            assert held.held
            # No record could be written; the lock still tells the truth.
            assert read_status(path)["busy"] is True
    assert read_status(path)["busy"] is False


@pytest.mark.timeout(60)
def test_waiting_and_granting_on_a_full_disk(full_folder: Path) -> None:
    path = full_folder / "coord" / "status.json"
    children = Children(path)
    try:
        with lease("first", path=path):
            pass  # the record exists before the disk fills: later writes are in place
        holder = children.cli("hold", "--owner", "runner", "--seconds", "0.5")
        wait_event(holder, "granted")
        _fill(full_folder)
        waiter = lease("backend", priority="high", path=path, timeout=30)
        waiter.acquire()  # waited for the runner's release; no ENOSPC
        assert waiter.generation is not None
        status = read_status(path)
        assert (status["busy"], status["owner"]) == (True, "backend")
        waiter.release()
        finish(holder)
        kinds = [e.event for e in history(path=path)]
        assert kinds[:2] == ["grant", "release"]  # written before the disk filled
    finally:
        children.reap()


@pytest.mark.timeout(60)
def test_a_waiter_on_a_full_disk_is_listed_without_details(full_folder: Path) -> None:
    path = full_folder / "coord" / "status.json"
    children = Children(path)
    try:
        holder = children.cli("hold", "--owner", "runner", "--seconds", "600")
        wait_event(holder, "granted")
        _fill(full_folder)
        waiter = children.cli("hold", "--owner", "backend", "--priority", "high", "--seconds", "0")
        [entry] = wait_until(lambda: read_status(path)["waiters"], "the waiter listed")
        assert entry["pid"] == waiter.pid
        assert "no space left" in entry["unlisted"]
        holder.terminate()
        holder.wait(timeout=20)
        assert wait_event(waiter, "granted")["owner"] == "backend"
        finish(waiter)
    finally:
        children.reap()
