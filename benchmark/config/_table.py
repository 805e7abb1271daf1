"""Typed access to one TOML table, with errors naming the file and the key; path resolving.

Every table of the config (``[run]``, ``[scorers]``, each ``[[models]]``) is read through a
:class:`Table`, so each error says ``<file>: <table>.<key>: <reason>``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmark.errors import ConfigError


def is_path(value: str) -> bool:
    return value.startswith(("./", "../", "/", "~")) or value in (".", "..")


def resolve(base: Path, value: str) -> str:
    return str((base / Path(value).expanduser()).resolve())


class Table:
    """Typed access to one TOML table with errors that name the key."""

    def __init__(self, path: Path, where: str, data: Any) -> None:
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: {where} must be a table")
        self.path, self.where, self.data = path, where, data

    def fail(self, key: str, reason: str) -> ConfigError:
        return ConfigError(f"{self.path}: {self.where}.{key}: {reason}")

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = None) -> Any:
        value = self.data.get(key, default)
        if value is None:
            return None
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            name = (
                kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            )
            raise self.fail(key, f"expected {name}, got {value!r}")
        return value

    def positive(self, key: str, kind: type, default: Any = None) -> Any:
        value = self.get(key, kind, default)
        if value is not None and value <= 0:
            raise self.fail(key, f"must be positive, got {value!r}")
        return value

    def unknown(self, known: set[str]) -> None:
        extra = sorted(set(self.data) - known)
        if extra:
            raise self.fail(extra[0], f"unknown key (known: {', '.join(sorted(known))})")
