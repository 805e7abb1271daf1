"""The JSON record: a view of the lease for humans, ``/gpu-status`` and the CLI.

Writers hold the state lock exclusively and overwrite the file in place with one
``pwrite`` from offset 0, padded with spaces (valid trailing JSON whitespace) to
at least the file's current size, so no stale tail survives. A file far larger
than a record (garbage written into the world-writable folder) is truncated to
the record instead, once, so later writes cost what a record costs. Readers
hold the state lock shared while they read, so they never see half a record.
(``os.replace`` of a temp file was measured at 1.3-1.6 ms per write on this
host's ext4 volume, against 15 us for the in-place write.)
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import time
import uuid
from pathlib import Path
from typing import Any

from ._errors import LeasePathError
from ._locks import make_folder, share

SCHEMA = 1
HOST = socket.gethostname()
HOST_JSON = json.dumps(HOST)

#: Fields every record has, with the values of a free GPU.
FREE: dict[str, Any] = {
    "schema": SCHEMA,
    "gpu": 0,
    "busy": False,
    "owner": None,
    "since": None,
    "priority": None,
    "pid": None,
    "host": None,
    "generation": 0,
    "last_release": None,
}

_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "busy": (bool,),
    "owner": (str, type(None)),
    "since": (str, type(None)),
    "priority": (str, type(None)),
    "pid": (int, type(None)),
    "host": (str, type(None)),
    "generation": (int,),
    "last_release": (dict, type(None)),
}


def open_record(path: Path) -> int:
    """Open the record for in-place writes, repairing what is in the way.

    A folder where the file should be is moved aside (``<name>.corrupt-<time>``);
    a file this user cannot write is replaced. Raises :class:`LeasePathError`
    when the folder itself cannot be written.
    """
    flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC
    for _ in range(3):
        try:
            fd = os.open(path, flags, 0o666)
        except FileNotFoundError:
            make_folder(path.parent)
        except IsADirectoryError:
            _move_aside(path)
        except PermissionError as exc:
            try:
                path.unlink()
            except OSError:
                raise LeasePathError(path, "write the lease record", exc) from exc
        except OSError as exc:
            raise LeasePathError(path, "open the lease record", exc) from exc
        else:
            share(fd)
            return fd
    raise LeasePathError(path, "repair the lease record")


#: How many moved-aside ``<record>.corrupt-*`` entries are kept (the newest).
KEEP_CORRUPT = 3


def _move_aside(path: Path) -> None:
    stamp = f"{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    aside = path.with_name(f"{path.name}.corrupt-{stamp}")
    try:
        path.rename(aside)
    except OSError as exc:
        raise LeasePathError(path, "move aside the folder in place of the record", exc) from exc
    _prune_corrupt(path)


def _prune_corrupt(path: Path) -> None:
    # Anyone can put a folder in the way again and again: keep a few for a post-mortem.
    found = []
    for item in path.parent.glob(f"{path.name}.corrupt-*"):
        with contextlib.suppress(OSError):
            found.append((item.lstat().st_mtime, str(item), item))
    found.sort()
    for _, _, item in found[:-KEEP_CORRUPT]:
        with contextlib.suppress(OSError):
            if item.is_dir() and not item.is_symlink():
                shutil.rmtree(item)
            else:
                item.unlink()


# A record is a few hundred bytes. ``read(1 << 20)`` allocated (and page-faulted)
# a fresh megabyte on every call: most of what a status read cost. One
# ``os.read`` of 64 KiB stays below malloc's mmap threshold, and a short read of a
# regular file means end of file, so one call is the usual case.
_READ_CHUNK = 1 << 16
_READ_LIMIT = 1 << 20


def read_bytes(path: Path) -> tuple[bytes | None, str | None]:
    """The stored bytes (at most 1 MiB), or ``(None, why not)``; never raises."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None, "no record yet"
    except PermissionError:
        return None, f"record not readable (permission denied): {path}"
    except OSError as exc:
        return None, f"record not readable: {exc}"
    try:
        data = os.read(fd, _READ_CHUNK)
        if len(data) == _READ_CHUNK:
            chunks = [data]
            total = len(data)
            while total < _READ_LIMIT and (chunk := os.read(fd, _READ_CHUNK)):
                chunks.append(chunk)
                total += len(chunk)
            data = b"".join(chunks)[:_READ_LIMIT]
    except IsADirectoryError:
        return None, f"a folder is where the record should be: {path}"
    except OSError as exc:
        return None, f"record not readable: {exc}"
    finally:
        os.close(fd)
    return data, None


def parse_raw(data: bytes) -> tuple[dict[str, Any] | None, str | None]:
    """The record in ``data``, or ``(None, why it is unusable)``; never raises."""
    if not data.strip():
        return None, "record is empty"
    try:
        parsed = json.loads(data)
    except (UnicodeDecodeError, ValueError) as exc:
        return None, f"record is not valid JSON ({type(exc).__name__})"
    if not isinstance(parsed, dict):
        return None, f"record is a JSON {type(parsed).__name__}, not an object"
    return parsed, None


