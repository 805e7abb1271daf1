"""The job service's Docker engine: reached, probed, and its view of this service's paths.

A service without an engine still serves its records; it refuses new container jobs with
the reason :class:`NoEngine` carries, which the API and the dashboard show.
"""

from __future__ import annotations

import hashlib
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import docker.errors
import requests
from docker.client import DockerClient, from_env

from jobs.hostpaths import HostPathError, HostPaths, discover
from jobs.settings import Settings

NO_ENGINE = "container jobs are refused: no Docker engine answers"


class NoEngine(Exception):
    """No engine can run this service's jobs; the message says why, for the client."""


@dataclass(frozen=True)
class Engine:
    """A connected engine, the host paths its bind mounts need, and this service's key."""

    client: DockerClient
    host_paths: HostPaths
    service_key: str  # labels this service's containers (one engine may serve several)


def engine_client() -> DockerClient:
    """The engine of ``DOCKER_HOST`` (default: the local socket), probed first.

    A unix socket is tried with a plain connect before the SDK sees it: the SDK leaks its
    socket when the connect fails, and the probe's error names the socket.
    """
    url = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    if url.startswith("unix://"):
        path = url.removeprefix("unix://")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            probe.settimeout(5)
            try:
                probe.connect(path)
            except OSError as exc:
                raise docker.errors.DockerException(
                    f"cannot connect to {url}: {exc.strerror or exc}"
                ) from None
    return from_env()


def connect(
    client_factory: Callable[[], DockerClient], settings: Settings, data_dir: Path
) -> Engine:
    """Ping the engine and find the host paths of ``data_dir``; raises :class:`NoEngine`."""
    client: DockerClient | None = None
    try:
        client = client_factory()
        client.ping()
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        if client is not None:
            client.close()
        raise NoEngine(f"{NO_ENGINE} ({exc})") from None
    overrides = {}
    if settings.host_data_dir is not None:
        overrides[data_dir] = settings.host_data_dir
    if settings.host_resources_dir is not None:
        overrides[settings.resources_dir.resolve()] = settings.host_resources_dir
    try:
        host_paths = discover(client, overrides)
        host_data = host_paths(data_dir)
    except (HostPathError, docker.errors.APIError) as exc:
        client.close()
        raise NoEngine(f"container jobs are refused: {exc}") from None
    # Containers of this service only (one engine may serve several job services).
    service_key = hashlib.sha256(host_data.encode()).hexdigest()[:16]
    return Engine(client, host_paths, service_key)
