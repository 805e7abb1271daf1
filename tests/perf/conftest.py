"""The perf tests reuse the gpu_coord tests' lease folder and reaped children."""

from __future__ import annotations

from tests.gpu_coord.conftest import children, lease_path

__all__ = ["children", "lease_path"]
