"""Host paths: identity beside the engine, through the mounts inside a container."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobs.hostpaths import HostPathError, HostPaths, Mount


def test_identity_outside_a_container(tmp_path: Path) -> None:
    assert HostPaths(None)(tmp_path / "a") == str((tmp_path / "a").resolve())


def test_mounts_map_to_their_sources_longest_first() -> None:
    paths = HostPaths(
        [
            Mount("/app/research", "/home/u/research"),
            Mount("/app/research/benchmark_results/jobs", "/srv/jobs"),
            Mount("/gpu_coord", "/var/lib/docker/volumes/x_gpu-coord/_data"),
        ]
    )
    assert paths(Path("/app/research/models")) == "/home/u/research/models"
    assert paths(Path("/app/research/benchmark_results/jobs/j1/work")) == "/srv/jobs/j1/work"
    assert paths(Path("/gpu_coord")) == "/var/lib/docker/volumes/x_gpu-coord/_data"


def test_a_path_on_no_mount_is_refused_with_the_reason() -> None:
    paths = HostPaths([Mount("/data", "/srv/data")])
    with pytest.raises(HostPathError, match="on no volume or bind mount"):
        paths(Path("/app/elsewhere"))


def test_overrides_win(tmp_path: Path) -> None:
    paths = HostPaths([], {tmp_path: Path("/host/jobs")})
    assert paths(tmp_path / "j1" / "work") == "/host/jobs/j1/work"
