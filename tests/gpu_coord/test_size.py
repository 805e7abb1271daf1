"""parse_size: the sizes people write, and a ValueError naming the argument otherwise."""

from __future__ import annotations

import pytest

from gpu_coord import parse_size


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("12GB", 12 * 10**9),
        ("512MB", 512 * 10**6),
        ("1.5GiB", 3 * 2**29),
        ("1024", 1024),
        (1024, 1024),
        ("0", 0),
        ("2 kib", 2048),
        ("7b", 7),
        ("123456789012345678901", 123456789012345678901),
    ],
)
def test_sizes(value: int | str, expected: int) -> None:
    assert parse_size(value, name="size") == expected


@pytest.mark.parametrize("bad", ["", "abc", "-1", "1.5XB", "nan", "inf", "1e9", "12 G B", -3, True])
def test_bad_sizes_name_the_argument(bad: object) -> None:
    with pytest.raises(ValueError, match=r"^--memory: "):
        parse_size(bad, name="--memory")  # type: ignore[arg-type]


def test_a_float_is_refused() -> None:
    with pytest.raises(ValueError, match="headroom_bytes"):
        parse_size(1.5, name="headroom_bytes")  # type: ignore[arg-type]
