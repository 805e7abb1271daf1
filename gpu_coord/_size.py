"""Sizes in bytes from what people write: ``12GB``, ``512MB``, ``1.5GiB``, ``1024``."""

from __future__ import annotations

import re
from decimal import Decimal

_UNITS = {
    "": 1,
    "B": 1,
    "KB": 10**3,
    "MB": 10**6,
    "GB": 10**9,
    "TB": 10**12,
    "KIB": 2**10,
    "MIB": 2**20,
    "GIB": 2**30,
    "TIB": 2**40,
}
_SIZE = re.compile(r"^\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*([A-Za-z]*)\s*$", re.ASCII)


def parse_size(value: int | str, *, name: str) -> int:
    """Bytes from an int or a string: a number with an optional unit.

    Units: ``B``, ``KB``/``MB``/``GB``/``TB`` (powers of 10) and
    ``KiB``/``MiB``/``GiB``/``TiB`` (powers of 2), any case. The result is a
    whole number of bytes >= 0 (fractions round down). Anything else raises
    ValueError naming ``name``.
    """
    if isinstance(value, bool):
        raise ValueError(
            f"{name}: must be a size such as 12GB, 512MB, 1.5GiB or 1024, got {value!r}"
        )
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"{name}: must be >= 0 bytes, got {value}")
        return value
    if not isinstance(value, str):
        raise ValueError(
            f"{name}: must be an int or a string such as 12GB, got {type(value).__name__}"
        )
    match = _SIZE.match(value)
    unit = match.group(2).upper() if match else ""
    if match is None or unit not in _UNITS:
        raise ValueError(f"{name}: not a size (try 12GB, 512MB, 1.5GiB or 1024), got {value!r}")
    # Decimal, not float: "123456789012345678901" stays exact.
    return int(Decimal(match.group(1)) * _UNITS[unit])