def normalise(raw: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """Keep the well-typed known fields of ``raw``; name the first wrong one."""
    record = dict(FREE)
    problem = None
    for field, types in _FIELD_TYPES.items():
        if field not in raw:
            continue
        value = raw[field]
        ok = isinstance(value, types) and not (
            int in types and isinstance(value, bool) and bool not in types
        )
        if ok:
            record[field] = value
        elif problem is None:
            problem = f"record field {field!r} has the wrong type ({type(value).__name__})"
    if problem is not None:
        # A record with a wrong field cannot be trusted to say who holds the GPU.
        record.update(busy=False, owner=None, since=None, priority=None, pid=None, host=None)
    return record, problem


# The hot path (grant and release) formats the record by hand: json.dumps of the
# whole dict cost 4x more, and every microsecond here is paid on each acquire.
# Strings are still encoded by the json module, so the output is always valid JSON.
_dump_str = json.encoder.encode_basestring


def busy_record(
    device: int, owner: str, priority: str, generation: int, last: bytes, since: str
) -> bytes:
    """The record of a granted lease (``last``: the stored last release, as JSON)."""
    return (
        (
            f'{{"schema": {SCHEMA}, "gpu": {device}, "busy": true, "owner": {_dump_str(owner)}, '
            f'"since": "{since}", "priority": "{priority}", "pid": {os.getpid()}, '
            f'"host": {HOST_JSON}, "generation": {generation}, "last_release": '
        ).encode()
        + last
        + b"}\n"
    )


def free_record(device: int, generation: int, last: bytes) -> bytes:
    """The record of a free GPU."""
    return (
        (
            f'{{"schema": {SCHEMA}, "gpu": {device}, "busy": false, "owner": null, '
            f'"since": null, "priority": null, "pid": null, "host": null, '
            f'"generation": {generation}, "last_release": '
        ).encode()
        + last
        + b"}\n"
    )


def release_entry(
    owner: str, held_seconds: float, generation: int | None, freed_bytes: int | None, at: str
) -> bytes:
    """The ``last_release`` object, as JSON (``freed_bytes``: what the CUDA flush gave back)."""
    gen = "null" if generation is None else str(generation)
    freed = "null" if freed_bytes is None else str(freed_bytes)
    return (
        f'{{"owner": {_dump_str(owner)}, "at": "{at}", '
        f'"held_seconds": {held_seconds:.6f}, "generation": {gen}, "freed_bytes": {freed}}}'
    ).encode()


#: Old content longer than the new by more than this is truncated, not padded.
TRUNCATE_SLACK = 4096


def overwrite(fd: int, data: bytes, offset: int = 0, size: int | None = None) -> int:
    """Write ``data`` at ``offset``, padded with spaces over any longer old content.

    ``size`` is the file's current size when the caller knows it; returns the new
    size. Old content more than :data:`TRUNCATE_SLACK` bytes longer is cut off
    instead (padding it would rewrite it on every write).
    """
    if size is None:
        size = os.fstat(fd).st_size
    end = offset + len(data)
    if size > end + TRUNCATE_SLACK:
        os.pwrite(fd, data, offset)
        os.ftruncate(fd, end)
        return end
    if size > end:
        data += b" " * (size - end)
    os.pwrite(fd, data, offset)
    return max(size, end)


def write_record(fd: int, data: bytes, size: int | None = None) -> int:
    """Overwrite the record in place (caller holds the state lock exclusively)."""
    return overwrite(fd, data, 0, size)


# The state file (state.lock) holds the truth the record only shows: the
# generation counter (20 ASCII digits) and the last release as JSON.
_GEN_WIDTH = 20


def read_state(fd: int) -> tuple[int, bytes]:
    """(generation counter, last release as JSON or b"null"); caller holds the state lock."""
    data = os.pread(fd, 4096, 0)
    try:
        counter = int(data[:_GEN_WIDTH])
    except ValueError:  # empty or damaged: the counter restarts, the lease still works
        return 0, b"null"
    last = data[_GEN_WIDTH:].strip()
    if not (last.startswith(b"{") and last.endswith(b"}")):
        last = b"null"
    return counter, last


def write_generation(fd: int, generation: int) -> None:
    """Store the counter (caller holds the state lock exclusively)."""
    if os.pwrite(fd, b"%020d" % generation, 0) != _GEN_WIDTH:
        raise OSError("short write of the generation counter")


def write_last_release(fd: int, last: bytes) -> None:
    """Store the last release (caller holds the state lock exclusively)."""
    overwrite(fd, last + b"\n", _GEN_WIDTH)
