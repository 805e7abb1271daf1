"""Fixtures for the gpu_coord tests: a private lease folder and reaped child processes."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.gpu_coord.coord_helpers import Children


@pytest.fixture
def lease_path(tmp_path: Path) -> Path:
    """A record path in a folder that does not exist yet (the library creates it)."""
    return tmp_path / "coord" / "status.json"


@pytest.fixture
def children(lease_path: Path) -> Iterator[Children]:
    kids = Children(lease_path)
    try:
        yield kids
    finally:
        kids.reap()


@pytest.fixture
def open_folder() -> Iterator[Path]:
    """A folder every user can traverse (pytest's own tmp folders are 0700)."""
    folder = Path(tempfile.mkdtemp(prefix="gpu-coord-test-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
