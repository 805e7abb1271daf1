"""Fixtures of the stack tests: progress lines that show through pytest's capture."""

from __future__ import annotations

import pytest

from tests.stack.stack_engine import show_progress_with


@pytest.fixture(scope="session", autouse=True)
def _stack_progress(pytestconfig: pytest.Config) -> None:
    show_progress_with(pytestconfig)
