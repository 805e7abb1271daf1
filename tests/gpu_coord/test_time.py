"""One timestamp format: ISO 8601 UTC, milliseconds, ``Z``; old ``+00:00`` still read."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from gpu_coord import lease, parse_utc, read_status, utc_now

FORMAT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def test_utc_now_has_milliseconds_and_z() -> None:
    stamp = utc_now()
    assert FORMAT.match(stamp), stamp
    assert abs(parse_utc(stamp) - time.time()) < 5


def test_old_offset_form_reads_the_same_moment() -> None:
    assert parse_utc("2026-12-01T09:05:00.123+00:00") == parse_utc("2026-12-01T09:05:00.123Z")
    assert parse_utc("2026-12-01T09:05:00.123Z") == pytest.approx(1796115900.123)


@pytest.mark.parametrize("bad", ["", "yesterday", "2026-13-01T00:00:00Z"])
def test_bad_timestamp_is_a_value_error(bad: str) -> None:
    with pytest.raises(ValueError, match="timestamp"):
        parse_utc(bad)


def test_record_and_last_release_use_the_format(lease_path: Path) -> None:
    with lease("stamped", path=lease_path):
        assert FORMAT.match(read_status(lease_path)["since"])
    status = read_status(lease_path)
    assert FORMAT.match(status["last_release"]["at"])
    assert FORMAT.match(status["checked_at"])
