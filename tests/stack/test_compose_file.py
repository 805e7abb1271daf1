"""docker-compose.yml itself: what the stack promises, checked without a Docker engine.

The structure is read with PyYAML; where a Compose command is installed, it also
renders the file with no .env at all (every setting from its default) and with the
test's GPU reservation removed, so a syntax the installed Compose rejects fails here.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.stack.stack_compose import (
    ALL_SERVICES,
    COMPOSE_FILE,
    SERVICES,
    without_gpu_reservation,
)
from tests.stack.stack_engine import ROOT, compose_command

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    return document


def test_no_version_key_and_the_services(compose: dict[str, Any]) -> None:
    # Compose v2 warns on `version:`; v1.29 reads the compose-spec format without it.
    assert "version" not in compose
    assert set(compose["services"]) == set(ALL_SERVICES)
    assert set(compose["volumes"]) == {"gpu-coord", "hf_cache"}


def test_both_services_share_the_lease_volume_and_hf_cache(compose: dict[str, Any]) -> None:
    for name in SERVICES:
        service = compose["services"][name]
        assert "gpu-coord:/gpu_coord" in service["volumes"], name
        assert "hf_cache:/cache/huggingface" in service["volumes"], name
        assert service["environment"]["GPU_COORD_PATH"] == "/gpu_coord/status.json", name
        assert service["environment"]["HF_TOKEN"] == "${HF_TOKEN:-}", name
        devices = service["deploy"]["resources"]["reservations"]["devices"]
        assert devices == [
            {"driver": "nvidia", "device_ids": ["${GPU_DEVICE:-0}"], "capabilities": ["gpu"]}
        ], name


def test_runner_mounts_research_read_only_and_results_writable(compose: dict[str, Any]) -> None:
    volumes = compose["services"]["benchmark"]["volumes"]
    assert "${RESEARCH_DIR:-./research}:/app/research:ro" in volumes
    assert (
        "${RESEARCH_DIR:-./research}/benchmark_results:/app/research/benchmark_results" in volumes
    )


def test_jobs_service_socket_lease_and_folders(compose: dict[str, Any]) -> None:
    jobs = compose["services"]["jobs"]
    assert jobs["ports"] == ["${JOBS_HOST_PORT:-8001}:8001"]
    assert "gpu-coord:/gpu_coord" in jobs["volumes"]
    assert "${DOCKER_SOCKET:-/var/run/docker.sock}:/var/run/docker.sock" in jobs["volumes"]
    assert "${RESEARCH_DIR:-./research}:/app/research:ro" in jobs["volumes"]
    results = "${RESEARCH_DIR:-./research}/benchmark_results/jobs"
    assert f"{results}:/app/research/benchmark_results/jobs" in jobs["volumes"]
    assert jobs["environment"]["JOBS_DATA_DIR"] == "/app/research/benchmark_results/jobs"
    assert jobs["environment"]["GPU_COORD_PATH"] == "/gpu_coord/status.json"
    assert "/healthz" in " ".join(jobs["healthcheck"]["test"])


def test_runner_waits_for_a_healthy_backend(compose: dict[str, Any]) -> None:
    backend = compose["services"]["backend"]
    assert "/healthz" in " ".join(backend["healthcheck"]["test"])
    assert backend["healthcheck"]["interval"] == "5s"
    assert compose["services"]["benchmark"]["depends_on"] == {
        "backend": {"condition": "service_healthy"}
    }
    assert backend["ports"] == ["${BACKEND_HOST_PORT:-8000}:8000"]


def test_removing_the_reservation_changes_nothing_else(compose: dict[str, Any]) -> None:
    stripped = without_gpu_reservation(compose)
    for name, service in compose["services"].items():
        assert stripped["services"][name] == {k: v for k, v in service.items() if k != "deploy"}
    assert {k: v for k, v in stripped.items() if k != "services"} == {
        k: v for k, v in compose.items() if k != "services"
    }


def _render(command: list[str], compose_file: Path, env_file: Path, *more: Path) -> dict[str, Any]:
    # An empty env file and a scrubbed environment: every value comes from its default.
    env = {k: os.environ[k] for k in ("PATH", "HOME", "DOCKER_HOST") if k in os.environ}
    files = [arg for path in (compose_file, *more) for arg in ("-f", str(path))]
    done = subprocess.run(
        [
            *command,
            *files,
            "--project-directory",
            str(ROOT),
            "--env-file",
            str(env_file),
            "config",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    rendered: dict[str, Any] = yaml.safe_load(done.stdout)
    return rendered


@pytest.fixture
def render(tmp_path: Path) -> Callable[..., dict[str, Any]]:
    """The installed Compose's rendering of files (merged in order), with no .env at all."""
    command = compose_command()
    if command is None:
        pytest.skip("no docker compose / docker-compose command installed")
    empty = tmp_path / "empty.env"
    empty.write_text("")
    return lambda first, *more: _render(command, first, empty, *more)


def test_installed_compose_renders_it_with_no_env_file(
    render: Callable[..., dict[str, Any]], tmp_path: Path
) -> None:
    rendered = render(COMPOSE_FILE)
    backend = rendered["services"]["backend"]
    assert backend["image"] == "gpu-share-backend:latest"
    assert backend["environment"]["BACKEND_MODEL"] == "stabilityai/sdxl-turbo"
    assert backend["build"]["args"]["BASE_IMAGE"].startswith("pytorch/pytorch:")
    assert json.dumps(backend["ports"]).count("8000") == 2
    assert backend["deploy"]["resources"]["reservations"]["devices"][0]["driver"] == "nvidia"
    runner = rendered["services"]["benchmark"]
    assert runner["environment"]["BENCHMARK_CONFIG"] == "research/benchmark.toml"
    # The copy the end-to-end test runs with renders too.
    stripped = tmp_path / "docker-compose.nogpu.yml"
    stripped.write_text(
        yaml.safe_dump(
            without_gpu_reservation(yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8")))
        )
    )
    assert "deploy" not in render(stripped)["services"]["backend"]


def test_the_isolation_override_gives_the_benchmark_the_engine_and_nothing_else(
    render: Callable[..., dict[str, Any]],
) -> None:
    plain = render(COMPOSE_FILE)
    merged = render(COMPOSE_FILE, ROOT / "docker-compose.isolation.yml")
    runner = merged["services"]["benchmark"]
    assert [str(g) for g in runner["group_add"]] == ["999"]
    sockets = [v for v in runner["volumes"] if "docker.sock" in json.dumps(v)]
    assert len(sockets) == 1, runner["volumes"]
    # The service's own mounts stay: the workers get them, named by their host paths.
    assert len(runner["volumes"]) == len(plain["services"]["benchmark"]["volumes"]) + 1
    for name in ("backend", "jobs"):  # (merging may reorder a service's volumes)
        ours, theirs = dict(merged["services"][name]), dict(plain["services"][name])
        assert sorted(map(str, ours.pop("volumes"))) == sorted(map(str, theirs.pop("volumes")))
        assert ours == theirs, name
