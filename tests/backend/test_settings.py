"""Settings: BACKEND_* parsing, "none" for max_wait, errors that name the variable."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from backend import Settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("BACKEND_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)  # no stray .env file


def test_defaults_match_the_documented_ones() -> None:
    s = Settings()
    assert s.model == "research/models/tiny/tiny-sd"
    assert (s.host, s.port) == ("127.0.0.1", 8000)
    assert s.api_key is None
    assert s.max_wait == 10.0
    assert s.queue_size == 16
    assert s.flush == "always"


@pytest.mark.parametrize("text", ["none", "None", "NONE", ""])
def test_max_wait_none_means_wait_forever(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setenv("BACKEND_MAX_WAIT", text)
    assert Settings().max_wait is None


def test_env_values_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKEND_MAX_WAIT", "2.5")
    monkeypatch.setenv("BACKEND_PORT", "9123")
    monkeypatch.setenv("BACKEND_QUEUE_SIZE", "3")
    monkeypatch.setenv("BACKEND_API_KEY", "s3cret")
    monkeypatch.setenv("BACKEND_FLUSH", "on_handoff")
    s = Settings()
    assert (s.max_wait, s.port, s.queue_size, s.flush) == (2.5, 9123, 3, "on_handoff")
    assert s.api_key is not None
    assert s.api_key.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(s)  # a secret never lands in a log line


def test_empty_api_key_means_no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKEND_API_KEY", "")
    assert Settings().api_key is None


@pytest.mark.parametrize(
    ("var", "value", "field"),
    [
        ("BACKEND_MAX_WAIT", "soon", "max_wait"),
        ("BACKEND_MAX_WAIT", "-1", "max_wait"),
        ("BACKEND_QUEUE_SIZE", "0", "queue_size"),
        ("BACKEND_PORT", "70000", "port"),
        ("BACKEND_FLUSH", "sometimes", "flush"),
        ("BACKEND_MAX_SIZE", "1001", "max_size"),
    ],
)
def test_bad_values_name_the_field(
    monkeypatch: pytest.MonkeyPatch, var: str, value: str, field: str
) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(ValidationError) as info:
        Settings()
    assert field in str(info.value)


def test_served_model_name(tmp_path: Path) -> None:
    folder = tmp_path / "my-model"
    folder.mkdir()
    assert Settings(model=str(folder)).served_model_name == "my-model"
    assert Settings(model="org/some-model").served_model_name == "org/some-model"
    assert Settings(model="org/m", model_name="alias").served_model_name == "alias"


def test_hardening_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    s = Settings()
    assert (s.max_work, s.protect_status, s.shutdown_grace) == (None, False, 30.0)
    assert s.work_budget("cpu") < s.work_budget("mps") < s.work_budget("cuda:1")
    monkeypatch.setenv("BACKEND_MAX_WORK", "")  # compose passes an unset variable as empty
    assert Settings().max_work is None
    monkeypatch.setenv("BACKEND_MAX_WORK", "1000")
    monkeypatch.setenv("BACKEND_PROTECT_STATUS", "true")
    s = Settings()
    assert s.work_budget("cuda") == 1000
    assert s.protect_status is True
