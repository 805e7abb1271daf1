"""Fixtures of the jobs tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from jobs import Settings
from tests.jobs.jobs_helpers import engine_or_skip, ensure_job_image, live_server, make_settings


@pytest.fixture
def settings_factory(tmp_path: Path) -> Callable[..., Settings]:
    def factory(**overrides: Any) -> Settings:
        return make_settings(tmp_path, **overrides)

    return factory


@pytest.fixture
def api(settings_factory: Callable[..., Settings]) -> Iterator[tuple[httpx.Client, Any]]:
    """An HTTP client on a live service (engine or not) and the service object.

    Its scheduler wakes only on a submit: records a test writes into the store stay queued.
    """
    with (
        live_server(settings_factory(poll_interval=3600)) as (url, service),
        httpx.Client(base_url=url, timeout=30) as http,
    ):
        yield http, service


@pytest.fixture(scope="session")
def job_image() -> str:
    """A real engine and the tests' job image, or a skip naming why there is none."""
    engine_or_skip()
    return ensure_job_image()
