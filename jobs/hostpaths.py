"""Paths as the host's engine sees them.

Containers started through the Docker socket are siblings made by the host's engine: a bind
mount names a *host* path. Outside a container the service's paths are the host's. Inside one,
the service reads its own container's mounts from the engine and maps each path through the
mount that holds it; a path on no mount cannot be given to a job (the engine would bind an
empty host folder of the same name), and is refused with that reason.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import docker.errors
from docker.client import DockerClient

_DOCKERENV = Path("/.dockerenv")


class HostPathError(RuntimeError):
    """A path the service cannot hand to the engine."""


@dataclass(frozen=True)
class Mount:
    """One of the service container's mounts: where it is inside, what it is on the host."""

    destination: str
    source: str


class HostPaths:
    """Maps the service's paths to the host's; ``overrides`` pin a folder to a host path."""

    def __init__(
        self, mounts: Sequence[Mount] | None, overrides: dict[Path, Path] | None = None
    ) -> None:
        self.mounts = sorted(mounts or (), key=lambda m: len(m.destination), reverse=True)
        self.in_container = mounts is not None
        self.overrides = {k.resolve(): v for k, v in (overrides or {}).items()}

    def __call__(self, path: Path) -> str:
        resolved = path.resolve()
        for local, host in self.overrides.items():
            if resolved.is_relative_to(local):
                return str(host / resolved.relative_to(local))
        if not self.in_container:
            return str(resolved)
        for mount in self.mounts:
            inside = PurePosixPath(mount.destination)
            if PurePosixPath(resolved).is_relative_to(inside):
                rest = PurePosixPath(resolved).relative_to(inside)
                return str(PurePosixPath(mount.source) / rest)
        raise HostPathError(
            f"{resolved} is inside this container, on no volume or bind mount: the host's engine "
            "cannot mount it into another container (mount it from the host; for the jobs "
            "service, or set JOBS_HOST_DATA_DIR)"
        )


def discover(client: DockerClient, overrides: dict[Path, Path] | None = None) -> HostPaths:
    """The mapping for this process: identity beside the engine, the container's mounts in one.

    The engine runs beside this process when it reports this machine's hostname as its own;
    otherwise the service looks itself up by hostname (a container's default hostname is its
    id) and maps through its mounts.
    """
    hostname = socket.gethostname()
    if str(client.info().get("Name", "")) == hostname or not _DOCKERENV.exists():
        return HostPaths(None, overrides)
    try:
        me = client.containers.get(hostname)
    except docker.errors.NotFound:
        if overrides:
            return HostPaths([], overrides)
        raise HostPathError(
            f"running in a container the engine does not know by its hostname ({hostname}): "
            "keep the container's default hostname (its id); for the jobs service, or set "
            "JOBS_HOST_DATA_DIR and JOBS_HOST_RESOURCES_DIR to the host's paths"
        ) from None
    mounts = [Mount(str(m["Destination"]), str(m["Source"])) for m in me.attrs.get("Mounts", [])]
    return HostPaths(mounts, overrides)
