"""disk_usage and StorageWatch: what a job's folders take on disk, as du counts it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from jobs.storage import StorageWatch, disk_usage

MIB = 2**20


def _write(path: Path, size: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(os.urandom(size))
    return path


def test_files_in_every_folder_and_subfolder_count(tmp_path: Path) -> None:
    _write(tmp_path / "work" / "a.bin", MIB)
    _write(tmp_path / "output" / "deep" / "er" / "b.bin", 2 * MIB)
    used = disk_usage([tmp_path / "work", tmp_path / "output"])
    assert 3 * MIB <= used < 3 * MIB + 64 * 1024


def test_sparse_files_count_their_blocks_and_hard_links_once(tmp_path: Path) -> None:
    sparse = tmp_path / "sparse"
    with sparse.open("wb") as handle:
        handle.truncate(10 * 2**30)  # 10 GiB long, nothing written
    real = _write(tmp_path / "real.bin", MIB)
    for i in range(5):
        os.link(real, tmp_path / f"link{i}")
    assert MIB <= disk_usage([tmp_path]) < MIB + 64 * 1024


def test_symlinks_are_not_followed(tmp_path: Path) -> None:
    outside = _write(tmp_path / "outside" / "big.bin", 4 * MIB)
    job = tmp_path / "job"
    job.mkdir()
    (job / "to-file").symlink_to(outside)
    (job / "to-folder").symlink_to(outside.parent, target_is_directory=True)
    assert disk_usage([job]) < 64 * 1024


def test_missing_folders_count_nothing(tmp_path: Path) -> None:
    assert disk_usage([tmp_path / "never-made"]) == 0


def test_the_watch_reports_only_past_the_limit_and_measures_at_most_every_interval(
    tmp_path: Path,
) -> None:
    watch = StorageWatch(2 * MIB, [tmp_path], every=3600)
    assert not watch.over  # nothing measured yet
    _write(tmp_path / "a.bin", MIB)
    first = watch.poll()
    assert first is not None
    assert first >= MIB
    assert not watch.over
    _write(tmp_path / "b.bin", 2 * MIB)
    assert watch.poll() is None  # not due for an hour: no walk
    assert not watch.over
    again = StorageWatch(2 * MIB, [tmp_path], every=0)
    used = again.poll()
    assert used is not None
    assert used >= 3 * MIB
    assert again.over


def test_a_limit_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="limit_bytes"):
        StorageWatch(0, [tmp_path])
