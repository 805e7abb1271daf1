"""Bad records: readers never raise and say why; acquirers repair the record."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from gpu_coord import lease, read_status
from tests.gpu_coord.coord_helpers import run_as_nobody


def _write(data: bytes) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    return make


def _folder(path: Path) -> None:
    (path / "inside").mkdir(parents=True)


def _missing(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)


BAD = {
    "missing": _missing,
    "empty": _write(b""),
    "whitespace": _write(b"   \n"),
    "truncated": _write(b'{"schema": 1, "busy": true, "owner": "ba'),
    "binary": _write(bytes(range(256)) * 4),
    "not-utf8": _write(b'{"owner": "\xff\xfe"}'),
    "list": _write(b"[1, 2, 3]"),
    "null": _write(b"null"),
    "wrong-types": _write(
        json.dumps(
            {"busy": "yes", "owner": 7, "generation": "x", "pid": [1], "last_release": 3}
        ).encode()
    ),
    "busy-without-holder": _write(
        json.dumps(
            {"busy": True, "owner": "ghost", "pid": 999999, "host": "elsewhere", "generation": 41}
        ).encode()
    ),
    "folder": _folder,
}


@pytest.mark.parametrize("kind", sorted(BAD))
def test_reader_never_raises_and_acquirer_repairs(kind: str, lease_path: Path) -> None:
    BAD[kind](lease_path)
    status = read_status(lease_path)
    assert status["busy"] is False
    assert isinstance(status["reason"], str)
    assert status["reason"]
    assert status["waiters"] == []

    with lease("repairer", path=lease_path) as held:
        during = read_status(lease_path)
        assert during["busy"] is True
        assert during["owner"] == "repairer"
        assert during["generation"] == held.generation
    after = json.loads(lease_path.read_text())  # valid JSON again
    assert after["busy"] is False
    assert after["last_release"]["owner"] == "repairer"
    assert read_status(lease_path)["reason"] == "GPU free"


def test_stale_busy_record_says_stale(lease_path: Path) -> None:
    BAD["busy-without-holder"](lease_path)
    status = read_status(lease_path)
    assert status["stale"] is True
    assert status["stale_holder"]["owner"] == "ghost"
    assert "ghost" in status["reason"]


def test_garbage_record_while_the_lock_is_held_reports_busy(lease_path: Path) -> None:
    with lease("holder", path=lease_path):
        lease_path.write_bytes(b"\x00garbage")
        status = read_status(lease_path)
        assert status["busy"] is True
        assert "not valid JSON" in status["reason"]


def _read_as_nobody(lease_path: Path) -> dict[str, object]:
    done = run_as_nobody("print(json.dumps(gpu_coord.read_status(sys.argv[1])))\n", lease_path)
    assert done.returncode == 0, done.stderr
    status: dict[str, object] = json.loads(done.stdout)
    return status


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to read as another user")
@pytest.mark.parametrize("blocked", ["file", "folder"])
def test_no_read_permission_never_raises(open_folder: Path, blocked: str) -> None:
    lease_path = open_folder / "coord" / "status.json"
    with lease("before", path=lease_path):
        pass
    (lease_path if blocked == "file" else lease_path.parent).chmod(0)
    status = _read_as_nobody(lease_path)
    assert status["busy"] is False
    assert "permission denied" in str(status["reason"]).lower()
    lease_path.parent.chmod(0o777)
    with lease("repairer", path=lease_path):  # root can: the record is rewritten
        assert read_status(lease_path)["owner"] == "repairer"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_no_read_permission_never_raises_unprivileged(lease_path: Path) -> None:
    with lease("before", path=lease_path):
        pass
    lease_path.chmod(0)
    try:
        status = read_status(lease_path)
    finally:
        lease_path.chmod(0o644)
    assert status["busy"] is False
    assert "permission denied" in status["reason"]


def test_devices_lists_each_device_with_a_lease(lease_path: Path) -> None:
    from gpu_coord import devices

    assert devices(lease_path) == []
    with lease("a", path=lease_path, device=0), lease("b", path=lease_path, device=2):
        assert devices(lease_path) == [0, 2]
        assert read_status(lease_path, device=2)["owner"] == "b"
        assert read_status(lease_path, device=0)["owner"] == "a"
        assert read_status(lease_path, device=1)["busy"] is False
    shutil.rmtree(lease_path.parent)
    assert devices(lease_path) == []


def test_a_huge_garbage_record_is_cut_to_size_once(lease_path: Path) -> None:
    # Issue 10, item 8: a 10 MB garbage record was rewritten whole on every grant.
    lease_path.parent.mkdir(parents=True)
    lease_path.write_bytes(os.urandom(10 * 2**20))
    with lease("repairer", path=lease_path):
        assert lease_path.stat().st_size < 4096
        assert read_status(lease_path)["owner"] == "repairer"
    assert lease_path.stat().st_size < 4096
    assert json.loads(lease_path.read_text())["busy"] is False


def test_moved_aside_folders_are_bounded(lease_path: Path) -> None:
    from gpu_coord._record import KEEP_CORRUPT

    for _ in range(KEEP_CORRUPT + 4):
        lease_path.unlink(missing_ok=True)  # the repaired record: put a folder in its way again
        (lease_path / "inside").mkdir(parents=True)
        with lease("repairer", path=lease_path):
            pass
    aside = sorted(lease_path.parent.glob("status.json.corrupt-*"))
    assert len(aside) == KEEP_CORRUPT
    assert all((a / "inside").is_dir() for a in aside)
