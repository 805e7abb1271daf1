"""Opening the results database file: read-only where its folder is, and what a full disk is."""

from __future__ import annotations

import logging
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

from benchmark.errors import DiskFullError, StoreError

__all__ = ["connect_read_only", "disk_full_error", "disk_guard"]

log = logging.getLogger(__name__)
# Below this much free space an I/O error from SQLite is taken for a full disk.
_LOW_SPACE_BYTES = 1 << 20
_SQLITE_IOERR = 10


def disk_full_error(exc: sqlite3.OperationalError, path: Path) -> DiskFullError | None:
    """The :class:`DiskFullError` that ``exc`` (raised writing ``path``) amounts to, or None."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None:
        return None
    # SQLite says SQLITE_FULL for a write that found no space; growing its -shm
    # file on a full disk surfaces as an I/O error instead, told apart by the space.
    io_error = code & 0xFF == _SQLITE_IOERR and _free_bytes(path.parent) < _LOW_SPACE_BYTES
    if code != sqlite3.SQLITE_FULL and not io_error:
        return None
    return DiskFullError(
        f"the results database {path} cannot be written: the disk is full ({exc}); "
        "free some space and run again to resume"
    )


@contextmanager
def disk_guard(path: Path) -> Iterator[None]:
    """Turn SQLite's full-disk errors on ``path`` into :class:`DiskFullError`."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        full = disk_full_error(exc, path)
        if full is not None:
            raise full from exc
        raise


def _free_bytes(folder: Path) -> int:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return _LOW_SPACE_BYTES


def connect_read_only(path: Path) -> sqlite3.Connection:
    """Open ``path`` read-only: ``mode=ro`` first, ``immutable=1`` where WAL needs a write.

    A WAL database needs its ``-shm`` file, which a read-only folder cannot get
    once the last writer removed it; ``immutable=1`` then reads the main file
    alone, which is right when no runner writes there. Results still in a
    leftover ``-wal`` file (a runner was killed) cannot be replayed read-only:
    a warning says so.
    """
    if not path.is_file():
        raise StoreError(f"no results database at {path}")
    uri = f"file:{quote(str(path.resolve()))}"
    try:
        db = sqlite3.connect(f"{uri}?mode=ro", uri=True, isolation_level=None, timeout=30.0)
        db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        return db
    except sqlite3.OperationalError as exc:
        log.debug("read-only open of %s failed (%s): trying immutable", path, exc)
    wal = path.with_name(path.name + "-wal")
    if wal.is_file() and wal.stat().st_size > 0:
        log.warning(
            "%s holds results not yet folded into %s (a runner was killed or is still "
            "running); a read-only folder cannot replay them, so they are missing here",
            wal,
            path.name,
        )
    try:
        db = sqlite3.connect(f"{uri}?immutable=1", uri=True, isolation_level=None)
        db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
    except sqlite3.Error as exc:
        raise StoreError(f"cannot read the results database {path}: {exc}") from exc
    return db
