"""The lease's history: an append-only log of JSON lines per device, rotated by size.

Every line is written under the state lock, so lines are in the order things
happened. Rotation copies the log to ``<log>.1`` (replacing the older copy) and
truncates the log, both under the state lock: the log keeps its inode, so every
process's append descriptor stays valid without a ``stat`` per event (the hot
path pays one ``write`` and one ``lseek`` per event). At most two files exist:
the history kept is between one and two times the limit.

A full or failing disk never breaks the lease: an event that cannot be written
is dropped (the record, and ``read_status``'s ``reason``, say the lease still works).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
from pathlib import Path

from ._locks import share

LIMIT_ENV = "GPU_COORD_HISTORY_BYTES"
DEFAULT_LIMIT = 1 << 20
_VERIFY_EVERY = 64
_dump_str = json.encoder.encode_basestring


@functools.cache
def limit_bytes() -> int:
    """The size past which the log rotates (``GPU_COORD_HISTORY_BYTES``, default 1 MiB,
    at least 4 KiB; a value that is not a size means the default)."""
    raw = os.environ.get(LIMIT_ENV, "")
    if not raw:
        return DEFAULT_LIMIT
    from ._size import parse_size

    try:
        return max(4096, parse_size(raw, name=LIMIT_ENV))
    except ValueError:
        return DEFAULT_LIMIT  # a typo in the environment must not break the lease


class _Log:
    __slots__ = ("count", "fd")

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.count = 0


_LOGS: dict[Path, _Log] = {}


def _forget_after_fork() -> None:
    _LOGS.clear()  # the descriptors close with the rest (O_CLOEXEC); a child reopens


os.register_at_fork(after_in_child=_forget_after_fork)


def _open(path: Path) -> _Log:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o666)
    share(fd)
    log = _Log(fd)
    _LOGS[path] = log
    return log


def _same_file(fd: int, path: Path) -> bool:
    try:
        on_disk, open_one = path.stat(), os.fstat(fd)
    except OSError:
        return False
    return (on_disk.st_ino, on_disk.st_dev) == (open_one.st_ino, open_one.st_dev)


def append(path: Path, line: bytes) -> str | None:
    """Append one event line (caller holds the state lock exclusively).

    Returns None, or why the event was dropped (a full disk, an unwritable
    folder); never raises.
    """
    try:
        log = _LOGS.get(path)
        if log is None:
            log = _open(path)
        else:
            log.count += 1
            if log.count % _VERIFY_EVERY == 0 and not _same_file(log.fd, path):
                # Someone removed or replaced the log: write to the one at the path.
                with contextlib.suppress(OSError):
                    os.close(log.fd)
                log = _open(path)
        os.write(log.fd, line)
        if os.lseek(log.fd, 0, os.SEEK_CUR) > limit_bytes():
            _rotate(path, log.fd)
    except OSError as exc:
        return f"history event not written ({exc.strerror or exc})"
    return None


def _rotate(path: Path, fd: int) -> None:
    older = path.with_name(path.name + ".1")
    temp = path.with_name(f".{path.name}.1.{os.getpid()}.tmp")
    with open(path, "rb") as current, open(temp, "wb") as copy:
        while chunk := current.read(1 << 20):
            copy.write(chunk)
    with contextlib.suppress(OSError):
        temp.chmod(0o666)
    temp.replace(older)
    os.ftruncate(fd, 0)


def event_line(at: str, event: str, fields: str) -> bytes:
    """A line ``{"at": ..., "event": ..., <fields>}``; ``fields`` is JSON members, no braces."""
    return f'{{"at": "{at}", "event": "{event}", {fields}}}\n'.encode()


def holder_fields(owner: str, priority: str, pid: int, host_json: str, generation: int) -> str:
    """The members every lease event has, formatted by hand (the hot path)."""
    return (
        f'"owner": {_dump_str(owner)}, "priority": "{priority}", "pid": {pid}, '
        f'"host": {host_json}, "generation": {generation}'
    )


def dump_json(value: object) -> str:
    """``value`` as JSON (for the rare events formatted from parsed values)."""
    return json.dumps(value)


def files_of(path: Path) -> list[Path]:
    """The log's files, oldest first."""
    return [path.with_name(path.name + ".1"), path]
