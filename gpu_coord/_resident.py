"""Residents: processes that keep memory on a device between leases.

A resident is a locked file in the lease folder's ``residents/`` (the same kind
of entry as a waiter), so a resident that dies, even by SIGKILL, vanishes from
the next read. It says how much it holds (``resident_bytes``) and how much more
it may take at its peak (``headroom_bytes``); :func:`gpu_coord.memory_budget`
leaves both to it. The figures are what the process says (or what torch
reports for it): nothing enforces them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from . import _waiters
from ._flush import torch_memory
from ._paths import LeaseFiles, lease_files
from ._record import HOST
from ._size import parse_size
from ._time import utc_now
from ._validate import check_owner


@dataclass(frozen=True)
class ResidentInfo:
    """One live resident as read from the lease folder.

    ``resident_bytes`` is None when the resident never said (and torch could not tell).
    """

    owner: str
    pid: int | None
    host: str | None
    resident_bytes: int | None
    headroom_bytes: int
    updated: str | None


class Resident:
    """A registration as resident of a device; use :func:`resident`."""

    def __init__(
        self,
        owner: str,
        *,
        device: int | None = None,
        path: str | os.PathLike[str] | None = None,
        resident_bytes: int | str | None = None,
        headroom_bytes: int | str = 0,
    ) -> None:
        self.owner = check_owner(owner)
        self._files = lease_files(path, device)
        self.device = self._files.device
        self.resident_bytes = _size_or_none(resident_bytes, "resident_bytes")
        self.headroom_bytes = parse_size(headroom_bytes, name="headroom_bytes")
        self.torch_allocated_bytes: int | None = None
        self._entry: _waiters.Entry | None = None
        self._pid = 0
        self._since = ""

    def __enter__(self) -> Resident:
        if self.resident_bytes is None:
            self._read_torch()
        self._pid = os.getpid()
        self._since = utc_now()
        self._entry = _waiters.add(self._files.residents, self._details())
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._pid == os.getpid():
            _waiters.remove(self._entry)
        self._entry = None

    def update(
        self, *, resident_bytes: int | str | None = None, headroom_bytes: int | str | None = None
    ) -> None:
        """Say what is held now. With no ``resident_bytes``, torch's own figures are
        read where CUDA is in use on the device (else the last figure stays)."""
        if resident_bytes is None:
            self._read_torch()
        else:
            self.resident_bytes = parse_size(resident_bytes, name="resident_bytes")
        if headroom_bytes is not None:
            self.headroom_bytes = parse_size(headroom_bytes, name="headroom_bytes")
        if self._entry is not None:
            _waiters.rewrite(self._entry, self._details())

    def _read_torch(self) -> None:
        figures = torch_memory(self.device)
        if figures is not None:
            self.resident_bytes, self.torch_allocated_bytes = figures

    def _details(self) -> dict[str, Any]:
        return {
            "owner": self.owner,
            "pid": os.getpid(),
            "host": HOST,
            "resident_bytes": self.resident_bytes,
            "headroom_bytes": self.headroom_bytes,
            "torch_allocated_bytes": self.torch_allocated_bytes,
            "since": self._since,
            "updated": utc_now(),
        }

    def __repr__(self) -> str:
        return (
            f"Resident(owner={self.owner!r}, device={self.device}, "
            f"resident_bytes={self.resident_bytes}, headroom_bytes={self.headroom_bytes})"
        )


def resident(
    owner: str,
    *,
    device: int | None = None,
    path: str | os.PathLike[str] | None = None,
    resident_bytes: int | str | None = None,
    headroom_bytes: int | str = 0,
) -> Resident:
    """Register ``owner`` as resident of ``device`` (default 0) while the ``with`` block runs.

    ``resident_bytes``: memory it keeps there (None: torch's reserved bytes where
    CUDA is in use, else unknown); ``headroom_bytes``: how much more it may take
    at its peak. Sizes are ints or strings such as ``12GB``, ``1.5GiB``.
    """
    return Resident(
        owner,
        device=device,
        path=path,
        resident_bytes=resident_bytes,
        headroom_bytes=headroom_bytes,
    )


def read_residents(files: LeaseFiles) -> tuple[ResidentInfo, ...]:
    """The live residents of a device, oldest first (dead ones are swept); never raises."""
    found = []
    for entry in _waiters.live(files.residents):
        found.append(
            ResidentInfo(
                owner=str(entry.get("owner") or "(details not written)"),
                pid=_int_or_none(entry.get("pid")),
                host=entry.get("host") if isinstance(entry.get("host"), str) else None,
                resident_bytes=_int_or_none(entry.get("resident_bytes")),
                headroom_bytes=_int_or_none(entry.get("headroom_bytes")) or 0,
                updated=entry.get("updated") if isinstance(entry.get("updated"), str) else None,
            )
        )
    return tuple(found)


def _size_or_none(value: int | str | None, name: str) -> int | None:
    return None if value is None else parse_size(value, name=name)


def _int_or_none(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value
