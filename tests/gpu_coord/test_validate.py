"""Bad arguments fail early and name the argument; lease folders are created or named."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from gpu_coord import Lease, LeaseError, LeasePathError, LeaseTimeout, lease, read_status
from tests.gpu_coord.coord_helpers import run_as_nobody


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"owner": ""}, "owner"),
        ({"owner": "   "}, "owner"),
        ({"owner": "x" * 129}, "owner"),
        ({"owner": "tab\there"}, "owner"),
        ({"owner": "new\nline"}, "owner"),
        ({"owner": 5}, "owner"),
        ({"priority": "urgent"}, "priority"),
        ({"priority": None}, "priority"),
        ({"flush": "sometimes"}, "flush"),
        ({"calm_pause": -1}, "calm_pause"),
        ({"calm_pause": float("nan")}, "calm_pause"),
        ({"timeout": -0.5}, "timeout"),
        ({"timeout": True}, "timeout"),
        ({"max_wait": "soon", "priority": "high"}, "max_wait"),
        ({"max_wait": 1.0, "priority": "low"}, "max_wait"),
        ({"device": -1}, "device"),
        ({"device": "0"}, "device"),
        ({"path": ""}, "path"),
    ],
)
def test_bad_arguments_name_the_argument(
    kwargs: dict[str, Any], argument: str, lease_path: Path
) -> None:
    args: dict[str, Any] = {"owner": "ok", "path": lease_path, **kwargs}
    owner = args.pop("owner")
    with pytest.raises(ValueError, match=rf"^{argument}:"):
        lease(owner, **args)


def test_good_arguments_and_attributes(lease_path: Path) -> None:
    handle = lease(
        "bench-1 (x)",
        priority="high",
        path=lease_path,
        max_wait=2,
        flush="on_handoff",
        calm_pause=0,
        timeout=5,
    )
    assert isinstance(handle, Lease)
    assert (handle.owner, handle.priority, handle.held, handle.generation) == (
        "bench-1 (x)",
        "high",
        False,
        None,
    )
    with handle as same:
        assert same is handle
        assert handle.held
        assert handle.generation == 1
        assert handle.forced is False
        with pytest.raises(LeaseError, match="already held"):
            handle.acquire()
    assert not handle.held
    handle.release()  # a second release is a no-op
    with handle:
        assert handle.generation == 2
    assert handle.wait_seconds >= 0
    assert handle.path == lease_path


def test_missing_folder_is_created(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "c" / "status.json"
    with lease("creator", path=path):
        assert read_status(path)["owner"] == "creator"
    assert path.is_file()


def test_file_in_place_of_folder_is_named(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("not a folder")
    with pytest.raises(LeasePathError, match="blocker") as caught:
        lease("x", path=tmp_path / "blocker" / "status.json").acquire()
    assert isinstance(caught.value, PermissionError)
    assert isinstance(caught.value, LeaseError)


@pytest.mark.timeout(60)
def test_unwritable_folder_is_named(open_folder: Path) -> None:
    folder = open_folder / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    path = folder / "coord" / "status.json"
    if os.geteuid() == 0:
        # Root writes anywhere: check as an unprivileged user, in a child.
        body = (
            "try:\n    gpu_coord.lease('x', path=sys.argv[1]).acquire()\n"
            "except gpu_coord.LeasePathError as e:\n    print(e); sys.exit(3)\n"
        )
        done = run_as_nobody(body, path)
        assert done.returncode == 3, done.stderr
        message = done.stdout
    else:
        with pytest.raises(LeasePathError) as caught:
            lease("x", path=path).acquire()
        message = str(caught.value)
    assert str(path.parent) in message
    assert "cannot" in message


@pytest.mark.timeout(60)
def test_low_timeout_raises_lease_timeout(lease_path: Path) -> None:
    with lease("holder", path=lease_path):
        waiter = lease("waiter", path=lease_path, timeout=0.2)
        with pytest.raises(LeaseTimeout, match="waiter") as caught:
            waiter.acquire()
        assert isinstance(caught.value, TimeoutError)
        assert not waiter.held
        assert read_status(lease_path)["waiters"] == []
    with waiter:  # the handle still works once the GPU is free
        assert waiter.held
