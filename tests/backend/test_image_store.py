"""The image store behind url responses: ids, retention, pruning across restarts."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from backend.image_store import ImageStore


def _img(value: int) -> Image.Image:
    return Image.new("RGB", (8, 8), (value, value, value))


def test_save_and_find(tmp_path: Path) -> None:
    store = ImageStore(tmp_path / "img", retention=3)
    image_id = store.save(_img(10))
    data = store.read(image_id)
    assert data is not None
    with Image.open(io.BytesIO(data)) as back:
        assert back.getpixel((0, 0)) == (10, 10, 10)


def test_retention_drops_the_oldest(tmp_path: Path) -> None:
    store = ImageStore(tmp_path, retention=2)
    ids = [store.save(_img(i)) for i in range(4)]
    assert [store.read(i) is not None for i in ids] == [False, False, True, True]
    assert len(list(tmp_path.glob("*.png"))) == 2
    assert len(store) == 2


def test_existing_files_count_after_restart(tmp_path: Path) -> None:
    first = ImageStore(tmp_path, retention=5)
    ids = [first.save(_img(i)) for i in range(3)]
    second = ImageStore(tmp_path, retention=2)
    assert len(second) == 2
    assert second.read(ids[0]) is None
    assert second.read(ids[2]) is not None


@pytest.mark.parametrize("bad", ["../etc/passwd", "abc", "0" * 31, "G" * 32, ""])
def test_malformed_ids_are_unknown(tmp_path: Path, bad: str) -> None:
    assert ImageStore(tmp_path, retention=1).read(bad) is None


def test_retention_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="retention"):
        ImageStore(tmp_path, retention=0)
