"""Fixtures shared by every package's tests."""

from __future__ import annotations

import os

# Each test process and every child it starts runs single-threaded OpenMP: on a
# 2-core machine several pools spin-waiting against each other make a tiny
# generation 30 times slower. Set before torch is imported anywhere.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Nothing in the tests may reach a model hub.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """The tiny offline models (``.pipeline``, ``.clip``, ``.aesthetic``), built once a session.

    Built into ``$GPU_SHARE_TINY_DIR`` when set (a cache shared between runs),
    else into a session temp folder.
    """
    from imagegen import build_tiny_models

    cache = os.environ.get("GPU_SHARE_TINY_DIR")
    root = Path(cache) if cache else tmp_path_factory.mktemp("tiny-models")
    return build_tiny_models(root)
